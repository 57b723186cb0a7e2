"""In-memory time series store with Prometheus' range and staleness semantics.

Samples of one series arrive in time order (one scraper per target), so each series is two
append-only float arrays and a range query is two binary searches: O(log n + k). Staleness is
kept as Prometheus keeps it, as a marker sample, so a range query can drop markers while an
instant lookup can stop at them; a series with no sample for ``LOOKBACK`` seconds counts as gone.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from chaos.metrics.batch import RECORD_KIND, SampleBatch
from chaos.metrics.selectors import MatcherSpec, as_matchers
from chaos.metrics.series import STALE_NAN, Labels, Series, SeriesKey, is_stale_marker

LOOKBACK = 300.0
"""Prometheus' default lookback delta: an instant query ignores samples older than 5 minutes."""


class _Column:
    __slots__ = ("stale", "times", "values")

    def __init__(self) -> None:
        self.times = array("d")
        self.values = array("d")
        self.stale = 0

    def append(self, t: float, v: float) -> bool:
        if self.times and t <= self.times[-1]:
            return False
        self.times.append(t)
        self.values.append(v)
        self.stale += is_stale_marker(v)
        return True


class SeriesStore:
    """Series by metric name, each a time-ordered column; the evaluator's default source."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[Labels, _Column]] = {}
        self.rejected = 0
        """Samples dropped for arriving out of order or duplicated, as Prometheus drops them."""

    def append(self, key: SeriesKey, t: float, value: float) -> None:
        series = self._by_name.get(key.name)
        if series is None:
            series = self._by_name[key.name] = {}
        column = series.get(key.labels)
        if column is None:
            column = series[key.labels] = _Column()
        if not column.append(t, value):
            self.rejected += 1

    def mark_stale(self, key: SeriesKey, t: float) -> None:
        """Record that ``key`` vanished at ``t`` (its target went down or stopped exposing it)."""
        series = self._by_name.get(key.name, {}).get(key.labels)
        if series is not None and series.times and not is_stale_marker(series.values[-1]):
            series.append(t, STALE_NAN)

    def add_batch(self, batch: SampleBatch) -> None:
        for key, value in batch.samples:
            self.append(key, batch.timestamp, value)
        for key in batch.stale:
            self.mark_stale(key, batch.timestamp)

    @classmethod
    def from_journal_samples(cls, records: Iterable[Mapping[str, Any]]) -> SeriesStore:
        """Rebuild a store from journal records, so re-evaluating a run needs only its journal.

        Accepts any journal records: those of another kind are skipped, so the whole journal
        can be passed as read.
        """
        store = cls()
        for number, record in enumerate(records, 1):
            if record.get("kind", RECORD_KIND) == RECORD_KIND:
                store.add_batch(SampleBatch.from_record(record, where=f"journal record {number}"))
        return store

    def names(self) -> set[str]:
        return set(self._by_name)

    def keys(self, name: str, matchers: MatcherSpec = None) -> list[SeriesKey]:
        wanted = as_matchers(matchers)
        keys = (SeriesKey(name, labels) for labels in self._by_name.get(name, {}))
        return sorted(k for k in keys if k.matches(wanted))

    def _columns(self, name: str, matchers: MatcherSpec) -> Iterator[tuple[SeriesKey, _Column]]:
        columns = self._by_name.get(name, {})
        for key in self.keys(name, matchers):
            yield key, columns[key.labels]

    def range(self, name: str, matchers: MatcherSpec, start: float, end: float) -> list[Series]:
        """Samples with ``start <= t <= end`` (Prometheus 2.x range selectors include both
        ends), staleness markers removed; series without samples in range are left out."""
        found = []
        for key, column in self._columns(name, matchers):
            lo = bisect_left(column.times, start)
            hi = bisect_right(column.times, end)
            if lo == hi:
                continue
            times, values = column.times[lo:hi], column.values[lo:hi]
            if column.stale:
                kept = [
                    (t, v) for t, v in zip(times, values, strict=True) if not is_stale_marker(v)
                ]
                if not kept:
                    continue
                found.append(Series(key, *map(tuple, zip(*kept, strict=True))))
            else:
                found.append(Series(key, tuple(times), tuple(values)))
        return found

    def latest(self, name: str, matchers: MatcherSpec, at: float) -> dict[SeriesKey, float]:
        """An instant vector at ``at``: each series' last value within ``LOOKBACK``, unless
        its last sample is a staleness marker."""
        out = {}
        for key, column in self._columns(name, matchers):
            i = bisect_right(column.times, at) - 1
            if (
                i >= 0
                and at - column.times[i] <= LOOKBACK
                and not is_stale_marker(column.values[i])
            ):
                out[key] = column.values[i]
        return out
