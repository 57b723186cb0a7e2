"""Control plane: rooms, going live, and the listener's join, with admission control.

A listener's join takes the steps a real social-audio client takes: look up the room
(``GET /rooms/{id}``), check the stream status (``GET /rooms/{id}/stream``), then ask to join
(``POST /rooms/{id}/join``), which picks the least-loaded edge and returns the stream URL a
listener dials (``--edge-links``: maybe fault proxies in front of the edges ``--edges``).

Admission, the way real services shed load rather than fall over: the listen backlog
(``--backlog``), a token bucket on joins (``--max-joins-per-second``, ``--join-burst``), a
bounded pool of in-flight joins each costing ``--join-work`` seconds of backend time with at
most ``--join-queue`` waiting, and per-edge capacity. Over any limit: 503 with Retry-After.

    python -m soundstage.api --port 8080 --edges 127.0.0.1:8001 --edge-links 127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import CollectorRegistry

from soundstage import service
from soundstage.admission import EdgeLoad, TokenBucket, pick_edge, retry_after_header

ROOM_STATES = ("created", "live", "ended")
JOIN_FAILURE_REASONS = ("rate_limited", "overloaded", "capacity", "not_live", "not_found")


@dataclass(slots=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 0
    edges: list[str] = field(default_factory=list)
    edge_links: list[str] = field(default_factory=list)
    edge_capacity: int = 5000
    max_joins_per_second: float = 1000.0
    join_burst: float = 200.0
    join_work_s: float = 0.0
    max_inflight_joins: int = 64
    join_queue: int = 1024
    backlog: int = 1024
    poll_interval_s: float = 0.5
    poll_timeout_s: float = 1.0
    """How long a poll waits for an edge's answer before counting it late."""


@dataclass(slots=True)
class Room:
    id: int
    name: str
    state: str = "created"
    created_at: float = field(default_factory=time.time)
    go_live_at: float | None = None
    listeners: set[str] = field(default_factory=set)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "created_at": self.created_at,
            "go_live_at": self.go_live_at,
            "listeners": len(self.listeners),
        }


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.joins = Counter("soundstage_api_joins", "Joins admitted.", registry=registry)
        self.join_failures = Counter(
            "soundstage_api_join_failures",
            "Joins refused, by reason: " + ", ".join(JOIN_FAILURE_REASONS) + ".",
            ["reason"],
            registry=registry,
        )
        self.join_latency = Histogram(
            "soundstage_api_join_duration_seconds",
            "Time from a join request's arrival to its answer, by outcome.",
            ["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        # Every label value exists from the start, so a rate() over a refusal reason is 0, not
        # "no data", until the first refusal.
        for reason in JOIN_FAILURE_REASONS:
            self.join_failures.labels(reason)
        for outcome in ("ok", "refused"):
            self.join_latency.labels(outcome)
        self.inflight = Gauge(
            "soundstage_api_joins_in_flight", "Joins being worked on.", registry=registry
        )
        self.waiting = Gauge(
            "soundstage_api_joins_waiting", "Joins queued for a worker.", registry=registry
        )
        self.leaves = Counter("soundstage_api_leaves", "Listeners who left.", registry=registry)
        self.room_state = Gauge(
            "soundstage_api_room_state",
            "1 for the room's current state.",
            ["room", "state"],
            registry=registry,
        )
        self.go_live = Gauge(
            "soundstage_api_room_go_live_timestamp_seconds",
            "When the room went live (Unix time).",
            ["room"],
            registry=registry,
        )
        self.room_listeners = Gauge(
            "soundstage_api_room_listeners",
            "Listeners joined per room.",
            ["room"],
            registry=registry,
        )
        self.edge_listeners = Gauge(
            "soundstage_api_edge_listeners",
            "Listeners each edge reported at the last poll.",
            ["edge"],
            registry=registry,
        )
        self.edge_up = Gauge(
            "soundstage_api_edge_up",
            "1 if the edge answered the last poll.",
            ["edge"],
            registry=registry,
        )


class Api:
    def __init__(self, config: ApiConfig, registry: CollectorRegistry) -> None:
        if len(config.edges) != len(config.edge_links):
            raise ValueError(
                f"{len(config.edges)} --edges but {len(config.edge_links)} --edge-links; "
                "give one link per edge, in the same order"
            )
        self.config = config
        self.registry = registry
        self.metrics = _Metrics(registry)
        self.rooms: dict[int, Room] = {}
        self.by_name: dict[str, int] = {}
        self.listeners: dict[str, tuple[int, int]] = {}
        self.edges = [EdgeLoad(link, config.edge_capacity) for link in config.edge_links]
        self.bucket = TokenBucket(config.max_joins_per_second, config.join_burst)
        self.workers = asyncio.Semaphore(config.max_inflight_joins)
        self.waiting = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        self.polled_edges = False
        """Whether a first round of edge polls has ended: until then the api is not ready (its
        edge_up gauges and its choice of edge would be guesses)."""

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/healthz", self.healthz),
                web.get("/metrics", self.metrics_endpoint),
                web.get("/rooms", self.list_rooms),
                web.post("/rooms", self.create_room),
                web.get("/rooms/{room}", self.get_room),
                web.post("/rooms/{room}/live", self.go_live),
                web.post("/rooms/{room}/end", self.end_room),
                web.get("/rooms/{room}/stream", self.stream_status),
                web.post("/rooms/{room}/join", self.join),
                web.post("/rooms/{room}/leave", self.leave),
            ]
        )
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        cfg = self.config
        site = web.TCPSite(self._runner, cfg.host, cfg.port, backlog=cfg.backlog)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._poller = asyncio.create_task(self._poll_edges())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _poll_edges(self) -> None:
        """Learn each edge's real listener count; an edge that does not answer gets no joins."""
        timeout = aiohttp.ClientTimeout(total=self.config.poll_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                await asyncio.gather(
                    *(self._poll_one(session, i, a) for i, a in enumerate(self.config.edges))
                )
                self.polled_edges = True
                await asyncio.sleep(self.config.poll_interval_s)

    async def _poll_one(self, session: aiohttp.ClientSession, index: int, address: str) -> None:
        edge = self.edges[index]
        try:
            async with session.get(f"http://{address}/load") as response:
                load = await response.json()
            edge.reported = int(load["listeners"])
            edge.capacity = min(self.config.edge_capacity, int(load["capacity"]))
            edge.polled("answered")
        except TimeoutError:  # before ClientError: aiohttp's ServerTimeoutError is both
            edge.polled("slow")
        except (aiohttp.ClientError, ValueError, KeyError):
            edge.polled("refused")
        self.metrics.edge_listeners.labels(address).set(edge.reported)
        self.metrics.edge_up.labels(address).set(int(edge.healthy))

    # -- handlers ----------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        healthy = sum(e.healthy for e in self.edges)
        return web.json_response(
            {
                "status": "ok" if self.polled_edges else "starting: polling the edges",
                "rooms": len(self.rooms),
                "edges": len(self.edges),
                "edges_healthy": healthy,
            },
            status=200 if self.polled_edges else 503,
        )

    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def list_rooms(self, request: web.Request) -> web.Response:
        return web.json_response([room.view() for room in self.rooms.values()])

    async def create_room(self, request: web.Request) -> web.Response:
        """Create a room by name; creating one that exists returns it (idempotent, 200)."""
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return _error(400, 'body must be JSON like {"name": "main"}')
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return _error(400, 'missing room name: send {"name": "main"}')
        if name in self.by_name:
            return web.json_response(self.rooms[self.by_name[name]].view())
        room = Room(len(self.rooms) + 1, name)
        self.rooms[room.id] = room
        self.by_name[name] = room.id
        self._set_state(room, "created")
        return web.json_response(room.view(), status=201)

    def _room(self, request: web.Request) -> Room | None:
        text = request.match_info["room"]
        return self.rooms.get(int(text)) if text.isdigit() else None

    async def get_room(self, request: web.Request) -> web.Response:
        room = self._room(request)
        return web.json_response(room.view()) if room else _error(404, "no such room")

    async def go_live(self, request: web.Request) -> web.Response:
        room = self._room(request)
        if room is None:
            return _error(404, "no such room")
        if room.state == "ended":
            return _error(409, "room has ended")
        if room.state != "live":
            room.go_live_at = time.time()
            self.metrics.go_live.labels(str(room.id)).set(room.go_live_at)
            self._set_state(room, "live")
        return web.json_response(room.view())

    async def end_room(self, request: web.Request) -> web.Response:
        room = self._room(request)
        if room is None:
            return _error(404, "no such room")
        self._set_state(room, "ended")
        return web.json_response(room.view())

    async def stream_status(self, request: web.Request) -> web.Response:
        room = self._room(request)
        if room is None:
            return _error(404, "no such room")
        return web.json_response(
            {
                "room": room.id,
                "live": room.state == "live",
                "state": room.state,
                "go_live_at": room.go_live_at,
                "listeners": len(room.listeners),
            }
        )

    async def join(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        response = await self._admit(request)
        outcome = "ok" if response.status == 200 else "refused"
        self.metrics.join_latency.labels(outcome).observe(time.monotonic() - started)
        return response

    async def _admit(self, request: web.Request) -> web.Response:
        room = self._room(request)
        if room is None:
            return self._refuse("not_found", 404, "no such room")
        if room.state != "live":
            return self._refuse("not_live", 409, f"room is {room.state}, not live")
        wait = self.bucket.take(time.monotonic())
        if wait > 0:
            return self._refuse("rate_limited", 503, "too many joins", wait)
        if self.workers.locked() and self.waiting >= self.config.join_queue:
            return self._refuse("overloaded", 503, "join queue full", 1.0)
        self.waiting += 1
        self.metrics.waiting.inc()
        try:
            await self.workers.acquire()
        finally:
            self.waiting -= 1
            self.metrics.waiting.dec()
        try:
            self.metrics.inflight.inc()
            if self.config.join_work_s > 0:
                await asyncio.sleep(self.config.join_work_s)
        finally:
            self.metrics.inflight.dec()
            self.workers.release()
        index = pick_edge(self.edges, time.monotonic())
        if index is None:
            return self._refuse("capacity", 503, "every edge is full", 1.0)
        listener_id = secrets.token_hex(8)
        self.listeners[listener_id] = (room.id, index)
        room.listeners.add(listener_id)
        self.metrics.room_listeners.labels(str(room.id)).set(len(room.listeners))
        self.metrics.joins.inc()
        link = self.edges[index].link
        return web.json_response(
            {
                "listener_id": listener_id,
                "edge": link,
                "stream_url": f"http://{link}/stream/{room.id}?listener={listener_id}",
            }
        )

    def _refuse(
        self, reason: str, status: int, message: str, retry_after: float | None = None
    ) -> web.Response:
        self.metrics.join_failures.labels(reason).inc()
        response = _error(status, message, reason)
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after_header(retry_after)
        return response

    async def leave(self, request: web.Request) -> web.Response:
        room = self._room(request)
        if room is None:
            return _error(404, "no such room")
        try:
            body = await request.json()
            listener_id = body["listener_id"]
        except (ValueError, KeyError, TypeError):
            return _error(400, 'send {"listener_id": ...} as returned by join')
        if self.listeners.pop(listener_id, None) is None:
            return _error(404, "no such listener")
        room.listeners.discard(listener_id)
        self.metrics.room_listeners.labels(str(room.id)).set(len(room.listeners))
        self.metrics.leaves.inc()
        return web.Response(status=204)

    def _set_state(self, room: Room, state: str) -> None:
        room.state = state
        for name in ROOM_STATES:
            self.metrics.room_state.labels(str(room.id), name).set(int(name == state))


def _error(status: int, message: str, reason: str | None = None) -> web.Response:
    body: dict[str, str] = {"error": message}
    if reason:
        body["reason"] = reason
    return web.json_response(body, status=status)


def _addresses(text: str) -> list[str]:
    items = [a for a in text.split(",") if a]
    for item in items:
        service.parse_address(item)
    return items


def parse_args(argv: list[str] | None = None) -> ApiConfig:
    parser = argparse.ArgumentParser(prog="soundstage.api", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--edges", default="", help="edges' own addresses, comma-separated")
    parser.add_argument("--edge-links", default="", help="what listeners dial, same order")
    parser.add_argument("--edge-capacity", type=int, default=5000)
    parser.add_argument("--max-joins-per-second", type=float, default=1000.0)
    parser.add_argument("--join-burst", type=float, default=200.0)
    parser.add_argument("--join-work", type=float, default=0.0, help="backend seconds per join")
    parser.add_argument("--max-inflight-joins", type=int, default=64)
    parser.add_argument("--join-queue", type=int, default=1024)
    parser.add_argument("--backlog", type=int, default=1024, help="listen backlog")
    args = parser.parse_args(argv)
    try:
        edges, links = _addresses(args.edges), _addresses(args.edge_links or args.edges)
    except ValueError as exc:
        parser.error(str(exc))
    if len(edges) != len(links):
        parser.error(f"{len(edges)} --edges but {len(links)} --edge-links; give one per edge")
    return ApiConfig(
        host=args.host,
        port=args.port,
        edges=edges,
        edge_links=links,
        edge_capacity=args.edge_capacity,
        max_joins_per_second=args.max_joins_per_second,
        join_burst=args.join_burst,
        join_work_s=args.join_work,
        max_inflight_joins=args.max_inflight_joins,
        join_queue=args.join_queue,
        backlog=args.backlog,
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    log = service.configure_logging("api")

    async def serve(stop: asyncio.Event) -> None:
        api = Api(config, service.new_registry())
        await api.start()
        log.info("api on %d, %d edges", api.port, len(config.edges))
        try:
            await stop.wait()
        finally:
            await api.stop()
        log.info("stopped")

    service.run(serve)


if __name__ == "__main__":
    main()
