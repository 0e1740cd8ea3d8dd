#!/usr/bin/python3
"""Times whole commands against each other on a noisy machine: every round runs each command
once, in the order given, so that a slow spell of the machine falls on all of them alike; the
report is each command's median and fastest wall time over the rounds (its output is
discarded; a command that fails stops the run).

    /usr/bin/python3 bench/interleave.py ROUNDS 'NAME=COMMAND' ['NAME=COMMAND' ...]

For example, a build against the one before it (copied to /tmp/before):

    P="predict /tmp/cls/best.safetensors data/spam/test.tsv"
    /usr/bin/python3 bench/interleave.py 5 "before=/tmp/before/recur $P" "after=build/recur $P"
"""
import shlex
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit() or any("=" not in a for a in sys.argv[2:]):
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    commands = [a.split("=", 1) for a in sys.argv[2:]]
    seconds = {name: [] for name, _ in commands}
    for _ in range(rounds):
        for name, command in commands:
            start = time.perf_counter()
            subprocess.run(shlex.split(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            seconds[name].append(time.perf_counter() - start)
    for name, times in seconds.items():
        print(f"{name}: median {statistics.median(times):.3f} s, fastest {min(times):.3f} s over {rounds} rounds")


if __name__ == "__main__":
    main()
