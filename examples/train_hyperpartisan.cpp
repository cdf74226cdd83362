// ponet-train-hyperpartisan: trains an LRA-style classifier from scratch on Hyperpartisan News
// Detection (SemEval 2019; ../shared/data/hyperpartisan: 516 / 64 / 65 train / dev / test news
// articles, label true or false) with PoNet, softmax attention or FNet as the token mixer, and
// reports test accuracy and macro-F1.
//
// Tokens: lower-cased words, vocabulary built from the training split (ponet/io/text.hpp);
// documents are cut at --max-len 4096 tokens. The same progress line, dev evaluation,
// checkpoint, resume and metrics options as ponet-train-listops.
//
//   ponet-train-hyperpartisan [--data ../shared/data/hyperpartisan] [--model ponet] ...
#include <cstdio>

#include <ponet/io/text.hpp>

#include "train_common.hpp"

using namespace ponet;

int main(int argc, char** argv) try {
  // ---- configuration -----------------------------------------------------------------------
  train::RunConfig run;
  run.model.classes = 2;
  run.model.segment_num = 64;
  run.batch = 8;
  run.optim.lr = 5e-4, run.optim.warmup = 100, run.optim.total = 1000;
  run.optim.weight_decay = 0.01;
  run.eval_every = 100;
  std::string data_dir = "../shared/data/hyperpartisan";
  int max_len = 4096, min_count = 3, vocab_size = 20000;

  train::Flags flags;
  run.add_flags(flags);
  flags.add("data", &data_dir, "directory of train.jsonl, dev.jsonl, test.jsonl");
  flags.add("max-len", &max_len, "tokens kept per document");
  flags.add("min-count", &min_count, "training-set occurrences a word needs to get an id");
  flags.add("vocab-size", &vocab_size, "largest vocabulary, [PAD] and [UNK] included");
  if (!flags.parse(argc, argv,
                   "ponet-train-hyperpartisan: PoNet, a Transformer or FNet on "
                   "Hyperpartisan News Detection"))
    return 0;
  run.finish();

  // ---- data ----------------------------------------------------------------------------------
  std::vector<std::string> const labels = {"false", "true"};
  auto read = [&](char const* split) {
    return io::read_labeled_jsonl(data_dir + "/" + split + ".jsonl", "text", "label", labels);
  };
  auto train_rows = read("train"), dev_rows = read("dev"), test_rows = read("test");
  auto vocab = io::WordVocab::build(train_rows, min_count, vocab_size);
  run.model.vocab = vocab.size();
  run.model.max_len = max_len;
  auto train_set = vocab.examples(train_rows, max_len);
  auto dev_set = vocab.examples(dev_rows, max_len), test_set = vocab.examples(test_rows, max_len);
  std::printf("data: %s, %zu / %zu / %zu documents, vocabulary %d words\n", data_dir.c_str(),
              train_set.size(), dev_set.size(), test_set.size(), vocab.size());

  // ---- model, training loop, checkpoints ----------------------------------------------------
  train::Trained t = train::fit(run, "hyperpartisan", train_set, dev_set, max_len);
  if (t.run.stopped) return 0;

  // ---- test and metrics ----------------------------------------------------------------------
  auto test = train::evaluate(*t.net, test_set, run.batch, max_len);
  double const f1 = train::macro_f1(test.labels, test.predictions, 2);
  std::printf("test: accuracy %.4f, macro-F1 %.4f, loss %.4f; %.0f tokens/s, peak %.0f MiB\n",
              test.accuracy, f1, test.loss, t.run.tokens_per_second, train::peak_rss_mib());
  if (!run.metrics_out.empty()) {
    nlohmann::json j = train::metrics(t, run);
    j["config"]["max_len"] = max_len;
    j["config"]["vocab"] = vocab.size();
    j["test_accuracy"] = test.accuracy;
    j["test_macro_f1"] = f1;
    j["test_loss"] = test.loss;
    train::write_json(run.metrics_out, j);
  }
  return 0;
} catch (train::UsageError const& e) {
  std::fprintf(stderr, "ponet-train-hyperpartisan: %s\n", e.what());
  return 2;
} catch (std::exception const& e) {
  std::fprintf(stderr, "ponet-train-hyperpartisan: %s\n", e.what());
  return 1;
}
