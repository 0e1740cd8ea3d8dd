// Reading and writing Hugging Face safetensors files, the format recur's checkpoints and
// PyTorch conformance fixtures use, so that weights move between recur and PyTorch.
//
// Layout: an 8-byte little-endian u64 N; N bytes of UTF-8 JSON, an object mapping each
// tensor name to {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} plus an
// optional "__metadata__" object of string -> string; then the data buffer. Offsets count
// from the start of the data buffer; data is little-endian and row-major.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "recur/core/tensor.hpp"

namespace recur::io {

struct SafetensorsFile {
  TensorMap tensors;
  // Free-form string -> string notes ("format": "pt", an epoch, ...); empty when the file
  // has no "__metadata__".
  std::map<std::string, std::string> metadata;
};

// Writes `tensors` and `metadata` to `path` through write_file_atomically's routine: on
// failure the previous file at `path` is untouched and no temporary file remains.
// Requires: every tensor defined, on the CPU, of dtype float32, float64 or int64 (stored as
// F32, F64, I64; non-contiguous tensors are written in row-major order); no tensor named
// "__metadata__"; names and metadata valid UTF-8.
// Guarantees the layout of the reference Python/Rust writer (safetensors.torch.save_file),
// byte for byte when metadata has at most one entry: compact JSON with "__metadata__"
// first (omitted when empty, keys sorted), then the tensors in data order; the header is
// padded with spaces to a multiple of 8 bytes; tensors lie back to back with no gaps,
// ordered by element type (I64, then F64, then F32, so each is aligned to its element size)
// and then by name.
// Throws recur::Error naming `path` and what is wrong (or the operating system's reason).
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads the file at `path` and parses it with parse_safetensors (naming errors after path).
SafetensorsFile load_safetensors(const std::string& path);

// The "__metadata__" of the file at `path`, reading its header only (the tensors' entries are
// checked as parse_safetensors checks them, their data is not read). Errors name `path`.
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);

// Parses a whole safetensors file held in memory at [data, data + size). `source_name`
// (usually the path) starts every error message.
// Reads F32, F64 and I64 as float32, float64 and int64 tensors; F16 and BF16 as float32
// (exactly: every half and bfloat16 value, subnormals, infinities and NaN included, is a
// float32 value); I32, I16, I8, U32, U16, U8 and BOOL as int64 (BOOL as 0 or 1). Any other
// dtype is an error naming the tensor and the dtype.
// The returned tensors are contiguous CPU tensors that own their memory (nothing aliases
// `data`), with requires_grad() false.
// Validates everything and throws recur::Error on any of: a buffer shorter than 8 bytes; a
// header length past the end of the buffer or above 100,000,000 bytes; a header that is not
// a JSON object; a name given twice (or a key twice in an entry or in the metadata); an
// "__metadata__" that is not an object of strings; an entry that is not an object or lacks
// "dtype" (a string), "shape" (an array of at most 8 non-negative integers) or
// "data_offsets" (two non-negative integers); a shape whose extents multiply past 2^63 - 1;
// begin > end, or end past the data buffer; a byte count other than the shape's element
// count times the element size; tensors that overlap; bytes of the data buffer that belong
// to no tensor (a gap or trailing bytes: the format requires the tensors to cover the
// buffer exactly, as the reference reader does). Keys of an entry other than these three
// are ignored. Never reads outside [data, data + size).
SafetensorsFile parse_safetensors(const void* data, std::size_t size, const std::string& source_name);

}  // namespace recur::io
