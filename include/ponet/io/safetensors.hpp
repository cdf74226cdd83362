// ponet::io safetensors: SafeTensorsFile reads a Hugging Face .safetensors file (mmap, or a byte
// buffer) after validating its whole layout; SafeTensorsWriter writes one atomically (temp file,
// fsync, rename). Layout: 8-byte little-endian header length n, n bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
// data area, which the tensors tile exactly. Every failure is a ponet::Error naming the file
// ("<memory>" for buffers), the tensor and the file byte offset where they apply.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ponet/core/error.hpp"

namespace ponet::io {

// The format stores every number little-endian and we reinterpret data bytes in place.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ponet::io safetensors: needs a little-endian host");
#endif
static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559,
              "ponet::io safetensors: F16/BF16/F32/F64 decoding assumes IEEE 754 float and double");

// Same limit as the reference implementation (safetensors' MAX_HEADER_SIZE), so that a corrupt
// length cannot make us parse gigabytes of JSON.
inline constexpr std::uint64_t max_header_bytes = 100'000'000;

enum class DType { f32, f16, bf16, f64, i64, i32, u8, boolean };

inline char const* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
    case DType::f64:
      return "F64";
    case DType::i64:
      return "I64";
    case DType::i32:
      return "I32";
    case DType::u8:
      return "U8";
    case DType::boolean:
      return "BOOL";
  }
  return "?";
}

// Bytes per element.
inline std::int64_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f16:
      return 2;
    case DType::bf16:
      return 2;
    case DType::f64:
      return 8;
    case DType::i64:
      return 8;
    case DType::i32:
      return 4;
    case DType::u8:
      return 1;
    case DType::boolean:
      return 1;
  }
  return 0;
}

// The dtype spelled `name` in a header ("F32", "BF16", ...); nullopt for any other spelling.
inline std::optional<DType> dtype_from_name(std::string_view name) {
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i64, DType::i32,
                  DType::u8, DType::boolean})
    if (name == dtype_name(t)) return t;
  return std::nullopt;
}

inline bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f16 || t == DType::bf16 || t == DType::f64;
}

// IEEE binary16 -> float, exact for every input: subnormals (mant * 2^-24), +-inf, and NaN with
// its sign and payload kept (the payload shifts into the top of the float mantissa).
inline float f16_to_float(std::uint16_t h) {
  std::uint32_t const sign = std::uint32_t(h & 0x8000u) << 16;
  std::uint32_t const exp = (h >> 10) & 0x1fu;
  std::uint32_t const mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;  // +-0
    } else {
      float const mag = std::ldexp(float(mant), -24);  // exact: 10 significant bits
      std::memcpy(&bits, &mag, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf when mant == 0, else NaN
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// bfloat16 is the top half of a float, so widening is a shift (exact, NaN payloads kept).
inline float bf16_to_float(std::uint16_t b) {
  std::uint32_t const bits = std::uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// double -> float with IEEE round-to-nearest-even, written out for values beyond FLT_MAX because
// C++ leaves out-of-range floating conversions undefined: |d| >= FLT_MAX + half an ulp (2^103)
// rounds to inf (FLT_MAX's mantissa is odd, so the tie goes to inf), anything below to FLT_MAX.
inline float narrow_to_float(double d) {
  double constexpr max = double(std::numeric_limits<float>::max());
  if (std::isnan(d)) {  // NaN stays NaN, with its sign; the payload does not survive
    float const nan = std::numeric_limits<float>::quiet_NaN();
    return std::signbit(d) ? -nan : nan;
  }
  if (std::fabs(d) <= max) return float(d);
  float const r = std::fabs(d) >= max + std::ldexp(1.0, 103)
                      ? std::numeric_limits<float>::infinity()
                      : std::numeric_limits<float>::max();
  return std::signbit(d) ? -r : r;
}

// One tensor of a file. Offsets count from the start of the data area (file byte 8 + n).
struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::int64_t numel = 0;  // product of shape (1 for a scalar, shape [])
  std::int64_t begin = 0;  // data_offsets[0]
  std::int64_t end = 0;    // data_offsets[1]
  std::int64_t bytes() const { return end - begin; }
};

// A read-only view of bytes that the SafeTensorsFile it came from keeps alive.
struct ByteSpan {
  std::uint8_t const* data = nullptr;
  std::size_t size = 0;
  std::uint8_t const* begin() const { return data; }
  std::uint8_t const* end() const { return data + size; }
};

namespace detail {

inline std::string quoted(std::string const& s) { return "'" + s + "'"; }

inline std::string shape_string(std::vector<std::int64_t> const& shape) {
  std::string s = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? "," : "") + std::to_string(shape[k]);
  return s + "]";
}

// a * b, or false when it does not fit in 64 bits.
inline bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

// At most `limit` bytes of `s`, for messages about hostile input.
inline std::string clip(std::string s, std::size_t limit = 60) {
  if (s.size() > limit) s = s.substr(0, limit - 3) + "...";
  return s;
}

// A JSON value for an error message: scalars as JSON, arrays one level deep (nested containers
// shown as [...] and {...}), objects as {...}. Never recursive, because dump() is, and a header
// may nest arrays millions deep (nlohmann parses and frees them iteratively).
inline std::string excerpt(nlohmann::json const& v) {
  auto shallow = [](nlohmann::json const& x) -> std::string {
    if (x.is_array()) return "[...]";
    if (x.is_object()) return "{...}";
    return x.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (!v.is_array()) return clip(shallow(v));
  std::string s = "[";
  for (auto const& x : v) {
    s += (s.size() > 1 ? "," : "") + shallow(x);
    if (s.size() > 60) break;
  }
  return clip(s + "]");
}

inline std::string errno_string() { return std::strerror(errno); }

// Closes a file descriptor on scope exit (the mapping outlives it).
struct FdCloser {
  int fd;
  explicit FdCloser(int f) : fd(f) {}
  FdCloser(FdCloser const&) = delete;
  FdCloser& operator=(FdCloser const&) = delete;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace detail

// A validated safetensors file. Construction checks everything (see validate()); afterwards no
// accessor can read outside the data. Copies share the mapping or buffer, which lives until the
// last copy goes. names() lists tensors in data order (ascending data_offsets; zero-size tensors
// at the same offset by name), which is also the order of tensors().
// A mapped file truncated by another process while mapped raises SIGBUS on access, as any mmap.
class SafeTensorsFile {
 public:
  // Maps `path` read-only (open, fstat, mmap) and validates it.
  explicit SafeTensorsFile(std::string const& path) : label_(path) {
    int const fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open: " + detail::errno_string());
    detail::FdCloser closer(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) fail("cannot stat: " + detail::errno_string());
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    size_ = std::uint64_t(st.st_size);
    if (size_ > 0) {  // mmap rejects length 0; validate() then reports the short file
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) fail("cannot mmap: " + detail::errno_string());
      std::size_t const n = size_;
      owner_ =
          std::shared_ptr<void const>(p, [n](void const* q) { ::munmap(const_cast<void*>(q), n); });
      data_ = static_cast<std::uint8_t const*>(p);
    }
    validate();
  }

  // Takes a whole file's bytes (tests, fuzzing, files read some other way).
  explicit SafeTensorsFile(std::vector<std::uint8_t> bytes, std::string label = "<memory>")
      : label_(std::move(label)) {
    auto buffer = std::make_shared<std::vector<std::uint8_t> const>(std::move(bytes));
    data_ = buffer->data();
    size_ = buffer->size();
    owner_ = std::move(buffer);
    validate();
  }

  std::string const& label() const { return label_; }
  std::vector<std::string> const& names() const { return names_; }
  std::vector<TensorInfo> const& tensors() const { return tensors_; }
  std::map<std::string, std::string> const& metadata() const { return metadata_; }
  std::uint64_t file_size() const { return size_; }
  std::uint64_t header_size() const { return header_size_; }  // n
  std::uint64_t data_offset() const { return 8 + header_size_; }
  bool contains(std::string const& name) const { return index_.count(name) != 0; }

  TensorInfo const& info(std::string const& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) fail("no tensor named " + detail::quoted(name));
    return tensors_[it->second];
  }

  // The tensor's raw little-endian bytes, inside the mapping (no copy, no alignment promise).
  ByteSpan bytes(std::string const& name) const {
    TensorInfo const& t = info(name);
    return {data_ + data_offset() + std::uint64_t(t.begin), std::size_t(t.bytes())};
  }

  // F32, F16, BF16 exactly; F64 rounded to nearest (beyond FLT_MAX to +-inf or +-FLT_MAX).
  std::vector<float> to_float(std::string const& name) const {
    TensorInfo const& t = info(name);
    ByteSpan const b = bytes(name);
    if (!is_floating(t.dtype)) conversion_error(t, "to_float", "F32", "F32, F16, BF16, F64");
    std::vector<float> out(std::size_t(t.numel));
    std::size_t const n = out.size();
    switch (t.dtype) {
      case DType::f32:
        if (n) std::memcpy(out.data(), b.data, n * 4);
        break;
      case DType::f16:
        for (std::size_t k = 0; k < n; ++k) out[k] = f16_to_float(load<std::uint16_t>(b.data, k));
        break;
      case DType::bf16:
        for (std::size_t k = 0; k < n; ++k) out[k] = bf16_to_float(load<std::uint16_t>(b.data, k));
        break;
      default:  // f64
        for (std::size_t k = 0; k < n; ++k) out[k] = narrow_to_float(load<double>(b.data, k));
        break;
    }
    return out;
  }

  // I64, I32, U8 and BOOL, exactly. A BOOL byte other than 0 or 1 is an error.
  std::vector<std::int64_t> to_int64(std::string const& name) const {
    TensorInfo const& t = info(name);
    ByteSpan const b = bytes(name);
    if (is_floating(t.dtype)) conversion_error(t, "to_int64", "I64", "I64, I32, U8, BOOL");
    std::vector<std::int64_t> out(std::size_t(t.numel));
    std::size_t const n = out.size();
    switch (t.dtype) {
      case DType::i64:
        if (n) std::memcpy(out.data(), b.data, n * 8);
        break;
      case DType::i32:
        for (std::size_t k = 0; k < n; ++k) out[k] = load<std::int32_t>(b.data, k);
        break;
      case DType::u8:
        for (std::size_t k = 0; k < n; ++k) out[k] = b.data[k];
        break;
      default:  // boolean
        for (std::size_t k = 0; k < n; ++k) {
          if (b.data[k] > 1)
            fail("tensor " + detail::quoted(t.name) + ": BOOL element " + std::to_string(k) +
                 " is " + std::to_string(b.data[k]) + ", not 0 or 1 (file byte " +
                 std::to_string(data_offset() + std::uint64_t(t.begin) + k) + ")");
          out[k] = b.data[k];
        }
        break;
    }
    return out;
  }

 private:
  [[noreturn]] void fail(std::string const& what) const {
    throw Error("safetensors: " + label_ + ": " + what);
  }
  [[noreturn]] void fail_tensor(std::string const& name, std::string const& what) const {
    fail("tensor " + detail::quoted(name) + ": " + what);
  }
  [[noreturn]] void conversion_error(TensorInfo const& t, char const* fn, char const* to,
                                     char const* accepted) const {
    fail(std::string(fn) + ": tensor " + detail::quoted(t.name) + " is " + dtype_name(t.dtype) +
         ", which does not convert to " + to + " (" + fn + " reads " + accepted + ")");
  }

  // Element k of a little-endian array at p, which need not be aligned.
  template <class T>
  static T load(std::uint8_t const* p, std::size_t k) {
    T v;
    std::memcpy(&v, p + k * sizeof(T), sizeof(T));
    return v;
  }

  // File byte range of data-area bytes [b, e), for messages.
  std::string file_bytes(std::uint64_t b, std::uint64_t e) const {
    return "file bytes " + std::to_string(data_offset() + b) + ".." +
           std::to_string(data_offset() + e);
  }

  // The rules, in the order they are checked. Each message is distinct
  // (tests/test_safetensors.cpp).
  void validate() {
    if (size_ < 8)
      fail("file is " + std::to_string(size_) + " bytes, shorter than the 8-byte header length");
    std::uint64_t n;
    std::memcpy(&n, data_, 8);
    if (n > max_header_bytes)
      fail("header length " + std::to_string(n) + " (file bytes 0..8) exceeds the 100 MB limit");
    if (n > size_ - 8)
      fail("header length " + std::to_string(n) +
           " runs past the end of the file: the header would" + " end at byte " +
           std::to_string(8 + n) + " of " + std::to_string(size_));
    header_size_ = n;
    data_size_ = size_ - 8 - n;
    char const* const text = reinterpret_cast<char const*>(data_ + 8);
    // A leading '{' rules out every other top-level JSON type, and a byte-order mark or leading
    // whitespace, which the reference implementation also rejects.
    if (n == 0 || text[0] != '{')
      fail(std::string("header is not a JSON object: it must start with '{' at file byte 8") +
           (n == 0 ? " but is empty" : ""));

    nlohmann::json header = parse_header(text, n);
    if (!header.is_object()) fail("header is not a JSON object");

    for (auto const& [key, value] : header.items()) {
      if (key == "__metadata__")
        read_metadata(value);
      else
        tensors_.push_back(read_entry(key, value));
    }
    check_tiling();
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      names_.push_back(tensors_[k].name);
      index_.emplace(tensors_[k].name, k);
    }
  }

  // Parses the header, refusing duplicate keys: nlohmann keeps the last of equal keys silently,
  // so the parser callback watches keys of the top-level object (depth 1) and of each entry
  // (depth 2) as they stream past. It also caps nesting: a valid header needs 3 levels, and a
  // cap keeps hostile headers ([[[[... 100 MB deep) from costing gigabytes before we look.
  nlohmann::json parse_header(char const* text, std::uint64_t n) const {
    int constexpr max_depth = 64;
    std::set<std::string> top, inner;
    std::string entry;  // the depth-1 key whose object is open
    auto watch = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& value) {
      using Event = nlohmann::json::parse_event_t;
      if ((event == Event::object_start || event == Event::array_start) && depth >= max_depth)
        fail("header nests JSON deeper than " + std::to_string(max_depth) +
             " levels (a valid header needs 3)");
      if (event == Event::object_start && depth == 1) inner.clear();
      if (event != Event::key) return true;
      std::string const& key = value.get_ref<std::string const&>();
      if (depth == 1) {
        if (!top.insert(key).second)
          fail(key == "__metadata__"
                   ? std::string("duplicate key '__metadata__' in header")
                   : "duplicate tensor name " + detail::quoted(key) + " in header");
        entry = key;
      } else if (depth == 2 && !inner.insert(key).second) {
        fail("entry " + detail::quoted(entry) + ": duplicate key " + detail::quoted(key));
      }
      return true;
    };
    try {
      return nlohmann::json::parse(text, text + n, watch);
    } catch (nlohmann::json::parse_error const& e) {
      std::uint64_t const at = e.byte > 0 ? e.byte - 1 : 0;  // nlohmann counts from 1
      fail("malformed JSON header at file byte " + std::to_string(8 + std::min(at, n)) + ": " +
           detail::clip(e.what(), 200));
    } catch (nlohmann::json::exception const& e) {
      fail("malformed JSON header: " + detail::clip(e.what(), 200));
    }
  }

  void read_metadata(nlohmann::json const& value) {
    if (!value.is_object())
      fail(std::string("__metadata__ must be an object of strings, got ") + value.type_name());
    for (auto const& [key, v] : value.items()) {
      if (!v.is_string())
        fail("__metadata__ must be an object of strings, but key " + detail::quoted(key) +
             " holds a value of type " + v.type_name());
      metadata_.emplace(key, v.get<std::string>());
    }
  }

  TensorInfo read_entry(std::string const& name, nlohmann::json const& entry) const {
    if (!entry.is_object())
      fail_tensor(name, std::string("entry must be an object, got ") + entry.type_name());
    for (auto const& item : entry.items())
      if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
        fail_tensor(name, "unexpected key " + detail::quoted(item.key()) +
                              " (an entry holds dtype, shape, data_offsets)");
    for (char const* key : {"dtype", "shape", "data_offsets"})
      if (!entry.contains(key)) fail_tensor(name, std::string("missing key '") + key + "'");

    TensorInfo t;
    t.name = name;
    nlohmann::json const& dtype = entry["dtype"];
    if (!dtype.is_string())
      fail_tensor(name, "dtype must be a string, got " + detail::excerpt(dtype));
    std::optional<DType> const d = dtype_from_name(dtype.get_ref<std::string const&>());
    if (!d)
      fail_tensor(name, "unknown dtype " + detail::excerpt(dtype) +
                            " (supported: F32, F16, BF16, F64, I64, I32, U8, BOOL)");
    t.dtype = *d;

    // Integers >= 0 parse as number_unsigned; negative ones and 2.0 or 1e3 do not qualify.
    nlohmann::json const& shape = entry["shape"];
    bool shape_ok = shape.is_array();
    if (shape_ok)
      for (auto const& dim : shape) shape_ok = shape_ok && dim.is_number_unsigned();
    if (!shape_ok)
      fail_tensor(name,
                  "shape must be a list of non-negative integers, got " + detail::excerpt(shape));
    // numel counts exactly: a zero dimension makes it 0 whatever the others, and otherwise the
    // product, then the byte count, must fit in int64.
    std::uint64_t numel = 1, bytes = 0;
    bool fits = true, has_zero = false;
    for (auto const& dim : shape) {
      std::uint64_t const v = dim.get<std::uint64_t>();
      if (v > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        fail_tensor(name, "shape dimension " + std::to_string(v) + " does not fit in int64");
      t.shape.push_back(std::int64_t(v));
      has_zero = has_zero || v == 0;
      fits = fits && checked_mul_i64(numel, v, numel);
    }
    if (has_zero) numel = 0, fits = true;
    fits = fits && checked_mul_i64(numel, std::uint64_t(dtype_size(t.dtype)), bytes);
    if (!fits)
      fail_tensor(name, "shape " + detail::shape_string(t.shape) + " x " + dtype_name(t.dtype) +
                            " overflows a 64-bit byte count");
    t.numel = std::int64_t(numel);

    nlohmann::json const& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      fail_tensor(name, "data_offsets must be two non-negative integers [begin, end], got " +
                            detail::excerpt(offsets));
    std::uint64_t const begin = offsets[0].get<std::uint64_t>(),
                        end = offsets[1].get<std::uint64_t>();
    std::string const range =
        "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
    if (begin > end) fail_tensor(name, range + " have begin > end");
    if (end - begin != bytes)
      fail_tensor(name, "shape " + detail::shape_string(t.shape) + " x " + dtype_name(t.dtype) +
                            " needs " + std::to_string(bytes) + " bytes but " + range + " span " +
                            std::to_string(end - begin));
    if (end > data_size_)
      fail_tensor(name, range + " run past the end of the data area, which holds " +
                            std::to_string(data_size_) + " bytes (" + file_bytes(0, data_size_) +
                            ")");
    t.begin = std::int64_t(begin);  // end <= data_size_ < file size, so both fit
    t.end = std::int64_t(end);
    return t;
  }

  static bool checked_mul_i64(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    return detail::checked_mul(a, b, out) &&
           out <= std::uint64_t(std::numeric_limits<std::int64_t>::max());
  }

  // Sorted by offset, tensors must cover the data area exactly once: each starts where the last
  // ended, the first at 0, the last ends at the data area's end. Like the reference
  // implementation we sort by (begin, end), so a zero-size tensor inside another one overlaps it.
  void check_tiling() {
    std::sort(tensors_.begin(), tensors_.end(), [](TensorInfo const& a, TensorInfo const& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    std::uint64_t at = 0;
    std::string previous;
    for (TensorInfo const& t : tensors_) {
      std::uint64_t const begin = std::uint64_t(t.begin);
      if (at == 0 && previous.empty() && begin > 0)
        fail_tensor(t.name, "the first tensor in the data area starts at data offset " +
                                std::to_string(begin) + " (file byte " +
                                std::to_string(data_offset() + begin) + "), not 0");
      if (begin > at)
        fail("gap in the data area: " + file_bytes(at, begin) + " belong to no tensor (between " +
             detail::quoted(previous) + " and " + detail::quoted(t.name) + ")");
      if (begin < at)
        fail_tensor(t.name, "data_offsets [" + std::to_string(t.begin) + ", " +
                                std::to_string(t.end) + "] overlap tensor " +
                                detail::quoted(previous) + ", which ends at data offset " +
                                std::to_string(at) + " (file byte " +
                                std::to_string(data_offset() + at) + ")");
      at = std::uint64_t(t.end);
      previous = t.name;
    }
    if (at != data_size_)
      fail(std::to_string(data_size_ - at) + " trailing bytes after the last tensor (" +
           file_bytes(at, data_size_) + ")");
  }

  std::string label_;
  std::shared_ptr<void const> owner_;  // the mapping or the buffer
  std::uint8_t const* data_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint64_t header_size_ = 0;
  std::uint64_t data_size_ = 0;
  std::vector<TensorInfo> tensors_;  // data order
  std::vector<std::string> names_;   // data order
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors and string metadata, then writes a safetensors file. Tensors are laid out by
// descending dtype size, ties in insertion order, and the header is padded with spaces to a
// multiple of 8 bytes (as the reference implementation does): the data area then starts 8-byte
// aligned and every tensor sits at a multiple of its element size.
class SafeTensorsWriter {
 public:
  // Copies `bytes` bytes from `data`, which must be numel(shape) x dtype_size(dtype).
  void add(std::string const& name, DType dtype, std::vector<std::int64_t> const& shape,
           void const* data, std::size_t bytes) {
    if (name == "__metadata__") fail_tensor(name, "the name is reserved for the metadata");
    for (Entry const& e : entries_)
      if (e.name == name) fail_tensor(name, "added twice");
    std::uint64_t numel = 1, need = 0;
    bool fits = true, has_zero = false;
    for (std::int64_t d : shape) {
      if (d < 0) fail_tensor(name, "negative dimension in shape " + detail::shape_string(shape));
      has_zero = has_zero || d == 0;
      fits = fits && detail::checked_mul(numel, std::uint64_t(d), numel);
    }
    if (has_zero) numel = 0, fits = true;
    if (!fits || !detail::checked_mul(numel, std::uint64_t(dtype_size(dtype)), need) ||
        need > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      fail_tensor(name, "shape " + detail::shape_string(shape) + " overflows a 64-bit byte count");
    if (need != bytes)
      fail_tensor(name, "shape " + detail::shape_string(shape) + " x " + dtype_name(dtype) +
                            " needs " + std::to_string(need) + " bytes, got " +
                            std::to_string(bytes));
    if (bytes > 0 && data == nullptr) fail_tensor(name, "null data");
    Entry e{name, dtype, shape, {}};
    auto const* p = static_cast<std::uint8_t const*>(data);
    e.bytes.assign(p, p + bytes);
    entries_.push_back(std::move(e));
  }

  void add(std::string const& name, std::vector<std::int64_t> const& shape,
           std::vector<float> const& values) {  // as F32
    add(name, DType::f32, shape, values.data(), values.size() * sizeof(float));
  }

  void add(std::string const& name, std::vector<std::int64_t> const& shape,
           std::vector<std::int64_t> const& values) {  // as I64
    add(name, DType::i64, shape, values.data(), values.size() * sizeof(std::int64_t));
  }

  void set_metadata(std::string const& key, std::string const& value) { metadata_[key] = value; }

  // The whole file, in memory.
  std::vector<std::uint8_t> serialize() const {
    std::vector<std::size_t> order;
    std::string const head = header("<memory>", order);
    std::vector<std::uint8_t> out(head.begin(), head.end());
    for (std::size_t k : order)
      out.insert(out.end(), entries_[k].bytes.begin(), entries_[k].bytes.end());
    return out;
  }

  // Writes `path` + ".tmp", fsyncs it, then renames it over `path`: a crash leaves either the
  // old file or the new one, never a partial file under `path`.
  void write(std::string const& path) const {
    std::vector<std::size_t> order;
    std::string const head = header(path, order);
    std::string const tmp = path + ".tmp";
    int const fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail(path, "cannot create " + tmp + ": " + detail::errno_string());
    try {
      write_all(fd, path, head.data(), head.size());
      for (std::size_t k : order)
        write_all(fd, path, entries_[k].bytes.data(), entries_[k].bytes.size());
      if (::fsync(fd) != 0) fail(path, "fsync of " + tmp + " failed: " + detail::errno_string());
    } catch (...) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw;
    }
    if (::close(fd) != 0) {
      std::string const why = detail::errno_string();
      ::unlink(tmp.c_str());
      fail(path, "close of " + tmp + " failed: " + why);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      std::string const why = detail::errno_string();
      ::unlink(tmp.c_str());
      fail(path, "rename of " + tmp + " failed: " + why);
    }
    // The rename lives in the directory; fsync it so the new name survives a crash too. Best
    // effort: some file systems refuse fsync on directories.
    std::size_t const slash = path.rfind('/');
    std::string const dir = slash == std::string::npos ? "."
                            : slash == 0               ? "/"
                                                       : path.substr(0, slash);
    int const dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> bytes;
  };

  [[noreturn]] static void fail(std::string const& where, std::string const& what) {
    throw Error("safetensors writer: " + where + ": " + what);
  }
  [[noreturn]] static void fail_tensor(std::string const& name, std::string const& what) {
    throw Error("safetensors writer: tensor " + detail::quoted(name) + ": " + what);
  }

  // The 8-byte length and the padded JSON; `order` receives the data layout (entry indices).
  std::string header(std::string const& where, std::vector<std::size_t>& order) const {
    order.resize(entries_.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return dtype_size(entries_[a].dtype) > dtype_size(entries_[b].dtype);
    });
    nlohmann::json j = nlohmann::json::object();
    std::uint64_t at = 0;
    for (std::size_t k : order) {
      Entry const& e = entries_[k];
      std::uint64_t const end = at + e.bytes.size();
      j[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {at, end}}};
      at = end;
    }
    if (!metadata_.empty()) j["__metadata__"] = metadata_;
    std::string text;
    try {
      text = j.dump();  // strict: throws on names or metadata that are not valid UTF-8
    } catch (nlohmann::json::exception const& e) {
      fail(where, std::string("cannot encode the header: ") + e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');
    if (text.size() > max_header_bytes)
      fail(where, "header of " + std::to_string(text.size()) + " bytes exceeds the 100 MB limit");
    std::uint64_t const n = text.size();
    std::string out(8, '\0');
    std::memcpy(&out[0], &n, 8);
    return out + text;
  }

  static void write_all(int fd, std::string const& path, void const* data, std::size_t size) {
    auto const* p = static_cast<char const*>(data);
    while (size > 0) {
      ssize_t const w = ::write(fd, p, size);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail(path, "write failed: " + detail::errno_string());
      p += w;
      size -= std::size_t(w);
    }
  }

  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ponet::io
