"""`gameday replay JOURNAL`: run a recorded run again, the same way, and say what changed.

The journal names the experiment file, the seed and the scale; the replay loads that file,
refuses one whose title no longer matches (a different experiment is not a replay), runs it
through the runner with the recorded seed and scale, and compares the two journals: fault
decisions (identical except timings, or each difference) and every SLO (same, newly passing,
newly failing, with both values). The exit code is the replay's own, as for ``gameday run``.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from chaos.errors import InvalidInput
from chaos.experiment.loader import load_experiment
from chaos.faults.client.protocol import ChosenUrl
from chaos.metrics.prometheus_api import ENV_VAR as PROMETHEUS_ENV
from chaos.replay.diff import fault_differences, verdict_diff
from chaos.replay.recorded import RecordedRun, recorded_run
from chaos.report.journal import read_journal
from chaos.runner.audience import scale_text
from chaos.runner.cli import write_run_reports
from chaos.runner.run import GameDay, RunOptions


@dataclass(frozen=True)
class ReplaySettings:
    """What a replay may change: where the evidence goes, how the stack runs, and which fault
    proxy and Prometheus it uses (a staging proxy instead of the recorded one)."""

    out: Path | None = None
    backend: str = "local"
    toxiproxy: ChosenUrl | None = None
    """``--toxiproxy`` or ``TOXIPROXY_URL``; None: the fault proxy the run recorded (the
    embedded one if it used that)."""
    prometheus: str | None = None
    """``--prometheus``; None: ``PROMETHEUS_URL``, else the Prometheus the run recorded (direct
    scraping if none) — the fault proxy's order, so one variable points a replay at staging."""
    report: Path | None = None
    junit: Path | None = None


def replay_options(
    recorded: RecordedRun, settings: ReplaySettings, env: Mapping[str, str] = os.environ
) -> RunOptions:
    """The recorded run's seed, scale and timeline; the settings' proxy, Prometheus and
    evidence paths where given, else the recorded ones.

    The fault proxy and Prometheus are each chosen as flag, then environment variable, then
    recorded. A ``PROMETHEUS_URL`` is left for the run to read (as ``gameday run`` does), so a
    bad one is named as the variable, not as a flag."""
    proxy = settings.toxiproxy
    if proxy is None and recorded.toxiproxy is not None:
        proxy = ChosenUrl(recorded.toxiproxy, f"the run recorded in {recorded.journal}")
    prometheus = settings.prometheus
    if prometheus is None and not env.get(PROMETHEUS_ENV):
        prometheus = recorded.prometheus
    return RunOptions(
        seed=recorded.seed,
        scale=recorded.scale,
        prometheus=prometheus,
        out=settings.out,
        backend=settings.backend,
        report=settings.report,
        junit=settings.junit,
    ).pointed_at(proxy)


def replay_command(
    journal: Path, *, experiment: Path | None, settings: ReplaySettings, console: Console
) -> int:
    """Replay ``journal`` (its experiment, or ``experiment`` if given); the replay's exit code."""
    recorded = recorded_run(read_journal(journal))
    path = experiment or recorded.experiment
    if not path.exists():
        raise InvalidInput(
            f"the recorded experiment {path} does not exist here",
            where=str(journal),
            fix="run from the directory the run started in, or pass --experiment FILE",
        )
    loaded = load_experiment(path)
    # At the recorded path a different title means the file was replaced since the run; a file
    # given with --experiment is the user's choice (a fix to compare), and the fault diff shows
    # whatever it changed.
    if experiment is None and loaded.experiment.title != recorded.title:
        raise InvalidInput(
            f"{path} is now {loaded.experiment.title!r}, the run was {recorded.title!r}",
            where=str(journal),
            fix="pass --experiment with the file the run used (a replay needs its timeline)",
        )
    run_options = replay_options(recorded, settings)
    console.print(
        f"replaying run {recorded.run_id} ({path}, seed {recorded.seed}, scale "
        f"{scale_text(recorded.scale)}; recorded verdict {recorded.verdict})",
        markup=False,
        highlight=False,
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    outcome = asyncio.run(GameDay(loaded, run_options, console).execute())
    replayed = recorded_run(read_journal(outcome.journal))
    print_diff(recorded, replayed, console)
    console.print(f"journal: {outcome.journal}", markup=False, highlight=False)
    write_run_reports(outcome, settings.report, console)
    return int(outcome.exit_code)


def print_diff(recorded: RecordedRun, replayed: RecordedRun, console: Console) -> None:
    """The fault comparison, then one line per SLO, then both verdicts."""
    differences = fault_differences(recorded, replayed)
    if differences:
        console.print("fault decisions differ:", markup=False, highlight=False)
        for line in differences:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        count = sum(1 for e in replayed.fault_events if e.get("kind") == "fault.start")
        console.print(f"fault decisions: identical (faults applied: {count})", markup=False)
    console.print("verdict diff (recording -> replay):", markup=False)
    for row in verdict_diff(recorded, replayed):
        console.print(row.line(), markup=False, highlight=False)
    console.print(
        f"verdict: {recorded.verdict} -> {replayed.verdict}", markup=False, highlight=False
    )
