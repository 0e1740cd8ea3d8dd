// A small training run for tests/test_resume.cpp: an MLP with dropout, Adam, a step
// schedule and a shuffling loader on synthetic data, checkpointing every K steps. It logs
// "step loss" (the loss as a hex float, exactly) per step, can kill itself with SIGKILL at a
// given step (a real kill -9: no destructors, no flushing), and can resume from its checkpoint.
//
// It can also poison its loss with a NaN at a given step, to show that training stops
// there with an error and the last checkpoint stays good.
//
//   resume_worker DIR LOG STEPS CHECKPOINT_EVERY [--resume] [--die-at STEP] [--nan-at STEP]
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <recur/recur.hpp>

using namespace recur;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: resume_worker DIR LOG STEPS CHECKPOINT_EVERY [--resume] [--die-at STEP] [--nan-at STEP]\n");
    return 2;
  }
  const std::string dir = argv[1], log_path = argv[2], checkpoint = dir + "/checkpoint.safetensors";
  const std::int64_t steps = std::stoll(argv[3]), every = std::stoll(argv[4]);
  bool resume = false;
  std::int64_t die_at = -1, nan_at = -1;
  for (int i = 5; i < argc; ++i) {
    if (std::strcmp(argv[i], "--resume") == 0) resume = true;
    if (std::strcmp(argv[i], "--die-at") == 0 && i + 1 < argc) die_at = std::stoll(argv[++i]);
    if (std::strcmp(argv[i], "--nan-at") == 0 && i + 1 < argc) nan_at = std::stoll(argv[++i]);
  }
  try {
    Generator data_gen(11);
    const Tensor inputs = normal({200, 8}, 0, 1, DType::Float32, &data_gen);
    const Tensor targets = argmax(narrow(inputs, 1, 0, 3), 1);  // a learnable rule

    manual_seed(7);
    auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(),
                                                  std::make_shared<nn::Dropout>(0.2), std::make_shared<nn::Linear>(16, 3));
    optim::Adam adam(model->parameters(), {.lr = 0.01});
    optim::StepLR schedule(adam, 10, 0.5);
    data::DataLoader loader(inputs, targets, {.batch_size = 32, .seed = 3});
    train::TrainingState state{.model = model.get(), .optimizer = &adam, .scheduler = &schedule, .loader = &loader,
                               .generator = &default_generator()};
    if (resume) train::load_checkpoint(checkpoint, state);

    std::FILE* log = std::fopen(log_path.c_str(), "a");
    if (!log) return 3;
    for (std::int64_t step = state.step + 1; step <= steps; ++step) {
      data::Batch batch;
      if (!loader.next(batch)) loader.next(batch);  // a new epoch
      Tensor loss = cross_entropy(model->forward(batch.inputs), batch.targets);
      if (step == nan_at) loss = mul(loss, NAN);
      train::check_finite(loss.item(), step);  // before the update: a NaN never reaches the weights
      adam.zero_grad();
      loss.backward();
      adam.step();
      schedule.step();
      std::fprintf(log, "%lld %a\n", static_cast<long long>(step), loss.item());
      std::fflush(log);
      if (step % every == 0) {
        state.step = step;
        train::save_checkpoint(checkpoint, state);
      }
      if (step == die_at) std::raise(SIGKILL);
    }
    std::fclose(log);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "resume_worker: %s\n", e.what());
    return 1;
  }
}
