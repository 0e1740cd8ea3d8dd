// The CPU backend's allocator.
#include <cstdlib>
#include <map>
#include <mutex>

#include "backend/cpu/cpu_backend.hpp"
#include "recur/core/error.hpp"

namespace recur::backend {
namespace {

// Large blocks are kept for reuse once freed: a fresh large allocation is a new mmap whose
// first touch page-faults every 4 KB page, which costs more than the kernel writing it
// (about 100 ms for 64 MB on this VM). Blocks are reused only at their exact rounded size,
// and at most kMaxCachedBytes stay cached, so a training loop that allocates the same
// shapes every step stops faulting after its first step. Small blocks go to malloc.
class CpuAllocator final : public Allocator {
 public:
  ~CpuAllocator() override {
    for (auto& [size, block] : cache_) std::free(block);
  }

  void* allocate(std::size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    std::size_t rounded = round_up(nbytes);
    if (rounded >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = cache_.find(rounded);
      if (it != cache_.end()) {
        void* p = it->second;
        cache_.erase(it);
        cached_bytes_ -= rounded;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, rounded);
    RECUR_CHECK(p, "out of memory: could not allocate " << nbytes << " bytes on the CPU");
    return p;
  }

  void deallocate(void* ptr, std::size_t nbytes) override {
    if (!ptr) return;
    std::size_t rounded = round_up(nbytes);
    if (rounded >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + rounded <= kMaxCachedBytes) {
        cache_.emplace(rounded, ptr);
        cached_bytes_ += rounded;
        return;
      }
    }
    std::free(ptr);
  }

 private:
  static constexpr std::size_t kAlignment = 64;
  static constexpr std::size_t kMinCachedBytes = std::size_t(1) << 17;
  static constexpr std::size_t kMaxCachedBytes = std::size_t(1) << 30;
  static std::size_t round_up(std::size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

  std::mutex mutex_;
  std::multimap<std::size_t, void*> cache_;  // rounded size -> free block
  std::size_t cached_bytes_ = 0;
};

}  // namespace

Allocator& CpuBackend::allocator() {
  static CpuAllocator cpu;
  return cpu;
}

}  // namespace recur::backend
