// Whole-file reads and crash-safe whole-file writes: the one way recur puts bytes on disk
// (checkpoints, safetensors files, metrics logs, plots), so that no file that held good data
// is ever left half-written.
#pragma once

#include <string>
#include <string_view>

namespace recur::io {

// Replaces the file at `path` with `contents`, atomically: the bytes go to a new temporary
// file in the same directory (`<path>.tmp-<pid>-<n>`), which is flushed to disk (fsync) and
// then renamed over `path`. Readers, and the disk after a crash, see either the old file or
// the complete new one, never a mixture.
// Requires: the directory of `path` exists and is writable. A symbolic link at `path` is
// replaced by a regular file (rename does not follow links).
// Guarantees: on success `path` holds exactly `contents`; if `path` already existed as a
// regular file, the new file keeps its permission bits where the file system allows it
// (otherwise they are 0666 less the umask). On failure it throws recur::Error naming `path`
// and the operating system's reason (strerror), leaves any previous file at `path`
// untouched and removes the temporary file.
void write_file_atomically(const std::string& path, std::string_view contents);

// Appends `text` to the file at `path`, creating it if missing (a log such as metrics.jsonl).
// On failure it throws recur::Error naming `path` and the operating system's reason, and the
// file is cut back to its length before the call: a failed append leaves no partial line.
void append_file(const std::string& path, std::string_view text);

// The whole contents of the file at `path`.
// Throws recur::Error naming `path` and the reason when it is missing, a directory, or
// unreadable.
std::string read_file(const std::string& path);

}  // namespace recur::io
