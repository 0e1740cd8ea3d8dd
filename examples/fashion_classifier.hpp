// What examples/mlp_fashion and examples/lenet_fashion share: options, the Fashion-MNIST
// training loop, test accuracy per epoch, the loss/accuracy chart and the JSON summary.
// Written against the public API only, like every example.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

namespace fashion {

using namespace recur;

struct Options {
  std::string data_dir = data::kFashionMnistDir;
  int epochs = 5;
  std::int64_t batch_size = 64;
  std::string optimizer = "sgd";  // sgd (with momentum) or adam
  double lr = 0.05;
  double momentum = 0.9;
  std::string schedule = "cosine";  // constant, or cosine decay to 0 over the run (per iteration)
  std::uint64_t seed = 1;
  int threads = 0;  // 0: recur's default
  int log_every = 100;
  std::int64_t train_limit = 0, test_limit = 0;  // 0: all samples
  std::string svg;
};

// Adds the shared options to `app`.
inline void add_options(CLI::App& app, Options& o) {
  app.add_option("--data", o.data_dir, "directory with MNIST-format files (train-images-idx3-ubyte[.gz], ...)");
  app.add_option("--epochs", o.epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", o.batch_size, "mini-batch size")->check(CLI::PositiveNumber);
  app.add_option("--optimizer", o.optimizer, "sgd (with --momentum) or adam")->check(CLI::IsMember({"sgd", "adam"}));
  app.add_option("--lr", o.lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--momentum", o.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  app.add_option("--schedule", o.schedule, "learning rate: constant, or cosine decay to 0 over all iterations")
      ->check(CLI::IsMember({"constant", "cosine"}));
  app.add_option("--seed", o.seed, "seed of the initial weights, the data order and dropout");
  app.add_option("--threads", o.threads, "threads (default: every core, or RECUR_NUM_THREADS)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-every", o.log_every, "log the train loss every N iterations")->check(CLI::PositiveNumber);
  app.add_option("--train-limit", o.train_limit, "use only the first N training images (quick runs)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--test-limit", o.test_limit, "use only the first N test images")->check(CLI::NonNegativeNumber);
  app.add_option("--svg", o.svg, "where to write the chart of train loss and test accuracy");
}

// Fashion-MNIST's mean and standard deviation over the training pixels.
inline Tensor normalise(const Tensor& images) { return mul(add(images, -0.2860), 1 / 0.3530); }

inline data::MnistData load_split(const Options& o, data::Split split) {
  data::MnistData d = data::load_mnist(o.data_dir, split);
  const std::int64_t limit = split == data::Split::Train ? o.train_limit : o.test_limit;
  if (limit > 0 && limit < d.labels.size(0)) {
    d.images = narrow(d.images, 0, 0, limit).contiguous();
    d.labels = narrow(d.labels, 0, 0, limit).contiguous();
  }
  d.images = normalise(d.images);
  return d;
}

// Fraction of `images` whose argmax class equals the label, in evaluation mode.
inline double accuracy(nn::Module& model, const data::MnistData& test) {
  NoGradGuard no_grad;
  model.eval();
  std::int64_t correct = 0, n = test.labels.size(0);
  for (std::int64_t begin = 0; begin < n; begin += 1000) {
    const std::int64_t length = std::min<std::int64_t>(1000, n - begin);
    const Tensor predicted = argmax(model.forward(narrow(test.images, 0, begin, length)), 1);
    const std::vector<std::int64_t> p = predicted.to_vector<std::int64_t>();
    const std::vector<std::int64_t> t = narrow(test.labels, 0, begin, length).to_vector<std::int64_t>();
    for (std::int64_t i = 0; i < length; ++i) correct += p[i] == t[i];
  }
  model.train();
  return static_cast<double>(correct) / static_cast<double>(n);
}

// Trains `model` (built after seeding) with cross-entropy on Fashion-MNIST, prints test
// accuracy per epoch, writes the chart, prints the JSON summary line. Returns the exit code.
inline int run(const std::string& name, const Options& o, const std::function<std::shared_ptr<nn::Module>()>& build,
               nlohmann::json summary) {
  try {
    if (o.threads > 0) set_num_threads(o.threads);
    const data::MnistData train_set = load_split(o, data::Split::Train), test_set = load_split(o, data::Split::Test);
    manual_seed(o.seed);
    std::shared_ptr<nn::Module> model = build();
    std::printf("%s\n%lld parameters\n", model->str().c_str(), static_cast<long long>(model->num_parameters()));

    std::unique_ptr<optim::Optimizer> optimizer;
    if (o.optimizer == "adam")
      optimizer = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = o.lr});
    else
      optimizer = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = o.lr, .momentum = o.momentum});
    data::DataLoader loader(train_set.images, train_set.labels, {.batch_size = o.batch_size, .seed = o.seed});
    std::unique_ptr<optim::LRScheduler> schedule;
    if (o.schedule == "cosine")
      schedule = std::make_unique<optim::CosineWithWarmup>(*optimizer, 0, o.epochs * loader.batches_per_epoch());

    std::vector<double> loss_iterations, losses, accuracy_iterations, accuracies, epoch_seconds;
    std::int64_t iteration = 0;
    double epoch_loss = 0;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
      train::Stopwatch watch;
      double window_loss = 0;
      int window = 0;
      epoch_loss = 0;
      data::Batch batch;
      while (loader.next(batch)) {
        const Tensor loss = cross_entropy(model->forward(batch.inputs), batch.targets);
        optimizer->zero_grad();
        loss.backward();
        optimizer->step();
        if (schedule) schedule->step();
        const double value = loss.item();
        train::check_finite(value, iteration);
        ++iteration, ++window;
        window_loss += value, epoch_loss += value;
        if (iteration % o.log_every == 0) {
          loss_iterations.push_back(static_cast<double>(iteration));
          losses.push_back(window_loss / window);
          std::fprintf(stderr, "epoch %d  iteration %lld/%lld  train loss %.4f\n", epoch,
                       static_cast<long long>(loader.batch_index()), static_cast<long long>(loader.batches_per_epoch()),
                       window_loss / window);
          window_loss = 0, window = 0;
        }
      }
      epoch_seconds.push_back(watch.seconds());
      epoch_loss /= static_cast<double>(loader.batches_per_epoch());
      accuracies.push_back(accuracy(*model, test_set));
      accuracy_iterations.push_back(static_cast<double>(iteration));
      std::printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.2f s\n", epoch, epoch_loss,
                  100 * accuracies.back(), epoch_seconds.back());
      std::fflush(stdout);
    }

    const std::string svg = o.svg.empty() ? name + ".svg" : o.svg;
    train::Plot plot(name + " on Fashion-MNIST");
    plot.set_x_label("iteration").set_y_label("train loss").set_y_label("test accuracy", train::Axis::Right);
    plot.add_line("train loss", loss_iterations, losses);
    plot.add_line("test accuracy", accuracy_iterations, accuracies, train::Axis::Right);
    plot.save(svg);
    std::fprintf(stderr, "wrote %s\n", svg.c_str());

    summary["example"] = name;
    summary["epochs"] = o.epochs;
    summary["batch_size"] = o.batch_size;
    summary["optimizer"] = o.optimizer;
    summary["lr"] = o.lr;
    summary["schedule"] = o.schedule;
    summary["seed"] = o.seed;
    summary["threads"] = get_num_threads();
    summary["train_samples"] = train_set.labels.size(0);
    summary["final_train_loss"] = epoch_loss;
    summary["test_accuracy"] = accuracies.back();
    summary["test_accuracy_per_epoch"] = accuracies;
    summary["epoch_seconds"] = epoch_seconds;
    summary["svg"] = svg;
    std::printf("%s\n", summary.dump().c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return 1;
  }
}

}  // namespace fashion
