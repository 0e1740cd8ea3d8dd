#!/usr/bin/python3
"""`scripts/bench seq2seq`: the `recur` CLI's sequence-to-sequence model against the same model in
PyTorch (bench/seq2seq_torch.py: a packed encoder, the decoder stepped one token at a time with
input feeding, recur's batch-parallel beam search), side by side in one invocation on one machine
(issue 14, "Speed"), on CMUdict (data/cmudict: scripts/get-data cmudict): characters of a word to
the words of its pronunciation. Every rate is a median of --repeats runs; sides alternate.

  train        training speed (recur's measure on both sides: steps * training examples /
               batches per epoch, over the time of the training steps, setup and evaluation
               excluded; an example is a distinct source with all its targets): `recur train
               --task seq2seq DATA --tgt-tokens word --val VAL --max-steps S --eval-every S
               --json` (the CLI's model: LSTM encoder 2 layers bidirectional, decoder 2 layers,
               hidden 256, embed 128, bahdanau attention, dropout 0.2, batches of 32 sources of
               similar length, Adam 2e-3, clip 5; or the flags given after `--`), its rate from
               the summary's examples_per_sec; then seq2seq_torch.py train with the same flags
               from the run's init.safetensors; --repeats times at each thread count of
               --threads, each side at its faster thread count. Target tokens/s is both sides'
               examples/s times the mean target tokens per example of DATA (every target of the
               source, each with its <eos>), which this script counts once from DATA (the
               sources' tokens as --src-tokens splits them, default characters; the targets' as
               --tgt-tokens, default words): a constant factor, so the ratio is the examples'
               (target: recur / PyTorch >= 2). Both sides' validation loss and sequence error rate
               after S steps are in the run records.
  decode       beam-5 decoding, words (sources, a line each) per second, of `recur predict MODEL
               TEST --beam 5` (the whole process, minus the median time of the same command on an
               empty file: start-up and model loading) against seq2seq_torch.py predict MODEL TEST
               --beam 5 (its own timer: reading and tokenising the file, decoding in batches of 64
               of similar length, writing; loading the model excluded), TEST being the first
               --test-lines lines of --test (SOURCE<TAB>TARGET lines: both read the source before
               the tab; a word given twice is decoded twice), MODEL the train part's recur model
               (else a short recur run's, or --model); each side at its faster thread count
               (target: recur / PyTorch >= 3). The work per word depends on the lengths of the
               outputs the model writes (at most 2 x its batch's longest source + 10 tokens): a
               barely trained model may end every output at once; the records and the report give
               PyTorch's mean output tokens per word, and --model takes a trained model instead.
  equivalence  `recur predict MODEL TEST --beam B --json` against seq2seq_torch.py predict --beam B
               --json, for greedy decoding (B = 1) and B = 5: as many lines, the same source and
               the same best target on every line, every logprob within 1e-4 (absolute); prints
               PASS or FAIL with the worst difference for each.

    /usr/bin/python3 bench/seq2seq_compare.py [--build build] [--data data/cmudict/train.tsv]
        [--val data/cmudict/valid.tsv] [--test data/cmudict/test.tsv] [--test-lines 1000]
        [--steps 30] [--model RUN/best.safetensors] [--parts train,decode,equivalence]
        [--repeats 3] [--threads 1,2] [--malloc default|keep] [--max-wait 20] [--keep]
        [-- extra flags for both sides' trainings, e.g. -- --cell gru --attention dot]

The shared pieces are imported, not copied: running commands, the quiet-machine wait, the JSON
summaries (char_compare.py), KEEP_MALLOC and best_of (word_compare.py), the training and predict
commands, the line count and the last-step values (classify_compare.py). --malloc keep runs every
process of both sides with glibc's malloc told to keep freed memory (word_compare.KEEP_MALLOC);
the default is the machine as it is, as a PyTorch user gets it; the report says which was used.
Before each timed run the script waits (up to --max-wait seconds) for other processes to use less
than a quarter of a core and records the load it saw: figures taken on a busy machine are marked.
With the defaults it takes roughly 4 minutes on a 2-core machine (an estimate from a 3-step run of
every part and a decode of 200 words by a 30-step model, on a machine busy with other work; not a
measurement of the whole), most of it the trainings' validations and PyTorch's training.
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
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from char_compare import BUSY, run, wait_until_quiet  # noqa: E402
from classify_compare import count_lines, ensure_model, final, recur_train, torch_predict, torch_train  # noqa: E402
from word_compare import KEEP_MALLOC, best_of, json_lines  # noqa: E402

DATA = os.path.normpath(os.path.join(HERE, "..", "data", "cmudict"))
TOLERANCE = 1e-4  # the equivalence, absolute, on the best targets' logprobs
BEAM = 5
TARGETS = {"train_tokens": 2.0, "decode": 3.0}
PARTS = ["train", "decode", "equivalence"]
UNITS = {"train": "training examples/s", "train_tokens": "training target tokens/s",
         "decode": f"beam-{BEAM} decoding words/s"}


def flag_value(flags, name, default):
    """The last value of --name in a list of flags (--name V or --name=V), else default."""
    value = default
    for i, flag in enumerate(flags):
        if flag == name and i + 1 < len(flags):
            value = flags[i + 1]
        elif flag.startswith(name + "="):
            value = flag.split("=", 1)[1]
    return value


def target_tokens_per_example(task):
    """The mean target tokens of a training example (a distinct source: all its targets, each with
    its <eos>) in task.data, split as both sides split them (seq2seq_torch.read_pairs / split)."""
    from seq2seq_torch import read_pairs, split  # imports torch: only when the train part runs
    src_tokens = flag_value(task.extra, "--src-tokens", "char")
    tgt_tokens = flag_value(task.extra, "--tgt-tokens", "char")
    sources, tokens = set(), 0
    for source, target in read_pairs(task.data, src_tokens, tgt_tokens):
        sources.add(tuple(split(source, src_tokens)))
        tokens += len(split(target, tgt_tokens)) + 1
    return tokens / len(sources)


def record(kind, side, threads, others, **fields):
    print(json.dumps({"bench": "seq2seq", "kind": kind, "side": side, "threads": threads, **fields,
                      "busy_cores_before": round(others, 2)}), flush=True)


# ------------------------------------------------------------------ the parts


def train_speed(args, task, work, results, models):
    per_example = target_tokens_per_example(task)
    results["tokens_per_example"] = per_example
    rates = {side: {n: [] for n in args.threads} for side in ("recur", "torch")}
    busiest = 0.0
    out = os.path.join(work, "train")
    for _ in range(args.repeats):
        for threads in args.threads:
            for side in ("recur", "torch"):
                others = wait_until_quiet(args)
                busiest = max(busiest, others)
                if side == "recur":
                    summary = recur_train(args, task, out, threads)
                    with open(os.path.join(out, "metrics.jsonl")) as f:
                        last = json.loads(f.read().splitlines()[-1])
                    val_loss, val_ser = last.get("val_loss"), last.get("val_sequence_error_rate")
                else:
                    summary = torch_train(task, threads, os.path.join(out, "init.safetensors"))
                    val_loss, val_ser = final(summary.get("val_loss")), final(summary.get("val_sequence_error_rate"))
                rate = summary["examples_per_sec"]
                rates[side][threads].append(rate)
                record("train", side, threads, others, examples_per_sec=rate,
                       target_tokens_per_sec=rate * per_example, steps=summary["steps"],
                       train_loss=final(summary.get("train_loss")), val_loss=val_loss,
                       val_sequence_error_rate=val_ser)
    # The model decode and equivalence read: the last recur run's (its files are overwritten by each).
    models.setdefault(task.name, os.path.join(out, "best.safetensors"))
    for side, by_threads in rates.items():
        medians = {n: statistics.median(v) for n, v in by_threads.items()}
        results["train", side] = medians
        results["train_tokens", side] = {n: rate * per_example for n, rate in medians.items()}
    results["train", "busy"] = results["train_tokens", "busy"] = busiest


def decode_speed(args, task, work, results, models):
    model = ensure_model(args, task, work, models)
    empty = os.path.join(work, "empty.txt")
    open(empty, "w").close()
    lines = count_lines(task.test)
    times = {side: {n: [] for n in args.threads} for side in ("recur", "torch")}
    busiest, output_tokens = 0.0, None
    for _ in range(args.repeats):
        for threads in args.threads:
            for side in ("recur", "torch"):
                others = wait_until_quiet(args)
                busiest = max(busiest, others)
                extra = {}
                if side == "recur":
                    base = [args.recur, "predict", model, "--beam", str(BEAM), "--threads", str(threads)]
                    seconds = run(base + [task.test], threads)[1]
                    startup = run(base + [empty], threads)[1]
                else:
                    timing = torch_predict(task, model, task.test, threads, "--beam", str(BEAM))[1]
                    seconds, startup = timing["seconds"], 0.0
                    output_tokens = timing["output_tokens"]
                    extra["output_tokens_per_word"] = round(output_tokens / max(timing["examples"], 1), 3)
                times[side][threads].append((seconds, startup))
                record("decode", side, threads, others, seconds=seconds, startup_seconds=startup,
                       words_per_sec=lines / (seconds - startup) if seconds > startup else None, **extra)
    for side, by_threads in times.items():
        rates = {}
        for threads, runs in by_threads.items():
            work_seconds = statistics.median(s for s, _ in runs) - statistics.median(u for _, u in runs)
            rates[threads] = lines / work_seconds if work_seconds > 0 else float("nan")
        results["decode", side] = rates
    results["decode", "busy"] = busiest
    results["decode_output_tokens"] = output_tokens


def equivalence(args, task, work, models):
    """Greedy and beam-5 decoding: the same source and best target on every line, logprobs within TOLERANCE."""
    model = ensure_model(args, task, work, models)
    threads = max(args.threads)
    shown = os.path.relpath(model, work) if model.startswith(work) else os.path.relpath(model)
    print(f"# equivalence: {shown} on {args.test_count} lines of {os.path.relpath(args.test)}",
          flush=True)
    all_ok, all_worst, all_differ = True, 0.0, 0
    for beam in (1, BEAM):
        flags = ["--beam", str(beam), "--json"]
        recur_json = json_lines(run([args.recur, "predict", model, task.test, *flags, "--threads", str(threads)],
                                    threads)[0])
        torch_json = json_lines(torch_predict(task, model, task.test, threads, *flags)[0])
        problems, differ, worst, worst_line = [], 0, 0.0, None
        if len(recur_json) != len(torch_json):
            problems.append(f"{len(recur_json)} lines from recur, {len(torch_json)} from PyTorch")
        for i, (r, t) in enumerate(zip(recur_json, torch_json)):
            r_targets = [h["target"] for h in r["hypotheses"]]
            t_targets = [h["target"] for h in t["hypotheses"]]
            if r["source"] != t["source"] or r_targets != t_targets:
                differ += 1
                if len(problems) < 5:
                    problems.append(f"line {i + 1} {r['source']!r}: recur {r_targets}, PyTorch {t_targets}")
                continue
            for rh, th in zip(r["hypotheses"], t["hypotheses"]):
                diff = abs(rh["logprob"] - th["logprob"])
                if diff > worst:
                    worst, worst_line = diff, i + 1
        ok = not problems and worst <= TOLERANCE
        print(f"predict --beam {beam} --json: {'PASS' if ok else 'FAIL'}: {len(torch_json)} lines, {differ} with "
              f"other targets, worst difference of a logprob {worst:.2e} (line {worst_line}; tolerance "
              f"{TOLERANCE:g}){'; ' + '; '.join(problems) if problems else ''}\n", flush=True)
        all_ok, all_worst, all_differ = all_ok and ok, max(all_worst, worst), all_differ + differ
    return all_ok, all_worst, all_differ


# ------------------------------------------------------------------ the report


def report(args, task, results, seconds, others_at_start, passed):
    malloc_settings = (" (" + " ".join(f"{k}={v}" for k, v in KEEP_MALLOC.items()) + ")"
                       if args.malloc == "keep" else "")
    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    print(f"\n# recur ({os.path.normpath(args.build)}) vs PyTorch {torch_version}, {os.cpu_count()} cores, "
          f"glibc malloc {args.malloc}{malloc_settings}, other processes {others_at_start:.2f} cores at the start; "
          f"medians of {args.repeats} runs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{seconds:.0f} s in all")
    model = " ".join(task.extra)
    per_example = results.get("tokens_per_example")
    train_note = f", {per_example:.3f} target tokens per source with <eos>" if per_example else ""
    written = results.get("decode_output_tokens")
    decode_note = f", PyTorch wrote {written / args.test_count:.2f} tokens per word" if written is not None else ""
    model_note = f", model {os.path.relpath(args.model)}" if args.model else ""
    print(f"#   seq2seq ({model}; the CLI's defaults otherwise: LSTM encoder 2x256 bidirectional, decoder 2x256, "
          f"embed 128, bahdanau attention): {os.path.relpath(task.data)} (train: {task.steps} steps of up to 32 "
          f"sources{train_note}), {args.test_count} lines of {os.path.relpath(args.test)} (decode, beam {BEAM}"
          f"{decode_note}){model_note}")
    measured = [kind for kind in ("train", "train_tokens", "decode") if (kind, "recur") in results]
    if measured:
        print(f"\nEach side at its faster thread count of {','.join(map(str, args.threads))}:\n")
        print("| measurement | recur | PyTorch | recur / PyTorch | target | verdict |")
        print("| --- | ---: | ---: | ---: | --- | --- |")
    for kind in measured:
        (r, rn), (t, tn) = best_of(results[kind, "recur"]), best_of(results[kind, "torch"])
        busy = results[kind, "busy"]
        note = f" (busy machine: {busy:.2f} cores in use by others)" if busy > BUSY else ""
        ratio = r / t
        if kind in TARGETS:
            target, verdict = f"≥ {TARGETS[kind]:g}", ("meets" if ratio >= TARGETS[kind] else "MISSES") + note
        else:
            target, verdict = "-", "(the ratio of target tokens/s)" + note
        print(f"| seq2seq {UNITS[kind]} | {r:,.1f} ({rn}t) | {t:,.1f} ({tn}t) | {ratio:.2f} | {target} | {verdict} |")
    if passed is not None:
        ok, worst, differ = passed
        print(f"\nseq2seq predict --beam 1 and --beam {BEAM} equivalence (the same best target on every line, "
              f"logprobs within {TOLERANCE:g}): {'PASS' if ok else 'FAIL'} ({differ} lines with other targets, "
              f"worst logprob difference {worst:.2e})")
    if measured:
        print("\nEvery side at every thread count (medians):\n")
        print("| measurement | threads | recur | PyTorch | recur / PyTorch |")
        print("| --- | ---: | ---: | ---: | ---: |")
    for kind in measured:
        for n in args.threads:
            r, t = results[kind, "recur"][n], results[kind, "torch"][n]
            print(f"| seq2seq {UNITS[kind]} | {n} | {r:,.1f} | {t:,.1f} | {r / t:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--data", default=os.path.join(DATA, "train.tsv"))
    parser.add_argument("--val", default=os.path.join(DATA, "valid.tsv"))
    parser.add_argument("--test", default=os.path.join(DATA, "test.tsv"), help="the lines decode and equivalence read")
    parser.add_argument("--test-lines", type=int, default=1000, help="the first lines of --test to decode (0: all)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per speed run")
    parser.add_argument("--model", help="the model decode and equivalence read (default: the train part's last "
                                        "recur run's best.safetensors, else a short recur run's)")
    parser.add_argument("--parts", default=",".join(PARTS), help="of " + ",".join(PARTS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--malloc", choices=["default", "keep"], default="default",
                        help="keep: glibc malloc keeps freed memory in every process of both sides")
    parser.add_argument("--max-wait", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the runs' directories (printed)")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    args.threads = [int(n) for n in args.threads.split(",")]
    parts = args.parts.split(",")
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown part(s) {', '.join(sorted(unknown))}")
    args.recur = os.path.join(args.build, "recur")
    if not os.access(args.recur, os.X_OK):
        sys.exit(f"seq2seq_compare.py: no {args.recur}; build it (cmake --build BUILD_DIR --target recur_cli)")
    for path in (args.data, args.val, args.test) + ((args.model,) if args.model else ()):
        if not os.path.exists(path):
            sys.exit(f"seq2seq_compare.py: no {path}" + (" (scripts/get-data cmudict)" if path != args.model else ""))
    if args.malloc == "keep":
        os.environ.update(KEEP_MALLOC)  # inherited by every command of both sides
    args.own_load = 0.0  # wait_until_quiet's: no busy loops of our own
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))

    # classify_compare's helpers read a task: recur's --task, the replica, the data and the flags.
    task = SimpleNamespace(
        name="seq2seq", prefix="", script=os.path.join(HERE, "seq2seq_torch.py"), data=args.data, val=args.val,
        test=None, steps=args.steps,
        extra=([] if flag_value(extra, "--tgt-tokens", None) else ["--tgt-tokens", "word"]) + extra)
    work = tempfile.mkdtemp(prefix="recur-seq2seq-bench-")
    began = time.monotonic()
    results, models, passed = {}, {}, None
    if args.model:
        models[task.name] = os.path.abspath(args.model)
    try:
        others_at_start = wait_until_quiet(args)
        task.test = os.path.join(work, "test.tsv")
        with open(args.test, "rb") as f:
            lines = f.read().split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        if args.test_lines > 0:
            lines = lines[:args.test_lines]
        with open(task.test, "wb") as f:
            f.write(b"".join(line + b"\n" for line in lines))
        args.test_count = count_lines(task.test)
        if "train" in parts:
            train_speed(args, task, work, results, models)
        if "decode" in parts:
            decode_speed(args, task, work, results, models)
        if "equivalence" in parts:
            passed = equivalence(args, task, work, models)
    finally:
        if args.keep:
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if results or passed is not None:
        report(args, task, results, time.monotonic() - began, others_at_start, passed)
    sys.exit(0 if passed is None or passed[0] else 1)


if __name__ == "__main__":
    main()
