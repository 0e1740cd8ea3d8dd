// Beam search over any StepModel, and Seq2Seq as a StepModel (include/recur/nn/decoding.hpp).

#include "recur/nn/decoding.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>

#include "recur/autograd.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

namespace {

struct Beam {
  std::vector<std::int32_t> tokens;
  double logprob = 0;
};

struct Candidate {
  double logprob;
  std::int64_t index;  // beam * V + token
};

// Better first: the higher log-probability, then the lower index (a deterministic order).
bool better(const Candidate& a, const Candidate& b) {
  return a.logprob > b.logprob || (a.logprob == b.logprob && a.index < b.index);
}

// The k best of an input's beams' continuations, best first: a heap of the k best so far
// (its top the worst of them) over one pass, no array of all beams x V.
std::vector<Candidate> best_continuations(const std::vector<Beam>& beams, const float* log_probs, std::int64_t V,
                                          std::size_t k) {
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(&better)> kept(&better);
  for (std::size_t i = 0; i < beams.size(); ++i)
    for (std::int64_t v = 0; v < V; ++v) {
      const Candidate c{beams[i].logprob + log_probs[i * V + v], static_cast<std::int64_t>(i) * V + v};
      if (kept.size() < k) kept.push(c);
      else if (better(c, kept.top())) kept.pop(), kept.push(c);
    }
  std::vector<Candidate> best;
  for (; !kept.empty(); kept.pop()) best.push_back(kept.top());
  std::reverse(best.begin(), best.end());
  return best;
}

}  // namespace

std::vector<std::vector<Hypothesis>> beam_search(StepModel& model, std::int64_t inputs, const BeamOptions& o) {
  RECUR_CHECK(o.beam >= 1, "beam search: the beam must be at least 1, got " << o.beam);
  RECUR_CHECK(o.n_best >= 1 && o.n_best <= o.beam,
              "beam search: n-best must be between 1 and the beam " << o.beam << ", got " << o.n_best);
  RECUR_CHECK(o.max_length >= 1, "beam search: the maximum length must be at least 1, got " << o.max_length);
  const auto K = static_cast<std::size_t>(o.beam);
  auto penalised = [&](const std::vector<std::int32_t>& tokens, double logprob, bool ended) {
    const double length = static_cast<double>(tokens.size() + (ended ? 1 : 0));
    return Hypothesis{tokens, logprob, logprob / std::pow((5.0 + length) / 6.0, o.length_penalty)};
  };
  // Inputs still decoding, in the order of the model's rows; each has its live beams' rows.
  std::vector<std::int64_t> live(static_cast<std::size_t>(inputs));
  for (std::int64_t b = 0; b < inputs; ++b) live[b] = b;
  std::vector<std::vector<Beam>> beams(static_cast<std::size_t>(inputs), std::vector<Beam>(1));
  std::vector<std::vector<Hypothesis>> finished(static_cast<std::size_t>(inputs));

  for (std::int64_t step = 0; !live.empty(); ++step) {
    std::vector<std::int64_t> last;
    for (std::int64_t b : live)
      for (const Beam& beam : beams[b]) last.push_back(beam.tokens.empty() ? o.bos : beam.tokens.back());
    const std::vector<float> log_probs = model.next_log_probs(last);
    const std::int64_t V = static_cast<std::int64_t>(log_probs.size() / last.size());
    std::vector<std::int64_t> still_live, rows;
    std::int64_t first_row = 0;  // the input's first beam's row
    for (std::int64_t b : live) {
      const std::vector<Beam>& now = beams[b];
      std::vector<Beam> next;
      std::vector<std::int64_t> parents;
      // 2K candidates: K that do not end, however many of the best K end.
      const std::vector<Candidate> best = best_continuations(now, log_probs.data() + first_row * V, V, 2 * K);
      for (std::size_t j = 0; j < best.size() && next.size() < K; ++j) {
        const std::int64_t parent = best[j].index / V, token = best[j].index % V;
        std::vector<std::int32_t> tokens = now[parent].tokens;
        if (token == o.eos) {
          if (j < K) finished[b].push_back(penalised(tokens, best[j].logprob, true));
          continue;
        }
        tokens.push_back(static_cast<std::int32_t>(token));
        next.push_back({std::move(tokens), best[j].logprob});
        parents.push_back(first_row + parent);
      }
      first_row += static_cast<std::int64_t>(now.size());
      const bool out_of_room = step + 1 >= o.max_length;
      if (finished[b].size() >= K || out_of_room || next.empty()) {
        if (finished[b].size() < K)
          for (const Beam& beam : next) finished[b].push_back(penalised(beam.tokens, beam.logprob, false));
        continue;
      }
      beams[b] = std::move(next);
      still_live.push_back(b);
      rows.insert(rows.end(), parents.begin(), parents.end());
    }
    live = std::move(still_live);
    if (!live.empty()) model.reorder(rows);
  }

  for (std::vector<Hypothesis>& found : finished) {
    std::stable_sort(found.begin(), found.end(),
                     [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
    if (found.size() > static_cast<std::size_t>(o.n_best)) found.resize(static_cast<std::size_t>(o.n_best));
  }
  return finished;
}

Seq2SeqStepper::Seq2SeqStepper(Seq2Seq& model, DecoderState state)
    : model_(model), state_(std::move(state)), was_training_(model.is_training()), constant_(model.parameters()) {
  model_.eval();
  input_of_row_.resize(static_cast<std::size_t>(state_.rnn.h.size(1)));
  for (std::size_t row = 0; row < input_of_row_.size(); ++row) input_of_row_[row] = static_cast<std::int64_t>(row);
}

Seq2SeqStepper::~Seq2SeqStepper() { model_.train(was_training_); }

std::vector<float> Seq2SeqStepper::next_log_probs(const std::vector<std::int64_t>& tokens) {
  NoGradGuard no_grad;
  const Tensor step = from_vector(tokens, {static_cast<std::int64_t>(tokens.size())}, state_.rnn.h.device());
  const Tensor log_probs = log_softmax(model_.head->forward(model_.decode_step(state_, step)), 1);
  return to_dtype(to(log_probs, Device::cpu()), DType::Float32).to_vector<float>();
}

void Seq2SeqStepper::reorder(const std::vector<std::int64_t>& rows) {
  NoGradGuard no_grad;
  const Tensor index = from_vector(rows, {static_cast<std::int64_t>(rows.size())}, state_.rnn.h.device());
  auto pick = [&](Tensor& t, int dim) {
    if (t.defined()) t = index_select(t, dim, index);
  };
  pick(state_.rnn.h, 1);
  pick(state_.rnn.c, 1);
  pick(state_.feed, 0);
  std::vector<std::int64_t> inputs(rows.size());
  for (std::size_t row = 0; row < rows.size(); ++row) inputs[row] = input_of_row_[static_cast<std::size_t>(rows[row])];
  if (inputs == input_of_row_) return;  // the same source on every row
  input_of_row_ = std::move(inputs);
  if (state_.keys.keys.defined())  // the keys stay one row per input; the rows say whose they read
    state_.keys.sources = from_vector(input_of_row_, {static_cast<std::int64_t>(input_of_row_.size())},
                                      state_.rnn.h.device());
}

}  // namespace recur::nn
