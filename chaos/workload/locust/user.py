"""One synthetic listener as a Locust user: the swarm's probe core over a gevent socket.

Locust side. A user is one listener session: it joins when the master's shape spawns it and
leaves when the shape lowers the count (Locust kills the greenlet; the attempt is then a leave,
not a failure). The bytes go through the same ``Probe`` (HTTP parsing, the adapter's stream
decoder, the playout model) as in the native swarm; only the socket differs. Drops and failed
joins retry by the experiment's reconnect policy, seeded per user. Each join is also reported
to Locust's own statistics as a ``JOIN`` request (its response time is the time to first
audio), so Locust's summary tells the same story.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import gevent
from gevent import socket
from locust import User, task

from chaos.workload.adapter import connect_failure, source_address, spreads_sources
from chaos.workload.hls.adapter import HlsAdapter
from chaos.workload.http import Target
from chaos.workload.locust.hls import GeventHlsSession
from chaos.workload.locust.worker import StartedUser, WorkerListeners
from chaos.workload.probe import Events, Failed, FirstAudio, Probe
from chaos.workload.stats import ListenerStats

RECV_BYTES = 65536
_PARKED = 3600.0


class ListenerUser(User):
    """Listens until Locust stops it; ``listeners`` is set by the locustfile at test start."""

    listeners: WorkerListeners | None = None

    @task
    def listen(self) -> None:
        w = ListenerUser.listeners
        assert w is not None, "the locustfile sets up the worker's listeners at test start"
        user = w.next_user()
        config = user.config
        target = Target.parse(config.url)
        source = (
            source_address(w.index * 100_003 + user.n) if spreads_sources(target.host) else None
        )
        rng = random.Random(f"{w.job.seed}:reconnect:{w.index}:{user.n}")
        retries = 0
        try:
            while True:
                heard, wait = self._attempt(w, user, target, source)
                retries = 0 if heard else retries
                retries += 1
                delay = config.reconnect.next_delay(retries, rng)
                if delay is None:  # the policy gave up: stay, silent, until Locust stops it
                    w.stop_wanting(user)
                    while True:
                        gevent.sleep(_PARKED)
                w.stats[user.cohort].reconnects += 1
                gevent.sleep(max(delay, wait))
        finally:  # Locust stopped the user (it left, or the test ended)
            w.stop_wanting(user)

    def _attempt(
        self, w: WorkerListeners, user: StartedUser, target: Target, source: str | None
    ) -> tuple[bool, float]:
        """One connection from the join request to its end: (heard audio, Retry-After)."""
        config = user.config
        ear = w.ear(user)
        adapter = w.adapter(config)
        probe = Probe(
            adapter.decoder(ear is not None),
            requested_at=time.monotonic(),
            target_delay=config.target_delay,
            on_play=ear,
            wall_offset=w.wall_offset,
        )
        retry_after = [0.0]
        sink = self._sink(w.stats[user.cohort], probe, target, retry_after)
        if isinstance(adapter, HlsAdapter):
            self._hls(w, user, adapter, probe, sink, source)
            return probe.playing_since is not None, retry_after[0]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

        def expire(reason: str) -> None:
            sink(probe.fail(time.monotonic(), reason))
            sock.close()  # wakes the greenlet blocked on it

        w.begin(probe, expire, user)
        try:
            if source is not None:
                sock.bind((source, 0))
            sock.settimeout(config.join_timeout)
            sock.connect((target.host, target.port))
            sock.settimeout(None)
            sink(probe.connected(time.monotonic()))
            sock.sendall(target.request())
            while not probe.ended:
                data = sock.recv(RECV_BYTES)
                if not data:
                    sink(probe.closed(time.monotonic()))
                    break
                sink(probe.feed(time.monotonic(), data))
        except OSError as exc:
            sink(probe.closed(time.monotonic(), connect_failure(exc)))
        finally:
            sock.close()
            w.end(probe)
        return probe.playing_since is not None, retry_after[0]

    def _hls(
        self,
        w: WorkerListeners,
        user: StartedUser,
        adapter: HlsAdapter,
        probe: Probe,
        sink: Callable[[Events], None],
        source: str | None,
    ) -> None:
        """An HLS attempt: the player over gevent sockets until it ends."""
        session = GeventHlsSession(adapter, probe, sink, source)

        def expire(reason: str) -> None:
            sink(probe.fail(time.monotonic(), reason))
            session.close()  # wakes the player's greenlet

        w.begin(probe, expire, user)
        try:
            session.connect(user.config.join_timeout)
            session.run()
        except OSError as exc:
            sink(probe.closed(time.monotonic(), connect_failure(exc)))
        finally:
            session.close()
            w.end(probe)

    def _sink(
        self, stats: ListenerStats, probe: Probe, target: Target, retry_after: list[float]
    ) -> Callable[[Events], None]:
        fire = self.environment.events.request.fire

        def sink(events: Events) -> None:
            for event in events:
                stats.record_event(event)
                if isinstance(event, FirstAudio):
                    fire(
                        request_type="JOIN",
                        name=target.path,
                        response_time=event.ttfa * 1000,
                        response_length=probe.bytes_received,
                        exception=None,
                        context={},
                    )
                elif isinstance(event, Failed):
                    retry_after[0] = event.retry_after or 0.0
                    fire(
                        request_type="JOIN",
                        name=target.path,
                        response_time=(event.at - probe.requested_at) * 1000,
                        response_length=probe.bytes_received,
                        exception=ConnectionError(event.reason),
                        context={},
                    )

        return sink
