"""The spaces control plane: who may listen and from which edge, who may speak, and the Space's
broadcast (the room's mix forwarded to the packager). Not in the media path.

- ``POST /join {"listener": ID, "avoid": EDGE?}`` → ``{"edge": URL}``: an edge that answers its
  health check, the least loaded (``avoid``: the one that just failed the listener), within the
  admission limits (``--max-listeners`` at once, ``--join-rate`` per second; 0 = none), else
  503 (full) or 429 (rate) with ``Retry-After``. A listener that joins again keeps its place.
- ``POST /speak {"speaker": NAME}`` → ``{"room": ROOM}`` within ``--max-speakers``.
- The broadcast: every second it makes sure the AudioBridge room forwards its mix (RTP, Opus)
  to the packager (``--forward``), again after Janus restarts; ``/healthz`` is 200 once it does.

    python -m spaces.api --janus http://127.0.0.1:8088/janus --room 1234 \\
        --forward 127.0.0.1:5002 --edges 127.0.0.1:8081,127.0.0.1:8082
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from spaces.janus_api import AudioBridge, JanusUnavailable
from spaces.service import metrics_route, serve

log = logging.getLogger("spaces.api")
PLAYLIST = "/live/mix.m3u8"


class TokenBucket:
    """``rate`` admissions per second with a burst of one second's worth; 0 admits all."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()

    def take(self, now: float) -> bool:
        if self.rate <= 0:
            return True
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class ControlPlane:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.edges: list[str] = args.edges.split(",") if args.edges else []
        self.checks: list[str] = args.edge_health.split(",") if args.edge_health else self.edges
        self.up = [False] * len(self.edges)
        self.assigned: dict[str, int] = {}
        """Listener → the edge index it was given."""
        self.bucket = TokenBucket(args.join_rate)
        self.joins: dict[str, int] = {}
        self.speakers: set[str] = set()
        self.speaks: dict[str, int] = {}
        self.forwarding = False
        self.forwarders_made = 0

    def _count(self, table: dict[str, int], outcome: str) -> None:
        table[outcome] = table.get(outcome, 0) + 1

    def join(self, listener: str, avoid: str | None) -> tuple[int, dict[str, Any]]:
        known = listener in self.assigned
        limit = self.args.max_listeners
        if not known and limit and len(self.assigned) >= limit:
            self._count(self.joins, "full")
            return 503, {"reason": "full", "retry_after": 5}
        if not self.bucket.take(time.monotonic()):
            self._count(self.joins, "rate")
            return 429, {"reason": "rate", "retry_after": 1}
        load = [0] * len(self.edges)
        for index in self.assigned.values():
            load[index] += 1
        usable = [
            i for i, ok in enumerate(self.up) if ok and f"http://{self.edges[i]}" != avoid
        ] or [i for i, ok in enumerate(self.up) if ok]
        if not usable:
            self._count(self.joins, "no_edge")
            return 503, {"reason": "no edge is up", "retry_after": 1}
        choice = min(usable, key=lambda i: load[i])
        self.assigned[listener] = choice
        self._count(self.joins, "rejoined" if known else "admitted")
        return 200, {"edge": f"http://{self.edges[choice]}", "playlist": PLAYLIST}

    def speak(self, speaker: str) -> tuple[int, dict[str, Any]]:
        if speaker not in self.speakers and len(self.speakers) >= self.args.max_speakers:
            self._count(self.speaks, "full")
            return 503, {"reason": "the room has its speakers"}
        self.speakers.add(speaker)
        self._count(self.speaks, "admitted")
        return 200, {"room": self.args.room}

    async def broadcast(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Keep the room's mix forwarded to the packager; keep the Janus session alive."""
        bridge = AudioBridge(http, self.args.janus)
        ticks = 0
        while not stop.is_set():
            try:
                if await bridge.forward_mix(self.args.room, self.args.forward):
                    self.forwarders_made += 1
                    log.info("room %s forwards its mix to %s", self.args.room, self.args.forward)
                self.forwarding = True
                ticks += 1
                if ticks % 20 == 0:
                    await bridge.keepalive()
            except JanusUnavailable as exc:
                if self.forwarding:
                    log.warning("janus: %s", exc)
                self.forwarding = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def watch_edges(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        async def check(url: str) -> bool:
            try:
                async with http.get(
                    f"http://{url}/healthz", timeout=aiohttp.ClientTimeout(total=1)
                ) as r:
                    return r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        while not stop.is_set():
            self.up = list(await asyncio.gather(*(check(url) for url in self.checks)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


class ControlPlaneCollector(Collector):
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def collect(self) -> Iterator[Metric]:
        p = self.plane
        joins = CounterMetricFamily(
            "spaces_api_joins", "Listener join requests by outcome.", labels=["outcome"]
        )
        for outcome in ("admitted", "rejoined", "full", "rate", "no_edge"):
            joins.add_metric([outcome], p.joins.get(outcome, 0))
        yield joins
        speaks = CounterMetricFamily(
            "spaces_api_speak_requests", "Speaker requests by outcome.", labels=["outcome"]
        )
        for outcome in ("admitted", "full"):
            speaks.add_metric([outcome], p.speaks.get(outcome, 0))
        yield speaks
        yield GaugeMetricFamily(
            "spaces_api_listeners", "Listeners admitted so far.", value=len(p.assigned)
        )
        up = GaugeMetricFamily(
            "spaces_api_edge_up", "1 while an edge passes its health check.", labels=["edge"]
        )
        given = GaugeMetricFamily(
            "spaces_api_edge_listeners", "Listeners sent to each edge.", labels=["edge"]
        )
        for index in range(len(p.edges)):
            up.add_metric([str(index + 1)], 1.0 if p.up[index] else 0.0)
            given.add_metric([str(index + 1)], sum(1 for i in p.assigned.values() if i == index))
        yield up
        yield given
        yield GaugeMetricFamily(
            "spaces_api_broadcast_up",
            "1 while the room's mix is forwarded to the packager.",
            value=1.0 if p.forwarding else 0.0,
        )
        yield CounterMetricFamily(
            "spaces_api_forwarders_created",
            "RTP forwarders made (again after a Janus restart).",
            value=p.forwarders_made,
        )


def application(plane: ControlPlane) -> web.Application:
    registry = CollectorRegistry()
    registry.register(ControlPlaneCollector(plane))

    async def body(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="send a JSON object") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="send a JSON object")
        return data

    def answer(status: int, payload: dict[str, Any]) -> web.Response:
        headers = {"Retry-After": str(payload["retry_after"])} if "retry_after" in payload else {}
        return web.json_response(payload, status=status, headers=headers)

    async def join(request: web.Request) -> web.Response:
        data = await body(request)
        listener = str(data.get("listener") or request.remote)
        return answer(*plane.join(listener, data.get("avoid")))

    async def speak(request: web.Request) -> web.Response:
        data = await body(request)
        return answer(*plane.speak(str(data.get("speaker") or request.remote)))

    async def health(_: web.Request) -> web.Response:
        status = 200 if plane.forwarding else 503
        return web.json_response(
            {"broadcast": plane.forwarding, "edges_up": sum(plane.up)}, status=status
        )

    app = web.Application()
    app.add_routes(
        [
            web.post("/join", join),
            web.post("/speak", speak),
            web.get("/healthz", health),
            metrics_route(registry),
        ]
    )
    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--janus", required=True, help="Janus API URL, e.g. http://H:P/janus")
    parser.add_argument("--room", type=int, default=1234)
    parser.add_argument("--forward", required=True, help="host:port the room's mix goes to")
    parser.add_argument("--edges", default="", help="edge addresses listeners are sent to")
    parser.add_argument("--edge-health", default="", help="the same edges, for health checks")
    parser.add_argument("--max-listeners", type=int, default=0, help="0 = no limit")
    parser.add_argument("--join-rate", type=float, default=0.0, help="joins/s; 0 = no limit")
    parser.add_argument("--max-speakers", type=int, default=16)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    plane = ControlPlane(args)

    async def background(stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            await asyncio.gather(plane.broadcast(http, stop), plane.watch_edges(http, stop))

    serve(application(plane), args.host, args.port, background)


if __name__ == "__main__":
    main()
