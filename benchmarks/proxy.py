"""How much a fault proxy costs and how exactly its toxics hit their numbers.

Prints one table from one run: the embedded server (`gameday proxy serve`) always, and a real
Toxiproxy side by side when TOXIPROXY_SERVER names its binary. Both run as separate processes
started with the same flags and are driven through the same client, so the columns compare like
with like. Throughput uses iperf3 (the tool behind the reference baseline: 22–27 % of direct for
Toxiproxy 2.12 on this kind of machine); everything else is measured here on loopback.

Latency is measured per direction (a toxic on the upstream, then on the downstream stream) as
echo round trips less the direct round trip's median: on a quiet machine, then under a load this
benchmark makes itself (two CPU-bound processes, one per core of a 2-core CI runner). The
measuring client runs at real-time priority when the system allows it (SCHED_FIFO 5, below the
server's 10), so its own wake-ups behind the busy processes do not count as the proxy's error;
the last TCP row repeats the loaded measure with the client at normal priority, as any client
is. The UDP rows measure the same toxic on a UDP proxy (a gameday extension: Toxiproxy has none)
with datagram echo round trips, quiet and under the same load; every column's UDP server runs at
once and each sample takes a round trip through each in turn, so a before/after pair of columns
meets the same moments of a shared machine's load.

GAMEDAY_BASELINE names another copy of gameday (e.g. `git archive main | tar -x -C /tmp/base`): its
server runs as a third column in the same run, so a change to the data path is measured against
the code it replaces on the same machine at the same moment. `--only` measures some row groups
(throughput, rtt, latency, udp, bandwidth, memory) and `--samples` sets the round trips per
latency row (default 150), for a short run on a shared machine.

    python benchmarks/proxy.py                    # embedded server only
    TOXIPROXY_SERVER=/usr/bin/toxiproxy-server python benchmarks/proxy.py
    GAMEDAY_BASELINE=/tmp/base python benchmarks/proxy.py --only udp --samples 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from chaos.faults.client import AsyncToxiproxyClient, BandwidthAttributes, LatencyAttributes

IPERF_SECONDS = 3
IPERF_STREAMS = 4
RTT_SAMPLES = 2000
LATENCY_MS = 100
LATENCY_SAMPLES = 150
"""Sequential round trips: concurrency in this process would add its own queueing to the error."""
UDP_REPLY_SECONDS = 5.0
"""A datagram echo that has not come back by then was lost: the benchmark stops, naming it."""
GROUPS = ("throughput", "rtt", "latency", "udp", "bandwidth", "memory")
LOAD_PROCESSES = 2
"""CPU-bound processes of the synthetic load (a busy 2-core CI machine)."""
CLIENT_PRIORITY = 5
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


class _DatagramEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # asyncio's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


@contextlib.asynccontextmanager
async def serve_datagram_echo() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_DatagramEcho, local_addr=("127.0.0.1", 0))
    try:
        host, port = transport.get_extra_info("sockname")[:2]
        yield f"{host}:{port}"
    finally:
        transport.close()


# --- the synthetic load and the client's priority ----------------------------------------


def spin() -> None:
    """A CPU-bound process at normal priority, until terminated."""
    if hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    while True:
        pass


@contextlib.contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(processes)]
    for spinner in spinners:
        spinner.start()
    try:
        time.sleep(0.5)  # let the scheduler see them as the hogs they are
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
        for spinner in spinners:
            spinner.join()


@contextlib.contextmanager
def client_priority(realtime: bool) -> Iterator[bool]:
    """Run this process SCHED_FIFO (reset on fork) for the block, if asked and allowed."""
    if not realtime or not hasattr(os, "sched_setscheduler"):
        yield False
        return
    try:
        os.sched_setscheduler(
            0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(CLIENT_PRIORITY)
        )
    except PermissionError:
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


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


class _DatagramClient(asyncio.DatagramProtocol):
    """A connected UDP socket whose next datagram resolves ``reply``."""

    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(data)


async def interleaved_datagram_round_trips(
    direct: str, proxied: list[str], count: int
) -> list[list[float]]:
    """Seconds per 64-byte datagram echo: per sample one direct, then one through each proxy in
    turn (a column each), so every column meets the same moments of the machine's load."""
    loop = asyncio.get_running_loop()
    targets = [direct, *proxied]
    ends = []
    for address in targets:
        host, port = address.rsplit(":", 1)
        ends.append(
            await loop.create_datagram_endpoint(_DatagramClient, remote_addr=(host, int(port)))
        )
    payload = b"p" * 64
    samples: list[list[float]] = [[] for _ in targets]
    try:
        for _ in range(count):
            for (transport, protocol), out, address in zip(ends, samples, targets, strict=True):
                protocol.reply = loop.create_future()
                started = time.perf_counter()
                transport.sendto(payload)
                try:
                    await asyncio.wait_for(protocol.reply, UDP_REPLY_SECONDS)
                except TimeoutError:
                    raise RuntimeError(f"a datagram echo through {address} was lost") from None
                out.append(time.perf_counter() - started)
    finally:
        for transport, _ in ends:
            transport.close()
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
async def running(
    command: list[str], api_port: int, cwd: Path | None
) -> AsyncIterator[tuple[str, int]]:
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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


@dataclass(frozen=True)
class Plan:
    """What one run measures: the row groups, and round trips per latency row."""

    groups: frozenset[str] = frozenset(GROUPS)
    samples: int = LATENCY_SAMPLES


async def latency_errors(
    client: AsyncToxiproxyClient, upstream: str, key: str, *, realtime_client: bool, samples: int
) -> dict[str, float]:
    """ms by which round trips through a latency toxic miss LATENCY_MS, per stream and quantile
    (``KEY_p50_up`` ...)."""
    results: dict[str, float] = {}
    for stream in ("upstream", "downstream"):
        proxy = await client.create_proxy("latency", upstream)
        await client.add_toxic("latency", LatencyAttributes(latency=LATENCY_MS), stream=stream)
        with client_priority(realtime_client) as realtime:
            direct, delayed = await interleaved_round_trips(upstream, proxy.listen, samples)
        if realtime_client:  # the normal-priority row's client is so by choice, not refusal
            results["client_realtime"] = float(realtime)
        direct_ms = statistics.median(direct) * 1000
        results["direct_rtt_ms"] = direct_ms
        for q in (0.5, 0.99):
            results[f"{key}_p{q * 100:g}_{stream[:2]}"] = (
                quantile(delayed, q) * 1000 - direct_ms - LATENCY_MS
            )
        await client.delete_proxy("latency")
    return results


async def tcp_latency(client: AsyncToxiproxyClient, plan: Plan) -> dict[str, float]:
    """The no-toxic added round trip and the latency toxic's error, quiet and loaded."""
    results: dict[str, float] = {}
    async with serve(echo) as upstream:
        if "rtt" in plan.groups:
            proxy = await client.create_proxy("echo", upstream)
            direct, rtt = await interleaved_round_trips(upstream, proxy.listen, RTT_SAMPLES)
            for q in (0.5, 0.99):
                results[f"added_rtt_p{q * 100:g}"] = (quantile(rtt, q) - quantile(direct, q)) * 1000
            await client.delete_proxy("echo")
        if "latency" not in plan.groups:
            return results
        errors = functools.partial(latency_errors, client, upstream, samples=plan.samples)
        results["load_quiet"] = os.getloadavg()[0]
        results.update(await errors("latency", realtime_client=True))
        with cpu_load(LOAD_PROCESSES):
            results.update(await errors("latency_loaded", realtime_client=True))
            results.update(await errors("latency_loaded_normal", realtime_client=False))
            results["load_loaded"] = os.getloadavg()[0]
    return results


async def udp_latency_errors(
    clients: dict[str, AsyncToxiproxyClient], upstream: str, key: str, samples: int
) -> dict[str, dict[str, float]]:
    """``latency_errors`` for UDP proxies, every server's measured in the same samples."""
    results: dict[str, dict[str, float]] = {name: {} for name in clients}
    for stream in ("upstream", "downstream"):
        proxied = []
        for client in clients.values():
            proxy = await client.create_proxy("latency", upstream, protocol="udp")
            await client.add_toxic("latency", LatencyAttributes(latency=LATENCY_MS), stream=stream)
            proxied.append(proxy.listen)
        with client_priority(True) as realtime:
            direct, *delayed = await interleaved_datagram_round_trips(upstream, proxied, samples)
        direct_ms = statistics.median(direct) * 1000
        for name, trips in zip(clients, delayed, strict=True):
            results[name]["udp_client_realtime"] = float(realtime)
            results[name]["direct_udp_rtt_ms"] = direct_ms
            for q in (0.01, 0.5, 0.99):
                results[name][f"{key}_p{q * 100:g}_{stream[:2]}"] = (
                    quantile(trips, q) * 1000 - direct_ms - LATENCY_MS
                )
        for client in clients.values():
            await client.delete_proxy("latency")
    return results


async def udp_rows(servers: dict[str, Server], plan: Plan) -> dict[str, dict[str, float]]:
    """The UDP rows of every server that has UDP proxies, all running at once and measured in
    the same samples: a UDP proxy's added round trip without toxics, then the latency toxic's
    error on one, quiet and under the synthetic load (the error counts the added round trip
    too, as for TCP)."""
    results: dict[str, dict[str, float]] = {name: {} for name in servers}
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name, server in servers.items():
            url, _ = await stack.enter_async_context(start(server))
            clients[name] = await stack.enter_async_context(AsyncToxiproxyClient(url))
        upstream = await stack.enter_async_context(serve_datagram_echo())
        proxied = [
            (await client.create_proxy("echo", upstream, protocol="udp")).listen
            for client in clients.values()
        ]
        direct, *through = await interleaved_datagram_round_trips(upstream, proxied, RTT_SAMPLES)
        for name, rtt in zip(clients, through, strict=True):
            for q in (0.5, 0.99):
                added = (quantile(rtt, q) - quantile(direct, q)) * 1000
                results[name][f"udp_added_rtt_p{q * 100:g}"] = added
        for client in clients.values():
            await client.delete_proxy("echo")
        loads = {"udp_load_quiet": os.getloadavg()[0]}
        phases = [await udp_latency_errors(clients, upstream, "udp_latency", plan.samples)]
        with cpu_load(LOAD_PROCESSES):
            phases.append(
                await udp_latency_errors(clients, upstream, "udp_latency_loaded", plan.samples)
            )
            loads["udp_load_loaded"] = os.getloadavg()[0]
    for name in results:
        for phase in phases:
            results[name].update(phase[name])
        results[name].update(loads)
    return results


@dataclass(frozen=True)
class Server:
    command: list[str]
    cwd: Path | None = None
    """Where it starts: a baseline checkout's own ``chaos`` comes first on its path there."""
    udp: bool = True
    """Whether it has UDP proxies (a gameday extension)."""


def start(server: Server) -> contextlib.AbstractAsyncContextManager[tuple[str, int]]:
    """``running`` on a free API port: the URL and the process id."""
    api_port = free_port()
    flags = ["-host", "127.0.0.1", "-port", str(api_port)]
    return running(server.command + flags, api_port, server.cwd)


async def measure(server: Server, iperf_port: int | None, plan: Plan) -> dict[str, float]:
    """Every planned row for one server but the UDP ones (``udp_rows`` measures those of every
    server together); ``iperf_port`` is an iperf3 server, None without iperf3."""
    results: dict[str, float] = {}
    async with start(server) as (url, pid), AsyncToxiproxyClient(url) as client:
        if iperf_port is not None and "throughput" in plan.groups:
            # Direct right before proxied: the shared machine's load drifts within a run.
            direct_bps = iperf_bits_per_second(iperf_port)
            proxy = await client.create_proxy("iperf", f"127.0.0.1:{iperf_port}")
            results["throughput"] = iperf_bits_per_second(proxy.listen_host_port[1]) / direct_bps
            results["direct_gbps"] = direct_bps / 1e9
            await client.delete_proxy("iperf")

        results.update(await tcp_latency(client, plan))

        if "bandwidth" in plan.groups:
            async with serve(bulk) as upstream:
                await client.create_proxy("bulk", upstream)
                await client.add_toxic("bulk", BandwidthAttributes(rate=BANDWIDTH_KBPS))
                rate = await download_rate((await client.get_proxy("bulk")).listen, BANDWIDTH_BYTES)
                results["bandwidth"] = rate / (BANDWIDTH_KBPS * 1000) - 1
                await client.delete_proxy("bulk")

        if "memory" in plan.groups:
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
    pair: bool = False
    """Two values, ``KEY_up`` and ``KEY_do``: the toxic on the upstream, then the downstream."""


def added_rtt(key: str, label: str) -> Row:
    return Row(key, f"{label}, no toxics", "(report)", lambda v: True, lambda v: f"{v:+.3f} ms")


def latency_error(
    key: str,
    label: str,
    target: str = "<= 1 ms",
    meets: Callable[[float], bool] = lambda v: abs(v) <= 1,
) -> Row:
    """A pair of latency errors in ms: the toxic on the upstream, then on the downstream."""
    return Row(key, label, target, meets, lambda v: f"{v:+.2f} ms", pair=True)


def never_early(v: float) -> bool:
    return v >= 0


LOADED = f"  under load ({LOAD_PROCESSES} CPU-bound processes)"
TCP_LATENCY = f"latency {LATENCY_MS} ms: error"
UDP_LATENCY = f"UDP latency {LATENCY_MS} ms: error"

ROWS = [
    Row(
        "throughput",
        f"throughput / direct ({IPERF_STREAMS} streams)",
        ">= 27 %",
        lambda v: v >= 0.27,
        lambda v: f"{v:.1%}",
    ),
    added_rtt("added_rtt_p50", "added round trip p50"),
    added_rtt("added_rtt_p99", "added round trip p99"),
    latency_error("latency_p50", f"{TCP_LATENCY} p50 (up / down)"),
    latency_error("latency_p99", f"{TCP_LATENCY} p99 (up / down)"),
    latency_error("latency_loaded_p50", f"{LOADED}: p50"),
    latency_error("latency_loaded_p99", f"{LOADED}: p99", "<= +4.65 / +3.92", lambda v: v <= 3.92),
    latency_error(
        "latency_loaded_normal_p99",
        "  under load, client at normal priority: p99",
        "(report)",
        lambda v: True,
    ),
    added_rtt("udp_added_rtt_p50", "UDP added round trip p50"),
    added_rtt("udp_added_rtt_p99", "UDP added round trip p99"),
    latency_error("udp_latency_p1", f"{UDP_LATENCY} p1 (below 0: early)", ">= 0 ms", never_early),
    latency_error("udp_latency_p50", f"{UDP_LATENCY} p50 (up / down)"),
    latency_error("udp_latency_p99", f"{UDP_LATENCY} p99 (up / down)"),
    latency_error("udp_latency_loaded_p1", f"{LOADED}: p1", ">= 0 ms", never_early),
    latency_error("udp_latency_loaded_p50", f"{LOADED}: p50"),
    latency_error("udp_latency_loaded_p99", f"{LOADED}: p99", "<= +3.92", lambda v: v <= 3.92),
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
        keys = [f"{row.key}_up", f"{row.key}_do"] if row.pair else [row.key]
        if not any(key in results for results in columns.values() for key in keys):
            continue  # not planned in this run
        cells = [row.label, row.target]
        for results in columns.values():
            if any(key not in results for key in keys):
                cells.append("n/a")
                continue
            values = [results[key] for key in keys]
            shown = " / ".join(row.show(value) for value in values)
            cells.append(shown + ("" if all(row.meets(v) for v in values) else "  MISS"))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def parse_plan(argv: list[str]) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        metavar="GROUPS",
        help=f"comma-separated row groups to measure, of {','.join(GROUPS)} (default: all)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=LATENCY_SAMPLES,
        help=f"round trips per latency row (default {LATENCY_SAMPLES}; fewer for a short run)",
    )
    args = parser.parse_args(argv)
    groups = frozenset(GROUPS if args.only is None else args.only.split(","))
    if unknown := sorted(groups - set(GROUPS)):
        parser.error(f"--only {args.only}: no group {', '.join(unknown)}; of {', '.join(GROUPS)}")
    if args.samples < 2:
        parser.error(f"--samples {args.samples}: give at least 2 round trips, e.g. 100")
    return Plan(groups, args.samples)


def servers_to_measure() -> dict[str, Server]:
    command = [sys.executable, "-m", "chaos.cli", "proxy", "serve"]
    servers = {"gameday": Server(command)}
    if baseline := os.environ.get("GAMEDAY_BASELINE"):
        checkout = Path(baseline).resolve()
        if not (checkout / "chaos" / "cli.py").is_file():
            raise SystemExit(
                f"GAMEDAY_BASELINE={baseline}: no gameday checkout there (chaos/cli.py)"
            )
        servers["baseline"] = Server(command, cwd=checkout)
    if real := os.environ.get("TOXIPROXY_SERVER"):
        servers["toxiproxy"] = Server([real], udp=False)
    return servers


async def main(plan: Plan) -> None:
    servers = servers_to_measure()
    notes = []
    if plan.samples != LATENCY_SAMPLES:
        notes.append(f"latency rows: {plan.samples} round trips each (not {LATENCY_SAMPLES})")
    if baseline := servers.get("baseline"):
        notes.append(f"baseline: the gameday checkout in {baseline.cwd}")
    iperf_port = free_port()
    iperf = None
    if "throughput" in plan.groups:
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
        columns: dict[str, dict[str, float]] = {name: {} for name in servers}
        if plan.groups - {"udp"}:
            for name, server in servers.items():
                columns[name] = await measure(server, iperf_port if iperf else None, plan)
        if "udp" in plan.groups:
            with_udp = {name: server for name, server in servers.items() if server.udp}
            for name, results in (await udp_rows(with_udp, plan)).items():
                columns[name].update(results)
    finally:
        if iperf:
            iperf.terminate()
            iperf.wait()
    for name, results in columns.items():
        direct = [
            f"{label} {results[key]:.3f} ms"
            for key, label in (
                ("direct_rtt_ms", "direct round trip p50"),
                ("direct_udp_rtt_ms", "direct datagram round trip p50"),
            )
            if key in results
        ]
        if "direct_gbps" in results:
            direct.append(
                f"direct loopback {results['direct_gbps']:.1f} Gbit/s "
                f"(iperf3, {IPERF_STREAMS} streams, {IPERF_SECONDS} s)"
            )
        if direct:
            notes.append(f"{name}: measured alongside {', '.join(direct)}")
    for name, results in columns.items():
        for prefix, rows in (("", "TCP latency"), ("udp_", "UDP latency (all columns at once)")):
            if f"{prefix}load_quiet" in results:
                notes.append(
                    f"{name}: load average {results[f'{prefix}load_quiet']:.1f} before the quiet "
                    f"{rows} rows, {results[f'{prefix}load_loaded']:.1f} at the end of the "
                    "loaded ones; measuring client "
                    + (
                        "SCHED_FIFO"
                        if results[f"{prefix}client_realtime"]
                        else "at normal priority (not allowed)"
                    )
                )
    notes.append(
        "load average at the end: {:.1f} {:.1f} {:.1f} on {} cores (other work on this machine "
        "widens the p99 rows)".format(*os.getloadavg(), os.cpu_count())
    )
    budget = idle_connection_budget()
    if budget < 10_000 and "memory" in plan.groups:
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
        asyncio.run(main(parse_plan(sys.argv[1:])))
