#!/usr/bin/python3
"""PyTorch's side of `scripts/bench rnn`: 2-layer torch.nn.LSTM and torch.nn.GRU, float32,
time-major, input_size = hidden_size, default initialisation, no dropout.

    /usr/bin/python3 bench/rnn_torch.py                       # every configuration, table + JSON
    /usr/bin/python3 bench/rnn_torch.py --threads 1,2 --hidden 128 --cells lstm
    /usr/bin/python3 bench/rnn_torch.py --coretypes env,unset # OpenBLAS core type as set, and unset

What is measured (recur's bench must do exactly the same to compare):
  train  One training step of a 2-layer model on x (T=64, B=32, H), a fixed random input that
         does not require grad, zero initial states: zero the parameters' gradients
         (set_to_none=False), output, _ = model(x), loss = output.sum(), loss.backward().
         No optimizer step. 3 warm-up steps, then each step timed alone; the median gives
         ms/step and sequences/s (B / step time).
  infer  One-step inference at batch 1, as a character-level sampler runs: under
         torch.no_grad(), output, state = model(x, state) with x of shape (1, 1, H) and the
         state (h, c for LSTM) carried from step to step; the next step's input is this
         step's output (an embedding-free feedback loop, so no step can be skipped or
         batched). Blocks of steps lasting about 0.2 s; the median block gives steps/s.
  rss    Peak resident memory (getrusage ru_maxrss) of the process that ran the training
         measurement: each (core type, threads, cell, hidden) training measurement runs in a
         fresh subprocess that does nothing else. "rss_base" is the same figure for a process
         that only imports torch and builds the model, so rss - rss_base is what the training
         step itself costs.
Every measurement runs in its own subprocess, with torch.set_num_threads(threads) and the
chosen OPENBLAS_CORETYPE in its environment (the core type is read when OpenBLAS loads).
The machine is shared: before each measurement the script waits (up to --max-wait seconds)
until other processes use under a quarter of a core, and records the load it saw as
"busy_cores_before"; with 2 threads PyTorch's OpenMP slows down many times over when a
third process competes for the 2 cores, so figures taken under load are worthless.
Output: one JSON line per measurement (prefixed by nothing, so `grep '^{'` selects them),
then a table with the faster thread count per configuration.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

T, B, LAYERS = 64, 32, 2


def build(cell, hidden):
    import torch
    torch.manual_seed(0)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    return cls(hidden, hidden, LAYERS)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def measure_train(cell, hidden, reps):
    import torch
    model = build(cell, hidden)
    x = torch.randn(T, B, hidden)

    def step():
        model.zero_grad(set_to_none=False)
        output, _ = model(x)
        output.sum().backward()

    for _ in range(3):
        step()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"ms_per_step": seconds * 1e3, "sequences_per_s": B / seconds, "reps": reps,
            "spread_ms": [min(times) * 1e3, max(times) * 1e3], "rss_mib": peak_rss_mib()}


def measure_infer(cell, hidden, reps):
    import torch
    model = build(cell, hidden)
    model.eval()
    with torch.no_grad():
        x = torch.randn(1, 1, hidden)
        zeros = torch.zeros(LAYERS, 1, hidden)
        state = (zeros, zeros.clone()) if cell == "lstm" else zeros

        def run(steps):
            nonlocal x, state
            for _ in range(steps):
                x, state = model(x, state)

        run(50)
        start = time.perf_counter()
        run(100)
        per_block = max(100, int(0.2 / ((time.perf_counter() - start) / 100)))
        rates = []
        for _ in range(reps):
            start = time.perf_counter()
            run(per_block)
            rates.append(per_block / (time.perf_counter() - start))
    rate = statistics.median(rates)
    return {"steps_per_s": rate, "us_per_step": 1e6 / rate, "reps": reps, "steps_per_block": per_block,
            "spread_steps_per_s": [min(rates), max(rates)]}


def measure_base(cell, hidden, reps):
    build(cell, hidden)
    return {"rss_mib": peak_rss_mib()}


def worker(args):
    import torch
    torch.set_num_threads(args.threads)
    result = {"train": measure_train, "infer": measure_infer, "base": measure_base}[args.worker](
        args.cells, int(args.hidden), args.reps)
    print(json.dumps(result))


def busy_cores(seconds=0.5):
    """Cores busy over the next `seconds`, from /proc/stat (this process is idle meanwhile)."""
    def sample():
        fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return os.cpu_count() * (1 - (idle1 - idle0) / max(1, total1 - total0))


def wait_until_quiet(max_wait):
    """The machine is shared: waits up to max_wait seconds for the other processes to use
    less than a quarter of a core; returns the busy cores seen last."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = busy_cores()
        if busy < 0.25 or time.monotonic() > deadline:
            return busy
        time.sleep(2)


def run_worker(kind, cell, hidden, threads, coretype, reps, max_wait=0):
    busy = wait_until_quiet(max_wait) if kind != "base" else None
    env = dict(os.environ)
    if coretype == "unset":
        env.pop("OPENBLAS_CORETYPE", None)
    elif coretype != "env":
        env["OPENBLAS_CORETYPE"] = coretype
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--cells", cell, "--hidden", str(hidden),
               "--threads", str(threads), "--reps", str(reps)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    record = {"bench": "rnn_torch", "kind": kind, "cell": cell, "hidden": hidden, "layers": LAYERS}
    if kind != "base":
        record.update(T=T if kind == "train" else 1, batch=B if kind == "train" else 1, threads=threads)
    record["openblas_coretype"] = env.get("OPENBLAS_CORETYPE", "unset")
    if busy is not None:
        record["busy_cores_before"] = round(busy, 2)  # other load just before: > 0.25 taints the figure
    record.update(result)
    print(json.dumps(record), flush=True)
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--hidden", default="128,512")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--coretypes", default="env",
                        help="OPENBLAS_CORETYPE values: env (as inherited), unset, or a name such as Haswell")
    parser.add_argument("--train-reps", type=int, default=15)
    parser.add_argument("--infer-reps", type=int, default=7)
    parser.add_argument("--max-wait", type=float, default=120,
                        help="seconds to wait before each measurement for other load to drop (shared machine)")
    parser.add_argument("--worker", choices=["train", "infer", "base"], help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        return worker(args)

    cells, hiddens = args.cells.split(","), [int(h) for h in args.hidden.split(",")]
    threads_list, coretypes = [int(t) for t in args.threads.split(",")], args.coretypes.split(",")
    records = []
    for coretype in coretypes:
        for cell in cells:
            for hidden in hiddens:
                base = run_worker("base", cell, hidden, threads_list[0], coretype, 0)
                for threads in threads_list:
                    for kind, reps in (("train", args.train_reps), ("infer", args.infer_reps)):
                        record = run_worker(kind, cell, hidden, threads, coretype, reps, args.max_wait)
                        record["rss_base_mib"] = base["rss_mib"]
                        record["coretype_arg"] = coretype
                        records.append(record)

    print()
    print(f"PyTorch {__import__('torch').__version__}, {os.cpu_count()} cores; 2-layer, input = hidden; "
          f"train: T={T} B={B} forward + backward of output.sum(); infer: batch 1, one step, carried state")
    header = ("%-8s %-5s %6s %7s | %11s %9s | %11s %9s | %9s %9s | %9s | %s"
              % ("coretype", "cell", "hidden", "threads", "train ms", "seq/s", "infer us", "steps/s",
                 "rss MiB", "base MiB", "busy", "fastest"))
    print(header)
    print("-" * len(header))
    for coretype in coretypes:
        for cell in cells:
            for hidden in hiddens:
                rows = [r for r in records if r["cell"] == cell and r["hidden"] == hidden
                        and r["coretype_arg"] == coretype]
                train = {r["threads"]: r for r in rows if r["kind"] == "train"}
                infer = {r["threads"]: r for r in rows if r["kind"] == "infer"}
                best_train = min(train, key=lambda t: train[t]["ms_per_step"])
                best_infer = max(infer, key=lambda t: infer[t]["steps_per_s"])
                for threads in threads_list:
                    tr, inf = train[threads], infer[threads]
                    print("%-8s %-5s %6d %7d | %11.2f %9.1f | %11.1f %9.0f | %9.1f %9.1f | %4.2f/%4.2f | %s"
                          % (tr["openblas_coretype"], cell, hidden, threads, tr["ms_per_step"], tr["sequences_per_s"],
                             inf["us_per_step"], inf["steps_per_s"], tr["rss_mib"], tr["rss_base_mib"],
                             tr["busy_cores_before"], inf["busy_cores_before"],
                             ("train " if threads == best_train else "") + ("infer" if threads == best_infer else "")))


if __name__ == "__main__":
    main()
