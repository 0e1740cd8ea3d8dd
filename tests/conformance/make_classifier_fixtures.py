#!/usr/bin/python3
"""Sequence classifiers written by PyTorch as recur model files (docs/FORMAT.md), with
PyTorch's probabilities for a C++ test to reproduce (tests/test_conformance_classify.cpp).

    /usr/bin/python3 tests/conformance/make_classifier_fixtures.py [FIXTURE_DIR]

FIXTURE_DIR defaults to tests/fixtures. Needs only the standard library and PyTorch (the
safetensors files are written by hand, make_fixtures.py's writer: Debian has no python
safetensors package).

Three models built and initialised by PyTorch (seeded), trained for TRAIN_STEPS Adam steps on
a tiny labelled set so that their predictions are far from uniform, saved as plain state_dict
tensors (float32) under recur's names, with recur's metadata:

  classifier_torch_lstm_bi_max.safetensors    word tokens; Embedding(V, 6) -> LSTM(6, 5, 2 layers,
                                              bidirectional, dropout 0.1) -> max pool ->
                                              Linear(10, 3)
  classifier_torch_gru_bi_last.safetensors    word tokens, lowercase, split at punctuation,
                                              max_length 5;
                                              Embedding(V, 5) -> GRU(5, 4, bidirectional) ->
                                              last pool -> Linear(8, 2)
  classifier_torch_lstm_mean_char.safetensors char tokens; Embedding(V, 5) -> LSTM(5, 6) ->
                                              mean pool -> Linear(6, 2)

Tensors: embed.weight [V, E]; rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, rnn.bias_ih_l{k},
rnn.bias_hh_l{k} (and _reverse), exactly torch.nn.LSTM/GRU's state_dict under "rnn."; head.weight
[C, D*H], head.bias [C].

The forward, as recur's nn::SequenceClassifier: embed -> the rnn over each text's real steps
(pack_padded_sequence(enforce_sorted=False), time-major) -> pool the top layer's outputs
(T, B, D*H), directions side by side [forward | backward] -> head -> logits; probabilities =
softmax. With L a text's length:
  last  the forward direction's output at step L-1 joined with the backward direction's at
        step 0 (each has read the whole text; they are h_n's last two rows, which the script
        asserts); one direction: the output at step L-1
  mean  the sum of the outputs over the real steps / L
  max   the elementwise max over the real steps only

Tokens, as recur makes them (data::split_tokens, data::encode_tokens): words as str.split()
splits (recur's separators), with "split_punctuation" each cut into runs of punctuation
(data::is_punctuation: Unicode's categories P and S except Pc) and runs of other characters,
or every code point (char mode); folded with str.lower() when
"lowercase" (recur's lower_case: the same on the ASCII fixture texts); the first max_length
kept when max_length > 0; a token outside the vocabulary (a literal "<unk>" too) is <unk>.
The vocabulary and labels are what recur builds from the training set (data::build_vocab of the
training texts' tokens as above, max_length applied, with min_count MIN_COUNT; data::Labels::build): words most frequent first, ties by bytes, with <unk>
(the rarer words) and <eos> (one per example) placed by their counts; characters most frequent
first, ties by code point, then <unk> last; labels in byte order.

"__metadata__" holds, besides
  recur.config        {"task": "classify", "tokens", "lowercase", "split_punctuation",
                      "max_length", "cell",
                      "layers", "hidden", "embed", "vocab_size", "num_labels",
                      "bidirectional", "pool", "dropout"}
  recur.vocab         the tokens in index order (JSON array)
  recur.labels        the label names in index order (JSON array)
  recur.label_counts  training examples per label (JSON array)
what PyTorch computes from the stored float32 weights, in float64:
  test.texts          JSON array of raw texts: varied lengths (one token too), unknown words or
                      characters, tabs and runs of spaces, capitals (the lowercase model) and
                      texts longer than max_length (the max_length model)
  test.tokens         JSON array, per text, of its token indices (after truncation)
  test.probs          JSON array, per text, of the num_labels probabilities
  test.train_texts    the training texts, and
  test.train_labels   their labels, from which recur must build the same vocabulary and labels
  test.min_count      MIN_COUNT (word models)
The training is not part of the contract; the files are.
"""
import collections
import itertools
import json
import math
import os
import sys
import unicodedata

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fixtures import save_safetensors  # noqa: E402  (the hand-written writer)

UNKNOWN, END = "<unk>", "<eos>"
TRAIN_STEPS = 24
MIN_COUNT = 2

# ------------------------------------------------------------------ the toy data sets

# Topic: three labels, word tokens.
TOPIC_TRAIN = [
    ("animal", "the cat sat on the mat"),
    ("animal", "a dog ran in the park"),
    ("animal", "the bird sang to the cat"),
    ("animal", "a big dog and a small cat"),
    ("animal", "the bird ran from the dog"),
    ("food", "i ate bread and cheese"),
    ("food", "the soup was hot and good"),
    ("food", "a cake with cheese"),
    ("food", "we ate soup and bread"),
    ("food", "the cake was good"),
    ("weather", "it rained all day"),
    ("weather", "the sun was hot today"),
    ("weather", "cold wind and rain today"),
    ("weather", "it was a cold day"),
    ("weather", "rain and wind all day"),
]
TOPIC_TEST = [
    "cat",
    "the dog sat on the mat",
    "we ate bread\tand   cheese today",
    "  the zebra ate a cake  ",
    "rain",
    "a <unk> bird sang in the cold wind and the sun was hot all day",
    "soup",
    "the cat and the dog ate the bread",
]

# Sentiment: two labels, word tokens folded to lower case and split at punctuation, the first 5
# words read.
SENTIMENT_TRAIN = [
    ("neg", "Bad film and a dull plot."),
    ("neg", "a Boring and bad story!"),
    ("neg", "dull acting, bad music"),
    ("neg", "I hated it..."),
    ("neg", "Awful, boring, DULL"),
    ("neg", "the plot was bad and the acting was dull"),
    ("neg", "we HATED the music!!"),
    ("pos", "Great film and a fine plot."),
    ("pos", "a lovely and great story!"),
    ("pos", "fine acting, great music"),
    ("pos", "I loved it..."),
    ("pos", "Superb, lovely, GREAT"),
    ("pos", "the plot was great and the acting was fine"),
    ("pos", "we Loved the music!!"),
]
SENTIMENT_TEST = [
    "GREAT!",
    "Bad Film.",
    "I Loved It!!!",
    "a dull\tand  BORING plot",
    "great acting, bad plot and a dull story",
    "Dull—plot but the MUSIC was great and lovely",
    "¿an unseen marvel?",
    "LOVELY,lovely Lovely loVely lovely bad bad bad",
    "don't_know (great)",
]

# Language: two labels, character tokens.
LANGUAGE_TRAIN = [
    ("en", "the cat"),
    ("en", "this is the house"),
    ("en", "with the other"),
    ("en", "what is that"),
    ("en", "they think"),
    ("es", "el gato"),
    ("es", "esta es la casa"),
    ("es", "con los otros"),
    ("es", "que es eso"),
    ("es", "ellos piensan"),
]
LANGUAGE_TEST = [
    "t",
    "the house",
    "la casa",
    "el niño",  # ñ is outside the vocabulary
    "  that  is  what  ",
    "este es\tel gato",
    "Q",
]


# ------------------------------------------------------------------ recur's rules


def is_punctuation(c):
    """data::is_punctuation: Unicode's categories P and S except the connectors (Pc)."""
    category = unicodedata.category(c)
    return category[0] in "PS" and category != "Pc"


def split_tokens(text, config):
    """data::split_tokens then the first max_length: words (str.split(), each cut into runs of
    punctuation and runs of other characters with "split_punctuation") or code points."""
    if config["lowercase"]:
        text = text.lower()
    if config["tokens"] == "char":
        tokens = list(text)
    elif config["split_punctuation"]:
        tokens = ["".join(run) for word in text.split() for _, run in itertools.groupby(word, is_punctuation)]
    else:
        tokens = text.split()
    if config["max_length"] > 0:
        tokens = tokens[:config["max_length"]]
    return tokens


def build_vocab(examples, mode, min_count):
    """data::build_vocab of the examples' tokens (each a list)."""
    counts = collections.Counter(t for tokens in examples for t in tokens)
    if mode == "word":
        unknown, end = counts.pop(UNKNOWN, 0), counts.pop(END, 0) + len(examples)
        unknown += sum(c for c in counts.values() if c < min_count)
        kept = {w: c for w, c in counts.items() if c >= min_count}
        kept[UNKNOWN], kept[END] = unknown, end
        return sorted(kept, key=lambda w: (-kept[w], w.encode("utf-8")))
    return sorted(counts, key=lambda c: (-counts[c], ord(c))) + [UNKNOWN]


def encode(tokens, vocab):
    index = {w: i for i, w in enumerate(vocab)}
    return [index.get(t, index[UNKNOWN]) for t in tokens]


# ------------------------------------------------------------------ the model


class SequenceClassifier(torch.nn.Module):
    """recur's nn::SequenceClassifier: embed -> rnn over the real steps -> pool -> head."""

    def __init__(self, config):
        super().__init__()
        V, E, H, L = config["vocab_size"], config["embed"], config["hidden"], config["layers"]
        self.hidden, self.pool, self.bidirectional = H, config["pool"], config["bidirectional"]
        self.embed = torch.nn.Embedding(V, E)
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[config["cell"]]
        self.rnn = rnn(E, H, L, dropout=config["dropout"], bidirectional=self.bidirectional)
        self.head = torch.nn.Linear((2 if self.bidirectional else 1) * H, config["num_labels"])

    def forward(self, examples):
        """examples: lists of token indices (each non-empty) -> logits (B, C)."""
        lengths = torch.tensor([len(e) for e in examples])
        T, B, H = int(lengths.max()), len(examples), self.hidden
        inputs = torch.zeros(T, B, dtype=torch.int64)
        for b, e in enumerate(examples):
            inputs[:len(e), b] = torch.tensor(e)
        packed = pack_padded_sequence(self.embed(inputs), lengths, enforce_sorted=False)
        output, state = self.rnn(packed)
        output, _ = pad_packed_sequence(output, total_length=T)  # (T, B, D*H), zero past each length
        h_n = state[0] if isinstance(state, tuple) else state
        steps = torch.arange(T).view(T, 1, 1)
        real = steps < lengths.view(1, B, 1)
        if self.pool == "last":
            last = output[lengths - 1, torch.arange(B)]  # (B, D*H): each column's step L-1
            if self.bidirectional:
                pooled = torch.cat([last[:, :H], output[0, :, H:]], 1)
                assert torch.equal(pooled, torch.cat([h_n[-2], h_n[-1]], 1)), "last pool is not h_n"
            else:
                pooled = last
                assert torch.equal(pooled, h_n[-1]), "last pool is not h_n"
        elif self.pool == "mean":
            pooled = (output * real).sum(0) / lengths.view(B, 1).to(output.dtype)
        else:
            pooled = output.masked_fill(~real, float("-inf")).max(0).values
        return self.head(F.dropout(pooled, self.rnn.dropout, self.training))


def train(model, examples, targets, steps=TRAIN_STEPS):
    """A few full-batch Adam steps, so the model has learnt something."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    targets = torch.tensor(targets)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(examples), targets).backward()
        optimizer.step()
    model.eval()


def write_model(path, config, train_set, test_texts, seed):
    torch.manual_seed(seed)
    train_examples = [split_tokens(text, config) for _, text in train_set]
    vocab = build_vocab(train_examples, config["tokens"], MIN_COUNT)
    labels = sorted({label for label, _ in train_set}, key=lambda s: s.encode("utf-8"))
    config = dict(config, vocab_size=len(vocab), num_labels=len(labels))
    model = SequenceClassifier(config)
    train_tokens = [encode(tokens, vocab) for tokens in train_examples]
    train_targets = [labels.index(label) for label, _ in train_set]
    train(model, train_tokens, train_targets)
    tensors = {name: t.detach().clone() for name, t in model.state_dict().items()}  # float32, as stored
    model = model.double().eval()  # from here on float64: the stored weights, widened
    test_tokens = [encode(split_tokens(text, config), vocab) for text in test_texts]
    assert all(test_tokens), "every test text needs a token"
    with torch.no_grad():
        probs = F.softmax(model(test_tokens), 1)
        alone = torch.cat([F.softmax(model([t]), 1) for t in test_tokens])
        assert torch.allclose(probs, alone, rtol=0, atol=1e-12), "a text's probabilities depend on its batch"
        train_probs = F.softmax(model(train_tokens), 1)
    right = train_probs[torch.arange(len(train_targets)), torch.tensor(train_targets)]
    assert right.min() > 1.5 / len(labels) and right.mean() > 0.7, \
        f"{path}: the model learnt too little (p(right label) {right.tolist()})"
    label_counts = [train_targets.count(c) for c in range(len(labels))]
    metadata = {
        "recur.config": json.dumps(config),
        "recur.vocab": json.dumps(vocab, ensure_ascii=False),
        "recur.labels": json.dumps(labels, ensure_ascii=False),
        "recur.label_counts": json.dumps(label_counts),
        "test.texts": json.dumps(test_texts, ensure_ascii=False),
        "test.tokens": json.dumps(test_tokens),
        "test.probs": json.dumps(probs.tolist()),
        "test.train_texts": json.dumps([text for _, text in train_set], ensure_ascii=False),
        "test.train_labels": json.dumps([label for label, _ in train_set], ensure_ascii=False),
    }
    if config["tokens"] == "word":
        metadata["test.min_count"] = str(MIN_COUNT)
    save_safetensors(path, tensors, metadata)
    print(f"{os.path.basename(path)}: V {len(vocab)}, {len(labels)} labels, {len(tensors)} tensors, "
          f"{os.path.getsize(path)} bytes; training p(right label) mean {right.mean():.3f}, min {right.min():.3f}; "
          f"test max probabilities {[round(p, 3) for p in probs.max(1).values.tolist()]}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    common = {"task": "classify", "tokens": "word", "lowercase": False, "split_punctuation": False, "max_length": 0}
    write_model(os.path.join(out_dir, "classifier_torch_lstm_bi_max.safetensors"),
                dict(common, cell="lstm", layers=2, hidden=5, embed=6, bidirectional=True, pool="max", dropout=0.1),
                TOPIC_TRAIN, TOPIC_TEST, 20261213)
    write_model(os.path.join(out_dir, "classifier_torch_gru_bi_last.safetensors"),
                dict(common, lowercase=True, split_punctuation=True, max_length=5, cell="gru", layers=1, hidden=4, embed=5,
                     bidirectional=True, pool="last", dropout=0.0),
                SENTIMENT_TRAIN, SENTIMENT_TEST, 13)
    write_model(os.path.join(out_dir, "classifier_torch_lstm_mean_char.safetensors"),
                dict(common, tokens="char", cell="lstm", layers=1, hidden=6, embed=5, bidirectional=False,
                     pool="mean", dropout=0.0),
                LANGUAGE_TRAIN, LANGUAGE_TEST, 7)


if __name__ == "__main__":
    main()
