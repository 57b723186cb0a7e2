"""PromQL semantics re-implemented over raw samples: known answers and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.metrics.series import Series, SeriesKey
from chaos.slo.promql import (
    bucket_quantile,
    extrapolated_delta,
    histogram_quantile,
    increase,
    over_time,
    rate,
)


def series(times: list[float], values: list[float], **labels: str) -> Series:
    return Series(SeriesKey.of("x", labels), tuple(times), tuple(values))


BUCKETS = [(0.1, 50.0), (0.5, 90.0), (1.0, 99.0), (math.inf, 100.0)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.25, 0.05),  # first bucket interpolates from 0
        (0.5, 0.1),
        (0.7, 0.1 + 0.4 * 20 / 40),
        (0.995, 1.0),  # rank in the +Inf bucket: the highest finite bound
        (1.0, 1.0),
        (-0.1, -math.inf),
        (1.1, math.inf),
    ],
)
def test_bucket_quantile_known_values(q: float, expected: float) -> None:
    assert bucket_quantile(q, BUCKETS) == pytest.approx(expected)


def test_lowest_bucket_with_non_positive_bound_answers_that_bound() -> None:
    assert bucket_quantile(0.1, [(-1.0, 10.0), (1.0, 20.0), (math.inf, 20.0)]) == -1.0


def test_histogram_without_inf_bucket_or_observations_has_no_quantile() -> None:
    assert bucket_quantile(0.5, [(0.1, 1.0), (1.0, 2.0)]) is None
    assert bucket_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert bucket_quantile(0.5, [(math.inf, 3.0)]) is None
    assert bucket_quantile(math.nan, BUCKETS) is None
    assert bucket_quantile(0.0, [(1.0, 0.0), (math.inf, 1.0)]) is None  # Go: 0/0 = NaN


def test_non_monotonic_buckets_are_made_monotonic_and_duplicates_merged() -> None:
    jittery = [(0.1, 50.0), (0.5, 49.0), (1.0, 99.0), (math.inf, 100.0)]
    assert bucket_quantile(0.5, jittery) == pytest.approx(0.1)
    split = [(0.1, 25.0), (0.1, 25.0), (0.5, 90.0), (1.0, 99.0), (math.inf, 100.0)]
    assert bucket_quantile(0.25, split) == pytest.approx(0.05)


bucket_sets = st.lists(
    st.tuples(
        st.floats(min_value=-10, max_value=1e4, allow_nan=False),
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
    ),
    min_size=1,
    max_size=12,
).map(lambda bs: [*bs, (math.inf, max(c for _, c in bs) + 1.0)])


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(bucket_sets, st.floats(1e-9, 1), st.floats(1e-9, 1))
def test_quantile_is_monotone_in_q(buckets: list[tuple[float, float]], a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    low, high = bucket_quantile(lo, buckets), bucket_quantile(hi, buckets)
    assert low is not None and high is not None
    assert low <= high + 1e-9 * max(1.0, abs(high))


def test_histogram_quantile_sums_rates_by_le_across_series() -> None:
    times = [0.0, 10.0]
    parts = []
    for instance in ("a", "b"):
        for le, per_s in (("0.1", 5.0), ("1", 9.0), ("+Inf", 10.0)):
            parts.append(series(times, [0.0, per_s * 10], le=le, instance=instance))
    # summed: 10/s ≤ 0.1, 18/s ≤ 1, 20/s in all; rank 0.75 · 20 = 15 lies in (0.1, 1]
    assert histogram_quantile(0.75, parts, 0.0, 10.0) == pytest.approx(0.1 + 0.9 * 5 / 8)


def test_increase_extrapolates_to_the_window_edges() -> None:
    # samples 1 s apart from 1 s to 9 s, window [0, 10]: both edges within 1.1 × step
    s = series([float(t) for t in range(1, 10)], [100.0 + 10 * t for t in range(1, 10)])
    assert increase(s, 0.0, 10.0) == pytest.approx(100.0)
    assert rate(s, 0.0, 10.0) == pytest.approx(10.0)


def test_increase_extrapolates_only_half_a_step_past_a_gap() -> None:
    s = series([5.0, 6.0, 7.0], [50.0, 60.0, 70.0])  # window [0, 10]: 5 s and 3 s gaps
    assert increase(s, 0.0, 10.0) == pytest.approx(20.0 * 3.0 / 2.0)


def test_increase_never_extrapolates_below_zero() -> None:
    s = series([1.0, 2.0, 3.0], [0.5, 10.5, 20.5])  # zero point 0.05 s before the first sample
    assert increase(s, 0.5, 3.0) == pytest.approx(20.0 * (2.0 + 0.05) / 2.0)


def test_counter_reset_adds_the_value_before_the_reset() -> None:
    s = series([0.0, 1.0, 2.0, 3.0], [10.0, 20.0, 5.0, 15.0])
    assert increase(s, 0.0, 3.0) == pytest.approx(5.0 + 20.0)


def test_a_single_sample_has_no_increase() -> None:
    assert increase(series([1.0], [3.0]), 0.0, 2.0) is None


def test_gauge_delta_may_be_negative() -> None:
    s = series([0.0, 1.0], [10.0, 4.0])
    assert extrapolated_delta(s, 0.0, 1.0, is_counter=False, is_rate=False) == -6.0


counters = st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=2, max_size=40)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(counters, st.floats(0, 5), st.floats(0, 5))
def test_counter_resets_never_give_negative_rates(
    values: list[float], before: float, after: float
) -> None:
    times = [float(i) for i in range(len(values))]
    s = series(times, values)
    start, end = -before, times[-1] + after
    inc, per_s = increase(s, start, end), rate(s, start, end)
    assert inc is not None and inc >= 0
    assert per_s is not None and per_s >= 0


def test_over_time_aggregations() -> None:
    s = series([0.0, 1.0, 2.0], [3.0, 1.0, 2.0])
    assert [over_time(s, how) for how in ("max", "min", "mean", "last")] == [3.0, 1.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="median"):
        over_time(s, "median")


def test_max_and_min_over_time_skip_nan_like_prometheus() -> None:
    s = series([0.0, 1.0, 2.0], [math.nan, 4.0, 2.0])
    assert over_time(s, "max") == 4.0 and over_time(s, "min") == 2.0
    assert math.isnan(over_time(s, "mean"))
    assert math.isnan(over_time(series([0.0], [math.nan]), "max"))
