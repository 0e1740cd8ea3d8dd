// Where a tensor's storage lives. Every op checks that its operands share a device and
// dispatches to that device's backend: the CPU's always, CUDA's when built with it.
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

// Whether this build of recur has the backend of `type` (the CPU's: always).
bool has_backend(DeviceType type);
// How many devices of `type` this process can use: 1 CPU; the GPUs the CUDA driver reports
// (0 without the CUDA backend, a driver or a GPU).
int device_count(DeviceType type);

}  // namespace recur
