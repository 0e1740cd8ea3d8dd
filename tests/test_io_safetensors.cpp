// The io layer: safetensors round trips, the exact bytes written, F16/BF16 conversion, the
// committed PyTorch-made fixtures, every class of malformed file, and atomic writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "io/json_limits.hpp"
#include "recur/recur.hpp"
#include "test_helpers.hpp"

namespace recur {
namespace {

namespace fs = std::filesystem;
using io::SafetensorsFile;
using testing::HasSubstr;

// ------------------------------------------------------------------ helpers

std::string little_endian_u64(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  return bytes;
}

// A safetensors file from its header text and data buffer (the header is used as given).
std::string safetensors_bytes(std::string_view header, std::string_view data = {}) {
  return little_endian_u64(header.size()) + std::string(header) + std::string(data);
}

template <class T>
std::string raw_bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

SafetensorsFile parse(const std::string& bytes) {
  return io::parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors");
}

void expect_parse_error(const std::string& bytes, const std::vector<std::string>& fragments) {
  expect_error([&] { parse(bytes); }, fragments);
}

// A one-tensor header: {"<name>": {<entry>}}.
std::string one_entry(const std::string& entry, const std::string& name = "w") {
  return "{\"" + name + "\":{" + entry + "}}";
}

template <class T>
std::vector<std::uint64_t> bit_patterns(const std::vector<T>& values) {
  std::vector<std::uint64_t> bits;
  for (T v : values) {
    if constexpr (sizeof(T) == 4) {
      bits.push_back(std::bit_cast<std::uint32_t>(v));
    } else {
      bits.push_back(std::bit_cast<std::uint64_t>(v));
    }
  }
  return bits;
}

// Same dtype, shape and elements, bit for bit (so NaN, -0 and subnormals count).
void expect_identical(const Tensor& actual, const Tensor& expected, const std::string& name) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(actual.defined());
  EXPECT_EQ(actual.dtype(), expected.dtype());
  EXPECT_EQ(actual.shape(), expected.shape());
  EXPECT_TRUE(actual.is_contiguous());
  EXPECT_FALSE(actual.requires_grad());
  switch (expected.dtype()) {
    case DType::Float32:
      EXPECT_EQ(bit_patterns(actual.to_vector<float>()), bit_patterns(expected.to_vector<float>()));
      break;
    case DType::Float64:
      EXPECT_EQ(bit_patterns(actual.to_vector<double>()), bit_patterns(expected.to_vector<double>()));
      break;
    case DType::Int64: EXPECT_EQ(actual.to_vector<std::int64_t>(), expected.to_vector<std::int64_t>()); break;
  }
}

void expect_same_files(const SafetensorsFile& actual, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  EXPECT_EQ(actual.metadata, metadata);
  ASSERT_EQ(actual.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    auto found = actual.tensors.find(name);
    ASSERT_NE(found, actual.tensors.end()) << name;
    expect_identical(found->second, t, name);
  }
}

const float kInfF = std::numeric_limits<float>::infinity();
const float kNanF = std::numeric_limits<float>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

std::string fixture(const std::string& name) { return std::string(RECUR_TEST_FIXTURES) + "/" + name; }

// ------------------------------------------------------------------ round trips

TEST(SafetensorsRoundTrip, EveryWritableDTypeAndShape) {
  TempDir dir;
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  std::vector<double> cube(24);
  for (int i = 0; i < 24; ++i) cube[i] = 0.1 * i - 1.0;
  cube[5] = -0.0, cube[6] = kInf, cube[7] = std::numeric_limits<double>::denorm_min();
  TensorMap tensors = {
      {"f32.matrix", from_vector(std::vector<float>{1.5f, -0.0f, kInfF, -kInfF, kNanF, 1e-45f}, {2, 3})},
      {"f64.cube", from_vector(cube, {2, 3, 4})},
      {"i64.vector", from_vector(std::vector<std::int64_t>{-1, 0, kMax, kMin}, {4})},
      {"scalar.f32", scalar_tensor(2.5)},
      {"scalar.f64", scalar_tensor(-0.1, DType::Float64)},
      {"scalar.i64", scalar_tensor(-7, DType::Int64)},
      {"empty.f64", empty({0}, DType::Float64)},
      {"empty.middle", empty({2, 0, 3}, DType::Int64)},
      {"rank8", ones({1, 2, 1, 2, 1, 2, 1, 2})},
  };
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"empty value", ""},
      {"unicode ключ", "π ≈ 3.14 ✓"},
      {"quotes \"and\" \\ backslash\n", std::string("control \x01\x1f \t\b\f\r chars")},
  };
  io::save_safetensors(dir.file("all.safetensors"), tensors, metadata);
  expect_same_files(io::load_safetensors(dir.file("all.safetensors")), tensors, metadata);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"all.safetensors"});
}

TEST(SafetensorsRoundTrip, EmptyMapAndNoMetadata) {
  TempDir dir;
  io::save_safetensors(dir.file("none.safetensors"), {});
  SafetensorsFile file = io::load_safetensors(dir.file("none.safetensors"));
  EXPECT_TRUE(file.tensors.empty());
  EXPECT_TRUE(file.metadata.empty());
}

TEST(SafetensorsRoundTrip, NonContiguousTensorsAreWrittenRowMajor) {
  TempDir dir;
  Tensor base = from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor transposed = transpose(base, 0, 1);                                       // [[0, 3], [1, 4], [2, 5]]
  Tensor column = narrow(base, 1, 1, 1);                                           // [[1], [4]]
  Tensor broadcast = expand(from_vector(std::vector<double>{7, 8}, {2}), {3, 2});  // stride 0
  ASSERT_FALSE(transposed.is_contiguous());
  ASSERT_FALSE(column.is_contiguous());
  ASSERT_FALSE(broadcast.is_contiguous());
  io::save_safetensors(dir.file("views.safetensors"), {{"t", transposed}, {"c", column}, {"b", broadcast}});

  SafetensorsFile file = io::load_safetensors(dir.file("views.safetensors"));
  expect_identical(file.tensors.at("t"), contiguous(transposed), "t");
  expect_identical(file.tensors.at("c"), contiguous(column), "c");
  expect_identical(file.tensors.at("b"), contiguous(broadcast), "b");
  EXPECT_EQ(file.tensors.at("t").to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(SafetensorsRoundTrip, ParametersThatRequireGradSaveTheirValues) {
  TempDir dir;
  Tensor weight = from_vector(std::vector<float>{1, 2, 3}, {3});
  weight.set_requires_grad();
  io::save_safetensors(dir.file("p.safetensors"), {{"weight", weight}});
  Tensor loaded = io::load_safetensors(dir.file("p.safetensors")).tensors.at("weight");
  EXPECT_FALSE(loaded.requires_grad());
  EXPECT_EQ(loaded.to_vector<float>(), (std::vector<float>{1, 2, 3}));
}

// ------------------------------------------------------------------ exact bytes

// The first three expectations are the byte vectors of the reference implementation's own
// unit tests (huggingface/safetensors, safetensors/src/tensor.rs).
TEST(SafetensorsLayout, MatchesTheReferenceWriterByteForByte) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  std::string data = raw_bytes(std::vector<float>{0, 1, 2, 3, 4, 5});

  io::save_safetensors(path, {{"attn.0", from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {1, 2, 3})}});
  // 64 bytes of JSON: already a multiple of 8, so no padding.
  EXPECT_EQ(io::read_file(path),
            safetensors_bytes(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})", data));

  io::save_safetensors(path, {{"attn0", from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {1, 1, 2, 3})}});
  // 65 bytes of JSON, padded with 7 spaces to 72.
  EXPECT_EQ(io::read_file(path),
            safetensors_bytes(R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       )", data));

  io::save_safetensors(path, {});
  EXPECT_EQ(io::read_file(path), safetensors_bytes("{}      "));

  io::save_safetensors(path, {}, {{"framework", "pt"}});
  EXPECT_EQ(io::read_file(path), safetensors_bytes(R"({"__metadata__":{"framework":"pt"}}     )"));
}

TEST(SafetensorsLayout, LargerElementsFirstThenByNameWithAlignedOffsets) {
  TempDir dir;
  const std::string path = dir.file("order.safetensors");
  io::save_safetensors(path, {{"a", scalar_tensor(1.0)},
                              {"b", scalar_tensor(2.0, DType::Float64)},
                              {"c", scalar_tensor(3, DType::Int64)},
                              {"d", from_vector(std::vector<float>{4, 5, 6}, {3})},
                              {"e", scalar_tensor(7, DType::Int64)}});
  const std::string header = R"({"c":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                             R"("e":{"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
                             R"("b":{"dtype":"F64","shape":[],"data_offsets":[16,24]},)"
                             R"("a":{"dtype":"F32","shape":[],"data_offsets":[24,28]},)"
                             R"("d":{"dtype":"F32","shape":[3],"data_offsets":[28,40]}})";
  ASSERT_EQ(header.size(), 269u);  // padded with 3 spaces to 272
  const std::string data = raw_bytes(std::vector<std::int64_t>{3, 7}) + raw_bytes(std::vector<double>{2.0}) +
                           raw_bytes(std::vector<float>{1, 4, 5, 6});
  EXPECT_EQ(io::read_file(path), safetensors_bytes(header + "   ", data));
}

TEST(SafetensorsLayout, LittleEndianLengthAndData) {
  TempDir dir;
  const std::string path = dir.file("endian.safetensors");
  io::save_safetensors(path, {{"i", from_vector(std::vector<std::int64_t>{0x0102030405060708}, {1})}});
  const std::string bytes = io::read_file(path);
  const std::string header = R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})";  // 54 bytes
  ASSERT_EQ(bytes.size(), 8u + 56u + 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x38\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(8, 56), header + "  ");
  EXPECT_EQ(bytes.substr(64), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
}

// tests/fixtures/recur_layout.safetensors was written by make_safetensors_fixture.py the way
// safetensors.torch.save_file writes: recur must produce the same bytes.
TEST(SafetensorsLayout, SameBytesAsThePythonFixture) {
  TempDir dir;
  TensorMap tensors = {
      {"weight", from_vector(std::vector<float>{-1, -0.5, 0, 0.5, 1, 1.5}, {2, 3})},
      {"bias", from_vector(std::vector<float>{0.25, -0.125, 3.0}, {3})},
      {"empty", empty({0, 4})},
      {"table", from_vector(std::vector<double>{1.0, 0.1, -2.5, 1e-300}, {2, 2})},
      {"step", scalar_tensor(7, DType::Int64)},
      {"ids", from_vector(std::vector<std::int64_t>{-1, 0, std::int64_t{1} << 40}, {3})},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"epoch", "12"}};
  io::save_safetensors(dir.file("ours.safetensors"), tensors, metadata);
  EXPECT_EQ(io::read_file(dir.file("ours.safetensors")), io::read_file(fixture("recur_layout.safetensors")));
  expect_same_files(io::load_safetensors(fixture("recur_layout.safetensors")), tensors, metadata);
}

// ------------------------------------------------------------------ conversions

TEST(SafetensorsConversion, EveryHalfValueIsReadExactly) {
  std::vector<std::uint16_t> all(65536);
  for (std::uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<std::uint16_t>(i);
  SafetensorsFile file = parse(safetensors_bytes(
      one_entry(R"("dtype":"F16","shape":[256,256],"data_offsets":[0,131072])", "h"), raw_bytes(all)));
  const Tensor& h = file.tensors.at("h");
  ASSERT_EQ(h.dtype(), DType::Float32);
  ASSERT_EQ(h.shape(), Shape({256, 256}));
  // Straight from memory: a conversion through double (as to_vector may do) would quieten
  // signalling NaNs.
  const float* got = h.data<float>();
  for (std::uint32_t bits = 0; bits < 65536; ++bits) {
    const bool negative = bits & 0x8000;
    const int exponent = (bits >> 10) & 0x1f;
    const int mantissa = bits & 0x3ff;
    const std::uint32_t got_bits = std::bit_cast<std::uint32_t>(got[bits]);
    EXPECT_EQ(got_bits >> 31, negative ? 1u : 0u) << bits;
    if (exponent == 0x1f && mantissa != 0) {
      // NaN: quiet/signalling bit and payload move to the top of the float mantissa.
      EXPECT_TRUE(std::isnan(got[bits])) << bits;
      EXPECT_EQ((got_bits >> 13) & 0x3ff, static_cast<std::uint32_t>(mantissa)) << bits;
      continue;
    }
    // Subnormal m * 2^-24; normal (1024 + m) * 2^(e - 25); infinity.
    double magnitude = exponent == 0      ? std::ldexp(mantissa, -24)
                       : exponent == 0x1f ? kInf
                                          : std::ldexp(1024 + mantissa, exponent - 25);
    const float expected = static_cast<float>(negative ? -magnitude : magnitude);
    EXPECT_EQ(got_bits, std::bit_cast<std::uint32_t>(expected)) << bits;
  }
}

TEST(SafetensorsConversion, BFloat16SpecialValues) {
  const std::vector<std::uint16_t> values = {0x3f80, 0xc000, 0x3dcd, 0x0001, 0x8001, 0x7f7f,
                                             0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc1};
  SafetensorsFile file = parse(
      safetensors_bytes(one_entry(R"("dtype":"BF16","shape":[12],"data_offsets":[0,24])", "b"), raw_bytes(values)));
  const std::vector<float> got = file.tensors.at("b").to_vector<float>();
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_EQ(got[1], -2.0f);
  EXPECT_EQ(got[2], 0.10009765625f);
  EXPECT_EQ(got[3], std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_EQ(got[4], -std::ldexp(1.0f, -133));
  EXPECT_EQ(got[5], 3.3895313892515355e38f);  // largest finite
  EXPECT_EQ(std::bit_cast<std::uint32_t>(got[6]), 0u);
  EXPECT_EQ(std::bit_cast<std::uint32_t>(got[7]), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(got[8], kInfF);
  EXPECT_EQ(got[9], -kInfF);
  EXPECT_TRUE(std::isnan(got[10]));
  EXPECT_EQ(std::bit_cast<std::uint32_t>(got[11]), 0xffc10000u);  // NaN sign and payload kept
}

TEST(SafetensorsConversion, IntegerTypesWidenToInt64) {
  const std::string data = raw_bytes(std::vector<std::int8_t>{-128, 127}) +                     // [0, 2)
                           raw_bytes(std::vector<std::uint8_t>{0, 255}) +                       // [2, 4)
                           raw_bytes(std::vector<std::uint8_t>{0, 1, 2, 255}) +                 // [4, 8)
                           raw_bytes(std::vector<std::int16_t>{-32768, 32767}) +                // [8, 12)
                           raw_bytes(std::vector<std::uint16_t>{0, 65535}) +                    // [12, 16)
                           raw_bytes(std::vector<std::int32_t>{-2147483647 - 1, 2147483647}) +  // [16, 24)
                           raw_bytes(std::vector<std::uint32_t>{0, 4294967295u});               // [24, 32)
  const std::string header = R"({"i8":{"dtype":"I8","shape":[2],"data_offsets":[0,2]},)"
                             R"("u8":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},)"
                             R"("bool":{"dtype":"BOOL","shape":[2,2],"data_offsets":[4,8]},)"
                             R"("i16":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},)"
                             R"("u16":{"dtype":"U16","shape":[2],"data_offsets":[12,16]},)"
                             R"("i32":{"dtype":"I32","shape":[2],"data_offsets":[16,24]},)"
                             R"("u32":{"dtype":"U32","shape":[2],"data_offsets":[24,32]}})";
  SafetensorsFile file = parse(safetensors_bytes(header, data));
  using V = std::vector<std::int64_t>;
  for (const auto& [name, t] : file.tensors) EXPECT_EQ(t.dtype(), DType::Int64) << name;
  EXPECT_EQ(file.tensors.at("i8").to_vector<std::int64_t>(), (V{-128, 127}));
  EXPECT_EQ(file.tensors.at("u8").to_vector<std::int64_t>(), (V{0, 255}));
  EXPECT_EQ(file.tensors.at("bool").to_vector<std::int64_t>(), (V{0, 1, 1, 1}));
  EXPECT_EQ(file.tensors.at("bool").shape(), Shape({2, 2}));
  EXPECT_EQ(file.tensors.at("i16").to_vector<std::int64_t>(), (V{-32768, 32767}));
  EXPECT_EQ(file.tensors.at("u16").to_vector<std::int64_t>(), (V{0, 65535}));
  EXPECT_EQ(file.tensors.at("i32").to_vector<std::int64_t>(), (V{-2147483648LL, 2147483647}));
  EXPECT_EQ(file.tensors.at("u32").to_vector<std::int64_t>(), (V{0, 4294967295LL}));
}

// tests/fixtures/torch_dtypes.safetensors: tensors made by PyTorch, written the way
// safetensors.torch.save_file writes them (tests/fixtures/make_safetensors_fixture.py).
TEST(SafetensorsFixture, ReadsEveryTorchDType) {
  SafetensorsFile file = io::load_safetensors(fixture("torch_dtypes.safetensors"));
  using I = std::vector<std::int64_t>;
  const auto& t = file.tensors;
  EXPECT_EQ(t.size(), 13u);

  expect_identical(t.at("f32.matrix"),
                   from_vector(std::vector<float>{1.5f, -2.25f, 0.1f, 3.0e38f, -1.0e-45f, 0.0f}, {2, 3}), "f32.matrix");
  expect_identical(t.at("f64.vector"), from_vector(std::vector<double>{0.1, -1e300, 5e-324, 2.0 / 3.0}, {4}),
                   "f64.vector");
  expect_identical(t.at("i64.matrix"),
                   from_vector(I{0, -1, (std::int64_t{1} << 62) + 1, std::numeric_limits<std::int64_t>::min()}, {2, 2}),
                   "i64.matrix");
  expect_identical(
      t.at("f16.specials"),
      from_vector(std::vector<float>{1.0f, -2.0f, 0.0999755859375f, 65504.0f, std::ldexp(1.0f, -14),
                                     std::ldexp(1.0f, -24), 1023 * std::ldexp(1.0f, -24), -0.0f, kInfF, -kInfF, kNanF},
                  {11}),
      "f16.specials");
  expect_identical(t.at("bf16.specials"),
                   from_vector(std::vector<float>{1.0f, -2.0f, 0.10009765625f, 3.140625f, std::ldexp(1.0f, -133),
                                                  3.3895313892515355e38f, -0.0f, kInfF, -kInfF, kNanF},
                               {10}),
                   "bf16.specials");
  expect_identical(t.at("i32"), from_vector(I{-2147483648LL, 2147483647, 7}, {3}), "i32");
  expect_identical(t.at("i16"), from_vector(I{-32768, 32767, -5}, {3}), "i16");
  expect_identical(t.at("i8"), from_vector(I{-128, 127, 0}, {3}), "i8");
  expect_identical(t.at("u8"), from_vector(I{0, 255, 7}, {3}), "u8");
  expect_identical(t.at("bool"), from_vector(I{1, 0, 1}, {3}), "bool");
  expect_identical(t.at("scalar"), scalar_tensor(3.5), "scalar");
  expect_identical(t.at("empty"), empty({0, 3}), "empty");
  expect_identical(t.at("f16.empty"), empty({2, 0}), "f16.empty");

  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"},
                                                               {"written_by", "make_safetensors_fixture.py"},
                                                               {"unicode", "π ≈ 3.14159, \"quoted\"\tand tabbed"}}));
}

// ------------------------------------------------------------------ malformed files

TEST(SafetensorsMalformed, ShorterThanTheLengthField) {
  expect_parse_error(std::string("\x10\0\0\0\0", 5), {"bad.safetensors: ", "5 bytes", "too short"});
  expect_parse_error("", {"0 bytes", "too short"});
}

TEST(SafetensorsMalformed, HeaderLengthPastTheEndOfTheFile) {
  expect_parse_error(little_endian_u64(100) + "{}        ",
                     {"bad.safetensors: ", "header length 100", "runs past the end of the file (18 bytes)"});
}

TEST(SafetensorsMalformed, AbsurdHeaderLength) {
  expect_parse_error(little_endian_u64(100'000'001) + "{}", {"header length 100000001", "limit of 100000000"});
  expect_parse_error(little_endian_u64(~std::uint64_t{0}) + "{}", {"header length 18446744073709551615", "limit"});
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  expect_parse_error(safetensors_bytes("{nope"), {"bad.safetensors: the header is not valid JSON"});
  expect_parse_error(safetensors_bytes(""), {"not valid JSON"});
  expect_parse_error(safetensors_bytes(std::string("{}\0\0\0\0\0\0", 8)),
                     {"not valid JSON: it holds a NUL byte at offset 2"});  // NUL padding
  expect_parse_error(safetensors_bytes("{\"\xff\":1}"), {"not valid JSON", "UTF-8"});
  // A hostile last token is not copied whole into the message.
  try {
    parse(safetensors_bytes("{\"" + std::string(100000, 'x')));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_LT(std::strlen(e.what()), 500u);
  }
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  expect_parse_error(safetensors_bytes("[1,2]   "),
                     {"bad.safetensors: the header is an array, expected a JSON object"});
  expect_parse_error(safetensors_bytes("\"F32\"   "), {"the header is a string"});
  expect_parse_error(safetensors_bytes("null"), {"the header is null"});
}

TEST(SafetensorsMalformed, EntryNotAnObject) {
  expect_parse_error(safetensors_bytes(R"({"w":5})"), {"bad.safetensors: tensor 'w': the entry is a number"});
  expect_parse_error(safetensors_bytes(R"({"w":["F32"]})"), {"tensor 'w': the entry is an array"});
}

TEST(SafetensorsMalformed, EntryMissingAField) {
  expect_parse_error(safetensors_bytes(one_entry(R"("shape":[],"data_offsets":[0,4])")),
                     {"bad.safetensors: tensor 'w': the entry has no 'dtype'"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","data_offsets":[0,4])")),
                     {"tensor 'w': the entry has no 'shape'"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[])")),
                     {"tensor 'w': the entry has no 'data_offsets'"});
}

TEST(SafetensorsMalformed, FieldsOfTheWrongJsonType) {
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":5,"shape":[],"data_offsets":[0,4])")),
                     {"tensor 'w': dtype is a number, expected a string"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":"[1]","data_offsets":[0,4])")),
                     {"tensor 'w': shape is a string, expected an array of non-negative integers"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[1],"data_offsets":{"begin":0})")),
                     {"tensor 'w': data_offsets is an object"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[1,"2"],"data_offsets":[0,8])")),
                     {"tensor 'w': shape element 1 is a string, expected a non-negative integer"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[[1]],"data_offsets":[0,4])")),
                     {"tensor 'w': shape element 0 is an array"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[1],"data_offsets":[0,null])")),
                     {"tensor 'w': data_offsets element 1 is null"});
}

TEST(SafetensorsMalformed, NegativeOrNonIntegerDimensions) {
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[2,-3],"data_offsets":[0,0])")),
                     {"tensor 'w': shape element 1 is -3, expected a non-negative integer"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,0])")),
                     {"tensor 'w': shape element 0 is 2.5"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[1e2],"data_offsets":[0,400])")),
                     {"shape element 0 is 1e2"});
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0])")),
      {"shape element 0 is 18446744073709551615, above 2^63 - 1"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[1],"data_offsets":[-4,0])")),
                     {"tensor 'w': data_offsets element 0 is -4"});
}

TEST(SafetensorsMalformed, TooManyDimensions) {
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4])")),
                     {"tensor 'w': shape has more than 8 dimensions"});
}

TEST(SafetensorsMalformed, ShapeProductOverflows) {
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4])")),
      {"tensor 'w': shape [4294967296, 4294967296] is too large"});
  // An empty tensor's strides still multiply the other extents.
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0])")),
      {"is too large"});
  // The element count fits but the byte count does not.
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0])")),
      {"hold 0 bytes but F64 shape [4611686018427387904] needs more than 2^64"});
}

TEST(SafetensorsMalformed, DataOffsetsBackwards) {
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"F32","shape":[1],"data_offsets":[8,4])"), std::string(8, '\0')),
      {"bad.safetensors: tensor 'w': data_offsets [8, 4] begin after they end"});
}

TEST(SafetensorsMalformed, DataOffsetsPastTheBuffer) {
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"F32","shape":[100],"data_offsets":[0,400])"), std::string(8, '\0')),
      {"tensor 'w': data_offsets [0, 400] run past the end of the data buffer (8 bytes)"});
  expect_parse_error(safetensors_bytes(one_entry(
                         R"("dtype":"F32","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615])")),
                     {"run past the end of the data buffer (0 bytes)"});
}

TEST(SafetensorsMalformed, ByteCountDisagreesWithShape) {
  const std::string bytes = safetensors_bytes(
      one_entry(R"("dtype":"F32","shape":[10,20],"data_offsets":[0,400])", "fc.weight"), std::string(400, '\0'));
  try {
    io::parse_safetensors(bytes.data(), bytes.size(), "model.safetensors");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(
        e.what(),
        "model.safetensors: tensor 'fc.weight': data_offsets [0, 400] hold 400 bytes but F32 shape [10, 20] needs 800");
  }
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"BF16","shape":[],"data_offsets":[0,4])"), std::string(4, '\0')),
      {"hold 4 bytes but BF16 shape [] needs 2"});
}

TEST(SafetensorsMalformed, WrongNumberOfDataOffsets) {
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[],"data_offsets":[4])")),
                     {"tensor 'w': data_offsets has 1 element, expected 2"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","shape":[],"data_offsets":[0,4,8])")),
                     {"data_offsets has more than 2 elements"});
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  expect_parse_error(safetensors_bytes(header, std::string(12, '\0')),
                     {"bad.safetensors: tensor 'b': data_offsets [4, 12] start inside tensor 'a' (data_offsets [0, 8])",
                      "must not overlap"});
  const std::string same = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})";
  expect_parse_error(safetensors_bytes(same, std::string(8, '\0')), {"start inside tensor", "must not overlap"});
}

TEST(SafetensorsMalformed, GapsAndTrailingBytes) {
  const std::string gap = R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}})";
  expect_parse_error(safetensors_bytes(gap, std::string(12, '\0')),
                     {"bad.safetensors: bytes [4, 8) of the data buffer, before tensor 'b', belong to no tensor"});
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"F32","shape":[],"data_offsets":[4,8])"), std::string(8, '\0')),
      {"bytes [0, 4) of the data buffer, before tensor 'w'"});
  expect_parse_error(
      safetensors_bytes(one_entry(R"("dtype":"F32","shape":[],"data_offsets":[0,4])"), std::string(8, '\0')),
      {"bytes [4, 8) at the end of the data buffer belong to no tensor"});
  expect_parse_error(safetensors_bytes("{}      ", "x"), {"bytes [0, 1) at the end of the data buffer"});
  // Empty tensors take no bytes, wherever they sit between others.
  const std::string empties = R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                              R"("b":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                              R"("c":{"dtype":"I64","shape":[3,0],"data_offsets":[4,4]}})";
  EXPECT_EQ(parse(safetensors_bytes(empties, std::string(4, '\0'))).tensors.size(), 3u);
}

TEST(SafetensorsMalformed, DuplicateNames) {
  const std::string entry = R"({"dtype":"F32","shape":[],"data_offsets":[0,4]})";
  expect_parse_error(safetensors_bytes("{\"a\":" + entry + ",\"a\":" + entry + "}", std::string(4, '\0')),
                     {"bad.safetensors: tensor 'a' appears twice in the header"});
  expect_parse_error(safetensors_bytes(R"({"__metadata__":{},"__metadata__":{}})"), {"'__metadata__' appears twice"});
  expect_parse_error(safetensors_bytes(R"({"__metadata__":{"k":"1","k":"2"}})"),
                     {"__metadata__: key 'k' appears twice"});
  expect_parse_error(safetensors_bytes(one_entry(R"("dtype":"F32","dtype":"F64","shape":[],"data_offsets":[0,4])")),
                     {"tensor 'w': 'dtype' appears twice in the entry"});
}

TEST(SafetensorsMalformed, MetadataNotAStringMap) {
  expect_parse_error(safetensors_bytes(R"({"__metadata__":["a"]})"),
                     {"bad.safetensors: __metadata__ is an array, expected an object mapping strings to strings"});
  expect_parse_error(safetensors_bytes(R"({"__metadata__":null})"), {"__metadata__ is null"});
  expect_parse_error(safetensors_bytes(R"({"__metadata__":{"epoch":3}})"),
                     {"__metadata__: the value of 'epoch' is a number, expected a string"});
  expect_parse_error(safetensors_bytes(R"({"__metadata__":{"k":{"nested":"v"}}})"), {"the value of 'k' is an object"});
  expect_parse_error(safetensors_bytes(R"({"__metadata__":{"k":true}})"), {"the value of 'k' is a boolean"});
}

TEST(SafetensorsMalformed, UnsupportedDType) {
  for (const char* dtype : {"U64", "F8_E4M3", "f32", ""}) {
    expect_parse_error(
        safetensors_bytes(one_entry(std::string(R"("dtype":")") + dtype + R"(","shape":[],"data_offsets":[0,8])"),
                          std::string(8, '\0')),
        {"bad.safetensors: tensor 'w': dtype '" + std::string(dtype) + "' is not supported",
         "F32, F64, I64, F16, BF16"});
  }
}

TEST(SafetensorsMalformed, NamesInMessagesStayOnOneLine) {
  expect_parse_error(safetensors_bytes(R"({"bad\nname":5})"), {"tensor 'bad\\x0aname'"});
  try {
    parse(safetensors_bytes("{\"" + std::string(5000, 'n') + "\":5}"));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_LT(std::strlen(e.what()), 300u);
    EXPECT_THAT(e.what(), HasSubstr("nnn...'"));
  }
}

TEST(SafetensorsMalformed, UnknownEntryKeysAreIgnoredHoweverDeep) {
  std::string deep = std::string(200000, '[') + "{\"k\":null}" + std::string(200000, ']');
  const std::string header = R"({"w":{"dtype":"F32","extra":)" + deep +
                             R"(,"shape":[],"more":{"a":[1,2,{"b":"c"}]},"data_offsets":[0,4],"last":-1.5}})";
  SafetensorsFile file = parse(safetensors_bytes(header, raw_bytes(std::vector<float>{2.5f})));
  EXPECT_EQ(file.tensors.at("w").item(), 2.5);
  // Deep nesting where an entry belongs is refused at the first bracket.
  expect_parse_error(safetensors_bytes("{\"w\":" + deep + "}"), {"tensor 'w': the entry is an array"});
}

// Every truncation and many random corruptions of a valid file either parse or throw
// recur::Error: never a crash, a hang or another exception.
TEST(SafetensorsMalformed, TruncatedAndCorruptedFilesFailCleanly) {
  const std::string good = io::read_file(fixture("torch_dtypes.safetensors"));
  auto parse_or_error = [](const std::string& bytes) {
    try {
      io::parse_safetensors(bytes.data(), bytes.size(), "fuzz");
    } catch (const Error&) {
    }
  };
  for (std::size_t length = 0; length < good.size(); ++length) {
    EXPECT_THROW(io::parse_safetensors(good.data(), length, "truncated"), Error) << length;
  }
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    EXPECT_NO_THROW(parse_or_error(bytes)) << trial;
  }
}

// ------------------------------------------------------------------ atomic writes

TEST(AtomicWrite, WritesAndReplacesWholeFiles) {
  TempDir dir;
  const std::string path = dir.file("notes.txt");
  io::write_file_atomically(path, "first version, longer than the second");
  EXPECT_EQ(io::read_file(path), "first version, longer than the second");
  io::write_file_atomically(path, std::string("second\0version", 14));
  EXPECT_EQ(io::read_file(path), std::string("second\0version", 14));
  io::write_file_atomically(path, "");
  EXPECT_EQ(io::read_file(path), "");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"notes.txt"});
}

TEST(AtomicWrite, KeepsThePermissionsOfTheFileItReplaces) {
  TempDir dir;
  const std::string path = dir.file("private.txt");
  io::write_file_atomically(path, "old");
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  io::write_file_atomically(path, "new");
  struct stat info;
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0640u);
}

TEST(AtomicWrite, MissingDirectoryNamesThePathAndTheReason) {
  TempDir dir;
  const std::string path = dir.file("missing/model.safetensors");
  expect_error([&] { io::write_file_atomically(path, "x"); },
               {"cannot write '" + path + "'", "No such file or directory"});
  expect_error(
      [&] {
        io::save_safetensors(path, {{"w", scalar_tensor(1)}});
      },
      {"cannot write '" + path + "'", "No such file or directory"});
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicWrite, RefusedSaveLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  io::save_safetensors(path, {{"w", from_vector(std::vector<float>{1, 2, 3}, {3})}}, {{"epoch", "1"}});
  const std::string before = io::read_file(path);

  expect_error(
      [&] {
        io::save_safetensors(path, {{"a", scalar_tensor(1)}, {"w", Tensor()}});
      },
      {"cannot save '" + path + "': tensor 'w' is undefined"});
  expect_error(
      [&] {
        io::save_safetensors(path, {{"__metadata__", scalar_tensor(1)}});
      },
      {"cannot save '" + path + "'", "cannot be named __metadata__"});
  expect_error([&] { io::save_safetensors(path, {{"bad\xff", scalar_tensor(1)}}); }, {"not valid UTF-8"});
  expect_error([&] { io::save_safetensors(path, {}, {{"k", "\xc0\x80"}}); }, {"metadata 'k' is not valid UTF-8"});

  EXPECT_EQ(io::read_file(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

// The message of the Error that `write` throws while this process may write files of at most
// `bytes` (RLIMIT_FSIZE, with SIGXFSZ ignored so the write fails with EFBIG); "" if none.
// The limit and the signal's handler are restored before it returns.
std::string error_under_file_size_limit(rlim_t bytes, const std::function<void()>& write) {
  struct rlimit saved;
  EXPECT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit small = saved;
  small.rlim_cur = bytes;
  auto previous_handler = ::signal(SIGXFSZ, SIG_IGN);
  EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    write();
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, previous_handler);
  return message;
}

// A write that fails half-way (here: past the file size limit, which makes write() fail
// with EFBIG) leaves the old file whole and removes the partial temporary file.
TEST(AtomicWrite, FailureInTheMiddleOfAWriteLeavesTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  io::save_safetensors(path, {{"w", from_vector(std::vector<float>{1, 2, 3}, {3})}});
  const std::string before = io::read_file(path);

  const std::string message =
      error_under_file_size_limit(4096, [&] { io::save_safetensors(path, {{"w", zeros({100000})}}); });

  EXPECT_THAT(message, HasSubstr("cannot write '" + path + "': writing the temporary file"));
  EXPECT_THAT(message, HasSubstr("File too large"));
  EXPECT_EQ(io::read_file(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

// JSON from other people's files nests at most io::kMaxJsonDepth levels (src/io/json_limits.hpp).
TEST(JsonLimits, DepthCountsBracketsOutsideStrings) {
  EXPECT_EQ(io::json_depth("3"), 0);
  EXPECT_EQ(io::json_depth(R"({"a": [1, {"b": []}]})"), 4);
  EXPECT_EQ(io::json_depth(R"(["[[[", "\"[{", "\\"])"), 1);
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_EQ(io::json_depth(nested(io::kMaxJsonDepth + 1)), io::kMaxJsonDepth + 1);
  EXPECT_FALSE(io::parse_untrusted_json(nested(io::kMaxJsonDepth)).is_discarded());
  EXPECT_TRUE(io::parse_untrusted_json(nested(io::kMaxJsonDepth + 1)).is_discarded());
  EXPECT_TRUE(io::parse_untrusted_json("[1,").is_discarded());
  EXPECT_EQ(io::excerpt(std::string(100, 'x'), 10), "xxxxxxxxxx...");
}

TEST(AppendFile, AppendsAndCreates) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  io::append_file(path, "{\"step\": 1}\n");
  io::append_file(path, "{\"step\": 2}\n");
  EXPECT_EQ(io::read_file(path), "{\"step\": 1}\n{\"step\": 2}\n");
  expect_error([&] { io::append_file(dir.file("missing/metrics.jsonl"), "x"); },
               {"cannot append to '" + dir.file("missing/metrics.jsonl") + "'", "No such file or directory"});
}

// An append that passes a file-size limit halfway is cut back off: the log ends with its
// last whole line, and the error names the file and the reason.
TEST(AppendFile, FailureInTheMiddleLeavesTheFileAsItWas) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  io::append_file(path, std::string(3000, 'a') + "\n");
  const std::string message =
      error_under_file_size_limit(4096, [&] { io::append_file(path, std::string(3000, 'b') + "\n"); });
  EXPECT_THAT(message, HasSubstr("cannot append to '" + path + "'"));
  EXPECT_THAT(message, HasSubstr("File too large"));
  EXPECT_EQ(io::read_file(path), std::string(3000, 'a') + "\n");
}

TEST(AtomicWrite, FailedRenameRemovesTheTemporary) {
  TempDir dir;
  fs::create_directory(dir.path() / "taken");
  const std::string path = dir.file("taken");
  expect_error([&] { io::write_file_atomically(path, "x"); },
               {"cannot write '" + path + "': renaming the temporary file", "Is a directory"});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"taken"});
}

// The temporary file cannot be created (here: its name, the file's plus ".tmp-PID-N", is
// longer than a file name may be, ENAMETOOLONG, which holds for root too, unlike a
// read-only directory): the old file stays and nothing else appears.
TEST(AtomicWrite, TemporaryFileThatCannotBeCreatedLeavesTheOldFile) {
  TempDir dir;
  const std::string name = std::string(250 - std::string(".safetensors").size(), 'm') + ".safetensors";
  const std::string path = dir.file(name);
  std::ofstream(path) << "old";  // directly: write_file_atomically would need a temporary too
  expect_error(
      [&] {
        io::save_safetensors(path, {{"w", scalar_tensor(1)}});
      },
      {"cannot write '" + path + "'", "creating the temporary file", "File name too long"});
  EXPECT_EQ(io::read_file(path), "old");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{name});
}

TEST(ReadFile, MissingFileAndDirectory) {
  TempDir dir;
  const std::string missing = dir.file("nope.safetensors");
  expect_error([&] { io::read_file(missing); }, {"cannot read '" + missing + "'", "No such file or directory"});
  expect_error([&] { io::load_safetensors(missing); }, {"cannot read '" + missing + "'", "No such file or directory"});
  expect_error([&] { io::read_file(dir.path().string()); },
               {"cannot read '" + dir.path().string() + "': it is a directory"});
}

// A path that cannot be opened for a reason other than its absence (here: through a
// regular file, ENOTDIR, which holds for root too, unlike a file of mode 0).
TEST(ReadFile, PathThroughARegularFile) {
  TempDir dir;
  io::write_file_atomically(dir.file("file"), "x");
  const std::string path = dir.file("file") + "/model.safetensors";
  expect_error([&] { io::read_file(path); }, {"cannot read '" + path + "'", "Not a directory"});
  expect_error([&] { io::load_safetensors(path); }, {"cannot read '" + path + "'", "Not a directory"});
}

TEST(ReadFile, LoadNamesTheFileInParseErrors) {
  TempDir dir;
  const std::string path = dir.file("broken.safetensors");
  io::write_file_atomically(path, safetensors_bytes("[]      "));
  expect_error([&] { io::load_safetensors(path); }, {path + ": the header is an array"});
}

}  // namespace
}  // namespace recur
