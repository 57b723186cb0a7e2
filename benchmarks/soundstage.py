"""soundstage capacity on this machine: listeners one edge sustains, joins/s the api accepts.

Starts the real stack (local processes, one edge) and measures, in one run:

1. Listeners per edge: N listeners stream from one edge for a measuring window; the edge's CPU
   (from /proc, share of one core), frames it dropped (slow listeners, stale) plus frames the
   origin dropped towards it, and bytes delivered versus what N real-time streams need. The
   target is >= 2,000 listeners at 0 dropped frames with <= 1 core (Icecast 2.4 served 2,000
   at 64 kb/s with under a third of a core on this machine; reference live-audio.md §5).
2. Joins/s: concurrent clients call POST /rooms/1/join in a loop (keep-alive) against an api
   with admission limits lifted, then with the default limits.

The load generator shares the 2 cores with the stack, so the figures are a floor. Run:
    .venv/bin/python benchmarks/soundstage.py [--listeners 500,1000,2000,3000] [--window 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import struct
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import aiohttp
import httpx
from prometheus_client.parser import text_string_to_metric_families

from chaos.experiment.loader import load_stack_spec
from chaos.experiment.stack import StackSpec
from chaos.stack.local import LocalProcessBackend, RunningStack
from chaos.stack.processes import ProcessRef
from chaos.stack.specfile import spec_path, with_replicas

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOADGENS = 2
"""Load-generator processes, so the listeners' side is not one event loop's bottleneck."""


def cpu_seconds(ref: ProcessRef) -> float:
    stat = Path(f"/proc/{ref.pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def scrape(url: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(url)).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f"/{v}" for v in sample.labels.values())
            out[key] = sample.value
    return out


class CountingListener(asyncio.Protocol):
    """A lean listener: counts body bytes and the longest silence; no decoding."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.bytes = 0
        self.status_ok = False
        self.last = 0.0
        self.max_gap = 0.0
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self.status_ok:
            self.status_ok = data.startswith(b"HTTP/1.1 200")
        if self.last:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.bytes += len(data)


async def connect_listeners(host: str, port: int, count: int) -> list[CountingListener]:
    loop = asyncio.get_running_loop()
    request = f"GET /stream/1 HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    gate = asyncio.Semaphore(64)

    async def one() -> CountingListener:
        async with gate:
            _, protocol = await loop.create_connection(
                lambda: CountingListener(request), host, port
            )
            return protocol

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def loadgen(address: str, count: int) -> None:
    """A load-generator process: connect, then obey `start`/`stop` lines on stdin."""
    host, port = address.rsplit(":", 1)
    listeners = await connect_listeners(host, int(port), count)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    await reader.readline()  # start
    base = sum(listener.bytes for listener in listeners)
    for listener in listeners:
        listener.max_gap = 0.0
    await reader.readline()  # stop
    result = {
        "bytes": sum(listener.bytes for listener in listeners) - base,
        "ok": sum(listener.status_ok for listener in listeners),
        "max_gap": max((listener.max_gap for listener in listeners), default=0.0),
    }
    print(json.dumps(result), flush=True)
    for listener in listeners:  # reset, not FIN: no TIME_WAIT left to exhaust ephemeral ports
        if listener.transport is not None:
            sock = listener.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            listener.transport.abort()


async def listeners_row(stack: RunningStack, n: int, window: float) -> dict[str, float]:
    edge_ref = next(r for r in stack.processes if r.name == "edge")
    address = stack.addresses["edge"]["http"]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--loadgen", address, str(share),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for share in (n // LOADGENS + (i < n % LOADGENS) for i in range(LOADGENS))
    ]  # fmt: skip
    try:
        for worker in workers:
            assert worker.stdout is not None
            await worker.stdout.readline()  # ready: all its listeners connected
        await asyncio.sleep(2.0)  # settle: every listener streaming

        def command(word: bytes) -> None:
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(word + b"\n")

        before_edge = await scrape(stack.metrics["edge"])
        before_origin = await scrape(stack.metrics["origin"])
        cpu_before, t0 = cpu_seconds(edge_ref), time.monotonic()
        command(b"start")
        await asyncio.sleep(window)
        command(b"stop")
        cpu_after, elapsed = cpu_seconds(edge_ref), time.monotonic() - t0
        results = []
        for worker in workers:
            assert worker.stdout is not None
            results.append(json.loads(await worker.stdout.readline()))
            await worker.wait()
        after_edge = await scrape(stack.metrics["edge"])
        after_origin = await scrape(stack.metrics["origin"])

    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()

    def delta(after: dict[str, float], before: dict[str, float], key: str) -> float:
        return after[key] - before[key]

    sent_frames = delta(after_edge, before_edge, "soundstage_edge_frames_sent_total")
    frame_bytes = delta(after_edge, before_edge, "soundstage_edge_bytes_sent_total") / max(
        sent_frames, 1
    )
    received = sum(r["bytes"] for r in results)
    expected = n * 50 * elapsed * frame_bytes
    dropped = (
        delta(after_edge, before_edge, "soundstage_edge_frames_dropped_total/slow_listener")
        + delta(after_edge, before_edge, "soundstage_edge_frames_dropped_total/stale")
        + delta(
            after_origin, before_origin, "soundstage_origin_frames_dropped_total/edge_queue_full"
        )
    )
    await asyncio.sleep(1.0)  # the edge notices the disconnects
    return {
        "listeners": n,
        "streaming": sum(r["ok"] for r in results),
        "edge_cpu": (cpu_after - cpu_before) / elapsed,
        "dropped": dropped,
        "delivered": received / expected if expected else 0.0,
        "max_gap": max(r["max_gap"] for r in results),
        "mbps": received * 8 / elapsed / 1e6,
    }


async def joins_row(api: str, clients: int, seconds: float, label: str) -> dict[str, object]:
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while time.monotonic() < deadline:
                started = time.monotonic()
                async with session.post(f"http://{api}/rooms/1/join") as response:
                    await response.read()
                latencies.append(time.monotonic() - started)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        t0 = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.monotonic() - t0
    latencies.sort()
    return {
        "label": label,
        "accepted": statuses.get(200, 0) / elapsed,
        "refused": statuses.get(503, 0) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def soundstage(edge_flags: list[str], api_flags: list[str]) -> StackSpec:
    """The built-in stack with one edge and extra flags for the edge and the api."""
    spec = with_replicas(load_stack_spec(spec_path("soundstage")), {"edge": 1})
    components = dict(spec.components)
    for name, flags in (("edge", edge_flags), ("api", api_flags)):
        command = [*(components[name].command or []), *flags]
        components[name] = components[name].model_copy(update={"command": command})
    return spec.model_copy(update={"components": components})


async def listener_rows(counts: list[int], window: float, flush: int) -> int:
    """Print one row per listener count; the largest count sustained at 0 drops, <= 1 core."""
    spec = soundstage(["--capacity", "20000", "--flush-frames", str(flush)], [])
    best = 0
    with TemporaryDirectory() as tmp:
        backend = LocalProcessBackend(spec, Path(tmp))
        stack = await backend.start()
        try:
            await asyncio.sleep(1.0)
            for n in counts:
                try:
                    row = await listeners_row(stack, n, window)
                except httpx.HTTPError:
                    print(f"| {flush * 20} ms | {n} | no answer to /metrics within 30 s |")
                    break
                print(
                    f"| {flush * 20} ms | {n} | {row['streaming']:.0f} | {row['edge_cpu']:.2f} | "
                    f"{row['dropped']:.0f} | {row['delivered']:.3f} | {row['max_gap']:.2f} | "
                    f"{row['mbps']:.1f} |",
                    flush=True,
                )
                if row["dropped"] == 0 and row["edge_cpu"] <= 1.0 and row["streaming"] == n:
                    best = max(best, n)
        finally:
            await backend.stop()
    return best


async def join_rows(label: str, api_flags: list[str]) -> None:
    # Joined listeners never connect here, so the edge must have room for every phantom join.
    with TemporaryDirectory() as tmp:
        backend = LocalProcessBackend(soundstage(["--capacity", "1000000"], api_flags), Path(tmp))
        stack = await backend.start()
        try:
            await asyncio.sleep(1.0)
            for clients in (16, 64):
                row = await joins_row(stack.addresses["api"]["http"], clients, 3.0, label)
                print(
                    f"| {label} | {clients} | {row['accepted']:.0f} | {row['refused']:.0f} | "
                    f"{row['p50']:.1f} | {row['p99']:.1f} |",
                    flush=True,
                )
        finally:
            await backend.stop()


async def main(counts: list[int], window: float, flushes: list[int]) -> None:
    print(
        f"Listeners on one edge: PCMU 8 kHz mix in 20 ms frames, written every 'flush'; {LOADGENS}"
    )
    print(
        f"load-generator processes on the same 2 cores; {window:g} s window after 2 s settling.\n"
    )
    print("| flush | listeners | streaming | edge CPU (cores) | frames dropped | delivered/needed "
          "| max gap s | egress Mb/s |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    best = {flush: await listener_rows(counts, window, flush) for flush in flushes}
    print()
    for flush, n in best.items():
        print(f"listeners one edge sustains at 0 dropped frames with <= 1 core, flush "
              f"{flush * 20} ms: {n} ({n / 2000:.2f} x the 2,000 target)")  # fmt: skip
    print("\nJoins/s the api accepts (POST /rooms/1/join from keep-alive clients)\n")
    print("| admission | clients | accepted/s | refused/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    lifted = ["--edge-capacity", "1000000", "--max-joins-per-second", "1000000",
              "--join-burst", "1000000"]  # fmt: skip
    await join_rows("limits lifted", lifted)
    await join_rows("default: 1000/s, burst 200", ["--edge-capacity", "1000000"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listeners", default="500,1000,2000,3000")
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--flush", default="5,1", help="edge --flush-frames values to compare")
    parser.add_argument("--loadgen", nargs=2, metavar=("EDGE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    counts = [int(args.loadgen[1])] if args.loadgen else [int(x) for x in args.listeners.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(counts) + 200 > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(counts) + 1000), hard))
    try:
        import uvloop
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if args.loadgen:
        asyncio.run(loadgen(args.loadgen[0], counts[0]))
    else:
        asyncio.run(main(counts, args.window, [int(x) for x in args.flush.split(",")]))
    sys.exit(0)
