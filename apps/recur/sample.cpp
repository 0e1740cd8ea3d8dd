// recur sample MODEL: generate text. The prime (if any) is fed through the model, then each
// next character is drawn from softmax(logits / temperature), optionally among the top k
// only, or taken greedily with --argmax. Stdout receives only the prime and the generated
// text; everything else goes to stderr.

#include <unistd.h>

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

void run_sample(const SampleOptions& o, bool seed_given) {
  RECUR_CHECK(o.argmax || o.temperature > 0, "--temperature must be greater than 0, got " << o.temperature);
  RECUR_CHECK(!o.stream || o.num_samples == 1, "--stream prints one sample as it is generated; use --num-samples 1");
  train::LoadedCharModel loaded = train::load_char_model(o.model);
  const data::Vocab& vocab = loaded.vocab;

  // The prime's characters must all be the model's own.
  std::u32string prime = data::decode_utf8(o.prime, "--prime");
  std::vector<std::int64_t> prime_tokens;
  for (std::size_t i = 0; i < prime.size(); ++i) {
    RECUR_CHECK(vocab.contains(prime[i]), "--prime: character " << data::describe_char(prime[i]) << " at position "
                                                                << i << " is not in the vocabulary of " << o.model);
    prime_tokens.push_back(vocab.find(prime[i]));
  }

  const std::uint64_t seed = seed_given ? o.seed : std::random_device{}();
  if (!seed_given && !o.argmax) std::fprintf(stderr, "recur sample: seed %llu (pass --seed to repeat)\n",
                                             static_cast<unsigned long long>(seed));
  Generator generator(seed);
  nn::CharSampler sampler(*loaded.model, o.num_samples);
  const nn::SamplingOptions sampling{.temperature = o.temperature, .top_k = o.top_k, .argmax = o.argmax};

  std::vector<std::int64_t> tokens(o.num_samples);
  if (prime_tokens.empty()) {
    std::fill(tokens.begin(), tokens.end(), train::start_token(vocab));
    sampler.feed(tokens);
  }
  for (std::int64_t token : prime_tokens) {
    std::fill(tokens.begin(), tokens.end(), token);
    sampler.feed(tokens);
  }

  std::vector<std::string> texts(o.num_samples, o.prime);
  if (o.stream) std::fputs(o.prime.c_str(), stdout), std::fflush(stdout);
  for (std::int64_t i = 0; i < o.length; ++i) {
    sampler.draw(tokens, sampling, generator);
    for (std::int64_t b = 0; b < o.num_samples; ++b) texts[b] += train::printable_token(vocab, tokens[b]);
    if (o.stream) {
      std::fputs(train::printable_token(vocab, tokens[0]).c_str(), stdout);
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
  cmd->add_option("--length", o.length, "Characters to generate after the prime")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--temperature", o.temperature, "Divide the logits by this (> 0; lower is more conservative)")
      ->check(positive())->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "Draw among the k most likely characters only (0: all)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--prime", o.prime, "Text to start from; printed before the generated text");
  auto* seed = cmd->add_option("--seed", o.seed, "Seed of the draws (default: random, printed on stderr)");
  cmd->add_flag("--argmax", o.argmax, "Greedy: always the most likely character");
  cmd->add_option("--num-samples", o.num_samples, "Independent samples, generated as one batch")
      ->check(positive())->capture_default_str();
  cmd->add_flag("--stream", o.stream, "Print each character as it is generated");
  add_threads_option(*cmd);
  cmd->callback([options, seed] { run_sample(*options, seed->count() > 0); });
}

}  // namespace recur::cli
