#!/usr/bin/python3
"""Prints the PyTorch 1.13 reference values pasted into tests/test_optim.cpp,
tests/test_lr_scheduler.cpp and tests/test_clip.cpp.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/optim_reference.py

The optimizer setup is deliberately simple to reproduce anywhere:
  two float32 parameters, P0 (2, 3) and P1 (4,), start at the values below;
  the gradient at step k (k = 0, 1, ...) is float32(G * (1 - 0.25 k) + 0.01 k),
  computed in float64 and rounded once, so its sign flips after step 4.
Each configuration prints P0 and P1 (flattened, concatenated) after 1 and after 10 steps.
"""
import math

import torch

P0 = [[0.5, -1.25, 2.0], [-0.75, 1.5, -3.0]]
P1 = [0.1, -0.2, 0.3, 4.0]
G0 = [[0.3, -0.6, 0.9], [1.2, -0.15, 0.45]]
G1 = [-0.5, 0.25, 2.0, -1.0]


def grad_at(base, k, dtype=torch.float32):
    return (torch.tensor(base, dtype=torch.float64) * (1 - 0.25 * k) + 0.01 * k).to(dtype)


def fmt(values, digits=9):
    """digits=None: Python's shortest repr, which reads back as the same double."""
    return "{" + ", ".join(repr(float(v)) if digits is None else "%.*g" % (digits, v) for v in values) + "}"


def flat(params):
    return [v for p in params for v in p.detach().reshape(-1).tolist()]


def run(make, steps, skip=lambda k, i: False, dtype=torch.float32):
    """Steps an optimizer made by make(params); skip(k, i) leaves param i without grad at step k."""
    params = [torch.tensor(P0, dtype=dtype, requires_grad=True), torch.tensor(P1, dtype=dtype, requires_grad=True)]
    opt = make(params)
    for k in range(steps):
        for i, (p, g) in enumerate(zip(params, (G0, G1))):
            p.grad = None if skip(k, i) else grad_at(g, k, dtype)
        opt.step()
    return flat(params)


def min_char_rnn_adagrad(params, lr, eps):
    """min-char-rnn's AdaGrad: mem += g*g; p += -lr * g / sqrt(mem + eps), in float32."""
    class Opt:
        def __init__(self):
            self.mem = [torch.zeros_like(p) for p in params]

        def step(self):
            with torch.no_grad():
                for p, m in zip(params, self.mem):
                    m.addcmul_(p.grad, p.grad)
                    p.add_(-lr * p.grad / (m + eps).sqrt())
    return Opt()


O = torch.optim
CONFIGS = [
    ("SGD plain", lambda p: O.SGD(p, lr=0.1)),
    ("SGD weight decay", lambda p: O.SGD(p, lr=0.1, weight_decay=0.1)),
    ("SGD momentum", lambda p: O.SGD(p, lr=0.1, momentum=0.9)),
    ("SGD momentum dampening", lambda p: O.SGD(p, lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD nesterov", lambda p: O.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD nesterov weight decay", lambda p: O.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True)),
    ("Adagrad default", lambda p: O.Adagrad(p)),
    ("Adagrad lr_decay", lambda p: O.Adagrad(p, lr=0.1, lr_decay=0.05)),
    ("Adagrad weight decay", lambda p: O.Adagrad(p, lr=0.1, weight_decay=0.1)),
    ("Adagrad initial accumulator eps", lambda p: O.Adagrad(p, lr=0.1, initial_accumulator_value=0.5, eps=1e-3)),
    ("Adagrad eps inside sqrt (min-char-rnn)", lambda p: min_char_rnn_adagrad(p, lr=0.1, eps=1e-8)),
    ("RMSprop default", lambda p: O.RMSprop(p)),
    ("RMSprop alpha eps", lambda p: O.RMSprop(p, lr=0.02, alpha=0.9, eps=1e-4)),
    ("RMSprop weight decay", lambda p: O.RMSprop(p, weight_decay=0.1)),
    ("RMSprop momentum", lambda p: O.RMSprop(p, momentum=0.9)),
    ("RMSprop centered", lambda p: O.RMSprop(p, centered=True)),
    ("RMSprop centered momentum weight decay",
     lambda p: O.RMSprop(p, lr=0.005, momentum=0.5, centered=True, weight_decay=0.05)),
    ("Adam default", lambda p: O.Adam(p)),
    ("Adam betas eps", lambda p: O.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-4)),
    ("Adam weight decay", lambda p: O.Adam(p, lr=0.01, weight_decay=0.1)),
    ("Adam amsgrad", lambda p: O.Adam(p, lr=0.01, amsgrad=True)),
    ("Adam amsgrad weight decay", lambda p: O.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW default", lambda p: O.AdamW(p)),
    ("AdamW weight decay", lambda p: O.AdamW(p, lr=0.01, weight_decay=0.1)),
    ("AdamW amsgrad", lambda p: O.AdamW(p, lr=0.01, betas=(0.85, 0.95), amsgrad=True)),
]


def main():
    print("// ---- optimizers: P0 then P1 after 1 step and after 10 steps")
    for name, make in CONFIGS:
        print('"%s"' % name)
        print("  1:", fmt(run(make, 1)))
        print(" 10:", fmt(run(make, 10)))

    print("// ---- float64: P0 then P1 after 10 steps")
    for name, make in CONFIGS:
        if name in ("SGD nesterov weight decay", "Adagrad lr_decay", "RMSprop centered momentum weight decay",
                    "Adam amsgrad weight decay", "AdamW amsgrad"):
            print('"%s"' % name, fmt(run(make, 10, dtype=torch.float64), None))

    print("// ---- param groups: SGD momentum 0.9, P0 in a group with lr 0.1, P1 with lr 0.01")
    print(fmt(run(lambda p: O.SGD([{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.01}], lr=0.5,
                                  momentum=0.9), 10)))
    print("// ---- Adam, P1 without a gradient at steps 0-2 (own step count), 10 steps")
    print(fmt(run(lambda p: O.Adam(p, lr=0.01), 10, skip=lambda k, i: i == 1 and k < 3)))

    print("// ---- schedules: lr after construction, then after each step() call, base lr 0.1")
    def sched(make, n=12, metrics=None):
        p = torch.zeros(1, requires_grad=True)
        opt = O.SGD([p], lr=0.1)
        s = make(opt)
        lrs = [opt.param_groups[0]["lr"]]
        for k in range(n):
            opt.step()
            if metrics is None:
                s.step()
            else:
                s.step(metrics[k])
            lrs.append(opt.param_groups[0]["lr"])
        return lrs
    S = O.lr_scheduler
    print("StepLR(3, 0.5)", fmt(sched(lambda o: S.StepLR(o, 3, 0.5)), None))
    print("MultiStepLR({2, 5, 5, 9}, 0.3)", fmt(sched(lambda o: S.MultiStepLR(o, [2, 5, 5, 9], 0.3)), None))
    print("ExponentialLR(0.9)", fmt(sched(lambda o: S.ExponentialLR(o, 0.9)), None))
    print("ConstantLR(0.25, 4)", fmt(sched(lambda o: S.ConstantLR(o, 0.25, 4)), None))
    print("PolynomialLR(10, 2.0)", fmt(sched(lambda o: S.PolynomialLR(o, 10, 2.0)), None))
    losses = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.899, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    print("ReduceLROnPlateau(min, 0.5, patience 2, rel 1e-2, cooldown 1)",
          fmt(sched(lambda o: S.ReduceLROnPlateau(o, "min", 0.5, 2, 1e-2, "rel", 1, 0.02), 20, losses), None))
    accs = [0.5, 0.6, 0.6, 0.65, 0.66, 0.7, 0.7, 0.7, 0.7, 0.71, 0.7, 0.7, 0.7, 0.7]
    print("ReduceLROnPlateau(max, 0.1, patience 1, abs 0.02)",
          fmt(sched(lambda o: S.ReduceLROnPlateau(o, "max", 0.1, 1, 0.02, "abs"), 14, accs), None))

    print("// ---- clipping")
    def clip(max_norm, norm_type):
        params = [torch.tensor(P0, requires_grad=True), torch.tensor(P1, requires_grad=True)]
        params[0].grad = torch.tensor(G0) * 3
        params[1].grad = torch.tensor(G1) * 3
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
        return [total.item()] + flat([p.grad for p in params])
    for max_norm, norm_type in [(1.0, 2.0), (100.0, 2.0), (2.0, 1.0), (3.0, math.inf), (1.5, 3.0)]:
        print("clip_grad_norm_(%g, %g): norm then grads" % (max_norm, norm_type), fmt(clip(max_norm, norm_type)))


main()
