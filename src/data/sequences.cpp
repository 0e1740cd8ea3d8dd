// Labelled sequences: classification and CoNLL files, labels, tokens, length batching.

#include "recur/data/sequences.hpp"

#include <algorithm>
#include <numeric>

#include "recur/data/loader.hpp"  // shuffled_order
#include "recur/io/file.hpp"
#include "recur/ops.hpp"

namespace recur::data {

namespace {

// Calls visit(line, number) for each line of `bytes` (1-based numbers; the line without its
// '\n' and a '\r' before it), after checking that it is UTF-8 (errors name path and line).
template <class Visit>
void for_each_line(const std::string& bytes, const std::string& path, Visit visit) {
  std::int64_t number = 0;
  for (std::size_t start = 0; start < bytes.size();) {
    const std::size_t end = std::min(bytes.find('\n', start), bytes.size());
    std::string_view line(bytes.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++number;
    decode_utf8(line, path + " line " + std::to_string(number));
    visit(line, number);
    start = end + 1;
  }
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\f\v") == std::string_view::npos;
}

}  // namespace

std::vector<LabeledText> read_labeled_texts(const std::string& path, TokenMode mode) {
  std::vector<LabeledText> examples;
  for_each_line(io::read_file(path), path, [&](std::string_view line, std::int64_t number) {
    if (is_blank(line)) return;
    const std::size_t tab = line.find('\t');
    RECUR_CHECK(tab != std::string_view::npos,
                path << " line " << number << ": no tab; each line must be LABEL<TAB>TEXT");
    RECUR_CHECK(tab > 0, path << " line " << number << ": the label before the tab is empty");
    std::string_view text = line.substr(tab + 1);
    RECUR_CHECK(!split_tokens(text, {.mode = mode}, path).empty(),
                path << " line " << number << ": the text after the tab has no "
                     << (mode == TokenMode::Word ? "words" : "characters"));
    examples.push_back({std::string(line.substr(0, tab)), std::string(text), number});
  });
  RECUR_CHECK(!examples.empty(), path << " has no examples (LABEL<TAB>TEXT lines)");
  return examples;
}

std::vector<TextPair> read_text_pairs(const std::string& path, TokenMode source_mode, TokenMode target_mode) {
  std::vector<TextPair> pairs;
  for_each_line(io::read_file(path), path, [&](std::string_view line, std::int64_t number) {
    if (is_blank(line)) return;
    const std::size_t tab = line.find('\t');
    RECUR_CHECK(tab != std::string_view::npos,
                path << " line " << number << ": no tab; each line must be SOURCE<TAB>TARGET");
    const std::string_view source = line.substr(0, tab), target = line.substr(tab + 1);
    auto check = [&](std::string_view side, TokenMode mode, const char* name) {
      RECUR_CHECK(!split_tokens(side, {.mode = mode}, path).empty(),
                  path << " line " << number << ": the " << name << " has no "
                       << (mode == TokenMode::Word ? "words" : "characters"));
    };
    check(source, source_mode, "source before the tab");
    check(target, target_mode, "target after the tab");
    pairs.push_back({std::string(source), std::string(target), number});
  });
  RECUR_CHECK(!pairs.empty(), path << " has no examples (SOURCE<TAB>TARGET lines)");
  return pairs;
}

std::vector<TaggedSentence> read_conll(const std::string& path) {
  std::vector<TaggedSentence> sentences;
  TaggedSentence current;
  auto end_sentence = [&] {
    if (!current.words.empty()) sentences.push_back(std::move(current));
    current = {};
  };
  for_each_line(io::read_file(path), path, [&](std::string_view line, std::int64_t number) {
    std::vector<std::string_view> fields;
    for (std::size_t i = 0; i < line.size();) {
      const std::size_t start = line.find_first_not_of(" \t", i);
      if (start == std::string_view::npos) break;
      const std::size_t end = std::min(line.find_first_of(" \t", start), line.size());
      fields.push_back(line.substr(start, end - start));
      i = end;
    }
    if (fields.empty()) return end_sentence();
    if (fields[0] == "-DOCSTART-") return end_sentence();
    RECUR_CHECK(fields.size() >= 2, path << " line " << number << ": one field (\"" << fields[0]
                                         << "\"); a token line is WORD ... TAG, separated by tabs or spaces");
    if (current.words.empty()) current.line = number;
    current.words.emplace_back(fields.front());
    current.tags.emplace_back(fields.back());
  });
  end_sentence();
  RECUR_CHECK(!sentences.empty(), path << " has no sentences (WORD TAG lines)");
  return sentences;
}

Labels Labels::build(std::span<const std::string> seen) {
  std::vector<std::string> names(seen.begin(), seen.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return from_names(std::move(names));
}

Labels Labels::from_names(std::vector<std::string> names) {
  Labels labels;
  for (std::size_t i = 0; i < names.size(); ++i) {
    RECUR_CHECK(!names[i].empty(), "labels: name " << i << " is empty");
    RECUR_CHECK(labels.index_.emplace(names[i], static_cast<std::int64_t>(i)).second,
                "labels: \"" << names[i] << "\" appears twice (index " << labels.index_.at(names[i]) << " and " << i
                             << ")");
  }
  labels.names_ = std::move(names);
  return labels;
}

const std::string& Labels::name(std::int64_t index) const {
  RECUR_CHECK(index >= 0 && index < size(), "labels: index " << index << " is outside [0, " << size() << ")");
  return names_[static_cast<std::size_t>(index)];
}

std::int64_t Labels::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

std::vector<std::string> split_tokens(std::string_view text, const TokenOptions& how, std::string_view source) {
  if (how.mode == TokenMode::Word) return split_words(text, source, how);
  std::vector<std::string> tokens;
  for (char32_t c : decode_utf8(text, source)) append_utf8(tokens.emplace_back(), how.lowercase ? lower_case(c) : c);
  return tokens;
}

Vocab build_vocab(std::span<const std::vector<std::string>> examples, const TokenOptions& options) {
  if (options.mode == TokenMode::Word) {
    WordCounts counts;
    for (const std::vector<std::string>& tokens : examples) {
      for (const std::string& word : tokens) ++counts.words[word];
      ++counts.lines;
    }
    const Vocab built = Vocab::build_words(counts, options.min_count, options.max_size);
    return Vocab::from_tokens(built.tokens(), TokenMode::Word, options.lowercase, options.split_punctuation);
  }
  RECUR_CHECK(options.max_size == 0 || options.max_size >= 2,
              "--max-vocab must be 0 (every character) or at least 2 (one character and <unk>), got "
                  << options.max_size);
  std::u32string text;
  for (const std::vector<std::string>& tokens : examples)
    for (const std::string& c : tokens) text += decode_utf8(c);
  std::vector<std::string> tokens = Vocab::build(text).tokens();
  if (options.max_size > 0 && static_cast<std::int64_t>(tokens.size()) > options.max_size - 1)
    tokens.resize(static_cast<std::size_t>(options.max_size - 1));
  tokens.emplace_back(Vocab::kUnknownToken);
  return Vocab::from_tokens(tokens, TokenMode::Char, options.lowercase);
}

std::vector<std::int32_t> encode_tokens(std::span<const std::string> tokens, const Vocab& vocab) {
  RECUR_CHECK(vocab.has_unknown(), "encode_tokens: the vocabulary has no <unk>");
  std::vector<std::int32_t> indices;
  indices.reserve(tokens.size());
  for (const std::string& token : tokens) {
    if (vocab.mode() == TokenMode::Word) {
      indices.push_back(static_cast<std::int32_t>(vocab.find_word(token)));
    } else {
      const std::u32string c = decode_utf8(token);
      RECUR_CHECK(c.size() == 1, "encode_tokens: \"" << token << "\" is not one character");
      indices.push_back(static_cast<std::int32_t>(vocab.find(c[0])));
    }
  }
  return indices;
}

LengthBatches::LengthBatches(std::vector<std::int64_t> lengths, std::int64_t batch_size, std::uint64_t seed,
                             bool shuffle, std::int64_t pool)
    : lengths_(std::move(lengths)), batch_size_(batch_size), pool_(pool), seed_(seed), shuffle_(shuffle) {
  RECUR_CHECK(!lengths_.empty(), "LengthBatches: no examples");
  RECUR_CHECK(batch_size >= 1 && pool >= 1,
              "LengthBatches: batch_size " << batch_size << " and pool " << pool << " must be at least 1");
  plan(0);
}

std::vector<std::vector<std::int64_t>> LengthBatches::epoch_batches(std::int64_t epoch) const {
  RECUR_CHECK(epoch >= 0, "LengthBatches: epoch must be non-negative, got " << epoch);
  const auto n = static_cast<std::int64_t>(lengths_.size());
  const std::uint64_t counter = static_cast<std::uint64_t>(epoch) << 32;
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle_) order = shuffled_order(n, seed_, counter);
  const std::int64_t pool = shuffle_ ? batch_size_ * pool_ : n;
  std::vector<std::vector<std::int64_t>> batches;
  for (std::int64_t start = 0; start < n; start += pool) {
    const auto first = order.begin() + start, last = order.begin() + std::min(start + pool, n);
    std::stable_sort(first, last, [&](std::int64_t a, std::int64_t b) { return lengths_[a] > lengths_[b]; });
    for (auto it = first; it < last; it += std::min<std::int64_t>(batch_size_, last - it))
      batches.emplace_back(it, it + std::min<std::int64_t>(batch_size_, last - it));
  }
  if (!shuffle_) return batches;
  std::vector<std::vector<std::int64_t>> shuffled;
  shuffled.reserve(batches.size());
  for (std::int64_t i : shuffled_order(static_cast<std::int64_t>(batches.size()), seed_, counter + (1ULL << 31)))
    shuffled.push_back(std::move(batches[static_cast<std::size_t>(i)]));
  return shuffled;
}

void LengthBatches::plan(std::int64_t epoch) {
  if (planned_epoch_ == epoch) return;
  batches_ = epoch_batches(epoch);
  planned_epoch_ = epoch;
}

void LengthBatches::set_position(std::int64_t epoch, std::int64_t step) {
  RECUR_CHECK(epoch >= 0 && step >= 0 && step <= steps_per_epoch(),
              "LengthBatches: position (epoch " << epoch << ", step " << step << ") is outside an epoch of "
                                                << steps_per_epoch() << " batches");
  epoch_ = epoch, step_ = step;
  plan(epoch_);
}

bool LengthBatches::next(std::vector<std::int64_t>& indices) {
  if (step_ >= steps_per_epoch()) {
    ++epoch_, step_ = 0;
    plan(epoch_);
    return false;
  }
  indices = batches_[static_cast<std::size_t>(step_++)];
  return true;
}

PaddedBatch pad_batch(std::span<const Sequence> examples, std::span<const std::int64_t> picked, bool per_token) {
  RECUR_CHECK(!picked.empty(), "pad_batch: no examples picked");
  std::int64_t T = 0;
  for (std::int64_t i : picked) {
    RECUR_CHECK(i >= 0 && i < static_cast<std::int64_t>(examples.size()),
                "pad_batch: example " << i << " is outside [0, " << examples.size() << ")");
    T = std::max<std::int64_t>(T, static_cast<std::int64_t>(examples[static_cast<std::size_t>(i)].tokens.size()));
  }
  const auto B = static_cast<std::int64_t>(picked.size());
  PaddedBatch batch{zeros({T, B}, DType::Int64), empty({B}, DType::Int64),
                    per_token ? full({T, B}, static_cast<double>(kIgnoreLabel), DType::Int64)
                              : empty({B}, DType::Int64)};
  std::int64_t* inputs = batch.inputs.data<std::int64_t>();
  std::int64_t* lengths = batch.lengths.data<std::int64_t>();
  std::int64_t* targets = batch.targets.data<std::int64_t>();
  for (std::int64_t b = 0; b < B; ++b) {
    const Sequence& example = examples[static_cast<std::size_t>(picked[b])];
    const auto length = static_cast<std::int64_t>(example.tokens.size());
    RECUR_CHECK(length >= 1, "pad_batch: example " << picked[b] << " has no tokens");
    RECUR_CHECK(example.labels.size() == (per_token ? example.tokens.size() : 1),
                "pad_batch: example " << picked[b] << " has " << example.labels.size() << " labels for " << length
                                      << " tokens");
    lengths[b] = length;
    for (std::int64_t t = 0; t < length; ++t) inputs[t * B + b] = example.tokens[static_cast<std::size_t>(t)];
    if (!per_token) targets[b] = example.labels[0];
    else for (std::int64_t t = 0; t < length; ++t) targets[t * B + b] = example.labels[static_cast<std::size_t>(t)];
  }
  return batch;
}

}  // namespace recur::data
