"""What loading and validating experiments costs, as ratios measured in one run.

`gameday validate experiments/` and every `gameday run` start here, and a CI job validates a
whole library, so loading must stay well under a second per file on a shared 2-core box.

1. Loading an example experiment with the parsed stack spec cached (the normal case: many
   experiments share one spec) against re-parsing the spec each time.
2. Where the time goes: YAML parsing alone against the full load (models, stack, checks).
3. Reporting a broken file (located issues and suggestions) against loading a valid one.

    python benchmarks/experiment_load.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from chaos.experiment import loader
from chaos.experiment.errors import ExperimentError
from chaos.experiment.yamldoc import parse_yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "experiments" / "launch-storm.yaml"
BROKEN = ROOT / "tests" / "data" / "broken-experiment.yaml"


def best_of(runs: int, works: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The fastest timing of each piece of work, interleaved so that load from other processes
    on a shared box disturbs them alike."""
    best = dict.fromkeys(works, float("inf"))
    for _ in range(runs):
        for name, work in works.items():
            start = time.perf_counter()
            work()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def load_cold() -> None:
    loader._stack_from_text.cache_clear()
    loader.load_experiment(EXAMPLE)


def load_broken() -> None:
    try:
        loader.load_experiment(BROKEN)
    except ExperimentError:
        return
    raise AssertionError("the broken example loaded")


def main() -> None:
    text = EXAMPLE.read_text()
    loader.load_experiment(EXAMPLE)  # warm imports and the cache
    best = best_of(
        50,
        {
            "warm": lambda: loader.load_experiment(EXAMPLE),
            "cold": load_cold,
            "yaml": lambda: parse_yaml(text, EXAMPLE),
            "broken": load_broken,
        },
    )
    warm, cold, yaml_only, broken = best["warm"], best["cold"], best["yaml"], best["broken"]
    rows = [
        ("load, stack spec cached", warm, "stack spec re-parsed", cold),
        ("YAML parse alone", yaml_only, "full load (cached spec)", warm),
        ("broken file, located issues", broken, "full load (cached spec)", warm),
    ]
    print(f"{'measure':<30} {'ms':>7}   {'against':<26} {'ms':>7} {'ratio':>6}")
    for name, value, against, reference in rows:
        print(
            f"{name:<30} {value * 1000:7.2f}   {against:<26} {reference * 1000:7.2f} "
            f"{value / reference:6.2f}"
        )
    print(f"files validated per second (cached spec): {1 / warm:.0f}")


if __name__ == "__main__":
    main()
