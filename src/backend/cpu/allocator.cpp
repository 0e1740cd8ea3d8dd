// The CPU backend's allocator.
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

#include <sys/mman.h>

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
//
// Blocks of kHugePage bytes and more are mapped on huge-page boundaries and marked for
// transparent huge pages (where the kernel offers them only on request): the first touch
// then faults once per 2 MB instead of once per 4 KB, 5-100 ms for 64 MB against 170 ms
// on this VM. Scoring sentences longest first touches the first batch's 200 MB this way.
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
      release(ptr, capacity);
      return;
    }
    cache_.emplace(capacity, ptr);
    cached_bytes_ += capacity;
  }

 private:
  static constexpr std::size_t kAlignment = 64;
  static constexpr std::size_t kMinCachedBytes = std::size_t(1) << 17;
  static constexpr std::size_t kMaxCachedBytes = std::size_t(1) << 30;
  static constexpr std::size_t kHugePage = std::size_t(2) << 20, kPage = 4096;
  static std::size_t round_up(std::size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }
  // n rounded up to a multiple of a quarter of the largest power of two not above it.
  static std::size_t size_class(std::size_t n) {
    const std::size_t step = std::bit_floor(n) / 4;
    return (n + step - 1) / step * step;
  }

  // A new block of `capacity` bytes (>= nbytes, a multiple of kAlignment). Called with
  // mutex_ held.
  void* allocate_fresh(std::size_t nbytes, std::size_t capacity) {
    void* p = map_or_malloc(capacity);
    if (!p && cached_bytes_ > 0) {
      release_cache();
      p = map_or_malloc(capacity);
    }
    RECUR_CHECK(p, "out of memory: could not allocate " << nbytes << " bytes on the CPU");
    return p;
  }

  // Whole 4 KB pages: the kernel backs the block's whole 2 MB extents with huge pages and
  // the rest with small ones, so a block takes no more memory than it would from malloc.
  static std::size_t mapped_size(std::size_t capacity) { return (capacity + kPage - 1) / kPage * kPage; }

  // A mapping that starts on a huge-page boundary for a large block (the excess of an
  // over-sized mapping unmapped again), malloc for the others; null when the system has no
  // memory.
  static void* map_or_malloc(std::size_t capacity) {
    if (capacity < kHugePage) return std::aligned_alloc(kAlignment, capacity);
    const std::size_t size = mapped_size(capacity), mapped = size + kHugePage;
    void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    const auto start = reinterpret_cast<std::uintptr_t>(m);
    const std::uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > start) munmap(m, aligned - start);
    munmap(reinterpret_cast<void*>(aligned + size), start + mapped - (aligned + size));
    void* block = reinterpret_cast<void*>(aligned);
    madvise(block, size, MADV_HUGEPAGE);  // advice only: without huge pages the block still works
    return block;
  }

  static void release(void* block, std::size_t capacity) {
    if (capacity < kHugePage)
      std::free(block);
    else
      munmap(block, mapped_size(capacity));
  }

  // Called with mutex_ held, or from the destructor.
  void release_cache() {
    for (auto& [capacity, block] : cache_) release(block, capacity);
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
