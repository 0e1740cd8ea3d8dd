// UTF-8 decoding, case folding, character and word tokens, the vocabulary, splits and
// char-rnn batching.
#include "recur/data/text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "recur/core/error.hpp"
#include "recur/io/file.hpp"

namespace recur::data {

namespace {

std::string hex_byte(unsigned char b) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", static_cast<unsigned>(b));
  return text;
}

std::string code_point_name(char32_t c) {
  char text[16];
  std::snprintf(text, sizeof text, "U+%04X", static_cast<unsigned>(c));
  return text;
}

[[noreturn]] void throw_invalid_utf8(std::string_view source, std::size_t offset, const std::string& reason) {
  RECUR_FAIL(source << ": invalid UTF-8 at byte offset " << offset << ": " << reason);
}

bool is_scalar_value(char32_t c) { return c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF); }

}  // namespace

// ------------------------------------------------------------------ UTF-8

namespace {

// Decodes the sequences of in[0, n) that start in [begin, soft_end) into dst (at most
// soft_end - begin code points) and returns where it stopped: the first sequence start at
// or after soft_end, or n. A sequence may run past soft_end (never past n), so decoding a
// buffer in parts gives exactly what decoding it whole gives, errors included.
std::size_t decode_utf8_part(const unsigned char* in, std::size_t n, std::size_t begin, std::size_t soft_end,
                             char32_t* dst, std::size_t& count, std::string_view source) {
  char32_t* const first = dst;
  std::size_t i = begin;
  auto fail = [source](std::size_t offset, const std::string& reason) { throw_invalid_utf8(source, offset, reason); };
  while (i < soft_end) {
    // ASCII fast path: eight bytes at a time while none has its high bit set.
    while (i + 8 <= soft_end) {
      std::uint64_t word;
      std::memcpy(&word, in + i, 8);
      if (word & 0x8080808080808080ull) break;
      for (int k = 0; k < 8; ++k) dst[k] = in[i + k];
      dst += 8;
      i += 8;
    }
    if (i >= soft_end) break;
    const unsigned char lead = in[i];
    if (lead < 0x80) {
      *dst++ = lead;
      ++i;
      continue;
    }
    int length = 0;
    char32_t value = 0;
    if (lead < 0xC0) {
      fail(i, "unexpected continuation byte " + hex_byte(lead) + " (not the start of a sequence)");
    } else if (lead < 0xE0) {
      length = 2, value = lead & 0x1F;
    } else if (lead < 0xF0) {
      length = 3, value = lead & 0x0F;
    } else if (lead < 0xF8) {
      length = 4, value = lead & 0x07;
    } else {
      fail(i, "invalid lead byte " + hex_byte(lead));
    }
    for (int k = 1; k < length; ++k) {
      if (i + k >= n)
        fail(i, "truncated sequence: lead byte " + hex_byte(lead) + " needs " + std::to_string(length) +
                    " bytes, the input ends after " + std::to_string(k));
      const unsigned char next = in[i + k];
      if ((next & 0xC0) != 0x80)
        fail(i, "truncated sequence: lead byte " + hex_byte(lead) + " needs " + std::to_string(length) +
                    " bytes, byte " + std::to_string(k + 1) + " is " + hex_byte(next) +
                    " (not a continuation byte)");
      value = (value << 6) | (next & 0x3F);
    }
    static constexpr char32_t kSmallest[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (value < kSmallest[length])
      fail(i, "overlong encoding of " + code_point_name(value) + " in " + std::to_string(length) + " bytes");
    if (value >= 0xD800 && value <= 0xDFFF) fail(i, "UTF-16 surrogate " + code_point_name(value));
    if (value > 0x10FFFF) fail(i, "code point " + code_point_name(value) + " above U+10FFFF");
    *dst++ = value;
    i += static_cast<std::size_t>(length);
  }
  count = static_cast<std::size_t>(dst - first);
  return i;
}

}  // namespace

std::u32string decode_utf8(std::string_view bytes, std::string_view source) {
  // Every byte yields at most one code point: size for the worst case (all ASCII), trim after.
  std::u32string out(bytes.size(), U'\0');
  std::size_t count = 0;
  decode_utf8_part(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0, bytes.size(), out.data(),
                   count, source);
  out.resize(count);
  return out;
}

std::u32string read_utf8_file(const std::string& path) { return decode_utf8(io::read_file(path), path); }

void append_utf8(std::string& out, char32_t c) {
  RECUR_CHECK(is_scalar_value(c), "append_utf8: " << code_point_name(c) << " is not a Unicode scalar value");
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

std::string describe_char(char32_t c) {
  if (c < 0x20 || c == 0x7F || !is_scalar_value(c)) return code_point_name(c);
  std::string out = "'";
  append_utf8(out, c);
  return out + "' (" + code_point_name(c) + ")";
}

namespace {

struct LowerCasePair {
  char32_t upper, lower;
};
constexpr LowerCasePair kLowerCase[] = {
#include "lower_case_table.inc"
};

struct CodePointRange {
  char32_t first, last;
};
constexpr CodePointRange kPunctuation[] = {
#include "punctuation_table.inc"
};

}  // namespace

char32_t lower_case(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  const LowerCasePair* end = std::end(kLowerCase);
  const LowerCasePair* it =
      std::lower_bound(std::begin(kLowerCase), end, c, [](const LowerCasePair& p, char32_t x) { return p.upper < x; });
  return it != end && it->upper == c ? it->lower : c;
}

bool is_word_separator(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_punctuation(char32_t c) {
  if (c < 0x80) return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`' && c != '_') ||
                       (c >= '{' && c <= '~');
  // The last range that starts at or before c.
  const CodePointRange* it = std::upper_bound(std::begin(kPunctuation), std::end(kPunctuation), c,
                                              [](char32_t x, const CodePointRange& r) { return x < r.first; });
  return it != std::begin(kPunctuation) && c <= (it - 1)->last;
}

// ------------------------------------------------------------------ tokens

std::string_view token_mode_name(TokenMode mode) { return mode == TokenMode::Word ? "word" : "char"; }

TokenMode parse_token_mode(std::string_view name) {
  if (name == "char") return TokenMode::Char;
  if (name == "word") return TokenMode::Word;
  RECUR_FAIL("unknown token mode \"" << name << "\": use char or word");
}

// ------------------------------------------------------------------ vocabulary

void Vocab::add(char32_t c) {
  const auto index = static_cast<std::int32_t>(tokens_.size());
  if (c < kTableSize) {
    if (c >= table_.size()) table_.resize(c + 1, -1);
    table_[c] = index;
  } else {
    large_[c] = index;
  }
  std::string token;
  append_utf8(token, c);
  tokens_.push_back(std::move(token));
}

std::int32_t Vocab::find_large(char32_t c) const {
  auto it = large_.find(c);
  return it == large_.end() ? -1 : it->second;
}

void Vocab::Counts::add(std::u32string_view text) {
  for (char32_t c : text) {
    if (c < kTableSize)
      ++small[c];
    else
      ++large[c];
  }
}

Vocab Vocab::build(std::u32string_view text, std::int64_t max_size) {
  check_max_size(max_size);
  Counts counts;
  counts.add(text);
  return from_counts(counts, max_size);
}

void Vocab::check_max_size(std::int64_t max_size) {
  RECUR_CHECK(max_size == 0 || max_size >= 2,
              "Vocab::build: max_size must be 0 (no limit) or at least 2 (one character and the unknown token), got "
                  << max_size);
}

Vocab Vocab::from_counts(const Counts& counts, std::int64_t max_size) {
  const std::vector<std::int64_t>& small_counts = counts.small;
  const std::unordered_map<char32_t, std::int64_t>& large_counts = counts.large;
  struct Entry {
    char32_t c;
    std::int64_t count;
  };
  std::vector<Entry> entries;
  for (char32_t c = 0; c < kTableSize; ++c)
    if (small_counts[c] > 0) entries.push_back({c, small_counts[c]});
  for (const auto& [c, count] : large_counts) entries.push_back({c, count});
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.count != b.count ? a.count > b.count : a.c < b.c;
  });

  Vocab vocab;
  const bool truncate = max_size > 0 && static_cast<std::int64_t>(entries.size()) > max_size;
  const std::size_t kept = truncate ? static_cast<std::size_t>(max_size - 1) : entries.size();
  for (std::size_t i = 0; i < kept; ++i) vocab.add(entries[i].c);
  if (truncate) {
    vocab.unknown_index_ = vocab.size();
    vocab.tokens_.emplace_back(kUnknownToken);
  }
  return vocab;
}

void Vocab::add_word(std::string word) {
  const auto index = static_cast<std::int32_t>(tokens_.size());
  if (word == kUnknownToken) unknown_index_ = index;
  else if (word == kEndToken) end_index_ = index;
  if (word != kUnknownToken) words_.emplace(word, index);  // "<unk>" in a text is looked up as unknown anyway
  tokens_.push_back(std::move(word));
}

std::int64_t Vocab::find_word(std::string_view word) const {
  auto it = words_.find(word);
  return it == words_.end() ? unknown_index_ : it->second;
}

bool Vocab::contains_word(std::string_view word) const { return words_.find(word) != words_.end(); }

Vocab Vocab::build_words(const WordCounts& counts, std::int64_t min_count, std::int64_t max_size) {
  RECUR_CHECK(min_count >= 1, "--min-count must be at least 1, got " << min_count);
  RECUR_CHECK(max_size == 0 || max_size >= 3, "--max-vocab must be 0 (no limit) or at least 3 (one word, "
                                                  << kUnknownToken << " and " << kEndToken << "), got " << max_size);
  struct Entry {
    std::string_view word;
    std::int64_t count;
    bool operator<(const Entry& other) const {  // most frequent first, then byte order
      return count != other.count ? count > other.count : word < other.word;
    }
  };
  std::int64_t unknown = 0, end = counts.lines;
  std::vector<Entry> words;
  for (const auto& [word, count] : counts.words) {
    if (word == kUnknownToken) unknown += count;
    else if (word == kEndToken) end += count;
    else words.push_back({word, count});
  }
  std::sort(words.begin(), words.end());
  std::size_t kept = 0;
  while (kept < words.size() && words[kept].count >= min_count &&
         (max_size == 0 || static_cast<std::int64_t>(kept) < max_size - 2))
    ++kept;
  for (std::size_t i = kept; i < words.size(); ++i) unknown += words[i].count;
  words.resize(kept);
  words.push_back({kUnknownToken, unknown});
  words.push_back({kEndToken, end});
  std::sort(words.begin(), words.end());
  Vocab vocab;
  vocab.mode_ = TokenMode::Word;
  for (const Entry& e : words) vocab.add_word(std::string(e.word));
  return vocab;
}

Vocab Vocab::from_tokens(const std::vector<std::string>& tokens, TokenMode mode, bool lowercase,
                         bool split_punctuation) {
  Vocab vocab;
  vocab.lowercase_ = lowercase;
  vocab.split_punctuation_ = mode == TokenMode::Word && split_punctuation;
  if (mode == TokenMode::Word) {
    vocab.mode_ = TokenMode::Word;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const std::string& token = tokens[i];
      RECUR_CHECK(!token.empty(), "Vocab::from_tokens: word " << i << " is empty");
      for (char32_t c : decode_utf8(token, "Vocab::from_tokens: word " + std::to_string(i)))
        RECUR_CHECK(!is_word_separator(c), "Vocab::from_tokens: word " << i << " holds the separator "
                                                                        << describe_char(c));
      const bool repeated = token == kUnknownToken ? vocab.has_unknown() : vocab.contains_word(token);
      RECUR_CHECK(!repeated, "Vocab::from_tokens: word " << i << " (\"" << token << "\") appears twice");
      vocab.add_word(token);
    }
    RECUR_CHECK(vocab.has_unknown() && vocab.end_index() >= 0,
                "Vocab::from_tokens: a word vocabulary needs both " << kUnknownToken << " and " << kEndToken);
    return vocab;
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    if (token == kUnknownToken) {
      RECUR_CHECK(i + 1 == tokens.size(), "Vocab::from_tokens: the unknown token " << kUnknownToken << " is at index "
                                                                                 << i << ", it must be the last of "
                                                                                 << tokens.size());
      vocab.unknown_index_ = static_cast<std::int64_t>(i);
      vocab.tokens_.push_back(token);
      continue;
    }
    RECUR_CHECK(!token.empty(), "Vocab::from_tokens: token " << i << " is empty");
    std::u32string chars = decode_utf8(token, "Vocab::from_tokens: token " + std::to_string(i));
    RECUR_CHECK(chars.size() == 1, "Vocab::from_tokens: token " << i << " (\"" << token << "\") has " << chars.size()
                                                                << " characters, expected one");
    RECUR_CHECK(!vocab.contains(chars[0]), "Vocab::from_tokens: token " << i << " " << describe_char(chars[0])
                                                                        << " repeats token " << vocab.find(chars[0]));
    vocab.add(chars[0]);
  }
  return vocab;
}

const std::string& Vocab::token(std::int64_t index) const {
  RECUR_CHECK(index >= 0 && index < size(), "Vocab::token: index " << index << " out of range [0, " << size() << ")");
  return tokens_[static_cast<std::size_t>(index)];
}

std::vector<std::int32_t> Vocab::encode(std::u32string_view text) const {
  std::vector<std::int32_t> out(text.size());
  encode_into(text, out.data(), 0);
  return out;
}

void Vocab::encode_into(std::u32string_view text, std::int32_t* out, std::size_t first_position) const {
  const auto unknown = static_cast<std::int32_t>(unknown_index_);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = lowercase_ ? lower_case(text[i]) : text[i];
    std::int32_t index = own_index(c);
    if (index < 0) {
      RECUR_CHECK(unknown >= 0, "character " << describe_char(c) << " at position " << first_position + i
                                             << " is not in the vocabulary (which has no unknown token)");
      index = unknown;
    }
    out[i] = index;
  }
}

Tensor Vocab::encode_tensor(std::u32string_view text) const {
  std::vector<std::int32_t> indices = encode(text);
  Tensor out = empty(Shape{static_cast<std::int64_t>(indices.size())}, DType::Int64);
  std::int64_t* dst = out.data<std::int64_t>();
  for (std::size_t i = 0; i < indices.size(); ++i) dst[i] = indices[i];
  return out;
}

void Vocab::append_token(std::string& text, std::int64_t index) const {
  const std::string& t = token(index);
  if (mode_ == TokenMode::Char) {
    text += t;
  } else if (index == end_index_) {
    text += '\n';
  } else {
    if (!text.empty() && text.back() != '\n') text += ' ';
    text += t;
  }
}

std::string Vocab::decode(std::span<const std::int32_t> indices) const {
  std::string out;
  out.reserve(indices.size());
  for (std::int32_t index : indices) append_token(out, index);
  return out;
}

std::string Vocab::decode(std::span<const std::int64_t> indices) const {
  std::string out;
  out.reserve(indices.size());
  for (std::int64_t index : indices) append_token(out, index);
  return out;
}

// ------------------------------------------------------------------ bytes to tokens

namespace {

constexpr std::size_t kChunkBytes = std::size_t{1} << 20;

// Calls visit(code_points, position of the first) for each chunk of about kChunkBytes
// bytes of `bytes`, decoded into one reused buffer and folded with lower_case when
// `lowercase`.
template <class Visit>
void for_each_decoded_chunk(std::string_view bytes, std::string_view source, bool lowercase, Visit visit) {
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::u32string buffer(std::min(n, kChunkBytes), U'\0');
  std::size_t i = 0, position = 0;
  while (i < n) {
    std::size_t count = 0;
    const std::size_t next = decode_utf8_part(in, n, i, std::min(n, i + kChunkBytes), buffer.data(), count, source);
    if (lowercase)
      for (std::size_t k = 0; k < count; ++k) buffer[k] = lower_case(buffer[k]);
    visit(std::u32string_view(buffer.data(), count), position);
    position += count;
    i = next;
  }
}

// Calls word(utf8) for each word of `bytes` and line_end() after each line holding one
// (TokenMode::Word's rule, with options.lowercase and options.split_punctuation); a word
// may span chunks.
template <class Word, class LineEnd>
void for_each_word(std::string_view bytes, std::string_view source, const TokenOptions& options, Word word,
                   LineEnd line_end) {
  std::string current;
  bool line_has_word = false, in_punctuation = false;
  auto end_word = [&] {
    if (current.empty()) return;
    word(std::string_view(current));
    current.clear();
    line_has_word = true;
  };
  for_each_decoded_chunk(bytes, source, options.lowercase, [&](std::u32string_view chars, std::size_t) {
    for (char32_t c : chars) {
      if (!is_word_separator(c)) {
        if (options.split_punctuation) {
          const bool punctuation = is_punctuation(c);
          if (punctuation != in_punctuation) end_word(), in_punctuation = punctuation;
        }
        if (c < 0x80) current += static_cast<char>(c);
        else append_utf8(current, c);
      } else {
        end_word();
        if (c == U'\n' && line_has_word) line_end(), line_has_word = false;
      }
    }
  });
  end_word();
  if (line_has_word) line_end();
}

}  // namespace

std::vector<std::string> split_words(std::string_view text, std::string_view source, const TokenOptions& options) {
  std::vector<std::string> words;
  for_each_word(text, source, options, [&](std::string_view word) { words.emplace_back(word); }, [] {});
  return words;
}

WordCounts count_words(std::string_view bytes, std::string_view source, const TokenOptions& options) {
  WordCounts counts;
  for_each_word(
      bytes, source, options,
      [&](std::string_view word) {
        auto it = counts.words.find(word);
        if (it == counts.words.end()) counts.words.emplace(std::string(word), 1);
        else ++it->second;
      },
      [&] { ++counts.lines; });
  return counts;
}

std::vector<std::int32_t> encode_text(std::string_view bytes, std::string_view source, const Vocab& vocab) {
  std::vector<std::int32_t> tokens;
  if (vocab.mode() == TokenMode::Word) {
    tokens.reserve(bytes.size() / 4);  // English averages about 5.5 bytes a word with its space
    const auto end = static_cast<std::int32_t>(vocab.end_index());
    for_each_word(
        bytes, source, vocab.token_options(), [&](std::string_view word) { tokens.push_back(static_cast<std::int32_t>(vocab.find_word(word))); },
        [&] { tokens.push_back(end); });
    return tokens;
  }
  tokens.reserve(bytes.size());
  // encode_into folds the case, so the chunks are decoded as they are.
  for_each_decoded_chunk(bytes, source, /*lowercase=*/false, [&](std::u32string_view chars, std::size_t position) {
    tokens.resize(position + chars.size());
    try {
      vocab.encode_into(chars, tokens.data() + position, position);
    } catch (const Error& e) {
      RECUR_FAIL(source << ": " << e.what());  // which text holds the character
    }
  });
  tokens.shrink_to_fit();
  return tokens;
}

EncodedText encode_text(std::string_view bytes, std::string_view source, const TokenOptions& options) {
  EncodedText out;
  if (options.mode == TokenMode::Word) {
    out.vocab = Vocab::build_words(count_words(bytes, source, options), options.min_count, options.max_size);
    out.vocab.lowercase_ = options.lowercase;
    out.vocab.split_punctuation_ = options.split_punctuation;
    out.tokens = encode_text(bytes, source, out.vocab);
    return out;
  }
  Vocab::check_max_size(options.max_size);
  Vocab::Counts counts;
  std::size_t total = 0;
  for_each_decoded_chunk(bytes, source, options.lowercase, [&](std::u32string_view chars, std::size_t) {
    counts.add(chars);
    total += chars.size();
  });
  out.vocab = Vocab::from_counts(counts, options.max_size);
  out.vocab.lowercase_ = options.lowercase;
  out.tokens.resize(total);
  for_each_decoded_chunk(bytes, source, /*lowercase=*/false, [&](std::u32string_view chars, std::size_t position) {
    out.vocab.encode_into(chars, out.tokens.data() + position, position);
  });
  return out;
}

EncodedText read_encoded_text(const std::string& path, const TokenOptions& options) {
  return encode_text(io::read_file(path), path, options);
}

// ------------------------------------------------------------------ splits

TextSplit split_tokens(std::span<const std::int32_t> tokens, SplitFractions f) {
  const double fractions[3] = {f.train, f.validation, f.test};
  const char* names[3] = {"train", "validation", "test"};
  for (int k = 0; k < 3; ++k)
    RECUR_CHECK(fractions[k] >= 0 && fractions[k] <= 1,
                "split_tokens: the " << names[k] << " fraction must be in [0, 1], got " << fractions[k]);
  const double sum = f.train + f.validation + f.test;
  RECUR_CHECK(std::abs(sum - 1) <= 1e-9, "split_tokens: the fractions (train " << f.train << ", validation "
                                                                               << f.validation << ", test " << f.test
                                                                               << ") must sum to 1, they sum to "
                                                                               << sum);
  const auto n = static_cast<std::int64_t>(tokens.size());
  const std::int64_t end_train = std::min<std::int64_t>(n, std::llround(static_cast<double>(n) * f.train));
  const std::int64_t end_validation =
      std::min<std::int64_t>(n, std::max(end_train, static_cast<std::int64_t>(
                                                        std::llround(static_cast<double>(n) * (f.train + f.validation)))));
  TextSplit split;
  split.train = tokens.subspan(0, static_cast<std::size_t>(end_train));
  split.validation = tokens.subspan(static_cast<std::size_t>(end_train), static_cast<std::size_t>(end_validation - end_train));
  split.test = tokens.subspan(static_cast<std::size_t>(end_validation));
  const std::size_t sizes[3] = {split.train.size(), split.validation.size(), split.test.size()};
  for (int k = 0; k < 3; ++k)
    RECUR_CHECK(fractions[k] == 0 || sizes[k] > 0,
                "split_tokens: the " << names[k] << " part is empty (" << n << " tokens, " << names[k]
                                     << " fraction " << fractions[k] << "); use a longer text or a larger fraction");
  return split;
}

// ------------------------------------------------------------------ batching

CharBatches::CharBatches(std::span<const std::int32_t> tokens, std::int64_t batch_size, std::int64_t seq_length)
    : tokens_(tokens), batch_size_(batch_size), seq_length_(seq_length) {
  RECUR_CHECK(batch_size >= 1, "CharBatches: batch size must be at least 1, got " << batch_size);
  RECUR_CHECK(seq_length >= 1, "CharBatches: sequence length must be at least 1, got " << seq_length);
  const auto n = static_cast<std::int64_t>(tokens.size());
  const std::int64_t needed = batch_size * seq_length + 1;
  RECUR_CHECK(n >= needed, "text too short: batch size " << batch_size << " and sequence length " << seq_length
                                                         << " need at least " << needed << " characters (B*T+1), got "
                                                         << n);
  stream_length_ = (n - 1) / batch_size;
  steps_per_epoch_ = stream_length_ / seq_length;
}

Batch CharBatches::batch(std::int64_t step) const {
  RECUR_CHECK(step >= 0 && step < steps_per_epoch_,
              "CharBatches::batch: step " << step << " out of range [0, " << steps_per_epoch_ << ")");
  Batch out;
  out.inputs = empty(Shape{seq_length_, batch_size_}, DType::Int64);
  out.targets = empty(Shape{seq_length_, batch_size_}, DType::Int64);
  std::int64_t* inputs = out.inputs.data<std::int64_t>();
  std::int64_t* targets = out.targets.data<std::int64_t>();
  const std::int32_t* data = tokens_.data();
  for (std::int64_t b = 0; b < batch_size_; ++b) {
    const std::int32_t* stream = data + b * stream_length_ + step * seq_length_;
    for (std::int64_t t = 0; t < seq_length_; ++t) {
      inputs[t * batch_size_ + b] = stream[t];
      targets[t * batch_size_ + b] = stream[t + 1];
    }
  }
  return out;
}

bool CharBatches::next(Batch& batch_out) {
  if (step_ >= steps_per_epoch_) {
    step_ = 0;
    ++epoch_;
    return false;
  }
  batch_out = batch(step_);
  ++step_;
  return true;
}

void CharBatches::set_position(std::int64_t epoch, std::int64_t step) {
  RECUR_CHECK(epoch >= 0, "CharBatches::set_position: epoch must be >= 0, got " << epoch);
  RECUR_CHECK(step >= 0 && step <= steps_per_epoch_, "CharBatches::set_position: step " << step << " out of range [0, "
                                                                                         << steps_per_epoch_ << "]");
  epoch_ = epoch;
  step_ = step;
}

}  // namespace recur::data
