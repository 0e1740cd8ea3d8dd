// Language-model files: configuration and vocabulary as JSON metadata beside the tensors.

#include "recur/train/model_file.hpp"

#include <optional>

#include <nlohmann/json.hpp>

#include "recur/io/safetensors.hpp"
#include "recur/ops.hpp"

namespace recur::train {

std::string config_to_json(const nn::LanguageModelConfig& config, const data::Vocab& vocab) {
  nlohmann::ordered_json j;
  j["tokens"] = data::token_mode_name(vocab.mode());
  j["lowercase"] = vocab.lowercase();
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
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    RECUR_FAIL(source << ": metadata " << key << " is not valid JSON");
  }
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
  RECUR_CHECK(fits, source << ": " << kConfigKey << " field \"" << name << "\" has the wrong type: " << value.dump());
  return value.get<T>();
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
                                                << " field \"adaptive_softmax\" holds a non-integer: " << c.dump());
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

LoadedLanguageModel load_language_model(const std::string& path) {
  io::SafetensorsFile file = io::load_safetensors(path);
  for (const char* key : {kConfigKey, kVocabKey})
    RECUR_CHECK(file.metadata.count(key), path << ": not a recur language model (no metadata \"" << key << "\")");
  nn::LanguageModelConfig config = config_from_json(file.metadata.at(kConfigKey), path);
  // How text becomes tokens (files written before word models existed are char models).
  const nlohmann::json j = parse_json(file.metadata.at(kConfigKey), path, kConfigKey);
  const std::string mode_name = field<std::string>(j, "tokens", path, std::string("char"));
  RECUR_CHECK(mode_name == "char" || mode_name == "word",
              path << ": " << kConfigKey << " field \"tokens\" must be \"char\" or \"word\", got \"" << mode_name << "\"");
  const data::TokenMode mode = data::parse_token_mode(mode_name);
  const bool lowercase = field<bool>(j, "lowercase", path, false);

  nlohmann::json tokens = parse_json(file.metadata.at(kVocabKey), path, kVocabKey);
  RECUR_CHECK(tokens.is_array(), path << ": metadata " << kVocabKey << " must be a JSON array of strings");
  std::vector<std::string> token_strings;
  for (const nlohmann::json& token : tokens) {
    RECUR_CHECK(token.is_string(), path << ": metadata " << kVocabKey << " holds a non-string: " << token.dump());
    token_strings.push_back(token.get<std::string>());
  }
  data::Vocab vocab;
  try {
    vocab = data::Vocab::from_tokens(token_strings, mode, lowercase);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << kVocabKey << ": " << e.what());
  }
  RECUR_CHECK(vocab.size() == config.vocab_size, path << ": the vocabulary has " << vocab.size()
                                                     << " tokens but the configuration says vocab_size "
                                                     << config.vocab_size);

  TensorMap weights;
  for (auto& [name, tensor] : file.tensors)
    if (name.find('/') == std::string::npos) weights[name] = to_dtype(tensor, DType::Float32);
  auto model = std::make_shared<nn::LanguageModel>(config);
  try {
    model->load_state_dict(weights);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << e.what());
  }
  model->eval();
  return {model, vocab, file.metadata};
}

void save_language_model(const std::string& path, const nn::LanguageModel& model, const data::Vocab& vocab,
                     const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> metadata = model_metadata(model.config, vocab);
  metadata.insert(extra.begin(), extra.end());
  TensorMap tensors = model.state_dict();
  for (auto& [name, tensor] : tensors) tensor = to_dtype(tensor, DType::Float32);  // the format is float32
  io::save_safetensors(path, tensors, metadata);
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
