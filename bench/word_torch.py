#!/usr/bin/python3
"""`recur train --tokens word`, `recur eval` and `recur score` on word models, replicated in
PyTorch, for `scripts/bench word` (bench/word_compare.py): the same model, tokens, initial
weights, data order, optimizer, loss and validation, so the validation perplexities of the two
agree up to float32 rounding, and the same work, so their speeds compare.

    /usr/bin/python3 bench/word_torch.py train data/brown/train.txt --val data/brown/valid.txt \\
        --min-count 4 --init RUN/init.safetensors --max-steps 300 --eval-every 100 --dropout 0
    /usr/bin/python3 bench/word_torch.py eval RUN/best.safetensors data/brown/valid.txt
    /usr/bin/python3 bench/word_torch.py score RUN/best.safetensors data/brown/valid.txt [--per-token] [--timing]

A separate file rather than a word mode of char_torch.py: the parts that differ (tokens,
vocabulary, the adaptive-softmax head, the loss through the head, eval and score) are most of
it; what is the same (the safetensors reader, the split, the batching, the optimizer, the
learning-rate schedule) is imported from char_torch.py, not copied.

The tokens (recur's data::TokenMode::Word, include/recur/data/text.hpp): the file decoded as
strict UTF-8; with `lowercase` each character folded alone (Unicode's simple mapping, which is
Python's str.lower() per character except 'İ' -> 'i'); lines end at '\\n' only; each line's
words are Python's str.split() of it, and a line holding at least one word adds them and then
"<eos>" (blank lines add nothing). A word outside the vocabulary, and the literal "<unk>", is
"<unk>"; the literal "<eos>" is "<eos>". The vocabulary comes from the model file
(`recur.vocab`, `recur.config`'s "tokens" and "lowercase"); without --init, train builds it
as recur does: the words seen at least --min-count times (at most --max-vocab - 2 of them),
"<unk>" (the words left out and the literal "<unk>"s) and "<eos>" (the lines), ordered by count,
most frequent first, ties by the words' UTF-8 bytes.

The model (recur's nn::LanguageModel): embed (nn.Embedding) -> rnn (nn.LSTM / nn.GRU / nn.RNN,
dropout between layers only) -> head: nn.Linear(H, V), its weight embed's with --tie-weights,
or nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value=4.0, head_bias=False) with
--adaptive-softmax; tensors named as in recur's model files, loaded strictly.

train replicates `recur train` (src/train/language_model_task.cpp, src/train/trainer.cpp):
  data      TEXT is all training text when --val or --test is given, else split at
            round(N * (1 - val - test)) and round(N * (1 - test)); B contiguous streams of
            L = (N_train - 1) // B tokens, step k takes inputs[t][b] = tokens[b*L + k*T + t] and
            the next tokens as targets, floor(L / T) steps per epoch, every epoch the same.
  training  state carried from step to step and detached, reset to zero at every epoch start;
            loss = mean cross-entropy over the B*T predictions (the adaptive head's .loss);
            gradients clipped elementwise at --clip-value, then to global norm --clip (5);
            Adam (betas 0.9/0.999, eps 1e-8: PyTorch's defaults, which are recur's), lr 2e-3,
            recur's learning-rate schedule (char_torch.learning_rate).
  validation every --eval-every steps and after the last step: the validation tokens batched as
            training is, T' = min(T, N - 1), B' = clamp((N - 1) // T', 1, B), state carried from
            zero, eval mode, no autograd; mean cross-entropy and its exp, the perplexity. With
            --test, the model of the lowest validation loss is measured on the test text at the end.
  output    a line per evaluation on stderr, then one JSON line on stdout: steps, tokens_per_sec
            (B*T per step over the time of the training steps, evaluations excluded),
            train_loss / val_loss / val_perplexity by step, test_loss, threads.

eval MODEL TEXT: the whole text's tokens as one stream, from a zero state, tokens 2..N predicted
(as `recur eval` does), in chunks of --chunk steps with the state carried; the per-token losses
are float32 and summed in float64. Prints `recur eval --json`'s keys for a word model: tokens,
predicted, nll_nats, nats_per_token, bits_per_token, perplexity, unknown (tokens that are
"<unk>").

score MODEL FILE: every line of FILE (split at '\\n'; a last line without one counts, an empty
tail does not) as a sentence on its own: its words then "<eos>", predicted from a zero state
first fed "<eos>" (a blank line is "<eos>" alone). As a PyTorch user who wants speed writes it:
the lines sorted by length, longest first, --batch-size at a time, padded to the longest,
packed (pack_padded_sequence), so the RNN skips the padding and the head runs on the real
positions only; under torch.no_grad() in eval mode. One JSON line per input line, in input
order: {"tokens": n, "logprob": natural log-probability of the n tokens, "perplexity":
exp(-logprob / n), "unknown": "<unk>" tokens}, with --per-token also "token_logprobs". With
--timing a last line {"timing": {...}} gives the sentences, tokens and seconds of the scoring
(reading and tokenising the file included, loading the model excluded) on stderr.
"""
import argparse
import collections
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from char_torch import (CharBatches, add_trainer_args, detach, learning_rate, make_optimizer,  # noqa: E402
                        read_safetensors, split_tokens)

DEFAULT_TEXT = os.path.normpath(os.path.join(HERE, "..", "data", "brown", "train.txt"))
UNKNOWN, END = "<unk>", "<eos>"
NAME = "word_torch.py"


# ------------------------------------------------------------------ tokens and vocabulary


def fold(text):
    """recur's lower_case on each character: str.lower() per character, except 'İ' -> 'i' (Python
    makes it two characters) and 'Σ' -> 'σ' (Python makes a word-final one 'ς')."""
    return text.replace("\u0130", "i").replace("\u03a3", "\u03c3").lower()


def read_text(path, lowercase=False):
    """The file (path, or '-': standard input) decoded as strict UTF-8 (a bad byte is an error, as
    in recur), folded when `lowercase`."""
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    text = data.decode("utf-8")
    return fold(text) if lowercase else text


def lines_of(text):
    """The lines of `text`: split at '\\n' only; a last line without one counts, an empty tail does not."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def words_of(text):
    """recur's word tokens: each line's words (str.split()) then <eos>; blank lines add nothing."""
    tokens = []
    for line in text.split("\n"):
        words = line.split()
        if words:
            tokens += words
            tokens.append(END)
    return tokens


def build_vocab(words, min_count=1, max_vocab=0):
    """recur's Vocab::build_words from the word tokens (words_of) of the training text."""
    counts = collections.Counter(words)
    unknown, end = counts.pop(UNKNOWN, 0), counts.pop(END, 0)  # END: the lines and any literal "<eos>"
    order = sorted(counts, key=lambda w: (-counts[w], w.encode("utf-8")))
    kept = 0
    while kept < len(order) and counts[order[kept]] >= min_count and (max_vocab == 0 or kept < max_vocab - 2):
        kept += 1
    unknown += sum(counts[w] for w in order[kept:])
    counts = {w: counts[w] for w in order[:kept]}
    counts[UNKNOWN], counts[END] = unknown, end
    return sorted(counts, key=lambda w: (-counts[w], w.encode("utf-8")))


class Encoder:
    """Word -> index in a vocabulary; every other word (the literal "<unk>" too) -> <unk>."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.unknown, self.end = self.index[UNKNOWN], self.index[END]

    def encode(self, words):
        get, unknown = self.index.get, self.unknown
        return np.fromiter((get(w, unknown) for w in words), dtype=np.int64, count=len(words))


# ------------------------------------------------------------------ the model


class WordLanguageModel(nn.Module):
    """recur's nn::LanguageModel for words: embed -> rnn -> head (Linear or adaptive softmax)."""

    def __init__(self, config):
        super().__init__()
        cell, layers, hidden = config["cell"], config["layers"], config["hidden"]
        embed, vocab_size = config["embed"], config["vocab_size"]
        if cell == "mgu" or config.get("peephole"):
            sys.exit(f"{NAME}: PyTorch has no MGU cell and no peephole LSTM")
        if embed <= 0:
            sys.exit(f"{NAME}: word models need an embedding (--embed > 0)")
        self.hidden = hidden
        self.embed = nn.Embedding(vocab_size, embed)
        dropout = config.get("dropout", 0.0)
        if cell == "lstm":
            self.rnn = nn.LSTM(embed, hidden, layers, dropout=dropout)
        elif cell == "gru":
            self.rnn = nn.GRU(embed, hidden, layers, dropout=dropout)
        elif cell in ("rnn_tanh", "rnn_relu"):
            self.rnn = nn.RNN(embed, hidden, layers, nonlinearity=cell[4:], dropout=dropout)
        else:
            sys.exit(f"{NAME}: unknown cell '{cell}'")
        cutoffs = config.get("adaptive_softmax") or []
        self.adaptive = bool(cutoffs)
        if self.adaptive:
            self.head = nn.AdaptiveLogSoftmaxWithLoss(hidden, vocab_size, cutoffs, div_value=4.0, head_bias=False)
        else:
            self.head = nn.Linear(hidden, vocab_size)
        if config.get("tie_weights"):
            self.embed.weight = self.head.weight  # PyTorch's word-language-model example's way

    def features(self, inputs, state=None):
        """inputs int64 [T, B] (or a PackedSequence of embeddings) -> top-layer outputs, state."""
        x = self.embed(inputs) if isinstance(inputs, torch.Tensor) else inputs
        return self.rnn(x, state)

    def token_nll(self, rows, targets):
        """-log p(targets[n] | rows[n]) for rows [N, H], targets int64 [N]: [N] float32."""
        if self.adaptive:
            return -self.head(rows, targets).output
        return F.cross_entropy(self.head(rows), targets, reduction="none")

    def loss(self, features, targets):
        """Mean cross-entropy of the targets [T, B] from the features [T, B, H] (training's loss)."""
        rows, flat = features.reshape(-1, self.hidden), targets.reshape(-1)
        if self.adaptive:
            return self.head(rows, flat).loss
        return F.cross_entropy(self.head(rows), flat)


def load_model_file(path, dropout=None):
    """(model, config, vocab tokens) of a recur word model file or checkpoint (docs/FORMAT.md)."""
    tensors, metadata = read_safetensors(path)
    if "recur.config" not in metadata or "recur.vocab" not in metadata:
        sys.exit(f"{NAME}: {path} is not a recur model file (no recur.config / recur.vocab metadata)")
    config = json.loads(metadata["recur.config"])
    if config.get("tokens", "char") != "word":
        sys.exit(f"{NAME}: {path} is a character model; use bench/char_torch.py")
    if dropout is not None:
        config["dropout"] = dropout
    model = WordLanguageModel(config)
    model.load_state_dict({name: t for name, t in tensors.items() if "/" not in name}, strict=True)
    vocab = json.loads(metadata["recur.vocab"])
    if len(vocab) != config["vocab_size"]:
        sys.exit(f"{NAME}: {path}: {len(vocab)} tokens in recur.vocab, vocab_size {config['vocab_size']}")
    return model, config, vocab


# ------------------------------------------------------------------ training


def stream_loss(model, tokens, batch_size, seq_length):
    """recur's stream_loss(): mean cross-entropy over the tokens, batched as training is."""
    available = len(tokens) - 1
    if available < 1:
        return float("nan")
    T = min(seq_length, available)
    B = min(max(available // T, 1), batch_size)
    batches = CharBatches(tokens, B, T)
    model.eval()
    total, state = 0.0, None
    with torch.no_grad():
        for k in range(batches.steps_per_epoch):
            features, state = model.features(batches.inputs[k], state)
            total += model.token_nll(features.reshape(B * T, -1), batches.targets[k].reshape(B * T)).sum().item()
    model.train()
    return total / (batches.steps_per_epoch * B * T)


ARCHITECTURE = {"cell": "lstm", "layers": 2, "hidden": 256, "embed": 256}  # recur train's word defaults


def train(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    lowercase = o.lowercase
    if o.init:
        model, config, vocab = load_model_file(o.init, o.dropout)
        lowercase = config.get("lowercase", False)
        for key in ARCHITECTURE:
            given = getattr(o, key)
            if given is not None and given != config[key]:
                sys.exit(f"{NAME}: --{key} {given} disagrees with {o.init}'s {key} {config[key]}")
        cutoffs = ",".join(map(str, config.get("adaptive_softmax", [])))
        if o.adaptive_softmax is not None and o.adaptive_softmax != cutoffs:
            sys.exit(f"{NAME}: --adaptive-softmax {o.adaptive_softmax} disagrees with {o.init}")
        if o.tie_weights and not config.get("tie_weights"):
            sys.exit(f"{NAME}: --tie-weights disagrees with {o.init}")
    train_words = words_of(read_text(o.text, lowercase))
    text_vocab = build_vocab(train_words, o.min_count, o.max_vocab)
    if o.init:
        if text_vocab != vocab:
            print(f"{NAME}: {o.init}'s vocabulary differs from the text's; encoding with the file's "
                  "(as recur train --init-from does)", file=sys.stderr)
    else:
        vocab = text_vocab
        config = {key: getattr(o, key) if getattr(o, key) is not None else default
                  for key, default in ARCHITECTURE.items()}
        config.update(vocab_size=len(vocab), dropout=0.3 if o.dropout is None else o.dropout,
                      tie_weights=o.tie_weights,
                      adaptive_softmax=[int(c) for c in o.adaptive_softmax.split(",")] if o.adaptive_softmax else [])
        model = WordLanguageModel(config)
    encoder = Encoder(vocab)
    tokens = encoder.encode(train_words)
    if o.val or o.test:
        train_tokens = tokens
        val_tokens = encoder.encode(words_of(read_text(o.val, lowercase))) if o.val else tokens[:0]
        test_tokens = encoder.encode(words_of(read_text(o.test, lowercase))) if o.test else tokens[:0]
    else:
        train_tokens, val_tokens, test_tokens = split_tokens(tokens, o.val_fraction, o.test_fraction)
    batches = CharBatches(train_tokens, o.batch_size, o.seq_length)
    per_epoch = batches.steps_per_epoch
    total_steps = o.max_steps
    if o.max_epochs > 0:
        total_steps = min(total_steps, o.max_epochs * per_epoch) if total_steps > 0 else o.max_epochs * per_epoch
    if total_steps <= 0:
        sys.exit(f"{NAME}: give --max-steps or --max-epochs")
    print(f"{NAME}: {len(tokens)} tokens, vocabulary {len(vocab)} ({int((tokens == encoder.unknown).sum())} <unk>), "
          f"train / val / test {len(train_tokens)} / {len(val_tokens)} / {len(test_tokens)}; {config['cell']} "
          f"{config['layers']}x{config['hidden']} embed {config['embed']}"
          f"{', adaptive softmax ' + str(config['adaptive_softmax']) if config.get('adaptive_softmax') else ''}, "
          f"{sum(p.numel() for p in model.parameters())} parameters; {per_epoch} steps per epoch of "
          f"{o.batch_size}x{o.seq_length}; {torch.get_num_threads()} threads", file=sys.stderr)

    model.train()
    params = list(model.parameters())  # a tied matrix once
    optimizer = make_optimizer(o, params)
    state = None
    train_seconds, loss_sum, loss_count = 0.0, 0.0, 0
    train_losses, val_losses = {}, {}
    best, best_weights = float("inf"), None
    step = 0
    started = time.perf_counter()
    while step < total_steps:
        epoch, k = divmod(step, per_epoch)
        if k == 0:
            state = None  # each epoch starts from a zero state
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(o, step, epoch, total_steps)
        features, state = model.features(batches.inputs[k], state)
        loss = model.loss(features, batches.targets[k])
        optimizer.zero_grad()
        loss.backward()
        if o.clip_value > 0:
            nn.utils.clip_grad_value_(params, o.clip_value)
        if o.clip > 0:
            nn.utils.clip_grad_norm_(params, o.clip)
        optimizer.step()
        state = detach(state)
        step += 1
        loss_sum += loss.item()
        loss_count += 1
        if (o.eval_every > 0 and step % o.eval_every == 0) or step == total_steps:
            train_seconds += time.perf_counter() - started
            train_losses[step] = loss_sum / loss_count
            val_losses[step] = stream_loss(model, val_tokens, o.batch_size, o.seq_length)
            val = val_losses[step]
            print(f"step {step}: train loss {train_losses[step]:.4f}, val loss {val:.6f} nats/token, "
                  f"perplexity {math.exp(val) if val == val else val:.3f}", file=sys.stderr)
            if o.test and (not val_losses[step] >= best):  # as recur: the lowest so far (every one without validation)
                best = val_losses[step] if val_losses[step] == val_losses[step] else best
                best_weights = copy.deepcopy(model.state_dict())
            loss_sum, loss_count = 0.0, 0
            started = time.perf_counter()
    summary = {"steps": step, "tokens_per_sec": step * o.batch_size * o.seq_length / train_seconds,
               "train_seconds": train_seconds, "threads": torch.get_num_threads(), "torch": torch.__version__,
               "train_loss": {str(s): v for s, v in train_losses.items()},
               "val_loss": {str(s): v for s, v in val_losses.items()},
               "val_perplexity": {str(s): math.exp(v) for s, v in val_losses.items() if v == v}}
    if o.test and best_weights is not None:
        model.load_state_dict(best_weights)
        summary["test_loss"] = stream_loss(model, test_tokens, o.batch_size, o.seq_length)
        summary["test_perplexity"] = math.exp(summary["test_loss"])
    print(json.dumps(summary), flush=True)


# ------------------------------------------------------------------ eval and score


def evaluate(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    model, config, vocab = load_model_file(o.model)
    encoder = Encoder(vocab)
    tokens = torch.from_numpy(encoder.encode(words_of(read_text(o.text, config.get("lowercase", False)))))
    n = len(tokens)
    if n < 2:
        sys.exit(f"{NAME}: {o.text}: needs at least 2 tokens to predict one, has {n}")
    model.eval()
    nll, state = 0.0, None
    with torch.no_grad():
        for start in range(0, n - 1, o.chunk):
            inputs = tokens[start:min(start + o.chunk, n - 1)]
            targets = tokens[start + 1:start + 1 + len(inputs)]
            features, state = model.features(inputs.view(-1, 1), state)
            nll += model.token_nll(features.view(len(inputs), -1), targets).double().sum().item()
    mean = nll / (n - 1)
    print(json.dumps({"tokens": n, "predicted": n - 1, "nll_nats": nll, "nats_per_token": mean,
                      "bits_per_token": mean / math.log(2), "perplexity": math.exp(mean),
                      "unknown": int((tokens == encoder.unknown).sum())}), flush=True)


def score_batch(model, sentences, end):
    """Per-token log-probabilities of each sentence (int64 tensors, longest first) of one batch,
    each from a zero state first fed `end`: a list of float64 tensors."""
    lengths = [len(s) for s in sentences]
    inputs = torch.full((lengths[0], len(sentences)), end, dtype=torch.int64)  # padding: never read
    targets = torch.zeros((lengths[0], len(sentences)), dtype=torch.int64)
    for b, s in enumerate(sentences):
        inputs[1:len(s), b] = s[:-1]
        targets[:len(s), b] = s
    packed = pack_padded_sequence(model.embed(inputs), lengths)
    output, _ = model.rnn(packed)
    packed_targets = pack_padded_sequence(targets, lengths).data
    logprobs = -model.token_nll(output.data, packed_targets)
    padded, _ = pad_packed_sequence(PackedSequence(logprobs, output.batch_sizes))  # [T, B], zeros past the ends
    padded = padded.double()
    return [padded[:length, b] for b, length in enumerate(lengths)]


def score(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    model, config, vocab = load_model_file(o.model)
    model.eval()
    began = time.perf_counter()
    encoder = Encoder(vocab)
    text = read_text(o.file, config.get("lowercase", False))
    sentences = [torch.from_numpy(encoder.encode(line.split() + [END])) for line in lines_of(text)]
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))  # stable: equal lengths keep their order
    results = [None] * len(sentences)
    with torch.no_grad():
        for first in range(0, len(order), o.batch_size):
            batch = order[first:first + o.batch_size]
            for i, logprobs in zip(batch, score_batch(model, [sentences[i] for i in batch], encoder.end)):
                results[i] = logprobs
    lines = []
    for tokens, logprobs in zip(sentences, results):
        total, n = logprobs.sum().item(), len(tokens)
        entry = {"tokens": n, "logprob": total, "perplexity": math.exp(-total / n),
                 "unknown": int((tokens == encoder.unknown).sum())}
        if o.per_token:
            entry["token_logprobs"] = logprobs.tolist()
        lines.append(json.dumps(entry))
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    sys.stdout.flush()
    seconds = time.perf_counter() - began
    if o.timing:
        tokens = sum(len(s) for s in sentences)
        print(json.dumps({"timing": {"sentences": len(sentences), "tokens": tokens, "seconds": seconds,
                                     "sentences_per_sec": len(sentences) / seconds if seconds else 0.0,
                                     "threads": torch.get_num_threads(), "batch_size": o.batch_size}}),
              file=sys.stderr, flush=True)


# ------------------------------------------------------------------ command line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train as `recur train --tokens word` does")
    t.add_argument("text", nargs="?", default=DEFAULT_TEXT, metavar="TEXT")
    t.add_argument("--init", help="recur's RUN/init.safetensors: architecture, vocabulary and initial weights")
    t.add_argument("--tokens", default="word", choices=["word"], help="word only (char models: char_torch.py)")
    t.add_argument("--lowercase", action="store_true")
    t.add_argument("--min-count", type=int, default=1)
    t.add_argument("--max-vocab", type=int, default=0)
    t.add_argument("--val", help="validation text (then TEXT is all training text)")
    t.add_argument("--test", help="test text, measured with the best model at the end")
    t.add_argument("--cell", choices=["lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"])
    t.add_argument("--layers", type=int)
    t.add_argument("--hidden", type=int)
    t.add_argument("--embed", type=int)
    t.add_argument("--dropout", type=float, help="default: --init's, else 0.3")
    t.add_argument("--tie-weights", action="store_true")
    t.add_argument("--adaptive-softmax", metavar="CUTOFFS", help="e.g. 2000,10000")
    t.add_argument("--val-fraction", type=float, default=0.05)
    t.add_argument("--test-fraction", type=float, default=0.05)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--seq-length", type=int, default=35)
    add_trainer_args(t)
    e = commands.add_parser("eval", help="whole-stream NLL, as `recur eval --json`")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("text", metavar="TEXT")
    e.add_argument("--chunk", type=int, default=512, help="steps per forward call (the state carried)")
    e.add_argument("--threads", type=int, default=0)
    s = commands.add_parser("score", help="each line's log-probability as a sentence, as `recur score`")
    s.add_argument("model", metavar="MODEL")
    s.add_argument("file", nargs="?", default="-", metavar="FILE")
    s.add_argument("--per-token", action="store_true")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--timing", action="store_true", help="a JSON timing line on stderr")
    s.add_argument("--threads", type=int, default=0)
    o = parser.parse_args()
    {"train": train, "eval": evaluate, "score": score}[o.command](o)


if __name__ == "__main__":
    main()
