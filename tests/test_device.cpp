// Devices through the public API, on the CPU backend: factories take a device, to() and
// Module::to(Device) move tensors, host reads are explicit, the recurrent cell table. A build
// without CUDA names the device it lacks wherever one is asked for. (The CUDA side of these
// seams is exercised by the backend harness on a GPU.)
#include <cstdint>
#include <memory>
#include <sstream>

#include "backend/backend.hpp"
#include "test_helpers.hpp"

namespace recur {
namespace {

bool has_cuda() { return has_backend(DeviceType::CUDA); }

// What an error about an unusable GPU says besides the device's name: that the build lacks
// CUDA, or (built with it, on a machine with no GPU) the CUDA runtime's reason.
const char* missing_gpu_reason() { return has_cuda() ? "" : "built without CUDA support"; }

#define SKIP_IF_A_GPU_IS_PRESENT() \
  if (device_count(DeviceType::CUDA) > 0) GTEST_SKIP() << "a GPU is present: no missing device to ask for"

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

TEST(Device, RegistryNamesAMissingDevice) {
  SKIP_IF_A_GPU_IS_PRESENT();
  EXPECT_EQ(device_count(DeviceType::CPU), 1);
  expect_error([] { backend::backend_for(Device::cuda()); }, {"cuda:0", missing_gpu_reason()});
  expect_error([] { allocator_for(Device::cuda(1)); }, {"cuda:1", missing_gpu_reason()});
  expect_error([] { empty({2, 3}, DType::Float32, Device::cuda()); }, {"cuda:0", missing_gpu_reason()});
}

TEST(Device, FactoriesOnAMissingDeviceFail) {
  SKIP_IF_A_GPU_IS_PRESENT();
  const Device gpu = Device::cuda();
  expect_error([&] { zeros({2}, DType::Float32, gpu); }, {"cuda:0"});
  expect_error([&] { full({2}, 3, DType::Float64, gpu); }, {"cuda:0"});
  expect_error([&] { from_vector(std::vector<float>{1, 2}, {}, gpu); }, {"cuda:0"});
  expect_error([&] { tensor({1, 2}, DType::Float32, gpu); }, {"cuda:0"});
  expect_error([&] { scalar_tensor(1, DType::Float32, gpu); }, {"cuda:0"});
  expect_error([&] { arange(4, DType::Int64, gpu); }, {"cuda:0"});
  expect_error([&] { uniform({2}, 0, 1, DType::Float32, nullptr, gpu); }, {"cuda:0"});
}

TEST(Device, FactoriesOnTheCpuMatchTheDefault) {
  const Device cpu = Device::cpu();
  EXPECT_EQ(from_vector(std::vector<float>{1, 2, 3}, {3}, cpu).device(), cpu);
  EXPECT_EQ(values(from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}, cpu)), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(from_vector(std::vector<double>{1.5}, {}, cpu).to_vector<double>(), std::vector<double>{1.5});
  EXPECT_EQ(from_vector(std::vector<std::int64_t>{7, -2}, {}, cpu).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{7, -2}));
  EXPECT_EQ(values(tensor({{1, 2}, {3, 4}}, DType::Float32, cpu)), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(scalar_tensor(2.5, DType::Float64, cpu).item(), 2.5);
  EXPECT_EQ(arange(3, DType::Int64, cpu).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(arange(0.0, 1.0, 0.5, DType::Float64, cpu).to_vector<double>(), (std::vector<double>{0, 0.5}));
  EXPECT_EQ(from_vector(std::vector<float>{}, {0}, cpu).numel(), 0);
  Generator a(5), b(5);
  EXPECT_EQ(values(normal({5}, 0, 1, DType::Float32, &a, cpu)), values(normal({5}, 0, 1, DType::Float32, &b)));
  EXPECT_EQ(values(uniform({5}, 0, 1, DType::Float32, &a, cpu)), values(uniform({5}, 0, 1, DType::Float32, &b)));
  EXPECT_EQ(values(bernoulli({5}, 0.5, DType::Float32, &a, cpu)), values(bernoulli({5}, 0.5, DType::Float32, &b)));
}

TEST(Device, ToTheSameDeviceIsTheSameTensor) {
  Tensor x = tensor({1, 2, 3});
  EXPECT_TRUE(to(x, Device::cpu()).is_same(x));
  Tensor strided = transpose(tensor({{1, 2}, {3, 4}}), 0, 1);
  EXPECT_TRUE(to(strided, Device::cpu()).is_same(strided));
  expect_error([] { to(Tensor(), Device::cpu()); }, {"to", "undefined"});
}

TEST(Device, ToAMissingDeviceNamesIt) {
  SKIP_IF_A_GPU_IS_PRESENT();
  expect_error([] { to(tensor({1, 2}), Device::cuda()); }, {"cuda:0", missing_gpu_reason()});
}

TEST(Device, GradientFlowsThroughTo) {
  Tensor x = tensor({1, 2, 3}, DType::Float64).set_requires_grad();
  Tensor y = sum(mul(to(x, Device::cpu()), 2.0));
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(x.grad().device(), Device::cpu());
  expect_gradcheck([](const std::vector<Tensor>& in) { return tanh(to(in[0], Device::cpu())); },
                   {normal({2, 3}, 0, 1, DType::Float64).set_requires_grad()});
}

TEST(Device, HostReadsOfCpuTensors) {
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(x.data<float>()[4], 5);
  Tensor column = select(x, 1, 1);  // a strided view
  EXPECT_EQ(values(column), (std::vector<float>{2, 5}));
  EXPECT_EQ(select(column, 0, 1).item(), 5);
  EXPECT_EQ(x.str(), "tensor([[1., 2., 3.],\n        [4., 5., 6.]])");
  expect_error([&] { x.data<double>(); }, {"data<float64>", "float32"});
}

TEST(Device, CopyBetweenTensorsOfOneDeviceIsUnchanged) {
  Tensor dst = zeros({2, 2});
  copy_(dst, tensor({{1, 2}, {3, 4}}));
  EXPECT_EQ(values(dst), (std::vector<float>{1, 2, 3, 4}));
  copy_(dst, transpose(tensor({{1, 2}, {3, 4}}), 0, 1));
  EXPECT_EQ(values(dst), (std::vector<float>{1, 3, 2, 4}));
}

TEST(Device, ModuleToDeviceKeepsHandles) {
  auto net = std::make_shared<nn::Linear>(3, 2);
  auto bn = std::make_shared<nn::BatchNorm1d>(2);
  Tensor weight = net->weight;
  const std::vector<float> before = values(weight);
  sum(net->forward(ones({1, 3}))).backward();
  net->to(Device::cpu());
  bn->to(Device::cpu());
  EXPECT_TRUE(net->weight.is_same(weight));
  EXPECT_EQ(values(net->weight), before);
  EXPECT_TRUE(net->weight.requires_grad());
  EXPECT_TRUE(net->weight.grad().defined());  // a no-op move keeps the gradient
  EXPECT_EQ(bn->num_batches_tracked.device(), Device::cpu());
  if (!has_cuda()) {
    expect_error([&] { net->to(Device::cuda()); }, {"cuda:0", "without CUDA"});
    EXPECT_TRUE(net->weight.is_same(weight));
    EXPECT_EQ(net->weight.device(), Device::cpu());
  }
}

TEST(Device, ParameterDeviceChoosesWhereLayersAllocate) {
  EXPECT_EQ(nn::parameter_device(), Device::cpu());
  {
    nn::ParameterDevice on(Device::cpu());
    auto lstm = std::make_shared<nn::LSTM>(3, 4);
    for (const Tensor& p : lstm->parameters()) EXPECT_EQ(p.device(), Device::cpu());
  }
  if (!has_cuda()) {
    expect_error([] { nn::ParameterDevice on(Device::cuda()); }, {"cuda:0", "without CUDA"});
    EXPECT_EQ(nn::parameter_device(), Device::cpu());
  }
  // The same seed gives the same parameters with or without a guard.
  manual_seed(3);
  auto a = std::make_shared<nn::Linear>(4, 2);
  manual_seed(3);
  nn::ParameterDevice on(Device::cpu());
  auto b = std::make_shared<nn::Linear>(4, 2);
  EXPECT_EQ(values(a->weight), values(b->weight));
}

TEST(Device, SetGradRefusesAnotherShape) {
  Tensor x = zeros({2}).set_requires_grad();
  expect_error([&] { x.set_grad(zeros({3})); }, {"set_grad", "[3]", "[2]"});
}

TEST(Device, BatchNormCountsBatchesOnItsDevice) {
  auto bn = std::make_shared<nn::BatchNorm1d>(2);
  bn->forward(normal({4, 2}));
  bn->forward(normal({4, 2}));
  EXPECT_EQ(bn->num_batches_tracked.item(), 2);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::Int64);
}

// The CPU allocator keeps large freed blocks and hands one back to a request of a similar
// size (at least the request, at most about twice it); small blocks and far larger
// requests get memory of their own. Every block is 64-byte aligned, and one of 2 MB or more
// starts on a 2 MB boundary, so that transparent huge pages can back it.
TEST(CpuAllocator, ReusesLargeBlocksOfSimilarSize) {
  Allocator& cpu = allocator_for(Device::cpu());
  const std::size_t mb = std::size_t(1) << 20;
  void* first = cpu.allocate(3 * mb);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % (2 * mb), 0u);
  static_cast<char*>(first)[3 * mb - 1] = 1;  // the whole request is usable
  cpu.deallocate(first, 3 * mb);

  void* smaller = cpu.allocate(2 * mb + 12345);  // fits in the freed block: reused
  EXPECT_EQ(smaller, first);
  static_cast<char*>(smaller)[2 * mb + 12344] = 1;
  void* larger = cpu.allocate(3 * mb);  // the cached block is in use: a new one
  EXPECT_NE(larger, first);
  cpu.deallocate(smaller, 2 * mb + 12345);  // released at its own request size

  void* much_smaller = cpu.allocate(mb);  // the 3 MB block is more than twice 1 MB
  EXPECT_NE(much_smaller, first);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(much_smaller) % 64, 0u);
  void* again = cpu.allocate(3 * mb);  // the first block, back at its full capacity
  EXPECT_EQ(again, first);
  static_cast<char*>(again)[3 * mb - 1] = 2;
  for (auto [block, size] : {std::pair{larger, 3 * mb}, {much_smaller, mb}, {again, 3 * mb}})
    cpu.deallocate(block, size);

  void* small = cpu.allocate(100);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(small) % 64, 0u);
  cpu.deallocate(small, 100);
  EXPECT_EQ(cpu.allocate(0), nullptr);
}

TEST(RnnCellTable, OneRowPerCell) {
  EXPECT_EQ(kRnnCells.size(), 5u);
  EXPECT_STREQ(rnn_cell_name(RnnCell::Lstm), "LSTM");
  EXPECT_STREQ(rnn_cell_name(RnnCell::RnnTanh), "RNN_TANH");
  EXPECT_EQ(rnn_gate_count(RnnCell::RnnTanh), 1);
  EXPECT_EQ(rnn_gate_count(RnnCell::RnnRelu), 1);
  EXPECT_EQ(rnn_gate_count(RnnCell::Lstm), 4);
  EXPECT_EQ(rnn_gate_count(RnnCell::Gru), 3);
  EXPECT_EQ(rnn_gate_count(RnnCell::Mgu), 2);
  for (const RnnCellInfo& info : kRnnCells) {
    EXPECT_EQ(rnn_cell_from_key(info.key), info.cell);
    EXPECT_EQ(nn::parse_cell_name(info.key), info.cell);
    EXPECT_EQ(info.cell_state, info.cell == RnnCell::Lstm);
  }
  EXPECT_FALSE(rnn_cell_from_key("LSTM").has_value());
  EXPECT_EQ(rnn_cell_keys(), "rnn_tanh, rnn_relu, lstm, gru or mgu");
  EXPECT_EQ(backend::rnn_gate_count(RnnCell::Gru), 3);  // the backend reads the same table
  // Module names come from the table.
  EXPECT_EQ(nn::GRU(2, 3).type_name(), "GRU");
  std::ostringstream os;
  os << nn::RNN(2, 3);
  EXPECT_THAT(os.str(), testing::HasSubstr("RNN("));
}

}  // namespace
}  // namespace recur
