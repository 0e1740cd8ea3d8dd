// Shared by the fuzz targets: the readers of outside data that take a path get the fuzzer's
// bytes through one temporary file per process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace recur::fuzz {

// `data` written to this process's input file (rewritten on every call); its path.
inline const std::string& write_input_file(const std::uint8_t* data, std::size_t size) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("recur-fuzz-" + std::to_string(getpid()))).string();
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
  return path;
}

}  // namespace recur::fuzz
