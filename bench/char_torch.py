#!/usr/bin/python3
"""`recur train` and `recur sample` replicated in PyTorch, for `scripts/bench char`
(bench/char_compare.py): the same model, initial weights, data order, optimizer, learning-rate
schedule, loss and validation, so the validation losses of the two agree up to float32
rounding, and the same work, so their speeds compare.

    /usr/bin/python3 bench/char_torch.py train [TEXT] --init RUN/init.safetensors --max-steps 1000 --eval-every 250
    /usr/bin/python3 bench/char_torch.py train --hidden 128 --max-steps 300 --threads 2    # torch's own init
    /usr/bin/python3 bench/char_torch.py sample RUN/best.safetensors --length 20000 --seed 1 --threads 1

train replicates apps/recur/train.cpp:
  data      the text decoded as strict UTF-8; the vocabulary: its characters, most frequent first,
            ties by smaller code point (--max-vocab N keeps N - 1 and appends <unk>); split at
            round(N * train) and round(N * (train + val)), rounding half away from zero as C++'s
            llround does; char-rnn batching: B streams of L = (N_train - 1) // B characters,
            step k takes inputs[t][b] = tokens[b*L + k*T + t] and the next characters as targets,
            floor(L / T) steps per epoch, every epoch the same batches in the same order.
  model     embed (nn.Embedding; one-hot input when --embed 0) -> rnn (nn.LSTM / nn.GRU / nn.RNN,
            dropout between layers) -> head (nn.Linear), named as in recur's model files. The
            initial weights come from --init (recur writes RUN/init.safetensors at the start of
            every fresh run), which also fixes the architecture and the vocabulary; without it
            PyTorch initialises the model (seeded by --seed). MGU and peephole LSTMs have no
            PyTorch equivalent and are refused.
  training  state carried from step to step and detached (truncated BPTT), reset to zero at
            every epoch start; loss = mean cross-entropy over the B*T predictions; gradients
            clipped elementwise at --clip-value, then to global norm --clip; the optimizer with
            recur's defaults (Adam betas 0.9/0.999, eps 1e-8, weight decay as given, also for
            AdamW); the learning rate of every step from recur's learning_rate(): linear warm-up,
            constant / cosine / linear schedule, char-rnn's per-epoch decay.
  validation every --eval-every steps (step % E == 0) and after the last step when that was not
            one: the validation split batched as training is, T' = min(T, N - 1),
            B' = clamp((N - 1) // T', 1, B), state carried from zero, in eval mode without
            autograd; the mean cross-entropy over all predictions.
  output    a line per evaluation on stderr, then one JSON line on stdout: steps, chars_per_sec
            (B*T per step over the time of the training steps, evaluations excluded), train and
            validation losses by step, threads.

sample generates as a PyTorch user would write a sampler: under torch.no_grad(), batch 1,
embed -> nn.LSTM called on a length-1 sequence with the state carried -> head ->
softmax(logits / temperature) -> torch.multinomial, starting after a line break (as
`recur sample` without --prime does). Prints the JSON line {length, seconds, chars_per_sec}
(generation only, model loading excluded); the text goes to --text-out if given.
"""
import argparse
import collections
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TEXT = os.path.join(HERE, "..", "data", "tinyshakespeare.txt")
UNKNOWN = "<unk>"

# ------------------------------------------------------------------ safetensors


SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
                      "U8": np.uint8, "F16": np.float16}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file: u64 little-endian header length, a JSON header
    {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the raw data."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in SAFETENSORS_DTYPES:
            continue  # nothing a model file holds
        dtype = np.dtype(SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
        begin, end = info["data_offsets"]
        array = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=base + begin)
        tensors[name] = torch.from_numpy(array.reshape(info["shape"]).astype(dtype.newbyteorder("=")))
    return tensors, metadata


# ------------------------------------------------------------------ the model


class LanguageModel(nn.Module):
    """recur's nn::LanguageModel: embed (absent when embed = 0: one-hot input) -> rnn -> head."""

    def __init__(self, cell, layers, hidden, embed, vocab_size, dropout=0.0):
        super().__init__()
        if cell == "mgu":
            sys.exit("char_torch.py: PyTorch has no MGU cell; use lstm, gru, rnn_tanh or rnn_relu")
        self.vocab_size = vocab_size
        input_size = embed if embed > 0 else vocab_size
        self.embed = nn.Embedding(vocab_size, embed) if embed > 0 else None
        if cell == "lstm":
            self.rnn = nn.LSTM(input_size, hidden, layers, dropout=dropout)
        elif cell == "gru":
            self.rnn = nn.GRU(input_size, hidden, layers, dropout=dropout)
        elif cell in ("rnn_tanh", "rnn_relu"):
            self.rnn = nn.RNN(input_size, hidden, layers, nonlinearity=cell[4:], dropout=dropout)
        else:
            sys.exit(f"char_torch.py: unknown cell '{cell}'")
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, inputs, state=None):
        """inputs int64 [T, B] -> logits [T, B, V], the state after the last step."""
        x = self.embed(inputs) if self.embed is not None else F.one_hot(inputs, self.vocab_size).float()
        output, state = self.rnn(x, state)
        return self.head(output), state


def load_model_file(path, dropout=0.0):
    """(model, config, vocab tokens) of a recur model file or checkpoint (docs/FORMAT.md)."""
    tensors, metadata = read_safetensors(path)
    if "recur.config" not in metadata or "recur.vocab" not in metadata:
        sys.exit(f"char_torch.py: {path} is not a recur model file (no recur.config / recur.vocab metadata)")
    config = json.loads(metadata["recur.config"])
    if config.get("peephole"):
        sys.exit("char_torch.py: PyTorch's LSTM has no peephole connections")
    model = LanguageModel(config["cell"], config["layers"], config["hidden"], config["embed"], config["vocab_size"],
                      dropout)
    weights = {name: t for name, t in tensors.items() if "/" not in name}  # a checkpoint's extras hold '/'
    model.load_state_dict(weights, strict=True)
    return model, config, json.loads(metadata["recur.vocab"])


# ------------------------------------------------------------------ data


def build_vocab(text, max_vocab=0):
    """recur's Vocab::build: most frequent first, ties by smaller code point."""
    counts = collections.Counter(text)
    chars = sorted(counts, key=lambda c: (-counts[c], ord(c)))
    if max_vocab > 0 and len(chars) > max_vocab:
        return chars[:max_vocab - 1] + [UNKNOWN]
    return chars


def encode(text, vocab):
    index = {token: i for i, token in enumerate(vocab)}
    unknown = index.get(UNKNOWN, -1)  # every character without a token of its own, when present
    out = np.empty(len(text), dtype=np.int64)
    for i, c in enumerate(text):
        k = index.get(c, unknown)
        if k < 0:
            sys.exit(f"char_torch.py: character U+{ord(c):04X} at position {i} is not in the vocabulary")
        out[i] = k
    return out


def llround(x):
    """C++ std::llround for x >= 0: halves go away from zero (Python's round() goes to even)."""
    whole = math.floor(x)
    return int(whole) + (1 if x - whole >= 0.5 else 0)


def split_tokens(tokens, val_fraction, test_fraction):
    """recur's split_tokens with train = 1 - val - test, computed as train.cpp does."""
    n = len(tokens)
    train = 1 - val_fraction - test_fraction
    end_train = min(n, llround(n * train))
    end_val = min(n, max(end_train, llround(n * (train + val_fraction))))
    return tokens[:end_train], tokens[end_train:end_val], tokens[end_val:]


class CharBatches:
    """recur's data::CharBatches: every batch of an epoch as int64 [steps, T, B] tensors."""

    def __init__(self, tokens, batch_size, seq_length):
        n = len(tokens)
        if n < batch_size * seq_length + 1:
            sys.exit(f"char_torch.py: {n} characters are too few for batch {batch_size} x sequence {seq_length}")
        self.stream_length = (n - 1) // batch_size
        self.steps_per_epoch = self.stream_length // seq_length
        positions = (np.arange(self.steps_per_epoch * seq_length)[:, None]
                     + np.arange(batch_size)[None, :] * self.stream_length)
        shape = (self.steps_per_epoch, seq_length, batch_size)
        self.inputs = torch.from_numpy(tokens[positions].reshape(shape))
        self.targets = torch.from_numpy(tokens[positions + 1].reshape(shape))


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


# ------------------------------------------------------------------ training


def learning_rate(o, step, epoch, total_steps):
    """recur's learning_rate(): warm-up, then the schedule, times char-rnn's epoch decay."""
    lr = o.lr
    if step < o.warmup:
        lr *= (step + 1) / o.warmup
    if o.lr_schedule != "constant" and total_steps > o.warmup:
        progress = min(max((step - o.warmup) / (total_steps - o.warmup), 0.0), 1.0)
        if step >= o.warmup:
            lr *= 0.5 * (1 + math.cos(math.pi * progress)) if o.lr_schedule == "cosine" else 1 - progress
    if o.lr_decay != 1 and epoch >= o.lr_decay_after:
        lr *= o.lr_decay ** (epoch - o.lr_decay_after + 1)
    return lr


def make_optimizer(o, params):
    """recur's make_optimizer(): each optimizer with the same defaults as recur's (PyTorch's),
    the weight decay always as given (AdamW's too)."""
    if o.optimizer == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.optimizer == "sgd":
        return torch.optim.SGD(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.optimizer == "momentum":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    if o.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=o.lr, weight_decay=o.weight_decay)
    sys.exit(f"char_torch.py: unknown optimizer '{o.optimizer}'")


def evaluate(model, tokens, batch_size, seq_length):
    """recur's evaluate(): mean cross-entropy over the split, batched as training is."""
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
            logits, state = model(batches.inputs[k], state)
            total += F.cross_entropy(logits.reshape(B * T, -1), batches.targets[k].reshape(B * T),
                                     reduction="sum").item()
    model.train()
    return total / (batches.steps_per_epoch * B * T)


ARCHITECTURE = {"cell": "lstm", "layers": 2, "hidden": 256, "embed": 64}  # recur train's defaults


def train(o):
    if o.peephole:
        sys.exit("char_torch.py: PyTorch's LSTM has no peephole connections")
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    with open(o.text, "rb") as f:
        text = f.read().decode("utf-8")  # strict: an invalid byte is an error, as in recur
    vocab = build_vocab(text, o.max_vocab)
    if o.init:
        model, config, file_vocab = load_model_file(o.init, o.dropout)
        for key in ARCHITECTURE:
            given = getattr(o, key)
            if given is not None and given != config[key]:
                sys.exit(f"char_torch.py: --{key} {given} disagrees with {o.init}'s {key} {config[key]}")
        if file_vocab != vocab:
            print(f"char_torch.py: {o.init}'s vocabulary differs from the text's; encoding with the file's "
                  "(as recur train --init-from does)", file=sys.stderr)
            vocab = file_vocab
    else:
        config = {key: getattr(o, key) if getattr(o, key) is not None else default
                  for key, default in ARCHITECTURE.items()}
        config["vocab_size"] = len(vocab)
        model = LanguageModel(config["cell"], config["layers"], config["hidden"], config["embed"], len(vocab), o.dropout)
    tokens = encode(text, vocab)
    train_tokens, val_tokens, _ = split_tokens(tokens, o.val_fraction, o.test_fraction)
    batches = CharBatches(train_tokens, o.batch_size, o.seq_length)
    per_epoch = batches.steps_per_epoch
    total_steps = o.max_steps
    if o.max_epochs > 0:
        total_steps = min(total_steps, o.max_epochs * per_epoch) if total_steps > 0 else o.max_epochs * per_epoch
    if total_steps <= 0:
        sys.exit("char_torch.py: give --max-steps or --max-epochs")
    print(f"char_torch.py: {len(tokens)} characters, vocabulary {len(vocab)}, split {len(train_tokens)} / "
          f"{len(val_tokens)}; {config['cell']} {config['layers']}x{config['hidden']} embed {config['embed']}, "
          f"{sum(p.numel() for p in model.parameters())} parameters; {per_epoch} steps per epoch of "
          f"{o.batch_size}x{o.seq_length}; {torch.get_num_threads()} threads", file=sys.stderr)

    model.train()
    params = list(model.parameters())
    optimizer = make_optimizer(o, params)
    rows = o.batch_size * o.seq_length
    state = None
    train_seconds, loss_sum, loss_count = 0.0, 0.0, 0
    train_losses, val_losses = {}, {}
    step = 0
    started = time.perf_counter()
    while step < total_steps:
        epoch, k = divmod(step, per_epoch)
        if k == 0:
            state = None  # each epoch starts from a zero state
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(o, step, epoch, total_steps)
        logits, state = model(batches.inputs[k], state)
        loss = F.cross_entropy(logits.reshape(rows, -1), batches.targets[k].reshape(rows))
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
        last = step == total_steps
        if (o.eval_every > 0 and step % o.eval_every == 0) or last:
            train_seconds += time.perf_counter() - started
            train_losses[step] = loss_sum / loss_count
            val_losses[step] = evaluate(model, val_tokens, o.batch_size, o.seq_length)
            print(f"step {step}: train loss {train_losses[step]:.4f}, val loss {val_losses[step]:.6f} nats/char",
                  file=sys.stderr)
            loss_sum, loss_count = 0.0, 0
            started = time.perf_counter()
    summary = {"steps": step, "chars_per_sec": step * rows / train_seconds, "train_seconds": train_seconds,
               "threads": torch.get_num_threads(), "torch": torch.__version__,
               "train_loss": {str(s): v for s, v in train_losses.items()},
               "val_loss": {str(s): v for s, v in val_losses.items()}}
    print(json.dumps(summary), flush=True)


# ------------------------------------------------------------------ sampling


def sample(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    model, config, vocab = load_model_file(o.model)
    model.eval()
    generator = torch.Generator().manual_seed(o.seed)
    start = vocab.index("\n") if "\n" in vocab else 0
    printable = ["\ufffd" if token == UNKNOWN else token for token in vocab]  # as recur sample prints <unk>
    pieces = []
    began = time.perf_counter()
    with torch.no_grad():
        x = torch.tensor([[start]])
        state = None
        for _ in range(o.length):
            logits, state = model(x, state)  # one step: [1, 1, V]
            probs = F.softmax(logits[0, 0] / o.temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)
            pieces.append(printable[token.item()])
            x = token.view(1, 1)
    seconds = time.perf_counter() - began
    text = "".join(pieces)
    if o.text_out:
        with open(o.text_out, "w", encoding="utf-8") as f:
            f.write(text)
    print(json.dumps({"length": o.length, "seconds": seconds, "chars_per_sec": o.length / seconds if seconds else 0,
                      "threads": torch.get_num_threads(), "hidden": config["hidden"], "cell": config["cell"],
                      "torch": torch.__version__}), flush=True)


def add_trainer_args(t):
    """The flags of recur's trainer (optimizer, schedule, clipping, budget, seed) with its defaults,
    for the train subcommand of every replica."""
    t.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd", "momentum", "adagrad", "rmsprop"])
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--lr-decay", type=float, default=1.0)
    t.add_argument("--lr-decay-after", type=int, default=10)
    t.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "linear"])
    t.add_argument("--warmup", type=int, default=0)
    t.add_argument("--clip", type=float, default=5.0)
    t.add_argument("--clip-value", type=float, default=0.0)
    t.add_argument("--max-steps", type=int, default=0)
    t.add_argument("--max-epochs", type=int, default=0)
    t.add_argument("--eval-every", type=int, default=500)
    t.add_argument("--seed", type=int, default=1, help="torch's seed (initial weights without --init, dropout)")
    t.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's own)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train as `recur train` does")
    t.add_argument("text", nargs="?", default=DEFAULT_TEXT, metavar="TEXT")
    t.add_argument("--init", help="recur's RUN/init.safetensors: architecture, vocabulary and initial weights")
    t.add_argument("--cell", choices=["lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"])
    t.add_argument("--layers", type=int)
    t.add_argument("--hidden", type=int)
    t.add_argument("--embed", type=int)
    t.add_argument("--peephole", action="store_true", help="refused: PyTorch's LSTM has none")
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--max-vocab", type=int, default=0)
    t.add_argument("--val-fraction", type=float, default=0.05)
    t.add_argument("--test-fraction", type=float, default=0.05)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--seq-length", type=int, default=64)
    add_trainer_args(t)
    s = commands.add_parser("sample", help="generate as a PyTorch sampler would, timed")
    s.add_argument("model", metavar="MODEL", help="a recur model file or checkpoint")
    s.add_argument("--length", type=int, default=1000)
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--threads", type=int, default=0)
    s.add_argument("--text-out", help="write the generated text here")
    o = parser.parse_args()
    train(o) if o.command == "train" else sample(o)


if __name__ == "__main__":
    main()
