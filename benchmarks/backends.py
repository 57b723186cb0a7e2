"""Kernel faults as a receiver measures them, and what each backend costs to start.

Needs root (namespaces) and, for the Docker row, an engine with the image built
(`gameday images build`). Each ratio is measured in this one run:

- random loss: measured loss at the receiver / configured probability (20,000 datagrams);
- bursty loss: measured loss / the model's long-run prediction at the send rate achieved,
  and the mean run of lost packets (random loss gives ~1);
- shared capacity: total throughput of 20 TCP connections / the configured rate (≤ 1.05 is
  the target: one bucket for all, not one per connection);
- start-up: seconds from nothing to a healthy soundstage, each backend / local processes.

    sudo python benchmarks/backends.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaos.experiment.loader import load_stack_spec  # noqa: E402
from chaos.faults.kernel import nft  # noqa: E402
from chaos.stack.backend import make_backend  # noqa: E402
from chaos.stack.capabilities import BACKENDS  # noqa: E402
from chaos.stack.netns import NamespaceBackend  # noqa: E402
from chaos.stack.specfile import spec_path  # noqa: E402
from tests.kernel_peers import received, send_paced, throughput  # noqa: E402
from tests.test_stack_netns import _spec  # noqa: E402

PACKETS = 20_000
PER_MS = 10


def _addr(backend: NamespaceBackend, replica: str, port: str) -> tuple[str, int]:
    r = next(r for r in backend.plan().replicas if r.name == replica)
    return r.host, r.ports[port]


async def _loss(
    lab: NamespaceBackend, name: str, first: int, **rule: float
) -> tuple[float, float, float]:
    """(fraction lost, mean run of consecutive losses, datagrams/s sent) over PACKETS
    datagrams numbered from ``first`` (each measurement its own range)."""
    data, report = _addr(lab, "sink", "data"), _addr(lab, "sink", "report")
    await lab.add_loss(name, "speaker->sink", **rule)  # type: ignore[arg-type]
    sent = await send_paced(data, PACKETS, PER_MS, first=first)
    got = set(await received(*report))
    await lab.remove_fault(name)
    lost = [first + n not in got for n in range(PACKETS)]
    runs = sum(1 for i, x in enumerate(lost) if x and (i == 0 or not lost[i - 1]))
    return sum(lost) / PACKETS, (sum(lost) / runs if runs else 0.0), sent


async def kernel_rows() -> list[tuple[str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        lab = NamespaceBackend(_spec(), Path(scratch), f"bench-{uuid.uuid4().hex[:8]}")
        await lab.start()
        try:
            await received(*_addr(lab, "sink", "report"))
            loss, _, _ = await _loss(lab, "none", 0, probability=0.0)
            rows.append(("no loss rule (the path's own)", f"{loss:.2%}", "-"))
            for n, p in enumerate((0.01, 0.05, 0.20), start=1):
                loss, _, _ = await _loss(lab, f"random{n}", n * PACKETS, probability=p)
                rows.append((f"random loss {p:.0%}", f"{loss:.2%}", f"{loss / p:.3f}"))
            rule = {"probability": 0.0, "burst_enter": 0.002, "burst": 0.01}
            loss, run, sent = await _loss(lab, "bursty", 4 * PACKETS, **rule)
            expected = nft.mean_loss(nft.LossRule("x", ("udp",), **rule), sent)
            rows.append(
                (
                    f"bursty (0.2%, 10 ms) at {sent:.0f}/s",
                    f"{loss:.2%}, runs of {run:.0f}",
                    f"{loss / expected:.3f}",
                )
            )
            host, port = _addr(lab, "source", "pour")
            for mbit in (5, 10, 50):
                await lab.set_capacity(f"cap{mbit}", "listener->source", mbit * 1_000_000)
                rate, _ = await throughput(host, port, connections=20, seconds=5.0, warmup=2.0)
                await lab.remove_fault(f"cap{mbit}")
                rows.append(
                    (f"tbf {mbit} Mbit/s, 20 conns", f"{rate / 1e6:.2f} Mbit/s",
                     f"{rate / (mbit * 1e6):.3f}")
                )  # fmt: skip
        finally:
            await lab.stop()
    return rows


async def startup(name: str) -> float | None:
    if not BACKENDS[name].probe().ok:
        return None
    spec = load_stack_spec(spec_path("soundstage"))
    with tempfile.TemporaryDirectory() as scratch:
        backend = make_backend(
            name, spec, Path(scratch), f"bench-{uuid.uuid4().hex[:8]}", health_timeout=120
        )
        began = time.monotonic()
        await backend.start()
        took = time.monotonic() - began
        await backend.stop()
    return took


async def main() -> None:
    rows = await kernel_rows()
    print(f"{'kernel fault':<34} {'measured':>24} {'ratio':>8}")
    for what, measured, ratio in rows:
        print(f"{what:<34} {measured:>24} {ratio:>8}")
    local = await startup("local")
    assert local is not None
    print(f"\n{'start-up to healthy soundstage':<34} {'seconds':>24} {'/ local':>8}")
    for name in ("local", "netns", "docker"):
        took = await startup(name) if name != "local" else local
        shown = ("unavailable", "-") if took is None else (f"{took:.2f}", f"{took / local:.2f}")
        print(f"{name:<34} {shown[0]:>24} {shown[1]:>8}")


if __name__ == "__main__":
    asyncio.run(main())
