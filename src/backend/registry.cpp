// The registry of backends: which Backend (and so which Allocator) serves a device. The one
// place that knows which backends this build has; ops, autograd and core ask here.
#include "backend/backend.hpp"
#include "backend/cpu/cpu_backend.hpp"
#include "recur/core/error.hpp"
#ifdef RECUR_CUDA
#include "backend/cuda/cuda_backend.hpp"
#endif

namespace recur {
namespace backend {

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

Backend& backend_for(Device device) {
  if (device.type == DeviceType::CPU) return cpu_backend();
#ifdef RECUR_CUDA
  return cuda_backend(device.index);
#else
  RECUR_CHECK(false, "device " << device << ": recur was built without CUDA support");
  return cpu_backend();  // not reached
#endif
}

}  // namespace backend

Allocator& allocator_for(Device device) { return backend::backend_for(device).allocator(); }

void copy_to_host(Device device, void* host_dst, const void* src, std::size_t nbytes) {
  if (nbytes > 0) backend::backend_for(device).copy_to_host(host_dst, src, nbytes);
}

void copy_from_host(Device device, void* dst, const void* host_src, std::size_t nbytes) {
  if (nbytes > 0) backend::backend_for(device).copy_from_host(dst, host_src, nbytes);
}

bool has_backend(DeviceType type) {
#ifdef RECUR_CUDA
  (void)type;
  return true;
#else
  return type == DeviceType::CPU;
#endif
}

int device_count(DeviceType type) {
  if (type == DeviceType::CPU) return 1;
#ifdef RECUR_CUDA
  return backend::cuda_device_count();
#else
  return 0;
#endif
}

}  // namespace recur
