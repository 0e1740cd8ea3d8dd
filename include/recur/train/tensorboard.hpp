// TensorBoard event files: what `recur train --tensorboard` writes, readable by TensorBoard
// (and TensorFlow's summary readers) while the run goes on.
//
// A file is a sequence of records in TFRecord framing - the length of the data (uint64,
// little-endian), the masked CRC-32C of those 8 bytes (uint32), the data, the masked
// CRC-32C of the data - each record one serialized tensorboard.Event (src/train/tensorboard.proto).
// The first event gives the file version; every later one holds one value.
//
//   train::TensorBoardWriter tb("runs/x");
//   tb.add_scalar("val_loss", 1.52, 500);
//   tb.add_histogram("weights/rnn.weight_hh_l0", model.rnn->weight_hh_l0, 500);
//   tb.add_text("sample", "ROMEO: ...", 500);
//   tb.flush();
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "recur/core/tensor.hpp"

namespace recur::train {

// CRC-32C (Castagnoli) of `bytes`, and TFRecord's masked form of it: rotated right by 15
// bits plus 0xa282ead8, so that a CRC stored inside checksummed data does not checksum
// itself away.
std::uint32_t crc32c(std::string_view bytes);
std::uint32_t masked_crc32c(std::string_view bytes);

class TensorBoardWriter {
 public:
  // Creates `dir` if needed and starts a new event file in it, named
  // events.out.tfevents.<seconds>.<host>.<pid> (TensorBoard reads every such file of a
  // directory, in name order, as one run). `resumed_at_step` >= 0: the run continues from a
  // checkpoint of that step, and TensorBoard drops the earlier files' events after it.
  // Throws Error naming the file when it cannot be created.
  explicit TensorBoardWriter(const std::string& dir, std::int64_t resumed_at_step = -1);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // A point of the scalar curve `tag`.
  void add_scalar(const std::string& tag, double value, std::int64_t step);
  // The distribution of a floating tensor's values (any shape, any device), in `buckets`
  // equal-width buckets from its min to its max. Non-finite values are left out of the
  // buckets; an empty tensor writes nothing.
  void add_histogram(const std::string& tag, const Tensor& values, std::int64_t step, int buckets = 64);
  // A text for TensorBoard's Text tab (it renders Markdown).
  void add_text(const std::string& tag, const std::string& text, std::int64_t step);
  // Hands what was written to the operating system, so that TensorBoard sees it. Throws
  // Error naming the file when a write failed (a full disk).
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace recur::train
