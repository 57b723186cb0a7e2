"""The latency toxic's release schedule on uvloop (the embedded server's loop): a chunk is never
released before its arrival plus the latency, even when the loop's cached clock is stale."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import uvloop

from chaos.faults.server.chain import Chain
from chaos.faults.toxics import Chunk, Toxic
from chaos.faults.toxics.latency import LatencyToxic

LATENCY_MS = 20


@dataclass(eq=False)
class Entry:
    toxic: Toxic
    toxicity: float = 1.0


def _busy(seconds: float) -> None:
    """Work inside one loop iteration: uvloop's cached clock falls behind the real one."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def _release_delays() -> list[float]:
    chain = Chain([Entry(LatencyToxic({"latency": LATENCY_MS, "jitter": 0}))], random.Random(1))
    chain.start()
    arrived: dict[int, float] = {}
    delays: list[float] = []

    async def drain() -> None:
        while (chunk := await chain.sink.get()) is not None:
            delays.append(time.monotonic() - arrived[chunk.data[0]])

    drainer = asyncio.get_running_loop().create_task(drain())
    for i in range(120):
        arrived[i] = time.monotonic()
        chain.head_input.force(Chunk(bytes([i]), arrived[i]))
        await asyncio.sleep(0)  # the stub takes the chunk and sets its timer...
        _busy(0.0004 * (i % 6))  # ...while other work keeps this iteration (and its clock) busy
        await asyncio.sleep(0.002)
    chain.head_input.close()
    await drainer
    return delays


def test_latency_toxic_never_releases_early_on_uvloop() -> None:
    delays = uvloop.run(_release_delays())
    assert len(delays) == 120
    assert min(delays) >= LATENCY_MS / 1000
    # On time when the machine lets it be: the fastest tenth (a loaded machine only adds).
    assert sorted(delays)[len(delays) // 10] < LATENCY_MS / 1000 + 0.005
