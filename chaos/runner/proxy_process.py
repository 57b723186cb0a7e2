"""The embedded fault proxy as a child process of the run (`gameday proxy serve`, run as
``python -m chaos.faults.server``, which loads the server and not the whole CLI).

Every listener's bytes cross the proxy; in the harness's own process they would share one
interpreter lock with scraping, guards and the live view, and a join storm would slow both.
A child process gets its own core when one is free, and is tied to the harness
(``die_with_parent``): a SIGKILLed harness takes its proxy, and so every toxic, with it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx

from chaos.errors import InfrastructureError
from chaos.stack import processes
from chaos.stack.ports import PortReservation

READY_TIMEOUT = 20.0


class ProxyProcess:
    def __init__(self, log: Path, *, seed: int | None = None) -> None:
        self.log = log
        self.seed = seed
        self.port = 0
        self._ref: processes.ProcessRef | None = None

    @property
    def pid(self) -> int | None:
        return self._ref.pid if self._ref is not None else None

    def exit(self) -> str | None:
        """How the proxy ended (``killed by SIGKILL``) if it has; None while it runs."""
        if self._ref is None or processes.alive(self._ref):
            return None
        return processes.exit_of(self._ref) or "exited"

    async def exit_within(self, seconds: float) -> str | None:
        """How the proxy ended, waiting up to ``seconds`` for its status: a refused connection
        can come before a killed multithreaded process can be reaped."""
        deadline = time.monotonic() + seconds
        while (ended := self.exit()) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return ended

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ProxyProcess:
        reservation = PortReservation()
        self.port = reservation.take("127.0.0.1", "tcp")
        command = [
            *(sys.executable, "-m", "chaos.faults.server", "-port", str(self.port)),
            "-proxy-metrics",  # the bytes through each proxy, for the report's throughput
        ]
        if self.seed is not None:
            command += ["-seed", str(self.seed)]
        reservation.release()
        self._ref = processes.spawn("fault-proxy", command, self.log, tied=True)
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if not processes.alive(self._ref):
                    raise InfrastructureError(
                        part="fault-proxy",
                        what="the fault proxy exited at start-up:\n" + processes.log_tail(self.log),
                        where=str(self.log),
                        fix="read its log; or give --toxiproxy URL of a running one",
                    )
                try:
                    if (await client.get(f"{self.url}/version")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise InfrastructureError(
                        part="fault-proxy",
                        what=f"the fault proxy did not answer within {READY_TIMEOUT:g}s",
                        where=str(self.log),
                    )
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        ref, self._ref = self._ref, None
        if ref is not None:
            await processes.stop_all([ref], grace=3.0)
