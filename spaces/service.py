"""What every spaces service shares: an aiohttp app on host:port until SIGTERM, with metrics."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry


def metrics_route(registry: CollectorRegistry) -> web.RouteDef:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    return web.get("/metrics", metrics)


def serve(
    application: web.Application,
    host: str,
    port: int,
    background: Callable[[asyncio.Event], Awaitable[None]] | None = None,
) -> None:
    """Run ``application`` (and ``background(stop)``) until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(application, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port, backlog=4096).start()
        try:
            if background is not None:
                task = asyncio.create_task(background(stop))
                await stop.wait()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            else:
                await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())
