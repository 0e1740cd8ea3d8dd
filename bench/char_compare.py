#!/usr/bin/python3
"""`scripts/bench char`: the `recur` CLI against the same char-rnn in PyTorch
(bench/char_torch.py), side by side in one invocation on one machine, as issue 5 asks:

  quality  `recur train --max-steps S --eval-every E` with the CLI's default model (2-layer LSTM,
           hidden 256, embed 64) or the flags given after `--`, then char_torch.py from the run's
           init.safetensors with the same flags: both validation-loss curves at equal steps and
           their relative difference (target: within 2%; dropout 0, so the two differ by float
           rounding only).
  train    training speed, chars/s (B*T per step over the training time, evaluation excluded:
           recur's from `recur train --json`'s summary, torch's from char_torch.py's), 2-layer
           LSTM, hidden 128 and 512, the CLI's other defaults (embed 64, B=32, T=64, Adam, clip 5),
           with a 0.2% validation split so the one evaluation at the end is short; --speed-steps
           steps (per hidden size), --repeats times at each thread count of --threads, the two
           sides alternating; the median per thread count, each side reported at its faster one
           (targets: recur/PyTorch >= 2 at h128, >= 1.2 at h512).
  sample   sampling speed at batch 1 from the models the last training runs saved:
           `recur sample MODEL --length N --seed 1` timed as a whole process, minus the median
           time of the same command with --length 0 (start-up and model loading), against
           char_torch.py's sampler (generation only, model loading excluded), --repeats times at
           each thread count, each side at its faster one (target: recur/PyTorch >= 5 at h128).

    bench/char_compare.py [--build build] [--parts quality,train,sample] [--quality-steps 1000]
        [--quality-eval 250] [--speed-steps 200,40] [--repeats 3] [--threads 1,2]
        [--hidden 128,512] [--sample-length 20000,4000] [--max-wait 20] [--keep]
        [-- extra flags for both trainings of `quality`, e.g. -- --hidden 64 --cell gru]

With the defaults it takes about 15 minutes on a 2-core machine, most of it PyTorch's side.
Before each timed run the script waits (up to --max-wait seconds) for other processes to use
less than a quarter of a core and records the load it saw: figures taken on a busy machine are
marked.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from rnn_torch import wait_until_quiet  # noqa: E402

TORCH_SCRIPT = os.path.join(HERE, "char_torch.py")
DEFAULT_TEXT = os.path.normpath(os.path.join(HERE, "..", "data", "tinyshakespeare.txt"))
TARGETS = {("train", 128): 2.0, ("train", 512): 1.2, ("sample", 128): 5.0}
BUSY = 0.25  # cores used by others above which a figure is marked as taken under load


def run(command, threads=None):
    """stdout of `command` (exits with its stderr when it fails), and its wall time."""
    env = dict(os.environ)
    if threads:
        env.update(RECUR_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    began = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return result.stdout, seconds


def last_json(output):
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"no JSON summary in:\n{output[-2000:]}")
    return json.loads(lines[-1])


def recur_train(args, out, flags, threads):
    command = [args.recur, "train", args.text, "--out", out, "--overwrite", "--json", "--max-time", "0", "--print-every", "0",
               "--threads", str(threads)] + flags
    return last_json(run(command, threads)[0])


def torch_train(args, flags, threads, init=None):
    command = [sys.executable, TORCH_SCRIPT, "train", args.text, "--threads", str(threads)] + flags
    if init:
        command += ["--init", init]
    return last_json(run(command, threads)[0])


def recur_val_losses(out):
    losses = {}
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if "val_loss" in record:
                losses[record["step"]] = record["val_loss"]
    return losses


def record(kind, side, hidden, threads, value, busy, **extra):
    entry = {"bench": "char", "kind": kind, "side": side, "hidden": hidden, "threads": threads,
             "chars_per_sec": value, "busy_cores_before": round(busy, 2)}
    entry.update(extra)
    print(json.dumps(entry), flush=True)
    return entry


# ------------------------------------------------------------------ the parts


def quality(args, work):
    out = os.path.join(work, "quality")
    flags = ["--max-steps", str(args.quality_steps), "--eval-every", str(args.quality_eval)] + args.extra
    threads = max(args.threads)
    print(f"# quality: recur train {' '.join(flags)}, then char_torch.py from its init.safetensors "
          f"({threads} threads)", flush=True)
    recur_train(args, out, flags, threads)
    recur_losses = recur_val_losses(out)
    torch_losses = {int(s): v for s, v in
                    torch_train(args, flags, threads, os.path.join(out, "init.safetensors"))["val_loss"].items()}
    print("| step | recur val loss | PyTorch val loss | relative difference |")
    print("| ---: | ---: | ---: | ---: |")
    worst = 0.0
    for step in sorted(set(recur_losses) | set(torch_losses)):
        r, t = recur_losses.get(step), torch_losses.get(step)
        if r is None or t is None:
            print(f"| {step} | {r if r is not None else '-'} | {t if t is not None else '-'} | missing |")
            worst = float("inf")
            continue
        diff = abs(r - t) / abs(t)
        worst = max(worst, diff)
        print(f"| {step} | {r:.6f} | {t:.6f} | {diff:.2e} |")
    verdict = "within" if worst <= 0.02 else "NOT within"
    print(f"largest relative difference {worst:.2e}: {verdict} the 2% target\n", flush=True)
    return worst


def best_of(medians):
    """(value, threads) with the highest median chars/s."""
    threads = max(medians, key=lambda n: medians[n])
    return medians[threads], threads


def train_speed(args, work, results, models):
    for hidden, steps in zip(args.hidden, args.speed_steps):
        # Evaluation is excluded from both rates; a small validation split only keeps the
        # final one short.
        flags = ["--hidden", str(hidden), "--max-steps", str(steps), "--eval-every", "0", "--val-fraction", "0.002"]
        rates = {"recur": {n: [] for n in args.threads}, "torch": {n: [] for n in args.threads}}
        busiest = 0.0
        for _ in range(args.repeats):
            for threads in args.threads:
                out = os.path.join(work, f"train_h{hidden}")
                busy = wait_until_quiet(args.max_wait)
                summary = recur_train(args, out, flags, threads)
                rates["recur"][threads].append(record("train", "recur", hidden, threads, summary["chars_per_sec"],
                                                      busy)["chars_per_sec"])
                busiest = max(busiest, busy)
                busy = wait_until_quiet(args.max_wait)
                summary = torch_train(args, flags, threads)
                rates["torch"][threads].append(record("train", "torch", hidden, threads, summary["chars_per_sec"],
                                                      busy)["chars_per_sec"])
                busiest = max(busiest, busy)
                models[hidden] = os.path.join(out, "best.safetensors")
        for side in ("recur", "torch"):
            results[("train", hidden, side)] = best_of({n: statistics.median(v) for n, v in rates[side].items()})
        results[("train", hidden, "busy")] = busiest


def sample_speed(args, work, results, models):
    for hidden, length in zip(args.hidden, args.sample_length):
        model = models.get(hidden)
        if model is None:  # no training part ran: train a little to have a model
            out = os.path.join(work, f"sample_h{hidden}")
            recur_train(args, out, ["--hidden", str(hidden), "--max-steps", "20", "--eval-every", "0",
                                    "--val-fraction", "0.002"], max(args.threads))
            model = models[hidden] = os.path.join(out, "best.safetensors")
        recur_rates, torch_rates, busiest = {}, {}, 0.0
        for threads in args.threads:
            full, empty, rates = [], [], []
            for _ in range(args.repeats):
                base = [args.recur, "sample", model, "--seed", "1", "--threads", str(threads)]
                busy = wait_until_quiet(args.max_wait)
                busiest = max(busiest, busy)
                full.append(run(base + ["--length", str(length)], threads)[1])
                empty.append(run(base + ["--length", "0"], threads)[1])
                generation = full[-1] - empty[-1]
                record("sample", "recur", hidden, threads, length / generation if generation > 0 else float("nan"),
                       busy, seconds=full[-1], startup_seconds=empty[-1])
                busy = wait_until_quiet(args.max_wait)
                busiest = max(busiest, busy)
                summary = last_json(run([sys.executable, TORCH_SCRIPT, "sample", model, "--length", str(length),
                                         "--seed", "1", "--threads", str(threads)],
                                        threads)[0])
                rates.append(record("sample", "torch", hidden, threads, summary["chars_per_sec"], busy,
                                    seconds=summary["seconds"])["chars_per_sec"])
            generation = statistics.median(full) - statistics.median(empty)
            # A length too short to time leaves nothing after subtracting the start-up.
            recur_rates[threads] = length / generation if generation > 0 else float("nan")
            torch_rates[threads] = statistics.median(rates)
        results[("sample", hidden, "recur")] = best_of(recur_rates)
        results[("sample", hidden, "torch")] = best_of(torch_rates)
        results[("sample", hidden, "busy")] = busiest


def per_hidden(parser, flag, text, hidden):
    """A comma-separated list with one value per hidden size, or one value for all."""
    values = [int(v) for v in text.split(",")]
    if len(values) == 1:
        values *= len(hidden)
    if len(values) != len(hidden):
        parser.error(f"{flag} {text}: give one value, or one per --hidden ({len(hidden)})")
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--parts", default="quality,train,sample")
    parser.add_argument("--quality-steps", type=int, default=1000)
    parser.add_argument("--quality-eval", type=int, default=250)
    parser.add_argument("--speed-steps", default="200,40",
                        help="training steps per speed run, one per --hidden (or one for all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--hidden", default="128,512")
    parser.add_argument("--sample-length", default="20000,4000",
                        help="characters per sampling run, one per --hidden (or one for all)")
    parser.add_argument("--max-wait", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the runs' directories (printed)")
    args, extra = parser.parse_known_args()
    args.extra = [a for a in extra if a != "--"]
    args.recur = os.path.join(args.build, "recur")
    args.threads = [int(n) for n in args.threads.split(",")]
    args.hidden = [int(h) for h in args.hidden.split(",")]
    args.speed_steps = per_hidden(parser, "--speed-steps", args.speed_steps, args.hidden)
    args.sample_length = per_hidden(parser, "--sample-length", args.sample_length, args.hidden)
    parts = args.parts.split(",")
    if not os.access(args.recur, os.X_OK):
        sys.exit(f"char_compare.py: no {args.recur}; build it (cmake --build build --target recur_cli)")

    work = tempfile.mkdtemp(prefix="recur-char-bench-")
    began = time.monotonic()
    results, models = {}, {}
    try:
        if "quality" in parts:
            quality(args, work)
        if "train" in parts:
            train_speed(args, work, results, models)
        if "sample" in parts:
            sample_speed(args, work, results, models)
    finally:
        if args.keep:
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not results:
        return

    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    hidden = "/".join(f"h{h}" for h in args.hidden)
    print(f"\n# recur vs PyTorch {torch_version}, char-rnn 2-layer LSTM, embed 64, {os.cpu_count()} cores; "
          f"train: B=32 T=64, {'/'.join(map(str, args.speed_steps))} steps ({hidden}); sample: batch 1, "
          f"{'/'.join(map(str, args.sample_length))} characters ({hidden}); medians of {args.repeats} runs, each "
          f"side at its faster thread count of {','.join(map(str, args.threads))}; "
          f"{time.monotonic() - began:.0f} s in all")
    print("| measurement | recur chars/s | PyTorch chars/s | recur / PyTorch | target |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("train", "sample"):
        for hidden in args.hidden:
            if (kind, hidden, "recur") not in results:
                continue
            (r, rn), (t, tn) = results[(kind, hidden, "recur")], results[(kind, hidden, "torch")]
            target = TARGETS.get((kind, hidden))
            busy = results[(kind, hidden, "busy")]
            note = f" (busy machine: {busy:.2f} cores in use by others)" if busy > BUSY else ""
            print(f"| {kind} lstm h{hidden} | {r:,.0f} ({rn}t) | {t:,.0f} ({tn}t) | {r / t:.2f} | "
                  f"{'≥ ' + str(target) if target else '-'}{note} |")


if __name__ == "__main__":
    main()
