"""An HLS listener in a Locust worker: the swarm's ``HlsPlayer`` over gevent sockets.

Locust side (runs under gevent). The user's greenlet runs the player: it waits for an answer
or the player's next wake-up, hands either to the player, and passes the requests the player
asks for to two channel greenlets (playlists, media), each on its own keep-alive socket. Each
answer is read by the same ``Exchange`` as in the native swarm, so limits, retries on a
closed keep-alive connection and failure reasons are the same in both engines.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from gevent import socket
from gevent.queue import Empty, Queue

from chaos.audio.ear import Ear
from chaos.workload.adapter import EventSink, connect_failure
from chaos.workload.hls.adapter import HlsAdapter
from chaos.workload.hls.exchange import Answer, Broken, Exchange, Outcome, request_bytes
from chaos.workload.hls.player import Fetch, HlsPlayer
from chaos.workload.probe import Probe

RECV_BYTES = 65536
_CLOSED = object()  # put in the inbox to wake the player's greenlet when the attempt ends


class GeventHlsSession:
    """One listener attempt; ``connect`` raises ``OSError`` for a failed first connection."""

    def __init__(
        self, adapter: HlsAdapter, probe: Probe, sink: EventSink, source: str | None
    ) -> None:
        self.adapter = adapter
        self.probe = probe
        self.sink = sink
        on_play = probe.playout.on_play
        ear = on_play if isinstance(on_play, Ear) else None
        self.player = HlsPlayer(probe, adapter.url, adapter.options, adapter.resolver, ear)
        self.inbox: Queue[Any] = Queue()
        self.channels = (_Channel(self, source), _Channel(self, source))
        self.closed = False

    def connect(self, timeout: float) -> None:
        self.channels[0].connect(timeout)

    def run(self) -> None:
        """Play until the attempt ends (a failure, a drop, or ``close``)."""
        probe, player = self.probe, self.player
        self.after(probe.connected(time.monotonic()))
        player.start(time.monotonic())
        self.after(())
        while not probe.ended and not self.closed:
            wake = player.wake_at
            timeout = None if wake is None else max(0.0, wake - time.monotonic())
            try:
                item = self.inbox.get(timeout=timeout)
            except Empty:
                self.after(player.wake(time.monotonic()))
                continue
            if item is _CLOSED:
                break
            fetch, outcome = item
            now = time.monotonic()
            if isinstance(outcome, Answer):
                events = player.answer(now, fetch, outcome.status, outcome.headers, outcome.body)
            else:
                events = player.broken(now, fetch, outcome.reason, outcome.detail)
            self.after(events)

    def after(self, events: Any) -> None:
        if events:
            self.sink(events)
        player = self.player
        if player.fetches:
            fetches, player.fetches = player.fetches, []
            for fetch in fetches:
                self.channels[fetch.channel].queue.put(fetch)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for channel in self.channels:
            channel.close()
        self.inbox.put(_CLOSED)


class _Channel:
    """A greenlet performing one channel's requests in order over a keep-alive socket."""

    def __init__(self, session: GeventHlsSession, source: str | None) -> None:
        self.session = session
        self.source = source
        self.sock: socket.socket | None = None
        self.reused = False
        self.queue: Queue[Fetch] = Queue()
        self.greenlet = gevent.spawn(self._serve)

    def connect(self, timeout: float) -> None:
        target = self.session.adapter.target
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self.source is not None:
                sock.bind((self.source, 0))
            sock.settimeout(timeout)
            sock.connect((target.host, target.port))
        except OSError:
            sock.close()
            raise
        self.sock, self.reused = sock, False

    def _serve(self) -> None:
        while True:
            fetch = self.queue.get()
            outcome = self._perform(fetch)
            if isinstance(outcome, Broken) and outcome.again:
                outcome = self._perform(fetch)  # once, on a new connection
            self.session.inbox.put((fetch, outcome))

    def _perform(self, fetch: Fetch) -> Outcome:
        s = self.session
        if self.sock is None:
            try:
                self.connect(s.adapter.options.playlist_timeout)
            except OSError as exc:
                return Broken(connect_failure(exc), str(exc))
        sock = self.sock
        assert sock is not None
        exchange = Exchange(fetch, s.adapter.options, s.player.ear is not None, self.reused)
        self.reused = True
        deadline = time.monotonic() + fetch.timeout
        outcome: Outcome | None = None
        try:
            sock.sendall(request_bytes(s.adapter.target, fetch))
            while outcome is None:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    data = sock.recv(RECV_BYTES)
                except TimeoutError:
                    outcome = exchange.expired()
                    break
                if not data:
                    outcome = exchange.lost(None)
                    break
                probe = s.probe
                probe.bytes_received += len(data)
                before = exchange.body_bytes
                outcome = exchange.feed(data)
                if probe.first_byte_at is None and exchange.body_bytes > before:
                    probe.first_byte_at = time.monotonic()
        except OSError as exc:
            outcome = exchange.lost(connect_failure(exc))
        if isinstance(outcome, Broken) or not outcome.keep_alive:
            self._drop()
        return outcome

    def _drop(self) -> None:
        sock, self.sock = self.sock, None
        self.reused = False
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.greenlet.kill(block=False)
        self._drop()
