// Softmax cross-entropy over class logits [B, C]: loss = mean over b of logsumexp(z_b) - z_b[y_b];
// dz = (softmax(z) - onehot(y)) / B. Labels out of range throw, naming the row.
// docs/nn.md#cross-entropy
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "ponet/core/matrix.hpp"

namespace ponet {

// Returns the mean loss; writes dlogits when it is not empty; `correct` counts argmax hits.
template <class T>
double softmax_cross_entropy(Mat<T const, cpu_tag> logits, std::vector<int> const& labels,
                             Mat<T, cpu_tag> dlogits, int* correct = nullptr) {
  if (int(labels.size()) != logits.rows)
    throw Error("cross_entropy: " + std::to_string(labels.size()) + " labels for logits " +
                mat_shape(logits.rows, logits.cols));
  double total = 0;
  int hits = 0;
  for (int b = 0; b < logits.rows; ++b) {
    int y = labels[b];
    if (y < 0 || y >= logits.cols)
      throw Error("cross_entropy: label " + std::to_string(y) + " of row " + std::to_string(b) +
                  " is outside [0, " + std::to_string(logits.cols) + ")");
    T const* z = logits.row(b);
    int arg = 0;
    for (int c = 1; c < logits.cols; ++c) arg = z[c] > z[arg] ? c : arg;
    hits += arg == y;
    double m = z[arg], sum = 0;
    for (int c = 0; c < logits.cols; ++c) sum += std::exp(double(z[c]) - m);
    double lse = m + std::log(sum);
    total += lse - double(z[y]);
    if (dlogits.data)
      for (int c = 0; c < logits.cols; ++c)
        dlogits(b, c) = T((std::exp(double(z[c]) - lse) - (c == y ? 1.0 : 0.0)) / logits.rows);
  }
  if (correct) *correct = hits;
  return total / logits.rows;
}

}  // namespace ponet
