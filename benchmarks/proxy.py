"""How much a fault proxy costs and how exactly its toxics hit their numbers.

Prints one table from one run: the embedded server (`gameday proxy serve`) always, and a real
Toxiproxy side by side when TOXIPROXY_SERVER names its binary. Both run as separate processes
started with the same flags and are driven through the same client, so the columns compare like
with like. Throughput uses iperf3 (the tool behind the reference baseline: 22–27 % of direct for
Toxiproxy 2.12 on this kind of machine); everything else is measured here on loopback.

    python benchmarks/proxy.py                    # embedded server only
    TOXIPROXY_SERVER=/usr/bin/toxiproxy-server python benchmarks/proxy.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from chaos.faults.client import AsyncToxiproxyClient, BandwidthAttributes, LatencyAttributes

IPERF_SECONDS = 3
IPERF_STREAMS = 4
RTT_SAMPLES = 2000
LATENCY_MS = 100
LATENCY_SAMPLES = 150
"""Sequential round trips: concurrency in this process would add its own queueing to the error."""
BANDWIDTH_KBPS = 1000
BANDWIDTH_BYTES = 3_000_000
FD_MARGIN = 200
"""File descriptors a proxy process keeps for itself (API, listeners, logs, interpreter)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --- upstream services in this process ------------------------------------------------------


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def bulk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send the number of bytes the client asks for (one decimal line)."""
    remaining = int(await reader.readline())
    block = b"x" * 65536
    with contextlib.suppress(ConnectionError):
        while remaining > 0:
            writer.write(block[:remaining])
            remaining -= min(remaining, len(block))
            await writer.drain()
        await reader.read()
    writer.close()


@dataclass
class IdleSink:
    """Accepts connections and keeps them open, counting them."""

    accepted: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)


@contextlib.asynccontextmanager
async def serve(handler: Callable[..., object]) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=4096)  # type: ignore[arg-type]
    async with server:
        host, port = server.sockets[0].getsockname()[:2]
        yield f"{host}:{port}"


# --- measurements ---------------------------------------------------------------------------


async def interleaved_round_trips(
    direct: str, proxied: str, count: int
) -> tuple[list[float], list[float]]:
    """Seconds per 64-byte echo round trip, alternating a direct and a proxied connection.

    Alternating exposes both to the same moment-to-moment load of this shared machine, so the
    difference between them is the proxy's and not the neighbours'.
    """
    connections = []
    for address in (direct, proxied):
        host, port = address.rsplit(":", 1)
        connections.append(await asyncio.open_connection(host, int(port)))
    payload = b"p" * 64
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(count):
        for (reader, writer), out in zip(connections, samples, strict=True):
            started = time.perf_counter()
            writer.write(payload)
            await reader.readexactly(len(payload))
            out.append(time.perf_counter() - started)
    for _, writer in connections:
        writer.close()
    return samples


async def download_rate(address: str, size: int) -> float:
    """Bytes per second of one download of ``size`` bytes, request to last byte."""
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.perf_counter()
    writer.write(f"{size}\n".encode())
    received = 0
    while received < size:
        chunk = await reader.read(1 << 20)
        if not chunk:
            raise RuntimeError(f"download ended after {received} of {size} bytes")
        received += len(chunk)
    elapsed = time.perf_counter() - started
    writer.close()
    return size / elapsed


def iperf_bits_per_second(port: int) -> float:
    done = subprocess.run(
        [
            *("iperf3", "-c", "127.0.0.1", "-p", str(port)),
            *("-P", str(IPERF_STREAMS), "-t", str(IPERF_SECONDS), "-J"),
        ],
        capture_output=True,
        text=True,
        timeout=IPERF_SECONDS + 30,
    )
    report = json.loads(done.stdout)
    if "error" in report:
        raise RuntimeError(f"iperf3: {report['error']}")
    return float(report["end"]["sum_received"]["bits_per_second"])


def idle_connection_budget() -> int:
    """Connections the proxy process can hold: two fds each (client and upstream side)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return min(10_000, (hard - FD_MARGIN) // 2)


def hold_idle_connections(address: str, count: int) -> None:
    """Child-process mode: open ``count`` connections, say so, keep them until stdin closes."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    host, port = address.rsplit(":", 1)
    held = [socket.create_connection((host, int(port))) for _ in range(count)]
    print(f"ready {len(held)}", flush=True)
    sys.stdin.read()


async def idle_memory(client: AsyncToxiproxyClient, server_pid: int, count: int) -> float:
    """KiB of proxy RSS per idle proxied connection, clients in a separate process."""
    sink = IdleSink()
    async with serve(sink) as upstream:
        proxy = await client.create_proxy("idle", upstream)
        before = rss_kib(server_pid)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--hold-idle",
            proxy.listen,
            str(count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            await asyncio.wait_for(child.stdout.readline(), 120)
            deadline = time.monotonic() + 120
            while sink.accepted < count and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if sink.accepted < count:
                raise RuntimeError(f"only {sink.accepted} of {count} connections reached upstream")
            await asyncio.sleep(0.5)
            after = rss_kib(server_pid)
        finally:
            assert child.stdin is not None
            child.stdin.close()
            await child.wait()
            for writer in sink.writers:
                writer.close()
        await client.delete_proxy("idle")
    return (after - before) / count


# --- one server -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(command: list[str], api_port: int) -> AsyncIterator[tuple[str, int]]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{api_port}"
    try:
        async with AsyncToxiproxyClient(url, timeout=2) as probe:
            for _ in range(200):
                with contextlib.suppress(Exception):
                    await probe.version()
                    break
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited with {process.returncode}")
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"{' '.join(command)} never answered on {url}")
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def measure(command: list[str], api_port: int, iperf_port: int | None) -> dict[str, float]:
    """Every row for one server; ``iperf_port`` is an iperf3 server, None without iperf3."""
    results: dict[str, float] = {}
    async with running(command, api_port) as (url, pid), AsyncToxiproxyClient(url) as client:
        if iperf_port is not None:
            # Direct right before proxied: the shared machine's load drifts within a run.
            direct_bps = iperf_bits_per_second(iperf_port)
            proxy = await client.create_proxy("iperf", f"127.0.0.1:{iperf_port}")
            results["throughput"] = iperf_bits_per_second(proxy.listen_host_port[1]) / direct_bps
            results["direct_gbps"] = direct_bps / 1e9
            await client.delete_proxy("iperf")

        async with serve(echo) as upstream:
            proxy = await client.create_proxy("echo", upstream)
            direct, rtt = await interleaved_round_trips(upstream, proxy.listen, RTT_SAMPLES)
            for q in (0.5, 0.99):
                results[f"added_rtt_p{q * 100:g}"] = (quantile(rtt, q) - quantile(direct, q)) * 1000
            await client.add_toxic("echo", LatencyAttributes(latency=LATENCY_MS))
            direct, delayed = await interleaved_round_trips(upstream, proxy.listen, LATENCY_SAMPLES)
            direct_ms = statistics.median(direct) * 1000
            results["direct_rtt_ms"] = direct_ms
            for q in (0.5, 0.99):
                results[f"latency_p{q * 100:g}"] = (
                    quantile(delayed, q) * 1000 - direct_ms - LATENCY_MS
                )
            await client.delete_proxy("echo")

        async with serve(bulk) as upstream:
            await client.create_proxy("bulk", upstream)
            await client.add_toxic("bulk", BandwidthAttributes(rate=BANDWIDTH_KBPS))
            rate = await download_rate((await client.get_proxy("bulk")).listen, BANDWIDTH_BYTES)
            results["bandwidth"] = rate / (BANDWIDTH_KBPS * 1000) - 1
            await client.delete_proxy("bulk")

        results["idle_kib"] = await idle_memory(client, pid, idle_connection_budget())
    return results


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    target: str
    meets: Callable[[float], bool]
    show: Callable[[float], str]


ROWS = [
    Row(
        "throughput",
        f"throughput / direct ({IPERF_STREAMS} streams)",
        ">= 27 %",
        lambda v: v >= 0.27,
        lambda v: f"{v:.1%}",
    ),
    Row(
        "added_rtt_p50",
        "added round trip p50, no toxics",
        "(report)",
        lambda v: True,
        lambda v: f"{v:+.3f} ms",
    ),
    Row(
        "added_rtt_p99",
        "added round trip p99, no toxics",
        "(report)",
        lambda v: True,
        lambda v: f"{v:+.3f} ms",
    ),
    Row(
        "latency_p50",
        f"latency {LATENCY_MS} ms: error p50",
        "<= 1 ms",
        lambda v: abs(v) <= 1,
        lambda v: f"{v:+.2f} ms",
    ),
    Row(
        "latency_p99",
        f"latency {LATENCY_MS} ms: error p99",
        "<= 1 ms",
        lambda v: abs(v) <= 1,
        lambda v: f"{v:+.2f} ms",
    ),
    Row(
        "bandwidth",
        f"bandwidth {BANDWIDTH_KBPS} KB/s: rate error",
        "<= 1 %",
        lambda v: abs(v) <= 0.01,
        lambda v: f"{v:+.2%}",
    ),
    Row(
        "idle_kib",
        f"memory per idle connection ({idle_connection_budget()})",
        "<= 20 KiB",
        lambda v: v <= 20,
        lambda v: f"{v:.1f} KiB",
    ),
]


def print_table(columns: dict[str, dict[str, float]]) -> None:
    header = ["measure", "target", *columns]
    lines = [header]
    for row in ROWS:
        cells = [row.label, row.target]
        for results in columns.values():
            if row.key not in results:
                cells.append("n/a")
                continue
            value = results[row.key]
            cells.append(row.show(value) + ("" if row.meets(value) else "  MISS"))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


async def main() -> None:
    servers = {"gameday": [sys.executable, "-m", "chaos.cli", "proxy", "serve"]}
    if real := os.environ.get("TOXIPROXY_SERVER"):
        servers["toxiproxy"] = [real]
    notes = []
    iperf_port = free_port()
    iperf = None
    if shutil.which("iperf3"):
        iperf = subprocess.Popen(
            ["iperf3", "-s", "-p", str(iperf_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.3)
    else:
        notes.append("throughput: iperf3 is not installed (make apt installs it)")
    try:
        columns = {}
        for name, command in servers.items():
            api_port = free_port()
            flags = ["-host", "127.0.0.1", "-port", str(api_port)]
            columns[name] = await measure(command + flags, api_port, iperf_port if iperf else None)
    finally:
        if iperf:
            iperf.terminate()
            iperf.wait()
    for name, results in columns.items():
        direct = f"direct round trip p50 {results['direct_rtt_ms']:.3f} ms"
        if "direct_gbps" in results:
            direct += (
                f", direct loopback {results['direct_gbps']:.1f} Gbit/s "
                f"(iperf3, {IPERF_STREAMS} streams, {IPERF_SECONDS} s)"
            )
        notes.append(f"{name}: measured alongside {direct}")
    notes.append(
        "load average at the end: {:.1f} {:.1f} {:.1f} on {} cores (other work on this machine "
        "widens the p99 rows)".format(*os.getloadavg(), os.cpu_count())
    )
    budget = idle_connection_budget()
    if budget < 10_000:
        notes.append(
            f"idle connections: {budget}, not 10,000: the proxy needs 2 fds per connection "
            f"under a hard fd limit of {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}"
        )
    print_table(columns)
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--hold-idle":
        hold_idle_connections(sys.argv[2], int(sys.argv[3]))
    else:
        asyncio.run(main())
