// Labelled sequences for classification and tagging: reading `label<TAB>text` files and
// CoNLL files, label sets, tokens in a vocabulary, and padding-aware batching (examples of
// similar length batched together, per-example lengths, padding the models ignore).
//
//   std::vector<data::TaggedSentence> train = data::read_conll("data/brown-pos/train.conll");
//   std::vector<std::vector<std::string>> words;  // each sentence's words
//   data::Vocab vocab = data::build_vocab(words, {.mode = data::TokenMode::Word, .min_count = 2});
//   std::vector<data::Sequence> examples;  // {encode_tokens(words[i], vocab), tag indices}
//   data::LengthBatches batches(lengths, /*batch_size=*/32, /*seed=*/1);
//   std::vector<std::int64_t> picked;
//   while (batches.next(picked)) {
//     data::PaddedBatch b = data::pad_batch(examples, picked, /*per_token=*/true);
//     // b.inputs [T, B], b.lengths [B], b.targets [T, B] (kIgnoreLabel past each length)
//   }
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "recur/core/tensor.hpp"
#include "recur/data/text.hpp"

namespace recur::data {

// ------------------------------------------------------------------ reading

// One example of a classification file: the label, the text, and where it was (1-based line).
struct LabeledText {
  std::string label, text;
  std::int64_t line = 0;
};

// The examples of a file of `label<TAB>text` lines (the text is everything after the first
// tab; a '\r' before the line break is dropped); blank lines are skipped. Throws
// recur::Error naming the file and line for: bytes that are not UTF-8 (with the byte offset),
// a line without a tab, an empty label, a text without a token of `mode` (nothing but
// whitespace in word mode, nothing at all in char mode); and for a missing file or one
// without examples.
std::vector<LabeledText> read_labeled_texts(const std::string& path, TokenMode mode = TokenMode::Word);

// One example of a sequence-to-sequence file: a source and its target, and its line.
struct TextPair {
  std::string source, target;
  std::int64_t line = 0;
};

// The examples of a file of `source<TAB>target` lines (the target is everything after the
// first tab; a '\r' before the line break is dropped); blank lines are skipped. Throws
// recur::Error naming the file and line for: bytes that are not UTF-8, a line without a tab,
// a source without a token of `source_mode` or a target without one of `target_mode`; and
// for a missing file or one without examples.
std::vector<TextPair> read_text_pairs(const std::string& path, TokenMode source_mode, TokenMode target_mode);

// One sentence of a tagging file: its words and their tags, and the line of its first word.
struct TaggedSentence {
  std::vector<std::string> words, tags;
  std::int64_t line = 0;
};

// The sentences of a CoNLL-style file: one token a line, the word in the first field and its
// tag in the last, fields separated by tabs or spaces; a blank line ends a sentence;
// `-DOCSTART-` lines (and the blank line after one) are skipped. Throws recur::Error naming
// the file and line for bytes that are not UTF-8 and a line with fewer than two fields; and
// for a missing file or one without sentences.
std::vector<TaggedSentence> read_conll(const std::string& path);

// ------------------------------------------------------------------ labels and tokens

// The names of a task's labels (classes, tags), index i <-> name i.
class Labels {
 public:
  Labels() = default;
  // The distinct names of `seen`, sorted by byte order (a pure function of the set of names).
  static Labels build(std::span<const std::string> seen);
  // Names in index order, as stored with a model; a repeated or empty name is an Error.
  static Labels from_names(std::vector<std::string> names);

  std::int64_t size() const { return static_cast<std::int64_t>(names_.size()); }
  const std::vector<std::string>& names() const { return names_; }
  const std::string& name(std::int64_t index) const;  // requires 0 <= index < size() (checked)
  // The index of `name`, or -1 when it is not a label.
  std::int64_t find(std::string_view name) const;

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>> index_;
};

// The tokens of one example's text by `how`: its characters (char mode) or its words (word
// mode: split_words, no <eos>), folded with lower_case when how.lowercase. Throws
// recur::Error naming `source` when `text` is not UTF-8.
std::vector<std::string> split_tokens(std::string_view text, const TokenOptions& how, std::string_view source);

// A vocabulary for examples whose tokens are `examples` (each a list as split_tokens gives):
// word mode as Vocab::build_words (the words seen at least min_count times, at most
// max_size in all with <unk> and <eos>, most frequent first); char mode the characters by
// frequency, at most max_size with <unk>, which is always there (the last index), since
// validation and test texts hold characters that training lacks. The vocabulary folds case
// when options.lowercase and splits at punctuation when options.split_punctuation (the
// tokens must be split so already). Requires the options'
// checks of Vocab::build_words and, for chars, max_size 0 or >= 2.
Vocab build_vocab(std::span<const std::vector<std::string>> examples, const TokenOptions& options);

// The indices of `tokens` (as split_tokens gives them for vocab's mode and case) in `vocab`,
// a token without its own index as <unk>. Requires a vocabulary with <unk> (checked).
std::vector<std::int32_t> encode_tokens(std::span<const std::string> tokens, const Vocab& vocab);

// ------------------------------------------------------------------ batching

// An encoded example: its tokens, and one label (classification) or one per token (tagging).
struct Sequence {
  std::vector<std::int32_t> tokens;
  std::vector<std::int32_t> labels;
};

// Batches of example indices in which examples of similar length travel together, so that
// little of a padded batch is padding, in a random order that is a pure function of (seed,
// epoch): each epoch shuffles the examples (shuffled_order, counters from epoch * 2^32),
// cuts that order into pools of `pool` batches, sorts each pool by length (longest first,
// ties by position in the shuffle) and cuts it into batches of batch_size, and then shuffles
// the batches (counters from epoch * 2^32 + 2^31). An epoch holds every example once: the
// last batch of each pool may be smaller. The whole state is the position (epoch, step).
// With shuffle off, every epoch is the examples sorted by length, longest first (for
// evaluation).
class LengthBatches {
 public:
  // lengths: each example's length (>= 1); requires at least one example, batch_size >= 1
  // and pool >= 1 (checked).
  LengthBatches(std::vector<std::int64_t> lengths, std::int64_t batch_size, std::uint64_t seed, bool shuffle = true,
                std::int64_t pool = 50);

  std::int64_t steps_per_epoch() const { return static_cast<std::int64_t>(batches_.size()); }
  std::int64_t epoch() const { return epoch_; }
  std::int64_t step() const { return step_; }
  // Requires epoch >= 0 and 0 <= step <= steps_per_epoch() (checked).
  void set_position(std::int64_t epoch, std::int64_t step);

  // The example indices of the batch at the current position, and true, advancing the step;
  // at the end of an epoch false, moving to step 0 of the next epoch (as DataLoader::next).
  bool next(std::vector<std::int64_t>& indices);
  // The batches of `epoch`, in order.
  std::vector<std::vector<std::int64_t>> epoch_batches(std::int64_t epoch) const;

 private:
  void plan(std::int64_t epoch);
  std::vector<std::int64_t> lengths_;
  std::int64_t batch_size_, pool_;
  std::uint64_t seed_;
  bool shuffle_;
  std::int64_t epoch_ = 0, step_ = 0, planned_epoch_ = -1;
  std::vector<std::vector<std::int64_t>> batches_;
};

// A padded batch of B examples, time-major like the recurrent layers: inputs int64 [T, B]
// (T the longest example; token 0 past an example's end), lengths int64 [B], and targets:
// int64 [B] (one label each) or [T, B] (one per token, kIgnoreLabel past the end).
struct PaddedBatch {
  Tensor inputs, lengths, targets;
};
inline constexpr std::int64_t kIgnoreLabel = -100;  // cross_entropy's default ignore_index

// The examples `picked` (non-empty, each index valid: checked), padded as above; their
// labels as targets, [B] when `per_token` is false (each example's first label), else [T, B].
PaddedBatch pad_batch(std::span<const Sequence> examples, std::span<const std::int64_t> picked, bool per_token);

}  // namespace recur::data
