#!/usr/bin/python3
"""`scripts/bench classify`: the `recur` CLI's text classifier and sequence tagger against the same
models in PyTorch (bench/classify_torch.py and bench/tag_torch.py: packed sequences,
pack_padded_sequence), side by side in one invocation on one machine (issue 13, "Speed"). Every
rate is a median of --repeats runs; sides alternate.

The text classifier (data/spam: scripts/get-data spam):

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

The sequence tagger (data/brown-pos: scripts/get-data brown-pos), the same methodology, an
example being a sentence:

  tag_train        `recur train --task tag TAG_DATA --val TAG_VAL --max-steps TAG_S --eval-every
                   TAG_S --json` (the CLI's tagger: bidirectional LSTM 1x128 over word embeddings
                   100 joined with character features, a bidirectional LSTM 25 over each distinct
                   word's characters (embeddings 25), dropout 0.25, every training word, words
                   seen once read as <unk> half the time, batches of 32 sentences of similar
                   length, Adam 2e-3, clip 5; or the flags of --tag-flags), its rate from the
                   summary's sentences_per_sec, against tag_torch.py train with the same flags
                   from the run's init.safetensors (target: >= 2).
  tag_predict      sentences/s of `recur predict MODEL SENTENCES` against tag_torch.py predict,
                   SENTENCES being TAG_TEST's sentences one a line (words separated by spaces),
                   MODEL the tag_train part's recur model (else a short recur run's); measured
                   as predict is (target: >= 3).
  tag_equivalence  `recur predict MODEL SENTENCES --json` against tag_torch.py predict --json on
                   the first --tag-lines sentences, and the plain "WORD<TAB>TAG" lines (a blank
                   line after each sentence) of both: as many sentences, the same words, and the
                   same tag for every word (the number of words tagged differently is printed;
                   PASS only when it is 0), the plain outputs identical.

    /usr/bin/python3 bench/classify_compare.py [--build build] [--data data/spam/train.tsv]
        [--val data/spam/valid.tsv] [--test data/spam/test.tsv] [--steps 40]
        [--tag-data data/brown-pos/train.conll] [--tag-val data/brown-pos/valid.conll]
        [--tag-test data/brown-pos/test.conll] [--tag-steps 100] [--tag-lines 2000]
        [--tag-flags '--cell gru'] [--parts train,predict,equivalence,tag_train,tag_predict,tag_equivalence]
        [--repeats 3] [--threads 1,2] [--malloc default|keep] [--max-wait 20] [--keep]
        [-- extra flags for both sides' classifier trainings, e.g. -- --cell gru --pool last]

--parts classify or --parts tag selects one model's three parts. --malloc keep runs every
process of both sides with glibc's malloc told to keep freed memory (word_compare.KEEP_MALLOC:
no mmap/munmap per large tensor, no trimming); the default is the machine as it is, as a
PyTorch user gets it; the report says which was used.

Parts that need a model another part makes (predict, equivalence; tag_predict, tag_equivalence)
train one with recur (--steps / --tag-steps steps) when the train part is not run. Before each
timed run the script waits (up to --max-wait seconds) for other processes to use less than a
quarter of a core and records the load it saw: figures taken on a busy machine are marked. With
the defaults the classifier's parts take roughly 10 minutes on a 2-core machine (an estimate
from 3-step runs), most of it PyTorch's training; the tagger's add roughly 5 minutes (an estimate
from 3- and 4-step runs, about 150 sentences/s for PyTorch's training on one thread, not a
measurement of the whole).
"""
import argparse
import json
import os
import shlex
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
from char_compare import BUSY, last_json, run, wait_until_quiet  # noqa: E402
from word_compare import KEEP_MALLOC, best_of, json_lines  # noqa: E402

DATA = os.path.normpath(os.path.join(HERE, "..", "data"))
TOLERANCE = 1e-4  # the classifier's predict equivalence, absolute, on the probabilities
TARGETS = {"train": 2.0, "predict": 3.0}
PARTS = ["train", "predict", "equivalence", "tag_train", "tag_predict", "tag_equivalence"]


def tasks_of(args):
    """The two models' settings: recur's --task, the PyTorch replica, the data, the steps of a
    training run, both sides' extra training flags, the words of the report and the key of recur's
    training rate in its summary (the replicas' is examples_per_sec)."""
    return {
        "classify": SimpleNamespace(
            name="classify", prefix="", script=os.path.join(HERE, "classify_torch.py"), data=args.data, val=args.val,
            test=args.test, steps=args.steps, extra=args.extra, title="text classifier", example="text",
            recur_rate="examples_per_sec",
            default_model="the CLI's defaults: bidirectional LSTM 1x128, embed 128, max pool"),
        "tag": SimpleNamespace(
            name="tag", prefix="tag_", script=os.path.join(HERE, "tag_torch.py"), data=args.tag_data,
            val=args.tag_val, test=None, conll_test=args.tag_test, steps=args.tag_steps,
            extra=shlex.split(args.tag_flags), title="tagger", example="sentence",
            recur_rate="sentences_per_sec",
            default_model="the CLI's defaults: bidirectional LSTM 1x128, embed 100, character features 25 -> 2x25"),
    }


def unit(task, kind):
    if kind == "train":
        return f"{task.title} training {task.example}s/s"
    return f"{task.title} `predict` {task.example}s/s"


def train_flags(task):
    return ["--val", task.val, "--max-steps", str(task.steps), "--eval-every", str(task.steps)] + task.extra


def recur_train(args, task, out, threads):
    command = [args.recur, "train", "--task", task.name, task.data, "--out", out, "--overwrite", "--json",
               "--max-time", "0", "--print-every", "0", "--sample-length", "0", "--threads",
               str(threads)] + train_flags(task)
    return last_json(run(command, threads)[0])


def torch_train(task, threads, init):
    command = [sys.executable, task.script, "train", task.data, "--threads", str(threads), "--init",
               init] + train_flags(task)
    return last_json(run(command, threads)[0])


def torch_predict(task, model, path, threads, *flags):
    """The replica's predict's stdout and its timing (the JSON line on stderr)."""
    command = [sys.executable, task.script, "predict", model, path, "--threads", str(threads), *flags]
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


def render_conll(path, out, limit=0):
    """Writes the sentences of a CoNLL file (as recur's read_conll reads them: the first field of
    each token line; a blank or -DOCSTART- line ends a sentence) to `out`, one a line, the words
    separated by spaces: the first `limit` of them (0: all). Returns how many it wrote."""
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    sentences, words = [], []
    for line in lines + [""]:
        fields = [f for f in line.rstrip("\r").replace("\t", " ").split(" ") if f]
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append(" ".join(words))
            words = []
        else:
            words.append(fields[0])
    if limit > 0:
        sentences = sentences[:limit]
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in sentences))
    return len(sentences)


def record(task, kind, side, threads, others, **fields):
    print(json.dumps({"bench": "classify", "task": task.name, "kind": kind, "side": side, "threads": threads,
                      **fields, "busy_cores_before": round(others, 2)}), flush=True)


# ------------------------------------------------------------------ the parts


def train_speed(args, task, work, results, models):
    rates = {side: {n: [] for n in args.threads} for side in ("recur", "torch")}
    busiest = 0.0
    out = os.path.join(work, task.prefix + "train")
    for _ in range(args.repeats):
        for threads in args.threads:
            for side in ("recur", "torch"):
                others = wait_until_quiet(args)
                busiest = max(busiest, others)
                if side == "recur":
                    summary = recur_train(args, task, out, threads)
                    with open(os.path.join(out, "metrics.jsonl")) as f:
                        accuracy = json.loads(f.read().splitlines()[-1]).get("val_accuracy")
                else:
                    summary = torch_train(task, threads, os.path.join(out, "init.safetensors"))
                    accuracy = final(summary.get("val_accuracy"))
                rate = summary[task.recur_rate if side == "recur" else "examples_per_sec"]
                rates[side][threads].append(rate)
                record(task, "train", side, threads, others, examples_per_sec=rate, steps=summary["steps"],
                       train_loss=final(summary.get("train_loss")), val_accuracy=accuracy)
    # The model predict and equivalence read: the last recur run's (its files are overwritten by each).
    models[task.name] = os.path.join(out, "best.safetensors")
    for side, by_threads in rates.items():
        results[task.name, "train", side] = {n: statistics.median(v) for n, v in by_threads.items()}
    results[task.name, "train", "busy"] = busiest


def ensure_model(args, task, work, models):
    """The train part's recur model, else a short recur run's."""
    if task.name not in models:
        out = os.path.join(work, task.prefix + "model")
        recur_train(args, task, out, max(args.threads))
        models[task.name] = os.path.join(out, "best.safetensors")
    return models[task.name]


def count_lines(path):
    """The lines recur predict reads: split at '\\n'; an empty tail is none."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    return len(lines) - (lines[-1] == b"")


def predict_speed(args, task, work, results, models):
    model = ensure_model(args, task, work, models)
    empty = os.path.join(work, "empty.txt")
    open(empty, "w").close()
    lines = count_lines(task.test)
    times = {side: {n: [] for n in args.threads} for side in ("recur", "torch")}
    busiest = 0.0
    for _ in range(args.repeats):
        for threads in args.threads:
            for side in ("recur", "torch"):
                others = wait_until_quiet(args)
                busiest = max(busiest, others)
                if side == "recur":
                    base = [args.recur, "predict", model, "--threads", str(threads)]
                    seconds = run(base + [task.test], threads)[1]
                    startup = run(base + [empty], threads)[1]
                else:
                    seconds, startup = torch_predict(task, model, task.test, threads)[1]["seconds"], 0.0
                times[side][threads].append((seconds, startup))
                record(task, "predict", side, threads, others, seconds=seconds, startup_seconds=startup,
                       examples_per_sec=lines / (seconds - startup) if seconds > startup else None)
    for side, by_threads in times.items():
        rates = {}
        for threads, runs in by_threads.items():
            work_seconds = statistics.median(s for s, _ in runs) - statistics.median(u for _, u in runs)
            rates[threads] = lines / work_seconds if work_seconds > 0 else float("nan")
        results[task.name, "predict", side] = rates
    results[task.name, "predict", "busy"] = busiest
    results[task.name, "predict_lines"] = lines


def equivalence(args, task, work, models):
    """The classifier's: the same label on every line, probabilities within TOLERANCE."""
    model = ensure_model(args, task, work, models)
    threads = max(args.threads)
    print(f"# equivalence: {os.path.relpath(model, work)} on {os.path.relpath(task.test)}", flush=True)
    recur_json = json_lines(run([args.recur, "predict", model, task.test, "--json", "--threads", str(threads)],
                                threads)[0])
    torch_json = json_lines(torch_predict(task, model, task.test, threads, "--json")[0])
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
    recur_plain = run([args.recur, "predict", model, task.test, "--threads", str(threads)], threads)[0].splitlines()
    torch_plain = torch_predict(task, model, task.test, threads)[0].splitlines()
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


def tag_equivalence(args, task, work, models):
    """The tagger's: the same words and the same tag for every word; the plain outputs identical."""
    model = ensure_model(args, task, work, models)
    threads = max(args.threads)
    sentences = os.path.join(work, "tag_equivalence.txt")
    count = render_conll(task.conll_test, sentences, args.tag_lines)
    print(f"# tag_equivalence: {os.path.relpath(model, work)} on the first {count} sentences of "
          f"{os.path.relpath(task.conll_test)}", flush=True)
    recur_json = json_lines(run([args.recur, "predict", model, sentences, "--json", "--threads", str(threads)],
                                threads)[0])
    torch_json = json_lines(torch_predict(task, model, sentences, threads, "--json")[0])
    problems, words, differ, lines_differ = [], 0, 0, 0
    if len(recur_json) != len(torch_json):
        problems.append(f"{len(recur_json)} lines from recur, {len(torch_json)} from PyTorch")
    for i, (r, t) in enumerate(zip(recur_json, torch_json)):
        if r["tokens"] != t["tokens"] or len(r["tags"]) != len(r["tokens"]) or len(t["tags"]) != len(t["tokens"]):
            problems.append(f"line {i + 1}: the words or the number of tags differ")
            continue
        words += len(r["tokens"])
        here = [k for k, (a, b) in enumerate(zip(r["tags"], t["tags"])) if a != b]
        differ += len(here)
        lines_differ += bool(here)
        if here and len(problems) < 5:
            k = here[0]
            problems.append(f"line {i + 1} word {k + 1} \"{r['tokens'][k]}\": recur {r['tags'][k]}, "
                            f"PyTorch {t['tags'][k]}")
    ok = not problems and differ == 0
    print(f"predict --json: {'PASS' if ok else 'FAIL'}: {len(torch_json)} sentences, {words} words, {differ} words "
          f"tagged differently (in {lines_differ} sentences){'; ' + '; '.join(problems) if problems else ''}",
          flush=True)
    recur_plain = run([args.recur, "predict", model, sentences, "--threads", str(threads)], threads)[0]
    torch_plain = torch_predict(task, model, sentences, threads)[0]
    r_lines, t_lines = recur_plain.split("\n")[:-1], torch_plain.split("\n")[:-1]  # each ends with '\n'
    same = sum(r == t for r, t in zip(r_lines, t_lines))
    plain_ok = recur_plain == torch_plain
    counts = "" if len(r_lines) == len(t_lines) else f" ({len(r_lines)} from recur, {len(t_lines)} from PyTorch)"
    print(f"predict: {'PASS' if plain_ok else 'FAIL'}: {same} of {len(r_lines)} lines identical{counts}\n",
          flush=True)
    return ok and plain_ok


# ------------------------------------------------------------------ the report


def report(args, tasks, results, seconds, others_at_start, passed):
    malloc_settings = (" (" + " ".join(f"{k}={v}" for k, v in KEEP_MALLOC.items()) + ")"
                       if args.malloc == "keep" else "")
    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    print(f"\n# recur ({os.path.normpath(args.build)}) vs PyTorch {torch_version}, {os.cpu_count()} cores, "
          f"glibc malloc {args.malloc}{malloc_settings}, other processes {others_at_start:.2f} cores at the start; "
          f"medians of {args.repeats} runs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{seconds:.0f} s in all")
    measured = [(task, kind) for task in tasks.values() for kind in ("train", "predict")
                if (task.name, kind, "recur") in results]
    for task in tasks.values():
        if not any(t is task for t, _ in measured) and task.name not in passed:
            continue
        model = " ".join(task.extra) if task.extra else task.default_model
        test = task.test if task.name == "classify" else task.conll_test
        print(f"#   {task.title} ({model}): {os.path.relpath(task.data)} (train: {task.steps} steps of up to 32 "
              f"{task.example}s), {os.path.relpath(test)} ({results.get((task.name, 'predict_lines'), '-')} "
              f"{'lines' if task.name == 'classify' else 'sentences, one a line'}, predict)")
    if measured:
        print(f"\nEach side at its faster thread count of {','.join(map(str, args.threads))}:\n")
        print("| measurement | recur | PyTorch | recur / PyTorch | target | verdict |")
        print("| --- | ---: | ---: | ---: | --- | --- |")
    for task, kind in measured:
        (r, rn), (t, tn) = best_of(results[task.name, kind, "recur"]), best_of(results[task.name, kind, "torch"])
        busy = results[task.name, kind, "busy"]
        note = f" (busy machine: {busy:.2f} cores in use by others)" if busy > BUSY else ""
        ratio = r / t
        verdict = "meets" if ratio >= TARGETS[kind] else "MISSES"
        print(f"| {unit(task, kind)} | {r:,.1f} ({rn}t) | {t:,.1f} ({tn}t) | {ratio:.2f} | ≥ {TARGETS[kind]:g} | "
              f"{verdict}{note} |")
    if "classify" in passed:
        print(f"\n{tasks['classify'].title} predict equivalence (same labels, probabilities within {TOLERANCE:g}): "
              f"{'PASS' if passed['classify'] else 'FAIL'}")
    if "tag" in passed:
        print(f"\n{tasks['tag'].title} predict equivalence (the same tag for every word, on {args.tag_lines or 'all'} "
              f"sentences): {'PASS' if passed['tag'] else 'FAIL'}")
    if measured:
        print("\nEvery side at every thread count (medians):\n")
        print("| measurement | threads | recur | PyTorch | recur / PyTorch |")
        print("| --- | ---: | ---: | ---: | ---: |")
    for task, kind in measured:
        for n in args.threads:
            r, t = results[task.name, kind, "recur"][n], results[task.name, kind, "torch"][n]
            print(f"| {unit(task, kind)} | {n} | {r:,.1f} | {t:,.1f} | {r / t:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--data", default=os.path.join(DATA, "spam", "train.tsv"))
    parser.add_argument("--val", default=os.path.join(DATA, "spam", "valid.tsv"))
    parser.add_argument("--test", default=os.path.join(DATA, "spam", "test.tsv"), help="the texts predict reads")
    parser.add_argument("--steps", type=int, default=40, help="the classifier's training steps per speed run")
    parser.add_argument("--tag-data", default=os.path.join(DATA, "brown-pos", "train.conll"))
    parser.add_argument("--tag-val", default=os.path.join(DATA, "brown-pos", "valid.conll"))
    parser.add_argument("--tag-test", default=os.path.join(DATA, "brown-pos", "test.conll"),
                        help="CoNLL sentences; tag_predict reads them one a line")
    parser.add_argument("--tag-steps", type=int, default=100, help="the tagger's training steps per speed run")
    parser.add_argument("--tag-lines", type=int, default=2000,
                        help="the sentences tag_equivalence tags (the first of --tag-test; 0: all)")
    parser.add_argument("--tag-flags", default="", help="extra flags for both sides' tagger trainings, one string")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="of " + ",".join(PARTS) + "; classify: the first three, tag: the last three")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--malloc", choices=["default", "keep"], default="default",
                        help="keep: glibc malloc keeps freed memory in every process of both sides")
    parser.add_argument("--max-wait", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the runs' directories (printed)")
    args, extra = parser.parse_known_args()
    args.extra = [a for a in extra if a != "--"]
    args.threads = [int(n) for n in args.threads.split(",")]
    parts = []
    for part in args.parts.split(","):
        parts += {"classify": PARTS[:3], "tag": PARTS[3:]}.get(part, [part])
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown part(s) {', '.join(sorted(unknown))}")
    args.recur = os.path.join(args.build, "recur")
    if not os.access(args.recur, os.X_OK):
        sys.exit(f"classify_compare.py: no {args.recur}; build it (cmake --build BUILD_DIR --target recur_cli)")
    tasks = tasks_of(args)
    needed = []
    if any(p in parts for p in PARTS[:3]):
        needed += [(path, "spam") for path in (args.data, args.val, args.test)]
    if any(p in parts for p in PARTS[3:]):
        needed += [(path, "brown-pos") for path in (args.tag_data, args.tag_val, args.tag_test)]
    for path, name in needed:
        if not os.path.exists(path):
            sys.exit(f"classify_compare.py: no {path} (scripts/get-data {name})")
    if args.malloc == "keep":
        os.environ.update(KEEP_MALLOC)  # inherited by every command of both sides
    args.own_load = 0.0  # wait_until_quiet's: no busy loops of our own
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))

    work = tempfile.mkdtemp(prefix="recur-classify-bench-")
    began = time.monotonic()
    results, models, passed = {}, {}, {}
    try:
        others_at_start = wait_until_quiet(args)
        classify, tag = tasks["classify"], tasks["tag"]
        if "tag_predict" in parts:
            tag.test = os.path.join(work, "tag_sentences.txt")
            render_conll(tag.conll_test, tag.test)
        if "train" in parts:
            train_speed(args, classify, work, results, models)
        if "predict" in parts:
            predict_speed(args, classify, work, results, models)
        if "equivalence" in parts:
            passed["classify"] = equivalence(args, classify, work, models)
        if "tag_train" in parts:
            train_speed(args, tag, work, results, models)
        if "tag_predict" in parts:
            predict_speed(args, tag, work, results, models)
        if "tag_equivalence" in parts:
            passed["tag"] = tag_equivalence(args, tag, work, models)
    finally:
        if args.keep:
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if any(isinstance(key, tuple) and key[1] in ("train", "predict") for key in results) or passed:
        report(args, tasks, results, time.monotonic() - began, others_at_start, passed)
    sys.exit(0 if all(passed.values()) else 1)


if __name__ == "__main__":
    main()
