"""Listener-side totals that add up across workers: what the swarm reports as metrics.

Each worker process keeps one ``ListenerStats``; the parent sums the latest snapshot of every
worker. Everything is a counter or a histogram bucket count (plus gauges taken at the
snapshot, and two maxima of howling), so merging is addition (or max) and a snapshot pickles
cheaply through a pipe.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from chaos.audio.howl_monitor import HowlMonitor
from chaos.workload.probe import Dropped, Failed, FirstAudio, Probe, ProbeEvent

#: Time-to-first-audio buckets (seconds): fine below 2 s where SLOs live, coarse out to the
#: SYN-retry tail (1, 3, 7, 15, 31 s) that a full listen backlog causes.
TTFA_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
)  # fmt: skip

_MAXIMA = frozenset({"howl_longest_seconds", "howl_worst_listener_seconds"})


#: Listener delay behind live (seconds): a jitter buffer's worth up to an HLS-like hold-back.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0,
)  # fmt: skip


@dataclass(slots=True)
class ListenerStats:
    join_attempts: int = 0
    joins_ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    drops: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    ttfa_counts: list[int] = field(default_factory=lambda: [0] * (len(TTFA_BUCKETS) + 1))
    ttfa_sum: float = 0.0
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    stalls: int = 0
    freezes: int = 0
    stall_seconds: float = 0.0
    played_seconds: float = 0.0
    concealed_seconds: float = 0.0
    late_frames: int = 0
    duplicate_frames: int = 0
    out_of_order_frames: int = 0
    received_bytes: int = 0
    howls: int = 0
    howl_seconds: float = 0.0
    howl_monitored: int = 0
    """Attempts whose audio went through a howling detector (a sample of the listeners)."""
    howl_longest_seconds: float = 0.0  # maxima: merged by max, not summed
    howl_worst_listener_seconds: float = 0.0
    connected: int = 0  # gauges, valid for the snapshot they came with
    playing: int = 0
    stalled: int = 0
    howling: int = 0

    def record_ttfa(self, seconds: float) -> None:
        self.joins_ok += 1
        self.ttfa_sum += seconds
        self.ttfa_counts[bisect.bisect_left(TTFA_BUCKETS, seconds)] += 1

    def record_event(self, event: ProbeEvent) -> None:
        """Count what one probe event means for the totals (a connection alone counts nothing)."""
        if isinstance(event, FirstAudio):
            self.record_ttfa(event.ttfa)
        elif isinstance(event, Failed):
            self.failures[event.reason] += 1
        elif isinstance(event, Dropped):
            self.drops[event.reason] += 1

    def record_latency(self, seconds: float) -> None:
        """One sample of a playing listener's delay behind live (taken once per sweep)."""
        self.latency_sum += seconds
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def add_playout(self, probe: Probe, now: float) -> None:
        """Add what one attempt heard up to ``now`` (an unfinished stall counts so far)."""
        p = probe.playout
        self.stalls += len(p.stalls) + (1 if p.stalled else 0)
        self.freezes += len(p.freezes)
        self.stall_seconds += p.stall_seconds(now)
        self.played_seconds += p.played_seconds
        self.concealed_seconds += p.concealed_seconds
        self.late_frames += p.late_frames
        self.duplicate_frames += p.duplicate_frames
        self.out_of_order_frames += p.out_of_order_frames
        self.received_bytes += probe.bytes_received
        monitor = probe.playout.on_play
        if isinstance(monitor, HowlMonitor):
            heard = monitor.howl_seconds()
            self.howl_monitored += 1
            self.howls += monitor.howls
            self.howl_seconds += heard
            self.howl_longest_seconds = max(self.howl_longest_seconds, monitor.longest_seconds())
            self.howl_worst_listener_seconds = max(self.howl_worst_listener_seconds, heard)

    def add_gauges(self, probe: Probe) -> None:
        if probe.connected_at is not None:
            self.connected += 1
        if probe.playout.stalled:
            self.stalled += 1
        elif probe.playing_since is not None:
            self.playing += 1
        monitor = probe.playout.on_play
        if isinstance(monitor, HowlMonitor) and monitor.howling:
            self.howling += 1

    def sample(self, probe: Probe, now: float) -> None:
        """Run a playing probe's clock to ``now`` (stalls show while they happen) and sample its
        delay behind live."""
        probe.tick(now)
        latency = probe.latency()
        if latency is not None and not probe.playout.stalled:
            self.record_latency(latency)

    def snapshot(self, probes: Iterable[Probe], now: float) -> ListenerStats:
        """These totals plus what the attempts still going have heard so far, with gauges."""
        out = self.copy()
        for probe in probes:
            out.add_playout(probe, now)
            out.add_gauges(probe)
        return out

    def merged(self, other: ListenerStats) -> ListenerStats:
        out = ListenerStats()
        for f in fields(ListenerStats):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, list):
                setattr(out, f.name, [x + y for x, y in zip(a, b, strict=True)])
            elif f.name in _MAXIMA:
                setattr(out, f.name, max(a, b))
            else:
                setattr(out, f.name, a + b)
        return out

    def copy(self) -> ListenerStats:
        return self.merged(ListenerStats())

    def ttfa_quantile(self, q: float) -> float | None:
        """Upper bucket bound holding quantile ``q`` (inf past the last bucket); None if empty."""
        return _quantile(TTFA_BUCKETS, self.ttfa_counts, q)

    def latency_quantile(self, q: float) -> float | None:
        return _quantile(LATENCY_BUCKETS, self.latency_counts, q)

    def stall_ratio(self) -> float:
        total = self.played_seconds + self.concealed_seconds + self.stall_seconds
        return self.stall_seconds / total if total > 0 else 0.0


def _quantile(bounds: tuple[float, ...], counts: list[int], q: float) -> float | None:
    total = sum(counts)
    if total == 0:
        return None
    rank, seen = q * total, 0
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        seen += count
        if seen >= rank:
            return bound
    return float("inf")
