"""Helpers for the spaces tests: the stack behind an embedded fault proxy, and a raw HLS client.

The raw client is the tests' own independent listener (it needs nothing from gameday's
listener adapters): it asks the control plane where to listen, fetches the live playlist and
its newest segments from that edge, and, when the edge fails, asks again (naming the edge that
failed) and carries on from the one it is given.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chaos.experiment.loader import builtin_stacks, load_stack_spec
from chaos.experiment.stack import StackSpec
from chaos.faults.client import AsyncToxiproxyClient
from chaos.runner.proxy_process import ProxyProcess
from chaos.stack.backend import link_proxies
from chaos.stack.local import LocalProcessBackend, RunningStack
from chaos.stack.specfile import with_replicas

BINARIES = ("janus", "nginx", "ffmpeg", "prometheus-nginx-exporter")
ROOT = Path(__file__).resolve().parents[1]


def require_binaries() -> None:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        pytest.skip(f"the spaces stack needs {', '.join(missing)} (make apt installs them)")
    pytest.importorskip("aiortc", reason="WebRTC speakers need aiortc (make venv installs it)")


def spaces_spec(replicas: dict[str, int] | None = None) -> StackSpec:
    spec = load_stack_spec(builtin_stacks()["spaces"])
    return with_replicas(spec, replicas) if replicas else spec


@dataclass
class Proxied:
    backend: LocalProcessBackend
    stack: RunningStack
    proxy: AsyncToxiproxyClient
    proxies: dict[str, str]
    """Proxy name → its listen address."""

    def names(self, link: str) -> list[str]:
        return [name for name in self.proxies if name == link or name.startswith(f"{link}#")]


@asynccontextmanager
async def spaces_behind_proxy(
    tmp_path: Path,
    *,
    params: dict[str, str] | None = None,
    replicas: dict[str, int] | None = None,
) -> AsyncIterator[Proxied]:
    """The spaces stack as local processes, every link through an embedded fault proxy."""
    require_binaries()
    spec = spaces_spec(replicas)
    server = await ProxyProcess(tmp_path / "fault-proxy.log").start()
    client = AsyncToxiproxyClient(server.url)
    backend = LocalProcessBackend(
        spec, tmp_path / "stack", health_timeout=60, tied=True, params=params
    )
    try:
        created = await client.populate(link_proxies(backend, spec, backend.plan()))
        proxies = {p.name: p.listen for p in created}
        stack = await backend.start(proxies)
        yield Proxied(backend, stack, client, proxies)
    finally:
        await backend.stop()
        await client.aclose()
        await server.stop()


async def metrics(url: str) -> dict[str, float]:
    """Sample name with labels (as exposed) → value; lines of the text format, parsed simply."""
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


async def poll(check, timeout: float, every: float = 0.5):  # type: ignore[no-untyped-def]
    """Await ``check()`` until it returns a truthy value or ``timeout`` passes (then the last)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


@dataclass
class RawListener:
    """One listener: join through the control plane, then follow the live playlist."""

    name: str
    api: str
    edges: list[str] = field(default_factory=list)
    """Every edge it was sent to, in order."""
    segments: int = 0
    failures: int = 0
    last_segment_at: float = 0.0

    async def run(self, http: aiohttp.ClientSession, until: float) -> None:
        avoid: str | None = None
        while time.monotonic() < until:
            edge = await self._join(http, avoid)
            if edge is None:
                await asyncio.sleep(0.5)
                continue
            self.edges.append(edge)
            try:
                await self._follow(http, edge, until)
                return
            except (aiohttp.ClientError, TimeoutError):
                self.failures += 1
                avoid = edge
                await asyncio.sleep(0.2)

    async def _join(self, http: aiohttp.ClientSession, avoid: str | None) -> str | None:
        try:
            async with http.post(
                f"http://{self.api}/join", json={"listener": self.name, "avoid": avoid}
            ) as response:
                if response.status != 200:
                    return None
                body = await response.json()
                return f"{body['edge']}{body['playlist']}"
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _follow(self, http: aiohttp.ClientSession, playlist: str, until: float) -> None:
        base = playlist.rsplit("/", 1)[0]
        seen: set[str] = set()
        while time.monotonic() < until:
            async with http.get(playlist) as response:
                response.raise_for_status()
                text = await response.text()
            uris = [line for line in text.splitlines() if line and not line.startswith("#")]
            for uri in uris[-2:]:
                if uri in seen:
                    continue
                async with http.get(f"{base}/{uri}") as response:
                    response.raise_for_status()
                    await response.read()
                seen.add(uri)
                self.segments += 1
                self.last_segment_at = time.monotonic()
            await asyncio.sleep(1.0)


def run_experiment(
    experiment: Path, out: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``gameday run EXPERIMENT --out OUT`` as a user runs it, its console wide enough to read."""
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", "run", str(experiment), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        timeout=timeout,
    )


def replay(
    experiment: Path, out: Path, timeout: float = 220
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run a seed on spaces and read its journal. A machine so loaded that the stack or the
    swarm starves is the harness's to say: the verdict is then infrastructure (exit 3), and the
    test skips with the reason the run gave, rather than judge a stack that never saw its
    audience."""
    require_binaries()
    done = run_experiment(experiment, out, timeout=timeout)
    if done.returncode == 3:
        reason = [line for line in done.stdout.splitlines() if "infrastructure" in line]
        pytest.skip(f"the loaded machine starved the run, nothing judged: {reason[-3:]}")
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    return done, journal


def slo_statuses(journal: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e["status"] for e in journal if e["kind"] == "slo"}


def last_sample(journal: list[dict[str, Any]], name: str, **labels: str) -> float:
    """The last scraped value of a series (0 when never scraped)."""
    found = 0.0
    for event in journal:
        for sample in event.get("samples", []) if event["kind"] == "metrics" else []:
            if sample[0] == name and all(sample[1].get(k) == v for k, v in labels.items()):
                found = float(sample[2])
    return found
