"""The on-air SLO kind (`on_air_within: 8s`): listeners hear the host within a limit of T0.

Judged from the harness's gauge of the on-air delay, from T0 to the run's end: the earliest
delay reported counts, nobody heard past the limit is a fail (not a lack of data), and the file
refuses a window or a threshold, which the kind does not take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.experiment.slos import OnAirSLO
from chaos.experiment.units import Duration
from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.slo.adapt import objectives_from_experiment
from chaos.slo.display import formats
from chaos.slo.evaluate import Status, evaluate
from chaos.slo.live import SETTLE, LiveState, live_state
from chaos.slo.objective import ON_AIR_DELAY, Context, OnAir, metric_names
from chaos.slo.rules import plan_export
from chaos.slo.window import Interval, Timeline
from tests.experiment_helpers import BASE, issues, load, with_

T0 = 100.0
TIMELINE = Timeline(
    Interval(T0 - 10, T0 + 30), {"baseline": Interval(T0 - 10, T0), "method": Interval(T0, T0 + 20)}
)
SLO = OnAir("on-air", 8.0)


def _heard(delays: list[tuple[float, float]]) -> Context:
    """The gauge as the runner's registry exposes it: (scraped at, on-air delay) pairs."""
    store = SeriesStore()
    for at, delay in delays:
        store.append(SeriesKey.of(ON_AIR_DELAY), at, delay)
    return Context(store.range)


def test_heard_within_the_limit_passes_and_later_fails() -> None:
    early = evaluate(SLO, TIMELINE, _heard([(T0 + 5, 4.6), (T0 + 6, 4.6)]))
    late = evaluate(SLO, TIMELINE, _heard([(T0 + 10, 9.5)]))
    assert (early.status, early.value) == (Status.PASS, 4.6)
    assert "heard the host 4.6s after T0" in early.detail
    assert (late.status, late.value) == (Status.FAIL, 9.5)
    assert late.evidence.window == Interval(T0, T0 + 30)


def test_the_earliest_report_counts() -> None:
    # an ear that heard earlier reported later: the runner lowers the gauge
    result = evaluate(SLO, TIMELINE, _heard([(T0 + 10, 9.0), (T0 + 11, 6.0), (T0 + 12, 6.0)]))
    assert (result.status, result.value) == (Status.PASS, 6.0)


def test_nobody_heard_past_the_limit_is_a_fail_not_no_data() -> None:
    never = evaluate(SLO, TIMELINE, _heard([]))
    assert never.status is Status.FAIL and never.value is None
    assert "no listener heard the host in the 30s after T0" in never.detail
    short = Timeline(Interval(T0 - 10, T0 + 5), {"method": Interval(T0, T0 + 5)})
    undecided = evaluate(SLO, short, _heard([]))
    assert undecided.status is Status.NO_DATA  # the run ended before the limit


def test_samples_before_t0_are_not_this_run_s() -> None:
    result = evaluate(SLO, TIMELINE, _heard([(T0 - 5, 1.0)]))
    assert result.status is Status.FAIL and result.value is None


@given(st.floats(0.0, 30.0), st.floats(0.5, 20.0))
def test_the_verdict_is_the_delay_against_the_limit(delay: float, within: float) -> None:
    result = evaluate(OnAir("on-air", within), TIMELINE, _heard([(T0 + delay, delay)]))
    assert result.value == delay
    assert result.passed is (delay < within)


def test_live_it_passes_once_heard_in_time_and_fails_only_at_the_run_s_end() -> None:
    def at(now: float, ctx: Context) -> LiveState:
        return live_state(SLO, evaluate(SLO, TIMELINE, ctx), TIMELINE, now).state

    nobody = _heard([])
    assert at(T0 - 1, nobody) is LiveState.WAITING
    assert at(T0 + 3, nobody) is LiveState.PENDING
    # past the limit an ear that heard the host in time may still report: at risk, not failed
    assert at(T0 + 12, nobody) is LiveState.AT_RISK
    assert at(TIMELINE.run.end + SETTLE, nobody) is LiveState.FAIL
    # a report that came 7 s late, of a host heard 0.5 s after T0: a pass as soon as it comes
    assert at(T0 + 12, _heard([(T0 + 12, 0.5)])) is LiveState.PASS
    late = _heard([(T0 + 12, 9.0)])
    assert at(T0 + 13, late) is LiveState.AT_RISK  # an earlier ear may still report
    assert at(TIMELINE.run.end + SETTLE, late) is LiveState.FAIL


def _with_slo(slo: dict[str, Any]) -> Any:
    return with_(("slos",), [*BASE["slos"], {"name": "on-air", **slo}])


def test_an_experiment_states_it_as_its_own_kind(tmp_path: Path) -> None:
    experiment = load(_with_slo({"on_air_within": "8s"}), tmp_path).experiment
    parsed = experiment.slos[1]
    assert isinstance(parsed, OnAirSLO) and parsed.on_air_within == Duration.parse("8s")
    objective = objectives_from_experiment(experiment)[1]
    assert objective == OnAir("on-air", 8.0)
    assert metric_names(objective) == {ON_AIR_DELAY}
    assert formats(experiment)["on-air"].unit == "s"
    skipped = {s.name: s.reason for s in plan_export([objective]).skipped}
    assert "only in a game day" in skipped["on-air"]


@pytest.mark.parametrize(
    ("slo", "where", "fragment"),
    [
        ({"on_air_within": "8s", "during": "slow"}, "slos[1].during", "drop `during`"),
        ({"on_air_within": "8s", "below": "5s"}, "slos[1].below", "drop `below`"),
        ({"on_air_within": "0s"}, "slos[1].on_air_within", "longer than 0s"),
        ({"on_air_within": "fast"}, "slos[1].on_air_within", "expected a duration like"),
        ({"on_air_within": "1h"}, "slos[1].on_air_within", "before an on-air delay of 1h"),
    ],
)
def test_refusals_name_the_field(
    tmp_path: Path, slo: dict[str, Any], where: str, fragment: str
) -> None:
    found = issues(_with_slo(slo), tmp_path)
    assert len(found) == 1, found
    assert (found[0].path, fragment in found[0].message) == (where, True), found[0]


def test_a_recovery_does_not_recover_the_on_air_delay(tmp_path: Path) -> None:
    document = with_(
        ("slos",),
        [
            *BASE["slos"],
            {"name": "on-air", "on_air_within": "8s"},
            {"name": "back", "recovers_within": "5s", "after": "slow", "of": ["on-air"]},
        ],
    )
    found = issues(document, tmp_path)
    assert [i.path for i in found] == ["slos[2].of[0]"], found
    assert "not an SLO that can recover" in found[0].message
