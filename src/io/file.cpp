// Whole-file reads and atomic writes over POSIX file descriptors (open/write/fsync/rename),
// because the C++ streams report neither why a write failed nor whether it reached the disk.
#include "recur/io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <utility>

#include "io/atomic_file.hpp"
#include "recur/core/error.hpp"

namespace recur::io {
namespace {

// strerror's text, without strerror's shared buffer.
std::string os_reason(int error_number) { return std::generic_category().message(error_number); }

std::string directory_of(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Makes a finished rename durable. Best effort: after the rename the new file is already in
// place, and some file systems refuse to sync a directory.
void sync_directory(const std::string& directory) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// Linux caps a single write() or read() a little below 2 GiB.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

// A test-only switch: the tests of a training run whose writes fail halfway (a full disk in
// the middle of a checkpoint, a metrics line, a chart) set RECUR_TEST_FAIL_WRITE to the
// start of a file name, and writes to files so named then fail with ENOSPC after half their
// bytes.
bool injected_failure(const std::string& path) {
  static const char* const name = std::getenv("RECUR_TEST_FAIL_WRITE");
  if (!name || !*name) return false;
  const std::size_t slash = path.rfind('/');
  return path.compare(slash == std::string::npos ? 0 : slash + 1, std::strlen(name), name) == 0;
}

// Writes all `size` bytes to `fd` (the file `path`); 0, or the errno of the write that failed.
int write_all(int fd, const char* bytes, std::size_t size, const std::string& path) {
  const bool fail_halfway = injected_failure(path);
  if (fail_halfway) size /= 2;
  while (size > 0) {
    ssize_t written = ::write(fd, bytes, std::min(size, kMaxChunk));
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (written == 0) return EIO;  // a regular file never accepts 0 of n > 0 bytes
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
  return fail_halfway ? ENOSPC : 0;
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  RECUR_CHECK(!path_.empty(), "cannot write a file: the path is empty");
  // The counter keeps names unique between threads of this process; O_EXCL keeps them
  // unique against other processes and against a stale temporary left by a crash.
  static std::atomic<unsigned> counter{0};
  const std::string prefix = path_ + ".tmp-" + std::to_string(::getpid()) + "-";
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temp_path_ = prefix + std::to_string(counter++);
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && (errno != EEXIST || attempt >= 100)) {
      int error_number = errno;
      std::string temp = std::move(temp_path_);
      temp_path_.clear();  // nothing was created, so there is nothing to remove
      RECUR_FAIL("cannot write '" << path_ << "': creating the temporary file '" << temp
                                  << "' failed: " << os_reason(error_number));
    }
  }
  // Replacing a file keeps its permission bits where the file system allows it.
  struct stat existing;
  if (::stat(path_.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) {
    (void)::fchmod(fd_, existing.st_mode & 0777);
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) discard();
}

void AtomicFileWriter::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

void AtomicFileWriter::fail(const std::string& what, int error_number) {
  std::string temp = temp_path_;
  discard();
  RECUR_FAIL("cannot write '" << path_ << "': " << what << " the temporary file '" << temp
                              << "' failed: " << os_reason(error_number));
}

void AtomicFileWriter::write(const void* data, std::size_t size) {
  RECUR_CHECK(fd_ >= 0 && !committed_, "cannot write '" << path_ << "': the writer is already closed");
  // The final path names the file, so a test's injected failure hits it too.
  if (int error_number = write_all(fd_, static_cast<const char*>(data), size, path_)) fail("writing", error_number);
}

void AtomicFileWriter::commit() {
  RECUR_CHECK(fd_ >= 0 && !committed_, "cannot write '" << path_ << "': the writer is already closed");
  if (::fsync(fd_) != 0) fail("syncing", errno);
  int fd = fd_;
  fd_ = -1;
  // On Linux the descriptor is released even when close reports EINTR.
  if (::close(fd) != 0 && errno != EINTR) fail("closing", errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("renaming", errno);
  committed_ = true;
  temp_path_.clear();
  sync_directory(directory_of(path_));
}

void write_file_atomically(const std::string& path, std::string_view contents) {
  AtomicFileWriter out(path);
  out.write(contents.data(), contents.size());
  out.commit();
}

void append_file(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  RECUR_CHECK(fd >= 0, "cannot append to '" << path << "': " << os_reason(errno));
  struct stat info;
  int error_number = ::fstat(fd, &info) == 0 ? 0 : errno;
  if (error_number == 0) {
    error_number = write_all(fd, text.data(), text.size(), path);
    // Cut a partial append back off, so the file ends where the last whole write left it.
    if (error_number != 0) (void)::ftruncate(fd, info.st_size);
  }
  if (::close(fd) != 0 && errno != EINTR && error_number == 0) error_number = errno;
  RECUR_CHECK(error_number == 0, "cannot append to '" << path << "': " << os_reason(error_number));
}

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  RECUR_CHECK(fd >= 0, "cannot read '" << path << "': " << os_reason(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat info;
  RECUR_CHECK(::fstat(fd, &info) == 0, "cannot read '" << path << "': " << os_reason(errno));
  RECUR_CHECK(!S_ISDIR(info.st_mode), "cannot read '" << path << "': it is a directory");

  // One byte more than the size fstat reports, so reading a regular file to its end never
  // grows the buffer; pipes and files that grow while we read take the doubling path.
  std::size_t expected = S_ISREG(info.st_mode) ? static_cast<std::size_t>(info.st_size) : 0;
  std::string contents(std::max<std::size_t>(expected + 1, 4096), '\0');
  std::size_t used = 0;
  for (;;) {
    if (used == contents.size()) contents.resize(contents.size() * 2);
    ssize_t got = ::read(fd, contents.data() + used, std::min(contents.size() - used, kMaxChunk));
    if (got < 0) {
      if (errno == EINTR) continue;
      RECUR_FAIL("cannot read '" << path << "': " << os_reason(errno));
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  contents.resize(used);
  return contents;
}

}  // namespace recur::io
