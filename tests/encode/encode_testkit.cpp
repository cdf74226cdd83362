// ponet-encode-testkit: what tests/encode/test_encode.sh needs besides ponet-encode, in C++
// (CI has no Python with torch): compare an output with the PyTorch fixture's expected tensors,
// and write edited copies of safetensors files for the bad-input cases.
//   compare OUT EXPECTED TOL          same tensor names; I64 equal, floats within TOL
//                                     (norm-wise: max |out - expected| / max |expected|)
//   drop    IN OUT NAME               without tensor NAME
//   reshape IN OUT NAME D0 [D1 ...]   NAME with another shape of the same size
//   set     IN OUT NAME K VALUE       element K (flat) of the I64 tensor NAME set to VALUE
//   to-f32  IN OUT NAME               the I64 tensor NAME as F32
//   add     IN OUT NAME               plus NAME: zeros, I64, shaped like input_ids
//   tile    IN OUT R                  every [B, N] tensor repeated R times along N
// Exit status 0 on success, 1 on a failed comparison or any error (one line on stderr).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <ponet/io/safetensors.hpp>

namespace {

namespace io = ponet::io;

struct Entry {
  std::string name;
  io::DType dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};

std::vector<Entry> read(std::string const& path) {
  io::SafeTensorsFile f(path);
  std::vector<Entry> out;
  for (auto const& t : f.tensors()) {
    auto b = f.bytes(t.name);
    out.push_back({t.name, t.dtype, t.shape, std::vector<std::uint8_t>(b.begin(), b.end())});
  }
  return out;
}

void write(std::vector<Entry> const& entries, std::string const& path) {
  io::SafeTensorsWriter w;
  for (auto const& e : entries) w.add(e.name, e.dtype, e.shape, e.bytes.data(), e.bytes.size());
  w.write(path);
}

Entry& find(std::vector<Entry>& entries, std::string const& name) {
  for (auto& e : entries)
    if (e.name == name) return e;
  throw ponet::Error("no tensor '" + name + "'");
}

std::int64_t number(std::string const& s) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') throw ponet::Error("'" + s + "' is not an integer");
  return v;
}

template <class U>
std::vector<U> values(Entry const& e) {
  std::vector<U> v(e.bytes.size() / sizeof(U));
  if (!v.empty()) std::memcpy(v.data(), e.bytes.data(), e.bytes.size());
  return v;
}

template <class U>
std::vector<std::uint8_t> bytes_of(std::vector<U> const& v) {
  std::vector<std::uint8_t> b(v.size() * sizeof(U));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<double> reals(io::SafeTensorsFile const& f, std::string const& name) {
  io::TensorInfo const& t = f.info(name);
  if (t.dtype == io::DType::f64) {
    std::vector<double> v(std::size_t(t.numel));
    if (!v.empty()) std::memcpy(v.data(), f.bytes(name).data, v.size() * 8);
    return v;
  }
  std::vector<float> const x = f.to_float(name);
  return std::vector<double>(x.begin(), x.end());
}

int compare(std::string const& out_path, std::string const& expected_path, double tol) {
  io::SafeTensorsFile const out(out_path), ex(expected_path);
  if (out.names().size() != ex.names().size())
    throw ponet::Error(out_path + " holds " + std::to_string(out.names().size()) +
                       " tensors, expected " + std::to_string(ex.names().size()));
  bool ok = true;
  for (auto const& t : ex.tensors()) {
    io::TensorInfo const& o = out.info(t.name);
    if (o.shape != t.shape)
      throw ponet::Error("tensor '" + t.name + "' is " + io::detail::shape_string(o.shape) +
                         ", expected " + io::detail::shape_string(t.shape));
    if (t.dtype == io::DType::i64) {
      bool const same = o.dtype == io::DType::i64 && out.to_int64(t.name) == ex.to_int64(t.name);
      std::printf("%s: %s\n", t.name.c_str(), same ? "equal" : "DIFFERENT");
      ok = ok && same;
      continue;
    }
    std::vector<double> const a = reals(out, t.name), b = reals(ex, t.name);
    double diff = 0, scale = 0;
    for (std::size_t k = 0; k < a.size(); ++k) {
      double const d = std::abs(a[k] - b[k]);
      diff = std::isnan(d) ? INFINITY : std::max(diff, d);
      scale = std::max(scale, std::abs(b[k]));
    }
    double const err = scale > 0 ? diff / scale : diff;
    std::printf("%s (%s): max rel err %.3g\n", t.name.c_str(), io::dtype_name(o.dtype), err);
    ok = ok && err <= tol;
  }
  if (!ok)
    std::fprintf(stderr, "compare: %s differs from %s\n", out_path.c_str(), expected_path.c_str());
  return ok ? 0 : 1;
}

int edit(std::string const& what, std::vector<std::string> const& a) {
  if (a.size() < 3) throw ponet::Error(what + " needs IN OUT and arguments");
  auto entries = read(a[0]);
  if (what == "drop") {
    find(entries, a[2]);
    std::vector<Entry> kept;
    for (auto& e : entries)
      if (e.name != a[2]) kept.push_back(e);
    entries = kept;
  } else if (what == "reshape") {
    Entry& e = find(entries, a[2]);
    e.shape.clear();
    for (std::size_t k = 3; k < a.size(); ++k) e.shape.push_back(number(a[k]));
  } else if (what == "set") {
    if (a.size() != 5) throw ponet::Error("set needs IN OUT NAME K VALUE");
    Entry& e = find(entries, a[2]);
    if (e.dtype != io::DType::i64) throw ponet::Error("set works on I64 tensors");
    auto v = values<std::int64_t>(e);
    std::int64_t const k = number(a[3]);
    if (k < 0 || k >= std::int64_t(v.size())) throw ponet::Error("element out of range");
    v[std::size_t(k)] = number(a[4]);
    e.bytes = bytes_of(v);
  } else if (what == "to-f32") {
    Entry& e = find(entries, a[2]);
    std::vector<float> f;
    for (std::int64_t x : values<std::int64_t>(e)) f.push_back(float(x));
    e.dtype = io::DType::f32;
    e.bytes = bytes_of(f);
  } else if (what == "add") {
    Entry e = find(entries, "input_ids");
    e.name = a[2];
    std::fill(e.bytes.begin(), e.bytes.end(), 0);
    entries.push_back(e);
  } else if (what == "tile") {
    std::int64_t const r = number(a[2]);
    for (auto& e : entries) {
      if (e.shape.size() != 2 || e.dtype != io::DType::i64) continue;
      auto const v = values<std::int64_t>(e);
      std::int64_t const B = e.shape[0], N = e.shape[1];
      std::vector<std::int64_t> t;
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t k = 0; k < r; ++k)
          t.insert(t.end(), v.begin() + b * N, v.begin() + (b + 1) * N);
      e.shape[1] = N * r;
      e.bytes = bytes_of(t);
    }
  } else {
    throw ponet::Error("unknown command '" + what + "'");
  }
  write(entries, a[1]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw ponet::Error("usage: ponet-encode-testkit COMMAND ARGS...");
    std::string const what = argv[1];
    std::vector<std::string> const args(argv + 2, argv + argc);
    if (what == "compare") {
      if (args.size() != 3) throw ponet::Error("compare needs OUT EXPECTED TOL");
      return compare(args[0], args[1], std::strtod(args[2].c_str(), nullptr));
    }
    return edit(what, args);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "ponet-encode-testkit: %s\n", e.what());
    return 1;
  }
}
