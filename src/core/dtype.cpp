#include "recur/core/device.hpp"
#include "recur/core/dtype.hpp"

namespace recur {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, Device d) {
  if (d.is_cpu()) return os << "cpu";
  return os << "cuda:" << d.index;
}

}  // namespace recur
