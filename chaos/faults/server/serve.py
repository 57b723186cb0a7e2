"""``gameday proxy serve``: the embedded server as a standalone process, like toxiproxy-server.

Runs until SIGINT/SIGTERM, then closes every proxy and connection. Problems a person can fix
become ``GamedayError``s: an unreadable or invalid ``-config`` is invalid input (exit 2); an API
or proxy address that cannot be bound is infrastructure (exit 3).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from chaos.errors import InfrastructureError, InvalidInput
from chaos.faults.server import addr, requests
from chaos.faults.server.embedded import loop_factory
from chaos.faults.server.errors import ApiError
from chaos.faults.server.server import ToxiproxyServer

log = logging.getLogger("gameday.proxy")


_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}


def configure_logging(level_name: str) -> None:
    """``LOG_LEVEL`` with toxiproxy-server's level names; requests are logged at debug only."""
    level = _LEVELS.get(level_name.strip().lower())
    if level is None:
        raise InvalidInput(
            f"unknown log level {level_name!r}",
            where="LOG_LEVEL",
            fix=f"use one of {', '.join(_LEVELS)}",
        )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level > logging.DEBUG:
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def read_config(path: Path) -> bytes:
    """The config file's bytes, checked now so a typo fails before anything listens."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the proxy config: {exc.strerror or exc}",
            where=str(path),
            fix="pass -config with a readable JSON file (an array of proxies, as for /populate)",
        ) from None
    try:
        requests.populate(data)
    except ApiError as exc:
        raise InvalidInput(
            exc.message,
            where=str(path),
            fix='write a JSON array like [{"name": "db", "listen": "127.0.0.1:26379", '
            '"upstream": "127.0.0.1:6379"}]',
        ) from None
    return data


async def _serve(server: ToxiproxyServer, config: bytes | None) -> None:
    try:
        await server.start()
    except addr.AddrError as exc:
        raise InfrastructureError(
            f"the API cannot listen: {exc}",
            fix="choose another -port/-host, or stop the server already using it",
        ) from None
    try:
        if config is not None:
            problems = await server.load(config)
            if problems:
                raise InfrastructureError(
                    f"the proxy config could not be applied: {problems[0]}",
                    fix="free the listen addresses it names, or change them",
                )
        log.info("API listening on %s", server.url)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.close()


def serve(server: ToxiproxyServer, config: Path | None) -> None:
    """Run ``server`` until interrupted."""
    data = read_config(config) if config is not None else None
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(server, data))
