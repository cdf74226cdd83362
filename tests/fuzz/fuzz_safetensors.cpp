// libFuzzer target for ponet::io::SafeTensorsFile: any input either throws ponet::Error or parses
// into tensors whose bytes and conversions all read cleanly, and which SafeTensorsWriter writes
// back into a file that parses to the same tensors and metadata. Anything else traps.
// Run: tests/fuzz/run_fuzz.sh SECONDS (clang++-14, -fsanitize=fuzzer,address,undefined).
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include <ponet/io/safetensors.hpp>

namespace {

using namespace ponet::io;

// The sanitizers see every byte read; the sum keeps the reads from being optimised away.
volatile std::uint64_t sink = 0;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Reads every byte and every conversion of `file`; the conversion of the wrong kind must throw.
void touch(SafeTensorsFile const& file) {
  for (TensorInfo const& t : file.tensors()) {
    ByteSpan const b = file.bytes(t.name);
    check(std::int64_t(b.size) == t.bytes() && t.bytes() == t.numel * dtype_size(t.dtype));
    std::uint64_t sum = 0;
    for (std::uint8_t x : b) sum += x;
    sink = sink + sum;
    if (is_floating(t.dtype)) {
      check(std::int64_t(file.to_float(t.name).size()) == t.numel);
      try {
        file.to_int64(t.name);
        check(false);
      } catch (ponet::Error const&) {
      }
    } else {
      try {
        check(std::int64_t(file.to_int64(t.name).size()) == t.numel);
      } catch (ponet::Error const&) {
        check(t.dtype == DType::boolean);  // only a BOOL byte other than 0 or 1 may refuse
      }
      try {
        file.to_float(t.name);
        check(false);
      } catch (ponet::Error const&) {
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::optional<SafeTensorsFile> file;
  try {
    file.emplace(std::vector<std::uint8_t>(data, data + size));
  } catch (ponet::Error const&) {
    return 0;  // rejected with a message: the expected outcome for most inputs
  }
  touch(*file);

  // Round trip: whatever the reader accepts, the writer writes back, and the reader reads the
  // same tensors from it (the layout may differ: the writer orders by dtype size).
  SafeTensorsWriter writer;
  for (TensorInfo const& t : file->tensors()) {
    ByteSpan const b = file->bytes(t.name);
    writer.add(t.name, t.dtype, t.shape, b.data, b.size);
  }
  for (auto const& [key, value] : file->metadata()) writer.set_metadata(key, value);
  SafeTensorsFile const again(writer.serialize());  // must not throw
  check(again.metadata() == file->metadata());
  check(again.tensors().size() == file->tensors().size());
  for (TensorInfo const& t : file->tensors()) {
    TensorInfo const& u = again.info(t.name);
    check(u.dtype == t.dtype && u.shape == t.shape && u.numel == t.numel && u.bytes() == t.bytes());
    ByteSpan const a = file->bytes(t.name), b = again.bytes(t.name);
    check(a.size == b.size && (a.size == 0 || std::memcmp(a.data, b.data, a.size) == 0));
  }
  return 0;
}
