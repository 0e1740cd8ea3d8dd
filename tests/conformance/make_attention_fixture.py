#!/usr/bin/python3
"""Writes tests/fixtures/conformance_attention.safetensors, which tests/test_nn_attention.cpp
compares nn::Attention against.

Run with Debian's python3-torch (the tests themselves do not need PyTorch):

    /usr/bin/python3 tests/conformance/make_attention_fixture.py [OUT_DIR]

PyTorch has no module for these attentions, so the reference below is written from the
equations of include/recur/nn/attention.hpp (Bahdanau's additive score, Luong's dot and
general), with torch.nn.Linear layers (no biases) under recur's parameter names. The file
layout is make_fixtures.py's: case "c" has tensors "c.<name>" and its JSON configuration under
__metadata__["c"]. Each case holds:

  every parameter under its name (query_proj.weight, key_proj.weight, v.weight, as the kind
    has them), outputs (S, B, K) time-major, lengths int64 (B) (padding in the shorter sources
    holds random values, which must not matter), query (B, Q),
  context (B, K) and weights (B, S),
  grad_context (B, K), grad_weights (B, S): random upstream gradients, and the gradients of
    sum(context * grad_context) + sum(weights * grad_weights) as grad_query, grad_outputs and
    grad_<parameter name>.
  config: {"kind", "query_size", "key_size", "hidden_size", "dtype"}

Float64 variants of a case end in "_f64" (the same float32-drawn values, converted).
"""
import os
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_family  # noqa: E402

# name: (kind, query size Q, key size K, hidden size A, source lengths)
CASES = {
    "bahdanau": ("bahdanau", 6, 8, 5, [4, 2, 3]),
    "dot": ("dot", 8, 8, 0, [1, 4, 4]),
    "general": ("general", 6, 8, 0, [3, 4, 2]),
}


def attend(kind, layers, outputs, lengths, query):
    """The equations of include/recur/nn/attention.hpp."""
    keys = outputs.transpose(0, 1)  # (B, S, K)
    if kind == "bahdanau":
        hidden = torch.tanh(layers["key_proj"](keys) + layers["query_proj"](query).unsqueeze(1))
        scores = layers["v"](hidden).squeeze(2)
    else:
        q = query if kind == "dot" else layers["query_proj"](query)
        scores = torch.bmm(keys, q.unsqueeze(2)).squeeze(2)
    padding = torch.arange(keys.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
    weights = torch.softmax(scores.masked_fill(padding, float("-inf")), dim=1)
    context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)
    return context, weights


def make_case(fixture, name, dtype):
    kind, Q, K, A, lengths = CASES[name.removesuffix("_f64")]
    torch.manual_seed(zlib.crc32(name.removesuffix("_f64").encode()))
    sizes = {"bahdanau": {"query_proj": (Q, A), "key_proj": (K, A), "v": (A, 1)},
             "dot": {}, "general": {"query_proj": (Q, K)}}[kind]
    layers = {key: torch.nn.Linear(n_in, n_out, bias=False) for key, (n_in, n_out) in sizes.items()}
    B, S = len(lengths), max(lengths)
    outputs = torch.randn(S, B, K, dtype=torch.float64).float()
    query = torch.randn(B, Q, dtype=torch.float64).float()
    grad_context = torch.randn(B, K, dtype=torch.float64).float()
    grad_weights = torch.randn(B, S, dtype=torch.float64).float()

    layers = {key: layer.to(dtype) for key, layer in layers.items()}
    outputs = outputs.to(dtype).requires_grad_(True)
    query = query.to(dtype).requires_grad_(True)
    lengths_t = torch.tensor(lengths, dtype=torch.int64)
    context, weights = attend(kind, layers, outputs, lengths_t, query)
    ((context * grad_context.to(dtype)).sum() + (weights * grad_weights.to(dtype)).sum()).backward()

    stored = dict(outputs=outputs.detach(), lengths=lengths_t, query=query.detach(), context=context.detach(),
                  weights=weights.detach(), grad_context=grad_context.to(dtype), grad_weights=grad_weights.to(dtype),
                  grad_query=query.grad, grad_outputs=outputs.grad)
    for key, layer in layers.items():
        stored[key + ".weight"] = layer.weight.detach()
        stored["grad_" + key + ".weight"] = layer.weight.grad
    config = dict(kind=kind, query_size=Q, key_size=K, hidden_size=A, dtype=str(dtype).split(".")[1])
    fixture.case(name, config, **stored)


if __name__ == "__main__":
    write_family("attention", CASES, make_case)
