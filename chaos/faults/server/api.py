"""Toxiproxy 2.12's HTTP API, byte-compatible where it counts.

Routing is our own so unmatched paths, wrong methods, trailing slashes and
unclean paths answer exactly as gorilla/mux does behind a real Toxiproxy: 404 ``404 page not
found``, 405 with an empty body, 301 to the cleaned path, and the request-id header and browser
check only on matched routes.
"""

from __future__ import annotations

import asyncio
import base64
import os
import posixpath
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

from chaos import __version__
from chaos.faults.server import extensions, requests
from chaos.faults.server.collection import ToxicEntry
from chaos.faults.server.errors import ApiError, bad_request_body, toxic_not_found
from chaos.faults.server.gojson import encode
from chaos.faults.server.http_server import BodyError, Request, Response
from chaos.faults.server.leases import LeaseKeeper
from chaos.faults.server.metrics import ServerMetrics
from chaos.faults.server.proxy import Proxy
from chaos.faults.server.proxy_base import ProxyBase
from chaos.faults.server.registry import ProxyRegistry

VERSION = "2.12.0"
FEATURES: tuple[str, ...] = (
    "seed",
    "leases",
    "tags",
    "loss",
    "shared_bandwidth",
    "udp",
    "flood_ingress",
)
"""What ``GET /gameday/features`` advertises beyond Toxiproxy 2.12 (a real one answers 404);
docs/proxy-extensions.md is the contract: ``seed`` (``-seed`` and ``POST /gameday/seed``),
``leases`` (``lease_ms`` and ``POST /gameday/leases``), ``tags`` (``run`` on proxies, renewal
by ``@RUNID`` toxic names), ``loss`` and ``shared_bandwidth`` (toxic types), ``udp``
(``"protocol": "udp"`` proxies with datagram toxics), ``flood_ingress`` (``POST
/gameday/proxies/NAME/flood``: a listener whose connections carry junk server-to-client through
the proxy's toxics)."""
_TEXT = "text/plain; charset=utf-8"

Handler = Callable[[Request, list[str]], Awaitable[Response]]


class RequestIds:
    """20-character xids (time, machine, pid, counter; base32hex), as Toxiproxy's middleware."""

    def __init__(self) -> None:
        self._machine = secrets.token_bytes(3)
        self._pid = (os.getpid() & 0xFFFF).to_bytes(2, "big")
        self._counter = count(int.from_bytes(secrets.token_bytes(3), "big"))

    def next(self) -> str:
        raw = (
            int(time.time()).to_bytes(4, "big")
            + self._machine
            + self._pid
            + (next(self._counter) & 0xFFFFFF).to_bytes(3, "big")
        )
        return base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


def clean_path(path: str) -> str:
    """gorilla/mux's cleanPath: Go's ``path.Clean``, keeping a trailing slash."""
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def json_response(status: int, value: object) -> Response:
    return Response(status, encode(value), {"Content-Type": "application/json"})


def error_response(error: ApiError) -> Response:
    """Go's ``http.Error``: text/plain, nosniff, and a trailing newline."""
    body = encode({"error": error.message, "status": error.status}) + b"\n"
    return Response(
        error.status, body, {"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"}
    )


async def read_body(request: Request) -> bytes:
    """The body, or the ``bad request body`` error Toxiproxy gives when it cannot be read."""
    try:
        return await request.read()
    except BodyError as exc:
        raise bad_request_body(exc.message, exc.status) from None


def _populate_response(status: int, done: list[ProxyBase], error: ApiError | None) -> Response:
    payload: dict[str, object] = {}
    if error is not None:
        payload = {"error": error.message, "status": error.status}
    payload["proxies"] = [proxy.to_json() for proxy in done] or None
    return json_response(status, payload)


class Api:
    def __init__(self, registry: ProxyRegistry, metrics: ServerMetrics) -> None:
        self.registry = registry
        self.metrics = metrics
        self.lock = asyncio.Lock()
        self.leases = LeaseKeeper(registry, self.lock)
        self.ids = RequestIds()
        self.routes: dict[tuple[str, ...], dict[str, Handler]] = {
            ("reset",): {"POST": self.reset},
            ("version",): {"GET": self.version},
            ("gameday", "features"): {"GET": self.features},
            ("gameday", "leases"): {"POST": self.renew_leases},
            ("gameday", "seed"): {"POST": self.reseed},
            ("gameday", "proxies", "*", "flood"): {"POST": self.flood_ingress},
            ("populate",): {"POST": self.populate},
            ("proxies",): {"GET": self.proxy_index, "POST": self.proxy_create},
            ("proxies", "*"): {
                "GET": self.proxy_show,
                "POST": self.proxy_update,
                "PATCH": self.proxy_update,
                "DELETE": self.proxy_delete,
            },
            ("proxies", "*", "toxics"): {"GET": self.toxic_index, "POST": self.toxic_create},
            ("proxies", "*", "toxics", "*"): {
                "GET": self.toxic_show,
                "POST": self.toxic_update,
                "PATCH": self.toxic_update,
                "DELETE": self.toxic_delete,
            },
        }

    def _match(self, path: str) -> tuple[dict[str, Handler], list[str]] | None:
        if not path.startswith("/"):
            return None
        segments = path[1:].split("/")
        if any(not s for s in segments):
            return None
        if segments == ["metrics"] and self.metrics.enabled:
            return dict.fromkeys(("*",), self.metrics_handler), []
        for pattern, methods in self.routes.items():
            if len(pattern) == len(segments) and all(
                p in ("*", s) for p, s in zip(pattern, segments, strict=True)
            ):
                return methods, [s for p, s in zip(pattern, segments, strict=True) if p == "*"]
        return None

    async def handle(self, request: Request) -> Response:
        clean = clean_path(request.path)
        if clean != request.path:
            location = f"{clean}?{request.query_string}" if request.query_string else clean
            return Response(301, headers={"Location": location})
        matched = self._match(request.path)
        if matched is None:
            return Response(
                404,
                b"404 page not found\n",
                {"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"},
            )
        methods, params = matched
        handler = methods.get(request.method) or methods.get("*")
        if handler is None:
            return Response(405)
        response = await self._run(handler, request, params)
        response.headers["X-Toxiproxy-Request-Id"] = self.ids.next()
        return response

    async def _run(self, handler: Handler, request: Request, params: list[str]) -> Response:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return Response(
                403,
                b"User agent not allowed\n",
                {"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"},
            )
        try:
            return await handler(request, params)
        except ApiError as exc:
            return error_response(exc)

    # --- handlers ---

    async def version(self, request: Request, params: list[str]) -> Response:
        body = f'{{"version": "{VERSION}"}}\n'.encode()
        return Response(200, body, {"Content-Type": "application/json;charset=utf-8"})

    async def features(self, request: Request, params: list[str]) -> Response:
        return json_response(
            200, {"server": "gameday", "version": __version__, "features": list(FEATURES)}
        )

    async def renew_leases(self, request: Request, params: list[str]) -> Response:
        run, lease_ms = extensions.lease_renewal(await read_body(request))
        async with self.lock:
            renewed = self.leases.renew(run, lease_ms)
        return json_response(200, {"renewed": renewed})

    async def reseed(self, request: Request, params: list[str]) -> Response:
        seed = extensions.seed(await read_body(request))
        async with self.lock:
            self.registry.runtime.reseed(seed)
        return json_response(200, {"seed": seed})

    async def flood_ingress(self, request: Request, params: list[str]) -> Response:
        async with self.lock:
            proxy = self.registry.get(params[0])
            if not isinstance(proxy, Proxy):
                raise ApiError("a flood ingress is for TCP proxies; this one is UDP", 400)
            listen = await proxy.flood_ingress()
        return json_response(200, {"proxy": proxy.name, "listen": listen})

    async def metrics_handler(self, request: Request, params: list[str]) -> Response:
        live: Counter[tuple[str, str]] = Counter()
        for proxy in self.registry.proxies.values():
            if isinstance(proxy, Proxy):
                for direction, links in proxy.toxics.links.items():
                    live[str(direction), proxy.name] += sum(link.transfer.sent for link in links)
        body, content_type = self.metrics.render(live)
        return Response(200, body, {"Content-Type": content_type})

    async def reset(self, request: Request, params: list[str]) -> Response:
        async with self.lock:
            for proxy in self.registry.proxies.values():
                self.leases.drop_proxy(proxy)
            failures = await self.registry.reset()
        if failures:  # one is worded as Toxiproxy words it; each names its address
            raise ApiError("; ".join(failure.message for failure in failures), 500)
        return Response(204)

    async def populate(self, request: Request, params: list[str]) -> Response:
        try:
            specs = requests.populate(await read_body(request))
        except ApiError as exc:
            return _populate_response(exc.status, [], exc)
        async with self.lock:
            done, error = await self.registry.populate(specs)
        return _populate_response(error.status if error else 201, done, error)

    async def proxy_index(self, request: Request, params: list[str]) -> Response:
        proxies = self.registry.proxies
        return json_response(200, {name: proxies[name].to_json() for name in sorted(proxies)})

    async def proxy_create(self, request: Request, params: list[str]) -> Response:
        spec = requests.proxy_create(await read_body(request))
        async with self.lock:
            proxy = await self.registry.create(spec)
        return json_response(201, proxy.to_json())

    async def proxy_show(self, request: Request, params: list[str]) -> Response:
        return json_response(200, self.registry.get(params[0]).to_json())

    async def proxy_update(self, request: Request, params: list[str]) -> Response:
        body = await read_body(request)
        async with self.lock:
            proxy = self.registry.get(params[0])
            current = requests.ProxyInput(proxy.name, proxy.listen, proxy.upstream, proxy.enabled)
            spec = requests.proxy_update(body, current)
            await proxy.update(spec.listen, spec.upstream, spec.enabled)
            if spec.ext.run is not None:
                proxy.run = spec.ext.run
            if spec.ext.lease_ms is not None:
                self.leases.grant((proxy, None), spec.ext.lease_ms)
            elif proxy.enabled:
                self.leases.drop((proxy, None))
        return json_response(200, proxy.to_json())

    async def proxy_delete(self, request: Request, params: list[str]) -> Response:
        async with self.lock:
            self.leases.drop_proxy(self.registry.get(params[0]))
            self.registry.delete(params[0])
        return Response(204)

    async def toxic_index(self, request: Request, params: list[str]) -> Response:
        proxy = self.registry.get(params[0])
        return json_response(200, [entry.to_json() for entry in proxy.toxics.entries()])

    async def toxic_create(self, request: Request, params: list[str]) -> Response:
        body = await read_body(request)
        async with self.lock:
            proxy = self.registry.get(params[0])
            spec = requests.toxic_create(
                body, lambda name: proxy.toxics.find(name) is not None, proxy.toxic_types
            )
            entry = proxy.toxics.entry(spec.name, spec.type, spec.stream, spec.toxicity, spec.toxic)
            await proxy.toxics.add(entry)
            if spec.lease_ms is not None:
                self.leases.grant((proxy, entry), spec.lease_ms)
        return json_response(200, entry.to_json())

    def _toxic(self, params: list[str]) -> tuple[ProxyBase, ToxicEntry[Any]]:
        proxy = self.registry.get(params[0])
        entry = proxy.toxics.find(params[1])
        if entry is None:
            raise toxic_not_found()
        return proxy, entry

    async def toxic_show(self, request: Request, params: list[str]) -> Response:
        return json_response(200, self._toxic(params)[1].to_json())

    async def toxic_update(self, request: Request, params: list[str]) -> Response:
        body = await read_body(request)
        async with self.lock:
            proxy, entry = self._toxic(params)
            toxic, toxicity, lease_ms = requests.toxic_update(body, entry.toxic, entry.toxicity)
            await proxy.toxics.update(entry, toxic, toxicity)
            if lease_ms is not None:
                self.leases.grant((proxy, entry), lease_ms)
        return json_response(200, entry.to_json())

    async def toxic_delete(self, request: Request, params: list[str]) -> Response:
        async with self.lock:
            proxy, entry = self._toxic(params)
            self.leases.drop((proxy, entry))
            await proxy.toxics.remove(entry)
        return Response(204)
