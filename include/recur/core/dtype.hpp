// Element types. float64 exists so gradient checks and references are exact; int64 holds
// indices (targets, embedding ids, argmax results).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>

namespace recur {

enum class DType : std::uint8_t { Float32, Float64, Int64 };

constexpr std::size_t dtype_size(DType t) { return t == DType::Float32 ? 4 : 8; }
constexpr bool is_floating(DType t) { return t != DType::Int64; }
const char* dtype_name(DType t);  // "float32", "float64", "int64"

inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

// The DType of a C++ element type: dtype_of<float>() == DType::Float32.
template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::Float32; }
template <>
constexpr DType dtype_of<double>() { return DType::Float64; }
template <>
constexpr DType dtype_of<std::int64_t>() { return DType::Int64; }

}  // namespace recur
