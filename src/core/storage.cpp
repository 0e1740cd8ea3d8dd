#include "recur/core/storage.hpp"

#include "recur/core/error.hpp"

namespace recur {
StorageImpl::StorageImpl(std::size_t nbytes, Device device)
    : data_(allocator_for(device).allocate(nbytes)), nbytes_(nbytes), device_(device) {}

StorageImpl::~StorageImpl() { allocator_for(device_).deallocate(data_, nbytes_); }

}  // namespace recur
