#!/usr/bin/python3
"""Sequence taggers written by PyTorch as recur model files, with PyTorch's per-token tag
probabilities for a C++ test to reproduce (tests/test_conformance_tag.cpp).

    /usr/bin/python3 tests/conformance/make_tagger_fixtures.py [FIXTURE_DIR]

FIXTURE_DIR defaults to tests/fixtures. Needs only the standard library and PyTorch (the
safetensors files are written by hand, make_fixtures.py's writer; the vocabulary rules are
make_classifier_fixtures.py's).

Three models built and initialised by PyTorch (seeded), trained for TRAIN_STEPS Adam steps on a
tiny tagged set so that their predictions are far from uniform, saved as plain state_dict
tensors (float32) under recur's names, with recur's metadata:

  tagger_torch_lstm_chars.safetensors   part-of-speech tags (8), words as written (min_count 1);
                                        Embedding(V, 6) joined with character features
                                        [Embedding(K, 4) -> LSTM(4, 3, bidirectional)] ->
                                        LSTM(12, 5, bidirectional) -> Linear(10, 8)
  tagger_torch_gru_nochars.safetensors  BIO entity tags (6), words folded to lower case
                                        (min_count 2); Embedding(V, 5) -> GRU(5, 4, 2 layers,
                                        bidirectional, dropout 0.1) -> Linear(8, 6)
  tagger_torch_gru_chars_lower.safetensors  the entity tags again, words folded to lower case
                                        but character features reading them as written
                                        (capitals their own characters): Embedding(V, 5)
                                        joined with [Embedding(K, 3) -> LSTM(3, 2,
                                        bidirectional)] -> GRU(9, 4, bidirectional) -> Linear(8, 6)

Tensors: embed.weight [V, E]; with character features char_embed.weight [K, E_c] and
char_rnn.weight_ih_l0, char_rnn.weight_hh_l0, char_rnn.bias_ih_l0, char_rnn.bias_hh_l0 (and
_reverse), exactly torch.nn.LSTM's state_dict under "char_rnn."; rnn.weight_ih_l{k},
rnn.weight_hh_l{k}, rnn.bias_ih_l{k}, rnn.bias_hh_l{k} (and _reverse), exactly
torch.nn.LSTM/GRU's state_dict under "rnn."; head.weight [C, D*H], head.bias [C].

The forward, as recur's nn::SequenceTagger (time-major): each word's vector embed(w_t), joined
(with character features) with [the forward char_rnn's output at the word's last character |
the backward one's at its first] (each has read the whole word: h_n's two rows, which the
script asserts), a word's characters packed (pack_padded_sequence(enforce_sorted=False)); then
the rnn over each sentence's real words (packed likewise); then head on every output
(T, B, D*H), directions side by side [forward | backward] -> logits (T, B, C); each token's
probabilities = softmax over its C tags. Dropout (on the joined vectors, between the rnn's
layers and on its outputs) is training's only: the fixtures' probabilities are evaluation's.

Words, as recur reads them (train::TaggedCorpus::add): a word is looked up after folding with
str.lower() when "lowercase" (recur's lower_case: the same on the ASCII words that model sees);
a word outside the vocabulary (a literal "<unk>" too) is <unk>. Its characters are those of the
word as written (not folded), a character outside the character vocabulary its <unk>.
The vocabulary, character vocabulary and tags are what recur builds from the training
sentences (train::TagTask: data::build_vocab of the folded words with min_count MIN_COUNT, one
<eos> per sentence; data::build_vocab of the words' characters as written; data::Labels::build
of the tags): words most frequent first, ties by bytes, with <unk> (the rarer words) and <eos>
placed by their counts; characters most frequent first, ties by code point, then <unk> last;
tags in byte order.

"__metadata__" holds, besides
  recur.config        {"task": "tag", "tokens": "word", "lowercase", "cell", "layers", "hidden",
                      "embed", "vocab_size", "num_labels", "bidirectional", "dropout",
                      "char_vocab_size", "char_embed", "char_hidden"} (the char_ fields 0
                      without character features)
  recur.vocab         the words in index order (JSON array)
  recur.labels        the tag names in index order (JSON array)
  recur.label_counts  training words per tag (JSON array)
  recur.char_vocab    the characters in index order, <unk> last (JSON array; character
                      features only)
what PyTorch computes from the stored float32 weights, in float64:
  test.sentences      JSON array of sentences, each an array of words: one of a single word,
                      one of over twenty, unknown words, capitals, and (the character model)
                      characters outside the character vocabulary
  test.tokens         JSON array, per sentence, of its words' indices
  test.chars          JSON array, per sentence, per word, of its characters' indices
                      (character features only)
  test.probs          JSON array, per sentence, per word, of the num_labels probabilities
  test.train_sentences  the training sentences (arrays of words), and
  test.train_tags     their tags, from which recur must build the same vocabularies and tags
  test.min_count      MIN_COUNT of the model
The training is not part of the contract; the files are.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fixtures import save_safetensors  # noqa: E402  (the hand-written writer)
from make_classifier_fixtures import build_vocab, encode  # noqa: E402  (recur's vocabulary rules)

TRAIN_STEPS = 50
CONFIG_KEYS = ["task", "tokens", "lowercase", "cell", "layers", "hidden", "embed", "vocab_size", "num_labels",
               "bidirectional", "dropout", "char_vocab_size", "char_embed", "char_hidden"]

# ------------------------------------------------------------------ the toy data sets
# Sentences as "word/TAG word/TAG ...".

# Parts of speech: eight tags, words as written (capitals matter), character features.
POS_TRAIN = [
    "The/DET cat/NOUN sat/VERB on/ADP the/DET mat/NOUN ./PUNCT",
    "A/DET dog/NOUN ran/VERB in/ADP the/DET park/NOUN ./PUNCT",
    "The/DET big/ADJ dog/NOUN barked/VERB loudly/ADV ./PUNCT",
    "She/PRON walked/VERB quickly/ADV to/ADP the/DET old/ADJ house/NOUN ./PUNCT",
    "Birds/NOUN sang/VERB in/ADP the/DET tall/ADJ trees/NOUN",
    "He/PRON jumped/VERB over/ADP a/DET small/ADJ fence/NOUN ./PUNCT",
    "The/DET happy/ADJ children/NOUN played/VERB happily/ADV",
    "Cats/NOUN sleep/VERB on/ADP warm/ADJ mats/NOUN ./PUNCT",
    "They/PRON talked/VERB slowly/ADV with/ADP the/DET kind/ADJ teacher/NOUN ./PUNCT",
    "A/DET red/ADJ bird/NOUN flew/VERB away/ADV ./PUNCT",
    "We/PRON painted/VERB the/DET green/ADJ door/NOUN ./PUNCT",
    "Dogs/NOUN chased/VERB the/DET cats/NOUN ./PUNCT",
]
POS_TEST = [
    ["Dog"],  # unknown as written ("dog" is known): its characters are
    ["The", "zebra", "jumped", "quickly", "."],  # z: an unknown character
    ["Ñandú", "ran", "in", "the", "café", "."],  # Ñ, ú, é: unknown characters
    ["THE", "CAT", "SAT"],
    ["A", "dog", "sat", "on", "the", "mat", "with", "42", "cats", "."],
    ["The", "old", "teacher", "walked", "slowly", "to", "the", "park", "and", "the", "happy", "children",
     "played", "with", "the", "red", "bird", "in", "the", "tall", "green", "trees", "."],
    ["<unk>", "sang", "happily"],
    ["They", "jumped"],
]

# Named entities: BIO tags, words folded to lower case, no character features.
NER_TRAIN = [
    "John/B-PER Smith/I-PER lives/O in/O Paris/B-LOC",
    "Mary/B-PER visited/O London/B-LOC last/O week/O",
    "the/O team/O from/O Paris/B-LOC won/O",
    "John/B-PER works/O for/O Acme/B-ORG in/O New/B-LOC York/I-LOC",
    "Acme/B-ORG hired/O Mary/B-PER Jones/I-PER",
    "she/O moved/O to/O New/B-LOC York/I-LOC last/O year/O",
    "Smith/B-PER met/O Jones/B-PER in/O London/B-LOC",
    "the/O Acme/B-ORG office/O in/O London/B-LOC is/O new/O",
    "Mary/B-PER Smith/I-PER works/O in/O Paris/B-LOC",
    "he/O lives/O in/O London/B-LOC",
]
NER_TEST = [
    ["PARIS"],
    ["john", "SMITH", "visited", "Berlin"],
    ["Mary", "Jones", "works", "for", "ACME", "in", "New", "York", "last", "week"],
    ["<UNK>", "lives", "in", "London"],
    ["she", "met", "John", "Smith", "and", "Mary", "Jones", "in", "the", "new", "office", "of", "Acme", "in",
     "London", "last", "year", "and", "the", "team", "moved", "to", "Paris"],
    ["Zoe", "Quinn", "lives", "in", "Oslo"],
    ["the", "the"],
]


# ------------------------------------------------------------------ recur's rules


def parse(tagged):
    """["w/T w/T", ...] -> sentences (lists of words), tags (lists of tag names)."""
    pairs = [[item.rsplit("/", 1) for item in line.split()] for line in tagged]
    return [[w for w, _ in s] for s in pairs], [[t for _, t in s] for s in pairs]


def fold(word, config):
    """What the vocabulary is asked for (train::TaggedCorpus::add): the word, folded when lowercase."""
    return word.lower() if config["lowercase"] else word


def encode_sentence(words, config, vocab, char_vocab):
    """A sentence's word indices and (character features) each word's character indices."""
    tokens = encode([fold(w, config) for w in words], vocab)
    chars = [encode(list(w), char_vocab) for w in words] if char_vocab else None
    return tokens, chars


# ------------------------------------------------------------------ the model


class SequenceTagger(torch.nn.Module):
    """recur's nn::SequenceTagger: [embed | character features] -> rnn over the real words -> head."""

    def __init__(self, config):
        super().__init__()
        V, E, H, L = config["vocab_size"], config["embed"], config["hidden"], config["layers"]
        self.dropout, self.bidirectional = config["dropout"], config["bidirectional"]
        self.char_hidden = config["char_hidden"]
        self.embed = torch.nn.Embedding(V, E)
        if config["char_embed"] > 0:
            self.char_embed = torch.nn.Embedding(config["char_vocab_size"], config["char_embed"])
            self.char_rnn = torch.nn.LSTM(config["char_embed"], self.char_hidden, bidirectional=True)
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[config["cell"]]
        # torch's dropout is between the layers only; the input and output dropout is forward's.
        self.rnn = rnn(E + 2 * self.char_hidden, H, L, dropout=self.dropout if L > 1 else 0.0,
                       bidirectional=self.bidirectional)
        self.head = torch.nn.Linear((2 if self.bidirectional else 1) * H, config["num_labels"])

    def spell(self, words):
        """words: lists of character indices (each non-empty) -> features (N, 2 H_c)."""
        lengths = torch.tensor([len(w) for w in words])
        T, N, H = int(lengths.max()), len(words), self.char_hidden
        chars = torch.zeros(T, N, dtype=torch.int64)
        for n, w in enumerate(words):
            chars[:len(w), n] = torch.tensor(w)
        packed = pack_padded_sequence(self.char_embed(chars), lengths, enforce_sorted=False)
        output, (h_n, _) = self.char_rnn(packed)
        output, _ = pad_packed_sequence(output, total_length=T)  # (T, N, 2 H_c)
        features = torch.cat([output[lengths - 1, torch.arange(N), :H], output[0, :, H:]], 1)
        assert torch.equal(features, torch.cat([h_n[0], h_n[1]], 1)), "character features are not h_n"
        return features

    def forward(self, sentences, spellings=None):
        """sentences: lists of word indices (each non-empty); spellings (character features):
        per sentence, per word, its character indices -> logits (T, B, C)."""
        lengths = torch.tensor([len(s) for s in sentences])
        T, B = int(lengths.max()), len(sentences)
        inputs = torch.zeros(T, B, dtype=torch.int64)
        for b, s in enumerate(sentences):
            inputs[:len(s), b] = torch.tensor(s)
        x = self.embed(inputs)
        if self.char_hidden > 0:
            features = self.spell([w for s in spellings for w in s])  # sentence by sentence, word by word
            joined = torch.zeros(T, B, 2 * self.char_hidden, dtype=x.dtype)
            k = 0
            for b, s in enumerate(spellings):
                joined[:len(s), b] = features[k:k + len(s)]
                k += len(s)
            x = torch.cat([x, joined], 2)
        x = F.dropout(x, self.dropout, self.training)
        output, _ = self.rnn(pack_padded_sequence(x, lengths, enforce_sorted=False))
        output, _ = pad_packed_sequence(output, total_length=T)  # (T, B, D*H), zero past each length
        return self.head(F.dropout(output, self.dropout, self.training))


def per_sentence_probs(logits, sentences):
    """logits (T, B, C) -> per sentence, its (L, C) probabilities."""
    probs = F.softmax(logits, 2)
    return [probs[:len(s), b] for b, s in enumerate(sentences)]


def train(model, sentences, spellings, targets, steps=TRAIN_STEPS):
    """A few full-batch Adam steps on the real words, so the model has learnt something."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    real = torch.cat([torch.tensor(t) for t in targets])
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        logits = model(sentences, spellings)
        rows = torch.cat([logits[:len(s), b] for b, s in enumerate(sentences)])
        F.cross_entropy(rows, real).backward()
        optimizer.step()
    model.eval()


def write_model(path, config, train_tagged, test_sentences, min_count, seed):
    torch.manual_seed(seed)
    train_words, train_tags = parse(train_tagged)
    vocab = build_vocab([[fold(w, config) for w in s] for s in train_words], "word", min_count)
    chars = config["char_embed"] > 0
    char_vocab = build_vocab([list(w) for s in train_words for w in s], "char", 1) if chars else None
    labels = sorted({t for s in train_tags for t in s}, key=lambda s: s.encode("utf-8"))
    sizes = {"vocab_size": len(vocab), "num_labels": len(labels), "char_vocab_size": len(char_vocab) if chars else 0}
    config = {key: sizes.get(key, config.get(key)) for key in CONFIG_KEYS}  # recur.config's fields, in recur's order
    model = SequenceTagger(config)
    train_encoded = [encode_sentence(s, config, vocab, char_vocab) for s in train_words]
    train_tokens, train_chars = [t for t, _ in train_encoded], [c for _, c in train_encoded]
    train_targets = [[labels.index(t) for t in s] for s in train_tags]
    train(model, train_tokens, train_chars if chars else None, train_targets)
    tensors = {name: t.detach().clone() for name, t in model.state_dict().items()}  # float32, as stored
    model = model.double().eval()  # from here on float64: the stored weights, widened
    test_encoded = [encode_sentence(s, config, vocab, char_vocab) for s in test_sentences]
    test_tokens, test_chars = [t for t, _ in test_encoded], [c for _, c in test_encoded]
    assert all(test_tokens), "every test sentence needs a word"
    with torch.no_grad():
        probs = per_sentence_probs(model(test_tokens, test_chars if chars else None), test_tokens)
        for i, (tokens, spelled) in enumerate(zip(test_tokens, test_chars)):
            alone = per_sentence_probs(model([tokens], [spelled] if chars else None), [tokens])[0]
            assert torch.allclose(probs[i], alone, rtol=0, atol=1e-12), "a sentence's probabilities depend on its batch"
        train_probs = torch.cat(per_sentence_probs(model(train_tokens, train_chars if chars else None), train_tokens))
    real = torch.cat([torch.tensor(t) for t in train_targets])
    right = train_probs[torch.arange(len(real)), real]
    assert right.mean() > 0.7 and (right > 1.5 / len(labels)).float().mean() > 0.9, \
        f"{path}: the model learnt too little (p(right tag) {right.tolist()})"
    test_max = torch.cat(probs).max(1).values
    assert test_max.max() < 0.999, f"{path}: saturated ({test_max.tolist()})"
    label_counts = [sum(s.count(c) for s in train_targets) for c in range(len(labels))]
    metadata = {
        "recur.config": json.dumps(config),
        "recur.vocab": json.dumps(vocab, ensure_ascii=False),
        "recur.labels": json.dumps(labels, ensure_ascii=False),
        "recur.label_counts": json.dumps(label_counts),
        "test.sentences": json.dumps(test_sentences, ensure_ascii=False),
        "test.tokens": json.dumps(test_tokens),
        "test.probs": json.dumps([p.tolist() for p in probs]),
        "test.train_sentences": json.dumps(train_words, ensure_ascii=False),
        "test.train_tags": json.dumps(train_tags, ensure_ascii=False),
        "test.min_count": str(min_count),
    }
    if chars:
        metadata["recur.char_vocab"] = json.dumps(char_vocab, ensure_ascii=False)
        metadata["test.chars"] = json.dumps(test_chars)
    save_safetensors(path, tensors, metadata)
    print(f"{os.path.basename(path)}: V {len(vocab)}, K {len(char_vocab) if chars else 0}, {len(labels)} tags, "
          f"{len(tensors)} tensors, {os.path.getsize(path)} bytes; training p(right tag) mean {right.mean():.3f}, "
          f"min {right.min():.3f}; test max probabilities {test_max.min():.3f} .. {test_max.max():.3f}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    common = {"task": "tag", "tokens": "word"}
    write_model(os.path.join(out_dir, "tagger_torch_lstm_chars.safetensors"),
                dict(common, lowercase=False, cell="lstm", layers=1, hidden=5, embed=6, bidirectional=True,
                     dropout=0.0, char_embed=4, char_hidden=3),
                POS_TRAIN, POS_TEST, 1, 20261213)
    write_model(os.path.join(out_dir, "tagger_torch_gru_nochars.safetensors"),
                dict(common, lowercase=True, cell="gru", layers=2, hidden=4, embed=5, bidirectional=True,
                     dropout=0.1, char_embed=0, char_hidden=0),
                NER_TRAIN, NER_TEST, 2, 13)
    write_model(os.path.join(out_dir, "tagger_torch_gru_chars_lower.safetensors"),
                dict(common, lowercase=True, cell="gru", layers=1, hidden=4, embed=5, bidirectional=True,
                     dropout=0.0, char_embed=3, char_hidden=2),
                NER_TRAIN, NER_TEST, 2, 29)


if __name__ == "__main__":
    main()
