// Learning-rate schedules: the lr sequences of the schedules PyTorch has, against PyTorch
// 1.13 (printed by tests/reference/optim_reference.py with /usr/bin/python3: an SGD with
// lr 0.1, the lr after construction and after each step(), each value Python's shortest
// repr of the double); Caffe's inv and poly and the cosine schedule against their
// formulas; several groups; state_dict round trips; bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <numbers>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using namespace recur::optim;

namespace {

Tensor parameter() {
  Tensor p = zeros({1});
  p.set_requires_grad();
  return p;
}

using Make = std::function<std::unique_ptr<LRScheduler>(Optimizer&)>;

// The lr after construction, then after each of `steps` step() calls (with metrics[k]
// for ReduceLROnPlateau).
std::vector<double> lr_sequence(const Make& make, int steps, const std::vector<double>& metrics = {}) {
  SGD opt({parameter()}, {.lr = 0.1});
  std::unique_ptr<LRScheduler> schedule = make(opt);
  std::vector<double> lrs = {opt.lr(0)};
  for (int k = 0; k < steps; ++k) {
    if (metrics.empty()) schedule->step();
    else schedule->step(metrics[k]);
    lrs.push_back(opt.lr(0));
    EXPECT_EQ(schedule->get_last_lr(), std::vector<double>{opt.lr(0)});
  }
  return lrs;
}

const std::vector<double> kLosses = {1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.899, 0.9, 0.9, 0.9,
                                     0.9, 0.9, 0.9,  0.9,  0.9,  0.9,  0.9,   0.9, 0.9, 0.9};
const std::vector<double> kAccuracies = {0.5, 0.6, 0.6, 0.65, 0.66, 0.7, 0.7, 0.7, 0.7, 0.71, 0.7, 0.7, 0.7, 0.7};

}  // namespace

// ------------------------------------------------------------------ against PyTorch, exactly

TEST(LRScheduler, StepLRMatchesPyTorch) {
  EXPECT_EQ(lr_sequence([](Optimizer& o) { return std::make_unique<StepLR>(o, 3, 0.5); }, 12),
            (std::vector<double>{0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125,
                                 0.00625}));
}

TEST(LRScheduler, MultiStepLRMatchesPyTorch) {
  // A milestone given twice counts twice, as in PyTorch's Counter.
  EXPECT_EQ(lr_sequence([](Optimizer& o) { return std::make_unique<MultiStepLR>(o, std::vector<std::int64_t>{9, 2, 5, 5}, 0.3); }, 12),
            (std::vector<double>{0.1, 0.1, 0.03, 0.03, 0.03, 0.0026999999999999997, 0.0026999999999999997,
                                 0.0026999999999999997, 0.0026999999999999997, 0.0008099999999999998,
                                 0.0008099999999999998, 0.0008099999999999998, 0.0008099999999999998}));
}

TEST(LRScheduler, ExponentialLRMatchesPyTorch) {
  EXPECT_EQ(lr_sequence([](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.9); }, 12),
            (std::vector<double>{0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002,
                                 0.06561000000000002, 0.05904900000000002, 0.05314410000000002,
                                 0.04782969000000002, 0.043046721000000024, 0.03874204890000002,
                                 0.03486784401000002, 0.03138105960900001, 0.028242953648100012}));
}

TEST(LRScheduler, ConstantLRMatchesPyTorch) {
  EXPECT_EQ(lr_sequence([](Optimizer& o) { return std::make_unique<ConstantLR>(o, 0.25, 4); }, 12),
            (std::vector<double>{0.025, 0.025, 0.025, 0.025, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}));
  // The defaults keep the lr constant.
  EXPECT_EQ(lr_sequence([](Optimizer& o) { return std::make_unique<ConstantLR>(o); }, 5), std::vector<double>(6, 0.1));
}

TEST(LRScheduler, ReduceLROnPlateauMatchesPyTorch) {
  // mode min, factor 0.5, patience 2, threshold 1e-2 rel, cooldown 1, min_lr 0.02
  PlateauOptions min_options{.factor = 0.5, .patience = 2, .threshold = 1e-2, .cooldown = 1, .min_lr = 0.02};
  EXPECT_EQ(lr_sequence([&](Optimizer& o) { return std::make_unique<ReduceLROnPlateau>(o, min_options); }, 20, kLosses),
            (std::vector<double>{0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02,
                                 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02}));
  // mode max, factor 0.1, patience 1, threshold 0.02 abs
  PlateauOptions max_options{.mode = PlateauOptions::Mode::Max, .factor = 0.1, .patience = 1, .threshold = 0.02,
                             .threshold_mode = PlateauOptions::ThresholdMode::Abs};
  EXPECT_EQ(lr_sequence([&](Optimizer& o) { return std::make_unique<ReduceLROnPlateau>(o, max_options); }, 14, kAccuracies),
            (std::vector<double>{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002,
                                 0.0010000000000000002, 0.0010000000000000002, 0.00010000000000000003,
                                 0.00010000000000000003, 1.0000000000000004e-05}));
}

TEST(LRScheduler, ReduceLROnPlateauSkipsChangesBelowEps) {
  SGD opt({parameter()}, {.lr = 1e-8});
  ReduceLROnPlateau plateau(opt, {.patience = 0, .eps = 1e-8});
  plateau.step(1.0);
  plateau.step(1.0);  // a bad epoch beyond patience: 1e-8 -> 1e-9 is a change of 9e-9 < eps
  EXPECT_EQ(opt.lr(0), 1e-8);
  EXPECT_EQ(plateau.num_bad_epochs(), 0);
  EXPECT_EQ(plateau.best(), 1.0);
}

// ------------------------------------------------------------------ Caffe's and the cosine schedule

TEST(LRScheduler, PolyLRIsCaffesPolyAndPyTorchsPolynomialLR) {
  // PyTorch: PolynomialLR(total_iters=10, power=2.0), computed in its chainable form.
  expect_allclose(lr_sequence([](Optimizer& o) { return std::make_unique<PolyLR>(o, 10, 2.0); }, 12),
                  {0.1, 0.08100000000000002, 0.06400000000000002, 0.048999999999999995, 0.036000000000000004,
                   0.025000000000000005, 0.016000000000000007, 0.009000000000000008, 0.004, 0.001, 0.0, 0.0, 0.0},
                  0, 1e-15);
  std::vector<double> lrs = lr_sequence([](Optimizer& o) { return std::make_unique<PolyLR>(o, 7, 0.9); }, 9);
  for (int i = 0; i <= 9; ++i) EXPECT_EQ(lrs[i], 0.1 * std::pow(1 - std::min(i, 7) / 7.0, 0.9)) << i;
}

TEST(LRScheduler, InvLRIsCaffesInv) {
  // Caffe's LeNet solver: base_lr 0.01, gamma 1e-4, power 0.75; here base_lr 0.1.
  std::vector<double> lrs = lr_sequence([](Optimizer& o) { return std::make_unique<InvLR>(o, 1e-4, 0.75); }, 12);
  for (int i = 0; i <= 12; ++i) EXPECT_EQ(lrs[i], 0.1 * std::pow(1 + 1e-4 * i, -0.75)) << i;
}

TEST(LRScheduler, CosineWithWarmup) {
  std::vector<double> lrs =
      lr_sequence([](Optimizer& o) { return std::make_unique<CosineWithWarmup>(o, 4, 12); }, 14);
  expect_allclose(std::vector<double>(lrs.begin(), lrs.begin() + 5), {0, 0.025, 0.05, 0.075, 0.1}, 0, 1e-15);
  for (int t = 4; t < 12; ++t)
    EXPECT_NEAR(lrs[t], 0.1 * 0.5 * (1 + std::cos(std::numbers::pi * (t - 4) / 8.0)), 1e-15) << t;
  EXPECT_NEAR(lrs[8], 0.05, 1e-15);  // half way through the decay
  EXPECT_EQ(lrs[12], 0);
  EXPECT_EQ(lrs[14], 0);

  // A start factor and a floor.
  lrs = lr_sequence([](Optimizer& o) { return std::make_unique<CosineWithWarmup>(o, 2, 6, 0.01, 0.5); }, 7);
  expect_allclose(lrs, {0.05, 0.075, 0.1, 0.01 + 0.09 * 0.5 * (1 + std::cos(std::numbers::pi / 4)), 0.055,
                        0.01 + 0.09 * 0.5 * (1 + std::cos(3 * std::numbers::pi / 4)), 0.01, 0.01},
                  0, 1e-15);
  // No warm-up: cosine from base_lr at step 0.
  lrs = lr_sequence([](Optimizer& o) { return std::make_unique<CosineWithWarmup>(o, 0, 2); }, 2);
  expect_allclose(lrs, {0.1, 0.05, 0}, 0, 1e-15);
}

// ------------------------------------------------------------------ groups, state, errors

TEST(LRScheduler, EachGroupScalesFromItsOwnBaseLr) {
  Tensor a = parameter(), b = parameter();
  Adam opt({{{a}, {.lr = 0.1}}, {{b}, {.lr = 0.02}}});
  StepLR schedule(opt, 2, 0.5);
  EXPECT_EQ(schedule.base_lrs(), (std::vector<double>{0.1, 0.02}));
  schedule.step();
  schedule.step();
  EXPECT_EQ(schedule.last_epoch(), 2);
  EXPECT_EQ(schedule.get_last_lr(), (std::vector<double>{0.05, 0.01}));
  EXPECT_EQ(opt.lr(1), 0.01);
}

TEST(LRScheduler, StateDictRoundTripContinuesIdentically) {
  auto run = [](bool resume) {
    Tensor p = parameter();
    SGD opt({p}, {.lr = 0.1});
    auto schedule = std::make_unique<CosineWithWarmup>(opt, 3, 10, 0.001);
    std::vector<double> lrs;
    for (int k = 0; k < 10; ++k) {
      if (resume && k == 4) {  // save both, rebuild both from scratch, load
        TensorMap opt_state = opt.state_dict(), sched_state = schedule->state_dict();
        SGD fresh({p}, {.lr = 0.1});
        fresh.load_state_dict(opt_state);
        auto fresh_schedule = std::make_unique<CosineWithWarmup>(fresh, 3, 10, 0.001);
        fresh_schedule->load_state_dict(sched_state);
        for (int j = k; j < 10; ++j) {
          fresh_schedule->step();
          lrs.push_back(fresh.lr(0));
        }
        return lrs;
      }
      schedule->step();
      lrs.push_back(opt.lr(0));
    }
    return lrs;
  };
  EXPECT_EQ(run(true), run(false));

  // ReduceLROnPlateau keeps its best value and counters.
  SGD opt({parameter()}, {.lr = 0.1});
  ReduceLROnPlateau plateau(opt, {.patience = 2});
  for (double m : {1.0, 0.5, 0.6, 0.7}) plateau.step(m);
  TensorMap state = plateau.state_dict();
  EXPECT_EQ(state.at("best").item(), 0.5);
  EXPECT_EQ(state.at("num_bad_epochs").item(), 2);
  EXPECT_EQ(state.at("last_epoch").item(), 4);
  ReduceLROnPlateau restored(opt, {.patience = 2});
  restored.load_state_dict(state);
  EXPECT_EQ(restored.best(), 0.5);
  restored.step(0.8);  // third bad epoch: reduce
  EXPECT_NEAR(opt.lr(0), 0.01, 1e-15);
}

TEST(LRScheduler, Errors) {
  SGD opt({parameter()}, {.lr = 0.1});
  StepLR step_lr(opt, 2);
  expect_error([&] { step_lr.step(0.5); }, {"StepLR.step: this schedule takes no metric"});
  ReduceLROnPlateau plateau(opt);
  expect_error([&] { plateau.step(); }, {"ReduceLROnPlateau.step: needs the monitored metric"});

  expect_error([&] { StepLR(opt, 0); }, {"StepLR: step_size must be >= 1, got 0"});
  expect_error([&] { MultiStepLR(opt, {3, -1}); }, {"MultiStepLR: milestones must be >= 0, got -1"});
  expect_error([&] { ConstantLR(opt, 0); }, {"ConstantLR: factor must be in (0, 1], got 0"});
  expect_error([&] { PolyLR(opt, 0); }, {"PolyLR: max_iter must be >= 1"});
  expect_error([&] { InvLR(opt, -1, 0.75); }, {"InvLR: gamma and power must be >= 0"});
  expect_error([&] { CosineWithWarmup(opt, 5, 3); }, {"CosineWithWarmup", "warmup_steps 5 and total_steps 3"});
  expect_error([&] { CosineWithWarmup(opt, 1, 3, 0, 2); }, {"start_factor must be in [0, 1], got 2"});
  expect_error([&] { ReduceLROnPlateau(opt, {.factor = 1}); }, {"ReduceLROnPlateau: factor must be in [0, 1)"});

  TensorMap state = step_lr.state_dict();
  state.erase("last_epoch");
  state["base_lrs"] = from_vector(std::vector<double>{0.1, 0.2});
  state["extra"] = zeros({1});
  expect_error([&] { step_lr.load_state_dict(state); },
               {"StepLR.load_state_dict", "3 problems", "missing key last_epoch", "base_lrs has shape [2]",
                "unexpected key extra"});
  expect_error([&] { plateau.load_state_dict(step_lr.state_dict()); }, {"missing key best"});
}
