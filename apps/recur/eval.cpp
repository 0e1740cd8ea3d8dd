// recur eval MODEL TEXT: a language model's negative log-likelihood of the text. The text is
// tokenised as in training (a word model's unknown words become <unk>), the state starts at
// zero and the model predicts tokens 2..N of the whole stream from their prefixes.
// recur eval CLASSIFIER DATA: a classifier on labelled texts (label<TAB>text lines): loss,
// accuracy, macro-F1, per-class scores and the confusion matrix. recur eval TAGGER DATA: a
// tagger on CoNLL sentences: token accuracy, accuracy outside the vocabulary, entity scores
// for BIO tags. recur eval SEQ2SEQ DATA: a sequence-to-sequence model on source<TAB>target
// lines (those sharing a source are one example with several correct targets): loss per target
// token, token and sequence error rates of its beam search output, BLEU for word targets.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

#include "commands.hpp"

namespace recur::cli {
namespace {

struct EvalOptions {
  std::string model, text;
  bool json = false, skip_unknown = false;
  std::int64_t beam = 5;
};

// The text's tokens: a character the model has no token for is an error, or with
// --skip-unknown is left out. (A vocabulary with "<unk>" has a token for every character.)
std::vector<std::int32_t> read_tokens(const EvalOptions& o, const data::Vocab& vocab) {
  if (vocab.mode() == data::TokenMode::Word) return data::encode_text(io::read_file(o.text), o.text, vocab);
  if (!o.skip_unknown) {
    try {
      return data::encode_text(io::read_file(o.text), o.text, vocab);
    } catch (const Error& e) {
      RECUR_FAIL(e.what() << "; the model is " << o.model << " (--skip-unknown leaves such characters out)");
    }
  }
  std::u32string text = data::read_utf8_file(o.text);
  const std::size_t before = text.size();
  std::erase_if(text, [&](char32_t c) { return !vocab.contains(c); });
  const std::size_t skipped = before - text.size();
  if (skipped > 0) std::fprintf(stderr, "recur eval: left out %zu character%s outside the vocabulary\n", skipped,
                                skipped == 1 ? "" : "s");
  return vocab.encode(text);
}

void eval_classifier(const EvalOptions& o) {
  train::LoadedClassifier loaded = train::load_classifier(o.model);
  const std::vector<data::Sequence> examples =
      train::encode_labeled_texts(data::read_labeled_texts(o.text, loaded.vocab.mode()), loaded, o.text);
  double loss = 0;
  const train::ClassificationReport r = train::evaluate_classifier(*loaded.model, examples, loss);
  const std::int64_t C = loaded.labels.size();
  if (!o.json) {
    std::printf("%s: %zu examples, loss %.4f\n", o.text.c_str(), examples.size(), loss);
    for (const std::string& line : train::format_report(r, loaded.labels.names())) std::printf("%s\n", line.c_str());
    return;
  }
  nlohmann::ordered_json per_class;
  for (std::int64_t c = 0; c < C; ++c) {
    const train::ClassScores& s = r.per_class[c];
    per_class[loaded.labels.name(c)] = {
        {"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"support", s.support}};
  }
  nlohmann::ordered_json j{{"examples", r.examples}, {"loss", loss},
                           {"accuracy", r.accuracy}, {"macro_f1", r.macro_f1},
                           {"labels", loaded.labels.names()}, {"per_class", per_class},
                           {"confusion", r.confusion}};
  std::printf("%s\n", j.dump().c_str());
}

void eval_tagger(const EvalOptions& o) {
  train::LoadedTagger loaded = train::load_tagger(o.model);
  train::TaggedCorpus corpus;
  corpus.add_tagged(data::read_conll(o.text), loaded);
  const train::TaggingReport r = train::evaluate_tagger(*loaded.model, loaded, corpus);
  if (o.json) {
    nlohmann::ordered_json j{{"sentences", r.sentences}, {"tokens", r.tokens},         {"loss", r.loss},
                             {"accuracy", r.accuracy},   {"oov_tokens", r.oov_tokens}, {"oov_accuracy", r.oov_accuracy},
                             {"unknown_tags", corpus.unseen_tags}};
    if (r.bio) {
      j["entity_precision"] = r.entities.precision;
      j["entity_recall"] = r.entities.recall;
      j["entity_f1"] = r.entities.f1;
    }
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%s: %lld sentences, %lld tokens, loss %.4f\n", o.text.c_str(), static_cast<long long>(r.sentences),
              static_cast<long long>(r.tokens), r.loss);
  std::printf("accuracy %.4f; on the %lld tokens outside the vocabulary %.4f\n", r.accuracy,
              static_cast<long long>(r.oov_tokens), r.oov_accuracy);
  if (corpus.unseen_tags > 0)
    std::printf("%lld tokens have tags the model does not know (counted as errors)\n",
                static_cast<long long>(corpus.unseen_tags));
  if (r.bio)
    std::printf("entities: precision %.4f, recall %.4f, F1 %.4f (%lld true, %lld predicted, %lld found)\n",
                r.entities.precision, r.entities.recall, r.entities.f1, static_cast<long long>(r.entities.truth),
                static_cast<long long>(r.entities.predicted), static_cast<long long>(r.entities.found));
}

void eval_seq2seq(const EvalOptions& o) {
  train::LoadedSeq2Seq loaded = train::load_seq2seq(o.model);
  const std::vector<data::TextPair> pairs = data::read_text_pairs(o.text, loaded.source.mode(), loaded.target.mode());
  const std::vector<train::Seq2SeqExample> examples = train::encode_pairs(pairs, loaded);
  const train::Seq2SeqScores s =
      train::evaluate_seq2seq(*loaded.model, loaded, examples, {.beam = o.beam, .max_length = 0});
  const bool words = loaded.target.mode() == data::TokenMode::Word;
  if (o.json) {
    nlohmann::ordered_json j{{"examples", s.rates.examples},
                             {"token_error_rate", s.rates.token_error_rate()},
                             {"sequence_error_rate", s.rates.sequence_error_rate()},
                             {"loss", s.loss}};
    if (words) j["bleu"] = s.bleu.bleu();
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%lld examples (%zu pairs), beam %lld: token error rate %.4f (%lld errors in %lld target tokens), "
              "sequence error rate %.4f (%lld wrong), loss %.4f nats per target token\n",
              static_cast<long long>(s.rates.examples), pairs.size(), static_cast<long long>(o.beam),
              s.rates.token_error_rate(), static_cast<long long>(s.rates.token_errors),
              static_cast<long long>(s.rates.reference_tokens), s.rates.sequence_error_rate(),
              static_cast<long long>(s.rates.wrong_sequences), s.loss);
  if (words) std::printf("BLEU %.2f\n", 100 * s.bleu.bleu());
}

void run_eval(const EvalOptions& o) {
  const std::string task = train::model_task(io::read_safetensors_metadata(o.model), o.model);
  if (task == "classify") return eval_classifier(o);
  if (task == "tag") return eval_tagger(o);
  if (task == "seq2seq") return eval_seq2seq(o);
  train::LoadedLanguageModel loaded = train::load_language_model(o.model);
  const std::vector<std::int32_t> tokens = read_tokens(o, loaded.vocab);
  const auto count = static_cast<std::int64_t>(tokens.size());
  const bool words = loaded.vocab.mode() == data::TokenMode::Word;
  const char* unit = words ? "token" : "char";
  RECUR_CHECK(count >= 2, o.text << ": needs at least 2 " << unit << "s to predict one, has " << count);

  const double nll = loaded.model->nll(tokens);
  const std::int64_t predicted = count - 1;
  const double mean = nll / static_cast<double>(predicted);
  if (o.json) {
    nlohmann::ordered_json j;
    if (words) {
      const auto unknown = std::count(tokens.begin(), tokens.end(), loaded.vocab.unknown_index());
      j = {{"tokens", count},          {"predicted", predicted},
           {"nll_nats", nll},         {"nats_per_token", mean},
           {"bits_per_token", mean / std::log(2.0)}, {"perplexity", std::exp(mean)},
           {"unknown", unknown}};
    } else {
      j = {{"chars", count},        {"predicted", predicted},         {"nll_nats", nll},
           {"nats_per_char", mean}, {"bpc", mean / std::log(2.0)}, {"perplexity", std::exp(mean)}};
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %lld %s%s, %lld predicted\n", o.text.c_str(), static_cast<long long>(count),
                words ? "token" : "character", count == 1 ? "" : "s", static_cast<long long>(predicted));
    std::printf("negative log-likelihood %.4f nats\n", nll);
    std::printf("%.4f nats/%s, %.4f bits/%s, perplexity %.3f\n", mean, unit, mean / std::log(2.0), unit,
                std::exp(mean));
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "A language model's negative log-likelihood of a text; a classifier's, a tagger's or a "
              "sequence-to-sequence model's scores on labelled data");
  cmd->add_option("MODEL", options->model, "Model or checkpoint file")->required();
  cmd->add_option("TEXT", options->text,
                  "UTF-8 text file (a classifier: label<TAB>text lines; a tagger: CoNLL sentences; a "
                  "sequence-to-sequence model: source<TAB>target lines)")->required();
  cmd->add_flag("--json", options->json,
                "Print one JSON line: {chars, predicted, nll_nats, nats_per_char, bpc, perplexity} for a char "
                "model, {tokens, predicted, nll_nats, nats_per_token, bits_per_token, perplexity, unknown} for a "
                "word model, {examples, loss, accuracy, macro_f1, labels, per_class, confusion} for a classifier, "
                "{sentences, tokens, loss, accuracy, oov_tokens, oov_accuracy} and for BIO tags entity_precision, "
                "entity_recall, entity_f1 for a tagger, {examples, token_error_rate, sequence_error_rate, loss} and for "
                "word targets bleu for a sequence-to-sequence model");
  cmd->add_option("--beam", options->beam, "Sequence-to-sequence models: the beam search's width (1: greedy)")
      ->check(positive())
      ->capture_default_str();
  cmd->add_flag("--skip-unknown", options->skip_unknown,
                "Char models: leave out characters outside the vocabulary (a word model reads them as <unk>)");
  add_threads_option(*cmd);
  cmd->callback([options] { run_eval(*options); });
}

}  // namespace recur::cli
