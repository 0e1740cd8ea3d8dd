#!/usr/bin/python3
"""`recur train --task seq2seq` and `recur predict` of a sequence-to-sequence model replicated in
PyTorch, for benchmarks: the same model, tokens, vocabularies, batches, loss, optimizer and
validation, so the two do the same work and their speeds compare; `predict` runs recur's beam
search step for step, so their outputs compare line by line.

    /usr/bin/python3 bench/seq2seq_torch.py train data/cmudict/train.tsv --val data/cmudict/valid.tsv \\
        --tgt-tokens word [--init RUN/init.safetensors] --max-steps 40 --eval-every 40
    /usr/bin/python3 bench/seq2seq_torch.py predict RUN/best.safetensors data/cmudict/test.tsv [--beam 5] [--json]

A file of its own, like classify_torch.py and tag_torch.py: the lines of a file, the length
batches, the vocabulary of a list of token lists (classifier_vocab) and the boolean flags are
imported from classify_torch.py; the safetensors reader, llround and the trainer's flags,
optimizer and learning-rate schedule from char_torch.py; the special tokens from word_torch.py;
not copied. The model is written from the equations, as tests/conformance/
make_seq2seq_fixture.py writes it (a packed encoder, the decoder stepped one token at a time
with input feeding), which test_nn_seq2seq checks recur against.

The data (recur's data::read_text_pairs, src/data/sequences.cpp): the file decoded as strict
UTF-8, lines split at '\\n' with a '\\r' before it dropped; blank lines (only spaces, tabs, '\\r',
'\\f', '\\v') skipped; every other line is SOURCE<TAB>TARGET (the source before the first tab,
the target everything after it), both holding a token. Lines with the same source (its token
indices) are one example with several targets, in order of first appearance (encode_pairs).
Tokens (--src-tokens, --tgt-tokens; default char): with word, Python's str.split() (recur's
separators are exactly its whitespace); with char, every code point; never folded.

The vocabularies (data::build_vocab of the training pairs' sources and targets, a list per
pair): for words, word_torch.build_vocab with one "<eos>" per pair: every word (min-count 1, no
limit), "<unk>" and "<eos>", most frequent first, ties by the words' UTF-8 bytes; for
characters, every character, most frequent first, ties by code point, then "<unk>". A token
outside it is "<unk>". The model's target ids are the target vocabulary's, then <bos> (Vt - 2)
and <eos> (Vt - 1) (a word vocabulary's own "<eos>" is not used). With --init the file's
vocabularies and token kinds are used, as `recur train --init-from` does.

The model (recur's nn::Seq2Seq, include/recur/nn/seq2seq.hpp; H hidden, E embed):
src_embed (nn.Embedding(Vs, E)) -> encoder (nn.LSTM / nn.GRU / nn.RNN(E, H/2 per direction when
bidirectional, else H, enc_layers, --dropout between layers)) over each source's real steps only
(pack_padded_sequence, time-major). The decoder (the same cell, dec_layers layers of H, input
E + H with attention, E without) starts in layer k from the encoder's layer k final state
(directions joined, forward first) for k < enc_layers, zeros above; step t reads y_{t-1}
(<bos> first) and a_{t-1} (zeros first): x_t = [tgt_embed(y_{t-1}); a_{t-1}], h_t = decoder(x_t)
(one nn.LSTM call of one step, every layer), c_t = attention(h_t, the encoder's top outputs,
softmax over the source's real positions: bahdanau v . tanh(W_q h + W_k k_s), dot h . k_s,
general (W h) . k_s; W_k k_s computed once per batch), a_t = dropout(tanh(combine([c_t; h_t])))
(without attention a_t = dropout(h_t)), logits = head(a_t) (only at the real target positions,
as a PyTorch user who wants speed writes it). PyTorch's default initialisation, or the weights
of --init; tensors named as in recur's model files (docs/FORMAT.md), loaded strictly.
Defaults (Seq2SeqTask::options()): LSTM, encoder 2 layers bidirectional, decoder 2 layers,
hidden 256, embed 128, bahdanau attention, dropout 0.2 (the run's, with --init too, as recur).

train replicates `recur train --task seq2seq` (src/train/seq2seq_task.cpp, trainer.cpp):
  data      DATA is all training pairs when --val is given; else the distinct sources (in
            byte order) are shuffled, min(n - 1, round(n * --val-fraction)) go to validation and
            min(rest - 1, round(n * --test-fraction)) more are held out, each with all its
            targets (the same sizes as recur's split; not recur's random stream, so not its
            sources; the held-out ones are not measured).
  batches   classify_torch.LengthBatches (data::LengthBatches) over the examples' source
            lengths: every epoch all examples shuffled, cut into pools of 50 batches, each pool
            sorted by source length (longest first, stable), cut into --batch-size (32)
            examples, the batches shuffled; one column per (source, target) pair: sources
            padded with 0 and packed, targets in = <bos> then the target, out = the target then
            <eos>, T = the longest target + 1. Numpy's random stream, not recur's Philox: the
            same distribution of batch shapes, which is what the speed depends on.
  training  loss = mean cross-entropy over the batch's target tokens, <eos> included (with
            --label-smoothing e, PyTorch's label_smoothing, which recur's loss is); gradients
            clipped elementwise at --clip-value, then to global norm --clip (5); Adam (betas
            0.9/0.999, eps 1e-8), lr 2e-3, recur's learning-rate schedule (char_torch.learning_rate).
  validation every --eval-every steps and after the last step (and with --eval-at-start before
            the first, as step 0; recur has no such evaluation: compare it with `recur eval
            RUN/init.safetensors VAL --beam 1 --json`): eval mode, no autograd; the loss per
            target token over batches of 64 examples sorted by source length (longest first,
            stable); the greedy decoding (the beam search below with beam 1) of every source,
            in batches of 64 of similar length, at most 2 x the batch's longest source + 10
            tokens (as recur's evaluations and predict by default); token error rate (the
            edit distance to the nearest target, the first of the nearest, over that target's
            length, summed) and sequence error rate (the sources whose output is none of their
            targets).
  output    a line per evaluation on stderr, then one JSON line on stdout: steps,
            examples_per_sec (recur's measure, an example being a distinct source: steps *
            N_train / batches per epoch, over the time of the training steps; setup and
            evaluations excluded), train_seconds, threads, first_train_loss (the first step's),
            train_loss / val_loss / val_token_error_rate / val_sequence_error_rate by step.

predict MODEL FILE: as `recur predict` of a sequence-to-sequence model (apps/recur/predict.cpp):
every line of FILE (split at '\\n', a '\\r' before it dropped; a last line without one counts, an
empty tail does not) a source, the part before a first tab when it has one; translate() as
recur's: the sources sorted by length (longest first, stable), --batch-size (64) at a time,
padded and packed, under torch.no_grad() in eval mode; recur's batch-parallel beam search
(nn::beam_search, src/nn/decoding.cpp), every hypothesis of every source of the batch advanced
by one decoder call per step: each live hypothesis's log-probabilities (float32, added to its
float64 log-probability), a source's 2K best continuations over all its hypotheses (ties: the
lower hypothesis * V + token first); the <eos> ones among the first K finish, the first K
others live on; a source is done when K hypotheses have finished, or at --max-len tokens
(default 2 x the batch's longest source + 10), its live ones then finishing as they are; its
--n-best by score, logprob / ((5 + |Y|) / 6)^alpha (--length-penalty alpha, |Y| counting the
ending <eos>), ties by the earlier found. For each line, in input order, its best target(s), a
line each (word tokens joined by spaces, characters run together), or with --json
{"source", "hypotheses": [{"target", "logprob"}, ...]} a line. On stderr a JSON line
{"examples" (the sources), "tokens" (their tokens), "output_tokens" (the best targets'),
"seconds", "examples_per_sec", "threads", "batch_size", "beam"}: the time of reading and
tokenising the file, translating and writing, loading the model excluded.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from char_torch import add_trainer_args, learning_rate, llround, make_optimizer, read_safetensors  # noqa: E402
from classify_torch import BLANK, EVAL_BATCH, LengthBatches, classifier_vocab, parse_bool, read_lines  # noqa: E402
from word_torch import UNKNOWN  # noqa: E402

DATA = os.path.normpath(os.path.join(HERE, "..", "data", "cmudict"))
NAME = "seq2seq_torch.py"
IGNORE = -100           # data::kIgnoreLabel, PyTorch's ignore_index
FULL_SORT = 4096        # a source's candidates (hypotheses x V) up to which the beam sorts them all


# ------------------------------------------------------------------ pairs, tokens and vocabularies


def split(text, tokens):
    """data::split_tokens: words (str.split()) or characters (code points); never folded."""
    return text.split() if tokens == "word" else list(text)


def read_pairs(path, src_tokens, tgt_tokens):
    """recur's read_text_pairs: (source, target) of each line that is not blank."""
    pairs = []
    for number, line in enumerate(read_lines(path), 1):
        if not line.strip(BLANK):
            continue
        source, tab, target = line.partition("\t")
        if not tab:
            sys.exit(f"{NAME}: {path} line {number}: no tab; each line must be SOURCE<TAB>TARGET")
        for side, kind, where in ((source, src_tokens, "source before the tab"),
                                  (target, tgt_tokens, "target after the tab")):
            if not split(side, kind):
                sys.exit(f"{NAME}: {path} line {number}: the {where} has no "
                         f"{'words' if kind == 'word' else 'characters'}")
        pairs.append((source, target))
    if not pairs:
        sys.exit(f"{NAME}: {path} has no examples (SOURCE<TAB>TARGET lines)")
    return pairs


class Side:
    """A vocabulary and its kind of tokens: text -> token indices (unknown tokens as <unk>), and
    indices -> text (recur's sequence_text: words joined by spaces, characters run together)."""

    def __init__(self, vocab, tokens):
        self.vocab, self.tokens = vocab, tokens
        self.index = {t: i for i, t in enumerate(vocab)}
        self.unknown = self.index[UNKNOWN]
        self.index.pop(UNKNOWN)  # a literal "<unk>" is unknown anyway

    def encode(self, text):
        get, unknown = self.index.get, self.unknown
        return [get(t, unknown) for t in split(text, self.tokens)]

    def text(self, indices):
        names = self.vocab + ["<bos>", "<eos>"]  # the model's extra target ids
        return (" " if self.tokens == "word" else "").join(names[i] for i in indices)


class Example:
    """recur's Seq2SeqExample: a source's indices and those of every target given for it."""

    def __init__(self, source):
        self.source, self.targets = np.asarray(source, dtype=np.int64), []


def encode_pairs(pairs, source_side, target_side):
    """recur's encode_pairs: lines with the same source gathered into one example, in order of
    first appearance."""
    examples, by_source = [], {}
    for source, target in pairs:
        s = tuple(source_side.encode(source))
        if s not in by_source:
            by_source[s] = len(examples)
            examples.append(Example(s))
        examples[by_source[s]].targets.append(np.asarray(target_side.encode(target), dtype=np.int64))
    return examples


def seq2seq_batch(examples, picked, bos, eos):
    """recur's seq2seq_batch: one column per (source, target) of the picked examples: (source int64
    [S, B] padded with 0, lengths int64 [B], target_in int64 [T, B] (<bos> then the target, padded
    with 0), target_out int64 [T, B] (the target then <eos>, padded with IGNORE))."""
    columns = [(examples[i].source, t) for i in picked for t in examples[i].targets]
    B = len(columns)
    S = max(len(s) for s, _ in columns)
    T = max(len(t) for _, t in columns) + 1
    source = np.zeros((S, B), dtype=np.int64)
    lengths = np.empty(B, dtype=np.int64)
    target_in = np.zeros((T, B), dtype=np.int64)
    target_out = np.full((T, B), IGNORE, dtype=np.int64)
    for b, (s, t) in enumerate(columns):
        source[:len(s), b] = s
        lengths[b] = len(s)
        target_in[0, b] = bos
        target_in[1:len(t) + 1, b] = t
        target_out[:len(t), b] = t
        target_out[len(t), b] = eos
    return (torch.from_numpy(source), torch.from_numpy(lengths), torch.from_numpy(target_in),
            torch.from_numpy(target_out))


# ------------------------------------------------------------------ the model


class Seq2Seq(nn.Module):
    """recur's nn::Seq2Seq: a packed encoder, attention, an input-feeding decoder and a head."""

    def __init__(self, config):
        super().__init__()
        cell, hidden, embed = config["cell"], config["hidden"], config["embed"]
        self.hidden, self.bidirectional = hidden, config["bidirectional"]
        self.enc_layers, self.dec_layers = config["enc_layers"], config["dec_layers"]
        self.kind = config["attention"]
        self.dropout = config.get("dropout", 0.0)
        if cell == "lstm":
            rnn = nn.LSTM
        elif cell == "gru":
            rnn = nn.GRU
        elif cell in ("rnn_tanh", "rnn_relu"):
            rnn = lambda *a, **k: nn.RNN(*a, nonlinearity=cell[4:], **k)  # noqa: E731
        else:
            sys.exit(f"{NAME}: PyTorch has no '{cell}' cell")
        if self.bidirectional and hidden % 2:
            sys.exit(f"{NAME}: --hidden {hidden}: a bidirectional encoder gives each direction half of it, so it "
                     f"must be even")
        between = lambda layers: self.dropout if layers > 1 else 0.0  # noqa: E731 (PyTorch warns with one layer)
        self.src_embed = nn.Embedding(config["src_vocab_size"], embed)
        self.encoder = rnn(embed, hidden // 2 if self.bidirectional else hidden, self.enc_layers,
                           dropout=between(self.enc_layers), bidirectional=self.bidirectional)
        self.tgt_embed = nn.Embedding(config["tgt_vocab_size"], embed)
        self.decoder = rnn(embed + (hidden if self.kind != "none" else 0), hidden, self.dec_layers,
                           dropout=between(self.dec_layers))
        if self.kind != "none":
            sizes = {"bahdanau": {"query_proj": (hidden, hidden), "key_proj": (hidden, hidden), "v": (hidden, 1)},
                     "dot": {}, "general": {"query_proj": (hidden, hidden)}}
            if self.kind not in sizes:
                sys.exit(f"{NAME}: unknown attention '{self.kind}' (expected bahdanau, dot, general or none)")
            self.attention = nn.Module()
            for key, (n_in, n_out) in sizes[self.kind].items():
                setattr(self.attention, key, nn.Linear(n_in, n_out, bias=False))
            self.combine = nn.Linear(2 * hidden, hidden, bias=False)
        self.head = nn.Linear(hidden, config["tgt_vocab_size"])

    def start(self, finals):
        """The decoder's layer k from the encoder's layer k final state (directions joined, forward
        first), zeros above."""
        layers = []
        for k in range(self.dec_layers):
            if k >= self.enc_layers:
                layers.append(finals.new_zeros(finals.shape[1], self.hidden))
            elif self.bidirectional:
                layers.append(torch.cat([finals[2 * k], finals[2 * k + 1]], 1))
            else:
                layers.append(finals[k])
        return torch.stack(layers)

    def encode(self, source, lengths):
        """source int64 [S, B] (padded), lengths int64 [B] -> the decoder's starting state: a dict of
        rnn (its state), feed (a_0, zeros), keys [B, S, H], projected (W_k keys, bahdanau) and mask
        [B, S] (0 at real positions, -inf at padding)."""
        descending = bool((lengths[:-1] >= lengths[1:]).all())  # the batches here are: no reordering
        packed = pack_padded_sequence(source, lengths, enforce_sorted=descending)
        output, finals = self.encoder(packed._replace(data=self.src_embed(packed.data)))  # the real tokens only
        rnn = tuple(self.start(f) for f in finals) if isinstance(finals, tuple) else self.start(finals)
        state = {"rnn": rnn}
        if self.kind != "none":
            outputs, _ = pad_packed_sequence(output, total_length=source.shape[0])  # [S, B, H]
            keys = outputs.transpose(0, 1).contiguous()
            padding = torch.arange(source.shape[0]).unsqueeze(0) >= lengths.unsqueeze(1)
            state.update(keys=keys, feed=keys.new_zeros(keys.shape[0], self.hidden),
                         mask=keys.new_zeros(padding.shape).masked_fill(padding, float("-inf")),
                         projected=self.attention.key_proj(keys) if self.kind == "bahdanau" else None)
        return state

    def step(self, state, x):
        """One decoding step of every row from the embedded previous tokens x [N, E] -> a_t [N, H],
        advancing `state`."""
        if self.kind != "none":
            x = torch.cat([x, state["feed"]], 1)
        output, state["rnn"] = self.decoder(x.unsqueeze(0), state["rnn"])
        h = output[0]
        if self.kind == "none":
            return F.dropout(h, self.dropout, self.training)
        keys = state["keys"]
        if self.kind == "bahdanau":
            hidden = torch.tanh(state["projected"] + self.attention.query_proj(h).unsqueeze(1))  # [N, S, H]
            scores = self.attention.v(hidden).squeeze(2)
        else:
            q = h if self.kind == "dot" else self.attention.query_proj(h)
            scores = torch.bmm(keys, q.unsqueeze(2)).squeeze(2)
        weights = torch.softmax(scores + state["mask"], 1)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)
        state["feed"] = F.dropout(torch.tanh(self.combine(torch.cat([context, h], 1))), self.dropout, self.training)
        return state["feed"]

    def forward(self, source, lengths, target_in, target_out):
        """Teacher forcing -> (logits [N, Vt] of the N real target positions, their targets [N])."""
        state = self.encode(source, lengths)
        embedded = self.tgt_embed(target_in)  # [T, B, E]: every step's inputs at once
        outputs = torch.stack([self.step(state, embedded[t]) for t in range(target_in.shape[0])])
        real = target_out != IGNORE
        return self.head(outputs[real]), target_out[real]


def load_seq2seq(path, dropout=None):
    """(model, config, source Side, target Side) of a recur sequence-to-sequence file or checkpoint
    (docs/FORMAT.md)."""
    tensors, metadata = read_safetensors(path)
    if not all(key in metadata for key in ("recur.config", "recur.src_vocab", "recur.tgt_vocab")):
        sys.exit(f"{NAME}: {path} is not a recur sequence-to-sequence model (no recur.config / recur.src_vocab / "
                 f"recur.tgt_vocab metadata)")
    config = json.loads(metadata["recur.config"])
    if config.get("task") != "seq2seq":
        sys.exit(f"{NAME}: {path} is not a sequence-to-sequence model (task \"{config.get('task', 'lm')}\")")
    if dropout is not None:
        config["dropout"] = dropout
    model = Seq2Seq(config)
    model.load_state_dict({name: t for name, t in tensors.items() if "/" not in name}, strict=True)
    src_vocab, tgt_vocab = json.loads(metadata["recur.src_vocab"]), json.loads(metadata["recur.tgt_vocab"])
    if (len(src_vocab), len(tgt_vocab) + 2) != (config["src_vocab_size"], config["tgt_vocab_size"]):
        sys.exit(f"{NAME}: {path}: {len(src_vocab)} source and {len(tgt_vocab)} target tokens; recur.config says "
                 f"{config['src_vocab_size']} and {config['tgt_vocab_size']} - 2")
    return model, config, Side(src_vocab, config["src_tokens"]), Side(tgt_vocab, config["tgt_tokens"])


# ------------------------------------------------------------------ beam search


class Stepper:
    """recur's Seq2SeqStepper: the model's decoder state for N rows (hypotheses), without autograd
    in eval mode (the caller's)."""

    def __init__(self, model, state):
        self.model, self.state = model, state

    def next_log_probs(self, tokens):
        """tokens int64 [N] -> float32 [N, V], the rows' states advanced by those tokens."""
        return F.log_softmax(self.model.head(self.model.step(self.state, self.model.tgt_embed(tokens))), 1)

    def reorder(self, rows):
        """The rows continue as rows[0], rows[1], ... of the current ones."""
        s = self.state
        s["rnn"] = tuple(t.index_select(1, rows) for t in s["rnn"]) if isinstance(s["rnn"], tuple) \
            else s["rnn"].index_select(1, rows)
        for key in ("feed", "keys", "projected", "mask"):
            if s.get(key) is not None:
                s[key] = s[key].index_select(0, rows)


def best_candidates(flat, k):
    """Each row's k best entries of flat float64 [R, M] (k <= M), best first, ties by the lower
    index (recur's `better`): (values [R, k], indices [R, k])."""
    if flat.shape[1] <= FULL_SORT:
        values, indices = torch.sort(flat, dim=1, descending=True, stable=True)
        return values[:, :k], indices[:, :k]
    values, indices = torch.topk(flat, k, 1)
    tied = (flat >= values[:, -1:]).sum(1) > k  # an entry left out equals the k-th: take the lowest index
    if bool(tied.any()):
        rows = tied.nonzero().squeeze(1)
        v, i = torch.sort(flat[rows], dim=1, descending=True, stable=True)
        values[rows], indices[rows] = v[:, :k], i[:, :k]
    order = indices.argsort(1)  # the lower index first among equal values: by index, then stably by value
    values, indices = values.gather(1, order), indices.gather(1, order)
    order = torch.sort(values, dim=1, descending=True, stable=True)[1]
    return values.gather(1, order), indices.gather(1, order)


def beam_search(stepper, inputs, beam, n_best, max_length, length_penalty, bos, eos):
    """recur's nn::beam_search, every live hypothesis of every input advanced together: per input
    its n_best finished hypotheses by score, each (tokens, logprob, score)."""
    K = beam
    live = torch.arange(inputs)                          # inputs still decoding, in the order of the rows
    counts = torch.ones(inputs, dtype=torch.int64)       # their live hypotheses (rows)
    logprob = torch.zeros(inputs, dtype=torch.float64)   # each row's
    history = torch.zeros((inputs, 0), dtype=torch.int64)  # each row's tokens
    last = torch.full((inputs,), bos, dtype=torch.int64)
    finished = [[] for _ in range(inputs)]
    penalty = lambda length: ((5.0 + length) / 6.0) ** length_penalty  # noqa: E731
    for step in range(max_length):
        log_probs = stepper.next_log_probs(last)  # float32 [N, V]
        V = log_probs.shape[1]
        n_live, widest = len(live), int(counts.max())
        first_row = torch.cumsum(counts, 0) - counts
        row_input = torch.repeat_interleave(torch.arange(n_live), counts)
        row_place = torch.arange(len(last)) - first_row[row_input]
        candidates = torch.full((n_live, widest, V), float("-inf"), dtype=torch.float64)
        candidates[row_input, row_place] = logprob.unsqueeze(1) + log_probs.double()
        k = min(2 * K, widest * V)
        values, indices = best_candidates(candidates.view(n_live, widest * V), k)
        parent, token = indices // V, indices % V
        real = parent < counts.unsqueeze(1)  # not a padding row's
        ends = real & (token == eos)
        goes_on = real & ~ends
        kept = goes_on & (torch.cumsum(goes_on, 1) <= K)        # the first K that do not end
        ends &= torch.arange(k).unsqueeze(0) < K                # the <eos> ones among the first K
        rows = first_row.unsqueeze(1) + parent                  # the parents' rows
        ended_count = ends.sum(1)
        kept_count = kept.sum(1)
        have = torch.tensor([len(finished[b]) for b in live.tolist()], dtype=torch.int64) + ended_count
        done = (have >= K) | (kept_count == 0) | (step + 1 >= max_length)
        if bool(ends.any()) or bool(done.any()):
            length = step + 1  # the parent's tokens and the <eos>, or a live one's tokens
            scale = penalty(length)
            live_list = live.tolist()
            for i, j in ends.nonzero().tolist():
                lp = values[i, j].item()
                finished[live_list[i]].append((history[rows[i, j]].tolist(), lp, lp / scale))
            for i in done.nonzero().squeeze(1).tolist():
                b = live_list[i]
                if len(finished[b]) >= K:
                    continue
                for j in kept[i].nonzero().squeeze(1).tolist():
                    lp = values[i, j].item()
                    finished[b].append((history[rows[i, j]].tolist() + [token[i, j].item()], lp, lp / scale))
        going = ~done
        if not bool(going.any()):
            break
        picked = kept & going.unsqueeze(1)  # row-major: the inputs in order, each's candidates best first
        parents = rows[picked]
        last = token[picked]
        history = torch.cat([history.index_select(0, parents), last.unsqueeze(1)], 1)
        logprob = values[picked]
        counts = kept_count[going]
        live = live[going]
        stepper.reorder(parents)
    return [sorted(found, key=lambda h: -h[2])[:n_best] for found in finished]  # stable: the earlier found first


def translate(model, sources, bos, eos, beam=1, n_best=1, max_length=0, length_penalty=0.0, batch_size=EVAL_BATCH):
    """recur's translate: each source's hypotheses, decoded in batches of up to batch_size sources
    of similar length (sorted longest first, stable), at most max_length tokens (0: 2 x the
    batch's longest source + 10)."""
    results = [None] * len(sources)
    order = sorted(range(len(sources)), key=lambda i: -len(sources[i]))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for first in range(0, len(order), batch_size):
            picked = order[first:first + batch_size]
            lengths = [len(sources[i]) for i in picked]
            S = max(lengths)
            tokens = np.zeros((S, len(picked)), dtype=np.int64)
            for b, i in enumerate(picked):
                tokens[:lengths[b], b] = sources[i]
            stepper = Stepper(model, model.encode(torch.from_numpy(tokens), torch.tensor(lengths, dtype=torch.int64)))
            found = beam_search(stepper, len(picked), beam, n_best, max_length or 2 * S + 10, length_penalty, bos, eos)
            for i, hypotheses in zip(picked, found):
                results[i] = hypotheses
    model.train(was_training)
    return results


# ------------------------------------------------------------------ evaluation


def edit_distance(a, b):
    """Levenshtein distance of two token lists."""
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            substitute = diagonal + (a[i - 1] != b[j - 1])
            diagonal = row[j]
            row[j] = min(substitute, row[j] + 1, row[j - 1] + 1)
    return row[-1]


def evaluate(model, examples, bos, eos):
    """(loss per target token, token error rate, sequence error rate) of the model on the examples:
    recur's evaluate_seq2seq with greedy decoding (beam 1), as Seq2SeqTask::evaluate."""
    if not examples:
        return float("nan"), float("nan"), float("nan")
    was_training = model.training
    model.eval()
    nll, tokens = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].source))
    with torch.no_grad():
        for first in range(0, len(order), EVAL_BATCH):
            logits, targets = model(*seq2seq_batch(examples, order[first:first + EVAL_BATCH], bos, eos))
            nll += F.cross_entropy(logits, targets, reduction="sum").item()
            tokens += len(targets)
    found = translate(model, [e.source.tolist() for e in examples], bos, eos)
    model.train(was_training)
    token_errors = reference_tokens = wrong = 0
    for e, hypotheses in zip(examples, found):
        best = hypotheses[0][0] if hypotheses else []
        references = [t.tolist() for t in e.targets]
        distances = [edit_distance(best, r) for r in references]
        nearest = distances.index(min(distances))
        token_errors += distances[nearest]
        reference_tokens += len(references[nearest])
        wrong += distances[nearest] > 0
    ratio = lambda a, b: a / b if b > 0 else 0.0  # noqa: E731
    return nll / tokens, ratio(token_errors, reference_tokens), ratio(wrong, len(examples))


# ------------------------------------------------------------------ training


ARCHITECTURE = {"cell": "lstm", "enc_layers": 2, "dec_layers": 2, "hidden": 256, "embed": 128, "bidirectional": True,
                "attention": "bahdanau"}  # Seq2SeqTask::options()


def split_sources(pairs, val_fraction, test_fraction, seed):
    """recur's split of the distinct sources' sizes with numpy's random stream: (training,
    validation) pairs, each in the file's order."""
    sources = sorted({s for s, _ in pairs}, key=lambda s: s.encode("utf-8"))
    n = len(sources)
    n_val = min(n - 1, llround(n * val_fraction))
    n_test = min(n - 1 - n_val, llround(n * test_fraction))
    part = np.zeros(n, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(n)
    part[order[:n_val]], part[order[n_val:n_val + n_test]] = 1, 2
    where = {s: p for s, p in zip(sources, part)}
    return [p for p in pairs if where[p[0]] == 0], [p for p in pairs if where[p[0]] == 1]


def train(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    dropout = 0.2 if o.dropout is None else o.dropout  # recur: the run's, with --init too
    src_tokens, tgt_tokens = o.src_tokens, o.tgt_tokens
    if o.init:
        model, config, source_side, target_side = load_seq2seq(o.init, dropout)
        src_tokens, tgt_tokens = config["src_tokens"], config["tgt_tokens"]
        for key in ARCHITECTURE:
            given = getattr(o, key)
            if given is not None and given != config[key]:
                sys.exit(f"{NAME}: --{key.replace('_', '-')} {given} disagrees with {o.init}'s {key} {config[key]}")
    pairs = read_pairs(o.data, src_tokens, tgt_tokens)
    if o.val:
        train_set, val_set = pairs, read_pairs(o.val, src_tokens, tgt_tokens)
    else:
        if o.val_fraction + o.test_fraction >= 1:
            sys.exit(f"{NAME}: --val-fraction {o.val_fraction} and --test-fraction {o.test_fraction} leave no pairs "
                     f"to train on")
        train_set, val_set = split_sources(pairs, o.val_fraction, o.test_fraction, o.seed)
    if not o.init:
        config = {key: getattr(o, key) if getattr(o, key) is not None else default
                  for key, default in ARCHITECTURE.items()}
        source_side = Side(classifier_vocab([split(s, src_tokens) for s, _ in train_set], src_tokens, 1, 0), src_tokens)
        target_side = Side(classifier_vocab([split(t, tgt_tokens) for _, t in train_set], tgt_tokens, 1, 0), tgt_tokens)
        config.update(task="seq2seq", src_tokens=src_tokens, tgt_tokens=tgt_tokens, dropout=dropout,
                      src_vocab_size=len(source_side.vocab), tgt_vocab_size=len(target_side.vocab) + 2)
        model = Seq2Seq(config)
    bos, eos = len(target_side.vocab), len(target_side.vocab) + 1
    train_examples = encode_pairs(train_set, source_side, target_side)
    val_examples = encode_pairs(val_set, source_side, target_side)
    batches = LengthBatches([len(e.source) for e in train_examples], o.batch_size, o.seed)
    per_epoch = batches.steps_per_epoch
    total_steps = o.max_steps
    if o.max_epochs > 0:
        total_steps = min(total_steps, o.max_epochs * per_epoch) if total_steps > 0 else o.max_epochs * per_epoch
    if total_steps <= 0:
        sys.exit(f"{NAME}: give --max-steps or --max-epochs")
    print(f"{NAME}: {len(train_set)} training pairs of {len(train_examples)} sources, {len(val_examples)} validation "
          f"sources; vocabularies {len(source_side.vocab)} source and {len(target_side.vocab)} target tokens; "
          f"{'bidirectional ' if config['bidirectional'] else ''}{config['cell']} encoder {config['enc_layers']}x"
          f"{config['hidden']}, decoder {config['dec_layers']}x{config['hidden']}, {config['attention']} attention, "
          f"{sum(p.numel() for p in model.parameters())} parameters; {per_epoch} steps per epoch of up to "
          f"{o.batch_size} sources; {torch.get_num_threads()} threads", file=sys.stderr)

    model.train()
    params = list(model.parameters())
    optimizer = make_optimizer(o, params)
    train_seconds, loss_sum, loss_count = 0.0, 0.0, 0
    history = {key: {} for key in ("train_loss", "val_loss", "val_token_error_rate", "val_sequence_error_rate")}

    def record(step):
        val_loss, token_error_rate, sequence_error_rate = evaluate(model, val_examples, bos, eos)
        if val_examples:
            history["val_loss"][str(step)] = val_loss
            history["val_token_error_rate"][str(step)] = token_error_rate
            history["val_sequence_error_rate"][str(step)] = sequence_error_rate
        train_loss = loss_sum / loss_count if loss_count else float("nan")
        print(f"step {step}: train loss {train_loss:.4f}, val loss {val_loss:.4f}, token error rate "
              f"{token_error_rate:.4f}, sequence error rate {sequence_error_rate:.4f}", file=sys.stderr)

    if o.eval_at_start:
        record(0)
    epoch_batches = []
    step, first_loss = 0, float("nan")
    started = time.perf_counter()
    while step < total_steps:
        epoch, k = divmod(step, per_epoch)
        if k == 0:
            epoch_batches = batches.epoch()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(o, step, epoch, total_steps)
        logits, targets = model(*seq2seq_batch(train_examples, epoch_batches[k], bos, eos))
        loss = F.cross_entropy(logits, targets, label_smoothing=o.label_smoothing)
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
        if step == 1:
            first_loss = loss_sum
        if (o.eval_every > 0 and step % o.eval_every == 0) or step == total_steps:
            train_seconds += time.perf_counter() - started
            history["train_loss"][str(step)] = loss_sum / loss_count
            record(step)
            loss_sum, loss_count = 0.0, 0
            started = time.perf_counter()
    summary = {"steps": step, "examples_per_sec": step * len(train_examples) / per_epoch / train_seconds,
               "train_seconds": train_seconds, "threads": torch.get_num_threads(), "torch": torch.__version__,
               "first_train_loss": first_loss}
    summary.update({key: values for key, values in history.items() if values})
    print(json.dumps(summary), flush=True)


# ------------------------------------------------------------------ predict


def predict(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    if not 1 <= o.n_best <= o.beam:
        sys.exit(f"{NAME}: --n-best {o.n_best} must be between 1 and --beam {o.beam}")
    model, config, source_side, target_side = load_seq2seq(o.model)
    model.eval()
    bos, eos = len(target_side.vocab), len(target_side.vocab) + 1
    began = time.perf_counter()
    name = "standard input" if o.file == "-" else o.file
    lines, sources = [], []
    for number, line in enumerate(read_lines(o.file), 1):
        source = line.partition("\t")[0]
        tokens = source_side.encode(source)
        if not tokens:
            sys.exit(f"{NAME}: {name} line {number}: the source has no "
                     f"{'words' if source_side.tokens == 'word' else 'characters'}")
        lines.append(source)
        sources.append(tokens)
    found = translate(model, sources, bos, eos, o.beam, o.n_best, o.max_len, o.length_penalty, o.batch_size)
    out = []
    for source, hypotheses in zip(lines, found):
        if o.json:
            out.append(json.dumps({"source": source, "hypotheses": [{"target": target_side.text(tokens), "logprob": lp}
                                                                    for tokens, lp, _ in hypotheses]},
                                  ensure_ascii=False, separators=(",", ":")) + "\n")
        else:
            out.extend(target_side.text(tokens) + "\n" for tokens, _, _ in hypotheses)
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    seconds = time.perf_counter() - began
    print(json.dumps({"examples": len(sources), "tokens": sum(len(s) for s in sources),
                      "output_tokens": sum(len(h[0][0]) for h in found if h), "seconds": seconds,
                      "examples_per_sec": len(sources) / seconds if seconds else 0.0,
                      "threads": torch.get_num_threads(), "batch_size": o.batch_size, "beam": o.beam}),
          file=sys.stderr, flush=True)


# ------------------------------------------------------------------ command line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train as `recur train --task seq2seq` does")
    t.add_argument("data", nargs="?", default=os.path.join(DATA, "train.tsv"), metavar="DATA")
    t.add_argument("--init", help="recur's RUN/init.safetensors: architecture, vocabularies and initial weights")
    t.add_argument("--val", help="validation pairs (then DATA is all training pairs)")
    t.add_argument("--val-fraction", type=float, default=0.05)
    t.add_argument("--test-fraction", type=float, default=0.05, help="held out (not measured: no --test here)")
    t.add_argument("--src-tokens", default="char", choices=["char", "word"])
    t.add_argument("--tgt-tokens", default="char", choices=["char", "word"])
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--cell", choices=["lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"])
    t.add_argument("--enc-layers", type=int)
    t.add_argument("--dec-layers", type=int)
    t.add_argument("--hidden", type=int)
    t.add_argument("--embed", type=int)
    t.add_argument("--bidirectional", nargs="?", const=True, type=parse_bool, metavar="true|false",
                   help="default true (--bidirectional=false or --no-bidirectional: forwards only)")
    t.add_argument("--no-bidirectional", dest="bidirectional", action="store_false", default=None)
    t.add_argument("--attention", choices=["bahdanau", "dot", "general", "none"])
    t.add_argument("--dropout", type=float, help="default 0.2 (with --init too, as recur)")
    t.add_argument("--eval-at-start", action="store_true",
                   help="evaluate before the first step too (step 0; recur does not: compare with recur eval --beam 1)")
    add_trainer_args(t)
    p = commands.add_parser("predict", help="each source's best target(s) by beam search, as `recur predict`")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("file", nargs="?", default="-", metavar="FILE")
    p.add_argument("--json", action="store_true",
                   help='one JSON line each: {"source", "hypotheses": [{"target", "logprob"}]}')
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--n-best", type=int, default=1)
    p.add_argument("--max-len", type=int, default=0, help="tokens generated at most (default: 2 x the batch's longest "
                                                          "source + 10)")
    p.add_argument("--length-penalty", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)
    o = parser.parse_args()
    {"train": train, "predict": predict}[o.command](o)


if __name__ == "__main__":
    main()
