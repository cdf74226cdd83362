// The BERT-style PoNet encoder of the pretrained model (PONET.md "Layers around the mixing"),
// loaded from the authors' Hugging Face checkpoint layout (PONET.md "Pretrained checkpoint
// layout"):
//   x = LN(word[id] + position[i] + type[tt])      BertEmbeddings (dropout off: inference)
//   x = PostLNBlock<PoNetMixer>(x), num_hidden_layers times:
//         a = LN1(x + Wout mix(x));  y = LN2(a + W2 GELU(W1 a))
//   last_hidden_state = x [B, N, D];  pooler_output = tanh(Wp x[:, 0] + bp) [B, 1, D]
// Segments come from the ids ([CLS]/[SEP] delimit them) or from explicit ids; with clsgsepg the
// poolings skip the delimiters. Inference only. docs/pretrained.md
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ponet/io/config.hpp"
#include "ponet/io/safetensors.hpp"
#include "ponet/nn.hpp"

namespace ponet::nn {

// word + position + token type embeddings, then LayerNorm (Hugging Face's BertEmbeddings).
// Parameter names are Hugging Face's: <name>.word_embeddings.weight [V, D], ...
template <class T>
class BertEmbeddings {
 public:
  BertEmbeddings() = default;
  // init_tables: N(0, 0.02^2) tables (random models); otherwise zeros, to be loaded.
  BertEmbeddings(Params<T>& p, std::string const& name, io::PoNetConfig const& c, bool init_tables)
      : p_(&p) {
    Init const init = init_tables ? Init::normal : Init::zeros;
    int const D = c.hidden_size;
    word_ = p.add(name + ".word_embeddings.weight", c.vocab_size, D, init, 0.02);
    pos_ = p.add(name + ".position_embeddings.weight", c.max_position_embeddings, D, init, 0.02);
    type_ = p.add(name + ".token_type_embeddings.weight", c.type_vocab_size, D, init, 0.02);
    ln_ = LayerNorm<T>(p, name + ".LayerNorm", D, c.layer_norm_eps);
  }

  // out [B, N, D]; ids and types int32 [B, N, 1], inside their tables (embedding_forward checks).
  void forward(View<T> out, View<std::int32_t const> ids, View<std::int32_t const> types) {
    sum_.resize(out.shape());
    type_rows_.resize(out.shape());
    embedding_forward(sum_.view(), ids, Mat<T const>(p_->value_mat(word_)),
                      Mat<T const>(p_->value_mat(pos_)));
    embedding_forward(type_rows_.view(), types, Mat<T const>(p_->value_mat(type_)), Mat<T const>());
    ponet::assign(sum_, expr::as_expr(sum_) + type_rows_, ws_);
    ln_.forward(as_mat(out), as_mat(sum_.cview()));
  }

 private:
  Params<T>* p_ = nullptr;
  ParamRef word_, pos_, type_;
  LayerNorm<T> ln_;
  Tensor<T> sum_, type_rows_;  // [B, N, D]
  Workspace<cpu_tag> ws_;
};

template <class T>
struct EncoderOutput {
  Tensor<T> last_hidden_state;  // [B, N, D]
  Tensor<T> pooler_output;      // [B, 1, D]
};

// Where one checkpoint tensor goes: its values fill parameter `param` from element `offset` on.
struct TensorSlot {
  std::string name;                 // Hugging Face name, without the "ponet." prefix
  std::string param;                // the Params entry
  std::size_t offset = 0;           // first element inside the parameter
  std::vector<std::int64_t> shape;  // the checkpoint's shape
};

struct LoadOptions {
  // Tensors skipped by name prefix (after "ponet." is removed): the pre-training heads.
  std::vector<std::string> ignore_prefixes{"cls."};
};

template <class T>
class PoNetEncoder {
 public:
  using Block = PostLNBlock<PoNetMixer<T>, T>;

  // Random weights from `seed` (embedding tables N(0, 0.02^2), Linear layers as PyTorch,
  // LayerNorm 1 and 0); with load_after = true the tables start at 0 instead, skipping the cost
  // of drawing values that load() overwrites.
  explicit PoNetEncoder(io::PoNetConfig const& c, std::uint64_t seed = 0, bool load_after = false)
      : cfg_(checked(c)), embeddings_(params_, "embeddings", cfg_, !load_after) {
    int const D = c.hidden_size;
    for (int l = 0; l < c.num_hidden_layers; ++l)
      blocks_.push_back(
          std::make_unique<Block>(params_, "encoder.layer." + std::to_string(l),
                                  BlockConfig{D, c.intermediate_size, 0.0, c.layer_norm_eps, l},
                                  typename PoNetMixer<T>::Config{D, c.num_attention_heads, 3}));
    pooler_ = Linear<T>(params_, "pooler.dense", D, D);
    params_.allocate(seed);
  }
  PoNetEncoder(PoNetEncoder const&) = delete;  // layers point into params_
  PoNetEncoder& operator=(PoNetEncoder const&) = delete;

  // The Hugging Face tensors of a checkpoint for config c and where each goes. The five mixing
  // projections fill the rows of one [5D, D] weight: q, k, o, segment, local.
  static std::vector<TensorSlot> tensor_map(io::PoNetConfig const& c) {
    std::int64_t const D = c.hidden_size, F = c.intermediate_size;
    std::vector<TensorSlot> m;
    auto same = [&](std::string const& name, std::vector<std::int64_t> shape) {
      m.push_back({name, name, 0, std::move(shape)});
    };
    same("embeddings.word_embeddings.weight", {c.vocab_size, D});
    same("embeddings.position_embeddings.weight", {c.max_position_embeddings, D});
    same("embeddings.token_type_embeddings.weight", {c.type_vocab_size, D});
    same("embeddings.LayerNorm.weight", {D});
    same("embeddings.LayerNorm.bias", {D});
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      // The blocks are registered under the checkpoint's prefix: encoder.layer.{l}.
      std::string const pre = "encoder.layer." + std::to_string(l) + ".";
      char const* const proj[5] = {"dense_q", "dense_k", "dense_o", "dense_segment", "dense_local"};
      for (int j = 0; j < 5; ++j) {
        std::string const self = pre + "attention.self." + proj[j];
        m.push_back({self + ".weight", pre + "mixer.proj.weight", std::size_t(j * D * D), {D, D}});
        m.push_back({self + ".bias", pre + "mixer.proj.bias", std::size_t(j * D), {D}});
      }
      auto add = [&](std::string const& from, std::string const& to,
                     std::vector<std::int64_t> shape) {
        m.push_back({pre + from, pre + to, 0, std::move(shape)});
      };
      add("attention.output.dense.weight", "mixer.out.weight", {D, D});
      add("attention.output.dense.bias", "mixer.out.bias", {D});
      add("attention.output.LayerNorm.weight", "ln1.weight", {D});
      add("attention.output.LayerNorm.bias", "ln1.bias", {D});
      add("intermediate.dense.weight", "ffn1.weight", {F, D});
      add("intermediate.dense.bias", "ffn1.bias", {F});
      add("output.dense.weight", "ffn2.weight", {D, F});
      add("output.dense.bias", "ffn2.bias", {D});
      add("output.LayerNorm.weight", "ln2.weight", {D});
      add("output.LayerNorm.bias", "ln2.bias", {D});
    }
    same("pooler.dense.weight", {D, D});
    same("pooler.dense.bias", {D});
    return m;
  }

  // Sets every parameter from a checkpoint (Hugging Face names, with or without "ponet.";
  // F32, F16, BF16 or F64). Every missing or unknown tensor, every wrong shape or dtype is
  // listed in one ponet::Error naming the file; nothing is changed then.
  void load(io::SafeTensorsFile const& f, LoadOptions const& options = {}) {
    std::vector<TensorSlot> const slots = tensor_map(cfg_);
    std::map<std::string, std::size_t> index;
    for (std::size_t k = 0; k < slots.size(); ++k) index.emplace(slots[k].name, k);
    std::vector<std::string> source(slots.size());  // the file's name for each slot
    std::vector<std::string> unknown, problems;
    for (io::TensorInfo const& t : f.tensors()) {
      std::string name = t.name;
      if (name.rfind("ponet.", 0) == 0) name = name.substr(6);
      // Hugging Face saves BertEmbeddings' position_ids buffer (arange) with the weights.
      bool skip = name == "embeddings.position_ids";
      for (auto const& p : options.ignore_prefixes) skip = skip || name.rfind(p, 0) == 0;
      if (skip) continue;
      auto it = index.find(name);
      if (it == index.end()) {
        unknown.push_back(t.name);
        continue;
      }
      TensorSlot const& s = slots[it->second];
      if (!source[it->second].empty()) {
        problems.push_back("tensor '" + s.name + "' given twice, as '" + source[it->second] +
                           "' and '" + t.name + "'");
        continue;
      }
      source[it->second] = t.name;
      if (!io::is_floating(t.dtype))
        problems.push_back("tensor '" + t.name + "' is " + io::dtype_name(t.dtype) +
                           ", expected F32, F16, BF16 or F64");
      else if (t.shape != s.shape)
        problems.push_back("tensor '" + t.name + "' has shape " +
                           io::detail::shape_string(t.shape) + " but the config needs " +
                           io::detail::shape_string(s.shape));
    }
    std::vector<std::string> missing;
    for (std::size_t k = 0; k < slots.size(); ++k)
      if (source[k].empty()) missing.push_back(slots[k].name);
    auto list = [](std::vector<std::string> const& names) {
      std::string s;
      for (auto const& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
      return s;
    };
    std::string msg;
    auto part = [&](std::string const& p) { msg += (msg.empty() ? "" : "; ") + p; };
    if (!missing.empty())
      part(std::to_string(missing.size()) + " missing tensor" + (missing.size() > 1 ? "s" : "") +
           " (names with or without the 'ponet.' prefix): " + list(missing));
    if (!unknown.empty())
      part(std::to_string(unknown.size()) + " unknown tensor" + (unknown.size() > 1 ? "s" : "") +
           ": " + list(unknown));
    for (auto const& p : problems) part(p);
    if (!msg.empty()) throw Error("model '" + f.label() + "': " + msg);

    for (std::size_t k = 0; k < slots.size(); ++k) {
      io::TensorInfo const& t = f.info(source[k]);
      T* dst = params_.value(params_.find(slots[k].param).ref) + slots[k].offset;
      if constexpr (std::is_same_v<T, double>) {
        if (t.dtype == io::DType::f64) {  // exact; to_float would round
          io::ByteSpan const b = f.bytes(t.name);
          std::memcpy(dst, b.data, b.size);
          continue;
        }
      }
      std::vector<float> const v = f.to_float(t.name);
      for (std::size_t e = 0; e < v.size(); ++e) dst[e] = T(v[e]);
    }
  }

  // input_ids [B, N, 1] (int32 or int64); attention_mask 0/1 (empty: all 1); token_type_ids
  // (empty: all 0); segment_ids (empty: from [CLS]/[SEP] in input_ids, Segments::from_tokens).
  // Explicit segment ids must be >= 0 and non-decreasing along the valid tokens of a row
  // (contiguous runs); ids at padding are ignored. Throws ponet::Error naming the first bad value.
  // The result stays valid until the next forward.
  template <class I>
  EncoderOutput<T> const& forward(View<I const> input_ids, View<I const> attention_mask = {},
                                  View<I const> token_type_ids = {},
                                  View<I const> segment_ids = {}) {
    static_assert(std::is_integral_v<I>, "ids must be integers");
    prepare(input_ids, attention_mask, token_type_ids, segment_ids);
    int const B = input_ids.B, N = input_ids.N, D = cfg_.hidden_size;
    out_.last_hidden_state.resize(Shape3{B, N, D});
    // Sequences are independent, so a large batch runs a few sequences at a time: every layer
    // keeps its activations, and this caps their memory at max_tokens_per_pass tokens.
    int const rows = std::max(1, max_tokens_per_pass_ / N);
    for (int b0 = 0; b0 < B; b0 += rows) {
      int const n = std::min(rows, B - b0);
      Shape3 const s{n, N, D};
      for (auto& x : x_) x.resize(s);
      View<T> const last = out_.last_hidden_state.view().batches(b0, n);
      View<T> buf[2] = {x_[0].view(), x_[1].view()};
      Batch<cpu_tag> const batch{valid_.cview().batches(b0, n),
                                 pool_.cview().batches(b0, n),
                                 {segments_.ids().cview().batches(b0, n), segments_.S()},
                                 false,
                                 0};
      View<T> cur = buf[0];
      embeddings_.forward(cur, ids_.cview().batches(b0, n), types_.cview().batches(b0, n));
      for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
        View<T> const next = l + 1 == cfg_.num_hidden_layers ? last : buf[(l + 1) % 2];
        blocks_[l]->forward(next, cur, batch);
        cur = next;
      }
    }
    // Pooler: the first token of every sequence, rows N * D apart.
    pooled_pre_.resize(Shape3{B, 1, D});
    out_.pooler_output.resize(Shape3{B, 1, D});
    pooler_.forward(as_mat(pooled_pre_.view()),
                    Mat<T const>(out_.last_hidden_state.data(), B, D, std::int64_t(N) * D));
    ponet::assign(out_.pooler_output, expr::tanh(pooled_pre_), ws_);
    return out_;
  }

  io::PoNetConfig const& config() const { return cfg_; }
  Params<T>& params() { return params_; }
  Params<T> const& params() const { return params_; }
  EncoderOutput<T> const& output() const { return out_; }
  // Segments and pool mask of the last forward.
  Segments const& segments() const { return segments_; }
  Tensor<std::uint8_t> const& pool_mask() const { return pool_; }

  // At most this many tokens per pass through the layers (at least one whole sequence). Memory
  // grows by about 19 D + 2 FFN values per token per layer (0.7 MB per token for ponet-base).
  int max_tokens_per_pass() const { return max_tokens_per_pass_; }
  void set_max_tokens_per_pass(int n) {
    if (n < 1)
      throw Error("PoNetEncoder: max_tokens_per_pass must be >= 1, got " + std::to_string(n));
    max_tokens_per_pass_ = n;
  }

 private:
  static io::PoNetConfig const& checked(io::PoNetConfig const& c) {
    c.validate("PoNetEncoder");
    return c;
  }

  static std::string at(int b, int i) {
    return "[b=" + std::to_string(b) + ", i=" + std::to_string(i) + "]";
  }

  // Checks the inputs and fills ids_, types_, valid_, pool_ and segments_.
  template <class I>
  void prepare(View<I const> ids, View<I const> mask, View<I const> types, View<I const> seg) {
    auto fail = [](std::string const& what) { throw Error("PoNetEncoder: " + what); };
    if (!ids.data || ids.D != 1 || ids.B < 1 || ids.N < 1)
      fail("input_ids are " + to_string(ids.shape()) + " but must be [B,N,1] with B, N >= 1");
    Shape3 const s = ids.shape();
    for (auto [name, v] : {std::pair<char const*, View<I const>>{"attention_mask", mask},
                           {"token_type_ids", types},
                           {"segment_ids", seg}})
      if (v.data && v.shape() != s)
        fail(std::string(name) + " are " + to_string(v.shape()) + " but input_ids are " +
             to_string(s));
    int const B = s.B, N = s.N;
    if (N > cfg_.max_position_embeddings)
      fail("N=" + std::to_string(N) + " tokens exceed max_position_embeddings=" +
           std::to_string(cfg_.max_position_embeddings));
    ids_.resize(s);
    types_.resize(s);
    valid_.resize(s);
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < N; ++i) {
        I const id = ids(b, i, 0);
        if (id < 0 || std::int64_t(id) >= cfg_.vocab_size)
          fail("input_ids" + at(b, i) + " = " + std::to_string(id) + " is outside [0, " +
               std::to_string(cfg_.vocab_size) + ") (vocab_size)");
        ids_(b, i, 0) = std::int32_t(id);
        I const tt = types.data ? types(b, i, 0) : I(0);
        if (tt < 0 || std::int64_t(tt) >= cfg_.type_vocab_size)
          fail("token_type_ids" + at(b, i) + " = " + std::to_string(tt) + " is outside [0, " +
               std::to_string(cfg_.type_vocab_size) + ") (type_vocab_size)");
        types_(b, i, 0) = std::int32_t(tt);
        I const m = mask.data ? mask(b, i, 0) : I(1);
        if (m != 0 && m != 1)
          fail("attention_mask" + at(b, i) + " = " + std::to_string(m) + " is not 0 or 1");
        valid_(b, i, 0) = std::uint8_t(m);
      }
    Segments tokens = Segments::from_tokens<std::int32_t>(
        ids_.cview(), std::int32_t(cfg_.cls_token_id), std::int32_t(cfg_.sep_token_id));
    pool_ = tokens.pool_mask(valid_.cview(), cfg_.clsgsepg);
    if (!seg.data) {
      segments_ = std::move(tokens);
      return;
    }
    // Explicit ids: runs of equal ids over the valid tokens, renumbered 0, 1, 2, ... per row (so
    // S <= N whatever the labels); a padded token joins the run before it.
    Tensor<std::int32_t> runs(s, uninitialized);
    int S = 1;
    for (int b = 0; b < B; ++b) {
      int run = -1;
      I last = 0;
      for (int i = 0; i < N; ++i) {
        if (valid_(b, i, 0)) {
          I const id = seg(b, i, 0);
          if (id < 0) fail("segment_ids" + at(b, i) + " = " + std::to_string(id) + " is negative");
          if (run >= 0 && id < last)
            fail("segment_ids decrease at " + at(b, i) + " (" + std::to_string(id) + " after " +
                 std::to_string(last) +
                 "): segments must be contiguous runs (docs/decisions.md#segments)");
          if (run < 0 || id != last) ++run;
          last = id;
        }
        runs(b, i, 0) = std::max(run, 0);
      }
      S = std::max(S, run + 1);
    }
    segments_ = Segments::from_ids(runs.cview(), S);
  }

  io::PoNetConfig cfg_;
  Params<T> params_;
  BertEmbeddings<T> embeddings_;
  std::vector<std::unique_ptr<Block>> blocks_;
  Linear<T> pooler_;
  int max_tokens_per_pass_ = 2048;

  Tensor<std::int32_t> ids_, types_;   // [B, N, 1]
  Tensor<std::uint8_t> valid_, pool_;  // [B, N, 1]
  Segments segments_;
  Tensor<T> x_[2];        // activations between layers, [rows, N, D]
  Tensor<T> pooled_pre_;  // [B, 1, D]
  EncoderOutput<T> out_;
  Workspace<cpu_tag> ws_;
};

// Reads <dir>/config.json and <dir>/model.safetensors (docs/pretrained.md).
template <class T>
std::unique_ptr<PoNetEncoder<T>> load_pretrained(std::string const& dir,
                                                 LoadOptions const& options = {}) {
  io::PoNetConfig const c = io::read_config(dir + "/config.json");
  io::SafeTensorsFile const f(dir + "/model.safetensors");
  auto encoder = std::make_unique<PoNetEncoder<T>>(c, 0, /*load_after=*/true);
  encoder->load(f, options);
  return encoder;
}

}  // namespace ponet::nn
