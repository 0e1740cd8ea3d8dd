#!/usr/bin/python3
"""`scripts/bench fashion`: per-epoch training time of examples/mlp_fashion and
examples/lenet_fashion against the same models in PyTorch (bench/fashion_torch.py): same
batch size, optimizer and data order, both with the same thread count, run alternately in
one session on one machine. Prints a table of medians and the ratios.

    bench/fashion_compare.py [--build build] [--repeats 3] [--epochs 1] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def last_json(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def run(command, env):
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="mlp,lenet")
    args = parser.parse_args()
    env = dict(os.environ, RECUR_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))

    rows = []
    for model in args.models.split(","):
        recur_times, torch_times, recur_acc, torch_acc = [], [], [], []
        for _ in range(args.repeats):
            out = run([os.path.join(args.build, "examples", f"{model}_fashion"), "--epochs", str(args.epochs),
                       "--threads", str(args.threads), "--svg", os.devnull], env)
            summary = last_json(out)[-1]
            recur_times += summary["epoch_seconds"]
            recur_acc.append(summary["test_accuracy"])
            out = run([sys.executable, os.path.join(HERE, "fashion_torch.py"), "--model", model, "--epochs",
                       str(args.epochs), "--threads", str(args.threads)], env)
            epochs = last_json(out)
            torch_times += [e["epoch_seconds"] for e in epochs]
            torch_acc.append(epochs[-1]["test_accuracy"])
        r, t = statistics.median(recur_times), statistics.median(torch_times)
        rows.append((model, r, t, t / r, statistics.median(recur_acc), statistics.median(torch_acc),
                     len(recur_times)))

    print(f"# per-epoch training time, median of {args.repeats} runs x {args.epochs} epoch(s), "
          f"{args.threads} threads, batch 64, SGD momentum 0.9")
    print("| model | recur s/epoch | PyTorch s/epoch | PyTorch / recur | recur test acc | PyTorch test acc |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for model, r, t, ratio, ra, ta, n in rows:
        print(f"| {model} | {r:.2f} | {t:.2f} | {ratio:.2f} | {ra:.4f} | {ta:.4f} |")


if __name__ == "__main__":
    main()
