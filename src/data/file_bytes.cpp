#include "data/file_bytes.hpp"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <memory>

#include "recur/core/error.hpp"

namespace recur::data {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Throws "cannot <verb> <path>: <the system's reason>". errno is read first, before
// building the message can change it.
[[noreturn]] void fail_io(const char* verb, const std::string& path) {
  int err = errno;
  RECUR_FAIL("cannot " << verb << " " << path << ": " << std::strerror(err));
}

std::vector<std::uint8_t> read_raw(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) fail_io("open", path);
  struct stat info {};
  if (fstat(fileno(file.get()), &info) != 0) fail_io("read", path);
  RECUR_CHECK(!S_ISDIR(info.st_mode), "cannot read " << path << ": it is a directory");
  std::vector<std::uint8_t> bytes;
  // Size the buffer once for a regular file; pipes and the like grow it as they go.
  if (S_ISREG(info.st_mode)) bytes.reserve(static_cast<std::size_t>(info.st_size));
  std::uint8_t chunk[1 << 16];
  for (;;) {
    std::size_t n = std::fread(chunk, 1, sizeof chunk, file.get());
    bytes.insert(bytes.end(), chunk, chunk + n);
    if (n < sizeof chunk) break;
  }
  if (std::ferror(file.get())) fail_io("read", path);
  return bytes;
}

struct InflateEnd {
  void operator()(z_stream* s) const { inflateEnd(s); }
};

// Inflates the gzip members in `in`, one after another.
std::vector<std::uint8_t> gunzip(const std::string& path, const std::vector<std::uint8_t>& in) {
  std::vector<std::uint8_t> out;
  // A gzip member ends with its uncompressed size mod 2^32: a good first guess.
  if (in.size() >= 18) {
    const std::uint8_t* t = in.data() + in.size() - 4;
    out.reserve(static_cast<std::size_t>(t[0]) | t[1] << 8 | t[2] << 16 | static_cast<std::size_t>(t[3]) << 24);
  }
  z_stream stream{};
  // 16 + MAX_WBITS: expect a gzip header and trailer, and check the trailer's CRC.
  RECUR_CHECK(inflateInit2(&stream, 16 + MAX_WBITS) == Z_OK, "cannot start decompressing " << path);
  std::unique_ptr<z_stream, InflateEnd> guard(&stream);
  std::size_t consumed = 0;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    // avail_in is 32-bit: feed at most UINT_MAX bytes at a time.
    std::size_t left = in.size() - consumed;
    stream.next_in = const_cast<Bytef*>(in.data() + consumed);
    stream.avail_in = static_cast<uInt>(std::min<std::size_t>(left, UINT_MAX));
    stream.next_out = chunk;
    stream.avail_out = sizeof chunk;
    uInt fed = stream.avail_in;
    int status = inflate(&stream, Z_NO_FLUSH);
    consumed += fed - stream.avail_in;
    out.insert(out.end(), chunk, chunk + (sizeof chunk - stream.avail_out));
    if (status == Z_STREAM_END) {
      if (consumed == in.size()) return out;
      // Another member may follow (as `cat a.gz b.gz` makes); anything else is garbage.
      RECUR_CHECK(is_gzip(in.data() + consumed, in.size() - consumed),
                  "corrupt gzip file " << path << ": " << in.size() - consumed
                                       << " bytes of trailing garbage after the compressed data");
      inflateReset(&stream);
      continue;
    }
    // Z_BUF_ERROR means no progress was possible: the input (or this call's 4 GB slice
    // of it) ran out. Anything else but Z_OK is corrupt data.
    RECUR_CHECK(status == Z_OK || status == Z_BUF_ERROR,
                "corrupt gzip file " << path << ": " << (stream.msg ? stream.msg : zError(status)));
    bool input_done = consumed == in.size();
    RECUR_CHECK(!(input_done && (status == Z_BUF_ERROR || stream.avail_out != 0)),
                "corrupt gzip file " << path << ": the compressed data ends early (truncated file?)");
  }
}

}  // namespace

bool is_gzip(const std::uint8_t* bytes, std::size_t size) { return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::vector<std::uint8_t> bytes = read_raw(path);
  if (!is_gzip(bytes.data(), bytes.size())) return bytes;
  return gunzip(path, bytes);
}

}  // namespace recur::data
