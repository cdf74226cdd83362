// Text classification data: a JSON-lines reader that validates every line, and WordVocab, a
// lower-cased word tokenizer whose vocabulary is built from the training split.
//   words    maximal runs of ASCII letters and digits, lower-cased; every byte >= 0x80 (UTF-8
//            letters and marks) counts as a letter too; everything else separates words
//   ids      0 [PAD], 1 [UNK], then words seen at least min_count times in the training texts,
//            most frequent first (ties alphabetical), at most max_size in all
// Errors name the file and line. docs/nn.md#text
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "ponet/core/error.hpp"
#include "ponet/io/batches.hpp"

namespace ponet::io {

struct LabeledText {
  std::string text;
  int label = 0;
};

// Reads {"<text_key>": string, "<label_key>": one of label_names, ...} per line; the label is its
// index in label_names. Blank lines are skipped.
inline std::vector<LabeledText> read_labeled_jsonl(std::string const& path,
                                                   std::string const& text_key,
                                                   std::string const& label_key,
                                                   std::vector<std::string> const& label_names) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::vector<LabeledText> rows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string const where = path + ":" + std::to_string(number) + ": ";
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw Error(where + "not valid JSON");
    if (!j.is_object()) throw Error(where + "expected a JSON object");
    if (!j.contains(text_key) || !j[text_key].is_string())
      throw Error(where + "missing string field \"" + text_key + "\"");
    if (!j.contains(label_key)) throw Error(where + "missing field \"" + label_key + "\"");
    std::string label =
        j[label_key].is_string() ? j[label_key].get<std::string>() : j[label_key].dump();
    auto it = std::find(label_names.begin(), label_names.end(), label);
    if (it == label_names.end()) throw Error(where + "unknown label " + j[label_key].dump());
    rows.push_back({j[text_key].get<std::string>(), int(it - label_names.begin())});
  }
  if (rows.empty()) throw Error(path + ": no examples");
  return rows;
}

class WordVocab {
 public:
  static constexpr std::int32_t pad = 0, unk = 1;

  template <class F>
  static void for_each_word(std::string const& text, F&& f) {
    std::string word;
    for (unsigned char ch : text) {
      bool letter = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= 'A' && ch <= 'Z') || ch >= 0x80;
      if (letter) {
        word += char(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
      } else if (!word.empty()) {
        f(word);
        word.clear();
      }
    }
    if (!word.empty()) f(word);
  }

  static WordVocab build(std::vector<LabeledText> const& train, int min_count, int max_size) {
    std::unordered_map<std::string, int> counts;
    for (auto const& row : train)
      for_each_word(row.text, [&](std::string const& w) { ++counts[w]; });
    std::vector<std::pair<std::string, int>> words;
    for (auto const& [w, n] : counts)
      if (n >= min_count) words.emplace_back(w, n);
    std::sort(words.begin(), words.end(), [](auto const& a, auto const& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    WordVocab v;
    v.words_ = {"[PAD]", "[UNK]"};
    for (auto const& [w, n] : words) {
      if (int(v.words_.size()) >= max_size) break;
      v.ids_[w] = std::int32_t(v.words_.size());
      v.words_.push_back(w);
    }
    return v;
  }

  int size() const { return int(words_.size()); }

  // Ids of the text's words, at most max_len of them (the rest is cut).
  std::vector<std::int32_t> encode(std::string const& text, int max_len) const {
    std::vector<std::int32_t> ids;
    for_each_word(text, [&](std::string const& w) {
      if (int(ids.size()) >= max_len) return;
      auto it = ids_.find(w);
      ids.push_back(it == ids_.end() ? unk : it->second);
    });
    if (ids.empty()) ids.push_back(unk);  // a text without words is one unknown token
    return ids;
  }

  std::vector<Example> examples(std::vector<LabeledText> const& rows, int max_len) const {
    std::vector<Example> out;
    for (auto const& r : rows) out.push_back({encode(r.text, max_len), r.label});
    return out;
  }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, std::int32_t> ids_;
};

}  // namespace ponet::io
