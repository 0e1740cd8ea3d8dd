// rnn_layer and rnn_step_: fused recurrent layers, the kernels in src/backend/cpu/rnn.cpp
// (the maths of every cell is there and in include/recur/ops.hpp).
#include <string>

#include "ops/window.hpp"

namespace recur {
namespace ops {
namespace {

const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
void* data_or_null_mut(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
const std::int64_t* int64_or_null(const Tensor& t) { return static_cast<const std::int64_t*>(data_or_null(t)); }

// ---- rnn_layer's backward. With dG the pre-activation gradients of every step (computed
// step by step backwards from dh, dc: see the kernel), H_prev the states entering each step:
//   dX = dG W_ih,  dW_ih = dG^T X,  dW_hh = dG^T H_prev,  db = column sums of dG,
//   dh0, dc0 = the gradients left after the first processed step.
struct RnnLayerBackward final : Node {
  const char* name() const override { return "rnn_layer"; }
  TensorList apply(TensorList&& g) override {
    const char* op = "rnn_layer";
    Tensor x = input.get(op), wi = w_ih.get(op), wh = w_hh.get(op), pe = peephole.get(op);
    Tensor gs = gates.get(op), hs = h_states.get(op), cs = c_states.get(op);
    Tensor g_out = g[0].defined() ? dense(g[0]) : Tensor();
    Tensor g_h = g[1].defined() ? dense(g[1]) : Tensor();
    Tensor g_c = g.size() > 2 && g[2].defined() ? dense(g[2]) : Tensor();
    const DType dt = wh.dtype();
    const Device dev = wh.device();
    auto grad_like = [&](int edge, const Shape& shape) {
      return next_edges[edge].node ? empty(shape, dt, dev) : Tensor();
    };
    const Shape state_shape{dims.batch, dims.hidden};
    Tensor dx = grad_like(0, x.shape()), dwi = grad_like(1, wi.shape()), dwh = grad_like(2, wh.shape());
    Tensor dbi = grad_like(3, {wh.size(0)}), dbh = grad_like(4, {wh.size(0)});
    Tensor dpe = pe.defined() ? grad_like(5, pe.shape()) : Tensor();
    Tensor dh0 = grad_like(6, state_shape), dc0 = grad_like(7, state_shape);
    backend::Backend& backend = backend_of(wh);
    Tensor workspace = empty({backend.rnn_backward_workspace(dims)}, dt, dev);

    backend::RnnWeights w;
    w.w_ih = wi.raw_data(), w.w_hh = wh.raw_data(), w.peephole = data_or_null(pe);
    backend::RnnBackwardBuffers b;
    b.input = x.raw_data(), b.lengths = int64_or_null(lengths);
    b.h_states = hs.raw_data(), b.c_states = data_or_null(cs), b.gates = gs.raw_data();
    b.grad_output = data_or_null(g_out), b.grad_h_n = data_or_null(g_h), b.grad_c_n = data_or_null(g_c);
    b.grad_input = data_or_null_mut(dx), b.grad_w_ih = data_or_null_mut(dwi), b.grad_w_hh = data_or_null_mut(dwh);
    b.grad_b_ih = data_or_null_mut(dbi), b.grad_b_hh = data_or_null_mut(dbh);
    b.grad_peephole = data_or_null_mut(dpe), b.grad_h0 = data_or_null_mut(dh0), b.grad_c0 = data_or_null_mut(dc0);
    b.workspace = workspace.raw_data();
    backend.rnn_backward(dims, w, b);
    return {dx, dwi, dwh, dbi, dbh, dpe, dh0, dc0};
  }
  void release_saved() override {
    input.reset(), w_ih.reset(), w_hh.reset(), peephole.reset();
    gates.reset(), h_states.reset(), c_states.reset();
  }
  SavedTensor input, w_ih, w_hh, peephole;  // dense
  SavedTensor gates, h_states, c_states;    // the forward's saved values (see RnnForwardBuffers)
  Tensor lengths;                           // dense int64 on the device, or undefined: all T steps
  backend::RnnDims dims;
};

// Checks the weights against the cell and the input size; returns H.
std::int64_t check_weights(const char* op, RnnCell cell, const Tensor& like, std::int64_t input_size,
                           const RnnLayerWeights& w) {
  const std::int64_t gates = rnn_gate_count(cell);
  const char* name = rnn_cell_name(cell);
  RECUR_CHECK(w.w_ih.defined() && w.w_hh.defined(), op << ": " << name << " needs weights w_ih and w_hh");
  check_floating(op, w.w_hh);
  check_compatible(op, like, w.w_ih), check_compatible(op, like, w.w_hh);
  RECUR_CHECK(w.w_hh.dim() == 2 && w.w_hh.size(0) == gates * w.w_hh.size(1) && w.w_hh.size(1) >= 1,
              op << ": " << name << " w_hh must be (" << gates << "*hidden, hidden), got shape " << w.w_hh.shape());
  const std::int64_t hidden = w.w_hh.size(1);
  RECUR_CHECK(w.w_ih.dim() == 2 && w.w_ih.size(0) == gates * hidden && w.w_ih.size(1) == input_size,
              op << ": " << name << " w_ih must be (" << gates * hidden << ", " << input_size << ") for hidden size "
                 << hidden << " and input size " << input_size << ", got shape " << w.w_ih.shape());
  for (const Tensor* b : {&w.b_ih, &w.b_hh}) {
    if (!b->defined()) continue;
    check_compatible(op, like, *b);
    RECUR_CHECK(b->dim() == 1 && b->size(0) == gates * hidden, op << ": " << name << " bias must be ("
                                                                  << gates * hidden << "), got shape "
                                                                  << b->shape());
  }
  if (w.peephole.defined()) {
    RECUR_CHECK(cell == RnnCell::Lstm, op << ": peephole weights are for LSTM only, not " << name);
    check_compatible(op, like, w.peephole);
    RECUR_CHECK(w.peephole.dim() == 2 && w.peephole.size(0) == 3 && w.peephole.size(1) == hidden,
                op << ": peephole must be (3, " << hidden << ") (rows i, f, o), got shape " << w.peephole.shape());
  }
  return hidden;
}

void check_state(const char* op, const char* what, RnnCell cell, const Tensor& like, const Tensor& state,
                 std::int64_t batch, std::int64_t hidden) {
  if (!state.defined()) return;
  check_compatible(op, like, state);
  RECUR_CHECK(state.dim() == 2 && state.size(0) == batch && state.size(1) == hidden,
              op << ": " << rnn_cell_name(cell) << " " << what << " must be (batch " << batch << ", hidden "
                 << hidden << "), got shape " << state.shape());
}

}  // namespace
}  // namespace ops

using namespace ops;

RnnLayerOutput rnn_layer(RnnCell cell, const Tensor& input, const RnnLayerWeights& weights, const Tensor& h0,
                         const Tensor& c0, const Tensor& lengths, bool reverse) {
  const char* op = "rnn_layer";
  check_floating(op, input);
  RECUR_CHECK(input.dim() == 3 && input.size(0) >= 1 && input.size(1) >= 1,
              op << ": input must be (steps, batch, input_size) with steps and batch at least 1, got shape "
                 << input.shape());
  const std::int64_t steps = input.size(0), batch = input.size(1), input_size = input.size(2);
  const std::int64_t hidden = check_weights(op, cell, input, input_size, weights);
  check_state(op, "h0", cell, input, h0, batch, hidden);
  RECUR_CHECK(!c0.defined() || cell == RnnCell::Lstm,
              op << ": c0 is LSTM's cell state; " << rnn_cell_name(cell) << " has none");
  check_state(op, "c0", cell, input, c0, batch, hidden);
  Tensor lens;
  if (lengths.defined()) {
    check_int64(op, "lengths", lengths);
    RECUR_CHECK(lengths.device() == input.device(), op << ": lengths are on " << lengths.device()
                                                       << " but the input is on " << input.device());
    RECUR_CHECK(lengths.dim() == 1 && lengths.size(0) == batch,
                op << ": lengths must be (batch " << batch << "), got shape " << lengths.shape());
    const auto [shortest, longest] = int_min_max(lengths);
    if (shortest < 1 || longest > steps) {  // find the first bad one on the host, to name it
      const std::vector<std::int64_t> values = lengths.to_vector<std::int64_t>();
      for (std::int64_t i = 0; i < batch; ++i)
        RECUR_CHECK(values[i] >= 1 && values[i] <= steps, op << ": lengths must lie in [1, " << steps
                                                             << "] (the input's steps), got " << values[i]
                                                             << " at batch index " << i);
    }
    lens = dense(lengths);
  }

  const bool lstm = rnn_cell_info(cell).cell_state;
  backend::RnnDims dims;
  dims.kind = cell, dims.steps = steps, dims.batch = batch, dims.input = input_size, dims.hidden = hidden;
  dims.reverse = reverse, dims.dtype = input.dtype();
  const DType dt = input.dtype();
  const Device dev = input.device();
  Tensor x = dense(input), w_ih = dense(weights.w_ih), w_hh = dense(weights.w_hh);
  Tensor b_ih = weights.b_ih.defined() ? dense(weights.b_ih) : Tensor();
  Tensor b_hh = weights.b_hh.defined() ? dense(weights.b_hh) : Tensor();
  Tensor peephole = weights.peephole.defined() ? dense(weights.peephole) : Tensor();

  Tensor output = empty({steps, batch, hidden}, dt, dev);
  Tensor h_states = empty({steps + 1, batch, hidden}, dt, dev);
  Tensor c_states = lstm ? empty({steps + 1, batch, hidden}, dt, dev) : Tensor();
  backend::Backend& backend = backend_of(x);
  Tensor gates = empty({backend.rnn_saved_size(dims)}, dt, dev);
  Tensor workspace = empty({backend.rnn_forward_workspace(dims)}, dt, dev);
  const std::int64_t first = reverse ? steps : 0, last = reverse ? 0 : steps;
  {
    NoGradGuard no_grad;
    auto start = [&](const Tensor& states, const Tensor& given) {
      Tensor slot = select(states, 0, first);
      if (given.defined()) copy_(slot, given);
      else zero_(slot);
    };
    start(h_states, h0);
    if (lstm) start(c_states, c0);
  }
  backend::RnnWeights w;
  w.w_ih = w_ih.raw_data(), w.w_hh = w_hh.raw_data(), w.b_ih = data_or_null(b_ih), w.b_hh = data_or_null(b_hh);
  w.peephole = data_or_null(peephole);
  backend::RnnForwardBuffers f;
  f.input = x.raw_data(), f.lengths = int64_or_null(lens);
  f.output = output.raw_data(), f.h_states = h_states.raw_data(), f.c_states = data_or_null_mut(c_states);
  f.gates = gates.raw_data(), f.workspace = workspace.raw_data();
  backend.rnn_forward(dims, w, f);

  RnnLayerOutput result;
  result.output = output;
  {
    NoGradGuard no_grad;
    result.h_n = clone(select(h_states, 0, last));
    if (lstm) result.c_n = clone(select(c_states, 0, last));
  }
  if (auto node = make_node<RnnLayerBackward>({input, weights.w_ih, weights.w_hh, weights.b_ih, weights.b_hh,
                                               weights.peephole, h0, c0})) {
    node->input = x, node->w_ih = w_ih, node->w_hh = w_hh, node->peephole = peephole;
    node->gates = gates, node->h_states = h_states, node->c_states = c_states;
    node->lengths = lens;
    node->dims = dims;
    record(node, {input, weights.w_ih, weights.w_hh, weights.b_ih, weights.b_hh, weights.peephole, h0, c0},
           {result.output, result.h_n, result.c_n});
  }
  return result;
}

void rnn_step_(RnnCell cell, const Tensor& input, const RnnLayerWeights& weights, const Tensor& h, const Tensor& c,
               Tensor& workspace) {
  const char* op = "rnn_step_";
  check_floating(op, input);
  RECUR_CHECK(input.dim() == 2 && input.size(0) >= 1,
              op << ": input must be (batch, input_size) with batch at least 1, got shape " << input.shape());
  const std::int64_t batch = input.size(0), input_size = input.size(1);
  const std::int64_t hidden = check_weights(op, cell, input, input_size, weights);
  const bool lstm = rnn_cell_info(cell).cell_state;
  check_defined(op, h);
  check_state(op, "h", cell, input, h, batch, hidden);
  if (lstm) RECUR_CHECK(c.defined(), op << ": LSTM needs its cell state c");
  else RECUR_CHECK(!c.defined(), op << ": c is LSTM's cell state; " << rnn_cell_name(cell) << " has none");
  check_state(op, "c", cell, input, c, batch, hidden);
  check_writable(op, h);
  if (lstm) check_writable(op, c);
  RECUR_CHECK(!autograd::any_requires_grad({input, weights.w_ih, weights.w_hh, weights.b_ih, weights.b_hh,
                                             weights.peephole}),
              op << ": not differentiable; run it under NoGradGuard");
  RECUR_CHECK(h.is_contiguous() && (!lstm || c.is_contiguous()), op << ": h and c must be contiguous");
  for (const Tensor* t : {&input, &weights.w_ih, &weights.w_hh, &weights.b_ih, &weights.b_hh, &weights.peephole})
    RECUR_CHECK(!t->defined() || t->is_contiguous(), op << ": operands must be contiguous, got a tensor of shape "
                                                        << t->shape() << " with strides " << t->strides());
  backend::RnnDims dims;
  dims.kind = cell, dims.steps = 1, dims.batch = batch, dims.input = input_size, dims.hidden = hidden;
  dims.dtype = input.dtype();
  backend::Backend& backend = backend_of(input);
  const std::int64_t need = backend.rnn_step_workspace(dims);
  if (!workspace.defined() || workspace.dtype() != input.dtype() || workspace.device() != input.device() ||
      workspace.numel() < need || !workspace.is_contiguous())
    workspace = empty({need}, input.dtype(), input.device());
  backend::RnnWeights w;
  w.w_ih = weights.w_ih.raw_data(), w.w_hh = weights.w_hh.raw_data();
  w.b_ih = data_or_null(weights.b_ih), w.b_hh = data_or_null(weights.b_hh), w.peephole = data_or_null(weights.peephole);
  backend.rnn_step(dims, w, input.raw_data(), h.raw_data(), data_or_null_mut(c), workspace.raw_data());
  h.storage()->bump_version();
  if (lstm) c.storage()->bump_version();
}

}  // namespace recur
