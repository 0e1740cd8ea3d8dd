// The backward engine: one topological pass over the recorded graph.
#include <atomic>
#include <unordered_map>

#include "autograd/node.hpp"
#include "recur/ops.hpp"

namespace recur::autograd {
namespace {

// Adds incoming gradients into a leaf's grad(). Holds the leaf alive while the graph lives.
struct AccumulateGrad final : Node {
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf(std::move(leaf)) {}
  const char* name() const override { return "AccumulateGrad"; }

  TensorList apply(TensorList&& grads) override {
    Tensor& incoming = grads[0];
    AutogradMeta& meta = *leaf->autograd;
    RECUR_CHECK(incoming.shape() == leaf->shape,
                "backward: gradient of shape " << incoming.shape() << " for a leaf of shape " << leaf->shape);
    if (!meta.grad.defined()) {
      // Keep the incoming buffer when nobody else can see it; otherwise copy, so a later
      // in-place accumulation cannot write into another tensor.
      bool exclusive = incoming.impl_ptr().use_count() == 1 && incoming.storage().use_count() == 1 &&
                       incoming.is_contiguous() && incoming.dtype() == leaf->dtype;
      meta.grad = exclusive ? incoming : clone(incoming.dtype() == leaf->dtype ? incoming : to_dtype(incoming, leaf->dtype));
    } else {
      add_(meta.grad, incoming);
    }
    // Copied: a hook may remove itself.
    const auto hooks = meta.post_accumulate_hooks;
    if (!hooks.empty()) {
      const Tensor leaf_tensor(leaf);
      for (const auto& [key, hook] : hooks) hook(leaf_tensor);
    }
    return {};
  }

  std::shared_ptr<TensorImpl> leaf;
};

}  // namespace

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  tensor_ = t.detach();
  version_ = t.storage()->version();
}

Tensor SavedTensor::get(const char* op) const {
  RECUR_CHECK(!tensor_.defined() || tensor_.storage()->version() == version_,
              op << " backward: a tensor saved for backward was modified in place afterwards");
  return tensor_;
}

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.impl().autograd) return {};
  AutogradMeta& meta = *t.impl().autograd;
  if (meta.grad_fn) return {meta.grad_fn, meta.output_nr};
  if (!meta.requires_grad) return {};
  std::shared_ptr<Node> accumulator = meta.grad_accumulator.lock();
  if (!accumulator) {
    accumulator = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = accumulator;
  }
  return {accumulator, 0};
}

void record(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs) {
  node->next_edges.clear();
  for (const Tensor& input : inputs) node->next_edges.push_back(gradient_edge(input));
  node->num_outputs = static_cast<int>(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined()) continue;
    TensorImpl& impl = outputs[i].impl();
    if (!impl.autograd) impl.autograd = std::make_shared<AutogradMeta>();
    impl.autograd->requires_grad = true;
    impl.autograd->grad_fn = node;
    impl.autograd->output_nr = static_cast<int>(i);
  }
}

void run_backward(const TensorList& roots, const TensorList& grads, bool retain_graph) {
  NoGradGuard no_grad;  // backward formulas are not themselves recorded

  // Count, for every node reachable from the roots, how many edges lead into it.
  std::vector<Edge> root_edges;
  for (const Tensor& root : roots) root_edges.push_back(gradient_edge(root));
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack;
  for (const Edge& e : root_edges)
    if (e.node && dependencies.emplace(e.node.get(), 0).second) stack.push_back(e.node.get());
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& e : node->next_edges) {
      if (!e.node) continue;
      if (dependencies[e.node.get()]++ == 0) stack.push_back(e.node.get());
    }
  }

  // Gradients waiting at each node's outputs, summed as they arrive: into the sum's own
  // buffer when nothing else holds it (a tensor read at every step of a sequence, such as
  // attention's keys, would otherwise take a new buffer for each use).
  std::unordered_map<Node*, TensorList> pending;
  auto deliver = [&](const Edge& e, Tensor grad) {
    TensorList& slot = pending[e.node.get()];
    if (slot.empty()) slot.resize(e.node->num_outputs);
    Tensor& acc = slot[e.input_nr];
    if (!acc.defined()) {
      acc = std::move(grad);
    } else if (acc.impl_ptr().use_count() == 1 && acc.storage().use_count() == 1 && acc.is_contiguous() &&
               acc.shape() == grad.shape() && acc.dtype() == grad.dtype()) {
      add_(acc, grad);
    } else {
      acc = add(acc, grad);
    }
  };

  std::vector<std::shared_ptr<Node>> ready;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const Edge& e = root_edges[i];
    if (!e.node) continue;
    deliver(e, grads[i]);
  }
  for (const Edge& e : root_edges)
    if (e.node && dependencies[e.node.get()] == 0) {
      dependencies[e.node.get()] = -1;  // queued
      ready.push_back(e.node);
    }

  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    RECUR_CHECK(!node->released,
                "backward: trying to backward through the graph a second time (" << node->name()
                    << "'s saved tensors were freed); pass retain_graph=true to the first backward");
    TensorList inputs;
    if (auto it = pending.find(node.get()); it != pending.end()) {
      inputs = std::move(it->second);
      pending.erase(it);
    }
    inputs.resize(node->num_outputs);
    bool any_grad = false;
    for (const Tensor& g : inputs) any_grad = any_grad || g.defined();
    // A node none of whose outputs received a gradient has nothing to propagate, but it
    // still releases its inputs' dependency counts below.
    TensorList outputs = any_grad ? node->apply(std::move(inputs)) : TensorList();
    if (!retain_graph) {
      node->release_saved();
      node->released = dynamic_cast<AccumulateGrad*>(node.get()) == nullptr;
    }
    for (std::size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.node) continue;
      if (i < outputs.size() && outputs[i].defined()) deliver(e, std::move(outputs[i]));
      if (--dependencies[e.node.get()] == 0) ready.push_back(e.node);
    }
  }
}

}  // namespace recur::autograd

namespace recur {

using autograd::AutogradMeta;

bool Tensor::requires_grad() const { return impl().autograd && impl().autograd->requires_grad; }

bool Tensor::is_leaf() const { return !impl().autograd || !impl().autograd->grad_fn; }

const Tensor& Tensor::set_requires_grad(bool required) const {
  RECUR_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can be marked; this tensor is the result of "
                             << impl().autograd->grad_fn->name());
  RECUR_CHECK(!required || is_floating(dtype()),
              "set_requires_grad: only floating tensors can require gradients, this one is " << dtype());
  if (!impl().autograd) impl().autograd = std::make_shared<AutogradMeta>();
  impl().autograd->requires_grad = required;
  return *this;
}

std::uint64_t add_post_accumulate_grad_hook(const Tensor& leaf, GradHook hook) {
  RECUR_CHECK(leaf.is_leaf(), "add_post_accumulate_grad_hook: only leaf tensors accumulate gradients; this tensor is "
                                  "the result of " << leaf.impl().autograd->grad_fn->name());
  static std::atomic<std::uint64_t> last_key{0};
  const std::uint64_t key = ++last_key;
  if (!leaf.impl().autograd) leaf.impl().autograd = std::make_shared<AutogradMeta>();
  leaf.impl().autograd->post_accumulate_hooks.emplace_back(key, std::move(hook));
  return key;
}

void remove_post_accumulate_grad_hook(const Tensor& leaf, std::uint64_t key) {
  if (!leaf.impl().autograd) return;
  auto& hooks = leaf.impl().autograd->post_accumulate_hooks;
  std::erase_if(hooks, [key](const auto& entry) { return entry.first == key; });
}

Tensor Tensor::grad() const { return impl().autograd ? impl().autograd->grad : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
  RECUR_CHECK(!grad.defined() || grad.shape() == shape(),
              "set_grad: gradient of shape " << grad.shape() << " for a tensor of shape " << shape());
  RECUR_CHECK(!grad.defined() || grad.device() == device(),
              "set_grad: gradient on " << grad.device() << " for a tensor on " << device());
  if (!impl().autograd) impl().autograd = std::make_shared<AutogradMeta>();
  impl().autograd->grad = grad;
}

void Tensor::zero_grad() const {
  if (impl().autograd) impl().autograd->grad = Tensor();
}

Tensor Tensor::detach() const {
  return Tensor::make_view(storage(), shape(), strides(), offset(), dtype());
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  RECUR_CHECK(requires_grad(), "backward: tensor of shape " << shape()
                                   << " does not require grad (no input of the ops that made it requires grad)");
  Tensor seed = gradient;
  if (!seed.defined()) {
    RECUR_CHECK(numel() == 1, "backward: grad can be implicitly created only for a one-element output; this "
                                  "output has shape " << shape() << ", so pass a gradient of that shape");
    seed = ones(shape(), dtype(), device());
  } else {
    RECUR_CHECK(seed.shape() == shape(), "backward: gradient of shape " << seed.shape()
                                             << " does not match the output's shape " << shape());
    RECUR_CHECK(seed.dtype() == dtype() && seed.device() == device(),
                "backward: gradient is " << seed.dtype() << " on " << seed.device() << ", output is " << dtype()
                                         << " on " << device());
  }
  autograd::run_backward({*this}, {seed}, retain_graph);
}

}  // namespace recur
