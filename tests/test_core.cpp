// The core layer: Shape, Tensor views and accessors, printing, the Philox generator,
// the thread-count policy, and the errors they raise. Uses only core (no ops).
#include <gtest/gtest.h>
#include <sched.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "recur/core/error.hpp"
#include "recur/core/random.hpp"
#include "recur/core/shape.hpp"
#include "recur/core/storage.hpp"
#include "recur/core/tensor.hpp"
#include "recur/core/threading.hpp"

namespace recur {
namespace {

// Runs fn, expects a recur::Error, and checks that its message contains every fragment.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
  } catch (const Error& e) {
    std::string message = e.what();
    for (const std::string& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message \"" << message << "\" does not mention \"" << fragment << "\"";
    return;
  }
  ADD_FAILURE() << "expected recur::Error";
}

// A contiguous float32 tensor holding `values`, built with core only.
Tensor make_float(const Shape& shape, const std::vector<float>& values) {
  Tensor t = empty(shape, DType::Float32);
  EXPECT_EQ(t.numel(), static_cast<std::int64_t>(values.size()));
  float* p = t.data<float>();
  for (std::size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}

Storage float_storage(std::int64_t elements) {
  return std::make_shared<StorageImpl>(elements * sizeof(float), Device::cpu());
}

// ---------------------------------------------------------------- Shape

TEST(Shape, NumelStrAndEquality) {
  EXPECT_EQ(Shape({2, 3, 4}).numel(), 24);
  EXPECT_EQ(Shape().numel(), 1);  // a scalar has one element
  EXPECT_EQ(Shape({0, 3}).numel(), 0);
  EXPECT_EQ(Shape({2, 3}).str(), "[2, 3]");
  EXPECT_EQ(Shape().str(), "[]");
  std::ostringstream os;
  os << Shape({5});
  EXPECT_EQ(os.str(), "[5]");
  EXPECT_EQ(Shape({2, 3}), Shape(std::vector<std::int64_t>{2, 3}));
  EXPECT_NE(Shape({2, 3}), Shape({3, 2}));
  EXPECT_NE(Shape({2}), Shape({2, 1}));
  EXPECT_EQ(Shape({2, 3}).to_vector(), (std::vector<std::int64_t>{2, 3}));
}

TEST(Shape, AtMostMaxDims) {
  Shape s;
  for (int i = 0; i < kMaxDims; ++i) s.push_back(1);
  EXPECT_EQ(s.size(), kMaxDims);
  expect_error([&] { s.push_back(1); }, {"at most", std::to_string(kMaxDims)});
}

TEST(Shape, ContiguousStrides) {
  EXPECT_EQ(contiguous_strides({2, 3, 4}), Shape({12, 4, 1}));
  EXPECT_EQ(contiguous_strides({}), Shape());
  EXPECT_EQ(contiguous_strides({5}), Shape({1}));
}

TEST(Shape, BroadcastShapes) {
  EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}, "add"), Shape({2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {5}, "add"), Shape({5}));
  EXPECT_EQ(broadcast_shapes({4, 1}, {4, 1}, "add"), Shape({4, 1}));
  EXPECT_EQ(broadcast_shapes({1}, {0, 3}, "add"), Shape({0, 3}));
}

TEST(Shape, BroadcastErrorNamesOpAndBothShapes) {
  expect_error([] { broadcast_shapes({2, 3}, {4, 3}, "mul"); }, {"mul", "[2, 3]", "[4, 3]"});
  expect_error([] { broadcast_shapes({7}, {2, 5}, "sub"); }, {"sub", "[7]", "[2, 5]"});
}

TEST(Shape, NormalizeDim) {
  EXPECT_EQ(normalize_dim(0, 3, "op"), 0);
  EXPECT_EQ(normalize_dim(2, 3, "op"), 2);
  EXPECT_EQ(normalize_dim(-1, 3, "op"), 2);
  EXPECT_EQ(normalize_dim(-3, 3, "op"), 0);
  // A scalar accepts 0 and -1, as PyTorch does.
  EXPECT_EQ(normalize_dim(0, 0, "op"), 0);
  EXPECT_EQ(normalize_dim(-1, 0, "op"), 0);
}

TEST(Shape, NormalizeDimErrors) {
  expect_error([] { normalize_dim(3, 3, "softmax"); }, {"softmax", "3", "rank 3"});
  expect_error([] { normalize_dim(-4, 3, "sum"); }, {"sum", "-4", "rank 3"});
  expect_error([] { normalize_dim(1, 0, "squeeze"); }, {"squeeze", "rank 0"});
}

// ---------------------------------------------------------------- Tensor construction

TEST(Tensor, EmptyIsContiguousWithRequestedDtype) {
  Tensor t = empty({2, 3, 4}, DType::Float64);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), Shape({2, 3, 4}));
  EXPECT_EQ(t.strides(), Shape({12, 4, 1}));
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.dtype(), DType::Float64);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_EQ(t.offset(), 0);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_GE(t.storage()->nbytes(), 24 * sizeof(double));
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.stride(0), 12);

  Tensor scalar = empty({});
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.numel(), 1);
  Tensor none = empty({0, 5});
  EXPECT_EQ(none.numel(), 0);
}

TEST(Tensor, EmptyRejectsNegativeExtents) {
  expect_error([] { empty({2, -1}); }, {"empty", "negative", "[2, -1]"});
}

// Sizes from files are not trusted: a product past 2^63 elements or bytes is an error, not
// a wrapped-around small allocation.
TEST(Tensor, EmptyRejectsSizesPastTheAddressSpace) {
  const std::int64_t big = std::int64_t{1} << 40;
  expect_error([&] { empty({big, big}); }, {"shape [1099511627776, 1099511627776]", "more than 2^63 elements"});
  expect_error([&] { empty({std::int64_t{1} << 62}, DType::Float64); }, {"empty", "more than 2^63 bytes"});
  // Empty, but its strides would overflow (an IDX header found by fuzzing).
  expect_error([&] { empty({0, big, big}); }, {"shape [0, 1099511627776, 1099511627776]", "strides past 2^63"});
}

TEST(AllocationLimit, RefusesTheStorageThatWouldPassIt) {
  {
    AllocationLimit limit(1000, "building the model");
    Tensor fits = empty({100}, DType::Float32);  // 400 bytes
    Tensor also = empty({150}, DType::Float32);  // 600: exactly the limit
    EXPECT_EQ(also.numel(), 150);
    expect_error([] { empty({1}, DType::Float32); }, {"building the model", "4 more bytes would pass the limit"});
    {
      AllocationLimit inner(8, "inner");
      EXPECT_EQ(empty({2}, DType::Float32).numel(), 2);  // the innermost limit counts
    }
    expect_error([] { empty({1}, DType::Float32); }, {"building the model"});
  }
  EXPECT_EQ(empty({1000}, DType::Float32).numel(), 1000);  // no limit once it is gone
}

TEST(Tensor, SizeAndStrideCheckTheDimension) {
  Tensor t = empty({2, 3});
  expect_error([&] { t.size(2); }, {"size", "rank 2"});
  expect_error([&] { t.stride(-3); }, {"stride", "rank 2"});
}

TEST(Tensor, MakeViewAcceptsViewsInsideTheStorage) {
  Storage s = float_storage(6);
  EXPECT_NO_THROW(Tensor::make_view(s, {2, 3}, {3, 1}, 0, DType::Float32));
  EXPECT_NO_THROW(Tensor::make_view(s, {3, 2}, {1, 3}, 0, DType::Float32));   // transpose
  EXPECT_NO_THROW(Tensor::make_view(s, {1, 3}, {3, 1}, 3, DType::Float32));   // last row
  EXPECT_NO_THROW(Tensor::make_view(s, {4, 3}, {0, 1}, 3, DType::Float32));   // broadcast row
  EXPECT_NO_THROW(Tensor::make_view(s, {3}, {-2}, 5, DType::Float32));        // reversed, stride -2
  EXPECT_NO_THROW(Tensor::make_view(s, {0, 3}, {3, 1}, 6, DType::Float32));   // no elements
  EXPECT_NO_THROW(Tensor::make_view(s, {3}, {1}, 0, DType::Float64));         // 3 doubles in 24 bytes
}

TEST(Tensor, MakeViewRejectsViewsOutsideTheStorage) {
  Storage s = float_storage(6);
  expect_error([&] { Tensor::make_view(s, {2, 3}, {3, 1}, 1, DType::Float32); },
               {"make_view", "[2, 3]", "exceeds", "6 elements"});
  expect_error([&] { Tensor::make_view(s, {7}, {1}, 0, DType::Float32); }, {"make_view", "[7]"});
  expect_error([&] { Tensor::make_view(s, {4}, {1}, 0, DType::Float64); }, {"make_view", "3 elements"});
  expect_error([&] { Tensor::make_view(s, {2}, {1}, -1, DType::Float32); }, {"make_view"});
  expect_error([&] { Tensor::make_view(s, {3}, {-2}, 3, DType::Float32); }, {"make_view"});  // reaches -1
  expect_error([&] { Tensor::make_view(s, {2, 3}, {1}, 0, DType::Float32); }, {"make_view", "rank"});
  expect_error([&] { Tensor::make_view(s, {-2}, {1}, 0, DType::Float32); }, {"make_view", "negative"});
  expect_error([] { Tensor::make_view(nullptr, {1}, {1}, 0, DType::Float32); }, {"make_view", "null"});
}

TEST(Tensor, IsContiguousOnViews) {
  Storage s = float_storage(12);
  auto view = [&](const Shape& shape, const Shape& strides, std::int64_t offset = 0) {
    return Tensor::make_view(s, shape, strides, offset, DType::Float32);
  };
  EXPECT_TRUE(view({3, 4}, {4, 1}).is_contiguous());
  EXPECT_FALSE(view({4, 3}, {1, 4}).is_contiguous());      // transpose
  EXPECT_TRUE(view({2, 4}, {4, 1}, 4).is_contiguous());    // rows 1..2
  EXPECT_FALSE(view({3, 2}, {4, 1}, 1).is_contiguous());   // columns 1..2
  EXPECT_FALSE(view({3, 4}, {0, 1}).is_contiguous());      // expanded row
  EXPECT_FALSE(view({6}, {2}).is_contiguous());            // every other element
  EXPECT_TRUE(view({1, 4}, {99, 1}).is_contiguous());      // extent-1 strides do not matter
  EXPECT_TRUE(view({4, 1}, {1, 7}).is_contiguous());
  EXPECT_TRUE(view({}, {}, 5).is_contiguous());            // a scalar
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = make_float({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor tr = Tensor::make_view(t.storage(), {3, 2}, {1, 3}, 0, DType::Float32);
  EXPECT_EQ(tr.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  t.data<float>()[1] = 10;
  EXPECT_EQ(tr.to_vector<float>()[2], 10);
  Tensor row = Tensor::make_view(t.storage(), {3}, {1}, 3, DType::Float32);
  EXPECT_EQ(row.data<float>()[0], 3);  // data() starts at the view's offset
}

TEST(Tensor, ItemReadsTheSingleElement) {
  EXPECT_DOUBLE_EQ(make_float({}, {2.5f}).item(), 2.5);
  EXPECT_DOUBLE_EQ(make_float({1, 1}, {-4}).item(), -4);
  Tensor i = empty({1}, DType::Int64);
  i.data<std::int64_t>()[0] = 7;
  EXPECT_EQ(i.item(), 7.0);
  Tensor d = empty({}, DType::Float64);
  d.data<double>()[0] = 0.1;
  EXPECT_EQ(d.item(), 0.1);  // float64 is not rounded through float32
}

TEST(Tensor, ItemRequiresOneElement) {
  Tensor t = empty({2, 3});
  expect_error([&] { t.item(); }, {"item", "[2, 3]", "6 elements"});
  expect_error([] { empty({0}).item(); }, {"item", "0 elements"});
}

TEST(Tensor, ToVectorFollowsTheViewInRowMajorOrder) {
  Tensor t = make_float({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(t.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
  Tensor column = Tensor::make_view(t.storage(), {2}, {3}, 1, DType::Float32);
  EXPECT_EQ(column.to_vector<float>(), (std::vector<float>{2, 5}));
  Tensor reversed = Tensor::make_view(t.storage(), {3}, {-1}, 2, DType::Float32);
  EXPECT_EQ(reversed.to_vector<float>(), (std::vector<float>{3, 2, 1}));
  Tensor expanded = Tensor::make_view(t.storage(), {2, 3}, {0, 1}, 3, DType::Float32);
  EXPECT_EQ(expanded.to_vector<float>(), (std::vector<float>{4, 5, 6, 4, 5, 6}));
  EXPECT_TRUE(empty({0, 4}).to_vector<float>().empty());
}

TEST(Tensor, DataChecksTheDtype) {
  Tensor t = empty({2});
  EXPECT_NO_THROW(t.data<float>());
  expect_error([&] { t.data<double>(); }, {"float64", "float32"});
  expect_error([&] { t.data<std::int64_t>(); }, {"int64", "float32"});
}

TEST(Tensor, UndefinedTensorThrowsOnUse) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.str(), "tensor(undefined)");
  expect_error([&] { t.shape(); }, {"undefined"});
  expect_error([&] { t.item(); }, {"undefined"});
}

TEST(Tensor, CopiesAreHandlesToTheSameTensor) {
  Tensor a = empty({3});
  Tensor b = a;
  EXPECT_TRUE(a.is_same(b));
  EXPECT_FALSE(a.is_same(empty({3})));
}

// ---------------------------------------------------------------- printing

TEST(Printing, MatrixLooksLikePyTorch) {
  Tensor t = make_float({2, 3}, {1, 2.5f, 3, 4, 5, 6});
  EXPECT_EQ(t.str(),
            "tensor([[1.0000, 2.5000, 3.0000],\n"
            "        [4.0000, 5.0000, 6.0000]])");
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), t.str());
}

TEST(Printing, WholeNumbersAndAlignment) {
  EXPECT_EQ(make_float({2, 3}, {1, 2, 3, 4, 5, 6}).str(),
            "tensor([[1., 2., 3.],\n"
            "        [4., 5., 6.]])");
  EXPECT_EQ(make_float({2, 2}, {-1, 2.5f, 3, 4}).str(),
            "tensor([[-1.0000,  2.5000],\n"
            "        [ 3.0000,  4.0000]])");
  EXPECT_EQ(make_float({3}, {0.5f, 1, 2}).str(), "tensor([0.5000, 1.0000, 2.0000])");
}

// ---------------------------------------------------------------- random numbers

TEST(Philox, KnownAnswer) {
  // Random123's known-answer vector for Philox4x32-10 with zero counter and key.
  auto w = philox4x32(0, 0);
  EXPECT_EQ(w[0], 0x6627e8d5u);
  EXPECT_EQ(w[1], 0xe169c58du);
  EXPECT_EQ(w[2], 0xbc57ac4cu);
  EXPECT_EQ(w[3], 0x9b00dbd8u);
}

TEST(Philox, SameSeedSameSequence) {
  Generator a(42), b(42), c(43);
  bool differs_from_other_seed = false;
  for (int i = 0; i < 100; ++i) {
    std::uint32_t x = a.next_u32();
    EXPECT_EQ(x, b.next_u32()) << "draw " << i;
    if (x != c.next_u32()) differs_from_other_seed = true;
  }
  EXPECT_TRUE(differs_from_other_seed);
  EXPECT_EQ(a.seed(), 42u);
  EXPECT_EQ(a.offset(), 100u);
}

TEST(Philox, SetStateRestoresTheSequence) {
  Generator g(7);
  for (int i = 0; i < 5; ++i) g.next_u32();
  std::uint64_t seed = g.seed(), offset = g.offset();
  std::vector<double> first;
  for (int i = 0; i < 10; ++i) first.push_back(g.next_uniform());
  Generator other(999);
  other.set_state(seed, offset);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(other.next_uniform(), first[i]) << "draw " << i;
  EXPECT_EQ(other.offset(), g.offset());
}

TEST(Philox, ReserveHandsOutConsecutiveBlocks) {
  Generator g(1);
  EXPECT_EQ(g.reserve(10), 0u);
  EXPECT_EQ(g.reserve(5), 10u);
  EXPECT_EQ(g.offset(), 15u);
  EXPECT_EQ(g.next_u32(), philox4x32(1, 15)[0]);  // a draw is a pure function of (seed, offset)
}

TEST(Philox, UniformDrawsLieInTheUnitInterval) {
  Generator g(3);
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    double u = g.next_uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.01);
  EXPECT_EQ(uniform_float(0), 0.0f);
  EXPECT_LT(uniform_float(0xffffffffu), 1.0f);
  EXPECT_LT(uniform_double(0xffffffffu, 0xffffffffu), 1.0);
}

TEST(Philox, ManualSeedResetsTheDefaultGenerator) {
  manual_seed(5);
  std::uint32_t first = default_generator().next_u32();
  manual_seed(5);
  EXPECT_EQ(default_generator().next_u32(), first);
  EXPECT_EQ(default_generator().seed(), 5u);
}

// ---------------------------------------------------------------- threading

TEST(Threading, SetAndGetNumThreads) {
  int original = get_num_threads();
  EXPECT_GE(original, 1);
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  set_num_threads(3);
  EXPECT_EQ(get_num_threads(), 3);
  set_num_threads(original);
  EXPECT_EQ(get_num_threads(), original);
}

TEST(Threading, SetNumThreadsRejectsLessThanOne) {
  int original = get_num_threads();
  expect_error([] { set_num_threads(0); }, {"set_num_threads", "0"});
  expect_error([] { set_num_threads(-2); }, {"set_num_threads", "-2"});
  EXPECT_EQ(get_num_threads(), original);  // a rejected call changes nothing
}

// RECUR_NUM_THREADS is read once, on first use. Each case runs in a fresh process (a
// "threadsafe" death test re-executes the binary), so the variable set here is the one read.
TEST(ThreadingEnvironment, RecurNumThreadsSetsTheStartingCount) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("RECUR_NUM_THREADS", "3", 1);
        std::exit(get_num_threads() == 3 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(ThreadingEnvironment, WithoutRecurNumThreadsEveryCoreIsUsed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        unsetenv("RECUR_NUM_THREADS");
        cpu_set_t usable;
        CPU_ZERO(&usable);
        if (sched_getaffinity(0, sizeof usable, &usable) != 0) std::exit(2);
        std::exit(get_num_threads() == CPU_COUNT(&usable) ? 0 : 1);  // the cores this process may use
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(ThreadingEnvironment, InvalidRecurNumThreadsIsAnError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (const char* bad : {"0", "-1", "two", "4x"}) {
    EXPECT_EXIT(
        {
          setenv("RECUR_NUM_THREADS", bad, 1);
          try {
            get_num_threads();
          } catch (const Error& e) {
            std::string message = e.what();
            std::exit(message.find("RECUR_NUM_THREADS") != std::string::npos ? 0 : 2);
          }
          std::exit(1);
        },
        ::testing::ExitedWithCode(0), "")
        << "RECUR_NUM_THREADS=\"" << bad << "\"";
  }
}

// ---------------------------------------------------------------- errors

TEST(Errors, AreRuntimeErrorsWithTheBuiltMessage) {
  try {
    int expected = 3, got = 4;
    RECUR_CHECK(expected == got, "op: expected " << expected << ", got " << got);
    FAIL() << "RECUR_CHECK did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(dynamic_cast<const Error*>(&e), nullptr);
    EXPECT_STREQ(e.what(), "op: expected 3, got 4");
  }
  // A check that holds builds no message (messages may be costly to build).
  int messages_built = 0;
  auto message = [&] { return ++messages_built; };
  const int one = 1;
  RECUR_CHECK(one > 0, "never built " << message());
  EXPECT_EQ(messages_built, 0);
  EXPECT_THROW(RECUR_CHECK(one < 0, "built " << message()), Error);
  EXPECT_EQ(messages_built, 1);
  EXPECT_THROW(RECUR_FAIL("always"), Error);
}

TEST(Errors, CudaIsReportedAsUnavailable) {
  expect_error([] { empty({2}, DType::Float32, Device::cuda()); }, {"cuda"});
}

}  // namespace
}  // namespace recur
