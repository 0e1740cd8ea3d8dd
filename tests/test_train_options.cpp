// The option registry (train/options.hpp): every option of a run round-trips through the
// JSON a checkpoint stores, the JSON keeps the layout of earlier files, a resumed run
// accepts flags that repeat the run's values and refuses one that differs, naming the
// flag and both values; and optim::step_lr, the schedule recur train uses.

#include <cmath>
#include <numbers>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "recur/optim/schedule.hpp"
#include "recur/train/language_model_task.hpp"
#include "recur/train/options.hpp"
#include "recur/train/trainer.hpp"
#include "test_helpers.hpp"

namespace recur {
namespace {

using train::OptionType;
using train::OptionValues;

OptionValues run_values() {
  train::LanguageModelTask task("data/default.txt");
  return OptionValues(train::run_options(task));
}

// A value of the option's type that differs from `value`.
train::OptionValue other_value(const train::OptionSpec& spec, const train::OptionValue& value) {
  switch (spec.type) {
    case OptionType::Flag: return !std::get<bool>(value);
    case OptionType::Int: return std::get<std::int64_t>(value) + 7;
    case OptionType::Seed: return std::get<std::uint64_t>(value) + 18446744073709551000ull;
    case OptionType::Real: return std::get<double>(value) + 0.1;  // not exact in binary: round-trips digit for digit
    case OptionType::Text: return spec.choices.empty() ? std::get<std::string>(value) + " x/\"y\"" : spec.choices.back();
  }
  return value;
}

TEST(OptionRegistry, EveryOptionRoundTripsThroughJson) {
  OptionValues values = run_values();
  ASSERT_GT(values.specs().size(), 25u);
  for (const train::OptionSpec& spec : values.specs()) values.set(spec.key, other_value(spec, values.value(spec.key)));
  OptionValues back = run_values();
  back.from_json(values.to_json(), "test");
  for (const train::OptionSpec& spec : values.specs()) {
    EXPECT_EQ(back.value(spec.key), values.value(spec.key)) << spec.key;
    EXPECT_NE(back.value(spec.key), spec.default_value) << spec.key;
  }
}

TEST(OptionRegistry, JsonKeepsTheLayoutOfEarlierCheckpoints) {
  // recur.run as recur train wrote it before the registry (docs/FORMAT.md): the model's
  // options nested under "model", the rest at the top level, in this order.
  const std::string earlier =
      R"({"text":"t.txt","model":{"cell":"gru","layers":3,"hidden":16,"embed":8,"vocab_size":55,"dropout":0.25,)"
      R"("peephole":false},"max_vocab":0,"val_fraction":0.05,"test_fraction":0.05,"batch_size":4,"seq_length":8,)"
      R"("optimizer":"adam","lr":0.002,"momentum":0.9,"weight_decay":0.0,"lr_decay":1.0,"lr_decay_after":10,)"
      R"("lr_schedule":"constant","warmup":0,"clip":5.0,"clip_value":0.0,"seed":1,"init_from":"","max_epochs":0,)"
      R"("max_steps":40,"max_time":"15m","eval_every":20,"checkpoint_every":0,"print_every":100})";
  OptionValues values = run_values();
  values.from_json(earlier, "last.safetensors");
  EXPECT_EQ(values.text("cell"), "gru");
  EXPECT_EQ(values.integer("layers"), 3);
  EXPECT_EQ(values.integer("vocab_size"), 55);
  EXPECT_EQ(values.real("dropout"), 0.25);
  EXPECT_EQ(values.integer("max_steps"), 40);
  EXPECT_EQ(values.seed("seed"), 1u);
  // Written back, the earlier keys keep their order; the options newer than the file
  // (sample_length, and word models' tokens ... test) take their defaults, each in its
  // place in the registry.
  std::string expected = earlier;
  auto insert_after = [&](const std::string& key_before, const std::string& added) {
    ASSERT_NE(expected.find(key_before), std::string::npos) << key_before;
    expected.insert(expected.find(key_before) + key_before.size(), added);
  };
  insert_after(R"("checkpoint_every":0,)", R"("sample_length":200,)");
  insert_after(R"("text":"t.txt",)", R"("tokens":"char","lowercase":false,"split_punctuation":false,)");
  insert_after(R"("peephole":false)", R"(,"tie_weights":false,"adaptive_softmax":"")");
  insert_after(R"("adaptive_softmax":""},)", R"("min_count":1,)");
  insert_after(R"("max_vocab":0,)", R"("val":"","test":"",)");
  insert_after(R"("lr_decay_after":10,)", R"("lr_decay_stalled":0,)");
  expected.insert(1, R"("task":"lm",)");  // the first of all: what the run trains
  EXPECT_EQ(values.to_json(), expected);
}

TEST(OptionRegistry, UnreadableOrMistypedJsonNamesTheSourceAndOption) {
  OptionValues values = run_values();
  expect_error([&] { values.from_json("[1, 2", "ckpt.safetensors"); }, {"ckpt.safetensors", "unreadable"});
  expect_error([&] { values.from_json(R"({"lr": "fast"})", "ckpt.safetensors"); },
               {"ckpt.safetensors", "--lr", "\"fast\""});
  expect_error([&] { values.from_json(R"({"model": {"hidden": 1.5}})", "ckpt.safetensors"); },
               {"ckpt.safetensors", "--hidden", "1.5"});
  // An option the file lacks (a file older than the option) keeps its value.
  values.from_json(R"({"lr": 0.5})", "ckpt.safetensors");
  EXPECT_EQ(values.real("lr"), 0.5);
  EXPECT_EQ(values.integer("hidden"), 256);
}

TEST(OptionRegistry, FlagNamesAndGroups) {
  OptionValues values = run_values();
  EXPECT_EQ(train::flag_name(values.spec("max_vocab")), "--max-vocab");
  EXPECT_EQ(train::flag_name(values.spec("text")), "TEXT");
  EXPECT_EQ(values.spec("hidden").group, train::OptionGroup::Model);
  EXPECT_EQ(values.spec("lr").group, train::OptionGroup::Optimizer);
  EXPECT_EQ(values.spec("batch_size").group, train::OptionGroup::Data);
  EXPECT_EQ(values.spec("max_time").group, train::OptionGroup::Budget);
  EXPECT_EQ(values.spec("eval_every").group, train::OptionGroup::Reporting);
  // Only the budget and the reporting may change when a run resumes.
  for (const train::OptionSpec& spec : values.specs())
    EXPECT_EQ(spec.resumable,
              spec.group == train::OptionGroup::Budget || spec.group == train::OptionGroup::Reporting)
        << spec.key;
  expect_error([&] { values.spec("no_such_option"); }, {"no_such_option"});
  expect_error([&] { values.set("hidden", std::string("many")); }, {"--hidden", "integer", "many"});
  expect_error([] { OptionValues twice({{.key = "a", .default_value = std::string()},
                                        {.key = "a", .default_value = std::string()}}); },
               {"'a'", "twice"});
}

TEST(OptionRegistry, ResumeAcceptsEqualFlagsAndRefusesADifferentOneNamingBothValues) {
  OptionValues stored = run_values();
  stored.set("hidden", std::int64_t{128});
  stored.set("lr", 0.003);
  stored.set("max_steps", std::int64_t{100});
  OptionValues given = stored;  // the original command again
  given.set("max_steps", std::int64_t{300});
  given.set("eval_every", std::int64_t{50});
  OptionValues resumed =
      train::resumed_options(stored, given, {"text", "hidden", "lr", "max_steps", "eval_every"}, "runs/x");
  EXPECT_EQ(resumed.integer("hidden"), 128);
  EXPECT_EQ(resumed.integer("max_steps"), 300);  // the budget and the reporting may change
  EXPECT_EQ(resumed.integer("eval_every"), 50);
  // An option not given takes the run's value, whatever the command line's default.
  OptionValues defaults = run_values();
  EXPECT_EQ(train::resumed_options(stored, defaults, {}, "runs/x").integer("hidden"), 128);
  EXPECT_EQ(train::resumed_options(stored, defaults, {"out", "threads"}, "runs/x").real("lr"), 0.003);

  given.set("lr", 0.01);
  expect_error([&] { train::resumed_options(stored, given, {"lr"}, "runs/x"); },
               {"runs/x", "--lr 0.01", "the run has --lr 0.003"});
  given.set("cell", std::string("gru"));
  expect_error([&] { train::resumed_options(stored, given, {"cell"}, "runs/x"); },
               {"--cell gru", "the run has --cell lstm"});
  given.set("text", std::string("other.txt"));
  expect_error([&] { train::resumed_options(stored, given, {"text"}, "runs/x"); },
               {"TEXT other.txt", "the run has TEXT data/default.txt"});
}

TEST(OptionRegistry, FormatsValuesAsACommandLineWould) {
  EXPECT_EQ(train::format_option_value(0.002), "0.002");
  EXPECT_EQ(train::format_option_value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(train::format_option_value(std::int64_t{-3}), "-3");
  EXPECT_EQ(train::format_option_value(true), "true");
  EXPECT_EQ(train::format_option_value(std::string("lstm")), "lstm");
}

TEST(OptionRegistry, ParsesDurations) {
  EXPECT_EQ(train::parse_duration("90"), 90);
  EXPECT_EQ(train::parse_duration("15m"), 900);
  EXPECT_EQ(train::parse_duration("1.5h"), 5400);
  EXPECT_EQ(train::parse_duration("0"), 0);
  expect_error([] { train::parse_duration("5x"); }, {"--max-time", "'5x'"});
  expect_error([] { train::parse_duration("-2s"); }, {"'-2s'"});
}

// The formula recur train used before the schedule moved into optim, written out again:
// step_lr must give the same doubles, so that runs and their resumptions stay bit-identical.
double earlier_lr(double base, std::int64_t warmup, const std::string& schedule, double lr_decay,
                  std::int64_t lr_decay_after, std::int64_t step, std::int64_t epoch, std::int64_t total) {
  double lr = base;
  if (step < warmup) lr *= static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (schedule != "constant" && total > warmup) {
    double progress =
        std::clamp(static_cast<double>(step - warmup) / static_cast<double>(total - warmup), 0.0, 1.0);
    if (step >= warmup) lr *= schedule == "cosine" ? 0.5 * (1 + std::cos(M_PI * progress)) : 1 - progress;
  }
  if (lr_decay != 1 && epoch >= lr_decay_after)
    lr *= std::pow(lr_decay, static_cast<double>(epoch - lr_decay_after + 1));
  return lr;
}

TEST(StepLr, GivesTheSameLearningRatesAsRecurTrainDid) {
  for (const std::string schedule : {"constant", "cosine", "linear"})
    for (std::int64_t warmup : {0, 1, 7})
      for (double decay : {1.0, 0.97})
        for (std::int64_t step = 0; step < 130; ++step) {
          const std::int64_t epoch = step / 9, total = 100;
          const optim::StepSchedule s{.lr = 2e-3, .warmup = warmup, .decay = optim::decay_from_name(schedule),
                                      .total_steps = total, .epoch_decay = decay, .decay_after = 3};
          EXPECT_EQ(optim::step_lr(s, step, epoch), earlier_lr(2e-3, warmup, schedule, decay, 3, step, epoch, total))
              << schedule << " warmup " << warmup << " decay " << decay << " step " << step;
        }
  expect_error([] { optim::decay_from_name("step"); }, {"'step'"});
}

}  // namespace
}  // namespace recur
