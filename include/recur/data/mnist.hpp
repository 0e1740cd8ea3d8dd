// MNIST-format image data sets (MNIST, Fashion-MNIST, ...): four IDX files per directory.
#pragma once

#include <array>
#include <string>

#include "recur/core/tensor.hpp"

namespace recur::data {

// Where Debian's dataset-fashion-mnist package (installed by scripts/setup) puts its files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST's ten classes, by label.
inline constexpr std::array<const char*, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// Labels of MNIST-format data sets lie in 0..kMnistNumClasses-1.
inline constexpr std::int64_t kMnistNumClasses = 10;

enum class Split { Train, Test };
const char* split_name(Split split);  // "train", "test"

struct MnistData {
  Tensor images;  // float32 [N, 1, rows, cols], pixel / 255 in [0, 1]
  Tensor labels;  // int64 [N], in 0..9
};

// Loads one split from `dir`: train-images-idx3-ubyte and train-labels-idx1-ubyte for
// Split::Train, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte for Split::Test, each
// plain or with a .gz suffix (the plain file is preferred when both exist).
// Requires the images to be unsigned bytes shaped [N, rows, cols] and the labels integers
// shaped [N] with values in 0..9. Throws recur::Error naming the file for a missing
// file, any IDX error (see read_idx), a wrong type or rank, mismatched counts, or a label
// out of range.
MnistData load_mnist(const std::string& dir, Split split);

}  // namespace recur::data
