// ponet::io::Batcher: cuts classification examples (token ids + label) into padded batches for
// a trainer, in a shuffled order that depends only on (seed, epoch), so any run and any resume
// sees the same batches. Batch: ids [B, N, 1] int32, valid [B, N, 1] uint8 (1 = real token),
// labels [B]; N = longest sequence in the batch rounded up to a multiple of 8 (capped at
// max_len), or max_len when fixed_length is set. BatcherState (epoch, cursor, seed and a
// fingerprint of the setup) round-trips through a 64-byte string for bit-exact resumption.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ponet/core/error.hpp"
#include "ponet/core/tensor.hpp"

namespace ponet::io {

namespace detail {

// A uniform integer in [0, n) from 64 random bits. std::uniform_int_distribution is
// implementation-defined (libstdc++ and libc++ give different numbers), so data sets and batch
// orders would differ across platforms; this rejection mapping is exact and specified here.
inline std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t n) {
  if (n == 0) throw Error("uniform_below: empty range");
  // Accept x < limit, the largest multiple of n that fits, so every residue is equally likely.
  std::uint64_t const limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t x = rng();
  while (x >= limit) x = rng();
  return x % n;
}

// A uniform integer in [lo, hi], both inclusive.
inline int uniform_int(std::mt19937_64& rng, int lo, int hi) {
  return lo + int(uniform_below(rng, std::uint64_t(std::int64_t(hi) - lo + 1)));
}

// splitmix64's finaliser: turns (seed, epoch) into well-spread mt19937_64 seeds, so neighbouring
// epochs (and neighbouring user seeds) do not start from correlated states.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace detail

// One classification example: token ids (no padding) and its class.
struct Example {
  std::vector<std::int32_t> ids;
  int label = 0;

  bool operator==(Example const& o) const { return label == o.label && ids == o.ids; }
  bool operator!=(Example const& o) const { return !(*this == o); }
};

struct Batch {
  Tensor<std::int32_t> ids;          // [B, N, 1] token ids, pad_id at padding
  Tensor<std::uint8_t> valid;        // [B, N, 1] 1 = real token, 0 = padding
  std::vector<int> labels;           // [B]
  std::vector<std::size_t> indices;  // [B] positions of the rows in the example list
  int size() const { return int(labels.size()); }
};

struct BatcherConfig {
  int batch_size = 32;
  // N's upper bound. Longer examples are rejected when the Batcher is built, never truncated:
  // cutting a ListOps expression changes its value, so a truncated example carries a wrong label.
  int max_len = 2000;
  int pad_multiple = 8;       // N rounds up to a multiple of this (kernels like aligned rows)
  bool fixed_length = false;  // every batch is [B, max_len, 1] (static-shape trainers)
  bool shuffle = true;        // false: examples in file order (evaluation)
  // true: skip the last partial batch (training); false: keep it with a smaller B (evaluation).
  bool drop_last = true;
  std::int32_t pad_id = 0;
};

// Everything a Batcher's future output depends on besides the examples themselves. The order of
// epoch e is a pure function of (seed, e), so no generator dump is needed: (seed, epoch, cursor)
// is the whole RNG state. The fingerprint fields make restore() refuse a state saved for a
// different data set or setup, instead of silently resuming a different sequence of batches.
struct BatcherState {
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;   // epochs completed
  std::uint64_t cursor = 0;  // batches already served in the current epoch
  std::uint64_t num_examples = 0;
  std::uint64_t batch_size = 0;
  std::uint64_t flags = 0;           // bit 0 shuffle, bit 1 drop_last
  std::uint64_t batches_served = 0;  // over all epochs; trainers may log it as the step

  bool operator==(BatcherState const& o) const {
    return seed == o.seed && epoch == o.epoch && cursor == o.cursor &&
           num_examples == o.num_examples && batch_size == o.batch_size && flags == o.flags &&
           batches_served == o.batches_served;
  }
  bool operator!=(BatcherState const& o) const { return !(*this == o); }

  // 8-byte magic "PNBATCH1", then the seven fields as little-endian u64: 64 bytes on every
  // platform, so a checkpoint written on one machine resumes on another.
  std::string to_bytes() const {
    std::string out = "PNBATCH1";
    for (std::uint64_t v : fields())
      for (int k = 0; k < 8; ++k) out.push_back(char((v >> (8 * k)) & 0xff));
    return out;
  }

  static BatcherState from_bytes(std::string_view bytes) {
    if (bytes.size() != 64 || bytes.substr(0, 8) != "PNBATCH1")
      throw Error("BatcherState::from_bytes: expected 64 bytes starting with PNBATCH1, got " +
                  std::to_string(bytes.size()) + " bytes");
    std::uint64_t v[7];
    for (int f = 0; f < 7; ++f) {
      v[f] = 0;
      for (int k = 0; k < 8; ++k)
        v[f] |= std::uint64_t(static_cast<unsigned char>(bytes[8 + 8 * f + k])) << (8 * k);
    }
    return {v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
  }

 private:
  std::vector<std::uint64_t> fields() const {
    return {seed, epoch, cursor, num_examples, batch_size, flags, batches_served};
  }
};

class Batcher {
 public:
  // Takes the examples by value: move them in to avoid a copy. Throws ponet::Error on an empty
  // list, an empty or too long example, or a setup that yields no batch per epoch.
  Batcher(std::vector<Example> examples, BatcherConfig const& cfg, std::uint64_t seed)
      : examples_(std::move(examples)), cfg_(cfg), seed_(seed) {
    if (cfg_.batch_size < 1)
      throw Error("Batcher: batch_size must be >= 1, got " + std::to_string(cfg_.batch_size));
    if (cfg_.max_len < 1)
      throw Error("Batcher: max_len must be >= 1, got " + std::to_string(cfg_.max_len));
    if (cfg_.pad_multiple < 1)
      throw Error("Batcher: pad_multiple must be >= 1, got " + std::to_string(cfg_.pad_multiple));
    if (examples_.empty()) throw Error("Batcher: no examples");
    for (std::size_t k = 0; k < examples_.size(); ++k) {
      std::size_t len = examples_[k].ids.size();
      // An all-padding row would make masked means divide by zero downstream.
      if (len == 0) throw Error("Batcher: example " + std::to_string(k) + " is empty");
      if (len > std::size_t(cfg_.max_len))
        throw Error("Batcher: example " + std::to_string(k) + " has " + std::to_string(len) +
                    " tokens, more than max_len " + std::to_string(cfg_.max_len) +
                    " (examples are never truncated)");
    }
    if (batches_per_epoch() == 0)
      throw Error("Batcher: " + std::to_string(examples_.size()) +
                  " examples give no full batch of " + std::to_string(cfg_.batch_size) +
                  " with drop_last");
    order_for(0);
  }

  std::vector<Example> const& examples() const { return examples_; }
  BatcherConfig const& config() const { return cfg_; }
  std::uint64_t epoch() const { return epoch_; }
  std::uint64_t cursor() const { return cursor_; }

  std::uint64_t batches_per_epoch() const {
    std::uint64_t n = examples_.size(), b = std::uint64_t(cfg_.batch_size);
    return cfg_.drop_last ? n / b : (n + b - 1) / b;
  }

  // The next batch; after the last batch of an epoch the next epoch begins (reshuffled).
  void next(Batch& out) {
    fill(out, epoch_, cursor_);
    ++served_;
    if (++cursor_ == batches_per_epoch()) {
      cursor_ = 0;
      ++epoch_;
    }
  }
  Batch next() {
    Batch b;
    next(b);
    return b;
  }

  // Batch k of epoch e, without moving the cursor (e.g. to replay or inspect a step).
  Batch batch_at(std::uint64_t epoch, std::uint64_t k) {
    if (k >= batches_per_epoch())
      throw Error("Batcher::batch_at: batch " + std::to_string(k) + " of an epoch with " +
                  std::to_string(batches_per_epoch()));
    Batch b;
    fill(b, epoch, k);
    return b;
  }

  // Example positions of epoch e, in the order they are served.
  std::vector<std::size_t> order(std::uint64_t epoch) { return order_for(epoch); }

  BatcherState state() const {
    return {
        seed_,   epoch_, cursor_, std::uint64_t(examples_.size()), std::uint64_t(cfg_.batch_size),
        flags(), served_};
  }

  // Resumes from a saved state, seed included; the batches that follow equal those the saving
  // Batcher would have served next. Throws when the state belongs to another data set or setup
  // (the examples themselves are not hashed: pass the same list, e.g. from the same files).
  void restore(BatcherState const& s) {
    if (s.num_examples != examples_.size() || s.batch_size != std::uint64_t(cfg_.batch_size) ||
        s.flags != flags())
      throw Error("Batcher::restore: state is for " + std::to_string(s.num_examples) +
                  " examples, batch " + std::to_string(s.batch_size) + ", flags " +
                  std::to_string(s.flags) + " but this batcher has " +
                  std::to_string(examples_.size()) + ", " + std::to_string(cfg_.batch_size) + ", " +
                  std::to_string(flags()));
    if (s.cursor >= batches_per_epoch())
      throw Error("Batcher::restore: cursor " + std::to_string(s.cursor) + " but an epoch has " +
                  std::to_string(batches_per_epoch()) + " batches");
    seed_ = s.seed;
    epoch_ = s.epoch;
    cursor_ = s.cursor;
    served_ = s.batches_served;
    cached_epoch_ = ~std::uint64_t(0);  // the seed may have changed: recompute the order
  }
  void restore(std::string_view bytes) { restore(BatcherState::from_bytes(bytes)); }

 private:
  std::uint64_t flags() const { return (cfg_.shuffle ? 1u : 0u) | (cfg_.drop_last ? 2u : 0u); }

  // Fisher-Yates with our own uniform_below (std::shuffle's use of the generator is
  // implementation-defined), seeded from (seed, epoch) alone.
  std::vector<std::size_t> const& order_for(std::uint64_t epoch) {
    if (epoch == cached_epoch_) return order_;
    order_.resize(examples_.size());
    for (std::size_t k = 0; k < order_.size(); ++k) order_[k] = k;
    if (cfg_.shuffle) {
      std::mt19937_64 rng(detail::mix64(seed_ ^ detail::mix64(epoch)));
      for (std::size_t k = order_.size(); k > 1; --k)
        std::swap(order_[k - 1], order_[detail::uniform_below(rng, k)]);
    }
    cached_epoch_ = epoch;
    return order_;
  }

  void fill(Batch& out, std::uint64_t epoch, std::uint64_t k) {
    auto const& order = order_for(epoch);
    std::size_t const first = std::size_t(k) * std::size_t(cfg_.batch_size);
    std::size_t const last = std::min(order.size(), first + std::size_t(cfg_.batch_size));
    int const B = int(last - first);
    int N = cfg_.max_len;
    if (!cfg_.fixed_length) {
      int longest = 0;
      for (std::size_t r = first; r < last; ++r)
        longest = std::max(longest, int(examples_[order[r]].ids.size()));
      int const m = cfg_.pad_multiple;
      N = std::min(cfg_.max_len, (longest + m - 1) / m * m);  // >= longest: longest <= max_len
    }
    out.ids.resize({B, N, 1});  // resize keeps the allocation; every element is written below
    out.valid.resize({B, N, 1});
    out.labels.resize(std::size_t(B));
    out.indices.resize(std::size_t(B));
    for (int b = 0; b < B; ++b) {
      std::size_t const e = order[first + std::size_t(b)];
      auto const& ids = examples_[e].ids;
      int const len = int(ids.size());
      for (int i = 0; i < N; ++i) {
        out.ids(b, i, 0) = i < len ? ids[std::size_t(i)] : cfg_.pad_id;
        out.valid(b, i, 0) = i < len ? 1 : 0;
      }
      out.labels[std::size_t(b)] = examples_[e].label;
      out.indices[std::size_t(b)] = e;
    }
  }

  std::vector<Example> examples_;
  BatcherConfig cfg_;
  std::uint64_t seed_;
  std::uint64_t epoch_ = 0;
  std::uint64_t cursor_ = 0;
  std::uint64_t served_ = 0;
  std::vector<std::size_t> order_;
  std::uint64_t cached_epoch_ = ~std::uint64_t(0);
};

}  // namespace ponet::io
