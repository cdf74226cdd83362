// ponet-encode: runs the pretrained PoNet encoder (ponet-base-uncased layout, docs/pretrained.md)
// on token ids from a safetensors file, or on text through the WordPiece tokenizer.
//
//   ponet-encode --model DIR --input inputs.safetensors --output out.safetensors
//       inputs: input_ids I64 [B, N]; optional attention_mask, token_type_ids, segment_ids, I64
//       [B, N]. Writes last_hidden_state F32 [B, N, D] and pooler_output F32 [B, D] atomically.
//   ponet-encode --model DIR --text "first sentence" [--text "second" ...] [--batch]
//       tokenizes with DIR/vocab.txt: the texts are one input [CLS] a [SEP] b [SEP] ... (token
//       types 0, then 1), or with --batch one padded row each. Prints the tokens, the shapes and
//       the first values; --output also writes the tensors (and the input ids).
// DIR holds config.json and model.safetensors (and vocab.txt for --text). Any error prints one
// line "ponet-encode: ..." on stderr and exits with status 1 (2 for bad flags); no output file is
// written then.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>
#include <set>
#include <string>
#include <vector>

#include <ponet/io/wordpiece.hpp>
#include <ponet/nn/bert.hpp>

namespace {

using ponet::Error;
using ponet::Shape3;
using ponet::Tensor;
namespace io = ponet::io;
namespace nn = ponet::nn;

struct UsageError : Error {
  using Error::Error;
};

char const* const kUsage =
    "usage: ponet-encode --model DIR --input INPUTS.safetensors --output OUT.safetensors\n"
    "       ponet-encode --model DIR --text TEXT [--text TEXT ...] [--batch] [--output OUT]\n"
    "\n"
    "  --model DIR        config.json, model.safetensors (and vocab.txt for --text)\n"
    "  --input FILE       input_ids I64 [B, N]; optional attention_mask, token_type_ids,\n"
    "                     segment_ids (I64 [B, N])\n"
    "  --output FILE      last_hidden_state F32 [B, N, D], pooler_output F32 [B, D]\n"
    "  --text TEXT        text to tokenize; several are one input [CLS] a [SEP] b [SEP] ...\n"
    "  --batch            with --text: one row per text instead, padded\n"
    "  --max-length N     with --text: truncate each input to N tokens ([CLS]/[SEP] count)\n"
    "  --show K           values printed per tensor (default 8)\n"
    "  --threads N        threads (default: OpenMP's)\n";

struct Options {
  std::string model, input, output;
  std::vector<std::string> texts;
  bool batch = false;
  int max_length = 0, show = 8, threads = 0;
};

int positive_int(std::string const& flag, std::string const& s) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 1 || v > (1 << 30))
    throw UsageError(flag + " needs a positive integer, got '" + s + "'");
  return int(v);
}

// Returns false when --help was printed.
bool parse(int argc, char** argv, Options& o) {
  for (int a = 1; a < argc; ++a) {
    std::string const arg = argv[a];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return false;
    }
    if (arg == "--batch") {
      o.batch = true;
      continue;
    }
    bool const known = arg == "--model" || arg == "--input" || arg == "--output" ||
                       arg == "--text" || arg == "--max-length" || arg == "--show" ||
                       arg == "--threads";
    if (!known)
      throw UsageError(arg.rfind("--", 0) == 0 ? "unknown flag " + arg + " (try --help)"
                                               : "unexpected argument '" + arg + "'");
    if (a + 1 >= argc) throw UsageError(arg + " needs a value");
    std::string const v = argv[++a];
    if (arg == "--model") o.model = v;
    if (arg == "--input") o.input = v;
    if (arg == "--output") o.output = v;
    if (arg == "--text") o.texts.push_back(v);
    if (arg == "--max-length") o.max_length = positive_int(arg, v);
    if (arg == "--show") o.show = positive_int(arg, v);
    if (arg == "--threads") o.threads = positive_int(arg, v);
  }
  if (o.model.empty()) throw UsageError("--model DIR is required (try --help)");
  if (o.input.empty() == o.texts.empty())
    throw UsageError("give either --input FILE or --text TEXT (try --help)");
  if (!o.input.empty() && o.output.empty()) throw UsageError("--input needs --output FILE");
  if (!o.input.empty() && (o.batch || o.max_length))
    throw UsageError("--batch and --max-length go with --text");
  return true;
}

// The inputs of an --input file, each [B, N, 1]; `seg` empty when not given.
struct Inputs {
  Tensor<std::int64_t> ids, mask, types, seg;
};

Inputs read_inputs(std::string const& path) {
  io::SafeTensorsFile const f(path);
  auto fail = [&](std::string const& what) { throw Error("inputs '" + path + "': " + what); };
  std::set<std::string> const names{"input_ids", "attention_mask", "token_type_ids", "segment_ids"};
  for (auto const& t : f.tensors())
    if (!names.count(t.name))
      fail("unknown tensor '" + t.name +
           "' (inputs hold input_ids and optionally attention_mask, token_type_ids, segment_ids)");
  if (!f.contains("input_ids")) fail("no tensor 'input_ids'");
  std::vector<std::int64_t> const shape = f.info("input_ids").shape;
  auto read = [&](std::string const& name) {
    io::TensorInfo const& t = f.info(name);
    if (t.dtype != io::DType::i64)
      fail("tensor '" + name + "' is " + io::dtype_name(t.dtype) + ", expected I64");
    if (name == "input_ids") {
      if (t.shape.size() != 2 || t.shape[0] < 1 || t.shape[1] < 1 || t.shape[0] > (1 << 30) ||
          t.shape[1] > (1 << 30))
        fail("tensor 'input_ids' has shape " + io::detail::shape_string(t.shape) +
             ", expected [B, N] with B, N >= 1");
    } else if (t.shape != shape) {
      fail("tensor '" + name + "' has shape " + io::detail::shape_string(t.shape) +
           " but input_ids has " + io::detail::shape_string(shape));
    }
    return Tensor<std::int64_t>(Shape3{int(shape[0]), int(shape[1]), 1}, f.to_int64(name));
  };
  Inputs in;
  in.ids = read("input_ids");
  if (f.contains("attention_mask")) in.mask = read("attention_mask");
  if (f.contains("token_type_ids")) in.types = read("token_type_ids");
  if (f.contains("segment_ids")) in.seg = read("segment_ids");
  return in;
}

// Text through DIR/vocab.txt: one input of several segments, or (batch) one row per text.
Inputs tokenize(Options const& o, io::PoNetConfig const& c,
                std::vector<std::vector<std::string>>& tokens) {
  std::string const vocab_path = o.model + "/vocab.txt";
  auto const tok = io::WordPieceTokenizer::from_file(vocab_path);
  auto const& v = tok.vocab();
  if (v.size() > c.vocab_size)
    throw Error("'" + vocab_path + "' has " + std::to_string(v.size()) +
                " tokens but the model's vocab_size is " + std::to_string(c.vocab_size));
  if (v.cls_id() != c.cls_token_id || v.sep_id() != c.sep_token_id)
    throw Error("'" + vocab_path + "' has [CLS] " + std::to_string(v.cls_id()) + " and [SEP] " +
                std::to_string(v.sep_id()) + " but the model delimits segments at " +
                std::to_string(c.cls_token_id) + " and " + std::to_string(c.sep_token_id));
  io::BatchEncoding e;
  if (o.batch) {
    e = tok.encode_batch(o.texts, o.max_length);
  } else {
    io::Encoding const one = tok.encode_segments(o.texts, o.max_length);
    e.B = 1;
    e.N = int(one.input_ids.size());
    e.lengths = {e.N};
    e.input_ids = one.input_ids;
    e.token_type_ids = one.token_type_ids;
    e.attention_mask.assign(one.input_ids.size(), 1);
  }
  if (e.N > c.max_position_embeddings)
    throw Error("the input is " + std::to_string(e.N) + " tokens but the model has " +
                std::to_string(c.max_position_embeddings) + " positions: pass --max-length " +
                std::to_string(c.max_position_embeddings) + " to truncate");
  for (int b = 0; b < e.B; ++b) {
    tokens.emplace_back();
    for (int i = 0; i < e.lengths[b]; ++i)
      tokens.back().push_back(v.token(e.input_ids[std::size_t(b) * e.N + i]));
  }
  Shape3 const s{e.B, e.N, 1};
  return {Tensor<std::int64_t>(s, e.input_ids),
          Tensor<std::int64_t>(s, e.attention_mask),
          Tensor<std::int64_t>(s, e.token_type_ids),
          {}};
}

std::string dims(std::vector<std::int64_t> const& shape) {
  std::string s = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + "]";
}

void print_values(char const* label, float const* p, int D, int show) {
  std::printf("  %s", label);
  for (int c = 0; c < std::min(D, show); ++c) std::printf(" %10.6f", double(p[c]));
  std::printf("%s\n", D > show ? " ..." : "");
}

std::vector<std::int64_t> flat(Tensor<std::int64_t> const& t) {
  return std::vector<std::int64_t>(t.begin(), t.end());
}

int run(Options const& o) {
  if (o.threads > 0) ponet::cpu::set_num_threads(o.threads);
  io::PoNetConfig const config = io::read_config(o.model + "/config.json");
  std::vector<std::vector<std::string>> tokens;
  Inputs const in = o.input.empty() ? tokenize(o, config, tokens) : read_inputs(o.input);
  auto encoder = nn::load_pretrained<float>(o.model);
  using V = ponet::View<std::int64_t const>;
  auto opt = [](Tensor<std::int64_t> const& t) { return t.size() ? t.cview() : V(); };
  auto const& out = encoder->forward(in.ids.cview(), opt(in.mask), opt(in.types), opt(in.seg));
  int const B = in.ids.B(), N = in.ids.N(), D = config.hidden_size;
  std::vector<std::int64_t> const last_shape{B, N, D}, pooled_shape{B, D};

  if (!o.output.empty()) {
    io::SafeTensorsWriter w;
    if (o.input.empty()) {  // text: what it tokenized to
      w.add("input_ids", {B, N}, flat(in.ids));
      w.add("attention_mask", {B, N}, flat(in.mask));
      w.add("token_type_ids", {B, N}, flat(in.types));
    }
    auto const& h = out.last_hidden_state;
    auto const& p = out.pooler_output;
    w.add("last_hidden_state", io::DType::f32, last_shape, h.data(), h.bytes());
    w.add("pooler_output", io::DType::f32, pooled_shape, p.data(), p.bytes());
    w.write(o.output);
  }

  if (o.input.empty()) {
    for (std::size_t b = 0; b < tokens.size(); ++b) {
      std::printf("tokens[%zu] (%zu):", b, tokens[b].size());
      for (auto const& t : tokens[b]) std::printf(" %s", t.c_str());
      std::printf("\n");
    }
  }
  std::printf("last_hidden_state %s\n", dims(last_shape).c_str());
  for (int b = 0; b < B; ++b) {
    std::string const label = "[" + std::to_string(b) + ", 0, :]";
    print_values(label.c_str(), out.last_hidden_state.data() + std::int64_t(b) * N * D, D, o.show);
  }
  std::printf("pooler_output %s\n", dims(pooled_shape).c_str());
  for (int b = 0; b < B; ++b) {
    std::string const label = "[" + std::to_string(b) + ", :]";
    print_values(label.c_str(), out.pooler_output.data() + std::int64_t(b) * D, D, o.show);
  }
  if (!o.output.empty()) std::printf("wrote %s\n", o.output.c_str());
  return 0;
}

// One line: newlines in a message become spaces.
void report(std::string what) {
  for (char& ch : what)
    if (ch == '\n' || ch == '\r') ch = ' ';
  std::fprintf(stderr, "ponet-encode: %s\n", what.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    if (!parse(argc, argv, o)) return 0;
  } catch (UsageError const& e) {
    report(e.what());
    return 2;
  }
  try {
    return run(o);
  } catch (std::bad_alloc const&) {
    report("out of memory");
  } catch (std::exception const& e) {
    report(e.what());
  }
  return 1;
}
