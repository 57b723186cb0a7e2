"""The scale model: what a run of N listeners needs, from figures measured on real hardware.

One machine cannot hold a million listeners. Before a run of millions, ``gameday plan`` says
how many load workers (one per core), how many connections each holds, how many source
addresses the connections need, and the bandwidth they draw, from the listeners per core that
``benchmarks/swarm.py`` measured against Icecast (written to ``reports/capacity.json``), or
from the figures below, measured in this repository's lab, when no such file exists. Every
assumption is a named field and printed with the plan. Pure, apart from reading and writing
the figures file.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from chaos.errors import InvalidInput
from chaos.workload.limits import RESERVED_FDS

#: Where benchmarks/swarm.py writes its figures and ``gameday plan`` looks first.
FIGURES_FILE = Path("reports") / "capacity.json"


@dataclass(frozen=True, slots=True)
class Figures:
    """Measured per-core rates (64 kb/s listeners streaming from Icecast with full accounting;
    joins that reached first audio per CPU-second) and where and when they were measured."""

    native_listeners_per_core: float
    locust_listeners_per_core: float
    joins_per_core_second: float
    measured: str
    where: str

    @classmethod
    def measured_now(
        cls,
        *,
        native_listeners_per_core: float,
        locust_listeners_per_core: float,
        joins_per_core_second: float,
        where: str,
    ) -> Figures:
        return cls(
            native_listeners_per_core,
            locust_listeners_per_core,
            joins_per_core_second,
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            where,
        )

    def per_core(self, engine: str) -> float:
        if engine == "locust":
            return self.locust_listeners_per_core
        return self.native_listeners_per_core

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, path: Path) -> Figures:
        try:
            data = json.loads(path.read_text())
            figures = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidInput(
                f"cannot read the measured figures: {exc}",
                where=str(path),
                fix="run `python benchmarks/swarm.py` to write them again, or pass --figures",
            ) from None
        rates = (
            figures.native_listeners_per_core,
            figures.locust_listeners_per_core,
            figures.joins_per_core_second,
        )
        if not all(isinstance(r, int | float) and r > 0 for r in rates):
            raise InvalidInput(
                "every rate must be a number above 0", where=str(path), fix="re-run the benchmark"
            )
        return figures


#: Measured by ``benchmarks/swarm.py`` on this repository's 2-core lab VM (Icecast 2.4 on
#: loopback, 64 kb/s MP3, Python 3.11, uvloop, locust 2.47), used when no figures file exists.
LAB_FIGURES = Figures(
    native_listeners_per_core=14441,
    locust_listeners_per_core=7981,
    joins_per_core_second=6742,
    measured="2026-11-24 18:29 UTC",
    where="the gameday lab VM (2 cores, shared), benchmarks/swarm.py against Icecast 2.4",
)


@dataclass(frozen=True, slots=True)
class Assumptions:
    """``bitrate``: bit/s per listener; ``overhead``: TCP/IP headers on top of it (about 5% at
    1448-byte segments); ``fd_limit``: file descriptors one worker process may hold;
    ``ports_per_source``: ephemeral ports per source address towards one server address and
    port (Linux's default range 32768-60999); ``cores_per_machine``: load-generator cores;
    ``headroom``: the share of each core the plan fills, leaving the rest for bursts."""

    bitrate: float = 64_000.0
    overhead: float = 1.05
    fd_limit: int = 20_000
    ports_per_source: int = 28_232
    cores_per_machine: int = 8
    headroom: float = 0.7

    def lines(self) -> list[str]:
        return [
            f"{self.bitrate / 1000:g} kb/s per listener, +{(self.overhead - 1) * 100:.0f}% "
            "TCP/IP overhead",
            f"one worker per core, each filled to {self.headroom:.0%} of what was measured",
            f"at most {self.fd_limit:,} file descriptors per worker process "
            f"({RESERVED_FDS} kept for the worker itself)",
            f"{self.ports_per_source:,} ephemeral ports per source address and server "
            "address:port (ip_local_port_range 32768-60999)",
            f"{self.cores_per_machine} load-generator cores per machine",
        ]


@dataclass(frozen=True, slots=True)
class Plan:
    listeners: int
    engine: str
    workers: int
    connections_per_worker: int
    machines: int
    source_addresses: int
    bandwidth_bps: float
    storm_seconds: float
    """CPU seconds per worker to join everyone, at the native swarm's measured joins per
    core-second (the join path's cost; the stack's accept rate usually binds first)."""
    limited_by: str
    """What set connections per worker: the measured CPU rate or the fd limit."""

    def lines(self) -> list[str]:
        return [
            f"{self.listeners:,} listeners on the {self.engine} engine need:",
            f"  workers (one per core)       {self.workers:,} ({self.limited_by})",
            f"  connections per worker       {self.connections_per_worker:,}",
            f"  machines                     {self.machines:,}",
            f"  source addresses             {self.source_addresses:,}",
            f"  bandwidth                    {_rate(self.bandwidth_bps)}",
            f"  CPU to join everyone         {self.storm_seconds:.1f}s per worker "
            "(at the native swarm's measured join rate)",
        ]


def plan(listeners: int, figures: Figures, assumptions: Assumptions, engine: str) -> Plan:
    """What ``listeners`` concurrent listeners need, by the measured rates and the assumptions."""
    if listeners < 1:
        raise InvalidInput(f"--listeners {listeners}", fix="give 1 or more listeners")
    by_cpu = math.floor(figures.per_core(engine) * assumptions.headroom)
    by_fds = assumptions.fd_limit - RESERVED_FDS
    per_worker = max(1, min(by_cpu, by_fds))
    workers = math.ceil(listeners / per_worker)
    return Plan(
        listeners=listeners,
        engine=engine,
        workers=workers,
        connections_per_worker=math.ceil(listeners / workers),
        machines=math.ceil(workers / assumptions.cores_per_machine),
        source_addresses=math.ceil(listeners / assumptions.ports_per_source),
        bandwidth_bps=listeners * assumptions.bitrate * assumptions.overhead,
        storm_seconds=listeners / (figures.joins_per_core_second * workers),
        limited_by="CPU per core" if by_cpu <= by_fds else "file descriptors per process",
    )


def _rate(bps: float) -> str:
    for unit, size in (("Tb/s", 1e12), ("Gb/s", 1e9), ("Mb/s", 1e6)):
        if bps >= size:
            return f"{bps / size:.2f} {unit}"
    return f"{bps / 1e3:.1f} kb/s"
