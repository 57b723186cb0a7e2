"""Read back what Locust's processes expose: a worker's ``gameday_listener*`` metrics (and its
failure details) as ``ListenerStats``, and the master's list of workers with their states.

Each worker renders its totals with the native swarm's ``ListenerCollector``; parsing that text
back into ``ListenerStats`` lets the harness merge workers exactly as it merges swarm workers
(``ListenerStats.merged`` over the latest snapshot of each), wherever the workers run. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from chaos.workload.metrics import EAR_METRICS
from chaos.workload.stats import LATENCY_BUCKETS, TTFA_BUCKETS, ListenerStats

#: ListenerStats field ← the sample ListenerCollector renders it as.
_SCALARS = {
    "join_attempts": "gameday_listener_join_attempts_total",
    "joins_ok": "gameday_listener_joins_ok_total",
    "reconnects": "gameday_listener_reconnects_total",
    "ttfa_sum": "gameday_listener_time_to_first_audio_seconds_sum",
    "latency_sum": "gameday_listener_latency_seconds_sum",
    "stalls": "gameday_listener_stalls_total",
    "freezes": "gameday_listener_freezes_total",
    "stall_seconds": "gameday_listener_stall_seconds_total",
    "played_seconds": "gameday_listener_played_seconds_total",
    "wanted_seconds": "gameday_listener_wanted_seconds_total",
    "unheard_seconds": "gameday_listener_unheard_seconds_total",
    "concealed_seconds": "gameday_listener_concealed_seconds_total",
    "received_bytes": "gameday_listener_received_bytes_total",
    "requests": "gameday_listener_requests_total",
    "skipped_seconds": "gameday_listener_skipped_seconds_total",
    "stale_playlists": "gameday_listener_stale_playlists_total",
    "connected": "gameday_listeners_connected",
    "playing": "gameday_listeners_playing",
    "stalled": "gameday_listeners_stalled",
    "stuck": "gameday_listeners_stuck",
    "unheard": "gameday_listeners_unheard",
}
#: EarTotals field ← its per-edge sample.
_EARS = {
    (f"{name}_total" if kind == "counter" else name): attribute
    for name, kind, _, attribute in EAR_METRICS
}
_FRAMES = {
    "late": "late_frames",
    "duplicate": "duplicate_frames",
    "out_of_order": "out_of_order_frames",
}
_HISTOGRAMS = {
    "gameday_listener_time_to_first_audio_seconds_bucket": ("ttfa_counts", TTFA_BUCKETS),
    "gameday_listener_latency_seconds_bucket": ("latency_counts", LATENCY_BUCKETS),
}
#: The gauge the master's locustfile renders, one sample per worker it knows.
WORKER_METRIC = "gameday_locust_worker"


Sample = tuple[str, dict[str, str], float]


def stats_by_cohort(text: str) -> dict[str, ListenerStats]:
    """The ``ListenerStats`` a worker's ``/metrics`` text was rendered from, by cohort
    (``CohortCollector``'s ``cohort`` label; a worker without cohorts gives one, ``""``)."""
    grouped: dict[str, list[Sample]] = {}
    for name, labels, value in _samples(text):
        cohort = labels.pop("cohort", "")
        grouped.setdefault(cohort, []).append((name, labels, value))
    return {cohort: _stats(samples) for cohort, samples in grouped.items()}


def _samples(text: str) -> list[Sample]:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def _stats(samples: list[Sample]) -> ListenerStats:
    stats = ListenerStats()
    by_sample = {sample: field for field, sample in _SCALARS.items()}
    cumulative: dict[str, dict[float, float]] = {}
    for name, labels, value in samples:
        if name in by_sample:
            field = by_sample[name]
            kind = type(getattr(stats, field))
            setattr(stats, field, kind(round(value)) if kind is int else value)
        elif name == "gameday_listener_join_failures_total":
            stats.failures[labels["reason"]] = round(value)
        elif name == "gameday_listener_drops_total":
            stats.drops[labels["reason"]] = round(value)
        elif name in _EARS and "edge" in labels:
            totals = stats.ear(labels["edge"])
            field = _EARS[name]
            kind = type(getattr(totals, field))
            setattr(totals, field, kind(round(value)) if kind is int else value)
        elif name == "gameday_listener_glitches_total" and "edge" in labels:
            stats.ear(labels["edge"]).glitches[labels["kind"]] = round(value)
        elif name == "gameday_listener_skipped_segments_total":
            stats.skipped[labels["reason"]] = round(value)
        elif name == "gameday_listener_frames_total" and labels.get("kind") in _FRAMES:
            setattr(stats, _FRAMES[labels["kind"]], round(value))
        elif name in _HISTOGRAMS:
            cumulative.setdefault(name, {})[float(labels["le"])] = value
    for name, (field, bounds) in _HISTOGRAMS.items():
        seen = cumulative.get(name, {})
        counts, below = [], 0
        for bound in (*bounds, float("inf")):
            total = round(seen.get(bound, below))
            counts.append(total - below)
            below = total
        setattr(stats, field, counts)
    return stats


def examples_by_cohort(document: object) -> dict[str, dict[str, list[str]]]:
    """A worker's ``/failures`` document (each cohort's first details per failure reason) as
    ``ListenerStats.examples`` by cohort; what is not text is left out."""
    if not isinstance(document, dict):
        return {}
    return {
        cohort: {
            key: [detail for detail in details if isinstance(detail, str)]
            for key, details in examples.items()
            if isinstance(key, str) and isinstance(details, list)
        }
        for cohort, examples in document.items()
        if isinstance(cohort, str) and isinstance(examples, dict)
    }


@dataclass(frozen=True, slots=True)
class WorkerState:
    """One worker as the master sees it: Locust's state (``missing`` after three lost
    heartbeats) and the URL of its ``/metrics`` (empty until its first report)."""

    id: str
    state: str
    metrics: str


def workers_from_text(text: str) -> list[WorkerState]:
    """The workers listed by the master's ``/metrics``."""
    return [
        WorkerState(s.labels["worker"], s.labels["state"], s.labels["metrics"])
        for family in text_string_to_metric_families(text)
        if family.name == WORKER_METRIC
        for s in family.samples
    ]
