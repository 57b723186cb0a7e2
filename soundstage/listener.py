"""A listener: joins a room through the api and plays (decodes) the edge's stream.

Used by the speaker simulator's echo path (a host's second device is just a listener), by the
tests and the benchmark. ``StreamWatch`` is the sans-IO part: what a person would notice from a
sequence of frames and their arrival times (gaps, lost frames, stalls, clipping).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import aiohttp

from soundstage import httpwire
from soundstage.frames import Flags, Frame, FrameDecoder, FrameError, sequence_distance

STALL_S = 0.2
"""A gap between frames longer than this is audible as a stall (Agora counts freezes > 200 ms)."""


@dataclass(slots=True)
class StreamWatch:
    """Running account of one stream, from frames and their arrival times (seconds)."""

    frames: int = 0
    lost: int = 0
    """Frames missing from the sequence (dropped somewhere upstream)."""
    stalls: int = 0
    stall_seconds: float = 0.0
    max_gap_s: float = 0.0
    clipped: int = 0
    silent: int = 0
    discontinuities: int = 0
    first_at: float | None = None
    last_at: float | None = None
    last_sequence: int | None = None

    def observe(self, frame: Frame, at: float) -> None:
        if self.last_at is not None:
            gap = at - self.last_at
            self.max_gap_s = max(self.max_gap_s, gap)
            if gap > STALL_S:
                self.stalls += 1
                self.stall_seconds += gap
        else:
            self.first_at = at
        if frame.flags & Flags.DISCONTINUITY:
            self.discontinuities += 1
        elif self.last_sequence is not None:
            self.lost += max(0, sequence_distance(frame.sequence, self.last_sequence) - 1)
        self.frames += 1
        self.clipped += bool(frame.flags & Flags.CLIPPED)
        self.silent += bool(frame.flags & Flags.SILENCE)
        self.last_at = at
        self.last_sequence = frame.sequence


@dataclass(slots=True)
class StreamResult:
    status: int | None = None
    error: str | None = None
    started_at: float = 0.0
    watch: StreamWatch | None = None

    @property
    def time_to_first_frame(self) -> float | None:
        """Seconds from dialling the edge to the first whole frame (None if none came)."""
        if self.watch is None or self.watch.first_at is None:
            return None
        return self.watch.first_at - self.started_at


FrameCallback = Callable[[Frame, float], None]


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, request: bytes, result: StreamResult, on_frame: FrameCallback | None):
        self.request = request
        self.result = result
        self.on_frame = on_frame
        self.head = bytearray()
        self.body: httpwire.ChunkedDecoder | None = None
        self.frames = FrameDecoder()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        try:
            self._receive(data)
        except (httpwire.HttpError, FrameError) as exc:
            self._finish(f"protocol error: {exc}")

    def _receive(self, data: bytes) -> None:
        if self.body is None:
            self.head += data
            parsed = httpwire.parse_response_head(self.head)
            if parsed is None:
                return
            head, consumed = parsed
            self.result.status = head.status
            if head.status != 200:
                self._finish(f"HTTP {head.status}")
                return
            self.body = httpwire.ChunkedDecoder()
            self.result.watch = StreamWatch()
            data = bytes(self.head[consumed:])
        now = time.monotonic()
        watch = self.result.watch
        assert watch is not None
        for frame in self.frames.feed(self.body.feed(data)):
            watch.observe(frame, now)
            if self.on_frame is not None:
                self.on_frame(frame, now)
        if self.body.done:
            self._finish("stream ended")

    def _finish(self, error: str | None) -> None:
        """The first reason the stream ended is the one reported (None: we stopped it)."""
        if self.done.done():
            return
        self.result.error = error
        self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(f"connection lost: {exc}" if exc else "connection closed")


async def listen(
    url: str,
    *,
    stop: asyncio.Event,
    on_frame: FrameCallback | None = None,
    connect_timeout: float = 10.0,
) -> StreamResult:
    """Stream ``url`` until ``stop`` is set or the stream ends; never raises for network errors."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: soundstage-listener\r\n\r\n"
    )
    result = StreamResult(started_at=time.monotonic())
    loop = asyncio.get_running_loop()
    try:
        _transport, protocol = await asyncio.wait_for(
            loop.create_connection(
                lambda: _StreamProtocol(request.encode(), result, on_frame), host, port
            ),
            connect_timeout,
        )
    except (OSError, TimeoutError) as exc:
        result.error = f"connect failed: {exc!r}"
        return result
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({protocol.done, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    protocol._finish(None)
    return result


@dataclass(frozen=True, slots=True)
class Joined:
    listener_id: str
    stream_url: str
    edge: str


async def join(session: aiohttp.ClientSession, api: str, room: int) -> Joined:
    """The listener's join: look up the room, check the stream is live, ask for an edge."""
    base = f"http://{api}"
    async with session.get(f"{base}/rooms/{room}") as response:
        response.raise_for_status()
    async with session.get(f"{base}/rooms/{room}/stream") as response:
        response.raise_for_status()
    async with session.post(f"{base}/rooms/{room}/join") as response:
        response.raise_for_status()
        body = await response.json()
    return Joined(body["listener_id"], body["stream_url"], body["edge"])
