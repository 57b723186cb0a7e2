"""`gameday report`: a run's story told from its journal alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.report.journal import JournalWriter, read_journal
from chaos.report.summary import summarize

GAMEDAY = [sys.executable, "-m", "chaos.cli"]


def _recorded_run(path: Path, *, close: bool = True) -> None:
    clock = iter([100.0, 100.0, 101.0, 103.0, 104.0, 106.0, 108.0, 109.0, 110.0, 111.0])
    journal = JournalWriter(
        path, run_id="r1", seed=9, meta={"title": "storm"}, monotonic_clock=lambda: next(clock)
    )
    journal.phase("baseline")
    journal.phase("method")
    journal.write("fault.start", name="slow-edge", link="listener->edge", latency_ms=200)
    journal.write("fault.end", name="slow-edge")
    journal.write("fault.start", name="flood", link="listener->edge")
    journal.write("slo", name="launch-delay", status="fail", value=7.5, threshold="< 5s")
    journal.write("verdict", verdict="fail")
    if close:
        journal.close()


def test_summary_folds_phases_faults_slos_and_verdict(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    _recorded_run(path)
    summary = summarize(read_journal(path))
    assert (summary.run_id, summary.seed, summary.title) == ("r1", 9, "storm")
    assert [(p.name, p.start, p.end) for p in summary.phases] == [
        ("baseline", 0.0, 1.0),
        ("method", 1.0, 10.0),
    ]
    assert [(f.name, f.start, f.end) for f in summary.faults] == [
        ("slow-edge", 3.0, 4.0),
        ("flood", 6.0, None),
    ]
    assert summary.faults[0].params == {"link": "listener->edge", "latency_ms": 200}
    assert summary.slos[0]["name"] == "launch-delay"
    assert summary.verdict == "fail"
    assert summary.event_counts["fault.start"] == 2
    assert summary.closed


def test_report_command_prints_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    _recorded_run(path, close=False)
    done = subprocess.run([*GAMEDAY, "report", str(path)], capture_output=True, text=True)
    assert done.returncode == 1, "a failed run's journal: exit 1, as `gameday run` did"
    assert "slow-edge" in done.stdout and "launch-delay" in done.stdout
    assert "not closed" in done.stdout
    assert "T0 not reached" in done.stdout, "no baseline phase with T0: times count from opening"


def test_report_command_json(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    _recorded_run(path)
    done = subprocess.run([*GAMEDAY, "report", str(path), "--json"], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["verdict"] == "fail"


def test_report_on_a_missing_journal_exits_2_without_traceback(tmp_path: Path) -> None:
    # Wide, as runner_support runs gameday: a long temp path (an xdist worker's) is not wrapped.
    wide = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [*GAMEDAY, "report", str(tmp_path / "gone.jsonl")], capture_output=True, text=True, env=wide
    )
    assert done.returncode == 2
    assert "gone.jsonl" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("verdict", "code"),
    [("pass", 0), ("fail", 1), ("aborted", 1), ("infrastructure", 3), ("interrupted", 130),
     (None, 3)],
)  # fmt: skip
def test_report_exits_as_the_journal_verdict_says(
    tmp_path: Path, verdict: str | None, code: int
) -> None:
    path = tmp_path / "journal.jsonl"
    with JournalWriter(path, seed=1) as journal:
        if verdict is not None:
            journal.write("verdict", verdict=verdict)
    done = subprocess.run([*GAMEDAY, "report", str(path)], capture_output=True, text=True)
    assert done.returncode == code, done.stdout + done.stderr


def test_times_count_from_t0_on_the_monotonic_clock(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    walls = iter([1000.0, 1001.0, 5000.0, 5000.0, 5000.0, 5000.0])  # the wall clock jumps
    monos = iter([50.0, 51.0, 60.0, 63.0, 70.0, 71.0])
    journal = JournalWriter(
        path, seed=1, wall_clock=lambda: next(walls), monotonic_clock=lambda: next(monos)
    )
    journal.phase("baseline", t0=1011.0, t0_mono=61.0)
    journal.phase("method")
    journal.write("fault.start", name="f", type="down", params={"down": True, "link": "a->b"})
    journal.write("fault.end", name="f")
    journal.close()
    summary = summarize(read_journal(path))
    assert summary.clock.known and summary.clock.t0_wall == 1011.0
    assert summary.opened == -11.0
    assert [(p.name, p.start) for p in summary.phases] == [("baseline", -10.0), ("method", -1.0)]
    assert [(f.name, f.start, f.end) for f in summary.faults] == [("f", 2.0, 9.0)]
