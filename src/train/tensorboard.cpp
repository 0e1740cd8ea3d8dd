// TensorBoard event files (include/recur/train/tensorboard.hpp).
#include "recur/train/tensorboard.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "recur/core/error.hpp"
#include "recur/ops.hpp"
#include "train/tensorboard.pb.h"

namespace recur::train {
namespace {

namespace pb = recur::tensorboard;

// The table of the reflected Castagnoli polynomial, one entry per byte value.
std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (crc & 1 ? 0x82f63b78u : 0u);
    table[byte] = crc;
  }
  return table;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

pb::Event event_at(std::int64_t step) {
  pb::Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  return event;
}

}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
  static const std::array<std::uint32_t, 256> table = make_crc32c_table();
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

std::uint32_t masked_crc32c(std::string_view bytes) {
  const std::uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir, std::int64_t resumed_at_step) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  RECUR_CHECK(!error, "--tensorboard: cannot create the directory " << dir << ": " << error.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  // Seconds, then the pid: a resumed run's file sorts after the earlier ones.
  path_ = (std::filesystem::path(dir) / ("events.out.tfevents." + std::to_string(static_cast<long long>(now_seconds())) +
                                         "." + host + "." + std::to_string(getpid())))
              .string();
  file_ = std::fopen(path_.c_str(), "ab");
  RECUR_CHECK(file_ != nullptr, path_ << ": cannot create the TensorBoard event file: " << std::strerror(errno));
  pb::Event version = event_at(0);
  version.set_file_version("brain.Event:2");
  write_record(version.SerializeAsString());
  if (resumed_at_step >= 0) {
    // TensorBoard drops earlier events from this step on: those written after the
    // checkpoint the run resumes from, which it writes again.
    pb::Event start = event_at(resumed_at_step + 1);
    start.mutable_session_log()->set_status(pb::SessionLog::START);
    write_record(start.SerializeAsString());
  }
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void TensorBoardWriter::write_record(const std::string& data) {
  char header[12];
  const std::uint64_t length = data.size();  // little-endian on every machine recur builds for
  std::memcpy(header, &length, 8);
  const std::uint32_t length_crc = masked_crc32c(std::string_view(header, 8));
  std::memcpy(header + 8, &length_crc, 4);
  const std::uint32_t data_crc = masked_crc32c(data);
  const bool ok = std::fwrite(header, 1, sizeof header, file_) == sizeof header &&
                  std::fwrite(data.data(), 1, data.size(), file_) == data.size() &&
                  std::fwrite(&data_crc, 1, 4, file_) == 4;
  RECUR_CHECK(ok, path_ << ": writing a TensorBoard event failed: " << std::strerror(errno));
}

void TensorBoardWriter::flush() {
  RECUR_CHECK(std::fflush(file_) == 0 && !std::ferror(file_),
              path_ << ": writing the TensorBoard events failed: " << std::strerror(errno));
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, std::int64_t step) {
  pb::Event event = event_at(step);
  pb::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::add_histogram(const std::string& tag, const Tensor& values, std::int64_t step, int buckets) {
  RECUR_CHECK(buckets > 0, "add_histogram: " << buckets << " buckets");
  if (values.numel() == 0) return;
  const std::vector<double> x = values.to_vector<double>();
  double lo = INFINITY, hi = -INFINITY, sum = 0, sum_squares = 0, count = 0;
  for (double v : x) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v), hi = std::max(hi, v);
    sum += v, sum_squares += v * v, ++count;
  }
  if (count == 0) return;
  // A constant tensor gets one bucket ending at its value.
  const int n = hi > lo ? buckets : 1;
  const double width = (hi - lo) / n;
  std::vector<double> counts(static_cast<std::size_t>(n));
  for (double v : x) {
    if (!std::isfinite(v)) continue;
    const int i = width > 0 ? std::min(n - 1, static_cast<int>((v - lo) / width)) : 0;
    ++counts[static_cast<std::size_t>(i)];
  }
  pb::Event event = event_at(step);
  pb::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  pb::HistogramProto* h = v->mutable_histo();
  h->set_min(lo), h->set_max(hi), h->set_num(count), h->set_sum(sum), h->set_sum_squares(sum_squares);
  for (int i = 0; i < n; ++i) {
    h->add_bucket_limit(i + 1 == n ? hi : lo + width * (i + 1));
    h->add_bucket(counts[static_cast<std::size_t>(i)]);
  }
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::add_text(const std::string& tag, const std::string& text, std::int64_t step) {
  pb::Event event = event_at(step);
  pb::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  pb::TensorProto* t = v->mutable_tensor();
  t->set_dtype(pb::DT_STRING);
  t->mutable_tensor_shape();  // a scalar: no dims
  t->add_string_val(text);
  write_record(event.SerializeAsString());
}

}  // namespace recur::train
