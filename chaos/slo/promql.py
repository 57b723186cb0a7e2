"""PromQL's functions, re-implemented over raw samples so an SLO means what PromQL means.

Each function follows Prometheus 2.x (promql/functions.go, promql/quantile.go) step by step,
including the parts that surprise people: ``increase`` extrapolates towards the window edges,
counter resets add the value before the reset, and ``histogram_quantile`` interpolates linearly
inside a bucket, answers with the highest finite bound when the rank falls in the +Inf bucket,
and with the lowest bound when that bound is <= 0. ``None`` stands for PromQL's empty result
(or NaN): no data, which the evaluator never counts as a pass.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from chaos.metrics.series import Series


def extrapolated_delta(
    series: Series, start: float, end: float, *, is_counter: bool, is_rate: bool
) -> float | None:
    """Prometheus' ``extrapolatedRate``: ``increase``/``rate``/``delta`` over ``[start, end]``."""
    times, values = series.timestamps, series.values
    if len(times) < 2:
        return None
    result = values[-1] - values[0]
    if is_counter:
        last = 0.0
        for value in values:
            if value < last:
                result += last
            last = value
    to_start = times[0] - start
    to_end = end - times[-1]
    sampled = times[-1] - times[0]
    if sampled <= 0:
        return None
    average_step = sampled / (len(times) - 1)
    if is_counter and result > 0 and values[0] >= 0:
        # A counter cannot go below zero: never extrapolate back past its zero point.
        to_start = min(to_start, sampled * (values[0] / result))
    threshold = average_step * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average_step / 2
    interval += to_end if to_end < threshold else average_step / 2
    result *= interval / sampled
    if is_rate:
        result /= end - start
    return result


def increase(series: Series, start: float, end: float) -> float | None:
    return extrapolated_delta(series, start, end, is_counter=True, is_rate=False)


def rate(series: Series, start: float, end: float) -> float | None:
    return extrapolated_delta(series, start, end, is_counter=True, is_rate=True)


def sum_present(values: Iterable[float | None]) -> float | None:
    """``sum(...)`` over an instant vector: series without a result simply are not there."""
    present = [v for v in values if v is not None]
    return math.fsum(present) if present else None


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """``histogram_quantile`` for one group of (upper bound, cumulative count) buckets."""
    if math.isnan(q):
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = defaultdict(float)
    for bound, count in buckets:
        merged[bound] += count
    ordered = sorted(merged.items())
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return None
    bounds = [b for b, _ in ordered]
    counts = []
    highest = -math.inf
    for _, count in ordered:  # ensureMonotonic: rates of cumulative buckets may jitter
        highest = max(highest, count)
        counts.append(highest)
    if len(counts) < 2:
        return None
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return None
    rank = q * observations
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    bucket_start, bucket_end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        bucket_start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    if count == 0:  # only at rank 0 over an empty bucket, where Go computes 0/0 = NaN
        return None
    return bucket_start + (bucket_end - bucket_start) * (rank / count)


def histogram_quantile(
    q: float, bucket_series: Iterable[Series], start: float, end: float
) -> float | None:
    """``histogram_quantile(q, sum by (le) (rate(x_bucket[w])))`` evaluated at ``end``."""
    by_bound: dict[float, float] = defaultdict(float)
    for series in bucket_series:
        le = series.key.label("le")
        per_second = rate(series, start, end)
        if le is None or per_second is None:
            continue
        try:
            by_bound[float(le)] += per_second
        except ValueError:
            continue
    if not by_bound:
        return None
    return bucket_quantile(q, sorted(by_bound.items()))


def over_time(series: Series, how: str) -> float:
    """``max_over_time`` / ``min_over_time`` / ``avg_over_time`` / ``last_over_time``.

    As in Prometheus, ``max``/``min`` skip NaN samples unless every sample is NaN, while a NaN
    makes the average NaN.
    """
    values = series.values
    if how in ("max", "min"):
        numbers = [v for v in values if not math.isnan(v)]
        if not numbers:
            return math.nan
        return max(numbers) if how == "max" else min(numbers)
    if how == "mean":
        return math.fsum(values) / len(values)
    if how == "last":
        return values[-1]
    raise ValueError(f"unknown over-time aggregation {how!r}")
