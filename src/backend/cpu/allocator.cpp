// The CPU backend's allocator.
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

#include "backend/cpu/cpu_backend.hpp"
#include "recur/core/error.hpp"

namespace recur::backend {
namespace {

// Large blocks are kept for reuse once freed: a fresh large allocation is a new mmap whose
// first touch page-faults every 4 KB page, which costs more than the kernel writing it
// (about 100 ms for 64 MB on this VM).
//
// A large request is rounded up to a size class (four per power of two, so at most 25%
// slack) and takes the smallest cached block that is at least its class and at most twice
// it. Exact sizes would do for a training loop, which allocates the same shapes every step;
// the classes and the best fit also serve work whose shapes vary from call to call, such
// as scoring batches of sentences of every length, longest first. A block may thus be
// larger than its request, so each live large block's capacity is remembered for its
// release. At most kMaxCachedBytes stay cached; when the system has no memory left the
// cache is returned to it and the allocation tried once more. Small blocks go to malloc.
class CpuAllocator final : public Allocator {
 public:
  ~CpuAllocator() override { release_cache(); }

  void* allocate(std::size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    if (nbytes < kMinCachedBytes) {
      if (void* p = std::aligned_alloc(kAlignment, round_up(nbytes))) return p;
      std::lock_guard<std::mutex> lock(mutex_);
      return allocate_fresh(nbytes, round_up(nbytes));
    }
    const std::size_t wanted = size_class(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.lower_bound(wanted);
    if (it != cache_.end() && it->first <= 2 * wanted) {
      const auto [capacity, block] = *it;
      cache_.erase(it);
      cached_bytes_ -= capacity;
      live_.emplace(block, capacity);
      return block;
    }
    void* block = allocate_fresh(nbytes, wanted);
    live_.emplace(block, wanted);
    return block;
  }

  void deallocate(void* ptr, std::size_t nbytes) override {
    if (!ptr) return;
    if (nbytes < kMinCachedBytes) {
      std::free(ptr);
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(ptr);
    RECUR_CHECK(it != live_.end(), "CPU allocator: a block of " << nbytes << " bytes was released twice or "
                                                                  << "never allocated here");
    const std::size_t capacity = it->second;
    live_.erase(it);
    if (cached_bytes_ + capacity > kMaxCachedBytes) {
      std::free(ptr);
      return;
    }
    cache_.emplace(capacity, ptr);
    cached_bytes_ += capacity;
  }

 private:
  static constexpr std::size_t kAlignment = 64;
  static constexpr std::size_t kMinCachedBytes = std::size_t(1) << 17;
  static constexpr std::size_t kMaxCachedBytes = std::size_t(1) << 30;
  static std::size_t round_up(std::size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }
  // n rounded up to a multiple of a quarter of the largest power of two not above it.
  static std::size_t size_class(std::size_t n) {
    const std::size_t step = std::bit_floor(n) / 4;
    return (n + step - 1) / step * step;
  }

  // A new block of `capacity` bytes (>= nbytes, a multiple of kAlignment). Called with
  // mutex_ held.
  void* allocate_fresh(std::size_t nbytes, std::size_t capacity) {
    void* p = std::aligned_alloc(kAlignment, capacity);
    if (!p && cached_bytes_ > 0) {
      release_cache();
      p = std::aligned_alloc(kAlignment, capacity);
    }
    RECUR_CHECK(p, "out of memory: could not allocate " << nbytes << " bytes on the CPU");
    return p;
  }

  // Called with mutex_ held, or from the destructor.
  void release_cache() {
    for (auto& [capacity, block] : cache_) std::free(block);
    cache_.clear();
    cached_bytes_ = 0;
  }

  std::mutex mutex_;
  std::multimap<std::size_t, void*> cache_;       // capacity -> free block
  std::unordered_map<void*, std::size_t> live_;   // large block in use -> capacity
  std::size_t cached_bytes_ = 0;
};

}  // namespace

Allocator& CpuBackend::allocator() {
  static CpuAllocator cpu;
  return cpu;
}

}  // namespace recur::backend
