"""Listener-side Prometheus metrics (``gameday_listener*``), rendered from merged stats.

A custom collector rather than live prometheus-client objects: the numbers are counted in
worker processes and summed in the parent, so each scrape renders the latest merged
``ListenerStats``. Names follow Prometheus conventions: base units, ``_total`` counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from chaos.workload.stats import LATENCY_BUCKETS, TTFA_BUCKETS, ListenerStats


class ListenerCollector(Collector):
    """Register with a ``CollectorRegistry``; ``stats`` returns the current merged totals."""

    def __init__(self, stats: Callable[[], ListenerStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        yield _counter(
            "join_attempts", "Join attempts started (reconnects included).", s.join_attempts
        )
        yield _counter("joins_ok", "Joins that reached first audio.", s.joins_ok)
        failures = CounterMetricFamily(
            "gameday_listener_join_failures",
            "Joins that never reached first audio, by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(s.failures.items()):
            failures.add_metric([reason], n)
        yield failures
        drops = CounterMetricFamily(
            "gameday_listener_drops",
            "Streams that ended after audio had played, by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(s.drops.items()):
            drops.add_metric([reason], n)
        yield drops
        yield _counter(
            "reconnects", "Reconnect attempts after a drop or failed join.", s.reconnects
        )
        yield _histogram(
            "gameday_listener_time_to_first_audio_seconds",
            "From the join request to the first audio played.",
            TTFA_BUCKETS,
            s.ttfa_counts,
            s.ttfa_sum,
        )
        yield _histogram(
            "gameday_listener_latency_seconds",
            "Delay behind live of playing listeners (framed streams), sampled once per sweep.",
            LATENCY_BUCKETS,
            s.latency_counts,
            s.latency_sum,
        )
        yield _counter("stalls", "Playout pauses after first audio (buffer ran dry).", s.stalls)
        yield _counter("freezes", "Stalls longer than 200 ms (Agora's audio freeze).", s.freezes)
        yield _counter("stall_seconds", "Seconds of paused playout.", s.stall_seconds)
        yield _counter("played_seconds", "Seconds of audio played.", s.played_seconds)
        yield _counter(
            "concealed_seconds", "Seconds of concealed (missing) audio.", s.concealed_seconds
        )
        frames = CounterMetricFamily(
            "gameday_listener_frames", "Frames that arrived out of line, by kind.", labels=["kind"]
        )
        frames.add_metric(["late"], s.late_frames)
        frames.add_metric(["duplicate"], s.duplicate_frames)
        frames.add_metric(["out_of_order"], s.out_of_order_frames)
        yield frames
        yield _counter("received_bytes", "Bytes received by listeners.", s.received_bytes)
        yield _counter("howls", "Howls (acoustic feedback) heard by monitored listeners.", s.howls)
        yield _counter(
            "howl_seconds",
            "Seconds of howling heard, summed over monitored listeners.",
            s.howl_seconds,
        )
        yield _counter(
            "howl_monitored",
            "Listener attempts whose audio ran through the howling detector.",
            s.howl_monitored,
        )
        yield GaugeMetricFamily(
            "gameday_listener_howl_longest_seconds",
            "The longest single howl any monitored listener heard (a howl going on counts).",
            value=s.howl_longest_seconds,
        )
        yield GaugeMetricFamily(
            "gameday_listener_howl_worst_seconds",
            "The most howling one monitored listener heard in total.",
            value=s.howl_worst_listener_seconds,
        )
        yield GaugeMetricFamily(
            "gameday_listeners_connected", "Listeners with an open connection.", value=s.connected
        )
        yield GaugeMetricFamily(
            "gameday_listeners_playing", "Listeners hearing audio now.", value=s.playing
        )
        yield GaugeMetricFamily(
            "gameday_listeners_stalled", "Listeners whose playout is paused now.", value=s.stalled
        )
        yield GaugeMetricFamily(
            "gameday_listeners_howling", "Monitored listeners hearing a howl now.", value=s.howling
        )


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"gameday_listener_{name}", doc, value=value)


def _histogram(
    name: str, doc: str, bounds: tuple[float, ...], counts: list[int], total: float
) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)
