// BERT's uncased WordPiece tokenizer (include/ponet/io/wordpiece.hpp) with the small vocabulary
// tests/fixtures/wordpiece_vocab.txt: named behaviours, checked by token; ~35 tricky strings,
// checked by id against tests/fixtures/make_wordpiece_fixture.py, an independent Python version
// of the same rules; encodings, truncation, padding, bad vocab files and invalid UTF-8.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <ponet/io/wordpiece.hpp>

using namespace ponet;
using namespace ponet::io;
using Catch::Contains;
using Strings = std::vector<std::string>;
using Ids = std::vector<std::int64_t>;

namespace {

std::string const kVocab = PONET_FIXTURES_DIR "/wordpiece_vocab.txt";

WordPieceTokenizer const& tokenizer() {
  static WordPieceTokenizer const t = WordPieceTokenizer::from_file(kVocab);
  return t;
}

std::int64_t id(std::string const& token) { return tokenizer().vocab().id_of(token); }

Ids ids(Strings const& tokens) {
  Ids out;
  for (auto const& t : tokens) out.push_back(id(t));
  return out;
}

// A vocab file with exactly these bytes, removed when the test ends.
struct TempFile {
  std::string path;
  explicit TempFile(std::string const& bytes) {
    static int count = 0;
    path = (std::filesystem::temp_directory_path() /
            ("ponet_wordpiece_" + std::to_string(count++) + ".txt"))
               .string();
    std::ofstream(path, std::ios::binary) << bytes;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

std::string const kSpecials = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";

}  // namespace

// ------------------------------------------------------------------------- basic tokenization

TEST_CASE("wordpiece: accents are stripped after lower-casing", "[wordpiece]") {
  auto const& t = tokenizer();
  CHECK(t.tokenize("Héllo") == Strings{"hello"});
  CHECK(t.tokenize("HÉLLO") == Strings{"hello"});
  CHECK(t.tokenize("He\xCC\x81llo") == Strings{"hello"});  // e + U+0301, already decomposed
  CHECK(t.basic_tokenize("Café naïve Señor Über") == Strings{"cafe", "naive", "senor", "uber"});
  CHECK(t.basic_tokenize("\xC4\xB0stanbul") == Strings{"istanbul"});  // U+0130
}

TEST_CASE("wordpiece: Greek capital sigma lower-cases as Python does", "[wordpiece]") {
  // Final sigma ς after a letter and not before one; σ otherwise. "'" is case-ignorable.
  CHECK(tokenizer().basic_tokenize("ΟΔΟΣ ΣΑ ΟΔΟΣ. ΟΔΟΣ's Σ") ==
        Strings{"οδος", "σα", "οδος", ".", "οδοσ", "'", "s", "σ"});
  CHECK(tokenizer().basic_tokenize("ªΣ 🄰Σ") == Strings{"ªς", "🄰ς"});  // cased, no case mapping
}

TEST_CASE("wordpiece: punctuation splits words", "[wordpiece]") {
  auto const& t = tokenizer();
  CHECK(t.tokenize("Hello, World!") == Strings{"hello", ",", "world", "!"});
  CHECK(t.tokenize("don't") == Strings{"don", "'", "t"});
  // ASCII symbols count as punctuation; other symbols (€ ±) do not, Unicode P* does.
  CHECK(t.basic_tokenize("$5+x=~y^") == Strings{"$", "5", "+", "x", "=", "~", "y", "^"});
  CHECK(t.basic_tokenize("5€ ±3") == Strings{"5€", "±3"});
  CHECK(t.basic_tokenize("\xC2\xBFqu\xC3\xA9?\xE2\x80\xA6") == Strings{"¿", "que", "?", "…"});
  CHECK(t.basic_tokenize("...") == Strings{".", ".", "."});
}

TEST_CASE("wordpiece: CJK ideographs are words of their own", "[wordpiece]") {
  auto const& t = tokenizer();
  CHECK(t.tokenize("abc中文def") == Strings{"abc", "中", "文", "def"});
  CHECK(t.tokenize("我爱北京天安门") == Strings{"我", "爱", "北", "京", "[UNK]", "[UNK]", "[UNK]"});
  CHECK(t.basic_tokenize("𠀀谈") == Strings{"𠀀", "谈"});  // extension B is in the ranges
  // Kana is not in the ranges; NFD splits off its voicing mark (U+3099, Mn), as in BERT.
  CHECK(t.basic_tokenize("ひらがな") == Strings{"ひらかな"});
  CHECK(t.basic_tokenize("한") == Strings{"\u1112\u1161\u11AB"});  // NFD: Hangul jamo
}

TEST_CASE("wordpiece: control characters are removed", "[wordpiece]") {
  auto const& t = tokenizer();
  // NUL, U+0001, U+200B (Cf), U+FFFD, DEL, soft hyphen (Cf), unassigned, private use.
  std::string text = std::string("a\0b", 3) + "\x01" + "c\xE2\x80\x8B" + "d\xEF\xBF\xBD" + "e\x7F" +
                     "f soft\xC2\xAD" + "ware x\xCD\xB8y\xEE\x80\x80z";
  CHECK(t.basic_tokenize(text) == Strings{"abcdef", "software", "xyz"});
  // \v and \f are controls (Cc), not whitespace: they join their neighbours.
  CHECK(t.basic_tokenize("j\vk\fl") == Strings{"jkl"});
}

TEST_CASE("wordpiece: every kind of whitespace separates words", "[wordpiece]") {
  auto const& t = tokenizer();
  // \t \n \r, NBSP, ideographic space, en space, line and paragraph separators, runs of them.
  CHECK(t.basic_tokenize("a\tb\nc\rd\xC2\xA0"
                         "e\xE3\x80\x80"
                         "f\xE2\x80\x82g\xE2\x80\xA8h\xE2\x80\xA9i \t\r\n j") ==
        Strings{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"});
  CHECK(t.tokenize(" \t\n\xE3\x80\x80 ").empty());
}

// ---------------------------------------------------------------------------------- WordPiece

TEST_CASE("wordpiece: greedy longest match with ## continuations", "[wordpiece]") {
  auto const& t = tokenizer();
  CHECK(t.tokenize("unaffable") == Strings{"un", "##aff", "##able"});
  CHECK(t.tokenize("unwanted running") == Strings{"un", "##want", "##ed", "runn", "##ing"});
  CHECK(t.tokenize("software") == Strings{"software"});  // the whole word beats soft ##ware
  CHECK(t.tokenize("softwares") == Strings{"software", "##s"});
  CHECK(t.token_ids("unaffable") == ids({"un", "##aff", "##able"}));
}

TEST_CASE("wordpiece: a word with an unmatched piece is one [UNK]", "[wordpiece]") {
  auto const& t = tokenizer();
  CHECK(t.tokenize("unxyz") == Strings{"[UNK]"});  // "un" matches, "##xyz" never does
  CHECK(t.tokenize("hi😀there 😀") == Strings{"[UNK]", "😀"});
  CHECK(t.tokenize("[MASK]") == Strings{"[", "m", "##a", "##s", "##k", "]"});  // text, not special
}

TEST_CASE("wordpiece: words over 100 code points are [UNK]", "[wordpiece]") {
  auto const& t = tokenizer();
  CHECK(t.tokenize(std::string(100, 'a')).size() == 51);  // a, 49 x ##aa, ##a
  CHECK(t.tokenize(std::string(101, 'a')) == Strings{"[UNK]"});
  std::string zhe100, e101;  // ж is 2 bytes: the limit counts code points
  for (int i = 0; i < 100; ++i) zhe100 += "ж";
  for (int i = 0; i < 101; ++i) e101 += "é";
  CHECK(t.tokenize(zhe100).size() == 100);
  CHECK(t.tokenize(zhe100 + "ж") == Strings{"[UNK]"});
  CHECK(t.tokenize(e101) == Strings{"[UNK]"});  // counted after stripping: 101 x e
  CHECK(t.tokenize(e101 + " " + std::string(3, 'a')) == Strings{"[UNK]", "a", "##aa"});
}

TEST_CASE("wordpiece: ids match the Python reference", "[wordpiece][fixture]") {
  std::ifstream in(PONET_FIXTURES_DIR "/wordpiece_cases.txt");
  REQUIRE(in);
  std::string line, comment;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) == 0) {
      comment = line;
      continue;
    }
    auto tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    std::string text;
    for (std::size_t k = 0; k < tab; k += 2)
      text += char(std::stoi(line.substr(k, 2), nullptr, 16));
    Ids expected;
    std::istringstream ids_in(line.substr(tab + 1));
    for (std::int64_t v; ids_in >> v;) expected.push_back(v);
    INFO(comment);
    CHECK(tokenizer().token_ids(text) == expected);
    ++cases;
  }
  CHECK(cases >= 30);
}

// ----------------------------------------------------------------------------------- encoding

TEST_CASE("wordpiece: encode wraps one text in [CLS] ... [SEP]", "[wordpiece]") {
  auto const& t = tokenizer();
  auto e = t.encode("Hello, World!");
  CHECK(e.input_ids == ids({"[CLS]", "hello", ",", "world", "!", "[SEP]"}));
  CHECK(e.token_type_ids == Ids(6, 0));
  auto empty = t.encode("");
  CHECK(empty.input_ids == ids({"[CLS]", "[SEP]"}));
  CHECK(empty.token_type_ids == Ids{0, 0});
  CHECK(t.encode(" \t\x01 ").input_ids == ids({"[CLS]", "[SEP]"}));
}

TEST_CASE("wordpiece: segments get [SEP]s and token types 0 then 1", "[wordpiece]") {
  auto const& t = tokenizer();
  auto e = t.encode_segments({"hello world", "unaffable", "the"});
  CHECK(e.input_ids == ids({"[CLS]", "hello", "world", "[SEP]", "un", "##aff", "##able", "[SEP]",
                            "the", "[SEP]"}));
  CHECK(e.token_type_ids == Ids{0, 0, 0, 0, 1, 1, 1, 1, 1, 1});
  auto blank = t.encode_segments({"", ""});
  CHECK(blank.input_ids == ids({"[CLS]", "[SEP]", "[SEP]"}));
  CHECK(blank.token_type_ids == Ids{0, 0, 1});
  CHECK(t.encode_segments({"hello world"}).input_ids == t.encode("hello world").input_ids);
  CHECK_THROWS_WITH(t.encode_segments({}), Contains("no segments"));
}

TEST_CASE("wordpiece: truncation keeps [CLS] and every [SEP]", "[wordpiece]") {
  auto const& t = tokenizer();
  SECTION("one text: its tail goes") {
    CHECK(t.encode("a b c d e", 4).input_ids == ids({"[CLS]", "a", "b", "[SEP]"}));
    CHECK(t.encode("a b c d e", 7).input_ids == t.encode("a b c d e").input_ids);  // fits
    CHECK(t.encode("a b c d e", 2).input_ids == ids({"[CLS]", "[SEP]"}));
    CHECK(t.encode("a b c d e", 0).input_ids.size() == 7);  // 0: no limit
  }
  SECTION("segments: the longest loses its last token, ties the later one") {
    auto e = t.encode_segments({"a b c d e f", "g h"}, 8);  // 6 + 2 tokens, budget 5
    CHECK(e.input_ids == ids({"[CLS]", "a", "b", "c", "[SEP]", "g", "h", "[SEP]"}));
    CHECK(e.token_type_ids == Ids{0, 0, 0, 0, 0, 1, 1, 1});
    auto tie = t.encode_segments({"a b c", "d e f"}, 6);  // budget 3: 2 + 1
    CHECK(tie.input_ids == ids({"[CLS]", "a", "b", "[SEP]", "d", "[SEP]"}));
    auto three = t.encode_segments({"a", "b c d e", "f g"}, 8);  // budget 4: 1 + 2 + 1
    CHECK(three.input_ids == ids({"[CLS]", "a", "[SEP]", "b", "c", "[SEP]", "f", "[SEP]"}));
    CHECK(t.encode_segments({"a b", "c"}, 3 + 3).input_ids ==
          ids({"[CLS]", "a", "b", "[SEP]", "c", "[SEP]"}));  // exactly fits
  }
  SECTION("too small to hold the special tokens") {
    CHECK_THROWS_WITH(t.encode("a", 1), Contains("max_length=1 cannot hold [CLS] and 1 [SEP]"));
    CHECK_THROWS_WITH(t.encode_segments({"a", "b"}, 2),
                      Contains("max_length=2 cannot hold [CLS] and 2 [SEP]"));
    CHECK_THROWS_WITH(t.encode("a", -1), Contains("max_length=-1"));
  }
}

TEST_CASE("wordpiece: batches pad to the longest or to pad_to", "[wordpiece]") {
  auto const& t = tokenizer();
  std::int64_t const P = t.vocab().pad_id(), C = id("[CLS]"), S = id("[SEP]");
  std::int64_t const a = id("a"), b = id("b"), c = id("c");
  auto batch = t.encode_batch({"a b c", "", "a"});
  REQUIRE(batch.B == 3);
  REQUIRE(batch.N == 5);
  CHECK(batch.lengths == std::vector<int>{5, 2, 3});
  CHECK(batch.input_ids == Ids{C, a, b, c, S,  //
                               C, S, P, P, P,  //
                               C, a, S, P, P});
  CHECK(batch.attention_mask == Ids{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0});
  CHECK(batch.token_type_ids == Ids(15, 0));

  auto fixed = t.encode_batch({"a b c", "a"}, /*max_length=*/4, /*pad_to=*/6);
  CHECK(fixed.N == 6);
  CHECK(fixed.input_ids == Ids{C, a, b, S, P, P, C, a, S, P, P, P});
  CHECK(fixed.attention_mask == Ids{1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0});

  auto pairs = t.encode_batch_segments({{"a", "b c"}, {"c", ""}});
  CHECK(pairs.N == 6);
  CHECK(pairs.input_ids == Ids{C, a, S, b, c, S, C, c, S, S, P, P});
  CHECK(pairs.token_type_ids == Ids{0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0});
  CHECK(pairs.attention_mask == Ids{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0});

  auto none = t.encode_batch({});
  CHECK((none.B == 0 && none.N == 0 && none.input_ids.empty()));
  CHECK_THROWS_WITH(t.encode_batch({"a", "a b c"}, 0, 4),
                    Contains("example 1 has 5 tokens but pad_to=4"));
  CHECK_THROWS_WITH(t.encode_batch({"a"}, 0, -2), Contains("pad_to=-2"));
}

// ------------------------------------------------------------------------------------- errors

TEST_CASE("wordpiece: bad vocab files are reported with file and line", "[wordpiece]") {
  CHECK_THROWS_WITH(Vocab::from_file("/nonexistent/vocab.txt"),
                    Contains("'/nonexistent/vocab.txt': cannot open"));
  TempFile empty("");
  CHECK_THROWS_WITH(Vocab::from_file(empty.path), Contains(empty.path) && Contains("empty"));
  TempFile dup(kSpecials + "hello\nworld\nhello\n");
  CHECK_THROWS_WITH(Vocab::from_file(dup.path),
                    Contains(dup.path + "', line 7: duplicate token 'hello' (first at line 5)"));
  TempFile blank(kSpecials + "hello\n\nworld\n");
  CHECK_THROWS_WITH(Vocab::from_file(blank.path), Contains("line 6: empty token"));
  TempFile bad_utf8(kSpecials + "ok\nbad\xC3(\n");
  CHECK_THROWS_WITH(Vocab::from_file(bad_utf8.path),
                    Contains("line 6: invalid UTF-8 at byte offset 3"));
  TempFile no_specials("[PAD]\n[CLS]\nhello\n");
  CHECK_THROWS_WITH(Vocab::from_file(no_specials.path),
                    Contains("missing required special token(s) [UNK], [SEP]"));
  CHECK_THROWS_WITH(Vocab::from_tokens({}), Contains("empty"));
}

TEST_CASE("wordpiece: vocab ids are line numbers, CRLF accepted", "[wordpiece]") {
  TempFile crlf("hello\r\n[SEP]\r\n[CLS]\r\n[UNK]\r\n[PAD]\r\n##s\r\n");
  auto v = Vocab::from_file(crlf.path);
  CHECK(v.size() == 6);
  CHECK((v.pad_id() == 4 && v.unk_id() == 3 && v.cls_id() == 2 && v.sep_id() == 1));
  CHECK(v.id_of("##s") == 5);
  CHECK(v.token(0) == "hello");
  CHECK(!v.find("[MASK]"));
  CHECK_THROWS_WITH(v.token(6), Contains("id 6 outside [0, 6)"));
  CHECK_THROWS_WITH(v.id_of("nope"), Contains("'nope' is not in the vocab"));
  CHECK(WordPieceTokenizer(v).encode("Hellos").input_ids == Ids{2, 0, 5, 1});
}

TEST_CASE("wordpiece: invalid UTF-8 is an error naming the byte offset", "[wordpiece]") {
  auto const& t = tokenizer();
  auto [bytes, offset] = GENERATE(table<std::string, int>({
      {"ab\xC3(", 2},           // lead byte without its continuation
      {"abc\xE2\x82", 3},       // truncated at the end
      {"\x80xyz", 0},           // lone continuation byte
      {"a\xC0\xAF", 1},         // overlong "/"
      {"ok \xED\xA0\x80", 3},   // UTF-16 surrogate U+D800
      {"\xF4\x90\x80\x80", 0},  // past U+10FFFF
      {"hello \xFF", 6},
  }));
  INFO(bytes);
  CHECK_THROWS_AS(t.token_ids(bytes), Error);
  CHECK_THROWS_WITH(t.encode(bytes),
                    Contains("text: invalid UTF-8 at byte offset " + std::to_string(offset)));
  CHECK_THROWS_WITH(t.encode_segments({"fine", bytes}), Contains("segment 1: invalid UTF-8"));
  CHECK_THROWS_WITH(t.encode_batch({"fine", "fine", bytes}), Contains("example 2: invalid UTF-8"));
  CHECK_THROWS_WITH(t.encode_batch_segments({{"fine"}, {bytes, "x"}}),
                    Contains("example 1, segment 0: invalid UTF-8"));
}
