// Character-model files: configuration and vocabulary as JSON metadata beside the tensors.

#include "recur/train/model_file.hpp"

#include <nlohmann/json.hpp>

#include "recur/io/safetensors.hpp"
#include "recur/ops.hpp"

namespace recur::train {

std::string config_to_json(const nn::CharModelConfig& config) {
  nlohmann::ordered_json j;
  j["cell"] = config.cell;
  j["layers"] = config.layers;
  j["hidden"] = config.hidden;
  j["embed"] = config.embed;
  j["vocab_size"] = config.vocab_size;
  j["dropout"] = config.dropout;
  j["peephole"] = config.peephole;
  return j.dump();
}

namespace {

nlohmann::json parse_json(const std::string& text, const std::string& source, const char* key) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    RECUR_FAIL(source << ": metadata " << key << " is not valid JSON");
  }
}

template <typename T>
T required(const nlohmann::json& j, const char* name, const std::string& source) {
  RECUR_CHECK(j.contains(name), source << ": " << kConfigKey << " lacks \"" << name << "\"");
  const nlohmann::json& value = j.at(name);
  bool fits = false;
  if constexpr (std::is_same_v<T, std::string>) fits = value.is_string();
  else if constexpr (std::is_same_v<T, bool>) fits = value.is_boolean();
  else if constexpr (std::is_same_v<T, double>) fits = value.is_number();
  else fits = value.is_number_integer();
  RECUR_CHECK(fits, source << ": " << kConfigKey << " field \"" << name << "\" has the wrong type: " << value.dump());
  return value.get<T>();
}

}  // namespace

nn::CharModelConfig config_from_json(const std::string& json, const std::string& source) {
  nlohmann::json j = parse_json(json, source, kConfigKey);
  RECUR_CHECK(j.is_object(), source << ": metadata " << kConfigKey << " must be a JSON object");
  nn::CharModelConfig config;
  config.cell = required<std::string>(j, "cell", source);
  config.layers = required<std::int64_t>(j, "layers", source);
  config.hidden = required<std::int64_t>(j, "hidden", source);
  config.embed = required<std::int64_t>(j, "embed", source);
  config.vocab_size = required<std::int64_t>(j, "vocab_size", source);
  config.dropout = required<double>(j, "dropout", source);
  config.peephole = required<bool>(j, "peephole", source);
  try {
    nn::validate(config);
  } catch (const Error& e) {
    RECUR_FAIL(source << ": " << kConfigKey << ": " << e.what());
  }
  return config;
}

std::map<std::string, std::string> model_metadata(const nn::CharModelConfig& config, const data::Vocab& vocab) {
  RECUR_CHECK(config.vocab_size == vocab.size(), "model_metadata: the configuration's vocab_size "
                                                     << config.vocab_size << " differs from the vocabulary's size "
                                                     << vocab.size());
  return {{kConfigKey, config_to_json(config)}, {kVocabKey, nlohmann::json(vocab.tokens()).dump()}};
}

LoadedCharModel load_char_model(const std::string& path) {
  io::SafetensorsFile file = io::load_safetensors(path);
  for (const char* key : {kConfigKey, kVocabKey})
    RECUR_CHECK(file.metadata.count(key), path << ": not a recur character model (no metadata \"" << key << "\")");
  nn::CharModelConfig config = config_from_json(file.metadata.at(kConfigKey), path);

  nlohmann::json tokens = parse_json(file.metadata.at(kVocabKey), path, kVocabKey);
  RECUR_CHECK(tokens.is_array(), path << ": metadata " << kVocabKey << " must be a JSON array of strings");
  std::vector<std::string> token_strings;
  for (const nlohmann::json& token : tokens) {
    RECUR_CHECK(token.is_string(), path << ": metadata " << kVocabKey << " holds a non-string: " << token.dump());
    token_strings.push_back(token.get<std::string>());
  }
  data::Vocab vocab;
  try {
    vocab = data::Vocab::from_tokens(token_strings);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << kVocabKey << ": " << e.what());
  }
  RECUR_CHECK(vocab.size() == config.vocab_size, path << ": the vocabulary has " << vocab.size()
                                                     << " tokens but the configuration says vocab_size "
                                                     << config.vocab_size);

  TensorMap weights;
  for (auto& [name, tensor] : file.tensors)
    if (name.find('/') == std::string::npos) weights[name] = to_dtype(tensor, DType::Float32);
  auto model = std::make_shared<nn::CharModel>(config);
  try {
    model->load_state_dict(weights);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << e.what());
  }
  model->eval();
  return {model, vocab, file.metadata};
}

void save_char_model(const std::string& path, const nn::CharModel& model, const data::Vocab& vocab,
                     const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> metadata = model_metadata(model.config, vocab);
  metadata.insert(extra.begin(), extra.end());
  TensorMap tensors = model.state_dict();
  for (auto& [name, tensor] : tensors) tensor = to_dtype(tensor, DType::Float32);  // the format is float32
  io::save_safetensors(path, tensors, metadata);
}

std::int64_t start_token(const data::Vocab& vocab) { return vocab.contains(U'\n') ? vocab.find(U'\n') : 0; }

const std::string& printable_token(const data::Vocab& vocab, std::int64_t token) {
  static const std::string replacement = "\xEF\xBF\xBD";
  return token == vocab.unknown_index() ? replacement : vocab.token(token);
}

}  // namespace recur::train
