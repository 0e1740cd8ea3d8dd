// IDX reading: parse and validate the header, then decode the big-endian elements
// straight into the requested dtype.
#include "recur/data/idx.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "data/file_bytes.hpp"
#include "data/idx_format.hpp"

namespace recur::data {
namespace {

bool is_known_type(std::uint8_t code) {
  switch (static_cast<IdxType>(code)) {
    case IdxType::UInt8:
    case IdxType::Int8:
    case IdxType::Int16:
    case IdxType::Int32:
    case IdxType::Float32:
    case IdxType::Float64:
      return true;
  }
  return false;
}

std::size_t element_size(IdxType type) {
  switch (type) {
    case IdxType::UInt8:
    case IdxType::Int8: return 1;
    case IdxType::Int16: return 2;
    case IdxType::Int32:
    case IdxType::Float32: return 4;
    case IdxType::Float64: return 8;
  }
  return 0;
}

bool is_floating(IdxType type) { return type == IdxType::Float32 || type == IdxType::Float64; }

std::string hex_byte(std::uint8_t b) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", b);
  return text;
}

std::uint32_t load_be32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

// Element i of the data as its C++ type. memcpy + byte swap compiles to one load and one
// bswap, and lets the compiler vectorise the decoding loops.
template <class Word>
Word load_be(const std::uint8_t* data, std::int64_t i) {
  Word w;
  std::memcpy(&w, data + i * sizeof(Word), sizeof(Word));
  if constexpr (sizeof(Word) == 2) w = __builtin_bswap16(w);
  if constexpr (sizeof(Word) == 4) w = __builtin_bswap32(w);
  if constexpr (sizeof(Word) == 8) w = __builtin_bswap64(w);
  return w;
}

// Decodes n elements stored as `Stored` (its bits carried in the same-size unsigned `Word`)
// into `Out`, dividing by `divisor` when it is not 1.
template <class Stored, class Word, class Out>
void decode_elements(const std::uint8_t* data, std::int64_t n, Out* out, Out divisor) {
  static_assert(sizeof(Stored) == sizeof(Word));
  auto value = [&](std::int64_t i) {
    Word w = load_be<Word>(data, i);
    Stored s;
    std::memcpy(&s, &w, sizeof s);
    return static_cast<Out>(s);
  };
  if (divisor == Out(1)) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = value(i);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = value(i) / divisor;
  }
}

template <class Out>
void decode_as(const IdxFile& file, Out* out, Out divisor) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(file.bytes.data()) + file.data_offset;
  std::int64_t n = file.shape.numel();
  switch (file.type) {
    case IdxType::UInt8: decode_elements<std::uint8_t, std::uint8_t>(data, n, out, divisor); break;
    case IdxType::Int8: decode_elements<std::int8_t, std::uint8_t>(data, n, out, divisor); break;
    case IdxType::Int16: decode_elements<std::int16_t, std::uint16_t>(data, n, out, divisor); break;
    case IdxType::Int32: decode_elements<std::int32_t, std::uint32_t>(data, n, out, divisor); break;
    case IdxType::Float32: decode_elements<float, std::uint32_t>(data, n, out, divisor); break;
    case IdxType::Float64: decode_elements<double, std::uint64_t>(data, n, out, divisor); break;
  }
}

DType natural_dtype(IdxType type) {
  if (type == IdxType::Float32) return DType::Float32;
  if (type == IdxType::Float64) return DType::Float64;
  return DType::Int64;
}

}  // namespace

const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::UInt8: return "unsigned byte";
    case IdxType::Int8: return "signed byte";
    case IdxType::Int16: return "int16";
    case IdxType::Int32: return "int32";
    case IdxType::Float32: return "float32";
    case IdxType::Float64: return "float64";
  }
  return "unknown";
}

IdxFile open_idx(const std::string& path) {
  IdxFile file;
  file.path = path;
  file.bytes = read_file_bytes(path);
  const auto* b = reinterpret_cast<const std::uint8_t*>(file.bytes.data());
  const std::size_t file_size = file.bytes.size();
  RECUR_CHECK(file_size >= 4, "IDX file " << path << " is truncated: " << file_size
                                         << " bytes, shorter than the 4-byte magic number");
  RECUR_CHECK(b[0] == 0 && b[1] == 0, "IDX file " << path << " has a bad magic number: it starts "
                                                  << hex_byte(b[0]) << " " << hex_byte(b[1])
                                                  << ", expected 0x00 0x00 (is it an IDX file?)");
  RECUR_CHECK(is_known_type(b[2]), "IDX file " << path << " has unknown element type code " << hex_byte(b[2])
                                               << " (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)");
  file.type = static_cast<IdxType>(b[2]);
  int ndims = b[3];
  RECUR_CHECK(ndims <= kMaxDims, "IDX file " << path << " has " << ndims << " dimensions; a tensor has at most "
                                             << kMaxDims);
  std::size_t header = 4 + 4 * static_cast<std::size_t>(ndims);
  RECUR_CHECK(file_size >= header, "IDX file " << path << " is truncated: its header names " << ndims
                                              << " dimensions but the file ends after " << file_size << " bytes");
  for (int d = 0; d < ndims; ++d) file.shape.push_back(load_be32(b + 4 + 4 * d));
  file.data_offset = header;

  // Compare sizes without overflow: a lying header can name up to 8 extents of 2^32 - 1.
  std::size_t available = file_size - header;
  std::size_t size = element_size(file.type);
  unsigned __int128 needed = size;
  for (std::int64_t extent : file.shape) needed *= static_cast<std::uint64_t>(extent);
  RECUR_CHECK(needed <= available, "IDX file " << path << " is truncated: dims " << file.shape << " of "
                                               << idx_type_name(file.type) << " need "
                                               << (needed > UINT64_MAX ? std::string("more than 2^64")
                                                                       : std::to_string(static_cast<std::uint64_t>(needed)))
                                               << " data bytes, the file has " << available);
  RECUR_CHECK(needed == available, "IDX file " << path << " has " << available - static_cast<std::size_t>(needed)
                                               << " bytes of trailing garbage after its " << file.shape << " "
                                               << idx_type_name(file.type) << " data");
  return file;
}

Tensor decode_idx(const IdxFile& file, DType dtype, double divisor) {
  RECUR_CHECK(!(is_floating(file.type) && dtype == DType::Int64),
              "IDX file " << file.path << " holds " << idx_type_name(file.type) << " data, which cannot be read as int64");
  RECUR_CHECK(divisor == 1 || dtype != DType::Int64, "decode_idx: a divisor needs a floating dtype");
  Tensor t = empty(file.shape, dtype);
  switch (dtype) {
    case DType::Float32: decode_as(file, t.data<float>(), static_cast<float>(divisor)); break;
    case DType::Float64: decode_as(file, t.data<double>(), divisor); break;
    case DType::Int64: decode_as(file, t.data<std::int64_t>(), std::int64_t{1}); break;
  }
  return t;
}

Tensor read_idx(const std::string& path) {
  IdxFile file = open_idx(path);
  return decode_idx(file, natural_dtype(file.type));
}

Tensor read_idx(const std::string& path, DType dtype) { return decode_idx(open_idx(path), dtype); }

}  // namespace recur::data
