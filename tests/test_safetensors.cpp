// ponet::io safetensors: writer -> reader round trips for every dtype (F16/BF16 specials and
// subnormals included), exhaustive F16/BF16 decoding, and one malformed file per validation rule,
// each built in memory and checked against its own message.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <ponet/io/safetensors.hpp>

using namespace ponet;
using namespace ponet::io;
using Catch::Contains;
using Bytes = std::vector<std::uint8_t>;

namespace {

// A file from its parts: an 8-byte little-endian length `n`, then `header`, then `data_bytes`
// bytes of data (values 0, 1, 2, ...). `n` defaults to the header's length.
Bytes file_of(std::string const& header, std::size_t data_bytes = 0,
              std::uint64_t n = std::numeric_limits<std::uint64_t>::max()) {
  if (n == std::numeric_limits<std::uint64_t>::max()) n = header.size();
  Bytes out;
  out.reserve(8 + header.size() + data_bytes);
  for (int k = 0; k < 8; ++k) out.push_back(std::uint8_t(n >> (8 * k)));  // little-endian
  out.insert(out.end(), header.begin(), header.end());
  for (std::size_t k = 0; k < data_bytes; ++k) out.push_back(std::uint8_t(k));
  return out;
}

// One U8 entry of the header: "name": {"dtype": "U8", "shape": [e - b], "data_offsets": [b, e]}.
std::string u8_entry(std::string const& name, int b, int e) {
  return "\"" + name + "\": {\"dtype\": \"U8\", \"shape\": [" + std::to_string(e - b) +
         "], \"data_offsets\": [" + std::to_string(b) + ", " + std::to_string(e) + "]}";
}

// A header with one tensor "w" whose entry holds `body` (the text between the braces).
std::string one_entry(std::string const& body) { return "{\"w\": {" + body + "}}"; }

SafeTensorsFile parse(Bytes b) { return SafeTensorsFile(std::move(b)); }

template <class T>
Bytes bytes_of(std::vector<T> const& v) {
  Bytes out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("ponet-safetensors-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

}  // namespace

TEST_CASE("safetensors: F16 and BF16 decode every bit pattern exactly", "[safetensors]") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    int const sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    float const got = f16_to_float(std::uint16_t(h));
    if (exp == 31 && mant != 0) {
      REQUIRE(std::isnan(got));
      REQUIRE(std::signbit(got) == bool(sign));
      continue;
    }
    double const mag = exp == 0    ? std::ldexp(double(mant), -24)  // subnormal
                       : exp == 31 ? std::numeric_limits<double>::infinity()
                                   : std::ldexp(1.0 + mant / 1024.0, exp - 15);
    float const want = float(sign ? -mag : mag);
    REQUIRE(same_bits(got, want));  // also tells -0 from +0
  }
  for (std::uint32_t b = 0; b < 65536; ++b) {
    float const got = bf16_to_float(std::uint16_t(b));
    std::uint32_t bits;
    std::memcpy(&bits, &got, 4);
    REQUIRE(bits == b << 16);
  }
  CHECK(f16_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_float(0x7bff) == 65504.0f);
  CHECK(bf16_to_float(0x0001) == std::ldexp(1.0f, -133));
}

TEST_CASE("safetensors: round trip of every dtype, in memory and through a file", "[safetensors]") {
  float const inf = std::numeric_limits<float>::infinity();
  std::vector<float> const f32 = {
      0.0f,   -0.0f, 1.5f, -inf, inf, std::nanf(""), std::numeric_limits<float>::denorm_min(),
      3.0e38f};
  // F16: +-0, smallest and largest subnormal, smallest normal, 1, -2, 65504, +-inf, qNaN, sNaN.
  std::vector<std::uint16_t> const f16 = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00,
                                          0xc000, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x7c01};
  std::vector<float> const f16_want = {0.0f,
                                       -0.0f,
                                       std::ldexp(1.0f, -24),
                                       std::ldexp(1023.0f, -24),
                                       std::ldexp(1.0f, -14),
                                       1.0f,
                                       -2.0f,
                                       65504.0f,
                                       inf,
                                       -inf,
                                       std::nanf(""),
                                       std::nanf("")};
  // BF16: 1, smallest subnormal, largest finite, +-inf, NaN, -0, -1.5.
  std::vector<std::uint16_t> const bf16 = {0x3f80, 0x0001, 0x7f7f, 0x7f80,
                                           0xff80, 0x7fc0, 0x8000, 0xbfc0};
  double const flt_max = std::numeric_limits<float>::max();
  // F64 narrowing: exact, tiny -> 0, just above FLT_MAX -> FLT_MAX, past half an ulp -> inf.
  std::vector<double> const f64 = {1.25,
                                   -1e-300,
                                   flt_max + std::ldexp(1.0, 102),
                                   flt_max + std::ldexp(1.0, 103),
                                   -std::numeric_limits<double>::max(),
                                   std::numeric_limits<double>::quiet_NaN()};
  std::vector<std::int64_t> const i64 = {std::numeric_limits<std::int64_t>::min(), -1, 0,
                                         std::numeric_limits<std::int64_t>::max()};
  std::vector<std::int32_t> const i32 = {std::numeric_limits<std::int32_t>::min(), -7, 0,
                                         std::numeric_limits<std::int32_t>::max()};
  Bytes const u8 = {0, 1, 128, 255};
  Bytes const boolean = {1, 0, 0, 1, 1, 0};

  SafeTensorsWriter w;
  w.add("f32", {2, 4}, f32);
  w.add("f16", DType::f16, {3, 4}, f16.data(), f16.size() * 2);
  w.add("bf16", DType::bf16, {8}, bf16.data(), bf16.size() * 2);
  w.add("f64", DType::f64, {6}, f64.data(), f64.size() * 8);
  w.add("i64", {4}, i64);
  w.add("i32", DType::i32, {2, 2}, i32.data(), i32.size() * 4);
  w.add("u8", DType::u8, {4, 1}, u8.data(), u8.size());
  w.add("bool", DType::boolean, {2, 3}, boolean.data(), boolean.size());
  w.add("scalar", {}, std::vector<float>{42.0f});    // shape [] holds one element
  w.add("empty", DType::bf16, {0, 5}, nullptr, 0);   // zero-size
  w.add("empty_u8", DType::u8, {3, 0}, nullptr, 0);  // zero-size, after the others
  w.set_metadata("format", "pt");
  w.set_metadata("note", "ünïcödé \"quoted\"");

  Bytes const file = w.serialize();
  bool const from_file = GENERATE(false, true);
  TempDir dir;
  std::string const path = (dir.path / "model.safetensors").string();
  if (from_file) w.write(path);
  SafeTensorsFile r = from_file ? SafeTensorsFile(path) : parse(file);
  CHECK(r.label() == (from_file ? path : "<memory>"));
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

  // The header is padded with spaces to a multiple of 8, so the data area starts aligned.
  CHECK(r.data_offset() % 8 == 0);
  CHECK(r.file_size() == file.size());
  CHECK(file[r.data_offset() - 1] == ' ');
  CHECK(r.metadata() ==
        std::map<std::string, std::string>{{"format", "pt"}, {"note", "ünïcödé \"quoted\""}});
  // Data order: by descending dtype size, then insertion order; zero-size tensors sort first at
  // their offset.
  CHECK(r.names() == std::vector<std::string>{"f64", "i64", "f32", "i32", "scalar", "f16", "bf16",
                                              "empty", "u8", "bool", "empty_u8"});
  for (TensorInfo const& t : r.tensors()) CHECK(t.begin % dtype_size(t.dtype) == 0);

  CHECK(r.info("f16").dtype == DType::f16);
  CHECK(r.info("f16").shape == std::vector<std::int64_t>{3, 4});
  CHECK(r.info("f16").bytes() == 24);
  CHECK(r.info("scalar").shape.empty());
  CHECK(r.info("scalar").numel == 1);
  CHECK(r.info("empty").numel == 0);
  CHECK(r.info("empty").bytes() == 0);
  CHECK(r.info("u8").shape == std::vector<std::int64_t>{4, 1});

  auto raw = [&](std::string const& name) {
    ByteSpan b = r.bytes(name);
    return Bytes(b.begin(), b.end());
  };
  CHECK(raw("f32") == bytes_of(f32));
  CHECK(raw("f16") == bytes_of(f16));
  CHECK(raw("bf16") == bytes_of(bf16));
  CHECK(raw("f64") == bytes_of(f64));
  CHECK(raw("i64") == bytes_of(i64));
  CHECK(raw("i32") == bytes_of(i32));
  CHECK(raw("u8") == u8);
  CHECK(raw("bool") == boolean);
  CHECK(raw("empty").empty());

  std::vector<float> const got_f32 = r.to_float("f32");
  REQUIRE(got_f32.size() == f32.size());
  for (std::size_t k = 0; k < f32.size(); ++k) CHECK(same_bits(got_f32[k], f32[k]));
  std::vector<float> const got_f16 = r.to_float("f16");
  REQUIRE(got_f16.size() == f16_want.size());
  for (std::size_t k = 0; k < f16_want.size(); ++k) {
    if (std::isnan(f16_want[k]))
      CHECK(std::isnan(got_f16[k]));
    else
      CHECK(same_bits(got_f16[k], f16_want[k]));
  }
  std::vector<float> const got_bf16 = r.to_float("bf16");
  REQUIRE(got_bf16.size() == bf16.size());
  for (std::size_t k = 0; k < bf16.size(); ++k)
    CHECK(same_bits(got_bf16[k], bits_to_float(std::uint32_t(bf16[k]) << 16)));
  CHECK(got_bf16[1] == std::ldexp(1.0f, -133));
  CHECK(std::isinf(got_bf16[3]));
  CHECK(std::isnan(got_bf16[5]));
  std::vector<float> const got_f64 = r.to_float("f64");
  REQUIRE(got_f64.size() == 6);
  CHECK(got_f64[0] == 1.25f);
  CHECK(same_bits(got_f64[1], -0.0f));
  CHECK(got_f64[2] == std::numeric_limits<float>::max());
  CHECK(got_f64[3] == inf);
  CHECK(got_f64[4] == -inf);
  CHECK(std::isnan(got_f64[5]));
  CHECK(r.to_float("scalar") == std::vector<float>{42.0f});
  CHECK(r.to_float("empty").empty());

  CHECK(r.to_int64("i64") == i64);
  CHECK(r.to_int64("i32") == std::vector<std::int64_t>(i32.begin(), i32.end()));
  CHECK(r.to_int64("u8") == std::vector<std::int64_t>{0, 1, 128, 255});
  CHECK(r.to_int64("bool") == std::vector<std::int64_t>{1, 0, 0, 1, 1, 0});
  CHECK(r.to_int64("empty_u8").empty());

  // Writing what we read gives the same bytes back.
  SafeTensorsWriter again;
  for (TensorInfo const& t : r.tensors()) {
    ByteSpan b = r.bytes(t.name);
    again.add(t.name, t.dtype, t.shape, b.data, b.size);
  }
  for (auto const& [k, v] : r.metadata()) again.set_metadata(k, v);
  CHECK(again.serialize() == file);
}

TEST_CASE("safetensors: an empty file set and a file with only metadata", "[safetensors]") {
  SafeTensorsWriter w;
  SafeTensorsFile r = parse(w.serialize());
  CHECK(r.names().empty());
  CHECK(r.metadata().empty());
  w.set_metadata("a", "b");
  CHECK(parse(w.serialize()).metadata().at("a") == "b");
}

TEST_CASE("safetensors: one malformed file per rule", "[safetensors]") {
  std::string const ok_entry = "\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]";
  REQUIRE_NOTHROW(parse(file_of(one_entry(ok_entry), 4)));  // the base the cases below break

  // Sizes and the header length.
  CHECK_THROWS_WITH(parse(Bytes{1, 2, 3}),
                    Contains("safetensors: <memory>: file is 3 bytes, shorter than the 8-byte "
                             "header length"));
  CHECK_THROWS_WITH(parse(file_of("{}", 0, 100'000'001)),
                    Contains("header length 100000001 (file bytes 0..8) exceeds the 100 MB limit"));
  CHECK_THROWS_WITH(parse(file_of("{}", 0, 3)),
                    Contains("header length 3 runs past the end of the file: the header would end "
                             "at byte 11 of 10"));
  CHECK_THROWS_WITH(parse(file_of("")),
                    Contains("header is not a JSON object: it must start with '{' at file byte 8 "
                             "but is empty"));

  // JSON.
  CHECK_THROWS_WITH(parse(file_of("{\"w\": {\"dtype\": ")),
                    Contains("malformed JSON header at file byte 24"));  // just past the header
  CHECK_THROWS_WITH(parse(file_of("{\"w\": x}")),
                    Contains("malformed JSON header at file byte 14"));
  CHECK_THROWS_WITH(parse(file_of("{\"w\": \"\xff\"}")), Contains("malformed JSON header"));
  std::string const deep = std::string(100'000, '[') + std::string(100'000, ']');
  CHECK_THROWS_WITH(parse(file_of(one_entry("\"dtype\": \"U8\", \"shape\": " + deep +
                                            ", \"data_offsets\": [0, 0]"))),
                    Contains("header nests JSON deeper than 64 levels"));
  CHECK_THROWS_WITH(parse(file_of("[1, 2]")), Contains("header is not a JSON object: it must "
                                                       "start with '{' at file byte 8"));
  CHECK_THROWS_WITH(parse(file_of("{" + u8_entry("a", 0, 2) + ", " + u8_entry("a", 2, 4) + "}", 4)),
                    Contains("duplicate tensor name 'a' in header"));
  CHECK_THROWS_WITH(parse(file_of("{\"__metadata__\": {}, \"__metadata__\": {}}")),
                    Contains("duplicate key '__metadata__' in header"));
  CHECK_THROWS_WITH(parse(file_of(one_entry(ok_entry + ", \"dtype\": \"U8\""), 4)),
                    Contains("entry 'w': duplicate key 'dtype'"));

  // Entries.
  CHECK_THROWS_WITH(parse(file_of("{\"w\": [1]}")),
                    Contains("tensor 'w': entry must be an object, got array"));
  CHECK_THROWS_WITH(parse(file_of(one_entry(ok_entry + ", \"offset\": 0"), 4)),
                    Contains("tensor 'w': unexpected key 'offset'"));
  CHECK_THROWS_WITH(parse(file_of(one_entry("\"dtype\": \"U8\", \"shape\": [4]"), 4)),
                    Contains("tensor 'w': missing key 'data_offsets'"));
  CHECK_THROWS_WITH(
      parse(file_of(one_entry("\"dtype\": 8, \"shape\": [4], \"data_offsets\": [0, 4]"), 4)),
      Contains("tensor 'w': dtype must be a string, got 8"));
  CHECK_THROWS_WITH(
      parse(file_of(one_entry("\"dtype\": \"F8_E4M3\", \"shape\": [4], \"data_offsets\": [0, 4]"),
                    4)),
      Contains("tensor 'w': unknown dtype \"F8_E4M3\""));
  for (std::string shape : {"[-1, 4]", "[2.0, 2]", "4", "[\"4\"]", "[[4]]"})
    CHECK_THROWS_WITH(
        parse(file_of(
            one_entry("\"dtype\": \"U8\", \"shape\": " + shape + ", \"data_offsets\": [0, 4]"), 4)),
        Contains("tensor 'w': shape must be a list of non-negative integers, got"));
  CHECK_THROWS_WITH(parse(file_of(one_entry("\"dtype\": \"U8\", \"shape\": [9223372036854775808], "
                                            "\"data_offsets\": [0, 4]"),
                                  4)),
                    Contains("tensor 'w': shape dimension 9223372036854775808 does not fit in "
                             "int64"));
  CHECK_THROWS_WITH(parse(file_of(one_entry("\"dtype\": \"F32\", \"shape\": [4294967296, "
                                            "4294967296], \"data_offsets\": [0, 4]"),
                                  4)),
                    Contains("tensor 'w': shape [4294967296,4294967296] x F32 overflows a 64-bit "
                             "byte count"));
  CHECK_THROWS_WITH(parse(file_of(one_entry("\"dtype\": \"F32\", \"shape\": [2, 3], "
                                            "\"data_offsets\": [0, 20]"),
                                  20)),
                    Contains("tensor 'w': shape [2,3] x F32 needs 24 bytes but data_offsets [0, "
                             "20] span 20"));
  for (std::string offsets : {"[0]", "[0, 4, 8]", "[0, -4]", "[0.0, 4]", "{\"0\": 4}"})
    CHECK_THROWS_WITH(
        parse(file_of(one_entry("\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": " + offsets),
                      4)),
        Contains("tensor 'w': data_offsets must be two non-negative integers [begin, end], got"));
  CHECK_THROWS_WITH(
      parse(file_of(one_entry("\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [8, 4]"), 8)),
      Contains("tensor 'w': data_offsets [8, 4] have begin > end"));
  CHECK_THROWS_WITH(parse(file_of(one_entry(ok_entry), 2)),
                    Contains("tensor 'w': data_offsets [0, 4] run past the end of the data area, "
                             "which holds 2 bytes (file bytes"));

  // Tiling of the data area.
  CHECK_THROWS_WITH(parse(file_of("{" + u8_entry("w", 4, 8) + "}", 8)),
                    Contains("tensor 'w': the first tensor in the data area starts at data offset "
                             "4"));
  CHECK_THROWS_WITH(
      parse(file_of("{" + u8_entry("a", 0, 4) + ", " + u8_entry("b", 6, 10) + "}", 10)),
      Contains("gap in the data area"));
  CHECK_THROWS_WITH(parse(file_of("{" + u8_entry("a", 0, 4) + ", " + u8_entry("b", 2, 6) + "}", 6)),
                    Contains("tensor 'b': data_offsets [2, 6] overlap tensor 'a', which ends at "
                             "data offset 4"));
  CHECK_THROWS_WITH(parse(file_of("{" + u8_entry("a", 0, 4) + ", " + u8_entry("z", 2, 2) + "}", 4)),
                    Contains("tensor 'z': data_offsets [2, 2] overlap tensor 'a'"));
  CHECK_THROWS_WITH(parse(file_of(one_entry(ok_entry), 6)),
                    Contains("2 trailing bytes after the last tensor"));
  CHECK_THROWS_WITH(parse(file_of("{}", 1)), Contains("1 trailing bytes after the last tensor"));

  // Metadata.
  CHECK_THROWS_WITH(parse(file_of("{\"__metadata__\": [\"a\"]}")),
                    Contains("__metadata__ must be an object of strings, got array"));
  CHECK_THROWS_WITH(parse(file_of("{\"__metadata__\": {\"a\": \"b\", \"epoch\": 3}}")),
                    Contains("__metadata__ must be an object of strings, but key 'epoch' holds a "
                             "value of type number"));
}

TEST_CASE("safetensors: truncated files", "[safetensors]") {
  SafeTensorsWriter w;
  w.add("x", {3}, std::vector<float>{1, 2, 3});
  Bytes const file = w.serialize();
  REQUIRE_NOTHROW(parse(file));
  Bytes cut(file.begin(), file.end() - 1);  // one data byte short
  CHECK_THROWS_WITH(parse(cut), Contains("tensor 'x': data_offsets [0, 12] run past the end of "
                                         "the data area, which holds 11 bytes"));
  cut.resize(20);  // inside the header
  CHECK_THROWS_WITH(parse(cut), Contains("runs past the end of the file"));
  cut.resize(5);  // inside the length
  CHECK_THROWS_WITH(parse(cut), Contains("file is 5 bytes, shorter than the 8-byte header length"));
}

TEST_CASE("safetensors: accessors and conversions refuse what they cannot do", "[safetensors]") {
  SafeTensorsWriter w;
  w.add("ids", DType::i32, {2}, std::vector<std::int32_t>{1, 2}.data(), 8);
  w.add("h", DType::f16, {1}, std::vector<std::uint16_t>{0x3c00}.data(), 2);
  Bytes const flags = {0, 2};
  w.add("flags", DType::boolean, {2}, flags.data(), 2);
  SafeTensorsFile r = parse(w.serialize());
  CHECK_THROWS_WITH(r.to_float("ids"),
                    Contains("<memory>: to_float: tensor 'ids' is I32, which does not convert to "
                             "F32"));
  CHECK_THROWS_WITH(r.to_int64("h"),
                    Contains("to_int64: tensor 'h' is F16, which does not convert to I64"));
  CHECK_THROWS_WITH(r.to_int64("flags"),
                    Contains("tensor 'flags': BOOL element 1 is 2, not 0 or 1"));
  CHECK_THROWS_WITH(r.info("nope"), Contains("no tensor named 'nope'"));
  CHECK_THROWS_WITH(r.to_float("nope"), Contains("no tensor named 'nope'"));
  CHECK_FALSE(r.contains("nope"));
  CHECK(r.contains("ids"));
}

TEST_CASE("safetensors: writer errors name the tensor or the path", "[safetensors]") {
  SafeTensorsWriter w;
  w.add("a", {2}, std::vector<float>{1, 2});
  CHECK_THROWS_WITH(w.add("a", {1}, std::vector<float>{1}), Contains("tensor 'a': added twice"));
  CHECK_THROWS_WITH(w.add("b", {3}, std::vector<float>{1, 2}),
                    Contains("tensor 'b': shape [3] x F32 needs 12 bytes, got 8"));
  CHECK_THROWS_WITH(w.add("c", {-1}, std::vector<float>{}), Contains("tensor 'c': negative"));
  CHECK_THROWS_WITH(w.add("__metadata__", {1}, std::vector<float>{1}), Contains("reserved"));
  SafeTensorsWriter bad_utf8;
  bad_utf8.set_metadata("k", "\xff");
  CHECK_THROWS_WITH(bad_utf8.serialize(), Contains("<memory>: cannot encode the header"));

  TempDir dir;
  std::string const missing = (dir.path / "no" / "such" / "dir" / "m.safetensors").string();
  CHECK_THROWS_WITH(w.write(missing),
                    Contains("safetensors writer: " + missing + ": cannot create"));
  CHECK_THROWS_WITH(SafeTensorsFile(missing),
                    Contains("safetensors: " + missing + ": cannot open"));
  CHECK_THROWS_WITH(SafeTensorsFile(dir.path.string()), Contains("not a regular file"));

  // Rewriting a file replaces it whole and leaves no temp file behind.
  std::string const path = (dir.path / "m.safetensors").string();
  w.write(path);
  SafeTensorsWriter bigger;
  bigger.add("a", {4}, std::vector<float>{1, 2, 3, 4});
  bigger.write(path);
  CHECK(SafeTensorsFile(path).to_float("a") == std::vector<float>{1, 2, 3, 4});
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  // A corrupt file on disk is reported with its path.
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << "abc"; }
  CHECK_THROWS_WITH(SafeTensorsFile(path), Contains("safetensors: " + path + ": file is 3 bytes"));
  { std::ofstream(path, std::ios::binary | std::ios::trunc); }
  CHECK_THROWS_WITH(SafeTensorsFile(path), Contains("file is 0 bytes"));
}
