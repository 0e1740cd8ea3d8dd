#!/usr/bin/env python3
"""`scripts/bench dist`: data-parallel training on this machine (issue 17): `recur train` as
2 processes of 1 thread each under `mpirun -np 2` against 1 process of 2 threads, for the
2x128 and 2x512 char models (the CLI's defaults otherwise: embed 64, B=32, T=64, Adam), on
the bundled tinyshakespeare. Each rate is the run's own `chars_per_sec` (training steps only,
the global batch's chars over their time), the median of --repeats runs; the two ways
alternate.

    /usr/bin/python3 bench/dist_compare.py [--build build] [--repeats 3] [--hidden 128,512] [--steps 60,15]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_btl_vader_single_copy_mechanism": "none"}


def rate(command, env):
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["chars_per_sec"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--hidden", default="128,512")
    p.add_argument("--steps", default="60,15")
    args = p.parse_args()
    recur = os.path.abspath(os.path.join(args.build, "recur"))
    env = dict(os.environ, **MPI_ENV)
    env.pop("RECUR_NUM_THREADS", None)
    rows = []
    for hidden, steps in zip(args.hidden.split(","), args.steps.split(",")):
        rates = {"threads": [], "processes": []}
        for _ in range(args.repeats):
            for way in rates:
                with tempfile.TemporaryDirectory() as out:
                    train = [recur, "train", "--hidden", hidden, "--max-steps", steps, "--eval-every", "0",
                             "--sample-length", "0", "--out", out, "--json"]
                    command = train + ["--threads", "2"] if way == "threads" else \
                        ["mpirun", "--oversubscribe", "-np", "2"] + train + ["--threads", "1"]
                    rates[way].append(rate(command, env))
                    print(json.dumps({"bench": "dist", "hidden": int(hidden), "way": way,
                                      "chars_per_sec": rates[way][-1]}), flush=True)
        rows.append((hidden, statistics.median(rates["threads"]), statistics.median(rates["processes"])))
    print(f"\n# recur train, char-rnn 2-layer LSTM on tinyshakespeare, medians of {args.repeats} runs\n")
    print("| model | 1 process x 2 threads, chars/s | 2 processes x 1 thread (mpirun), chars/s | processes / threads |")
    print("| --- | ---: | ---: | ---: |")
    for hidden, threads, processes in rows:
        print(f"| 2x{hidden} | {threads:,.0f} | {processes:,.0f} | {processes / threads:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
