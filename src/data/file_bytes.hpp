// Reading a whole data file into memory, gunzipping it when it is gzip-compressed.
// Internal to the data layer.
#pragma once

#include <cstdint>
#include <string>

namespace recur::data {

// The bytes of the file at `path`; if the file starts with gzip's magic bytes (1f 8b),
// the decompressed bytes instead (read by io::read_file), whatever the file's name. Concatenated gzip members are
// read one after another, as gunzip does. Throws recur::Error naming `path` when the file
// is missing or unreadable, or the gzip stream is corrupt, truncated or followed by
// bytes that are not another gzip member.
std::string read_file_bytes(const std::string& path);

// True when `bytes` start with gzip's magic number.
bool is_gzip(const std::uint8_t* bytes, std::size_t size);

}  // namespace recur::data
