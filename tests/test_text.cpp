// Text data: UTF-8 decoding, case folding, character and word vocabularies, splits and
// char-rnn batching.
#include <cctype>
#include <filesystem>
#include <map>

#include <unistd.h>

#include "test_helpers.hpp"

namespace recur {
namespace {

using data::CharBatches;
using data::Vocab;

std::u32string decode(std::string_view bytes) { return data::decode_utf8(bytes, "test.txt"); }

// ------------------------------------------------------------------ UTF-8

TEST(Utf8, DecodesAscii) {
  EXPECT_EQ(decode(""), U"");
  EXPECT_EQ(decode("hello, world\n"), U"hello, world\n");
  // Long enough for the eight-byte fast path, with a tail it does not cover.
  EXPECT_EQ(decode("0123456789abcdefghij"), U"0123456789abcdefghij");
}

TEST(Utf8, DecodesMultiByte) {
  EXPECT_EQ(decode("h\xC3\xA9llo w\xC3\xB6rld \xE4\xBD\xA0\xE5\xA5\xBD"), U"héllo wörld 你好");
  // One sequence of each length, the largest scalar value, and a byte order mark (kept).
  EXPECT_EQ(decode("A\xC2\xA2\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\xEF\xBB\xBF"),
            std::u32string({U'A', 0xA2, 0x20AC, 0x1F600, 0x10FFFF, 0xFEFF}));
  // Multi-byte characters right after a run of ASCII long enough for the fast path.
  EXPECT_EQ(decode("abcdefghijkl\xE4\xBD\xA0mnopqrstuvw"), U"abcdefghijkl你mnopqrstuvw");
}

TEST(Utf8, EncodeRoundTrip) {
  const std::u32string text = U"héllo wörld 你好 😀\n\t";
  EXPECT_EQ(decode(data::encode_utf8(text)), text);
  EXPECT_EQ(data::encode_utf8(U"你好"), "\xE4\xBD\xA0\xE5\xA5\xBD");
  std::string out;
  expect_error([&] { data::append_utf8(out, 0xD800); }, {"U+D800", "not a Unicode scalar value"});
  expect_error([&] { data::append_utf8(out, 0x110000); }, {"U+110000"});
}

TEST(Utf8, InvalidSequencesNameTheFileAndByteOffset) {
  struct Case {
    std::string bytes;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"abc\x80xyz", {"test.txt", "byte offset 3", "unexpected continuation byte 0x80"}},
      {"0123456789\xBF", {"byte offset 10", "continuation byte 0xBF"}},
      {"ab\xFF", {"byte offset 2", "invalid lead byte 0xFF"}},
      {"ab\xF8\x88\x80\x80\x80", {"byte offset 2", "invalid lead byte 0xF8"}},
      {"ab\xE4\xBD", {"byte offset 2", "truncated sequence", "needs 3 bytes", "ends after 2"}},
      {"\xF0\x9F\x98", {"byte offset 0", "truncated sequence", "needs 4 bytes"}},
      {"xy\xC3" "A", {"byte offset 2", "truncated sequence", "0x41 (not a continuation byte)"}},
      {"a\xC0\xAF", {"byte offset 1", "overlong encoding of U+002F in 2 bytes"}},
      {"ab\xC1\xBF", {"byte offset 2", "overlong encoding of U+007F"}},
      {"a\xE0\x80\xAF", {"byte offset 1", "overlong encoding of U+002F in 3 bytes"}},
      {"a\xF0\x80\x80\xAF", {"byte offset 1", "overlong encoding of U+002F in 4 bytes"}},
      {"\xE4\xBD\xA0\xED\xA0\x80", {"byte offset 3", "surrogate U+D800"}},
      {"a\xED\xBF\xBF", {"byte offset 1", "surrogate U+DFFF"}},
      {"a\xF4\x90\x80\x80", {"byte offset 1", "U+110000 above U+10FFFF"}},
      {"a\xF7\xBF\xBF\xBF", {"byte offset 1", "U+1FFFFF above U+10FFFF"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.bytes));
    expect_error([&] { decode(c.bytes); }, c.fragments);
  }
}

TEST(Utf8, ReadsFilesAndNamesThemInErrors) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("recur_text_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string good = (dir / "good.txt").string(), bad = (dir / "bad.txt").string();
  io::write_file_atomically(good, "h\xC3\xA9llo\n");
  io::write_file_atomically(bad, "hello\n\xFF");
  EXPECT_EQ(data::read_utf8_file(good), U"héllo\n");
  expect_error([&] { data::read_utf8_file(bad); }, {bad, "byte offset 6", "0xFF"});
  expect_error([&] { data::read_utf8_file((dir / "missing.txt").string()); }, {"missing.txt"});
  std::filesystem::remove_all(dir);
}

TEST(Utf8, DecodesChinesePoems) {
  const std::string path = "/usr/share/games/fortunes/tang300";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent (Debian package fortunes-zh)";
  const std::u32string text = data::read_utf8_file(path);
  EXPECT_GT(text.size(), 10000u);
  EXPECT_NE(text.find(U"李白"), std::u32string::npos);
  const Vocab vocab = Vocab::build(text);
  EXPECT_GT(vocab.size(), 2000);
  EXPECT_EQ(vocab.decode(vocab.encode(text)), io::read_file(path));
}

TEST(Utf8, DecodesTinyShakespeare) {
  const std::string path = std::string(RECUR_TEST_FIXTURES) + "/../../data/tinyshakespeare.txt";
  const std::string bytes = io::read_file(path);
  ASSERT_EQ(bytes.size(), 1115394u);
  const std::u32string text = data::decode_utf8(bytes, path);
  EXPECT_EQ(text.size(), 1115394u);  // all ASCII
  EXPECT_EQ(text.substr(0, 14), U"First Citizen:");
  const Vocab vocab = Vocab::build(text);
  EXPECT_EQ(vocab.size(), 65);
  const data::EncodedText encoded = data::read_encoded_text(path);
  EXPECT_EQ(encoded.vocab.tokens(), vocab.tokens());
  EXPECT_EQ(encoded.tokens.size(), 1115394u);
  EXPECT_EQ(vocab.token(0), " ");  // the most frequent character
  EXPECT_EQ(vocab.decode(vocab.encode(text)), bytes);
}

// ------------------------------------------------------------------ vocabulary

TEST(Vocab, OrdersByFrequencyThenCodePoint) {
  const Vocab vocab = Vocab::build(U"abracadabra ééé");
  // a:5, b:2, r:2, é:3, c:1, d:1, ' ':1  ->  a é b r ' ' c d
  EXPECT_EQ(vocab.tokens(), (std::vector<std::string>{"a", "é", "b", "r", " ", "c", "d"}));
  EXPECT_FALSE(vocab.has_unknown());
  EXPECT_EQ(vocab.unknown_index(), -1);
  EXPECT_EQ(vocab.find(U'a'), 0);
  EXPECT_EQ(vocab.find(U'é'), 1);
  EXPECT_EQ(vocab.find(U'z'), -1);
  EXPECT_FALSE(vocab.contains(U'z'));
  // Deterministic: the same text, in any order, gives the same vocabulary.
  EXPECT_EQ(Vocab::build(U"ééé arbadacarba").tokens(), vocab.tokens());
}

TEST(Vocab, CharactersAboveTheBasicPlane) {
  const Vocab vocab = Vocab::build(U"😀😀a😁");
  EXPECT_EQ(vocab.tokens(), (std::vector<std::string>{"😀", "a", "😁"}));
  EXPECT_EQ(vocab.find(0x1F601), 2);
  EXPECT_EQ(vocab.encode(U"a😁😀"), (std::vector<std::int32_t>{1, 2, 0}));
}

TEST(Vocab, MaxSizeKeepsTheMostFrequentAndAddsUnknownLast) {
  const std::u32string text = U"aaaabbbccd";
  const Vocab vocab = Vocab::build(text, 3);
  EXPECT_EQ(vocab.tokens(), (std::vector<std::string>{"a", "b", "<unk>"}));
  EXPECT_EQ(vocab.size(), 3);
  EXPECT_TRUE(vocab.has_unknown());
  EXPECT_EQ(vocab.unknown_index(), 2);
  EXPECT_EQ(vocab.find(U'c'), 2);
  EXPECT_FALSE(vocab.contains(U'c'));
  EXPECT_EQ(vocab.encode(U"abcdz你"), (std::vector<std::int32_t>{0, 1, 2, 2, 2, 2}));
  EXPECT_EQ(vocab.decode(vocab.encode(U"abc")), "ab<unk>");
  // Enough room for every character: no unknown token.
  EXPECT_FALSE(Vocab::build(text, 4).has_unknown());
  EXPECT_EQ(Vocab::build(text, 4).size(), 4);
  EXPECT_EQ(Vocab::build(text, 0).size(), 4);
  expect_error([&] { Vocab::build(text, 1); }, {"max_size", "at least 2", "got 1"});
  expect_error([&] { Vocab::build(text, -3); }, {"got -3"});
}

TEST(Vocab, UnknownCharacterWithoutUnknownTokenIsAnError) {
  const Vocab vocab = Vocab::build(U"hello");
  expect_error([&] { vocab.encode(U"hell\u00F6"); }, {"'ö' (U+00F6)", "position 4", "not in the vocabulary"});
  expect_error([&] { vocab.encode(U"he\nllo"); }, {"U+000A", "position 2"});
  expect_error([&] { vocab.encode(U"hi"); }, {"'i' (U+0069)", "position 1"});
}

TEST(Vocab, RoundTripDecodeEncodeDecode) {
  const std::string bytes = "héllo wörld 你好\nhello 😀";
  const std::u32string text = decode(bytes);
  const Vocab vocab = Vocab::build(text);
  const std::vector<std::int32_t> tokens = vocab.encode(text);
  ASSERT_EQ(tokens.size(), text.size());
  EXPECT_EQ(vocab.decode(tokens), bytes);
  const Tensor t = vocab.encode_tensor(text);
  EXPECT_EQ(t.dtype(), DType::Int64);
  EXPECT_EQ(t.shape(), Shape({static_cast<std::int64_t>(text.size())}));
  const std::vector<std::int64_t> wide = t.to_vector<std::int64_t>();
  EXPECT_EQ(vocab.decode(wide), bytes);
  expect_error([&] { vocab.decode(std::vector<std::int32_t>{0, 99}); }, {"index 99 out of range"});
}

TEST(Vocab, FromTokensRebuildsTheSameVocabulary) {
  const Vocab built = Vocab::build(U"aaaabbbccd你你你你你", 4);
  const Vocab loaded = Vocab::from_tokens(built.tokens());
  EXPECT_EQ(loaded.tokens(), built.tokens());
  EXPECT_EQ(loaded.unknown_index(), 3);
  EXPECT_EQ(loaded.encode(U"你abcd"), built.encode(U"你abcd"));
  expect_error([] { Vocab::from_tokens({"a", "<unk>", "b"}); }, {"unknown token", "index 1", "last"});
  expect_error([] { Vocab::from_tokens({"a", ""}); }, {"token 1", "empty"});
  expect_error([] { Vocab::from_tokens({"a", "bc"}); }, {"token 1", "2 characters"});
  expect_error([] { Vocab::from_tokens({"a", "b", "a"}); }, {"token 2", "'a'", "repeats token 0"});
  expect_error([] { Vocab::from_tokens({"a", "\xFF"}); }, {"token 1", "invalid UTF-8"});
}

// ------------------------------------------------------------------ bytes to tokens

TEST(EncodeText, ChunkedMatchesWholeDecoding) {
  // Over 3 MB of mixed 1- to 4-byte characters, so chunk boundaries (every 1 MB) fall
  // inside sequences.
  std::string bytes;
  while (bytes.size() < 3'300'000) bytes += "h\xC3\xA9llo w\xC3\xB6rld \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80\n";
  bytes += "\xF0\x9F\x98\x81";  // a rare character, last
  const std::u32string text = decode(bytes);
  for (std::int64_t max_size : {0, 5}) {
    const Vocab vocab = Vocab::build(text, max_size);
    const data::EncodedText encoded = data::encode_text(bytes, "big.txt", {.max_size = max_size});
    EXPECT_EQ(encoded.vocab.tokens(), vocab.tokens());
    EXPECT_EQ(encoded.tokens, vocab.encode(text));
    EXPECT_EQ(data::encode_text(bytes, "big.txt", vocab), encoded.tokens);
  }
  EXPECT_EQ(data::encode_text("", "empty.txt").tokens.size(), 0u);
  EXPECT_EQ(data::encode_text("", "empty.txt").vocab.size(), 0);
}

TEST(EncodeText, ErrorsNameTheSameOffsetsAndPositions) {
  std::string bytes(2'500'000, 'a');
  bytes[2'200'000] = '\xE4';  // a 3-byte lead followed by ASCII, in the third chunk
  expect_error([&] { data::encode_text(bytes, "big.txt"); },
               {"big.txt", "byte offset 2200000", "truncated sequence", "byte 2 is 0x61"});
  bytes[2'200'000] = 'a';
  bytes[1'048'575] = '\xC3';  // a 2-byte sequence across the first chunk boundary: valid
  bytes[1'048'576] = '\xA9';
  const data::EncodedText encoded = data::encode_text(bytes, "big.txt");
  EXPECT_EQ(encoded.tokens.size(), bytes.size() - 1);
  EXPECT_EQ(encoded.vocab.tokens(), (std::vector<std::string>{"a", "é"}));
  EXPECT_EQ(encoded.tokens[1'048'575], 1);
  bytes[2'400'000] = 'z';  // character position 2'399'999: after the two-byte é
  expect_error([&] { data::encode_text(bytes, "big.txt", encoded.vocab); },
               {"big.txt: ", "'z' (U+007A)", "position 2399999", "not in the vocabulary"});
  expect_error([&] { data::encode_text(bytes, "big.txt", {.max_size = 1}); }, {"max_size", "got 1"});
}

// ------------------------------------------------------------------ case and separators

TEST(LowerCase, LatinGreekCyrillicAndTheRest) {
  EXPECT_EQ(data::lower_case(U'A'), U'a');
  EXPECT_EQ(data::lower_case(U'z'), U'z');
  EXPECT_EQ(data::lower_case(U'@'), U'@');
  EXPECT_EQ(data::lower_case(U'['), U'[');
  EXPECT_EQ(data::lower_case(U'É'), U'é');
  EXPECT_EQ(data::lower_case(U'Ÿ'), U'ÿ');  // U+0178, far from its lowercase U+00FF
  EXPECT_EQ(data::lower_case(U'Ł'), U'ł');
  EXPECT_EQ(data::lower_case(U'ẞ'), U'ß');
  EXPECT_EQ(data::lower_case(U'İ'), U'i');  // the simple mapping (Python's full one adds U+0307)
  EXPECT_EQ(data::lower_case(U'Ω'), U'ω');
  EXPECT_EQ(data::lower_case(U'Ά'), U'ά');
  EXPECT_EQ(data::lower_case(U'Σ'), U'σ');
  EXPECT_EQ(data::lower_case(U'Ж'), U'ж');
  EXPECT_EQ(data::lower_case(U'Ё'), U'ё');
  EXPECT_EQ(data::lower_case(U'Ѣ'), U'ѣ');
  EXPECT_EQ(data::lower_case(U'ß'), U'ß');
  EXPECT_EQ(data::lower_case(U'唐'), U'唐');
  EXPECT_EQ(data::lower_case(U'Ａ'), U'ａ');  // fullwidth
  EXPECT_EQ(data::lower_case(U'𐐀'), U'𐐨');  // Deseret, above the Basic Multilingual Plane
  // Folding twice changes nothing.
  for (char32_t c = 0; c < 0x11000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    ASSERT_EQ(data::lower_case(data::lower_case(c)), data::lower_case(c)) << std::hex << static_cast<std::uint32_t>(c);
  }
}

TEST(WordSeparator, ExactlyPythonsStrSplitWhitespace) {
  // The characters for which Python's str.isspace() holds, which str.split() splits on.
  const std::u32string python = U"\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                                U"\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
  for (char32_t c = 0; c < 0x11000; ++c)
    ASSERT_EQ(data::is_word_separator(c), python.find(c) != std::u32string::npos)
        << std::hex << static_cast<std::uint32_t>(c);
}

TEST(Punctuation, AsciiPunctuationAndUnicodesPunctuationAndSymbols) {
  for (char32_t c = 0; c < 0x80; ++c)
    EXPECT_EQ(data::is_punctuation(c), std::ispunct(static_cast<int>(c)) && c != '_') << static_cast<int>(c);
  // Above ASCII: categories P* and S* (but not Pc) are punctuation; letters, digits, marks,
  // spaces and the connector U+203F are not.
  for (char32_t c : {U'¡', U'¿', U'«', U'©', U'°', U'×', U'÷', U'—', U'…', U'“', U'€', U'→', U'∑', U'、', U'。',
                     U'！', U'\U0001F600'})
    EXPECT_TRUE(data::is_punctuation(c)) << std::hex << static_cast<std::uint32_t>(c);
  for (char32_t c : {U'é', U'ß', U'Ω', U'ж', U'中', U'٣', U'\u0301', U'\u00A0', U'\u203F', U'ª', U'²'})
    EXPECT_FALSE(data::is_punctuation(c)) << std::hex << static_cast<std::uint32_t>(c);
}

// ------------------------------------------------------------------ words

// The word tokens of `text` by a new vocabulary, as strings ("<eos>" for line ends).
std::vector<std::string> words_of(const std::string& text, data::TokenOptions options = {}) {
  options.mode = data::TokenMode::Word;
  const data::EncodedText encoded = data::encode_text(text, "words.txt", options);
  std::vector<std::string> out;
  for (std::int32_t t : encoded.tokens) out.push_back(encoded.vocab.token(t));
  return out;
}

TEST(Words, LinesOfWordsEachEndWithEos) {
  using V = std::vector<std::string>;
  EXPECT_EQ(words_of("the cat sat\non  the\tmat .\n"), (V{"the", "cat", "sat", "<eos>", "on", "the", "mat", ".", "<eos>"}));
  // Blank lines and lines of only whitespace add nothing; a last line without '\n' still ends.
  EXPECT_EQ(words_of("\n\n  a b \n \t \n\nc"), (V{"a", "b", "<eos>", "c", "<eos>"}));
  // CRLF line ends, and Unicode separators (no-break space, ideographic space) between words.
  EXPECT_EQ(words_of("a b\r\nc\xC2\xA0" "d\xE3\x80\x80" "e\r\n"), (V{"a", "b", "<eos>", "c", "d", "e", "<eos>"}));
  EXPECT_EQ(words_of(""), V{});
  EXPECT_EQ(words_of(" \n\t\n"), V{});
  // Case folding, Unicode-aware.
  EXPECT_EQ(words_of("The ΣΟΦΙΑ Жук ÉTÉ", {.lowercase = true}), (V{"the", "σοφια", "жук", "été", "<eos>"}));
}

TEST(Words, SplitPunctuationMakesRunsOfPunctuationWordsOfTheirOwn) {
  using V = std::vector<std::string>;
  const data::TokenOptions split{.split_punctuation = true};
  EXPECT_EQ(words_of("Income...First $500!!! don't\nsnake_case (a)", split),
            (V{"Income", "...", "First", "$", "500", "!!!", "don", "'", "t", "<eos>", "snake_case", "(", "a", ")",
               "<eos>"}));
  EXPECT_EQ(words_of("¿Qué? ÉTÉ—été «ok»", {.lowercase = true, .split_punctuation = true}),
            (V{"¿", "qué", "?", "été", "—", "été", "«", "ok", "»", "<eos>"}));
  // A line of punctuation alone is words too; without the option nothing is split.
  EXPECT_EQ(words_of("?!", split), (V{"?!", "<eos>"}));
  EXPECT_EQ(words_of("a,b c."), (V{"a,b", "c.", "<eos>"}));
  // split_words is the same rule without line ends, and the vocabulary keeps the option.
  EXPECT_EQ(data::split_words("x,y\nz.", "s", split), (V{"x", ",", "y", "z", "."}));
  const data::EncodedText encoded = data::encode_text("a, b", "s", {.mode = data::TokenMode::Word,
                                                                     .split_punctuation = true});
  EXPECT_TRUE(encoded.vocab.split_punctuation());
  EXPECT_EQ(encoded.vocab.decode(data::encode_text("b,a", "t", encoded.vocab)), "b , a\n");
}

TEST(Words, VocabularyByCountThenBytes) {
  data::WordCounts counts = data::count_words("b a c a\nb a d\n\n<unk> e\n", "w.txt");
  EXPECT_EQ(counts.lines, 3);
  EXPECT_EQ(counts.words.at("a"), 3);
  EXPECT_EQ(counts.words.at("<unk>"), 1);  // a literal <unk>, as Penn Treebank files have
  // Counts: a 3, <eos> 3, b 2, <unk> 1 (the literal), c 1, d 1, e 1: ties in byte order,
  // '<' (0x3C) before letters.
  Vocab all = Vocab::build_words(counts);
  EXPECT_EQ(all.mode(), data::TokenMode::Word);
  EXPECT_EQ(all.tokens(), (std::vector<std::string>{"<eos>", "a", "b", "<unk>", "c", "d", "e"}));
  EXPECT_EQ(all.end_index(), 0);
  EXPECT_EQ(all.unknown_index(), 3);
  EXPECT_EQ(all.find_word("c"), 4);
  EXPECT_EQ(all.find_word("zebra"), 3);
  EXPECT_EQ(all.find_word("<unk>"), 3);
  EXPECT_TRUE(all.contains_word("c"));
  EXPECT_FALSE(all.contains_word("zebra"));
  EXPECT_FALSE(all.contains_word("<unk>"));
  // --min-count 2: c, d, e (1 each) join <unk>, now 4.
  EXPECT_EQ(Vocab::build_words(counts, 2).tokens(), (std::vector<std::string>{"<unk>", "<eos>", "a", "b"}));
  // --max-vocab 3: one word and the specials.
  EXPECT_EQ(Vocab::build_words(counts, 1, 3).tokens(), (std::vector<std::string>{"<unk>", "<eos>", "a"}));
  // Both specials are there even when nothing is unknown.
  EXPECT_EQ(Vocab::build_words(data::count_words("x y", "w.txt")).tokens(),
            (std::vector<std::string>{"<eos>", "x", "y", "<unk>"}));
  expect_error([&] { Vocab::build_words(counts, 0); }, {"--min-count", "at least 1", "got 0"});
  expect_error([&] { Vocab::build_words(counts, 1, 2); }, {"--max-vocab", "at least 3", "got 2"});
}

TEST(Words, EncodingWithAVocabularyMapsUnknownWords) {
  const data::EncodedText train = data::encode_text("a b a\nb c\n", "train.txt", {.mode = data::TokenMode::Word});
  const std::vector<std::int32_t> tokens = data::encode_text("a z\n\nb\n", "val.txt", train.vocab);
  std::vector<std::string> words;
  for (std::int32_t t : tokens) words.push_back(train.vocab.token(t));
  EXPECT_EQ(words, (std::vector<std::string>{"a", "<unk>", "<eos>", "b", "<eos>"}));
  EXPECT_EQ(train.vocab.decode(tokens), "a <unk>\nb\n");
  // A lowercased vocabulary folds what it encodes.
  const data::EncodedText lower =
      data::encode_text("Aa aA", "x.txt", {.mode = data::TokenMode::Word, .lowercase = true});
  EXPECT_EQ(lower.vocab.tokens(), (std::vector<std::string>{"aa", "<eos>", "<unk>"}));
  EXPECT_EQ(data::encode_text("AA", "y.txt", lower.vocab), (std::vector<std::int32_t>{0, 1}));
}

TEST(Words, ChunkedCountingAndEncodingSeeWordsAcrossChunkBoundaries) {
  // Over 2 MB of lines with words of 1 to 4-byte characters, so chunk boundaries (every
  // 1 MB) fall inside words and inside sequences; counted against a plain split.
  std::string bytes;
  std::map<std::string, std::int64_t> expected;
  std::int64_t lines = 0;
  const std::vector<std::string> words = {"h\xC3\xA9llo", "w\xC3\xB6rld", "\xE4\xBD\xA0\xE5\xA5\xBD", "\xF0\x9F\x98\x80x", "a"};
  for (std::uint32_t i = 0; bytes.size() < 2'200'000; ++i) {
    const std::string& w = words[(i * 7 + i / 3) % words.size()];
    bytes += w;
    ++expected[w];
    if (i % 9 == 8) bytes += "\n", ++lines;
    else bytes += i % 2 ? " " : "\t";
  }
  bytes += "last";
  ++expected["last"], ++lines;
  const data::WordCounts counts = data::count_words(bytes, "big.txt");
  EXPECT_EQ(counts.lines, lines);
  ASSERT_EQ(counts.words.size(), expected.size());
  for (const auto& [word, count] : expected) EXPECT_EQ(counts.words.at(word), count) << word;
  const data::EncodedText encoded = data::encode_text(bytes, "big.txt", {.mode = data::TokenMode::Word});
  std::int64_t total = lines;
  for (const auto& [word, count] : expected) total += count;
  EXPECT_EQ(static_cast<std::int64_t>(encoded.tokens.size()), total);
  EXPECT_EQ(encoded.vocab.decode(encoded.tokens), [&] {  // single spaces, one line per line
    std::string text;
    for (char c : bytes) text += c == '\t' ? ' ' : c;
    return text + "\n";
  }());
  expect_error([&] { data::encode_text(bytes + "\xFF", "big.txt", {.mode = data::TokenMode::Word}); },
               {"big.txt", "byte offset " + std::to_string(bytes.size())});
  // A run of punctuation across a chunk boundary stays one word: 1 MB is 4 bytes into the
  // pattern's 116,509th "ab....cd ", inside its "....".
  std::string runs;
  while (runs.size() < 1'100'000) runs += "ab....cd ";
  const data::WordCounts split = data::count_words(runs, "runs.txt", {.split_punctuation = true});
  const std::int64_t n = static_cast<std::int64_t>(runs.size() / 9);
  EXPECT_EQ(split.words, (decltype(split.words){{"ab", n}, {"....", n}, {"cd", n}}));
}

TEST(Words, FromTokensChecksAWordVocabulary) {
  const Vocab vocab = Vocab::from_tokens({"the", "<eos>", "<unk>", "été"}, data::TokenMode::Word, true);
  EXPECT_EQ(vocab.mode(), data::TokenMode::Word);
  EXPECT_TRUE(vocab.lowercase());
  EXPECT_EQ(vocab.end_index(), 1);
  EXPECT_EQ(vocab.unknown_index(), 2);
  EXPECT_EQ(vocab.find_word("été"), 3);
  expect_error([] { Vocab::from_tokens({"a", "<eos>"}, data::TokenMode::Word); }, {"needs both", "<unk>", "<eos>"});
  expect_error([] { Vocab::from_tokens({"a", "<unk>"}, data::TokenMode::Word); }, {"needs both"});
  expect_error([] { Vocab::from_tokens({"a", "", "<unk>", "<eos>"}, data::TokenMode::Word); }, {"word 1", "empty"});
  expect_error([] { Vocab::from_tokens({"a b", "<unk>", "<eos>"}, data::TokenMode::Word); },
               {"word 0", "separator", "U+0020"});
  expect_error([] { Vocab::from_tokens({"a", "<unk>", "a", "<eos>"}, data::TokenMode::Word); },
               {"word 2", "appears twice"});
  expect_error([] { Vocab::from_tokens({"<unk>", "<unk>", "<eos>"}, data::TokenMode::Word); },
               {"word 1", "appears twice"});
  expect_error([] { Vocab::from_tokens({"\xFF", "<unk>", "<eos>"}, data::TokenMode::Word); },
               {"word 0", "invalid UTF-8"});
  EXPECT_EQ(data::parse_token_mode("word"), data::TokenMode::Word);
  EXPECT_EQ(data::token_mode_name(data::TokenMode::Char), "char");
  expect_error([] { data::parse_token_mode("bpe"); }, {"\"bpe\"", "char or word"});
}

// ------------------------------------------------------------------ splits

TEST(Split, ContiguousByFractions) {
  std::vector<std::int32_t> tokens(100);
  for (int i = 0; i < 100; ++i) tokens[i] = i;
  data::TextSplit split = data::split_tokens(tokens);
  ASSERT_EQ(split.train.size(), 90u);
  ASSERT_EQ(split.validation.size(), 5u);
  ASSERT_EQ(split.test.size(), 5u);
  EXPECT_EQ(split.train.front(), 0);
  EXPECT_EQ(split.validation.front(), 90);
  EXPECT_EQ(split.test.front(), 95);
  EXPECT_EQ(split.test.back(), 99);

  split = data::split_tokens(tokens, {0.5, 0.5, 0});
  EXPECT_EQ(split.train.size(), 50u);
  EXPECT_EQ(split.validation.size(), 50u);
  EXPECT_TRUE(split.test.empty());
  split = data::split_tokens(tokens, {1, 0, 0});
  EXPECT_EQ(split.train.size(), 100u);
  // Sum 1 within 1e-9 is accepted.
  split = data::split_tokens(tokens, {0.7, 0.2, 0.1});
  EXPECT_EQ(split.train.size() + split.validation.size() + split.test.size(), 100u);
  EXPECT_EQ(split.train.size(), 70u);
  EXPECT_EQ(split.validation.size(), 20u);
}

TEST(Split, BadFractionsAndEmptyPartsAreErrors) {
  std::vector<std::int32_t> tokens(100, 0);
  expect_error([&] { data::split_tokens(tokens, {1.2, -0.1, -0.1}); }, {"train fraction", "[0, 1]", "1.2"});
  expect_error([&] { data::split_tokens(tokens, {0.9, -0.05, 0.15}); }, {"validation fraction", "-0.05"});
  expect_error([&] { data::split_tokens(tokens, {0.9, 0.05, 0.1}); }, {"sum to 1", "1.05"});
  std::vector<std::int32_t> few(5, 0);  // train takes round(4.5) = 5, nothing is left
  expect_error([&] { data::split_tokens(few); }, {"validation part is empty", "5 tokens"});
  expect_error([&] { data::split_tokens(std::vector<std::int32_t>{}); }, {"train part is empty", "0 tokens"});
}

// ------------------------------------------------------------------ batching

TEST(CharBatches, LayoutByHand) {
  // 12 tokens 0..11, B = 2, T = 2: L = floor(11 / 2) = 5, steps = floor(5 / 2) = 2.
  // Stream 0: inputs 0 1 2 3 4 (targets to 5); stream 1: inputs 5 6 7 8 9 (targets to 10).
  std::vector<std::int32_t> tokens(12);
  for (int i = 0; i < 12; ++i) tokens[i] = i;
  CharBatches batches(tokens, 2, 2);
  EXPECT_EQ(batches.stream_length(), 5);
  EXPECT_EQ(batches.steps_per_epoch(), 2);

  data::Batch batch;
  ASSERT_TRUE(batches.next(batch));
  EXPECT_EQ(batch.inputs.dtype(), DType::Int64);
  EXPECT_EQ(batch.inputs.shape(), Shape({2, 2}));  // [T, B]
  EXPECT_EQ(batch.inputs.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 5, 1, 6}));
  EXPECT_EQ(batch.targets.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 6, 2, 7}));
  ASSERT_TRUE(batches.next(batch));
  EXPECT_EQ(batch.inputs.to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 7, 3, 8}));
  EXPECT_EQ(batch.targets.to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 8, 4, 9}));
  EXPECT_EQ(batches.epoch(), 0);
  EXPECT_EQ(batches.step(), 2);
  EXPECT_FALSE(batches.next(batch));  // end of epoch 0
  EXPECT_EQ(batches.epoch(), 1);
  EXPECT_EQ(batches.step(), 0);
  ASSERT_TRUE(batches.next(batch));  // epoch 1 starts over
  EXPECT_EQ(batch.inputs.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 5, 1, 6}));
}

TEST(CharBatches, ExactlyOneBatchAndTheTooShortError) {
  // B*T+1 tokens: one step, the last target is the last token.
  std::vector<std::int32_t> tokens(7);
  for (int i = 0; i < 7; ++i) tokens[i] = 10 + i;
  CharBatches batches(tokens, 2, 3);
  EXPECT_EQ(batches.steps_per_epoch(), 1);
  const data::Batch batch = batches.batch(0);
  EXPECT_EQ(batch.inputs.to_vector<std::int64_t>(), (std::vector<std::int64_t>{10, 13, 11, 14, 12, 15}));
  EXPECT_EQ(batch.targets.to_vector<std::int64_t>(), (std::vector<std::int64_t>{11, 14, 12, 15, 13, 16}));

  tokens.pop_back();
  expect_error([&] { CharBatches(tokens, 2, 3); }, {"too short", "at least 7 characters", "got 6"});
  expect_error([&] { CharBatches(std::span<const std::int32_t>(), 50, 50); }, {"at least 2501 characters", "got 0"});
  expect_error([&] { CharBatches(tokens, 0, 3); }, {"batch size", "got 0"});
  expect_error([&] { CharBatches(tokens, 2, -1); }, {"sequence length", "got -1"});
  expect_error([&] { batches.batch(1); }, {"step 1 out of range"});
}

TEST(CharBatches, PositionResumes) {
  std::vector<std::int32_t> tokens(101);
  for (int i = 0; i < 101; ++i) tokens[i] = i;
  CharBatches a(tokens, 4, 5);  // L = 25, 5 steps
  ASSERT_EQ(a.steps_per_epoch(), 5);
  data::Batch batch;
  for (int i = 0; i < 8; ++i) a.next(batch);  // 5 batches, the end-of-epoch false, 2 more
  EXPECT_EQ(a.epoch(), 1);
  EXPECT_EQ(a.step(), 2);
  CharBatches b(tokens, 4, 5);
  b.set_position(a.epoch(), a.step());
  data::Batch from_a, from_b;
  ASSERT_TRUE(a.next(from_a));
  ASSERT_TRUE(b.next(from_b));
  EXPECT_EQ(from_a.inputs.to_vector<std::int64_t>(), from_b.inputs.to_vector<std::int64_t>());
  EXPECT_EQ(from_b.inputs.to_vector<std::int64_t>()[0], 10);  // stream 0, step 2: positions 10..14
  expect_error([&] { b.set_position(0, 6); }, {"step 6 out of range [0, 5]"});
  expect_error([&] { b.set_position(-1, 0); }, {"epoch", "-1"});
}

}  // namespace
}  // namespace recur
