"""The judge of real searches: one schedule, one game day, through the runner's one way in.

Each run is a full ``gameday run`` of the candidate experiment (its own stack, fault proxy and
journal under the search's directory), cut off at its time budget; the runner rolls back
whatever ends it. A run that could not judge (infrastructure, time-out) is undecided, never a
failure; if no run has judged anything yet, an infrastructure failure ends the search: the
stack cannot run at all, and every further run would say the same.

An SLO with no data fails a game day (no data is never a pass), but it says nothing about the
schedule: a run whose only broken SLOs had no data is undecided too. Without any fault it ends
the search as invalid input (exit 2), naming the SLOs: removing the faults shrinks the windows
that end with them (`method` ends with the last fault or arrival), so an SLO judged over one
may have nothing to judge, and every schedule would be measured against a run that measured
nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import LoadedExperiment
from chaos.runner.run import GameDay, RunOptions, RunOutcome
from chaos.runner.verdict import Verdict
from chaos.search.candidate import candidate
from chaos.search.schedule import Schedule
from chaos.search.vote import Run
from chaos.slo.evaluate import SloResult, Status


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
        return self._run(outcome, time.monotonic() - began, schedule)

    def _run(self, outcome: RunOutcome, seconds: float, schedule: Schedule) -> Run:
        verdict = outcome.verdict
        if verdict is Verdict.INTERRUPTED:
            raise SearchInterrupted(outcome.message or "interrupted")
        broken = [r for r in outcome.results if not r.passed]
        if verdict is Verdict.FAIL and broken and all(r.status is Status.NO_DATA for r in broken):
            if schedule.empty:
                raise _nothing_to_judge(broken, outcome)
            names = ", ".join(r.name for r in broken)
            return Run(None, seconds, f"no data for {names} ({outcome.run_dir})")
        if verdict in (Verdict.FAIL, Verdict.ABORTED):
            self.judged_any = True
            why = ", ".join(r.name for r in broken) or outcome.message or verdict.value
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


def _nothing_to_judge(results: list[SloResult], outcome: RunOutcome) -> InvalidInput:
    """Without any fault these SLOs had no data: name each, with its window, and the fix."""
    each = "; ".join(
        f"{r.name}: none over T{r.evidence.window.start:+g}s..T{r.evidence.window.end:+g}s "
        f"({r.evidence.window.duration:g} s, {r.evidence.samples} samples)"
        for r in results
    )
    return InvalidInput(
        f"without any fault, {len(results)} SLO(s) had no data, so no schedule can be judged "
        f"against that run (no data is not a failure): {each}",
        where=str(outcome.run_dir),
        fix="an SLO must have data in a run without faults for the search to use it: judge it "
        "over a longer window (`during: run`, a longer listener phase, the experiment's "
        "`duration:`), or search a copy of the experiment without it; `gameday run` of a copy "
        "with `faults: []` shows the same",
    )
