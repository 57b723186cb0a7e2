"""Listener-side totals that add up across workers: what the swarm reports as metrics.

Each worker process keeps one ``ListenerStats``; the parent sums the latest snapshot of every
worker. Everything is a counter or a histogram bucket count (plus gauges taken at the
snapshot, and two maxima of howling), so merging is addition (or max) and a snapshot pickles
cheaply through a pipe. What ears heard is kept per edge (``EarTotals``), the metrics' ``edge``
label.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from chaos.audio.ear import Ear
from chaos.workload.probe import Dropped, Failed, FirstAudio, Probe, ProbeEvent, Skipped, Stale
from chaos.workload.wanting import Wanting

#: Time-to-first-audio buckets (seconds): fine below 2 s where SLOs live, coarse out to the
#: SYN-retry tail (1, 3, 7, 15, 31 s) that a full listen backlog causes.
TTFA_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
)  # fmt: skip

_MAXIMA = frozenset({"howl_longest_seconds", "howl_worst_listener_seconds"})


@dataclass(slots=True)
class EarTotals:
    """What the ears of one edge heard: counters, two maxima of howling, and gauges."""

    ears: int = 0
    """Listener attempts an ear heard (its audio ran through the detectors)."""
    heard_seconds: float = 0.0
    howls: int = 0
    howl_seconds: float = 0.0
    howl_longest_seconds: float = 0.0  # maxima: merged by max, not summed
    howl_worst_listener_seconds: float = 0.0
    silences: int = 0
    silence_seconds: float = 0.0
    glitches: Counter[str] = field(default_factory=Counter)
    loud_seconds: float = 0.0
    quiet_seconds: float = 0.0
    howling: int = 0  # gauges, valid for the snapshot they came with
    silent: int = 0

    def add(self, ear: Ear) -> None:
        heard = ear.howl_seconds()
        self.ears += 1
        self.heard_seconds += ear.heard_seconds
        self.howls += ear.howl.howls
        self.howl_seconds += heard
        self.howl_longest_seconds = max(self.howl_longest_seconds, ear.longest_howl_seconds())
        self.howl_worst_listener_seconds = max(self.howl_worst_listener_seconds, heard)
        self.silences += ear.silence.silences
        self.silence_seconds += ear.silence.silence_seconds()
        self.glitches.update(ear.glitches)
        self.loud_seconds += ear.loudness.loud_seconds
        self.quiet_seconds += ear.loudness.quiet_seconds

    def merged(self, other: EarTotals) -> EarTotals:
        out = EarTotals()
        for f in fields(EarTotals):
            a, b = getattr(self, f.name), getattr(other, f.name)
            setattr(out, f.name, max(a, b) if f.name in _MAXIMA else a + b)
        return out


#: Listener delay behind live (seconds): a jitter buffer's worth up to an HLS-like hold-back.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0,
)  # fmt: skip


EXAMPLES_PER_REASON = 3
"""Distinct details kept per failure or drop reason: enough to see what happened, bounded
however many listeners failed."""
MAX_EXAMPLE_CHARS = 300


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
    requests: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """Segments (or LL-HLS parts) never heard because they were gone or left behind, by reason."""
    skipped_seconds: float = 0.0
    stale_playlists: int = 0
    """Times a listener saw its stream stop growing (no new media for 1.5 target durations)."""
    ears: dict[str, EarTotals] = field(default_factory=dict)
    """By edge: what the ears (a few listeners of each edge) heard."""
    examples: dict[str, list[str]] = field(default_factory=dict)
    """By ``join_failures:REASON`` or ``drops:REASON``: the first few distinct details probes
    gave (a reason is a metric label; the detail says what happened, e.g. why a stream was
    not the protocol expected)."""
    wanted_seconds: float = 0.0
    """Seconds listeners wanted audio: from each one's first join attempt until it left, gave
    up or the run ended, reconnect waits included (``chaos.workload.wanting``)."""
    unheard_seconds: float = 0.0
    """Of ``wanted_seconds``, those a listener heard none: joining, stalled, concealed,
    dropped, reconnecting, refused."""
    connected: int = 0  # gauges, valid for the snapshot they came with
    playing: int = 0
    stalled: int = 0
    stuck: int = 0
    unheard: int = 0
    """Listeners that want audio and hear none now (whatever the cause)."""

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
            self._example(f"join_failures:{event.reason}", event.detail)
        elif isinstance(event, Dropped):
            self.drops[event.reason] += 1
            self._example(f"drops:{event.reason}", event.detail)
        elif isinstance(event, Skipped):
            self.skipped[event.reason] += event.segments
            self.skipped_seconds += event.seconds
        elif isinstance(event, Stale):
            self.stale_playlists += 1

    def _example(self, key: str, detail: str) -> None:
        kept = self.examples.setdefault(key, [])
        if detail and len(kept) < EXAMPLES_PER_REASON and detail not in kept:
            kept.append(detail[:MAX_EXAMPLE_CHARS])

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
        self.requests += probe.requests
        ear = probe.playout.on_play
        if isinstance(ear, Ear):
            self.ear(ear.edge).add(ear)

    def ear(self, edge: str) -> EarTotals:
        """The totals of ``edge``'s ears (created empty)."""
        totals = self.ears.get(edge)
        if totals is None:
            totals = self.ears[edge] = EarTotals()
        return totals

    def add_wanting(self, want: Wanting, probe: Probe | None, now: float) -> None:
        """Add what one listener that still wants audio wanted and missed so far, and whether
        it hears none now; ``probe``: its attempt going on, if any."""
        played = probe.playout.played_seconds if probe is not None else 0.0
        wanted, unheard = want.measure(now, played)
        self.wanted_seconds += wanted
        self.unheard_seconds += unheard
        hearing = (
            probe is not None and probe.playing_since is not None and not probe.playout.stalled
        )
        if not hearing:
            self.unheard += 1

    def add_wanted(self, want: Wanting, now: float) -> None:
        """Add a listener that stopped wanting audio at ``now`` (counted once, at its end)."""
        want.stop(now)
        wanted, unheard = want.measure(now)
        self.wanted_seconds += wanted
        self.unheard_seconds += unheard

    def add_gauges(self, probe: Probe) -> None:
        if probe.connected_at is not None:
            self.connected += 1
        if probe.playout.stalled:
            self.stalled += 1
        elif probe.playing_since is not None:
            self.playing += 1
        if probe.stale:
            self.stuck += 1
        ear = probe.playout.on_play
        if isinstance(ear, Ear):
            totals = self.ear(ear.edge)
            totals.howling += ear.howling
            totals.silent += ear.silence.silent

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
            elif f.name == "ears":
                setattr(out, f.name, {e: a.get(e, EarTotals()).merged(b.get(e, EarTotals()))
                                      for e in sorted(a.keys() | b.keys())})  # fmt: skip
            elif f.name == "examples":
                out.examples = {key: list(kept) for key, kept in a.items()}
                for key, kept in b.items():
                    for detail in kept:
                        out._example(key, detail)
            else:
                setattr(out, f.name, a + b)
        return out

    def copy(self) -> ListenerStats:
        return self.merged(ListenerStats())

    def without_gauges(self) -> ListenerStats:
        """These totals with nobody connected: what a worker that went away still counts."""
        out = self.copy()
        out.connected = out.playing = out.stalled = out.stuck = out.unheard = 0
        for totals in out.ears.values():
            totals.howling = totals.silent = 0
        return out

    def ttfa_quantile(self, q: float) -> float | None:
        """Upper bucket bound holding quantile ``q`` (inf past the last bucket); None if empty."""
        return _quantile(TTFA_BUCKETS, self.ttfa_counts, q)

    def latency_quantile(self, q: float) -> float | None:
        return _quantile(LATENCY_BUCKETS, self.latency_counts, q)

    def stall_ratio(self) -> float:
        """Seconds stalled per second played: the stall SLOs' ``ratio:
        gameday_listener_stall_seconds_total/gameday_listener_played_seconds_total``."""
        return self.stall_seconds / self.played_seconds if self.played_seconds > 0 else 0.0


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
