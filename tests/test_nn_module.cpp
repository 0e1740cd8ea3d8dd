// nn::Module: registration and dotted names, traversal order, modes, freezing, gradients,
// state_dict / load_state_dict (round trip, strict errors listing every offender, nothing
// modified on failure), to(DType), printout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using testing::ElementsAre;
using testing::HasSubstr;

namespace {

// A small model in the shape of a real one: a body (Sequential) and a head, a parameter of
// its own and an integer buffer.
struct Net : nn::Module {
  Tensor scale, steps;
  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> head;

  Net() {
    features = register_module(
        "features", std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::Tanh>()));
    head = register_module("head", std::make_shared<nn::Linear>(3, 2));
    scale = register_parameter("scale", ones({1}));
    steps = register_buffer("steps", zeros({}, DType::Int64));
  }
  Tensor forward(const Tensor& x) override { return head->forward(features->forward(x)) * scale; }
};

// A module with no single-tensor forward.
struct Pair : nn::Module {};

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace

// ------------------------------------------------------------------ registration and names

TEST(Module, DottedNamesInRegistrationOrder) {
  auto net = std::make_shared<Net>();
  EXPECT_THAT(names_of(net->named_parameters()),
              ElementsAre("scale", "features.0.weight", "features.0.bias", "head.weight", "head.bias"));
  EXPECT_THAT(names_of(net->named_parameters(/*recurse=*/false)), ElementsAre("scale"));
  EXPECT_THAT(names_of(net->named_buffers()), ElementsAre("steps"));
  ASSERT_EQ(net->parameters().size(), 5u);
  EXPECT_TRUE(net->parameters()[3].is_same(net->head->weight));
  ASSERT_EQ(net->buffers().size(), 1u);
  EXPECT_TRUE(net->buffers()[0].is_same(net->steps));

  std::vector<std::string> module_names;
  for (const nn::NamedModule& entry : net->named_modules()) module_names.push_back(entry.name);
  EXPECT_THAT(module_names, ElementsAre("", "features", "features.0", "features.1", "head"));
  EXPECT_EQ(net->modules()[0].get(), net.get());
  ASSERT_EQ(net->children().size(), 2u);
  EXPECT_EQ(net->children()[1], net->head);
  EXPECT_EQ(net->named_children()[0].name, "features");
}

TEST(Module, RegistrationMarksParametersAndReturnsTheHandles) {
  auto net = std::make_shared<Net>();
  for (const Tensor& p : net->parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_FALSE(net->steps.requires_grad());

  nn::Module m;
  Tensor w = zeros({2});
  EXPECT_TRUE(m.register_parameter("w", w).is_same(w));
  Tensor frozen = m.register_parameter("frozen", zeros({2}), /*requires_grad=*/false);
  EXPECT_FALSE(frozen.requires_grad());
  EXPECT_EQ(m.num_parameters(), 4);
  EXPECT_EQ(m.num_parameters(/*trainable_only=*/true), 2);
}

TEST(Module, TypeNameIsTheClassName) {
  EXPECT_EQ(Net().type_name(), "Net");
  EXPECT_EQ(nn::Linear(2, 3).type_name(), "Linear");
  EXPECT_EQ(nn::Sequential().type_name(), "Sequential");
}

TEST(Module, BadRegistrationsAreErrors) {
  Net net;
  expect_error([&] { net.register_parameter("scale", zeros({1})); },
               {"Net.register_parameter", "\"scale\"", "already used"});
  expect_error([&] { net.register_buffer("head", zeros({1})); }, {"Net.register_buffer", "\"head\"", "already used"});
  expect_error([&] { net.register_module("steps", std::make_shared<nn::ReLU>()); }, {"\"steps\"", "already used"});
  expect_error([&] { net.register_parameter("a.b", zeros({1})); }, {"\"a.b\"", "contains '.'"});
  expect_error([&] { net.register_parameter("", zeros({1})); }, {"the name is empty"});
  expect_error([&] { net.register_parameter("ids", zeros({1}, DType::Int64)); }, {"\"ids\"", "floating", "int64"});
  expect_error([&] { net.register_parameter("u", Tensor()); }, {"\"u\"", "undefined"});
  expect_error([&] { net.register_module("none", std::shared_ptr<nn::ReLU>()); }, {"\"none\"", "null"});
  Tensor leaf = ones({2});
  leaf.set_requires_grad();
  expect_error([&] { net.register_parameter("derived", leaf * 2.0); }, {"\"derived\"", "leaf"});
}

TEST(Module, NamedModulesNeedsASharedPtr) {
  Net net;  // on the stack
  expect_error([&] { net.named_modules(); }, {"Net.named_modules", "std::make_shared"});
}

TEST(Module, DefaultForwardNamesTheModule) {
  auto pair = std::make_shared<Pair>();
  expect_error([&] { pair->forward(zeros({1})); }, {"Pair", "no forward(const Tensor&)"});
  nn::Sequential seq(std::make_shared<nn::ReLU>(), pair);
  expect_error([&] { seq.forward(zeros({1})); }, {"Pair", "no forward(const Tensor&)"});
}

TEST(Module, TiedParametersAreListedOnce) {
  auto a = std::make_shared<nn::Linear>(3, 3, false);
  nn::Module model;
  model.register_module("encoder", a);
  model.register_module("decoder", a);  // the same module twice: weight tying
  EXPECT_THAT(names_of(model.named_parameters()), ElementsAre("encoder.weight"));
  EXPECT_EQ(model.num_parameters(), 9);
  TensorMap state = model.state_dict();  // every name, as PyTorch
  EXPECT_EQ(state.size(), 2u);
  EXPECT_TRUE(state.count("decoder.weight"));
}

TEST(Module, ApplyVisitsEveryModuleChildrenFirst) {
  auto net = std::make_shared<Net>();
  std::vector<std::string> visited;
  net->apply([&](nn::Module& m) { visited.push_back(m.type_name()); });
  EXPECT_THAT(visited, ElementsAre("Linear", "Tanh", "Sequential", "Linear", "Net"));
  // The typical use: re-initialise every Linear.
  net->apply([](nn::Module& m) {
    if (auto* fc = dynamic_cast<nn::Linear*>(&m)) nn::init::zeros_(fc->weight);
  });
  EXPECT_EQ(sum(abs(net->head->weight)).item(), 0);
}

TEST(Module, ReplaceModuleKeepsThePosition) {
  auto net = std::make_shared<Net>();
  auto new_head = net->replace_module("head", std::make_shared<nn::Linear>(3, 5));
  EXPECT_EQ(new_head->out_features, 5);
  EXPECT_THAT(names_of(net->named_parameters()),
              ElementsAre("scale", "features.0.weight", "features.0.bias", "head.weight", "head.bias"));
  EXPECT_EQ(net->named_parameters()[3].tensor.shape(), (Shape{5, 3}));
  expect_error([&] { net->replace_module("tail", std::make_shared<nn::ReLU>()); }, {"no submodule", "\"tail\""});
}

TEST(Module, ReplaceParameterTiesWeightsInPlace) {
  auto encoder = std::make_shared<nn::Linear>(3, 3, false);
  auto decoder = std::make_shared<nn::Linear>(3, 3);
  nn::Module model;
  model.register_module("encoder", encoder);
  model.register_module("decoder", decoder);
  decoder->weight = decoder->replace_parameter("weight", encoder->weight);
  EXPECT_THAT(names_of(model.named_parameters()), ElementsAre("encoder.weight", "decoder.bias"));
  EXPECT_EQ(model.state_dict().size(), 3u);
  EXPECT_EQ(&decoder->named_parameters()[0].tensor.impl(), &encoder->weight.impl());
  expect_error([&] { decoder->replace_parameter("bias", encoder->weight); }, {"shape", "[3, 3]", "[3]"});
  expect_error([&] { decoder->replace_parameter("scale", encoder->weight); }, {"no parameter", "\"scale\""});
}

// ------------------------------------------------------------------ modes, gradients, freezing

TEST(Module, TrainAndEvalReachEverySubmodule) {
  auto dropout = std::make_shared<nn::Dropout>(0.5);
  auto body = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(8, 8), dropout);
  nn::Sequential model(body, std::make_shared<nn::ReLU>());
  EXPECT_TRUE(model.is_training());
  EXPECT_TRUE(dropout->is_training());

  Tensor x = ones({4, 8});
  model.eval();
  EXPECT_FALSE(model.is_training());
  EXPECT_FALSE(body->is_training());
  EXPECT_FALSE(dropout->is_training());
  EXPECT_EQ(values(dropout->forward(x)), values(x));              // inactive
  EXPECT_EQ(values(model.forward(x)), values(model.forward(x)));  // deterministic

  model.train();
  EXPECT_TRUE(dropout->is_training());
  std::vector<double> y = values(dropout->forward(x));
  int zeros_count = 0;
  for (double v : y) zeros_count += v == 0;
  EXPECT_GT(zeros_count, 0);  // active: some of the 32 elements dropped (seeded: deterministic)
  EXPECT_LT(zeros_count, 32);
}

// EvalModeGuard: eval mode for its scope, then the mode the module had, also when the scope
// ends with an error.
TEST(Module, EvalModeGuardGivesBackTheModeOnEveryExit) {
  auto dropout = std::make_shared<nn::Dropout>(0.5);
  nn::Sequential model(std::make_shared<nn::Linear>(2, 2), dropout);
  {
    const nn::EvalModeGuard eval_mode(model);
    EXPECT_FALSE(dropout->is_training());
  }
  EXPECT_TRUE(dropout->is_training());
  EXPECT_THROW(
      {
        const nn::EvalModeGuard eval_mode(model);
        throw Error("an evaluation that fails");
      },
      Error);
  EXPECT_TRUE(model.is_training());
  EXPECT_TRUE(dropout->is_training());
  model.eval();
  { const nn::EvalModeGuard eval_mode(model); }
  EXPECT_FALSE(model.is_training());  // a module in eval mode stays there
}

TEST(Module, ZeroGradDropsEveryGradient) {
  auto net = std::make_shared<Net>();
  sum(net->forward(ones({2, 4}))).backward();
  for (const Tensor& p : net->parameters()) EXPECT_TRUE(p.grad().defined());
  net->zero_grad();
  for (const Tensor& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, FreezingABodyLeavesOnlyTheHeadTrainable) {
  auto net = std::make_shared<Net>();
  net->features->requires_grad_(false);
  EXPECT_EQ(net->num_parameters(), 1 + 4 * 3 + 3 + 3 * 2 + 2);
  EXPECT_EQ(net->num_parameters(/*trainable_only=*/true), 1 + 3 * 2 + 2);

  sum(net->forward(ones({2, 4}))).backward();
  EXPECT_FALSE(net->features->at<nn::Linear>(0)->weight.grad().defined());
  EXPECT_FALSE(net->features->at<nn::Linear>(0)->bias.grad().defined());
  EXPECT_TRUE(net->head->weight.grad().defined());
  EXPECT_TRUE(net->scale.grad().defined());

  net->requires_grad_(true);
  EXPECT_EQ(net->num_parameters(true), net->num_parameters());
}

// ------------------------------------------------------------------ state_dict and load_state_dict

TEST(Module, StateDictHoldsDetachedAliasesOfEveryParameterAndBuffer) {
  auto net = std::make_shared<Net>();
  TensorMap state = net->state_dict();
  std::vector<std::string> names;
  for (const auto& [name, t] : state) names.push_back(name);
  EXPECT_THAT(names, ElementsAre("features.0.bias", "features.0.weight", "head.bias", "head.weight", "scale", "steps"));
  EXPECT_FALSE(state["head.weight"].requires_grad());
  EXPECT_EQ(state["head.weight"].storage().get(), net->head->weight.storage().get());
  EXPECT_EQ(state["steps"].dtype(), DType::Int64);
}

TEST(Module, LoadStateDictRoundTrip) {
  manual_seed(1);
  auto a = std::make_shared<Net>();
  manual_seed(2);
  auto b = std::make_shared<Net>();
  Tensor x = uniform({3, 4}, -1, 1);
  EXPECT_NE(values(a->forward(x)), values(b->forward(x)));

  Tensor b_weight = b->head->weight;  // e.g. held by an optimizer
  b->load_state_dict(a->state_dict());
  EXPECT_EQ(values(a->forward(x)), values(b->forward(x)));
  EXPECT_TRUE(b->head->weight.is_same(b_weight));  // copied into, not replaced
  EXPECT_TRUE(b->head->weight.requires_grad());
  EXPECT_TRUE(b->head->weight.is_leaf());
  // The copy is a copy: changing a afterwards leaves b alone.
  nn::init::zeros_(a->head->weight);
  EXPECT_NE(values(a->head->weight), values(b->head->weight));
}

TEST(Module, StrictLoadListsEveryOffenderAndModifiesNothing) {
  auto net = std::make_shared<Net>();
  TensorMap state = net->state_dict();
  for (auto& [name, t] : state) state[name] = clone(t);
  state.erase("head.bias");                          // missing
  state.erase("steps");                              // missing buffer
  state["head.gain"] = ones({2});                    // unexpected
  state["features.0.weight"] = zeros({4, 3});        // wrong shape (3, 4 expected)
  state["scale"] = zeros({1}, DType::Float64);       // wrong dtype
  nn::init::constant_(state["features.0.bias"], 7);  // a good entry, must not load

  TensorMap before = net->state_dict();
  for (auto& [name, t] : before) before[name] = clone(t);
  try {
    net->load_state_dict(state);
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_THAT(message, HasSubstr("Net.load_state_dict: 5 entries do not match; nothing was loaded"));
    EXPECT_THAT(message, HasSubstr("missing: head.bias (float32 [2])"));
    EXPECT_THAT(message, HasSubstr("missing: steps (int64 [])"));
    EXPECT_THAT(message, HasSubstr("unexpected: head.gain (float32 [2])"));
    EXPECT_THAT(
        message,
        HasSubstr(
            "wrong shape or dtype: features.0.weight: the module has float32 [3, 4], the state has float32 [4, 3]"));
    EXPECT_THAT(message,
                HasSubstr("wrong shape or dtype: scale: the module has float32 [1], the state has float64 [1]"));
  }
  for (const auto& [name, t] : net->state_dict()) EXPECT_EQ(values(t), values(before[name])) << name;
}

TEST(Module, NonStrictLoadSkipsMissingAndUnexpectedButNotWrongShapes) {
  manual_seed(3);
  auto source = std::make_shared<Net>();
  auto net = std::make_shared<Net>();
  TensorMap state = source->state_dict();
  state.erase("head.bias");
  state["extra"] = ones({3});
  net->load_state_dict(state, /*strict=*/false);
  EXPECT_EQ(values(net->head->weight), values(source->head->weight));
  EXPECT_NE(values(net->head->bias), values(source->head->bias));  // skipped

  expect_error([&] { net->load_state_dict(state); }, {"missing: head.bias", "unexpected: extra"});
  state["head.weight"] = zeros({3, 2});
  expect_error([&] { net->load_state_dict(state, false); },
               {"Net.load_state_dict (non-strict): 1 entry does not match", "head.weight", "[2, 3]", "[3, 2]"});
}

// ------------------------------------------------------------------ to(DType)

TEST(Module, ToConvertsFloatingTensorsInPlace) {
  auto net = std::make_shared<Net>();
  Tensor x = uniform({2, 4}, -1, 1);
  std::vector<double> y32 = values(net->forward(x));
  Tensor held = net->head->weight;  // a handle held outside, as an optimizer does
  sum(net->forward(x)).backward();

  net->to(DType::Float64);
  for (const Tensor& p : net->parameters()) {
    EXPECT_EQ(p.dtype(), DType::Float64);
    EXPECT_TRUE(p.requires_grad());
    EXPECT_FALSE(p.grad().defined());  // a float32 gradient would not fit
  }
  EXPECT_EQ(held.dtype(), DType::Float64);
  EXPECT_EQ(net->steps.dtype(), DType::Int64);  // integer buffers stay
  std::vector<double> y64 = values(net->forward(to_dtype(x, DType::Float64)));
  for (std::size_t i = 0; i < y32.size(); ++i) EXPECT_NEAR(y64[i], y32[i], 1e-6);
  sum(net->forward(to_dtype(x, DType::Float64))).backward();
  EXPECT_EQ(held.grad().dtype(), DType::Float64);

  expect_error([&] { net->to(DType::Int64); }, {"Net.to", "int64"});
}

// ------------------------------------------------------------------ printout

TEST(Module, PrintoutLooksLikePyTorch) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(net->str(),
            "Net(\n"
            "  (features): Sequential(\n"
            "    (0): Linear(in_features=4, out_features=3, bias=true)\n"
            "    (1): Tanh()\n"
            "  )\n"
            "  (head): Linear(in_features=3, out_features=2, bias=true)\n"
            ")");
  std::ostringstream os;
  os << *net->head;
  EXPECT_EQ(os.str(), "Linear(in_features=3, out_features=2, bias=true)");
  EXPECT_EQ(Pair().str(), "Pair()");
}

TEST(Module, PrintoutPutsExtraReprAboveChildren) {
  struct Scaled : nn::Module {
    Scaled() { register_module("inner", std::make_shared<nn::ReLU>()); }
    std::string extra_repr() const override { return "factor=2"; }
  };
  EXPECT_EQ(Scaled().str(), "Scaled(\n  factor=2\n  (inner): ReLU()\n)");
}
