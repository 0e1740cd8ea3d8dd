// Where a tensor's storage lives. Every op checks that its operands share a device and
// dispatches to that device's backend; only the CPU backend exists today.
#pragma once

#include <ostream>

namespace recur {

enum class DeviceType { CPU, CUDA };
constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool operator==(const Device&) const = default;
};

std::ostream& operator<<(std::ostream& os, Device d);  // "cpu", "cuda:0"

}  // namespace recur
