"""No data is not a failing schedule: how the search's judge reads a run whose broken SLOs
had no data (a run judged by the runner, built here as the runner returns it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from chaos.errors import ExitCode, InvalidInput
from chaos.runner.run import RunOptions, RunOutcome
from chaos.runner.verdict import Verdict
from chaos.search.judge import RunnerJudge
from chaos.search.schedule import FaultSpec, Schedule
from chaos.slo.evaluate import Evidence, SloResult, Status
from chaos.slo.objective import Comparison, Threshold
from chaos.slo.window import Interval

RUN_DIR = Path("runs/search-x/runs/run-0001")
LATENCY = FaultSpec("client->web", "latency", 200, 0, 5)


def _result(name: str, status: Status, value: float | None, window: Interval) -> SloResult:
    threshold = Threshold(Comparison.BELOW, 3.0)
    evidence = Evidence(window, 0 if value is None else 4, ("ttfa",))
    return SloResult(name, status, value, threshold, evidence, f"{value} in method")


def _judge(tmp_path: Path) -> RunnerJudge:
    return RunnerJudge(cast(Any, None), RunOptions(), tmp_path)


def _outcome(*results: SloResult) -> RunOutcome:
    return RunOutcome(Verdict.FAIL, "r1", RUN_DIR, list(results))


def test_without_any_fault_an_slo_without_data_ends_the_search_naming_it(tmp_path: Path) -> None:
    shrunk = _result("launch-delay", Status.NO_DATA, None, Interval(0.0, 1.0))
    held = _result("nobody-howls", Status.PASS, 0.0, Interval(-10.0, 20.0))
    with pytest.raises(InvalidInput) as caught:
        _judge(tmp_path)._run(_outcome(shrunk, held), 9.0, Schedule(()))
    error = caught.value
    assert error.exit_code is ExitCode.INVALID_INPUT
    assert "without any fault, 1 SLO(s) had no data" in error.what
    assert "launch-delay: none over T+0s..T+1s (1 s, 0 samples)" in error.what
    assert "nobody-howls" not in error.what and error.where == str(RUN_DIR)
    assert error.fix is not None and "longer window" in error.fix and "during: run" in error.fix


def test_with_faults_no_data_is_undecided_never_a_failure(tmp_path: Path) -> None:
    judge = _judge(tmp_path)
    shrunk = _result("launch-delay", Status.NO_DATA, None, Interval(0.0, 1.0))
    run = judge._run(_outcome(shrunk), 9.0, Schedule((LATENCY,)))
    assert run.failed is None and "no data for launch-delay" in run.detail


def test_a_real_failure_beside_an_slo_without_data_still_fails(tmp_path: Path) -> None:
    shrunk = _result("launch-delay", Status.NO_DATA, None, Interval(0.0, 1.0))
    broken = _result("stalls", Status.FAIL, 9.0, Interval(0.0, 20.0))
    for schedule in (Schedule(()), Schedule((LATENCY,))):
        run = _judge(tmp_path)._run(_outcome(shrunk, broken), 9.0, schedule)
        assert run.failed is True and "launch-delay, stalls" in run.detail
