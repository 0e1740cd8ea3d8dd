#!/usr/bin/python3
"""Writes the PyTorch conformance fixtures that tests/test_conformance_*.cpp compare against.

Run with Debian's python3-torch (the tests themselves do not need PyTorch):

    /usr/bin/python3 tests/conformance/make_fixtures.py [OUT_DIR]

OUT_DIR defaults to tests/fixtures. One safetensors file per family,
conformance_{layers,losses,optimizers}.safetensors. Each holds several cases; a case's tensors are named
"<case>.<tensor>" and its configuration is the JSON string under "__metadata__"["<case>"].
Layer cases hold the inputs, parameters, the output, a random upstream gradient
"grad_out" and the resulting gradients "grad_<input>". Float64 variants of a case end
in "_f64". The python `safetensors` package is not in Debian, so the file is written by
hand exactly as that library lays it out.
"""
import json
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

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


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    for name, build in (("layers", layers), ("losses", losses), ("optimizers", optimizers)):
        fixture = build()
        save_safetensors(os.path.join(out_dir, f"conformance_{name}.safetensors"), fixture.tensors, fixture.metadata)
        print(f"conformance_{name}.safetensors: {len(fixture.metadata)} cases, {len(fixture.tensors)} tensors")


if __name__ == "__main__":
    main()
