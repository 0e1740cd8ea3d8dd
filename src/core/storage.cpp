#include "recur/core/storage.hpp"

#include <cstdlib>

#include "recur/core/error.hpp"

namespace recur {
namespace {

class CpuAllocator final : public Allocator {
 public:
  void* allocate(std::size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, rounded);
    RECUR_CHECK(p, "out of memory: could not allocate " << nbytes << " bytes on the CPU");
    return p;
  }
  void deallocate(void* ptr, std::size_t) override { std::free(ptr); }

 private:
  static constexpr std::size_t kAlignment = 64;
};

}  // namespace

Allocator& allocator_for(DeviceType type) {
  static CpuAllocator cpu;
  RECUR_CHECK(type == DeviceType::CPU, "device cuda: recur was built without CUDA support");
  return cpu;
}

StorageImpl::StorageImpl(std::size_t nbytes, Device device)
    : data_(allocator_for(device.type).allocate(nbytes)), nbytes_(nbytes), device_(device) {}

StorageImpl::~StorageImpl() { allocator_for(device_.type).deallocate(data_, nbytes_); }

}  // namespace recur
