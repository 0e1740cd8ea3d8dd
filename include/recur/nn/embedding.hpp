// Embedding: a lookup table of learned vectors (PyTorch's nn.Embedding).
#pragma once

#include <cstdint>
#include <string>

#include "recur/nn/module.hpp"

namespace recur::nn {

// Parameter "weight" (num_embeddings, embedding_dim), initialised N(0, 1) from
// default_generator(), as PyTorch. Row i is the vector of index i. Requires both sizes >= 1.
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim);

  // int64 indices of any shape, each in [0, num_embeddings) -> indices.shape + [embedding_dim]
  // (recur::embedding). The gradient adds into the rows that were looked up.
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();                  // N(0, 1) again
  std::string extra_repr() const override;  // "10, 3", as PyTorch

  const std::int64_t num_embeddings;
  const std::int64_t embedding_dim;
  Tensor weight;
};

}  // namespace recur::nn
