#!/usr/bin/python3
"""`scripts/bench classify`: the `recur` CLI's text classifier against the same classifier in
PyTorch (bench/classify_torch.py: packed sequences, pack_padded_sequence), side by side in one
invocation on one machine (issue 13, "Speed"). Every rate is a median of --repeats runs; sides
alternate.

  train        training speed, examples/s (recur's measure on both sides: steps * training texts /
               batches per epoch, over the time of the training steps, setup and evaluation
               excluded): `recur train --task classify DATA --val VAL --max-steps S --eval-every
               S --json` (the CLI's classifier: bidirectional LSTM 1x128, embed 128, max pooling,
               dropout 0.3, vocabulary 30,000 words seen twice, the first 400 words of a text,
               batches of 32 texts of similar length, Adam 2e-3, clip 5; or the flags given after
               `--`), its rate from the summary's examples_per_sec; then classify_torch.py train
               with the same flags from the run's init.safetensors; --repeats times at each
               thread count of --threads, each side at its faster thread count (target: recur /
               PyTorch >= 2). Both sides' validation accuracy after S steps is in the run records.
  predict      examples/s of `recur predict MODEL TEST` (the whole process, minus the median time
               of the same command on an empty file: start-up and model loading) against
               classify_torch.py predict (length-sorted, padded and packed batches of 64; reading
               and tokenising the file included, loading the model excluded), MODEL being the
               train part's recur model (else a short recur run's); each side at its faster
               thread count (target: recur / PyTorch >= 3).
  equivalence  `recur predict MODEL TEST --json` against classify_torch.py predict --json, and
               the plain "LABEL<TAB>p" lines of both: as many lines, the same label on every
               line, every probability within 1e-4 (the plain lines' four decimals within one
               unit); prints PASS or FAIL with the worst difference.

    /usr/bin/python3 bench/classify_compare.py [--build build] [--data data/spam/train.tsv]
        [--val data/spam/valid.tsv] [--test data/spam/test.tsv] [--parts train,predict,equivalence]
        [--steps 40] [--repeats 3] [--threads 1,2] [--malloc default|keep] [--max-wait 20] [--keep]
        [-- extra flags for both sides' trainings, e.g. -- --cell gru --pool last]

--malloc keep runs every process of both sides with glibc's malloc told to keep freed memory
(word_compare.KEEP_MALLOC: no mmap/munmap per large tensor, no trimming); the default is the
machine as it is, as a PyTorch user gets it; the report says which was used.

Parts that need a model another part makes (predict, equivalence) train one with recur
(--steps steps) when the train part is not run. Before each timed run the script waits (up to
--max-wait seconds) for other processes to use less than a quarter of a core and records the
load it saw: figures taken on a busy machine are marked. With the defaults it takes roughly 10
minutes on a 2-core machine (an estimate from 3-step runs), most of it PyTorch's training.
"""
import argparse
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
from char_compare import BUSY, last_json, run, wait_until_quiet  # noqa: E402
from word_compare import KEEP_MALLOC, best_of, json_lines  # noqa: E402

TORCH_SCRIPT = os.path.join(HERE, "classify_torch.py")
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "spam"))
TOLERANCE = 1e-4  # predict equivalence, absolute, on the probabilities
TARGETS = {"train": 2.0, "predict": 3.0}
UNITS = {"train": "training examples/s", "predict": "`predict` examples/s"}


def train_flags(args):
    return ["--val", args.val, "--max-steps", str(args.steps), "--eval-every", str(args.steps)] + args.extra


def recur_train(args, out, threads):
    command = [args.recur, "train", "--task", "classify", args.data, "--out", out, "--overwrite", "--json",
               "--max-time", "0", "--print-every", "0", "--sample-length", "0", "--threads",
               str(threads)] + train_flags(args)
    return last_json(run(command, threads)[0])


def torch_train(args, threads, init):
    command = [sys.executable, TORCH_SCRIPT, "train", args.data, "--threads", str(threads), "--init",
               init] + train_flags(args)
    return last_json(run(command, threads)[0])


def torch_predict(model, path, threads, *flags):
    """classify_torch.py predict's stdout and its timing (the JSON line on stderr)."""
    command = [sys.executable, TORCH_SCRIPT, "predict", model, path, "--threads", str(threads), *flags]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return result.stdout, json.loads(result.stderr.strip().splitlines()[-1])


def final(values):
    """The value at the last step of a by-step dict (recur's summary gives numbers)."""
    if isinstance(values, dict):
        return values[max(values, key=int)] if values else None
    return values


# ------------------------------------------------------------------ the parts


def train_speed(args, work, results, models):
    rates = {side: {n: [] for n in args.threads} for side in ("recur", "torch")}
    busiest = 0.0
    out = os.path.join(work, "train")
    for _ in range(args.repeats):
        for threads in args.threads:
            for side in ("recur", "torch"):
                others = wait_until_quiet(args)
                busiest = max(busiest, others)
                if side == "recur":
                    summary = recur_train(args, out, threads)
                    with open(os.path.join(out, "metrics.jsonl")) as f:
                        accuracy = json.loads(f.read().splitlines()[-1]).get("val_accuracy")
                else:
                    summary = torch_train(args, threads, os.path.join(out, "init.safetensors"))
                    accuracy = final(summary.get("val_accuracy"))
                rate = summary["examples_per_sec"]
                rates[side][threads].append(rate)
                print(json.dumps({"bench": "classify", "kind": "train", "side": side, "threads": threads,
                                  "examples_per_sec": rate, "steps": summary["steps"],
                                  "train_loss": final(summary.get("train_loss")), "val_accuracy": accuracy,
                                  "busy_cores_before": round(others, 2)}), flush=True)
    # The model predict and equivalence read: the last recur run's (its files are overwritten by each).
    models["trained"] = os.path.join(out, "best.safetensors")
    for side, by_threads in rates.items():
        results["train", side] = {n: statistics.median(v) for n, v in by_threads.items()}
    results["train", "busy"] = busiest


def ensure_model(args, work, models):
    """The train part's recur model, else a short recur run's."""
    if "trained" not in models:
        out = os.path.join(work, "model")
        recur_train(args, out, max(args.threads))
        models["trained"] = os.path.join(out, "best.safetensors")
    return models["trained"]


def count_lines(path):
    """The lines recur predict reads: split at '\\n'; an empty tail is none."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    return len(lines) - (lines[-1] == b"")


def predict_speed(args, work, results, models):
    model = ensure_model(args, work, models)
    empty = os.path.join(work, "empty.tsv")
    open(empty, "w").close()
    lines = count_lines(args.test)
    times = {side: {n: [] for n in args.threads} for side in ("recur", "torch")}
    busiest = 0.0
    for _ in range(args.repeats):
        for threads in args.threads:
            for side in ("recur", "torch"):
                others = wait_until_quiet(args)
                busiest = max(busiest, others)
                if side == "recur":
                    base = [args.recur, "predict", model, "--threads", str(threads)]
                    seconds = run(base + [args.test], threads)[1]
                    startup = run(base + [empty], threads)[1]
                else:
                    seconds, startup = torch_predict(model, args.test, threads)[1]["seconds"], 0.0
                times[side][threads].append((seconds, startup))
                print(json.dumps({"bench": "classify", "kind": "predict", "side": side, "threads": threads,
                                  "seconds": seconds, "startup_seconds": startup,
                                  "examples_per_sec": lines / (seconds - startup) if seconds > startup else None,
                                  "busy_cores_before": round(others, 2)}), flush=True)
    for side, by_threads in times.items():
        rates = {}
        for threads, runs in by_threads.items():
            work_seconds = statistics.median(s for s, _ in runs) - statistics.median(u for _, u in runs)
            rates[threads] = lines / work_seconds if work_seconds > 0 else float("nan")
        results["predict", side] = rates
    results["predict", "busy"] = busiest
    results["predict_lines"] = lines


def equivalence(args, work, models):
    model = ensure_model(args, work, models)
    threads = max(args.threads)
    print(f"# equivalence: {os.path.relpath(model, work)} on {os.path.relpath(args.test)}", flush=True)
    recur_json = json_lines(run([args.recur, "predict", model, args.test, "--json", "--threads", str(threads)],
                                threads)[0])
    torch_json = json_lines(torch_predict(model, args.test, threads, "--json")[0])
    problems, worst, worst_line = [], 0.0, None
    if len(recur_json) != len(torch_json):
        problems.append(f"{len(recur_json)} lines from recur, {len(torch_json)} from PyTorch")
    for i, (r, t) in enumerate(zip(recur_json, torch_json)):
        if r["label"] != t["label"] or set(r["probs"]) != set(t["probs"]):
            if len(problems) < 5:
                problems.append(f"line {i + 1}: recur {r['label']} {r['prob']:.6f}, "
                                f"PyTorch {t['label']} {t['prob']:.6f}")
            continue
        diff = max(abs(p - t["probs"][label]) for label, p in r["probs"].items())
        if diff > worst:
            worst, worst_line = diff, i + 1
    ok = not problems and worst <= TOLERANCE
    print(f"predict --json: {'PASS' if ok else 'FAIL'}: {len(torch_json)} lines, worst difference of a probability "
          f"{worst:.2e} (line {worst_line}; tolerance {TOLERANCE:g}){'; ' + '; '.join(problems) if problems else ''}",
          flush=True)
    recur_plain = run([args.recur, "predict", model, args.test, "--threads", str(threads)], threads)[0].splitlines()
    torch_plain = torch_predict(model, args.test, threads)[0].splitlines()
    same, plain_problems = 0, []
    if len(recur_plain) != len(torch_plain):
        plain_problems.append(f"{len(recur_plain)} lines from recur, {len(torch_plain)} from PyTorch")
    for i, (r, t) in enumerate(zip(recur_plain, torch_plain)):
        same += r == t
        (r_label, _, r_prob), (t_label, _, t_prob) = r.partition("\t"), t.partition("\t")
        if r_label != t_label or abs(float(r_prob) - float(t_prob)) > TOLERANCE * 1.001:
            if len(plain_problems) < 5:
                plain_problems.append(f"line {i + 1}: recur {r!r}, PyTorch {t!r}")
    plain_ok = not plain_problems
    rest = "" if same == len(recur_plain) else (", the rest within one unit of the last decimal" if plain_ok
                                                else ", the rest NOT all within one unit of the last decimal")
    print(f"predict: {'PASS' if plain_ok else 'FAIL'}: {same} of {len(recur_plain)} lines identical{rest}"
          f"{'; ' + '; '.join(plain_problems) if plain_problems else ''}\n", flush=True)
    return ok and plain_ok


# ------------------------------------------------------------------ the report


def report(args, results, seconds, others_at_start, passed):
    malloc_settings = (" (" + " ".join(f"{k}={v}" for k, v in KEEP_MALLOC.items()) + ")"
                       if args.malloc == "keep" else "")
    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    model = " ".join(args.extra) if args.extra else "the CLI's defaults: bidirectional LSTM 1x128, embed 128, max pool"
    print(f"\n# recur ({os.path.normpath(args.build)}) vs PyTorch {torch_version}, text classifier ({model}), "
          f"{os.path.relpath(args.data)} (train: {args.steps} steps of up to 32 texts), "
          f"{os.path.relpath(args.test)} ({results.get('predict_lines', '-')} lines, predict), {os.cpu_count()} cores, "
          f"glibc malloc {args.malloc}{malloc_settings}, other processes {others_at_start:.2f} cores at the start; "
          f"medians of {args.repeats} runs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{seconds:.0f} s in all")
    kinds = [kind for kind in ("train", "predict") if (kind, "recur") in results]
    if kinds:
        print(f"\nEach side at its faster thread count of {','.join(map(str, args.threads))}:\n")
        print("| measurement | recur | PyTorch | recur / PyTorch | target | verdict |")
        print("| --- | ---: | ---: | ---: | --- | --- |")
    for kind in kinds:
        (r, rn), (t, tn) = best_of(results[kind, "recur"]), best_of(results[kind, "torch"])
        busy = results[kind, "busy"]
        note = f" (busy machine: {busy:.2f} cores in use by others)" if busy > BUSY else ""
        ratio = r / t
        verdict = "meets" if ratio >= TARGETS[kind] else "MISSES"
        print(f"| {UNITS[kind]} | {r:,.1f} ({rn}t) | {t:,.1f} ({tn}t) | {ratio:.2f} | ≥ {TARGETS[kind]:g} | "
              f"{verdict}{note} |")
    if passed is not None:
        print(f"\npredict equivalence (same labels, probabilities within {TOLERANCE:g}): "
              f"{'PASS' if passed else 'FAIL'}")
    if kinds:
        print("\nEvery side at every thread count (medians):\n")
        print("| measurement | threads | recur | PyTorch | recur / PyTorch |")
        print("| --- | ---: | ---: | ---: | ---: |")
    for kind in kinds:
        for n in args.threads:
            r, t = results[kind, "recur"][n], results[kind, "torch"][n]
            print(f"| {UNITS[kind]} | {n} | {r:,.1f} | {t:,.1f} | {r / t:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--data", default=os.path.join(DATA, "train.tsv"))
    parser.add_argument("--val", default=os.path.join(DATA, "valid.tsv"))
    parser.add_argument("--test", default=os.path.join(DATA, "test.tsv"), help="the texts predict reads")
    parser.add_argument("--parts", default="train,predict,equivalence")
    parser.add_argument("--steps", type=int, default=40, help="training steps per speed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--malloc", choices=["default", "keep"], default="default",
                        help="keep: glibc malloc keeps freed memory in every process of both sides")
    parser.add_argument("--max-wait", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the runs' directories (printed)")
    args, extra = parser.parse_known_args()
    args.extra = [a for a in extra if a != "--"]
    args.threads = [int(n) for n in args.threads.split(",")]
    parts = args.parts.split(",")
    unknown = set(parts) - {"train", "predict", "equivalence"}
    if unknown:
        parser.error(f"--parts: unknown part(s) {', '.join(sorted(unknown))}")
    args.recur = os.path.join(args.build, "recur")
    if not os.access(args.recur, os.X_OK):
        sys.exit(f"classify_compare.py: no {args.recur}; build it (cmake --build BUILD_DIR --target recur_cli)")
    for path in (args.data, args.val, args.test):
        if not os.path.exists(path):
            sys.exit(f"classify_compare.py: no {path} (scripts/get-data spam)")
    if args.malloc == "keep":
        os.environ.update(KEEP_MALLOC)  # inherited by every command of both sides
    args.own_load = 0.0  # wait_until_quiet's: no busy loops of our own
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))

    work = tempfile.mkdtemp(prefix="recur-classify-bench-")
    began = time.monotonic()
    results, models = {}, {}
    passed = None
    try:
        others_at_start = wait_until_quiet(args)
        if "train" in parts:
            train_speed(args, work, results, models)
        if "predict" in parts:
            predict_speed(args, work, results, models)
        if "equivalence" in parts:
            passed = equivalence(args, work, models)
    finally:
        if args.keep:
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if any(key[0] in ("train", "predict") for key in results if isinstance(key, tuple)) or passed is not None:
        report(args, results, time.monotonic() - began, others_at_start, passed)
    sys.exit(0 if passed is not False else 1)


if __name__ == "__main__":
    main()
