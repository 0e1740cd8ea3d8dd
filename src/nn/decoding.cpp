// Beam search over any StepModel, and LanguageModel and Seq2Seq as StepModels
// (include/recur/nn/decoding.hpp).

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

LanguageModelStepper::LanguageModelStepper(LanguageModel& model, std::int64_t inputs)
    : model_(model), eval_mode_(model), constant_(model.parameters()) {
  RECUR_CHECK(inputs >= 1, "LanguageModelStepper: inputs must be at least 1, got " << inputs);
  for (std::int64_t layer = 0; layer < model.config.layers; ++layer) {
    h_.push_back(zeros({inputs, model.config.hidden}, model.dtype(), model.device()));
    c_.push_back(rnn_cell_info(model.cell).cell_state ? zeros({inputs, model.config.hidden}, model.dtype(),
                                                              model.device())
                                                      : Tensor());
  }
}

std::vector<float> LanguageModelStepper::next_log_probs(const std::vector<std::int64_t>& tokens) {
  NoGradGuard no_grad;
  const auto N = static_cast<std::int64_t>(tokens.size());
  RECUR_CHECK(N == h_[0].size(0), "LanguageModelStepper: " << N << " tokens for " << h_[0].size(0) << " rows");
  const Tensor ids = from_vector(tokens, {N}, h_[0].device());
  Tensor x = model_.embed ? model_.embed->forward(ids)
                          : to_dtype(one_hot(ids, model_.config.vocab_size), model_.dtype());
  for (std::size_t layer = 0; layer < h_.size(); ++layer) {
    rnn_step_(model_.cell, x, model_.rnn->layer_weights(static_cast<std::int64_t>(layer), 0), h_[layer], c_[layer],
              workspace_);
    x = h_[layer];
  }
  const Tensor log_probs =
      model_.head ? log_softmax(model_.head->forward(x), 1) : model_.adaptive_head->log_prob(x);
  return to_dtype(to(log_probs, Device::cpu()), DType::Float32).to_vector<float>();
}

void LanguageModelStepper::reorder(const std::vector<std::int64_t>& rows) {
  NoGradGuard no_grad;
  const Tensor index = from_vector(rows, {static_cast<std::int64_t>(rows.size())}, h_[0].device());
  for (Tensor& h : h_) h = index_select(h, 0, index);
  for (Tensor& c : c_)
    if (c.defined()) c = index_select(c, 0, index);
}

namespace {

// The first `rows` rows of `buffer` (rows, cols), which grows (uninitialised) when too small.
Tensor first_rows(Tensor& buffer, std::int64_t rows, std::int64_t cols, const Tensor& like) {
  if (!buffer.defined() || buffer.size(0) < rows)
    buffer = empty({rows, cols}, like.dtype(), like.device());
  return narrow(buffer, 0, 0, rows);
}

// The table pays for itself when the decoding steps, inputs times beams times steps, outnumber
// the vocabulary: with beams and steps counted as 16 in all.
bool uses_embed_table(const Seq2Seq& model, std::int64_t inputs) {
  return model.attention && model.config.tgt_vocab <= 16 * inputs;
}

Tensor embed_table(const Seq2Seq& model, std::int64_t inputs) {
  if (!uses_embed_table(model, inputs)) return Tensor();
  NoGradGuard no_grad;
  return linear(model.tgt_embed->weight, narrow(model.decoder->layer_weights(0, 0).w_ih, 1, 0, model.config.embed));
}

RnnLayerWeights first_layer(const Seq2Seq& model, std::int64_t inputs) {
  RnnLayerWeights w = model.decoder->layer_weights(0, 0);
  if (uses_embed_table(model, inputs)) {
    NoGradGuard no_grad;
    w.w_ih = contiguous(narrow(w.w_ih, 1, model.config.embed, model.config.hidden));
  }
  return w;
}

std::vector<Tensor> constant_weights(const Seq2Seq& model, const Tensor& table, const RnnLayerWeights& first) {
  std::vector<Tensor> weights = model.parameters();
  weights.push_back(table);
  weights.push_back(first.w_ih);
  return weights;
}

}  // namespace

Seq2SeqStepper::Seq2SeqStepper(Seq2Seq& model, DecoderState state)
    : model_(model), eval_mode_(model), embed_table_(embed_table(model, state.rnn.h.size(1))),
      first_layer_(first_layer(model, state.rnn.h.size(1))),
      constant_(constant_weights(model, embed_table_, first_layer_)) {
  restart(std::move(state));
}

void Seq2SeqStepper::restart(DecoderState state) {
  NoGradGuard no_grad;
  const Seq2SeqConfig& config = model_.config;
  const std::int64_t N = state.rnn.h.size(1), E = config.embed, H = config.hidden;
  keys_ = std::move(state.keys);
  h_.clear(), c_.clear();
  for (std::int64_t layer = 0; layer < config.dec_layers; ++layer) {  // copies, stepped in place
    h_.push_back(clone(select(state.rnn.h, 0, layer)));
    c_.push_back(state.rnn.c.defined() ? clone(select(state.rnn.c, 0, layer)) : Tensor());
  }
  if (!model_.attention) input_ = empty({N, E}, state.rnn.h.dtype(), state.rnn.h.device());
  else if (embed_table_.defined()) input_ = clone(state.feed);
  else copy_(narrow(input_ = empty({N, E + H}, state.feed.dtype(), state.feed.device()), 1, E, H), state.feed);
  input_of_row_.resize(static_cast<std::size_t>(N));
  for (std::size_t row = 0; row < input_of_row_.size(); ++row) input_of_row_[row] = static_cast<std::int64_t>(row);
}

// Seq2Seq::decode_step's maths (dropout is off in eval mode), written into the buffers.
std::vector<float> Seq2SeqStepper::next_log_probs(const std::vector<std::int64_t>& tokens) {
  NoGradGuard no_grad;
  const auto N = static_cast<std::int64_t>(tokens.size());
  RECUR_CHECK(N == input_.size(0), "Seq2SeqStepper: " << N << " tokens for " << input_.size(0) << " rows");
  const std::int64_t E = model_.config.embed, H = model_.config.hidden;
  const Tensor ids = from_vector(tokens, {N}, input_.device());
  RnnProjections added;  // the embeddings' share of the first layer's input projections, with the table
  if (embed_table_.defined()) added = {embed_table_, ids};
  else copy_(narrow(input_, 1, 0, E), model_.tgt_embed->forward(ids));
  const Tensor* x = &input_;
  for (std::size_t layer = 0; layer < h_.size(); ++layer) {
    rnn_step_(model_.decoder->cell, *x,
              layer == 0 ? first_layer_ : model_.decoder->layer_weights(static_cast<std::int64_t>(layer), 0),
              h_[layer], c_[layer], workspace_, layer == 0 ? added : RnnProjections{});
    x = &h_[layer];
  }
  Tensor out = h_.back();  // h_t
  if (model_.attention) {
    const Tensor joined = first_rows(joined_, N, 2 * H, input_);
    copy_(narrow(joined, 1, 0, H), model_.attention->forward(out, keys_).context);
    copy_(narrow(joined, 1, H, H), out);
    out = narrow(input_, 1, input_.size(1) - H, H);  // a_t, the next step's input feeding
    copy_(out, tanh(linear(joined, model_.combine->weight)));
  }
  const Tensor logits = first_rows(logits_, N, model_.config.tgt_vocab, input_);
  linear_(logits, out, model_.head->weight, model_.head->bias);
  return to_dtype(to(log_softmax(logits, 1), Device::cpu()), DType::Float32).to_vector<float>();
}

void Seq2SeqStepper::reorder(const std::vector<std::int64_t>& rows) {
  NoGradGuard no_grad;
  const Tensor index = from_vector(rows, {static_cast<std::int64_t>(rows.size())}, input_.device());
  for (Tensor& h : h_) h = index_select(h, 0, index);
  for (Tensor& c : c_)
    if (c.defined()) c = index_select(c, 0, index);
  input_ = index_select(input_, 0, index);  // with a_{t-1}
  std::vector<std::int64_t> inputs(rows.size());
  for (std::size_t row = 0; row < rows.size(); ++row) inputs[row] = input_of_row_[static_cast<std::size_t>(rows[row])];
  if (inputs == input_of_row_) return;  // the same source on every row
  input_of_row_ = std::move(inputs);
  if (keys_.keys.defined())  // the keys stay one row per input; the rows say whose they read
    keys_.sources = from_vector(input_of_row_, {static_cast<std::int64_t>(input_of_row_.size())}, input_.device());
}

}  // namespace recur::nn
