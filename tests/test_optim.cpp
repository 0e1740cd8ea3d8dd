// Optimizers: 1 and 10 steps of every configuration against PyTorch 1.13, parameter groups,
// frozen parameters, state_dict round trips, the fused update ops, and bad input.
//
// Reference values come from tests/reference/optim_reference.py (run with /usr/bin/python3
// and Debian's python3-torch), which prints them in the order pasted here. The setup:
// float32 parameters P0 (2, 3) and P1 (4,) start at kP0 and kP1; the gradient at step k
// (k = 0, 1, ...) is float32(G * (1 - 0.25 k) + 0.01 k), computed in float64 and rounded
// once, so it shrinks, passes zero and flips sign within the ten steps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using namespace recur::optim;

namespace {

using Params = std::vector<Tensor>;

const std::vector<double> kP0 = {0.5, -1.25, 2.0, -0.75, 1.5, -3.0};
const std::vector<double> kP1 = {0.1, -0.2, 0.3, 4.0};
const std::vector<double> kG0 = {0.3, -0.6, 0.9, 1.2, -0.15, 0.45};
const std::vector<double> kG1 = {-0.5, 0.25, 2.0, -1.0};

Tensor leaf(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor t = to_dtype(from_vector(values, shape), dtype);
  t.set_requires_grad();
  return t;
}

Params make_params(DType dtype = DType::Float32) { return {leaf(kP0, {2, 3}, dtype), leaf(kP1, {4}, dtype)}; }

// The gradient of step k, in the parameter's dtype.
Tensor grad_at(const std::vector<double>& base, const Shape& shape, int k, DType dtype) {
  std::vector<double> g;
  for (double b : base) g.push_back(b * (1 - 0.25 * k) + 0.01 * k);
  return to_dtype(from_vector(g, shape), dtype);
}

void set_grads(const Params& p, int k, bool skip_p1 = false) {
  p[0].set_grad(grad_at(kG0, {2, 3}, k, p[0].dtype()));
  p[1].set_grad(skip_p1 ? Tensor() : grad_at(kG1, {4}, k, p[1].dtype()));
}

std::vector<double> flat(const Params& p) {
  std::vector<double> out = p[0].to_vector<double>();
  for (double v : p[1].to_vector<double>()) out.push_back(v);
  return out;
}

// Float32 results against PyTorch's, printed to 9 significant digits (enough to identify a
// float32 exactly): the fused updates round like PyTorch's kernels, so the floats are equal.
void expect_same_floats(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(static_cast<float>(got[i]), static_cast<float>(want[i])) << "element " << i;
}

using Factory = std::function<std::unique_ptr<Optimizer>(const Params&)>;

std::vector<double> run(const Factory& make, int steps, DType dtype = DType::Float32) {
  Params p = make_params(dtype);
  std::unique_ptr<Optimizer> opt = make(p);
  for (int k = 0; k < steps; ++k) {
    set_grads(p, k);
    opt->step();
  }
  return flat(p);
}

struct Case {
  const char* name;
  Factory make;
  std::vector<double> after_1, after_10;
};

// P0 then P1 after 1 and after 10 steps, from PyTorch.
const std::vector<Case> kCases = {
    {"SGD plain",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.1}); },
     {0.469999999, -1.18999994, 1.90999997, -0.870000005, 1.51499999, -3.04500008, 0.150000006, -0.225000009, 0.100000009, 4.0999999},
     {0.492500007, -1.36999989, 2.06749988, -0.644999981, 1.43624997, -2.98874998, -0.00749998027, -0.21375002, 0.504999995, 3.82999897}},
    {"SGD weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.1, .weight_decay = 0.1}); },
     {0.465000004, -1.17750001, 1.88999999, -0.862500012, 1.5, -3.0150001, 0.149000004, -0.223000005, 0.0970000103, 4.05999994},
     {0.450172126, -1.25790191, 1.89034891, -0.554899991, 1.29185128, -2.69426417, -0.0230522919, -0.189862266, 0.506172836, 3.43436766}},
    {"SGD momentum",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.1, .momentum = 0.9}); },
     {0.469999999, -1.18999994, 1.90999997, -0.870000005, 1.51499999, -3.04500008, 0.150000006, -0.225000009, 0.100000009, 4.0999999},
     {0.14379935, -0.946166813, 1.20377672, -1.76623452, 1.47381616, -3.46620607, 0.330496013, -0.519532204, -1.30293083, 4.59718132}},
    {"SGD momentum dampening",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.5}); },
     {0.469999999, -1.18999994, 1.90999997, -0.870000005, 1.51499999, -3.04500008, 0.150000006, -0.225000009, 0.100000009, 4.0999999},
     {0.224201411, -0.902687013, 1.30879378, -1.64891016, 1.53575718, -3.37965012, 0.378078401, -0.441181242, -1.15278685, 4.62425137}},
    {"SGD nesterov",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true}); },
     {0.442999989, -1.13600004, 1.829, -0.977999985, 1.52849996, -3.0855, 0.195000008, -0.247500002, -0.0799999908, 4.19000006},
     {0.171919391, -1.09655023, 1.3508991, -1.55961084, 1.41268456, -3.40833569, 0.199946448, -0.501328886, -0.937637627, 4.36746359}},
    {"SGD nesterov weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true}); },
     {0.468499988, -1.18474996, 1.90100002, -0.851249993, 1.5, -3.01349998, 0.14410001, -0.220700011, 0.117300004, 4.0539999},
     {0.338690817, -1.08352506, 1.56387281, -0.732436419, 1.18592215, -2.57558203, 0.0348977521, -0.241298482, 0.111581162, 3.29415154}},
    {"Adagrad default",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adagrad>(p); },
     {0.49000001, -1.24000001, 1.99000001, -0.75999999, 1.50999999, -3.00999999, 0.109999999, -0.210000008, 0.290000021, 4.01000023},
     {0.491389036, -1.25200033, 1.99642074, -0.752985656, 1.48977649, -3.00603247, 0.0973821282, -0.210214451, 0.297715962, 3.99926805}},
    {"Adagrad lr_decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adagrad>(p, AdagradOptions{.lr = 0.1, .lr_decay = 0.05}); },
     {0.400000006, -1.14999998, 1.89999998, -0.850000024, 1.60000002, -3.0999999, 0.200000003, -0.300000012, 0.200000018, 4.0999999},
     {0.383712262, -1.21724427, 1.92303145, -0.822297931, 1.46620405, -3.09620142, 0.127817228, -0.328720659, 0.233233482, 4.0428648}},
    {"Adagrad weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adagrad>(p, AdagradOptions{.lr = 0.1, .weight_decay = 0.1}); },
     {0.400000006, -1.14999998, 1.89999998, -0.850000024, 1.59738588, -3.0999999, 0.200000003, -0.300000012, 0.200000018, 4.0999999},
     {0.367907524, -1.18676257, 1.87153161, -0.739864111, 0.970331073, -2.62295151, 0.0493308194, -0.220814243, 0.273896635, 3.76372147}},
    {"Adagrad initial accumulator eps",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adagrad>(p, AdagradOptions{.lr = 0.1, .initial_accumulator_value = 0.5, .eps = 1e-3}); },
     {0.460994095, -1.18536997, 1.92143524, -0.836093187, 1.52072275, -3.05362558, 0.157668442, -0.233288944, 0.205763519, 4.08158302},
     {0.481618345, -1.29770923, 1.98659098, -0.765294135, 1.42342675, -3.0119853, 0.0440763347, -0.222860307, 0.283190966, 3.97569108}},
    {"Adagrad eps inside sqrt (min-char-rnn)",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adagrad>(p, AdagradOptions{.lr = 0.1, .eps = 1e-8, .eps_inside_sqrt = true}); },
     {0.400000006, -1.14999998, 1.89999998, -0.850000024, 1.60000002, -3.0999999, 0.200000003, -0.300000012, 0.200000018, 4.0999999},
     {0.413889974, -1.27000201, 1.96420789, -0.779857039, 1.39776504, -3.06032848, 0.0738212466, -0.302144349, 0.277159542, 3.99267721}},
    {"RMSprop default",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<RMSprop>(p); },
     {0.400000036, -1.14999998, 1.89999998, -0.850000024, 1.5999999, -3.0999999, 0.199999973, -0.299999952, 0.200000018, 4.0999999},
     {0.41677165, -1.27364218, 1.96755588, -0.776467681, 1.39401305, -3.05718136, 0.0701609701, -0.299457669, 0.280594558, 3.98908567}},
    {"RMSprop alpha eps",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<RMSprop>(p, RMSpropOptions{.lr = 0.02, .alpha = 0.9, .eps = 1e-4}); },
     {0.436821043, -1.18678772, 1.93677664, -0.813228905, 1.5631125, -3.06320119, 0.163205579, -0.263165653, 0.236764461, 4.06322575},
     {0.464921743, -1.28576827, 1.99913204, -0.746914089, 1.41197228, -3.01738691, 0.0602434725, -0.246275246, 0.307740986, 3.97245836}},
    {"RMSprop weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<RMSprop>(p, RMSpropOptions{.weight_decay = 0.1}); },
     {0.400000036, -1.14999998, 1.89999998, -0.850000024, 1.50359154, -3.0999999, 0.199999973, -0.299999952, 0.200000018, 4.0999999},
     {0.370209754, -1.18991232, 1.8738625, -0.736237347, 0.865647018, -2.61985755, 0.0455571376, -0.21727556, 0.277323157, 3.76020527}},
    {"RMSprop momentum",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<RMSprop>(p, RMSpropOptions{.momentum = 0.9}); },
     {0.400000036, -1.14999998, 1.89999998, -0.849999964, 1.5999999, -3.0999999, 0.199999973, -0.299999952, 0.200000018, 4.0999999},
     {-0.61642909, -0.51893723, 1.05986619, -1.66859925, 1.89413083, -4.0274682, 0.806977451, -1.37038934, -0.592929602, 4.77990389}},
    {"RMSprop centered",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<RMSprop>(p, RMSpropOptions{.centered = true}); },
     {0.399496257, -1.1494962, 1.8994962, -0.850503802, 1.60050368, -3.10050368, 0.200503767, -0.300503731, 0.199496239, 4.10050392},
     {0.415135145, -1.27255595, 1.96611965, -0.77787447, 1.39423203, -3.05872416, 0.0711974725, -0.30114764, 0.279224843, 3.99026656}},
    {"RMSprop centered momentum weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<RMSprop>(p, RMSpropOptions{.lr = 0.005, .weight_decay = 0.05, .momentum = 0.5, .centered = true}); },
     {0.449748129, -1.19974816, 1.94974816, -0.800251901, 1.55025184, -3.05025196, 0.15025188, -0.250251859, 0.249748126, 4.05025196},
     {0.351807833, -1.18013442, 1.87505603, -0.807198882, 1.19827259, -2.9115665, 0.112573661, -0.304681808, 0.229680389, 3.93701267}},
    {"Adam default",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adam>(p); },
     {0.499000013, -1.24899995, 1.99899995, -0.750999987, 1.50100005, -3.00099993, 0.101000004, -0.201000005, 0.299000025, 4.00099993},
     {0.494274974, -1.24598539, 1.99506474, -0.754839361, 1.50258482, -3.00532532, 0.103910029, -0.205967918, 0.295274645, 4.00422812}},
    {"Adam betas eps",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adam>(p, AdamOptions{.lr = 0.01, .betas = {0.8, 0.99}, .eps = 1e-4}); },
     {0.490003318, -1.24000168, 1.99000108, -0.759999156, 1.50999331, -3.00999784, 0.109998003, -0.209996, 0.290000498, 4.0099988},
     {0.454856575, -1.22326136, 1.96347511, -0.785495043, 1.51199889, -3.04075384, 0.125642821, -0.247842729, 0.265725672, 4.02898121}},
    {"Adam weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adam>(p, AdamOptions{.lr = 0.01, .weight_decay = 0.1}); },
     {0.49000001, -1.24000001, 1.99000001, -0.75999999, 1.50271416, -3.00999999, 0.109999999, -0.210000008, 0.290000021, 4.01000023},
     {0.432404965, -1.19464731, 1.93529952, -0.792744219, 1.4209429, -2.97491169, 0.136863112, -0.25172165, 0.251657099, 4.00189495}},
    {"Adam amsgrad",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adam>(p, AdamOptions{.lr = 0.01, .amsgrad = true}); },
     {0.49000001, -1.24000001, 1.99000001, -0.75999999, 1.50999999, -3.00999999, 0.109999999, -0.210000008, 0.290000021, 4.01000023},
     {0.442749441, -1.20985448, 1.9506489, -0.798391461, 1.52584898, -3.05325389, 0.139100239, -0.25967893, 0.252749205, 4.04227495}},
    {"Adam amsgrad weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adam>(p, AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true}); },
     {0.49000001, -1.24000001, 1.99000001, -0.75999999, 1.50271416, -3.00999999, 0.109999999, -0.210000008, 0.290000021, 4.01000023},
     {0.432404965, -1.19464731, 1.93530273, -0.792742968, 1.4209429, -2.97491169, 0.136863112, -0.25172165, 0.251658767, 4.00189495}},
    {"AdamW default",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<AdamW>(p); },
     {0.498995006, -1.24898744, 1.99897993, -0.750992477, 1.50098503, -3.00096989, 0.100999005, -0.200998008, 0.298997015, 4.00095987},
     {0.494225293, -1.24586022, 1.99486446, -0.754763901, 1.50243461, -3.00502491, 0.103899695, -0.205947503, 0.295244962, 4.00382757}},
    {"AdamW weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<AdamW>(p, AdamWOptions{.lr = 0.01, .weight_decay = 0.1}); },
     {0.489500016, -1.23874998, 1.98800004, -0.759249985, 1.50849998, -3.00699997, 0.109899998, -0.209800005, 0.289700031, 4.00600004},
     {0.438146114, -1.19774461, 1.93109584, -0.790572286, 1.51062381, -3.02302313, 0.137773514, -0.257308781, 0.25011161, 4.00211573}},
    {"AdamW amsgrad",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<AdamW>(p, AdamWOptions{.lr = 0.01, .betas = {0.85, 0.95}, .amsgrad = true}); },
     {0.489950001, -1.23987496, 1.98979998, -0.759925008, 1.50985003, -3.00970006, 0.109990001, -0.209980011, 0.289970011, 4.00960016},
     {0.448025107, -1.21482456, 1.95465863, -0.791601896, 1.51834345, -3.04434276, 0.132780299, -0.253816545, 0.258528769, 4.03207111}},
};

struct Case64 {
  const char* name;
  Factory make;
  std::vector<double> after_10;
};

// The same runs in float64 (parameters and gradients), from PyTorch.
const std::vector<Case64> kCases64 = {
    {"SGD nesterov weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true}); },
     {0.33869081460366218, -1.0835250958692786, 1.5638728736234926, -0.73243634326422524, 1.1859222770802096, -2.5755818005816171, 0.034897705692330298, -0.24129844507998247, 0.1115810971209527, 3.2941515904942271}},
    {"Adagrad lr_decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adagrad>(p, AdagradOptions{.lr = 0.1, .lr_decay = 0.05}); },
     {0.38371227484479908, -1.2172441637239442, 1.9230315132818259, -0.82229787164934054, 1.466204097911757, -3.0962017446132553, 0.12781725040253228, -0.32872063304953186, 0.23323345576670623, 4.0428651531833069}},
    {"RMSprop centered momentum weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<RMSprop>(p, RMSpropOptions{.lr = 0.005, .weight_decay = 0.05, .momentum = 0.5, .centered = true}); },
     {0.35180789282795655, -1.1801343694722717, 1.8750559277662582, -0.80719886026056031, 1.1982726120465981, -2.911566155567582, 0.11257366924707439, -0.30468178157599674, 0.22968038038872896, 3.9370125577762374}},
    {"Adam amsgrad weight decay",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adam>(p, AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true}); },
     {0.43240492525670476, -1.1946472061145341, 1.9353026572125813, -0.79274298493365625, 1.4182439141773984, -2.9749114992697669, 0.13686312504570933, -0.25172165653413558, 0.25165878732852937, 4.0018951532960507}},
    {"AdamW amsgrad",
     [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<AdamW>(p, AdamWOptions{.lr = 0.01, .betas = {0.85, 0.95}, .amsgrad = true}); },
     {0.44802520866863871, -1.2148250569034309, 1.954658988293785, -0.79160201407672059, 1.5183437803576834, -3.0443431562663772, 0.13278027712008286, -0.253816569935087, 0.25852875341317388, 4.0320723360937851}},
};

}  // namespace

// ------------------------------------------------------------------ against PyTorch

TEST(Optim, EveryConfigurationMatchesPyTorchAfterOneAndTenSteps) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    expect_same_floats(run(c.make, 1), c.after_1);
    expect_same_floats(run(c.make, 10), c.after_10);
  }
}

TEST(Optim, Float64MatchesPyTorch) {
  for (const Case64& c : kCases64) {
    SCOPED_TRACE(c.name);
    expect_allclose(run(c.make, 10, DType::Float64), c.after_10, 1e-15, 0);
  }
}

TEST(Optim, StateFollowsAParameterConvertedAfterSomeSteps) {
  // Module::to after some steps: the state built in float32 is converted at the next step,
  // exactly as a float64 optimizer that loads the float32 state_dict continues the run.
  // Without the conversion the update op refuses the mixed dtypes.
  constexpr int kSteps = 10, kMoveAt = 3;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    auto holder = std::make_shared<nn::Module>();
    Params p = make_params(DType::Float32);
    holder->register_parameter("p0", p[0]);
    holder->register_parameter("p1", p[1]);
    std::unique_ptr<Optimizer> opt = c.make(p);
    for (int k = 0; k < kSteps; ++k) {
      if (k == kMoveAt) holder->to(DType::Float64);
      set_grads(p, k);
      opt->step();
    }
    for (const auto& [name, value] : opt->state_dict()) {
      if (name.starts_with("state.") && !name.ends_with(".step")) {
        EXPECT_EQ(value.dtype(), DType::Float64) << name;
      }
    }

    Params q = make_params(DType::Float32);
    std::unique_ptr<Optimizer> first = c.make(q);
    for (int k = 0; k < kMoveAt; ++k) set_grads(q, k), first->step();
    Params q64;
    for (const Tensor& t : q) q64.push_back(to_dtype(t.detach(), DType::Float64)), q64.back().set_requires_grad();
    std::unique_ptr<Optimizer> rest = c.make(q64);
    rest->load_state_dict(first->state_dict());
    for (int k = kMoveAt; k < kSteps; ++k) set_grads(q64, k), rest->step();
    EXPECT_EQ(flat(p), flat(q64));
  }
}

TEST(Optim, LargeTensorsRoundLikeSmallOnes) {
  // The same values tiled into tensors large enough for the vectorised, threaded loops:
  // every tile ends where the small run (the scalar path, checked against PyTorch) ends.
  const int tiles = 4000;
  auto tile = [&](const std::vector<double>& v) {
    std::vector<double> out;
    for (int t = 0; t < tiles; ++t) out.insert(out.end(), v.begin(), v.end());
    return out;
  };
  const std::vector<double> p0 = tile(kP0), p1 = tile(kP1), g0 = tile(kG0), g1 = tile(kG1);
  const Shape s0{static_cast<std::int64_t>(p0.size())}, s1{static_cast<std::int64_t>(p1.size())};
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Params p = {leaf(p0, s0, DType::Float32), leaf(p1, s1, DType::Float32)};
    std::unique_ptr<Optimizer> opt = c.make(p);
    for (int k = 0; k < 10; ++k) {
      p[0].set_grad(grad_at(g0, s0, k, DType::Float32));
      p[1].set_grad(grad_at(g1, s1, k, DType::Float32));
      opt->step();
    }
    const std::vector<float> big0 = p[0].to_vector<float>(), big1 = p[1].to_vector<float>();
    std::vector<float> want;
    for (int t = 0; t < tiles; ++t)
      for (int i = 0; i < 6; ++i) want.push_back(static_cast<float>(c.after_10[i]));
    EXPECT_EQ(big0, want);
    want.clear();
    for (int t = 0; t < tiles; ++t)
      for (int i = 6; i < 10; ++i) want.push_back(static_cast<float>(c.after_10[i]));
    EXPECT_EQ(big1, want);
  }
}

TEST(Optim, ResultsAreDeterministic) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(run(c.make, 10), run(c.make, 10));
  }
}

TEST(Optim, ParamGroupsHaveTheirOwnLearningRates) {
  Params p = make_params();
  SGD opt({{{p[0]}, {.lr = 0.1, .momentum = 0.9}}, {{p[1]}, {.lr = 0.01, .momentum = 0.9}}});
  EXPECT_EQ(opt.num_groups(), 2);
  EXPECT_EQ(opt.lr(0), 0.1);
  EXPECT_EQ(opt.lr(1), 0.01);
  for (int k = 0; k < 10; ++k) {
    set_grads(p, k);
    opt.step();
  }
  // PyTorch: SGD([{"params": [P0], "lr": 0.1}, {"params": [P1], "lr": 0.01}], lr=0.5, momentum=0.9)
  expect_same_floats(flat(p), {0.14379935, -0.946166813, 1.20377672, -1.76623452, 1.47381616, -3.46620607, 0.123049594,
                         -0.231953219, 0.139706939, 4.05971766});
}

TEST(Optim, ParametersWithoutGradientAreSkippedAndKeepTheirOwnStepCount) {
  Params p = make_params();
  Adam opt(p, {.lr = 0.01});
  for (int k = 0; k < 10; ++k) {
    set_grads(p, k, /*skip_p1=*/k < 3);
    opt.step();
    if (k < 3) {  // untouched while it has no gradient
      EXPECT_EQ(p[1].to_vector<double>(), make_params()[1].to_vector<double>());
    }
  }
  // PyTorch: Adam(lr=0.01), P1.grad = None at steps 0-2 (its bias correction counts 7 steps).
  expect_same_floats(flat(p), {0.442749441, -1.20985448, 1.9506489, -0.798393071, 1.52584898, -3.05325389, 0.0770951509,
                         -0.210680783, 0.310084164, 3.98206735});
  TensorMap state = opt.state_dict();
  EXPECT_EQ(state.at("state.0.step").item(), 10);
  EXPECT_EQ(state.at("state.1.step").item(), 7);
}

TEST(Optim, FrozenBodyStaysBitIdenticalWhileTheHeadTrains) {
  // body: x -> tanh(x W^T), frozen; head: h -> h V^T, trained on a squared error.
  Generator gen(7);
  Tensor w = normal({3, 4}, 0, 1, DType::Float32, &gen);   // requires_grad false: frozen
  Tensor v = normal({2, 3}, 0, 1, DType::Float32, &gen);
  v.set_requires_grad();
  Tensor x = normal({5, 4}, 0, 1, DType::Float32, &gen);
  Tensor y = normal({5, 2}, 0, 1, DType::Float32, &gen);
  const std::vector<float> body_before = w.to_vector<float>(), head_before = v.to_vector<float>();
  SGD opt({w, v}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  double first_loss = 0, last_loss = 0;
  for (int i = 0; i < 20; ++i) {
    opt.zero_grad();
    Tensor loss = mse_loss(linear(tanh(linear(x, w)), v), y);
    loss.backward();
    opt.step();
    (i == 0 ? first_loss : last_loss) = loss.item();
  }
  EXPECT_EQ(w.to_vector<float>(), body_before);
  EXPECT_FALSE(w.grad().defined());
  EXPECT_NE(v.to_vector<float>(), head_before);
  EXPECT_LT(last_loss, first_loss);
}

// ------------------------------------------------------------------ sanity: a quadratic

TEST(Optim, EveryOptimizerMinimisesAQuadratic) {
  // f(x) = sum((x - t)^2) from x = 0; every optimizer should get close to t.
  const std::vector<Factory> makers = {
      [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.1}); },
      [](const Params& p) -> std::unique_ptr<Optimizer> {
        return std::make_unique<SGD>(p, SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
      },
      [](const Params& p) -> std::unique_ptr<Optimizer> {
        return std::make_unique<Adagrad>(p, AdagradOptions{.lr = 0.5});
      },
      [](const Params& p) -> std::unique_ptr<Optimizer> {
        return std::make_unique<RMSprop>(p, RMSpropOptions{.lr = 0.03, .centered = true});
      },
      [](const Params& p) -> std::unique_ptr<Optimizer> { return std::make_unique<Adam>(p, AdamOptions{.lr = 0.05}); },
      [](const Params& p) -> std::unique_ptr<Optimizer> {
        return std::make_unique<AdamW>(p, AdamWOptions{.lr = 0.05, .weight_decay = 0, .amsgrad = true});
      },
  };
  const Tensor target = tensor({1.0, -2.0, 3.0, 0.5});
  for (std::size_t m = 0; m < makers.size(); ++m) {
    SCOPED_TRACE("optimizer " + std::to_string(m));
    Tensor x = zeros({4});
    x.set_requires_grad();
    std::unique_ptr<Optimizer> opt = makers[m]({x});
    for (int i = 0; i < 300; ++i) {
      opt->zero_grad();
      Tensor diff = x - target;
      sum(diff * diff).backward();
      opt->step();
    }
    std::vector<float> got = x.to_vector<float>();
    std::vector<float> want = target.to_vector<float>();
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], want[i], 2e-2) << opt->name();
  }
}

// ------------------------------------------------------------------ state_dict

TEST(Optim, StateDictLayout) {
  Params p = make_params();
  Adam opt(p, {.lr = 0.01, .amsgrad = true});
  EXPECT_TRUE(opt.state_dict().count("param_groups.0.lr"));
  EXPECT_FALSE(opt.state_dict().count("state.0.step"));  // no state before the first step
  set_grads(p, 0);
  opt.step();
  TensorMap s = opt.state_dict();
  EXPECT_EQ(s.at("param_groups.0.params").to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(s.at("param_groups.0.lr").dtype(), DType::Float64);
  EXPECT_EQ(s.at("param_groups.0.lr").item(), 0.01);
  EXPECT_EQ(s.at("param_groups.0.beta2").item(), 0.999);
  EXPECT_EQ(s.at("param_groups.0.amsgrad").dtype(), DType::Int64);
  EXPECT_EQ(s.at("param_groups.0.amsgrad").item(), 1);
  EXPECT_EQ(s.at("state.1.step").dtype(), DType::Int64);
  EXPECT_EQ(s.at("state.1.step").item(), 1);
  EXPECT_EQ(s.at("state.0.exp_avg").shape(), Shape({2, 3}));
  EXPECT_EQ(s.at("state.1.max_exp_avg_sq").shape(), Shape({4}));
  EXPECT_EQ(s.size(), 7u + 2 * 4);  // params + 6 options, and step + 3 buffers per parameter
  // A copy: stepping again does not change it.
  const std::vector<float> saved = s.at("state.0.exp_avg").to_vector<float>();
  set_grads(p, 1);
  opt.step();
  EXPECT_EQ(s.at("state.0.exp_avg").to_vector<float>(), saved);

  // Adagrad has its sums from construction, as PyTorch.
  Params q = make_params();
  Adagrad adagrad(q, {.initial_accumulator_value = 0.25});
  TensorMap a = adagrad.state_dict();
  EXPECT_EQ(a.at("state.0.step").item(), 0);
  EXPECT_EQ(a.at("state.1.sum").to_vector<float>(), std::vector<float>(4, 0.25f));
}

TEST(Optim, StateDictRoundTripContinuesBitIdentically) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    // One run of 10 steps, and one that stops after 4, saves, and resumes in a fresh
    // optimizer over fresh parameters holding the saved values.
    Params straight = make_params();
    std::unique_ptr<Optimizer> a = c.make(straight);
    Params first = make_params();
    std::unique_ptr<Optimizer> b = c.make(first);
    for (int k = 0; k < 4; ++k) {
      set_grads(straight, k), a->step();
      set_grads(first, k), b->step();
    }
    TensorMap saved = b->state_dict();
    Params resumed = {leaf(first[0].to_vector<double>(), {2, 3}, DType::Float32),
                      leaf(first[1].to_vector<double>(), {4}, DType::Float32)};
    std::unique_ptr<Optimizer> fresh = c.make(resumed);
    fresh->set_lr(0, 123);  // overwritten by the load
    fresh->load_state_dict(saved);
    for (int k = 4; k < 10; ++k) {
      set_grads(straight, k), a->step();
      set_grads(resumed, k), fresh->step();
    }
    EXPECT_EQ(flat(resumed), flat(straight));
  }
}

TEST(Optim, LoadStateDictRejectsWhatDoesNotFit) {
  Params p = make_params();
  Adam adam(p, {.amsgrad = true});
  set_grads(p, 0);
  adam.step();
  const TensorMap good = adam.state_dict();

  {  // a missing buffer and a wrong shape, reported together
    TensorMap s = good;
    s.erase("state.1.exp_avg_sq");
    s["state.0.exp_avg"] = zeros({3, 2});
    expect_error([&] { adam.load_state_dict(s); },
                 {"Adam.load_state_dict", "2 problems", "missing key state.1.exp_avg_sq", "state.0.exp_avg",
                  "[3, 2]"});
  }
  {  // SGD's state into Adam
    Params q = make_params();
    SGD sgd(q, {.lr = 0.1, .momentum = 0.9});
    set_grads(q, 0);
    sgd.step();
    expect_error([&] { adam.load_state_dict(sgd.state_dict()); },
                 {"missing key param_groups.0.beta1", "unexpected key param_groups.0.momentum",
                  "unexpected key state.0.momentum_buffer", "missing key state.0.exp_avg"});
  }
  {  // a different number of parameters
    Params three = {leaf({1, 2}, {2}, DType::Float32), make_params()[0], make_params()[1]};
    Adam other(three);
    expect_error([&] { other.load_state_dict(good); }, {"param_groups.0.params", "group 0 has 3 parameters"});
  }
  {  // a different number of groups
    Params q = make_params();
    Adam two({{{q[0]}, {}}, {{q[1]}, {}}});
    expect_error([&] { two.load_state_dict(good); }, {"the state has 1 parameter groups, this optimizer has 2"});
  }
  {  // an invalid option; nothing changes on failure
    TensorMap s = good;
    s["param_groups.0.beta1"] = scalar_tensor(1.5, DType::Float64);
    s["param_groups.0.lr"] = scalar_tensor(0.5, DType::Float64);
    expect_error([&] { adam.load_state_dict(s); }, {"beta1 must be in [0, 1), got 1.5"});
    EXPECT_EQ(adam.lr(0), 1e-3);
    EXPECT_EQ(adam.options(0).betas.first, 0.9);
  }
  {  // a flag that is not 0/1, and a state entry for a parameter that does not exist
    TensorMap s = good;
    s["param_groups.0.amsgrad"] = scalar_tensor(2, DType::Int64);
    s["state.5.step"] = scalar_tensor(1, DType::Int64);
    expect_error([&] { adam.load_state_dict(s); }, {"param_groups.0.amsgrad is 2", "unexpected key state.5.step"});
  }
  // A parameter that has no state in the dict starts afresh.
  TensorMap s = good;
  for (const char* key : {"state.1.step", "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.max_exp_avg_sq"}) s.erase(key);
  adam.load_state_dict(s);
  EXPECT_FALSE(adam.state_dict().count("state.1.step"));
  EXPECT_TRUE(adam.state_dict().count("state.0.step"));
}

// ------------------------------------------------------------------ zero_grad, lr

TEST(Optim, ZeroGradDropsOrZeroes) {
  Params p = make_params();
  SGD opt(p, {.lr = 0.1});
  set_grads(p, 0);
  opt.zero_grad(/*set_to_none=*/false);
  EXPECT_EQ(p[0].grad().to_vector<float>(), std::vector<float>(6, 0.0f));
  opt.zero_grad();
  EXPECT_FALSE(p[0].grad().defined());
  EXPECT_FALSE(p[1].grad().defined());
  opt.step();  // no gradients: nothing happens
  EXPECT_EQ(flat(p), flat(make_params()));
}

TEST(Optim, LearningRateAccessors) {
  Params p = make_params();
  RMSprop opt({{{p[0]}, {.lr = 0.1}}, {{p[1]}, {.lr = 0.2}}});
  opt.set_lr(1, 0.05);
  EXPECT_EQ(opt.lr(1), 0.05);
  EXPECT_EQ(opt.options(1).lr, 0.05);
  EXPECT_EQ(opt.params(1).size(), 1u);
  EXPECT_TRUE(opt.params(1)[0].is_same(p[1]));
  EXPECT_EQ(opt.parameters().size(), 2u);
  expect_error([&] { opt.lr(2); }, {"RMSprop.lr", "group 2 out of range", "2 groups"});
  expect_error([&] { opt.set_lr(0, -1); }, {"RMSprop.set_lr", "finite lr >= 0", "-1"});
  expect_error([&] { opt.params(-1); }, {"group -1 out of range"});
}

// ------------------------------------------------------------------ bad input

TEST(Optim, ConstructionErrors) {
  Params p = make_params();
  expect_error([&] { SGD(p, {}); }, {"SGD: group 0: lr is required"});
  expect_error([&] { SGD(p, {.lr = -0.1}); }, {"SGD: group 0: lr must be finite and >= 0, got -0.1"});
  expect_error([&] { SGD(p, {.lr = 0.1, .nesterov = true}); },
               {"Nesterov momentum requires momentum > 0 and zero dampening"});
  expect_error([&] { SGD(p, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}); },
               {"Nesterov", "dampening 0.1"});
  expect_error([&] { Adam(p, {.betas = {0.9, 1.0}}); }, {"Adam: group 0: beta2 must be in [0, 1), got 1"});
  expect_error([&] { AdamW(p, {.eps = -1}); }, {"AdamW: group 0: eps must be finite and >= 0"});
  expect_error([&] { RMSprop(p, {.alpha = -0.5}); }, {"RMSprop: group 0: alpha"});
  expect_error([&] { Adagrad(p, {.lr_decay = -1}); }, {"Adagrad: group 0: lr_decay"});
  expect_error([&] { Adam({{{p[0]}, {}}, {{p[1]}, {.lr = -1}}}); }, {"Adam: group 1: lr"});

  expect_error([&] { Adam(Params{}); }, {"empty parameter list"});
  expect_error([&] { Adam({p[0], p[1], p[0]}); }, {"parameter 2 of group 0", "already given"});
  expect_error([&] { Adam({{{p[0]}, {}}, {{p[0]}, {}}}); }, {"parameter 0 of group 1", "already given"});
  expect_error([&] { Adam({arange(3)}); }, {"parameter 0 of group 0 is int64", "float32 or float64"});
  expect_error([&] { Adam({Tensor()}); }, {"parameter 0 of group 0 is an undefined tensor"});
  Tensor a = ones({2});
  a.set_requires_grad();
  expect_error([&] { Adam({a * 2.0}); }, {"is not a leaf tensor"});
}

TEST(Optim, StepChecksGradients) {
  Params p = make_params();
  Adam opt(p);
  p[0].set_grad(zeros({2, 3}, DType::Float64));
  expect_error([&] { opt.step(); }, {"Adam.step: parameter 0 is float32 [2, 3]", "gradient is float64 [2, 3]"});
}

// ------------------------------------------------------------------ the fused update ops

TEST(OptimUpdateOps, LargeTensorsMatchAPlainReference) {
  // 100k elements: the vectorised and threaded path, checked against the formulas written
  // out in float64, one element at a time.
  const std::int64_t n = 100000;
  Generator gen(3);
  Tensor p = normal({n}, 0, 1, DType::Float64, &gen), g = normal({n}, 0, 1, DType::Float64, &gen);
  Tensor m = normal({n}, 0, 0.1, DType::Float64, &gen), v = uniform({n}, 0, 0.1, DType::Float64, &gen);
  Tensor vmax = uniform({n}, 0, 0.1, DType::Float64, &gen);
  std::vector<double> pr = p.to_vector<double>(), gr = g.to_vector<double>(), mr = m.to_vector<double>(),
                      vr = v.to_vector<double>(), xr = vmax.to_vector<double>();
  AdamOptions u{.lr = 0.01, .betas = {0.8, 0.9}, .eps = 1e-6, .weight_decay = 0.1, .amsgrad = true};
  adam_update_(p, g, m, v, vmax, u, 3);
  const double step_size = 0.01 / (1 - std::pow(0.8, 3)), bc2 = std::sqrt(1 - std::pow(0.9, 3));
  for (std::int64_t i = 0; i < n; ++i) {
    const double gi = gr[i] + 0.1 * pr[i];
    mr[i] = mr[i] * 0.8 + (1 - 0.8) * gi;
    vr[i] = vr[i] * 0.9 + (1 - 0.9) * gi * gi;
    xr[i] = std::max(xr[i], vr[i]);
    pr[i] = pr[i] - step_size * mr[i] / (std::sqrt(xr[i]) / bc2 + 1e-6);
  }
  expect_allclose(p.to_vector<double>(), pr, 1e-13, 1e-15);
  expect_allclose(m.to_vector<double>(), mr, 1e-13, 1e-15);
  expect_allclose(vmax.to_vector<double>(), xr, 1e-13, 1e-15);

  Tensor sq = uniform({n}, 0.01, 0.1, DType::Float64, &gen), avg = normal({n}, 0, 0.01, DType::Float64, &gen);
  Tensor buf = normal({n}, 0, 0.1, DType::Float64, &gen);
  std::vector<double> sr = sq.to_vector<double>(), ar = avg.to_vector<double>(), br = buf.to_vector<double>();
  pr = p.to_vector<double>();
  rmsprop_update_(p, g, sq, avg, buf, RMSpropOptions{.lr = 0.01, .alpha = 0.9, .eps = 1e-4, .momentum = 0.5, .centered = true});
  for (std::int64_t i = 0; i < n; ++i) {
    sr[i] = 0.9 * sr[i] + (1 - 0.9) * gr[i] * gr[i];
    ar[i] = 0.9 * ar[i] + (1 - 0.9) * gr[i];
    br[i] = 0.5 * br[i] + gr[i] / (std::sqrt(sr[i] - ar[i] * ar[i]) + 1e-4);
    pr[i] -= 0.01 * br[i];
  }
  expect_allclose(p.to_vector<double>(), pr, 1e-12, 1e-15);
  expect_allclose(buf.to_vector<double>(), br, 1e-12, 1e-15);
}

TEST(OptimUpdateOps, ResultsDoNotDependOnTheThreadCount) {
  const std::int64_t n = 200000;
  auto run_once = [&](int threads) {
    const int saved = get_num_threads();
    set_num_threads(threads);
    Generator gen(11);
    Tensor p = normal({n}, 0, 1, DType::Float32, &gen), g = normal({n}, 0, 1, DType::Float32, &gen);
    Tensor m = zeros({n}), v = zeros({n});
    for (int s = 1; s <= 3; ++s) adam_update_(p, g, m, v, Tensor(), AdamOptions{}, s);
    set_num_threads(saved);
    return p.to_vector<float>();
  };
  EXPECT_EQ(run_once(1), run_once(2));
}

TEST(OptimUpdateOps, NonContiguousOperandsAreUpdatedInPlace) {
  Generator gen(5);
  Tensor base = normal({4, 3}, 0, 1, DType::Float32, &gen), g = normal({3, 4}, 0, 1, DType::Float32, &gen);
  Tensor p = transpose(base, 0, 1);  // (3, 4), strided
  Tensor dense_p = clone(p), buf = zeros({3, 4}), dense_buf = zeros({3, 4});
  Tensor strided_g = transpose(clone(transpose(g, 0, 1)), 0, 1);
  ASSERT_FALSE(strided_g.is_contiguous());
  SGDOptions u{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
  sgd_update_(p, strided_g, buf, u, /*first_step=*/true);
  sgd_update_(dense_p, g, dense_buf, u, /*first_step=*/true);
  EXPECT_EQ(p.to_vector<float>(), dense_p.to_vector<float>());
  EXPECT_EQ(buf.to_vector<float>(), dense_buf.to_vector<float>());
  EXPECT_EQ(transpose(base, 0, 1).to_vector<float>(), dense_p.to_vector<float>());  // written through the view
}

TEST(OptimUpdateOps, Errors) {
  Tensor p = zeros({3}), g = zeros({3}), s = zeros({3});
  expect_error([&] { adagrad_update_(p, g, zeros({4}), AdagradOptions{}, 1); },
               {"adagrad_update_: sum is float32 [4]", "the parameter is float32 [3]"});
  expect_error([&] { adagrad_update_(p, Tensor(), s, AdagradOptions{}, 1); }, {"adagrad_update_", "gradient", "undefined"});
  expect_error([&] { adagrad_update_(p, g, s, AdagradOptions{}, 0); }, {"step is 0", "count from 1"});
  expect_error([&] { adam_update_(p, g, s, s, Tensor(), AdamOptions{}, 1); }, {"exp_avg_sq shares storage with exp_avg"});
  expect_error([&] { adam_update_(p, g, s, zeros({3}), Tensor(), AdamOptions{.amsgrad = true}, 1); },
               {"max_exp_avg_sq is undefined but the options use it"});
  expect_error([&] { sgd_update_(p, p, Tensor(), SGDOptions{.lr = 0.1}, false); }, {"the parameter shares storage with the gradient"});
  expect_error([&] { sgd_update_(p, zeros({3}, DType::Float64), Tensor(), SGDOptions{.lr = 0.1}, false); }, {"the gradient is float64"});
  expect_error([&] { sgd_update_(arange(3), arange(3), Tensor(), SGDOptions{.lr = 0.1}, false); }, {"sgd_update_", "float32 or float64"});
  expect_error([&] { rmsprop_update_(p, g, s, Tensor(), Tensor(), RMSpropOptions{.centered = true}); }, {"grad_avg is undefined"});
  Tensor q = zeros({3});
  q.set_requires_grad();
  expect_error([&] { sgd_update_(q, g, Tensor(), SGDOptions{.lr = 0.1}, false); }, {"requires grad", "NoGradGuard"});
}

TEST(OptimUpdateOps, NormOf) {
  Tensor x = tensor({3, -4, 0, 1, -1});
  EXPECT_NEAR(norm_of(x), std::sqrt(27.0), 1e-12);
  EXPECT_NEAR(norm_of(x, 1), 9, 1e-12);
  EXPECT_NEAR(norm_of(x, 3), std::cbrt(27 + 64 + 2.0), 1e-12);
  EXPECT_EQ(norm_of(x, INFINITY), 4);
  EXPECT_EQ(norm_of(zeros({0})), 0);
  EXPECT_TRUE(std::isnan(norm_of(tensor({1, NAN, 2}), INFINITY)));
  EXPECT_NEAR(norm_of(transpose(tensor({{1, 2}, {3, 4}}), 0, 1)), std::sqrt(30.0), 1e-12);
  // Large: threaded, accumulated in double.
  Tensor big = full({300001}, 0.5);
  EXPECT_NEAR(norm_of(big), std::sqrt(300001 * 0.25), 1e-9);
  EXPECT_NEAR(norm_of(big, 1), 150000.5, 1e-9);
  expect_error([&] { norm_of(x, 0); }, {"norm_of", "positive or infinity", "0"});
  expect_error([&] { norm_of(arange(3)); }, {"norm_of", "float32 or float64"});
}

TEST(OptimUpdateOps, AddWithAlphaIsOneFusedPass) {
  Tensor dst = tensor({{1, 2, 3}, {4, 5, 6}});
  add_(dst, tensor({10, 20, 30}), -0.5);  // broadcast row
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{-4, -8, -12, -1, -5, -9}));
  Tensor ints = arange(4);
  add_(ints, arange(4), 3);
  EXPECT_EQ(ints.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 4, 8, 12}));
  Tensor d = tensor({1, 2}, DType::Float64);
  add_(d, d, 2);  // the same view as source: dst = dst + 2 dst
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{3, 6}));
}

TEST(OptimUpdateOps, ClampInPlace) {
  Tensor x = tensor({-7, -2, 0, 3, 9, NAN});
  clamp_(x, -5, 5);
  std::vector<float> v = x.to_vector<float>();
  EXPECT_EQ(std::vector<float>(v.begin(), v.end() - 1), (std::vector<float>{-5, -2, 0, 3, 5}));
  EXPECT_TRUE(std::isnan(v.back()));
  expect_error([&] { clamp_(x, 1, -1); }, {"clamp_: low 1 is greater than high -1"});
  expect_error([&] { clamp_(arange(3), 0, 1); }, {"clamp_", "float32 or float64"});
}
