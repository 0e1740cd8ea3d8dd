#!/usr/bin/python3
"""Word-level language models written by PyTorch as recur model files (docs/FORMAT.md), with
PyTorch's numbers for a C++ test to reproduce.

    /usr/bin/python3 tests/conformance/make_word_fixtures.py [FIXTURE_DIR]
    /usr/bin/python3 tests/conformance/make_word_fixtures.py --check RUN/best.safetensors TEXT

FIXTURE_DIR defaults to tests/fixtures. Needs only the standard library and PyTorch (the
safetensors files are written by hand, make_fixtures.py's writer: Debian has no python
safetensors package).

PyTorch -> recur: two models built and initialised by PyTorch (seeded), trained for
TRAIN_STEPS Adam steps on the test text so that their predictions are far from uniform, saved
as plain state_dict tensors (float32) with recur's metadata:

  word_model_torch_linear.safetensors     Embedding(V, 6) -> LSTM(6, 5, 2 layers) -> Linear(5, V)
  word_model_torch_adaptive.safetensors   Embedding(V, 6) -> LSTM(6, 16, 2 layers) ->
                                          AdaptiveLogSoftmaxWithLoss(16, V, cutoffs [6, 12],
                                          div_value 4, head_bias False): tails of hidden size
                                          16 // 4 = 4 and 16 // 16 = 1; the text reaches every
                                          cluster

V = 20: the vocabulary recur's Vocab::build_words makes of TEXT with --min-count 2 (18 words,
"<unk>" and "<eos>", most frequent first, ties by the words' bytes), so the file's
vocabulary is also what `recur train --tokens word --min-count 2` would build from the text.

"__metadata__" holds, besides
  recur.config  {"tokens": "word", "lowercase": false, "cell": "lstm", "layers": 2, "hidden": H,
                "embed": 6, "vocab_size": 20, "dropout": 0, "peephole": false, "tie_weights": false}
                and "adaptive_softmax": [6, 12] for the adaptive model
  recur.vocab   the 20 tokens in index order (JSON array, UTF-8)
what PyTorch computes from the stored float32 weights, in float64:
  test.text       TEXT: lines with tabs, CR LF, U+00A0, U+3000 and U+2028 between words (all
                  separators), blank and whitespace-only lines, unknown words, a literal "<unk>"
                  and "<eos>", and a last line without a line break
  test.min_count  "2"
  test.tokens     JSON array: the text's token indices by recur's word rules (each line's words
                  as str.split() splits them, then <eos>; lines end at '\\n' only; blank lines add
                  nothing; words outside the vocabulary, "<unk>" included, are <unk>)
  test.nll        the whole stream's negative log-likelihood, as `recur eval`: the state starts
                  at zero, tokens 2..N are predicted (repr of a float)
  test.scores     JSON array, one object per line of the text (split at '\\n'; the last line
                  counts without a line break), as `recur score --per-token` prints them:
                  {"tokens": n, "logprob": ..., "perplexity": exp(-logprob / n), "unknown": k,
                  "token_logprobs": [...]}: the line's words then <eos>, predicted from a zero
                  state first fed <eos> (a blank line is <eos> alone: n = 1)
The training is not part of the contract; the files are.

recur -> PyTorch (--check): a word model file recur wrote (RUN/best.safetensors, a checkpoint)
loads into the same module strictly, and its NLL of a text is `recur eval --json`'s:

    import json, torch
    from make_char_fixtures import read_safetensors   # or safetensors.safe_open
    tensors, meta = read_safetensors("RUN/best.safetensors")
    config, vocab = json.loads(meta["recur.config"]), json.loads(meta["recur.vocab"])
    model = WordLanguageModel(config)                 # below: embed, rnn, head as recur names them
    model.load_state_dict({k: v for k, v in tensors.items() if "/" not in k}, strict=True)
    # tokens: words_of(text) mapped through vocab, <unk> for the rest; then as total_nll()

(the adaptive head's tensors are head.head.weight, head.tail.{i}.0.weight, head.tail.{i}.1.weight,
exactly nn.AdaptiveLogSoftmaxWithLoss's state_dict under "head."). --check prints
{"tokens", "predicted", "nll_nats", "nats_per_token", "perplexity", "unknown"} for
comparing with `recur eval MODEL TEXT --json`.
"""
import collections
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_char_fixtures import read_safetensors  # noqa: E402  (the hand-written reader)
from make_fixtures import save_safetensors  # noqa: E402  (the hand-written writer)

UNKNOWN, END = "<unk>", "<eos>"
TRAIN_STEPS = 30
MIN_COUNT = 2
TEXT = ("the cat sat on the mat .\n"
        "the dog saw the cat and ran .\r\n"
        "a big dog sat\ton a red mat .\n"
        "\n"
        "the bird saw a big café\u00a0.\n"
        "   \t \n"
        "über the mat the cat ran to a zebra .\n"
        "a cat is red\u3000and the dog is big .\n"
        "the <unk> bird ran <eos> to\u2028the café and sat .\n"
        "dog and bird and cat and über café .\n"
        "a red bird is on the dog .\n"
        "to the mat ran the cat")


# ------------------------------------------------------------------ recur's word rules


def words_of(text):
    """Each line's words (str.split(): recur's separators), then <eos>; blank lines add nothing."""
    tokens = []
    for line in text.split("\n"):
        words = line.split()
        if words:
            tokens += words + [END]
    return tokens


def lines_of(text):
    """Lines at '\\n'; a last line without one counts, an empty tail does not (`recur score`)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def build_vocab(words, min_count):
    """recur's Vocab::build_words: words seen min_count times, <unk>, <eos>, by count, then bytes."""
    counts = collections.Counter(words)
    unknown, end = counts.pop(UNKNOWN, 0), counts.pop(END, 0)
    kept = {w: c for w, c in counts.items() if c >= min_count}
    kept[UNKNOWN] = unknown + sum(c for c in counts.values() if c < min_count)
    kept[END] = end
    return sorted(kept, key=lambda w: (-kept[w], w.encode("utf-8")))


def encode(words, vocab):
    index = {w: i for i, w in enumerate(vocab)}
    return [index.get(w, index[UNKNOWN]) for w in words]


# ------------------------------------------------------------------ the model


class WordLanguageModel(torch.nn.Module):
    """recur's nn::LanguageModel with a word vocabulary: embed -> rnn -> head."""

    def __init__(self, config):
        super().__init__()
        assert not config.get("peephole") and config["cell"] in ("lstm", "gru", "rnn_tanh", "rnn_relu")
        V, H, E, L = config["vocab_size"], config["hidden"], config["embed"], config["layers"]
        self.hidden = H
        self.embed = torch.nn.Embedding(V, E)
        if config["cell"] == "lstm":
            self.rnn = torch.nn.LSTM(E, H, L, dropout=config["dropout"])
        elif config["cell"] == "gru":
            self.rnn = torch.nn.GRU(E, H, L, dropout=config["dropout"])
        else:
            self.rnn = torch.nn.RNN(E, H, L, nonlinearity=config["cell"][4:], dropout=config["dropout"])
        cutoffs = config.get("adaptive_softmax")
        self.adaptive = bool(cutoffs)
        if self.adaptive:
            self.head = torch.nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value=4.0, head_bias=False)
        else:
            self.head = torch.nn.Linear(H, V)
        if config.get("tie_weights"):
            self.embed.weight = self.head.weight

    def token_logprobs(self, inputs, targets):
        """log p(targets[t] | inputs[0..t]) from a zero state; inputs, targets int64 [T] -> [T]."""
        output, _ = self.rnn(self.embed(inputs.view(-1, 1)))
        rows = output.view(len(inputs), self.hidden)
        if self.adaptive:
            return self.head(rows, targets).output
        return -F.cross_entropy(self.head(rows), targets, reduction="none")


def total_nll(model, tokens):
    """`recur eval`'s NLL: tokens 2..N predicted from their prefixes, from a zero state (float64)."""
    model = model.double().eval()
    with torch.no_grad():
        t = torch.tensor(tokens)
        return -model.token_logprobs(t[:-1], t[1:]).sum().item()


def sentence_scores(model, text, vocab):
    """`recur score --per-token`'s objects: each line's words then <eos>, after <eos>, alone (float64)."""
    model = model.double().eval()
    unknown, end = vocab.index(UNKNOWN), vocab.index(END)
    scores = []
    with torch.no_grad():
        for line in lines_of(text):
            targets = torch.tensor(encode(line.split() + [END], vocab))
            inputs = torch.cat([torch.tensor([end]), targets[:-1]])
            logprobs = model.token_logprobs(inputs, targets).tolist()
            total = math.fsum(logprobs)
            scores.append({"tokens": len(logprobs), "logprob": total, "perplexity": math.exp(-total / len(logprobs)),
                           "unknown": sum(1 for t in targets.tolist() if t == unknown), "token_logprobs": logprobs})
    return scores


def train(model, tokens, steps=TRAIN_STEPS):
    """A few Adam steps on the whole stream (one sequence), so the model has learnt something."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    t = torch.tensor(tokens)
    for _ in range(steps):
        optimizer.zero_grad()
        (-model.token_logprobs(t[:-1], t[1:]).mean()).backward()
        optimizer.step()


def write_model(path, config, vocab, seed):
    torch.manual_seed(seed)
    model = WordLanguageModel(config)
    tokens = encode(words_of(TEXT), vocab)
    train(model, tokens)
    tensors = {name: t.detach().clone() for name, t in model.state_dict().items()}  # float32, as stored
    nll = total_nll(model, tokens)  # from here on the model is float64 (the stored weights, widened)
    scores = sentence_scores(model, TEXT, vocab)
    uniform = (len(tokens) - 1) * math.log(len(vocab))
    assert nll < 0.8 * uniform, f"{path}: the model learnt too little (NLL {nll:.2f}, uniform {uniform:.2f})"
    metadata = {
        "recur.config": json.dumps(config),
        "recur.vocab": json.dumps(vocab, ensure_ascii=False),
        "test.text": TEXT,
        "test.min_count": str(MIN_COUNT),
        "test.tokens": json.dumps(tokens),
        "test.nll": repr(nll),
        "test.scores": json.dumps(scores),
    }
    save_safetensors(path, tensors, metadata)
    print(f"{os.path.basename(path)}: {len(tensors)} tensors, NLL {nll:.6f} over {len(tokens) - 1} predicted tokens "
          f"(uniform: {uniform:.2f}); {len(scores)} lines scored, e.g. {scores[0]['logprob']:.6f} for line 1")


def check_recur_model(path, text_path):
    """A recur word model loaded into PyTorch strictly; its NLL of the text, as `recur eval --json`."""
    tensors, metadata = read_safetensors(path)
    config, vocab = json.loads(metadata["recur.config"]), json.loads(metadata["recur.vocab"])
    assert config.get("tokens") == "word", f"{path} is not a word model"
    model = WordLanguageModel(config)
    model.load_state_dict({k: v for k, v in tensors.items() if "/" not in k}, strict=True)
    with open(text_path, "rb") as f:
        text = f.read().decode("utf-8")
    if config.get("lowercase"):
        text = text.replace("\u0130", "i").replace("\u03a3", "\u03c3").lower()  # recur's per-character folding
    tokens = encode(words_of(text), vocab)
    nll = total_nll(model, tokens)
    n = len(tokens)
    print(json.dumps({"tokens": n, "predicted": n - 1, "nll_nats": nll, "nats_per_token": nll / (n - 1),
                      "perplexity": math.exp(nll / (n - 1)), "unknown": tokens.count(vocab.index(UNKNOWN))}))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        check_recur_model(sys.argv[2], sys.argv[3])
        return
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    vocab = build_vocab(words_of(TEXT), MIN_COUNT)
    assert len(vocab) == 20, vocab
    base = {"tokens": "word", "lowercase": False, "cell": "lstm", "layers": 2, "hidden": 5, "embed": 6,
            "vocab_size": len(vocab), "dropout": 0, "peephole": False, "tie_weights": False}
    write_model(os.path.join(out_dir, "word_model_torch_linear.safetensors"), base, vocab, 20261205)
    adaptive = dict(base, hidden=16, adaptive_softmax=[6, 12])
    tokens = encode(words_of(TEXT), vocab)
    assert max(tokens) >= 12, "the text must reach the last cluster"
    write_model(os.path.join(out_dir, "word_model_torch_adaptive.safetensors"), adaptive, vocab, 12)


if __name__ == "__main__":
    main()
