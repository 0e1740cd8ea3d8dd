// nn::Module: registration, traversal with dotted names, modes, state dicts, printout.

#include "recur/nn/module.hpp"

#include <cstdlib>
#include <set>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#if defined(__GNUG__)
#include <cxxabi.h>
#endif

#include "recur/autograd.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

namespace {

// "float32 [300, 784]": how state-dict messages describe a tensor.
std::string describe(const Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  std::ostringstream os;
  os << t.dtype() << ' ' << t.shape();
  return os.str();
}

// The parameters that are distinct tensors: a tensor registered under two names (tied
// weights) is listed once, under its first name, so an optimizer updates it once.
std::vector<NamedTensor> without_duplicates(std::vector<NamedTensor> all) {
  std::unordered_set<const TensorImpl*> seen;
  std::vector<NamedTensor> unique;
  unique.reserve(all.size());
  for (NamedTensor& entry : all)
    if (seen.insert(&entry.tensor.impl()).second) unique.push_back(std::move(entry));
  return unique;
}

// Indents every line but the first by `spaces` (PyTorch's _addindent).
std::string indent_continuation_lines(const std::string& text, int spaces) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out.append(spaces, ' ');
  }
  return out;
}

// Gives `t` (a leaf) new contents of another dtype while keeping its TensorImpl, so every
// handle to it, in the module and outside, sees the converted tensor (PyTorch's
// `param.data = param.data.to(dtype)`).
void convert_in_place(const Tensor& t, DType dtype) {
  if (!is_floating(t.dtype()) || t.dtype() == dtype) return;
  Tensor converted;
  {
    NoGradGuard no_grad;
    converted = contiguous(to_dtype(t.detach(), dtype));
  }
  TensorImpl& impl = t.impl();
  impl.storage = converted.storage();
  impl.shape = converted.shape();
  impl.strides = converted.strides();
  impl.offset = converted.offset();
  impl.dtype = dtype;
  t.zero_grad();  // a gradient of the old dtype cannot be accumulated into
}

// Moves `t` (a leaf) to `device` while keeping its TensorImpl, as convert_in_place does for
// dtypes; a gradient moves with it (PyTorch's module.to(device)).
void move_in_place(const Tensor& t, Device device) {
  if (t.device() == device) return;
  Tensor moved, grad;
  {
    NoGradGuard no_grad;
    moved = recur::to(t.detach(), device);
    if (t.grad().defined()) grad = recur::to(t.grad().detach(), device);
  }
  TensorImpl& impl = t.impl();
  impl.storage = moved.storage();
  impl.shape = moved.shape();
  impl.strides = moved.strides();
  impl.offset = moved.offset();
  t.set_grad(grad);
}

thread_local Device current_parameter_device = Device::cpu();

}  // namespace

Device parameter_device() { return current_parameter_device; }

ParameterDevice::ParameterDevice(Device device) : previous_(current_parameter_device) {
  (void)allocator_for(device);  // an Error naming the device if this build lacks its backend
  current_parameter_device = device;
}

ParameterDevice::~ParameterDevice() { current_parameter_device = previous_; }

std::string Module::type_name() const {
  std::string name = typeid(*this).name();
#if defined(__GNUG__)
  int status = 0;
  char* demangled = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status == 0 && demangled) name = demangled;
  std::free(demangled);
#endif
  // Keep what follows the last "::" outside template arguments: "recur::nn::Linear" and
  // "(anonymous namespace)::Net" become "Linear" and "Net".
  for (const char* prefix : {"class ", "struct "})
    if (name.rfind(prefix, 0) == 0) name.erase(0, std::string(prefix).size());
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i + 1 < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    if (name[i] == '>') --depth;
    if (depth == 0 && name[i] == ':' && name[i + 1] == ':') start = i + 2;
  }
  return name.substr(start);
}

Tensor Module::forward(const Tensor&) {
  RECUR_FAIL(type_name() << ": this module has no forward(const Tensor&); call the forward it declares, "
                            "or override forward(const Tensor&) to chain it in a Sequential");
}

// ---------------------------------------------------------------- registration

void Module::check_new_name(const char* what, const std::string& name) const {
  RECUR_CHECK(!name.empty(), type_name() << "." << what << ": the name is empty");
  RECUR_CHECK(name.find('.') == std::string::npos,
              type_name() << "." << what << ": name \"" << name
                          << "\" contains '.', which separates the levels of dotted names");
  auto used_in = [&](const auto& entries) {
    for (const auto& entry : entries)
      if (entry.name == name) return true;
    return false;
  };
  RECUR_CHECK(!used_in(parameters_) && !used_in(buffers_) && !used_in(children_),
              type_name() << "." << what << ": name \"" << name
                          << "\" is already used by a parameter, buffer or submodule of this module");
}

Tensor Module::register_parameter(const std::string& name, const Tensor& tensor, bool requires_grad) {
  check_new_name("register_parameter", name);
  RECUR_CHECK(tensor.defined(), type_name() << ".register_parameter(\"" << name << "\"): the tensor is undefined");
  RECUR_CHECK(is_floating(tensor.dtype()), type_name()
                                               << ".register_parameter(\"" << name
                                               << "\"): parameters are floating, this tensor is " << tensor.dtype());
  RECUR_CHECK(tensor.is_leaf(), type_name() << ".register_parameter(\"" << name
                                            << "\"): the tensor is the result of an op; register a leaf "
                                               "(for example its detach())");
  tensor.set_requires_grad(requires_grad);
  parameters_.push_back({name, tensor});
  return tensor;
}

Tensor Module::replace_parameter(const std::string& name, const Tensor& tensor) {
  for (NamedTensor& entry : parameters_) {
    if (entry.name != name) continue;
    RECUR_CHECK(tensor.defined() && is_floating(tensor.dtype()) && tensor.is_leaf(),
                type_name() << ".replace_parameter(\"" << name << "\"): needs a floating leaf tensor");
    RECUR_CHECK(tensor.shape() == entry.tensor.shape(), type_name() << ".replace_parameter(\"" << name << "\"): shape "
                                                                    << tensor.shape() << " differs from "
                                                                    << entry.tensor.shape());
    entry.tensor = tensor;
    return tensor;
  }
  RECUR_FAIL(type_name() << ".replace_parameter: no parameter is named \"" << name << "\"");
}

Tensor Module::register_buffer(const std::string& name, const Tensor& tensor) {
  check_new_name("register_buffer", name);
  RECUR_CHECK(tensor.defined(), type_name() << ".register_buffer(\"" << name << "\"): the tensor is undefined");
  buffers_.push_back({name, tensor});
  return tensor;
}

void Module::add_module(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name("register_module", name);
  RECUR_CHECK(module, type_name() << ".register_module(\"" << name << "\"): the module is null");
  RECUR_CHECK(module.get() != this,
              type_name() << ".register_module(\"" << name << "\"): a module cannot be its own submodule");
  children_.push_back({name, std::move(module)});
}

void Module::swap_module(const std::string& name, std::shared_ptr<Module> module) {
  RECUR_CHECK(module, type_name() << ".replace_module(\"" << name << "\"): the module is null");
  for (NamedModule& child : children_)
    if (child.name == name) {
      child.module = std::move(module);
      return;
    }
  RECUR_FAIL(type_name() << ".replace_module: no submodule is named \"" << name << "\"");
}

// ---------------------------------------------------------------- traversal

void Module::collect_named(bool want_parameters, bool recurse, const std::string& prefix,
                           std::vector<NamedTensor>& out) const {
  for (const NamedTensor& entry : want_parameters ? parameters_ : buffers_)
    out.push_back({prefix + entry.name, entry.tensor});
  if (!recurse) return;
  for (const NamedModule& child : children_)
    child.module->collect_named(want_parameters, true, prefix + child.name + ".", out);
}

std::vector<NamedTensor> Module::named_parameters(bool recurse) const {
  std::vector<NamedTensor> all;
  collect_named(true, recurse, "", all);
  return without_duplicates(std::move(all));
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> tensors;
  for (NamedTensor& entry : named_parameters(recurse)) tensors.push_back(std::move(entry.tensor));
  return tensors;
}

std::vector<NamedTensor> Module::named_buffers(bool recurse) const {
  std::vector<NamedTensor> all;
  collect_named(false, recurse, "", all);
  return without_duplicates(std::move(all));
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> tensors;
  for (NamedTensor& entry : named_buffers(recurse)) tensors.push_back(std::move(entry.tensor));
  return tensors;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> modules;
  for (const NamedModule& child : children_) modules.push_back(child.module);
  return modules;
}

void Module::collect_modules(const std::string& prefix, std::vector<NamedModule>& out) {
  for (const NamedModule& child : children_) {
    // A module shared by two parents is listed once, as in PyTorch.
    bool seen = false;
    for (const NamedModule& entry : out) seen = seen || entry.module == child.module;
    if (seen) continue;
    std::string name = prefix + child.name;
    out.push_back({name, child.module});
    child.module->collect_modules(name + ".", out);
  }
}

std::vector<NamedModule> Module::named_modules() {
  std::shared_ptr<Module> self = weak_from_this().lock();
  RECUR_CHECK(self, type_name() << ".named_modules: this module is not held by a std::shared_ptr; "
                                   "create it with std::make_shared");
  std::vector<NamedModule> out{{"", self}};
  collect_modules("", out);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules() {
  std::vector<std::shared_ptr<Module>> out;
  for (NamedModule& entry : named_modules()) out.push_back(std::move(entry.module));
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const NamedModule& child : children_) child.module->apply(fn);
  fn(*this);
}

// ---------------------------------------------------------------- modes and gradients

void Module::train(bool on) {
  training_ = on;
  for (const NamedModule& child : children_) child.module->train(on);
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.zero_grad();
}

void Module::requires_grad_(bool requires_grad) {
  for (const Tensor& p : parameters()) p.set_requires_grad(requires_grad);
}

std::int64_t Module::num_parameters(bool trainable_only) const {
  std::int64_t count = 0;
  for (const Tensor& p : parameters())
    if (!trainable_only || p.requires_grad()) count += p.numel();
  return count;
}

void Module::to(DType dtype) {
  RECUR_CHECK(is_floating(dtype), type_name()
                                      << ".to: parameters and buffers are floating; cannot convert them to " << dtype);
  for (const Tensor& p : parameters()) convert_in_place(p, dtype);
  for (const Tensor& b : buffers()) convert_in_place(b, dtype);
}

void Module::to(Device device) {
  (void)allocator_for(device);  // an Error naming the device if this build lacks its backend
  for (const Tensor& p : parameters()) move_in_place(p, device);
  for (const Tensor& b : buffers()) move_in_place(b, device);
}

// ---------------------------------------------------------------- state

TensorMap Module::state_dict() const {
  std::vector<NamedTensor> all;
  collect_named(true, true, "", all);
  collect_named(false, true, "", all);
  TensorMap state;
  for (const NamedTensor& entry : all) state[entry.name] = entry.tensor.detach();
  return state;
}

void Module::load_state_dict(const TensorMap& state, bool strict) {
  std::vector<NamedTensor> targets;
  collect_named(true, true, "", targets);
  collect_named(false, true, "", targets);

  // Check everything first, so that a refused load modifies nothing.
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> known;
  for (const NamedTensor& target : targets) {
    known.insert(target.name);
    auto found = state.find(target.name);
    if (found == state.end()) {
      if (strict) missing.push_back(target.name + " (" + describe(target.tensor) + ")");
      continue;
    }
    const Tensor& source = found->second;
    if (!source.defined() || source.shape() != target.tensor.shape() || source.dtype() != target.tensor.dtype())
      mismatched.push_back(target.name + ": the module has " + describe(target.tensor) + ", the state has " +
                           describe(source));
  }
  if (strict)
    for (const auto& [name, source] : state)
      if (!known.count(name)) unexpected.push_back(name + " (" + describe(source) + ")");

  std::size_t problems = missing.size() + unexpected.size() + mismatched.size();
  if (problems > 0) {
    std::ostringstream message;
    message << type_name() << ".load_state_dict" << (strict ? "" : " (non-strict)") << ": " << problems
            << (problems == 1 ? " entry does" : " entries do") << " not match; nothing was loaded";
    for (const std::string& line : missing) message << "\n  missing: " << line;
    for (const std::string& line : unexpected) message << "\n  unexpected: " << line;
    for (const std::string& line : mismatched) message << "\n  wrong shape or dtype: " << line;
    throw Error(message.str());
  }

  NoGradGuard no_grad;
  for (const NamedTensor& target : targets) {
    auto found = state.find(target.name);
    if (found != state.end()) copy_(target.tensor, found->second);  // across devices if need be
  }
}

// ---------------------------------------------------------------- printout

std::string Module::str() const {
  std::vector<std::string> extra_lines;
  std::string extra = extra_repr();
  if (!extra.empty()) {
    std::istringstream lines(extra);
    for (std::string line; std::getline(lines, line);) extra_lines.push_back(line);
  }
  std::vector<std::string> lines = extra_lines;
  for (const NamedModule& child : children_)
    lines.push_back("(" + child.name + "): " + indent_continuation_lines(child.module->str(), 2));

  std::string out = type_name() + "(";
  if (extra_lines.size() == 1 && children_.empty()) {
    out += extra_lines[0];
  } else if (!lines.empty()) {
    for (const std::string& line : lines) out += "\n  " + line;
    out += "\n";
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Module& module) { return os << module.str(); }

}  // namespace recur::nn
