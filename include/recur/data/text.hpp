// Text data for character-level language models: strict UTF-8 decoding, a vocabulary over
// Unicode code points, train/validation/test splits, and char-rnn batching.
//
//   data::EncodedText text = data::read_encoded_text("data/tinyshakespeare.txt", /*max_size=*/0);
//   // text.vocab.tokens(): the characters, most frequent first; text.tokens: int32 indices
//   data::TextSplit split = data::split_tokens(text.tokens);     // 0.9 / 0.05 / 0.05
//   data::CharBatches batches(split.train, /*batch_size=*/50, /*seq_length=*/50);
//   data::Batch batch;
//   while (batches.next(batch)) { /* batch.inputs, batch.targets: int64 [T, B] */ }
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "recur/core/tensor.hpp"
#include "recur/data/loader.hpp"  // data::Batch

namespace recur::data {

// ------------------------------------------------------------------ UTF-8

// The code points of `bytes`, decoded as strict UTF-8 (RFC 3629). A byte order mark is
// kept as the character U+FEFF.
// Throws recur::Error naming `source` (a file name, or any label) and the byte offset of
// the first bad sequence, with the reason: a byte that cannot start a sequence (0x80-0xBF
// alone, 0xF8-0xFF), a sequence cut short (by the end of the input or by a byte that is
// not a continuation byte), an overlong encoding (including 0xC0/0xC1 leads), a UTF-16
// surrogate (U+D800-U+DFFF), or a value above U+10FFFF.
std::u32string decode_utf8(std::string_view bytes, std::string_view source = "<text>");

// The whole file at `path`, decoded as above (errors name `path`; a missing or unreadable
// file is an error too).
std::u32string read_utf8_file(const std::string& path);

// Appends the UTF-8 encoding of `code_point` to `out`. Requires a valid scalar value
// (at most U+10FFFF, not a surrogate; checked).
void append_utf8(std::string& out, char32_t code_point);
// The UTF-8 encoding of `text` (each code point as above).
std::string encode_utf8(std::u32string_view text);

// How error messages name a character: 'é' (U+00E9). Control characters and other
// characters that would not print as themselves (below U+0020, U+007F, surrogates, above
// U+10FFFF) are shown by code point only: U+000A.
std::string describe_char(char32_t code_point);

// ------------------------------------------------------------------ vocabulary

struct EncodedText;

// A vocabulary over code points: index i <-> token i. Every token is one character, except
// the optional unknown token kUnknownToken ("<unk>"), which, when present, is the LAST
// index and stands for every character not otherwise in the vocabulary.
class Vocab {
 public:
  static constexpr std::string_view kUnknownToken = "<unk>";

  // An empty vocabulary (size 0).
  Vocab() = default;

  // The distinct characters of `text`, most frequent first, ties broken by smaller code
  // point (so the result is a pure function of the text). With max_size > 0 and more than
  // max_size distinct characters, keeps the max_size - 1 most frequent and appends the
  // unknown token, so size() == max_size; otherwise keeps all and has no unknown token.
  // Requires max_size == 0 (no limit) or max_size >= 2 (checked).
  static Vocab build(std::u32string_view text, std::int64_t max_size = 0);

  // A vocabulary from its tokens in index order, as stored with a model. Each token is
  // either the UTF-8 encoding of one character or kUnknownToken (at most once, and only as
  // the last token). Throws recur::Error naming the index of an empty, multi-character,
  // invalid or repeated token.
  static Vocab from_tokens(const std::vector<std::string>& tokens);

  std::int64_t size() const { return static_cast<std::int64_t>(tokens_.size()); }
  // Tokens as UTF-8 strings in index order (storable as a JSON array).
  const std::vector<std::string>& tokens() const { return tokens_; }
  // Requires 0 <= index < size() (checked).
  const std::string& token(std::int64_t index) const;

  bool has_unknown() const { return unknown_index_ >= 0; }
  // The unknown token's index (size() - 1), or -1 when there is none.
  std::int64_t unknown_index() const { return unknown_index_; }

  // The index of `c`: its own, else the unknown token's, else -1.
  std::int64_t find(char32_t c) const {
    std::int32_t index = c < kTableSize ? table_[c] : find_large(c);
    return index >= 0 ? index : unknown_index_;
  }
  // True when `c` has its own token (not merely the unknown token).
  bool contains(char32_t c) const { return (c < kTableSize ? table_[c] : find_large(c)) >= 0; }

  // The token index of every character of `text`. A character without its own token maps
  // to the unknown token; without one it is a recur::Error naming the character (as
  // describe_char shows it) and its position (character index in `text`).
  std::vector<std::int32_t> encode(std::u32string_view text) const;
  // Same, as an int64 tensor [text.size()].
  Tensor encode_tensor(std::u32string_view text) const;

  // The tokens of `indices` concatenated (the unknown token reads "<unk>"). Requires every
  // index in [0, size()) (checked). decode(encode(t)) == encode_utf8(t) when every
  // character of t is in the vocabulary.
  std::string decode(std::span<const std::int32_t> indices) const;
  std::string decode(std::span<const std::int64_t> indices) const;

 private:
  friend std::vector<std::int32_t> encode_text(std::string_view, std::string_view, const Vocab&);
  friend EncodedText encode_text(std::string_view, std::string_view, std::int64_t);

  static constexpr char32_t kTableSize = 65536;  // code points below this use table_
  struct Counts {                                // how often each character occurs
    std::vector<std::int64_t> small = std::vector<std::int64_t>(kTableSize, 0);
    std::unordered_map<char32_t, std::int64_t> large;
    void add(std::u32string_view text);
  };
  static void check_max_size(std::int64_t max_size);
  static Vocab from_counts(const Counts& counts, std::int64_t max_size);
  // encode() into out[0, text.size()); errors name positions from first_position on.
  void encode_into(std::u32string_view text, std::int32_t* out, std::size_t first_position) const;
  void add(char32_t c);                          // appends a character token
  std::int32_t find_large(char32_t c) const;

  std::vector<std::string> tokens_;
  std::vector<std::int32_t> table_ = std::vector<std::int32_t>(kTableSize, -1);  // BMP -> index or -1
  std::unordered_map<char32_t, std::int32_t> large_;  // code points >= 65536 -> index
  std::int64_t unknown_index_ = -1;
};

// ------------------------------------------------------------------ bytes to tokens

// A text's vocabulary and its token indices.
struct EncodedText {
  Vocab vocab;
  std::vector<std::int32_t> tokens;
};

// The same as Vocab::build(decode_utf8(bytes, source), max_size) and encoding with it, with
// the same errors, but decoding in chunks of about 1 MB twice over (count, then encode) so
// the code points are never all in memory: beyond `bytes` it holds only the tokens (4 bytes
// a character). This is the way to load a large training text.
EncodedText encode_text(std::string_view bytes, std::string_view source, std::int64_t max_size = 0);
// The same for the file at `path` (errors name it).
EncodedText read_encoded_text(const std::string& path, std::int64_t max_size = 0);
// vocab.encode(decode_utf8(bytes, source)), in chunks as above; a character outside a
// vocabulary without an unknown token is an Error naming `source`, the character and its
// position.
std::vector<std::int32_t> encode_text(std::string_view bytes, std::string_view source, const Vocab& vocab);

// ------------------------------------------------------------------ splits

struct SplitFractions {
  double train = 0.9;
  double validation = 0.05;
  double test = 0.05;
};

// Three contiguous views into the token sequence, in order train, validation, test.
struct TextSplit {
  std::span<const std::int32_t> train, validation, test;
};

// Splits `tokens` (N of them) at round(N * train) and round(N * (train + validation)).
// Requires each fraction in [0, 1], their sum 1 within 1e-9, and each part with a positive
// fraction non-empty; throws recur::Error saying which fails. The views point into
// `tokens`, which must outlive them.
TextSplit split_tokens(std::span<const std::int32_t> tokens, SplitFractions fractions = {});

// ------------------------------------------------------------------ batching

// char-rnn batching (torch-rnn's layout). With N tokens, B streams and L = floor((N-1)/B):
// stream b is tokens [b·L, b·L + L] (its L inputs and one more token, the last input's
// target), the remaining tokens are dropped. Step k of an epoch takes, for every stream b
// and t in [0, T):
//   inputs[t][b]  = tokens[b·L + k·T + t]
//   targets[t][b] = tokens[b·L + k·T + t + 1]
// as int64 [T, B] tensors, so consecutive steps continue each stream (the hidden state can
// carry over). Steps per epoch = floor(L / T); every epoch visits the same batches in the
// same order, so the whole state is the position (epoch, step).
class CharBatches {
 public:
  // Requires batch_size >= 1, seq_length >= 1 and at least batch_size * seq_length + 1
  // tokens; throws recur::Error saying how many characters are needed otherwise. The
  // tokens are referenced, not copied: they must outlive this object.
  CharBatches(std::span<const std::int32_t> tokens, std::int64_t batch_size, std::int64_t seq_length);

  std::int64_t batch_size() const { return batch_size_; }
  std::int64_t seq_length() const { return seq_length_; }
  std::int64_t stream_length() const { return stream_length_; }  // L: inputs per stream
  std::int64_t steps_per_epoch() const { return steps_per_epoch_; }

  // Step `step` (0 <= step < steps_per_epoch(), checked) of any epoch, as fresh tensors.
  Batch batch(std::int64_t step) const;

  // Writes the batch at the current position into `batch` and returns true, advancing the
  // step. At the end of an epoch returns false, leaves `batch` alone, and moves to step 0
  // of the next epoch (as DataLoader::next does).
  bool next(Batch& batch);

  // The position: the current epoch, and how many of its steps next() has handed out.
  std::int64_t epoch() const { return epoch_; }
  std::int64_t step() const { return step_; }
  // Requires epoch >= 0 and 0 <= step <= steps_per_epoch() (checked).
  void set_position(std::int64_t epoch, std::int64_t step);

 private:
  std::span<const std::int32_t> tokens_;
  std::int64_t batch_size_, seq_length_, stream_length_, steps_per_epoch_;
  std::int64_t epoch_ = 0, step_ = 0;
};

}  // namespace recur::data
