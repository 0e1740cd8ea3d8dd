// safetensors files from anywhere: the 8-byte header length, the JSON header (dtypes, shapes,
// data offsets, __metadata__) and the tensor bytes, read back as every dtype recur converts.
#include <cstddef>
#include <cstdint>

#include "recur/core/error.hpp"
#include "recur/io/safetensors.hpp"
#include "recur/ops.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const recur::io::SafetensorsFile file = recur::io::parse_safetensors(data, size, "fuzz input");
    for (const auto& [name, tensor] : file.tensors) (void)recur::to_dtype(tensor, recur::DType::Float32);
  } catch (const recur::Error&) {
    // A clear refusal is the expected outcome for most inputs.
  }
  return 0;
}
