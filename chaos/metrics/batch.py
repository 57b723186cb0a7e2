"""One scrape's worth of samples, and its JSON form in the journal.

The journal is the history a report or a re-evaluation reads, so a batch must survive a round
trip through JSON exactly: non-finite values are written as Prometheus spells them ("NaN",
"+Inf", "-Inf") because JSON has no literal for them, and staleness is recorded as the list of
series that went stale rather than as a NaN payload JSON cannot carry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.errors import InvalidInput
from chaos.metrics.series import SeriesKey, labels_of

RECORD_KIND = "metrics"

_NONFINITE = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


def _encode(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def _decode(value: object, where: str) -> float:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise InvalidInput(
        f"sample value {value!r} is not a number",
        where=where,
        fix="the journal is damaged; re-run the experiment to record it again",
    )


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Samples taken from one target at one instant, plus the series that vanished from it."""

    target: str
    timestamp: float
    samples: Sequence[tuple[SeriesKey, float]] = ()
    stale: Sequence[SeriesKey] = field(default=())

    def to_record(self) -> dict[str, Any]:
        """Fields for ``journal.write(RECORD_KIND, **batch.to_record())``."""
        return {
            "target": self.target,
            "t": self.timestamp,
            "samples": [[k.name, dict(k.labels), _encode(v)] for k, v in self.samples],
            "stale": [[k.name, dict(k.labels)] for k in self.stale],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], where: str = "journal") -> SampleBatch:
        try:
            samples = [
                (SeriesKey(str(name), labels_of(labels)), _decode(value, where))
                for name, labels, value in record["samples"]
            ]
            stale = [SeriesKey(str(n), labels_of(lb)) for n, lb in record.get("stale", ())]
            return cls(str(record["target"]), float(record["t"]), samples, stale)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"malformed metrics record ({exc})",
                where=where,
                fix="the journal is damaged; re-run the experiment to record it again",
            ) from exc
