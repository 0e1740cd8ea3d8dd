// The metadata keys of recur's safetensors files (docs/FORMAT.md), in one table: every
// reader and writer names them from here.
#pragma once

namespace recur::train {

inline constexpr const char* kConfigKey = "recur.config";      // the model's configuration (JSON object)
inline constexpr const char* kVocabKey = "recur.vocab";        // the vocabulary (JSON array of tokens)
inline constexpr const char* kLabelsKey = "recur.labels";             // a classifier's labels (JSON array)
inline constexpr const char* kLabelCountsKey = "recur.label_counts";  // their examples in training (JSON array)
inline constexpr const char* kSourceVocabKey = "recur.src_vocab";  // a seq2seq model's sources (JSON array)
inline constexpr const char* kTargetVocabKey = "recur.tgt_vocab";  // and targets (JSON array)
inline constexpr const char* kCharVocabKey = "recur.char_vocab";     // a tagger's characters (JSON array)
inline constexpr const char* kRunKey = "recur.run";            // the run's options (train/options.hpp)
inline constexpr const char* kProgressKey = "recur.progress";  // step, epoch, losses: --resume, recur info

}  // namespace recur::train
