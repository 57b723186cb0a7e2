"""Process plumbing shared by every soundstage component: event loop, signals, logs, /metrics.

Each component is a small asyncio process. SIGTERM and SIGINT end it cleanly (servers closed,
sockets released) so a stack backend's graceful stop is quick; uvloop is used when installed,
as a production deployment would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
)

from soundstage import httpwire

Health = Callable[[], dict[str, Any]]
Control = Callable[[dict[str, Any] | None], dict[str, Any]]
"""A run-time control: ``GET`` reads it (called with None), ``POST`` a JSON object changes it.
It raises ``ValueError`` with a message for the client when the request is wrong (400)."""
MAX_CONTROL_BODY = 64 * 1024


def new_registry() -> CollectorRegistry:
    """A registry per component instance, with the process collector (CPU, memory, fds)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


def metrics_response(registry: CollectorRegistry) -> bytes:
    return httpwire.simple_response(200, generate_latest(registry), CONTENT_TYPE_LATEST)


def health_response(health: Health) -> bytes:
    report = health()
    status = 200 if report.get("status") == "ok" else 503
    return httpwire.simple_response(status, json.dumps(report).encode(), "application/json")


def _json(status: int, body: dict[str, Any]) -> bytes:
    return httpwire.simple_response(status, json.dumps(body).encode(), "application/json")


def control_response(control: Control, method: str, body: bytes) -> bytes:
    if method == "GET":
        return _json(200, control(None))
    if method != "POST":
        return httpwire.simple_response(405, b"GET or POST\n", "text/plain", Allow="GET, POST")
    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise ValueError('the body must be a JSON object, like {"gain": 1.2}')
        return _json(200, control(request))
    except ValueError as exc:  # json.JSONDecodeError is one
        return _json(400, {"error": str(exc)})


class _MetricsProtocol(asyncio.Protocol):
    """Serves GET /metrics, GET /healthz and the component's controls, one request per
    connection."""

    def __init__(
        self, registry: CollectorRegistry, health: Health, controls: dict[str, Control]
    ) -> None:
        self.registry = registry
        self.health = health
        self.controls = controls
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        try:
            parsed = httpwire.parse_request(self.buffer)
        except httpwire.HttpError as exc:
            self.transport.write(httpwire.simple_response(400, str(exc).encode(), "text/plain"))
            self.transport.close()
            return
        if parsed is None:
            return
        request, consumed = parsed
        control = self.controls.get(request.path)
        if request.path == "/metrics":
            reply = metrics_response(self.registry)
        elif request.path == "/healthz":
            reply = health_response(self.health)
        elif control is not None:
            length = request.headers.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_CONTROL_BODY:
                reply = _json(400, {"error": f"Content-Length must be 0-{MAX_CONTROL_BODY}"})
            elif len(self.buffer) - consumed < int(length):
                return  # the body is still arriving
            else:
                body = bytes(self.buffer[consumed : consumed + int(length)])
                reply = control_response(control, request.method, body)
        else:
            reply = httpwire.simple_response(404, b"try /metrics or /healthz\n", "text/plain")
        self.transport.write(reply)
        self.transport.close()


async def serve_metrics(
    host: str,
    port: int,
    registry: CollectorRegistry,
    health: Health,
    controls: dict[str, Control] | None = None,
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    routes = controls or {}
    return await loop.create_server(lambda: _MetricsProtocol(registry, health, routes), host, port)


def configure_logging(component: str) -> logging.Logger:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {component} %(levelname)s %(message)s",
    )
    return logging.getLogger(f"soundstage.{component}")


def run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` until it returns; SIGTERM/SIGINT set ``stop``."""

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    try:
        import uvloop
    except ImportError:  # the "fast" extra is optional
        asyncio.run(wrapper())
        return
    uvloop.run(wrapper())


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, waking early when ``stop`` is set (every wait in a component is this)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` → (host, port); raises ValueError with the offending text."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)
