#!/usr/bin/python3
"""Writes the PyTorch conformance fixtures that tests/test_conformance_*.cpp compare against.

Run with Debian's python3-torch (the tests themselves do not need PyTorch):

    /usr/bin/python3 tests/conformance/make_fixtures.py [OUT_DIR]

OUT_DIR defaults to tests/fixtures. One safetensors file per family,
conformance_{layers,losses,optimizers,rnn}.safetensors. Each holds several cases; a case's tensors are named
"<case>.<tensor>" and its configuration is the JSON string under "__metadata__"["<case>"].
Layer cases hold the inputs, parameters, the output, a random upstream gradient
"grad_out" and the resulting gradients "grad_<input>". Float64 variants of a case end
in "_f64". The python `safetensors` package is not in Debian, so the file is written by
hand exactly as that library lays it out.

conformance_rnn.safetensors (float32 only) holds torch.nn.RNN/LSTM/GRU and the single-step
cells. Sizes: T=5 steps, B=3 sequences, input_size 4, hidden_size 3. The inputs are random
float32 values; the reference is computed in float64 from exactly those values and rounded
to float32, so it carries no float32 error of PyTorch's own. Cases:

  <mode>_l<L>[_bi][_lengths]   mode in rnn_tanh, rnn_relu, lstm, gru; L in 1, 3 (32 cases),
  gru_l2_bi_short              lengths [4, 1, 3]: no sequence reaches T, one has length 1,
  lstm_l2_nobias               bias=False (no bias tensors at all),
  <mode>_cell[_nobias]         RNNCell (rnn_tanh_cell, rnn_relu_cell), LSTMCell, GRUCell.

Layer cases (D = 2 if bidirectional else 1; time-major, batch_first false):
  input (T,B,I)  h0 (L*D,B,H)  c0 (L*D,B,H, LSTM only)  lengths (B) int64 (only "lengths" cases)
  every parameter under its PyTorch state_dict name: weight_ih_l{k} (G*H, I or D*H),
    weight_hh_l{k} (G*H,H), bias_ih_l{k} (G*H), bias_hh_l{k} (G*H), and the same with the
    suffix _reverse for the backward direction (G = 1 RNN, 4 LSTM [i,f,g,o], 3 GRU [r,z,n])
  output (T,B,D*H)  h_n (L*D,B,H)  c_n (LSTM)   -- with lengths: the sequences are packed with
    pack_padded_sequence(enforce_sorted=False) and unpacked with pad_packed_sequence(
    total_length=T), so output is zero past each sequence's end and h_n/c_n hold the state at
    its last valid step (the reverse direction starts there); h0, h_n are in batch order.
  grad_output, grad_h_n, grad_c_n (LSTM): random upstream gradients (grad_output is random on
    padded positions too, which must be ignored), for
    loss = sum(output*grad_output) + sum(h_n*grad_h_n) [+ sum(c_n*grad_c_n)]
  grad_input, grad_h0, grad_c0 (LSTM), grad_<parameter name> for every parameter.
  config: {"mode", "num_layers", "bidirectional", "input_size", "hidden_size", "lengths": bool,
    "bias", "dropout": 0, "batch_first": false, "dtype": "float32"}
Cell cases: input (B,I), h0 (B,H), c0 (LSTM), weight_ih, weight_hh, bias_ih, bias_hh, outputs
  h1 and c1 (LSTM), upstream grad_h1 and grad_c1 (LSTM), loss = sum(h1*grad_h1) [+ sum(c1*grad_c1)],
  and grad_input, grad_h0, grad_c0, grad_<parameter name>.
  config: {"mode", "cell": true, "input_size", "hidden_size", "bias", "dtype": "float32"}
"""
import json
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F
import torch.nn.utils as nn_utils

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def save_safetensors(path, tensors, metadata):
    """Header: u64 little-endian length, JSON (space-padded to 8 bytes), then raw data."""
    header = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        data = t.numpy().tobytes()  # x86: already little-endian
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)
    os.replace(path + ".tmp", path)


class Fixture:
    def __init__(self):
        self.tensors, self.metadata = {}, {}

    def case(self, name, config, **tensors):
        assert name not in self.metadata, name
        self.metadata[name] = json.dumps(config, sort_keys=True)
        for key, value in tensors.items():
            self.tensors[f"{name}.{key}"] = value


def write_family(family, cases, make_case):
    """Writes tests/fixtures/conformance_<family>.safetensors (or into argv[1]): every case of
    `cases` by make_case(fixture, name, dtype) in float32, and again as "<name>_f64" in float64."""
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    fixture = Fixture()
    for name in cases:
        make_case(fixture, name, torch.float32)
        make_case(fixture, name + "_f64", torch.float64)
    file = f"conformance_{family}.safetensors"
    save_safetensors(os.path.join(out_dir, file), fixture.tensors, fixture.metadata)
    print(f"{file}: {len(fixture.metadata)} cases, {len(fixture.tensors)} tensors")


def layer_case(fixture, name, config, fn, inputs, dtype, params=(), buffers=None):
    """Runs fn(**inputs) once, backpropagates a random grad_out, stores everything.

    inputs: dict of float tensors (leaves, requiring grad) or int64 tensors.
    params: names in inputs whose gradients are stored (all float inputs by default).
    buffers: dict of tensors fn mutates (running stats); stored before and after.
    """
    leaves = {}
    for key, value in inputs.items():
        if value.dtype.is_floating_point:
            value = value.to(dtype).detach().requires_grad_(True)
        leaves[key] = value
    before = {k: v.clone() for k, v in (buffers or {}).items()}
    out = fn(**leaves)
    grad_out = torch.randn(out.shape, dtype=torch.float64).to(out.dtype) if out.dim() else torch.ones((), dtype=out.dtype)
    out.backward(grad_out)
    stored = {k: v.detach() for k, v in leaves.items()}
    stored["out"] = out.detach()
    stored["grad_out"] = grad_out
    for key, value in leaves.items():
        if value.dtype.is_floating_point and value.grad is not None:
            stored["grad_" + key] = value.grad
    for key, value in (buffers or {}).items():
        stored[key + "_before"] = before[key]
        stored[key + "_after"] = value.detach().clone()
    fixture.case(name, config, **stored)


def both_precisions(fixture, name, config, make):
    """make(dtype) -> (fn, inputs, buffers); stores the case in float32 and float64."""
    for dtype, suffix in ((torch.float32, ""), (torch.float64, "_f64")):
        torch.manual_seed(zlib.crc32(name.encode()))
        fn, inputs, buffers = make(dtype)
        layer_case(fixture, name + suffix, dict(config, dtype=str(dtype).split(".")[1]), fn, inputs, dtype,
                   buffers=buffers)


def layers():
    fx = Fixture()
    randn = lambda *s: torch.randn(*s, dtype=torch.float64)

    for name, bias in (("linear", True), ("linear_nobias", False)):
        both_precisions(fx, name, {"bias": bias}, lambda dtype, bias=bias: (
            lambda x, weight, bias=None: F.linear(x, weight, bias),
            dict(x=randn(4, 5), weight=randn(3, 5), **({"bias": randn(3)} if bias else {})), None))

    conv_cases = {
        "conv2d": dict(stride=[1, 1], padding=[0, 0], dilation=[1, 1], shape=[2, 3, 7, 6], out=4, k=[3, 3]),
        "conv2d_padding": dict(stride=[1, 1], padding=[2, 1], dilation=[1, 1], shape=[2, 3, 5, 6], out=4, k=[3, 2]),
        "conv2d_stride": dict(stride=[2, 3], padding=[1, 1], dilation=[1, 1], shape=[2, 2, 9, 10], out=3, k=[3, 3]),
        "conv2d_dilation": dict(stride=[1, 2], padding=[1, 0], dilation=[2, 2], shape=[1, 2, 8, 9], out=2, k=[3, 3]),
        "conv2d_nobias": dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], shape=[2, 1, 6, 6], out=3, k=[5, 5],
                              bias=False),
    }
    for name, c in conv_cases.items():
        def make(dtype, c=c):
            n, cin, h, w = c["shape"]
            inputs = dict(x=randn(n, cin, h, w), weight=randn(c["out"], cin, *c["k"]))
            if c.get("bias", True):
                inputs["bias"] = randn(c["out"])
            fn = lambda x, weight, bias=None: F.conv2d(x, weight, bias, c["stride"], c["padding"], c["dilation"])
            return fn, inputs, None
        both_precisions(fx, name, {k: v for k, v in c.items() if k not in ("shape", "out", "k")}, make)

    pool_cases = {
        "max_pool2d": ("max", dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0])),
        "max_pool2d_padding": ("max", dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1])),
        "max_pool2d_overlap": ("max", dict(kernel=[3, 2], stride=[1, 2], padding=[0, 1])),
        "avg_pool2d": ("avg", dict(kernel=[2, 2], stride=[2, 2], padding=[0, 0], count_include_pad=True)),
        "avg_pool2d_padding": ("avg", dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], count_include_pad=True)),
        "avg_pool2d_exclude_pad": ("avg", dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1], count_include_pad=False)),
    }
    for name, (kind, c) in pool_cases.items():
        def make(dtype, kind=kind, c=c):
            if kind == "max":
                fn = lambda x: F.max_pool2d(x, c["kernel"], c["stride"], c["padding"])
            else:
                fn = lambda x: F.avg_pool2d(x, c["kernel"], c["stride"], c["padding"],
                                            count_include_pad=c["count_include_pad"])
            return fn, dict(x=randn(2, 3, 7, 8)), None
        both_precisions(fx, name, c, make)

    bn_cases = {
        "batch_norm1d_train": dict(shape=[6, 4], training=True, affine=True),
        "batch_norm1d_3d_train": dict(shape=[3, 4, 5], training=True, affine=True),
        "batch_norm1d_eval": dict(shape=[6, 4], training=False, affine=True),
        "batch_norm2d_train": dict(shape=[3, 4, 5, 2], training=True, affine=True),
        "batch_norm2d_eval": dict(shape=[3, 4, 5, 2], training=False, affine=True),
        "batch_norm2d_train_noaffine": dict(shape=[3, 4, 5, 2], training=True, affine=False),
    }
    for name, c in bn_cases.items():
        def make(dtype, c=c):
            channels = c["shape"][1]
            running_mean = randn(channels).to(dtype)
            running_var = (torch.rand(channels, dtype=torch.float64) + 0.5).to(dtype)
            inputs = dict(x=randn(*c["shape"]) * 2 + 1)
            if c["affine"]:
                inputs.update(weight=randn(channels), bias=randn(channels))
            fn = lambda x, weight=None, bias=None: F.batch_norm(
                x, running_mean, running_var, weight, bias, c["training"], 0.1, 1e-5)
            return fn, inputs, dict(running_mean=running_mean, running_var=running_var)
        both_precisions(fx, name, dict(c, momentum=0.1, eps=1e-5), make)
    return fx


def losses():
    fx = Fixture()
    randn = lambda *s: torch.randn(*s, dtype=torch.float64)
    for reduction in ("mean", "sum", "none"):
        both_precisions(fx, f"mse_{reduction}", {"reduction": reduction}, lambda dtype, r=reduction: (
            lambda input, target: F.mse_loss(input, target, reduction=r),
            dict(input=randn(4, 3), target=randn(4, 3)), None))
        both_precisions(fx, f"bce_with_logits_{reduction}", {"reduction": reduction}, lambda dtype, r=reduction: (
            lambda input, target: F.binary_cross_entropy_with_logits(input, target, reduction=r),
            dict(input=randn(4, 3) * 3, target=torch.rand(4, 3, dtype=torch.float64)), None))
        both_precisions(fx, f"cross_entropy_{reduction}", {"reduction": reduction, "ignore_index": 2},
                        lambda dtype, r=reduction: (
            lambda input, target: F.cross_entropy(input, target, reduction=r, ignore_index=2),
            dict(input=randn(6, 5) * 2, target=torch.tensor([0, 2, 4, 1, 3, 2])), None))
        both_precisions(fx, f"nll_{reduction}", {"reduction": reduction, "ignore_index": -100},
                        lambda dtype, r=reduction: (
            lambda input, target: F.nll_loss(F.log_softmax(input, 1), target, reduction=r),
            dict(input=randn(5, 4), target=torch.tensor([3, 0, 1, 1, 2])), None))
    return fx


OPTIMIZERS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd_dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    "sgd_nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    "adagrad": ("Adagrad", dict(lr=0.1)),
    "adagrad_decay": ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    "rmsprop_centered": ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    "rmsprop_centered_momentum": ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, eps=1e-6)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_weight_decay": ("Adam", dict(lr=0.01, betas=[0.8, 0.99], weight_decay=0.1)),
    "adam_amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.01)),
    "adamw_amsgrad": ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True, eps=1e-6)),
}
STEPS = 10


def optimizers():
    """Two parameters, ten steps each with a stored gradient; parameters after steps 1 and 10."""
    fx = Fixture()
    for name, (cls, options) in OPTIMIZERS.items():
        for dtype, suffix in ((torch.float32, ""), (torch.float64, "_f64")):
            torch.manual_seed(zlib.crc32(name.encode()))
            params = [torch.randn(3, 4, dtype=torch.float64).to(dtype).requires_grad_(True),
                      torch.randn(5, dtype=torch.float64).to(dtype).requires_grad_(True)]
            stored = {f"param{i}.initial": p.detach().clone() for i, p in enumerate(params)}
            kwargs = dict(options)
            if "betas" in kwargs:
                kwargs["betas"] = tuple(kwargs["betas"])
            optimizer = getattr(torch.optim, cls)(params, **kwargs)
            for step in range(1, STEPS + 1):
                for i, p in enumerate(params):
                    g = torch.randn(p.shape, dtype=torch.float64).to(dtype)
                    stored[f"param{i}.grad{step}"] = g
                    p.grad = g.clone()
                optimizer.step()
                if step in (1, STEPS):
                    for i, p in enumerate(params):
                        stored[f"param{i}.after{step}"] = p.detach().clone()
            fx.case(name + suffix, dict(options, optimizer=cls, steps=STEPS), **stored)
    return fx


RNN_MODULES = {"rnn_tanh": ("RNN", dict(nonlinearity="tanh")), "rnn_relu": ("RNN", dict(nonlinearity="relu")),
               "lstm": ("LSTM", {}), "gru": ("GRU", {})}
RNN_CELLS = {"rnn_tanh": ("RNNCell", dict(nonlinearity="tanh")), "rnn_relu": ("RNNCell", dict(nonlinearity="relu")),
             "lstm": ("LSTMCell", {}), "gru": ("GRUCell", {})}
RNN_T, RNN_B, RNN_I, RNN_H = 5, 3, 4, 3


def rnn_reference(fixture, name, config, module, inputs, run):
    """Stores module's float32 parameters and inputs, and run's outputs and gradients
    computed in float64 from them. run(module, **inputs) -> dict of float outputs; each
    output "x" gets a random upstream gradient "grad_x" (drawn in the order of the dict)."""
    stored = {k: v for k, v in inputs.items()}
    stored.update({k: p.detach().clone() for k, p in module.state_dict().items()})
    module = module.double()
    leaves = {k: v.double().requires_grad_(True) if v.dtype.is_floating_point else v for k, v in inputs.items()}
    outputs = run(module, **leaves)
    upstream = {k: torch.randn(v.shape, dtype=torch.float64).float().double() for k, v in outputs.items()}
    loss = sum((outputs[k] * upstream[k]).sum() for k in outputs)
    loss.backward()
    for k, v in outputs.items():
        stored[k] = v.detach().float()
        stored["grad_" + k] = upstream[k].float()
    for k, v in leaves.items():
        if v.dtype.is_floating_point:
            stored["grad_" + k] = v.grad.float()
    for k, p in module.named_parameters():
        stored["grad_" + k] = p.grad.float()
    fixture.case(name, config, **stored)


def rnn_layer_case(fixture, name, mode, num_layers, bidirectional, lengths, bias=True):
    torch.manual_seed(zlib.crc32(name.encode()))
    cls, options = RNN_MODULES[mode]
    module = getattr(torch.nn, cls)(RNN_I, RNN_H, num_layers, bias=bias, bidirectional=bidirectional, **options)
    directions = 2 if bidirectional else 1
    randn = lambda *s: torch.randn(*s, dtype=torch.float64).float()
    inputs = dict(input=randn(RNN_T, RNN_B, RNN_I), h0=randn(num_layers * directions, RNN_B, RNN_H))
    if mode == "lstm":
        inputs["c0"] = randn(num_layers * directions, RNN_B, RNN_H)
    if lengths:
        inputs["lengths"] = torch.tensor(lengths, dtype=torch.int64)

    def run(module, input, h0, c0=None, lengths=None):
        state = (h0, c0) if mode == "lstm" else h0
        if lengths is not None:
            input = nn_utils.rnn.pack_padded_sequence(input, lengths, enforce_sorted=False)
        output, state = module(input, state)
        if lengths is not None:
            output, _ = nn_utils.rnn.pad_packed_sequence(output, total_length=RNN_T)
        if mode == "lstm":
            return dict(output=output, h_n=state[0], c_n=state[1])
        return dict(output=output, h_n=state)

    config = dict(mode=mode, num_layers=num_layers, bidirectional=bidirectional, input_size=RNN_I,
                  hidden_size=RNN_H, lengths=bool(lengths), bias=bias, dropout=0, batch_first=False, dtype="float32")
    rnn_reference(fixture, name, config, module, inputs, run)


def rnn_cell_case(fixture, name, mode, bias=True):
    torch.manual_seed(zlib.crc32(name.encode()))
    cls, options = RNN_CELLS[mode]
    module = getattr(torch.nn, cls)(RNN_I, RNN_H, bias=bias, **options)
    randn = lambda *s: torch.randn(*s, dtype=torch.float64).float()
    inputs = dict(input=randn(RNN_B, RNN_I), h0=randn(RNN_B, RNN_H))
    if mode == "lstm":
        inputs["c0"] = randn(RNN_B, RNN_H)

    def run(module, input, h0, c0=None):
        if mode == "lstm":
            h1, c1 = module(input, (h0, c0))
            return dict(h1=h1, c1=c1)
        return dict(h1=module(input, h0))

    config = dict(mode=mode, cell=True, input_size=RNN_I, hidden_size=RNN_H, bias=bias, dtype="float32")
    rnn_reference(fixture, name, config, module, inputs, run)


def rnn():
    fx = Fixture()
    for mode in RNN_MODULES:
        for num_layers in (1, 3):
            for bidirectional in (False, True):
                for lengths in (None, [5, 2, 4]):
                    name = f"{mode}_l{num_layers}" + ("_bi" if bidirectional else "") + ("_lengths" if lengths else "")
                    rnn_layer_case(fx, name, mode, num_layers, bidirectional, lengths)
    rnn_layer_case(fx, "gru_l2_bi_short", "gru", 2, True, [4, 1, 3])
    rnn_layer_case(fx, "lstm_l2_nobias", "lstm", 2, False, None, bias=False)
    for mode in RNN_CELLS:
        rnn_cell_case(fx, mode + "_cell", mode)
    rnn_cell_case(fx, "lstm_cell_nobias", "lstm", bias=False)
    rnn_cell_case(fx, "gru_cell_nobias", "gru", bias=False)
    return fx


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name, build in (("layers", layers), ("losses", losses), ("optimizers", optimizers),
                        ("rnn", rnn)):
        fixture = build()
        save_safetensors(os.path.join(out_dir, f"conformance_{name}.safetensors"), fixture.tensors, fixture.metadata)
        print(f"conformance_{name}.safetensors: {len(fixture.metadata)} cases, {len(fixture.tensors)} tensors")


if __name__ == "__main__":
    main()
