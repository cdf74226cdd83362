// ponet::io::PoNetConfig: the Hugging Face config.json of a BERT-style PoNet checkpoint
// (ponet-base-uncased, PONET.md#pretrained-checkpoint-layout), read with nlohmann-json.
//   read_config(path)          the file;  parse_config(json, label)  a parsed object
// Required keys: hidden_size, num_attention_heads, num_hidden_layers, intermediate_size,
// vocab_size, max_position_embeddings, type_vocab_size, layer_norm_eps, hidden_act. Optional:
// clsgsepg (default true, as the authors' model), cls_token_id / sep_token_id (default 101 / 102,
// the authors' constants), position_embedding_type (only "absolute"). Other keys are ignored.
// Every error is a ponet::Error naming the file and the key. docs/pretrained.md#config
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "ponet/core/error.hpp"

namespace ponet::io {

struct PoNetConfig {
  int hidden_size = 768;              // D
  int num_attention_heads = 12;       // H
  int num_hidden_layers = 12;         // layers
  int intermediate_size = 3072;       // FFN width
  int vocab_size = 30522;             // V
  int max_position_embeddings = 512;  // learned positions: N <= this
  int type_vocab_size = 2;            // token types
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";  // Hugging Face's "gelu" is the erf form; the only one supported
  bool clsgsepg = true;             // poolings skip [CLS]/[SEP] (PONET.md#segments)
  std::int64_t cls_token_id = 101;  // delimiters of the sentence segments
  std::int64_t sep_token_id = 102;

  // Parameters of the encoder with its pooler (embeddings, layers, pooler).
  std::int64_t parameter_count() const {
    std::int64_t const D = hidden_size, F = intermediate_size;
    std::int64_t const layer =
        5 * D * D + 5 * D + D * D + D + 2 * D + D * F + F + F * D + D + 2 * D;
    return (std::int64_t(vocab_size) + max_position_embeddings + type_vocab_size) * D + 2 * D +
           num_hidden_layers * layer + D * D + D;
  }

  // Throws ponet::Error "config '<label>': ..." for values ponet cannot run.
  void validate(std::string const& label) const {
    auto fail = [&](std::string const& what) { throw Error("config '" + label + "': " + what); };
    auto positive = [&](char const* key, int v) {
      if (v < 1) fail(std::string(key) + " must be >= 1, got " + std::to_string(v));
    };
    positive("hidden_size", hidden_size);
    positive("num_attention_heads", num_attention_heads);
    positive("num_hidden_layers", num_hidden_layers);
    positive("intermediate_size", intermediate_size);
    positive("vocab_size", vocab_size);
    positive("max_position_embeddings", max_position_embeddings);
    positive("type_vocab_size", type_vocab_size);
    if (hidden_size % num_attention_heads != 0)
      fail("num_attention_heads=" + std::to_string(num_attention_heads) +
           " does not divide hidden_size=" + std::to_string(hidden_size));
    if (!(layer_norm_eps > 0) || !(layer_norm_eps < 1))
      fail("layer_norm_eps must be in (0, 1), got " + std::to_string(layer_norm_eps));
    if (hidden_act != "gelu")
      fail("hidden_act '" + hidden_act +
           "' is not supported (ponet implements \"gelu\", the erf form BERT uses)");
    for (auto [key, id] : {std::pair<char const*, std::int64_t>{"cls_token_id", cls_token_id},
                           {"sep_token_id", sep_token_id}})
      if (id < 0 || id >= vocab_size)
        fail(std::string(key) + " " + std::to_string(id) +
             " is outside [0, vocab_size=" + std::to_string(vocab_size) + ")");
    // Params keeps every parameter in one buffer indexed by int (ponet/nn/params.hpp).
    std::int64_t const n = parameter_count();
    if (n > std::numeric_limits<int>::max() / 2)
      fail("the model has " + std::to_string(n) + " parameters; ponet holds at most " +
           std::to_string(std::numeric_limits<int>::max() / 2));
  }
};

namespace detail {

// "string \"768\"", "number 768.5", "boolean true", "null", "array", "object".
inline std::string json_found(nlohmann::json const& v) {
  std::string s = v.type_name();
  if (v.is_primitive() && !v.is_null()) {
    std::string d = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (d.size() > 40) d = d.substr(0, 37) + "...";
    s += " " + d;
  }
  return s;
}

}  // namespace detail

// Reads the keys of PoNetConfig from a parsed config.json object, then validates the values.
inline PoNetConfig parse_config(nlohmann::json const& j, std::string const& label) {
  auto fail = [&](std::string const& what) { throw Error("config '" + label + "': " + what); };
  if (!j.is_object()) fail(std::string("must be a JSON object, found ") + j.type_name());
  auto wrong_type = [&](char const* key, char const* expected, nlohmann::json const& v) {
    fail(std::string("key '") + key + "' must be " + expected + ", found " + detail::json_found(v));
  };
  auto get = [&](char const* key) -> nlohmann::json const& {
    auto it = j.find(key);
    if (it == j.end()) fail(std::string("missing key '") + key + "'");
    return *it;
  };
  auto integer = [&](char const* key) {
    nlohmann::json const& v = get(key);
    if (!v.is_number_integer()) wrong_type(key, "an integer", v);
    // Sizes fit in int; anything outside is reported as the value it is.
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > std::uint64_t(std::numeric_limits<int>::max()))
        fail(std::string("key '") + key + "' is " + std::to_string(u) + ", too large");
      return int(u);
    }
    auto s = v.get<std::int64_t>();
    if (s < std::numeric_limits<int>::min()) s = std::numeric_limits<int>::min();
    return int(s);
  };
  auto token_id = [&](char const* key, std::int64_t fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number_integer()) wrong_type(key, "an integer", *it);
    if (it->is_number_unsigned() &&
        it->get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
      fail(std::string("key '") + key + "' is too large");
    return it->get<std::int64_t>();
  };

  PoNetConfig c;
  c.hidden_size = integer("hidden_size");
  c.num_attention_heads = integer("num_attention_heads");
  c.num_hidden_layers = integer("num_hidden_layers");
  c.intermediate_size = integer("intermediate_size");
  c.vocab_size = integer("vocab_size");
  c.max_position_embeddings = integer("max_position_embeddings");
  c.type_vocab_size = integer("type_vocab_size");
  {
    nlohmann::json const& v = get("layer_norm_eps");
    if (!v.is_number()) wrong_type("layer_norm_eps", "a number", v);
    c.layer_norm_eps = v.get<double>();
  }
  {
    nlohmann::json const& v = get("hidden_act");
    if (!v.is_string()) wrong_type("hidden_act", "a string", v);
    c.hidden_act = v.get<std::string>();
  }
  if (auto it = j.find("clsgsepg"); it != j.end()) {
    if (!it->is_boolean()) wrong_type("clsgsepg", "a boolean", *it);
    c.clsgsepg = it->get<bool>();
  }
  if (auto it = j.find("position_embedding_type"); it != j.end()) {
    if (!it->is_string()) wrong_type("position_embedding_type", "a string", *it);
    if (it->get<std::string>() != "absolute")
      fail("position_embedding_type '" + it->get<std::string>() +
           "' is not supported (ponet implements \"absolute\")");
  }
  c.cls_token_id = token_id("cls_token_id", c.cls_token_id);
  c.sep_token_id = token_id("sep_token_id", c.sep_token_id);
  c.validate(label);
  return c;
}

// Reads and validates `path` (a config.json).
inline PoNetConfig read_config(std::string const& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("config '" + path + "': cannot open (" + std::strerror(errno) + ")");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error("config '" + path + "': read error");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (nlohmann::json::exception const& e) {
    std::string what = e.what();
    if (what.size() > 200) what = what.substr(0, 197) + "...";
    throw Error("config '" + path + "': malformed JSON: " + what);
  }
  return parse_config(j, path);
}

}  // namespace ponet::io
