#include "recur/core/storage.hpp"

#include "recur/core/error.hpp"

namespace recur {
namespace {

thread_local AllocationLimit* t_allocation_limit = nullptr;

}  // namespace

AllocationLimit::AllocationLimit(std::size_t bytes, std::string what)
    : left_(bytes), what_(std::move(what)), outer_(t_allocation_limit) {
  t_allocation_limit = this;
}

AllocationLimit::~AllocationLimit() { t_allocation_limit = outer_; }

void AllocationLimit::take(std::size_t nbytes) {
  AllocationLimit* limit = t_allocation_limit;
  if (!limit) return;
  RECUR_CHECK(nbytes <= limit->left_, limit->what_ << ": " << nbytes << " more bytes would pass the limit ("
                                                   << limit->left_ << " left)");
  limit->left_ -= nbytes;
}

// take() runs first: a storage over the limit is never allocated.
StorageImpl::StorageImpl(std::size_t nbytes, Device device)
    : data_((AllocationLimit::take(nbytes), allocator_for(device).allocate(nbytes))),
      nbytes_(nbytes),
      device_(device) {}

StorageImpl::~StorageImpl() { allocator_for(device_).deallocate(data_, nbytes_); }

}  // namespace recur
