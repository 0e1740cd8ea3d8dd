// recur sample MODEL: generate text. The prime (if any) is fed through the model, then each
// next token is drawn from softmax(logits / temperature), optionally among the top k only,
// or taken greedily with --argmax. A word model's words are printed separated by spaces and
// its <eos> as a line break. Stdout receives only the prime and the generated text;
// everything else goes to stderr.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <recur/recur.hpp>

#include "commands.hpp"

namespace recur::cli {
namespace {

struct SampleOptions {
  std::string model;
  std::int64_t length = 1000;
  double temperature = 1;
  std::int64_t top_k = 0;
  std::string prime;
  std::uint64_t seed = 0;
  bool argmax = false, stream = false;
  std::int64_t num_samples = 1;
};

// The tokens fed before sampling. A char model's prime must hold only the model's own
// characters. A word model starts as after a line end (<eos>), then reads the prime as
// training reads a text, without the <eos> of its last line unless it ends with a line
// break; unknown words become <unk>, with a note.
std::vector<std::int64_t> prime_tokens_of(const SampleOptions& o, const data::Vocab& vocab) {
  std::vector<std::int64_t> tokens;
  if (vocab.mode() == data::TokenMode::Word) {
    tokens.push_back(vocab.end_index());
    for (std::int32_t token : data::encode_text(o.prime, "--prime", vocab)) tokens.push_back(token);
    if (!o.prime.empty() && o.prime.back() != '\n' && tokens.size() > 1) tokens.pop_back();
    const auto unknown = std::count(tokens.begin(), tokens.end(), vocab.unknown_index());
    if (unknown > 0) std::fprintf(stderr, "recur sample: %lld word%s of --prime not in the vocabulary, read as %s\n",
                                  static_cast<long long>(unknown), unknown == 1 ? "" : "s",
                                  std::string(data::Vocab::kUnknownToken).c_str());
    return tokens;
  }
  std::u32string prime = data::decode_utf8(o.prime, "--prime");
  for (std::size_t i = 0; i < prime.size(); ++i) {
    RECUR_CHECK(vocab.contains(prime[i]), "--prime: character " << data::describe_char(prime[i]) << " at position "
                                                                << i << " is not in the vocabulary of " << o.model);
    tokens.push_back(vocab.find(prime[i]));
  }
  if (tokens.empty()) tokens.push_back(train::start_token(vocab));
  return tokens;
}

void run_sample(const SampleOptions& o, bool seed_given) {
  RECUR_CHECK(o.argmax || o.temperature > 0, "--temperature must be greater than 0, got " << o.temperature);
  RECUR_CHECK(!o.stream || o.num_samples == 1, "--stream prints one sample as it is generated; use --num-samples 1");
  train::LoadedLanguageModel loaded = train::load_language_model(o.model);
  const data::Vocab& vocab = loaded.vocab;

  const std::vector<std::int64_t> prime_tokens = prime_tokens_of(o, vocab);
  const std::uint64_t seed = seed_given ? o.seed : std::random_device{}();
  if (!seed_given && !o.argmax) std::fprintf(stderr, "recur sample: seed %llu (pass --seed to repeat)\n",
                                             static_cast<unsigned long long>(seed));
  Generator generator(seed);
  nn::TokenSampler sampler(*loaded.model, o.num_samples);
  const nn::SamplingOptions sampling{.temperature = o.temperature, .top_k = o.top_k, .argmax = o.argmax};

  std::vector<std::int64_t> tokens(o.num_samples);
  for (std::int64_t token : prime_tokens) {
    std::fill(tokens.begin(), tokens.end(), token);
    sampler.feed(tokens);
  }

  std::vector<std::string> texts(o.num_samples, o.prime);
  if (o.stream) std::fputs(o.prime.c_str(), stdout), std::fflush(stdout);
  for (std::int64_t i = 0; i < o.length; ++i) {
    sampler.draw(tokens, sampling, generator);
    const std::size_t printed = texts[0].size();
    for (std::int64_t b = 0; b < o.num_samples; ++b) train::append_sampled(texts[b], vocab, tokens[b]);
    if (o.stream) {
      std::fputs(texts[0].c_str() + printed, stdout);
      std::fflush(stdout);
    }
    if (i + 1 < o.length) sampler.feed(tokens);
  }
  if (!o.stream) {
    for (std::int64_t b = 0; b < o.num_samples; ++b) {
      if (b > 0) std::fputs("\n\n", stdout);  // samples are separated by a blank line
      std::fputs(texts[b].c_str(), stdout);
    }
  }
  if (isatty(fileno(stdout))) std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto options = std::make_shared<SampleOptions>();
  SampleOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("sample", "Generate text from a model");
  cmd->add_option("MODEL", o.model, "Model or checkpoint file (e.g. runs/tinyshakespeare/best.safetensors)")
      ->required();
  cmd->add_option("--length", o.length, "Tokens (characters or words) to generate after the prime")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--temperature", o.temperature, "Divide the logits by this (> 0; lower is more conservative)")
      ->check(positive())->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "Draw among the k most likely tokens only (0: all)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--prime", o.prime, "Text to start from; printed before the generated text");
  auto* seed = cmd->add_option("--seed", o.seed, "Seed of the draws (default: random, printed on stderr)");
  cmd->add_flag("--argmax", o.argmax, "Greedy: always the most likely token");
  cmd->add_option("--num-samples", o.num_samples, "Independent samples, generated as one batch")
      ->check(positive())->capture_default_str();
  cmd->add_flag("--stream", o.stream, "Print each token as it is generated");
  add_threads_option(*cmd);
  cmd->callback([options, seed] { run_sample(*options, seed->count() > 0); });
}

}  // namespace recur::cli
