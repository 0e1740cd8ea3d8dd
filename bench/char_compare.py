#!/usr/bin/python3
"""`scripts/bench char`: the `recur` CLI against the same char-rnn in PyTorch
(bench/char_torch.py), side by side in one invocation on one machine, as issue 5 asks, and
optionally against a second recur build (--baseline) and under load (--busy):

  quality  `recur train --max-steps S --eval-every E` with the CLI's default model (2-layer LSTM,
           hidden 256, embed 64) or the flags given after `--`, then char_torch.py from the run's
           init.safetensors with the same flags: both validation-loss curves at equal steps and
           their relative difference (target: within 2%; dropout 0, so the two differ by float
           rounding only). Needs PyTorch; ignores --baseline and --busy.
  train    training speed, chars/s (B*T per step over the training time, evaluation excluded:
           recur's from `recur train --json`'s summary, torch's from char_torch.py's), 2-layer
           LSTM, hidden 128 and 512, the CLI's other defaults (embed 64, B=32, T=64, Adam, clip 5),
           with a 0.2% validation split so the one evaluation at the end is short; --speed-steps
           steps (per hidden size), --repeats times at each thread count of --threads, the sides
           alternating; the median per thread count, each side reported at its faster one
           (targets: recur/PyTorch >= 2 at h128, >= 1.2 at h512).
  sample   sampling speed at batch 1 from the models the last training runs saved:
           `recur sample MODEL --length N --seed 1` timed as a whole process, minus the median
           time of the same command with --length 0 (start-up and model loading), against
           char_torch.py's sampler (generation only, model loading excluded), --repeats times at
           each thread count, each side at its faster one (target: recur/PyTorch >= 5 at h128).

The sides of train and sample, run one after the other in the same loop with the same flags:
  recur     BUILD/recur of --build
  baseline  BASELINE/recur of --baseline BASELINE, e.g. a build of an older commit: the report
            gains a column "recur / baseline" (medians). It samples from the models it trained
            itself (the model file format may differ between commits); PyTorch from recur's.
  torch     bench/char_torch.py, unless --no-torch

--busy N starts N busy-loop processes (one Python `while` loop each) before the train part and
kills them after the sample part (also on errors, Ctrl-C and SIGTERM; a loop whose parent died
anyway stops by itself), so the figures are speeds on a busy machine: `--busy $(nproc)` is
one busy process per core. The report then states the load and also gives every side at every
thread count, not only at its faster one. Each loop runs in its own session, so Linux's
autogroups share the cores between sessions (recur's fair share: cores / (N + 1)); with
--busy-shared the loops stay in this script's session and the cores are shared between threads
(recur's fair share with one loop per core: its threads' share, half the machine at 2 threads).

    bench/char_compare.py [--build build] [--baseline BUILD_DIR] [--no-torch] [--busy N [--busy-shared]]
        [--parts quality,train,sample] [--quality-steps 1000] [--quality-eval 250]
        [--speed-steps 200,40] [--repeats 3] [--threads 1,2] [--hidden 128,512]
        [--sample-length 20000,4000] [--max-wait 20] [--keep]
        [-- extra flags for both trainings of `quality`, e.g. -- --hidden 64 --cell gru]

With the defaults it takes about 15 minutes on a 2-core machine, most of it PyTorch's side
(--parts defaults to train,sample with --no-torch). Before each timed run the script waits
(up to --max-wait seconds) for other processes to use less than a quarter of a core and records
the load it saw: figures taken on a busy machine are marked. The busy loops of --busy are not
counted as other processes' load (with N >= the number of cores the others' load cannot be
seen and reads as about 0).
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from rnn_torch import busy_cores  # noqa: E402

TORCH_SCRIPT = os.path.join(HERE, "char_torch.py")
DEFAULT_TEXT = os.path.normpath(os.path.join(HERE, "..", "data", "tinyshakespeare.txt"))
TARGETS = {("train", 128): 2.0, ("train", 512): 1.2, ("sample", 128): 5.0}
BUSY = 0.25  # cores used by others above which a figure is marked as taken under load
LABELS = {"recur": "recur", "baseline": "baseline", "torch": "PyTorch"}
# One busy loop of --busy. It stops by itself when its parent (this script, pid in argv) is gone,
# so even a SIGKILLed run leaves no spinning process behind on a shared machine.
SPIN = "import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n    for _ in range(10**6): pass\n"


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


@contextlib.contextmanager
def busy_loops(count, own_sessions):
    """`count` busy-loop processes for the duration of the `with` block."""
    loops = [subprocess.Popen([sys.executable, "-c", SPIN, str(os.getpid())], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=own_sessions)
             for _ in range(count)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def wait_until_quiet(args):
    """Waits up to --max-wait seconds for the other processes (not this script's busy loops) to
    use less than BUSY cores; returns the cores they used last."""
    deadline = time.monotonic() + args.max_wait
    while True:
        others = max(0.0, busy_cores() - args.own_load)
        if others < BUSY or time.monotonic() > deadline:
            return others
        time.sleep(2)


def recur_train(recur, args, out, flags, threads):
    command = [recur, "train", args.text, "--out", out, "--overwrite", "--json", "--max-time", "0",
               "--print-every", "0", "--threads", str(threads)] + flags
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


def record(args, kind, side, hidden, threads, value, others, **extra):
    entry = {"bench": "char", "kind": kind, "side": side, "hidden": hidden, "threads": threads,
             "chars_per_sec": value, "busy_cores_before": round(others, 2)}
    if args.busy:
        entry["busy_loops"] = args.busy
    entry.update(extra)
    print(json.dumps(entry), flush=True)
    return entry


# ------------------------------------------------------------------ one run of one side


def train_once(args, side, hidden, flags, threads, work, models):
    """chars/s of one training run of `side`; a recur side's model is left in models[side, hidden]."""
    if side == "torch":
        return torch_train(args, flags, threads)["chars_per_sec"]
    out = os.path.join(work, f"train_h{hidden}_{side}")
    models[side, hidden] = os.path.join(out, "best.safetensors")
    return recur_train(args.recur[side], args, out, flags, threads)["chars_per_sec"]


def sample_once(args, side, model, length, threads):
    """(seconds, start-up seconds) of one sampling run of `side`: a recur side's whole process and
    the same with --length 0; char_torch.py's generation alone and 0."""
    if side == "torch":
        summary = last_json(run([sys.executable, TORCH_SCRIPT, "sample", model, "--length", str(length),
                                 "--seed", "1", "--threads", str(threads)], threads)[0])
        return summary["seconds"], 0.0
    base = [args.recur[side], "sample", model, "--seed", "1", "--threads", str(threads)]
    return run(base + ["--length", str(length)], threads)[1], run(base + ["--length", "0"], threads)[1]


# ------------------------------------------------------------------ the parts


def quality(args, work):
    out = os.path.join(work, "quality")
    flags = ["--max-steps", str(args.quality_steps), "--eval-every", str(args.quality_eval)] + args.extra
    threads = max(args.threads)
    print(f"# quality: recur train {' '.join(flags)}, then char_torch.py from its init.safetensors "
          f"({threads} threads)", flush=True)
    recur_train(args.recur["recur"], args, out, flags, threads)
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


def train_speed(args, work, results, models):
    for hidden, steps in zip(args.hidden, args.speed_steps):
        # Evaluation is excluded from all rates; a small validation split only keeps the
        # final one short.
        flags = ["--hidden", str(hidden), "--max-steps", str(steps), "--eval-every", "0", "--val-fraction", "0.002"]
        rates = {side: {n: [] for n in args.threads} for side in args.sides}
        busiest = 0.0
        for _ in range(args.repeats):
            for threads in args.threads:
                for side in args.sides:
                    others = wait_until_quiet(args)
                    busiest = max(busiest, others)
                    rate = train_once(args, side, hidden, flags, threads, work, models)
                    rates[side][threads].append(rate)
                    record(args, "train", side, hidden, threads, rate, others)
        for side in args.sides:
            results["train", hidden, side] = {n: statistics.median(v) for n, v in rates[side].items()}
        results["train", hidden, "busy"] = busiest


def sample_speed(args, work, results, models):
    for hidden, length in zip(args.hidden, args.sample_length):
        for side in args.recur:
            if (side, hidden) not in models:  # no training part ran: train a little to have a model
                out = os.path.join(work, f"sample_h{hidden}_{side}")
                recur_train(args.recur[side], args, out, ["--hidden", str(hidden), "--max-steps", "20",
                                                          "--eval-every", "0", "--val-fraction", "0.002"],
                            max(args.threads))
                models[side, hidden] = os.path.join(out, "best.safetensors")
        models["torch", hidden] = models["recur", hidden]
        times = {side: {n: [] for n in args.threads} for side in args.sides}  # (seconds, start-up seconds)
        busiest = 0.0
        for _ in range(args.repeats):
            for threads in args.threads:
                for side in args.sides:
                    others = wait_until_quiet(args)
                    busiest = max(busiest, others)
                    seconds, startup = sample_once(args, side, models[side, hidden], length, threads)
                    times[side][threads].append((seconds, startup))
                    rate = length / (seconds - startup) if seconds > startup else float("nan")
                    record(args, "sample", side, hidden, threads, rate, others, seconds=seconds,
                           startup_seconds=startup)
        for side in args.sides:
            rates = {}
            for threads, runs in times[side].items():
                generation = statistics.median(s for s, _ in runs) - statistics.median(u for _, u in runs)
                # A length too short to time leaves nothing after subtracting the start-up.
                rates[threads] = length / generation if generation > 0 else float("nan")
            results["sample", hidden, side] = rates
        results["sample", hidden, "busy"] = busiest


# ------------------------------------------------------------------ the report


def best_of(medians):
    """(value, threads) with the highest median chars/s (nan, a run too short to time, loses)."""
    threads = max(medians, key=lambda n: (medians[n] == medians[n], medians[n]))
    return medians[threads], threads


def report(args, results, seconds, others_at_start):
    hidden = "/".join(f"h{h}" for h in args.hidden)
    against = ""
    if "baseline" in args.sides:
        against += f" vs baseline ({os.path.normpath(args.baseline)})"
    if "torch" in args.sides:
        torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                       capture_output=True, text=True).stdout.strip()
        against += f" vs PyTorch {torch_version}"
    sharing = "sharing recur's session" if args.busy_shared else "each in its own session"
    load = (f"UNDER LOAD: {args.busy} busy-loop processes ({sharing}) on the {os.cpu_count()} cores during the timed runs "
            f"(other processes: {others_at_start:.2f} cores before they started)" if args.busy else "no added load")
    print(f"\n# recur ({os.path.normpath(args.build)}){against}, char-rnn 2-layer LSTM, embed 64, "
          f"{os.cpu_count()} cores, {load}; train: B=32 T=64, {'/'.join(map(str, args.speed_steps))} steps "
          f"({hidden}); sample: batch 1, {'/'.join(map(str, args.sample_length))} characters ({hidden}); "
          f"medians of {args.repeats} runs; "
          f"{seconds:.0f} s in all")
    ratios = [side for side in ("baseline", "torch") if side in args.sides]
    header = [f"{LABELS[side]} chars/s" for side in args.sides] + [f"recur / {LABELS[side]}" for side in ratios]

    # Per measurement that ran, each side's median chars/s per thread count.
    measurements = [(kind, h, {side: results[kind, h, side] for side in args.sides})
                    for kind in ("train", "sample") for h in args.hidden if (kind, h, "recur") in results]

    def cells(values):
        """Each side's chars/s, then recur's over the others'; values: side -> (chars/s, label)."""
        return ([f"{v:,.0f}{label}" for v, label in values.values()] +
                [f"{values['recur'][0] / values[side][0]:.2f}" for side in ratios])

    print(f"\nEach side at its faster thread count of {','.join(map(str, args.threads))}:\n")
    print("| measurement | " + " | ".join(header) + " | target |")
    print("| --- |" + " ---: |" * (len(header) + 1))
    for kind, h, medians in measurements:
        best = {side: best_of(m) for side, m in medians.items()}
        target = TARGETS.get((kind, h)) if "torch" in args.sides else None
        busy = results[kind, h, "busy"]
        note = f" (busy machine: {busy:.2f} cores in use by others)" if busy > BUSY else ""
        print(f"| {kind} lstm h{h} | " + " | ".join(cells({side: (v, f" ({n}t)") for side, (v, n) in best.items()}))
              + f" | {'≥ ' + str(target) if target else '-'}{note} |")

    if args.busy:  # under load the thread count matters: every side at every thread count
        print(f"\nEvery side at every thread count (the ratios at equal thread counts), {load}:\n")
        print("| measurement | threads | " + " | ".join(header) + " |")
        print("| --- | ---: |" + " ---: |" * len(header))
        for kind, h, medians in measurements:
            for threads in args.threads:
                print(f"| {kind} lstm h{h} | {threads} | "
                      + " | ".join(cells({side: (m[threads], "") for side, m in medians.items()})) + " |")


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
    parser.add_argument("--baseline", metavar="BUILD_DIR",
                        help="a second recur build (BUILD_DIR/recur) timed alternately with --build's")
    parser.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True,
                        help="run PyTorch's side (default; --no-torch skips it and the quality part)")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="busy-loop processes during the timed runs (one per core: $(nproc))")
    parser.add_argument("--busy-shared", action="store_true",
                        help="the busy loops share this script's session: the cores are shared between threads")
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--parts", help="default: quality,train,sample (train,sample with --no-torch)")
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
    args.threads = [int(n) for n in args.threads.split(",")]
    args.hidden = [int(h) for h in args.hidden.split(",")]
    args.speed_steps = per_hidden(parser, "--speed-steps", args.speed_steps, args.hidden)
    args.sample_length = per_hidden(parser, "--sample-length", args.sample_length, args.hidden)
    parts = (args.parts or ("quality,train,sample" if args.torch else "train,sample")).split(",")
    if "quality" in parts and not args.torch:
        parser.error("the quality part compares with PyTorch: drop it from --parts or --no-torch")
    if args.busy < 0:
        parser.error("--busy takes a number of processes >= 0")
    # The recur builds by side name, then every side in the order each round runs them.
    args.recur = {"recur": os.path.join(args.build, "recur")}
    if args.baseline:
        args.recur["baseline"] = os.path.join(args.baseline, "recur")
    args.sides = list(args.recur) + (["torch"] if args.torch else [])
    for recur in args.recur.values():
        if not os.access(recur, os.X_OK):
            sys.exit(f"char_compare.py: no {recur}; build it (cmake --build BUILD_DIR --target recur_cli)")
    # SIGTERM and SIGHUP end the script through the `finally` blocks (busy loops killed, runs removed).
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))

    work = tempfile.mkdtemp(prefix="recur-char-bench-")
    began = time.monotonic()
    results, models = {}, {}
    args.own_load = 0.0  # cores of the busy loops, which wait_until_quiet does not count as others'
    try:
        if "quality" in parts:
            quality(args, work)
        others_at_start = wait_until_quiet(args)
        if args.busy:
            args.own_load = min(args.busy, os.cpu_count())
            print(f"# {args.busy} busy-loop processes from now on (other processes: {others_at_start:.2f} cores)",
                  flush=True)
        with busy_loops(args.busy, own_sessions=not args.busy_shared):
            if "train" in parts:
                train_speed(args, work, results, models)
            if "sample" in parts:
                sample_speed(args, work, results, models)
    finally:
        if args.keep:
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if results:
        report(args, results, time.monotonic() - began, others_at_start)


if __name__ == "__main__":
    main()
