#!/usr/bin/python3
"""`recur train --task tag` and `recur predict` of a tagger replicated in PyTorch, for `scripts/bench
classify` (bench/classify_compare.py, its tag_* parts): the same model, words, characters,
vocabularies, tags, loss, optimizer and validation, and batches of the same shapes, so the two do
the same work and their speeds compare; `predict` prints what `recur predict` prints, so their
outputs compare line by line.

    /usr/bin/python3 bench/tag_torch.py train data/brown-pos/train.conll --val data/brown-pos/valid.conll \\
        [--init RUN/init.safetensors] --max-steps 40 --eval-every 40
    /usr/bin/python3 bench/tag_torch.py predict RUN/best.safetensors SENTENCES.txt [--json]

A file of its own, like classify_torch.py: the lines of a file, the length batches, the padding
of tensors and the boolean flags are imported from classify_torch.py; the word vocabulary
(build_vocab) and case folding from word_torch.py; the safetensors reader and the trainer's
flags, optimizer and learning-rate schedule from char_torch.py; not copied.

The data (recur's data::read_conll, src/data/sequences.cpp): the file decoded as strict UTF-8,
lines split at '\\n' with a '\\r' before it dropped; a line's fields are separated by spaces and
tabs; a token line is WORD ... TAG (the first field and the last); a line without fields, or
one whose first field is -DOCSTART-, ends a sentence (empty sentences are none). The tags are
the training sentences' distinct tags in byte order; a held-out tag outside them is kept as an
ignored target (-100): out of the loss, counted wrong in the accuracies (as recur does).

The vocabularies (TagTask::load_data): the words, word_torch.build_vocab of the training
sentences' words (folded with --lowercase) and one "<eos>" per sentence: the words seen at
least --min-count times (default 1), at most --max-vocab (default 0: all) entries with
"<unk>" and "<eos>", most frequent first, ties by the words' UTF-8 bytes; a word outside it is
"<unk>". The characters (character features only), every character of every training word
token as written (not folded), most frequent first, ties by code point, then "<unk>" (any
other character). With --init the file's vocabularies, tags and lowercase are used, as `recur
train --init-from` does; characters are never folded.

The model (recur's nn::SequenceTagger): embed (nn.Embedding(V, E)); with character features,
each distinct word of a batch spelled (its characters' indices) -> char_embed (nn.Embedding(K,
E_c)) -> char_rnn (nn.LSTM(E_c, H_c, bidirectional=True)) over each word's real characters
(pack_padded_sequence), the word's features its final states [forward | backward] (h_n[0],
h_n[1]), joined to each of its positions' word vectors (E + 2 H_c inputs); dropout(--dropout)
-> rnn (nn.LSTM / nn.GRU / nn.RNN(E + 2 H_c, H, layers, bidirectional), --dropout between
layers) over each sentence's real words only (pack_padded_sequence, time-major) -> dropout ->
head (nn.Linear(D * H, C)) on each word. Only real words are embedded, spelled, run and scored
(the packed data), as a PyTorch user who wants speed writes it. PyTorch's default
initialisation (recur's is the same), or the weights of --init; tensors named as in recur's
model files (docs/FORMAT.md), loaded strictly. Defaults: bidirectional LSTM, 1 layer, hidden
128, embed 100, character features 25 -> 2 x 25, dropout 0.25.

train replicates `recur train --task tag` (src/train/tag_task.cpp, trainer.cpp):
  data      DATA is all training sentences when --val is given; else the sentences are
            shuffled, min(n - 1, round(n * --val-fraction)) go to validation and
            min(rest - 1, round(n * --test-fraction)) more are held out (the same sizes as
            recur's split; not recur's random stream, so not its sentences; the held-out ones
            are not measured).
  batches   classify_torch.LengthBatches (data::LengthBatches): every epoch all training
            sentences shuffled, cut into pools of 50 batches, each pool sorted by length
            (longest first, stable), cut into --batch-size (32) sentences, the batches
            shuffled; padded and packed, so the RNN skips the padding. Each word seen once in
            training (its vocabulary entry counted once) is read as "<unk>" with probability
            0.5 at each use, its spelling still its own. Numpy's random stream, not recur's
            Philox: the same distribution of batch shapes, which is what the speed depends on.
  training  loss = mean cross-entropy over the batch's real words; gradients clipped
            elementwise at --clip-value, then to global norm --clip (5); Adam (betas
            0.9/0.999, eps 1e-8), lr 2e-3, recur's learning-rate schedule
            (char_torch.learning_rate).
  validation every --eval-every steps and after the last step: the validation sentences sorted
            by length (longest first, stable), 64 at a time, eval mode, no autograd; loss (mean
            cross-entropy over the words whose tag training knows), accuracy (the words tagged
            right, of all words) and the accuracy on words outside the vocabulary (recur's
            val_oov_accuracy). recur's entity precision/recall/F1 of BIO tag sets are not
            replicated.
  output    a line per evaluation on stderr, then one JSON line on stdout: steps,
            examples_per_sec (recur's measure, an example being a sentence: steps * N_train /
            batches per epoch, over the time of the training steps; setup and evaluations
            excluded), train_seconds, threads, train_loss / val_loss / val_accuracy /
            val_oov_accuracy by step.

predict MODEL FILE: as `recur predict` of a tagger (apps/recur/predict.cpp): every line of FILE
(split at '\\n'; a last line without one counts, an empty tail does not) a sentence, its words
Python's str.split() (recur's separators are exactly its whitespace); as a PyTorch user who
wants speed writes it: sorted by length, longest first, --batch-size at a time, padded and
packed, under torch.no_grad() in eval mode; each word's most probable tag. For each line, in
input order, "WORD<TAB>TAG" a word and then a blank line (an empty line: the blank line only),
or with --json {"tokens": [...], "tags": [...]} a line. On stderr a JSON line {"examples" (the
lines), "tokens" (the words), "seconds", "examples_per_sec", "threads", "batch_size"}: the time
of reading and tokenising the file, tagging and writing, loading the model excluded.
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
from torch.nn.utils.rnn import pack_padded_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from char_torch import add_trainer_args, learning_rate, llround, make_optimizer, read_safetensors  # noqa: E402
from classify_torch import EVAL_BATCH, LengthBatches, parse_bool, read_lines  # noqa: E402
from word_torch import END, UNKNOWN, build_vocab, fold  # noqa: E402

DATA = os.path.normpath(os.path.join(HERE, "..", "data", "brown-pos"))
NAME = "tag_torch.py"
IGNORE = -100            # data::kIgnoreLabel, PyTorch's ignore_index
SINGLETON_UNKNOWN = 0.5  # kSingletonUnknownRate: a word seen once in training is <unk> this often


# ------------------------------------------------------------------ sentences, words and vocabularies


def read_conll(path):
    """recur's read_conll: the (words, tags) of each sentence of a CoNLL file."""
    sentences, words, tags = [], [], []
    for number, line in enumerate(read_lines(path), 1):
        fields = line.replace("\t", " ").split(" ")
        fields = [f for f in fields if f]
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        if len(fields) < 2:
            sys.exit(f"{NAME}: {path} line {number}: one field (\"{fields[0]}\"); a token line is WORD ... TAG, "
                     f"separated by tabs or spaces")
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        sentences.append((words, tags))
    if not sentences:
        sys.exit(f"{NAME}: {path} has no sentences (WORD TAG lines)")
    return sentences


def char_vocab_of(sentences):
    """data::build_vocab in char mode of the training words' characters: most frequent first, ties
    by code point, then <unk>."""
    counts = {}
    for words, _ in sentences:
        for w in words:
            for c in w:
                counts[c] = counts.get(c, 0) + 1
    return sorted(counts, key=lambda c: (-counts[c], ord(c))) + [UNKNOWN]


class Facts:
    """What a tagger reads by, as recur's TaggerFacts: the words (vocab), tags (labels), characters
    (char_vocab, empty without character features) and whether words are folded (lowercase;
    characters never are)."""

    def __init__(self, vocab, labels, char_vocab, lowercase):
        self.vocab, self.labels, self.char_vocab = vocab, labels, char_vocab
        self.lowercase = lowercase
        self.word_index = {w: i for i, w in enumerate(vocab)}
        self.unknown = self.word_index[UNKNOWN]
        self.tag_index = {t: i for i, t in enumerate(labels)}
        self.char_index = {c: i for i, c in enumerate(char_vocab) if c != UNKNOWN}
        self.char_unknown = len(char_vocab) - 1


class Corpus:
    """recur's TaggedCorpus: each sentence's word indices and tags, and its words' spellings (the
    index of each distinct word as written, and that word's characters' indices)."""

    def __init__(self, facts):
        self.facts = facts
        self.words, self.tags, self.spellings = [], [], []
        self.spelling_index, self.spelled = {}, []
        self.unseen_tags = 0
        self.ready = False

    def add(self, words, tags=None):
        f = self.facts
        get, unknown = f.word_index.get, f.unknown
        folded = [fold(w) for w in words] if f.lowercase else words
        self.words.append(np.fromiter((get(w, unknown) for w in folded), dtype=np.int64, count=len(words)))
        if tags is not None:
            self.tags.append(np.fromiter((f.tag_index.get(t, IGNORE) for t in tags), dtype=np.int64,
                                         count=len(tags)))
            self.unseen_tags += sum(t not in f.tag_index for t in tags)
        if not f.char_vocab:
            return
        spellings = []
        index, spelled = self.spelling_index, self.spelled
        char_get, char_unknown = f.char_index.get, f.char_unknown
        for w in words:
            s = index.get(w)
            if s is None:
                s = index[w] = len(spelled)
                spelled.append([char_get(c, char_unknown) for c in w])
            spellings.append(s)
        self.spellings.append(np.asarray(spellings, dtype=np.int64))

    def add_tagged(self, sentences):
        for words, tags in sentences:
            self.add(words, tags)

    def finish(self):
        """The arrays batches are cut from: every spelling's characters one after another."""
        self.lengths = np.fromiter((len(w) for w in self.words), dtype=np.int64, count=len(self.words))
        self.first = np.concatenate([[0], np.cumsum(self.lengths)])  # sentence i's first word overall
        if self.facts.char_vocab:
            self.spelled_lengths = np.fromiter((len(s) for s in self.spelled), dtype=np.int64,
                                               count=len(self.spelled))
            self.spelled_first = np.concatenate([[0], np.cumsum(self.spelled_lengths)])
            self.spelled_chars = np.fromiter((c for s in self.spelled for c in s), dtype=np.int64,
                                             count=int(self.spelled_first[-1]))
        self.ready = True

    def batch(self, picked, words=None):
        """The batch of sentences `picked`: (ints, lengths, chars, char_lengths): ints int64 [T, B, 4]
        (each position's word, its row of chars, its target tag, its place among all the corpus's
        words; zero past each length), lengths int64 [B], and the batch's distinct words spelled:
        chars int64 [L, W] (zero-padded), char_lengths int64 [W] (None without character features).
        `words`: the picked sentences' words joined, when the caller changed them."""
        lengths = self.lengths[picked]
        B, T = len(picked), int(lengths.max())
        real = np.arange(T)[None, :] < lengths[:, None]  # [B, T], row-major: the sentences one after another
        ints = np.zeros((B, T, 4), dtype=np.int64)
        ints[real, 0] = np.concatenate([self.words[i] for i in picked]) if words is None else words
        if self.tags:
            ints[real, 2] = np.concatenate([self.tags[i] for i in picked])
        ints[real, 3] = np.concatenate([np.arange(self.first[i], self.first[i + 1]) for i in picked])
        chars = char_lengths = None
        if self.facts.char_vocab:
            distinct, rows = np.unique(np.concatenate([self.spellings[i] for i in picked]), return_inverse=True)
            ints[real, 1] = rows
            char_lengths = self.spelled_lengths[distinct]
            starts = self.spelled_first[distinct]
            within = np.arange(int(char_lengths.sum())) - np.repeat(np.cumsum(char_lengths) - char_lengths,
                                                                    char_lengths)
            spelled = np.zeros((len(distinct), int(char_lengths.max())), dtype=np.int64)
            spelled[np.arange(spelled.shape[1])[None, :] < char_lengths[:, None]] = \
                self.spelled_chars[np.repeat(starts, char_lengths) + within]
            chars, char_lengths = torch.from_numpy(spelled.T.copy()), torch.from_numpy(char_lengths)
        return torch.from_numpy(ints.transpose(1, 0, 2).copy()), torch.from_numpy(lengths), chars, char_lengths


# ------------------------------------------------------------------ the model


class SequenceTagger(nn.Module):
    """recur's nn::SequenceTagger: [embed ; char features] -> dropout -> rnn over the real words ->
    dropout -> head on each word."""

    def __init__(self, config):
        super().__init__()
        cell, layers, hidden, embed = config["cell"], config["layers"], config["hidden"], config["embed"]
        self.dropout = config.get("dropout", 0.0)
        self.embed = nn.Embedding(config["vocab_size"], embed)
        inputs = embed
        self.char_embed = self.char_rnn = None
        if config.get("char_embed", 0) > 0:
            self.char_embed = nn.Embedding(config["char_vocab_size"], config["char_embed"])
            self.char_rnn = nn.LSTM(config["char_embed"], config["char_hidden"], bidirectional=True)
            inputs += 2 * config["char_hidden"]
        between = self.dropout if layers > 1 else 0.0  # PyTorch warns about dropout with one layer
        kwargs = dict(dropout=between, bidirectional=config["bidirectional"])
        if cell == "lstm":
            self.rnn = nn.LSTM(inputs, hidden, layers, **kwargs)
        elif cell == "gru":
            self.rnn = nn.GRU(inputs, hidden, layers, **kwargs)
        elif cell in ("rnn_tanh", "rnn_relu"):
            self.rnn = nn.RNN(inputs, hidden, layers, nonlinearity=cell[4:], **kwargs)
        else:
            sys.exit(f"{NAME}: PyTorch has no '{cell}' cell")
        self.head = nn.Linear((2 if config["bidirectional"] else 1) * hidden, config["num_labels"])

    def forward(self, packed, chars=None, char_lengths=None):
        """packed: a PackedSequence of Corpus.batch's ints (data int64 [N, 4], the N real words);
        chars, char_lengths: the batch's distinct words spelled -> PackedSequence of logits [N, C]."""
        x = self.embed(packed.data[:, 0])
        if self.char_embed is not None:
            spelled = pack_padded_sequence(chars, char_lengths, enforce_sorted=False)
            _, (h_n, _) = self.char_rnn(spelled._replace(data=self.char_embed(spelled.data)))
            features = torch.cat([h_n[0], h_n[1]], 1)  # [W, 2 H_c], in the words' order
            x = torch.cat([x, features[packed.data[:, 1]]], 1)
        output, _ = self.rnn(packed._replace(data=F.dropout(x, self.dropout, self.training)))
        return output._replace(data=self.head(F.dropout(output.data, self.dropout, self.training)))


def pack(ints, lengths):
    """Corpus.batch's ints [T, B, 4] packed: the real words only, time-major."""
    descending = bool((lengths[:-1] >= lengths[1:]).all())  # the batches here are: no reordering
    return pack_padded_sequence(ints, lengths, enforce_sorted=descending)


def load_tagger(path, dropout=None):
    """(model, config, facts) of a recur tagger file or checkpoint (docs/FORMAT.md)."""
    tensors, metadata = read_safetensors(path)
    if "recur.config" not in metadata or "recur.vocab" not in metadata or "recur.labels" not in metadata:
        sys.exit(f"{NAME}: {path} is not a recur tagger (no recur.config / recur.vocab / recur.labels metadata)")
    config = json.loads(metadata["recur.config"])
    if config.get("task") != "tag":
        sys.exit(f"{NAME}: {path} is not a tagger (task \"{config.get('task', 'lm')}\"): classifiers are "
                 f"bench/classify_torch.py's, language models bench/word_torch.py's and bench/char_torch.py's")
    if dropout is not None:
        config["dropout"] = dropout
    model = SequenceTagger(config)
    model.load_state_dict({name: t for name, t in tensors.items() if "/" not in name}, strict=True)
    vocab, labels = json.loads(metadata["recur.vocab"]), json.loads(metadata["recur.labels"])
    char_vocab = json.loads(metadata["recur.char_vocab"]) if config.get("char_embed", 0) > 0 else []
    if (len(vocab), len(labels), len(char_vocab)) != (config["vocab_size"], config["num_labels"],
                                                      config.get("char_vocab_size", 0)):
        sys.exit(f"{NAME}: {path}: {len(vocab)} words, {len(labels)} tags and {len(char_vocab)} characters; "
                 f"recur.config says {config['vocab_size']}, {config['num_labels']} and "
                 f"{config.get('char_vocab_size', 0)}")
    lowercase = config.get("lowercase", False)
    return model, config, Facts(vocab, labels, char_vocab, lowercase)


def tag_corpus(model, corpus, batch_size=EVAL_BATCH):
    """recur's tagger_log_probs, read as evaluate_tagger and predict do: (each word's most probable
    tag, int64 [N], and the sum of the log-probabilities of the words' targets with a known tag,
    float64), the words of all sentences one after another; from batches of sentences of similar
    length (sorted longest first, stable), eval mode, no autograd."""
    if not corpus.ready:
        corpus.finish()
    n = len(corpus.words)
    predicted = np.zeros(int(corpus.first[-1]), dtype=np.int64)
    target_sum = 0.0
    order = np.argsort(-corpus.lengths, kind="stable")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for first in range(0, n, batch_size):
            ints, lengths, chars, char_lengths = corpus.batch(order[first:first + batch_size])
            packed = pack(ints, lengths)
            log_probs = F.log_softmax(model(packed, chars, char_lengths).data, 1)
            where = packed.data[:, 3].numpy()
            predicted[where] = log_probs.argmax(1).numpy()
            if corpus.tags:
                targets = packed.data[:, 2]
                known = targets >= 0
                target_sum += log_probs[known, targets[known]].double().sum().item()
    model.train(was_training)
    return predicted, target_sum


def evaluate(model, corpus):
    """(loss, accuracy, accuracy outside the vocabulary) of the model on tagged sentences: recur's
    evaluate_tagger (a word whose tag training lacks counts wrong and is out of the loss)."""
    if not corpus.words:
        return float("nan"), float("nan"), float("nan")
    predicted, target_sum = tag_corpus(model, corpus)
    words, targets = np.concatenate(corpus.words), np.concatenate(corpus.tags)
    hits = predicted == targets
    known = int((targets >= 0).sum())
    oov = words == corpus.facts.unknown
    share = lambda a, b: a / b if b > 0 else 0.0  # noqa: E731
    return (-target_sum / known if known else float("nan"), float(share(hits.sum(), len(hits))),
            float(share(hits[oov].sum(), oov.sum())))


# ------------------------------------------------------------------ training


ARCHITECTURE = {"cell": "lstm", "layers": 1, "hidden": 128, "embed": 100, "bidirectional": True,
                "char_embed": 25, "char_hidden": 25}


def split(sentences, val_fraction, test_fraction, seed):
    """recur's random split's sizes with numpy's random stream: (training, validation) sentences,
    each in the file's order."""
    n = len(sentences)
    n_val = min(n - 1, llround(n * val_fraction))
    n_test = min(n - 1 - n_val, llround(n * test_fraction))
    part = np.zeros(n, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(n)
    part[order[:n_val]], part[order[n_val:n_val + n_test]] = 1, 2
    return [s for s, p in zip(sentences, part) if p == 0], [s for s, p in zip(sentences, part) if p == 1]


def train(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    rng = np.random.default_rng(o.seed)
    dropout = 0.25 if o.dropout is None else o.dropout  # recur: the run's, with --init too
    sentences = read_conll(o.data)
    if o.val:
        train_set, val_set = sentences, read_conll(o.val)
    else:
        train_set, val_set = split(sentences, o.val_fraction, o.test_fraction, o.seed)
    if o.init:
        model, config, facts = load_tagger(o.init, dropout)
        for key in ARCHITECTURE:
            given = getattr(o, key)
            if given is not None and given != config[key]:
                sys.exit(f"{NAME}: --{key.replace('_', '-')} {given} disagrees with {o.init}'s {key} {config[key]}")
    else:
        labels = sorted({t for _, tags in train_set for t in tags}, key=lambda s: s.encode("utf-8"))
        if len(labels) < 2:
            sys.exit(f"{NAME}: {o.data}: every training word has the tag \"{labels[0]}\"; a tagger needs at least two")
        words = [fold(w) if o.lowercase else w for ws, _ in train_set for w in ws]
        vocab = build_vocab(words + [END] * len(train_set), o.min_count, o.max_vocab)
        config = {key: getattr(o, key) if getattr(o, key) is not None else default
                  for key, default in ARCHITECTURE.items()}
        if (config["char_embed"] > 0) != (config["char_hidden"] > 0):
            sys.exit(f"{NAME}: --char-embed and --char-hidden are both 0 (no character features) or both positive, "
                     f"got {config['char_embed']} and {config['char_hidden']}")
        char_vocab = char_vocab_of(train_set) if config["char_embed"] > 0 else []
        config.update(task="tag", tokens="word", lowercase=o.lowercase, vocab_size=len(vocab),
                      num_labels=len(labels), dropout=dropout, char_vocab_size=len(char_vocab))
        model = SequenceTagger(config)
        facts = Facts(vocab, labels, char_vocab, o.lowercase)
    train_corpus, val_corpus = Corpus(facts), Corpus(facts)
    train_corpus.add_tagged(train_set)
    val_corpus.add_tagged(val_set)
    train_corpus.finish()
    val_corpus.finish()
    all_words = np.concatenate(train_corpus.words)
    word_counts = np.bincount(all_words, minlength=len(facts.vocab))
    batches = LengthBatches(train_corpus.lengths, o.batch_size, o.seed)
    per_epoch = batches.steps_per_epoch
    total_steps = o.max_steps
    if o.max_epochs > 0:
        total_steps = min(total_steps, o.max_epochs * per_epoch) if total_steps > 0 else o.max_epochs * per_epoch
    if total_steps <= 0:
        sys.exit(f"{NAME}: give --max-steps or --max-epochs")
    n_train = len(train_corpus.words)
    chars = (f"character features {config['char_embed']} -> 2x{config['char_hidden']} over {len(facts.char_vocab)} "
             f"characters" if facts.char_vocab else "no character features")
    unseen = val_corpus.unseen_tags
    print(f"{NAME}: {n_train} training sentences ({len(all_words)} words), {len(val_corpus.words)} validation; "
          f"{len(facts.labels)} tags{f' ({unseen} validation words with tags training lacks)' if unseen else ''}, "
          f"vocabulary {len(facts.vocab)} words ({int((word_counts == 1).sum())} seen once); "
          f"{'bidirectional ' if config['bidirectional'] else ''}{config['cell']} {config['layers']}x"
          f"{config['hidden']}, {chars}, {sum(p.numel() for p in model.parameters())} parameters; {per_epoch} steps "
          f"per epoch of up to {o.batch_size} sentences; {torch.get_num_threads()} threads", file=sys.stderr)

    singleton = (word_counts == 1)
    model.train()
    params = list(model.parameters())
    optimizer = make_optimizer(o, params)
    train_seconds, loss_sum, loss_count = 0.0, 0.0, 0
    history = {key: {} for key in ("train_loss", "val_loss", "val_accuracy", "val_oov_accuracy")}
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
        words = np.concatenate([train_corpus.words[i] for i in picked])
        targets = np.concatenate([train_corpus.tags[i] for i in picked])
        rare = singleton[words] & (targets != IGNORE)
        words[rare & (rng.random(len(words)) < SINGLETON_UNKNOWN)] = facts.unknown
        ints, lengths, chars, char_lengths = train_corpus.batch(picked, words)
        packed = pack(ints, lengths)
        loss = F.cross_entropy(model(packed, chars, char_lengths).data, packed.data[:, 2], ignore_index=IGNORE)
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
            val_loss, accuracy, oov_accuracy = evaluate(model, val_corpus)
            if val_corpus.words:
                history["val_loss"][str(step)] = val_loss
                history["val_accuracy"][str(step)] = accuracy
                history["val_oov_accuracy"][str(step)] = oov_accuracy
            print(f"step {step}: train loss {loss_sum / loss_count:.4f}, val loss {val_loss:.4f}, accuracy "
                  f"{accuracy:.4f}, unseen words {oov_accuracy:.4f}", file=sys.stderr)
            loss_sum, loss_count = 0.0, 0
            started = time.perf_counter()
    summary = {"steps": step, "examples_per_sec": step * n_train / per_epoch / train_seconds,
               "train_seconds": train_seconds, "threads": torch.get_num_threads(), "torch": torch.__version__}
    summary.update({key: values for key, values in history.items() if values})
    print(json.dumps(summary), flush=True)


# ------------------------------------------------------------------ predict


def predict(o):
    if o.threads:
        torch.set_num_threads(o.threads)
    model, config, facts = load_tagger(o.model)
    model.eval()
    began = time.perf_counter()
    sentences = [line.split() for line in read_lines(o.file)]
    corpus = Corpus(facts)
    for words in sentences:
        if words:
            corpus.add(words)
    predicted = tag_corpus(model, corpus, o.batch_size)[0].tolist() if corpus.words else []
    labels = facts.labels
    out, at = [], 0
    for words in sentences:
        tags = [labels[t] for t in predicted[at:at + len(words)]]
        at += len(words)
        if o.json:
            out.append(json.dumps({"tokens": words, "tags": tags}, ensure_ascii=False, separators=(",", ":")) + "\n")
        else:
            out.append("".join(f"{w}\t{t}\n" for w, t in zip(words, tags)) + "\n")
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    seconds = time.perf_counter() - began
    print(json.dumps({"examples": len(sentences), "tokens": at, "seconds": seconds,
                      "examples_per_sec": len(sentences) / seconds if seconds else 0.0,
                      "threads": torch.get_num_threads(), "batch_size": o.batch_size}), file=sys.stderr, flush=True)


# ------------------------------------------------------------------ command line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train as `recur train --task tag` does")
    t.add_argument("data", nargs="?", default=os.path.join(DATA, "train.conll"), metavar="DATA")
    t.add_argument("--init", help="recur's RUN/init.safetensors: architecture, vocabularies, tags and initial weights")
    t.add_argument("--val", help="validation sentences (then DATA is all training sentences)")
    t.add_argument("--val-fraction", type=float, default=0.1)
    t.add_argument("--test-fraction", type=float, default=0.1, help="held out (not measured: no --test here)")
    t.add_argument("--lowercase", action="store_true")
    t.add_argument("--min-count", type=int, default=1)
    t.add_argument("--max-vocab", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--cell", choices=["lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"])
    t.add_argument("--layers", type=int)
    t.add_argument("--hidden", type=int)
    t.add_argument("--embed", type=int)
    t.add_argument("--bidirectional", nargs="?", const=True, type=parse_bool, metavar="true|false",
                   help="default true (--bidirectional=false or --no-bidirectional: forwards only)")
    t.add_argument("--no-bidirectional", dest="bidirectional", action="store_false", default=None)
    t.add_argument("--char-embed", type=int, help="default 25 (0: no character features)")
    t.add_argument("--char-hidden", type=int, help="default 25")
    t.add_argument("--dropout", type=float, help="default 0.25 (with --init too, as recur)")
    add_trainer_args(t)
    p = commands.add_parser("predict", help="each word's tag, as `recur predict` of a tagger")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("file", nargs="?", default="-", metavar="FILE")
    p.add_argument("--json", action="store_true", help='one JSON line each: {"tokens", "tags"}')
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)
    o = parser.parse_args()
    {"train": train, "predict": predict}[o.command](o)


if __name__ == "__main__":
    main()
