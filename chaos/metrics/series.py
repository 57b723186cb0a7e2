"""Series identity and samples: the vocabulary shared by the scraper, the store and the backends.

A series is a metric name plus its label set, exactly as Prometheus identifies one; labels are
kept as a sorted tuple so a series key is hashable, ordered and cheap to compare.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chaos.metrics.selectors import Matcher, MatcherSpec, as_matchers, matches_all, render

Labels = tuple[tuple[str, str], ...]

# Prometheus marks a series stale with this exact NaN bit pattern (value.StaleNaN), so an
# ordinary NaN a gauge reports stays distinguishable from "the series is gone".
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
_STALE_BITS = 0x7FF0000000000002


def is_stale_marker(value: float) -> bool:
    """True only for Prometheus' staleness NaN, not for any other NaN."""
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == _STALE_BITS


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


def selector(name: str, labels: Iterable[tuple[str, str]]) -> str:
    """``name{a="b"}`` with label values escaped as PromQL and the exposition format want."""
    return render(name, [Matcher(k, "=", v) for k, v in labels])


@dataclass(frozen=True, order=True, slots=True)
class SeriesKey:
    name: str
    labels: Labels = ()

    @classmethod
    def of(cls, name: str, labels: Mapping[str, str] | None = None) -> SeriesKey:
        return cls(name, labels_of(labels or {}))

    def label(self, name: str) -> str | None:
        for key, value in self.labels:
            if key == name:
                return value
        return None

    def matches(self, matchers: MatcherSpec) -> bool:
        """PromQL's label matchers (a mapping is equality ones); an absent label is ``""``."""
        return matches_all(as_matchers(matchers), dict(self.labels))

    def __str__(self) -> str:
        return selector(self.name, self.labels)


@dataclass(frozen=True, slots=True)
class Series:
    """One series' samples inside a queried range, oldest first, staleness markers removed."""

    key: SeriesKey
    timestamps: tuple[float, ...]
    values: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.timestamps)
