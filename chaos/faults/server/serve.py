"""``gameday proxy serve``: the embedded server as a standalone process, like toxiproxy-server.

The command line is toxiproxy-server's, parsed as Go parses it (``goflags``): ``-host``,
``-port``, ``-config``, ``-seed``, ``-proxy-metrics``, ``-runtime-metrics``, ``-version``, and
one of ours, ``-realtime`` (the data path's scheduling, see ``priority``). It loads only the
server (``gameday proxy serve`` skips the rest of the CLI; ``python -m chaos.faults.server`` is
the same command), so a proxy that every run and test restarts
answers ``/version`` quickly.

Runs until SIGINT/SIGTERM, then closes every proxy and connection. Problems a person can fix
become ``GamedayError``s: a bad flag, an unreadable or invalid ``-config`` is invalid input
(exit 2); an API or proxy address that cannot be bound is infrastructure (exit 3).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from chaos import __version__
from chaos.errors import ExitCode, GamedayError, InfrastructureError, InvalidInput
from chaos.faults.server import addr, goflags, priority, requests
from chaos.faults.server.api import VERSION
from chaos.faults.server.embedded import loop_factory
from chaos.faults.server.errors import ApiError
from chaos.faults.server.server import ToxiproxyServer

log = logging.getLogger("gameday.proxy")

FLAGS = (
    goflags.Flag("host", "string", "Host for the API to listen on", "127.0.0.1"),
    goflags.Flag("port", "string", "Port for the API to listen on", "8474"),
    goflags.Flag("config", "string", "JSON file containing proxies to create on startup"),
    goflags.Flag(
        "seed",
        "int64",
        "Seed for every random decision (toxicity, jitter, slicing, loss); "
        "POST /gameday/seed changes it while running (default: random)",
    ),
    goflags.Flag("proxy-metrics", "bool", "enable toxiproxy-specific prometheus metrics"),
    goflags.Flag("runtime-metrics", "bool", "enable runtime-related prometheus metrics"),
    goflags.Flag("version", "bool", "print the version"),
    goflags.Flag(
        "realtime",
        "bool",
        "Run the data path at real-time priority (SCHED_FIFO) when the system allows it, so "
        "latency toxics stay exact on a busy machine",
        True,
    ),
)

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
            part="fault-proxy",
            what=f"the API cannot listen: {exc}",
            fix="choose another -port/-host, or stop the server already using it",
        ) from None
    try:
        if config is not None:
            problems = await server.load(config)
            if problems:
                raise InfrastructureError(
                    part="fault-proxy",
                    what=f"the proxy config could not be applied: {problems[0]}",
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


def serve(server: ToxiproxyServer, config: Path | None, *, realtime: bool = False) -> None:
    """Run ``server`` until interrupted; ``realtime``: ask for SCHED_FIFO first (``priority``)."""
    data = read_config(config) if config is not None else None
    scheduling = priority.raise_priority() if realtime else priority.current()
    log.info("data path scheduling: %s", scheduling.detail)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(server, data))


def _api_port(text: str) -> int:
    try:
        return addr.parse_port(text)
    except addr.AddrError as exc:
        raise InvalidInput(
            str(exc), where="-port", fix="give a port number from 0 to 65535"
        ) from None


def run(values: dict[str, str | int | bool]) -> None:
    """Start the server the parsed flags describe and serve until interrupted."""
    configure_logging(os.environ.get("LOG_LEVEL", "info"))
    seed = values.get("seed")
    server = ToxiproxyServer(
        str(values.get("host", "127.0.0.1")),
        _api_port(str(values.get("port", "8474"))),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        proxy_metrics=bool(values.get("proxy-metrics")),
        runtime_metrics=bool(values.get("runtime-metrics")),
    )
    config = values.get("config")
    serve(
        server, Path(str(config)) if config else None, realtime=values.get("realtime", True) is True
    )


def main(argv: Sequence[str], program: str = "gameday proxy serve") -> NoReturn:
    """The command: parse ``argv`` as toxiproxy-server would, then serve (or print, and exit)."""
    try:
        values = goflags.parse(FLAGS, argv)
    except goflags.HelpRequested:
        sys.stderr.write(goflags.usage(program, FLAGS))
        sys.exit(0)
    except goflags.FlagError as exc:
        sys.stderr.write(f"{exc}\n{goflags.usage(program, FLAGS)}")
        sys.exit(int(ExitCode.INVALID_INPUT))
    if values.get("version"):
        print(f"toxiproxy-server version {VERSION} (gameday {__version__})")
        sys.exit(0)
    try:
        run(values)
    except GamedayError as exc:
        sys.stderr.write(f"error: {exc.render()}\n")
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))
    sys.exit(0)
