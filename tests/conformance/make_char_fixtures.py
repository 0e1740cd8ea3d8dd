#!/usr/bin/python3
"""Character models moved between PyTorch and recur (docs/FORMAT.md), both ways.

    /usr/bin/python3 tests/conformance/make_char_fixtures.py [FIXTURE_DIR]

FIXTURE_DIR defaults to tests/fixtures. The C++ tests (tests/test_conformance_char.cpp)
read the committed files and need no PyTorch.

PyTorch -> recur: writes two models built and initialised by PyTorch, saved as plain
state_dict tensors with recur's metadata (written by hand: Debian has no python
safetensors package):

  char_model_torch_lstm.safetensors          Embedding(20, 8) -> LSTM(8, 32, 2 layers) ->
                                             Linear(32, 20); 20 characters incl. 'é'
  char_model_torch_gru_onehot.safetensors    one-hot(13) -> GRU(13, 24, 2 layers) ->
                                             Linear(24, 13); 12 characters incl. '唐', and
                                             "<unk>", which the test text also needs

The weights are PyTorch's default initialisation (seeded) times 3, then TRAIN_STEPS Adam
steps on the test text: the logits are far from uniform and the greedy continuation looks
like the text ("the cat sat ...") rather than one repeated character, while the NLL stays
around 1.5 nats per character (a nearly certain model would make the NLL test weaker).
The training is not part of the contract; the files are. Besides recur.config and
recur.vocab, "__metadata__" holds what PyTorch computes from these float32 weights in
float64:
  test.text     a text (characters outside the vocabulary read as "<unk>")
  test.nll      its total negative log-likelihood: the state starts at zero and characters
                2..N are predicted, as recur's LanguageModel::nll sums it (repr of a float)
  test.prime    a prime, fed one character at a time from the zero state
  test.greedy   the 40 characters that follow it by argmax, each fed back in (the unknown
                token reads "<unk>"); every step's best logit leads the next by > 1e-3, so
                float32 rounding cannot change the choice

recur -> PyTorch: reads char_model_recur.safetensors, which recur wrote (the C++ test
RecurWrittenModelIsCurrent writes it with RECUR_UPDATE_FIXTURES=1 set and otherwise checks
that the committed file is what recur writes now), loads its tensors into the equivalent
PyTorch module with load_state_dict(strict=True) and asserts that PyTorch's NLL of the
file's test.text equals recur's test.nll within 1e-4 relative.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import save_safetensors  # noqa: E402  (the hand-written safetensors writer)

UNKNOWN = "<unk>"
GREEDY_LENGTH = 40
TRAIN_STEPS = 25


class LanguageModel(torch.nn.Module):
    """recur's nn::LanguageModel: embed (absent with one-hot input), rnn, head."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        vocab, hidden, layers, embed = config["vocab_size"], config["hidden"], config["layers"], config["embed"]
        if embed > 0:
            self.embed = torch.nn.Embedding(vocab, embed)
        else:
            self.embed = None
        cell = config["cell"]
        assert not config.get("peephole"), "PyTorch's LSTM has no peephole connections"
        input_size = embed if embed > 0 else vocab
        if cell == "lstm":
            self.rnn = torch.nn.LSTM(input_size, hidden, layers, dropout=config["dropout"])
        elif cell == "gru":
            self.rnn = torch.nn.GRU(input_size, hidden, layers, dropout=config["dropout"])
        elif cell in ("rnn_tanh", "rnn_relu"):
            self.rnn = torch.nn.RNN(input_size, hidden, layers, nonlinearity=cell[4:], dropout=config["dropout"])
        else:
            raise ValueError(f"PyTorch has no {cell} layer")
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, tokens, state=None):
        """tokens: int64 [T, B] -> logits [T, B, V], state."""
        if self.embed is not None:
            x = self.embed(tokens)
        else:
            x = F.one_hot(tokens, self.config["vocab_size"]).to(self.head.weight.dtype)
        output, state = self.rnn(x, state)
        return self.head(output), state


def encode(text, vocab):
    index = {token: i for i, token in enumerate(vocab)}
    unknown = index.get(UNKNOWN)
    tokens = [index.get(c, unknown) for c in text]
    assert None not in tokens, "a character outside a vocabulary without <unk>"
    return tokens


def total_nll(model, tokens):
    """Sum of -ln p(tokens[i] | tokens[:i]) for i >= 1, from the zero state, in float64."""
    model = model.double().eval()
    with torch.no_grad():
        inputs = torch.tensor(tokens[:-1]).view(-1, 1)
        logits, _ = model(inputs)
        return F.cross_entropy(logits.view(len(tokens) - 1, -1), torch.tensor(tokens[1:]), reduction="sum").item()


def greedy(model, prime, vocab, length=GREEDY_LENGTH):
    """The argmax continuation of `prime`, and the smallest lead of a best logit."""
    model = model.double().eval()
    state, logits, out, margin = None, None, [], float("inf")
    with torch.no_grad():
        for token in encode(prime, vocab):
            logits, state = model(torch.tensor([[token]]), state)
        for _ in range(length):
            top = torch.topk(logits.view(-1), 2)
            margin = min(margin, (top.values[0] - top.values[1]).item())
            token = top.indices[0].item()
            out.append(vocab[token])
            logits, state = model(torch.tensor([[token]]), state)
    return "".join(out), margin


def train(model, tokens, steps=TRAIN_STEPS):
    """A few Adam steps on the whole text (one sequence), so the model has learnt something."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    inputs, targets = torch.tensor(tokens[:-1]).view(-1, 1), torch.tensor(tokens[1:])
    for _ in range(steps):
        optimizer.zero_grad()
        logits, _ = model(inputs)
        F.cross_entropy(logits.view(len(targets), -1), targets).backward()
        optimizer.step()


def write_torch_model(path, config, vocab, seed, text, prime):
    torch.manual_seed(seed)
    model = LanguageModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    train(model, encode(text, vocab))
    tensors = {name: t.detach().clone() for name, t in model.state_dict().items()}  # float32
    assert len(vocab) == config["vocab_size"] and len(set(vocab)) == len(vocab)
    nll = total_nll(model, encode(text, vocab))
    continuation, margin = greedy(model, prime, vocab)
    assert margin > 1e-3, f"{path}: a greedy step is nearly a tie ({margin}); change the seed"
    assert len(set(continuation)) >= 4, f"{path}: the greedy continuation is too repetitive: {continuation!r}"
    metadata = {
        "recur.config": json.dumps(config),
        "recur.vocab": json.dumps(vocab, ensure_ascii=False),
        "test.text": text,
        "test.nll": repr(nll),
        "test.prime": prime,
        "test.greedy": continuation,
    }
    save_safetensors(path, tensors, metadata)
    print(f"{os.path.basename(path)}: {len(tensors)} tensors, NLL {nll:.6f} over {len(text) - 1} characters, "
          f"greedy {continuation!r} (smallest lead {margin:.4f})")


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file with F32/F64/I64 tensors."""
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    buffer = data[8 + length:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = np.frombuffer(buffer[begin:end], dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata


def check_recur_model(path):
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: write it with RECUR_UPDATE_FIXTURES=1 build/tests/test_conformance_char")
    tensors, metadata = read_safetensors(path)
    config, vocab = json.loads(metadata["recur.config"]), json.loads(metadata["recur.vocab"])
    model = LanguageModel(config)
    model.load_state_dict({k: v for k, v in tensors.items() if "/" not in k}, strict=True)
    text, expected = metadata["test.text"], float(metadata["test.nll"])
    nll = total_nll(model, encode(text, vocab))
    error = abs(nll - expected) / abs(expected)
    assert error <= 1e-4, f"{path}: PyTorch's NLL {nll} differs from recur's {expected} (relative {error:.2e})"
    print(f"{os.path.basename(path)}: recur's {config['cell']} model loads into PyTorch (strict); "
          f"PyTorch's NLL {nll:.6f} equals recur's {expected:.6f} (relative error {error:.1e})")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)

    lstm_vocab = list("abcdefghilmnorstué \n")
    lstm_text = ("the cat sat on the mat, and the dog ate a bun.\n"
                 "she left the café at ten; he does not see the rain.\n"
                 "a fine fish is a good dish for a hungry man.")
    lstm_text = "".join(c for c in lstm_text if c in lstm_vocab)  # ',' ';' are not in it
    write_torch_model(os.path.join(out_dir, "char_model_torch_lstm.safetensors"),
                      dict(cell="lstm", layers=2, hidden=32, embed=8, vocab_size=20, dropout=0.0, peephole=False),
                      lstm_vocab, 20261123, lstm_text, "the café ")

    gru_vocab = list("abcdeh唐 \n.,t") + [UNKNOWN]
    gru_text = "the cat ate the bad bed.\nthe 唐 had a deed, a bead, a hat!\nzebra tea, each cab.\n"
    write_torch_model(os.path.join(out_dir, "char_model_torch_gru_onehot.safetensors"),
                      dict(cell="gru", layers=2, hidden=24, embed=0, vocab_size=13, dropout=0.0, peephole=False),
                      gru_vocab, 5, gru_text, "a 唐 had ")

    check_recur_model(os.path.join(out_dir, "char_model_recur.safetensors"))


if __name__ == "__main__":
    main()
