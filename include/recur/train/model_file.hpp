// Model files (docs/FORMAT.md). A language-model file is one safetensors file holding the LanguageModel's
// tensors under PyTorch's names (embed.weight, rnn.weight_ih_l0, ..., head.weight,
// head.bias) and, in "__metadata__", the configuration ("recur.config", a JSON object: the
// architecture and how text becomes tokens) and the vocabulary ("recur.vocab", a JSON array
// of tokens in index order). A checkpoint is
// such a file with the training state beside the weights (train/checkpoint.hpp), so it can
// be given wherever a model file is expected. A classifier's file holds a
// SequenceClassifier's tensors, recur.config with "task": "classify", recur.vocab, and its
// labels (recur.labels, recur.label_counts); a tagger's likewise ("task": "tag"); a
// sequence-to-sequence model's has two vocabularies (recur.src_vocab, recur.tgt_vocab).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "recur/data/text.hpp"
#include "recur/data/sequences.hpp"
#include "recur/nn/language_model.hpp"
#include "recur/nn/seq2seq.hpp"
#include "recur/nn/sequence_classifier.hpp"
#include "recur/nn/sequence_tagger.hpp"
#include "recur/train/metadata_keys.hpp"

namespace recur::train {

// {"tokens": "char", "lowercase": false, "split_punctuation": false, "cell": "lstm",
//  "layers": 2, "hidden": 256, "embed": 64, "vocab_size": 65, "dropout": 0, "peephole": false,
//  "tie_weights": false} (and "adaptive_softmax": [cutoffs] with an adaptive head): the
// architecture, and vocab's mode, case folding and splitting.
std::string config_to_json(const nn::LanguageModelConfig& config, const data::Vocab& vocab);
// The architecture back; unknown keys are ignored, a missing or mistyped key is an Error
// naming `source` and the key (tie_weights, added later, may be missing: false), and the
// result is validated (nn::validate).
nn::LanguageModelConfig config_from_json(const std::string& json, const std::string& source);

// The metadata entries of a model file: recur.config and recur.vocab. Requires
// config.vocab_size == vocab.size() (checked).
std::map<std::string, std::string> model_metadata(const nn::LanguageModelConfig& config, const data::Vocab& vocab);

struct LoadedLanguageModel {
  std::shared_ptr<nn::LanguageModel> model;            // in evaluation mode
  data::Vocab vocab;
  std::map<std::string, std::string> metadata;     // all of the file's metadata
};

// Reads the model in the file at `path`: builds a LanguageModel from recur.config, the
// vocabulary from recur.vocab in the config's token mode ("tokens", "lowercase" and
// "split_punctuation"; files without them are char models, without splitting), and loads
// every tensor whose name has no '/' into it strictly (a missing, unexpected or misshapen
// tensor is an Error naming it); tensors under "optimizer/", "train/", ... are ignored.
// float64 or half-precision files load as float32. Errors name `path`: a missing,
// unreadable or corrupt file, missing or invalid metadata, a vocabulary whose size is not
// the config's vocab_size.
LoadedLanguageModel load_language_model(const std::string& path);

// Writes the model's tensors (as float32) and model_metadata(model.config, vocab), plus `extra`
// metadata, to `path` atomically.
void save_language_model(const std::string& path, const nn::LanguageModel& model, const data::Vocab& vocab,
                     const std::map<std::string, std::string>& extra = {});

// The task a model file holds: recur.config's "task" ("lm" when absent: files written
// before there were other tasks, and files without a config). An unknown task or unreadable
// config is an Error naming `path`.
std::string model_task(const std::map<std::string, std::string>& metadata, const std::string& path);

// What a classifier file holds besides the network: how text becomes tokens, and the labels.
struct ClassifierFacts {
  data::Vocab vocab;                        // its mode and case folding say how text is split
  data::Labels labels;                      // class c's name is labels.name(c)
  std::vector<std::int64_t> label_counts;   // training examples per label; empty when unknown
  std::int64_t max_length = 0;              // an example's first max_length tokens are read; 0: all
};

// recur.config {"task": "classify", "tokens", "lowercase", "split_punctuation", "max_length",
// "cell", "layers", "hidden", "embed", "vocab_size", "num_labels", "bidirectional", "pool",
// "dropout"},
// recur.vocab, recur.labels and (when known) recur.label_counts. Requires the config's
// vocab_size and num_labels to be the facts' (checked).
std::map<std::string, std::string> classifier_metadata(const ClassifierFacts& facts,
                                                       const nn::SequenceClassifierConfig& config);

struct LoadedClassifier : ClassifierFacts {
  std::shared_ptr<nn::SequenceClassifier> model;  // in evaluation mode
  std::map<std::string, std::string> metadata;    // all of the file's metadata
};

// Reads a classifier file as load_language_model reads a language model (strict tensor
// names and shapes, checkpoints accepted); a file of another task is an Error saying which.
LoadedClassifier load_classifier(const std::string& path);
// Writes the model's tensors (as float32), classifier_metadata and `extra` atomically.
void save_classifier(const std::string& path, const nn::SequenceClassifier& model, const ClassifierFacts& facts,
                     const std::map<std::string, std::string>& extra = {});

// What a tagger file holds besides the network.
struct TaggerFacts {
  data::Vocab vocab;                       // the words (word mode); its case folding
  data::Labels labels;                     // tag t's name is labels.name(t)
  std::vector<std::int64_t> label_counts;  // training tokens per tag; empty when unknown
  data::Vocab char_vocab;                  // character features' characters (<unk> last); empty without
};

// recur.config {"task": "tag", "tokens": "word", "lowercase", "cell", "layers", "hidden",
// "embed", "vocab_size", "num_labels", "bidirectional", "dropout", "char_vocab_size",
// "char_embed", "char_hidden"}, recur.vocab, recur.labels, recur.label_counts (when known) and,
// with character features, recur.char_vocab (JSON array of characters in index order).
std::map<std::string, std::string> tagger_metadata(const TaggerFacts& facts, const nn::SequenceTaggerConfig& config);

struct LoadedTagger : TaggerFacts {
  std::shared_ptr<nn::SequenceTagger> model;   // in evaluation mode
  std::map<std::string, std::string> metadata;  // all of the file's metadata
};
LoadedTagger load_tagger(const std::string& path);
void save_tagger(const std::string& path, const nn::SequenceTagger& model, const TaggerFacts& facts,
                 const std::map<std::string, std::string>& extra = {});

// What a sequence-to-sequence file holds besides the network: how sources and targets become
// tokens. The model's target tokens are the target vocabulary's, then <bos> and <eos>.
struct Seq2SeqFacts {
  data::Vocab source, target;
  std::int64_t bos() const { return target.size(); }
  std::int64_t eos() const { return target.size() + 1; }
};

// recur.config {"task": "seq2seq", "src_tokens", "tgt_tokens", "cell", "embed", "hidden",
// "enc_layers", "dec_layers", "bidirectional", "attention" ("bahdanau", "dot", "general" or
// "none"), "src_vocab_size", "tgt_vocab_size" (the model's: the target vocabulary + 2),
// "dropout"}, recur.src_vocab and recur.tgt_vocab. Requires the config's sizes to be the
// facts' (checked).
std::map<std::string, std::string> seq2seq_metadata(const Seq2SeqFacts& facts, const nn::Seq2SeqConfig& config);

struct LoadedSeq2Seq : Seq2SeqFacts {
  std::shared_ptr<nn::Seq2Seq> model;           // in evaluation mode
  std::map<std::string, std::string> metadata;  // all of the file's metadata
};
LoadedSeq2Seq load_seq2seq(const std::string& path);
void save_seq2seq(const std::string& path, const nn::Seq2Seq& model, const Seq2SeqFacts& facts,
                  const std::map<std::string, std::string>& extra = {});

// The token a sample without a prime starts from, so the model starts as after a line: a
// word model's <eos>; a char model's line break, or token 0 (the most frequent character)
// when it has none.
std::int64_t start_token(const data::Vocab& vocab);
// Appends a sampled token to `text` (Vocab::append_token: words separated by spaces, <eos>
// as a line break); a char model's unknown token prints as U+FFFD.
void append_sampled(std::string& text, const data::Vocab& vocab, std::int64_t token);

}  // namespace recur::train
