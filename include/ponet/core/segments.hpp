// Segments: which segment every token belongs to, for segment max-pooling (PONET.md#segments).
// Segments are contiguous runs of tokens, ids 0 <= id < S non-decreasing along each sequence;
// every builder checks this, so the pooling loops can trust it. Three ways to build them:
//   from_ids     explicit ids given by the caller                        ids [B, N, 1]
//   chunks       LRA fixed-size chunks: token i in segment i / (N / S + 1)
//   from_tokens  [CLS]/[SEP]-delimited: each delimiter its own segment, the tokens between two
//                delimiters one segment; also records the delimiters for the clsgsepg rule.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "ponet/core/tensor.hpp"

namespace ponet {

// What expressions hold: a non-owning view of validated ids plus S.
template <class Dev = cpu_tag>
struct SegmentsView {
  View<std::int32_t const, Dev> ids;  // [B, N, 1]
  int S = 0;
};

class Segments {
 public:
  // Copies and validates explicit ids [B, N, 1].
  static Segments from_ids(View<std::int32_t const> ids, int S) {
    if (S < 1) throw Error("segments: S must be >= 1, got " + std::to_string(S));
    if (ids.D != 1 || ids.B < 1 || ids.N < 1)
      throw Error("segments: ids are " + to_string(ids.shape()) + " but must be [B,N,1], B,N >= 1");
    Segments s;
    s.S_ = S;
    s.ids_ = Tensor<std::int32_t>(ids.shape(), uninitialized);
    for (int b = 0; b < ids.B; ++b)
      for (int i = 0; i < ids.N; ++i) {
        std::int32_t id = ids(b, i, 0);
        if (id < 0 || id >= S)
          throw Error("segments: id " + std::to_string(id) + " at [b=" + std::to_string(b) +
                      ", i=" + std::to_string(i) + "] is outside [0, " + std::to_string(S) + ")");
        if (i > 0 && id < ids(b, i - 1, 0))
          throw Error("segments: ids decrease at [b=" + std::to_string(b) +
                      ", i=" + std::to_string(i) + "] (" + std::to_string(id) + " after " +
                      std::to_string(ids(b, i - 1, 0)) + "); segments must be contiguous runs");
        s.ids_(b, i, 0) = id;
      }
    return s;
  }

  // LRA style: chunk length N / segment_num + 1 (integer division), PONET.md#segments.
  static Segments chunks(int B, int N, int segment_num) {
    if (B < 1 || N < 1 || segment_num < 1)
      throw Error("segments: chunks needs B, N, segment_num >= 1, got B=" + std::to_string(B) +
                  " N=" + std::to_string(N) + " segment_num=" + std::to_string(segment_num));
    Segments s;
    s.S_ = segment_num;
    s.ids_ = Tensor<std::int32_t>(Shape3{B, N, 1}, uninitialized);
    int len = N / segment_num + 1;
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < N; ++i) s.ids_(b, i, 0) = i / len;
    return s;
  }

  // Sentence style from token ids [B, N, 1] (PONET.md#segments). The id grows by one at every
  // delimiter and at the token after one, starting from 0. (The authors' cumsum gives the same
  // runs; it skips an id between two adjacent delimiters and starts at -1 when the first token is
  // not a delimiter. Ids are only labels, so the pooled values are the same.)
  template <class I>
  static Segments from_tokens(View<I const> tokens, I cls_id = 101, I sep_id = 102) {
    static_assert(std::is_integral_v<I>, "token ids must be integers");
    if (tokens.D != 1 || tokens.B < 1 || tokens.N < 1)
      throw Error("segments: token ids are " + to_string(tokens.shape()) +
                  " but must be [B,N,1], B,N >= 1");
    Segments s;
    s.ids_ = Tensor<std::int32_t>(tokens.shape(), uninitialized);
    s.delimiters_ = Tensor<std::uint8_t>(tokens.shape(), uninitialized);
    int S = 1;
    for (int b = 0; b < tokens.B; ++b) {
      std::int32_t id = 0;
      bool prev = false;
      for (int i = 0; i < tokens.N; ++i) {
        I t = tokens(b, i, 0);
        bool delim = t == cls_id || t == sep_id;
        if (i > 0 && (delim || prev)) ++id;
        s.ids_(b, i, 0) = id;
        s.delimiters_(b, i, 0) = delim;
        prev = delim;
      }
      S = std::max(S, id + 1);
    }
    s.S_ = S;
    return s;
  }

  SegmentsView<cpu_tag> view() const { return {ids_.view(), S_}; }
  int S() const { return S_; }
  Shape3 shape() const { return ids_.shape(); }
  Tensor<std::int32_t> const& ids() const { return ids_; }
  bool has_delimiters() const { return delimiters_.size() > 0; }
  // 1 at [CLS]/[SEP] tokens; [B, N, 1]. Empty unless built by from_tokens.
  Tensor<std::uint8_t> const& delimiters() const { return delimiters_; }

  // The mask local and segment pooling see: valid and, with clsgsepg, not a delimiter.
  Tensor<std::uint8_t> pool_mask(View<std::uint8_t const> valid, bool clsgsepg) const {
    check_per_token("segments: pool_mask", "valid", valid.shape(), {ids_.B(), ids_.N(), 1});
    Tensor<std::uint8_t> m(valid.shape(), uninitialized);
    bool skip = clsgsepg && has_delimiters();
    for (int b = 0; b < valid.B; ++b)
      for (int i = 0; i < valid.N; ++i)
        m(b, i, 0) = valid(b, i, 0) != 0 && !(skip && delimiters_(b, i, 0) != 0);
    return m;
  }

 private:
  Tensor<std::int32_t> ids_;
  Tensor<std::uint8_t> delimiters_;
  int S_ = 0;
};

}  // namespace ponet
