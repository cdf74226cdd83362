// The pretrained-style PoNet encoder (nn::PoNetEncoder, ponet/nn/bert.hpp) against PyTorch:
// tests/fixtures/make_bert_fixture.py, an independent float64 model written from PONET.md, stores
// a small random model under the Hugging Face names (tests/fixtures/bert/model.safetensors, with
// the "ponet." prefix and cls.* heads, like a pre-training checkpoint), inputs and the expected
// last_hidden_state and pooler_output. The encoder loads it through load_pretrained, the loader
// ponet-encode uses. Also: config.json errors, loader errors, input errors, the tanh node.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <ponet/nn/bert.hpp>

#include "nn_testing.hpp"

using namespace ponet;
using namespace testing;
using Catch::Contains;

namespace {

std::string const kDir = std::string(PONET_FIXTURES_DIR) + "/bert";

// Double: torch and ponet evaluate the same float64 formulas in other orders (GEMMs, LayerNorm
// statistics, softmax sums); through two layers rounding stays ~1e-15 (measured 1.4e-15). A
// semantic slip shows far above: the fixture's outputs with clsgsepg on and off, or with explicit
// and sentence segments, differ by 2 to 3 (absolute; values are O(1)).
constexpr double kDoubleTol = 1e-12;
// Float: the weights are float32 values, so this is float arithmetic (eps 6e-8) alone through
// two layers (measured 6.5e-7); the max poolings' winners lead by >= 1.6e-4, so float picks the
// same ones. The issue asks for 1e-4.
constexpr double kFloatTol = 1e-4;
// Double central differences, step 1e-5, smooth function.
constexpr double kFdTol = 1e-7;

// ------------------------------------------------------------------------------ fixture files

// An I64 [B, N] tensor of a fixture file as [B, N, 1].
Tensor<std::int64_t> ints(io::SafeTensorsFile const& f, std::string const& name) {
  io::TensorInfo const& t = f.info(name);
  REQUIRE(t.dtype == io::DType::i64);
  REQUIRE(t.shape.size() == 2);
  auto v = f.to_int64(name);
  return Tensor<std::int64_t>(Shape3{int(t.shape[0]), int(t.shape[1]), 1}, v);
}

// An F64 tensor of a fixture file, whose shape must have `s`'s number of elements.
Tensor<double> reals(io::SafeTensorsFile const& f, std::string const& name, Shape3 s) {
  io::TensorInfo const& t = f.info(name);
  REQUIRE(t.dtype == io::DType::f64);
  REQUIRE(t.numel == s.numel());
  Tensor<double> out(s);
  std::memcpy(out.data(), f.bytes(name).data, std::size_t(t.bytes()));
  return out;
}

struct Case {
  Tensor<std::int64_t> ids, mask, types, seg;  // [B, N, 1]; seg empty when not given
  Tensor<double> last, pooled;                 // [B, N, D], [B, 1, D]
};

Case read_case(std::string const& inputs, std::string const& expected, int D) {
  io::SafeTensorsFile in(kDir + "/" + inputs + ".inputs.safetensors");
  io::SafeTensorsFile ex(kDir + "/" + expected + ".expected.safetensors");
  Case c;
  c.ids = ints(in, "input_ids");
  c.mask = ints(in, "attention_mask");
  c.types = ints(in, "token_type_ids");
  if (in.contains("segment_ids")) c.seg = ints(in, "segment_ids");
  int const B = c.ids.B(), N = c.ids.N();
  c.last = reals(ex, "last_hidden_state", {B, N, D});
  c.pooled = reals(ex, "pooler_output", {B, 1, D});
  return c;
}

template <class I, class T>
nn::EncoderOutput<T> const& run(nn::PoNetEncoder<T>& enc, Case const& c) {
  auto const ids = cast<I>(c.ids), mask = cast<I>(c.mask), types = cast<I>(c.types);
  auto const seg = cast<I>(c.seg);
  return enc.forward(ids.cview(), mask.cview(), types.cview(),
                     c.seg.size() ? seg.cview() : View<I const>());
}

// The fixture model through load_pretrained, or with clsgsepg switched off.
template <class T>
std::unique_ptr<nn::PoNetEncoder<T>> fixture_model(bool clsgsepg = true) {
  if (clsgsepg) return nn::load_pretrained<T>(kDir);
  auto c = io::read_config(kDir + "/config.json");
  c.clsgsepg = false;
  auto enc = std::make_unique<nn::PoNetEncoder<T>>(c, 0, true);
  enc->load(io::SafeTensorsFile(kDir + "/model.safetensors"));
  return enc;
}

template <class T>
void check_parity(std::string const& inputs, std::string const& expected, bool clsgsepg,
                  double tol) {
  auto enc = fixture_model<T>(clsgsepg);
  int const D = enc->config().hidden_size;
  Case const c = read_case(inputs, expected, D);
  auto const& out = run<std::int64_t>(*enc, c);
  double const e_last = max_rel_err(out.last_hidden_state, c.last);
  double const e_pool = max_rel_err(out.pooler_output, c.pooled);
  INFO(expected << " in " << (sizeof(T) == 4 ? "float" : "double") << ": last_hidden_state "
                << e_last << ", pooler_output " << e_pool);
  CHECK(e_last <= tol);
  CHECK(e_pool <= tol);
  // int32 inputs give the same bits.
  Tensor<T> const last = out.last_hidden_state, pooled = out.pooler_output;
  auto const& out32 = run<std::int32_t>(*enc, c);
  CHECK(bit_equal(out32.last_hidden_state, last));
  CHECK(bit_equal(out32.pooler_output, pooled));
}

// ------------------------------------------------------------------------ rewritten checkpoints

struct Entry {
  std::string name;
  io::DType dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};

std::vector<Entry> fixture_entries() {
  io::SafeTensorsFile f(kDir + "/model.safetensors");
  std::vector<Entry> out;
  for (auto const& t : f.tensors()) {
    auto b = f.bytes(t.name);
    out.push_back({t.name, t.dtype, t.shape, std::vector<std::uint8_t>(b.begin(), b.end())});
  }
  return out;
}

io::SafeTensorsFile file_of(std::vector<Entry> const& entries, std::string label = "edited") {
  io::SafeTensorsWriter w;
  for (auto const& e : entries) w.add(e.name, e.dtype, e.shape, e.bytes.data(), e.bytes.size());
  return io::SafeTensorsFile(w.serialize(), std::move(label));
}

std::vector<float> floats_of(Entry const& e) {
  std::vector<float> v(e.bytes.size() / 4);
  std::memcpy(v.data(), e.bytes.data(), e.bytes.size());
  return v;
}

template <class U>
std::vector<std::uint8_t> bytes_of(std::vector<U> const& v) {
  std::vector<std::uint8_t> b(v.size() * sizeof(U));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// float -> binary16 by truncation for normal values (|x| >= 2^-14), 0 below: enough to build
// F16 weights whose exact values are then known through f16_to_float.
std::uint16_t f16_truncate(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  std::uint16_t const sign = std::uint16_t((u >> 16) & 0x8000u);
  int const exp = int((u >> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  REQUIRE(exp < 31);
  return std::uint16_t(sign | (exp << 10) | ((u >> 13) & 0x3ffu));
}

template <class T>
std::vector<T> param_values(nn::PoNetEncoder<T> const& enc) {
  auto const& v = enc.params().values();
  return std::vector<T>(v.data(), v.data() + v.size());
}

std::string write_temp(std::string const& name, std::string const& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("ponet_bert_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

// The fixture config.json with `edit` applied.
io::PoNetConfig config_with(std::function<void(nlohmann::json&)> const& edit) {
  std::ifstream in(kDir + "/config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  edit(j);
  return io::parse_config(j, "edited.json");
}

}  // namespace

// --------------------------------------------------------------------------------------- parity

TEST_CASE("bert parity: PoNet encoder equals PyTorch in double", "[bert][parity]") {
  check_parity<double>("sentences", "sentences", true, kDoubleTol);
  check_parity<double>("sentences", "sentences_no_clsgsepg", false, kDoubleTol);
  check_parity<double>("segment_ids", "segment_ids", true, kDoubleTol);
}

TEST_CASE("bert parity: PoNet encoder equals PyTorch in float", "[bert][parity]") {
  check_parity<float>("sentences", "sentences", true, kFloatTol);
  check_parity<float>("sentences", "sentences_no_clsgsepg", false, kFloatTol);
  check_parity<float>("segment_ids", "segment_ids", true, kFloatTol);
}

TEST_CASE("bert: sequences are independent: one at a time, padded, or in a batch",
          "[bert][batch]") {
  auto enc = fixture_model<double>();
  int const D = enc->config().hidden_size;
  Case const c = read_case("sentences", "sentences", D);
  Tensor<double> const full = run<std::int64_t>(*enc, c).last_hidden_state;
  enc->set_max_tokens_per_pass(1);  // one sequence per pass
  auto const& one = run<std::int64_t>(*enc, c);
  CHECK(max_rel_err(one.last_hidden_state, full) <= kDoubleTol);
  CHECK(max_rel_err(one.last_hidden_state, c.last) <= kDoubleTol);
  CHECK(max_rel_err(one.pooler_output, c.pooled) <= kDoubleTol);
  CHECK_THROWS_WITH(enc->set_max_tokens_per_pass(0), Contains("must be >= 1"));

  // A row full of padding: finite values (the authors' code divides by zero there), and the
  // other rows unchanged. docs/decisions.md#empty-sequences
  Case d = c;
  for (int i = 0; i < d.mask.N(); ++i) d.mask(2, i, 0) = 0;
  auto const& out = run<std::int64_t>(*enc, d);
  for (double v : out.last_hidden_state) REQUIRE(std::isfinite(v));
  for (int b : {0, 1, 3})
    for (int i = 0; i < c.ids.N(); ++i)
      for (int k = 0; k < D; ++k)
        CHECK(out.last_hidden_state(b, i, k) == Approx(c.last(b, i, k)).margin(1e-12));
}

TEST_CASE("bert: segments and pool mask follow the ids and clsgsepg", "[bert][segments]") {
  auto enc = fixture_model<float>();
  Tensor<std::int64_t> ids(Shape3{1, 7, 1}, {101, 5, 6, 102, 102, 7, 102});
  enc->forward(ids.cview());
  std::vector<int> seg, pool;
  for (int i = 0; i < 7; ++i) {
    seg.push_back(enc->segments().ids()(0, i, 0));
    pool.push_back(enc->pool_mask()(0, i, 0));
  }
  CHECK(seg == std::vector<int>{0, 1, 1, 2, 3, 4, 5});
  CHECK(pool == std::vector<int>{0, 1, 1, 0, 0, 1, 0});
  // Explicit ids: renumbered runs; padding ids ignored.
  Tensor<std::int64_t> mask(Shape3{1, 7, 1}, {1, 1, 1, 1, 1, 0, 0});
  Tensor<std::int64_t> explicit_ids(Shape3{1, 7, 1}, {7, 7, 9, 9, 40, 0, 3});
  enc->forward(ids.cview(), mask.cview(), View<std::int64_t const>(), explicit_ids.cview());
  seg.clear();
  for (int i = 0; i < 7; ++i) seg.push_back(enc->segments().ids()(0, i, 0));
  CHECK(seg == std::vector<int>{0, 0, 1, 1, 2, 2, 2});
  CHECK(enc->segments().S() == 3);
}

// -------------------------------------------------------------------------------------- loader

TEST_CASE("bert loader: tensor map covers every parameter exactly once", "[bert][loader]") {
  auto const c = io::read_config(kDir + "/config.json");
  nn::PoNetEncoder<float> enc(c);
  std::map<std::string, std::vector<int>> hits;
  for (auto const& e : enc.params().entries()) hits[e.name].assign(e.ref.size(), 0);
  for (auto const& s : nn::PoNetEncoder<float>::tensor_map(c)) {
    INFO(s.name << " -> " << s.param);
    REQUIRE(hits.count(s.param) == 1);
    std::int64_t n = 1;
    for (auto d : s.shape) n *= d;
    REQUIRE(s.offset + std::size_t(n) <= hits[s.param].size());
    for (std::int64_t k = 0; k < n; ++k) ++hits[s.param][s.offset + std::size_t(k)];
  }
  for (auto const& [name, h] : hits) {
    INFO(name);
    CHECK(std::all_of(h.begin(), h.end(), [](int x) { return x == 1; }));
  }
  CHECK(nn::PoNetEncoder<float>::tensor_map(c).size() == 5 + 2 * 20 + 2);
}

TEST_CASE("bert loader: names without the prefix, F64, BF16 and F16 weights", "[bert][loader]") {
  auto const c = io::read_config(kDir + "/config.json");
  auto const reference = fixture_model<float>();
  auto const want = param_values(*reference);
  auto entries = fixture_entries();

  SECTION("no 'ponet.' prefix, no cls heads, no position_ids") {
    std::vector<Entry> bare;
    for (auto e : entries) {
      if (e.name.rfind("ponet.", 0) != 0 || e.dtype == io::DType::i64) continue;
      e.name = e.name.substr(6);
      bare.push_back(e);
    }
    nn::PoNetEncoder<float> enc(c, 0, true);
    enc.load(file_of(bare));
    CHECK(param_values(enc) == want);
  }
  SECTION("F64 loads exactly, in float and double") {
    for (auto& e : entries) {
      if (e.dtype != io::DType::f32) continue;
      std::vector<double> d;
      for (float v : floats_of(e)) d.push_back(v);
      e.dtype = io::DType::f64;
      e.bytes = bytes_of(d);
    }
    nn::PoNetEncoder<float> enc(c, 0, true);
    enc.load(file_of(entries));
    CHECK(param_values(enc) == want);
    nn::PoNetEncoder<double> enc64(c, 0, true);
    enc64.load(file_of(entries));
    auto const got = param_values(enc64);
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) REQUIRE(got[k] == double(want[k]));
  }
  SECTION("BF16 and F16 widen exactly") {
    for (bool bf16 : {true, false}) {
      auto edited = entries;
      std::map<std::string, std::vector<float>> exact;  // bare name -> expected values
      for (auto& e : edited) {
        if (e.dtype != io::DType::f32) continue;
        std::vector<std::uint16_t> h;
        std::vector<float> x;
        for (float v : floats_of(e)) {
          std::uint32_t u;
          std::memcpy(&u, &v, 4);
          std::uint16_t const bits = bf16 ? std::uint16_t(u >> 16) : f16_truncate(v);
          h.push_back(bits);
          x.push_back(bf16 ? io::bf16_to_float(bits) : io::f16_to_float(bits));
        }
        e.dtype = bf16 ? io::DType::bf16 : io::DType::f16;
        e.bytes = bytes_of(h);
        exact[e.name.rfind("ponet.", 0) == 0 ? e.name.substr(6) : e.name] = x;
      }
      nn::PoNetEncoder<float> enc(c, 0, true);
      enc.load(file_of(edited));
      for (auto const& s : nn::PoNetEncoder<float>::tensor_map(c)) {
        INFO((bf16 ? "BF16 " : "F16 ") << s.name);
        float const* p = enc.params().value(enc.params().find(s.param).ref) + s.offset;
        auto const& x = exact.at(s.name);
        REQUIRE(std::equal(x.begin(), x.end(), p));
      }
    }
  }
  SECTION("extra ignore prefixes (a classification checkpoint's head)") {
    std::vector<float> w(3 * 16, 0.5f);
    entries.push_back({"classifier.weight", io::DType::f32, {3, 16}, bytes_of(w)});
    nn::PoNetEncoder<float> enc(c, 0, true);
    CHECK_THROWS_WITH(enc.load(file_of(entries)),
                      Contains("1 unknown tensor: 'classifier.weight'"));
    nn::LoadOptions o;
    o.ignore_prefixes.push_back("classifier.");
    enc.load(file_of(entries), o);
    CHECK(param_values(enc) == want);
  }
}

TEST_CASE("bert loader: missing, unknown, misshapen, mistyped and duplicate tensors",
          "[bert][loader]") {
  auto const c = io::read_config(kDir + "/config.json");
  nn::PoNetEncoder<float> enc(c, 3);
  auto const before = param_values(enc);
  auto entries = fixture_entries();
  auto find = [&](std::string const& name) -> Entry& {
    for (auto& e : entries)
      if (e.name == name) return e;
    FAIL("no entry " << name);
    throw std::logic_error("unreachable");
  };
  auto load = [&] { enc.load(file_of(entries, "bad.safetensors")); };

  SECTION("missing: every name listed") {
    std::vector<Entry> kept;
    for (auto const& e : entries)
      if (e.name != "ponet.encoder.layer.1.attention.self.dense_segment.bias" &&
          e.name != "ponet.pooler.dense.weight")
        kept.push_back(e);
    entries = kept;
    CHECK_THROWS_WITH(load(), Contains("model 'bad.safetensors': 2 missing tensors") &&
                                  Contains("'encoder.layer.1.attention.self.dense_segment.bias'") &&
                                  Contains("'pooler.dense.weight'"));
  }
  SECTION("unknown: every name listed, cls.* and position_ids skipped") {
    std::vector<float> w(16 * 16, 0.25f);
    entries.push_back({"ponet.encoder.layer.2.attention.self.dense_q.weight",
                       io::DType::f32,
                       {16, 16},
                       bytes_of(w)});
    entries.push_back({"bert.pooler.dense.weight", io::DType::f32, {16, 16}, bytes_of(w)});
    CHECK_THROWS_WITH(load(),
                      Contains("2 unknown tensors: ") &&
                          Contains("'ponet.encoder.layer.2.attention.self.dense_q.weight'") &&
                          Contains("'bert.pooler.dense.weight'") && !Contains("cls."));
  }
  SECTION("wrong shape names the tensor and both shapes") {
    find("ponet.encoder.layer.0.intermediate.dense.weight").shape = {16, 32};
    CHECK_THROWS_WITH(load(), Contains("tensor 'ponet.encoder.layer.0.intermediate.dense.weight' "
                                       "has shape [16,32] but the config needs [32,16]"));
  }
  SECTION("wrong dtype") {
    Entry& e = find("ponet.pooler.dense.bias");
    e.dtype = io::DType::i32;  // same byte count
    CHECK_THROWS_WITH(load(), Contains("tensor 'ponet.pooler.dense.bias' is I32, expected F32, "
                                       "F16, BF16 or F64"));
  }
  SECTION("the same tensor with and without the prefix") {
    Entry e = find("ponet.pooler.dense.bias");
    e.name = "pooler.dense.bias";
    entries.push_back(e);
    CHECK_THROWS_WITH(load(), Contains("tensor 'pooler.dense.bias' given twice"));
  }
  SECTION("a config that does not fit the file") {
    auto c2 = c;
    c2.intermediate_size = 24;
    nn::PoNetEncoder<float> other(c2, 0, true);
    CHECK_THROWS_WITH(other.load(file_of(entries, "bad.safetensors")),
                      Contains("has shape [32,16] but the config needs [24,16]"));
  }
  CHECK(param_values(enc) == before);  // a failed load changes nothing
}

// -------------------------------------------------------------------------------------- config

TEST_CASE("bert config: reads config.json", "[bert][config]") {
  auto const c = io::read_config(kDir + "/config.json");
  CHECK(c.hidden_size == 16);
  CHECK(c.num_attention_heads == 2);
  CHECK(c.num_hidden_layers == 2);
  CHECK(c.intermediate_size == 32);
  CHECK(c.vocab_size == 200);
  CHECK(c.max_position_embeddings == 64);
  CHECK(c.type_vocab_size == 2);
  CHECK(c.layer_norm_eps == 1e-12);
  CHECK(c.hidden_act == "gelu");
  CHECK(c.clsgsepg);
  CHECK(c.cls_token_id == 101);
  CHECK(c.sep_token_id == 102);
  CHECK(config_with([](auto& j) { j.erase("clsgsepg"); }).clsgsepg);  // the authors' default
  CHECK(!config_with([](auto& j) { j["clsgsepg"] = false; }).clsgsepg);
  CHECK(config_with([](auto& j) { j["layer_norm_eps"] = 1e-5; }).layer_norm_eps == 1e-5);
  CHECK(config_with([](auto& j) { j["sep_token_id"] = 3; }).sep_token_id == 3);
  // ponet-base-uncased's sizes (PONET.md, the defaults) fit: BERT-base's 109,482,240 parameters
  // plus two more D x D projections (with biases) per layer.
  io::PoNetConfig base;
  CHECK_NOTHROW(base.validate("base"));
  CHECK(base.parameter_count() == 109482240 + 12 * 2 * (768 * 768 + 768));
}

TEST_CASE("bert config: missing keys, wrong types and unsupported values", "[bert][config]") {
  auto bad = [](std::function<void(nlohmann::json&)> const& edit) {
    return [edit] { config_with(edit); };
  };
  CHECK_THROWS_WITH(bad([](auto& j) { j.erase("hidden_size"); })(),
                    "config 'edited.json': missing key 'hidden_size'");
  CHECK_THROWS_WITH(bad([](auto& j) { j.erase("hidden_act"); })(),
                    Contains("missing key 'hidden_act'"));
  CHECK_THROWS_WITH(
      bad([](auto& j) { j["hidden_size"] = "16"; })(),
      "config 'edited.json': key 'hidden_size' must be an integer, found string \"16\"");
  CHECK_THROWS_WITH(bad([](auto& j) { j["num_hidden_layers"] = 2.5; })(),
                    Contains("key 'num_hidden_layers' must be an integer, found number 2.5"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["vocab_size"] = true; })(),
                    Contains("key 'vocab_size' must be an integer, found boolean true"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["layer_norm_eps"] = "1e-12"; })(),
                    Contains("key 'layer_norm_eps' must be a number, found string"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["hidden_act"] = 1; })(),
                    Contains("key 'hidden_act' must be a string, found number 1"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["clsgsepg"] = "yes"; })(),
                    Contains("key 'clsgsepg' must be a boolean, found string \"yes\""));
  CHECK_THROWS_WITH(bad([](auto& j) { j["type_vocab_size"] = nullptr; })(),
                    Contains("key 'type_vocab_size' must be an integer, found null"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["hidden_act"] = "relu"; })(),
                    Contains("config 'edited.json': hidden_act 'relu' is not supported"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["hidden_act"] = "gelu_new"; })(),
                    Contains("hidden_act 'gelu_new' is not supported"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["num_attention_heads"] = 3; })(),
                    "config 'edited.json': num_attention_heads=3 does not divide hidden_size=16");
  CHECK_THROWS_WITH(bad([](auto& j) { j["vocab_size"] = 0; })(),
                    Contains("vocab_size must be >= 1, got 0"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["num_hidden_layers"] = -2; })(),
                    Contains("num_hidden_layers must be >= 1, got -2"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["max_position_embeddings"] = 1e10; })(),
                    Contains("must be an integer, found number"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["intermediate_size"] = 4294967296ull; })(),
                    Contains("key 'intermediate_size' is 4294967296, too large"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["layer_norm_eps"] = 0; })(),
                    Contains("layer_norm_eps must be in (0, 1)"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["position_embedding_type"] = "relative_key"; })(),
                    Contains("position_embedding_type 'relative_key' is not supported"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["cls_token_id"] = 200; })(),
                    Contains("cls_token_id 200 is outside [0, vocab_size=200)"));
  CHECK_THROWS_WITH(bad([](auto& j) { j["hidden_size"] = 1 << 20; })(),
                    Contains("parameters; ponet holds at most"));
  CHECK_THROWS_WITH(io::parse_config(nlohmann::json::array(), "x.json"),
                    "config 'x.json': must be a JSON object, found array");

  std::string const missing = kDir + "/no-such-config.json";
  CHECK_THROWS_WITH(io::read_config(missing),
                    Contains("config '" + missing + "': cannot open (No such file"));
  std::string const broken = write_temp("broken.json", "{\"hidden_size\": 16,");
  CHECK_THROWS_WITH(io::read_config(broken), Contains("config '" + broken + "': malformed JSON"));
  std::filesystem::remove(broken);
}

// -------------------------------------------------------------------------------------- inputs

TEST_CASE("bert: bad inputs throw naming the value and its position", "[bert][inputs]") {
  auto enc = fixture_model<float>();
  auto t = [](Shape3 s, std::int64_t v) {
    Tensor<std::int64_t> x(s);
    x.fill(v);
    return x;
  };
  Shape3 const s{2, 5, 1};
  auto ids = t(s, 7), mask = t(s, 1), types = t(s, 0);
  auto fwd = [&](View<std::int64_t const> seg = {}) {
    enc->forward(ids.cview(), mask.cview(), types.cview(), seg);
  };
  CHECK_NOTHROW(fwd());
  ids(1, 3, 0) = 200;
  CHECK_THROWS_WITH(fwd(),
                    "PoNetEncoder: input_ids[b=1, i=3] = 200 is outside [0, 200) "
                    "(vocab_size)");
  ids(1, 3, 0) = -1;
  CHECK_THROWS_WITH(fwd(), Contains("input_ids[b=1, i=3] = -1 is outside"));
  ids(1, 3, 0) = 7;
  types(0, 4, 0) = 2;
  CHECK_THROWS_WITH(fwd(),
                    "PoNetEncoder: token_type_ids[b=0, i=4] = 2 is outside [0, 2) "
                    "(type_vocab_size)");
  types(0, 4, 0) = 0;
  mask(1, 0, 0) = 2;
  CHECK_THROWS_WITH(fwd(), "PoNetEncoder: attention_mask[b=1, i=0] = 2 is not 0 or 1");
  mask(1, 0, 0) = 1;
  auto seg = t(s, 0);
  seg(0, 1, 0) = 2;  // then 0: decreasing
  CHECK_THROWS_WITH(fwd(seg.cview()), Contains("segment_ids decrease at [b=0, i=2] (0 after 2)"));
  seg(0, 1, 0) = -3;
  CHECK_THROWS_WITH(fwd(seg.cview()), Contains("segment_ids[b=0, i=1] = -3 is negative"));
  auto small = t({2, 4, 1}, 0);
  CHECK_THROWS_WITH(enc->forward(ids.cview(), small.cview()),
                    "PoNetEncoder: attention_mask are [2,4,1] but input_ids are [2,5,1]");
  auto flat = t({1, 5, 2}, 0);
  CHECK_THROWS_WITH(enc->forward(flat.cview()), Contains("input_ids are [1,5,2] but must be"));
  auto long_ids = t({1, 65, 1}, 7);
  CHECK_THROWS_WITH(enc->forward(long_ids.cview()),
                    "PoNetEncoder: N=65 tokens exceed max_position_embeddings=64");
  auto fits = t({1, 64, 1}, 7);
  CHECK_NOTHROW(enc->forward(fits.cview()));
}

// -------------------------------------------------------------------------------------- tanh

TEST_CASE("tanh: values and backward equals finite differences", "[bert][activation][fd]") {
  auto x = uniform<double>({2, 6, 19}, 5, -3, 3);  // odd D: SIMD body and scalar tail
  auto w = uniform<double>({2, 6, 19}, 6);
  Tensor<double> y({2, 6, 19}), dx({2, 6, 19});
  Workspace<cpu_tag> ws;
  forward(y, expr::tanh(x), ws);
  for (std::int64_t k = 0; k < x.size(); ++k)
    REQUIRE(y.data()[k] == Approx(std::tanh(x.data()[k])).epsilon(1e-15));
  backward(expr::tanh(x), w, ws, {{x, dx}});
  auto loss = [&] { return dot(w, evaluate(expr::tanh(x))); };
  CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
  Tensor<float> xf = cast<float>(x);
  auto yf = evaluate(expr::tanh(xf));
  for (std::int64_t k = 0; k < x.size(); ++k)
    REQUIRE(yf.data()[k] == Approx(std::tanh(xf.data()[k])).epsilon(1e-6));
  Tensor<double> big({1, 1, 4}, std::vector<double>{-40.0, 0.0, 0.5, 40.0});
  auto t = evaluate(expr::tanh(big));
  CHECK(t(0, 0, 0) == -1.0);
  CHECK(t(0, 0, 1) == 0.0);
  CHECK(t(0, 0, 2) == Approx(0.46211715726000974).epsilon(1e-15));
  CHECK(t(0, 0, 3) == 1.0);
}
