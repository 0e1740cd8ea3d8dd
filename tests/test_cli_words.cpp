// `recur` on word-level language models (--tokens word), run as a subprocess on a tiny
// model and a made-up corpus: explicit --val/--test files, the test measurement at the
// end, the vocabulary options, tied weights, eval, sample and info on a word model, and the
// bad input of issue 12, each a one-line error that leaves the previous run as it was.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_helpers.hpp"
#include "recur/recur.hpp"

namespace recur {
namespace {

using nlohmann::json;

const Args kTinyWords = {"--tokens", "word", "--hidden", "16", "--embed", "8", "--batch-size", "4",
                         "--seq-length", "8",   "--threads", "1"};

// `count` sentences of a small grammar, the same for a seed: 25 words, most sentences of
// 5 to 9 words ending in "." (an LCG picks the words).
std::string sentences(int count, std::uint32_t seed) {
  const std::vector<std::string> subjects = {"the cat", "a dog", "the old man", "my sister", "the bird"};
  const std::vector<std::string> verbs = {"sees", "likes", "follows", "finds", "hears"};
  const std::vector<std::string> objects = {"the ball", "a tree", "the river", "some bread", "the small house"};
  const std::vector<std::string> endings = {"today", "again", "in the morning", "near the river", ""};
  std::string text;
  std::uint32_t state = seed;
  auto pick = [&](const std::vector<std::string>& from) -> const std::string& {
    state = state * 1103515245u + 12345u;
    return from[(state >> 16) % from.size()];
  };
  for (int i = 0; i < count; ++i) {
    text += pick(subjects) + " " + pick(verbs) + " " + pick(objects);
    const std::string& ending = pick(endings);
    text += (ending.empty() ? "" : " " + ending) + " .\n";
  }
  return text;
}

class CliWords : public testing::Test {
 protected:
  // One small word-level run with explicit validation and test files, that the tests read.
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("recur_cli_words_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    write_bytes(root_ / "train.txt", sentences(300, 1));
    write_bytes(root_ / "valid.txt", sentences(30, 2));
    write_bytes(root_ / "test.txt", sentences(30, 3) + "the zebra sees a unicorn .\n");
    Result r = collect(spawn_recur(base_args() + Args{"--max-steps", "60", "--eval-every", "30", "--json"},
                                   root_ / "base-run"),
                       root_ / "base-run");
    ASSERT_TRUE(r.ok()) << r;
    summary_ = r.out;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  void SetUp() override {
    dir_ = root_ / testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }

  static Args base_args() {
    return Args{"train", (root_ / "train.txt").string(), "--val", (root_ / "valid.txt").string(), "--test",
                (root_ / "test.txt").string(), "--out", base().string()} + kTinyWords;
  }
  static fs::path base() { return root_ / "base"; }
  static std::string model() { return (base() / "best.safetensors").string(); }

  Result recur(const Args& args) { return collect(spawn_recur(args, capture()), capture()); }
  fs::path capture() { return dir_ / ("run" + std::to_string(runs_)); }
  // A copy of base/ that a failing command must leave as it was.
  fs::path previous_run() {
    const fs::path copy = dir_ / "previous";
    fs::copy(base(), copy, fs::copy_options::recursive);
    return copy;
  }
  void expect_error_leaving(const fs::path& dir, const Args& args, const std::vector<std::string>& fragments) {
    ++runs_;
    expect_error_leaving_files(dir, [&] { return recur(args); }, args, fragments);
  }
  Args train_into(const fs::path& out, const Args& more) {
    return Args{"train", (root_ / "train.txt").string(), "--out", out.string()} + kTinyWords + more;
  }

  static fs::path root_;
  static std::string summary_;
  fs::path dir_;
  int runs_ = 0;
};

fs::path CliWords::root_;
std::string CliWords::summary_;

TEST_F(CliWords, TrainsOnTheFilesAndMeasuresTheBestModelOnTheTestFile) {
  const json s = json::parse(summary_);
  for (const char* key : {"tokens_per_sec", "val_loss", "best_val_loss", "test_loss", "test_perplexity"})
    EXPECT_TRUE(s.contains(key)) << key << " missing in " << summary_;
  EXPECT_NEAR(s.at("test_perplexity").get<double>(), std::exp(s.at("test_loss").get<double>()), 1e-9);
  EXPECT_LT(s.at("test_loss").get<double>(), std::log(30.0));  // learnt something: better than uniform
  // The test loss is the best model's: eval of best.safetensors on the test file agrees up
  // to the streams' reset points (4 streams against one).
  Result eval = recur({"eval", model(), (root_ / "test.txt").string(), "--json", "--threads", "1"});
  ASSERT_TRUE(eval.ok()) << eval;
  EXPECT_NEAR(json::parse(eval.out).at("nats_per_token").get<double>(), s.at("test_loss").get<double>(), 0.05);
  // metrics.jsonl holds validation loss and perplexity per evaluation; samples are words.
  std::ifstream metrics(base() / "metrics.jsonl");
  std::string line;
  int records = 0;
  while (std::getline(metrics, line)) {
    const json m = json::parse(line);
    EXPECT_NEAR(m.at("val_perplexity").get<double>(), std::exp(m.at("val_loss").get<double>()), 1e-9);
    EXPECT_TRUE(m.contains("tokens_per_sec"));
    ++records;
  }
  EXPECT_EQ(records, 2);
  const train::LoadedLanguageModel loaded = train::load_language_model(model());
  std::ifstream samples(base() / "samples.jsonl");
  ASSERT_TRUE(std::getline(samples, line));
  std::istringstream words(json::parse(line).at("text").get<std::string>());
  int count = 0;
  for (std::string word; words >> word; ++count)
    EXPECT_TRUE(loaded.vocab.contains_word(word) || word == "<unk>") << word;
  EXPECT_GT(count, 100);  // 200 tokens, some of them line ends
}

TEST_F(CliWords, ModelFileHoldsTheWordVocabulary) {
  const train::LoadedLanguageModel loaded = train::load_language_model(model());
  const data::Vocab& v = loaded.vocab;
  EXPECT_EQ(v.mode(), data::TokenMode::Word);
  EXPECT_FALSE(v.lowercase());
  // The grammar's 27 words plus <unk> and <eos>; "." and <eos> end every sentence.
  EXPECT_EQ(v.size(), 29);
  EXPECT_EQ(v.token(v.end_index()), "<eos>");
  EXPECT_EQ(v.token(v.unknown_index()), "<unk>");
  EXPECT_EQ(v.unknown_index(), v.size() - 1);  // never seen in training: count 0, last
  const io::SafetensorsFile file = io::load_safetensors(model());
  const json config = json::parse(file.metadata.at("recur.config"));
  EXPECT_EQ(config.at("tokens"), "word");
  EXPECT_EQ(config.at("lowercase"), false);
  EXPECT_EQ(config.at("tie_weights"), false);
  // A word model's defaults where they differ from a char model's: dropout 0.3 (the embed
  // and seq-length defaults were given here).
  EXPECT_EQ(config.at("dropout"), 0.3);
}

TEST_F(CliWords, EvalCountsTokensAndUnknownWords) {
  // 2 sentences: 6 + 7 tokens with their <eos>, 2 words outside the vocabulary.
  write_bytes(dir_ / "two.txt", "the cat sees a zebra .\n\n  my sister hears the wombat .\n");
  Result r = recur({"eval", model(), (dir_ / "two.txt").string(), "--json", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(r.out);
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"tokens", "predicted", "nll_nats", "nats_per_token", "bits_per_token",
                                            "perplexity", "unknown"}));
  EXPECT_EQ(j.at("tokens"), 14);
  EXPECT_EQ(j.at("predicted"), 13);
  EXPECT_EQ(j.at("unknown"), 2);
  const double mean = j.at("nats_per_token");
  EXPECT_NEAR(j.at("nll_nats").get<double>() / 13, mean, 1e-12 * mean);
  EXPECT_NEAR(j.at("bits_per_token").get<double>(), mean / std::log(2.0), 1e-12);
  EXPECT_NEAR(j.at("perplexity").get<double>(), std::exp(mean), 1e-9 * std::exp(mean));
}

TEST_F(CliWords, SamplePrintsWordsAndLineEnds) {
  Result r = recur({"sample", model(), "--length", "40", "--seed", "5", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  // 40 tokens: words separated by single spaces, each <eos> a line break.
  std::size_t words = 0, line_ends = 0;
  for (std::size_t i = 0; i < r.out.size();) {
    if (r.out[i] == '\n') {
      ++line_ends, ++i;
      continue;
    }
    const std::size_t end = r.out.find_first_of(" \n", i);
    ++words;
    i = end == std::string::npos ? r.out.size() : end;
    if (i < r.out.size() && r.out[i] == ' ') {
      ++i;
      EXPECT_NE(r.out[i], ' ') << r.out;
    }
  }
  EXPECT_EQ(words + line_ends, 40u) << r.out;
  EXPECT_GT(line_ends, 0u) << r.out;
  // A prime is read as words; an unknown one is <unk>, with a note on stderr.
  Result primed = recur({"sample", model(), "--prime", "the zebra", "--length", "3", "--seed", "5", "--threads", "1"});
  ASSERT_TRUE(primed.ok()) << primed;
  EXPECT_EQ(primed.out.rfind("the zebra", 0), 0u) << primed.out;
  EXPECT_NE(primed.err.find("1 word of --prime not in the vocabulary"), std::string::npos) << primed.err;
  EXPECT_EQ(recur({"sample", model(), "--prime", "the zebra", "--length", "3", "--seed", "5", "--threads", "1",
                   "--stream"}).out,
            primed.out);
}

TEST_F(CliWords, ScoreGivesOneObjectPerLineWhateverTheBatching) {
  // A blank line is a sentence of one token (<eos>); "zebra" and "unicorn" are unknown.
  write_bytes(dir_ / "lines.txt", "the cat sees a tree .\n\nthe zebra likes a unicorn .\nmy sister hears the bird");
  Result r = recur({"score", model(), (dir_ / "lines.txt").string(), "--per-token", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  ASSERT_EQ(count_lines(r.out), 4u) << r.out;  // the last line has no '\n' but is a line
  std::istringstream lines(r.out);
  std::vector<json> scores;
  for (std::string line; std::getline(lines, line);) scores.push_back(json::parse(line));
  const std::vector<int> tokens = {7, 1, 7, 6}, unknown = {0, 0, 2, 0};
  ASSERT_EQ(scores.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(scores[i].at("tokens"), tokens[i]);
    EXPECT_EQ(scores[i].at("unknown"), unknown[i]);
    const double logprob = scores[i].at("logprob");
    EXPECT_LT(logprob, 0);
    EXPECT_NEAR(scores[i].at("perplexity").get<double>(), std::exp(-logprob / tokens[i]), 1e-9 * std::exp(-logprob));
    double sum = 0;
    for (double term : scores[i].at("token_logprobs")) sum += term;
    EXPECT_NEAR(sum, logprob, 1e-9);
  }
  // The same numbers from stdin, one sentence at a time, and without --per-token.
  const Args args = {"score", model(), "-", "--batch-size", "1", "--threads", "1"};
  Result one = collect(spawn_recur(args, dir_ / "stdin-run", dir_ / "lines.txt"), dir_ / "stdin-run");
  ASSERT_TRUE(one.ok()) << one;
  std::istringstream one_lines(one.out);
  std::size_t i = 0;
  for (std::string line; std::getline(one_lines, line); ++i) {
    const json j = json::parse(line);
    EXPECT_FALSE(j.contains("token_logprobs"));
    EXPECT_NEAR(j.at("logprob").get<double>(), scores[i].at("logprob").get<double>(),
                1e-5 * std::abs(scores[i].at("logprob").get<double>()));
  }
  EXPECT_EQ(i, 4u);
}

TEST_F(CliWords, ScoreBadInputIsAOneLineError) {
  write_bytes(dir_ / "bad.txt", "the cat .\nthe \xFF dog .\n");
  expect_error_line(recur({"score", model(), (dir_ / "bad.txt").string()}),
                    {"bad.txt: line 2", "invalid UTF-8", "byte offset 4"});
  expect_error_line(recur({"score", (dir_ / "missing.safetensors").string(), (root_ / "valid.txt").string()}),
                    {"missing.safetensors"});
  write_bytes(dir_ / "corrupt.safetensors", read_bytes(model()).substr(0, 100));
  expect_error_line(recur({"score", (dir_ / "corrupt.safetensors").string(), (root_ / "valid.txt").string()}),
                    {"corrupt.safetensors"});
  // A char model trained on text without line breaks cannot score lines.
  write_bytes(dir_ / "one-line.txt", std::string(400, 'a') + std::string(400, 'b'));
  Result trained = recur({"train", (dir_ / "one-line.txt").string(), "--out", (dir_ / "chars").string(), "--hidden",
                          "8", "--embed", "4", "--batch-size", "2", "--seq-length", "8", "--max-steps", "1",
                          "--threads", "1"});
  ASSERT_TRUE(trained.ok()) << trained;
  expect_error_line(recur({"score", (dir_ / "chars" / "best.safetensors").string(), (root_ / "valid.txt").string()}),
                    {"best.safetensors", "no line break in its vocabulary"});
}

TEST_F(CliWords, InfoNamesTheTokensAndSpecials) {
  Result r = recur({"info", model()});
  ASSERT_TRUE(r.ok()) << r;
  const data::Vocab vocab = train::load_language_model(model()).vocab;
  const std::string tokens = "tokens      words (split at whitespace, <eos> ending each line), <unk> at " +
                             std::to_string(vocab.unknown_index()) + ", <eos> at " +
                             std::to_string(vocab.end_index());
  EXPECT_NE(r.out.find(tokens), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--tokens word"), std::string::npos) << r.out;
}

TEST_F(CliWords, MinCountMaxVocabLowercaseAndTiedWeights) {
  const fs::path out = dir_ / "run";
  Result r = recur(train_into(out, {"--min-count", "40", "--max-vocab", "12", "--lowercase", "--tie-weights",
                                    "--embed", "16", "--max-steps", "3", "--val-fraction", "0.1"}));
  ASSERT_TRUE(r.ok()) << r;
  const train::LoadedLanguageModel loaded = train::load_language_model((out / "best.safetensors").string());
  EXPECT_EQ(loaded.vocab.size(), 12);
  EXPECT_TRUE(loaded.vocab.lowercase());
  EXPECT_TRUE(loaded.model->config.tie_weights);
  // Tied: one tensor under both names in the model, and both names, equal, in the file, so
  // PyTorch's strict load_state_dict takes it.
  EXPECT_EQ(&loaded.model->embed->weight.impl(), &loaded.model->head->weight.impl());
  const io::SafetensorsFile file = io::load_safetensors((out / "best.safetensors").string());
  const Tensor& embed = file.tensors.at("embed.weight");
  const Tensor& head = file.tensors.at("head.weight");
  ASSERT_EQ(embed.shape(), head.shape());
  EXPECT_EQ(std::memcmp(embed.raw_data(), head.raw_data(), embed.numel() * sizeof(float)), 0);
}

TEST_F(CliWords, SplitPunctuationReadsAttachedPunctuationAsWords) {
  // The training text with each sentence's "." attached to its last word: split, it has the
  // base run's vocabulary.
  std::string attached = sentences(300, 1);
  for (std::size_t at; (at = attached.find(" .")) != std::string::npos;) attached.erase(at, 1);
  write_bytes(dir_ / "attached.txt", attached);
  const fs::path out = dir_ / "run";
  Result r = recur(Args{"train", (dir_ / "attached.txt").string(), "--out", out.string(), "--split-punctuation",
                        "--max-steps", "2"} + kTinyWords);
  ASSERT_TRUE(r.ok()) << r;
  const train::LoadedLanguageModel loaded = train::load_language_model((out / "best.safetensors").string());
  EXPECT_TRUE(loaded.vocab.split_punctuation());
  EXPECT_EQ(loaded.vocab.tokens(), train::load_language_model(model()).vocab.tokens());
  // score reads by the model's rule: "tree." is "tree" and ".".
  write_bytes(dir_ / "lines.txt", "the cat sees a tree.\nthe cat sees a tree .\n");
  Result scored = recur({"score", (out / "best.safetensors").string(), (dir_ / "lines.txt").string()});
  ASSERT_TRUE(scored.ok()) << scored;
  const std::vector<std::string> lines = lines_of_output(scored.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], lines[1]);
  EXPECT_EQ(json::parse(lines[0]).at("unknown"), 0);
}

TEST_F(CliWords, AdaptiveSoftmaxTrainsEvaluatesAndSamples) {
  const fs::path out = dir_ / "adaptive";
  Result r = recur(train_into(out, {"--adaptive-softmax", "6,15", "--max-steps", "40", "--val-fraction", "0.1",
                                    "--json"}));
  ASSERT_TRUE(r.ok()) << r;
  const std::string best = (out / "best.safetensors").string();
  const train::LoadedLanguageModel loaded = train::load_language_model(best);
  EXPECT_EQ(loaded.model->config.adaptive_softmax, (std::vector<std::int64_t>{6, 15}));
  const io::SafetensorsFile file = io::load_safetensors(best);
  EXPECT_TRUE(file.tensors.count("head.tail.1.1.weight"));
  EXPECT_LT(json::parse(r.out).at("val_loss").get<double>(), std::log(29.0));
  Result sample = recur({"sample", best, "--length", "20", "--seed", "1", "--threads", "1"});
  ASSERT_TRUE(sample.ok()) << sample;
  EXPECT_FALSE(sample.out.empty());
  Result eval = recur({"eval", best, (root_ / "valid.txt").string(), "--json", "--threads", "1"});
  ASSERT_TRUE(eval.ok()) << eval;
}

TEST_F(CliWords, ResumedRunContinuesExactly) {
  // 20 steps then --resume to 40 (the original command repeated) give the 40-step run's
  // metrics and weights: the word defaults, the vocabulary and the files come back from the
  // checkpoint.
  const Args flags = {"--val", (root_ / "valid.txt").string(), "--eval-every", "10", "--seed", "3"};
  Result whole = recur(train_into(dir_ / "whole", flags + Args{"--max-steps", "40"}));
  ASSERT_TRUE(whole.ok()) << whole;
  Result first = recur(train_into(dir_ / "split", flags + Args{"--max-steps", "20"}));
  ASSERT_TRUE(first.ok()) << first;
  Result resumed = recur(train_into(dir_ / "split", flags + Args{"--max-steps", "40", "--resume"}));
  ASSERT_TRUE(resumed.ok()) << resumed;
  auto losses = [](const fs::path& path) {
    std::vector<double> values;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      const json j = json::parse(line);
      values.push_back(j.at("train_loss"));
      values.push_back(j.at("val_loss"));
    }
    return values;
  };
  EXPECT_EQ(losses(dir_ / "whole" / "metrics.jsonl").size(), 8u);
  EXPECT_EQ(losses(dir_ / "whole" / "metrics.jsonl"), losses(dir_ / "split" / "metrics.jsonl"));
  const TensorMap a = io::load_safetensors((dir_ / "whole" / "best.safetensors").string()).tensors;
  const TensorMap b = io::load_safetensors((dir_ / "split" / "best.safetensors").string()).tensors;
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a)
    EXPECT_EQ(std::memcmp(tensor.raw_data(), b.at(name).raw_data(), tensor.numel() * 4), 0) << name;
}

TEST_F(CliWords, ExplicitFilesWorkForCharModelsToo) {
  const fs::path out = dir_ / "chars";
  Result r = recur({"train", (root_ / "train.txt").string(), "--val", (root_ / "valid.txt").string(), "--out",
                    out.string(), "--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-length", "8",
                    "--threads", "1", "--max-steps", "5", "--json"});
  ASSERT_TRUE(r.ok()) << r;
  const json s = json::parse(r.out);
  EXPECT_TRUE(s.contains("chars_per_sec"));
  EXPECT_TRUE(s.at("val_loss").is_number());
  EXPECT_FALSE(s.contains("test_loss"));  // no --test: TEXT is all training text
}

// ------------------------------------------------------------------ bad input

TEST_F(CliWords, BadInputIsAOneLineErrorThatLeavesThePreviousRun) {
  const fs::path out = previous_run();
  write_bytes(dir_ / "blank.txt", " \n\t\n\n");
  expect_error_leaving(out, Args{"train", (dir_ / "blank.txt").string(), "--out", out.string()} + kTinyWords,
                       {"blank.txt", "has no words"});
  expect_error_leaving(out, train_into(out, {"--min-count", "0"}), {"--min-count"});
  expect_error_leaving(out, train_into(out, {"--max-vocab", "2"}), {"--max-vocab", "at least 3", "got 2"});
  expect_error_leaving(out, train_into(out, {"--tie-weights"}),
                       {"--tie-weights", "--embed 8", "--hidden 16"});
  expect_error_leaving(out, train_into(out, {"--val", (dir_ / "missing.txt").string()}), {"missing.txt"});
  write_bytes(dir_ / "empty.txt", "");
  expect_error_leaving(out, train_into(out, {"--val", (dir_ / "empty.txt").string()}),
                       {"--val", "empty.txt", "has no words"});
  write_bytes(dir_ / "bad.txt", "the cat .\nthe \xC3\x28 dog .\n");
  expect_error_leaving(out, train_into(out, {"--test", (dir_ / "bad.txt").string()}),
                       {"bad.txt", "invalid UTF-8", "byte offset 14"});
  expect_error_leaving(out, train_into(out, {"--tokens", "bpe"}), {"--tokens"});
  expect_error_leaving(out, train_into(out, {"--adaptive-softmax", "10,5"}),
                       {"--adaptive-softmax", "must increase", "10 then 5"});
  expect_error_leaving(out, train_into(out, {"--adaptive-softmax", "10,x"}), {"--adaptive-softmax", "\"x\""});
  expect_error_leaving(out, train_into(out, {"--adaptive-softmax", "10,29"}),
                       {"--adaptive-softmax", "cutoff 29", "vocabulary size 29"});
  expect_error_leaving(out, Args{"train", (root_ / "train.txt").string(), "--out", out.string(), "--min-count", "2"},
                       {"--min-count", "word models"});
  expect_error_leaving(out, Args{"train", (root_ / "train.txt").string(), "--out", out.string(), "--split-punctuation"},
                       {"--split-punctuation", "word models"});
}

}  // namespace
}  // namespace recur
