// Character-model files (docs/FORMAT.md): one safetensors file holding the CharModel's
// tensors under PyTorch's names (embed.weight, rnn.weight_ih_l0, ..., head.weight,
// head.bias) and, in "__metadata__", the configuration ("recur.config", a JSON object) and
// the vocabulary ("recur.vocab", a JSON array of tokens in index order). A checkpoint is
// such a file with the training state beside the weights (train/checkpoint.hpp), so it can
// be given wherever a model file is expected.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "recur/data/text.hpp"
#include "recur/nn/char_model.hpp"
#include "recur/train/metadata_keys.hpp"

namespace recur::train {

// {"cell": "lstm", "layers": 2, "hidden": 256, "embed": 64, "vocab_size": 65, "dropout": 0,
//  "peephole": false}
std::string config_to_json(const nn::CharModelConfig& config);
// The inverse; unknown keys are ignored, a missing or mistyped required key is an Error
// naming `source` and the key, and the result is validated (nn::validate).
nn::CharModelConfig config_from_json(const std::string& json, const std::string& source);

// The metadata entries of a model file: recur.config and recur.vocab. Requires
// config.vocab_size == vocab.size() (checked).
std::map<std::string, std::string> model_metadata(const nn::CharModelConfig& config, const data::Vocab& vocab);

struct LoadedCharModel {
  std::shared_ptr<nn::CharModel> model;            // in evaluation mode
  data::Vocab vocab;
  std::map<std::string, std::string> metadata;     // all of the file's metadata
};

// Reads the model in the file at `path`: builds a CharModel from recur.config and loads
// every tensor whose name has no '/' into it strictly (a missing, unexpected or misshapen
// tensor is an Error naming it); tensors under "optimizer/", "train/", ... are ignored.
// float64 or half-precision files load as float32. Errors name `path`: a missing,
// unreadable or corrupt file, missing or invalid metadata, a vocabulary whose size is not
// the config's vocab_size.
LoadedCharModel load_char_model(const std::string& path);

// Writes the model's tensors (as float32) and model_metadata(model.config, vocab), plus `extra`
// metadata, to `path` atomically.
void save_char_model(const std::string& path, const nn::CharModel& model, const data::Vocab& vocab,
                     const std::map<std::string, std::string>& extra = {});

// The token a sample without a prime starts from: a line break when the vocabulary has
// one (the model starts as after a line), else token 0 (the most frequent character).
std::int64_t start_token(const data::Vocab& vocab);
// The text of token `token` in a sample: the unknown token prints as U+FFFD.
const std::string& printable_token(const data::Vocab& vocab, std::int64_t token);

}  // namespace recur::train
