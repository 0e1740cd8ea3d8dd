// The CUDA backend's devices: discovery, one CudaBackend per GPU, its stream and cuBLAS
// handle, host copies, synchronisation and the error checks every file uses.
#include <dlfcn.h>

#include <array>
#include <atomic>
#include <mutex>
#include <sstream>
#include <string>

#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace cuda {

namespace {

const char* cublas_status_name(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

// The exported name of a cuBLAS function (cublas_v2.h maps several to their _v2 symbols).
#define RECUR_CUBLAS_SYMBOL(f) RECUR_CUBLAS_SYMBOL_NAME(f)
#define RECUR_CUBLAS_SYMBOL_NAME(f) #f

template <class F>
void load(void* library, const char* name, F* f) {
  *f = reinterpret_cast<F>(dlsym(library, name));
  RECUR_CHECK(*f != nullptr, "cuBLAS: " << name << " is missing from libcublas (" << dlerror() << ")");
}

}  // namespace

const Cublas& cublas() {
  static const Cublas api = [] {
    const std::string name = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library) library = dlopen((std::string(RECUR_CUDA_LIBRARY_DIR) + "/" + name).c_str(), RTLD_NOW | RTLD_LOCAL);
    RECUR_CHECK(library != nullptr, "cannot load cuBLAS (" << name << ", also looked in " << RECUR_CUDA_LIBRARY_DIR
                                                           << "): " << dlerror());
    Cublas c{};
    load(library, RECUR_CUBLAS_SYMBOL(cublasCreate), &c.create);
    load(library, RECUR_CUBLAS_SYMBOL(cublasDestroy), &c.destroy);
    load(library, RECUR_CUBLAS_SYMBOL(cublasSetStream), &c.set_stream);
    load(library, RECUR_CUBLAS_SYMBOL(cublasSetMathMode), &c.set_math_mode);
    load(library, RECUR_CUBLAS_SYMBOL(cublasSetPointerMode), &c.set_pointer_mode);
    load(library, RECUR_CUBLAS_SYMBOL(cublasSgemm), &c.sgemm);
    load(library, RECUR_CUBLAS_SYMBOL(cublasDgemm), &c.dgemm);
    load(library, RECUR_CUBLAS_SYMBOL(cublasSgemmStridedBatched), &c.sgemm_strided_batched);
    load(library, RECUR_CUBLAS_SYMBOL(cublasDgemmStridedBatched), &c.dgemm_strided_batched);
    return c;
  }();
  return api;
}

void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << "CUDA error " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ") in " << expr << " at "
     << file << ":" << line;
  throw Error(os.str());
}

void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << "cuBLAS error " << cublas_status_name(status) << " (" << static_cast<int>(status) << ") in " << expr
     << " at " << file << ":" << line;
  throw Error(os.str());
}

}  // namespace cuda

using namespace cuda;

int cuda_device_count() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error state left by the failed query
    return 0;
  }
  return count;
}

CudaBackend& cuda_backend(int index) {
  // Backends are never destroyed: tensors may outlive static destruction order, and the
  // CUDA runtime may already be unloading at exit (PyTorch leaks its allocator likewise).
  constexpr int kMaxDevices = 64;
  static std::array<std::atomic<CudaBackend*>, kMaxDevices> backends{};
  static std::mutex mutex;
  if (index >= 0 && index < kMaxDevices) {
    if (CudaBackend* b = backends[index].load(std::memory_order_acquire)) return *b;
  }
  std::lock_guard<std::mutex> lock(mutex);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    RECUR_FAIL("device cuda:" << index << ": " << cudaGetErrorString(err));
  }
  if (index < 0 || index >= count) {
    RECUR_FAIL("device cuda:" << index << ": " << cudaGetErrorString(cudaErrorInvalidDevice) << " (" << count
                              << " CUDA device" << (count == 1 ? "" : "s") << " found)");
  }
  RECUR_CHECK(index < kMaxDevices, "device cuda:" << index << ": at most " << kMaxDevices << " GPUs are supported");
  if (CudaBackend* b = backends[index].load(std::memory_order_acquire)) return *b;
  auto* b = new CudaBackend(index);
  backends[index].store(b, std::memory_order_release);
  return *b;
}

CudaBackend::CudaBackend(int device) : device_(device) {
  DeviceGuard guard(device_);
  try {
    RECUR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    RECUR_CUBLAS_CHECK(cuda::cublas().create(&cublas_));
    RECUR_CUBLAS_CHECK(cuda::cublas().set_stream(cublas_, stream_));
    // Full float32 precision (no TF32 tensor-core rounding), so results stay close to the CPU's.
    RECUR_CUBLAS_CHECK(cuda::cublas().set_math_mode(cublas_, CUBLAS_DEFAULT_MATH));
    RECUR_CUBLAS_CHECK(cuda::cublas().set_pointer_mode(cublas_, CUBLAS_POINTER_MODE_HOST));
    allocator_ = make_cuda_allocator(device_);
  } catch (...) {
    if (cublas_) cuda::cublas().destroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
    throw;
  }
}

CudaBackend::~CudaBackend() {
  // Errors are ignored: a destructor must not throw, and at exit the runtime may be gone.
  if (cudaSetDevice(device_) == cudaSuccess) {
    if (stream_) (void)cudaStreamSynchronize(stream_);
  }
  allocator_.reset();
  if (cublas_) cuda::cublas().destroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
  (void)cudaGetLastError();
}

Allocator& CudaBackend::allocator() { return *allocator_; }

void CudaBackend::synchronize() {
  DeviceGuard guard(device_);
  RECUR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

// Host to device: queued on the stream after earlier work. With pageable host memory the
// runtime has copied the bytes out of host_src (to a staging buffer) before returning,
// so the caller may reuse host_src at once.
void CudaBackend::copy_from_host(void* dst, const void* host_src, std::size_t nbytes) {
  if (nbytes == 0) return;
  DeviceGuard guard(device_);
  RECUR_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, stream_));
}

// Device to host: after the work queued before it; returns once the bytes are on the host.
void CudaBackend::copy_to_host(void* host_dst, const void* src, std::size_t nbytes) {
  if (nbytes == 0) return;
  DeviceGuard guard(device_);
  RECUR_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, stream_));
  RECUR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace recur::backend
