// BERT's uncased WordPiece tokenizer (BasicTokenizer + WordpieceTokenizer, do_lower_case=True) for
// ponet-base-uncased: Vocab reads vocab.txt (id = line number); WordPieceTokenizer turns UTF-8
// text into word pieces and ids, encodes [CLS] a [SEP] b [SEP] with token types, truncates, and
// pads batches into flat [B, N] int64 arrays. Unicode data (categories, lower-casing, NFD) comes
// from utf8proc: link -lutf8proc. Rules and choices: docs/tokenizer.md
#pragma once

#include <utf8proc.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ponet/core/error.hpp"

namespace ponet::io {

namespace detail {

// Code points of one text or word; char32_t keeps them apart from bytes in every signature.
using CodePoints = std::u32string;

inline utf8proc_category_t category(char32_t c) { return utf8proc_category(utf8proc_int32_t(c)); }

// Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF, as utf8proc_iterate checks).
// Invalid input is an error, not replaced: BERT's own reader drops bad bytes silently, which can
// glue two words together; a caller who wants that can clean the bytes first.
// docs/tokenizer.md#invalid-utf-8
inline CodePoints decode_utf8(std::string_view text, std::string const& where) {
  CodePoints out;
  out.reserve(text.size());
  auto const* p = reinterpret_cast<utf8proc_uint8_t const*>(text.data());
  std::size_t pos = 0;
  while (pos < text.size()) {
    utf8proc_int32_t c = -1;
    utf8proc_ssize_t n = utf8proc_iterate(p + pos, utf8proc_ssize_t(text.size() - pos), &c);
    if (n <= 0)
      throw Error(where + ": invalid UTF-8 at byte offset " + std::to_string(pos) + " (byte 0x" +
                  "0123456789abcdef"[(p[pos] >> 4) & 15] + "0123456789abcdef"[p[pos] & 15] + ")");
    out.push_back(char32_t(c));
    pos += std::size_t(n);
  }
  return out;
}

inline void append_utf8(std::string& out, char32_t c) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t n = utf8proc_encode_char(utf8proc_int32_t(c), buf);
  out.append(reinterpret_cast<char const*>(buf), std::size_t(n));
}

inline std::string encode_utf8(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

// BERT's _is_control: any category C* (Cc, Cf, Cs, Co, Cn), except \t \n \r, which are whitespace.
inline bool is_control(char32_t c) {
  if (c == U'\t' || c == U'\n' || c == U'\r') return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
      return true;
    default:
      return false;
  }
}

// BERT's _is_whitespace (space, \t, \n, \r, Zs) plus Zl and Zp: BERT keeps U+2028 and U+2029
// through _clean_text, but Python's str.split() then splits on them, so they separate words too.
inline bool is_whitespace(char32_t c) {
  if (c == U' ' || c == U'\t' || c == U'\n' || c == U'\r') return true;
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// BERT's _is_chinese_char: the CJK Unified Ideographs blocks and extensions A-E plus the CJK
// Compatibility Ideographs. Kana and Hangul are not in it, so they stay inside words.
inline bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// BERT's _is_punctuation: all non-alphanumeric ASCII (so $ + < = > ^ ` | ~ split words though
// they are symbols, S*), and any P* elsewhere (non-ASCII symbols such as € © ± stay in words).
inline bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

// Unicode's Cased property from utf8proc's data: a cased letter category or a case mapping, plus
// the Other_Lowercase/Other_Uppercase code points that have neither (ª º and the squared and
// circled Latin capitals). Equal to Python's on every code point assigned in Unicode 14 (checked
// once, through str.lower() on "<c>Σ"; fixture case "ªΣ 🄰Σ").
inline bool is_cased(char32_t c) {
  auto cat = category(c);
  auto i = utf8proc_int32_t(c);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
         cat == UTF8PROC_CATEGORY_LT || utf8proc_tolower(i) != i || utf8proc_toupper(i) != i ||
         c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
         (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

// Unicode's Case_Ignorable: Mn Me Cf Lm Sk and Word_Break MidLetter, MidNumLet or Single_Quote
// (the code points listed; utf8proc has no Word_Break data). Checked like is_cased.
inline bool is_case_ignorable(char32_t c) {
  switch (category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      break;
  }
  static constexpr char32_t word_break_mid[] = {0x0027, 0x002E, 0x003A, 0x00B7, 0x0387, 0x055F,
                                                0x05F4, 0x2018, 0x2019, 0x2024, 0x2027, 0xFE13,
                                                0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
  return std::find(std::begin(word_break_mid), std::end(word_break_mid), c) !=
         std::end(word_break_mid);
}

// Lower-cases one whitespace-separated word as Python's str.lower() does in BERT: simple case
// mapping, plus the one context rule Python applies, Final_Sigma (capital sigma after a cased
// letter and not before one becomes final ς, else σ). Python's other full mapping, U+0130 ->
// "i" + U+0307, equals utf8proc's "i" once accents are stripped.
inline CodePoints lower(CodePoints const& word) {
  CodePoints out(word.size(), 0);
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (word[i] != 0x03A3) {
      out[i] = char32_t(utf8proc_tolower(utf8proc_int32_t(word[i])));
      continue;
    }
    std::size_t j = i;
    while (j > 0 && is_case_ignorable(word[j - 1])) --j;
    bool after_cased = j > 0 && is_cased(word[j - 1]);
    std::size_t k = i + 1;
    while (k < word.size() && is_case_ignorable(word[k])) ++k;
    bool before_cased = k < word.size() && is_cased(word[k]);
    out[i] = after_cased && !before_cased ? 0x03C2 : 0x03C3;
  }
  return out;
}

// BERT's _run_strip_accents: NFD (canonical decomposition, then canonical ordering of combining
// marks by class), then drop every Mn. Ordering comes first because it can move spacing marks
// (Mc) with a non-zero class past non-spacing ones.
inline CodePoints strip_accents(CodePoints const& word) {
  CodePoints nfd;
  utf8proc_int32_t buf[32];  // canonical decompositions are at most 4 code points
  for (char32_t c : word) {
    int boundclass = 0;  // unused without UTF8PROC_CHARBOUND
    utf8proc_ssize_t n =
        utf8proc_decompose_char(utf8proc_int32_t(c), buf, 32, UTF8PROC_DECOMPOSE, &boundclass);
    if (n < 0 || n > 32)
      throw Error("wordpiece: utf8proc could not decompose U+" + std::to_string(std::uint32_t(c)));
    for (utf8proc_ssize_t t = 0; t < n; ++t) nfd.push_back(char32_t(buf[t]));
  }
  auto ccc = [](char32_t c) { return utf8proc_get_property(utf8proc_int32_t(c))->combining_class; };
  for (std::size_t i = 0; i < nfd.size();) {
    std::size_t end = i;
    while (end < nfd.size() && ccc(nfd[end]) != 0) ++end;
    std::stable_sort(nfd.begin() + std::ptrdiff_t(i), nfd.begin() + std::ptrdiff_t(end),
                     [&](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = end + 1;
  }
  CodePoints out;
  for (char32_t c : nfd)
    if (category(c) != UTF8PROC_CATEGORY_MN) out.push_back(c);
  return out;
}

// BERT's BasicTokenizer: clean, space out CJK ideographs, split on whitespace, lower-case and
// strip accents per word, split off punctuation. Returns the words, none empty.
inline std::vector<CodePoints> basic_tokenize(CodePoints const& text) {
  std::vector<CodePoints> spaced;  // whitespace-separated words of the cleaned text
  CodePoints word;
  auto flush = [&](std::vector<CodePoints>& to) {
    if (!word.empty()) to.push_back(std::move(word));
    word.clear();
  };
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;  // removed, joining its neighbours
    if (is_whitespace(c)) {
      flush(spaced);
    } else if (is_cjk(c)) {
      flush(spaced);
      word.push_back(c);
      flush(spaced);
    } else {
      word.push_back(c);
    }
  }
  flush(spaced);

  std::vector<CodePoints> words;
  for (CodePoints const& w : spaced) {
    for (char32_t c : strip_accents(lower(w))) {
      if (is_punctuation(c)) {
        flush(words);
        words.push_back(CodePoints(1, c));
      } else {
        word.push_back(c);
      }
    }
    flush(words);  // a word of combining marks alone is empty now and vanishes, as in BERT
  }
  return words;
}

}  // namespace detail

// A WordPiece vocabulary: tokens in id order (id = 0-based line of vocab.txt), with the special
// tokens [PAD], [UNK], [CLS] and [SEP] required ([MASK] is looked up with find when needed).
class Vocab {
 public:
  // Reads vocab.txt: one token per line, "\n" or "\r\n" endings, ids = line numbers from 0.
  // Throws ponet::Error naming the file (and the 1-based line) when it cannot be read, is empty,
  // has a blank line, a line that is not UTF-8, a duplicate token, or lacks a special token.
  static Vocab from_file(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw Error("wordpiece vocab '" + path + "': cannot open (" + std::strerror(errno) + ")");
    std::vector<std::string> tokens;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      tokens.push_back(std::move(line));
    }
    if (in.bad()) throw Error("wordpiece vocab '" + path + "': read error");
    return from_tokens(std::move(tokens), "wordpiece vocab '" + path + "'");
  }

  // The same checks on tokens already in memory; `source` starts every error message.
  static Vocab from_tokens(std::vector<std::string> tokens,
                           std::string const& source = "wordpiece vocab") {
    if (tokens.empty()) throw Error(source + ": file is empty (no tokens)");
    Vocab v;
    v.ids_.reserve(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string const& t = tokens[i];
      std::string at = source + ", line " + std::to_string(i + 1);
      if (t.empty())
        throw Error(at + ": empty token (ids are line numbers, so blank lines are not allowed)");
      std::size_t chars = detail::decode_utf8(t, at).size();
      auto [it, fresh] = v.ids_.emplace(t, std::int64_t(i));
      if (!fresh)
        throw Error(at + ": duplicate token '" + t + "' (first at line " +
                    std::to_string(it->second + 1) + ")");
      if (t.compare(0, 2, "##") == 0 && t.size() > 2) chars -= 2;  // the prefix is not matched
      v.max_chars_ = std::max(v.max_chars_, chars);
    }
    v.tokens_ = std::move(tokens);
    std::string missing;
    for (char const* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]"})
      if (!v.find(s)) missing += std::string(missing.empty() ? "" : ", ") + s;
    if (!missing.empty()) throw Error(source + ": missing required special token(s) " + missing);
    v.pad_ = *v.find("[PAD]");
    v.unk_ = *v.find("[UNK]");
    v.cls_ = *v.find("[CLS]");
    v.sep_ = *v.find("[SEP]");
    return v;
  }

  std::int64_t size() const { return std::int64_t(tokens_.size()); }
  std::optional<std::int64_t> find(std::string const& token) const {
    auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  std::int64_t id_of(std::string const& token) const {
    if (auto id = find(token)) return *id;
    throw Error("wordpiece vocab: '" + token + "' is not in the vocab");
  }
  std::string const& token(std::int64_t id) const {
    if (id < 0 || id >= size())
      throw Error("wordpiece vocab: id " + std::to_string(id) + " outside [0, " +
                  std::to_string(size()) + ")");
    return tokens_[std::size_t(id)];
  }
  std::int64_t pad_id() const { return pad_; }
  std::int64_t unk_id() const { return unk_; }
  std::int64_t cls_id() const { return cls_; }
  std::int64_t sep_id() const { return sep_; }
  // Longest token in code points, "##" not counted: no longer piece can match.
  std::size_t max_chars() const { return max_chars_; }

 private:
  Vocab() = default;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int64_t> ids_;
  std::size_t max_chars_ = 0;
  std::int64_t pad_ = 0, unk_ = 0, cls_ = 0, sep_ = 0;
};

// One encoded example: [CLS] a [SEP] b [SEP] ... (its attention mask is all ones).
struct Encoding {
  std::vector<std::int64_t> input_ids;       // [N]
  std::vector<std::int64_t> token_type_ids;  // [N]: 0 up to the first [SEP], 1 after
};

// A padded batch, row-major, padding on the right.
struct BatchEncoding {
  int B = 0;                                 // examples
  int N = 0;                                 // tokens per row
  std::vector<int> lengths;                  // [B] tokens before padding
  std::vector<std::int64_t> input_ids;       // [B, N], [PAD] after lengths[b]
  std::vector<std::int64_t> attention_mask;  // [B, N], 1 on tokens, 0 on padding
  std::vector<std::int64_t> token_type_ids;  // [B, N], 0 on padding
};

class WordPieceTokenizer {
 public:
  // BERT's max_input_chars_per_word: longer words (in code points, after basic tokenization)
  // become [UNK] whole.
  static constexpr std::size_t max_chars_per_word = 100;

  explicit WordPieceTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}
  static WordPieceTokenizer from_file(std::string const& vocab_path) {
    return WordPieceTokenizer(Vocab::from_file(vocab_path));
  }
  Vocab const& vocab() const { return vocab_; }

  // Words after BERT's BasicTokenizer: lower-cased, accents stripped, punctuation split off.
  std::vector<std::string> basic_tokenize(std::string_view text) const {
    std::vector<std::string> out;
    for (auto const& w : detail::basic_tokenize(detail::decode_utf8(text, "wordpiece: text")))
      out.push_back(detail::encode_utf8(w));
    return out;
  }

  // Word pieces ("##" marks a continuation, "[UNK]" an unmatched word), no special tokens.
  std::vector<std::string> tokenize(std::string_view text) const {
    std::vector<std::string> out;
    for (std::int64_t id : token_ids(text)) out.push_back(vocab_.token(id));
    return out;
  }

  // Ids of tokenize(text), no special tokens. Throws ponet::Error on invalid UTF-8.
  std::vector<std::int64_t> token_ids(std::string_view text) const {
    return ids_of(text, "wordpiece: text");
  }

  // [CLS] text [SEP], cut to max_length tokens (0: no limit) keeping the final [SEP].
  Encoding encode(std::string_view text, int max_length = 0) const {
    std::vector<std::vector<std::int64_t>> segments;
    segments.push_back(ids_of(text, "wordpiece: text"));
    return assemble(std::move(segments), max_length, "wordpiece: encode");
  }

  // [CLS] a [SEP] b [SEP] c [SEP] ...: token type 0 for [CLS], a and its [SEP], 1 for all the
  // rest (BERT has two token types; later segments share the second). With max_length > 0 the
  // longest segment loses its last token until the whole fits (ties: the later segment), as
  // Hugging Face's longest_first does for pairs; every [SEP] stays.
  Encoding encode_segments(std::vector<std::string> const& segments, int max_length = 0) const {
    std::vector<std::vector<std::int64_t>> ids;
    for (std::size_t s = 0; s < segments.size(); ++s)
      ids.push_back(ids_of(segments[s], "wordpiece: segment " + std::to_string(s)));
    return assemble(std::move(ids), max_length, "wordpiece: encode_segments");
  }

  // Each text as encode(text, max_length), padded with [PAD] to pad_to tokens, or to the longest
  // example when pad_to is 0. An example longer than pad_to is an error (set max_length).
  BatchEncoding encode_batch(std::vector<std::string> const& texts, int max_length = 0,
                             int pad_to = 0) const {
    std::vector<Encoding> rows;
    for (std::size_t b = 0; b < texts.size(); ++b) {
      std::vector<std::vector<std::int64_t>> segments;
      segments.push_back(ids_of(texts[b], "wordpiece: example " + std::to_string(b)));
      rows.push_back(assemble(std::move(segments), max_length, "wordpiece: encode_batch"));
    }
    return pad(rows, pad_to);
  }

  // Each example as encode_segments(segments, max_length), padded as in encode_batch.
  BatchEncoding encode_batch_segments(std::vector<std::vector<std::string>> const& examples,
                                      int max_length = 0, int pad_to = 0) const {
    std::vector<Encoding> rows;
    for (std::size_t b = 0; b < examples.size(); ++b) {
      std::vector<std::vector<std::int64_t>> ids;
      for (std::size_t s = 0; s < examples[b].size(); ++s)
        ids.push_back(ids_of(examples[b][s], "wordpiece: example " + std::to_string(b) +
                                                 ", segment " + std::to_string(s)));
      rows.push_back(assemble(std::move(ids), max_length,
                              "wordpiece: encode_batch_segments, example " + std::to_string(b)));
    }
    return pad(rows, pad_to);
  }

 private:
  std::vector<std::int64_t> ids_of(std::string_view text, std::string const& where) const {
    std::vector<std::int64_t> ids;
    for (auto const& w : detail::basic_tokenize(detail::decode_utf8(text, where)))
      append_pieces(w, ids);
    return ids;
  }

  // BERT's WordpieceTokenizer on one word: greedy longest match first, "##" before every piece
  // but the first; the whole word is one [UNK] when it is too long or any position matches
  // nothing.
  void append_pieces(detail::CodePoints const& word, std::vector<std::int64_t>& ids) const {
    if (word.size() > max_chars_per_word) {
      ids.push_back(vocab_.unk_id());
      return;
    }
    std::string utf8;
    std::vector<std::size_t> at;  // byte offset of each code point, then the end
    for (char32_t c : word) {
      at.push_back(utf8.size());
      detail::append_utf8(utf8, c);
    }
    at.push_back(utf8.size());
    std::size_t const first = ids.size();
    std::string key;
    for (std::size_t start = 0; start < word.size();) {
      std::optional<std::int64_t> id;
      std::size_t end = std::min(word.size(), start + vocab_.max_chars());
      for (; end > start; --end) {
        key.assign(start > 0 ? "##" : "");
        key.append(utf8, at[start], at[end] - at[start]);
        if ((id = vocab_.find(key))) break;
      }
      if (!id) {
        ids.resize(first);
        ids.push_back(vocab_.unk_id());
        return;
      }
      ids.push_back(*id);
      start = end;
    }
  }

  Encoding assemble(std::vector<std::vector<std::int64_t>> segments, int max_length,
                    std::string const& where) const {
    if (segments.empty()) throw Error(where + ": no segments (an empty text is one segment)");
    if (max_length < 0) throw Error(where + ": max_length=" + std::to_string(max_length) + " < 0");
    std::size_t const specials = segments.size() + 1;  // [CLS] and one [SEP] per segment
    if (max_length > 0) {
      if (std::size_t(max_length) < specials)
        throw Error(where + ": max_length=" + std::to_string(max_length) + " cannot hold [CLS] " +
                    "and " + std::to_string(segments.size()) + " [SEP]");
      std::size_t budget = std::size_t(max_length) - specials, total = 0;
      for (auto const& s : segments) total += s.size();
      for (; total > budget; --total) {
        std::size_t longest = 0;
        for (std::size_t s = 1; s < segments.size(); ++s)
          if (segments[s].size() >= segments[longest].size()) longest = s;
        segments[longest].pop_back();
      }
    }
    Encoding e;
    e.input_ids.push_back(vocab_.cls_id());
    e.token_type_ids.push_back(0);
    for (std::size_t s = 0; s < segments.size(); ++s) {
      std::int64_t type = s == 0 ? 0 : 1;
      for (std::int64_t id : segments[s]) {
        e.input_ids.push_back(id);
        e.token_type_ids.push_back(type);
      }
      e.input_ids.push_back(vocab_.sep_id());
      e.token_type_ids.push_back(type);
    }
    return e;
  }

  BatchEncoding pad(std::vector<Encoding> const& rows, int pad_to) const {
    if (pad_to < 0) throw Error("wordpiece: pad_to=" + std::to_string(pad_to) + " < 0");
    BatchEncoding out;
    out.B = int(rows.size());
    out.N = pad_to;
    for (std::size_t b = 0; b < rows.size(); ++b) {
      int len = int(rows[b].input_ids.size());
      if (pad_to > 0 && len > pad_to)
        throw Error("wordpiece: example " + std::to_string(b) + " has " + std::to_string(len) +
                    " tokens but pad_to=" + std::to_string(pad_to) + " (set max_length)");
      out.lengths.push_back(len);
      if (pad_to == 0) out.N = std::max(out.N, len);
    }
    std::size_t const n = std::size_t(out.N);
    out.input_ids.assign(rows.size() * n, vocab_.pad_id());
    out.attention_mask.assign(rows.size() * n, 0);
    out.token_type_ids.assign(rows.size() * n, 0);
    for (std::size_t b = 0; b < rows.size(); ++b)
      for (std::size_t i = 0; i < rows[b].input_ids.size(); ++i) {
        out.input_ids[b * n + i] = rows[b].input_ids[i];
        out.attention_mask[b * n + i] = 1;
        out.token_type_ids[b * n + i] = rows[b].token_type_ids[i];
      }
    return out;
  }

  Vocab vocab_;
};

}  // namespace ponet::io
