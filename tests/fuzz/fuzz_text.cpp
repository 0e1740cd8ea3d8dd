// Texts from anywhere: the UTF-8 decoder, case folding and both tokenisers, vocabularies
// built from the text and the text encoded with them. The first byte picks the options.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "recur/core/error.hpp"
#include "recur/data/sequences.hpp"
#include "recur/data/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  namespace data_ = recur::data;
  const std::uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  data_::TokenOptions options;
  options.mode = flags & 1 ? data_::TokenMode::Word : data_::TokenMode::Char;
  options.lowercase = flags & 2;
  options.min_count = 1 + (flags >> 2 & 3);
  options.max_size = flags & 16 ? 3 + (flags >> 5) : 0;
  options.split_punctuation = flags & 32;  // shares its bit with max_size
  try {
    const std::u32string code_points = data_::decode_utf8(text, "fuzz input");
    for (char32_t c : code_points) (void)data_::lower_case(c), (void)data_::is_punctuation(c);
    (void)data_::encode_utf8(code_points);
    const data_::EncodedText encoded = data_::encode_text(text, "fuzz input", options);
    (void)data_::encode_text(text, "fuzz input", encoded.vocab);
    const std::vector<std::string> tokens = data_::split_tokens(text, options, "fuzz input");
    const std::vector<std::vector<std::string>> examples{tokens};
    const data_::Vocab vocab = data_::build_vocab(examples, options);
    (void)data_::encode_tokens(tokens, vocab);
  } catch (const recur::Error&) {
    // Text that is not UTF-8, or holds no token, is refused with a message.
  }
  return 0;
}
