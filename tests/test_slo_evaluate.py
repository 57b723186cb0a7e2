"""Evaluation over phase-bound and sliding windows, recovery time, evidence, and no-data."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.errors import InvalidInput
from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.slo.evaluate import Status, evaluate, evaluate_all, verdict
from chaos.slo.names import check_metric_names
from chaos.slo.objective import (
    Comparison,
    Condition,
    Context,
    Counter,
    CounterFunction,
    Gauge,
    GaugeAggregation,
    Indicator,
    Objective,
    PromQL,
    Quantile,
    Ratio,
    Recovery,
    Selector,
    Threshold,
)
from chaos.slo.window import Anchor, Interval, Timeline, WindowSpec, sliding_windows

BELOW = Comparison.BELOW
ABOVE = Comparison.ABOVE
EQUALS = Comparison.EQUALS
TIMELINE = Timeline(
    Interval(0, 100),
    {"baseline": Interval(0, 10), "storm": Interval(20, 50), "slow-edge": Interval(30, 60)},
)


def level(t: float) -> float:
    """A gauge that is 1 except during slow-edge and for 7 s after it, when it is 5."""
    return 5.0 if 30 <= t < 67 else 1.0


def world() -> SeriesStore:
    store = SeriesStore()
    for t in range(101):
        store.append(SeriesKey.of("level", {"edge": "a"}), t, level(t))
        store.append(SeriesKey.of("level", {"edge": "b"}), t, 0.5)
        # 10 joins/s; failures only during the storm (2/s)
        store.append(SeriesKey.of("joins_total"), t, 10.0 * t)
        failed = 2.0 * min(max(t - 20, 0), 30)
        store.append(SeriesKey.of("joins_ok_total"), t, 10.0 * t - failed)
        store.append(SeriesKey.of("howls_total"), t, 0.0 if t < 80 else 3.0)
        for le, share in (("0.5", 0.5), ("1", 0.9), ("+Inf", 1.0)):
            store.append(SeriesKey.of("ttfa_seconds_bucket", {"le": le}), t, 100.0 * t * share)
    return store


CTX = Context(world().range)
OK_RATIO = Ratio(Selector.of("joins_ok_total"), Selector.of("joins_total"))
LEVEL_MAX = Gauge(Selector.of("level"), GaugeAggregation.MAX)


def judge(indicator: Indicator, comparison: Comparison, value: float, **window: object) -> object:
    spec = WindowSpec(**window)  # type: ignore[arg-type]
    return evaluate(Objective("slo", indicator, Threshold(comparison, value), spec), TIMELINE, CTX)


def test_phase_bound_windows_see_only_their_phase() -> None:
    baseline = judge(OK_RATIO, ABOVE, 0.995, anchor=Anchor.BASELINE)
    storm = judge(OK_RATIO, ABOVE, 0.995, anchor=Anchor.DURING, target="storm")
    after = judge(OK_RATIO, ABOVE, 0.995, anchor=Anchor.AFTER, target="storm")
    assert baseline.status is Status.PASS and baseline.value == pytest.approx(1.0)
    assert storm.status is Status.FAIL and storm.value == pytest.approx(0.8)
    assert after.status is Status.PASS and after.evidence.window == Interval(50, 100)
    assert storm.evidence.series == ("joins_ok_total", "joins_total")
    assert storm.evidence.samples == 62  # 31 samples of each counter in [20, 50]


def test_whole_run_dilutes_what_a_sliding_window_catches() -> None:
    whole = judge(OK_RATIO, ABOVE, 0.9, anchor=Anchor.RUN)
    sliding = judge(OK_RATIO, ABOVE, 0.9, anchor=Anchor.RUN, sliding=10.0, step=5.0)
    assert whole.status is Status.PASS  # 60 failures of 1000 joins
    assert sliding.status is Status.FAIL and sliding.value == pytest.approx(0.8)
    assert sliding.evidence.window.start >= 20 and sliding.evidence.window.end <= 50
    assert sliding.evidence.windows == len(list(sliding_windows(Interval(0, 100), 10.0, 5.0)))


def test_worst_window_is_the_highest_for_below_and_lowest_for_above() -> None:
    high = judge(LEVEL_MAX, BELOW, 10, anchor=Anchor.RUN, sliding=5.0)
    low = judge(Gauge(Selector.of("level"), GaugeAggregation.MIN), ABOVE, 0, sliding=5.0)
    assert high.value == 5.0 and low.value == 0.5


def test_gauge_aggregations_and_quantiles() -> None:
    mean = judge(
        Gauge(Selector.of("level"), GaugeAggregation.MEAN), BELOW, 1, anchor=Anchor.BASELINE
    )
    assert mean.value == pytest.approx(0.75) and mean.status is Status.PASS
    p95 = judge(Quantile(Selector.of("ttfa_seconds"), 0.95), BELOW, 1.0)
    assert p95.value == pytest.approx(1.0)  # rank in the +Inf bucket: highest finite bound
    assert p95.status is Status.FAIL  # below is strict
    p50 = judge(Quantile(Selector.of("ttfa_seconds"), 0.5), BELOW, 1.0)
    assert p50.value == pytest.approx(0.5) and p50.status is Status.PASS


def test_equals_zero_on_a_counter_increase() -> None:
    howls = Counter(Selector.of("howls_total"))
    assert judge(howls, EQUALS, 0, anchor=Anchor.DURING, target="storm").status is Status.PASS
    loud = judge(howls, EQUALS, 0, anchor=Anchor.RUN)
    assert loud.status is Status.FAIL and loud.value > 0
    assert "equal to 0" in loud.detail
    joins = judge(Counter(Selector.of("joins_total"), CounterFunction.RATE), ABOVE, 9.9)
    assert joins.value == pytest.approx(10.0) and joins.status is Status.PASS


@pytest.mark.parametrize(
    "indicator",
    [OK_RATIO, LEVEL_MAX, Quantile(Selector.of("ttfa_seconds"), 0.9), Counter(Selector.of("x"))],
    ids=["ratio", "gauge", "quantile", "missing-metric"],
)
@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(start=st.floats(100.001, 1e6) | st.floats(-1e6, -1e3), width=st.floats(0, 999))
def test_windows_outside_the_data_are_no_data_never_pass(
    indicator: Indicator, start: float, width: float
) -> None:
    timeline = Timeline(Interval(start, start + width), {})
    for sliding in (None, 5.0):
        spec = WindowSpec(sliding=sliding)
        slo = Objective("slo", indicator, Threshold(BELOW, math.inf), spec)
        result = evaluate(slo, timeline, CTX)
        assert result.status is Status.NO_DATA and result.value is None
        assert not verdict([result])


def test_a_ratio_without_any_denominator_increase_is_no_data() -> None:
    flat = Ratio(Selector.of("howls_total"), Selector.of("howls_total"))
    assert judge(flat, ABOVE, 0.5, anchor=Anchor.BASELINE).status is Status.NO_DATA


def test_unknown_window_names_list_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="flood") as caught:
        judge(OK_RATIO, ABOVE, 0.9, anchor=Anchor.DURING, target="flood")
    assert "slow-edge" in (caught.value.fix or "")


def test_raw_promql_without_a_prometheus_backend_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="Prometheus backend"):
        judge(PromQL("sum(rate(x[$window]))"), BELOW, 1)


def recovery(within: float, hold: float = 5.0, **kw: object) -> Recovery:
    condition = Condition("level", LEVEL_MAX, Threshold(BELOW, 2))
    return Recovery("recovery", (condition,), "slow-edge", within, hold, **kw)  # type: ignore[arg-type]


def test_recovery_time_is_measured_from_the_fault_end() -> None:
    # slow-edge ends at 60; the level is high up to the sample at 66; checks see one sample
    result = evaluate(recovery(within=30, measure=0.5), TIMELINE, CTX)
    assert result.status is Status.PASS
    assert result.value == pytest.approx(7.0)
    assert result.evidence.window == Interval(67, 72)
    assert "held again 7s after slow-edge" in result.detail


def test_a_longer_measurement_window_delays_recovery_and_can_fail_it() -> None:
    result = evaluate(recovery(within=8, measure=5.0), TIMELINE, CTX)
    assert result.value == pytest.approx(12.0)  # the 5 s look-back must clear 66 first
    assert result.status is Status.FAIL


def test_recovery_needs_every_condition_to_hold() -> None:
    both = Recovery(
        "recovery",
        (
            Condition("level", LEVEL_MAX, Threshold(BELOW, 2)),
            Condition("howls", Counter(Selector.of("howls_total")), Threshold(EQUALS, 0)),
        ),
        "slow-edge",
        within=60,
        hold=5.0,
        measure=3.0,
    )
    result = evaluate(both, TIMELINE, CTX)
    assert result.value == pytest.approx(10.0)
    timeline = Timeline(Interval(0, 100), {"slow-edge": Interval(60, 76)})
    # the level is fine from 77, but the howl at 80 stays in the 3 s look-back until 83
    assert evaluate(both, timeline, CTX).value == pytest.approx(7.0)
    assert evaluate(recovery(within=60, measure=3.0), timeline, CTX).value == 0


def test_a_recovery_that_never_comes_fails_without_a_value() -> None:
    never = Condition("level", LEVEL_MAX, Threshold(ABOVE, 100))
    result = evaluate(Recovery("recovery", (never,), "slow-edge", 30), TIMELINE, CTX)
    assert result.status is Status.FAIL and result.value is None
    assert "never held" in result.detail
    assert result.shown == result.detail, "the console says why, not 'no data'"


def test_recovery_without_data_is_no_data() -> None:
    timeline = Timeline(Interval(0, 500), {"slow-edge": Interval(200, 300)})
    result = evaluate(recovery(within=30), timeline, CTX)
    assert result.status is Status.NO_DATA


def test_recovery_that_cannot_be_seen_holding_long_enough_fails() -> None:
    timeline = Timeline(Interval(0, 100), {"slow-edge": Interval(30, 97)})
    result = evaluate(recovery(within=30, hold=5.0), timeline, CTX)
    assert result.status is Status.FAIL


def test_results_serialise_for_the_journal_and_the_verdict_needs_all() -> None:
    results = evaluate_all(
        [
            Objective("ok", OK_RATIO, Threshold(ABOVE, 0.5)),
            Objective("strict", OK_RATIO, Threshold(ABOVE, 0.99)),
        ],
        TIMELINE,
        CTX,
    )
    record = json.loads(json.dumps(results[1].to_record()))
    assert record["status"] == "fail" and record["window"] == [0, 100]
    assert record["series"] == ["joins_ok_total", "joins_total"]
    assert verdict(results[:1]) and not verdict(results)


def test_sliding_windows_cover_the_interval_and_end_flush() -> None:
    windows = list(sliding_windows(Interval(0, 10), 4, 3))
    assert windows == [Interval(0, 4), Interval(3, 7), Interval(6, 10)]
    assert list(sliding_windows(Interval(0, 3), 4, 1)) == [Interval(0, 3)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"anchor": Anchor.DURING},
        {"anchor": Anchor.RUN, "target": "x"},
        {"sliding": 0.0},
        {"step": 0.0},
    ],
)
def test_window_specs_are_checked(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        WindowSpec(**kwargs)


def test_unknown_metric_names_fail_early_with_the_nearest_names() -> None:
    slos = [
        Objective("ok", OK_RATIO, Threshold(ABOVE, 0.5)),
        Objective("p95", Quantile(Selector.of("ttfa_second"), 0.95), Threshold(BELOW, 1)),
        recovery(within=10),
    ]
    exposed = ["joins_total", "joins_ok_total", "ttfa_seconds_bucket", "level", "up"]
    with pytest.raises(InvalidInput) as caught:
        check_metric_names(slos, exposed)
    message = caught.value.render()
    assert "'ttfa_second_bucket'" in message and "nearest: ttfa_seconds_bucket" in message
    assert "'ok'" not in message
    check_metric_names(slos[:1] + slos[2:], exposed)


def test_a_gauge_that_only_reports_nan_is_no_data() -> None:
    store = SeriesStore()
    for t in range(5):
        store.append(SeriesKey.of("broken"), t, math.nan)
    slo = Objective("nan", Gauge(Selector.of("broken"), GaugeAggregation.MAX), Threshold(BELOW, 1))
    assert evaluate(slo, Timeline(Interval(0, 4)), Context(store.range)).status is Status.NO_DATA


def test_no_data_is_shown_as_such_and_a_value_as_itself() -> None:
    empty = evaluate(recovery(within=30, measure=0.5), TIMELINE, Context(SeriesStore().range))
    assert empty.status is Status.NO_DATA and empty.shown == "no data"
    assert evaluate(recovery(within=30, measure=0.5), TIMELINE, CTX).shown == "7"
