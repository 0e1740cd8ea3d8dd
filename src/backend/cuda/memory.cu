// copy (with dtype conversion) and fill, for any strides.
#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

template <class D, class S>
struct CopyF {
  D* d;
  const S* s;
  __device__ void operator()(const std::int64_t (&off)[2]) const { d[off[0]] = static_cast<D>(s[off[1]]); }
};

template <class T>
struct FillF {
  T* d;
  T value;
  __device__ void operator()(const std::int64_t (&off)[1]) const { d[off[0]] = value; }
};

template <class D, class S>
void copy_typed(cudaStream_t stream, const View& dst, const View& src) {
  const Shape* strides[2] = {&dst.strides, &src.strides};
  const OffsetCalc<2> oc = make_offset_calc<2>(dst.shape, strides);
  // Same dtype, both dense: one memcpy on the stream.
  if constexpr (std::is_same_v<D, S>) {
    if (oc.contiguous()) {
      RECUR_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, dst.numel() * sizeof(D), cudaMemcpyDeviceToDevice,
                                       stream));
      return;
    }
  }
  launch_map<2>(stream, dst.shape, strides, CopyF<D, S>{typed<D>(dst), typed<const S>(src)});
}

template <class D>
void copy_from(cudaStream_t stream, const View& dst, const View& src) {
  switch (src.dtype) {
    case DType::Float32: return copy_typed<D, float>(stream, dst, src);
    case DType::Float64: return copy_typed<D, double>(stream, dst, src);
    case DType::Int64: return copy_typed<D, std::int64_t>(stream, dst, src);
  }
}

template <class T>
void fill_typed(cudaStream_t stream, const View& dst, T value) {
  const Shape* strides[1] = {&dst.strides};
  launch_map<1>(stream, dst.shape, strides, FillF<T>{typed<T>(dst), value});
}

}  // namespace

void CudaBackend::copy(const View& dst, const View& src) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  switch (dst.dtype) {
    case DType::Float32: return copy_from<float>(stream_, dst, src);
    case DType::Float64: return copy_from<double>(stream_, dst, src);
    case DType::Int64: return copy_from<std::int64_t>(stream_, dst, src);
  }
}

void CudaBackend::fill(const View& dst, double value) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  switch (dst.dtype) {
    case DType::Float32: return fill_typed<float>(stream_, dst, static_cast<float>(value));
    case DType::Float64: return fill_typed<double>(stream_, dst, value);
    case DType::Int64: return fill_typed<std::int64_t>(stream_, dst, static_cast<std::int64_t>(value));
  }
}

}  // namespace recur::backend
