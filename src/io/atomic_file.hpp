// AtomicFileWriter: the temporary-file-then-rename routine behind write_file_atomically,
// in streaming form, so save_safetensors can write each tensor straight from its memory
// instead of assembling the whole file in one buffer first.
#pragma once

#include <cstddef>
#include <string>

namespace recur::io {

// Usage: AtomicFileWriter out(path); out.write(...); ...; out.commit();
// Until commit() returns, the file at `path` is untouched. If any step throws, or the
// writer is destroyed without commit(), the temporary file is closed and removed.
class AtomicFileWriter {
 public:
  // Creates the temporary file `<path>.tmp-<pid>-<n>` next to `path` (same directory, so
  // the final rename cannot cross file systems). Throws recur::Error if it cannot.
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Appends `size` bytes. Throws recur::Error (naming path and strerror) on failure.
  void write(const void* data, std::size_t size);
  // fsync, close, rename over `path`, then fsync the directory so the rename itself is
  // durable (best effort: some file systems cannot sync a directory).
  void commit();

  const std::string& temp_path() const { return temp_path_; }

 private:
  [[noreturn]] void fail(const std::string& what, int error_number);
  void discard();  // closes and removes the temporary file; never throws

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace recur::io
