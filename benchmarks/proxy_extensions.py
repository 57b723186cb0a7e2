"""How exactly the proxy extensions hit their numbers (issue 4), as ratios from one run.

Targets: a shared link delivers 95–105 % of its rate with 21 busy flows, fairly (Jain's index
≥ 0.95, the legitimate flow within ±50 % of its fair share); the same for a flood pulled
server-to-client from the flood ingress; UDP loss within ±1.5 points of 5 %; no latency-toxic
chunk released before its time; UDP pass-through rate as a fraction of direct.

    python benchmarks/proxy_extensions.py
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable

from chaos.faults.client import (
    AsyncToxiproxyClient,
    LatencyAttributes,
    LossAttributes,
    SharedBandwidthAttributes,
)
from chaos.faults.flood import Flood, FloodPlan
from chaos.faults.server.embedded import EmbeddedToxiproxy

SHARED_RATE_KBPS = 1250
FLOWS = 21
UDP_DATAGRAMS = 20_000
LATENCY_MS = 50
LATENCY_SAMPLES = 200


class CountingSink:
    """A TCP server counting bytes per accepted connection."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.counts.append(0)
                index = len(self.counts) - 1
            threading.Thread(target=self._count, args=(conn, index), daemon=True).start()

    def _count(self, conn: socket.socket, index: int) -> None:
        with contextlib.suppress(OSError), conn:
            while data := conn.recv(65536):
                with self.lock:
                    self.counts[index] += len(data)

    def snapshot(self) -> list[int]:
        with self.lock:
            return list(self.counts)


def _fairness(rates: list[float], prefix: str) -> dict[str, float]:
    jain = sum(rates) ** 2 / (len(rates) * sum(r * r for r in rates))
    return {
        f"{prefix}_total": sum(rates) / (SHARED_RATE_KBPS * 1000),
        f"{prefix}_jain": jain,
        f"{prefix}_min_share": min(rates) / (sum(rates) / len(rates)),
    }


async def shared_link(api: AsyncToxiproxyClient) -> dict[str, float]:
    sink = CountingSink()
    proxy = await api.create_proxy("shared", sink.address)
    await api.add_toxic(
        "shared", SharedBandwidthAttributes(rate=SHARED_RATE_KBPS), stream="upstream"
    )
    flood = Flood(proxy.listen, FloodPlan(FLOWS, 100e6), declared={proxy.listen})
    await flood.start()
    await asyncio.sleep(1.5)
    before, started = sink.snapshot(), time.monotonic()
    await asyncio.sleep(4)
    after, elapsed = sink.snapshot(), time.monotonic() - started
    await flood.stop()
    sink.sock.close()
    rates = [(a - b) / elapsed for a, b in zip(after, before, strict=False)]
    return _fairness(sorted(rates)[-FLOWS:], "shared")


async def pulled_flood(api: AsyncToxiproxyClient) -> dict[str, float]:
    """The server-to-client flood: FLOWS flows pulling from the ingress under the same budget,
    downstream; each flow's bytes are counted at its own reader."""
    proxy = await api.create_proxy("pulled", "127.0.0.1:9")  # never dialled by the ingress
    await api.add_toxic(
        "pulled", SharedBandwidthAttributes(rate=SHARED_RATE_KBPS), stream="downstream"
    )
    ingress = await api.flood_ingress("pulled")
    floods = [
        Flood(ingress, FloodPlan(1, 100e6), declared={ingress}, mode="pull") for _ in range(FLOWS)
    ]
    for flood in floods:
        await flood.start()
    await asyncio.sleep(1.5)
    before, started = [f.sent for f in floods], time.monotonic()
    await asyncio.sleep(4)
    after, elapsed = [f.sent for f in floods], time.monotonic() - started
    for flood in floods:
        await flood.stop()
    await api.delete_proxy(proxy.name)
    return _fairness([(a - b) / elapsed for a, b in zip(after, before, strict=True)], "pulled")


def udp_sink() -> tuple[socket.socket, list[int]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    got = [0]

    def run() -> None:
        with contextlib.suppress(OSError):
            while sock.recv(2048):
                got[0] += 1

    threading.Thread(target=run, daemon=True).start()
    return sock, got


def blast(address: tuple[str, int], count: int, pace_every: int) -> float:
    """Send ``count`` 160-byte datagrams, pausing 1 ms every ``pace_every``; seconds taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"\0" * 160
    start = time.monotonic()
    for i in range(count):
        sock.sendto(payload, address)
        if i % pace_every == pace_every - 1:
            time.sleep(0.001)
    sock.close()
    return time.monotonic() - start


def delivered_rate(address: tuple[str, int], got: list[int], pace_every: int) -> float:
    got[0] = 0
    seconds = blast(address, UDP_DATAGRAMS, pace_every)
    time.sleep(0.5)
    return got[0] / seconds


async def udp(api: AsyncToxiproxyClient) -> dict[str, float]:
    sock, got = udp_sink()
    host, port = sock.getsockname()[:2]
    proxy = await api.create_proxy("rtp", f"{host}:{port}", protocol="udp")
    listen = proxy.listen_host_port
    loop = asyncio.get_running_loop()
    direct = await loop.run_in_executor(None, delivered_rate, (host, port), got, 40)
    proxied = await loop.run_in_executor(None, delivered_rate, listen, got, 40)
    await api.add_toxic("rtp", LossAttributes(probability=0.05), stream="upstream")
    got[0] = 0
    await loop.run_in_executor(None, blast, listen, UDP_DATAGRAMS, 10)
    await asyncio.sleep(0.5)
    sock.close()
    return {
        "udp_offered": direct,
        "udp_rate": proxied / direct,
        "udp_loss": 1 - got[0] / UDP_DATAGRAMS,
    }


def latency_errors(listen: tuple[str, int]) -> list[float]:
    """Sequential echo round trips through a latency toxic on the downstream side: error in ms."""
    errors = []
    with socket.create_connection(listen) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(LATENCY_SAMPLES):
            start = time.monotonic()
            conn.sendall(b"x")
            conn.recv(1)
            errors.append((time.monotonic() - start) * 1000 - LATENCY_MS)
    return errors


def echo_server() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return

            def echo(c: socket.socket = conn) -> None:
                with contextlib.suppress(OSError), c:
                    while data := c.recv(65536):
                        c.sendall(data)

            threading.Thread(target=echo, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server


async def latency(api: AsyncToxiproxyClient) -> dict[str, float]:
    server = echo_server()
    host, port = server.getsockname()[:2]
    proxy = await api.create_proxy("lat", f"{host}:{port}")
    await api.add_toxic("lat", LatencyAttributes(latency=LATENCY_MS))
    errors = await asyncio.get_running_loop().run_in_executor(
        None, latency_errors, proxy.listen_host_port
    )
    server.close()
    ordered = sorted(errors)
    return {
        "latency_early": sum(e < 0 for e in errors) / len(errors),
        "latency_p50": statistics.median(errors),
        "latency_p99": ordered[int(0.99 * (len(ordered) - 1))],
    }


ROWS: list[tuple[str, str, Callable[[float], str]]] = [
    ("shared_total", "shared 10 Mbit/s, 21 flows: delivered / rate", lambda v: f"{v:.3f}"),
    ("shared_jain", "shared link: Jain fairness index (1 = equal)", lambda v: f"{v:.3f}"),
    ("shared_min_share", "shared link: smallest flow / fair share", lambda v: f"{v:.2f}"),
    ("pulled_total", "pulled flood, 21 flows downstream: delivered / rate", lambda v: f"{v:.3f}"),
    ("pulled_jain", "pulled flood: Jain fairness index", lambda v: f"{v:.3f}"),
    ("pulled_min_share", "pulled flood: smallest flow / fair share", lambda v: f"{v:.2f}"),
    ("udp_offered", "UDP offered (paced sender), datagrams/s", lambda v: f"{v:,.0f}"),
    ("udp_rate", "UDP pass-through: delivered rate / direct", lambda v: f"{v:.2f}"),
    ("udp_loss", "UDP loss 5 %: measured", lambda v: f"{v * 100:.2f} %"),
    ("latency_early", f"latency {LATENCY_MS} ms: share released early", lambda v: f"{v:.3f}"),
    ("latency_p50", f"latency {LATENCY_MS} ms: error p50 (ms)", lambda v: f"{v:.2f}"),
    ("latency_p99", f"latency {LATENCY_MS} ms: error p99 (ms)", lambda v: f"{v:.2f}"),
]


async def main() -> None:
    with EmbeddedToxiproxy("127.0.0.1", 0) as server:
        async with AsyncToxiproxyClient(server.url) as api:
            results = {
                **await shared_link(api),
                **await pulled_flood(api),
                **await udp(api),
                **await latency(api),
            }
    width = max(len(label) for _, label, _ in ROWS)
    print(f"{'measure':<{width}}  embedded")
    for key, label, show in ROWS:
        print(f"{label:<{width}}  {show(results[key])}")
    with open("/proc/loadavg") as load:
        print(f"(load average during the run: {load.read().split()[0]})", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
