"""Prometheus text exposition → samples (sans-IO: bytes in, samples out).

Parsing is delegated to prometheus_client's own parser, so anything a prometheus-client app
exposes reads the way Prometheus reads it. Timestamps in the exposition are ignored, as
Prometheus ignores them by default (``honor_timestamps`` aside): every sample gets the scrape's
start time.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from chaos.metrics.series import SeriesKey, labels_of


class ExpositionError(ValueError):
    """The body is not valid Prometheus text exposition."""


@dataclass(frozen=True, slots=True)
class Exposition:
    samples: list[tuple[SeriesKey, float]]
    types: dict[str, str]
    """Metric family name → its declared type (counter, gauge, histogram, summary, untyped)."""


def parse_exposition(text: str) -> Exposition:
    samples: list[tuple[SeriesKey, float]] = []
    types: dict[str, str] = {}
    try:
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                samples.append((SeriesKey(sample.name, labels_of(sample.labels)), sample.value))
    except (ValueError, IndexError, KeyError) as exc:
        raise ExpositionError(f"not Prometheus text exposition: {exc}") from exc
    return Exposition(samples, types)
