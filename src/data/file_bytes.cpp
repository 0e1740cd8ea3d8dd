#include "data/file_bytes.hpp"

#include <zlib.h>

#include <climits>
#include <algorithm>
#include <memory>

#include "recur/core/error.hpp"
#include "recur/io/file.hpp"

namespace recur::data {
namespace {

struct InflateEnd {
  void operator()(z_stream* s) const { inflateEnd(s); }
};

// Inflates the gzip members in `compressed`, one after another.
std::string gunzip(const std::string& path, const std::string& compressed) {
  const auto* in_bytes = reinterpret_cast<const std::uint8_t*>(compressed.data());
  const std::size_t in_size = compressed.size();
  std::string out;
  // A gzip member ends with its uncompressed size mod 2^32: a good first guess, but only a
  // claim of the file, so never more than deflate can expand its input to (1032:1); a
  // 150-byte file claiming 4 GB made this reserve them.
  if (in_size >= 18) {
    const std::uint8_t* t = in_bytes + in_size - 4;
    const std::size_t claimed = t[0] | t[1] << 8 | t[2] << 16 | static_cast<std::size_t>(t[3]) << 24;
    out.reserve(std::min(claimed, in_size * 1032));
  }
  z_stream stream{};
  // 16 + MAX_WBITS: expect a gzip header and trailer, and check the trailer's CRC.
  RECUR_CHECK(inflateInit2(&stream, 16 + MAX_WBITS) == Z_OK, "cannot start decompressing " << path);
  std::unique_ptr<z_stream, InflateEnd> guard(&stream);
  std::size_t consumed = 0;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    // avail_in is 32-bit: feed at most UINT_MAX bytes at a time.
    std::size_t left = in_size - consumed;
    stream.next_in = const_cast<Bytef*>(in_bytes + consumed);
    stream.avail_in = static_cast<uInt>(std::min<std::size_t>(left, UINT_MAX));
    stream.next_out = chunk;
    stream.avail_out = sizeof chunk;
    uInt fed = stream.avail_in;
    int status = inflate(&stream, Z_NO_FLUSH);
    consumed += fed - stream.avail_in;
    out.append(reinterpret_cast<const char*>(chunk), sizeof chunk - stream.avail_out);
    if (status == Z_STREAM_END) {
      if (consumed == in_size) return out;
      // Another member may follow (as `cat a.gz b.gz` makes); anything else is garbage.
      RECUR_CHECK(is_gzip(in_bytes + consumed, in_size - consumed),
                  "corrupt gzip file " << path << ": " << in_size - consumed
                                       << " bytes of trailing garbage after the compressed data");
      inflateReset(&stream);
      continue;
    }
    // Z_BUF_ERROR means no progress was possible: the input (or this call's 4 GB slice
    // of it) ran out. Anything else but Z_OK is corrupt data.
    RECUR_CHECK(status == Z_OK || status == Z_BUF_ERROR,
                "corrupt gzip file " << path << ": " << (stream.msg ? stream.msg : zError(status)));
    bool input_done = consumed == in_size;
    RECUR_CHECK(!(input_done && (status == Z_BUF_ERROR || stream.avail_out != 0)),
                "corrupt gzip file " << path << ": the compressed data ends early (truncated file?)");
  }
}

}  // namespace

bool is_gzip(const std::uint8_t* bytes, std::size_t size) { return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

std::string read_file_bytes(const std::string& path) {
  std::string bytes = io::read_file(path);
  if (!is_gzip(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size())) return bytes;
  return gunzip(path, bytes);
}

}  // namespace recur::data
