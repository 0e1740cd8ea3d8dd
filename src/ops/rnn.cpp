// rnn_layer, rnn_bidirectional_layer and rnn_step_: fused recurrent layers, the kernels in src/backend/cpu/rnn.cpp
// (the maths of every cell is there and in include/recur/ops.hpp).
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <string>
#include <vector>

#include "ops/window.hpp"

namespace recur {
namespace ops {
namespace {

const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
void* data_or_null_mut(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
const std::int64_t* int64_or_null(const Tensor& t) { return static_cast<const std::int64_t*>(data_or_null(t)); }

// ---- rnn_layer's backward, for one direction or both directions of a bidirectional layer
// (rnn_bidirectional_layer: their kernels may run side by side). Per direction, with dG the
// pre-activation gradients of every step (computed step by step backwards from dh, dc: see
// the kernel) and H_prev the states entering each step:
//   dX = dG W_ih,  dW_ih = dG^T X,  dW_hh = dG^T H_prev,  db = column sums of dG,
//   dh0, dc0 = the gradients left after the first processed step;
// both directions read the same input, so its gradient is the sum of theirs.
// Edges: 0 the input, then per direction d the 7 from 1 + 7d: w_ih, w_hh, b_ih, b_hh,
// peephole, h0, c0. Outputs: per direction 3 from 3d: output, h_n, c_n.
struct RnnLayerBackward final : Node {
  static constexpr int kEdges = 7, kOutputs = 3;
  struct Direction {
    SavedTensor w_ih, w_hh, peephole;       // dense
    SavedTensor gates, h_states, c_states;  // the forward's saved values (see RnnForwardBuffers)
    backend::RnnDims dims;
  };

  const char* name() const override { return "rnn_layer"; }
  TensorList apply(TensorList&& g) override {
    const char* op = "rnn_layer";
    const Tensor x = input.get(op);
    const DType dt = x.dtype();
    const Device dev = x.device();
    auto grad_like = [&](int edge, const Shape& shape) {
      return next_edges[edge].node ? empty(shape, dt, dev) : Tensor();
    };
    auto grad_at = [&](int output) { return g[output].defined() ? dense(g[output]) : Tensor(); };
    backend::Backend& backend = backend_of(x);
    TensorList grads(1 + kEdges * directions.size()), input_grads, kept;  // kept: alive until the kernels ran
    std::vector<backend::RnnBackwardCall> calls;
    for (std::size_t d = 0; d < directions.size(); ++d) {
      const Direction& saved = directions[d];
      const int e = 1 + kEdges * static_cast<int>(d), o = kOutputs * static_cast<int>(d);
      Tensor wi = saved.w_ih.get(op), wh = saved.w_hh.get(op), pe = saved.peephole.get(op);
      Tensor gs = saved.gates.get(op), hs = saved.h_states.get(op), cs = saved.c_states.get(op);
      Tensor g_out = grad_at(o), g_h = grad_at(o + 1), g_c = grad_at(o + 2);
      const Shape state_shape{saved.dims.batch, saved.dims.hidden};
      Tensor dx = grad_like(0, x.shape()), dwi = grad_like(e, wi.shape()), dwh = grad_like(e + 1, wh.shape());
      Tensor dbi = grad_like(e + 2, {wh.size(0)}), dbh = grad_like(e + 3, {wh.size(0)});
      Tensor dpe = pe.defined() ? grad_like(e + 4, pe.shape()) : Tensor();
      Tensor dh0 = grad_like(e + 5, state_shape), dc0 = grad_like(e + 6, state_shape);
      Tensor workspace = empty({backend.rnn_backward_workspace(saved.dims)}, dt, dev);

      backend::RnnBackwardCall& call = calls.emplace_back();
      call.dims = saved.dims;
      call.weights.w_ih = wi.raw_data(), call.weights.w_hh = wh.raw_data(), call.weights.peephole = data_or_null(pe);
      backend::RnnBackwardBuffers& b = call.buffers;
      b.input = x.raw_data(), b.lengths = int64_or_null(lengths);
      b.h_states = hs.raw_data(), b.c_states = data_or_null(cs), b.gates = gs.raw_data();
      b.grad_output = data_or_null(g_out), b.grad_h_n = data_or_null(g_h), b.grad_c_n = data_or_null(g_c);
      b.grad_input = data_or_null_mut(dx), b.grad_w_ih = data_or_null_mut(dwi), b.grad_w_hh = data_or_null_mut(dwh);
      b.grad_b_ih = data_or_null_mut(dbi), b.grad_b_hh = data_or_null_mut(dbh);
      b.grad_peephole = data_or_null_mut(dpe), b.grad_h0 = data_or_null_mut(dh0), b.grad_c0 = data_or_null_mut(dc0);
      b.workspace = workspace.raw_data();
      if (dx.defined()) input_grads.push_back(dx);
      const Tensor direction_grads[kEdges] = {dwi, dwh, dbi, dbh, dpe, dh0, dc0};
      std::copy(std::begin(direction_grads), std::end(direction_grads), grads.begin() + e);
      kept.insert(kept.end(), {wi, wh, pe, gs, hs, cs, g_out, g_h, g_c, workspace});
    }
    backend.rnn_backward_all(calls);
    if (!input_grads.empty()) grads[0] = input_grads.size() == 1 ? input_grads[0] : add(input_grads[0], input_grads[1]);
    return grads;
  }
  void release_saved() override {
    input.reset();
    directions.clear();
  }
  SavedTensor input;  // dense
  std::vector<Direction> directions;
  Tensor lengths;  // dense int64 on the device, or undefined: all T steps
};

// Checks the weights against the cell and the input size; returns H.
// `projected`: the input is RnnProjections' table, and w_ih must be absent.
std::int64_t check_weights(const char* op, RnnCell cell, const Tensor& like, std::int64_t input_size,
                           const RnnLayerWeights& w, bool projected = false) {
  const std::int64_t gates = rnn_gate_count(cell);
  const char* name = rnn_cell_name(cell);
  RECUR_CHECK(w.w_hh.defined(), op << ": " << name << " needs weights w_hh");
  RECUR_CHECK(w.w_ih.defined() != projected,
              op << ": " << name << (projected ? " weights have a w_ih, but the projections are given"
                                               : " needs weights w_ih"));
  check_floating(op, w.w_hh);
  check_compatible(op, like, w.w_hh);
  RECUR_CHECK(w.w_hh.dim() == 2 && w.w_hh.size(0) == gates * w.w_hh.size(1) && w.w_hh.size(1) >= 1,
              op << ": " << name << " w_hh must be (" << gates << "*hidden, hidden), got shape " << w.w_hh.shape());
  const std::int64_t hidden = w.w_hh.size(1);
  if (!projected) {
    check_compatible(op, like, w.w_ih);
    RECUR_CHECK(w.w_ih.dim() == 2 && w.w_ih.size(0) == gates * hidden && w.w_ih.size(1) == input_size,
                op << ": " << name << " w_ih must be (" << gates * hidden << ", " << input_size
                   << ") for hidden size " << hidden << " and input size " << input_size << ", got shape "
                   << w.w_ih.shape());
  }
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

// int64 rows (checked by the caller, with their shape): on the table's device, each a row of
// the (U, P) table.
void check_projection_rows(const char* op, const Tensor& table, const Tensor& rows) {
  RECUR_CHECK(rows.device() == table.device(),
              op << ": projection rows are on " << rows.device() << " but the table is on " << table.device());
  const auto [lo, hi] = int_min_max(rows);
  RECUR_CHECK(lo >= 0 && hi < table.size(0), op << ": projection row " << (lo < 0 ? lo : hi)
                                                 << " is out of range for a table of " << table.size(0) << " rows");
}

void check_state(const char* op, const char* what, RnnCell cell, const Tensor& like, const Tensor& state,
                 std::int64_t batch, std::int64_t hidden) {
  if (!state.defined()) return;
  check_compatible(op, like, state);
  RECUR_CHECK(state.dim() == 2 && state.size(0) == batch && state.size(1) == hidden,
              op << ": " << rnn_cell_name(cell) << " " << what << " must be (batch " << batch << ", hidden "
                 << hidden << "), got shape " << state.shape());
}

// One direction's arguments: its weights, initial states and processing order.
struct DirectionArgs {
  const RnnLayerWeights& weights;
  const Tensor& h0;
  const Tensor& c0;
  bool reverse;
};

// The layers of `directions` over one input, as one op: rnn_layer (one direction) and
// rnn_bidirectional_layer (two). With `rows` defined, input is the table of RnnProjections,
// and `joined`, if defined, takes the directions' outputs side by side.
std::vector<RnnLayerOutput> rnn_directions(const char* op, RnnCell cell, const Tensor& input, const Tensor& rows,
                                           const std::vector<DirectionArgs>& directions, const Tensor& lengths,
                                           const Tensor& joined = Tensor()) {
  const bool projected = rows.defined();
  check_floating(op, input);
  if (projected) {
    RECUR_CHECK(input.dim() == 2 && input.size(0) >= 1,
                op << ": the projections' table must be (rows, projections) with at least one row, got shape "
                   << input.shape());
    check_int64(op, "projection rows", rows);
    RECUR_CHECK(rows.dim() == 2 && rows.size(0) >= 1 && rows.size(1) >= 1,
                op << ": projection rows must be (steps, batch) with steps and batch at least 1, got shape "
                   << rows.shape());
    check_projection_rows(op, input, rows);
  } else {
    RECUR_CHECK(input.dim() == 3 && input.size(0) >= 1 && input.size(1) >= 1,
                op << ": input must be (steps, batch, input_size) with steps and batch at least 1, got shape "
                   << input.shape());
  }
  const Tensor& shaped = projected ? rows : input;  // (steps, batch, ...)
  const std::int64_t steps = shaped.size(0), batch = shaped.size(1), input_size = input.size(input.dim() - 1);
  const bool lstm = rnn_cell_info(cell).cell_state;
  std::vector<std::int64_t> hidden_sizes;
  for (const DirectionArgs& d : directions) {
    const std::int64_t hidden = check_weights(op, cell, input, input_size, d.weights, projected);
    check_state(op, "h0", cell, input, d.h0, batch, hidden);
    RECUR_CHECK(!d.c0.defined() || lstm, op << ": c0 is LSTM's cell state; " << rnn_cell_name(cell) << " has none");
    check_state(op, "c0", cell, input, d.c0, batch, hidden);
    hidden_sizes.push_back(hidden);
  }
  if (projected) {  // each table row: the directions' projections side by side
    std::int64_t projections = 0;
    for (std::int64_t hidden : hidden_sizes) projections += rnn_gate_count(cell) * hidden;
    RECUR_CHECK(input_size == projections, op << ": the projections' table must have " << projections
                                              << " values a row, got shape " << input.shape());
    std::vector<Tensor> operands{input};
    for (const DirectionArgs& d : directions)
      operands.insert(operands.end(), {d.weights.w_hh, d.weights.b_ih, d.weights.b_hh, d.weights.peephole, d.h0, d.c0});
    RECUR_CHECK(!autograd::any_requires_grad(operands),
                op << ": projected input is not differentiable; run it under NoGradGuard");
  }
  std::int64_t joined_width = 0;
  for (std::int64_t hidden : hidden_sizes) joined_width += hidden;
  if (joined.defined()) {
    check_compatible(op, input, joined);
    RECUR_CHECK(joined.is_contiguous() && joined.shape() == (Shape{steps, batch, joined_width}),
                op << ": output must be a contiguous (" << steps << ", " << batch << ", " << joined_width
                   << ") tensor, got shape " << joined.shape() << (joined.is_contiguous() ? "" : ", not contiguous"));
  }
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

  const DType dt = input.dtype();
  const Device dev = input.device();
  backend::Backend& backend = backend_of(input);
  const Tensor x = dense(input), x_rows = projected ? dense(rows) : Tensor();
  std::vector<backend::RnnForwardCall> calls;
  std::vector<RnnLayerBackward::Direction> saved;
  std::vector<RnnLayerOutput> results;
  TensorList kept;  // the weights' dense copies and the workspaces, alive until the kernels ran
  std::int64_t first_projection = 0;  // of this direction, in a table row, when projected
  std::int64_t first_output = 0;      // of this direction, in a row of `joined`
  for (std::size_t i = 0; i < directions.size(); ++i) {
    const DirectionArgs& d = directions[i];
    const std::int64_t hidden = hidden_sizes[i];
    backend::RnnDims dims;
    dims.kind = cell, dims.steps = steps, dims.batch = batch, dims.input = input_size, dims.hidden = hidden;
    dims.reverse = d.reverse, dims.dtype = dt;
    const RnnLayerWeights& given = d.weights;
    Tensor w_ih = projected ? Tensor() : dense(given.w_ih), w_hh = dense(given.w_hh);
    Tensor b_ih = given.b_ih.defined() ? dense(given.b_ih) : Tensor();
    Tensor b_hh = given.b_hh.defined() ? dense(given.b_hh) : Tensor();
    Tensor peephole = given.peephole.defined() ? dense(given.peephole) : Tensor();
    Tensor output = joined.defined() ? narrow(joined, 2, first_output, hidden) : empty({steps, batch, hidden}, dt, dev);
    // Without a backward (projected), one step's gates and two slots of states (RnnWeights).
    const std::int64_t slots = projected ? 2 : steps + 1;
    Tensor h_states = empty({slots, batch, hidden}, dt, dev);
    Tensor c_states = lstm ? empty({slots, batch, hidden}, dt, dev) : Tensor();
    Tensor gates = empty({backend.rnn_saved_size(dims) / (projected ? steps : 1)}, dt, dev);
    Tensor workspace = empty({backend.rnn_forward_workspace(dims)}, dt, dev);
    const std::int64_t first = d.reverse && !projected ? steps : 0;
    {
      NoGradGuard no_grad;
      auto start = [&](const Tensor& states, const Tensor& state) {
        Tensor slot = select(states, 0, first);
        if (state.defined()) copy_(slot, state);
        else zero_(slot);
      };
      start(h_states, d.h0);
      if (lstm) start(c_states, d.c0);
    }
    backend::RnnForwardCall& call = calls.emplace_back();
    call.dims = dims;
    backend::RnnWeights& w = call.weights;
    w.w_ih = data_or_null(w_ih), w.w_hh = w_hh.raw_data(), w.b_ih = data_or_null(b_ih), w.b_hh = data_or_null(b_hh);
    w.peephole = data_or_null(peephole);
    backend::RnnForwardBuffers& f = call.buffers;
    f.input = static_cast<const std::byte*>(x.raw_data()) + first_projection * dtype_size(dt);
    f.input_rows = int64_or_null(x_rows), f.lengths = int64_or_null(lens);
    if (projected) first_projection += rnn_gate_count(cell) * hidden;
    first_output += hidden;
    f.output = output.raw_data(), f.output_ld = joined.defined() ? joined_width : 0;
    f.h_states = h_states.raw_data(), f.c_states = data_or_null_mut(c_states);
    f.gates = gates.raw_data(), f.workspace = workspace.raw_data();
    kept.insert(kept.end(), {b_ih, b_hh, workspace});
    saved.push_back({.w_ih = w_ih, .w_hh = w_hh, .peephole = peephole, .gates = gates, .h_states = h_states,
                     .c_states = c_states, .dims = dims});
    // h_n and c_n hold the whole states until the kernels have run; their last slots below.
    results.push_back({.output = output, .h_n = h_states, .c_n = c_states});
  }
  backend.rnn_forward_all(calls);

  std::vector<Tensor> inputs{input}, outputs;
  for (std::size_t i = 0; i < directions.size(); ++i) {
    const DirectionArgs& d = directions[i];
    RnnLayerOutput& r = results[i];
    {
      NoGradGuard no_grad;
      const std::int64_t last = projected ? steps % 2 : d.reverse ? 0 : steps;
      r.h_n = clone(select(r.h_n, 0, last));
      if (lstm) r.c_n = clone(select(r.c_n, 0, last));
    }
    inputs.insert(inputs.end(), {d.weights.w_ih, d.weights.w_hh, d.weights.b_ih, d.weights.b_hh, d.weights.peephole,
                                 d.h0, d.c0});
    outputs.insert(outputs.end(), {r.output, r.h_n, r.c_n});
  }
  if (autograd::any_requires_grad(inputs)) {
    auto node = std::make_shared<RnnLayerBackward>();
    node->input = x;
    node->directions = std::move(saved);
    node->lengths = lens;
    record(node, inputs, outputs);
  }
  return results;
}

}  // namespace
}  // namespace ops

using namespace ops;

RnnLayerOutput rnn_layer(RnnCell cell, const Tensor& input, const RnnLayerWeights& weights, const Tensor& h0,
                         const Tensor& c0, const Tensor& lengths, bool reverse) {
  return rnn_directions("rnn_layer", cell, input, Tensor(), {{weights, h0, c0, reverse}}, lengths)[0];
}

RnnLayerOutput rnn_layer(RnnCell cell, const RnnProjections& input, const RnnLayerWeights& weights, const Tensor& h0,
                         const Tensor& c0, const Tensor& lengths, bool reverse) {
  RECUR_CHECK(input.rows.defined(), "rnn_layer: RnnProjections need their rows");
  return rnn_directions("rnn_layer", cell, input.table, input.rows, {{weights, h0, c0, reverse}}, lengths)[0];
}

namespace {

std::array<RnnLayerOutput, 2> both_directions(RnnCell cell, const Tensor& input, const Tensor& rows,
                                              const std::array<RnnLayerWeights, 2>& weights,
                                              const std::array<Tensor, 2>& h0, const std::array<Tensor, 2>& c0,
                                              const Tensor& lengths, const Tensor& output = Tensor()) {
  std::vector<RnnLayerOutput> r = rnn_directions("rnn_bidirectional_layer", cell, input, rows,
                                                 {{weights[0], h0[0], c0[0], false}, {weights[1], h0[1], c0[1], true}},
                                                 lengths, output);
  return {r[0], r[1]};
}

}  // namespace

std::array<RnnLayerOutput, 2> rnn_bidirectional_layer(RnnCell cell, const Tensor& input,
                                                      const std::array<RnnLayerWeights, 2>& weights,
                                                      const std::array<Tensor, 2>& h0,
                                                      const std::array<Tensor, 2>& c0, const Tensor& lengths) {
  return both_directions(cell, input, Tensor(), weights, h0, c0, lengths);
}

std::array<RnnLayerOutput, 2> rnn_bidirectional_layer(RnnCell cell, const RnnProjections& input,
                                                      const std::array<RnnLayerWeights, 2>& weights,
                                                      const std::array<Tensor, 2>& h0,
                                                      const std::array<Tensor, 2>& c0, const Tensor& lengths,
                                                      const Tensor& output) {
  RECUR_CHECK(input.rows.defined(), "rnn_bidirectional_layer: RnnProjections need their rows");
  return both_directions(cell, input.table, input.rows, weights, h0, c0, lengths, output);
}

void rnn_step_(RnnCell cell, const Tensor& input, const RnnLayerWeights& weights, const Tensor& h, const Tensor& c,
               Tensor& workspace, const RnnProjections& added) {
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
                                             weights.peephole, added.table}),
              op << ": not differentiable; run it under NoGradGuard");
  RECUR_CHECK(h.is_contiguous() && (!lstm || c.is_contiguous()), op << ": h and c must be contiguous");
  if (added.table.defined()) {
    const std::int64_t gh = rnn_gate_count(cell) * hidden;
    check_compatible(op, input, added.table);
    RECUR_CHECK(added.table.dim() == 2 && added.table.size(0) >= 1 && added.table.size(1) == gh &&
                    added.table.is_contiguous(),
                op << ": the added projections' table must be contiguous (rows, " << gh << "), got shape "
                   << added.table.shape());
    check_int64(op, "projection rows", added.rows);
    RECUR_CHECK(added.rows.shape() == Shape({batch}),
                op << ": the added projections' rows must be (" << batch << "), got shape " << added.rows.shape());
    check_projection_rows(op, added.table, added.rows);
  }
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
  const Tensor added_rows = added.table.defined() ? added.rows.contiguous() : Tensor();
  backend.rnn_step(dims, w, input.raw_data(), h.raw_data(), data_or_null_mut(c), workspace.raw_data(),
                   data_or_null(added.table), added_rows.defined() ? added_rows.data<std::int64_t>() : nullptr);
  h.storage()->bump_version();
  if (lstm) c.storage()->bump_version();
}

}  // namespace recur
