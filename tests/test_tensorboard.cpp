// `recur train --tensorboard`: the event files hold every figure of metrics.jsonl, each
// parameter's and gradient's histogram and the sample, at every evaluation; a resumed run
// continues them. The files are read back by tests/read_tfevents.py, a decoder written
// apart from recur's (its own CRC-32C from python3-crc32c, TensorBoard's field numbers
// decoded by hand from the wire format).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_helpers.hpp"
#include "recur/recur.hpp"

namespace recur {
namespace {

using json = nlohmann::json;

TEST(Crc32c, CheckValues) {
  // The CRC-32C catalogue's check value, and RFC 3720's 32 zero bytes.
  EXPECT_EQ(train::crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(train::crc32c(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(train::crc32c(""), 0u);
  // Masked: rotated right by 15 bits, plus 0xa282ead8.
  EXPECT_EQ(train::masked_crc32c(""), 0xa282ead8u);
  EXPECT_EQ(train::masked_crc32c("123456789"), ((0xe3069283u >> 15) | (0xe3069283u << 17)) + 0xa282ead8u);
}

// Runs tests/read_tfevents.py on `file`: its status and stdout, one JSON event a line.
struct Decoded {
  int status = -1;
  std::vector<json> events;
};

Decoded decode(const fs::path& file) {
  const std::string command = "/usr/bin/python3 " RECUR_TFEVENTS_READER " '" + file.string() + "' 2>&1";
  std::FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  Decoded d;
  d.status = pclose(pipe);
  for (const std::string& line : lines_of_output(out)) {
    if (d.status != 0) ADD_FAILURE() << line;
    else d.events.push_back(json::parse(line));
  }
  return d;
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with("events.out.tfevents.")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<json> read_jsonl(const fs::path& path) {
  std::vector<json> records;
  for (const std::string& line : lines_of_output(read_bytes(path))) records.push_back(json::parse(line));
  return records;
}

class TensorBoard : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("recur_tensorboard_" + std::to_string(getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    text_ = dir_ / "text.txt";
    write_bytes(text_, read_bytes(RECUR_TINYSHAKESPEARE).substr(0, 6000));
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  Result recur(const Args& args) {
    const fs::path capture = dir_ / ("run" + std::to_string(++runs_));
    return collect(spawn_recur(args, capture), capture);
  }
  // A tiny language model, an evaluation every 5 steps.
  Args tiny(const fs::path& out, int steps) {
    return {"train", text_.string(), "--out", out.string(), "--hidden", "16", "--embed", "8", "--batch-size", "4",
            "--seq-length", "16", "--max-steps", std::to_string(steps), "--eval-every", "5", "--sample-length",
            "30", "--threads", "1"};
  }

  fs::path dir_, text_;
  int runs_ = 0;
};

TEST_F(TensorBoard, EventsHoldEveryFigureEachParameterAndTheSample) {
  const fs::path out = dir_ / "run";
  const Result r = recur(tiny(out, 10) + Args{"--tensorboard"});
  ASSERT_TRUE(r.ok()) << r;
  const std::vector<fs::path> files = event_files(out);
  ASSERT_EQ(files.size(), 1u);
  const Decoded d = decode(files[0]);
  ASSERT_EQ(d.status, 0);
  ASSERT_FALSE(d.events.empty());
  EXPECT_EQ(d.events[0].value("file_version", ""), "brain.Event:2");

  // Every numeric figure of every record, at its step, as a float32 scalar.
  const std::vector<json> records = read_jsonl(out / "metrics.jsonl");
  ASSERT_EQ(records.size(), 2u);
  std::size_t scalars = 0;
  for (const json& record : records) {
    const std::int64_t step = record.at("step");
    for (const auto& [key, value] : record.items()) {
      if (key == "step" || !value.is_number()) continue;
      const auto found = std::find_if(d.events.begin(), d.events.end(), [&](const json& e) {
        return e.contains("scalar") && e["step"] == step && e["scalar"][0] == key;
      });
      ASSERT_NE(found, d.events.end()) << key << " at step " << step;
      EXPECT_EQ((*found)["scalar"][1].get<double>(), static_cast<double>(static_cast<float>(value.get<double>()))) << key;
      ++scalars;
    }
  }
  EXPECT_GE(scalars, 2u * 8);  // epoch, train_loss, val_loss, val_bpc, lr, grad_norm, chars_per_sec, seconds
  for (const char* key : {"train_loss", "val_loss", "lr", "grad_norm", "chars_per_sec"})
    EXPECT_TRUE(records.back().contains(key)) << key;

  // Each parameter's values (of the step-10 model) and gradient, at both evaluations.
  const fs::path model = out / ("step000010_val" + [&] {
                           char v[16];
                           std::snprintf(v, sizeof v, "%.4f", records.back().at("val_loss").get<double>());
                           return std::string(v);
                         }() + ".safetensors");
  const TensorMap weights = io::load_safetensors(model.string()).tensors;
  ASSERT_GE(weights.size(), 5u);
  for (const auto& [name, tensor] : weights) {
    for (const std::string kind : {"weights/", "gradients/"}) {
      std::vector<json> h;
      for (const json& e : d.events)
        if (e.contains("histogram") && e["histogram"]["tag"] == kind + name) h.push_back(e);
      ASSERT_EQ(h.size(), 2u) << kind << name;
      const json& last = h.back()["histogram"];
      EXPECT_EQ(h.back()["step"], 10);
      EXPECT_EQ(last["num"].get<double>(), static_cast<double>(tensor.numel())) << name;
      double counted = 0;
      for (const json& c : last["bucket"]) counted += c.get<double>();
      EXPECT_EQ(counted, static_cast<double>(tensor.numel())) << name;
      EXPECT_EQ(last["bucket"].size(), last["bucket_limit"].size());
      EXPECT_LE(last["min"].get<double>(), last["max"].get<double>());
      EXPECT_EQ(last["bucket_limit"].back().get<double>(), last["max"].get<double>());
      if (kind == "weights/") {
        const std::vector<float> v = tensor.to_vector<float>();
        EXPECT_EQ(last["min"].get<double>(), *std::min_element(v.begin(), v.end())) << name;
        EXPECT_EQ(last["max"].get<double>(), *std::max_element(v.begin(), v.end())) << name;
      }
    }
  }

  // The sample of each evaluation, as text for TensorBoard's text plugin.
  const std::vector<json> samples = read_jsonl(out / "samples.jsonl");
  ASSERT_EQ(samples.size(), 2u);
  for (const json& sample : samples) {
    const auto found = std::find_if(d.events.begin(), d.events.end(),
                                    [&](const json& e) { return e.contains("text") && e["step"] == sample["step"]; });
    ASSERT_NE(found, d.events.end());
    EXPECT_EQ((*found)["text"][0], "sample");
    EXPECT_EQ((*found)["text"][2], "text");
    EXPECT_NE((*found)["text"][1].get<std::string>().find(sample["text"].get<std::string>()), std::string::npos);
  }
}

TEST_F(TensorBoard, AResumedRunContinuesInANewFileAndOverwriteRemovesThem) {
  const fs::path out = dir_ / "run";
  ASSERT_TRUE(recur(tiny(out, 10) + Args{"--tensorboard"}).ok());
  ASSERT_EQ(event_files(out).size(), 1u);
  sleep(1);  // the next file's name, seconds first, sorts after
  const Result resumed = recur(Args{"train", "--out", out.string(), "--resume", "--max-steps", "20", "--tensorboard"});
  ASSERT_TRUE(resumed.ok()) << resumed;
  const std::vector<fs::path> files = event_files(out);
  ASSERT_EQ(files.size(), 2u);
  const Decoded second = decode(files[1]);
  ASSERT_EQ(second.status, 0);
  ASSERT_GE(second.events.size(), 2u);
  // TensorBoard drops the first file's events from step 11 on: a crash's leftovers.
  EXPECT_EQ(second.events[1].value("session_log", 0), 1);
  EXPECT_EQ(second.events[1]["step"], 11);
  std::set<std::int64_t> steps;
  for (const json& e : second.events)
    if (e.contains("scalar") && e["scalar"][0] == "val_loss") steps.insert(e["step"].get<std::int64_t>());
  EXPECT_EQ(steps, (std::set<std::int64_t>{15, 20}));

  ASSERT_TRUE(recur(tiny(out, 5) + Args{"--overwrite"}).ok());
  EXPECT_TRUE(event_files(out).empty());
}

TEST_F(TensorBoard, AnotherDirectoryAndItsErrors) {
  const fs::path out = dir_ / "run", logs = dir_ / "logs" / "run1";
  ASSERT_TRUE(recur(tiny(out, 5) + Args{"--tensorboard", logs.string()}).ok());
  EXPECT_TRUE(event_files(out).empty());
  ASSERT_EQ(event_files(logs).size(), 1u);
  // A directory that cannot be made: the run stops before training, naming it.
  write_bytes(dir_ / "file", "x");
  const Result r = recur(tiny(dir_ / "run2", 5) + Args{"--tensorboard", (dir_ / "file" / "sub").string()});
  expect_error_line(r, {"--tensorboard", "file/sub"});
}

TEST_F(TensorBoard, TheReaderCatchesACorruptedRecord) {
  const fs::path out = dir_ / "run";
  ASSERT_TRUE(recur(tiny(out, 5) + Args{"--tensorboard"}).ok());
  const fs::path file = event_files(out).at(0);
  std::string bytes = read_bytes(file);
  bytes[bytes.size() / 2] ^= 0x10;
  write_bytes(file, bytes);
  const std::string command = "/usr/bin/python3 " RECUR_TFEVENTS_READER " '" + file.string() + "' >/dev/null 2>&1";
  EXPECT_NE(std::system(command.c_str()), 0);
}

}  // namespace
}  // namespace recur
