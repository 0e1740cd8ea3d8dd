#!/usr/bin/python3
"""`scripts/bench rnn`: recur's fused recurrent layers against PyTorch, side by side in one
run on one machine, as issue 4 asks:

  train   forward + backward of a 2-layer LSTM / GRU, T=64, B=32, input = hidden (128, 512)
  infer   one generation step of the 2-layer model at batch 1, no autograd
  rss     peak resident memory of a process running only the training step
  flops   the hidden-512 training step's FLOP rate as a fraction of this machine's sgemm rate

recur: build/bench/bench_rnn (BM_RnnTrainStep/cell/hidden/2, BM_RnnInferenceStep/cell/hidden),
medians of 5 repetitions. PyTorch: bench/rnn_torch.py's measurements (the same work), each in
a fresh process. Both sides are measured at 1 and 2 threads and each is reported at its
faster setting; OPENBLAS_CORETYPE is left as the environment sets it, for both.

    bench/rnn_compare.py [--build build] [--threads 1,2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rnn_torch  # noqa: E402

CELLS = {"lstm": 2, "gru": 3}  # recur::RnnCell's numbering in bench_rnn's arguments
T, B, LAYERS, GATES = 64, 32, 2, {"lstm": 4, "gru": 3}


def gbench_medians(command, threads):
    """{run_name: median real time in seconds} of a Google Benchmark run at `threads`."""
    env = dict(os.environ, RECUR_NUM_THREADS=str(threads))
    out = subprocess.run(command + ["--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    return {b["run_name"]: b["real_time"] * scale[b["time_unit"]]
            for b in json.loads(out)["benchmarks"] if b.get("aggregate_name") == "median"}


def recur_benchmarks(build, threads, pattern, repetitions=5):
    """{run_name: median real time in seconds} from bench_rnn at `threads`."""
    return gbench_medians([os.path.join(build, "bench", "bench_rnn"), f"--benchmark_filter={pattern}",
                           f"--benchmark_repetitions={repetitions}"], threads)


def recur_peak_rss_mib(build, threads, cell, hidden):
    """Peak RSS of a bench_rnn process that runs only this training step."""
    env = dict(os.environ, RECUR_NUM_THREADS=str(threads))
    name = f"BM_RnnTrainStep/{CELLS[cell]}/{hidden}/{LAYERS}/"
    proc = subprocess.Popen([os.path.join(build, "bench", "bench_rnn"), f"--benchmark_filter=^{name}",
                             "--benchmark_min_time=0.5"], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit(f"bench_rnn {name} failed")
    return usage.ru_maxrss / 1024.0


def sgemm_gflops(build):
    """cblas_sgemm at n = 1024 from bench_matmul, at 2 threads: the machine's GEMM rate."""
    medians = gbench_medians([os.path.join(build, "bench", "bench_matmul"), "--benchmark_filter=BM_CblasSgemm/1024",
                              "--benchmark_repetitions=3"], 2)
    seconds = next(iter(medians.values()))
    return 2 * 1024 ** 3 / seconds / 1e9


def train_flops(cell, hidden):
    """Forward: per layer, every step's input and recurrent products (2 flops a multiply-add);
    backward: twice that (gradients of the inputs and of the weights)."""
    forward = LAYERS * 2 * T * B * GATES[cell] * hidden * (hidden + hidden)
    return 3 * forward


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--max-wait", type=float, default=20)
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    recur = {}  # (kind, cell, hidden) -> (seconds, threads), the faster thread count
    pattern = f"BM_RnnTrainStep/[23]/(128|512)/{LAYERS}/|BM_RnnInferenceStep/[23]/"
    for n in threads:
        for name, seconds in recur_benchmarks(args.build, n, pattern).items():
            parts = name.split("/")
            kind = "train" if parts[0] == "BM_RnnTrainStep" else "infer"
            cell = {v: k for k, v in CELLS.items()}[int(parts[1])]
            key = (kind, cell, int(parts[2]))
            if key not in recur or seconds < recur[key][0]:
                recur[key] = (seconds, n)

    # Peak RSS of recur's training step, measured while this process is still small: a child's
    # ru_maxrss starts from the size of the process it was forked from.
    recur_rss = {(cell, hidden): recur_peak_rss_mib(args.build, recur[("train", cell, hidden)][1], cell, hidden)
                 for cell in CELLS for hidden in (128, 512)}

    torch = {}
    for cell in CELLS:
        for hidden in (128, 512):
            for kind in ("train", "infer"):
                for n in threads:
                    r = rnn_torch.run_worker(kind, cell, hidden, n, "env", 20 if kind == "train" else 15,
                                             args.max_wait)
                    seconds = r["ms_per_step"] / 1e3 if kind == "train" else r["us_per_step"] / 1e6
                    key = (kind, cell, hidden)
                    if key not in torch or seconds < torch[key][0]:
                        torch[key] = (seconds, n, r.get("rss_mib"))

    targets = {("train", 128): 2.0, ("train", 512): 1.2, ("infer", 128): 5.0, ("infer", 512): 2.0}
    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    print(f"\n# recur vs PyTorch {torch_version}, 2-layer, T={T}, B={B} (train) / B=1 (infer), "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}; each side at its faster thread count")
    print("| measurement | recur | PyTorch | PyTorch / recur | target |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("train", "infer"):
        for cell in CELLS:
            for hidden in (128, 512):
                (rs, rn), (ts, tn, _) = recur[(kind, cell, hidden)], torch[(kind, cell, hidden)]
                unit, factor = ("ms/step", 1e3) if kind == "train" else ("µs/step", 1e6)
                print(f"| {kind} {cell} h{hidden} | {rs * factor:.2f} {unit} ({rn}t) | {ts * factor:.2f} {unit} ({tn}t) "
                      f"| {ts / rs:.2f} | ≥ {targets[(kind, hidden)]} |")
    for cell in CELLS:
        for hidden in (128, 512):
            r_rss = recur_rss[(cell, hidden)]
            t_rss = torch[("train", cell, hidden)][2]
            print(f"| peak RSS, train {cell} h{hidden} | {r_rss:.0f} MiB | {t_rss:.0f} MiB | {t_rss / r_rss:.2f} | ≥ 1 |")
    peak = sgemm_gflops(args.build)
    for cell in CELLS:
        seconds = recur[("train", cell, 512)][0]
        rate = train_flops(cell, 512) / seconds / 1e9
        print(f"| FLOP rate, train {cell} h512 | {rate:.0f} GFLOP/s = {rate / peak:.2f} of sgemm's {peak:.0f} | | | |")


if __name__ == "__main__":
    main()
