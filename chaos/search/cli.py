"""`gameday search`: find the smallest fault schedule that breaks the experiment's SLOs."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from chaos.errors import ExitCode, InvalidInput
from chaos.experiment.loader import load_experiment
from chaos.experiment.units import Duration, UnitError
from chaos.runner.run import RunOptions
from chaos.search.engine import Budget, Search
from chaos.search.judge import RunnerJudge, SearchInterrupted
from chaos.search.report import write_search
from chaos.search.space import SearchSpace
from chaos.search.vote import Policy


@dataclass(frozen=True)
class SearchOptions:
    budget: str
    repeats: int = 3
    quorum: int | None = None
    example_budget: str | None = None
    max_faults: int = 3
    max_examples: int = 200
    kinds: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    vary_storm: bool = False
    seed: int = 0
    out: Path | None = None


def _seconds(text: str, option: str) -> float:
    try:
        seconds = Duration.parse(text).seconds
    except UnitError as exc:
        raise InvalidInput(f"{option} {text}: {exc}", fix=f"write e.g. {option} 10m") from None
    if seconds <= 0:
        raise InvalidInput(f"{option} {text}", fix=f"give a duration above 0, e.g. {option} 10m")
    return seconds


def search_command(path: Path, options: SearchOptions, run: RunOptions, console: Console) -> int:
    """Exit 1 when a failing schedule was found, 0 when none was within the budget."""
    try:
        policy = Policy(options.repeats, options.quorum)
    except ValueError as exc:
        raise InvalidInput(str(exc), fix="give --repeats N and --quorum 1..N") from None
    budget = Budget(
        _seconds(options.budget, "--budget"),
        _seconds(options.example_budget, "--example-budget") if options.example_budget else None,
        options.max_examples,
    )
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
        f"searching {', '.join(space.kinds)} on {', '.join(space.links)} for {options.budget}; "
        f"runs in {out / 'runs'}",
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
