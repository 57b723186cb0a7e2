"""The I/O edge of an HLS listener: the player's requests over keep-alive HTTP/1.1 connections.

``HlsAdapter.open`` connects the playlist channel (so a refused or timed-out connect fails the
join the way it does for every stream format), then performs what the sans-IO ``HlsPlayer``
asks: one request at a time per channel, each connection kept open across requests and
reopened when the server closes it. Answers are read by the same ``ResponseParser`` as every
other listener; a non-ear listener counts segment bytes without keeping them, an ear keeps
them for its decoder. Limits end what a broken or hostile server could make endless: a body
over its limit or a request past its timeout is cut and counted, never waited on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import cast

from chaos.audio.ear import Ear
from chaos.workload.adapter import EventSink, connect_failure
from chaos.workload.hls.exchange import Answer, Broken, Exchange, Outcome, request_bytes
from chaos.workload.hls.player import Fetch, HlsOptions, HlsPlayer, SegmentEar
from chaos.workload.hls.resolver import EndpointResolver
from chaos.workload.http import Target
from chaos.workload.probe import Events, Probe


@dataclass(slots=True)
class HlsAdapter:
    """HLS listeners of ``target`` (a multivariant or media playlist URL)."""

    target: Target
    options: HlsOptions = field(default_factory=HlsOptions)
    resolver: EndpointResolver = field(init=False)

    def __post_init__(self) -> None:
        self.resolver = EndpointResolver(self.target.host, self.target.port)

    @property
    def url(self) -> str:
        return f"http://{self.target.host}:{self.target.port}{self.target.path}"

    def decoder(self, ear: bool = False) -> None:
        """None: the player makes one frame per segment itself; an ear's listener (its
        probe's play sink is an ``Ear``) hands each segment to the ear, others decode nothing."""
        return None

    async def open(
        self, probe: Probe, sink: EventSink, source: str | None, listener: str = ""
    ) -> HlsSession:
        on_play = probe.playout.on_play
        session = HlsSession(
            self, probe, sink, source, on_play if isinstance(on_play, Ear) else None
        )
        await session.connect_first()
        return session


class HlsSession:
    """One listener attempt: its player, its two channels, its timer."""

    __slots__ = (
        "_timer", "_timer_at", "adapter", "channels", "loop", "player", "probe", "sink", "source",
    )  # fmt: skip

    def __init__(
        self,
        adapter: HlsAdapter,
        probe: Probe,
        sink: EventSink,
        source: str | None,
        ear: SegmentEar | None,
    ) -> None:
        self.adapter = adapter
        self.probe = probe
        self.sink = sink
        self.source = source
        self.loop = asyncio.get_running_loop()
        self.player = HlsPlayer(probe, adapter.url, adapter.options, adapter.resolver, ear)
        self.channels = (_Channel(self), _Channel(self))
        self._timer: asyncio.Handle | None = None
        self._timer_at: float | None = None
        """When ``_timer`` fires (uvloop's ``call_at`` for a past time is a plain ``Handle``,
        which has no ``when``)."""

    async def connect_first(self) -> None:
        """Open the playlist channel; an OSError here is the join's connect failure."""
        await self.channels[0].connect()
        self.after(self.probe.connected(self.loop.time()))
        self.player.start(self.loop.time())
        self.after(())

    def after(self, events: Events) -> None:
        """Deliver what a player step produced: events, requests, the next wake-up."""
        if events:
            self.sink(events)
        if self.probe.ended:
            self.close()
            return
        player = self.player
        if player.fetches:
            fetches, player.fetches = player.fetches, []
            for fetch in fetches:
                self.channels[fetch.channel].submit(fetch)
        wake = player.wake_at
        timer = self._timer
        if timer is not None and (wake is None or self._timer_at != wake):
            timer.cancel()
            self._timer = timer = None
        if wake is not None and timer is None:
            self._timer = self.loop.call_at(wake, self._wake)
            self._timer_at = wake

    def _wake(self) -> None:
        self._timer = None
        self.after(self.player.wake(self.loop.time()))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for channel in self.channels:
            channel.close()


class _Link(asyncio.Protocol):
    """One TCP connection of a channel; callbacks of a connection the channel has already
    replaced are ignored, so a late ``connection_lost`` never clobbers its successor."""

    __slots__ = ("channel", "transport")

    def __init__(self, channel: _Channel) -> None:
        self.channel = channel
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        channel = self.channel
        if channel.closed:
            self.transport.close()
            return
        channel.link = self
        channel.reused = False

    def data_received(self, data: bytes) -> None:
        if self.channel.link is self:
            self.channel.data_received(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.channel.link is self:
            self.channel.link = None
            self.channel.connection_lost(exc)


class _Channel:
    """One keep-alive connection at a time: requests one after another, each answer read by
    an ``Exchange``."""

    __slots__ = ("closed", "connecting", "exchange", "link", "queue", "reused", "session", "timer")

    def __init__(self, session: HlsSession) -> None:
        self.session = session
        self.link: _Link | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.queue: deque[Fetch] = deque()
        self.exchange: Exchange | None = None
        self.reused = False  # the connection carried an earlier request
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    async def connect(self) -> None:
        s = self.session
        target = s.adapter.target
        await s.loop.create_connection(
            lambda: _Link(self),
            target.host,
            target.port,
            local_addr=None if s.source is None else (s.source, 0),
        )

    def submit(self, fetch: Fetch) -> None:
        self.queue.append(fetch)
        self._next()

    def _next(self) -> None:
        if self.closed or self.exchange is not None or not self.queue:
            return
        link = self.link
        if link is None or link.transport is None or link.transport.is_closing():
            self.link = None
            if self.connecting is None:
                self.connecting = self.session.loop.create_task(self._reconnect())
            return
        s = self.session
        fetch = self.queue[0]
        try:
            link.transport.write(request_bytes(s.adapter.target, fetch))
        except RuntimeError:  # uvloop: closed by the peer, its connection_lost not yet run
            self.link = None
            self.reused = False
            if self.connecting is None:
                self.connecting = s.loop.create_task(self._reconnect())
            return
        self.queue.popleft()
        self.exchange = Exchange(fetch, s.adapter.options, s.player.ear is not None, self.reused)
        self.reused = True
        self.timer = s.loop.call_at(s.loop.time() + fetch.timeout, self._expired)

    async def _reconnect(self) -> None:
        try:
            await asyncio.wait_for(self.connect(), self.session.adapter.options.playlist_timeout)
        except OSError as exc:  # TimeoutError included
            self.connecting = None
            if self.queue and not self.closed:
                self._outcome(self.queue.popleft(), Broken(connect_failure(exc), str(exc)))
            return
        self.connecting = None
        self._next()

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            return  # nothing asked: bytes after a complete answer are ignored
        probe = self.session.probe
        probe.bytes_received += len(data)
        before = exchange.body_bytes
        outcome = exchange.feed(data)
        if probe.first_byte_at is None and exchange.body_bytes > before:
            probe.first_byte_at = self.session.loop.time()
        if outcome is not None:
            self._finish(outcome)

    def connection_lost(self, exc: Exception | None) -> None:
        exchange = self.exchange
        if exchange is not None and not self.closed:
            self._finish(exchange.lost(None if exc is None else connect_failure(exc)))

    def _expired(self) -> None:
        self.timer = None
        exchange = self.exchange
        if exchange is not None:
            self._finish(exchange.expired())

    def _finish(self, outcome: Outcome) -> None:
        exchange = self.exchange
        assert exchange is not None
        self.exchange = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if isinstance(outcome, Broken) or not outcome.keep_alive:
            self._drop_link()
        if isinstance(outcome, Broken) and outcome.again:
            self.queue.appendleft(exchange.fetch)
            self._next()
            return
        self._outcome(exchange.fetch, outcome)

    def _outcome(self, fetch: Fetch, outcome: Outcome) -> None:
        s = self.session
        now = s.loop.time()
        if isinstance(outcome, Answer):
            events = s.player.answer(now, fetch, outcome.status, outcome.headers, outcome.body)
        else:
            events = s.player.broken(now, fetch, outcome.reason, outcome.detail)
        s.after(events)
        self._next()

    def _drop_link(self) -> None:
        link, self.link = self.link, None
        self.reused = False
        if link is not None and link.transport is not None:
            link.transport.close()

    def close(self) -> None:
        self.closed = True
        self.exchange = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        self._drop_link()
