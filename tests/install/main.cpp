// Uses an installed recur through its one public header: a matrix product (OpenBLAS),
// a gradient (autograd), and an error. Prints "recur consumer ok" when all agree.
#include <cstdio>

#include <recur/recur.hpp>

int main() {
  recur::Tensor a = recur::tensor({{1, 2}, {3, 4}});
  recur::Tensor product = recur::matmul(a, a);  // [[7, 10], [15, 22]]
  std::printf("%s\n", product.str().c_str());

  recur::Tensor x = recur::tensor({1, 2, 3}, recur::DType::Float64);
  x.set_requires_grad();
  recur::sum(x * x).backward();  // d/dx sum(x^2) = 2x
  std::printf("grad %s\n", x.grad().str().c_str());

  bool threw = false;
  try {
    recur::matmul(a, recur::ones({3, 2}));
  } catch (const recur::Error& e) {
    threw = true;
    std::printf("error %s\n", e.what());
  }

  bool ok = product.to_vector<float>() == std::vector<float>{7, 10, 15, 22} &&
            x.grad().to_vector<double>() == std::vector<double>{2, 4, 6} && threw;
  std::printf("%s\n", ok ? "recur consumer ok" : "recur consumer FAILED");
  return ok ? 0 : 1;
}
