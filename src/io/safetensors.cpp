// safetensors reading and writing.
//
// The header is read with nlohmann::json's SAX interface straight into the few fields the
// format defines. No JSON tree is built: a hostile header costs memory in proportion to
// its tensors and metadata, not to its nesting, and a name given twice (which a JSON tree
// would silently merge) is caught.
#include "recur/io/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "io/atomic_file.hpp"
#include "recur/io/file.hpp"
#include "recur/ops.hpp"

namespace recur::io {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and recur copies it as it is");

constexpr std::size_t kLengthBytes = 8;                 // the u64 header length
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit
constexpr const char* kMetadataKey = "__metadata__";

// ------------------------------------------------------------------ element types

enum class Stored { F32, F64, I64, F16, BF16, I32, I16, I8, U32, U16, U8, Bool };

struct StoredType {
  Stored type;
  const char* name;  // as the header spells it
  std::size_t size;  // bytes per element
  DType loaded_as;   // the recur dtype it is read into
};

constexpr StoredType kStoredTypes[] = {
    {Stored::F32, "F32", 4, DType::Float32},   {Stored::F64, "F64", 8, DType::Float64},
    {Stored::I64, "I64", 8, DType::Int64},     {Stored::F16, "F16", 2, DType::Float32},
    {Stored::BF16, "BF16", 2, DType::Float32}, {Stored::I32, "I32", 4, DType::Int64},
    {Stored::I16, "I16", 2, DType::Int64},     {Stored::I8, "I8", 1, DType::Int64},
    {Stored::U32, "U32", 4, DType::Int64},     {Stored::U16, "U16", 2, DType::Int64},
    {Stored::U8, "U8", 1, DType::Int64},       {Stored::Bool, "BOOL", 1, DType::Int64},
};
constexpr const char* kReadableTypes = "F32, F64, I64, F16, BF16, I32, I16, I8, U32, U16, U8, BOOL";

const StoredType* find_stored_type(std::string_view name) {
  for (const StoredType& stored : kStoredTypes) {
    if (name == stored.name) return &stored;
  }
  return nullptr;
}

// IEEE 754 half -> float, exactly: every half value is a float value. Normal numbers move
// their exponent from bias 15 to bias 127; subnormals (m * 2^-24) become normal floats;
// infinities and NaNs keep their sign and payload.
float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  const std::uint32_t mantissa = half & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {
    // m * 2^-24 with the top set bit of m at position p is 2^(p-24) * (m / 2^p).
    const int p = std::bit_width(mantissa) - 1;
    bits = sign | (static_cast<std::uint32_t>(p + 103) << 23) | ((mantissa << (23 - p)) & 0x7fffffu);
  }
  return std::bit_cast<float>(bits);
}

// bfloat16 is the top half of a float32.
float bfloat16_to_float(std::uint16_t value) { return std::bit_cast<float>(std::uint32_t{value} << 16); }

// dst[i] = convert(i-th Source element of src). memcpy because the file's data need not be
// aligned for Source.
template <class Source, class Target, class Convert>
void convert_elements(const unsigned char* src, std::int64_t n, Target* dst, Convert convert) {
  for (std::int64_t i = 0; i < n; ++i) {
    Source value;
    std::memcpy(&value, src + i * static_cast<std::int64_t>(sizeof(Source)), sizeof(Source));
    dst[i] = convert(value);
  }
}

template <class Integer>
void widen_to_int64(const unsigned char* src, std::int64_t n, std::int64_t* dst) {
  convert_elements<Integer>(src, n, dst, [](Integer v) { return static_cast<std::int64_t>(v); });
}

// Fills `dst` (a fresh contiguous tensor of stored.loaded_as) from n stored elements.
void load_elements(const StoredType& stored, const unsigned char* src, std::int64_t n, const Tensor& dst) {
  switch (stored.type) {
    case Stored::F32:
    case Stored::F64:
    case Stored::I64: std::memcpy(dst.raw_data(), src, static_cast<std::size_t>(n) * stored.size); break;
    case Stored::F16: convert_elements<std::uint16_t>(src, n, dst.data<float>(), half_to_float); break;
    case Stored::BF16: convert_elements<std::uint16_t>(src, n, dst.data<float>(), bfloat16_to_float); break;
    case Stored::I32: widen_to_int64<std::int32_t>(src, n, dst.data<std::int64_t>()); break;
    case Stored::I16: widen_to_int64<std::int16_t>(src, n, dst.data<std::int64_t>()); break;
    case Stored::I8: widen_to_int64<std::int8_t>(src, n, dst.data<std::int64_t>()); break;
    case Stored::U32: widen_to_int64<std::uint32_t>(src, n, dst.data<std::int64_t>()); break;
    case Stored::U16: widen_to_int64<std::uint16_t>(src, n, dst.data<std::int64_t>()); break;
    case Stored::U8: widen_to_int64<std::uint8_t>(src, n, dst.data<std::int64_t>()); break;
    case Stored::Bool:
      convert_elements<std::uint8_t>(src, n, dst.data<std::int64_t>(),
                                     [](std::uint8_t v) { return std::int64_t{v != 0}; });
      break;
  }
}

// ------------------------------------------------------------------ names in messages

// A string from a file, quoted for an error message: control characters escaped so the
// message stays on one line, and cut after about 100 bytes (at a character boundary).
std::string quote(std::string_view text) {
  std::size_t shown = text.size();
  if (shown > 100) {
    shown = 100;
    while (shown > 0 && (static_cast<unsigned char>(text[shown]) & 0xc0) == 0x80) --shown;
  }
  std::string out = "'";
  for (std::size_t i = 0; i < shown; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (shown < text.size()) out += "...";
  out += "'";
  return out;
}

std::string offsets_text(std::uint64_t begin, std::uint64_t end) {
  std::ostringstream text;
  text << '[' << begin << ", " << end << ']';
  return text.str();
}

// ------------------------------------------------------------------ reading the header

// One tensor's entry in the header, as read.
struct HeaderEntry {
  std::string name;
  std::string dtype;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
  bool has_dtype = false, has_shape = false, has_offsets = false;
};

struct Header {
  std::vector<HeaderEntry> entries;  // in the order the header lists them
  std::map<std::string, std::string> metadata;
};

using json = nlohmann::json;

// A SAX handler for nlohmann::json that accepts exactly the safetensors header grammar:
//   { name: {"dtype": string, "shape": [uint...], "data_offsets": [uint, uint], other: any},
//     "__metadata__": {key: string, ...} }
// and throws recur::Error naming the source, the tensor and the fault for anything else.
class HeaderReader final : public nlohmann::json_sax<json> {
 public:
  HeaderReader(const std::string& source, Header& header) : source_(source), header_(header) {}

  bool null() override { return unexpected("null"); }
  bool boolean(bool) override { return unexpected("a boolean"); }
  bool binary(binary_t&) override { return unexpected("binary data"); }

  bool number_unsigned(number_unsigned_t value) override {
    if (skip_scalar()) return true;
    if (state_ != State::Array) return unexpected("a number");
    append(value);
    return true;
  }

  bool number_integer(number_integer_t value) override {
    if (skip_scalar()) return true;
    if (state_ != State::Array) return unexpected("a number");
    // The lexer reports only negative integers (and -0) this way.
    RECUR_CHECK(value >= 0, tensor_prefix() << field_name() << " element " << count_ << " is " << value
                                            << ", expected a non-negative integer");
    append(static_cast<std::uint64_t>(value));
    return true;
  }

  bool number_float(number_float_t, const string_t& text) override {
    if (skip_scalar()) return true;
    if (state_ != State::Array) return unexpected("a number");
    RECUR_FAIL(tensor_prefix() << field_name() << " element " << count_ << " is " << text
                               << ", expected a non-negative integer");
  }

  bool string(string_t& value) override {
    if (skip_scalar()) return true;
    if (state_ == State::MetadataValue) {
      header_.metadata.emplace(std::move(metadata_key_), std::move(value));
      state_ = State::Metadata;
      return true;
    }
    if (state_ == State::Field && field_ == Field::DType) {
      entry().dtype = std::move(value);
      entry().has_dtype = true;
      state_ = State::Entry;
      return true;
    }
    return unexpected("a string");
  }

  bool start_object(std::size_t) override {
    switch (state_) {
      case State::Root: state_ = State::Top; return true;
      case State::TopValue:
        if (top_key_ == kMetadataKey) {
          state_ = State::Metadata;
        } else {
          header_.entries.push_back(HeaderEntry{});
          header_.entries.back().name = std::move(top_key_);
          dtype_key_seen_ = shape_key_seen_ = offsets_key_seen_ = false;
          state_ = State::Entry;
        }
        return true;
      case State::Skip: ++skip_depth_; return true;
      default: return unexpected("an object");
    }
  }

  bool key(string_t& key) override {
    switch (state_) {
      case State::Top:
        RECUR_CHECK(seen_names_.insert(key).second, source_ << ": " << (key == kMetadataKey ? "" : "tensor ")
                                                            << quote(key) << " appears twice in the header");
        top_key_ = std::move(key);
        state_ = State::TopValue;
        return true;
      case State::Metadata:
        RECUR_CHECK(!header_.metadata.count(key),
                    source_ << ": " << kMetadataKey << ": key " << quote(key) << " appears twice");
        metadata_key_ = std::move(key);
        state_ = State::MetadataValue;
        return true;
      case State::Entry: return entry_key(key);
      default: return true;  // keys inside an ignored value
    }
  }

  bool end_object() override {
    switch (state_) {
      case State::Top: state_ = State::Done; return true;
      case State::Metadata: state_ = State::Top; return true;
      case State::Entry: {
        const HeaderEntry& e = entry();
        const char* missing = !e.has_dtype     ? "dtype"
                              : !e.has_shape   ? "shape"
                              : !e.has_offsets ? "data_offsets"
                                               : nullptr;
        RECUR_CHECK(!missing, tensor_prefix() << "the entry has no '" << missing << "'");
        state_ = State::Top;
        return true;
      }
      default: end_skipped_container(); return true;
    }
  }

  bool start_array(std::size_t) override {
    if (state_ == State::Skip) {
      ++skip_depth_;
      return true;
    }
    if (state_ != State::Field || field_ == Field::DType) return unexpected("an array");
    state_ = State::Array;
    count_ = 0;
    return true;
  }

  bool end_array() override {
    if (state_ != State::Array) {
      end_skipped_container();
      return true;
    }
    if (field_ == Field::Shape) {
      entry().has_shape = true;
    } else {
      RECUR_CHECK(count_ == 2, tensor_prefix()
                                   << "data_offsets has " << count_ << (count_ == 1 ? " element" : " elements")
                                   << ", expected 2 ([begin, end])");
      entry().has_offsets = true;
    }
    state_ = State::Entry;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& error) override {
    // nlohmann's message starts with "[json.exception.parse_error.101] " and quotes the last
    // token read, which a hostile file can make arbitrarily long.
    std::string message = error.what();
    if (std::size_t bracket = message.find("] "); message.rfind('[', 0) == 0 && bracket != std::string::npos) {
      message.erase(0, bracket + 2);
    }
    if (message.size() > 300) message = message.substr(0, 300) + "...";
    RECUR_FAIL(source_ << ": the header is not valid JSON: " << message);
  }

 private:
  enum class State {
    Root,           // before the header's value
    Top,            // in the header object, before a key or its end
    TopValue,       // after a top-level key (top_key_), before its value
    Metadata,       // in "__metadata__", before a key or its end
    MetadataValue,  // after a metadata key (metadata_key_), before its value
    Entry,          // in a tensor's entry, before a key or its end
    Field,          // after "dtype", "shape" or "data_offsets" (field_), before its value
    Array,          // in the array of "shape" or "data_offsets"
    Skip,           // in an entry's value under a key the format does not define
    Done,           // after the header object
  };
  enum class Field { DType, Shape, Offsets };

  HeaderEntry& entry() { return header_.entries.back(); }

  std::string tensor_prefix() { return source_ + ": tensor " + quote(entry().name) + ": "; }

  const char* field_name() const {
    return field_ == Field::DType ? "dtype" : field_ == Field::Shape ? "shape" : "data_offsets";
  }

  bool entry_key(const std::string& key) {
    bool* seen = nullptr;
    if (key == "dtype") {
      field_ = Field::DType, seen = &dtype_key_seen_;
    } else if (key == "shape") {
      field_ = Field::Shape, seen = &shape_key_seen_;
    } else if (key == "data_offsets") {
      field_ = Field::Offsets, seen = &offsets_key_seen_;
    } else {
      state_ = State::Skip;
      skip_depth_ = 0;
      return true;
    }
    RECUR_CHECK(!*seen, tensor_prefix() << "'" << key << "' appears twice in the entry");
    *seen = true;
    state_ = State::Field;
    return true;
  }

  void append(std::uint64_t value) {
    HeaderEntry& e = entry();
    if (field_ == Field::Shape) {
      RECUR_CHECK(count_ < kMaxDims, tensor_prefix() << "shape has more than " << kMaxDims
                                                     << " dimensions; recur supports at most " << kMaxDims);
      RECUR_CHECK(value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                  tensor_prefix() << "shape element " << count_ << " is " << value << ", above 2^63 - 1");
      e.shape.push_back(static_cast<std::int64_t>(value));
    } else {
      RECUR_CHECK(count_ < 2, tensor_prefix() << "data_offsets has more than 2 elements, expected 2 ([begin, end])");
      (count_ == 0 ? e.begin : e.end) = value;
    }
    ++count_;
  }

  // A scalar inside an ignored value is consumed; a scalar that is the ignored value ends it.
  bool skip_scalar() {
    if (state_ != State::Skip) return false;
    if (skip_depth_ == 0) state_ = State::Entry;
    return true;
  }

  void end_skipped_container() {
    // The parser balances brackets, so outside Skip no other container can end here.
    if (state_ == State::Skip && --skip_depth_ == 0) state_ = State::Entry;
  }

  // A value of the wrong JSON type for where it stands.
  bool unexpected(const char* kind) {
    if (skip_scalar()) return true;
    switch (state_) {
      case State::Root: RECUR_FAIL(source_ << ": the header is " << kind << ", expected a JSON object");
      case State::TopValue:
        if (top_key_ == kMetadataKey) {
          RECUR_FAIL(source_ << ": " << kMetadataKey << " is " << kind
                             << ", expected an object mapping strings to strings");
        }
        RECUR_FAIL(source_ << ": tensor " << quote(top_key_) << ": the entry is " << kind
                           << ", expected an object with dtype, shape and data_offsets");
      case State::MetadataValue:
        RECUR_FAIL(source_ << ": " << kMetadataKey << ": the value of " << quote(metadata_key_) << " is " << kind
                           << ", expected a string (metadata maps strings to strings)");
      case State::Field:
        if (field_ == Field::DType)
          RECUR_FAIL(tensor_prefix() << "dtype is " << kind << ", expected a string such as \"F32\"");
        RECUR_FAIL(tensor_prefix() << field_name() << " is " << kind << ", expected an array of non-negative integers");
      case State::Array:
        RECUR_FAIL(tensor_prefix() << field_name() << " element " << count_ << " is " << kind
                                   << ", expected a non-negative integer");
      default: RECUR_FAIL(source_ << ": unexpected " << kind << " in the header");
    }
  }

  const std::string& source_;
  Header& header_;
  State state_ = State::Root;
  Field field_ = Field::DType;
  std::string top_key_, metadata_key_;
  std::set<std::string> seen_names_;
  // Which of the three keys the current entry has shown (has_* turn true only at the value).
  bool dtype_key_seen_ = false, shape_key_seen_ = false, offsets_key_seen_ = false;
  int count_ = 0;       // elements read of the current array
  int skip_depth_ = 0;  // containers open inside an ignored value
};

Header read_header(const char* begin, const char* end, const std::string& source) {
  // nlohmann's lexer takes a NUL byte for the end of the input, which would let anything
  // after one pass unread; in JSON text a raw NUL is never valid.
  const void* nul = std::memchr(begin, '\0', static_cast<std::size_t>(end - begin));
  RECUR_CHECK(!nul, source << ": the header is not valid JSON: it holds a NUL byte at offset "
                           << static_cast<const char*>(nul) - begin);
  Header header;
  HeaderReader reader(source, header);
  json::sax_parse(begin, end, &reader);  // throws from the reader on any fault
  return header;
}

// What a valid entry needs beyond the header grammar.
struct CheckedEntry {
  const HeaderEntry* entry;
  const StoredType* stored;
  std::int64_t numel;
};

CheckedEntry check_entry(const HeaderEntry& e, std::uint64_t buffer_size, const std::string& source) {
  const std::string prefix = source + ": tensor " + quote(e.name) + ": ";
  const StoredType* stored = find_stored_type(e.dtype);
  RECUR_CHECK(stored,
              prefix << "dtype " << quote(e.dtype) << " is not supported (recur reads " << kReadableTypes << ")");

  // The product of the non-zero extents must fit, even when a zero makes the tensor empty:
  // row-major strides multiply them too.
  std::int64_t product = 1;
  bool has_zero = false;
  for (std::int64_t extent : e.shape) {
    if (extent == 0) {
      has_zero = true;
      continue;
    }
    RECUR_CHECK(!__builtin_mul_overflow(product, extent, &product),
                prefix << "shape " << e.shape << " is too large: its extents multiply past 2^63 - 1");
  }
  const std::int64_t numel = has_zero ? 0 : product;

  RECUR_CHECK(e.begin <= e.end, prefix << "data_offsets " << offsets_text(e.begin, e.end) << " begin after they end");
  RECUR_CHECK(e.end <= buffer_size, prefix << "data_offsets " << offsets_text(e.begin, e.end)
                                           << " run past the end of the data buffer (" << buffer_size << " bytes)");
  std::uint64_t needed = 0;
  const bool too_big = __builtin_mul_overflow(static_cast<std::uint64_t>(numel), stored->size, &needed);
  RECUR_CHECK(!too_big && e.end - e.begin == needed,
              prefix << "data_offsets " << offsets_text(e.begin, e.end) << " hold " << e.end - e.begin << " bytes but "
                     << stored->name << " shape " << e.shape << " needs "
                     << (too_big ? std::string("more than 2^64") : std::to_string(needed)));
  return {&e, stored, numel};
}

// The format requires the tensors to tile the data buffer: no overlap, no gap, nothing
// after the last one (as the reference reader checks).
void check_coverage(std::vector<CheckedEntry> entries, std::uint64_t buffer_size, const std::string& source) {
  std::sort(entries.begin(), entries.end(), [](const CheckedEntry& a, const CheckedEntry& b) {
    return std::pair(a.entry->begin, a.entry->end) < std::pair(b.entry->begin, b.entry->end);
  });
  std::uint64_t covered = 0;
  const HeaderEntry* previous = nullptr;
  for (const CheckedEntry& checked : entries) {
    const HeaderEntry& e = *checked.entry;
    RECUR_CHECK(e.begin >= covered,
                source << ": tensor " << quote(e.name) << ": data_offsets " << offsets_text(e.begin, e.end)
                       << " start inside tensor " << quote(previous->name) << " (data_offsets "
                       << offsets_text(previous->begin, previous->end) << "): tensors must not overlap");
    RECUR_CHECK(e.begin == covered, source << ": bytes [" << covered << ", " << e.begin
                                           << ") of the data buffer, before tensor " << quote(e.name)
                                           << ", belong to no tensor: the tensors must cover the data buffer exactly");
    covered = e.end;
    previous = &e;
  }
  RECUR_CHECK(covered == buffer_size, source << ": bytes [" << covered << ", " << buffer_size
                                             << ") at the end of the data buffer belong to no tensor: the tensors "
                                                "must cover the data buffer exactly");
}

// ------------------------------------------------------------------ writing

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t extra;
    std::uint32_t code, smallest;
    if ((lead & 0xe0) == 0xc0) {
      extra = 1, code = lead & 0x1f, smallest = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      extra = 2, code = lead & 0x0f, smallest = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      extra = 3, code = lead & 0x07, smallest = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past Unicode are not UTF-8.
    if (code < smallest || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

// A JSON string as serde_json and Python's json module (ensure_ascii=False) write it: '"'
// and '\' escaped, control characters as \b \f \n \r \t or \u00xx, everything else as is.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

struct TensorToWrite {
  const std::string* name;
  Tensor tensor;
  const char* dtype;   // as the header spells it
  int alignment_rank;  // larger elements first, so every tensor is aligned to its element size
  std::uint64_t nbytes;
};

}  // namespace

SafetensorsFile parse_safetensors(const void* data, std::size_t size, const std::string& source) {
  const unsigned char* bytes = static_cast<const unsigned char*>(data);
  RECUR_CHECK(size >= kLengthBytes,
              source << ": the file is " << size
                     << " bytes long, too short for a safetensors file (the header length alone takes 8)");
  std::uint64_t header_size = 0;
  for (std::size_t i = 0; i < kLengthBytes; ++i) header_size |= std::uint64_t{bytes[i]} << (8 * i);
  RECUR_CHECK(header_size <= kMaxHeaderBytes, source << ": the header length " << header_size
                                                     << " exceeds the limit of " << kMaxHeaderBytes
                                                     << " bytes (is this a safetensors file?)");
  RECUR_CHECK(header_size <= size - kLengthBytes, source << ": the header length " << header_size
                                                         << " runs past the end of the file (" << size << " bytes)");

  const char* header_begin = reinterpret_cast<const char*>(bytes + kLengthBytes);
  Header header = read_header(header_begin, header_begin + header_size, source);
  const unsigned char* buffer = bytes + kLengthBytes + header_size;
  const std::uint64_t buffer_size = size - kLengthBytes - header_size;

  std::vector<CheckedEntry> checked;
  checked.reserve(header.entries.size());
  for (const HeaderEntry& e : header.entries) checked.push_back(check_entry(e, buffer_size, source));
  check_coverage(checked, buffer_size, source);

  SafetensorsFile file;
  for (const CheckedEntry& c : checked) {
    Tensor t = empty(c.entry->shape, c.stored->loaded_as);
    if (c.numel > 0) load_elements(*c.stored, buffer + c.entry->begin, c.numel, t);
    file.tensors.emplace(c.entry->name, std::move(t));
  }
  file.metadata = std::move(header.metadata);
  return file;
}

SafetensorsFile load_safetensors(const std::string& path) {
  const std::string bytes = read_file(path);
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  RECUR_CHECK(file, "cannot read '" << path << "': " << std::strerror(errno));
  unsigned char length[kLengthBytes];
  std::string header;
  std::uint64_t header_size = 0;
  bool complete = std::fread(length, 1, kLengthBytes, file) == kLengthBytes;
  if (complete) {
    for (std::size_t i = 0; i < kLengthBytes; ++i) header_size |= std::uint64_t{length[i]} << (8 * i);
    if (header_size <= kMaxHeaderBytes) {
      header.resize(header_size);
      complete = std::fread(header.data(), 1, header.size(), file) == header.size();
    }
  }
  std::fclose(file);
  RECUR_CHECK(complete, path << ": too short for a safetensors file (its header is cut off)");
  RECUR_CHECK(header_size <= kMaxHeaderBytes, path << ": the header length " << header_size << " exceeds the limit of "
                                                   << kMaxHeaderBytes << " bytes (is this a safetensors file?)");
  return read_header(header.data(), header.data() + header.size(), path).metadata;
}

void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Everything is checked before the temporary file exists.
  std::vector<TensorToWrite> order;
  order.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    const std::string prefix = "cannot save '" + path + "': tensor " + quote(name);
    RECUR_CHECK(name != kMetadataKey, "cannot save '" << path << "': a tensor cannot be named " << kMetadataKey
                                                      << " (the format reserves it for the metadata)");
    RECUR_CHECK(is_valid_utf8(name), prefix << ": the name is not valid UTF-8");
    RECUR_CHECK(t.defined(), prefix << " is undefined");
    RECUR_CHECK(t.device().is_cpu(), prefix << " is on " << t.device() << "; copy it to the CPU first");
    // safetensors' own writer orders by its dtype enum, descending: I64, F64, F32.
    const char* dtype = nullptr;
    int rank = 0;
    switch (t.dtype()) {
      case DType::Int64: dtype = "I64", rank = 2; break;
      case DType::Float64: dtype = "F64", rank = 1; break;
      case DType::Float32: dtype = "F32", rank = 0; break;
    }
    RECUR_CHECK(dtype, prefix << " has dtype " << t.dtype() << ", which safetensors files from recur cannot hold");
    order.push_back({&name, t, dtype, rank, static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype())});
  }
  for (const auto& [key, value] : metadata) {
    RECUR_CHECK(is_valid_utf8(key) && is_valid_utf8(value),
                "cannot save '" << path << "': metadata " << quote(key) << " is not valid UTF-8");
  }
  std::stable_sort(order.begin(), order.end(), [](const TensorToWrite& a, const TensorToWrite& b) {
    return a.alignment_rank > b.alignment_rank;  // ties keep the map's order: by name
  });

  // The header: compact JSON, "__metadata__" first, the tensors in data order.
  std::string header = "{";
  if (!metadata.empty()) {
    append_json_string(header, kMetadataKey);
    header += ":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it) {
      if (it != metadata.begin()) header += ',';
      append_json_string(header, it->first);
      header += ':';
      append_json_string(header, it->second);
    }
    header += '}';
  }
  std::uint64_t offset = 0;
  for (const TensorToWrite& item : order) {
    if (header.size() > 1) header += ',';
    append_json_string(header, *item.name);
    header += ":{\"dtype\":\"";
    header += item.dtype;
    header += "\",\"shape\":[";
    for (int d = 0; d < item.tensor.dim(); ++d) {
      if (d > 0) header += ',';
      header += std::to_string(item.tensor.size(d));
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + ',' + std::to_string(offset + item.nbytes) + "]}";
    offset += item.nbytes;
  }
  header += '}';
  // Spaces up to a multiple of 8 bytes, so that the data buffer, and with it every tensor,
  // starts 8-byte aligned in the file.
  header.append((8 - header.size() % 8) % 8, ' ');

  unsigned char length[kLengthBytes];
  for (std::size_t i = 0; i < kLengthBytes; ++i) length[i] = static_cast<unsigned char>(header.size() >> (8 * i));

  AtomicFileWriter out(path);
  out.write(length, sizeof length);
  out.write(header.data(), header.size());
  for (const TensorToWrite& item : order) {
    if (item.nbytes == 0) continue;
    // A tensor on another device is read back to the host here, once (to() gives a dense copy).
    const Tensor dense = to(item.tensor.detach(), Device::cpu()).contiguous();
    out.write(dense.raw_data(), item.nbytes);
  }
  out.commit();
}

}  // namespace recur::io
