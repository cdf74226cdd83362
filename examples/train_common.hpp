// What ponet's example trainers share: command-line flags with one-line errors, the progress
// line, evaluation over a data split, peak memory, and the metrics file. Each trainer stays one
// file read top to bottom; the pieces that would otherwise be written twice live here.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <ponet/io/batches.hpp>
#include <ponet/io/listops.hpp>
#include <ponet/nn.hpp>

namespace train {

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
inline Evaluation evaluate(ponet::nn::Model<float>& model, std::vector<ponet::io::Example> data,
                           int batch_size, int max_len) {
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
  for (std::size_t k = 0; k < batches.batches_per_epoch(); ++k) {
    batches.next(batch);
    auto r = model.forward(batch.ids.cview(), batch.valid.cview(), batch.labels, false, 0);
    auto const& logits = model.logits();
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

inline void write_json(std::string const& path, nlohmann::json const& j) {
  ponet::io::detail::write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace train
