"""The toxic chain without sockets: rewiring while data flows never loses or reorders a byte,
and each toxic's stub forwards what it holds when interrupted."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.faults.server.chain import Chain, Channel
from chaos.faults.toxics import TOXIC_TYPES, Chunk, Toxic
from chaos.faults.toxics.limit_data import Transmitted


@dataclass(eq=False)
class Entry:
    toxic: Toxic
    toxicity: float = 1.0


def passing(kind: str, value: int) -> Toxic:
    """Toxics that deliver every byte (only the timing or the cutting changes)."""
    attributes = {
        "noop": {},
        "latency": {"latency": 5 + value, "jitter": value % 4},
        "slicer": {"average_size": 1 + value % 7, "size_variation": value % 2, "delay": value},
        "bandwidth": {"rate": 50_000 + value},
        "slow_close": {"delay": value % 2},
        "loss": {"probability": value % 3 / 10, "h": 1, "rto": 1 + value % 3, "mss": 1 + value},
        "shared_bandwidth": {"rate": 50_000 + value},
    }[kind]
    return TOXIC_TYPES[kind](attributes)


async def collect(sink: Channel) -> bytes:
    out = bytearray()
    while (chunk := await sink.get()) is not None:
        out += chunk.data
    return bytes(out)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("data"), st.binary(min_size=1, max_size=64)),
        st.tuples(
            st.just("add"),
            st.sampled_from(
                ["noop", "latency", "slicer", "bandwidth", "slow_close", "loss", "shared_bandwidth"]
            ),
            st.integers(0, 20),
        ),
        st.tuples(st.just("update"), st.integers(0, 5), st.integers(0, 20)),
        st.tuples(st.just("remove"), st.integers(0, 5)),
        st.tuples(st.just("toxicity"), st.integers(0, 5), st.sampled_from([0.0, 0.5, 1.0])),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(operations, st.integers(0, 2**32))
def test_rewiring_keeps_every_byte_in_order(ops: list[tuple[object, ...]], seed: int) -> None:
    async def scenario() -> None:
        chain = Chain([], random.Random(seed))
        chain.start()
        output = asyncio.get_running_loop().create_task(collect(chain.sink))
        entries: list[Entry] = []
        sent = bytearray()
        for op in ops:
            if op[0] == "data":
                data = op[1]
                assert isinstance(data, bytes)
                sent += data
                await chain.head_input.put(Chunk(data, time.monotonic()))
            elif op[0] == "add":
                entry = Entry(passing(str(op[1]), int(str(op[2]))))
                entries.append(entry)
                await chain.add(entry)
            elif entries and op[0] == "update":
                entry = entries[int(str(op[1])) % len(entries)]
                entry.toxic = passing(entry.toxic.type_name, int(str(op[2])))
                await chain.update(entry)
            elif entries and op[0] == "toxicity":
                entry = entries[int(str(op[1])) % len(entries)]
                entry.toxicity = float(str(op[2]))
                await chain.update(entry)
            elif entries and op[0] == "remove":
                entry = entries.pop(int(str(op[1])) % len(entries))
                await chain.remove(entry)
        chain.head_input.close()
        assert await asyncio.wait_for(output, 10) == bytes(sent)

    asyncio.run(scenario())


def test_limit_data_count_survives_an_update() -> None:
    async def scenario() -> bytes:
        entry = Entry(TOXIC_TYPES["limit_data"]({"bytes": 10}))
        chain = Chain([entry], random.Random(1))
        chain.start()
        output = asyncio.get_running_loop().create_task(collect(chain.sink))
        await chain.head_input.put(Chunk(b"123456", time.monotonic()))
        await asyncio.sleep(0.01)
        entry.toxic = TOXIC_TYPES["limit_data"]({"bytes": 8})
        await chain.update(entry)
        state = chain.stubs[1].state
        assert isinstance(state, Transmitted) and state.count == 6
        await chain.head_input.put(Chunk(b"abcdef", time.monotonic()))
        return await asyncio.wait_for(output, 5)

    assert asyncio.run(scenario()) == b"123456ab"


def test_interrupted_bandwidth_forwards_the_rest_of_its_chunk_at_once() -> None:
    async def scenario() -> tuple[bytes, float]:
        entry = Entry(TOXIC_TYPES["bandwidth"]({"rate": 1}))  # 100 bytes per 100 ms
        chain = Chain([entry], random.Random(1))
        chain.start()
        output = asyncio.get_running_loop().create_task(collect(chain.sink))
        await chain.head_input.put(Chunk(b"x" * 1000, time.monotonic()))
        await asyncio.sleep(0.15)
        start = time.monotonic()
        await chain.remove(entry)
        chain.head_input.close()
        return await asyncio.wait_for(output, 5), time.monotonic() - start

    data, elapsed = asyncio.run(scenario())
    assert data == b"x" * 1000
    assert elapsed < 0.05


def test_a_lost_toxicity_roll_is_a_noop_for_that_run() -> None:
    async def scenario() -> bytes:
        entry = Entry(TOXIC_TYPES["timeout"]({"timeout": 0}), toxicity=0.0)
        chain = Chain([entry], random.Random(1))
        chain.start()
        output = asyncio.get_running_loop().create_task(collect(chain.sink))
        await chain.head_input.put(Chunk(b"kept", time.monotonic()))
        chain.head_input.close()
        return await asyncio.wait_for(output, 5)

    assert asyncio.run(scenario()) == b"kept"
