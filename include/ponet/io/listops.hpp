// ListOps (LRA): a generator of expression trees over digits with MAX, MIN, MED and SM (sum mod
// 10), deterministic by seed on every platform; the fixed 16-token map ([PAD]=0, digits 1..10,
// [MAX [MIN [MED [SM = 11..14, ] = 15); an evaluator; TSV files ("label\tsource") written
// atomically and read back with per-line validation; prepare_listops() makes train/dev/test once
// and loads them. Examples are ponet::io::Example, ready for io::Batcher.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#if !defined(_WIN32)
#include <fcntl.h>
#include <unistd.h>
#endif

#include "ponet/core/error.hpp"
#include "ponet/io/batches.hpp"

namespace ponet::io {

// ---- token map (fixed: the vocabulary is closed, so nothing is learned) ----

inline constexpr std::int32_t listops_pad = 0;
inline constexpr std::int32_t listops_digit0 = 1;  // digit d is d + 1
inline constexpr std::int32_t listops_max = 11;
inline constexpr std::int32_t listops_min = 12;
inline constexpr std::int32_t listops_med = 13;
inline constexpr std::int32_t listops_sm = 14;
inline constexpr std::int32_t listops_close = 15;
inline constexpr int listops_vocab_size = 16;
inline constexpr int listops_num_classes = 10;

inline bool listops_is_digit(std::int32_t id) {
  return id >= listops_digit0 && id < listops_digit0 + 10;
}
inline bool listops_is_operator(std::int32_t id) { return id >= listops_max && id <= listops_sm; }

// The text of a token id; throws on ids outside the vocabulary.
inline std::string_view listops_token_text(std::int32_t id) {
  static constexpr std::string_view text[listops_vocab_size] = {
      "[PAD]", "0", "1", "2",    "3",    "4",    "5",   "6",
      "7",     "8", "9", "[MAX", "[MIN", "[MED", "[SM", "]"};
  if (id < 0 || id >= listops_vocab_size)
    throw Error("listops: token id " + std::to_string(id) + " is outside the vocabulary [0, 16)");
  return text[id];
}

// The id of one token's text, or -1 when it is not in the vocabulary.
inline std::int32_t listops_token_id(std::string_view token) {
  if (token.size() == 1 && token[0] >= '0' && token[0] <= '9')
    return listops_digit0 + (token[0] - '0');
  if (token == "]") return listops_close;
  if (token == "[MAX") return listops_max;
  if (token == "[MIN") return listops_min;
  if (token == "[MED") return listops_med;
  if (token == "[SM") return listops_sm;
  if (token == "[PAD]") return listops_pad;
  return -1;
}

// Space-separated tokens to ids (runs of spaces count as one separator). Throws ponet::Error
// naming the first unknown token and its 1-based position.
inline std::vector<std::int32_t> listops_tokenize(std::string_view source) {
  std::vector<std::int32_t> ids;
  std::size_t pos = 0;
  while (pos < source.size()) {
    if (source[pos] == ' ') {
      ++pos;
      continue;
    }
    std::size_t end = source.find(' ', pos);
    if (end == std::string_view::npos) end = source.size();
    std::string_view token = source.substr(pos, end - pos);
    std::int32_t id = listops_token_id(token);
    if (id < 0)
      throw Error("listops: unknown token '" + std::string(token) + "' (token " +
                  std::to_string(ids.size() + 1) + ")");
    ids.push_back(id);
    pos = end;
  }
  return ids;
}

// Ids back to the space-separated text (padding shows as [PAD]).
inline std::string listops_render(std::vector<std::int32_t> const& ids) {
  std::string out;
  out.reserve(ids.size() * 2);
  for (std::size_t k = 0; k < ids.size(); ++k) {
    if (k) out.push_back(' ');
    out += listops_token_text(ids[k]);
  }
  return out;
}

// ---- evaluation ----

// One operator over its argument values. MED follows LRA's int(numpy.median(args)): for an even
// count the mean of the two middle values, truncated toward zero. SM is the sum modulo 10.
// `args` is reordered (MED sorts it).
inline int listops_apply(std::int32_t op, std::vector<int>& args) {
  if (args.empty()) throw Error("listops: operator without arguments");
  switch (op) {
    case listops_max:
      return *std::max_element(args.begin(), args.end());
    case listops_min:
      return *std::min_element(args.begin(), args.end());
    case listops_med: {
      std::sort(args.begin(), args.end());
      std::size_t n = args.size();
      return n % 2 ? args[n / 2] : (args[n / 2 - 1] + args[n / 2]) / 2;  // '/' truncates to 0
    }
    case listops_sm: {
      int sum = 0;
      for (int a : args) sum += a;
      return sum % 10;
    }
    default:
      throw Error("listops: token id " + std::to_string(op) + " is not an operator");
  }
}

// What parsing a sequence finds: its value and the tree's shape.
struct ListOpsTree {
  int value = 0;
  int depth = 0;      // levels: a lone digit is 1, "[MAX 1 2 ]" is 2
  int operators = 0;  // operator nodes
  int min_args = 0;   // fewest / most arguments of any operator (0 when there is none)
  int max_args = 0;
};

// Parses and evaluates ids as exactly one expression. Throws ponet::Error("listops: ...") for an
// empty sequence, padding, a ']' that closes nothing, unclosed operators, an operator without
// arguments, or tokens after the complete expression.
inline ListOpsTree listops_parse(std::vector<std::int32_t> const& ids) {
  if (ids.empty()) throw Error("listops: empty sequence");
  ListOpsTree tree;
  std::vector<std::int32_t> ops;    // open operators
  std::vector<std::size_t> starts;  // where each open operator's arguments begin in `values`
  std::vector<int> values, args;
  bool done = false;
  for (std::size_t k = 0; k < ids.size(); ++k) {
    std::int32_t const id = ids[k];
    auto where = [k] { return " (token " + std::to_string(k + 1) + ")"; };
    if (id < 0 || id >= listops_vocab_size)
      throw Error("listops: token id " + std::to_string(id) + " is outside the vocabulary" +
                  where());
    if (id == listops_pad) throw Error("listops: [PAD] inside the expression" + where());
    if (id == listops_close && ops.empty())
      throw Error("listops: unbalanced brackets: ']' closes nothing" + where());
    if (done) throw Error("listops: tokens after the complete expression" + where());
    if (listops_is_operator(id)) {
      ops.push_back(id);
      starts.push_back(values.size());
      tree.depth = std::max(tree.depth, int(ops.size()));
      ++tree.operators;
      continue;
    }
    int v = 0;
    if (listops_is_digit(id)) {
      v = id - listops_digit0;
      tree.depth = std::max(tree.depth, int(ops.size()) + 1);
    } else {  // ']'
      args.assign(values.begin() + std::ptrdiff_t(starts.back()), values.end());
      if (args.empty())
        throw Error("listops: " + std::string(listops_token_text(ops.back())) +
                    " has no arguments" + where());
      int const n = int(args.size());
      tree.min_args = tree.min_args == 0 ? n : std::min(tree.min_args, n);
      tree.max_args = std::max(tree.max_args, n);
      v = listops_apply(ops.back(), args);
      values.resize(starts.back());
      ops.pop_back();
      starts.pop_back();
    }
    if (ops.empty()) {
      tree.value = v;
      done = true;
    } else {
      values.push_back(v);
    }
  }
  if (!ops.empty())
    throw Error("listops: unbalanced brackets: " + std::to_string(ops.size()) +
                " operator(s) not closed");
  return tree;
}

inline int listops_evaluate(std::vector<std::int32_t> const& ids) {
  return listops_parse(ids).value;
}
inline int listops_evaluate(std::string_view source) {
  return listops_parse(listops_tokenize(source)).value;
}

// ---- generator ----

// The LRA recipe's parameters (lra_benchmarks/data/listops.py defaults).
struct ListOpsConfig {
  int min_len = 500;   // kept sequences have min_len <= tokens <= max_len (both inclusive;
  int max_len = 2000;  // LRA's script uses strict bounds, which differ by one token)
  int max_depth = 10;  // levels: the root is level 1, a node at level max_depth is a leaf
  int min_args = 2;    // arguments per operator, uniform in [min_args, max_args]
  int max_args = 10;

  void check() const {
    auto fail = [&](std::string const& why) { throw Error("ListOpsConfig: " + why); };
    if (min_len < 1 || max_len < min_len)
      fail("need 1 <= min_len <= max_len, got " + std::to_string(min_len) + ", " +
           std::to_string(max_len));
    if (max_depth < 2) fail("max_depth must be >= 2, got " + std::to_string(max_depth));
    if (min_args < 1 || max_args < min_args || max_args > 1000)
      fail("need 1 <= min_args <= max_args <= 1000, got " + std::to_string(min_args) + ", " +
           std::to_string(max_args));
    // The shortest tree: a root with min_args digits; its brackets count as two tokens.
    if (max_len < min_args + 2)
      fail("max_len " + std::to_string(max_len) + " is below the shortest tree (" +
           std::to_string(min_args + 2) + " tokens)");
  }
};

// Draws LRA ListOps trees, conditioned on the root being an operator and the token count lying
// in [min_len, max_len], without repeats. Each node below the root is a leaf with probability
// 3/4 (exact: one draw in [0, 4)) and always at level max_depth; an operator is uniform over the
// four and takes uniform [min_args, max_args] arguments; a leaf is a uniform digit.
//
// Sampling is exact rejection: a tree is grown depth-first and abandoned the moment it passes
// max_len (it could only grow), and trees shorter than min_len are discarded. Abandoning early
// changes which trees are drawn, never the conditional distribution of the kept ones, so no
// biased shortcut (such as resampling only the root's arguments) is needed. Measured (seed 1,
// 100k trees, g++ -O2, one core): [500, 2000] keeps 33% of trees, 18k trees/s (20k in ~1.2 s);
// lengths p10/median/p90 575/953/1641, per 250 tokens from 500: 30 24 18 13 9 6%; labels
// 0..9: 16.8 8.9 7.8 8.4 9.0 8.7 7.7 7.3 8.8 16.6% (majority class 0: 16.8%); every tree has
// 10 levels. [100, 400] keeps 15%, 18k/s; lengths near uniform (median 252); labels 15.4% for
// 0 and 9, 7.7-9.5% for the others (majority 15.4%). MIN and MAX pull values to 0 and 9.
//
// Determinism: std::mt19937_64 is specified bit for bit by the standard, and every draw goes
// through detail::uniform_below, so a seed gives the same data with any compiler or library.
class ListOpsGenerator {
 public:
  ListOpsGenerator(ListOpsConfig const& cfg, std::uint64_t seed)
      : cfg_(cfg), rng_(seed), scratch_(std::size_t(cfg.max_depth) + 2) {
    cfg_.check();
  }

  // The next kept tree (never one this generator returned before).
  Example next() {
    for (;;) {
      ++drawn_;
      tokens_.clear();
      int const value = grow(1);
      if (value < 0 || tokens_.size() < std::size_t(cfg_.min_len)) continue;
      std::string key(tokens_.begin(), tokens_.end());  // ids < 16 fit in a char
      if (!seen_.insert(std::move(key)).second) {
        ++duplicates_;
        continue;
      }
      return {tokens_, value};
    }
  }

  std::vector<Example> take(std::size_t n) {
    std::vector<Example> out;
    out.reserve(n);
    for (std::size_t k = 0; k < n; ++k) out.push_back(next());
    return out;
  }

  // Marks a sequence as used, so next() never returns it (e.g. examples loaded from elsewhere).
  void exclude(std::vector<std::int32_t> const& ids) {
    seen_.insert(std::string(ids.begin(), ids.end()));
  }

  ListOpsConfig const& config() const { return cfg_; }
  std::uint64_t trees_drawn() const { return drawn_; }  // kept, rejected and duplicates
  std::uint64_t duplicates_skipped() const { return duplicates_; }

 private:
  // Appends the subtree at `level` to tokens_ and returns its value, or -1 once tokens_ is
  // longer than max_len (the caller then abandons the whole tree).
  int grow(int level) {
    bool const leaf = level > 1 && (level >= cfg_.max_depth || detail::uniform_below(rng_, 4) != 0);
    if (leaf) {
      int const digit = int(detail::uniform_below(rng_, 10));
      tokens_.push_back(listops_digit0 + digit);
      return tokens_.size() > std::size_t(cfg_.max_len) ? -1 : digit;
    }
    std::int32_t const op = listops_max + std::int32_t(detail::uniform_below(rng_, 4));
    int const nargs = detail::uniform_int(rng_, cfg_.min_args, cfg_.max_args);
    tokens_.push_back(op);
    std::vector<int>& args = scratch_[std::size_t(level)];  // children use deeper slots
    args.clear();
    for (int k = 0; k < nargs; ++k) {
      int const v = grow(level + 1);
      if (v < 0) return -1;
      args.push_back(v);
    }
    tokens_.push_back(listops_close);
    if (tokens_.size() > std::size_t(cfg_.max_len)) return -1;
    return listops_apply(op, args);
  }

  ListOpsConfig cfg_;
  std::mt19937_64 rng_;
  std::vector<std::vector<int>> scratch_;  // per-level argument values
  std::vector<std::int32_t> tokens_;
  std::unordered_set<std::string> seen_;
  std::uint64_t drawn_ = 0;
  std::uint64_t duplicates_ = 0;
};

struct ListOpsSizes {
  std::size_t train = 96000;  // LRA's split sizes
  std::size_t dev = 2000;
  std::size_t test = 2000;
};

struct ListOpsSplits {
  std::vector<Example> train, dev, test;
};

// train, then dev, then test from one generator: no sequence appears twice in or across splits.
inline ListOpsSplits generate_listops(ListOpsConfig const& cfg, ListOpsSizes const& sizes,
                                      std::uint64_t seed) {
  ListOpsGenerator gen(cfg, seed);
  ListOpsSplits s;
  s.train = gen.take(sizes.train);
  s.dev = gen.take(sizes.dev);
  s.test = gen.take(sizes.test);
  return s;
}

// ---- files ----

namespace detail {

// Writes `path` so that readers see the old file or the complete new one, never a torn one:
// a temporary next to it, fsync, rename over, then fsync the directory so the rename survives
// a power cut.
inline void write_file_atomic(std::string const& path, std::string const& contents) {
  std::string const tmp = path + ".tmp";
  auto fail = [&](std::string const& what) {
    std::string const why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error("write_file_atomic: " + what + " " + tmp + ": " + why);
  };
#if defined(_WIN32)
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail("cannot open");
    f.write(contents.data(), std::streamsize(contents.size()));
    f.flush();
    if (!f) fail("cannot write");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("cannot rename to " + path + " from");
#else
  int const fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot open");
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t const n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail("cannot write");
    }
    done += std::size_t(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("cannot fsync");
  }
  if (::close(fd) != 0) fail("cannot close");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename to " + path + " from");
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int const dfd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) {  // best effort: some file systems refuse fsync on directories
    ::fsync(dfd);
    ::close(dfd);
  }
#endif
}

}  // namespace detail

// Writes "label\tsource" lines under that header, atomically (see detail::write_file_atomic).
inline void write_listops_tsv(std::string const& path, std::vector<Example> const& examples) {
  std::string text = "label\tsource\n";
  for (std::size_t k = 0; k < examples.size(); ++k) {
    Example const& e = examples[k];
    if (e.label < 0 || e.label > 9)
      throw Error("write_listops_tsv: " + path + ": example " + std::to_string(k) + " has label " +
                  std::to_string(e.label) + ", not in 0-9");
    text += char('0' + e.label);
    text += '\t';
    text += listops_render(e.ids);
    text += '\n';
  }
  detail::write_file_atomic(path, text);
}

// Reads a file write_listops_tsv wrote, checking every line. Throws ponet::Error
// "read_listops_tsv: <path>:<line>: <problem>" for a wrong header, a wrong column count, a label
// not in 0-9, an empty source, an unknown token, a sequence longer than max_len, a malformed
// expression (unbalanced brackets and the other listops_parse errors), or a label that is not
// the expression's value. A trailing '\r' (CRLF files) is ignored.
inline std::vector<Example> read_listops_tsv(std::string const& path, int max_len) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("read_listops_tsv: cannot open " + path);
  std::vector<Example> out;
  std::string line;
  std::size_t line_no = 0;
  auto fail = [&](std::string const& why) {
    throw Error("read_listops_tsv: " + path + ":" + std::to_string(line_no) + ": " + why);
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1) {
      if (line != "label\tsource") fail("header is not \"label<TAB>source\"");
      continue;
    }
    std::size_t const tab = line.find('\t');
    std::size_t const columns =
        line.empty() ? 0 : 1 + std::size_t(std::count(line.begin(), line.end(), '\t'));
    if (columns != 2) fail("expected 2 tab-separated columns, got " + std::to_string(columns));
    std::string const label_text = line.substr(0, tab);
    std::string_view const source = std::string_view(line).substr(tab + 1);
    if (label_text.size() != 1 || label_text[0] < '0' || label_text[0] > '9')
      fail("label '" + label_text + "' is not in 0-9");
    int const label = label_text[0] - '0';
    if (source.find_first_not_of(' ') == std::string_view::npos) fail("empty source");
    std::vector<std::int32_t> ids;
    try {
      ids = listops_tokenize(source);
    } catch (Error const& e) {
      fail(e.what());
    }
    if (int(ids.size()) > max_len)
      fail("sequence of " + std::to_string(ids.size()) + " tokens is longer than max_len " +
           std::to_string(max_len));
    int value = 0;
    try {
      value = listops_parse(ids).value;
    } catch (Error const& e) {
      fail(e.what());
    }
    if (value != label)
      fail("label " + std::to_string(label) + " but the expression evaluates to " +
           std::to_string(value));
    out.push_back({std::move(ids), label});
  }
  if (line_no == 0) fail("empty file (no header)");
  return out;
}

// <dir>/train.tsv, dev.tsv and test.tsv: generated (and written, with listops.meta recording
// the parameters) when none exists, loaded when all three do. Throws when only some exist, when
// listops.meta records other parameters, or when a loaded split's size differs from `sizes`:
// silently training on a different data set than asked for is worse than stopping.
inline ListOpsSplits prepare_listops(std::string const& dir, ListOpsConfig const& cfg,
                                     ListOpsSizes const& sizes, std::uint64_t seed) {
  namespace fs = std::filesystem;
  cfg.check();
  std::string const names[3] = {"train.tsv", "dev.tsv", "test.tsv"};
  std::string paths[3];
  int present = 0;
  for (int k = 0; k < 3; ++k) {
    paths[k] = (fs::path(dir) / names[k]).string();
    present += fs::exists(paths[k]) ? 1 : 0;
  }
  std::ostringstream meta;
  meta << "ponet-listops 1 seed " << seed << " min_len " << cfg.min_len << " max_len "
       << cfg.max_len << " max_depth " << cfg.max_depth << " min_args " << cfg.min_args
       << " max_args " << cfg.max_args << " train " << sizes.train << " dev " << sizes.dev
       << " test " << sizes.test << "\n";
  std::string const meta_path = (fs::path(dir) / "listops.meta").string();

  if (present == 0) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error("prepare_listops: cannot create " + dir + ": " + ec.message());
    ListOpsSplits s = generate_listops(cfg, sizes, seed);
    write_listops_tsv(paths[0], s.train);
    write_listops_tsv(paths[1], s.dev);
    write_listops_tsv(paths[2], s.test);
    detail::write_file_atomic(meta_path, meta.str());
    return s;
  }
  if (present != 3)
    throw Error("prepare_listops: " + dir +
                " holds only some of train.tsv, dev.tsv, test.tsv; delete them to regenerate");
  if (fs::exists(meta_path)) {
    std::ifstream in(meta_path, std::ios::binary);
    std::string recorded((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (recorded != meta.str())
      throw Error("prepare_listops: " + meta_path + " records '" +
                  recorded.substr(0, recorded.find('\n')) + "' but this run asks for '" +
                  meta.str().substr(0, meta.str().size() - 1) + "'");
  }
  ListOpsSplits s;
  s.train = read_listops_tsv(paths[0], cfg.max_len);
  s.dev = read_listops_tsv(paths[1], cfg.max_len);
  s.test = read_listops_tsv(paths[2], cfg.max_len);
  std::size_t const want[3] = {sizes.train, sizes.dev, sizes.test};
  std::size_t const got[3] = {s.train.size(), s.dev.size(), s.test.size()};
  for (int k = 0; k < 3; ++k)
    if (got[k] != want[k])
      throw Error("prepare_listops: " + paths[k] + " holds " + std::to_string(got[k]) +
                  " examples but " + std::to_string(want[k]) + " were asked for");
  return s;
}

}  // namespace ponet::io
