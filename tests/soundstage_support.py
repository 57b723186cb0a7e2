"""Helpers for the soundstage tests: run a variant of the built-in stack, listen, scrape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
from prometheus_client.parser import text_string_to_metric_families

from chaos.experiment.loader import load_stack_spec
from chaos.experiment.stack import StackSpec
from chaos.stack.local import LocalProcessBackend, RunningStack
from chaos.stack.specfile import spec_path, with_replicas
from soundstage.listener import StreamResult, join, listen


def soundstage_spec(
    extra: dict[str, list[str]] | None = None, replicas: dict[str, int] | None = None
) -> StackSpec:
    """The built-in spec with extra flags appended to some components' commands."""
    spec = load_stack_spec(spec_path("soundstage"))
    if replicas:
        spec = with_replicas(spec, replicas)
    components = dict(spec.components)
    for name, flags in (extra or {}).items():
        command = [*(components[name].command or []), *flags]
        components[name] = components[name].model_copy(update={"command": command})
    return spec.model_copy(update={"components": components})


@asynccontextmanager
async def running(
    spec: StackSpec, run_dir: Path
) -> AsyncIterator[tuple[LocalProcessBackend, RunningStack]]:
    backend = LocalProcessBackend(spec, run_dir, health_timeout=30)
    stack = await backend.start()
    try:
        yield backend, stack
    finally:
        await backend.stop()


async def scrape(url: str) -> dict[str, float]:
    """Sample name (with labels, as `name{k="v"}`) → value."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(url)).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


async def live_room(api: str, name: str = "main", timeout: float = 10.0) -> int:
    """Wait for the speaker to have created its room and gone live; the room's id."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            rooms = (await client.get(f"http://{api}/rooms")).json()
            for room in rooms:
                if room["name"] == name and room["state"] == "live":
                    return int(room["id"])
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"room {name!r} never went live: {rooms}")
            await asyncio.sleep(0.05)


@dataclass
class Audience:
    """Listeners joined through the api and streaming until ``stop`` is set."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[StreamResult]] = field(default_factory=list)

    async def add(self, session: aiohttp.ClientSession, api: str, room: int, n: int) -> None:
        for _ in range(n):
            joined = await join(session, api, room)
            self.tasks.append(asyncio.create_task(listen(joined.stream_url, stop=self.stop)))

    async def finish(self) -> list[StreamResult]:
        self.stop.set()
        return list(await asyncio.gather(*self.tasks))
