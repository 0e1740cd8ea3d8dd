// Embedding: a row lookup (recur::embedding; its backward adds dy into the looked-up rows).

#include "recur/nn/embedding.hpp"

#include <sstream>

#include "recur/nn/init.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim)
    : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
  RECUR_CHECK(num_embeddings >= 1 && embedding_dim >= 1,
              "Embedding: num_embeddings and embedding_dim must be at least 1, got " << num_embeddings << " and "
                                                                                     << embedding_dim);
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}, DType::Float32, parameter_device()));
  reset_parameters();
}

void Embedding::reset_parameters() { init::normal_(weight, 0, 1); }

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices); }

std::string Embedding::extra_repr() const {
  std::ostringstream os;
  os << num_embeddings << ", " << embedding_dim;
  return os.str();
}

}  // namespace recur::nn
