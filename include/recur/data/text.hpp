// Text data for language models: strict UTF-8 decoding, tokens (characters, or words with
// an end-of-line token), a vocabulary, train/validation/test splits, and char-rnn batching.
//
//   data::EncodedText text = data::read_encoded_text("data/tinyshakespeare.txt", {});
//   // text.vocab.tokens(): the characters, most frequent first; text.tokens: int32 indices
//   data::EncodedText words = data::read_encoded_text("data/brown/train.txt",
//                                                     {.mode = data::TokenMode::Word, .min_count = 4});
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

// The simple lowercase mapping of Unicode (UnicodeData.txt): 'É' -> 'é', 'Ω' -> 'ω',
// 'Ж' -> 'ж', 'İ' -> 'i'; a code point without one maps to itself. Python's str.lower() on
// one character, except that it makes 'İ' two characters and a word-final 'Σ' 'ς'.
char32_t lower_case(char32_t code_point);

// Whitespace that separates words: what Python's str.split() splits on (ASCII's six
// whitespace characters, U+001C-U+001F, U+0085, U+00A0 and the Unicode spaces and line and
// paragraph separators).
bool is_word_separator(char32_t code_point);

// Punctuation and symbols: ASCII's !"#$%&'()*+,-./:;<=>?@[\]^`{|}~ and, above ASCII, Unicode's
// general categories P and S, except the connectors (Pc) such as '_', which Python's \w
// counts as word characters.
bool is_punctuation(char32_t code_point);

// ------------------------------------------------------------------ tokens

// What a token is. Char: one code point. Word: a maximal run of non-separator characters
// (is_word_separator) within a line; each line holding a word ends with the token
// kEndToken ("<eos>"), lines end at '\n', and blank lines add nothing (the Penn Treebank
// convention of PyTorch's word-language-model example, without its <eos> for blank lines).
// With split_punctuation a word also ends where punctuation meets a letter or digit, so a
// run of punctuation is a word of its own (NLTK's wordpunct_tokenize, \w+|[^\w\s]+):
// "Income...First" -> "Income", "...", "First"; "don't" -> "don", "'", "t".
enum class TokenMode { Char, Word };
// "char" / "word".
std::string_view token_mode_name(TokenMode mode);
// The inverse; anything else is an Error naming the text.
TokenMode parse_token_mode(std::string_view name);

// How a text becomes tokens and which of them a new vocabulary keeps.
struct TokenOptions {
  TokenMode mode = TokenMode::Char;
  bool lowercase = false;          // fold the text with lower_case first
  bool split_punctuation = false;  // word mode: split words at punctuation too (TokenMode)
  std::int64_t min_count = 1;      // word mode: a word seen fewer times becomes <unk>; >= 1
  std::int64_t max_size = 0;       // at most this many tokens, specials included (0: no limit)
};

// ------------------------------------------------------------------ vocabulary

struct EncodedText;
struct WordCounts;

// A string hash that also takes a string_view, so a map keyed by std::string can be
// searched with a view (no temporary string per word).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// A vocabulary: index i <-> token i, in one of two modes.
//
// Char: every token is one character, except the optional unknown token kUnknownToken
// ("<unk>"), which, when present, is the LAST index and stands for every character not
// otherwise in the vocabulary.
// Word: every token is a word (UTF-8 without separators), and kUnknownToken and kEndToken
// ("<eos>") are always there, anywhere in the order; every word not otherwise in the
// vocabulary (the literal "<unk>" of a Penn Treebank file too) is the unknown token.
// A vocabulary built from a lowercased text (lowercase()) folds the texts it encodes too.
class Vocab {
 public:
  static constexpr std::string_view kUnknownToken = "<unk>";
  static constexpr std::string_view kEndToken = "<eos>";

  // An empty character vocabulary (size 0).
  Vocab() = default;

  // The distinct characters of `text`, most frequent first, ties broken by smaller code
  // point (so the result is a pure function of the text). With max_size > 0 and more than
  // max_size distinct characters, keeps the max_size - 1 most frequent and appends the
  // unknown token, so size() == max_size; otherwise keeps all and has no unknown token.
  // Requires max_size == 0 (no limit) or max_size >= 2 (checked).
  static Vocab build(std::u32string_view text, std::int64_t max_size = 0);

  // A word vocabulary from counts (count_words): the words seen at least min_count times,
  // at most max_size - 2 of them (the most frequent; max_size 0: no limit), plus <unk> and
  // <eos>, all ordered by count (<unk>: the words left out and the literal "<unk>"s; <eos>:
  // the lines), most frequent first, ties by byte order, so the result is a pure function of
  // the text and frequency-ordered (what an adaptive softmax needs). Requires min_count >= 1
  // and max_size == 0 or >= 3 (checked, naming --min-count and --max-vocab).
  static Vocab build_words(const WordCounts& counts, std::int64_t min_count = 1, std::int64_t max_size = 0);

  // A vocabulary from its tokens in index order, as stored with a model. Char mode: each
  // token is the UTF-8 encoding of one character or kUnknownToken (at most once, and only as
  // the last token). Word mode: non-empty UTF-8 without separators, kUnknownToken and
  // kEndToken present. Throws recur::Error naming the index of a bad or repeated token.
  static Vocab from_tokens(const std::vector<std::string>& tokens, TokenMode mode = TokenMode::Char,
                           bool lowercase = false, bool split_punctuation = false);

  TokenMode mode() const { return mode_; }
  bool lowercase() const { return lowercase_; }
  // Word mode: whether the texts it encodes split their words at punctuation (TokenMode).
  bool split_punctuation() const { return split_punctuation_; }
  // How the texts it encodes become tokens: its mode, lowercase() and split_punctuation().
  TokenOptions token_options() const {
    return {.mode = mode_, .lowercase = lowercase_, .split_punctuation = split_punctuation_};
  }
  std::int64_t size() const { return static_cast<std::int64_t>(tokens_.size()); }
  // Tokens as UTF-8 strings in index order (storable as a JSON array).
  const std::vector<std::string>& tokens() const { return tokens_; }
  // Requires 0 <= index < size() (checked).
  const std::string& token(std::int64_t index) const;

  bool has_unknown() const { return unknown_index_ >= 0; }
  // The unknown token's index, or -1 when there is none (a char vocabulary without it).
  std::int64_t unknown_index() const { return unknown_index_; }
  // Word mode: the index of <eos>; char mode: -1.
  std::int64_t end_index() const { return end_index_; }

  // Char mode: the index of `c`: its own, else the unknown token's, else -1.
  std::int64_t find(char32_t c) const {
    std::int32_t index = own_index(c);
    return index >= 0 ? index : unknown_index_;
  }
  // Char mode: true when `c` has its own token (not merely the unknown token).
  bool contains(char32_t c) const { return own_index(c) >= 0; }
  // Word mode: the index of `word` (UTF-8): its own, else the unknown token's.
  std::int64_t find_word(std::string_view word) const;
  // Word mode: true when `word` has its own token ("<unk>" has none: it stands for others).
  bool contains_word(std::string_view word) const;

  // Char mode: the token index of every character of `text` (folded when lowercase()). A
  // character without its own
  // token maps to the unknown token; without one it is a recur::Error naming the character
  // (as describe_char shows it) and its position (character index in `text`).
  std::vector<std::int32_t> encode(std::u32string_view text) const;
  // Same, as an int64 tensor [text.size()].
  Tensor encode_tensor(std::u32string_view text) const;

  // Appends token `index` to a text being written: char mode its character; word mode the
  // word, after a space unless `text` is empty or ends a line, and <eos> as '\n'. The
  // unknown token reads "<unk>". Requires 0 <= index < size() (checked).
  void append_token(std::string& text, std::int64_t index) const;
  // The tokens of `indices` written one after the other by append_token. Char mode:
  // decode(encode(t)) == encode_utf8(t) when every character of t is in the vocabulary.
  std::string decode(std::span<const std::int32_t> indices) const;
  std::string decode(std::span<const std::int64_t> indices) const;

 private:
  friend std::vector<std::int32_t> encode_text(std::string_view, std::string_view, const Vocab&);
  friend EncodedText encode_text(std::string_view, std::string_view, const TokenOptions&);

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
  void add_word(std::string word);               // appends a word token
  std::int32_t find_large(char32_t c) const;
  // The index of `c`'s own token, or -1.
  std::int32_t own_index(char32_t c) const {
    if (c < table_.size()) return table_[c];
    return c < kTableSize ? -1 : find_large(c);
  }

  TokenMode mode_ = TokenMode::Char;
  bool lowercase_ = false, split_punctuation_ = false;
  std::vector<std::string> tokens_;
  // Code points below kTableSize -> index or -1, as long as the largest such character of the
  // vocabulary needs (English text: 128 entries, not 65,536 to fill for every vocabulary).
  std::vector<std::int32_t> table_;
  std::unordered_map<char32_t, std::int32_t> large_;  // code points >= 65536 -> index
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> words_;  // word mode
  std::int64_t unknown_index_ = -1, end_index_ = -1;
};

// How often each word of a text occurs, and its lines holding words (each one <eos>).
struct WordCounts {
  std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>> words;
  std::int64_t lines = 0;
};

// The words of `text` by TokenMode::Word's rule (no <eos>), folded with lower_case when
// options.lowercase and split at punctuation when options.split_punctuation. Errors name
// `source` (a text that is not UTF-8).
std::vector<std::string> split_words(std::string_view text, std::string_view source, const TokenOptions& options);

// The words of `bytes` (UTF-8, checked as decode_utf8 does; errors name `source`), folded
// with lower_case when options.lowercase and split at punctuation when
// options.split_punctuation (the mode and the limits are not used), counted.
WordCounts count_words(std::string_view bytes, std::string_view source, const TokenOptions& options = {});

// ------------------------------------------------------------------ bytes to tokens

// A text's vocabulary and its token indices.
struct EncodedText {
  Vocab vocab;
  std::vector<std::int32_t> tokens;
};

// The tokens of a text by `options` and a vocabulary built from them: char mode as
// Vocab::build(decode_utf8(bytes, source), options.max_size) with encoding, word mode as
// Vocab::build_words(count_words(...), options.min_count, options.max_size) with encoding.
// Decodes in chunks of about 1 MB twice over (count, then encode), so the code points are
// never all in memory: beyond `bytes` it holds only the tokens (4 bytes each) and, for
// words, the distinct words. This is the way to load a large training text.
EncodedText encode_text(std::string_view bytes, std::string_view source, const TokenOptions& options = {});
// The same for the file at `path` (errors name it).
EncodedText read_encoded_text(const std::string& path, const TokenOptions& options = {});
// The tokens of `bytes` in `vocab`'s mode (word mode: each line's words then <eos>), the
// text folded with lower_case first when vocab.lowercase(); in chunks as above. A character
// outside a char vocabulary without an unknown token is an Error naming `source`, the
// character and its position; a word outside a word vocabulary is its <unk>.
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
