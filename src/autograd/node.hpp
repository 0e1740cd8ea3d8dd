// The autograd graph: nodes recorded by ops, edges to the nodes of their inputs.
// Internal to the library; ops include it, users never do.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "recur/autograd.hpp"
#include "recur/core/tensor.hpp"

namespace recur::autograd {

using TensorList = std::vector<Tensor>;

struct Node;

// Where the gradient of one op input goes: output `input_nr` of `node`.
struct Edge {
  std::shared_ptr<Node> node;
  int input_nr = 0;
};

// The backward of one recorded op call.
struct Node {
  virtual ~Node() = default;
  virtual const char* name() const = 0;

  // grads[i] is the gradient flowing into output i (undefined if nothing reached it; a
  // node with one output is only called with a defined one). Returns one gradient per
  // entry of next_edges, undefined where an input needs none.
  virtual TensorList apply(TensorList&& grads) = 0;

  // Drops saved tensors once backward has used them (the graph is freed).
  virtual void release_saved() {}

  std::vector<Edge> next_edges;  // one per op input; node null where no grad is needed
  int num_outputs = 1;
  bool released = false;
};

struct AutogradMeta {
  bool requires_grad = false;  // set on leaves by the user; on results by recording
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  int output_nr = 0;
  // A leaf's one accumulator node while a graph that uses it lives, so that every use of
  // the leaf in a pass feeds one node, which runs once with the sum.
  std::weak_ptr<Node> grad_accumulator;
  std::vector<std::pair<std::uint64_t, GradHook>> post_accumulate_hooks;
};

// A tensor saved for backward, detached (so a node never owns its own output's history)
// and stamped with its storage version, so an in-place write after saving is caught.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t);  // NOLINT: implicit, saving is assignment
  // The saved tensor; throws Error naming `op` if it was modified in place since.
  Tensor get(const char* op) const;
  void reset() { tensor_ = Tensor(); }

 private:
  Tensor tensor_;
  std::uint64_t version_ = 0;
};

// True when grad mode is on and any of the tensors requires grad.
bool any_requires_grad(std::initializer_list<Tensor> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// The edge that gradients for `t` flow along: its grad_fn, the accumulator of a leaf that
// requires grad (one per leaf), or an empty edge.
Edge gradient_edge(const Tensor& t);

// Records node as the producer of outputs (output i of node is outputs[i]) and connects
// it to the inputs' edges. The outputs become non-leaf tensors that require grad.
void record(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs);

// Runs backward from roots with the given gradients (same length, shapes matching).
void run_backward(const TensorList& roots, const TensorList& grads, bool retain_graph);

}  // namespace recur::autograd
