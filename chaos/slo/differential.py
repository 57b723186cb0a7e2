"""Differential SLOs: the experiment cohort judged against the control cohort of the same run.

A threshold on one run's p95 flips with the machine's load; the difference between two cohorts
that share the machine, the stack and the moment does not. The statistic is a difference of
the cohorts' values (a quantile of per-listener samples, or a ratio of per-listener sums); its
uncertainty comes from a seeded bootstrap over listeners: resample each cohort's listeners
with replacement, recompute both values and their difference, and take the central
``confidence`` share of the differences as the interval (the percentile bootstrap).

The verdict uses the whole interval: ``pass`` when all of it is within the bound, ``fail``
when all of it is outside, ``inconclusive`` when it straddles the bound (the run cannot tell;
more listeners or repeats can), ``no-data`` when either cohort has nothing to measure.

Pure: samples and a seed in, a result out; the same inputs give the same interval.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
_CELLS = 1 << 21
"""Resampled indices held at once (resamples are drawn in chunks of this many cells)."""


class Direction(enum.Enum):
    """Which side of the bound the difference (experiment − control) must stay on."""

    AT_MOST = "at_most"
    """difference ≤ bound (a latency that may be worse by at most the bound)."""
    AT_LEAST = "at_least"
    """difference ≥ bound (a success ratio that may drop by at most −bound)."""


class DiffStatus(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NO_DATA = "no-data"


@dataclass(frozen=True, slots=True)
class Bound:
    direction: Direction
    limit: float

    def holds(self, value: float) -> bool:
        if self.direction is Direction.AT_MOST:
            return value <= self.limit
        return value >= self.limit

    def judge(self, low: float, high: float) -> DiffStatus:
        """Pass when the whole interval is within the bound, fail when wholly outside."""
        if self.holds(low) and self.holds(high):
            return DiffStatus.PASS
        if not self.holds(low) and not self.holds(high):
            return DiffStatus.FAIL
        return DiffStatus.INCONCLUSIVE

    def describe(self) -> str:
        sign = "<=" if self.direction is Direction.AT_MOST else ">="
        return f"{sign} {self.limit:g}"


@dataclass(frozen=True, slots=True)
class QuantileStat:
    """The ``q`` quantile of per-listener samples (one value per listener attempt)."""

    q: float

    def value(self, samples: npt.NDArray[np.float64]) -> float:
        return float(np.quantile(samples, self.q, method="inverted_cdf"))

    def resampled(
        self, samples: npt.NDArray[np.float64], picks: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float64]:
        return np.quantile(samples[picks], self.q, axis=1, method="inverted_cdf")


@dataclass(frozen=True, slots=True)
class RatioStat:
    """Σ numerator / Σ denominator over listeners (samples: rows of numerator, denominator)."""

    def value(self, samples: npt.NDArray[np.float64]) -> float:
        den = float(samples[:, 1].sum())
        return float(samples[:, 0].sum()) / den if den > 0 else float("nan")

    def resampled(
        self, samples: npt.NDArray[np.float64], picks: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float64]:
        num = samples[:, 0][picks].sum(axis=1)
        den = samples[:, 1][picks].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


Statistic = QuantileStat | RatioStat


@dataclass(frozen=True, slots=True)
class DiffResult:
    status: DiffStatus
    control: float | None
    experiment: float | None
    difference: float | None
    low: float | None
    high: float | None
    bound: Bound
    listeners: tuple[int, int]
    """Listeners (samples) behind each value: (control, experiment)."""
    confidence: float = DEFAULT_CONFIDENCE

    def to_record(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "control": self.control,
            "experiment": self.experiment,
            "difference": self.difference,
            "interval": [self.low, self.high] if self.low is not None else None,
            "confidence": self.confidence,
            "direction": self.bound.direction.value,
            "bound": self.bound.limit,
            "listeners": list(self.listeners),
        }


def _rows(samples: Sequence[float] | Sequence[tuple[float, float]]) -> npt.NDArray[np.float64]:
    return np.asarray(samples, dtype=np.float64)


def compare(
    statistic: Statistic,
    control: Sequence[float] | Sequence[tuple[float, float]],
    experiment: Sequence[float] | Sequence[tuple[float, float]],
    bound: Bound,
    *,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> DiffResult:
    """Experiment − control, its bootstrap interval and the verdict on ``bound``."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    c, e = _rows(control), _rows(experiment)
    counts = (len(c), len(e))
    empty = DiffResult(DiffStatus.NO_DATA, None, None, None, None, None, bound, counts, confidence)
    if len(c) == 0 or len(e) == 0:
        return empty
    cv, ev = statistic.value(c), statistic.value(e)
    if np.isnan(cv) or np.isnan(ev):
        return empty
    rng = np.random.default_rng(np.random.SeedSequence([seed & (2**63 - 1), 0xC0C0]))
    chunk = max(1, _CELLS // max(len(c), len(e)))
    parts = []
    for start in range(0, resamples, chunk):
        n = min(chunk, resamples - start)
        c_picks = rng.integers(0, len(c), size=(n, len(c)))
        e_picks = rng.integers(0, len(e), size=(n, len(e)))
        parts.append(statistic.resampled(e, e_picks) - statistic.resampled(c, c_picks))
    diffs = np.concatenate(parts)
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0:
        return empty
    tail = (1.0 - confidence) / 2
    low, high = (float(x) for x in np.quantile(diffs, [tail, 1.0 - tail]))
    # the percentile interval of a discrete statistic may not hold the point estimate; widen it
    difference = ev - cv
    low, high = min(low, difference), max(high, difference)
    status = bound.judge(low, high)
    return DiffResult(status, cv, ev, difference, low, high, bound, counts, confidence)
