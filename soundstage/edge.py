"""Edge: holds listeners' HTTP streams and fans the origin's mix out to them.

Listeners ``GET /stream/{room}`` and receive an endless chunked body, one frame per chunk. Each
listener's send queue is its socket's write buffer, bounded at ``queue_frames`` frames; a
listener that cannot keep up is a slow consumer, handled by policy: ``drop`` (skip frames for
it and count them) or ``disconnect`` (close it). A full edge answers 503 with Retry-After.

The edge dials the origin and redials with capped exponential backoff and full jitter when the
link breaks; its listeners stay connected through the outage and hear a gap, never a hang. A
frame older than ``max_lag`` when it arrives is stale and skipped, so an edge that fell behind
(CPU saturation) catches up to live instead of playing ever later.

It also serves every room as live HLS (``soundstage.hls``): ``GET /hls/{room}/live.m3u8``, a
media playlist of 2 s AAC segments (LL-HLS with ``--hls-part``: parts, preload hints and
blocking reloads held until the part asked for exists), over keep-alive connections.

    python -m soundstage.edge --port 8001 --origin 127.0.0.1:7000 --capacity 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import cast

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from soundstage import codec, httpwire, service
from soundstage.frames import Flags, Frame, FrameDecoder, FrameError
from soundstage.hls import PLAYLIST_TYPE, SEGMENT_TYPE, HlsConfig, Packager

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
    hls: HlsConfig | None = field(default_factory=HlsConfig)
    """The HLS output; None: framed streams only."""
    name: str = "edge"


#: A blocking HLS request is held at most this many target durations (RFC 8216bis §6.2.5.2).
HOLD_TARGET_DURATIONS = 3.0


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
    hls_requests: dict[str, int] = field(
        default_factory=lambda: {"playlist": 0, "blocking": 0, "segment": 0, "part": 0}
    )
    hls_misses: int = 0
    hls_bad_requests: int = 0
    hls_bytes: int = 0


@dataclass(slots=True)
class _Held:
    """An HLS request waiting for media that is not published yet."""

    client: _Client
    room: int
    sequence: int
    part: int | None
    answer: Callable[[], bytes]
    timer: asyncio.TimerHandle | None = None


class _Client(asyncio.Protocol):
    """One HTTP connection to the edge: a listener's stream, or a one-shot request."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.room: int | None = None
        self.slow = False
        self.answered = False
        self.keep_alive = False
        self.held: _Held | None = None
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
            request, consumed = parsed
            del self.buffer[:consumed]
            self.edge.route(self, request)

    def respond(self, response: bytes) -> None:
        """Answer an HLS request and keep the connection for the next one (HTTP/1.1)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(response)
        if not self.keep_alive:
            transport.close()
            return
        self.answered = False
        self.deadline = asyncio.get_running_loop().call_later(
            self.edge.config.header_timeout_s, self._head_timeout
        )
        if self.buffer:
            self.data_received(b"")

    def _reply(self, response: bytes) -> None:
        assert self.transport is not None
        self.answered = True
        self.transport.write(response)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        if self.held is not None:
            self.edge.release(self.held)
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
        self.packagers: dict[int, Packager] = {}
        self._held: dict[int, list[_Held]] = {}
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
        for held in [h for waiting in self._held.values() for h in waiting]:
            self.release(held)
            if held.client.transport is not None:
                held.client.transport.close()
        if self._server is not None:
            await self._server.wait_closed()

    # -- listeners ---------------------------------------------------------------------------

    def route(self, client: _Client, request: httpwire.Request) -> None:
        path = request.path
        if request.method != "GET":
            client._reply(httpwire.simple_response(405, b"GET only\n", "text/plain"))
        elif path.startswith("/stream/"):
            self.add_listener(client, path.removeprefix("/stream/"))
        elif path.startswith("/hls/") and self.config.hls is not None:
            client.keep_alive = request.headers.get("connection", "").lower() != "close"
            self.hls_request(client, path.removeprefix("/hls/"), request.query)
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
        if self.config.hls is not None:
            self._package(frame)
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

    # -- HLS ---------------------------------------------------------------------------------

    def _package(self, frame: Frame) -> None:
        packager = self.packagers.get(frame.room)
        if packager is None:
            assert self.config.hls is not None
            packager = self.packagers[frame.room] = Packager(self.config.hls)
        try:
            samples = codec.decode(frame.payload_type, frame.payload)
        except FrameError:
            self.stats.protocol_errors += 1
            return
        if packager.feed(frame.capture_us, samples):
            waiting = self._held.get(frame.room)
            if waiting:
                self._wake_held(packager, waiting)

    def hls_request(self, client: _Client, rest: str, query: dict[str, str]) -> None:
        """``{room}/live.m3u8`` (``_HLS_msn``/``_HLS_part``: a blocking reload),
        ``{room}/{msn}.aac`` a segment, ``{room}/{msn}.{part}.aac`` a part."""
        room_text, _, name = rest.partition("/")
        packager = self.packagers.get(int(room_text)) if room_text.isdigit() else None
        if packager is None or not (packager.ready or name.endswith(".aac")):
            self.stats.hls_misses += 1
            client.respond(_hls_response(404, b"no such room on this edge (yet)\n", "text/plain"))
            return
        room = int(room_text)
        if name == "live.m3u8":
            self._playlist_request(client, room, packager, query)
            return
        stem = name.removesuffix(".aac")
        numbers = stem.split(".")
        if stem == name or not 1 <= len(numbers) <= 2 or not all(n.isdigit() for n in numbers):
            self.stats.hls_misses += 1
            client.respond(_hls_response(404, b"no such HLS resource\n", "text/plain"))
            return
        sequence = int(numbers[0])
        part = int(numbers[1]) if len(numbers) == 2 else None
        self.stats.hls_requests["segment" if part is None else "part"] += 1

        def media() -> bytes:
            body = packager.segment(sequence) if part is None else packager.part(sequence, part)
            if body is None:
                self.stats.hls_misses += 1
                return _hls_response(404, b"no such segment (gone, or not yet)\n", "text/plain")
            self.stats.hls_bytes += len(body)
            return _hls_response(200, body, SEGMENT_TYPE, "max-age=60")

        if packager.has(sequence, part) or packager.too_far(sequence, part):
            client.respond(media())
        else:  # the preload hint's part, or the segment being made: hold it until it exists
            self._hold(client, room, packager, sequence, part, media)

    def _playlist_request(
        self, client: _Client, room: int, packager: Packager, query: dict[str, str]
    ) -> None:
        def playlist() -> bytes:
            body = packager.playlist()
            self.stats.hls_bytes += len(body)
            return _hls_response(200, body, PLAYLIST_TYPE, "no-cache")

        msn, part_text = query.get("_HLS_msn"), query.get("_HLS_part")
        if msn is None:
            if part_text is not None:
                self.stats.hls_bad_requests += 1
                client.respond(_hls_response(400, b"_HLS_part needs _HLS_msn\n", "text/plain"))
                return
            self.stats.hls_requests["playlist"] += 1
            client.respond(playlist())
            return
        self.stats.hls_requests["blocking"] += 1
        if not msn.isdigit() or not (part_text is None or part_text.isdigit()):
            self.stats.hls_bad_requests += 1
            client.respond(_hls_response(400, b"_HLS_msn/_HLS_part: numbers\n", "text/plain"))
            return
        sequence, part = int(msn), None if part_text is None else int(part_text)
        if packager.too_far(sequence, part):
            self.stats.hls_bad_requests += 1
            client.respond(_hls_response(400, b"_HLS_msn too far ahead\n", "text/plain"))
        elif packager.has(sequence, part):
            client.respond(playlist())
        else:
            self._hold(client, room, packager, sequence, part, playlist)

    def _hold(
        self,
        client: _Client,
        room: int,
        packager: Packager,
        sequence: int,
        part: int | None,
        answer: Callable[[], bytes],
    ) -> None:
        """Answer when the media asked for is published, or after the hold limit (the current
        playlist, or a 404 for media), whichever comes first."""
        limit = HOLD_TARGET_DURATIONS * packager.config.target_duration
        held = _Held(client, room, sequence, part, answer)
        held.timer = asyncio.get_running_loop().call_later(limit, self._answer_held, held)
        client.held = held
        self._held.setdefault(room, []).append(held)

    def _wake_held(self, packager: Packager, waiting: list[_Held]) -> None:
        for held in [h for h in waiting if packager.has(h.sequence, h.part)]:
            self._answer_held(held)

    def _answer_held(self, held: _Held) -> None:
        self.release(held)
        held.client.respond(held.answer())

    def release(self, held: _Held) -> None:
        if held.timer is not None:
            held.timer.cancel()
        held.client.held = None
        waiting = self._held.get(held.room)
        if waiting is not None and held in waiting:
            waiting.remove(held)

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


def _hls_response(status: int, body: bytes, content_type: str, cache: str = "no-store") -> bytes:
    """A whole HLS answer on a connection kept alive for the listener's next request."""
    head = {"Content-Type": content_type, "Content-Length": str(len(body)), "Cache-Control": cache}
    return httpwire.response_head(status, head) + body


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
        if e.config.hls is None:
            return
        requests = CounterMetricFamily(
            "soundstage_edge_hls_requests",
            "HLS requests, by kind (playlist, blocking playlist reload, segment, part).",
            labels=["kind"],
        )
        for kind, value in s.hls_requests.items():
            requests.add_metric([kind], value)
        yield requests
        yield counter("hls_not_found", "HLS requests answered 404.", s.hls_misses)
        yield counter("hls_bad_requests", "HLS requests answered 400.", s.hls_bad_requests)
        yield counter("hls_bytes_sent", "Bytes of HLS playlists and media sent.", s.hls_bytes)
        packagers = e.packagers.values()
        yield counter(
            "hls_segments",
            "HLS segments published.",
            sum(p.published_segments for p in packagers),
        )
        yield counter(
            "hls_parts", "LL-HLS parts published.", sum(p.published_parts for p in packagers)
        )
        yield counter(
            "hls_filled_seconds",
            "Audio missing upstream, packaged as silence to keep the timeline.",
            sum(p.filled_frames for p in packagers) * 0.02,
        )
        yield counter(
            "hls_discontinuities",
            "Timeline restarts packaged with EXT-X-DISCONTINUITY.",
            sum(p.discontinuities for p in packagers),
        )
        yield gauge(
            "hls_held_requests",
            "Blocking reloads and hinted parts held until their media exists.",
            sum(len(h) for h in e._held.values()),
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
    parser.add_argument(
        "--hls-segment", type=float, default=2.0, help="HLS segment seconds (0: no HLS output)"
    )
    parser.add_argument(
        "--hls-part", type=float, default=0.0, help="LL-HLS part seconds (0: plain HLS)"
    )
    parser.add_argument("--hls-window", type=int, default=6, help="segments in the playlist")
    parser.add_argument("--hls-bitrate", type=int, default=64000, help="AAC bits per second")
    parser.add_argument("--name", default="edge")
    args = parser.parse_args(argv)
    if args.hls_segment < 0 or args.hls_part < 0 or args.hls_part > args.hls_segment:
        parser.error("--hls-segment and --hls-part: seconds, with the part no longer")
    if args.hls_window < 1 or not 8000 <= args.hls_bitrate <= 320000:
        parser.error("--hls-window: at least 1; --hls-bitrate: 8000 to 320000")
    hls = (
        HlsConfig(
            segment_s=args.hls_segment,
            part_s=args.hls_part,
            window=args.hls_window,
            bitrate=args.hls_bitrate,
        )
        if args.hls_segment > 0
        else None
    )
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
        hls=hls,
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
