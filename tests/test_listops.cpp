// ListOps data and the batcher: the evaluator on hand-written trees, the generator's determinism
// and bounds, TSV round trips and every reader error, prepare_listops, and the batcher's shapes,
// padding, masks, order and bit-exact resumption.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>  // getpid

#include <ponet/io/batches.hpp>
#include <ponet/io/listops.hpp>

using namespace ponet;
using namespace ponet::io;
using Catch::Contains;

namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with everything in it on scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("ponet-listops-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(std::string const& name) const { return (path / name).string(); }
};

void write_text(std::string const& path, std::string const& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_text(std::string const& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

ListOpsConfig small_config() {  // short trees so tests run fast in any build type
  ListOpsConfig c;
  c.min_len = 20;
  c.max_len = 200;
  return c;
}

std::vector<Example> toy_examples(int n, int max_len, unsigned seed) {
  std::vector<Example> ex;
  std::uint64_t s = seed;
  for (int k = 0; k < n; ++k) {
    s = detail::mix64(s);
    int len = 1 + int(s % std::uint64_t(max_len));
    Example e;
    for (int i = 0; i < len; ++i) e.ids.push_back(1 + (k + i) % 15);
    e.label = k % 10;
    ex.push_back(e);
  }
  return ex;
}

bool same_batch(Batch const& a, Batch const& b) {
  return a.ids.shape() == b.ids.shape() && a.valid.shape() == b.valid.shape() &&
         std::equal(a.ids.begin(), a.ids.end(), b.ids.begin()) &&
         std::equal(a.valid.begin(), a.valid.end(), b.valid.begin()) && a.labels == b.labels &&
         a.indices == b.indices;
}

}  // namespace

TEST_CASE("listops: fixed token map", "[listops]") {
  CHECK(listops_vocab_size == 16);
  CHECK(listops_token_id("[PAD]") == 0);
  for (int d = 0; d < 10; ++d) CHECK(listops_token_id(std::string(1, char('0' + d))) == 1 + d);
  CHECK(listops_token_id("[MAX") == 11);
  CHECK(listops_token_id("[MIN") == 12);
  CHECK(listops_token_id("[MED") == 13);
  CHECK(listops_token_id("[SM") == 14);
  CHECK(listops_token_id("]") == 15);
  CHECK(listops_token_id("[FIRST") == -1);
  CHECK(listops_token_id("10") == -1);
  for (int id = 0; id < listops_vocab_size; ++id)
    CHECK(listops_token_id(listops_token_text(id)) == id);

  std::string const src = "[MAX 2 9 [MIN 4 7 ] 0 ]";
  auto ids = listops_tokenize(src);
  CHECK(ids == std::vector<std::int32_t>{11, 3, 10, 12, 5, 8, 15, 1, 15});
  CHECK(listops_render(ids) == src);
  CHECK(listops_tokenize("  [SM  1 ] ") == std::vector<std::int32_t>{14, 2, 15});
  CHECK(listops_render({0, 1}) == "[PAD] 0");
  CHECK_THROWS_WITH(listops_tokenize("[MAX 1 [FIRST 2 ] ]"),
                    Contains("unknown token '[FIRST' (token 3)"));
  CHECK_THROWS_WITH(listops_render({1, 16}), Contains("token id 16 is outside the vocabulary"));
  CHECK_THROWS_WITH(listops_render({-1}), Contains("token id -1"));
}

TEST_CASE("listops: evaluator on hand-written trees", "[listops]") {
  CHECK(listops_evaluate("[MAX 2 9 [MIN 4 7 ] 0 ]") == 9);
  CHECK(listops_evaluate("[MIN 5 3 8 ]") == 3);
  CHECK(listops_evaluate("7") == 7);
  // MED, odd count: the middle value.
  CHECK(listops_evaluate("[MED 1 2 3 ]") == 2);
  CHECK(listops_evaluate("[MED 9 0 4 ]") == 4);
  CHECK(listops_evaluate("[MED 7 ]") == 7);
  // MED, even count: int(numpy.median) = mean of the two middle values, truncated.
  CHECK(listops_evaluate("[MED 1 2 ]") == 1);          // 1.5
  CHECK(listops_evaluate("[MED 5 8 ]") == 6);          // 6.5
  CHECK(listops_evaluate("[MED 9 0 3 7 ]") == 5);      // sorted 0 3 7 9: 5.0
  CHECK(listops_evaluate("[MED 4 1 2 3 ]") == 2);      // 2.5
  CHECK(listops_evaluate("[MED 9 9 8 0 0 1 ]") == 4);  // sorted 0 0 1 8 9 9: 4.5
  // SM: sum modulo 10.
  CHECK(listops_evaluate("[SM 5 6 7 ]") == 8);
  CHECK(listops_evaluate("[SM 9 1 ]") == 0);
  CHECK(listops_evaluate("[SM 3 ]") == 3);
  // Nesting: MAX 2, MED(3,9,4) = 4, MIN(8,4) = 4, SM(2,4,7) = 13 % 10 = 3.
  CHECK(listops_evaluate("[SM [MAX 1 2 ] [MIN 8 [MED 3 9 4 ] ] 7 ]") == 3);
  CHECK(listops_evaluate("[MED [SM 9 9 ] [MAX 0 1 ] [MIN 5 [MIN 6 7 ] ] [SM 0 ] ]") == 3);

  auto t = listops_parse(listops_tokenize("[SM [MAX 1 2 ] [MIN 8 [MED 3 9 4 ] ] 7 ]"));
  CHECK(t.value == 3);
  CHECK(t.depth == 4);  // SM > MIN > MED > digit
  CHECK(t.operators == 4);
  CHECK(t.min_args == 2);
  CHECK(t.max_args == 3);
  CHECK(listops_parse({5}).depth == 1);

  CHECK_THROWS_WITH(listops_parse({}), Contains("empty sequence"));
  CHECK_THROWS_WITH(listops_evaluate("[MAX 1 ] ]"),
                    Contains("unbalanced brackets: ']' closes nothing (token 4)"));
  CHECK_THROWS_WITH(listops_evaluate("[MAX 1 [MIN 2"),
                    Contains("unbalanced brackets: 2 operator(s) not closed"));
  CHECK_THROWS_WITH(listops_evaluate("[MAX 1 [SM ] ]"), Contains("[SM has no arguments (token 4)"));
  CHECK_THROWS_WITH(listops_evaluate("[MAX 1 ] 2"),
                    Contains("tokens after the complete expression (token 4)"));
  CHECK_THROWS_WITH(listops_evaluate("3 4"), Contains("after the complete expression"));
  CHECK_THROWS_WITH(listops_parse({11, 2, 0, 15}), Contains("[PAD] inside the expression"));
}

TEST_CASE("listops: uniform_below is uniform and exact", "[listops]") {
  std::mt19937_64 rng(7);
  int counts[3] = {};
  for (int k = 0; k < 30000; ++k) ++counts[detail::uniform_below(rng, 3)];
  for (int c : counts) CHECK(std::abs(c - 10000) < 400);  // ~4.9 standard deviations
  for (int k = 0; k < 1000; ++k) {
    int v = detail::uniform_int(rng, 2, 10);
    CHECK((v >= 2 && v <= 10));
  }
  CHECK(detail::uniform_below(rng, 1) == 0);
  CHECK_THROWS_AS(detail::uniform_below(rng, 0), Error);
}

TEST_CASE("listops: generator is deterministic by seed", "[listops]") {
  auto a = ListOpsGenerator(small_config(), 42).take(100);
  auto b = ListOpsGenerator(small_config(), 42).take(100);
  auto c = ListOpsGenerator(small_config(), 43).take(100);
  CHECK(a == b);
  CHECK(a != c);
  int same = 0;
  for (int k = 0; k < 100; ++k) same += a[k] == c[k];
  CHECK(same == 0);
  // Pinned output: the recipe (draw order, uniform_below, mt19937_64) must not drift, and a
  // platform with another standard library must give these very trees.
  ListOpsConfig tiny;
  tiny.min_len = 8;
  tiny.max_len = 12;
  tiny.max_depth = 3;
  tiny.min_args = 2;
  tiny.max_args = 4;
  auto pinned = ListOpsGenerator(tiny, 2024).take(3);
  CHECK(listops_render(pinned[0].ids) == "[MAX 9 [MAX 1 5 4 ] ]");
  CHECK(listops_render(pinned[1].ids) == "[MED [MAX 2 2 ] [MAX 6 8 ] ]");
  CHECK(listops_render(pinned[2].ids) == "[MAX 9 1 9 [MIN 1 0 7 ] ]");
  CHECK(pinned[0].label == 9);
  CHECK(pinned[1].label == 5);
  CHECK(pinned[2].label == 9);
}

TEST_CASE("listops: generated trees respect every bound", "[listops]") {
  ListOpsConfig lra;  // the LRA defaults: 500-2000 tokens, 10 levels, 2-10 arguments
  ListOpsConfig quick = lra;
  quick.min_len = 100;
  quick.max_len = 400;
  ListOpsConfig custom;
  custom.min_len = 10;
  custom.max_len = 60;
  custom.max_depth = 4;
  custom.min_args = 3;
  custom.max_args = 5;
  auto [cfg, n] =
      GENERATE_COPY(table<ListOpsConfig, int>({{lra, 60}, {quick, 200}, {custom, 300}}));
  ListOpsGenerator gen(cfg, 5);
  auto ex = gen.take(std::size_t(n));
  std::set<std::vector<std::int32_t>> seen;
  int deepest = 0;
  for (auto const& e : ex) {
    int const len = int(e.ids.size());
    CHECK(len >= cfg.min_len);
    CHECK(len <= cfg.max_len);
    CHECK(listops_is_operator(e.ids.front()));  // the root is always an operator
    auto t = listops_parse(e.ids);
    CHECK(t.value == e.label);
    CHECK((e.label >= 0 && e.label <= 9));
    CHECK(t.depth <= cfg.max_depth);
    CHECK(t.min_args >= cfg.min_args);
    CHECK(t.max_args <= cfg.max_args);
    deepest = std::max(deepest, t.depth);
    CHECK(seen.insert(e.ids).second);
  }
  CHECK(deepest == cfg.max_depth);  // the bound is reached, so it is the limit that holds
}

TEST_CASE("listops: no sequence twice within or across splits", "[listops]") {
  // A space of exactly 4 * 10 * 10 = 400 trees "[OP d d ]": duplicates are drawn often and must
  // be skipped, and all 400 come out once.
  ListOpsConfig c;
  c.min_len = 4;
  c.max_len = 4;
  c.max_depth = 2;
  c.min_args = 2;
  c.max_args = 2;
  auto s = generate_listops(c, {300, 60, 40}, 9);
  REQUIRE(s.train.size() == 300);
  REQUIRE(s.dev.size() == 60);
  REQUIRE(s.test.size() == 40);
  std::set<std::vector<std::int32_t>> all;
  for (auto const* split : {&s.train, &s.dev, &s.test})
    for (auto const& e : *split) CHECK(all.insert(e.ids).second);
  CHECK(all.size() == 400);
  ListOpsGenerator gen(c, 9);
  gen.take(400);
  CHECK(gen.duplicates_skipped() > 0);
  ListOpsGenerator excl(c, 1);
  excl.exclude(s.train[0].ids);
  for (auto const& e : excl.take(399)) CHECK(e.ids != s.train[0].ids);
}

TEST_CASE("listops: config errors", "[listops]") {
  ListOpsConfig c;
  c.min_len = 300;
  c.max_len = 200;
  CHECK_THROWS_WITH(ListOpsGenerator(c, 1), Contains("min_len <= max_len"));
  c = ListOpsConfig{};
  c.max_depth = 1;
  CHECK_THROWS_WITH(ListOpsGenerator(c, 1), Contains("max_depth must be >= 2"));
  c = ListOpsConfig{};
  c.min_args = 5;
  c.max_args = 4;
  CHECK_THROWS_WITH(ListOpsGenerator(c, 1), Contains("min_args <= max_args"));
  c = ListOpsConfig{};
  c.min_len = 1;
  c.max_len = 3;
  CHECK_THROWS_WITH(ListOpsGenerator(c, 1), Contains("below the shortest tree"));
}

TEST_CASE("listops: TSV round trip", "[listops]") {
  TempDir dir;
  auto ex = ListOpsGenerator(small_config(), 3).take(50);
  std::string const path = dir.file("train.tsv");
  write_listops_tsv(path, ex);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  std::string const text = read_text(path);
  CHECK(text.rfind("label\tsource\n" + std::to_string(ex[0].label) + "\t" +
                       listops_render(ex[0].ids) + "\n",
                   0) == 0);
  CHECK(read_listops_tsv(path, 200) == ex);
  write_listops_tsv(path, {});  // replaces the file: header only
  CHECK(read_text(path) == "label\tsource\n");
  CHECK(read_listops_tsv(path, 200).empty());
  CHECK_THROWS_WITH(write_listops_tsv(path, {{{2}, 11}}), Contains("label 11, not in 0-9"));
  // CRLF line ends are accepted.
  write_text(path, "label\tsource\r\n3\t[MAX 1 3 ]\r\n");
  CHECK(read_listops_tsv(path, 10) == std::vector<Example>{{{11, 2, 4, 15}, 3}});
}

TEST_CASE("listops: every reader error names the file, line and problem", "[listops]") {
  TempDir dir;
  std::string const path = dir.file("bad.tsv");
  std::string const good = "label\tsource\n9\t[MAX 2 9 [MIN 4 7 ] 0 ]\n";
  auto error_for = [&](std::string const& text, int max_len = 100) -> std::string {
    write_text(path, text);
    try {
      read_listops_tsv(path, max_len);
    } catch (Error const& e) {
      return e.what();
    }
    return "no error";
  };
  std::string const at3 = path + ":3: ";
  CHECK(error_for("label\tsrc\n") ==
        "read_listops_tsv: " + path + ":1: header is not \"label<TAB>source\"");
  CHECK(error_for("") == "read_listops_tsv: " + path + ":0: empty file (no header)");
  CHECK_THAT(error_for(good + "3\n"), Contains(at3 + "expected 2 tab-separated columns, got 1"));
  CHECK_THAT(error_for(good + "\n"), Contains(at3 + "expected 2 tab-separated columns, got 0"));
  CHECK_THAT(error_for(good + "3\t[MAX 3 ]\textra\n"),
             Contains(at3 + "expected 2 tab-separated columns, got 3"));
  CHECK_THAT(error_for(good + "10\t[MAX 3 ]\n"), Contains(at3 + "label '10' is not in 0-9"));
  CHECK_THAT(error_for(good + "-1\t[MAX 3 ]\n"), Contains(at3 + "label '-1' is not in 0-9"));
  CHECK_THAT(error_for(good + "x\t[MAX 3 ]\n"), Contains(at3 + "label 'x' is not in 0-9"));
  CHECK_THAT(error_for(good + "\t[MAX 3 ]\n"), Contains(at3 + "label '' is not in 0-9"));
  CHECK_THAT(error_for(good + "3\t\n"), Contains(at3 + "empty source"));
  CHECK_THAT(error_for(good + "3\t   \n"), Contains(at3 + "empty source"));
  CHECK_THAT(error_for(good + "3\t[MAX 3 [AVG 1 ] ]\n"),
             Contains(at3 + "listops: unknown token '[AVG' (token 3)"));
  CHECK_THAT(error_for(good + "3\t[MAX 3\n"),
             Contains(at3 + "listops: unbalanced brackets: 1 operator(s) not closed"));
  CHECK_THAT(error_for(good + "3\t[MAX 3 ] ]\n"),
             Contains(at3 + "listops: unbalanced brackets: ']' closes nothing (token 4)"));
  CHECK_THAT(error_for(good + "3\t[MAX ]\n"), Contains(at3 + "listops: [MAX has no arguments"));
  CHECK_THAT(error_for(good + "3\t[MAX 3 ] 4\n"),
             Contains(at3 + "listops: tokens after the complete expression"));
  CHECK_THAT(error_for(good + "3\t[MAX 3 ]\n", 2),
             Contains(path + ":2: sequence of 9 tokens is longer than max_len 2"));
  CHECK_THAT(error_for("label\tsource\n3\t[MAX 3 ]\n5\t[SM 1 1 1 1 1 ]\n", 6),
             Contains(at3 + "sequence of 7 tokens is longer than max_len 6"));
  CHECK_THAT(error_for(good + "4\t[MAX 3 ]\n"),
             Contains(at3 + "label 4 but the expression evaluates to 3"));
  CHECK(error_for(good + "3\t[MAX 3 ]\n") == "no error");
  CHECK_THROWS_WITH(read_listops_tsv(dir.file("missing.tsv"), 10),
                    Contains("cannot open " + dir.file("missing.tsv")));
}

TEST_CASE("listops: prepare_listops generates once, then loads", "[listops]") {
  TempDir dir;
  std::string const data = dir.file("listops");
  ListOpsConfig const cfg = small_config();
  ListOpsSizes const sizes{40, 10, 10};
  auto made = prepare_listops(data, cfg, sizes, 11);
  CHECK(made.train.size() == 40);
  CHECK(made.dev.size() == 10);
  CHECK(made.test.size() == 10);
  CHECK(fs::exists(dir.file("listops/train.tsv")));
  CHECK(fs::exists(dir.file("listops/dev.tsv")));
  CHECK(fs::exists(dir.file("listops/test.tsv")));
  auto const before = fs::last_write_time(dir.file("listops/train.tsv"));

  auto loaded = prepare_listops(data, cfg, sizes, 11);
  CHECK(loaded.train == made.train);
  CHECK(loaded.dev == made.dev);
  CHECK(loaded.test == made.test);
  CHECK(fs::last_write_time(dir.file("listops/train.tsv")) == before);  // not rewritten
  auto fresh = generate_listops(cfg, sizes, 11);
  CHECK(fresh.test == made.test);

  CHECK_THROWS_WITH(prepare_listops(data, cfg, sizes, 12),
                    Contains("records 'ponet-listops 1 seed 11"));
  CHECK_THROWS_WITH(prepare_listops(data, cfg, {41, 10, 10}, 11), Contains("train 41"));
  fs::remove(dir.file("listops/listops.meta"));
  CHECK_THROWS_WITH(prepare_listops(data, cfg, {41, 10, 10}, 11),
                    Contains("holds 40 examples but 41 were asked for"));
  fs::remove(dir.file("listops/dev.tsv"));
  CHECK_THROWS_WITH(prepare_listops(data, cfg, sizes, 11), Contains("only some of"));
}

TEST_CASE("batches: shapes, padding and masks", "[listops]") {
  auto ex = toy_examples(37, 50, 1);
  BatcherConfig cfg;
  cfg.batch_size = 8;
  cfg.max_len = 50;
  cfg.shuffle = false;
  cfg.drop_last = false;
  Batcher batcher(ex, cfg, 0);
  REQUIRE(batcher.batches_per_epoch() == 5);
  for (int k = 0; k < 5; ++k) {
    Batch b = batcher.next();
    int const B = k < 4 ? 8 : 5;  // the last partial batch is kept
    REQUIRE(b.size() == B);
    int longest = 0;
    for (int r = 0; r < B; ++r) longest = std::max(longest, int(ex[8 * k + r].ids.size()));
    int const N = std::min(50, (longest + 7) / 8 * 8);
    CHECK(b.ids.shape() == Shape3{B, N, 1});
    CHECK(b.valid.shape() == Shape3{B, N, 1});
    CHECK((N >= longest && (N % 8 == 0 || N == 50)));
    for (int r = 0; r < B; ++r) {
      auto const& e = ex[std::size_t(8 * k + r)];
      CHECK(b.indices[std::size_t(r)] == std::size_t(8 * k + r));  // no shuffle: file order
      CHECK(b.labels[std::size_t(r)] == e.label);
      int const len = int(e.ids.size());
      for (int i = 0; i < N; ++i) {
        CHECK(int(b.valid(r, i, 0)) == (i < len ? 1 : 0));
        CHECK(b.ids(r, i, 0) == (i < len ? e.ids[std::size_t(i)] : 0));
      }
    }
  }
  CHECK(batcher.epoch() == 1);
  CHECK(batcher.cursor() == 0);

  cfg.drop_last = true;
  cfg.fixed_length = true;
  cfg.pad_id = 99;
  Batcher fixed(ex, cfg, 0);
  CHECK(fixed.batches_per_epoch() == 4);  // the partial batch is dropped
  Batch b = fixed.next();
  CHECK(b.ids.shape() == Shape3{8, 50, 1});
  CHECK(b.ids(0, int(ex[0].ids.size()), 0) == 99);

  // Rounding up never passes max_len, and a batch of short sequences stays short.
  BatcherConfig odd;
  odd.batch_size = 2;
  odd.max_len = 13;
  Batcher capped({{std::vector<std::int32_t>(13, 1), 0}, {{1, 2}, 1}}, odd, 0);
  CHECK(capped.next().ids.shape() == Shape3{2, 13, 1});
  Batcher shorts({{{1}, 0}, {{1, 2, 3}, 1}}, odd, 0);
  CHECK(shorts.next().ids.shape() == Shape3{2, 8, 1});
}

TEST_CASE("batches: deterministic shuffled epochs", "[listops]") {
  auto ex = toy_examples(100, 30, 2);
  BatcherConfig cfg;
  cfg.batch_size = 16;
  cfg.max_len = 30;
  Batcher a(ex, cfg, 5), b(ex, cfg, 5), c(ex, cfg, 6);
  CHECK(a.batches_per_epoch() == 6);
  bool any_diff = false;
  for (int k = 0; k < 20; ++k) {
    Batch x = a.next(), y = b.next(), z = c.next();
    CHECK(same_batch(x, y));
    any_diff = any_diff || !same_batch(x, z);
  }
  CHECK(any_diff);
  std::vector<std::size_t> const o0 = a.order(0);
  std::vector<std::size_t> const o1 = a.order(1);
  CHECK(o0 != o1);  // reshuffled every epoch
  std::vector<std::size_t> sorted = o0;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t k = 0; k < sorted.size(); ++k) CHECK(sorted[k] == k);  // a permutation
  // batch_at replays any step without moving the cursor.
  Batcher d(ex, cfg, 5);
  Batch third = d.batch_at(0, 2);
  d.next();
  d.next();
  CHECK(same_batch(d.next(), third));
  CHECK(d.cursor() == 3);
  CHECK_THROWS_WITH(d.batch_at(0, 6), Contains("batch 6 of an epoch with 6"));
}

TEST_CASE("batches: state save and restore resume bit-exactly", "[listops]") {
  auto ex = toy_examples(53, 40, 3);
  BatcherConfig cfg;
  cfg.batch_size = 8;
  cfg.max_len = 40;
  Batcher run(ex, cfg, 77);  // 6 batches per epoch
  for (int k = 0; k < 9; ++k) run.next();
  std::string const bytes = run.state().to_bytes();
  CHECK(bytes.size() == 64);
  CHECK(BatcherState::from_bytes(bytes) == run.state());
  CHECK(run.state().epoch == 1);
  CHECK(run.state().cursor == 3);
  CHECK(run.state().batches_served == 9);
  std::vector<Batch> expected;
  for (int k = 0; k < 10; ++k) expected.push_back(run.next());  // crosses into epoch 2

  Batcher resumed(ex, cfg, 1);  // the seed comes from the state
  resumed.next();               // and so does the position
  resumed.restore(bytes);
  for (int k = 0; k < 10; ++k) CHECK(same_batch(resumed.next(), expected[std::size_t(k)]));
  CHECK(resumed.state() == run.state());

  Batcher other(toy_examples(54, 40, 3), cfg, 77);
  CHECK_THROWS_WITH(other.restore(bytes), Contains("state is for 53 examples"));
  BatcherConfig keep = cfg;
  keep.drop_last = false;
  CHECK_THROWS_WITH(Batcher(ex, keep, 77).restore(bytes), Contains("flags 3"));
  CHECK_THROWS_WITH(BatcherState::from_bytes("PNBATCH1"), Contains("expected 64 bytes"));
  std::string corrupt = bytes;
  corrupt[0] = 'X';
  CHECK_THROWS_WITH(run.restore(corrupt), Contains("starting with PNBATCH1"));
  BatcherState far = run.state();
  far.cursor = 6;
  CHECK_THROWS_WITH(run.restore(far), Contains("cursor 6 but an epoch has 6 batches"));
}

TEST_CASE("batches: construction errors", "[listops]") {
  BatcherConfig cfg;
  cfg.batch_size = 4;
  cfg.max_len = 5;
  CHECK_THROWS_WITH(Batcher({}, cfg, 0), Contains("no examples"));
  CHECK_THROWS_WITH(Batcher({{{1, 2}, 0}, {{1, 2, 3, 4, 5, 6}, 1}}, cfg, 0),
                    Contains("example 1 has 6 tokens, more than max_len 5"));
  CHECK_THROWS_WITH(Batcher({{{1}, 0}, {{}, 1}}, cfg, 0), Contains("example 1 is empty"));
  CHECK_THROWS_WITH(Batcher({{{1}, 0}}, cfg, 0), Contains("give no full batch of 4"));
  cfg.batch_size = 0;
  CHECK_THROWS_WITH(Batcher({{{1}, 0}}, cfg, 0), Contains("batch_size must be >= 1"));
}
