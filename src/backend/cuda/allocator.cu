// The CUDA backend's caching allocator.
//
// cudaMalloc and cudaFree are slow (cudaFree synchronises the whole device), so freed blocks
// go to a free list keyed by their rounded size and serve later requests of that size:
// requests round up to 512 bytes below 1 MB and to 2 MB multiples above, so a training
// loop that allocates the same shapes every step stops calling cudaMalloc after its first.
// A block freed while kernels queued earlier may still read or write it is safe to hand
// out again at once: every kernel and copy of this device runs in order on its one stream,
// so whatever the new owner queues runs after the old owner's work (PyTorch's caching
// allocator relies on the same fact for its per-stream pools).
// On cudaMalloc failure the cache is released (cudaFree) and the allocation retried once.
#include <map>
#include <mutex>

#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace cuda {
namespace {

class CudaAllocator final : public Allocator {
 public:
  explicit CudaAllocator(int device) : device_(device) {}

  ~CudaAllocator() override {
    if (cudaSetDevice(device_) == cudaSuccess) release_cache();
    (void)cudaGetLastError();
  }

  void* allocate(std::size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    const std::size_t rounded = round_up(nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = cache_.find(rounded);
      if (it != cache_.end()) {
        void* p = it->second;
        cache_.erase(it);
        cached_bytes_ -= rounded;
        return p;
      }
    }
    DeviceGuard guard(device_);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, rounded);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // clear the out-of-memory error before retrying
      {
        std::lock_guard<std::mutex> lock(mutex_);
        release_cache();
      }
      err = cudaMalloc(&p, rounded);
      if (err != cudaSuccess) {
        (void)cudaGetLastError();
        RECUR_FAIL("out of memory: could not allocate " << nbytes << " bytes on cuda:" << device_ << " ("
                                                        << cudaGetErrorString(err) << ")");
      }
    }
    return p;
  }

  // Never throws (storages free from destructors): the block only returns to the cache.
  void deallocate(void* ptr, std::size_t nbytes) override {
    if (!ptr) return;
    const std::size_t rounded = round_up(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    cache_.emplace(rounded, ptr);
    cached_bytes_ += rounded;
  }

 private:
  static constexpr std::size_t kSmallRound = 512;
  static constexpr std::size_t kLargeThreshold = std::size_t(1) << 20;
  static constexpr std::size_t kLargeRound = std::size_t(2) << 20;

  static std::size_t round_up(std::size_t n) {
    const std::size_t unit = n < kLargeThreshold ? kSmallRound : kLargeRound;
    return (n + unit - 1) / unit * unit;
  }

  // Frees every cached block. A cached block may still be in use by kernels queued before
  // its free, so the device is drained first. Requires mutex_ held (or no other user).
  void release_cache() {
    if (cache_.empty()) return;
    (void)cudaDeviceSynchronize();
    for (auto& [size, block] : cache_) (void)cudaFree(block);
    cache_.clear();
    cached_bytes_ = 0;
  }

  int device_;
  std::mutex mutex_;
  std::multimap<std::size_t, void*> cache_;  // rounded size -> free block
  std::size_t cached_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Allocator> make_cuda_allocator(int device) { return std::make_unique<CudaAllocator>(device); }

}  // namespace cuda
}  // namespace recur::backend
