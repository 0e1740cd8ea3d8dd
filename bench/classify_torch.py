#!/usr/bin/python3
"""`recur train --task classify` and `recur predict` replicated in PyTorch, for `scripts/bench
classify` (bench/classify_compare.py): the same model, tokens, vocabulary, labels, loss,
optimizer and validation, and batches of the same shapes, so the two do the same work and their
speeds compare; `predict` prints what `recur predict` prints, so their outputs compare line by
line.

    /usr/bin/python3 bench/classify_torch.py train data/spam/train.tsv --val data/spam/valid.tsv \\
        [--init RUN/init.safetensors] --max-steps 40 --eval-every 40
    /usr/bin/python3 bench/classify_torch.py predict RUN/best.safetensors data/spam/test.tsv [--json]

A file of its own, like word_torch.py: the word tokens, their vocabulary (build_vocab, fold,
Encoder), the safetensors reader and the trainer's flags, optimizer and learning-rate schedule
are imported from word_torch.py and char_torch.py, not copied.

The data (recur's data::read_labeled_texts, src/data/sequences.cpp): the file decoded as strict
UTF-8, lines split at '\\n' with a '\\r' before it dropped; blank lines (only spaces, tabs, '\\r',
'\\f', '\\v') skipped; every other line is LABEL<TAB>TEXT, the text being everything after the
first tab, and must hold a token. The labels are the training texts' distinct labels in byte
order; a validation label outside them is an error.

The tokens (data::split_tokens, then the first --max-length): with --tokens word, Python's
str.split() of the text (recur's separators are exactly its whitespace), and with
--split-punctuation each word cut into runs of punctuation and runs of other characters
(recur's data::is_punctuation: Unicode categories P and S except Pc); with --tokens char,
every code point; with --lowercase the text folded first (word_torch.fold). The vocabulary
(data::build_vocab of the training texts' tokens, truncated): for words, word_torch.build_vocab
with one "<eos>" per text (recur counts the lines): the words seen at least --min-count times
(default 2), at most --max-vocab (default 30000) entries with "<unk>" and "<eos>", most frequent
first, ties by the words' UTF-8 bytes, "<unk>" (the words left out) and "<eos>" placed by their
counts; for characters, every character seen (--min-count must be 1), most frequent first, ties
by code point, the first --max-vocab - 1 of them, then "<unk>". A token outside it is "<unk>".
With --init the file's vocabulary, tokens, lowercase, split_punctuation and max_length are used, as `recur train
--init-from` does.

The model (recur's nn::SequenceClassifier): embed (nn.Embedding(V, E)) -> rnn (nn.LSTM / nn.GRU /
nn.RNN(E, H, layers, bidirectional), dropout between layers) over each text's real steps only
(pack_padded_sequence, time-major) -> pool the top layer's outputs, directions side by side
[forward | backward]: max (the elementwise max over the real steps: padded with -inf), mean (the
sum over the real steps / L) or last (the forward direction's output at step L-1 and the
backward one's at step 0: h_n's last rows) -> dropout(--dropout) -> head (nn.Linear(D*H, C)).
PyTorch's default initialisation (recur's is the same), or the weights of --init; tensors named
as in recur's model files (docs/FORMAT.md), loaded strictly. Defaults: bidirectional LSTM, 1
layer, hidden 128, embed 128, max pooling, dropout 0.3.

train replicates `recur train --task classify` (src/train/classify_task.cpp, trainer.cpp):
  data      DATA is all training texts when --val is given; else each label's texts are shuffled,
            round(n * --val-fraction) of them (at most n - 1) go to validation and round(n *
            --test-fraction) more are held out, as recur's stratified split does (the same sizes;
            not recur's random stream, so not its texts; the held-out texts are not measured).
  batches   data::LengthBatches: every epoch all training texts shuffled, cut into pools of 50
            batches (50 * --batch-size texts), each pool sorted by length (longest first,
            stable), cut into batches, the batches shuffled; padded to the batch's longest text
            and packed, so the RNN skips the padding. Numpy's random stream, not recur's Philox:
            the same distribution of batch shapes, which is what the speed depends on.
  training  loss = mean cross-entropy (with --class-weights balanced, PyTorch's weighted mean
            with weights N / (C * count)); gradients clipped elementwise at --clip-value, then to
            global norm --clip (5); Adam (betas 0.9/0.999, eps 1e-8), lr 2e-3, recur's
            learning-rate schedule (char_torch.learning_rate).
  validation every --eval-every steps and after the last step: the validation texts sorted by
            length (longest first, stable), 64 at a time, eval mode, no autograd; mean
            cross-entropy, accuracy and macro-F1 (the mean of the per-label F1 over the labels
            that are some text's truth or prediction).
  output    a line per evaluation on stderr, then one JSON line on stdout: steps,
            examples_per_sec (recur's measure: steps * N_train / batches per epoch, over the time
            of the training steps; setup and evaluations excluded), train_seconds, threads,
            train_loss / val_loss / val_accuracy / val_macro_f1 by step.

predict MODEL FILE: as `recur predict` (apps/recur/predict.cpp): every line of FILE (split at
'\\n', a '\\r' before it dropped; a last line without one counts, an empty tail does not), the
text after its first tab when it has one, read as the model was trained (tokens, lowercase,
max_length); as a PyTorch user who wants speed writes it: sorted by length, longest first,
--batch-size at a time, padded to the longest and packed, under torch.no_grad() in eval mode.
One line per input line, in input order: "LABEL<TAB>p" (p the most probable label's
probability, "%.4f"), or with --json {"label", "prob", "probs": {LABEL: p}}. On stderr a JSON
line {"examples", "tokens", "seconds", "examples_per_sec", "threads", "batch_size"}: the time
of reading and tokenising the file, classifying and writing, loading the model excluded.
"""
import argparse
import itertools
import json
import math
import os
import re
import sys
import time
import unicodedata

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from char_torch import add_trainer_args, learning_rate, make_optimizer, read_safetensors  # noqa: E402
from word_torch import END, UNKNOWN, build_vocab, fold  # noqa: E402

DATA = os.path.normpath(os.path.join(HERE, "..", "data", "spam"))
NAME = "classify_torch.py"
POOL = 50            # batches per length-sorting pool (LengthBatches' default)
EVAL_BATCH = 64      # classifier_log_probs' batch size
BLANK = " \t\r\f\v"  # what a blank line holds (is_blank)


# ------------------------------------------------------------------ texts, tokens and vocabulary


def read_lines(path):
    """The lines of a file (path, or '-': standard input) decoded as strict UTF-8 (a bad byte is an
    error, as in recur): split at '\\n', a '\\r' before it dropped; an empty tail is no line."""
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    lines = data.decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_labeled(path, tokens):
    """recur's read_labeled_texts: (label, text) of each line that is not blank."""
    examples = []
    for number, line in enumerate(read_lines(path), 1):
        if not line.strip(BLANK):
            continue
        label, tab, text = line.partition("\t")
        if not tab:
            sys.exit(f"{NAME}: {path} line {number}: no tab; each line must be LABEL<TAB>TEXT")
        if not label:
            sys.exit(f"{NAME}: {path} line {number}: the label before the tab is empty")
        if not (text.split() if tokens == "word" else text):
            sys.exit(f"{NAME}: {path} line {number}: the text after the tab has no "
                     f"{'words' if tokens == 'word' else 'characters'}")
        examples.append((label, text))
    if not examples:
        sys.exit(f"{NAME}: {path} has no examples (LABEL<TAB>TEXT lines)")
    return examples


def is_punctuation(c):
    """recur's data::is_punctuation."""
    category = unicodedata.category(c)
    return category[0] in "PS" and category != "Pc"


# The same split for ASCII text in one regular expression, 2-3 times faster than groupby on
# is_punctuation: ASCII's punctuation is !-/ :-@ [-^ ` {-~ (not '_').
ASCII_PUNCTUATION = r"!-/:-@\[-^`{-~"
ASCII_WORDS = re.compile(f"[{ASCII_PUNCTUATION}]+|[^\\s{ASCII_PUNCTUATION}]+")


def split_punctuation(text):
    """The words of `text` (str.split()), each cut into runs of punctuation and of the rest."""
    if text.isascii():
        return ASCII_WORDS.findall(text)
    return ["".join(run) for word in text.split() for _, run in itertools.groupby(word, is_punctuation)]


class Tokenizer:
    """A text -> its token indices, as recur's classifier_tokens: split (words, cut at punctuation
    with `split_punctuation`, or characters), folded with `lowercase`, the first `max_length`
    (0: all), each looked up in `vocab` (else <unk>)."""

    def __init__(self, vocab, tokens="word", lowercase=False, max_length=0, split_punctuation=False):
        self.vocab, self.words, self.lowercase, self.max_length = vocab, tokens == "word", lowercase, max_length
        self.split_punctuation = split_punctuation
        self.index = {t: i for i, t in enumerate(vocab)}
        self.unknown = self.index[UNKNOWN]
        self.index.pop(UNKNOWN)  # a literal "<unk>" is looked up as unknown anyway

    def split(self, text):
        if self.lowercase:
            text = fold(text)
        if not self.words:
            tokens = list(text)
        else:
            tokens = split_punctuation(text) if self.split_punctuation else text.split()
        return tokens[:self.max_length] if self.max_length > 0 else tokens

    def encode(self, text, where=""):
        tokens = self.split(text)
        if not tokens:
            sys.exit(f"{NAME}: {where}: the text has no {'words' if self.words else 'characters'}")
        get, unknown = self.index.get, self.unknown
        return [get(t, unknown) for t in tokens]


def classifier_vocab(token_lists, tokens, min_count, max_vocab):
    """recur's data::build_vocab of the training texts' tokens (each a list, truncated)."""
    if tokens == "word":
        return build_vocab([t for ts in token_lists for t in ts] + [END] * len(token_lists), min_count, max_vocab)
    counts = {}
    for ts in token_lists:
        for c in ts:
            counts[c] = counts.get(c, 0) + 1
    chars = sorted(counts, key=lambda c: (-counts[c], ord(c)))
    if max_vocab > 0:
        chars = chars[:max_vocab - 1]
    return chars + [UNKNOWN]


def stratified_split(examples, val_fraction, test_fraction, seed):
    """recur's stratified_split's sizes with numpy's random stream: per label, round(n * val_fraction)
    (at most n - 1) texts for validation and round(n * test_fraction) (at most what is left but one)
    held out for testing; (training, validation) texts, each in the file's order."""
    rng = np.random.default_rng(seed)
    by_label = {}
    for i, (label, _) in enumerate(examples):
        by_label.setdefault(label, []).append(i)
    part = [0] * len(examples)  # 0 train, 1 validation, 2 test
    for label in sorted(by_label, key=lambda s: s.encode("utf-8")):
        members = by_label[label]
        n = len(members)
        val = min(int(math.floor(n * val_fraction + 0.5)), n - 1)
        test = min(int(math.floor(n * test_fraction + 0.5)), n - 1 - val)
        for k, m in enumerate(rng.permutation(n)[:val + test]):
            part[members[m]] = 1 if k < val else 2
    return ([e for e, p in zip(examples, part) if p == 0], [e for e, p in zip(examples, part) if p == 1])


# ------------------------------------------------------------------ the model


class SequenceClassifier(nn.Module):
    """recur's nn::SequenceClassifier: embed -> rnn over the real steps -> pool -> dropout -> head."""

    def __init__(self, config):
        super().__init__()
        cell, layers, hidden, embed = config["cell"], config["layers"], config["hidden"], config["embed"]
        self.hidden, self.pool, self.bidirectional = hidden, config["pool"], config["bidirectional"]
        self.dropout = config.get("dropout", 0.0)
        self.embed = nn.Embedding(config["vocab_size"], embed)
        between = self.dropout if layers > 1 else 0.0  # PyTorch warns about dropout with one layer
        kwargs = dict(dropout=between, bidirectional=self.bidirectional)
        if cell == "lstm":
            self.rnn = nn.LSTM(embed, hidden, layers, **kwargs)
        elif cell == "gru":
            self.rnn = nn.GRU(embed, hidden, layers, **kwargs)
        elif cell in ("rnn_tanh", "rnn_relu"):
            self.rnn = nn.RNN(embed, hidden, layers, nonlinearity=cell[4:], **kwargs)
        else:
            sys.exit(f"{NAME}: PyTorch has no '{cell}' cell")
        if self.pool not in ("last", "mean", "max"):
            sys.exit(f"{NAME}: unknown pool '{self.pool}'")
        self.head = nn.Linear((2 if self.bidirectional else 1) * hidden, config["num_labels"])

    def forward(self, inputs, lengths):
        """inputs int64 [T, B] (padded), lengths int64 [B] (on the CPU) -> logits [B, C]."""
        descending = bool((lengths[:-1] >= lengths[1:]).all())  # the batches here are: no reordering
        packed = pack_padded_sequence(inputs, lengths, enforce_sorted=descending)
        packed = packed._replace(data=self.embed(packed.data))  # the real tokens only
        output, state = self.rnn(packed)
        if self.pool == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # [layers * D, B, H], in input order
            pooled = torch.cat([h_n[-2], h_n[-1]], 1) if self.bidirectional else h_n[-1]
        elif self.pool == "mean":
            padded, _ = pad_packed_sequence(output)  # zeros past each length
            pooled = padded.sum(0) / lengths.to(padded.dtype).unsqueeze(1)
        else:
            padded, _ = pad_packed_sequence(output, padding_value=float("-inf"))
            pooled = padded.max(0).values
        return self.head(F.dropout(pooled, self.dropout, self.training))


def load_classifier(path, dropout=None):
    """(model, config, vocab, labels) of a recur classifier file or checkpoint (docs/FORMAT.md)."""
    tensors, metadata = read_safetensors(path)
    if "recur.config" not in metadata or "recur.vocab" not in metadata or "recur.labels" not in metadata:
        sys.exit(f"{NAME}: {path} is not a recur classifier (no recur.config / recur.vocab / recur.labels metadata)")
    config = json.loads(metadata["recur.config"])
    if config.get("task") != "classify":
        sys.exit(f"{NAME}: {path} is a language model: use bench/word_torch.py or bench/char_torch.py")
    if dropout is not None:
        config["dropout"] = dropout
    model = SequenceClassifier(config)
    model.load_state_dict({name: t for name, t in tensors.items() if "/" not in name}, strict=True)
    vocab, labels = json.loads(metadata["recur.vocab"]), json.loads(metadata["recur.labels"])
    if len(vocab) != config["vocab_size"] or len(labels) != config["num_labels"]:
        sys.exit(f"{NAME}: {path}: {len(vocab)} tokens and {len(labels)} labels; recur.config says "
                 f"{config['vocab_size']} and {config['num_labels']}")
    return model, config, vocab, labels


def pad(sequences):
    """Token index lists -> (inputs int64 [T, B] padded with 0, lengths int64 [B])."""
    lengths = [len(s) for s in sequences]
    inputs = np.zeros((max(lengths), len(sequences)), dtype=np.int64)
    for b, s in enumerate(sequences):
        inputs[:len(s), b] = s
    return torch.from_numpy(inputs), torch.tensor(lengths, dtype=torch.int64)


def log_probs(model, sequences, batch_size=EVAL_BATCH):
    """recur's classifier_log_probs: float64 [N, C] in the sequences' order, from batches of texts of
    similar length (sorted longest first, stable), eval mode, no autograd."""
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    result = torch.empty((len(sequences), model.head.out_features), dtype=torch.float64)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for first in range(0, len(order), batch_size):
            picked = order[first:first + batch_size]
            result[picked] = F.log_softmax(model(*pad([sequences[i] for i in picked])), 1).double()
    model.train(was_training)
    return result


def classification_report(truth, predicted, num_labels):
    """recur's classification_report: (accuracy, macro-F1 over the labels that are some example's
    truth or prediction)."""
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    ratio = lambda a, b: a / b if b > 0 else 0.0  # noqa: E731
    f1_sum, seen = 0.0, 0
    for c in range(num_labels):
        as_truth, as_prediction, hits = confusion[c].sum(), confusion[:, c].sum(), confusion[c, c]
        precision, recall = ratio(hits, as_prediction), ratio(hits, as_truth)
        if as_truth + as_prediction > 0:
            f1_sum += ratio(2 * precision * recall, precision + recall)
            seen += 1
    return ratio(np.trace(confusion), len(truth)), ratio(f1_sum, seen)


def evaluate(model, sequences, targets, num_labels):
    """(loss, accuracy, macro-F1) of the model on the examples: recur's evaluate_classifier."""
    if not sequences:
        return float("nan"), float("nan"), float("nan")
    lp = log_probs(model, sequences)
    truth = np.asarray(targets)
    loss = -lp[torch.arange(len(targets)), torch.from_numpy(truth)].mean().item()
    accuracy, macro_f1 = classification_report(truth, lp.argmax(1).numpy(), num_labels)
    return loss, float(accuracy), float(macro_f1)


# ------------------------------------------------------------------ training


class LengthBatches:
    """recur's data::LengthBatches with shuffling: each epoch's batches of example indices."""

    def __init__(self, lengths, batch_size, seed, pool=POOL):
        self.lengths, self.batch_size, self.pool = np.asarray(lengths), batch_size, pool
        self.rng = np.random.default_rng(seed)
        n, size = len(lengths), batch_size * pool
        self.steps_per_epoch = sum(-(-min(size, n - s) // batch_size) for s in range(0, n, size))

    def epoch(self):
        order = self.rng.permutation(len(self.lengths))
        batches = []
        for start in range(0, len(order), self.batch_size * self.pool):
            chunk = order[start:start + self.batch_size * self.pool]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in self.rng.permutation(len(batches))]


ARCHITECTURE = {"cell": "lstm", "layers": 1, "hidden": 128, "embed": 128, "bidirectional": True, "pool": "max"}


def parse_bool(text):
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"'{text}' is not true or false")


def train(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    tokens, lowercase, max_length, split_punctuation = o.tokens, o.lowercase, o.max_length, o.split_punctuation
    if o.init:
        model, config, vocab, labels = load_classifier(o.init, o.dropout)
        tokens, lowercase, max_length = config["tokens"], config.get("lowercase", False), config["max_length"]
        split_punctuation = config.get("split_punctuation", False)
        for key in ARCHITECTURE:
            given = getattr(o, key)
            if given is not None and given != config[key]:
                sys.exit(f"{NAME}: --{key} {given} disagrees with {o.init}'s {key} {config[key]}")
    min_count = o.min_count if o.min_count is not None else (2 if tokens == "word" else 1)
    if tokens == "char" and min_count != 1:
        sys.exit(f"{NAME}: --min-count applies to word models (--tokens word)")
    examples = read_labeled(o.data, tokens)
    if o.val:
        train_set, val_set = examples, read_labeled(o.val, tokens)
    else:
        train_set, val_set = stratified_split(examples, o.val_fraction, o.test_fraction, o.seed)
    data_labels = sorted({label for label, _ in train_set}, key=lambda s: s.encode("utf-8"))
    if len(data_labels) < 2:
        sys.exit(f"{NAME}: {o.data}: every training text has the label \"{data_labels[0]}\"; a classifier needs two")
    if o.init:
        if data_labels != labels:
            sys.exit(f"{NAME}: {o.data}: its labels differ from those of {o.init}")
    else:
        labels = data_labels
        splitter = Tokenizer([UNKNOWN], tokens, lowercase, max_length, split_punctuation)
        vocab = classifier_vocab([splitter.split(text) for _, text in train_set], tokens, min_count, o.max_vocab)
        config = {key: getattr(o, key) if getattr(o, key) is not None else default
                  for key, default in ARCHITECTURE.items()}
        config.update(task="classify", tokens=tokens, lowercase=lowercase, split_punctuation=split_punctuation,
                      max_length=max_length,
                      vocab_size=len(vocab), num_labels=len(labels), dropout=0.3 if o.dropout is None else o.dropout)
        model = SequenceClassifier(config)
    tokenizer = Tokenizer(vocab, tokens, lowercase, max_length, split_punctuation)
    label_index = {label: i for i, label in enumerate(labels)}

    def encode(pairs, path):
        unknown = sorted({label for label, _ in pairs if label not in label_index})
        if unknown:
            sys.exit(f"{NAME}: {path}: the label \"{unknown[0]}\" is not among those learnt from the training texts")
        return [tokenizer.encode(text, path) for _, text in pairs], [label_index[label] for label, _ in pairs]

    train_x, train_y = encode(train_set, o.data)
    val_x, val_y = encode(val_set, o.val or o.data)
    counts = np.bincount(train_y, minlength=len(labels))
    weight = None
    if o.class_weights == "balanced":
        weight = torch.tensor(len(train_y) / (len(labels) * counts), dtype=torch.float32)
    batches = LengthBatches([len(x) for x in train_x], o.batch_size, o.seed)
    per_epoch = batches.steps_per_epoch
    total_steps = o.max_steps
    if o.max_epochs > 0:
        total_steps = min(total_steps, o.max_epochs * per_epoch) if total_steps > 0 else o.max_epochs * per_epoch
    if total_steps <= 0:
        sys.exit(f"{NAME}: give --max-steps or --max-epochs")
    n_tokens = sum(len(x) for x in train_x)
    unknown = sum(x.count(tokenizer.unknown) for x in train_x)
    print(f"{NAME}: {len(train_x)} training texts ({', '.join(f'{l} {c}' for l, c in zip(labels, counts))}), "
          f"{len(val_x)} validation; {n_tokens // len(train_x)} {tokens}s a text on average, vocabulary {len(vocab)} "
          f"({100 * unknown / max(n_tokens, 1):.1f}% <unk>); {'bidirectional ' if config['bidirectional'] else ''}"
          f"{config['cell']} {config['layers']}x{config['hidden']}, {config['pool']} pooling, "
          f"{sum(p.numel() for p in model.parameters())} parameters; {per_epoch} steps per epoch of up to "
          f"{o.batch_size} texts; {torch.get_num_threads()} threads", file=sys.stderr)

    model.train()
    params = list(model.parameters())
    optimizer = make_optimizer(o, params)
    train_seconds, loss_sum, loss_count = 0.0, 0.0, 0
    history = {key: {} for key in ("train_loss", "val_loss", "val_accuracy", "val_macro_f1")}
    epoch_batches = []
    step = 0
    started = time.perf_counter()
    while step < total_steps:
        epoch, k = divmod(step, per_epoch)
        if k == 0:
            epoch_batches = batches.epoch()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(o, step, epoch, total_steps)
        picked = epoch_batches[k]
        inputs, lengths = pad([train_x[i] for i in picked])
        targets = torch.tensor([train_y[i] for i in picked], dtype=torch.int64)
        loss = F.cross_entropy(model(inputs, lengths), targets, weight=weight)
        optimizer.zero_grad()
        loss.backward()
        if o.clip_value > 0:
            nn.utils.clip_grad_value_(params, o.clip_value)
        if o.clip > 0:
            nn.utils.clip_grad_norm_(params, o.clip)
        optimizer.step()
        step += 1
        loss_sum += loss.item()
        loss_count += 1
        if (o.eval_every > 0 and step % o.eval_every == 0) or step == total_steps:
            train_seconds += time.perf_counter() - started
            history["train_loss"][str(step)] = loss_sum / loss_count
            val_loss, accuracy, macro_f1 = evaluate(model, val_x, val_y, len(labels))
            if val_x:
                history["val_loss"][str(step)] = val_loss
                history["val_accuracy"][str(step)] = accuracy
                history["val_macro_f1"][str(step)] = macro_f1
            print(f"step {step}: train loss {loss_sum / loss_count:.4f}, val loss {val_loss:.4f}, accuracy "
                  f"{accuracy:.4f}, macro-F1 {macro_f1:.4f}", file=sys.stderr)
            loss_sum, loss_count = 0.0, 0
            started = time.perf_counter()
    summary = {"steps": step, "examples_per_sec": step * len(train_x) / per_epoch / train_seconds,
               "train_seconds": train_seconds, "threads": torch.get_num_threads(), "torch": torch.__version__}
    summary.update({key: values for key, values in history.items() if values})
    print(json.dumps(summary), flush=True)


# ------------------------------------------------------------------ predict


def predict(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    model, config, vocab, labels = load_classifier(o.model)
    model.eval()
    began = time.perf_counter()
    tokenizer = Tokenizer(vocab, config["tokens"], config.get("lowercase", False), config["max_length"],
                          config.get("split_punctuation", False))
    name = "standard input" if o.file == "-" else o.file
    sequences = [tokenizer.encode(line.partition("\t")[2] if "\t" in line else line, f"{name} line {number}")
                 for number, line in enumerate(read_lines(o.file), 1)]
    probs = log_probs(model, sequences, o.batch_size).exp()
    best = probs.argmax(1).tolist()
    lines = []
    for row, b in zip(probs.tolist(), best):
        if o.json:
            lines.append(json.dumps({"label": labels[b], "prob": row[b], "probs": dict(zip(labels, row))},
                                    ensure_ascii=False, separators=(",", ":")))
        else:
            lines.append(f"{labels[b]}\t{row[b]:.4f}")
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    seconds = time.perf_counter() - began
    print(json.dumps({"examples": len(sequences), "tokens": sum(len(s) for s in sequences), "seconds": seconds,
                      "examples_per_sec": len(sequences) / seconds if seconds else 0.0,
                      "threads": torch.get_num_threads(), "batch_size": o.batch_size}), file=sys.stderr, flush=True)


# ------------------------------------------------------------------ command line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train as `recur train --task classify` does")
    t.add_argument("data", nargs="?", default=os.path.join(DATA, "train.tsv"), metavar="DATA")
    t.add_argument("--init", help="recur's RUN/init.safetensors: architecture, vocabulary, labels and initial weights")
    t.add_argument("--val", help="validation texts (then DATA is all training texts)")
    t.add_argument("--val-fraction", type=float, default=0.1)
    t.add_argument("--test-fraction", type=float, default=0.1, help="held out (not measured: no --test here)")
    t.add_argument("--tokens", default="word", choices=["word", "char"])
    t.add_argument("--lowercase", action="store_true")
    t.add_argument("--split-punctuation", action="store_true")
    t.add_argument("--min-count", type=int, help="default 2 for words, 1 for characters")
    t.add_argument("--max-vocab", type=int, default=30000)
    t.add_argument("--max-length", type=int, default=400)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--class-weights", default="none", choices=["none", "balanced"])
    t.add_argument("--cell", choices=["lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"])
    t.add_argument("--layers", type=int)
    t.add_argument("--hidden", type=int)
    t.add_argument("--embed", type=int)
    t.add_argument("--bidirectional", nargs="?", const=True, type=parse_bool, metavar="true|false",
                   help="default true (--bidirectional=false or --no-bidirectional: forwards only)")
    t.add_argument("--no-bidirectional", dest="bidirectional", action="store_false", default=None)
    t.add_argument("--pool", choices=["last", "mean", "max"])
    t.add_argument("--dropout", type=float, help="default: --init's, else 0.3")
    add_trainer_args(t)
    p = commands.add_parser("predict", help="each line's label and probability, as `recur predict`")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("file", nargs="?", default="-", metavar="FILE")
    p.add_argument("--json", action="store_true", help='one JSON line each: {"label", "prob", "probs"}')
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)
    o = parser.parse_args()
    {"train": train, "predict": predict}[o.command](o)


if __name__ == "__main__":
    main()
