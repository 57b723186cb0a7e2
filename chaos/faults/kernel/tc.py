"""Shared link capacity with tc: one token bucket (``tbf``) or HTB class for all connections.

Pure argument builders. A qdisc on an interface's egress is shared by every flow leaving
through it, which is what a saturated data line is: 20 connections to one edge share 10
Mbit/s, they do not get 10 Mbit/s each (Toxiproxy's bandwidth toxic limits each connection).
"""

from __future__ import annotations

from typing import Literal

Discipline = Literal["tbf", "htb"]

MTU = 1514


def burst_bytes(rate_bps: int) -> int:
    """A bucket that holds ~5 ms at the rate but at least a few full frames (tbf needs ≥ MTU
    per timer tick), so short-window throughput never shoots far above the rate."""
    return max(4 * MTU, rate_bps // 8 // 200)


def capacity(device: str, rate_bps: int, discipline: Discipline = "tbf") -> list[list[str]]:
    """``tc`` argument lists that cap ``device``'s egress at ``rate_bps`` bits/s."""
    if rate_bps <= 0:
        raise ValueError("a link capacity is above 0 bit/s")
    burst = burst_bytes(rate_bps)
    if discipline == "tbf":
        return [
            [
                "qdisc", "replace", "dev", device, "root", "tbf",
                "rate", f"{rate_bps}bit", "burst", str(burst), "latency", "100ms",
            ]
        ]  # fmt: skip
    return [
        ["qdisc", "replace", "dev", device, "root", "handle", "1:", "htb", "default", "1"],
        [
            "class", "replace", "dev", device, "parent", "1:", "classid", "1:1", "htb",
            "rate", f"{rate_bps}bit", "ceil", f"{rate_bps}bit", "burst", str(burst),
            "cburst", str(burst),
        ],
    ]  # fmt: skip


def clear(device: str) -> list[str]:
    """Back to the default qdisc."""
    return ["qdisc", "del", "dev", device, "root"]


def netem_delay(device: str, delay_ms: float, jitter_ms: float = 0.0) -> list[str]:
    """A ``netem`` delay (only where the kernel has sch_netem; see ``netns_probe``)."""
    args = ["qdisc", "replace", "dev", device, "root", "netem", "delay", f"{delay_ms}ms"]
    return args + ([f"{jitter_ms}ms"] if jitter_ms else [])
