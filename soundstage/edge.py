"""Edge: holds listeners' HTTP streams and fans the origin's mix out to them.

Listeners ``GET /stream/{room}`` and receive an endless chunked body, one frame per chunk. Each
listener's send queue is its socket's write buffer, bounded at ``queue_frames`` frames; a
listener that cannot keep up is a slow consumer, handled by policy: ``drop`` (skip frames for
it and count them) or ``disconnect`` (close it). A full edge answers 503 with Retry-After.

The edge dials the origin and redials with capped exponential backoff and full jitter when the
link breaks; its listeners stay connected through the outage and hear a gap, never a hang. A
frame older than ``max_lag`` when it arrives is stale and skipped, so an edge that fell behind
(CPU saturation) catches up to live instead of playing ever later.

    python -m soundstage.edge --port 8001 --origin 127.0.0.1:7000 --capacity 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import cast

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from soundstage import httpwire, service
from soundstage.frames import Flags, Frame, FrameDecoder, FrameError

STREAM_HEADERS = {
    "Content-Type": "application/x-soundstage-frames",
    "Transfer-Encoding": "chunked",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(slots=True)
class EdgeConfig:
    host: str = "127.0.0.1"
    port: int = 0
    origin: tuple[str, int] = ("127.0.0.1", 0)
    capacity: int = 5000
    queue_frames: int = 25
    flush_frames: int = 5
    """Frames written to listeners together: one send per listener per N frames trades
    (N-1) x 20 ms of latency for N times fewer system calls, the edge's main cost."""
    slow_policy: str = "drop"
    max_lag_s: float = 1.0
    backlog: int = 4096
    header_timeout_s: float = 10.0
    """A connection that has not sent a whole request head by then is closed (slowloris)."""
    reconnect_initial_s: float = 0.05
    reconnect_max_s: float = 2.0
    send_buffer_bytes: int = 65536
    """Kernel send buffer per listener: bounds kernel memory per listener and makes the
    edge's own queue (``queue_frames``) the place where slowness shows and is handled."""
    work_per_listener_us: float = 0.0
    """Busy CPU per listener per frame: models per-listener cost (TLS, packaging) to saturate."""
    name: str = "edge"


@dataclass(slots=True)
class EdgeStats:
    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    dropped_slow: int = 0
    dropped_stale: int = 0
    connections: int = 0
    refusals: dict[str, int] = field(
        default_factory=lambda: {"capacity": 0, "bad_request": 0, "header_timeout": 0}
    )
    slow_disconnects: int = 0
    origin_connects: int = 0
    origin_failures: int = 0
    origin_breaks: int = 0
    protocol_errors: int = 0


class _Client(asyncio.Protocol):
    """One HTTP connection to the edge: a listener's stream, or a one-shot request."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.room: int | None = None
        self.slow = False
        self.answered = False
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.deadline = asyncio.get_running_loop().call_later(
            self.edge.config.header_timeout_s, self._head_timeout
        )

    def _head_timeout(self) -> None:
        if self.transport is not None and not self.answered:
            self.edge.stats.refusals["header_timeout"] += 1
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.answered:
            return  # a streaming listener has nothing more to say
        self.buffer += data
        try:
            parsed = httpwire.parse_request(self.buffer)
        except httpwire.HttpError as exc:
            self.edge.stats.refusals["bad_request"] += 1
            self._reply(httpwire.simple_response(400, f"{exc}\n".encode(), "text/plain"))
            return
        if parsed is not None:
            self.answered = True
            if self.deadline is not None:
                self.deadline.cancel()
            self.edge.route(self, parsed[0])

    def _reply(self, response: bytes) -> None:
        assert self.transport is not None
        self.answered = True
        self.transport.write(response)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        if self.room is not None:
            self.edge.remove_listener(self)


class _OriginLink(asyncio.Protocol):
    def __init__(self, edge: Edge, lost: asyncio.Future[None]) -> None:
        self.edge = edge
        self.lost = lost
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.rooms_seen: set[int] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.edge.stats.bytes_in += len(data)
        try:
            decoded = self.decoder.feed(data)
        except FrameError:
            self.edge.stats.protocol_errors += 1
            assert self.transport is not None
            self.transport.abort()
            return
        for frame in decoded:
            if frame.room not in self.rooms_seen:
                # A new link may join the mix mid-stream: tell listeners not to count a gap.
                self.rooms_seen.add(frame.room)
                frame = replace(frame, flags=frame.flags | Flags.DISCONTINUITY)
            self.edge.deliver(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class Edge:
    def __init__(self, config: EdgeConfig, registry: CollectorRegistry) -> None:
        self.config = config
        self.stats = EdgeStats()
        self.rooms: dict[int, set[_Client]] = {}
        self.listeners = 0
        self.origin_connected = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._link: asyncio.Transport | None = None
        self._rng = random.Random()
        self._pending: dict[int, list[bytes]] = {}
        self.frame_delay = Histogram(
            "soundstage_edge_frame_delay_seconds",
            "Capture-to-edge delay of mix frames (origin clock to fan-out).",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=registry,
        )
        registry.register(_EdgeCollector(self))
        self.registry = registry

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        self._server = await loop.create_server(
            lambda: _Client(self), cfg.host, cfg.port, backlog=cfg.backlog
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._link is not None:
            self._link.abort()
        for clients in self.rooms.values():
            for client in list(clients):
                if client.transport is not None:
                    client.transport.write(httpwire.LAST_CHUNK)
                    client.transport.close()
        if self._server is not None:
            await self._server.wait_closed()

    # -- listeners ---------------------------------------------------------------------------

    def route(self, client: _Client, request: httpwire.Request) -> None:
        path = request.path
        if request.method != "GET":
            client._reply(httpwire.simple_response(405, b"GET only\n", "text/plain"))
        elif path.startswith("/stream/"):
            self.add_listener(client, path.removeprefix("/stream/"))
        elif path == "/metrics":
            client._reply(service.metrics_response(self.registry))
        elif path == "/healthz":
            client._reply(service.health_response(self.health))
        elif path == "/load":
            body = json.dumps({"listeners": self.listeners, "capacity": self.config.capacity})
            client._reply(httpwire.simple_response(200, body.encode(), "application/json"))
        else:
            client._reply(httpwire.simple_response(404, b"no such path\n", "text/plain"))

    def add_listener(self, client: _Client, room_text: str) -> None:
        if not room_text.isdigit():
            self.stats.refusals["bad_request"] += 1
            client._reply(
                httpwire.simple_response(404, b"room id must be a number\n", "text/plain")
            )
            return
        if self.listeners >= self.config.capacity:
            self.stats.refusals["capacity"] += 1
            client._reply(
                httpwire.simple_response(503, b"edge full\n", "text/plain", Retry_After="1")
            )
            return
        assert client.transport is not None
        client.room = int(room_text)
        self.rooms.setdefault(client.room, set()).add(client)
        self.listeners += 1
        self.stats.connections += 1
        sock = client.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.send_buffer_bytes)
        client.transport.write(httpwire.response_head(200, STREAM_HEADERS))

    def remove_listener(self, client: _Client) -> None:
        assert client.room is not None
        clients = self.rooms.get(client.room)
        if clients is not None and client in clients:
            clients.discard(client)
            self.listeners -= 1
            if not clients:
                del self.rooms[client.room]

    def deliver(self, frame: Frame) -> None:
        """Fan one mix frame out to the room's listeners (the hot path)."""
        stats = self.stats
        stats.frames_in += 1
        delay = time.time() - frame.capture_us / 1e6
        self.frame_delay.observe(delay)
        if delay > self.config.max_lag_s:
            stats.dropped_stale += 1
            return
        clients = self.rooms.get(frame.room)
        if not clients:
            self._pending.pop(frame.room, None)
            return
        pending = self._pending.setdefault(frame.room, [])
        pending.append(httpwire.chunk(frame.encode()))
        if len(pending) >= self.config.flush_frames:
            self._send(clients, pending)

    def flush(self) -> None:
        """Send partial batches now (the origin link broke: no more frames will complete them)."""
        for room, pending in self._pending.items():
            clients = self.rooms.get(room)
            if clients and pending:
                self._send(clients, pending)

    def _send(self, clients: set[_Client], pending: list[bytes]) -> None:
        stats = self.stats
        frames = len(pending)
        data = b"".join(pending)
        pending.clear()
        size = len(data)
        limit = self.config.queue_frames * size // frames
        disconnect = self.config.slow_policy == "disconnect"
        work = self.config.work_per_listener_us * frames / 1e6
        sent = 0
        for client in list(clients):
            transport = client.transport
            assert transport is not None
            if work:
                _burn(work)
            if transport.get_write_buffer_size() + size > limit:
                client.slow = True
                if disconnect:
                    stats.slow_disconnects += 1
                    self.remove_listener(client)
                    transport.abort()
                else:
                    stats.dropped_slow += frames
                continue
            client.slow = False
            transport.write(data)
            sent += 1
        stats.frames_out += sent * frames
        stats.bytes_out += sent * size

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "origin_connected": self.origin_connected,
            "listeners": self.listeners,
            "capacity": self.config.capacity,
        }

    # -- origin link -------------------------------------------------------------------------

    async def run_origin_link(self, stop: asyncio.Event) -> None:
        """Stay connected to the origin: redial with capped exponential backoff, full jitter."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        backoff = cfg.reconnect_initial_s
        while not stop.is_set():
            lost: asyncio.Future[None] = loop.create_future()
            try:
                transport, _ = await loop.create_connection(
                    lambda lost=lost: _OriginLink(self, lost), *cfg.origin
                )
            except OSError:
                self.stats.origin_failures += 1
                delay = self._rng.uniform(0, backoff)
                backoff = min(cfg.reconnect_max_s, backoff * 2)
                await service.sleep_or_stop(stop, delay)
                continue
            self._link = transport
            self.origin_connected = True
            self.stats.origin_connects += 1
            connected_at = loop.time()
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            self.origin_connected = False
            transport.abort()
            self.flush()
            if stop.is_set():
                return
            self.stats.origin_breaks += 1
            if loop.time() - connected_at > 5.0:
                backoff = cfg.reconnect_initial_s
            await service.sleep_or_stop(stop, self._rng.uniform(0, backoff))
            backoff = min(cfg.reconnect_max_s, backoff * 2)


def _burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class _EdgeCollector(Collector):
    """Exports the edge's plain counters at scrape time: nothing on the per-listener path."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        e = self.edge
        s = e.stats

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"soundstage_edge_{name}", doc, value=value)

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"soundstage_edge_{name}", doc, value=value)

        yield gauge("listeners", "Listeners streaming from this edge now.", e.listeners)
        yield gauge("capacity", "Listeners this edge admits.", e.config.capacity)
        yield counter("listener_connections", "Listener streams accepted.", s.connections)
        refusals = CounterMetricFamily(
            "soundstage_edge_listener_refusals",
            "Stream requests refused, by reason.",
            labels=["reason"],
        )
        for reason, value in s.refusals.items():
            refusals.add_metric([reason], value)
        yield refusals
        yield counter("frames_received", "Mix frames from the origin.", s.frames_in)
        yield counter("bytes_received", "Bytes from the origin.", s.bytes_in)
        yield counter("frames_sent", "Frames written to listeners.", s.frames_out)
        yield counter("bytes_sent", "Bytes written to listeners.", s.bytes_out)
        dropped = CounterMetricFamily(
            "soundstage_edge_frames_dropped",
            "Frames not delivered: per slow listener (queue full), or stale on arrival (lagging).",
            labels=["reason"],
        )
        dropped.add_metric(["slow_listener"], s.dropped_slow)
        dropped.add_metric(["stale"], s.dropped_stale)
        yield dropped
        yield counter(
            "slow_listener_disconnects",
            "Listeners closed by the disconnect policy.",
            s.slow_disconnects,
        )
        clients = [c for cs in e.rooms.values() for c in cs]
        depths = [c.transport.get_write_buffer_size() for c in clients if c.transport is not None]
        yield gauge(
            "slow_listeners",
            "Listeners whose queue was full at the last frame.",
            sum(1 for c in clients if c.slow),
        )
        yield gauge("send_queue_bytes", "Bytes queued to all listeners.", sum(depths))
        yield gauge("send_queue_max_bytes", "Deepest listener queue.", max(depths, default=0))
        yield gauge("origin_connected", "1 while the origin link is up.", int(e.origin_connected))
        yield counter("origin_connects", "Successful connections to the origin.", s.origin_connects)
        yield counter(
            "origin_reconnects", "Origin link breaks followed by a redial.", s.origin_breaks
        )
        yield counter(
            "origin_connect_failures", "Dials to the origin that failed.", s.origin_failures
        )
        yield counter(
            "origin_protocol_errors", "Malformed streams from the origin.", s.protocol_errors
        )


def parse_args(argv: list[str] | None = None) -> EdgeConfig:
    parser = argparse.ArgumentParser(prog="soundstage.edge", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="listener HTTP port")
    parser.add_argument("--origin", required=True, help="host:port of the origin's fanout")
    parser.add_argument("--capacity", type=int, default=5000, help="max listeners (then 503)")
    parser.add_argument("--queue-frames", type=int, default=25, help="per-listener send queue")
    parser.add_argument(
        "--flush-frames", type=int, default=5, help="frames per write (5 = every 100 ms)"
    )
    parser.add_argument("--slow-policy", choices=("drop", "disconnect"), default="drop")
    parser.add_argument("--send-buffer", type=int, default=65536, help="SO_SNDBUF per listener")
    parser.add_argument("--max-lag", type=float, default=1.0, help="seconds before stale")
    parser.add_argument("--backlog", type=int, default=4096, help="listen backlog")
    parser.add_argument("--header-timeout", type=float, default=10.0, help="s to send a request")
    parser.add_argument("--reconnect-max", type=float, default=2.0, help="backoff cap, s")
    parser.add_argument(
        "--work-per-listener-us",
        type=float,
        default=0.0,
        help="busy CPU per listener per frame (CPU-saturation knob)",
    )
    parser.add_argument("--name", default="edge")
    args = parser.parse_args(argv)
    try:
        origin = service.parse_address(args.origin)
    except ValueError as exc:
        parser.error(f"--origin: {exc}")
    return EdgeConfig(
        host=args.host,
        port=args.port,
        origin=origin,
        capacity=args.capacity,
        queue_frames=args.queue_frames,
        flush_frames=max(1, args.flush_frames),
        slow_policy=args.slow_policy,
        max_lag_s=args.max_lag,
        send_buffer_bytes=args.send_buffer,
        backlog=args.backlog,
        header_timeout_s=args.header_timeout,
        reconnect_max_s=args.reconnect_max,
        work_per_listener_us=args.work_per_listener_us,
        name=args.name,
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    log = service.configure_logging(config.name)

    async def serve(stop: asyncio.Event) -> None:
        edge = Edge(config, service.new_registry())
        await edge.start()
        log.info("listeners on %d, origin %s:%d", edge.port, *config.origin)
        try:
            await edge.run_origin_link(stop)
        finally:
            await edge.stop()
        log.info("stopped")

    service.run(serve)


if __name__ == "__main__":
    main()
