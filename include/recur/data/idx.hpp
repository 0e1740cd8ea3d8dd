// MNIST's IDX file format, plain or gzip-compressed.
//
// An IDX file is a 4-byte magic number — 0x00 0x00, an element-type code, the number of
// dimensions — then one big-endian uint32 extent per dimension, then the elements,
// big-endian, in row-major order. Element types: 0x08 unsigned byte, 0x09 signed byte,
// 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
#pragma once

#include <string>

#include "recur/core/dtype.hpp"
#include "recur/core/tensor.hpp"

namespace recur::data {

// Reads the IDX file at `path` into a new contiguous CPU tensor shaped as the file's
// dimensions (rank 0 to kMaxDims). A file whose first two bytes are gzip's magic number
// (1f 8b) is decompressed first, whatever its name. Elements keep their value:
//   unsigned byte, signed byte, int16, int32 -> int64;  float32 -> float32;  float64 -> float64.
//
// Throws recur::Error naming the file and what is wrong with it: missing or unreadable,
// corrupt or truncated gzip data, a magic number that does not start 00 00, an unknown
// element type, more dimensions than a tensor can have, fewer data bytes than the
// dimensions call for (truncated), or bytes left over after them (trailing garbage).
Tensor read_idx(const std::string& path);

// Same, converting each element to `dtype` as it is decoded, with no intermediate tensor:
// integer data to int64, float32 or float64 (exact below 2^24 for float32); floating data
// to float32 or float64. Floating data cannot be read as int64 (throws).
Tensor read_idx(const std::string& path, DType dtype);

}  // namespace recur::data
