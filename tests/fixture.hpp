// The PyTorch fixtures' text format (tests/fixtures/fixture_format.py writes it): a header line
// "ponet-fixture 1", then "param <name> <int>" lines and, per tensor, a line
// "tensor <name> <f64|i64> <B> <N> <D>" followed by one line of its values in [b][i][c] order
// (%.17g, which round-trips doubles exactly). The reader checks every line and names the file
// and line of anything malformed.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ponet/core/tensor.hpp>

namespace testing {

using ponet::Shape3;
using ponet::Tensor;

struct Fixture {
  std::string file;
  std::map<std::string, long long> params;
  std::map<std::string, Tensor<double>> reals;           // dtype f64
  std::map<std::string, Tensor<std::int64_t>> integers;  // dtype i64

  int param(std::string const& name) const {
    auto it = params.find(name);
    if (it == params.end()) throw std::runtime_error(file + ": no param '" + name + "'");
    return int(it->second);
  }
  bool has(std::string const& name) const { return integers.count(name) || reals.count(name); }
  Tensor<double> const& real(std::string const& name, Shape3 shape) const {
    return checked(reals, name, shape, "f64");
  }
  Tensor<std::int64_t> const& integer(std::string const& name, Shape3 shape) const {
    return checked(integers, name, shape, "i64");
  }

 private:
  template <class T>
  Tensor<T> const& checked(std::map<std::string, Tensor<T>> const& m, std::string const& name,
                           Shape3 shape, char const* dtype) const {
    auto it = m.find(name);
    if (it == m.end()) throw std::runtime_error(file + ": no " + dtype + " tensor '" + name + "'");
    if (!(it->second.shape() == shape))
      throw std::runtime_error(file + ": tensor '" + name + "' is " +
                               to_string(it->second.shape()) + " but should be " +
                               to_string(shape));
    return it->second;
  }
};

[[noreturn]] inline void fail(std::string const& file, int line, std::string const& what) {
  throw std::runtime_error(file + ":" + std::to_string(line) + ": " + what);
}

inline std::vector<std::string> split(std::string const& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

inline long long parse_int(std::string const& word, std::string const& file, int line) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(word.c_str(), &end, 10);
  if (word.empty() || *end != '\0' || errno == ERANGE)
    fail(file, line, "'" + word + "' is not an integer");
  return v;
}

inline double parse_real(std::string const& word, std::string const& file, int line) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(word.c_str(), &end);  // correctly rounded: %.17g round-trips exactly
  if (word.empty() || *end != '\0' || errno == ERANGE)
    fail(file, line, "'" + word + "' is not a finite double");
  return v;
}

// `file` only names the source in error messages ("file:line: what").
inline Fixture parse_fixture(std::istream& in, std::string const& file) {
  Fixture fx;
  fx.file = file;
  std::string text;
  int line = 0;
  auto next = [&]() {
    ++line;
    return bool(std::getline(in, text));
  };
  if (!next() || text != "ponet-fixture 1")
    fail(file, 1, "expected the header 'ponet-fixture 1', got '" + text + "'");
  while (next()) {
    auto words = split(text);
    if (words.empty()) continue;
    if (words[0] == "param") {
      if (words.size() != 3) fail(file, line, "expected 'param <name> <int>'");
      if (fx.params.count(words[1])) fail(file, line, "param '" + words[1] + "' given twice");
      fx.params[words[1]] = parse_int(words[2], file, line);
    } else if (words[0] == "tensor") {
      if (words.size() != 6) fail(file, line, "expected 'tensor <name> <f64|i64> <B> <N> <D>'");
      std::string const name = words[1], dtype = words[2];
      if (dtype != "f64" && dtype != "i64")
        fail(file, line, "tensor '" + name + "': dtype '" + dtype + "' is not f64 or i64");
      if (fx.has(name)) fail(file, line, "tensor '" + name + "' given twice");
      int dims[3];
      for (int a = 0; a < 3; ++a) {
        long long v = parse_int(words[3 + a], file, line);
        if (v < 1 || v > (1 << 20)) fail(file, line, "tensor '" + name + "': bad dimension");
        dims[a] = int(v);
      }
      Shape3 const shape{dims[0], dims[1], dims[2]};
      if (!next()) fail(file, line, "tensor '" + name + "': missing its line of values");
      auto values = split(text);
      if ((long long)values.size() != shape.numel())
        fail(file, line,
             "tensor '" + name + "' " + to_string(shape) + " needs " +
                 std::to_string(shape.numel()) + " values, got " + std::to_string(values.size()));
      if (dtype == "f64") {
        Tensor<double> t(shape);
        for (std::size_t n = 0; n < values.size(); ++n)
          t.data()[n] = parse_real(values[n], file, line);
        fx.reals.emplace(name, std::move(t));
      } else {
        Tensor<std::int64_t> t(shape);
        for (std::size_t n = 0; n < values.size(); ++n)
          t.data()[n] = parse_int(values[n], file, line);
        fx.integers.emplace(name, std::move(t));
      }
    } else {
      fail(file, line, "unknown record '" + words[0] + "' (expected param or tensor)");
    }
  }
  return fx;
}

// tests/fixtures/<file_name>, made by one of the make_*_fixture.py scripts there.
inline Fixture read_fixture(std::string const& file_name) {
  std::string const path = std::string(PONET_FIXTURES_DIR) + "/" + file_name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open (see tests/fixtures/make_*.py)");
  return parse_fixture(in, path);
}

}  // namespace testing
