// rnn_layer and rnn_step_: values and gradients against a reference written here as a plain
// loop of existing ops (matmul, sigmoid, tanh, ...), float64 gradcheck of every cell and
// option, and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;

namespace {

constexpr RnnCell kCells[] = {RnnCell::RnnTanh, RnnCell::RnnRelu, RnnCell::Lstm, RnnCell::Gru, RnnCell::Mgu};

struct Case {
  RnnCell cell = RnnCell::Lstm;
  bool bias = true;
  bool peephole = false;
  bool lengths = false;  // a zero-padded batch of different lengths (B = 3)
  bool reverse = false;
  bool h0 = false;
  bool c0 = false;
  std::int64_t steps = 3, batch = 3, input = 3, hidden = 2;
};

std::string describe(const Case& c) {
  std::string s = rnn_cell_name(c.cell);
  if (!c.bias) s += " no-bias";
  if (c.peephole) s += " peephole";
  if (c.lengths) s += " lengths";
  if (c.reverse) s += " reverse";
  if (c.h0) s += " h0";
  if (c.c0) s += " c0";
  return s;
}

Tensor rand(const Shape& shape, std::uint64_t seed, DType dtype, double scale = 0.6) {
  Generator gen(seed);
  return uniform(shape, -scale, scale, dtype, &gen);
}

// Inputs in this order: x, w_ih, w_hh, [b_ih, b_hh], [peephole], [h0], [c0].
std::vector<Tensor> make_inputs(const Case& c, DType dtype) {
  const std::int64_t g = rnn_gate_count(c.cell), h = c.hidden;
  std::vector<Tensor> in = {rand({c.steps, c.batch, c.input}, 1, dtype, 1.0), rand({g * h, c.input}, 2, dtype),
                            rand({g * h, h}, 3, dtype)};
  if (c.bias) in.push_back(rand({g * h}, 4, dtype)), in.push_back(rand({g * h}, 5, dtype));
  if (c.peephole) in.push_back(rand({3, h}, 6, dtype));
  if (c.h0) in.push_back(rand({c.batch, h}, 7, dtype));
  if (c.c0) in.push_back(rand({c.batch, h}, 8, dtype));
  return in;
}

Tensor lengths_of(const Case& c) {
  if (!c.lengths) return Tensor();
  std::vector<std::int64_t> v(c.batch);
  for (std::int64_t b = 0; b < c.batch; ++b) v[b] = std::max<std::int64_t>(1, c.steps - (b * 2) % c.steps);
  v[c.batch - 1] = c.steps;  // unsorted: the longest last
  return from_vector(v, {c.batch});
}

struct Unpacked {
  Tensor x, h0, c0;
  RnnLayerWeights w;
};

Unpacked unpack(const Case& c, const std::vector<Tensor>& in) {
  Unpacked u;
  std::size_t k = 0;
  u.x = in[k++];
  u.w.w_ih = in[k++];
  u.w.w_hh = in[k++];
  if (c.bias) u.w.b_ih = in[k++], u.w.b_hh = in[k++];
  if (c.peephole) u.w.peephole = in[k++];
  if (c.h0) u.h0 = in[k++];
  if (c.c0) u.c0 = in[k++];
  return u;
}

// The reference: the cell's equations as a loop of ordinary ops, lengths as a 0/1 mask that
// freezes the state and zeroes the output past each sequence's end.
RnnLayerOutput reference(const Case& c, const std::vector<Tensor>& in) {
  Unpacked u = unpack(c, in);
  const DType dt = u.x.dtype();
  const std::int64_t h = c.hidden;
  Tensor hs = u.h0.defined() ? u.h0 : zeros({c.batch, h}, dt);
  Tensor cs = u.c0.defined() ? u.c0 : zeros({c.batch, h}, dt);
  Tensor lens = lengths_of(c);
  std::vector<Tensor> outputs(c.steps);
  auto part = [&](const Tensor& t, int k) { return narrow(t, 1, k * h, h); };
  auto bias_part = [&](const Tensor& b, int k) { return b.defined() ? narrow(b, 0, k * h, h) : zeros({h}, dt); };
  for (std::int64_t s = 0; s < c.steps; ++s) {
    const std::int64_t t = c.reverse ? c.steps - 1 - s : s;
    Tensor xt = select(u.x, 0, t);
    Tensor xi = matmul(xt, transpose(u.w.w_ih, 0, 1));
    Tensor hw = matmul(hs, transpose(u.w.w_hh, 0, 1));
    auto pre = [&](int k) { return part(xi, k) + bias_part(u.w.b_ih, k) + part(hw, k) + bias_part(u.w.b_hh, k); };
    Tensor hn, cn = cs;
    switch (c.cell) {
      case RnnCell::RnnTanh: hn = tanh(pre(0)); break;
      case RnnCell::RnnRelu: hn = relu(pre(0)); break;
      case RnnCell::Lstm: {
        Tensor pi = pre(0), pf = pre(1);
        if (c.peephole) pi = pi + select(u.w.peephole, 0, 0) * cs, pf = pf + select(u.w.peephole, 0, 1) * cs;
        Tensor i = sigmoid(pi), f = sigmoid(pf), g = tanh(pre(2));
        cn = f * cs + i * g;
        Tensor po = pre(3);
        if (c.peephole) po = po + select(u.w.peephole, 0, 2) * cn;
        hn = sigmoid(po) * tanh(cn);
        break;
      }
      case RnnCell::Gru: {
        Tensor r = sigmoid(pre(0)), z = sigmoid(pre(1));
        Tensor n = tanh(part(xi, 2) + bias_part(u.w.b_ih, 2) + r * (part(hw, 2) + bias_part(u.w.b_hh, 2)));
        hn = (1.0 - z) * n + z * hs;
        break;
      }
      case RnnCell::Mgu: {
        Tensor f = sigmoid(pre(0));
        Tensor u_n = narrow(u.w.w_hh, 0, h, h);
        Tensor n = tanh(part(xi, 1) + bias_part(u.w.b_ih, 1) + matmul(f * hs, transpose(u_n, 0, 1)) +
                        bias_part(u.w.b_hh, 1));
        hn = (1.0 - f) * hs + f * n;
        break;
      }
    }
    if (lens.defined()) {
      std::vector<double> m(c.batch);
      for (std::int64_t b = 0; b < c.batch; ++b) m[b] = t < lens.to_vector<std::int64_t>()[b] ? 1 : 0;
      Tensor mask = to_dtype(from_vector(m, {c.batch, 1}), dt);
      outputs[t] = mask * hn;
      hs = mask * hn + (1.0 - mask) * hs;
      cs = mask * cn + (1.0 - mask) * cs;
    } else {
      outputs[t] = hn;
      hs = hn;
      cs = cn;
    }
  }
  return {stack(outputs, 0), hs, c.cell == RnnCell::Lstm ? cs : Tensor()};
}

RnnLayerOutput fused(const Case& c, const std::vector<Tensor>& in) {
  Unpacked u = unpack(c, in);
  return rnn_layer(c.cell, u.x, u.w, u.h0, u.c0, lengths_of(c), c.reverse);
}

enum class Through { All, Output, States };

Tensor flat_result(const RnnLayerOutput& r, Through through) {
  std::vector<Tensor> parts;
  if (through != Through::States) parts.push_back(reshape(r.output, {-1}));
  if (through != Through::Output) {
    parts.push_back(reshape(r.h_n, {-1}));
    if (r.c_n.defined()) parts.push_back(reshape(r.c_n, {-1}));
  }
  return cat(parts, 0);
}

void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]));
  EXPECT_LT(worst, tol) << what;
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (RnnCell cell : kCells) {
    const bool lstm = cell == RnnCell::Lstm;
    cases.push_back({cell});
    cases.push_back({cell, false});
    Case full{cell};
    full.lengths = full.h0 = true, full.c0 = lstm, full.peephole = lstm;
    cases.push_back(full);
    full.reverse = true;
    cases.push_back(full);
    Case rev{cell};
    rev.reverse = true;
    cases.push_back(rev);
    if (lstm) {
      Case p{cell};
      p.peephole = true;
      cases.push_back(p);
    }
  }
  return cases;
}

// Values and gradients of the fused op equal the reference's, in float32 and float64.
TEST(RnnLayer, MatchesReferenceLoop) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double tol = dt == DType::Float32 ? 2e-5 : 1e-12;
    for (Case c : all_cases()) {
      c.steps = 5, c.batch = 4, c.input = 6, c.hidden = 7;
      const std::string what = describe(c) + (dt == DType::Float32 ? " float32" : " float64");
      std::vector<Tensor> a = make_inputs(c, dt), b = make_inputs(c, dt);
      for (std::size_t i = 0; i < a.size(); ++i) a[i].set_requires_grad(), b[i].set_requires_grad();
      RnnLayerOutput got = fused(c, a), want = reference(c, b);
      expect_close(got.output, want.output, tol, what + " output");
      expect_close(got.h_n, want.h_n, tol, what + " h_n");
      if (c.cell == RnnCell::Lstm) expect_close(got.c_n, want.c_n, tol, what + " c_n");
      else EXPECT_FALSE(got.c_n.defined()) << what;
      Tensor weights = rand(flat_result(got, Through::All).shape(), 9, dt, 1.0);
      sum(flat_result(got, Through::All) * weights).backward();
      sum(flat_result(want, Through::All) * weights).backward();
      for (std::size_t i = 0; i < a.size(); ++i)
        expect_close(a[i].grad(), b[i].grad(), tol * 4, what + " gradient of input " + std::to_string(i));
    }
  }
}

void gradcheck_case(const Case& c, Through through) {
  SCOPED_TRACE(describe(c));
  std::vector<Tensor> in = make_inputs(c, DType::Float64);
  for (const Tensor& t : in) t.set_requires_grad();
  expect_gradcheck([&](const std::vector<Tensor>& x) { return flat_result(fused(c, x), through); }, in);
}

TEST(RnnLayer, GradcheckEveryCellAndOption) {
  for (const Case& c : all_cases()) gradcheck_case(c, Through::All);
}

// From 4 steps of 2 or more rows the kernels multiply by a packed copy of W_hh (the
// cases above, at 3 steps, use BLAS): the same checks on that path.
TEST(RnnLayer, GradcheckWithPackedRecurrentWeights) {
  for (Case c : all_cases()) {
    c.steps = 4;
    gradcheck_case(c, Through::All);
  }
}

TEST(RnnLayer, GradcheckThroughOutputOnlyAndStatesOnly) {
  for (RnnCell cell : kCells) {
    Case c{cell};
    c.lengths = c.h0 = true, c.c0 = cell == RnnCell::Lstm;
    gradcheck_case(c, Through::Output);
    gradcheck_case(c, Through::States);
    c.reverse = true;
    gradcheck_case(c, Through::States);
  }
}

// Batch 128 at hidden 512 is where the kernels split the pointwise passes' rows over
// threads: the result equals the single-threaded one (checked against the reference above
// at small sizes).
TEST(RnnLayer, RowsSplitOverThreadsGiveTheSameResult) {
  const int threads = get_num_threads();
  for (RnnCell cell : {RnnCell::Lstm, RnnCell::Gru}) {
    Case c{cell};
    c.steps = 2, c.batch = 128, c.input = 4, c.hidden = cell == RnnCell::Lstm ? 512 : 683;
    c.lengths = true;
    std::vector<Tensor> results[2];
    for (int run = 0; run < 2; ++run) {
      set_num_threads(run == 0 ? 1 : 2);
      std::vector<Tensor> in = make_inputs(c, DType::Float64);
      for (const Tensor& t : in) t.set_requires_grad();
      RnnLayerOutput r = fused(c, in);
      sum(r.output).backward();
      results[run] = {r.output, r.h_n, in[0].grad(), in[2].grad()};
    }
    for (std::size_t i = 0; i < results[0].size(); ++i)
      expect_close(results[1][i], results[0][i], 1e-11, std::string(rnn_cell_name(cell)) + " result " + std::to_string(i));
  }
  set_num_threads(threads);
}

// From 4 steps, with kGroupRows (8) rows or more per thread, the CPU runs the step loops of
// groups of rows side by side, one group a thread (rnn.cpp, for_row_groups): every cell's
// outputs, states and gradients equal the single-threaded run's to the bit, with 2 and 3
// threads (groups of 16 + 21 and 8 + 16 + 13 rows), in both directions, with unsorted
// lengths and with sorted ones (where finished rows leave the products).
TEST(RnnLayer, RowGroupsOnThreadsGiveTheSameResult) {
  const int threads = get_num_threads();
  for (Case c : all_cases()) {
    c.steps = 5, c.batch = 37, c.input = 3, c.hidden = 5;
    for (bool sorted : {false, true}) {
      if (sorted && !c.lengths) continue;
      std::vector<std::int64_t> sorted_lengths(c.batch);
      for (std::int64_t b = 0; b < c.batch; ++b) sorted_lengths[b] = c.steps - b * c.steps / c.batch;
      const Tensor lengths = sorted ? from_vector(sorted_lengths, {c.batch}) : lengths_of(c);
      std::vector<Tensor> results[3];
      for (int run = 0; run < 3; ++run) {
        set_num_threads(run + 1);
        std::vector<Tensor> in = make_inputs(c, DType::Float64);
        for (const Tensor& t : in) t.set_requires_grad();
        const Unpacked u = unpack(c, in);
        const RnnLayerOutput r = rnn_layer(c.cell, u.x, u.w, u.h0, u.c0, lengths, c.reverse);
        const Tensor flat = flat_result(r, Through::All);
        sum(flat * rand(flat.shape(), 5, DType::Float64, 1.0)).backward();
        results[run] = {flat};
        for (const Tensor& t : in) results[run].push_back(t.grad());
      }
      for (int run = 1; run < 3; ++run)
        for (std::size_t i = 0; i < results[0].size(); ++i)
          EXPECT_EQ(results[run][i].to_vector<double>(), results[0][i].to_vector<double>())
              << describe(c) << (sorted ? " sorted" : "") << ", " << run + 1 << " threads, result " << i;
    }
  }
  set_num_threads(threads);
}

// Carrying the state across two chunks equals one run over the whole sequence, gradients
// included (what truncated BPTT relies on when it does not detach).
TEST(RnnLayer, ChunksCarryStateAndGradient) {
  for (RnnCell cell : {RnnCell::Lstm, RnnCell::Gru}) {
    Case c{cell};
    c.steps = 6;
    std::vector<Tensor> in = make_inputs(c, DType::Float64);
    for (const Tensor& t : in) t.set_requires_grad();
    Unpacked u = unpack(c, in);
    RnnLayerOutput whole = rnn_layer(cell, u.x, u.w);
    RnnLayerOutput first = rnn_layer(cell, narrow(u.x, 0, 0, 3), u.w);
    RnnLayerOutput second = rnn_layer(cell, narrow(u.x, 0, 3, 3), u.w, first.h_n, first.c_n);
    expect_close(cat({first.output, second.output}, 0), whole.output, 1e-14, "chunked output");
    expect_close(second.h_n, whole.h_n, 1e-14, "chunked h_n");
    sum(whole.h_n).backward();
    Tensor g_whole = clone(u.w.w_hh.grad());
    u.w.w_hh.zero_grad();
    sum(second.h_n).backward();
    expect_close(u.w.w_hh.grad(), g_whole, 1e-14, "chunked gradient");
  }
}

// With lengths, each sequence's result equals running it alone, unpadded.
TEST(RnnLayer, LengthsEqualSeparateRuns) {
  for (RnnCell cell : kCells)
    for (bool reverse : {false, true}) {
      Case c{cell};
      c.steps = 5, c.lengths = true, c.reverse = reverse, c.h0 = true;
      std::vector<Tensor> in = make_inputs(c, DType::Float64);
      Unpacked u = unpack(c, in);
      std::vector<std::int64_t> lens = lengths_of(c).to_vector<std::int64_t>();
      RnnLayerOutput all = rnn_layer(cell, u.x, u.w, u.h0, Tensor(), lengths_of(c), reverse);
      for (std::int64_t b = 0; b < c.batch; ++b) {
        Tensor xb = narrow(narrow(u.x, 1, b, 1), 0, 0, lens[b]);
        RnnLayerOutput one = rnn_layer(cell, xb, u.w, narrow(u.h0, 0, b, 1), Tensor(), Tensor(), reverse);
        expect_close(narrow(narrow(all.output, 1, b, 1), 0, 0, lens[b]), one.output, 1e-14, "output");
        expect_close(narrow(all.h_n, 0, b, 1), one.h_n, 1e-14, "h_n");
        if (lens[b] < c.steps) {
          Tensor pad = narrow(narrow(all.output, 1, b, 1), 0, lens[b], c.steps - lens[b]);
          EXPECT_EQ(max(abs(pad)).item(), 0.0);
        }
      }
    }
}

// ---- rnn_bidirectional_layer: two directions as one op. Its inputs: x, the first direction's
// weights and states, then the second's (the first's scaled by -0.7, so that they differ).
std::vector<Tensor> make_bidirectional_inputs(const Case& c, DType dtype) {
  std::vector<Tensor> in = make_inputs(c, dtype), other = make_inputs(c, dtype);
  for (std::size_t i = 1; i < other.size(); ++i) in.push_back(mul(other[i], -0.7));
  return in;
}

// The two directions' operands of make_bidirectional_inputs: x and the first half, x and
// the second.
std::array<Unpacked, 2> split_directions(const Case& c, const std::vector<Tensor>& in) {
  const auto half = static_cast<std::ptrdiff_t>((in.size() - 1) / 2);
  std::vector<Tensor> forward(in.begin(), in.begin() + 1 + half), reverse{in[0]};
  reverse.insert(reverse.end(), in.begin() + 1 + half, in.end());
  return {unpack(c, forward), unpack(c, reverse)};
}

std::array<RnnLayerOutput, 2> bidirectional(const Case& c, const std::vector<Tensor>& in) {
  const auto [f, r] = split_directions(c, in);
  return rnn_bidirectional_layer(c.cell, in[0], {f.w, r.w}, {f.h0, r.h0}, {f.c0, r.c0}, lengths_of(c));
}

// The same directions as two rnn_layer calls, the second reversed.
std::array<RnnLayerOutput, 2> two_layers(const Case& c, const std::vector<Tensor>& in) {
  const auto [f, r] = split_directions(c, in);
  return {rnn_layer(c.cell, in[0], f.w, f.h0, f.c0, lengths_of(c)),
          rnn_layer(c.cell, in[0], r.w, r.h0, r.c0, lengths_of(c), true)};
}

Tensor flat_pair(const std::array<RnnLayerOutput, 2>& r) {
  return cat({flat_result(r[0], Through::All), flat_result(r[1], Through::All)}, 0);
}

// Values and every gradient equal two rnn_layer calls', with one thread and with two (the
// CPU's directions then run side by side, one thread each), on the BLAS path (3 steps) and
// the packed one (6 steps, 5 rows).
TEST(RnnBidirectionalLayer, EqualsTwoLayers) {
  const int threads = get_num_threads();
  for (int t : {1, 2}) {
    set_num_threads(t);
    for (Case c : all_cases()) {
      if (c.reverse) continue;  // the op sets each direction's order
      for (std::int64_t steps : {3, 6}) {
        c.steps = steps, c.batch = 5, c.input = 4, c.hidden = 6;
        const std::string what = describe(c) + ", " + std::to_string(steps) + " steps, " + std::to_string(t) + " threads";
        std::vector<Tensor> a = make_bidirectional_inputs(c, DType::Float64), b = make_bidirectional_inputs(c, DType::Float64);
        for (std::size_t i = 0; i < a.size(); ++i) a[i].set_requires_grad(), b[i].set_requires_grad();
        const Tensor got = flat_pair(bidirectional(c, a)), want = flat_pair(two_layers(c, b));
        expect_close(got, want, 1e-13, what + " outputs and states");
        const Tensor weights = rand(got.shape(), 9, DType::Float64, 1.0);
        sum(got * weights).backward();
        sum(want * weights).backward();
        for (std::size_t i = 0; i < a.size(); ++i)
          expect_close(a[i].grad(), b[i].grad(), 1e-12, what + " gradient of input " + std::to_string(i));
      }
    }
  }
  set_num_threads(threads);
}

TEST(RnnBidirectionalLayer, GradcheckEveryCell) {
  const int threads = get_num_threads();
  set_num_threads(2);
  for (RnnCell cell : kCells) {
    Case c{cell};
    c.steps = 4, c.lengths = c.h0 = true, c.c0 = c.peephole = cell == RnnCell::Lstm;
    SCOPED_TRACE(describe(c));
    std::vector<Tensor> in = make_bidirectional_inputs(c, DType::Float64);
    for (const Tensor& t : in) t.set_requires_grad();
    expect_gradcheck([&](const std::vector<Tensor>& x) { return flat_pair(bidirectional(c, x)); }, in);
  }
  set_num_threads(threads);
}

// Under a ConstantWeightsGuard, as in every training step, a product of few rows by a guarded
// weight runs on the calling thread's packed copy. The directions side by side must not take
// that path on one thread and BLAS on the other, as whichever thread ran a direction would
// then decide its rounding: with two threads the guarded result equals the unguarded one
// exactly, every time.
TEST(RnnBidirectionalLayer, ConstantWeightsLeaveTheResultAsItIs) {
  const int threads = get_num_threads();
  set_num_threads(2);
  Case c{RnnCell::Lstm};
  // 192 rows: the packed path's size; 700 inputs, where its rounding differs from BLAS's.
  c.steps = 6, c.batch = 32, c.input = 700, c.hidden = 64;
  std::vector<Tensor> in = make_bidirectional_inputs(c, DType::Float32);
  const Tensor plain = flat_pair(bidirectional(c, in));
  const std::vector<Tensor> weights(in.begin() + 1, in.end());
  for (int run = 0; run < 5; ++run) {
    ConstantWeightsGuard constant(weights);
    EXPECT_EQ(max(abs(flat_pair(bidirectional(c, in)) - plain)).item(), 0.0) << "run " << run;
  }
  set_num_threads(threads);
}

TEST(RnnBidirectionalLayer, ErrorsNameTheOp) {
  Case c;
  std::vector<Tensor> in = make_bidirectional_inputs(c, DType::Float32);
  Unpacked u = unpack(c, in);
  RnnLayerWeights wrong = u.w;
  wrong.w_ih = rand({8, 5}, 1, DType::Float32);
  expect_error([&] { rnn_bidirectional_layer(c.cell, u.x, {u.w, wrong}); },
               {"rnn_bidirectional_layer: LSTM w_ih must be (8, 3)", "[8, 5]"});
}

// ---- RnnProjections: the table of input projections and the rows to read. Here x's rows in
// reverse order after an unused row, so that the kernels must follow the rows.
struct Table {
  Tensor inputs, rows;  // inputs (1 + T*B, I): table = inputs W_ih^T
};

Table reversed_rows(const Tensor& x) {
  const std::int64_t n = x.size(0) * x.size(1);
  std::vector<std::int64_t> order(n), rows(n);
  for (std::int64_t i = 0; i < n; ++i) order[i] = n - 1 - i, rows[i] = n - i;
  const Tensor reversed = index_select(reshape(x, {n, x.size(2)}), 0, from_vector(order, {n}));
  return {cat({zeros({1, x.size(2)}, x.dtype()), reversed}, 0), from_vector(rows, {x.size(0), x.size(1)})};
}

Tensor projections(const Tensor& inputs, const Tensor& w_ih) { return matmul(inputs, transpose(w_ih, 0, 1)); }

// Every cell and option, one direction and two (their projections side by side in a table
// row), one thread and two, an odd and an even number of steps (the final state in either
// of the two slots): the values of the op on the input.
TEST(RnnLayer, ProjectionsEqualTheInput) {
  const int threads = get_num_threads();
  NoGradGuard no_grad;
  for (int t : {1, 2}) {
    set_num_threads(t);
    for (Case c : all_cases()) {
      c.steps = 3 + t % 2;
      const std::string what = describe(c) + ", " + std::to_string(c.steps) + " steps, " + std::to_string(t) + " threads";
      const std::vector<Tensor> in = make_inputs(c, DType::Float64);
      Unpacked u = unpack(c, in);
      const Table table = reversed_rows(u.x);
      RnnLayerWeights w = u.w;
      w.w_ih = Tensor();
      const RnnProjections given{projections(table.inputs, u.w.w_ih), table.rows};
      const RnnLayerOutput got = rnn_layer(c.cell, given, w, u.h0, u.c0, lengths_of(c), c.reverse);
      expect_close(flat_result(got, Through::All), flat_result(fused(c, in), Through::All), 1e-13, what);
      if (c.reverse) continue;
      const std::vector<Tensor> both = make_bidirectional_inputs(c, DType::Float64);
      auto [f, r] = split_directions(c, both);
      const Tensor side_by_side = cat({projections(table.inputs, f.w.w_ih), projections(table.inputs, r.w.w_ih)}, 1);
      f.w.w_ih = r.w.w_ih = Tensor();
      const auto pair = rnn_bidirectional_layer(c.cell, RnnProjections{side_by_side, table.rows}, {f.w, r.w},
                                                {f.h0, r.h0}, {f.c0, r.c0}, lengths_of(c));
      expect_close(flat_pair(pair), flat_pair(bidirectional(c, both)), 1e-13, what + " bidirectional");
      // Into a given output: its halves, the same values.
      const Tensor joined = full({c.steps, c.batch, 2 * c.hidden}, 7.0, DType::Float64);
      const auto into = rnn_bidirectional_layer(c.cell, RnnProjections{side_by_side, table.rows}, {f.w, r.w},
                                                {f.h0, r.h0}, {f.c0, r.c0}, lengths_of(c), joined);
      EXPECT_EQ(joined.to_vector<double>(), cat({pair[0].output, pair[1].output}, 2).to_vector<double>()) << what;
      EXPECT_EQ(into[1].output.raw_data(), narrow(joined, 2, c.hidden, c.hidden).raw_data()) << what;
      EXPECT_EQ(flat_pair(into).to_vector<double>(), flat_pair(pair).to_vector<double>()) << what;
    }
  }
  set_num_threads(threads);
}

// A batch sorted longest first runs only its rows in play at each step (the others are
// finished, or not yet started backwards); the same sequences in another order run every
// row. Both give each sequence the same values, ordinary and projected, and the same
// gradients.
TEST(RnnLayer, SortedLengthsEqualAnyOrder) {
  for (RnnCell cell : kCells)
    for (bool reverse : {false, true}) {
      Case c{cell};
      c.steps = 6, c.batch = 5, c.reverse = reverse, c.h0 = true, c.c0 = cell == RnnCell::Lstm;
      const std::string what = describe(c);
      const Tensor sorted_lengths = from_vector(std::vector<std::int64_t>{6, 4, 4, 2, 1}, {5});
      const Tensor order = from_vector(std::vector<std::int64_t>{3, 0, 4, 2, 1}, {5});  // shuffled rows
      std::vector<Tensor> a = make_inputs(c, DType::Float64), b = make_inputs(c, DType::Float64);
      for (std::size_t i = 0; i < a.size(); ++i) a[i].set_requires_grad(), b[i].set_requires_grad();
      Unpacked u = unpack(c, a), v = unpack(c, b);
      const auto shuffled = [&](const Tensor& t, int dim) { return t.defined() ? index_select(t, dim, order) : t; };
      const RnnLayerOutput sorted = rnn_layer(cell, u.x, u.w, u.h0, u.c0, sorted_lengths, reverse);
      const RnnLayerOutput any = rnn_layer(cell, shuffled(v.x, 1), v.w, shuffled(v.h0, 0), shuffled(v.c0, 0),
                                           shuffled(sorted_lengths, 0), reverse);
      expect_close(shuffled(sorted.output, 1), any.output, 1e-14, what + " output");
      expect_close(shuffled(sorted.h_n, 0), any.h_n, 1e-14, what + " h_n");
      if (c.c0) expect_close(shuffled(sorted.c_n, 0), any.c_n, 1e-14, what + " c_n");
      const Tensor weights = rand(sorted.output.shape(), 9, DType::Float64, 1.0);
      (sum(sorted.output * weights) + sum(sorted.h_n)).backward();
      (sum(any.output * shuffled(weights, 1)) + sum(any.h_n)).backward();
      for (std::size_t i = 0; i < a.size(); ++i)
        expect_close(a[i].grad(), b[i].grad(), 1e-13, what + " gradient of input " + std::to_string(i));
      NoGradGuard no_grad;
      RnnLayerWeights w = u.w;
      w.w_ih = Tensor();
      const Table table = reversed_rows(u.x);
      const Tensor projected = projections(table.inputs, u.w.w_ih);
      const RnnLayerOutput sorted_projected =
          rnn_layer(cell, RnnProjections{projected, table.rows}, w, u.h0, u.c0, sorted_lengths, reverse);
      const RnnLayerOutput any_projected = rnn_layer(cell, RnnProjections{projected, shuffled(table.rows, 1)}, w,
                                                     shuffled(u.h0, 0), shuffled(u.c0, 0),
                                                     shuffled(sorted_lengths, 0), reverse);
      expect_close(sorted_projected.output, sorted.output, 1e-13, what + " projected output");
      expect_close(shuffled(sorted_projected.output, 1), any_projected.output, 1e-14, what + " projected, any order");
      expect_close(shuffled(sorted_projected.h_n, 0), any_projected.h_n, 1e-14, what + " projected h_n");
    }
}

TEST(RnnLayer, ProjectionsErrors) {
  Case c{RnnCell::Gru};  // G*H = 6
  const std::vector<Tensor> in = make_bidirectional_inputs(c, DType::Float32);
  auto [f, r] = split_directions(c, in);
  const Table table = reversed_rows(f.x);
  const Tensor one = projections(table.inputs, f.w.w_ih), two = cat({one, projections(table.inputs, r.w.w_ih)}, 1);
  RnnLayerWeights fw = f.w, rw = r.w;
  fw.w_ih = rw.w_ih = Tensor();
  expect_error([&] { rnn_layer(c.cell, RnnProjections{two, table.rows}, fw); },
               {"rnn_layer: the projections' table must have 6 values a row", "[10, 12]"});
  expect_error([&] { rnn_bidirectional_layer(c.cell, RnnProjections{one, table.rows}, {fw, rw}); },
               {"rnn_bidirectional_layer: the projections' table must have 12 values a row", "[10, 6]"});
  expect_error([&] { rnn_bidirectional_layer(c.cell, RnnProjections{two, table.rows}, {fw, r.w}); },
               {"rnn_bidirectional_layer: GRU weights have a w_ih, but the projections are given"});
  expect_error([&] { rnn_layer(c.cell, RnnProjections{one, to_dtype(table.rows, DType::Float32)}, fw); },
               {"rnn_layer: projection rows", "int64"});
  expect_error([&] { rnn_layer(c.cell, RnnProjections{narrow(one, 0, 0, 9), table.rows}, fw); },
               {"rnn_layer: projection row 9 is out of range for a table of 9 rows"});
  expect_error([&] { rnn_layer(c.cell, RnnProjections{one, reshape(table.rows, {9})}, fw); },
               {"projection rows must be (steps, batch)", "[9]"});
  expect_error([&] { rnn_layer(c.cell, RnnProjections{one, Tensor()}, fw); }, {"RnnProjections need their rows"});
  const RnnProjections given{two, table.rows};
  expect_error([&] { rnn_bidirectional_layer(c.cell, given, {fw, rw}, {}, {}, {}, zeros({3, 3, 5})); },
               {"rnn_bidirectional_layer: output must be a contiguous (3, 3, 4) tensor", "[3, 3, 5]"});
  expect_error([&] { rnn_bidirectional_layer(c.cell, given, {fw, rw}, {}, {}, {}, transpose(zeros({3, 3, 4}), 0, 1)); },
               {"not contiguous"});
  const Tensor tracked = clone(one).set_requires_grad();
  expect_error([&] { rnn_layer(c.cell, RnnProjections{tracked, table.rows}, fw); },
               {"rnn_layer: projected input is not differentiable"});
  NoGradGuard no_grad;
  EXPECT_EQ(rnn_layer(c.cell, RnnProjections{tracked, table.rows}, fw).output.size(2), 2);  // fine without gradients
}

// The inference step equals one step of rnn_layer, and allocates its workspace once; so
// does a step given the projections of the input's first column as `added` (rows of a
// table, in another order) and the rest of the input (and of w_ih) as input.
TEST(RnnStep, MatchesLayerAndReusesWorkspace) {
  for (DType dt : {DType::Float32, DType::Float64})
    for (RnnCell cell : kCells) {
      Case c{cell};
      c.h0 = true, c.c0 = cell == RnnCell::Lstm, c.peephole = c.c0;
      c.steps = 4, c.hidden = 5;
      std::vector<Tensor> in = make_inputs(c, dt);
      Unpacked u = unpack(c, in);
      RnnLayerOutput want = rnn_layer(cell, u.x, u.w, u.h0, u.c0);
      NoGradGuard no_grad;
      Tensor h = clone(u.h0), cs = u.c0.defined() ? clone(u.c0) : Tensor();
      Tensor h_split = clone(u.h0), c_split = u.c0.defined() ? clone(u.c0) : Tensor();
      RnnLayerWeights rest = u.w;
      const std::int64_t inputs = u.w.w_ih.size(1);
      rest.w_ih = contiguous(narrow(u.w.w_ih, 1, 1, inputs - 1));
      Tensor workspace, split_workspace;
      const void* first = nullptr;
      for (std::int64_t t = 0; t < c.steps; ++t) {
        const Tensor x = contiguous(select(u.x, 0, t));
        rnn_step_(cell, x, u.w, h, cs, workspace);
        if (t == 0) first = workspace.raw_data();
        EXPECT_EQ(workspace.raw_data(), first);
        const Tensor order = from_vector(std::vector<std::int64_t>{2, 0, 1}, {3});  // table row of batch row b
        const Tensor table = index_select(linear(narrow(x, 1, 0, 1), narrow(u.w.w_ih, 1, 0, 1)), 0, order);
        const Tensor rows = from_vector(std::vector<std::int64_t>{1, 2, 0}, {3});
        rnn_step_(cell, contiguous(narrow(x, 1, 1, inputs - 1)), rest, h_split, c_split, split_workspace,
                  {table, rows});
      }
      const double tol = dt == DType::Float32 ? 1e-6 : 1e-14;
      expect_close(h, want.h_n, tol, std::string(rnn_cell_name(cell)) + " step h");
      if (cs.defined()) expect_close(cs, want.c_n, tol, "step c");
      expect_close(h_split, want.h_n, tol, "step h from added projections");
      if (cs.defined()) expect_close(c_split, want.c_n, tol, "step c from added projections");
    }
}

TEST(RnnLayer, Errors) {
  Case c{RnnCell::Lstm};
  std::vector<Tensor> in = make_inputs(c, DType::Float64);
  Unpacked u = unpack(c, in);
  auto lens = [](std::vector<std::int64_t> v) { return from_vector(v, {static_cast<std::int64_t>(v.size())}); };
  expect_error([&] { rnn_layer(RnnCell::Lstm, select(u.x, 0, 0), u.w); }, {"rnn_layer", "(steps, batch, input_size)"});
  expect_error([&] { rnn_layer(RnnCell::Gru, u.x, u.w); }, {"GRU w_hh must be (3*hidden, hidden)", "[8, 2]"});
  RnnLayerWeights bad = u.w;
  bad.w_ih = rand({8, 4}, 1, DType::Float64);
  expect_error([&] { rnn_layer(RnnCell::Lstm, u.x, bad); }, {"w_ih must be (8, 3)", "[8, 4]"});
  bad = u.w;
  bad.b_hh = rand({4}, 1, DType::Float64);
  expect_error([&] { rnn_layer(RnnCell::Lstm, u.x, bad); }, {"bias must be (8)", "[4]"});
  bad = u.w;
  bad.peephole = rand({2, 2}, 1, DType::Float64);
  expect_error([&] { rnn_layer(RnnCell::Lstm, u.x, bad); }, {"peephole must be (3, 2)"});
  expect_error([&] { rnn_layer(RnnCell::Lstm, to_dtype(u.x, DType::Float32), u.w); }, {"different dtypes"});
  expect_error([&] { rnn_layer(RnnCell::Lstm, u.x, u.w, rand({2, 2}, 1, DType::Float64)); },
               {"LSTM h0 must be (batch 3, hidden 2)", "[2, 2]"});
  expect_error([&] { rnn_layer(RnnCell::Lstm, u.x, u.w, Tensor(), Tensor(), lens({1, 4, 2})); },
               {"lengths must lie in [1, 3]", "got 4 at batch index 1"});
  expect_error([&] { rnn_layer(RnnCell::Lstm, u.x, u.w, Tensor(), Tensor(), lens({1, 0, 2})); },
               {"lengths must lie in [1, 3]", "got 0 at batch index 1"});
  expect_error([&] { rnn_layer(RnnCell::Lstm, u.x, u.w, Tensor(), Tensor(), lens({1, 2})); },
               {"lengths must be (batch 3)"});
  expect_error([&] { rnn_layer(RnnCell::Lstm, u.x, u.w, Tensor(), Tensor(), ones({3}, DType::Float64)); },
               {"lengths must be int64"});
  Case g{RnnCell::Gru};
  Unpacked ug = unpack(g, make_inputs(g, DType::Float64));
  expect_error([&] { rnn_layer(RnnCell::Gru, ug.x, ug.w, Tensor(), zeros({3, 2}, DType::Float64)); },
               {"c0 is LSTM's cell state; GRU has none"});
  RnnLayerWeights gp = ug.w;
  gp.peephole = rand({3, 2}, 1, DType::Float64);
  expect_error([&] { rnn_layer(RnnCell::Gru, ug.x, gp); }, {"peephole weights are for LSTM only, not GRU"});
  Tensor h = zeros({3, 2}, DType::Float64), ws;
  expect_error([&] { rnn_step_(RnnCell::Lstm, select(u.x, 0, 0), u.w, h, Tensor(), ws); },
               {"rnn_step_: LSTM needs its cell state c"});
  Tensor w_grad = clone(u.w.w_hh);
  w_grad.set_requires_grad();
  RnnLayerWeights wg = u.w;
  wg.w_hh = w_grad;
  expect_error([&] { rnn_step_(RnnCell::Lstm, select(u.x, 0, 0), wg, h, zeros({3, 2}, DType::Float64), ws); },
               {"rnn_step_: not differentiable"});
  expect_error([&] {
    rnn_step_(RnnCell::Lstm, contiguous(select(u.x, 0, 0)), u.w, h, zeros({3, 2}, DType::Float64), ws,
              {zeros({5, 4}, DType::Float64), from_vector(std::vector<std::int64_t>{0, 1, 2}, {3})});
  }, {"rnn_step_: the added projections' table must be contiguous (rows, 8), got shape [5, 4]"});
  expect_error([&] {
    rnn_step_(RnnCell::Lstm, contiguous(select(u.x, 0, 0)), u.w, h, zeros({3, 2}, DType::Float64), ws,
              {zeros({5, 8}, DType::Float64), from_vector(std::vector<std::int64_t>{0, 5, 2}, {3})});
  }, {"rnn_step_: projection row 5 is out of range for a table of 5 rows"});
}

}  // namespace
