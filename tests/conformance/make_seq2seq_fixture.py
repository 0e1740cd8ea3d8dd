#!/usr/bin/python3
"""Writes tests/fixtures/conformance_seq2seq.safetensors, which tests/test_nn_seq2seq.cpp
compares nn::Seq2Seq against.

Run with Debian's python3-torch (the tests themselves do not need PyTorch):

    /usr/bin/python3 tests/conformance/make_seq2seq_fixture.py [OUT_DIR]

The model is written in PyTorch from the equations of include/recur/nn/seq2seq.hpp and
include/recur/nn/attention.hpp (torch.nn.LSTM / GRU, packed source sequences, the decoder
stepped one token at a time with input feeding), under recur's parameter names, with
PyTorch's default initialisation. The file layout is make_fixtures.py's: case "c" has tensors
"c.<name>" and its JSON configuration under __metadata__["c"]. Each case holds:

  every parameter under its name, src int64 (S, B), src_lengths int64 (B) (the padding
    holds token 0), tgt_in int64 (T, B),
  logits (T, B, Vt) of the teacher-forced forward pass,
  grad_logits (T, B, Vt): a random upstream gradient, and the gradients of
    sum(logits * grad_logits) as grad_<parameter name>.
  config: {"cell", "attention" ("none" for none), "src_vocab", "tgt_vocab", "embed", "hidden",
    "enc_layers", "dec_layers", "bidirectional", "dtype"}

Float64 variants of a case end in "_f64" (the same float32-drawn values, converted).
"""
import os
import sys
import zlib

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_attention_fixture import attend  # noqa: E402
from make_fixtures import write_family  # noqa: E402

# name: (cell, attention, bidirectional, enc_layers, dec_layers, source lengths, target steps)
CASES = {
    "lstm_bahdanau": ("lstm", "bahdanau", True, 2, 2, [5, 3, 4], 4),
    "gru_general_deeper_decoder": ("gru", "general", True, 1, 2, [2, 4], 3),
    "lstm_dot_unidirectional": ("lstm", "dot", False, 2, 1, [3, 3, 1], 5),
    "gru_none": ("gru", "none", True, 1, 1, [4, 2], 3),
}
SRC_VOCAB, TGT_VOCAB, EMBED, HIDDEN = 9, 11, 5, 6


class Seq2Seq(torch.nn.Module):
    def __init__(self, cell, attention, bidirectional, enc_layers, dec_layers):
        super().__init__()
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.kind, self.bidirectional, self.dec_layers = attention, bidirectional, dec_layers
        self.src_embed = torch.nn.Embedding(SRC_VOCAB, EMBED)
        self.encoder = rnn(EMBED, HIDDEN // 2 if bidirectional else HIDDEN, enc_layers, bidirectional=bidirectional)
        self.tgt_embed = torch.nn.Embedding(TGT_VOCAB, EMBED)
        self.decoder = rnn(EMBED + (HIDDEN if attention != "none" else 0), HIDDEN, dec_layers)
        if attention != "none":
            self.attention = torch.nn.Module()
            sizes = {"bahdanau": {"query_proj": (HIDDEN, HIDDEN), "key_proj": (HIDDEN, HIDDEN), "v": (HIDDEN, 1)},
                     "dot": {}, "general": {"query_proj": (HIDDEN, HIDDEN)}}[attention]
            for key, (n_in, n_out) in sizes.items():
                setattr(self.attention, key, torch.nn.Linear(n_in, n_out, bias=False))
            self.combine = torch.nn.Linear(2 * HIDDEN, HIDDEN, bias=False)
        self.head = torch.nn.Linear(HIDDEN, TGT_VOCAB)

    def start(self, finals):
        """Decoder layer k from encoder layer k's final state (directions joined), zeros above."""
        layers = []
        enc_layers = finals.shape[0] // (2 if self.bidirectional else 1)
        for k in range(self.dec_layers):
            if k >= enc_layers:
                layers.append(torch.zeros(finals.shape[1], HIDDEN, dtype=finals.dtype))
            elif self.bidirectional:
                layers.append(torch.cat([finals[2 * k], finals[2 * k + 1]], 1))
            else:
                layers.append(finals[k])
        return torch.stack(layers)

    def forward(self, src, src_lengths, tgt_in):
        packed = pack_padded_sequence(self.src_embed(src), src_lengths, enforce_sorted=False)
        outputs, finals = self.encoder(packed)
        outputs, _ = pad_packed_sequence(outputs, total_length=src.shape[0])
        state = tuple(self.start(f) for f in finals) if isinstance(finals, tuple) else self.start(finals)
        layers = dict(self.attention.named_children()) if self.kind != "none" else {}
        feed = torch.zeros(src.shape[1], HIDDEN, dtype=outputs.dtype)
        steps = []
        for t in range(tgt_in.shape[0]):
            x = self.tgt_embed(tgt_in[t])
            if self.kind != "none":
                x = torch.cat([x, feed], 1)
            out, state = self.decoder(x.unsqueeze(0), state)
            h = out[0]
            if self.kind == "none":
                steps.append(h)
                continue
            context, _ = attend(self.kind, layers, outputs, src_lengths, h)
            feed = torch.tanh(self.combine(torch.cat([context, h], 1)))
            steps.append(feed)
        return self.head(torch.stack(steps))


def make_case(fixture, name, dtype):
    cell, attention, bidirectional, enc_layers, dec_layers, lengths, steps = CASES[name.removesuffix("_f64")]
    torch.manual_seed(zlib.crc32(name.removesuffix("_f64").encode()))
    model = Seq2Seq(cell, attention, bidirectional, enc_layers, dec_layers)
    B, S = len(lengths), max(lengths)
    src = torch.randint(1, SRC_VOCAB, (S, B))
    for b, length in enumerate(lengths):
        src[length:, b] = 0
    tgt_in = torch.randint(0, TGT_VOCAB, (steps, B))
    grad_logits = torch.randn(steps, B, TGT_VOCAB, dtype=torch.float64).float()
    model = model.to(dtype)
    src_lengths = torch.tensor(lengths, dtype=torch.int64)
    logits = model(src, src_lengths, tgt_in)
    (logits * grad_logits.to(dtype)).sum().backward()
    stored = {k: v.detach().clone() for k, v in model.state_dict().items()}
    stored.update(src=src, src_lengths=src_lengths, tgt_in=tgt_in, logits=logits.detach(),
                  grad_logits=grad_logits.to(dtype))
    for key, p in model.named_parameters():
        stored["grad_" + key] = p.grad
    config = dict(cell=cell, attention=attention, src_vocab=SRC_VOCAB, tgt_vocab=TGT_VOCAB, embed=EMBED,
                  hidden=HIDDEN, enc_layers=enc_layers, dec_layers=dec_layers, bidirectional=bidirectional,
                  dtype=str(dtype).split(".")[1])
    fixture.case(name, config, **stored)


if __name__ == "__main__":
    write_family("seq2seq", CASES, make_case)
