// Progress reports on stderr: on a terminal one live status line rewritten in place, with
// messages printed above it; otherwise plain lines (logs stay readable).
#pragma once
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace recur::train {

class Progress {
 public:
  // A silent one prints nothing (the processes of a data-parallel run other than rank 0).
  explicit Progress(bool silent = false) : live_(!silent && isatty(fileno(stderr)) != 0), silent_(silent) {}
  ~Progress() { end_line(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool live() const { return live_; }
  // The status line: rewritten in place on a terminal, else printed as a line.
  void update(const std::string& status) {
    if (silent_) return;
    if (live_) {
      std::fprintf(stderr, "\r%s\x1b[K", status.c_str());
      on_line_ = true;
    } else {
      std::fprintf(stderr, "%s\n", status.c_str());
    }
    std::fflush(stderr);
  }
  // A line that stays (an evaluation, a summary).
  void message(const std::string& text) {
    if (silent_) return;
    end_line();
    std::fprintf(stderr, "%s\n", text.c_str());
    std::fflush(stderr);
  }

 private:
  void end_line() {
    if (on_line_) std::fprintf(stderr, "\r\x1b[K");
    on_line_ = false;
  }
  bool live_, silent_;
  bool on_line_ = false;
};

// "4m12s", "1h03m", "35s"
inline std::string format_seconds(double seconds) {
  const long long s = std::llround(std::max(0.0, seconds));
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  else if (s >= 60) std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  else std::snprintf(text, sizeof text, "%llds", s);
  return text;
}

// "epoch 3  step 1234/5000  loss 1.5231  81.2k chars/s  ETA 4m12s"; total 0 = open-ended,
// eta < 0 = unknown; `items` names the unit of the rate.
inline std::string format_status(std::int64_t epoch, std::int64_t step, std::int64_t total, double loss,
                                 double items_per_sec, double eta, const std::string& items = "chars") {
  char text[160];
  std::string steps = std::to_string(step);
  if (total > 0) steps.append("/").append(std::to_string(total));
  std::snprintf(text, sizeof text, "epoch %lld  step %s  loss %.4f  %.1fk %s/s", static_cast<long long>(epoch),
                steps.c_str(), loss, items_per_sec / 1000, items.c_str());
  std::string line = text;
  if (eta >= 0) line.append("  ETA ").append(format_seconds(eta));
  return line;
}

// "step 1000 (epoch 1.94): train 1.6123, validation 1.5872 nats/char, 2.2899 bits/char, perplexity 4.891"
inline std::string format_eval(std::int64_t step, double epochs, double train_loss, const std::string& validation) {
  char text[96];
  std::snprintf(text, sizeof text, "step %lld (epoch %.2f): train %.4f, validation ", static_cast<long long>(step),
                epochs, train_loss);
  return text + validation;
}

}  // namespace recur::train
