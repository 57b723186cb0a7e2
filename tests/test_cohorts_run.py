"""Cohorts in real runs: soundstage as local processes behind the embedded fault proxy, the
audience split between the faulted link's proxies and their `~control` copies."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cohorts_support import latency, records, run_cohorts

from chaos.report.files import write_reports
from chaos.report.journal import read_journal
from chaos.report.summary import summarize
from chaos.report.timeseries import charts
from chaos.runner.run import RunOutcome
from chaos.runner.verdict import Verdict
from chaos.slo.differential import QuantileStat
from chaos.slo.evaluate import Status
from chaos.workload.swarm import Swarm

pytestmark = pytest.mark.slow  # first in the queue: see conftest


def test_a_latency_on_the_listener_link_costs_the_experiment_cohort_only(
    tmp_path: Path,
) -> None:
    """300 ms on the faulted proxies' upstream: the control proxies never carry a toxic while
    the run goes on (checked on the proxy), the experiment proxies do; the cohorts' TTFA
    difference is 300 ms ± 0.1 s; joins do not differ; the reports show both cohorts."""
    outcome, seen = asyncio.run(run_cohorts(tmp_path, latency(5, 60), watch=True))
    if outcome.verdict is Verdict.INFRASTRUCTURE:
        pytest.skip(f"the loaded machine starved the stack, nothing judged: {outcome.message}")
    assert outcome.verdict is Verdict.PASS, (outcome.message, [r.detail for r in outcome.results])
    controls = {name for name in seen if name.endswith("~control")}
    assert controls == {"listener->edge#1~control", "listener->edge#2~control"}
    assert all(not seen[name] for name in controls), seen
    assert seen["listener->edge#1"] and seen["listener->edge#2"], seen
    ttfa, joins = (r for r in outcome.results if r.differential is not None)
    assert ttfa.status is Status.PASS and joins.status is Status.PASS
    assert ttfa.differential is not None
    low, high = ttfa.differential["interval"]
    assert low <= ttfa.value <= high and high - low < 0.2, ttfa.detail  # type: ignore[operator]
    # one run's interval holds 300 ms most of the time (the long test counts how often)
    assert ttfa.value is not None and abs(ttfa.value - 0.3) < 0.1, ttfa.detail
    assert ttfa.differential["listeners"] == [30, 30]
    (cohorts,) = records(outcome, "cohorts")
    assert cohorts["everyone"] == [] and cohorts["link"] == "listener->edge"
    samples = {r["cohort"]: r for r in records(outcome, "cohort.samples")}
    assert set(samples) == {"control", "experiment"}
    assert len(samples["control"]["attempts"]) >= 30
    write_reports(read_journal(outcome.journal), tmp_path / "report", ["md", "html"])
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "### Control vs experiment" in summary
    row = [line for line in summary.splitlines() if line.startswith("| ttfa-diff")][-1]
    assert "30 / 30" in row and "(95%)" in row
    assert 'data-cohorts="ttfa-diff"' in (tmp_path / "report" / "report.html").read_text()
    journal = read_journal(outcome.journal)
    [throughput] = [p for p in charts(journal, summarize(journal)).panels if p.key == "throughput"]
    through = {line.label: line for line in throughput.lines if line.label.startswith("through")}
    assert {"through listener->edge#1", "through listener->edge#1~control"} <= set(through)
    assert max(v for v in through["through listener->edge#1~control"].values if v == v) > 0


def test_t0_waits_for_the_listeners_load_generator_however_slow_it_is_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a starved machine does to the load generator, made deterministic: the swarm's
    workers take longer to be ready than the whole run lasts. T0 is fixed only once they are
    (the countdown waits for the load, as it waits for the stack), so both cohorts' listeners
    all join and the differential SLOs judge a whole audience, not a late one or none."""
    ready = Swarm._await_ready
    ready_at: list[float] = []

    async def slow_to_spawn(swarm: Swarm, messages: Any, procs: list[Any]) -> None:
        await ready(swarm, messages, procs)
        await asyncio.sleep(20.0)  # longer than the run: 3 s baseline, 8 s fault, recovery
        assert swarm.start_at is None, "T0 was fixed before the load could meet it"
        ready_at.append(time.monotonic())

    monkeypatch.setattr(Swarm, "_await_ready", slow_to_spawn)
    outcome, _ = asyncio.run(run_cohorts(tmp_path, latency(5, 8)))
    assert outcome.verdict is not Verdict.INFRASTRUCTURE, outcome.message
    (baseline,) = [p for p in records(outcome, "phase") if p.get("phase") == "baseline"]
    assert ready_at and float(baseline["t0_mono"]) >= max(ready_at)
    ttfa = next(r for r in outcome.results if r.name == "ttfa-diff")
    assert ttfa.differential is not None and min(ttfa.differential["listeners"]) > 0
    assert not records(outcome, "workload.incomplete")
    (started,) = records(outcome, "workload.started")
    assert {s["cohort"] for s in started["swarms"]} == {"control", "experiment"}
    assert all(s["ready"] < 0 for s in started["swarms"]), started  # ready before T0


@pytest.mark.long
@pytest.mark.timeout(900)
def test_the_interval_holds_the_latencys_true_cost_in_at_least_90_percent_of_repeats(
    tmp_path: Path,
) -> None:
    covered = judged = 0
    runs = 10
    for seed in range(runs):
        outcome, _ = asyncio.run(run_cohorts(tmp_path / str(seed), latency(100 + seed, 60)))
        if outcome.verdict is Verdict.INFRASTRUCTURE:  # the loaded machine starved the stack
            print(f"seed {100 + seed}: infrastructure: {outcome.message}")
            continue
        ttfa = next(r for r in outcome.results if r.name == "ttfa-diff")
        assert ttfa.differential is not None
        judged += 1
        assert outcome.verdict is Verdict.PASS, outcome.message
        low, high = ttfa.differential["interval"]
        covered += low <= 0.3 <= high
        print(f"seed {100 + seed}: {ttfa.detail}")
    print(f"interval holds 300 ms in {covered} of {judged} judged runs ({runs} run)")
    assert judged >= runs // 2 and covered >= 0.9 * judged


NOOP = """
title: a fault that costs nothing
seed: {seed}
stack: soundstage
baseline: 3s
recovery: 1s
workload:
  speakers: 1
  listeners:
    - {{arrival: storm, count: 40, at: 1s, spread: 2s}}
cohorts: {{control: 50%}}
faults:
  - {{name: noop, at: 0s, for: 6s, link: listener->edge, direction: upstream, latency: 0ms}}
slos:
  - {{name: differential, p50: gameday_listener_time_to_first_audio_seconds,
     worse_by_at_most: {bound}}}
"""
# The noop toxic is upstream, on the listeners' requests: a link without toxics forwards in the
# kernel (splice) and one with a toxic in the proxy's Python, so a noop on the audio's direction
# would cost the experiment cohort the proxy's own CPU on a loaded machine (a real, measurable
# difference, +156 ms in one run), which is not the fault's.

CALIBRATION_BOUND = "1s"
"""The calibration run measures; its own verdict is not counted."""
SPREADS = 3
"""The tightness: this many standard deviations of the control cohort's times to first audio
in the calibration run."""


def _ttfas(outcome: RunOutcome, *cohorts: str) -> list[float]:
    """The times to first audio of the cohorts' attempts that reached audio."""
    out = []
    for record in records(outcome, "cohort.samples"):
        if record["cohort"] in cohorts:
            ttfa = record["fields"].index("ttfa")
            out += [a[ttfa] for a in record["attempts"] if a[ttfa] >= 0]
    return out


def _p50(values: list[float]) -> float:
    return QuantileStat(0.5).value(np.asarray(values))


@dataclass
class NoopRuns:
    """What ``_noop_runs`` counted: judged runs, passes of each verdict, and the tightness."""

    judged: int = 0
    differential: int = 0
    blamed: int = 0
    """Runs whose differential verdict failed: it blamed the noop for a cost."""
    absolute: int = 0
    bound: float = 0.0
    threshold: float = 0.0
    lines: list[str] = field(default_factory=list)
    differences: list[float] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)

    def summary(self, runs: int) -> str:
        """The counts, and how much each judged value moved from run to run."""
        moved = ""
        if len(self.levels) > 1:
            moved = (
                f"; run to run, the difference's standard deviation "
                f"{statistics.stdev(self.differences) * 1000:.0f} ms, the absolute p50's "
                f"{statistics.stdev(self.levels) * 1000:.0f} ms"
            )
        return (
            f"judged {self.judged} of {runs}; bound {self.bound * 1000:.0f} ms, absolute "
            f"threshold {self.threshold * 1000:.0f} ms; differential passes {self.differential} "
            f"(fails {self.blamed}), absolute passes {self.absolute}{moved}"
        )


def _noop_runs(tmp_path: Path, runs: int) -> NoopRuns:
    """A calibration run, unloaded, then ``runs`` seeded runs of a noop toxic, the odd ones
    under two spinning processes per core from T0 (a run the load starved, an infrastructure
    verdict, is listed and not judged).

    The calibration run fixes the tightness from the noise it measured: the control cohort's
    own spread (the standard deviation of its listeners' times to first audio), times
    ``SPREADS``, is the differential SLO's bound; an absolute threshold as tight is the
    calibration run's p50 plus that bound, applied to each run's p50, both over the whole
    audience (what a plain absolute SLO, without a ``cohort`` matcher, judges). Nothing about
    the machine's speed is written down: both come from the same run."""
    calibration, _ = asyncio.run(
        run_cohorts(tmp_path / "calibration", NOOP.format(seed=199, bound=CALIBRATION_BOUND))
    )
    if calibration.verdict is Verdict.INFRASTRUCTURE:
        pytest.skip(f"the loaded machine starved the calibration run: {calibration.message}")
    control = _ttfas(calibration, "control")
    spread = statistics.stdev(control)
    level = _p50(_ttfas(calibration, "control", "experiment"))
    counts = NoopRuns(bound=max(0.001, round(SPREADS * spread, 3)))
    counts.threshold = level + counts.bound
    counts.lines.append(
        f"calibration: p50 {level * 1000:.0f} ms; the control cohort's standard deviation "
        f"{spread * 1000:.0f} ms ({len(control)} listeners)"
    )
    cores = len(os.sched_getaffinity(0))
    for k in range(runs):
        loaded = k % 2
        text = NOOP.format(seed=200 + k, bound=f"{counts.bound * 1000:.0f}ms")
        outcome, _ = asyncio.run(run_cohorts(tmp_path / str(k), text, spinners=2 * cores * loaded))
        if outcome.verdict is Verdict.INFRASTRUCTURE:  # the machine starved the stack itself
            counts.lines.append(f"load {loaded}: infrastructure: {outcome.message}")
            continue
        (result,) = outcome.results
        heard = _ttfas(outcome, "control", "experiment")
        assert heard, result.detail  # on time, yet nobody heard audio
        whole = _p50(heard)
        counts.judged += 1
        counts.differential += result.status is Status.PASS
        counts.blamed += result.status is Status.FAIL
        counts.absolute += whole <= counts.threshold
        counts.levels.append(whole)
        if result.value is not None:
            counts.differences.append(result.value)
        counts.lines.append(
            f"load {loaded}: {result.detail}; absolute p50 {whole * 1000:.0f} ms "
            f"({'pass' if whole <= counts.threshold else 'fail'})"
        )
    return counts


# Why the absolute threshold's flapping is counted and printed, not asserted (the tests below):
# the test's own load does not make it flap on a quiet machine, so an assertion would fail there
# (or, tuned to pass, would be rigged). Measured on the 2-core lab VM (kernel 6.18, EEVDF),
# cohorts sharing the swarm's workers, 40 to 800 listeners, alternate runs under 4 to 16
# spinning processes:
#
# - quiet machine: the spinners move the whole audience's p50 time to first audio by 5-50 ms
#   (460 -> 470-520 ms), because the scheduler runs the stack's and the swarm's mostly-sleeping
#   processes ahead of CPU-bound ones, and 0.4 s of the 0.45 s is the jitter buffer filling in
#   real time. Bursty spinners (2 ms on, 2 ms off), interpreters started in a loop and spinners
#   in sessions of their own did no more. Nothing flaps there: not the absolute, not the
#   differential.
# - a machine the neighbours load (three other test suites, load average 9-18): the absolute
#   p50 moved 475 -> 520-1030 ms from run to run, with or without our spinners, and flapped.
# - 400 listeners and 8 spinners saturate the stack and the swarm: the p50 moved +380 to
#   +530 ms in every loaded run, so the absolute threshold fails; but each cohort's times then
#   spread from 0.45 to 10 s, and the bootstrap interval of the difference widened with them
#   (+-50 to +-450 ms), so the differential turned inconclusive in about half of those runs.
#
# In every configuration the difference stayed put while the absolute moved: the run-to-run
# standard deviation of the difference was 4-46 ms, the absolute p50's 7-269 ms, the two close
# only where the load moved nothing. With one swarm per cohort (before the cohorts shared worker
# processes) the difference moved as much as the absolute p50 (73 and 39 ms against 51 and 35 ms
# in two twenty-run runs of this test).


@pytest.mark.timeout(300)
def test_a_noop_fault_passes_the_differential_slo_in_loaded_runs(tmp_path: Path) -> None:
    """A noop fault, four runs, two under spinners: the differential verdict never blames the
    noop and passes in every judged run but one; the absolute threshold as tight, and how much
    each value moved from run to run, are counted and printed (the comment above)."""
    counts = _noop_runs(tmp_path, 4)
    print("\n".join(counts.lines))
    print(counts.summary(4))
    assert counts.judged >= 2 and counts.blamed == 0, counts.lines
    assert counts.differential >= counts.judged - 1, counts.lines


@pytest.mark.long
@pytest.mark.timeout(1500)
def test_a_noop_fault_passes_the_differential_slo_in_19_of_20_loaded_runs(
    tmp_path: Path,
) -> None:
    """The issue's test: the differential verdict passes in at least 19 of 20 runs (all judged
    runs but one) and never blames the noop; the absolute threshold as tight is counted in the
    same runs and printed, with how much each value moved from run to run
    (the comment above says why its flapping is not asserted)."""
    counts = _noop_runs(tmp_path, 20)
    print("\n".join(counts.lines))
    print(counts.summary(20))
    assert counts.judged >= 10 and counts.blamed == 0, counts.lines
    assert counts.differential >= counts.judged - 1, counts.lines
