// Language-model files: configuration and vocabulary as JSON metadata beside the tensors.

#include "recur/train/model_file.hpp"

#include <optional>

#include <nlohmann/json.hpp>

#include "io/json_limits.hpp"
#include "recur/io/safetensors.hpp"
#include "recur/ops.hpp"

namespace recur::train {

std::string config_to_json(const nn::LanguageModelConfig& config, const data::Vocab& vocab) {
  nlohmann::ordered_json j;
  j["tokens"] = data::token_mode_name(vocab.mode());
  j["lowercase"] = vocab.lowercase();
  j["split_punctuation"] = vocab.split_punctuation();
  j["cell"] = config.cell;
  j["layers"] = config.layers;
  j["hidden"] = config.hidden;
  j["embed"] = config.embed;
  j["vocab_size"] = config.vocab_size;
  j["dropout"] = config.dropout;
  j["peephole"] = config.peephole;
  j["tie_weights"] = config.tie_weights;
  if (!config.adaptive_softmax.empty()) j["adaptive_softmax"] = config.adaptive_softmax;
  return j.dump();
}

namespace {

nlohmann::json parse_json(const std::string& text, const std::string& source, const char* key) {
  nlohmann::json j = io::parse_untrusted_json(text);
  RECUR_CHECK(!j.is_discarded(), source << ": metadata " << key << " is not valid JSON (nesting at most "
                                        << io::kMaxJsonDepth << " levels)");
  return j;
}

// The field `name` of recur.config; a file written before the field existed gets `fallback`
// when there is one.
template <typename T>
T field(const nlohmann::json& j, const char* name, const std::string& source, std::optional<T> fallback = {}) {
  if (!j.contains(name) && fallback) return *fallback;
  RECUR_CHECK(j.contains(name), source << ": " << kConfigKey << " lacks \"" << name << "\"");
  const nlohmann::json& value = j.at(name);
  bool fits = false;
  if constexpr (std::is_same_v<T, std::string>) fits = value.is_string();
  else if constexpr (std::is_same_v<T, bool>) fits = value.is_boolean();
  else if constexpr (std::is_same_v<T, double>) fits = value.is_number();
  else fits = value.is_number_integer();
  RECUR_CHECK(fits, source << ": " << kConfigKey << " field \"" << name
                           << "\" has the wrong type: " << io::excerpt(value.dump()));
  return value.get<T>();
}

// The metadata entry `key` of `file`, a JSON array of strings.
std::vector<std::string> string_array(const io::SafetensorsFile& file, const std::string& path, const char* key) {
  const nlohmann::json items = parse_json(file.metadata.at(key), path, key);
  RECUR_CHECK(items.is_array(), path << ": metadata " << key << " must be a JSON array of strings");
  std::vector<std::string> strings;
  for (const nlohmann::json& item : items) {
    RECUR_CHECK(item.is_string(),
                path << ": metadata " << key << " holds a non-string: " << io::excerpt(item.dump()));
    strings.push_back(item.get<std::string>());
  }
  return strings;
}

}  // namespace

nn::LanguageModelConfig config_from_json(const std::string& json, const std::string& source) {
  nlohmann::json j = parse_json(json, source, kConfigKey);
  RECUR_CHECK(j.is_object(), source << ": metadata " << kConfigKey << " must be a JSON object");
  nn::LanguageModelConfig config;
  config.cell = field<std::string>(j, "cell", source);
  config.layers = field<std::int64_t>(j, "layers", source);
  config.hidden = field<std::int64_t>(j, "hidden", source);
  config.embed = field<std::int64_t>(j, "embed", source);
  config.vocab_size = field<std::int64_t>(j, "vocab_size", source);
  config.dropout = field<double>(j, "dropout", source);
  config.peephole = field<bool>(j, "peephole", source);
  config.tie_weights = field<bool>(j, "tie_weights", source, false);
  if (j.contains("adaptive_softmax")) {
    const nlohmann::json& cutoffs = j.at("adaptive_softmax");
    RECUR_CHECK(cutoffs.is_array(), source << ": " << kConfigKey << " field \"adaptive_softmax\" must be an array");
    for (const nlohmann::json& c : cutoffs) {
      RECUR_CHECK(c.is_number_integer(), source << ": " << kConfigKey
                                                << " field \"adaptive_softmax\" holds a non-integer: "
                                                << io::excerpt(c.dump()));
      config.adaptive_softmax.push_back(c.get<std::int64_t>());
    }
  }
  try {
    nn::validate(config);
  } catch (const Error& e) {
    RECUR_FAIL(source << ": " << kConfigKey << ": " << e.what());
  }
  return config;
}

std::map<std::string, std::string> model_metadata(const nn::LanguageModelConfig& config, const data::Vocab& vocab) {
  RECUR_CHECK(config.vocab_size == vocab.size(), "model_metadata: the configuration's vocab_size "
                                                     << config.vocab_size << " differs from the vocabulary's size "
                                                     << vocab.size());
  return {{kConfigKey, config_to_json(config, vocab)}, {kVocabKey, nlohmann::json(vocab.tokens()).dump()}};
}

namespace {

// The vocabulary of a model file: recur.vocab's tokens in the token mode of its recur.config
// `j` ("tokens", "lowercase" and "split_punctuation"; files without them are char models,
// unsplit) and of the config's vocab_size. Errors name `path`.
data::Vocab read_vocab(const io::SafetensorsFile& file, const nlohmann::json& j, const std::string& path,
                       std::int64_t vocab_size, const char* key = kVocabKey, const char* mode_field = "tokens") {
  const std::string mode_name = field<std::string>(j, mode_field, path, std::string("char"));
  RECUR_CHECK(mode_name == "char" || mode_name == "word", path << ": " << kConfigKey << " field \"" << mode_field
                                                               << "\" must be \"char\" or \"word\", got \""
                                                               << mode_name << "\"");
  const data::TokenMode mode = data::parse_token_mode(mode_name);
  const bool lowercase = field<bool>(j, "lowercase", path, false);
  const bool split_punctuation = field<bool>(j, "split_punctuation", path, false);
  const std::vector<std::string> token_strings = string_array(file, path, key);
  data::Vocab vocab;
  try {
    vocab = data::Vocab::from_tokens(token_strings, mode, lowercase, split_punctuation);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << key << ": " << e.what());
  }
  RECUR_CHECK(vocab.size() == vocab_size, path << ": the vocabulary has " << vocab.size()
                                               << " tokens but the configuration says vocab_size " << vocab_size);
  return vocab;
}

// The file's tensors without a '/' in their name (a checkpoint's training state has one),
// as float32, loaded strictly into `model`; errors name `path`.
void load_weights(nn::Module& model, const io::SafetensorsFile& file, const std::string& path) {
  TensorMap weights;
  for (const auto& [name, tensor] : file.tensors)
    if (name.find('/') == std::string::npos) weights[name] = to_dtype(tensor, DType::Float32);
  try {
    model.load_state_dict(weights);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << e.what());
  }
  model.eval();
}

// Model(config) for the file at `path`. Every parameter of a model comes from its file, so
// it is built under an allocation limit of twice the file's tensors (as float32) and 1 MiB for
// the layers' other buffers: a configuration that asks for more than the file holds (layers
// 2^31, hidden 2^40) fails at once, naming the file, instead of allocating for hours.
template <class Model, class Config>
std::shared_ptr<Model> build_model(const Config& config, const io::SafetensorsFile& file, const std::string& path) {
  std::size_t bytes = 1 << 20;
  for (const auto& [name, tensor] : file.tensors)
    bytes += 2 * sizeof(float) * static_cast<std::size_t>(tensor.numel());
  try {
    AllocationLimit limit(bytes, "it describes a larger model than the file's tensors");
    return std::make_shared<Model>(config);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << kConfigKey << ": " << e.what());
  }
}

void save_model_file(const std::string& path, const nn::Module& model, std::map<std::string, std::string> metadata,
                     const std::map<std::string, std::string>& extra) {
  metadata.insert(extra.begin(), extra.end());
  TensorMap tensors = model.state_dict();
  for (auto& [name, tensor] : tensors) tensor = to_dtype(tensor, DType::Float32);  // the format is float32
  io::save_safetensors(path, tensors, metadata);
}

// "a language model", "a classifier", "a tagger": the kind of model a task's files hold.
const char* task_noun(const std::string& task) {
  return task == "lm"         ? "language model"
         : task == "classify" ? "classifier"
         : task == "tag"      ? "tagger"
                              : "sequence-to-sequence model";
}

// recur.labels (num_labels distinct names) and the optional recur.label_counts.
void read_labels(const io::SafetensorsFile& file, const std::string& path, std::int64_t num_labels,
                 data::Labels& labels, std::vector<std::int64_t>& counts) {
  RECUR_CHECK(file.metadata.count(kLabelsKey), path << ": no metadata \"" << kLabelsKey << "\" naming the labels");
  try {
    labels = data::Labels::from_names(string_array(file, path, kLabelsKey));
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << kLabelsKey << ": " << e.what());
  }
  RECUR_CHECK(labels.size() == num_labels,
              path << ": " << kLabelsKey << " names " << labels.size() << " labels but num_labels is " << num_labels);
  counts.clear();
  if (!file.metadata.count(kLabelCountsKey)) return;
  const nlohmann::json items = parse_json(file.metadata.at(kLabelCountsKey), path, kLabelCountsKey);
  RECUR_CHECK(items.is_array() && static_cast<std::int64_t>(items.size()) == num_labels,
              path << ": metadata " << kLabelCountsKey << " must be an array of " << num_labels << " counts");
  for (const nlohmann::json& c : items) {
    RECUR_CHECK(c.is_number_integer(),
                path << ": metadata " << kLabelCountsKey << " holds " << io::excerpt(c.dump()));
    counts.push_back(c.get<std::int64_t>());
  }
}

// recur.labels and recur.label_counts (when known) of a classifier or tagger.
void add_labels(std::map<std::string, std::string>& meta, const data::Labels& labels,
                const std::vector<std::int64_t>& counts) {
  meta[kLabelsKey] = nlohmann::json(labels.names()).dump();
  if (!counts.empty()) meta[kLabelCountsKey] = nlohmann::json(counts).dump();
}

// The file at `path` as a model of `task`: recur.config and recur.vocab (a seq2seq model:
// recur.src_vocab and recur.tgt_vocab) present and the
// config's task `task`; `config` gets recur.config parsed. Errors name `path`.
io::SafetensorsFile read_model_file(const std::string& path, const std::string& task, nlohmann::json& config) {
  io::SafetensorsFile file = io::load_safetensors(path);
  const std::vector<const char*> keys = task == "seq2seq" ? std::vector{kConfigKey, kSourceVocabKey, kTargetVocabKey}
                                                          : std::vector{kConfigKey, kVocabKey};
  for (const char* key : keys)
    RECUR_CHECK(file.metadata.count(key),
                path << ": not a recur " << task_noun(task) << " (no metadata \"" << key << "\")");
  const std::string found = model_task(file.metadata, path);
  RECUR_CHECK(found == task, path << ": a " << task_noun(found) << ", not a " << task_noun(task));
  config = parse_json(file.metadata.at(kConfigKey), path, kConfigKey);
  return file;
}

// The recurrent-network fields that a classifier's and a tagger's recur.config share
// (nn::SequenceClassifierConfig, nn::SequenceTaggerConfig), in the files' order.
template <typename Config>
void write_network_fields(nlohmann::ordered_json& j, const Config& config) {
  j["cell"] = config.cell;
  j["layers"] = config.layers;
  j["hidden"] = config.hidden;
  j["embed"] = config.embed;
  j["vocab_size"] = config.vocab_size;
  j["num_labels"] = config.num_labels;
  j["bidirectional"] = config.bidirectional;
}

template <typename Config>
void read_network_fields(const nlohmann::json& j, const std::string& path, Config& config) {
  config.cell = field<std::string>(j, "cell", path);
  config.layers = field<std::int64_t>(j, "layers", path);
  config.hidden = field<std::int64_t>(j, "hidden", path);
  config.embed = field<std::int64_t>(j, "embed", path);
  config.vocab_size = field<std::int64_t>(j, "vocab_size", path);
  config.num_labels = field<std::int64_t>(j, "num_labels", path);
  config.bidirectional = field<bool>(j, "bidirectional", path);
  config.dropout = field<double>(j, "dropout", path);
}

}  // namespace

LoadedLanguageModel load_language_model(const std::string& path) {
  nlohmann::json j;
  io::SafetensorsFile file = read_model_file(path, "lm", j);
  nn::LanguageModelConfig config = config_from_json(file.metadata.at(kConfigKey), path);
  data::Vocab vocab = read_vocab(file, j, path, config.vocab_size);
  auto model = build_model<nn::LanguageModel>(config, file, path);
  load_weights(*model, file, path);
  return {model, vocab, file.metadata};
}

void save_language_model(const std::string& path, const nn::LanguageModel& model, const data::Vocab& vocab,
                     const std::map<std::string, std::string>& extra) {
  save_model_file(path, model, model_metadata(model.config, vocab), extra);
}

std::string model_task(const std::map<std::string, std::string>& metadata, const std::string& path) {
  auto config = metadata.find(kConfigKey);
  if (config == metadata.end()) return "lm";
  const nlohmann::json j = parse_json(config->second, path, kConfigKey);
  RECUR_CHECK(j.is_object(), path << ": metadata " << kConfigKey << " must be a JSON object");
  const std::string task = field<std::string>(j, "task", path, std::string("lm"));
  RECUR_CHECK(task == "lm" || task == "classify" || task == "tag" || task == "seq2seq",
              path << ": " << kConfigKey << " field \"task\" is \"" << task
                   << "\"; this recur knows \"lm\", \"classify\", \"tag\" and \"seq2seq\"");
  return task;
}

std::map<std::string, std::string> classifier_metadata(const ClassifierFacts& facts,
                                                       const nn::SequenceClassifierConfig& config) {
  RECUR_CHECK(config.vocab_size == facts.vocab.size() && config.num_labels == facts.labels.size(),
              "classifier_metadata: the configuration's vocab_size " << config.vocab_size << " and num_labels "
                  << config.num_labels << " differ from the vocabulary's " << facts.vocab.size() << " and the labels' "
                  << facts.labels.size());
  nlohmann::ordered_json j;
  j["task"] = "classify";
  j["tokens"] = data::token_mode_name(facts.vocab.mode());
  j["lowercase"] = facts.vocab.lowercase();
  j["split_punctuation"] = facts.vocab.split_punctuation();
  j["max_length"] = facts.max_length;
  write_network_fields(j, config);
  j["pool"] = nn::pool_name(config.pool);
  j["dropout"] = config.dropout;
  std::map<std::string, std::string> meta{{kConfigKey, j.dump()},
                                          {kVocabKey, nlohmann::json(facts.vocab.tokens()).dump()}};
  add_labels(meta, facts.labels, facts.label_counts);
  return meta;
}

LoadedClassifier load_classifier(const std::string& path) {
  nlohmann::json j;
  io::SafetensorsFile file = read_model_file(path, "classify", j);
  nn::SequenceClassifierConfig config;
  read_network_fields(j, path, config);
  LoadedClassifier loaded;
  try {
    config.pool = nn::parse_pool(field<std::string>(j, "pool", path));
    nn::validate(config);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << e.what());
  }
  read_labels(file, path, config.num_labels, loaded.labels, loaded.label_counts);
  loaded.max_length = field<std::int64_t>(j, "max_length", path, std::int64_t{0});
  RECUR_CHECK(loaded.max_length >= 0, path << ": " << kConfigKey << " field \"max_length\" is negative");
  loaded.vocab = read_vocab(file, j, path, config.vocab_size);
  loaded.model = build_model<nn::SequenceClassifier>(config, file, path);
  load_weights(*loaded.model, file, path);
  loaded.metadata = file.metadata;
  return loaded;
}

void save_classifier(const std::string& path, const nn::SequenceClassifier& model, const ClassifierFacts& facts,
                     const std::map<std::string, std::string>& extra) {
  save_model_file(path, model, classifier_metadata(facts, model.config), extra);
}

std::map<std::string, std::string> tagger_metadata(const TaggerFacts& facts, const nn::SequenceTaggerConfig& config) {
  RECUR_CHECK(config.vocab_size == facts.vocab.size() && config.num_labels == facts.labels.size() &&
                  config.char_vocab_size == facts.char_vocab.size(),
              "tagger_metadata: the configuration's sizes differ from the vocabularies' and the tags'");
  nlohmann::ordered_json j;
  j["task"] = "tag";
  j["tokens"] = "word";
  j["lowercase"] = facts.vocab.lowercase();
  write_network_fields(j, config);
  j["dropout"] = config.dropout;
  j["char_vocab_size"] = config.char_vocab_size;
  j["char_embed"] = config.char_embed;
  j["char_hidden"] = config.char_hidden;
  std::map<std::string, std::string> meta{{kConfigKey, j.dump()},
                                          {kVocabKey, nlohmann::json(facts.vocab.tokens()).dump()}};
  add_labels(meta, facts.labels, facts.label_counts);
  if (config.char_embed > 0) meta[kCharVocabKey] = nlohmann::json(facts.char_vocab.tokens()).dump();
  return meta;
}

LoadedTagger load_tagger(const std::string& path) {
  nlohmann::json j;
  io::SafetensorsFile file = read_model_file(path, "tag", j);
  nn::SequenceTaggerConfig config;
  read_network_fields(j, path, config);
  config.char_vocab_size = field<std::int64_t>(j, "char_vocab_size", path);
  config.char_embed = field<std::int64_t>(j, "char_embed", path);
  config.char_hidden = field<std::int64_t>(j, "char_hidden", path);
  try {
    nn::validate(config);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << kConfigKey << ": " << e.what());
  }
  LoadedTagger loaded;
  read_labels(file, path, config.num_labels, loaded.labels, loaded.label_counts);
  loaded.vocab = read_vocab(file, j, path, config.vocab_size);
  RECUR_CHECK(loaded.vocab.mode() == data::TokenMode::Word, path << ": a tagger reads words (\"tokens\": \"word\")");
  if (config.char_embed > 0) {
    RECUR_CHECK(file.metadata.count(kCharVocabKey), path << ": character features without metadata \""
                                                         << kCharVocabKey << "\"");
    try {
      // Character features read a word as written: its characters are never folded.
      loaded.char_vocab = data::Vocab::from_tokens(string_array(file, path, kCharVocabKey), data::TokenMode::Char,
                                                   /*lowercase=*/false);
    } catch (const Error& e) {
      RECUR_FAIL(path << ": " << kCharVocabKey << ": " << e.what());
    }
    RECUR_CHECK(loaded.char_vocab.size() == config.char_vocab_size && loaded.char_vocab.has_unknown(),
                path << ": " << kCharVocabKey << " must hold char_vocab_size " << config.char_vocab_size
                     << " characters, <unk> last");
  }
  loaded.model = build_model<nn::SequenceTagger>(config, file, path);
  load_weights(*loaded.model, file, path);
  loaded.metadata = file.metadata;
  return loaded;
}

void save_tagger(const std::string& path, const nn::SequenceTagger& model, const TaggerFacts& facts,
                 const std::map<std::string, std::string>& extra) {
  save_model_file(path, model, tagger_metadata(facts, model.config), extra);
}

std::map<std::string, std::string> seq2seq_metadata(const Seq2SeqFacts& facts, const nn::Seq2SeqConfig& config) {
  RECUR_CHECK(config.src_vocab == facts.source.size() && config.tgt_vocab == facts.target.size() + 2,
              "seq2seq_metadata: the configuration's vocabulary sizes differ from the vocabularies'");
  nlohmann::ordered_json j;
  j["task"] = "seq2seq";
  j["src_tokens"] = data::token_mode_name(facts.source.mode());
  j["tgt_tokens"] = data::token_mode_name(facts.target.mode());
  j["cell"] = config.cell;
  j["embed"] = config.embed;
  j["hidden"] = config.hidden;
  j["enc_layers"] = config.enc_layers;
  j["dec_layers"] = config.dec_layers;
  j["bidirectional"] = config.bidirectional;
  j["attention"] = config.attention ? nn::attention_name(*config.attention) : "none";
  j["src_vocab_size"] = config.src_vocab;
  j["tgt_vocab_size"] = config.tgt_vocab;
  j["dropout"] = config.dropout;
  return {{kConfigKey, j.dump()},
          {kSourceVocabKey, nlohmann::json(facts.source.tokens()).dump()},
          {kTargetVocabKey, nlohmann::json(facts.target.tokens()).dump()}};
}

LoadedSeq2Seq load_seq2seq(const std::string& path) {
  nlohmann::json j;
  io::SafetensorsFile file = read_model_file(path, "seq2seq", j);
  nn::Seq2SeqConfig config;
  LoadedSeq2Seq loaded;
  try {
    config.cell = field<std::string>(j, "cell", path);
    config.embed = field<std::int64_t>(j, "embed", path);
    config.hidden = field<std::int64_t>(j, "hidden", path);
    config.enc_layers = field<std::int64_t>(j, "enc_layers", path);
    config.dec_layers = field<std::int64_t>(j, "dec_layers", path);
    config.bidirectional = field<bool>(j, "bidirectional", path);
    const std::string attention = field<std::string>(j, "attention", path);
    config.attention = attention == "none" ? std::nullopt : std::optional(nn::parse_attention(attention));
    config.src_vocab = field<std::int64_t>(j, "src_vocab_size", path);
    config.tgt_vocab = field<std::int64_t>(j, "tgt_vocab_size", path);
    config.dropout = field<double>(j, "dropout", path);
    nn::validate(config);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << kConfigKey << ": " << e.what());
  }
  loaded.source = read_vocab(file, j, path, config.src_vocab, kSourceVocabKey, "src_tokens");
  loaded.target = read_vocab(file, j, path, config.tgt_vocab - 2, kTargetVocabKey, "tgt_tokens");
  loaded.model = build_model<nn::Seq2Seq>(config, file, path);
  load_weights(*loaded.model, file, path);
  loaded.metadata = file.metadata;
  return loaded;
}

void save_seq2seq(const std::string& path, const nn::Seq2Seq& model, const Seq2SeqFacts& facts,
                  const std::map<std::string, std::string>& extra) {
  save_model_file(path, model, seq2seq_metadata(facts, model.config), extra);
}

std::int64_t start_token(const data::Vocab& vocab) {
  if (vocab.mode() == data::TokenMode::Word) return vocab.end_index();
  return vocab.contains(U'\n') ? vocab.find(U'\n') : 0;
}

void append_sampled(std::string& text, const data::Vocab& vocab, std::int64_t token) {
  if (vocab.mode() == data::TokenMode::Char && token == vocab.unknown_index()) text += "\xEF\xBF\xBD";
  else vocab.append_token(text, token);
}

}  // namespace recur::train
