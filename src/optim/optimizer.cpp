#include "recur/optim/optimizer.hpp"

#include <cmath>
#include <set>
#include <sstream>

#include "recur/autograd.hpp"
#include "recur/ops.hpp"

namespace recur::optim {
namespace {

std::string group_key(int group, const std::string& what) {
  return "param_groups." + std::to_string(group) + "." + what;
}

std::string state_key(int index, const std::string& what) {
  return "state." + std::to_string(index) + "." + what;
}

bool is_scalar(const Tensor& t) { return t.defined() && t.dim() == 0; }

}  // namespace

Optimizer::Optimizer(const std::vector<std::vector<Tensor>>& groups, int num_buffers) : num_buffers_(num_buffers) {
  group_begin_.push_back(0);
  std::set<const TensorImpl*> seen;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (std::size_t k = 0; k < groups[g].size(); ++k) {
      const Tensor& p = groups[g][k];
      const std::string where = "parameter " + std::to_string(k) + " of group " + std::to_string(g);
      RECUR_CHECK(p.defined(), "optimizer: " << where << " is an undefined tensor");
      RECUR_CHECK(p.dtype() == DType::Float32 || p.dtype() == DType::Float64,
                  "optimizer: " << where << " is " << p.dtype() << " " << p.shape()
                                << "; parameters must be float32 or float64");
      RECUR_CHECK(p.is_leaf(), "optimizer: " << where << " of shape " << p.shape()
                                             << " is not a leaf tensor (it is the result of an op); "
                                                "optimize the leaf it was computed from");
      RECUR_CHECK(seen.insert(&p.impl()).second,
                  "optimizer: " << where << " of shape " << p.shape() << " was already given (in this or an "
                                                                          "earlier group); give each parameter once");
      params_.push_back(p);
    }
    group_begin_.push_back(static_cast<int>(params_.size()));
  }
  RECUR_CHECK(!params_.empty(), "optimizer: got an empty parameter list");
  state_.resize(params_.size());
  for (ParamState& s : state_) s.buffers.resize(num_buffers);
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (int g = 0; g < num_groups(); ++g) {
    for (int i = group_begin_[g]; i < group_begin_[g + 1]; ++i) {
      const Tensor& p = params_[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      RECUR_CHECK(grad.dtype() == p.dtype() && grad.device() == p.device() && grad.shape() == p.shape(),
                  name() << ".step: parameter " << i << " is " << p.dtype() << " " << p.shape() << " on "
                         << p.device() << " but its gradient is " << grad.dtype() << " " << grad.shape() << " on "
                         << grad.device());
      ParamState& s = state_[i];
      // The module was moved or converted (Module::to) after earlier steps: the state
      // follows its parameter, once, as PyTorch's load_state_dict casts it.
      for (Tensor& buffer : s.buffers)
        if (buffer.defined() && (buffer.device() != p.device() || buffer.dtype() != p.dtype()))
          buffer = to(to_dtype(buffer, p.dtype()), p.device());
      ++s.step;
      update(g, p, grad, s);
    }
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const Tensor& p : params_) {
    if (set_to_none) {
      p.zero_grad();
    } else {
      Tensor grad = p.grad();
      if (grad.defined()) zero_(grad);
    }
  }
}

void Optimizer::check_group(int group, const char* method) const {
  RECUR_CHECK(group >= 0 && group < num_groups(), name() << "." << method << ": group " << group
                                                         << " out of range; the optimizer has " << num_groups()
                                                         << " groups");
}

std::vector<Tensor> Optimizer::params(int group) const {
  check_group(group, "params");
  return std::vector<Tensor>(params_.begin() + group_begin_[group], params_.begin() + group_begin_[group + 1]);
}

double Optimizer::lr(int group) const {
  check_group(group, "lr");
  // option_fields only hands out pointers; nothing is written here.
  for (const OptionField& f : const_cast<Optimizer*>(this)->option_fields(group))
    if (std::string(f.name) == "lr") return *f.number;
  RECUR_FAIL(name() << ": no lr option");
}

void Optimizer::set_lr(int group, double lr) {
  check_group(group, "set_lr");
  RECUR_CHECK(std::isfinite(lr) && lr >= 0, name() << ".set_lr: expected a finite lr >= 0, got " << lr);
  for (const OptionField& f : option_fields(group))
    if (std::string(f.name) == "lr") *f.number = lr;
}

TensorMap Optimizer::state_dict() const {
  TensorMap out;
  auto& self = const_cast<Optimizer&>(*this);  // option_fields is only read here
  for (int g = 0; g < num_groups(); ++g) {
    std::vector<std::int64_t> indices;
    for (int i = group_begin_[g]; i < group_begin_[g + 1]; ++i) indices.push_back(i);
    out[group_key(g, "params")] = from_vector(indices);
    for (const OptionField& f : self.option_fields(g)) {
      out[group_key(g, f.name)] = f.number ? scalar_tensor(*f.number, DType::Float64)
                                           : scalar_tensor(*f.flag ? 1 : 0, DType::Int64);
    }
    const std::vector<const char*> names = buffer_names(g);
    for (int i = group_begin_[g]; i < group_begin_[g + 1]; ++i) {
      const ParamState& s = state_[i];
      bool any = s.step > 0;
      for (const Tensor& b : s.buffers) any = any || b.defined();
      if (!any) continue;
      out[state_key(i, "step")] = scalar_tensor(static_cast<double>(s.step), DType::Int64);
      for (int k = 0; k < num_buffers_; ++k)
        if (names[k] && s.buffers[k].defined()) out[state_key(i, names[k])] = clone(s.buffers[k]);
    }
  }
  return out;
}

void Optimizer::load_state_dict(const TensorMap& state) {
  std::vector<std::string> problems;
  std::set<std::string> used;  // keys accounted for; the rest are unexpected
  auto find = [&](const std::string& key) -> const Tensor* {
    auto it = state.find(key);
    if (it == state.end()) {
      problems.push_back("missing key " + key);
      return nullptr;
    }
    used.insert(key);
    return &it->second;
  };
  auto describe = [](const Tensor& t) {
    std::ostringstream os;
    os << t.dtype() << " " << t.shape();
    return os.str();
  };

  int saved_groups = 0;
  while (state.count(group_key(saved_groups, "params"))) ++saved_groups;
  RECUR_CHECK(saved_groups == num_groups(), name() << ".load_state_dict: the state has " << saved_groups
                                                   << " parameter groups, this optimizer has " << num_groups());

  // The options come first: which buffers a parameter has depends on them (amsgrad,
  // centered, momentum). They are applied now and rolled back if anything is wrong.
  std::vector<std::vector<double>> old_numbers(num_groups());
  std::vector<std::vector<bool>> old_flags(num_groups());
  for (int g = 0; g < num_groups(); ++g) {
    const Tensor& indices = state.at(group_key(g, "params"));
    used.insert(group_key(g, "params"));
    if (indices.dim() != 1 || indices.dtype() != DType::Int64 || indices.size(0) != group_size(g))
      problems.push_back(group_key(g, "params") + " is " + describe(indices) + ", but group " + std::to_string(g) +
                         " has " + std::to_string(group_size(g)) + " parameters");
    for (const OptionField& f : option_fields(g)) {
      old_numbers[g].push_back(f.number ? *f.number : 0);
      old_flags[g].push_back(f.flag ? *f.flag : false);
      const std::string key = group_key(g, f.name);
      const Tensor* t = find(key);
      if (!t) continue;
      if (!is_scalar(*t)) {
        problems.push_back(key + " is " + describe(*t) + ", expected a scalar");
        continue;
      }
      const double v = t->item();
      if (f.flag && v != 0 && v != 1) problems.push_back(key + " is " + std::to_string(v) + ", expected 0 or 1");
      else if (f.flag) *f.flag = v != 0;
      else *f.number = v;
    }
  }
  for (int g = 0; g < num_groups(); ++g) {
    try {
      check_options(g);
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }

  // Per-parameter state: absent (a fresh parameter), or a step count and every buffer the
  // group's options use, each of the parameter's shape.
  std::vector<char> has_state(params_.size(), 0);
  std::vector<std::int64_t> steps(params_.size(), 0);
  for (int g = 0; g < num_groups(); ++g) {
    const std::vector<const char*> names = buffer_names(g);
    for (int i = group_begin_[g]; i < group_begin_[g + 1]; ++i) {
      const std::string prefix = "state." + std::to_string(i) + ".";
      auto it = state.lower_bound(prefix);
      if (it == state.end() || it->first.compare(0, prefix.size(), prefix) != 0) continue;
      has_state[i] = 1;
      if (const Tensor* step = find(state_key(i, "step"))) {
        if (!is_scalar(*step) || step->dtype() != DType::Int64 || step->item() < 0)
          problems.push_back(state_key(i, "step") + " is " + describe(*step) + ", expected an int64 scalar >= 0");
        else steps[i] = static_cast<std::int64_t>(step->item());
      }
      for (const char* buffer : names) {
        if (!buffer) continue;
        const Tensor* t = find(state_key(i, buffer));
        if (t && (t->shape() != params_[i].shape() || !is_floating(t->dtype())))
          problems.push_back(state_key(i, buffer) + " is " + describe(*t) + ", but parameter " + std::to_string(i) +
                             " is " + describe(params_[i]));
      }
    }
  }
  for (const auto& entry : state)
    if (!used.count(entry.first)) problems.push_back("unexpected key " + entry.first);

  if (!problems.empty()) {
    for (int g = 0; g < num_groups(); ++g) {
      std::vector<OptionField> fields = option_fields(g);
      for (std::size_t k = 0; k < fields.size(); ++k) {
        if (fields[k].flag) *fields[k].flag = old_flags[g][k];
        else *fields[k].number = old_numbers[g][k];
      }
    }
    std::ostringstream os;
    os << name() << ".load_state_dict: the state does not fit this optimizer (" << problems.size() << " problem"
       << (problems.size() == 1 ? "" : "s") << "):";
    for (const std::string& p : problems) os << "\n  " << p;
    RECUR_FAIL(os.str());
  }

  // Everything checked: take the state, as copies in each parameter's dtype.
  for (int g = 0; g < num_groups(); ++g) {
    const std::vector<const char*> names = buffer_names(g);
    for (int i = group_begin_[g]; i < group_begin_[g + 1]; ++i) {
      ParamState& s = state_[i];
      s.step = steps[i];
      for (int k = 0; k < num_buffers_; ++k) {
        s.buffers[k] = Tensor();
        if (!has_state[i] || !names[k]) continue;
        Tensor buffer = empty(params_[i].shape(), params_[i].dtype(), params_[i].device());
        copy_(buffer, state.at(state_key(i, names[k])));
        s.buffers[k] = buffer;
      }
    }
  }
}

}  // namespace recur::optim
