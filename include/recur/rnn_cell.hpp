// The recurrent cells recur runs, and the one table of their names and gate counts.
//
// The ops (recur::rnn_layer, recur::rnn_step_), the backends' fused kernels, the nn modules
// and the model files all use this enum and this table; adding a cell means adding a row
// here, its kernels in each backend (src/backend/*/rnn.*), and a module class if it needs one.
// The maths of each cell is documented in recur/ops.hpp, above rnn_layer.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace recur {

enum class RnnCell { RnnTanh, RnnRelu, Lstm, Gru, Mgu };

struct RnnCellInfo {
  RnnCell cell;
  const char* name;    // PyTorch's mode string, used in op errors: "LSTM", "RNN_TANH"
  const char* key;     // lower case, in model configs, model files and the CLI: "lstm", "rnn_tanh"
  const char* module;  // the nn module class that runs it: "LSTM", "RNN"
  std::int64_t gates;  // G, the gate blocks stacked in the weights' rows
  bool cell_state;     // carries a cell state c besides h (LSTM)
};

// Indexed by the enum's value.
inline constexpr std::array<RnnCellInfo, 5> kRnnCells{{
    {RnnCell::RnnTanh, "RNN_TANH", "rnn_tanh", "RNN", 1, false},
    {RnnCell::RnnRelu, "RNN_RELU", "rnn_relu", "RNN", 1, false},
    {RnnCell::Lstm, "LSTM", "lstm", "LSTM", 4, true},
    {RnnCell::Gru, "GRU", "gru", "GRU", 3, false},
    {RnnCell::Mgu, "MGU", "mgu", "MGU", 2, false},
}};

constexpr const RnnCellInfo& rnn_cell_info(RnnCell cell) { return kRnnCells[static_cast<std::size_t>(cell)]; }
constexpr const char* rnn_cell_name(RnnCell cell) { return rnn_cell_info(cell).name; }  // "LSTM"
constexpr std::int64_t rnn_gate_count(RnnCell cell) { return rnn_cell_info(cell).gates; }  // G: 1, 1, 4, 3, 2

// The cell whose key is `key` ("lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"), if any.
inline std::optional<RnnCell> rnn_cell_from_key(std::string_view key) {
  for (const RnnCellInfo& info : kRnnCells)
    if (key == info.key) return info.cell;
  return std::nullopt;
}

// The valid keys in table order: {"rnn_tanh", "rnn_relu", "lstm", "gru", "mgu"}.
inline std::vector<std::string> rnn_cell_key_list() {
  std::vector<std::string> keys;
  for (const RnnCellInfo& info : kRnnCells) keys.push_back(info.key);
  return keys;
}

// "rnn_tanh, rnn_relu, lstm, gru or mgu": the valid keys in table order, for messages.
inline std::string rnn_cell_keys() {
  std::string out;
  for (std::size_t i = 0; i < kRnnCells.size(); ++i)
    out += std::string(i == 0 ? "" : i + 1 == kRnnCells.size() ? " or " : ", ") + kRnnCells[i].key;
  return out;
}

static_assert([] {
  for (std::size_t i = 0; i < kRnnCells.size(); ++i)
    if (static_cast<std::size_t>(kRnnCells[i].cell) != i) return false;
  return true;
}(), "kRnnCells must list the cells in the enum's order");

}  // namespace recur
