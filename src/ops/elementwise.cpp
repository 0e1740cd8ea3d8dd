// Elementwise arithmetic and activations: forward kernels and backward formulas.
#include <cmath>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

Tensor unary_kernel(UnaryOp op, const Tensor& x, Scalars s = {}) {
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  backend_of(x).unary(op, view_of(y), view_of(x), s);
  return y;
}

// Kernel-only binary op: broadcasts, allocates, runs. No recording.
Tensor binary_kernel(const char* name, BinaryOp op, const Tensor& a, const Tensor& b, Scalars s = {}) {
  check_compatible(name, a, b);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor y = empty(out_shape, a.dtype(), a.device());
  backend_of(a).binary(op, view_of(y), backend::broadcast_view(a, out_shape),
                       backend::broadcast_view(b, out_shape), s);
  return y;
}

// ---- add, sub: y = a ± b;  da = sum_to(g),  db = ±sum_to(g)
struct AddSubBackward final : Node {
  const char* name() const override { return subtract ? "sub" : "add"; }
  TensorList apply(TensorList&& g) override {
    return {sum_to(g[0], a_shape), sum_to(subtract ? neg(g[0]) : g[0], b_shape)};
  }
  bool subtract = false;
  Shape a_shape, b_shape;
};

Tensor add_or_sub(const char* name, const Tensor& a, const Tensor& b, bool subtract) {
  check_floating(name, a), check_floating(name, b);
  Tensor y = binary_kernel(name, subtract ? BinaryOp::Sub : BinaryOp::Add, a, b);
  if (auto node = make_node<AddSubBackward>({a, b})) {
    node->subtract = subtract;
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    record(node, {a, b}, {y});
  }
  return y;
}

// ---- mul: y = a * b;  da = sum_to(g * b),  db = sum_to(g * a)
struct MulBackward final : Node {
  const char* name() const override { return "mul"; }
  TensorList apply(TensorList&& g) override {
    Tensor da, db;
    if (next_edges[0].node) da = sum_to(mul(g[0], b.get("mul")), a_shape);
    if (next_edges[1].node) db = sum_to(mul(g[0], a.get("mul")), b_shape);
    return {da, db};
  }
  void release_saved() override { a.reset(), b.reset(); }
  SavedTensor a, b;
  Shape a_shape, b_shape;
};

// ---- div: y = a / b;  da = sum_to(g / b),  db = sum_to(-g * a / b^2) = sum_to(-g * y / b)
struct DivBackward final : Node {
  const char* name() const override { return "div"; }
  TensorList apply(TensorList&& g) override {
    Tensor bv = b.get("div");
    Tensor da, db;
    if (next_edges[0].node) da = sum_to(div(g[0], bv), a_shape);
    if (next_edges[1].node) db = sum_to(neg(div(mul(g[0], y.get("div")), bv)), b_shape);
    return {da, db};
  }
  void release_saved() override { b.reset(), y.reset(); }
  SavedTensor b, y;
  Shape a_shape, b_shape;
};

// ---- scalar affine maps: y = x * alpha + beta (add, mul, rsub by a scalar);  dx = g * alpha
struct AffineScalarBackward final : Node {
  const char* name() const override { return "scalar affine"; }
  TensorList apply(TensorList&& g) override { return {alpha == 1 ? g[0] : mul(g[0], alpha)}; }
  double alpha = 1;
};

Tensor affine_scalar(const char* name, UnaryOp op, const Tensor& x, double s, double grad_scale) {
  check_floating(name, x);
  Tensor y = unary_kernel(op, x, {s, 0});
  if (auto node = make_node<AffineScalarBackward>({x})) {
    node->alpha = grad_scale;
    record(node, {x}, {y});
  }
  return y;
}

// ---- pointwise functions whose backward is g * f'(saved), one fused kernel each
struct PointwiseBackward final : Node {
  const char* name() const override { return op_name; }
  TensorList apply(TensorList&& g) override {
    Tensor s = saved.get(op_name);
    return {binary_kernel(op_name, backward_op, g[0], s, scalars)};
  }
  void release_saved() override { saved.reset(); }
  const char* op_name = "";
  BinaryOp backward_op = BinaryOp::Mul;
  Scalars scalars;
  SavedTensor saved;
};

// save_output: the backward formula reads y (tanh, sigmoid) rather than x.
Tensor pointwise(const char* name, UnaryOp op, BinaryOp backward_op, const Tensor& x, Scalars s,
                 bool save_output) {
  check_floating(name, x);
  Tensor y = unary_kernel(op, x, s);
  if (auto node = make_node<PointwiseBackward>({x})) {
    node->op_name = name;
    node->backward_op = backward_op;
    node->scalars = s;
    node->saved = save_output ? y : x;
    record(node, {x}, {y});
  }
  return y;
}

// ---- exp: dx = g * y;  log: dx = g / x;  sqrt: dx = g / (2 y);  pow: dx = g * p * x^(p-1)
struct FormulaBackward final : Node {
  const char* name() const override { return op_name; }
  TensorList apply(TensorList&& g) override {
    Tensor s = saved.get(op_name);
    switch (kind) {
      case Kind::Exp: return {mul(g[0], s)};
      case Kind::Log: return {div(g[0], s)};
      case Kind::Sqrt: return {div(g[0], mul(s, 2.0))};
      case Kind::Pow: return {mul(g[0], mul(pow(s, exponent - 1), exponent))};
    }
    return {};
  }
  void release_saved() override { saved.reset(); }
  enum class Kind { Exp, Log, Sqrt, Pow } kind = Kind::Exp;
  const char* op_name = "";
  double exponent = 1;
  SavedTensor saved;
};

Tensor formula(const char* name, UnaryOp op, FormulaBackward::Kind kind, const Tensor& x, double exponent,
               bool save_output) {
  check_floating(name, x);
  Tensor y = unary_kernel(op, x, {exponent, 0});
  if (auto node = make_node<FormulaBackward>({x})) {
    node->op_name = name;
    node->kind = kind;
    node->exponent = exponent;
    node->saved = save_output ? y : x;
    record(node, {x}, {y});
  }
  return y;
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor add(const Tensor& a, const Tensor& b) { return add_or_sub("add", a, b, false); }
Tensor sub(const Tensor& a, const Tensor& b) { return add_or_sub("sub", a, b, true); }

Tensor mul(const Tensor& a, const Tensor& b) {
  check_floating("mul", a), check_floating("mul", b);
  Tensor y = binary_kernel("mul", BinaryOp::Mul, a, b);
  if (auto node = make_node<MulBackward>({a, b})) {
    if (b.requires_grad()) node->a = a;
    if (a.requires_grad()) node->b = b;
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    record(node, {a, b}, {y});
  }
  return y;
}

Tensor div(const Tensor& a, const Tensor& b) {
  check_floating("div", a), check_floating("div", b);
  Tensor y = binary_kernel("div", BinaryOp::Div, a, b);
  if (auto node = make_node<DivBackward>({a, b})) {
    node->b = b;
    if (b.requires_grad()) node->y = y;
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    record(node, {a, b}, {y});
  }
  return y;
}

Tensor add(const Tensor& a, double b) { return affine_scalar("add", UnaryOp::AddScalar, a, b, 1); }
Tensor mul(const Tensor& a, double b) { return affine_scalar("mul", UnaryOp::MulScalar, a, b, b); }
Tensor rsub(const Tensor& a, double b) { return affine_scalar("rsub", UnaryOp::RSubScalar, a, b, -1); }
Tensor neg(const Tensor& x) { return affine_scalar("neg", UnaryOp::Neg, x, 0, -1); }
// b / a = b * a^-1;  d/da = -b / a^2
Tensor rdiv(const Tensor& a, double b) { return mul(pow(a, -1.0), b); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return mul(a, 1.0 / b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(double a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(double a, const Tensor& b) { return rdiv(b, a); }
Tensor operator-(const Tensor& a) { return neg(a); }

Tensor exp(const Tensor& x) { return formula("exp", UnaryOp::Exp, FormulaBackward::Kind::Exp, x, 0, true); }
Tensor log(const Tensor& x) { return formula("log", UnaryOp::Log, FormulaBackward::Kind::Log, x, 0, false); }
Tensor sqrt(const Tensor& x) { return formula("sqrt", UnaryOp::Sqrt, FormulaBackward::Kind::Sqrt, x, 0, true); }
Tensor pow(const Tensor& x, double exponent) {
  return formula("pow", UnaryOp::Pow, FormulaBackward::Kind::Pow, x, exponent, false);
}

Tensor abs(const Tensor& x) { return pointwise("abs", UnaryOp::Abs, BinaryOp::AbsBackward, x, {}, false); }
Tensor clamp(const Tensor& x, double low, double high) {
  RECUR_CHECK(low <= high, "clamp: low " << low << " is greater than high " << high);
  return pointwise("clamp", UnaryOp::Clamp, BinaryOp::ClampBackward, x, {low, high}, false);
}
Tensor sigmoid(const Tensor& x) {
  return pointwise("sigmoid", UnaryOp::Sigmoid, BinaryOp::SigmoidBackward, x, {}, true);
}
Tensor tanh(const Tensor& x) { return pointwise("tanh", UnaryOp::Tanh, BinaryOp::TanhBackward, x, {}, true); }
Tensor relu(const Tensor& x) { return pointwise("relu", UnaryOp::Relu, BinaryOp::ReluBackward, x, {}, true); }
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return pointwise("leaky_relu", UnaryOp::LeakyRelu, BinaryOp::LeakyReluBackward, x, {negative_slope, 0}, false);
}

Tensor step(const Tensor& x) {
  check_floating("step", x);
  return unary_kernel(UnaryOp::Step, x);
}

}  // namespace recur
