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


class _MetricsProtocol(asyncio.Protocol):
    """Serves GET /metrics and GET /healthz, one request per connection."""

    def __init__(self, registry: CollectorRegistry, health: Health) -> None:
        self.registry = registry
        self.health = health
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
        request, _ = parsed
        if request.path == "/metrics":
            reply = metrics_response(self.registry)
        elif request.path == "/healthz":
            reply = health_response(self.health)
        else:
            reply = httpwire.simple_response(404, b"try /metrics or /healthz\n", "text/plain")
        self.transport.write(reply)
        self.transport.close()


async def serve_metrics(
    host: str, port: int, registry: CollectorRegistry, health: Health
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _MetricsProtocol(registry, health), host, port)


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
