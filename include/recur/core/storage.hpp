// Storage: a reference-counted block of device memory that tensors view into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "recur/core/device.hpp"

namespace recur {

// Allocates and frees raw memory of one device. Each backend owns one (src/backend/*/):
// the CPU's hands out 64-byte aligned blocks (one cache line, one AVX-512 vector) and keeps
// large freed blocks for reuse.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(std::size_t nbytes) = 0;  // throws Error when out of memory
  virtual void deallocate(void* ptr, std::size_t nbytes) = 0;
};

// The allocator of a device: its backend's (defined in src/backend/registry.cpp, so core
// knows no backend). Throws Error if recur was built without that backend.
Allocator& allocator_for(Device device);
// Byte copies between host memory and `device`'s memory, through its backend (likewise
// defined in the registry). copy_to_host returns once the bytes are on the host.
void copy_to_host(Device device, void* host_dst, const void* src, std::size_t nbytes);
void copy_from_host(Device device, void* dst, const void* host_src, std::size_t nbytes);

// While an AllocationLimit lives, the storages that its thread creates may take `bytes` in
// all (memory freed meanwhile is not given back); the one that would pass the limit throws
// Error("<what>: ...") before anything is allocated. Loading a model builds it under the
// limit of its file's tensors, so that a hostile configuration (layers: 2^31) fails at once
// instead of allocating for hours. Limits nest; the innermost one counts.
class AllocationLimit {
 public:
  AllocationLimit(std::size_t bytes, std::string what);
  ~AllocationLimit();
  AllocationLimit(const AllocationLimit&) = delete;
  AllocationLimit& operator=(const AllocationLimit&) = delete;

  // Counts `nbytes` against the innermost limit of this thread, if there is one.
  static void take(std::size_t nbytes);

 private:
  std::size_t left_;
  std::string what_;
  AllocationLimit* outer_;
};

class StorageImpl {
 public:
  StorageImpl(std::size_t nbytes, Device device);
  ~StorageImpl();
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Bumped by every in-place write, so autograd can tell when a tensor it saved for
  // backward was overwritten afterwards.
  std::uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  std::uint64_t version_ = 0;
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace recur
