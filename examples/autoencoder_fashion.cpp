// autoencoder_fashion: compresses Fashion-MNIST images to a 2-D code and back.
//
//   encoder: 784 -> 256 -> 64 -> 2 (tanh between layers)
//   decoder: 2 -> 64 -> 256 -> 784 -> sigmoid, loss = mean squared error to the image
//
// Trained with Adam; writes the test set's codes as CSV (code_x, code_y, label, class) and
// an SVG scatter plot of them coloured by class, where the classes form clusters without
// ever having been given to the network. Ends with one JSON line.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

using namespace recur;

namespace {

std::shared_ptr<nn::Sequential> mlp(const std::vector<std::int64_t>& sizes, bool sigmoid_output) {
  auto net = std::make_shared<nn::Sequential>();
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    net->push_back(std::make_shared<nn::Linear>(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.size()) net->push_back(std::make_shared<nn::Tanh>());
  }
  if (sigmoid_output) net->push_back(std::make_shared<nn::Sigmoid>());
  return net;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = data::kFashionMnistDir, csv_path = "autoencoder_codes.csv", svg_path = "autoencoder_codes.svg";
  int epochs = 5;
  std::int64_t batch_size = 64, train_limit = 0;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  CLI::App app{"An autoencoder compresses Fashion-MNIST to a 2-D code; plots the test set's codes."};
  app.add_option("--data", data_dir, "directory with MNIST-format files");
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size, "mini-batch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam's learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the initial weights and the data order");
  app.add_option("--train-limit", train_limit, "use only the first N training images (quick runs)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--csv", csv_path, "where to write the test set's codes");
  app.add_option("--svg", svg_path, "where to write the scatter plot of the codes");
  CLI11_PARSE(app, argc, argv);

  try {
    data::MnistData train_set = data::load_mnist(data_dir, data::Split::Train);
    const data::MnistData test_set = data::load_mnist(data_dir, data::Split::Test);
    if (train_limit > 0 && train_limit < train_set.labels.size(0))
      train_set.images = narrow(train_set.images, 0, 0, train_limit).contiguous();
    const Tensor train_images = flatten(train_set.images, 1), test_images = flatten(test_set.images, 1);

    manual_seed(seed);
    auto encoder = mlp({784, 256, 64, 2}, false), decoder = mlp({2, 64, 256, 784}, true);
    auto model = std::make_shared<nn::Sequential>(encoder, decoder);
    std::printf("%s\n", model->str().c_str());
    optim::Adam adam(model->parameters(), {.lr = lr});
    // The images are their own targets; the loader shuffles them with a seed.
    data::DataLoader loader(train_images, train_images, {.batch_size = batch_size, .seed = seed});

    double epoch_loss = 0, test_loss = 0;
    std::int64_t iteration = 0;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      epoch_loss = 0;
      data::Batch batch;
      while (loader.next(batch)) {
        const Tensor loss = mse_loss(model->forward(batch.inputs), batch.targets);
        adam.zero_grad();
        loss.backward();
        adam.step();
        epoch_loss += loss.item();
        train::check_finite(loss.item(), ++iteration);
        if (iteration % 200 == 0) std::fprintf(stderr, "epoch %d  iteration %lld  loss %.5f\n", epoch,
                                                static_cast<long long>(iteration), loss.item());
      }
      epoch_loss /= static_cast<double>(loader.batches_per_epoch());
      NoGradGuard no_grad;
      test_loss = mse_loss(model->forward(test_images), test_images).item();
      std::printf("epoch %d: train mse %.5f, test mse %.5f\n", epoch, epoch_loss, test_loss);
    }

    NoGradGuard no_grad;
    const std::vector<float> codes = encoder->forward(test_images).to_vector<float>();
    const std::vector<std::int64_t> labels = test_set.labels.to_vector<std::int64_t>();
    std::string csv = "code_x,code_y,label,class\n";
    std::vector<double> xs, ys;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      xs.push_back(codes[2 * i]), ys.push_back(codes[2 * i + 1]);
      csv += std::to_string(codes[2 * i]) + "," + std::to_string(codes[2 * i + 1]) + "," + std::to_string(labels[i]) +
             ",\"" + data::kFashionMnistClasses[labels[i]] + "\"\n";
    }
    io::write_file_atomically(csv_path, csv);
    train::Plot plot("Fashion-MNIST test set in the autoencoder's 2-D code");
    plot.set_x_label("code x").set_y_label("code y");
    plot.add_class_points(xs, ys, labels,
                          std::vector<std::string>(data::kFashionMnistClasses.begin(), data::kFashionMnistClasses.end()));
    plot.save(svg_path);
    std::fprintf(stderr, "wrote %s and %s\n", csv_path.c_str(), svg_path.c_str());

    const nlohmann::json summary = {{"example", "autoencoder_fashion"}, {"epochs", epochs}, {"code_size", 2},
                                    {"train_mse", epoch_loss}, {"test_mse", test_loss}, {"csv", csv_path},
                                    {"svg", svg_path}};
    std::printf("%s\n", summary.dump().c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "autoencoder_fashion: %s\n", e.what());
    return 1;
  }
}
