"""Cohorts and differential SLOs in an experiment: the grammar, its errors, the verdict."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from experiment_helpers import BASE, issues, load, with_

from chaos.errors import ExitCode
from chaos.runner.verdict import Verdict, decide
from chaos.slo.cohorts import CohortSamples, evaluate_differential
from chaos.slo.evaluate import Status
from chaos.workload.cohorts import Attempt, Cohort

TTFA = "gameday_listener_time_to_first_audio_seconds"
JOINS = "gameday_listener_joins_ok_total/gameday_listener_join_attempts_total"


def _cohorts(*slos: dict[str, Any]) -> dict[str, Any]:
    document = with_(("slos",), list(slos))
    document["cohorts"] = {"control": "50%"}
    return document


def test_a_cohort_experiment_with_differential_slos_loads(tmp_path: Path) -> None:
    loaded = load(
        _cohorts(
            {"name": "delay", "p95": TTFA, "worse_by_at_most": "500ms"},
            {"name": "joins", "ratio": JOINS, "above_control_minus": "0.5%", "during": "slow"},
            {"name": "plain", "p95": TTFA, "below": "5s"},
        ),
        tmp_path,
    )
    assert loaded.experiment.cohorts is not None
    assert loaded.experiment.cohorts.control.fraction == 0.5
    delay, joins, plain = loaded.experiment.slos
    assert delay.differential and joins.differential and not plain.differential  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("document", "where", "says"),
    [
        (
            with_(("slos",), [{"name": "d", "p95": TTFA, "worse_by_at_most": "500ms"}]),
            "slos[0].worse_by_at_most",
            "add `cohorts: {control: 50%}`",
        ),
        (
            _cohorts({"name": "d", "p95": TTFA, "worse_by_at_most": "500ms", "below": "1s"}),
            "slos[0].below",
            "drop `below`",
        ),
        (
            _cohorts({"name": "d", "p95": TTFA, "worse_by_at_most": "500ms", "window": "5s"}),
            "slos[0].window",
            "drop `window`",
        ),
        (
            _cohorts({"name": "d", "p95": "soundstage_edge_x", "worse_by_at_most": "1s"}),
            "slos[0].p95",
            "not sampled per listener",
        ),
        (
            _cohorts({"name": "d", "ratio": "a_total/b_total", "above_control_minus": "1%"}),
            "slos[0].ratio",
            "not sampled per listener",
        ),
        (
            _cohorts(
                {
                    "name": "d",
                    "ratio": JOINS,
                    "above_control_minus": "1%",
                    "below_control_plus": "1%",
                }
            ),
            "slos[0].below_control_plus",
            "exactly one bound",
        ),
        (
            _cohorts({"name": "d", "p95": TTFA, "worse_by_at_most": "5"}),
            "slos[0].worse_by_at_most",
            "expected a duration",
        ),
        (
            {**_cohorts({"name": "d", "p95": TTFA, "below": "5s"}), "cohorts": {"control": "60%"}},
            "cohorts.control",
            "at most 50%",
        ),
    ],
)
def test_bad_cohort_input_names_the_place_and_the_fix(
    document: dict[str, Any], where: str, says: str, tmp_path: Path
) -> None:
    found = issues(document, tmp_path)
    assert any(i.path == where and says in i.message for i in found), found
    assert all(i.position is not None for i in found)


def _attempts(rng: random.Random, n: int, shift: float) -> list[tuple[int, Attempt]]:
    return [
        (0, (i, 1.0, rng.uniform(0.1, 0.3) + shift, 1, 1, 0.0, 10.0, 0.0, 0, 0)) for i in range(n)
    ]


def test_differential_slos_judge_the_cohorts_and_inconclusive_has_its_own_exit_code(
    tmp_path: Path,
) -> None:
    loaded = load(
        _cohorts(
            {"name": "tight", "p95": TTFA, "worse_by_at_most": "300ms"},
            {"name": "loose", "p95": TTFA, "worse_by_at_most": "2s"},
            {"name": "joins", "ratio": JOINS, "above_control_minus": "0.5%"},
        ),
        tmp_path,
    )
    rng = random.Random(1)
    samples = CohortSamples(
        {Cohort.CONTROL: _attempts(rng, 200, 0.0), Cohort.EXPERIMENT: _attempts(rng, 200, 0.3)}
    )
    tight, loose, joins = evaluate_differential(loaded.experiment, samples, seed=3)
    assert tight.status is Status.INCONCLUSIVE, tight.detail
    assert loose.status is Status.PASS and joins.status is Status.PASS
    assert tight.value == pytest.approx(0.3, abs=0.02)
    assert tight.differential is not None and tight.differential["interval"][0] < 0.3
    assert "vs control" in tight.detail and "interval" in tight.detail
    verdict = decide([tight, loose, joins])
    assert verdict is Verdict.INCONCLUSIVE and verdict.exit_code == ExitCode.INCONCLUSIVE == 4
    assert decide([loose]) is Verdict.PASS
    failing = evaluate_differential(
        loaded.experiment,
        CohortSamples(
            {Cohort.CONTROL: _attempts(rng, 200, 0.0), Cohort.EXPERIMENT: _attempts(rng, 200, 3)}
        ),
        seed=3,
    )
    assert decide(failing) is Verdict.FAIL
    assert evaluate_differential(loaded.experiment, CohortSamples({}), seed=1)[0].status is (
        Status.NO_DATA
    )


def test_the_base_document_is_untouched() -> None:
    assert "cohorts" not in BASE


def test_control_on_the_command_line_is_checked_before_anything_starts(tmp_path: Path) -> None:
    from runner_support import gameday, tiny_experiment

    path = tiny_experiment(tmp_path)
    done = gameday("run", path, "--control", "60%", "--out", tmp_path / "run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "at most 50% of the audience" in done.stderr + done.stdout
    assert "not 60%" in done.stderr + done.stdout
    done = gameday("run", path, "--control", "half")
    assert done.returncode == 2 and "e.g. 50%" in done.stderr


def test_listener_metrics_carry_a_cohort_label_and_sum_to_the_whole_audience() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from chaos.workload.metrics import CohortCollector
    from chaos.workload.stats import ListenerStats

    control, experiment = ListenerStats(), ListenerStats()
    control.record_ttfa(0.2)
    experiment.record_ttfa(1.2)
    experiment.record_ttfa(1.4)
    registry = CollectorRegistry()
    registry.register(CohortCollector(lambda: {"control": control, "experiment": experiment}))
    joins = {
        s.labels["cohort"]: s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
        if s.name == "gameday_listener_joins_ok_total"
    }
    assert joins == {"control": 1.0, "experiment": 2.0}
