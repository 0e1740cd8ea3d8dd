// `recur train --task classify | tag`, `recur eval`, `recur predict` and `recur info` on tiny
// synthetic sets. Classification: three labels, each text holding one word of its label's
// (and filler words shared by all), so that a correct classifier learns it in a few dozen
// steps and a broken one (a wrong pooling, labels crossed, padding read) does not. Tagging:
// made-up words whose suffix gives their tag, so that words never seen in training are
// tagged right only through the character features. Bad input of every kind is one error
// line, a non-zero exit and nothing overwritten (issue 13).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_helpers.hpp"
#include "recur/recur.hpp"

namespace recur {
namespace {

using nlohmann::json;

const Args kTiny = {"--hidden", "12", "--embed", "8", "--batch-size", "8", "--min-count", "1",
                    "--lr", "0.02", "--threads", "1"};

// `count` lines "LABEL<TAB>text": label i % 3 weighted 3:2:1 (pos, neg, meh), 2 to 9 filler
// words with the label's cue word at a random place; from a linear congruential generator.
std::string labelled_texts(int count, std::uint32_t state) {
  const std::vector<std::string> labels = {"pos", "neg", "meh"};
  const std::vector<std::vector<std::string>> cues = {{"good", "great"}, {"bad", "awful"}, {"fine", "okay"}};
  const std::vector<std::string> filler = {"the", "a", "film", "was", "and", "it", "plot", "very", "of", "to"};
  auto next = [&state](std::size_t n) {
    state = state * 1103515245u + 12345u;
    return static_cast<std::uint32_t>((state >> 16) % n);
  };
  std::string out;
  for (int i = 0; i < count; ++i) {
    const std::uint32_t pick = next(6), label = pick < 3 ? 0 : pick < 5 ? 1 : 2;
    const std::uint32_t words = 2 + next(8), cue_at = next(words + 1);
    std::string text;
    for (std::uint32_t w = 0; w <= words; ++w) {
      const std::string& word = w == cue_at ? cues[label][next(2)] : filler[next(filler.size())];
      text += (text.empty() ? "" : " ") + word;
    }
    out += labels[label] + "\t" + text + "\n";
  }
  return out;
}

class CliSequences : public testing::Test {
 protected:
  // One run that the tests read: 240 training texts, 60 validation, 60 test, 120 steps.
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("recur_cli_sequences_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    write_bytes(root_ / "train.tsv", labelled_texts(240, 1));
    write_bytes(root_ / "valid.tsv", labelled_texts(60, 2));
    write_bytes(root_ / "test.tsv", labelled_texts(60, 3));
    base_run_ = recur_in(root_ / "base-run", train_args(root_ / "base", {"--max-steps", "120", "--eval-every", "60",
                                                                           "--json"}));
    ASSERT_TRUE(base_run_.ok()) << base_run_;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  void SetUp() override {
    dir_ = root_ / testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }

  static Args train_args(const fs::path& out, const Args& more) {
    return Args{"train", "--task", "classify", (root_ / "train.tsv").string(), "--val", (root_ / "valid.tsv").string(),
                "--test", (root_ / "test.tsv").string(), "--out", out.string()} +
           kTiny + more;
  }
  static Result recur_in(const fs::path& capture, const Args& args, const fs::path& input = "/dev/null") {
    return collect(spawn_recur(args, capture, input), capture);
  }
  Result recur(const Args& args, const fs::path& input = "/dev/null") {
    return recur_in(dir_ / ("run" + std::to_string(++runs_)), args, input);
  }
  static std::string model() { return (root_ / "base" / "best.safetensors").string(); }
  void expect_error_leaving(const fs::path& dir, const Args& args, const std::vector<std::string>& fragments) {
    expect_error_leaving_files(dir, [&] { return recur(args); }, args, fragments);
  }

  static fs::path root_;
  static Result base_run_;
  fs::path dir_;
  int runs_ = 0;
};

fs::path CliSequences::root_;
Result CliSequences::base_run_;

TEST_F(CliSequences, TrainsAndReportsAccuracyAndMacroF1) {
  const json summary = json::parse(base_run_.out.substr(base_run_.out.rfind('{')));
  // About 0.98 to 1.0 at this seed; chance is 0.5 (the largest label's share).
  EXPECT_GE(summary.at("test_accuracy").get<double>(), 0.9) << summary;
  EXPECT_GE(summary.at("best_val_macro_f1").get<double>(), 0.85) << summary;
  EXPECT_GT(summary.at("examples_per_sec").get<double>(), 0);
  // Every evaluation logs the three figures.
  std::ifstream metrics(root_ / "base" / "metrics.jsonl");
  std::string line;
  int records = 0;
  while (std::getline(metrics, line)) {
    const json j = json::parse(line);
    for (const char* key : {"val_loss", "val_accuracy", "val_macro_f1"}) EXPECT_TRUE(j.contains(key)) << line;
    ++records;
  }
  EXPECT_EQ(records, 2);
  // loss.svg: accuracy and macro-F1 on the right axis beside the losses; the learning rate
  // and the gradient norm on a panel below.
  const std::string svg = read_bytes(root_ / "base" / "loss.svg");
  for (const char* text : {">val_accuracy</text>", ">val_macro_f1</text>", ">fraction (0 to 1)</text>",
                           ">learning rate</text>", ">lr</text>", ">grad_norm</text>"})
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  // The end: per-class scores and the confusion matrix of the best model on the test texts.
  for (const char* fragment : {"the best model on the test texts", "precision", "predicted:", "true:", "meh", "neg"})
    EXPECT_NE(base_run_.err.find(fragment), std::string::npos) << fragment << " missing in:\n" << base_run_.err;
}

TEST_F(CliSequences, EvalAndPredictAgree) {
  const std::string test = (root_ / "test.tsv").string();
  Result eval = recur({"eval", model(), test, "--json"});
  ASSERT_TRUE(eval.ok()) << eval;
  const json j = json::parse(eval.out);
  EXPECT_EQ(j.at("examples").get<int>(), 60);
  EXPECT_EQ(j.at("labels"), json({"meh", "neg", "pos"}));
  std::int64_t total = 0, diagonal = 0;
  for (int t = 0; t < 3; ++t)
    for (int p = 0; p < 3; ++p) total += j["confusion"][t][p].get<int>(), diagonal += t == p ? j["confusion"][t][p].get<int>() : 0;
  EXPECT_EQ(total, 60);
  EXPECT_DOUBLE_EQ(j.at("accuracy").get<double>(), static_cast<double>(diagonal) / 60);
  // predict on the labelled file reads the text after the tab; its labels give eval's accuracy.
  Result predicted = recur({"predict", model(), test});
  ASSERT_TRUE(predicted.ok()) << predicted;
  const std::vector<std::string> truth = lines_of_output(read_bytes(test)), lines = lines_of_output(predicted.out);
  ASSERT_EQ(lines.size(), 60u);
  int correct = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string label = lines[i].substr(0, lines[i].find('\t'));
    const double prob = std::stod(lines[i].substr(lines[i].find('\t') + 1));
    EXPECT_TRUE(prob > 1.0 / 3 && prob <= 1) << lines[i];  // the most probable of three
    correct += truth[i].substr(0, truth[i].find('\t')) == label;
  }
  EXPECT_EQ(correct, diagonal);
  // The same from standard input, texts only; --json gives every label's probability.
  std::string texts;
  for (std::string l : truth) texts += std::string(l.substr(l.find('\t') + 1)) + "\n";
  write_bytes(dir_ / "texts.txt", texts);
  Result from_stdin = recur({"predict", model()}, dir_ / "texts.txt");
  ASSERT_TRUE(from_stdin.ok()) << from_stdin;
  EXPECT_EQ(from_stdin.out, predicted.out);
  Result as_json = recur({"predict", model(), "-", "--json"}, dir_ / "texts.txt");
  ASSERT_TRUE(as_json.ok()) << as_json;
  const json first = json::parse(lines_of_output(as_json.out)[0]);
  double sum = 0;
  for (const auto& [name, p] : first.at("probs").items()) sum += p.get<double>();
  EXPECT_NEAR(sum, 1, 1e-6);  // float32 probabilities
  EXPECT_EQ(first.at("label").get<std::string>(), std::string(lines[0].substr(0, lines[0].find('\t'))));
  // An empty input is no examples: no output, and not an error.
  write_bytes(dir_ / "empty.txt", "");
  Result empty = recur({"predict", model(), (dir_ / "empty.txt").string()});
  EXPECT_TRUE(empty.ok()) << empty;
  EXPECT_EQ(empty.out, "");
}

TEST_F(CliSequences, InfoShowsTheTaskAndLabels) {
  Result r = recur({"info", model()});
  ASSERT_TRUE(r.ok()) << r;
  for (const char* fragment : {"task        classify", "labels      3: meh (", "max pooling", "bidirectional lstm",
                               "data: --task classify", "--pool max"})
    EXPECT_NE(r.out.find(fragment), std::string::npos) << fragment << " missing in:\n" << r.out;
}

TEST_F(CliSequences, WordsAreSplitAtPunctuationUnlessTurnedOff) {
  write_bytes(dir_ / "punct.tsv", "pos\tGood, GOOD film!\nneg\tbad film... Bad!\npos\tgood film!\nneg\tbad, bad\n");
  auto vocabulary_of = [&](const std::string& run, const Args& more) {
    const fs::path out = dir_ / run;
    Result r = recur(Args{"train", "--task", "classify", (dir_ / "punct.tsv").string(), "--val-fraction", "0",
                          "--test-fraction", "0", "--max-steps", "1", "--out", out.string()} + kTiny + more);
    EXPECT_TRUE(r.ok()) << r;
    auto tokens = json::parse(io::read_safetensors_metadata((out / "last.safetensors").string()).at("recur.vocab"))
                      .get<std::vector<std::string>>();
    std::sort(tokens.begin(), tokens.end());
    return tokens;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(vocabulary_of("default", {}),
            (V{"!", ",", "...", "<eos>", "<unk>", "Bad", "GOOD", "Good", "bad", "film", "good"}));
  EXPECT_EQ(vocabulary_of("as_written", {"--split-punctuation=false"}),
            (V{"<eos>", "<unk>", "Bad!", "GOOD", "Good,", "bad", "bad,", "film!", "film...", "good"}));
  EXPECT_EQ(vocabulary_of("lowercased", {"--lowercase"}), (V{"!", ",", "...", "<eos>", "<unk>", "bad", "film", "good"}));
  Result info = recur({"info", (dir_ / "lowercased" / "best.safetensors").string()});
  EXPECT_NE(info.out.find("words (split at whitespace and punctuation), lowercased"), std::string::npos) << info;
  // predict reads its texts by the model's rule.
  write_bytes(dir_ / "texts.txt", "GOOD!! film,bad\nGOOD !! film , bad\n");
  Result predicted = recur({"predict", (dir_ / "default" / "best.safetensors").string(), (dir_ / "texts.txt").string()});
  ASSERT_TRUE(predicted.ok()) << predicted;
  const std::vector<std::string> lines = lines_of_output(predicted.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], lines[1]);
  expect_error_leaving(dir_ / "default",
                       Args{"train", "--task", "classify", (dir_ / "punct.tsv").string(), "--tokens", "char",
                            "--split-punctuation", "--out", (dir_ / "default").string(), "--overwrite"},
                       {"--split-punctuation", "--tokens word"});
}

TEST_F(CliSequences, ResumedRunIsTheUninterruptedRun) {
  const Args half = {"--max-steps", "60", "--eval-every", "30"};
  ASSERT_TRUE(recur(train_args(dir_ / "resumed", half)).ok());
  Result resumed = recur(train_args(dir_ / "resumed", {"--max-steps", "120", "--eval-every", "30", "--resume"}));
  ASSERT_TRUE(resumed.ok()) << resumed;
  ASSERT_TRUE(recur(train_args(dir_ / "whole", {"--max-steps", "120", "--eval-every", "30"})).ok());
  const TensorMap a = io::load_safetensors((dir_ / "resumed" / "last.safetensors").string()).tensors;
  const TensorMap b = io::load_safetensors((dir_ / "whole" / "last.safetensors").string()).tensors;
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) EXPECT_EQ(tensor.to_vector<float>(), b.at(name).to_vector<float>()) << name;
  // Resumed as a language model (no --task), the run says which task it is.
  expect_error_leaving(dir_ / "resumed",
                       {"train", (root_ / "train.tsv").string(), "--out", (dir_ / "resumed").string(), "--resume"},
                       {"--task classify"});
}

TEST_F(CliSequences, StratifiedSplitKeepsEachLabelsShare) {
  // No --val / --test: 20% of each label to validation and to test.
  Result r = recur(Args{"train", "--task", "classify", (root_ / "train.tsv").string(), "--out", (dir_ / "run").string(),
                    "--val-fraction", "0.2", "--test-fraction", "0.2", "--max-steps", "1"} + kTiny);
  ASSERT_TRUE(r.ok()) << r;
  std::map<std::string, int> counts;
  for (std::string l : lines_of_output(read_bytes(root_ / "train.tsv"))) ++counts[std::string(l.substr(0, l.find('\t')))];
  const auto kept = [](int n) { return n - 2 * static_cast<int>(std::lround(0.2 * n)); };
  const std::string expected = std::to_string(kept(counts["meh"]) + kept(counts["neg"]) + kept(counts["pos"])) +
                               " training texts (meh " + std::to_string(kept(counts["meh"])) + ", neg " +
                               std::to_string(kept(counts["neg"])) + ", pos " + std::to_string(kept(counts["pos"])) + ")";
  EXPECT_NE(r.err.find(expected), std::string::npos) << expected << " missing in:\n" << r.err;
}

// ------------------------------------------------------------------ bad input

TEST_F(CliSequences, BadDataNamesFileAndLine) {
  const fs::path out = dir_ / "previous";
  fs::copy(root_ / "base", out, fs::copy_options::recursive);
  auto train_on = [&](const std::string& name, const std::string& bytes, const Args& more = {}) {
    write_bytes(dir_ / name, bytes);
    return Args{"train", "--task", "classify", (dir_ / name).string(), "--out", out.string(), "--overwrite"} + kTiny +
           more;
  };
  expect_error_leaving(out, train_on("one.tsv", "pos\tgood film\npos\tgreat film\npos\tgood\n", {"--val-fraction", "0", "--test-fraction", "0"}),
                       {"one.tsv", "\"pos\"", "at least two labels"});
  expect_error_leaving(out, train_on("notab.tsv", "pos\tgood film\nneg bad film\n"), {"notab.tsv line 2", "tab"});
  expect_error_leaving(out, train_on("empty_text.tsv", "pos\tgood film\nneg\t   \n"),
                       {"empty_text.tsv line 2", "has no words"});
  expect_error_leaving(out, train_on("latin1.tsv", "pos\tgood film\nneg\tbad caf\xE9\n"),
                       {"latin1.tsv line 2", "UTF-8"});
  write_bytes(dir_ / "val.tsv", "pos\tgood\nsad\tawful\n");
  expect_error_leaving(out, train_on("ok.tsv", labelled_texts(30, 4), {"--val", (dir_ / "val.tsv").string()}),
                       {"val.tsv line 2", "\"sad\"", "meh, neg, pos"});
  expect_error_leaving(out, train_on("ok.tsv", labelled_texts(30, 4), {"--pool", "median"}), {"--pool", "median"});
}

TEST_F(CliSequences, PredictRefusesALanguageModel) {
  const std::string lm = std::string(RECUR_TEST_FIXTURES) + "/word_model_torch_linear.safetensors";
  write_bytes(dir_ / "in.txt", "good film\n");
  expect_error_line(recur({"predict", lm, (dir_ / "in.txt").string()}), {"is a language model", "classifier"});
  // A line without words cannot be classified: the error names it.
  write_bytes(dir_ / "blank.txt", "good film\n \t \nbad\n");
  expect_error_line(recur({"predict", model(), (dir_ / "blank.txt").string()}), {"blank.txt line 2", "no words"});
}

// ------------------------------------------------------------------ tagging

// `count` CoNLL sentences of 3 to 8 words: "the" or "a" (det), or a made-up stem with the
// suffix of its tag: -ion (noun), -ed (verb), -ly (adv). Stems come from the first
// `stems` of a fixed list of 60, so a test set with more stems holds words unseen in
// training. `bio`: nouns are entities instead, B-N at the first of a run and I-N after.
std::string tagged_sentences(int count, std::uint32_t state, int stems, bool bio) {
  auto next = [&state](std::size_t n) {
    state = state * 1103515245u + 12345u;
    return static_cast<std::uint32_t>((state >> 16) % n);
  };
  std::vector<std::string> stem_list;
  std::uint32_t stem_state = 7;
  for (int i = 0; i < 60; ++i) {
    std::string stem;
    for (int c = 0; c < 4; ++c) {
      stem_state = stem_state * 1103515245u + 12345u;
      stem += static_cast<char>((c % 2 ? "aeiou" : "bcdfgklmnprstvz")[(stem_state >> 16) % (c % 2 ? 5 : 15)]);
    }
    stem_list.push_back(stem);
  }
  const std::vector<std::string> suffixes = {"ion", "ed", "ly"}, tags = {"noun", "verb", "adv"};
  std::string out;
  for (int i = 0; i < count; ++i) {
    const std::uint32_t words = 3 + next(6);
    bool in_noun = false;
    for (std::uint32_t w = 0; w < words; ++w) {
      const std::uint32_t kind = next(4);  // 0 det, 1 noun, 2 verb, 3 adv
      std::string word = kind == 0 ? (next(2) ? "the" : "a") : stem_list[next(stems)] + suffixes[kind - 1];
      std::string tag = kind == 0 ? "det" : tags[kind - 1];
      if (bio) tag = kind == 1 ? (in_noun ? "I-N" : "B-N") : "O";
      in_noun = kind == 1;
      out += word + (w % 2 ? "\t" : " ") + tag + "\n";  // fields by a tab or a space
    }
    out += "\n";
  }
  return out;
}

TEST_F(CliSequences, TaggerLearnsSuffixesOfUnseenWords) {
  write_bytes(dir_ / "train.conll", tagged_sentences(300, 1, 40, false));
  write_bytes(dir_ / "test.conll", "-DOCSTART- -X- O\n\n" + tagged_sentences(60, 2, 60, false));
  const fs::path out = dir_ / "run";
  Result r = recur({"train", "--task", "tag", (dir_ / "train.conll").string(), "--test", (dir_ / "test.conll").string(),
                    "--val", (dir_ / "test.conll").string(), "--out", out.string(), "--hidden", "16", "--embed", "8",
                    "--char-embed", "8", "--char-hidden", "8", "--batch-size", "16", "--lr", "0.02", "--max-steps",
                    "150", "--eval-every", "75", "--threads", "1", "--json"});
  ASSERT_TRUE(r.ok()) << r;
  const std::string model = (out / "best.safetensors").string();
  Result eval = recur({"eval", model, (dir_ / "test.conll").string(), "--json"});
  ASSERT_TRUE(eval.ok()) << eval;
  const json j = json::parse(eval.out);
  // About 1.0 and 0.98 at this seed; the most frequent tag would give about 0.3.
  EXPECT_GE(j.at("accuracy").get<double>(), 0.9) << j;
  EXPECT_GT(j.at("oov_tokens").get<int>(), 20) << j;
  EXPECT_GE(j.at("oov_accuracy").get<double>(), 0.8) << j;
  EXPECT_FALSE(j.contains("entity_f1"));  // not BIO tags
  const json summary = json::parse(r.out.substr(r.out.rfind('{')));
  EXPECT_DOUBLE_EQ(summary.at("test_accuracy").get<double>(), j.at("accuracy").get<double>());
  // A tag training never saw is no error: the word counts as tagged wrong.
  write_bytes(dir_ / "odd.conll", read_bytes(dir_ / "test.conll") + "the xyz\n\n");
  Result odd = recur({"eval", model, (dir_ / "odd.conll").string(), "--json"});
  ASSERT_TRUE(odd.ok()) << odd;
  const json k = json::parse(odd.out);
  EXPECT_EQ(k.at("unknown_tags").get<int>(), 1);
  EXPECT_EQ(k.at("tokens").get<int>(), j.at("tokens").get<int>() + 1);
  EXPECT_NEAR(k.at("accuracy").get<double>() * k.at("tokens").get<double>(),
              j.at("accuracy").get<double>() * j.at("tokens").get<double>(), 1e-9);
  // predict: a tag for every word, however long the sentence.
  std::string sentence;
  for (int i = 0; i < 300; ++i) sentence += i % 3 ? "bakuly " : "the ";
  write_bytes(dir_ / "in.txt", "a zomiion rilued\n\n" + sentence + "\n");
  Result tagged = recur({"predict", model, (dir_ / "in.txt").string()});
  ASSERT_TRUE(tagged.ok()) << tagged;
  EXPECT_EQ(tagged.out.substr(0, tagged.out.find("\n\n")), "a\tdet\nzomiion\tnoun\nrilued\tverb");
  EXPECT_EQ(count_lines(tagged.out), 3 + 1 + 1 + 300 + 1u);  // the empty sentence is a blank line
  Result as_json = recur({"predict", model, (dir_ / "in.txt").string(), "--json"});
  ASSERT_TRUE(as_json.ok()) << as_json;
  EXPECT_EQ(lines_of_output(as_json.out)[0], R"({"tokens":["a","zomiion","rilued"],"tags":["det","noun","verb"]})");
  Result info = recur({"info", model});
  EXPECT_NE(info.out.find("tags        4: adv ("), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("character features 8 -> 2x8"), std::string::npos) << info.out;
}

TEST_F(CliSequences, TaggerScoresBioEntities) {
  write_bytes(dir_ / "train.conll", tagged_sentences(200, 3, 40, true));
  write_bytes(dir_ / "valid.conll", tagged_sentences(40, 4, 40, true));
  const fs::path out = dir_ / "run";
  Result r = recur({"train", "--task", "tag", (dir_ / "train.conll").string(), "--val", (dir_ / "valid.conll").string(),
                    "--out", out.string(), "--hidden", "16", "--embed", "8", "--char-embed", "0", "--char-hidden", "0",
                    "--batch-size", "16", "--lr", "0.02", "--max-steps", "100", "--eval-every", "50", "--threads", "1",
                    "--json"});
  ASSERT_TRUE(r.ok()) << r;
  const json summary = json::parse(r.out.substr(r.out.rfind('{')));
  EXPECT_GE(summary.at("best_val_entity_f1").get<double>(), 0.9) << summary;  // the best model by entity F1
  Result eval = recur({"eval", (out / "best.safetensors").string(), (dir_ / "valid.conll").string(), "--json"});
  ASSERT_TRUE(eval.ok()) << eval;
  EXPECT_DOUBLE_EQ(json::parse(eval.out).at("entity_f1").get<double>(), summary.at("best_val_entity_f1").get<double>());
}

TEST_F(CliSequences, BadTaggingDataNamesFileAndLine) {
  const fs::path out = dir_ / "previous";
  fs::copy(root_ / "base", out, fs::copy_options::recursive);
  auto train_on = [&](const std::string& name, const std::string& bytes, const Args& more = {}) {
    write_bytes(dir_ / name, bytes);
    return Args{"train", "--task", "tag", (dir_ / name).string(), "--out", out.string(), "--overwrite"} + more;
  };
  expect_error_leaving(out, train_on("one_field.conll", "the det\ncat noun\nsat\n"), {"one_field.conll line 3"});
  expect_error_leaving(out, train_on("ok.conll", "the det\ncat noun\n", {"--char-embed", "0"}),
                       {"--char-embed", "--char-hidden"});
  // Fine-tuning keeps the model's tags: training words with a tag it lacks are refused.
  const fs::path tagger = dir_ / "tagger";
  ASSERT_TRUE(recur({"train", "--task", "tag", (dir_ / "ok.conll").string(), "--out", tagger.string(), "--max-steps",
                     "1", "--threads", "1"})
                  .ok());
  expect_error_leaving(out, train_on("new_tag.conll", "the det\ncat adj\n",
                                     {"--init-from", (tagger / "best.safetensors").string()}),
                       {"new_tag.conll", "1 training words have tags the model it starts from lacks"});
}

}  // namespace
}  // namespace recur
