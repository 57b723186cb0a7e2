"""Listener-side Prometheus metrics (``gameday_listener*``), rendered from merged stats.

A custom collector rather than live prometheus-client objects: the numbers are counted in
worker processes and summed in the parent, so each scrape renders the latest merged
``ListenerStats``. Names follow Prometheus conventions: base units, ``_total`` counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from chaos.audio.ear import GLITCH_KINDS
from chaos.workload.stats import LATENCY_BUCKETS, TTFA_BUCKETS, ListenerStats

PART_OF = {"gameday_listener_joins_ok_total": "gameday_listener_join_attempts_total"}
"""Counters whose events are each a part of another's: every join that reached audio was a
join attempt first, so their ratio is a share (at most 1)."""


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
            "Delay behind live of playing listeners (framed capture times, HLS program "
            "date-times), sampled once per sweep.",
            LATENCY_BUCKETS,
            s.latency_counts,
            s.latency_sum,
        )
        yield _counter("stalls", "Playout pauses after first audio (buffer ran dry).", s.stalls)
        yield _counter("freezes", "Stalls longer than 200 ms (Agora's audio freeze).", s.freezes)
        yield _counter("stall_seconds", "Seconds of paused playout.", s.stall_seconds)
        yield _counter("played_seconds", "Seconds of audio played.", s.played_seconds)
        yield _counter(
            "wanted_seconds",
            "Seconds listeners wanted audio (from a listener's first join attempt until it "
            "left, gave up or the run ended; reconnect waits included).",
            s.wanted_seconds,
        )
        yield _counter(
            "unheard_seconds",
            "Seconds listeners wanted audio and heard none, whatever the cause: joining, "
            "stalled, concealed, dropped, reconnecting, refused.",
            s.unheard_seconds,
        )
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
        yield _counter(
            "requests",
            "HTTP requests listeners made (one per attempt for a long GET; HLS playlists, "
            "segments and parts).",
            s.requests,
        )
        skipped = CounterMetricFamily(
            "gameday_listener_skipped_segments",
            "HLS segments or parts never heard: gone (404/410) or left behind by the "
            "playlist's window when the listener came to them, by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(s.skipped.items()):
            skipped.add_metric([reason], n)
        yield skipped
        yield _counter(
            "skipped_seconds", "Seconds of audio in skipped segments or parts.", s.skipped_seconds
        )
        yield _counter(
            "stale_playlists",
            "Times a listener's playlist stopped growing (no new media for 1.5 target "
            "durations: the stream is stuck).",
            s.stale_playlists,
        )
        yield from _ear_families(s)
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
            "gameday_listeners_unheard",
            "Listeners that want audio and hear none now (joining, stalled, dropped, "
            "reconnecting or refused).",
            value=s.unheard,
        )
        yield GaugeMetricFamily(
            "gameday_listeners_stuck",
            "Listeners whose playlist is not growing now (a stuck stream).",
            value=s.stuck,
        )


#: Per-edge ear metrics: (name, type, help, the ``EarTotals`` field).
EAR_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("gameday_listener_howl_monitored", "counter",
     "Listener attempts an ear heard (decoded and judged by the detectors).", "ears"),
    ("gameday_listener_heard_seconds", "counter",
     "Seconds of audio the ears heard (played or concealed, stalls excluded).", "heard_seconds"),
    ("gameday_listener_howls", "counter", "Howls (acoustic feedback) the ears heard.", "howls"),
    ("gameday_listener_howl_seconds", "counter",
     "Seconds of howling heard, summed over the ears.", "howl_seconds"),
    ("gameday_listener_howl_longest_seconds", "gauge",
     "The longest single howl an ear heard (a howl going on counts).", "howl_longest_seconds"),
    ("gameday_listener_howl_worst_seconds", "gauge",
     "The most howling one ear heard in total.", "howl_worst_listener_seconds"),
    ("gameday_listener_silences", "counter",
     "Silences (at least 1 s below -60 dBFS) the ears heard.", "silences"),
    ("gameday_listener_silence_seconds", "counter",
     "Seconds of silence heard, summed over the ears.", "silence_seconds"),
    ("gameday_listener_loud_seconds", "counter",
     "Seconds the ears heard above -5 LUFS short-term loudness.", "loud_seconds"),
    ("gameday_listener_quiet_seconds", "counter",
     "Seconds the ears heard below -40 LUFS short-term loudness, silence excluded.",
     "quiet_seconds"),
    ("gameday_listeners_howling", "gauge", "Ears hearing a howl now.", "howling"),
    ("gameday_listeners_silent", "gauge", "Ears hearing silence now.", "silent"),
)  # fmt: skip


def _ear_families(s: ListenerStats) -> Iterator[Metric]:
    """What the ears heard, one sample per edge (families without a sample when no ear)."""
    for name, kind, doc, attribute in EAR_METRICS:
        family: Metric = (
            CounterMetricFamily(name, doc, labels=["edge"])
            if kind == "counter"
            else GaugeMetricFamily(name, doc, labels=["edge"])
        )
        for edge, totals in sorted(s.ears.items()):
            family.add_metric([edge], getattr(totals, attribute))  # type: ignore[attr-defined]
        yield family
    glitches = CounterMetricFamily(
        "gameday_listener_glitches",
        "Discontinuities the ears heard, by kind: dropout (concealed audio), lost_sync (bytes "
        "missing mid-stream), decode_error (a packet the decoder refused), reset (the decoder "
        "restarted: a codec change or an HLS discontinuity).",
        labels=["edge", "kind"],
    )
    for edge, totals in sorted(s.ears.items()):
        for kind in GLITCH_KINDS:
            glitches.add_metric([edge, kind], totals.glitches.get(kind, 0))
    yield glitches


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


class CohortCollector(Collector):
    """Listener metrics with a ``cohort`` label: ``stats`` returns each cohort's totals; every
    family holds one sample set per cohort (an SLO without a ``cohort`` matcher sums them, so
    absolute SLOs judge the whole audience as before)."""

    def __init__(self, stats: Callable[[], Mapping[str, ListenerStats]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for cohort, stats in sorted(self._stats().items()):
            for family in ListenerCollector(_constant(stats)).collect():
                out = families.get(family.name)
                if out is None:
                    out = families[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for sample in family.samples:
                    out.add_sample(
                        sample.name, {**sample.labels, "cohort": cohort}, sample.value,
                        sample.timestamp, sample.exemplar,
                    )  # fmt: skip
        yield from families.values()


def _constant(stats: ListenerStats) -> Callable[[], ListenerStats]:
    return lambda: stats
