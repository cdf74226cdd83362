// What ponet's example trainers share: command-line flags with one-line errors, the progress
// line, evaluation over a data split, peak memory, and the metrics file. Each trainer stays one
// file read top to bottom; the pieces that would otherwise be written twice live here.
// The device is chosen at compile time: a trainer compiled as CUDA with PONET_TRAIN_CUDA defined
// (examples/CMakeLists.txt: ponet-train-*-cuda) trains on the GPU, otherwise on the CPU; --device
// names the one the binary was built for, and the other gives a one-line error.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <ponet/io/batches.hpp>
#include <ponet/io/listops.hpp>
#include <ponet/nn.hpp>
#include <ponet/nn/models.hpp>

#if defined(PONET_TRAIN_CUDA)
#include <ponet/cuda/ponet.cuh>
#endif

namespace train {

#if defined(PONET_TRAIN_CUDA)
using Device = ponet::cuda_tag;
using Optimizer = ponet::cuda::AdamW<float>;  // moments on the device
#else
using Device = ponet::cpu_tag;
using Optimizer = ponet::nn::AdamW<float>;
#endif
using Model = ponet::nn::Model<float, Device>;

// A host tensor's view on the training device: the tensor itself on the CPU, else a copy kept in
// `keep` (blocking upload).
template <class T>
ponet::View<T const, Device> on_device(ponet::Tensor<T> const& host,
                                       ponet::Tensor<T, Device>& keep) {
  if constexpr (std::is_same_v<Device, ponet::cpu_tag>) {
    return host.cview();
  } else {
    keep.resize(host.shape());
    ponet::Memory<Device>::upload(keep.data(), host.data(), host.bytes());
    return keep.cview();
  }
}

// A host copy of a device tensor (a plain copy on the CPU).
template <class T>
ponet::Tensor<T> on_host(ponet::Tensor<T, Device> const& t) {
  ponet::Tensor<T> h(t.shape(), ponet::uninitialized);
  ponet::Memory<Device>::download(h.data(), t.data(), t.bytes());
  return h;
}

// A bad flag or value: the trainer prints "<program>: <message>" and exits with status 2.
struct UsageError : ponet::Error {
  using ponet::Error::Error;
};

// --name value flags bound to variables; --name alone for booleans.
class Flags {
 public:
  void add(std::string name, int* v, std::string help) { add_number(name, v, help, 1, 1 << 30); }
  void add(std::string name, std::int64_t* v, std::string help) {
    add_number<std::int64_t>(name, v, help, 1, std::int64_t(1) << 40);
  }
  void add(std::string name, std::uint64_t* v, std::string help) {
    add_number<std::uint64_t>(name, v, help, 0, std::uint64_t(1) << 62);
  }
  void add(std::string name, double* v, std::string help) {
    flags_[name] = {
        [v, name](std::string const& s) {
          char* end = nullptr;
          double d = std::strtod(s.c_str(), &end);
          if (s.empty() || *end != '\0' || !std::isfinite(d) || d < 0)
            throw UsageError("--" + name + " needs a non-negative number, got '" + s + "'");
          *v = d;
        },
        std::move(help), std::to_string(*v), true};
  }
  void add(std::string name, std::string* v, std::string help) {
    flags_[name] = {[v](std::string const& s) { *v = s; }, std::move(help), *v, true};
  }
  void add(std::string name, bool* v, std::string help) {
    flags_[name] = {[v](std::string const&) { *v = true; }, std::move(help), "", false};
  }

  // Returns false when --help was printed.
  bool parse(int argc, char** argv, std::string const& usage) {
    for (int a = 1; a < argc; ++a) {
      std::string arg = argv[a];
      if (arg == "--help" || arg == "-h") {
        std::printf("%s\n\nflags:\n", usage.c_str());
        for (auto const& [name, f] : flags_)
          std::printf("  --%-18s %s%s\n", name.c_str(), f.help.c_str(),
                      f.takes_value ? (" (default " + f.shown + ")").c_str() : "");
        return false;
      }
      if (arg.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + arg + "'");
      auto it = flags_.find(arg.substr(2));
      if (it == flags_.end()) throw UsageError("unknown flag " + arg + " (try --help)");
      if (!it->second.takes_value) {
        it->second.set("");
        continue;
      }
      if (a + 1 >= argc) throw UsageError(arg + " needs a value");
      it->second.set(argv[++a]);
    }
    return true;
  }

 private:
  struct Flag {
    std::function<void(std::string const&)> set;
    std::string help, shown;
    bool takes_value;
  };
  template <class N>
  void add_number(std::string const& name, N* v, std::string help, N lo, N hi) {
    flags_[name] = {[v, name, lo, hi](std::string const& s) {
                      char* end = nullptr;
                      long long x = std::strtoll(s.c_str(), &end, 10);
                      if (s.empty() || *end != '\0' || x < (long long)lo || x > (long long)hi)
                        throw UsageError("--" + name + " needs an integer in [" +
                                         std::to_string(lo) + ", " + std::to_string(hi) +
                                         "], got '" + s + "'");
                      *v = N(x);
                    },
                    std::move(help), std::to_string(*v), true};
  }
  std::map<std::string, Flag> flags_;
};

// Peak resident memory of this process, in MiB.
inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

inline std::string duration(double seconds) {
  int s = int(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", s / 3600, s / 60 % 60);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
  return buf;
}

// One line per report; on a terminal the line is also refreshed in place between reports.
class Progress {
 public:
  Progress(std::int64_t total, std::int64_t first_step)
      : total_(total), first_(first_step), tty_(isatty(fileno(stdout)) != 0) {}

  void step(std::int64_t step, double loss, double accuracy, double tokens, double lr,
            bool report) {
    auto now = Clock::now();
    double const elapsed = std::chrono::duration<double>(now - start_).count();
    tokens_ += tokens;
    double const done = double(step + 1 - first_);
    double const eta = done > 0 ? elapsed / done * double(total_ - step - 1) : 0;
    char line[256];
    std::snprintf(line, sizeof line,
                  "step %6lld/%lld  loss %.4f  acc %.3f  lr %.2e  %7.0f tok/s  ETA %s",
                  (long long)step + 1, (long long)total_, loss, accuracy, lr,
                  elapsed > 0 ? tokens_ / elapsed : 0.0, duration(eta).c_str());
    if (report) {
      std::printf(tty_ ? "\r%s\n" : "%s\n", line);
      std::fflush(stdout);
    } else if (tty_) {
      std::printf("\r%s", line);
      std::fflush(stdout);
    }
  }
  double tokens_per_second() const {
    double s = std::chrono::duration<double>(Clock::now() - start_).count();
    return s > 0 ? tokens_ / s : 0;
  }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  std::int64_t total_, first_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
  double tokens_ = 0;
};

struct Evaluation {
  double loss = 0;
  double accuracy = 0;
  std::vector<int> predictions, labels;  // in example order
};

// Accuracy and mean loss of `model` over every example of `data` (no dropout, no shuffling).
inline Evaluation evaluate(Model& model, std::vector<ponet::io::Example> data, int batch_size,
                           int max_len) {
  ponet::io::BatcherConfig bc;
  bc.batch_size = batch_size;
  bc.max_len = max_len;
  bc.shuffle = false;
  bc.drop_last = false;
  ponet::io::Batcher batches(std::move(data), bc, 0);
  Evaluation e;
  double loss = 0;
  std::size_t seen = 0, correct = 0;
  ponet::io::Batch batch;
  ponet::Tensor<std::int32_t, Device> ids;
  ponet::Tensor<std::uint8_t, Device> valid;
  for (std::size_t k = 0; k < batches.batches_per_epoch(); ++k) {
    batches.next(batch);
    auto r = model.forward(on_device(batch.ids, ids), on_device(batch.valid, valid), batch.labels,
                           false, 0);
    auto const logits = on_host(model.logits());
    for (int b = 0; b < batch.size(); ++b) {
      int arg = 0;
      for (int c = 1; c < logits.D(); ++c) arg = logits(b, 0, c) > logits(b, 0, arg) ? c : arg;
      e.predictions.push_back(arg);
      e.labels.push_back(batch.labels[b]);
    }
    loss += r.loss * batch.size();
    correct += std::size_t(r.correct);
    seen += std::size_t(batch.size());
  }
  e.loss = seen ? loss / double(seen) : 0;
  e.accuracy = seen ? double(correct) / double(seen) : 0;
  return e;
}

// Macro-averaged F1 over the classes present in labels or predictions.
inline double macro_f1(std::vector<int> const& labels, std::vector<int> const& predictions,
                       int classes) {
  double sum = 0;
  int counted = 0;
  for (int c = 0; c < classes; ++c) {
    double tp = 0, fp = 0, fn = 0;
    for (std::size_t k = 0; k < labels.size(); ++k) {
      tp += labels[k] == c && predictions[k] == c;
      fp += labels[k] != c && predictions[k] == c;
      fn += labels[k] == c && predictions[k] != c;
    }
    if (tp + fp + fn == 0) continue;
    sum += 2 * tp / (2 * tp + fp + fn);
    ++counted;
  }
  return counted ? sum / counted : 0;
}

// The training loop both trainers run: one AdamW step per batch, a progress line every
// `log_every` steps, dev evaluation every `eval_every`, an atomic checkpoint every
// `checkpoint_every` (and at the end), and optionally each step's exact loss in a log file.
struct LoopOptions {
  std::int64_t total = 0;
  int eval_every = 250, log_every = 10, checkpoint_every = 500, batch = 32, max_len = 2000;
  std::int64_t stop_after = 0;  // stop after this step (tests of resuming), 0: never
  std::uint64_t seed = 1;
  std::string checkpoint, loss_log;             // empty: none
  std::map<std::string, std::string> identity;  // checkpoint metadata a resume must match
};

struct LoopResult {
  double train_loss = 0, dev_accuracy = -1, tokens_per_second = 0, seconds = 0;
  bool stopped = false;  // by stop_after
};

inline LoopResult train_loop(Model& net, Optimizer& opt, ponet::io::Batcher& batches,
                             std::vector<ponet::io::Example> const& dev, LoopOptions const& o) {
  namespace nn = ponet::nn;
  LoopResult res;
  Progress progress(o.total, opt.steps());
  std::FILE* losses = o.loss_log.empty() ? nullptr : std::fopen(o.loss_log.c_str(), "a");
  if (!o.loss_log.empty() && !losses) throw ponet::Error("cannot open --loss-log " + o.loss_log);
  ponet::io::Batch b;
  ponet::Tensor<std::int32_t, Device> ids;
  ponet::Tensor<std::uint8_t, Device> valid;
  double acc_avg = 0;
  std::int64_t const first = opt.steps();
  for (std::int64_t step = first; step < o.total; ++step) {
    batches.next(b);
    auto r = net.forward(on_device(b.ids, ids), on_device(b.valid, valid), b.labels, true,
                         nn::dropout_seed(o.seed, int(step), 1));
    net.params().zero_grad();
    net.backward();
    if (losses) {
      std::fprintf(losses, "%lld %a\n", (long long)step + 1, r.loss);
      std::fflush(losses);
    }
    double const lr = nn::learning_rate(opt.config(), step);
    opt.step(net.params().values().data(), net.params().grads().data(), net.params().size());
    double tokens = 0;
    for (std::uint8_t v : b.valid) tokens += v;
    double const k = step == first ? 1.0 : 0.05;  // running means over ~20 steps
    res.train_loss += k * (r.loss - res.train_loss);
    acc_avg += k * (double(r.correct) / b.size() - acc_avg);
    bool const last = step + 1 == o.total;
    progress.step(step, res.train_loss, acc_avg, tokens, lr, (step + 1) % o.log_every == 0 || last);
    if ((step + 1) % o.eval_every == 0 || last) {
      auto d = evaluate(net, dev, o.batch, o.max_len);
      res.dev_accuracy = d.accuracy;
      std::printf("  dev: loss %.4f  accuracy %.4f\n", d.loss, d.accuracy);
    }
#if !defined(PONET_TRAIN_CUDA)  // RunConfig::finish refuses --checkpoint on the GPU
    if (!o.checkpoint.empty() && ((step + 1) % o.checkpoint_every == 0 || last)) {
      nn::save_checkpoint(o.checkpoint, net.params(), opt, batches.state().to_bytes(), o.identity);
      std::printf("  saved %s (step %lld)\n", o.checkpoint.c_str(), (long long)step + 1);
    }
#endif
    if (o.stop_after > 0 && step + 1 >= o.stop_after && !last) {
      std::printf("stopping after step %lld (--stop-after)\n", (long long)step + 1);
      res.stopped = true;
      break;
    }
  }
  if (losses) std::fclose(losses);
  res.tokens_per_second = progress.tokens_per_second();
  res.seconds = progress.seconds();
  return res;
}

// What both trainers configure the same way: model, optimizer, loop and run flags.
struct RunConfig {
  ponet::nn::MixerChoice mixer;
  ponet::nn::ClassifierConfig model;
  ponet::nn::AdamWConfig optim;
  int batch = 32, eval_every = 250, log_every = 10, checkpoint_every = 500, threads = 0;
  std::uint64_t seed = 1;
  std::string checkpoint_dir, metrics_out, loss_log;
  std::string device = std::is_same_v<Device, ponet::cpu_tag> ? "cpu" : "cuda";
  bool resume = false;
  std::int64_t stop_after = 0;

  void add_flags(Flags& f) {
    f.add("model", &mixer.name, "token mixer: ponet, transformer or fnet");
    f.add("steps", &optim.total, "training steps");
    f.add("batch", &batch, "sequences per step");
    f.add("lr", &optim.lr, "peak learning rate");
    f.add("warmup", &optim.warmup, "linear warm-up steps");
    f.add("weight-decay", &optim.weight_decay, "AdamW weight decay");
    f.add("clip", &optim.clip_norm, "gradient clipping by global norm (0: off)");
    f.add("dim", &model.D, "model width D");
    f.add("heads", &mixer.heads, "heads");
    f.add("ffn", &model.ffn, "feed-forward width");
    f.add("layers", &model.layers, "encoder layers");
    f.add("dropout", &model.dropout, "dropout probability");
    f.add("segment-num", &model.segment_num, "PoNet's segments per sequence (LRA chunks)");
    f.add("window", &mixer.window, "PoNet's local max-pooling window");
    f.add("eval-every", &eval_every, "steps between dev evaluations");
    f.add("log-every", &log_every, "steps between progress lines");
    f.add("seed", &seed, "seed for data, initialisation, order and dropout");
    f.add("threads", &threads, "threads (0: all)");
    f.add("device", &device, "cpu or cuda: the device this binary was built for");
    f.add("checkpoint", &checkpoint_dir, "directory for checkpoint.safetensors");
    f.add("checkpoint-every", &checkpoint_every, "steps between checkpoints");
    f.add("resume", &resume, "continue from --checkpoint");
    f.add("stop-after", &stop_after, "stop after this step (for tests of resuming)");
    f.add("metrics-out", &metrics_out, "write final metrics as JSON here");
    f.add("loss-log", &loss_log, "append each step's loss (exact, hex float) to this file");
  }
  // Checks and applies what parsing cannot: thread count, --resume without a directory.
  void finish() {
    std::string const built = std::is_same_v<Device, ponet::cpu_tag> ? "cpu" : "cuda";
    if (device != "cpu" && device != "cuda")
      throw UsageError("--device must be cpu or cuda, got '" + device + "'");
    if (device == "cuda" && built == "cpu")
      throw UsageError(
          "--device cuda: this binary was built for the CPU; use its -cuda twin (built when CMake "
          "finds nvcc)");
    if (device == "cpu" && built == "cuda")
      throw UsageError("--device cpu: this binary was built for CUDA; use the CPU trainer");
    if (built == "cuda" && !checkpoint_dir.empty())
      throw UsageError("--checkpoint: not supported with --device cuda yet");
    if (threads > 0) ponet::cpu::set_num_threads(threads);
    if (checkpoint_dir.empty() && resume) throw UsageError("--resume needs --checkpoint DIR");
    mixer.reproducible = !checkpoint_dir.empty();  // a resumed run must compute the same bits
  }
  // The checkpoint metadata a resume must match.
  std::map<std::string, std::string> identity(std::string const& task, std::size_t params) const {
    return {{"task", task},
            {"model", mixer.name},
            {"dim", std::to_string(model.D)},
            {"heads", std::to_string(mixer.heads)},
            {"ffn", std::to_string(model.ffn)},
            {"layers", std::to_string(model.layers)},
            {"segment_num", std::to_string(model.segment_num)},
            {"window", std::to_string(mixer.window)},
            {"batch", std::to_string(batch)},
            {"steps", std::to_string(optim.total)},
            {"seed", std::to_string(seed)},
            {"params", std::to_string(params)}};
  }
};

struct Trained {
  std::unique_ptr<Model> net;
  LoopResult run;
  std::map<std::string, std::string> identity;
};

// Builds the model and optimizer, resumes from the checkpoint when asked, and trains.
inline Trained fit(RunConfig const& c, std::string const& task,
                   std::vector<ponet::io::Example> const& train,
                   std::vector<ponet::io::Example> const& dev, int max_len) {
  namespace nn = ponet::nn;
  ponet::io::BatcherConfig bc;
  bc.batch_size = c.batch;
  bc.max_len = max_len;
  ponet::io::Batcher batches(train, bc, c.seed);

  Trained t;
  t.net = nn::make_classifier<Device>(c.mixer, c.model, c.seed);
  Optimizer opt(c.optim, t.net->params().size());
  t.identity = c.identity(task, t.net->params().size());
  std::printf("model: %s, %zu parameters, D=%d, %d layers, %s\n", c.mixer.name.c_str(),
              t.net->params().size(), c.model.D, c.model.layers,
              std::is_same_v<Device, ponet::cpu_tag>
                  ? (std::to_string(ponet::cpu::max_threads()) + " threads").c_str()
                  : "CUDA");

  std::string checkpoint;
  if (!c.checkpoint_dir.empty()) {
    std::filesystem::create_directories(c.checkpoint_dir);
    checkpoint = c.checkpoint_dir + "/checkpoint.safetensors";
  }
#if !defined(PONET_TRAIN_CUDA)
  if (c.resume) {
    if (!std::filesystem::exists(checkpoint))
      throw ponet::Error("--resume: no checkpoint at " + checkpoint);
    batches.restore(nn::load_checkpoint(checkpoint, t.net->params(), opt, t.identity));
    std::printf("resumed from %s at step %lld\n", checkpoint.c_str(), (long long)opt.steps());
  }
#endif

  LoopOptions o;
  o.total = c.optim.total;
  o.eval_every = c.eval_every, o.log_every = c.log_every, o.batch = c.batch;
  o.checkpoint_every = c.checkpoint_every, o.max_len = max_len;
  o.stop_after = c.stop_after, o.seed = c.seed;
  o.checkpoint = checkpoint, o.loss_log = c.loss_log, o.identity = t.identity;
  t.run = train_loop(*t.net, opt, batches, dev, o);
  return t;
}

// The metrics file's common part: configuration, training figures, memory.
inline nlohmann::json metrics(Trained const& t, RunConfig const& c) {
  nlohmann::json j;
  for (auto const& [key, value] : t.identity) j["config"][key] = value;
  j["config"]["lr"] = c.optim.lr;
  j["config"]["warmup"] = c.optim.warmup;
  j["config"]["dropout"] = c.model.dropout;
  j["dev_accuracy"] = t.run.dev_accuracy;
  j["train_loss"] = t.run.train_loss;
  j["tokens_per_second"] = t.run.tokens_per_second;
  j["seconds"] = t.run.seconds;
  j["peak_rss_mib"] = peak_rss_mib();
  j["threads"] = ponet::cpu::max_threads();
  j["device"] = c.device;
#if defined(PONET_TRAIN_CUDA)
  j["device_peak_mib"] = double(ponet::cuda::memory_stats().peak) / (1024.0 * 1024.0);
#endif
  return j;
}

inline void write_json(std::string const& path, nlohmann::json const& j) {
  ponet::io::detail::write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace train
