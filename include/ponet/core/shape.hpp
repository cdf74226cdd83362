// Shape3: the [B, N, D] shape every ponet tensor has (batch, tokens, channels). Per-token data
// (masks, segment ids) is [B, N, 1], per-batch vectors [B, 1, D], segment tables [B, S, D].
#pragma once

#include <string>

#include "ponet/config.hpp"
#include "ponet/core/error.hpp"

namespace ponet {

struct Shape3 {
  int B = 0;
  int N = 0;
  int D = 0;

  PONET_HD long long numel() const { return (long long)B * N * D; }
  PONET_HD bool operator==(Shape3 const& o) const { return B == o.B && N == o.N && D == o.D; }
  PONET_HD bool operator!=(Shape3 const& o) const { return !(*this == o); }
  // A scalar constant broadcasts to any shape; it reports this wildcard.
  PONET_HD bool is_any() const { return B < 0; }
  static constexpr Shape3 any() { return {-1, -1, -1}; }
};

inline std::string to_string(Shape3 s) {
  if (s.is_any()) return "[*]";
  return "[" + std::to_string(s.B) + "," + std::to_string(s.N) + "," + std::to_string(s.D) + "]";
}

// Throws "<what>: <a_name> is [..] but <b_name> is [..]" unless the shapes agree.
inline void check_same_shape(char const* what, char const* a_name, Shape3 a, char const* b_name,
                             Shape3 b) {
  if (a.is_any() || b.is_any() || a == b) return;
  throw Error(std::string(what) + ": " + a_name + " is " + to_string(a) + " but " + b_name +
              " is " + to_string(b));
}

inline void check_not_empty(char const* what, char const* name, Shape3 s) {
  if (s.B <= 0 || s.N <= 0 || s.D <= 0)
    throw Error(std::string(what) + ": " + name + " is empty " + to_string(s));
}

// Per-token data (a mask, segment ids) must be [B, N, 1] for data x of shape [B, N, D].
inline void check_per_token(char const* what, char const* name, Shape3 tokens, Shape3 x) {
  if (tokens.B == x.B && tokens.N == x.N && tokens.D == 1) return;
  throw Error(std::string(what) + ": " + name + " is " + to_string(tokens) + " but x is " +
              to_string(x) + " (" + name + " must be [B,N,1])");
}

}  // namespace ponet
