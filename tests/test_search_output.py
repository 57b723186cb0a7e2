"""The search's edges: the space derived from an experiment, the minimal schedule written as a
replayable experiment, the report, the runner judge's reading of verdicts, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search_support import planted_judge
from typer.testing import CliRunner

from chaos.cli import app
from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.loader import LoadedExperiment, load_experiment
from chaos.runner.run import RunOptions, RunOutcome
from chaos.runner.verdict import Verdict
from chaos.search.candidate import candidate
from chaos.search.engine import Budget, Search
from chaos.search.judge import RunnerJudge, SearchInterrupted
from chaos.search.report import MINIMAL, REPORT_JSON, REPORT_MD, write_search
from chaos.search.schedule import Schedule
from chaos.search.space import SearchSpace
from chaos.search.strategies import fault_schedules
from chaos.search.vote import Policy

EXPERIMENT = Path(__file__).resolve().parent.parent / "experiments" / "launch-storm.yaml"


@pytest.fixture(scope="module")
def loaded() -> LoadedExperiment:
    return load_experiment(EXPERIMENT)


def test_the_space_comes_from_the_experiment(loaded: LoadedExperiment) -> None:
    space = SearchSpace.of(loaded.experiment, loaded.stack)
    assert space.links == ("listener->edge", "client->api")  # the links its faults touch
    assert space.kinds == ("latency",)  # the searchable kinds it uses
    assert space.window == 40  # its faults and phases end 40 s after T0
    assert "speaker->ingest" not in space.streams  # UDP: loss may go there
    wider = SearchSpace.of(
        loaded.experiment, loaded.stack, links=("speaker->ingest",), kinds=("loss",)
    )
    assert wider.pairs == (("speaker->ingest", "loss"),)
    with pytest.raises(InvalidInput, match="no such link"):
        SearchSpace.of(loaded.experiment, loaded.stack, links=("nowhere->edge",))
    assert SearchSpace.of(loaded.experiment, loaded.stack, vary_storm=True).storm == (1, 300)


def test_the_minimal_schedule_is_a_replayable_experiment(
    loaded: LoadedExperiment, tmp_path: Path
) -> None:
    space = SearchSpace.of(
        loaded.experiment,
        loaded.stack,
        links=("listener->edge", "speaker->ingest"),
        kinds=("latency", "loss"),
    )
    result = Search(space, planted_judge, policy=Policy(1), budget=Budget(60), seed=5).run()
    written = write_search(tmp_path, loaded, space, result)
    assert [p.name for p in written] == [MINIMAL, REPORT_JSON, REPORT_MD]
    replay = load_experiment(tmp_path / MINIMAL)  # valid, from another directory
    faults = {f.kind: f for f in replay.experiment.faults}
    assert set(faults) == {"latency", "loss"}
    assert str(faults["latency"].latency) == "301ms"  # type: ignore[union-attr]
    assert str(faults["loss"].loss) == "2.1%"  # type: ignore[union-attr]
    assert replay.experiment.seed == result.seed
    assert replay.experiment.title.endswith("(minimal failing schedule)")
    slos = [s.name for s in replay.experiment.slos]
    assert "stalls" not in slos and "recovered" not in slos and "join-success" in slos
    report = json.loads((tmp_path / REPORT_JSON).read_text())
    assert report["dropped_slos"] == ["stalls", "recovered"]
    assert report["vote"]["fails"] == 1 and report["stats"]["runs"] == result.stats.runs
    markdown = (tmp_path / REPORT_MD).read_text()
    assert "failed 1 of 1 run" in markdown and f"gameday run {tmp_path / MINIMAL}" in markdown


def _outcome(verdict: Verdict, tmp_path: Path, message: str | None = None) -> RunOutcome:
    return RunOutcome(verdict, "r1", tmp_path, message=message)


def test_the_runner_judge_reads_verdicts_honestly(loaded: LoadedExperiment, tmp_path: Path) -> None:
    judge = RunnerJudge(loaded, RunOptions(), tmp_path)
    with pytest.raises(InfrastructureError, match="first run could not judge"):
        judge._run(_outcome(Verdict.INFRASTRUCTURE, tmp_path, "stack down"), 1.0, Schedule(()))
    assert judge._run(_outcome(Verdict.PASS, tmp_path), 1.0, Schedule(())).failed is False
    failed = judge._run(_outcome(Verdict.ABORTED, tmp_path, "join-collapse"), 1.0, Schedule(()))
    assert failed.failed is True and "join-collapse" in failed.detail
    later = judge._run(_outcome(Verdict.INFRASTRUCTURE, tmp_path, "proxy gone"), 1.0, Schedule(()))
    assert later.failed is None and "proxy gone" in later.detail
    with pytest.raises(SearchInterrupted):
        judge._run(_outcome(Verdict.INTERRUPTED, tmp_path), 1.0, Schedule(()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "10m", "--repeats", "2", "--quorum", "3"], "quorum"),
        (["--budget", "10m", "--kind", "jitter"], "cannot be searched"),
    ],
)
def test_bad_search_options_are_invalid_input(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["search", str(EXPERIMENT), *args])
    assert isinstance(result.exception, InvalidInput)
    assert message in str(result.exception)


@pytest.mark.parametrize(
    ("args", "budget", "example"),
    [
        (["--budget", "600"], 600.0, None),
        (["--budget", "10m", "--example-budget", "90"], 600.0, 90.0),
        (["--budget", "1h", "--example-budget", "1m30s"], 3600.0, 90.0),
        (["--budget", "0.5"], 0.5, None),
    ],
)
def test_budgets_read_durations_as_every_command_does(
    args: list[str], budget: float, example: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bare seconds (`--budget 600`) as for `--timeout 30`, or a duration with units."""
    import chaos.search.cli

    seen: list[chaos.search.cli.SearchOptions] = []

    def searched(path: Path, options: chaos.search.cli.SearchOptions, *_: object) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(chaos.search.cli, "search_command", searched)
    result = CliRunner().invoke(app, ["search", str(EXPERIMENT), *args])
    assert result.exit_code == 0, result.output
    assert [(o.budget, o.example_budget) for o in seen] == [(budget, example)]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--budget", "soon"], "--budget"),
        (["--budget", "0"], "--budget"),
        (["--budget", "0s"], "--budget"),
        (["--budget", "10m", "--example-budget", "-5s"], "--example-budget"),
        (["--budget", "10m", "--example-budget", "later"], "--example-budget"),
    ],
)
def test_a_bad_budget_names_its_option_and_searches_nothing(
    args: list[str], option: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chaos.search.cli

    def searched(*_: object) -> int:
        raise AssertionError("a search started on a bad budget")

    monkeypatch.setattr(chaos.search.cli, "search_command", searched)
    result = CliRunner().invoke(app, ["search", str(EXPERIMENT), *args])
    assert result.exit_code == 2
    assert f"Invalid value for {option}" in result.output and args[-1] in result.output


def test_the_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "search", str(EXPERIMENT), "--budget", "0s"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--budget: 0s is not a positive duration" in done.stderr
    assert "Traceback" not in done.stderr


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_storm_variations_stay_in_bounds_and_reach_the_experiment(data: st.DataObject) -> None:
    loaded = load_experiment(EXPERIMENT)
    space = SearchSpace.of(loaded.experiment, loaded.stack, vary_storm=True)
    schedule = data.draw(fault_schedules(space))
    assert schedule.storm is not None
    assert 1 <= schedule.storm.count <= 300 and 0 <= schedule.storm.spread <= space.max_spread
    storm = candidate(loaded, schedule, portable=False).load(EXPERIMENT).experiment.workload
    first = storm.listeners[0]
    assert first.count == schedule.storm.count  # type: ignore[union-attr]
    assert first.spread.seconds == schedule.storm.spread  # type: ignore[union-attr]
