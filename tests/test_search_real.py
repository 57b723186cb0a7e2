"""`gameday search` end to end on the one-process tiny stack: real runs, judged by the runner."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from runner_support import gameday, popen_gameday, tiny_experiment, wait_for_no_holders

from chaos.experiment.loader import load_experiment

pytestmark = pytest.mark.slow  # first in the queue: see conftest


@pytest.mark.timeout(120)
def test_a_stable_stack_gives_no_failing_schedule_with_the_count_of_runs(tmp_path: Path) -> None:
    path = tiny_experiment(tmp_path, length="2s")
    out = tmp_path / "search"
    done = gameday("search", path, "--budget", "15s", "--repeats", "1", "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "search-report.json").read_text())
    runs = report["stats"]["runs"]
    assert runs >= 1 and report["minimal"] is None
    assert f"no failing schedule found in {runs} run" in done.stdout
    assert len(list((out / "runs").glob("run-*/journal.jsonl"))) == runs
    assert not (out / "minimal-failing.yaml").exists()


@pytest.mark.timeout(120)
def test_slos_that_fail_without_faults_give_the_empty_schedule_replayable(
    tmp_path: Path,
) -> None:
    path = tiny_experiment(tmp_path, length="2s")
    path.write_text(path.read_text().replace("below: 1", "below: 0"))
    out = tmp_path / "search"
    done = gameday("search", path, "--budget", "60s", "--repeats", "1", "--out", out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the SLOs fail without any fault — failed 1 of 1 run" in done.stdout
    replay = load_experiment(out / "minimal-failing.yaml")
    assert replay.experiment.faults == []
    assert "nobody-listening" in (out / "search-report.md").read_text()


@pytest.mark.timeout(120)
def test_an_slo_without_data_without_faults_is_not_a_failing_schedule(tmp_path: Path) -> None:
    """With nobody listening, join success is 0 of 0: no data, with or without faults."""
    extra = "  - {name: join-success, ratio: joins_ok/joins, above: 0.99}"
    path = tiny_experiment(tmp_path, length="2s", extra=extra)
    out = tmp_path / "search"
    done = gameday("search", path, "--budget", "60s", "--repeats", "1", "--out", out)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "without any fault" not in done.stdout, "not reported as a failing schedule"
    assert "without any fault, 1 SLO(s) had no data" in done.stderr
    assert "join-success: none over" in done.stderr and "fix:" in done.stderr
    assert "nobody-listening" not in done.stderr and "Traceback" not in done.stderr
    assert not (out / "minimal-failing.yaml").exists()


@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_search_after_rolling_back_the_run(tmp_path: Path) -> None:
    path = tiny_experiment(tmp_path, length="5s")
    out = tmp_path / "search"
    search = popen_gameday("search", path, "--budget", "60s", "--repeats", "1", "--out", out)
    deadline = time.monotonic() + 60
    while not list(out.glob("runs/run-*/journal.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # into the run
    search.send_signal(signal.SIGINT)
    output, _ = search.communicate(timeout=60)
    assert search.returncode == 130, output
    assert "search interrupted: 1 runs started, 0 completed" in output and "Traceback" not in output
    (run_dir,) = out.glob("runs/run-*")
    assert wait_for_no_holders(run_dir) == []  # the run's stack and proxy are gone
