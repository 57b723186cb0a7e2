"""Origin / mixer: speakers' UDP frames in, one mix per room every 20 ms, fanned out to edges.

Speakers send RTP-like datagrams (see ``frames``) to the ingest port; each room's
``RoomMixer`` jitter-buffers and mixes them on a 20 ms clock, and every mix frame is written to
every connected edge over TCP. An edge that cannot keep up (a full send queue) loses frames,
counted, rather than slowing the clock for everyone. Edges dial in and redial after a break,
so a restart of the origin shows up here as a burst of edge connections (a reconnect storm).

    python -m soundstage.origin --ingest-port 5004 --fanout-port 7000 --metrics-port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from soundstage import frames, service
from soundstage.frames import FRAME_US, Frame, FrameError, PayloadType
from soundstage.howl import GuardConfig, GuardStats, HowlGuard, Suppression
from soundstage.jitter import JitterStats
from soundstage.mixer import RoomMixer

CODECS = {"pcmu": PayloadType.PCMU_8K, "l16": PayloadType.L16_16K}


@dataclass(slots=True)
class OriginConfig:
    host: str = "127.0.0.1"
    ingest_port: int = 0
    fanout_port: int = 0
    metrics_port: int = 0
    codec: PayloadType = PayloadType.PCMU_8K
    prebuffer_frames: int = 3
    jitter_capacity_frames: int = 25
    edge_queue_frames: int = 50
    speaker_timeout_s: float = 5.0
    max_clock_lag_s: float = 0.2
    howl_suppression: Suppression = Suppression.OFF


@dataclass(slots=True)
class OriginStats:
    datagrams: int = 0
    invalid: int = 0
    bytes_in: int = 0
    mix_frames: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    edge_drops: int = 0
    edge_connections: int = 0
    edge_disconnects: int = 0
    ticks_skipped: int = 0


class _EdgeLink(asyncio.Protocol):
    """One edge's TCP connection; the origin only writes to it."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.origin.edge_connected(self)

    def data_received(self, data: bytes) -> None:
        """Edges send nothing; whatever arrives is ignored."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.origin.edge_disconnected(self)


class _Ingest(asyncio.DatagramProtocol):
    def __init__(self, origin: Origin) -> None:
        self.origin = origin

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.origin.ingest(data)


class Origin:
    def __init__(self, config: OriginConfig, registry: CollectorRegistry) -> None:
        self.config = config
        self.stats = OriginStats()
        self.rooms: dict[int, RoomMixer] = {}
        self.edges: set[_EdgeLink] = set()
        self._retired = JitterStats()
        self._retired_guards = GuardStats()
        self._servers: list[asyncio.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self.ingest_port = 0
        self.fanout_port = 0
        self.metrics_port = 0
        self.tick_lag = Histogram(
            "soundstage_origin_tick_lag_seconds",
            "How late the 20 ms mixing clock ran each tick; a saturated CPU shows here first.",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
            registry=registry,
        )
        registry.register(_OriginCollector(self))
        self.registry = registry

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Ingest(self), local_addr=(cfg.host, cfg.ingest_port)
        )
        self._udp = transport
        self.ingest_port = transport.get_extra_info("sockname")[1]
        fanout = await loop.create_server(lambda: _EdgeLink(self), cfg.host, cfg.fanout_port)
        metrics = await service.serve_metrics(
            cfg.host, cfg.metrics_port, self.registry, self.health
        )
        self._servers = [fanout, metrics]
        self.fanout_port = fanout.sockets[0].getsockname()[1]
        self.metrics_port = metrics.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for edge in list(self.edges):
            if edge.transport is not None:
                edge.transport.abort()
        if self._udp is not None:
            self._udp.close()
        for server in self._servers:
            await server.wait_closed()

    def health(self) -> dict[str, object]:
        return {"status": "ok", "rooms": len(self.rooms), "edges": len(self.edges)}

    def edge_connected(self, edge: _EdgeLink) -> None:
        self.edges.add(edge)
        self.stats.edge_connections += 1

    def edge_disconnected(self, edge: _EdgeLink) -> None:
        if edge in self.edges:
            self.edges.discard(edge)
            self.stats.edge_disconnects += 1

    def ingest(self, data: bytes) -> None:
        self.stats.datagrams += 1
        self.stats.bytes_in += len(data)
        try:
            frame = frames.decode(data)
        except FrameError:
            self.stats.invalid += 1
            return
        room = self.rooms.get(frame.room)
        if room is None:
            cfg = self.config
            room = RoomMixer(
                frame.room,
                cfg.codec,
                prebuffer=cfg.prebuffer_frames,
                capacity=cfg.jitter_capacity_frames,
                speaker_timeout_ticks=int(cfg.speaker_timeout_s * 1e6 / FRAME_US),
                guard=(
                    None
                    if cfg.howl_suppression is Suppression.OFF
                    else HowlGuard(GuardConfig(cfg.howl_suppression))
                ),
            )
            self.rooms[frame.room] = room
        room.push(frame)

    def tick(self, capture_us: int) -> None:
        """One 20 ms period: mix every room and send each mix to every edge."""
        for room_id, room in list(self.rooms.items()):
            result = room.tick(capture_us)
            self.stats.mix_frames += 1
            self.fan_out(result.frame)
            if not room.buffers:
                self._retire(room_id)

    def fan_out(self, frame: Frame) -> None:
        data = frame.encode()
        limit = self.config.edge_queue_frames * len(data)
        for edge in self.edges:
            transport = edge.transport
            if transport is None or transport.is_closing():
                continue
            if transport.get_write_buffer_size() + len(data) > limit:
                self.stats.edge_drops += 1
                continue
            transport.write(data)
            self.stats.frames_out += 1
            self.stats.bytes_out += len(data)

    def _retire(self, room_id: int) -> None:
        room = self.rooms.pop(room_id)
        if room.guard is not None:
            self._retired_guards.suppressions += room.guard.stats.suppressions
            self._retired_guards.suppressed_seconds += room.guard.stats.suppressed_seconds
        totals = room.totals()
        for name in JitterStats.__slots__:
            setattr(self._retired, name, getattr(self._retired, name) + getattr(totals, name))

    def jitter_totals(self) -> tuple[JitterStats, int]:
        """Jitter counters over all rooms ever mixed, and undecodable payloads."""
        total = JitterStats(**{n: getattr(self._retired, n) for n in JitterStats.__slots__})
        undecodable = 0
        for room in self.rooms.values():
            stats = room.totals()
            undecodable += room.undecodable
            for name in JitterStats.__slots__:
                setattr(total, name, getattr(total, name) + getattr(stats, name))
        return total, undecodable

    def howl_totals(self) -> tuple[GuardStats, int]:
        """Howl suppressions over all rooms ever mixed, and speakers suppressed now."""
        total = GuardStats(
            self._retired_guards.suppressions, self._retired_guards.suppressed_seconds
        )
        now = 0
        for room in self.rooms.values():
            if room.guard is not None:
                total.suppressions += room.guard.stats.suppressions
                total.suppressed_seconds += room.guard.stats.suppressed_seconds
                now += room.guard.suppressed_now
        return total, now

    async def run_clock(self, stop: asyncio.Event) -> None:
        """Tick every 20 ms on an absolute schedule; after a stall, skip rather than burst."""
        loop = asyncio.get_running_loop()
        period = FRAME_US / 1e6
        next_tick = loop.time()
        while not stop.is_set():
            now = loop.time()
            lag = now - next_tick
            if lag > self.config.max_clock_lag_s:
                skipped = int(lag / period)
                self.stats.ticks_skipped += skipped
                next_tick += skipped * period
                lag -= skipped * period
            self.tick_lag.observe(max(0.0, lag))
            self.tick(time.time_ns() // 1000)
            next_tick += period
            delay = next_tick - loop.time()
            if delay > 0:
                await service.sleep_or_stop(stop, delay)


class _OriginCollector(Collector):
    """Exports the origin's plain counters at scrape time (no locking on the 20 ms path)."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        o = self.origin
        s = o.stats
        jitter, undecodable = o.jitter_totals()

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"soundstage_origin_{name}", doc, value=value)

        yield counter("datagrams_received", "UDP datagrams from speakers.", s.datagrams)
        yield counter("bytes_received", "Bytes of speaker datagrams.", s.bytes_in)
        yield counter("frames_received", "Valid speaker frames.", jitter.received)
        yield counter("frames_invalid", "Datagrams that were not valid frames.", s.invalid)
        yield counter("frames_played", "Speaker frames that made it into a mix.", jitter.played)
        yield counter(
            "frames_concealed",
            "Mix ticks at which a speaker's frame was missing.",
            jitter.concealed,
        )
        yield counter("frames_late", "Speaker frames that arrived after their tick.", jitter.late)
        yield counter("frames_duplicate", "Speaker frames received twice.", jitter.duplicate)
        dropped = CounterMetricFamily(
            "soundstage_origin_frames_dropped",
            "Frames discarded, by reason: jitter-buffer overflow/reset, or an edge's full queue.",
            labels=["reason"],
        )
        dropped.add_metric(["jitter_overflow"], jitter.dropped)
        dropped.add_metric(["edge_queue_full"], s.edge_drops)
        dropped.add_metric(["undecodable"], undecodable)
        yield dropped
        yield counter("jitter_resets", "Speaker timelines restarted.", jitter.resets)
        yield counter("mix_frames", "Mix frames produced (one per room per tick).", s.mix_frames)
        yield counter("frames_sent", "Mix frames written to edges.", s.frames_out)
        yield counter("bytes_sent", "Bytes written to edges.", s.bytes_out)
        yield counter(
            "edge_connections",
            "Edge connections accepted; its rate shows reconnect storms.",
            s.edge_connections,
        )
        yield counter("edge_disconnects", "Edge connections lost.", s.edge_disconnects)
        yield counter(
            "ticks_skipped", "Mixer ticks skipped after the clock stalled.", s.ticks_skipped
        )
        howl, suppressed_now = o.howl_totals()
        yield counter(
            "howl_suppressions",
            "Times a speaker whose input howled was ducked or muted.",
            howl.suppressions,
        )
        yield counter(
            "howl_suppressed_seconds",
            "Speaker-seconds of audio ducked or muted by howl suppression.",
            howl.suppressed_seconds,
        )
        yield GaugeMetricFamily(
            "soundstage_origin_howl_suppressed_speakers",
            "Speakers ducked or muted for howling now.",
            suppressed_now,
        )
        mode = GaugeMetricFamily(
            "soundstage_origin_howl_suppression",
            "Howl suppression mode (1 for the mode in force).",
            labels=["mode"],
        )
        for choice in Suppression:
            mode.add_metric([choice.value], 1.0 if choice is o.config.howl_suppression else 0.0)
        yield mode
        yield GaugeMetricFamily("soundstage_origin_edges", "Edges connected now.", len(o.edges))
        yield GaugeMetricFamily("soundstage_origin_rooms", "Rooms being mixed.", len(o.rooms))
        yield GaugeMetricFamily(
            "soundstage_origin_speakers",
            "Speakers with a jitter buffer.",
            sum(len(r.buffers) for r in o.rooms.values()),
        )
        depths = [e.transport.get_write_buffer_size() for e in o.edges if e.transport is not None]
        yield GaugeMetricFamily(
            "soundstage_origin_edge_queue_bytes", "Bytes queued to all edges.", sum(depths)
        )
        yield GaugeMetricFamily(
            "soundstage_origin_edge_queue_max_bytes",
            "Deepest send queue to any one edge.",
            max(depths, default=0),
        )


def parse_args(argv: list[str] | None = None) -> OriginConfig:
    parser = argparse.ArgumentParser(prog="soundstage.origin", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ingest-port", type=int, default=0, help="UDP port speakers send to")
    parser.add_argument("--fanout-port", type=int, default=0, help="TCP port edges dial")
    parser.add_argument("--metrics-port", type=int, default=0, help="/metrics and /healthz")
    parser.add_argument("--codec", choices=sorted(CODECS), default="pcmu", help="mix payload")
    parser.add_argument("--prebuffer-frames", type=int, default=3)
    parser.add_argument("--jitter-capacity-frames", type=int, default=25)
    parser.add_argument(
        "--edge-queue-frames", type=int, default=50, help="per-edge send queue before dropping"
    )
    parser.add_argument(
        "--howl-suppression",
        choices=[m.value for m in Suppression],
        default=os.environ.get("SOUNDSTAGE_HOWL_SUPPRESSION", Suppression.OFF.value),
        help="duck or mute a speaker whose input howls (default: $SOUNDSTAGE_HOWL_SUPPRESSION "
        "or off)",
    )
    args = parser.parse_args(argv)
    return OriginConfig(
        host=args.host,
        ingest_port=args.ingest_port,
        fanout_port=args.fanout_port,
        metrics_port=args.metrics_port,
        codec=CODECS[args.codec],
        prebuffer_frames=args.prebuffer_frames,
        jitter_capacity_frames=args.jitter_capacity_frames,
        edge_queue_frames=args.edge_queue_frames,
        howl_suppression=Suppression(args.howl_suppression),
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    log = service.configure_logging("origin")

    async def serve(stop: asyncio.Event) -> None:
        origin = Origin(config, service.new_registry())
        await origin.start()
        log.info(
            "ingest udp %d, fanout tcp %d, metrics %d",
            origin.ingest_port,
            origin.fanout_port,
            origin.metrics_port,
        )
        try:
            await origin.run_clock(stop)
        finally:
            await origin.stop()
        log.info("stopped")

    service.run(serve)


if __name__ == "__main__":
    main()
