"""`gameday search`: find the smallest fault schedule that breaks the experiment's SLOs."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from chaos.errors import ExitCode, InvalidInput
from chaos.experiment.loader import load_experiment
from chaos.report.clock import duration
from chaos.runner.run import RunOptions
from chaos.search.engine import Budget, Search
from chaos.search.judge import RunnerJudge, SearchInterrupted
from chaos.search.report import write_search
from chaos.search.space import SearchSpace
from chaos.search.vote import Policy


@dataclass(frozen=True)
class SearchOptions:
    budget: float
    """Seconds for the whole search (the command line's ``--budget``, parsed as every command
    parses a duration)."""
    repeats: int = 3
    quorum: int | None = None
    example_budget: float | None = None
    """Seconds for one schedule's repeats; None: the whole remaining budget."""
    max_faults: int = 3
    max_examples: int = 200
    kinds: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    vary_storm: bool = False
    seed: int = 0
    out: Path | None = None


def search_command(path: Path, options: SearchOptions, run: RunOptions, console: Console) -> int:
    """Exit 1 when a failing schedule was found, 0 when none was within the budget."""
    try:
        policy = Policy(options.repeats, options.quorum)
    except ValueError as exc:
        raise InvalidInput(str(exc), fix="give --repeats N and --quorum 1..N") from None
    budget = Budget(options.budget, options.example_budget, options.max_examples)
    loaded = load_experiment(path)
    space = SearchSpace.of(
        loaded.experiment,
        loaded.stack,
        links=options.links,
        kinds=options.kinds,
        max_faults=options.max_faults,
        vary_storm=options.vary_storm,
    )
    out = options.out or Path("runs") / f"search-{path.stem}"
    console.print(
        f"searching {', '.join(space.kinds)} on {', '.join(space.links)} "
        f"for {duration(options.budget)}; runs in {out / 'runs'}",
        markup=False,
        highlight=False,
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    judge = RunnerJudge(loaded, run, out / "runs")
    search = Search(space, judge, policy=policy, budget=budget, seed=options.seed)
    try:
        result = search.run()
    except (SearchInterrupted, KeyboardInterrupt):
        console.print(
            f"search interrupted: {judge.count} runs started, {search.stats.runs} completed; "
            "each rolled back",
            markup=False,
        )
        return int(ExitCode.INTERRUPTED)
    console.print(result.summary(), markup=False, highlight=False)
    for written in write_search(out, loaded, space, result):
        console.print(f"wrote {written}", markup=False, highlight=False)
    return int(ExitCode.SLO_FAILED if result.minimal is not None else ExitCode.PASS)
