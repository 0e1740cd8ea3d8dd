#!/usr/bin/python3
"""PyTorch's side of bench/bench_optim.cpp: one optimizer step (single-tensor for-loop
implementation, PyTorch 1.13's default on the CPU) over the 784-300-10 MLP's parameters,
two sets of gradients alternating from step to step.

    /usr/bin/python3 bench/optim_torch.py        # threads: $RECUR_NUM_THREADS or all cores
"""
import os
import time

import torch

torch.set_num_threads(int(os.environ.get("RECUR_NUM_THREADS", os.cpu_count())))
torch.manual_seed(1)
O = torch.optim
CONFIGS = [
    ("SGD", lambda p: O.SGD(p, lr=0.01)),
    ("SGDMomentumNesterov", lambda p: O.SGD(p, lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)),
    ("Adagrad", lambda p: O.Adagrad(p)),
    ("RMSpropCenteredMomentum", lambda p: O.RMSprop(p, momentum=0.9, centered=True)),
    ("Adam", lambda p: O.Adam(p)),
    ("AdamW", lambda p: O.AdamW(p)),
]


def main():
    for name, make in CONFIGS:
        params, grads = [], ([], [])
        for shape in [(300, 784), (300,), (10, 300), (10,)]:
            params.append(torch.nn.Parameter(torch.randn(shape) * 0.05))
            for g in grads:
                g.append(torch.randn(shape) * 0.01)

        def set_grads(which):
            for p, g in zip(params, grads[which]):
                p.grad = g

        opt = make(params)
        set_grads(1)
        opt.step()
        times = []
        for _ in range(5):
            n = 200
            start = time.perf_counter()
            for k in range(n):
                set_grads(k % 2)
                opt.step()
            times.append((time.perf_counter() - start) / n)
        times.sort()
        print("%-26s %8.1f us (median of 5 x 200 steps)" % (name, times[2] * 1e6))


main()
