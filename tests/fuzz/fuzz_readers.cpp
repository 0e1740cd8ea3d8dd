// Data files from anywhere: the IDX reader (gzip-compressed or not) and the line readers of
// the sequence tasks (label<TAB>text, source<TAB>target, CoNLL). The first byte picks the
// reader; the rest is the file.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.hpp"
#include "recur/core/error.hpp"
#include "recur/data/idx.hpp"
#include "recur/data/sequences.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  namespace data_ = recur::data;
  const std::uint8_t reader = data[0];
  const std::string& path = recur::fuzz::write_input_file(data + 1, size - 1);
  const data_::TokenMode mode = reader & 8 ? data_::TokenMode::Char : data_::TokenMode::Word;
  try {
    switch (reader % 4) {
      case 0: (void)data_::read_idx(path); (void)data_::read_idx(path, recur::DType::Float32); break;
      case 1: (void)data_::read_labeled_texts(path, mode); break;
      case 2:
        (void)data_::read_text_pairs(path, mode, reader & 16 ? data_::TokenMode::Char : data_::TokenMode::Word);
        break;
      case 3: (void)data_::read_conll(path); break;
    }
  } catch (const recur::Error&) {
    // Malformed files are refused with a message naming the file and line.
  }
  return 0;
}
