"""The judge of real searches: one schedule, one game day, through the runner's one way in.

Each run is a full ``gameday run`` of the candidate experiment (its own stack, fault proxy and
journal under the search's directory), cut off at its time budget; the runner rolls back
whatever ends it. A run that could not judge (infrastructure, time-out) is undecided, never a
failure; if no run has judged anything yet, an infrastructure failure ends the search: the
stack cannot run at all, and every further run would say the same.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from chaos.errors import InfrastructureError
from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import LoadedExperiment
from chaos.runner.run import GameDay, RunOptions, RunOutcome
from chaos.runner.verdict import Verdict
from chaos.search.candidate import candidate
from chaos.search.schedule import Schedule
from chaos.search.vote import Run


class SearchInterrupted(Exception):
    """SIGINT or SIGTERM reached a run: the search stops (the run itself rolled back)."""


class RunnerJudge:
    def __init__(self, loaded: LoadedExperiment, options: RunOptions, runs_dir: Path) -> None:
        self.loaded = loaded
        self.options = options
        self.runs_dir = runs_dir
        self.count = 0
        self.judged_any = False
        self.console = Console(quiet=True)

    def __call__(self, schedule: Schedule, seed: int, timeout: float) -> Run:
        began = time.monotonic()
        self.count += 1
        try:
            loaded = candidate(self.loaded, schedule, portable=False).load(self.loaded.path)
        except ExperimentError as exc:  # a space that allows it is a bug; do not blame the stack
            return Run(None, 0.0, f"invalid schedule: {exc}")
        options = replace(self.options, seed=seed, out=self.runs_dir / f"run-{self.count:04d}")
        try:
            outcome = asyncio.run(
                asyncio.wait_for(GameDay(loaded, options, self.console).execute(), timeout)
            )
        except TimeoutError:
            return Run(None, time.monotonic() - began, f"timed out after {timeout:.0f}s")
        return self._run(outcome, time.monotonic() - began)

    def _run(self, outcome: RunOutcome, seconds: float) -> Run:
        verdict = outcome.verdict
        if verdict is Verdict.INTERRUPTED:
            raise SearchInterrupted(outcome.message or "interrupted")
        if verdict in (Verdict.FAIL, Verdict.ABORTED):
            self.judged_any = True
            broken = [r.name for r in outcome.results if not r.passed]
            why = ", ".join(broken) or outcome.message or verdict.value
            return Run(True, seconds, f"{why} ({outcome.run_dir})")
        if verdict is Verdict.PASS:
            self.judged_any = True
            return Run(False, seconds, str(outcome.run_dir))
        if not self.judged_any:
            raise InfrastructureError(
                f"the first run could not judge the stack: {outcome.message}",
                where=str(outcome.run_dir),
                fix="make `gameday run EXPERIMENT` work first; the search runs it many times",
            )
        return Run(None, seconds, f"{verdict.value}: {outcome.message} ({outcome.run_dir})")
