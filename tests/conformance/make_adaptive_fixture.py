#!/usr/bin/python3
"""Writes tests/fixtures/conformance_adaptive_softmax.safetensors, which
tests/test_nn_adaptive_softmax.cpp compares nn::AdaptiveLogSoftmaxWithLoss against.

Run with Debian's python3-torch (the tests themselves do not need PyTorch):

    /usr/bin/python3 tests/conformance/make_adaptive_fixture.py [OUT_DIR]

The file layout is make_fixtures.py's (same writer): case "c" has tensors "c.<name>" and its
JSON configuration under __metadata__["c"]. Each case is one torch.nn.AdaptiveLogSoftmaxWithLoss
with PyTorch's default initialisation and holds:

  every parameter under its state_dict name (head.weight, head.bias, tail.<i>.0.weight,
    tail.<i>.1.weight), as recur's load_state_dict must accept it strictly,
  input (N, in_features), target int64 (N),
  output (N) and loss () of forward(input, target),
  grad_output (N): a random upstream gradient, and the gradients of
    sum(output * grad_output) + loss  as grad_input and grad_<parameter name> (absent for the
    parameters of a tail that no target reaches: PyTorch leaves their grad None),
  log_prob (N, n_classes) and predict int64 (N), both of the same input.
  config: {"in_features", "n_classes", "cutoffs" (as given), "div_value", "head_bias",
    "dtype", "state_dict_names" (in PyTorch's order)}

Float64 variants of a case end in "_f64" (the same float32-drawn values, converted).
"""
import json
import os
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_family  # noqa: E402

# name: (in_features, n_classes, cutoffs, div_value, head_bias, targets)
CASES = {
    # hsz 4, 1; every cluster gets rows
    "adaptive": (16, 20, [5, 12], 4.0, False, [0, 4, 5, 11, 12, 19, 3, 7, 15, 1, 18, 9]),
    # the same sizes; no target falls in cluster 1 ([12, 20))
    "adaptive_empty_cluster": (16, 20, [5, 12], 4.0, False, [0, 4, 5, 11, 2, 6, 3, 7, 10]),
    # three clusters, a head bias and a div_value that is not a power of two:
    # hsz floor(20 / 2.5) = 8, floor(20 / 6.25) = 3, floor(20 / 15.625) = 1
    "adaptive_head_bias": (20, 30, [4, 10, 18], 2.5, True, [0, 3, 4, 9, 10, 17, 18, 29, 1, 12, 25, 6, 2, 20]),
}


def make_case(fixture, name, dtype):
    in_features, n_classes, cutoffs, div_value, head_bias, targets = CASES[name.removesuffix("_f64")]
    torch.manual_seed(zlib.crc32(name.removesuffix("_f64").encode()))
    module = torch.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value, head_bias)
    n = len(targets)
    # Larger inputs than N(0, 1) make the head's choice sharp enough that predict takes both
    # of its paths (a shortlist word, and a row that needs the tails).
    input_ = (torch.randn(n, in_features, dtype=torch.float64) * 4).float()
    grad_output = torch.randn(n, dtype=torch.float64).float()
    module = module.to(dtype)
    input_ = input_.to(dtype).requires_grad_(True)
    target = torch.tensor(targets, dtype=torch.int64)

    stored = {k: v.detach().clone() for k, v in module.state_dict().items()}
    result = module(input_, target)
    ((result.output * grad_output.to(dtype)).sum() + result.loss).backward()
    stored.update(input=input_.detach(), target=target, output=result.output.detach(), loss=result.loss.detach(),
                  grad_output=grad_output.to(dtype), grad_input=input_.grad)
    for k, p in module.named_parameters():
        if p.grad is not None:  # a tail no target reaches gets no gradient at all
            stored["grad_" + k] = p.grad
    with torch.no_grad():
        stored["log_prob"] = module.log_prob(input_)
        stored["predict"] = module.predict(input_)
    shortlist = stored["predict"] < cutoffs[0]
    if "empty" not in name:
        assert shortlist.any() and not shortlist.all(), f"{name}: predict should take both paths"
    config = dict(in_features=in_features, n_classes=n_classes, cutoffs=cutoffs, div_value=div_value,
                  head_bias=head_bias, dtype=str(dtype).split(".")[1],
                  state_dict_names=list(module.state_dict().keys()))
    fixture.case(name, config, **stored)


if __name__ == "__main__":
    write_family("adaptive_softmax", CASES, make_case)
