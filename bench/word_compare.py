#!/usr/bin/python3
"""`scripts/bench word`: the `recur` CLI on word-level language models against the same models
in PyTorch (bench/word_torch.py), side by side in one invocation on one machine (issue 12,
"Equivalence" and "Speed"). Every rate is a median of --repeats runs; sides alternate.

  quality      `recur train TEXT --tokens word --min-count 4 --val VAL --max-steps S --eval-every E
               --dropout 0` (the CLI's word model: 2-layer LSTM, hidden 256, embed 256, B=32,
               T=35, Adam 2e-3, clip 5; or the flags given after `--`), then word_torch.py from
               the run's init.safetensors with the same flags: both validation perplexities at
               equal steps and their relative difference (target: within 2%; dropout 0, so the
               two differ by float rounding only).
  train        training speed, tokens/s (B*T per step over the training time, evaluation
               excluded: recur's from `recur train --json`, PyTorch's from word_torch.py), the
               CLI's word model on TEXT with --min-count 4 (the Brown vocabulary: 14,115 words),
               with a full softmax and with --adaptive-softmax 2000,10000, dropout 0.3 (the
               default), a 0.2% validation split so the one evaluation at the end is short;
               --speed-steps steps, --repeats times at each thread count of --threads; each side
               at its faster thread count. Targets: recur / PyTorch >= 1.3 with the full softmax;
               recur adaptive / recur full >= 2.5.
  adaptive     the cost of --adaptive-softmax 2000,10000 in quality: recur trains the CLI's word
               model on TEXT twice with the same flags and seed (dropout 0.3, the default), with a
               full softmax and with the adaptive one, --adaptive-steps steps, validation on VAL
               every --adaptive-eval; both validation perplexities at every evaluation and how
               much worse the adaptive one is (target: at most 3% at equal steps).
  score        sentences/s of `recur score MODEL VAL` (the whole process, minus the median time
               of the same command on an empty file: start-up and model loading) against
               word_torch.py score (length-sorted, padded and packed batches of 64; reading and
               tokenising the file included, loading the model excluded), for the full-softmax
               and the adaptive model the train part saved; each side at its faster thread count
               (target: recur / PyTorch >= 2).
  equivalence  `recur eval MODEL VAL --json` against word_torch.py eval, and `recur score MODEL
               VAL` against word_torch.py score line by line, for the quality run's model (full
               softmax) and the train part's adaptive model: token counts equal, every
               log-likelihood within 1e-4 relative; prints PASS or FAIL with the worst relative
               difference.

    /usr/bin/python3 bench/word_compare.py [--build build] [--text data/brown/train.txt]
        [--val data/brown/valid.txt] [--parts quality,adaptive,train,score,equivalence]
        [--quality-steps 300] [--quality-eval 100] [--adaptive-steps 2000] [--adaptive-eval 500] [--speed-steps 40,100] [--repeats 3]
        [--threads 1,2] [--malloc default|keep] [--max-wait 20] [--keep]
        [-- extra flags for both trainings of `quality`]

--malloc keep runs every process of both sides with glibc's malloc told to keep freed memory
(KEEP_MALLOC below: no mmap/munmap per large tensor, no trimming). PyTorch's CPU tensors come
from glibc malloc, which by default maps every block above 32 MB afresh and unmaps it on free,
so each training step with a full softmax (logits and their gradients, [B*T, V] = 63 MB each)
page-faults its buffers in again: measured on 2026-12-05, that halves PyTorch's full-softmax
training speed. The default (`--malloc default`) is the machine as it is, as a PyTorch user
gets it; the report says which was used.

Parts that need a model another part makes (score, equivalence) train one with recur (a few
steps) when that part is not run. Before each timed run the script waits (up to --max-wait
seconds) for other processes to use less than a quarter of a core and records the load it
saw: figures taken on a busy machine are marked. With the defaults it takes about 55 minutes
on a 2-core machine (quality and equivalence about 15, adaptive 12, train and score 13 to
22), most of it PyTorch's side.
"""
import argparse
import json
import math
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

TORCH_SCRIPT = os.path.join(HERE, "word_torch.py")
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "brown"))
VOCAB_FLAGS = ["--tokens", "word", "--min-count", "4"]
HEADS = {"full": [], "adaptive": ["--adaptive-softmax", "2000,10000"]}
TOLERANCE = 1e-4  # eval / score equivalence, relative
KEEP_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736",
               "MALLOC_TOP_PAD_": "536870912"}


def recur_train(args, out, flags, threads):
    command = [args.recur, "train", args.text, "--out", out, "--overwrite", "--json", "--max-time", "0",
               "--print-every", "0", "--sample-length", "0", "--threads", str(threads)] + flags
    return last_json(run(command, threads)[0])


def torch_train(args, flags, threads, init=None):
    command = [sys.executable, TORCH_SCRIPT, "train", args.text, "--threads", str(threads)] + flags
    if init:
        command += ["--init", init]
    return last_json(run(command, threads)[0])


def json_lines(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def relative(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


# ------------------------------------------------------------------ the parts


def quality(args, work, models):
    out = os.path.join(work, "quality")
    flags = VOCAB_FLAGS + ["--val", args.val, "--max-steps", str(args.quality_steps), "--eval-every",
                           str(args.quality_eval), "--dropout", "0"] + args.extra
    threads = max(args.threads)
    print(f"# quality: recur train {os.path.relpath(args.text)} {' '.join(flags)}, then word_torch.py from its "
          f"init.safetensors ({threads} threads)", flush=True)
    recur_train(args, out, flags, threads)
    recur = {}
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if "val_loss" in record:
                recur[record["step"]] = record["val_loss"]
    models["full"] = os.path.join(out, "best.safetensors")
    torch_losses = {int(s): v for s, v in
                    torch_train(args, flags, threads, os.path.join(out, "init.safetensors"))["val_loss"].items()}
    print("| step | recur val perplexity | PyTorch val perplexity | relative difference | recur val loss | "
          "PyTorch val loss |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    worst = 0.0
    for step in sorted(set(recur) | set(torch_losses)):
        r, t = recur.get(step), torch_losses.get(step)
        if r is None or t is None:
            print(f"| {step} | {'-' if r is None else f'{math.exp(r):.3f}'} | "
                  f"{'-' if t is None else f'{math.exp(t):.3f}'} | missing | | |")
            worst = float("inf")
            continue
        diff = relative(math.exp(r), math.exp(t))
        worst = max(worst, diff)
        print(f"| {step} | {math.exp(r):.3f} | {math.exp(t):.3f} | {diff:.2e} | {r:.6f} | {t:.6f} |")
    verdict = "within" if worst <= 0.02 else "NOT within"
    print(f"largest relative difference of the perplexities {worst:.2e}: {verdict} the 2% target\n", flush=True)


def adaptive_quality(args, work):
    flags = VOCAB_FLAGS + ["--val", args.val, "--max-steps", str(args.adaptive_steps), "--eval-every",
                           str(args.adaptive_eval)]
    threads = max(args.threads)
    print(f"# adaptive: recur train {os.path.relpath(args.text)} {' '.join(flags)} [{' '.join(HEADS['adaptive'])}] "
          f"({threads} threads)", flush=True)
    perplexities = {}
    for head in HEADS:
        out = os.path.join(work, f"adaptive_{head}")
        recur_train(args, out, flags + HEADS[head], threads)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f]
        perplexities[head] = {r["step"]: math.exp(r["val_loss"]) for r in records if "val_loss" in r}
    print("| step | full softmax val perplexity | adaptive val perplexity | adaptive worse by |")
    print("| ---: | ---: | ---: | ---: |")
    for step in sorted(perplexities["full"]):
        full, adaptive = perplexities["full"][step], perplexities["adaptive"].get(step, float("nan"))
        print(f"| {step} | {full:.2f} | {adaptive:.2f} | {100 * (adaptive / full - 1):+.2f}% |")
    last = max(perplexities["full"])
    worse = perplexities["adaptive"].get(last, float("nan")) / perplexities["full"][last] - 1
    verdict = "within" if worse <= 0.03 else "NOT within"
    print(f"at step {last} the adaptive softmax is {100 * worse:+.2f}% in perplexity: {verdict} the 3% target\n",
          flush=True)


def speed_flags(args, head):
    # Evaluation is excluded from the rates; the small validation split keeps the last one short.
    return VOCAB_FLAGS + ["--val-fraction", "0.002", "--test-fraction", "0", "--max-steps",
                          str(args.speed_steps[head]), "--eval-every", "0"] + HEADS[head]


def train_speed(args, work, results, models):
    for head in HEADS:
        flags = speed_flags(args, head)
        rates = {side: {n: [] for n in args.threads} for side in ("recur", "torch")}
        busiest = 0.0
        for _ in range(args.repeats):
            for threads in args.threads:
                for side in ("recur", "torch"):
                    others = wait_until_quiet(args)
                    busiest = max(busiest, others)
                    if side == "recur":
                        out = os.path.join(work, f"train_{head}")
                        rate = recur_train(args, out, flags, threads)["tokens_per_sec"]
                        models.setdefault(head if head == "adaptive" else "full_speed",
                                          os.path.join(out, "best.safetensors"))
                    else:
                        rate = torch_train(args, flags, threads)["tokens_per_sec"]
                    rates[side][threads].append(rate)
                    print(json.dumps({"bench": "word", "kind": "train", "head": head, "side": side,
                                      "threads": threads, "tokens_per_sec": rate,
                                      "busy_cores_before": round(others, 2)}), flush=True)
        for side, by_threads in rates.items():
            results["train", head, side] = {n: statistics.median(v) for n, v in by_threads.items()}
        results["train", head, "busy"] = busiest


def ensure_model(args, work, models, head):
    """A recur model with this head: the quality or train part's, else a short run of its own."""
    if head == "full" and "full" not in models and "full_speed" in models:
        models["full"] = models["full_speed"]
    if head not in models:
        out = os.path.join(work, f"model_{head}")
        recur_train(args, out, VOCAB_FLAGS + ["--val-fraction", "0.002", "--test-fraction", "0", "--max-steps", "20",
                                              "--eval-every", "0"] + HEADS[head], max(args.threads))
        models[head] = os.path.join(out, "best.safetensors")
    return models[head]


def score_speed(args, work, results, models):
    empty = os.path.join(work, "empty.txt")
    open(empty, "w").close()
    with open(args.val, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    lines = len(lines) - (lines[-1] == "")  # the lines recur score reads: an empty tail is none
    for head in HEADS:
        model = ensure_model(args, work, models, head)
        times = {side: {n: [] for n in args.threads} for side in ("recur", "torch")}
        busiest = 0.0
        for _ in range(args.repeats):
            for threads in args.threads:
                for side in ("recur", "torch"):
                    others = wait_until_quiet(args)
                    busiest = max(busiest, others)
                    if side == "recur":
                        base = [args.recur, "score", model, "--threads", str(threads)]
                        seconds = run(base + [args.val], threads)[1]
                        startup = run(base + [empty], threads)[1]
                    else:
                        command = [sys.executable, TORCH_SCRIPT, "score", model, args.val, "--timing",
                                   "--threads", str(threads)]
                        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
                        result = subprocess.run(command, capture_output=True, text=True, env=env)
                        if result.returncode != 0:
                            sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
                        timing = json.loads(result.stderr.strip().splitlines()[-1])["timing"]
                        seconds, startup = timing["seconds"], 0.0
                    times[side][threads].append((seconds, startup))
                    print(json.dumps({"bench": "word", "kind": "score", "head": head, "side": side,
                                      "threads": threads, "seconds": seconds, "startup_seconds": startup,
                                      "sentences_per_sec": lines / (seconds - startup) if seconds > startup else None,
                                      "busy_cores_before": round(others, 2)}), flush=True)
        for side, by_threads in times.items():
            rates = {}
            for threads, runs in by_threads.items():
                work_seconds = statistics.median(s for s, _ in runs) - statistics.median(u for _, u in runs)
                rates[threads] = lines / work_seconds if work_seconds > 0 else float("nan")
            results["score", head, side] = rates
        results["score", head, "busy"] = busiest
    results["score_lines"] = lines


def equivalence(args, work, models):
    threads = max(args.threads)
    verdicts = []
    for head in HEADS:
        model = ensure_model(args, work, models, head)
        print(f"# equivalence ({head} softmax): {os.path.relpath(model, work)} on {os.path.relpath(args.val)}",
              flush=True)
        recur_eval = last_json(run([args.recur, "eval", model, args.val, "--json", "--threads", str(threads)],
                                   threads)[0])
        torch_eval = last_json(run([sys.executable, TORCH_SCRIPT, "eval", model, args.val, "--threads",
                                    str(threads)], threads)[0])
        print("| eval | recur | PyTorch | relative difference |")
        print("| --- | ---: | ---: | ---: |")
        worst, counts_equal = 0.0, True
        for key in ("tokens", "predicted", "unknown"):
            counts_equal &= recur_eval[key] == torch_eval[key]
            same = recur_eval[key] == torch_eval[key]
            print(f"| {key} | {recur_eval[key]} | {torch_eval[key]} | {'equal' if same else 'DIFFERENT'} |")
        for key in ("nll_nats", "nats_per_token", "bits_per_token", "perplexity"):
            diff = relative(recur_eval[key], torch_eval[key])
            worst = max(worst, diff)
            print(f"| {key} | {recur_eval[key]:.6f} | {torch_eval[key]:.6f} | {diff:.2e} |")
        ok = counts_equal and worst <= TOLERANCE
        verdicts.append(ok)
        print(f"eval ({head}): {'PASS' if ok else 'FAIL'}: worst relative difference {worst:.2e} "
              f"(tolerance {TOLERANCE:g}){'' if counts_equal else '; the token counts differ'}\n", flush=True)
        recur_lines = json_lines(run([args.recur, "score", model, args.val, "--per-token", "--threads",
                                      str(threads)], threads)[0])
        torch_lines = json_lines(run([sys.executable, TORCH_SCRIPT, "score", model, args.val, "--per-token",
                                      "--threads", str(threads)], threads)[0])
        problems, worst, worst_line, worst_token = [], 0.0, None, 0.0
        if len(recur_lines) != len(torch_lines):
            problems.append(f"{len(recur_lines)} lines from recur, {len(torch_lines)} from PyTorch")
        for i, (r, t) in enumerate(zip(recur_lines, torch_lines)):
            if r["tokens"] != t["tokens"] or r["unknown"] != t["unknown"]:
                if len(problems) < 5:
                    problems.append(f"line {i + 1}: tokens {r['tokens']} / {t['tokens']}, unknown {r['unknown']} / "
                                    f"{t['unknown']}")
                continue
            diff = relative(r["logprob"], t["logprob"])
            if diff > worst:
                worst, worst_line = diff, i + 1
            for a, b in zip(r.get("token_logprobs", []), t.get("token_logprobs", [])):
                worst_token = max(worst_token, abs(a - b) / max(abs(b), 1.0))
        ok = not problems and worst <= TOLERANCE
        verdicts.append(ok)
        print(f"score ({head}): {'PASS' if ok else 'FAIL'}: {len(torch_lines)} lines, worst relative difference of "
              f"a line's log-probability {worst:.2e} (line {worst_line}), of a token's {worst_token:.2e} "
              f"(tolerance {TOLERANCE:g}){'; ' + '; '.join(problems) if problems else ''}\n", flush=True)
    return all(verdicts)


# ------------------------------------------------------------------ the report


def best_of(medians):
    """(value, threads) with the highest median (nan, a run too short to time, loses)."""
    threads = max(medians, key=lambda n: (medians[n] == medians[n], medians[n]))
    return medians[threads], threads


def report(args, results, seconds, others_at_start):
    malloc_settings = (" (" + " ".join(f"{k}={v}" for k, v in KEEP_MALLOC.items()) + ")"
                       if args.malloc == "keep" else "")
    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    print(f"\n# recur ({os.path.normpath(args.build)}) vs PyTorch {torch_version}, word LM 2-layer LSTM, hidden 256, "
          f"embed 256, {os.path.relpath(args.text)} --min-count 4, {os.cpu_count()} cores, glibc malloc {args.malloc}"
          f"{malloc_settings}, other processes "
          f"{others_at_start:.2f} cores at the start; train: B=32 T=35, {args.speed_steps['full']} / "
          f"{args.speed_steps['adaptive']} steps (full / adaptive); medians of {args.repeats} runs; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds:.0f} s in all")
    print(f"\nEach side at its faster thread count of {','.join(map(str, args.threads))}:\n")
    print("| measurement | recur | PyTorch | recur / PyTorch | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    targets = {("train", "full"): "≥ 1.3", ("score", "full"): "≥ 2", ("score", "adaptive"): "≥ 2"}
    units = {"train": "tokens/s", "score": "sentences/s"}
    for kind in ("train", "score"):
        for head in HEADS:
            if (kind, head, "recur") not in results:
                continue
            (r, rn), (t, tn) = best_of(results[kind, head, "recur"]), best_of(results[kind, head, "torch"])
            busy = results[kind, head, "busy"]
            note = f" (busy machine: {busy:.2f} cores in use by others)" if busy > BUSY else ""
            print(f"| {kind} {head} softmax, {units[kind]} | {r:,.0f} ({rn}t) | {t:,.0f} ({tn}t) | {r / t:.2f} | "
                  f"{targets.get((kind, head), '-')}{note} |")
    if ("train", "adaptive", "recur") in results and ("train", "full", "recur") in results:
        print("\n| adaptive / full softmax, tokens/s at the faster thread count | ratio | target |")
        print("| --- | ---: | --- |")
        for side, label, target in (("recur", "recur", "≥ 2.5"), ("torch", "PyTorch", "-")):
            ratio = best_of(results["train", "adaptive", side])[0] / best_of(results["train", "full", side])[0]
            print(f"| {label} | {ratio:.2f} | {target} |")
    print("\nEvery side at every thread count (medians):\n")
    print("| measurement | threads | recur | PyTorch | recur / PyTorch |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("train", "score"):
        for head in HEADS:
            if (kind, head, "recur") not in results:
                continue
            for n in args.threads:
                r, t = results[kind, head, "recur"][n], results[kind, head, "torch"][n]
                print(f"| {kind} {head} | {n} | {r:,.0f} | {t:,.0f} | {r / t:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--text", default=os.path.join(DATA, "train.txt"))
    parser.add_argument("--val", default=os.path.join(DATA, "valid.txt"))
    parser.add_argument("--parts", default="quality,adaptive,train,score,equivalence")
    parser.add_argument("--quality-steps", type=int, default=300)
    parser.add_argument("--quality-eval", type=int, default=100)
    parser.add_argument("--adaptive-steps", type=int, default=2000)
    parser.add_argument("--adaptive-eval", type=int, default=500)
    parser.add_argument("--speed-steps", default="40,100", help="training steps per speed run: full,adaptive")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--malloc", choices=["default", "keep"], default="default",
                        help="keep: glibc malloc keeps freed memory in every process of both sides")
    parser.add_argument("--max-wait", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the runs' directories (printed)")
    args, extra = parser.parse_known_args()
    args.extra = [a for a in extra if a != "--"]
    args.threads = [int(n) for n in args.threads.split(",")]
    steps = [int(s) for s in args.speed_steps.split(",")]
    args.speed_steps = dict(zip(HEADS, steps if len(steps) == 2 else steps * 2))
    parts = args.parts.split(",")
    unknown = set(parts) - {"quality", "adaptive", "train", "score", "equivalence"}
    if unknown:
        parser.error(f"--parts: unknown part(s) {', '.join(sorted(unknown))}")
    args.recur = os.path.join(args.build, "recur")
    if not os.access(args.recur, os.X_OK):
        sys.exit(f"word_compare.py: no {args.recur}; build it (cmake --build BUILD_DIR --target recur_cli)")
    for path in (args.text, args.val):
        if not os.path.exists(path):
            sys.exit(f"word_compare.py: no {path} (scripts/get-data brown)")
    if args.malloc == "keep":
        os.environ.update(KEEP_MALLOC)  # inherited by every command of both sides
    args.own_load = 0.0  # wait_until_quiet's: no busy loops of our own
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))

    work = tempfile.mkdtemp(prefix="recur-word-bench-")
    began = time.monotonic()
    results, models = {}, {}
    passed = True
    try:
        if "quality" in parts:
            quality(args, work, models)
        if "adaptive" in parts:
            adaptive_quality(args, work)
        others_at_start = wait_until_quiet(args)
        if "train" in parts:
            train_speed(args, work, results, models)
        if "score" in parts:
            score_speed(args, work, results, models)
        if "equivalence" in parts:
            passed = equivalence(args, work, models)
    finally:
        if args.keep:
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if any(key[0] in ("train", "score") for key in results if isinstance(key, tuple)):
        report(args, results, time.monotonic() - began, others_at_start)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
