"""The flood generator: competing connections through a proxy — "saturated lines".

A flood opens ``connections`` TCP connections and moves incompressible junk at ``rate`` bytes
per second in total, split evenly. A *push* flood writes junk to a link's proxy (client to
server) and drops whatever comes back; a *pull* flood connects to the proxy's flood ingress
(server/flood_ingress.py), which sends junk server-to-client through the same toxics the
link's real connections cross, and reads it at the flood's pace. Against a ``shared_bandwidth``
toxic in that direction the flood's connections take their fair shares of the link and the
legitimate streams starve, as in the 2024 incident.

Safety: the target must be one of the endpoints the stack spec declares (the caller passes
them; the runner gives its links' proxy addresses) and, unless ``allow_remote``, on loopback —
anything else is refused before a byte is sent. A flood always ends: ``stop()`` (rollback),
cancellation of the task awaiting it, or its lease running out without ``renew()`` — the same
dead-man's switch as the server's leases, here against a harness whose event loop is wedged. A
SIGKILLed harness needs no lease for its flood: the connections are its own sockets, and the
kernel closes them with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from chaos.errors import InvalidInput

log = logging.getLogger(__name__)

WRITE_SIZE = 16 * 1024
RECONNECT_SECONDS = 0.1
DEFAULT_LEASE_SECONDS = 30.0
PULL_RECEIVE_BUFFER = 64 * 1024
"""A pull flood's socket buffer: small, so what it has not read yet pushes back on the link
within about one write's worth instead of megabytes of loopback autotuning."""

Mode = Literal["push", "pull"]


@dataclass(frozen=True, slots=True)
class FloodPlan:
    connections: int
    rate: float
    """Bytes per second, all connections together."""

    def __post_init__(self) -> None:
        if self.connections < 1 or self.rate <= 0:
            raise ValueError(f"a flood needs connections >= 1 and rate > 0 (got {self})")

    @classmethod
    def share(cls, share: float, capacity: float, connections: int) -> FloodPlan:
        """A share (0 < share <= 1) of a link of ``capacity`` bytes per second."""
        if not 0 < share <= 1:
            raise ValueError(f"a flood's share of a link is above 0 and at most 1 (got {share})")
        return cls(connections, share * capacity)


def split_host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput(
            f"flood target {target!r} is not HOST:PORT",
            where="flood",
            fix="name a link of the stack spec; its proxy address is the target",
        )
    return host.strip("[]"), int(port)


def on_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def check_target(target: str, declared: Collection[str], *, allow_remote: bool = False) -> None:
    """Refuse a target the stack spec does not declare, or off loopback unless allowed."""
    if target not in declared:
        raise InvalidInput(
            f"flood target {target} is not an endpoint of the stack spec",
            where="flood",
            fix=f"flood one of the declared endpoints: {', '.join(sorted(declared)) or 'none'}",
        )
    host, _ = split_host_port(target)
    if not on_loopback(host) and not allow_remote:
        raise InvalidInput(
            f"flood target {target} is not on loopback",
            where="flood",
            fix="floods go to loopback by default; allow remote targets explicitly if this "
            "endpoint is yours to flood",
        )


def write_size(rate: float) -> int:
    """Bytes per write: at most ``WRITE_SIZE``, and small enough for 20 writes a second, so a
    slow flood is a steady trickle rather than bursts."""
    return max(1, min(WRITE_SIZE, int(rate / 20)))


def pace(next_at: float, now: float, nbytes: int, rate: float) -> tuple[float, float]:
    """(seconds to wait before writing ``nbytes``, the following write's time).

    A writer that fell behind (back-pressure) does not burst to catch up: the schedule restarts
    from now, so the flood never exceeds its rate over any stretch longer than one write.
    """
    start = max(next_at, now)
    return start - now, start + nbytes / rate


class Flood:
    def __init__(
        self,
        target: str,
        plan: FloodPlan,
        *,
        declared: Collection[str],
        allow_remote: bool = False,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        mode: Mode = "push",
    ) -> None:
        check_target(target, declared, allow_remote=allow_remote)
        self.host, self.port = split_host_port(target)
        self.plan = plan
        self.mode = mode
        self.lease_seconds = lease_seconds
        self.sent = 0
        """Bytes written so far (push) or read so far (pull), all connections."""
        self.open_connections = 0
        self._junk = os.urandom(WRITE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._deadline = 0.0
        self._stopped = asyncio.Event()

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    async def start(self) -> None:
        """Begin flooding; returns at once (the connections open in the background)."""
        if self._tasks:
            raise RuntimeError("a flood starts once")
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.lease_seconds
        per_connection = self.plan.rate / self.plan.connections
        self._tasks = [
            loop.create_task(self._connection(per_connection)) for _ in range(self.plan.connections)
        ]
        self._tasks.append(loop.create_task(self._watch_lease()))

    def renew(self, lease_seconds: float | None = None) -> None:
        """Keep flooding for another lease (the runner calls this with the server's renewals)."""
        if lease_seconds is not None:
            self.lease_seconds = lease_seconds
        self._deadline = asyncio.get_running_loop().time() + self.lease_seconds

    async def stop(self) -> None:
        """Close every connection and wait until they are closed; idempotent."""
        self._stopped.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def _watch_lease(self) -> None:
        loop = asyncio.get_running_loop()
        while (left := self._deadline - loop.time()) > 0:
            await asyncio.sleep(left)
        log.warning("flood on %s:%s: lease ran out without renewal; stopping", self.host, self.port)
        self._stopped.set()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def _connection(self, rate: float) -> None:
        while not self._stopped.is_set():
            try:
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, limit=WRITE_SIZE
                )
            except OSError as exc:
                log.debug("flood connect %s:%s: %s", self.host, self.port, exc)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            self.open_connections += 1
            drain = None
            try:
                if self.mode == "pull":
                    await self._pull(reader, writer, rate)
                else:
                    drain = asyncio.get_running_loop().create_task(self._discard(reader))
                    await self._push(writer, rate)
            except (ConnectionError, OSError):
                pass  # the proxy or upstream closed it: open another while the flood runs
            finally:
                self.open_connections -= 1
                if drain is not None:
                    drain.cancel()
                writer.transport.abort()  # junk still buffered is not worth waiting for
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _push(self, writer: asyncio.StreamWriter, rate: float) -> None:
        loop = asyncio.get_running_loop()
        junk = self._junk[: write_size(rate)]
        next_at = loop.time()
        while True:
            wait, next_at = pace(next_at, loop.time(), len(junk), rate)
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(junk)
            await writer.drain()
            self.sent += len(junk)

    async def _pull(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float
    ) -> None:
        """Read whatever has come, up to a write's worth, then wait out its time at ``rate``:
        few large reads (a small socket buffer smooths them), so pulling costs little CPU."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PULL_RECEIVE_BUFFER)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while data := await reader.read(WRITE_SIZE):
            self.sent += len(data)
            _, next_at = pace(next_at, loop.time(), len(data), rate)
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    @staticmethod
    async def _discard(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass
