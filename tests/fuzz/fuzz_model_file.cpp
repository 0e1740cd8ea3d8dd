// Model files from anywhere, through every loader the CLI uses: recur.config's sizes and
// fields, the vocabularies (recur.vocab, recur.src_vocab, recur.tgt_vocab, recur.char_vocab),
// recur.labels and recur.label_counts, and the tensors against the configuration.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.hpp"
#include "recur/core/error.hpp"
#include "recur/train/model_file.hpp"

namespace {

template <class Load>
void try_load(Load load) {
  try {
    load();
  } catch (const recur::Error&) {
    // A clear refusal is the expected outcome for most inputs.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = recur::fuzz::write_input_file(data, size);
  try_load([&] { recur::train::load_language_model(path); });
  try_load([&] { recur::train::load_classifier(path); });
  try_load([&] { recur::train::load_tagger(path); });
  try_load([&] { recur::train::load_seq2seq(path); });
  return 0;
}
