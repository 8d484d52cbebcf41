"""Benchmark: one whole-stack evaluation on the mock engine, per environment.

    python -m benchmarks.stack_evaluation [--runs N]

Not a test: it prints timings (wall clock, min and median of N runs) for the README and notes.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from ops.engine import evaluate
from ops.stackfiles import read_stack_config, stack_names


QUIET = logging.getLogger("benchmark")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'stack':<10}{'resources':>10}{'min s':>9}{'median s':>10}")
    for stack in stack_names():
        config = read_stack_config(stack)
        timings, count = [], 0
        for _ in range(args.runs):
            start = time.perf_counter()
            evaluation = evaluate(stack, config, logger=QUIET)
            timings.append(time.perf_counter() - start)
            count = len(evaluation.registrations)
        print(f"{stack:<10}{count:>10}{min(timings):>9.3f}{statistics.median(timings):>10.3f}")


if __name__ == "__main__":
    main()
