// Training checkpoints: parameters, AdamW's moments and step, and the caller's data-pipeline
// state, in one safetensors file (ponet/io/safetensors.hpp) written atomically: a temporary
// file, fsync, rename. An interrupted save leaves the previous checkpoint intact, and a restore
// continues bit for bit (same thread count: BLAS kernels may split sums by thread).
// Metadata (string to string) carries the model's configuration so a restore can refuse a
// checkpoint of another model. docs/nn.md#checkpoints
#pragma once

#include <cstring>
#include <map>
#include <string>

#include "ponet/io/safetensors.hpp"
#include "ponet/nn/adamw.hpp"
#include "ponet/nn/params.hpp"

namespace ponet::nn {

inline constexpr char const* checkpoint_format = "ponet-checkpoint-1";

template <class T>
constexpr io::DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  return std::is_same_v<T, float> ? io::DType::f32 : io::DType::f64;
}

template <class T>
void save_checkpoint(std::string const& path, Params<T> const& params, AdamW<T> const& opt,
                     std::string const& data_state,
                     std::map<std::string, std::string> const& metadata) {
  io::SafeTensorsWriter w;
  std::int64_t const n = std::int64_t(params.size());
  w.add("params", dtype_of<T>(), {n}, params.values().data(), params.size() * sizeof(T));
  auto& o = const_cast<AdamW<T>&>(opt);
  w.add("adam.m", dtype_of<T>(), {n}, o.first_moment().data(), params.size() * sizeof(T));
  w.add("adam.v", dtype_of<T>(), {n}, o.second_moment().data(), params.size() * sizeof(T));
  std::int64_t const step = opt.steps();
  w.add("adam.step", io::DType::i64, {1}, &step, sizeof(step));
  w.add("data.state", io::DType::u8, {std::int64_t(data_state.size())}, data_state.data(),
        data_state.size());
  w.set_metadata("format", checkpoint_format);
  for (auto const& [k, v] : metadata) w.set_metadata(k, v);
  w.write(path);
}

// Restores into a model and optimizer built with the same configuration; throws naming the file
// and what differs (metadata values, parameter count, dtype).
template <class T>
std::string load_checkpoint(std::string const& path, Params<T>& params, AdamW<T>& opt,
                            std::map<std::string, std::string> const& expect) {
  io::SafeTensorsFile f(path);
  auto const& meta = f.metadata();
  auto get = [&](std::string const& key) -> std::string {
    auto it = meta.find(key);
    return it == meta.end() ? std::string("<missing>") : it->second;
  };
  if (get("format") != checkpoint_format)
    throw Error(path + ": not a ponet checkpoint (format " + get("format") + ")");
  for (auto const& [k, v] : expect)
    if (get(k) != v)
      throw Error(path + ": checkpoint has " + k + "=" + get(k) + " but this run has " + v);
  std::int64_t const n = std::int64_t(params.size());
  auto copy = [&](std::string const& name, T* dst) {
    auto const& info = f.info(name);
    if (info.dtype != dtype_of<T>() || info.shape != std::vector<std::int64_t>{n})
      throw Error(path + ": tensor '" + name + "' is " + io::dtype_name(info.dtype) + " " +
                  io::detail::shape_string(info.shape) + ", expected " +
                  io::dtype_name(dtype_of<T>()) + " [" + std::to_string(n) + "]");
    std::memcpy(dst, f.bytes(name).data, std::size_t(n) * sizeof(T));
  };
  copy("params", params.values().data());
  copy("adam.m", opt.first_moment().data());
  copy("adam.v", opt.second_moment().data());
  opt.set_steps(f.to_int64("adam.step").at(0));
  auto const state = f.bytes("data.state");
  return std::string(reinterpret_cast<char const*>(state.data), state.size);
}

}  // namespace ponet::nn
