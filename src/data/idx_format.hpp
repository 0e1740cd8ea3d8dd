// The parsed, validated layout of an IDX file, for the data layer's readers
// (read_idx, load_mnist). See include/recur/data/idx.hpp for the format.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recur/core/shape.hpp"
#include "recur/core/tensor.hpp"

namespace recur::data {

enum class IdxType : std::uint8_t {
  UInt8 = 0x08,
  Int8 = 0x09,
  Int16 = 0x0B,
  Int32 = 0x0C,
  Float32 = 0x0D,
  Float64 = 0x0E,
};

const char* idx_type_name(IdxType type);  // "unsigned byte", "int16", ...

// A whole IDX file in memory (decompressed), checked against its own header: the type
// is known, the rank fits a tensor, and the data is exactly as long as the dims say.
struct IdxFile {
  std::string path;
  IdxType type = IdxType::UInt8;
  Shape shape;
  std::string bytes;  // the whole file; elements start at data_offset
  std::size_t data_offset = 0;
};

// Reads and validates `path` (plain or gzip). Throws recur::Error naming the file.
IdxFile open_idx(const std::string& path);

// The elements of `file` as a new contiguous tensor of `dtype`, each divided by `divisor`
// (in dtype's arithmetic; 1 leaves values exact). Floating data cannot become int64.
Tensor decode_idx(const IdxFile& file, DType dtype, double divisor = 1);

}  // namespace recur::data
