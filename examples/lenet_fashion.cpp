// lenet_fashion: a LeNet-style convolutional network (Caffe's LeNet, with ReLUs) classifies
// Fashion-MNIST.
//
//   conv 5x5, 20 maps -> [batch norm] -> ReLU -> max pool 2x2
//   conv 5x5, 50 maps -> [batch norm] -> ReLU -> max pool 2x2
//   fc 800 -> 500 -> ReLU -> fc 500 -> 10 -> cross-entropy
//
// Trained with SGD + momentum (lr 0.05, cosine decay) on mini-batches of 64 in a seeded
// shuffled order; prints the test accuracy per epoch, writes a chart of train loss and test
// accuracy (SVG) like the Caffe LeNet tutorial's, and ends with one JSON line.
// bench/fashion_torch.py is the same model in PyTorch.
#include "fashion_classifier.hpp"

int main(int argc, char** argv) {
  fashion::Options options;
  bool batch_norm = false;
  CLI::App app{"A LeNet-style CNN on Fashion-MNIST."};
  fashion::add_options(app, options);
  app.add_flag("--batch-norm", batch_norm, "batch normalisation after each convolution");
  CLI11_PARSE(app, argc, argv);

  using namespace recur;
  auto build = [&]() -> std::shared_ptr<nn::Module> {
    auto net = std::make_shared<nn::Sequential>();
    auto conv_block = [&](std::int64_t in, std::int64_t out) {
      net->push_back(std::make_shared<nn::Conv2d>(in, out, 5));
      if (batch_norm) net->push_back(std::make_shared<nn::BatchNorm2d>(out));
      net->push_back(std::make_shared<nn::ReLU>());
      net->push_back(std::make_shared<nn::MaxPool2d>(2));
    };
    conv_block(1, 20);
    conv_block(20, 50);
    net->push_back(std::make_shared<nn::Flatten>());
    net->push_back(std::make_shared<nn::Linear>(800, 500));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::Linear>(500, 10));
    return net;
  };
  return fashion::run("lenet_fashion", options, build, {{"batch_norm", batch_norm}});
}
