// Optimizer updates: checks, the scalar maths of each step (done here in double, exactly as
// PyTorch's Python code does it), then one fused kernel pass (src/backend/cpu/optim.cpp).
#include <cmath>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

// An operand the kernel updates in place. The kernels want dense buffers, so a strided
// tensor is updated through a dense copy that finish() writes back.
class InPlaceOperand {
 public:
  // Implicit, so `InPlaceOperand p = param;` reads as what it is. Undefined stays undefined.
  InPlaceOperand(const Tensor& target)  // NOLINT(google-explicit-constructor)
      : target_(target), dense_(target.defined() ? dense(target) : Tensor()) {}
  backend::View view() const { return dense_.defined() ? view_of(dense_) : backend::View{}; }
  void finish() const {
    if (!target_.defined()) return;
    if (dense_.storage() != target_.storage()) backend_of(target_).copy(view_of(target_), view_of(dense_));
    target_.storage()->bump_version();
  }

 private:
  Tensor target_, dense_;
};

// Checks param and grad, and each state tensor the options use (`used` false: ignored).
struct StateOperand {
  const char* name;
  const Tensor& tensor;
  bool used;
};

void check_update(const char* op, const Tensor& param, const Tensor& grad, std::initializer_list<StateOperand> state) {
  check_floating(op, param);
  check_writable(op, param);
  RECUR_CHECK(grad.defined(), op << ": the gradient of the parameter of shape " << param.shape() << " is undefined");
  auto check_like_param = [&](const char* what, const Tensor& t) {
    RECUR_CHECK(t.shape() == param.shape() && t.dtype() == param.dtype() && t.device() == param.device(),
                op << ": " << what << " is " << t.dtype() << " " << t.shape() << " on " << t.device()
                   << " but the parameter is " << param.dtype() << " " << param.shape() << " on "
                   << param.device());
  };
  check_like_param("the gradient", grad);
  const StateOperand param_operand{"the parameter", param, true};
  const StateOperand* written[4] = {&param_operand};
  int count = 1;
  for (const StateOperand& s : state) {
    if (!s.used) continue;
    RECUR_CHECK(s.tensor.defined(), op << ": state tensor " << s.name << " is undefined but the options use it");
    check_like_param(s.name, s.tensor);
    written[count++] = &s;
  }
  // The kernels read and write each element once, through unaliased pointers.
  for (int i = 0; i < count; ++i) {
    RECUR_CHECK(written[i]->tensor.storage() != grad.storage(),
                op << ": " << written[i]->name << " shares storage with the gradient");
    for (int j = 0; j < i; ++j)
      RECUR_CHECK(written[i]->tensor.storage() != written[j]->tensor.storage(),
                  op << ": " << written[i]->name << " shares storage with " << written[j]->name);
  }
}

void check_step(const char* op, std::int64_t step) {
  RECUR_CHECK(step >= 1, op << ": step is " << step << ", but steps count from 1");
}

}  // namespace
}  // namespace ops

using namespace ops;

void sgd_update_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                 const optim::SGDOptions& o, bool first_step) {
  const bool momentum = o.momentum != 0;
  check_update("sgd_update_", param, grad, {{"momentum_buffer", momentum_buffer, momentum}});
  const backend::SgdStep s{.lr = o.lr, .momentum = o.momentum, .dampening = o.dampening,
                           .weight_decay = o.weight_decay, .nesterov = o.nesterov, .first_step = first_step};
  Tensor dense_grad = dense(grad);
  InPlaceOperand p = param, buf = momentum ? momentum_buffer : Tensor();
  backend_of(param).sgd_step(p.view(), view_of(dense_grad), buf.view(), s);
  p.finish(), buf.finish();
}

void adagrad_update_(const Tensor& param, const Tensor& grad, const Tensor& sum, const optim::AdagradOptions& o,
                     std::int64_t step) {
  check_update("adagrad_update_", param, grad, {{"sum", sum, true}});
  check_step("adagrad_update_", step);
  const backend::AdagradStep s{.clr = o.lr / (1 + static_cast<double>(step - 1) * o.lr_decay),
                               .weight_decay = o.weight_decay, .eps = o.eps, .eps_inside_sqrt = o.eps_inside_sqrt};
  Tensor dense_grad = dense(grad);
  InPlaceOperand p = param, acc = sum;
  backend_of(param).adagrad_step(p.view(), view_of(dense_grad), acc.view(), s);
  p.finish(), acc.finish();
}

void rmsprop_update_(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& grad_avg,
                     const Tensor& momentum_buffer, const optim::RMSpropOptions& o) {
  const bool momentum = o.momentum > 0;
  check_update("rmsprop_update_", param, grad,
               {{"square_avg", square_avg, true}, {"grad_avg", grad_avg, o.centered},
                {"momentum_buffer", momentum_buffer, momentum}});
  const backend::RmspropStep s{.lr = o.lr, .alpha = o.alpha, .eps = o.eps, .weight_decay = o.weight_decay,
                               .momentum = o.momentum, .centered = o.centered};
  Tensor dense_grad = dense(grad);
  InPlaceOperand p = param, sq = square_avg, avg = o.centered ? grad_avg : Tensor(),
                 buf = momentum ? momentum_buffer : Tensor();
  backend_of(param).rmsprop_step(p.view(), view_of(dense_grad), sq.view(), avg.view(), buf.view(), s);
  p.finish(), sq.finish(), avg.finish(), buf.finish();
}

namespace {

// Adam and AdamW: one kernel; they differ in where the weight decay goes.
template <bool Decoupled>
void adam_like_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                      const Tensor& max_exp_avg_sq, const optim::BasicAdamOptions<Decoupled>& o, std::int64_t step) {
  check_update("adam_update_", param, grad,
               {{"exp_avg", exp_avg, true}, {"exp_avg_sq", exp_avg_sq, true},
                {"max_exp_avg_sq", max_exp_avg_sq, o.amsgrad}});
  check_step("adam_update_", step);
  // PyTorch: bias_correction1 = 1 - beta1 ** step, step_size = lr / bias_correction1,
  // bias_correction2_sqrt = math.sqrt(1 - beta2 ** step), all in double.
  const double t = static_cast<double>(step);
  const backend::AdamStep s{.step_size = o.lr / (1 - std::pow(o.betas.first, t)),
                            .bias_correction2_sqrt = std::sqrt(1 - std::pow(o.betas.second, t)),
                            .beta1 = o.betas.first,
                            .beta2 = o.betas.second,
                            .eps = o.eps,
                            .weight_decay = Decoupled ? 0 : o.weight_decay,
                            .decay_factor = Decoupled ? 1 - o.lr * o.weight_decay : 1,
                            .amsgrad = o.amsgrad};
  Tensor dense_grad = dense(grad);
  InPlaceOperand p = param, m = exp_avg, v = exp_avg_sq, vmax = o.amsgrad ? max_exp_avg_sq : Tensor();
  backend_of(param).adam_step(p.view(), view_of(dense_grad), m.view(), v.view(), vmax.view(), s);
  p.finish(), m.finish(), v.finish(), vmax.finish();
}

}  // namespace

void adam_update_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                  const Tensor& max_exp_avg_sq, const optim::AdamOptions& options, std::int64_t step) {
  adam_like_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, options, step);
}

void adam_update_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                  const Tensor& max_exp_avg_sq, const optim::AdamWOptions& options, std::int64_t step) {
  adam_like_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, options, step);
}

Tensor norms_of(const std::vector<Tensor>& xs, double p) {
  RECUR_CHECK(!xs.empty(), "norm_of: expected at least one tensor");
  RECUR_CHECK(p > 0, "norm_of: the order p must be positive or infinity, got " << p);
  const Device device = xs[0].device();
  Tensor norms = empty({static_cast<std::int64_t>(xs.size())}, DType::Float64, device);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    check_floating("norm_of", xs[i]);
    RECUR_CHECK(xs[i].device() == device, "norm_of: tensor " << i << " is on " << xs[i].device()
                                                             << " but tensor 0 is on " << device);
    backend_of(norms).norm(view_of(select(norms, 0, static_cast<std::int64_t>(i))), view_of(dense(xs[i])), p);
  }
  return norms;
}

double norm_of(const Tensor& x, double p) { return norms_of({x}, p).item(); }

}  // namespace recur
