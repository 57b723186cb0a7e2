"""The price of honesty in `gameday search`: how many runs repeat-and-vote costs, and whether the
planted minimal schedule is still found, as the judge gets noisier.

The judge is the tests' planted weakness (latency > 300 ms on one link while loss > 2 % is on
another), each run's verdict flipped with probability `flip`. A real run costs tens of
seconds, so the cost that matters is the number of runs (as a ratio to a noiseless search with
one run per schedule); the harness's own overhead per example is printed to show it is
negligible beside one real run. "exact" counts seeds whose result is exactly the two planted
faults with magnitudes within 10 ms and 0.2 % of the thresholds.

    python benchmarks/search.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import cast

from chaos.search.engine import Budget, Judge, Search, SearchResult
from chaos.search.vote import Policy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from search_support import SPACE, noisy_judge  # the tests' planted judge, shared

SEEDS = range(5)
CASES = [(0.0, 1, 1), (0.0, 3, 2), (0.1, 3, 2), (0.1, 5, 4), (0.2, 5, 4), (0.2, 7, 5)]


def exact(result: SearchResult) -> bool:
    if result.minimal is None or len(result.minimal.faults) != 2:
        return False
    faults = {f.kind: f for f in result.minimal.faults}
    return (
        set(faults) == {"latency", "loss"}
        and 301 <= faults["latency"].magnitude <= 310
        and 21 <= faults["loss"].magnitude <= 22
    )


def main() -> None:
    rows = []
    baseline = None
    for flip, repeats, quorum in CASES:
        runs, found, overhead = [], 0, []
        for seed in SEEDS:
            began = time.perf_counter()
            search = Search(
                SPACE,
                cast(Judge, noisy_judge(flip)),
                policy=Policy(repeats, quorum),
                budget=Budget(600, max_examples=200),
                seed=seed,
            )
            result = search.run()
            overhead.append((time.perf_counter() - began) / max(1, result.stats.examples))
            runs.append(result.stats.runs)
            found += exact(result)
        mean = statistics.mean(runs)
        baseline = baseline or mean
        rows.append(
            (flip, repeats, quorum, mean, mean / baseline, found, statistics.mean(overhead))
        )
    print(
        f"{'flip':>5} {'repeats':>7} {'quorum':>6} {'runs':>7} {'ratio':>6} "
        f"{'exact':>6} {'ms/example':>10}"
    )
    for flip, repeats, quorum, mean, ratio, found, per in rows:
        print(
            f"{flip:>5.0%} {repeats:>7} {quorum:>6} {mean:>7.0f} {ratio:>6.2f} "
            f"{found:>3}/{len(SEEDS):<2} {per * 1000:>10.2f}"
        )


if __name__ == "__main__":
    main()
