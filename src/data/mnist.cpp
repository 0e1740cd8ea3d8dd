// MNIST-format data sets: find the split's two IDX files, check them against each other,
// and decode the images straight to float32 in [0, 1].
#include "recur/data/mnist.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "data/idx_format.hpp"
#include "recur/core/error.hpp"
#include "recur/ops.hpp"

namespace recur::data {
namespace {

bool is_file(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

// dir/name, or dir/name.gz when only that exists.
std::string find_file(const std::string& dir, const std::string& name) {
  std::string base = dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
  if (is_file(base)) return base;
  if (is_file(base + ".gz")) return base + ".gz";
  RECUR_FAIL("load_mnist: " << base << " not found (nor " << base << ".gz)");
}

}  // namespace

const char* split_name(Split split) { return split == Split::Train ? "train" : "test"; }

MnistData load_mnist(const std::string& dir, Split split) {
  RECUR_CHECK(is_directory(dir), "load_mnist: data directory " << dir << " does not exist");
  const char* prefix = split == Split::Train ? "train" : "t10k";
  std::string images_path = find_file(dir, std::string(prefix) + "-images-idx3-ubyte");
  std::string labels_path = find_file(dir, std::string(prefix) + "-labels-idx1-ubyte");

  IdxFile images = open_idx(images_path);
  RECUR_CHECK(images.type == IdxType::UInt8 && images.shape.ndim == 3,
              "load_mnist: images file " << images_path << " holds " << idx_type_name(images.type) << " data of shape "
                                         << images.shape << "; expected unsigned bytes shaped [N, rows, cols]");
  IdxFile labels = open_idx(labels_path);
  RECUR_CHECK(labels.type != IdxType::Float32 && labels.type != IdxType::Float64 && labels.shape.ndim == 1,
              "load_mnist: labels file " << labels_path << " holds " << idx_type_name(labels.type) << " data of shape "
                                         << labels.shape << "; expected integers shaped [N]");
  RECUR_CHECK(images.shape[0] == labels.shape[0], "load_mnist: " << images_path << " has " << images.shape[0]
                                                                 << " images but " << labels_path << " has "
                                                                 << labels.shape[0] << " labels");

  MnistData data;
  data.labels = decode_idx(labels, DType::Int64);
  const std::int64_t* label = data.labels.data<std::int64_t>();
  std::int64_t n = labels.shape[0];
  auto bad = std::find_if(label, label + n, [](std::int64_t v) { return v < 0 || v >= kMnistNumClasses; });
  RECUR_CHECK(bad == label + n, "load_mnist: labels file " << labels_path << " has label " << *bad << " at index "
                                                           << bad - label << "; expected 0.."
                                                           << kMnistNumClasses - 1);
  // pixel / 255 in float32, as torchvision's ToTensor computes it; one channel.
  Tensor pixels = decode_idx(images, DType::Float32, 255.0);
  data.images = reshape(pixels, {n, 1, images.shape[1], images.shape[2]});
  return data;
}

}  // namespace recur::data
