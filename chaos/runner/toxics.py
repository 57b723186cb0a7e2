"""What a link fault is on a Toxiproxy server: the toxics (or proxy disables) that make it.

Pure: a fault of the experiment plus the link's proxy names become exact API bodies. Units are
converted to Toxiproxy's (latency in ms, bandwidth in KB/s of 1000 bytes, slicer delay in µs),
`direction: both` becomes one toxic per stream, and every toxic name carries the run's tag
(``NAME@RUNID``) so a rollback, and a later run's sweep, can tell whose it is. What the
server cannot do (a feature it lacks) is found here too, before anything is applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaos.errors import InvalidInput
from chaos.experiment.faults import (
    BandwidthFault,
    CapacityFault,
    FloodFault,
    LatencyFault,
    LimitDataFault,
    LossFault,
    ResetPeerFault,
    SlicerFault,
    SlowCloseFault,
    TimeoutFault,
)
from chaos.experiment.stack import StackSpec
from chaos.experiment.units import Ratio
from chaos.faults.client import Stream
from chaos.faults.flood import FloodPlan
from chaos.runner.run_tag import tag
from chaos.stack.capabilities import KERNEL_KINDS

ToxicFault = (
    LatencyFault
    | LossFault
    | BandwidthFault
    | SlicerFault
    | TimeoutFault
    | ResetPeerFault
    | LimitDataFault
    | SlowCloseFault
)


@dataclass(frozen=True, slots=True)
class ToxicOp:
    """One toxic to add to one proxy (and to remove when the fault ends)."""

    proxy: str
    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: Mapping[str, Any]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def attributes(fault: ToxicFault) -> tuple[str, dict[str, Any]]:
    """The toxic type and its attributes in Toxiproxy's units."""
    match fault:
        case LatencyFault():
            return "latency", {
                "latency": _ms(fault.latency.seconds),
                "jitter": _ms(fault.jitter.seconds),
            }
        case BandwidthFault():
            return "bandwidth", {"rate": max(1, round(fault.bandwidth.bytes_per_second / 1000))}
        case SlicerFault():
            s = fault.slicer
            return "slicer", {
                "average_size": s.average_size.bytes,
                "size_variation": s.size_variation.bytes,
                "delay": round(s.delay.seconds * 1_000_000),
            }
        case TimeoutFault():
            return "timeout", {"timeout": _ms(fault.timeout.seconds)}
        case ResetPeerFault():
            return "reset_peer", {"timeout": _ms(fault.reset_peer.seconds)}
        case LimitDataFault():
            return "limit_data", {"bytes": fault.limit_data.bytes}
        case SlowCloseFault():
            return "slow_close", {"delay": _ms(fault.slow_close.seconds)}
        case LossFault():
            return "loss", {"probability": float(fault.loss.fraction)}


def streams(direction: str) -> tuple[Stream, ...]:
    if direction == "both":
        return ("upstream", "downstream")
    return ("upstream",) if direction == "upstream" else ("downstream",)


def toxic_ops(
    fault: ToxicFault, proxies: Sequence[str], run_id: str, *, udp: bool = False
) -> list[ToxicOp]:
    """Every toxic that makes ``fault`` on the link's ``proxies``, tagged with the run. On a
    UDP proxy a bandwidth is the datagram ``rate`` toxic (same KB/s)."""
    toxic_type, attrs = attributes(fault)
    if udp and toxic_type == "bandwidth":
        toxic_type = "rate"
    both = fault.direction == "both"
    return [
        ToxicOp(
            proxy,
            tag(f"{fault.name}-{stream}" if both else fault.name, run_id),
            toxic_type,
            stream,
            float(fault.toxicity.fraction),
            attrs,
        )
        for proxy in proxies
        for stream in streams(fault.direction)
    ]


def capacity_ops(fault: CapacityFault, proxies: Sequence[str], run_id: str) -> list[ToxicOp]:
    """A shared link capacity off netns: one ``shared_bandwidth`` toxic per proxy of the link
    (each proxy's connections share one budget, as a tbf shares a namespace's egress), in KB/s
    of 1000 bytes."""
    rate = max(1, round(fault.capacity.bytes_per_second / 1000))
    return [
        ToxicOp(proxy, tag(fault.name, run_id), "shared_bandwidth", stream, 1.0, {"rate": rate})
        for proxy in proxies
        for stream in streams(fault.direction)
    ]


def flood_plan(fault: FloodFault, faults: Sequence[object]) -> FloodPlan | None:
    """The flood's connections and total rate; a share of the link needs the link's capacity,
    from a capacity or bandwidth fault on the same link over the whole flood (None when there is
    none)."""
    if isinstance(fault.flood, Ratio):
        capacity = [
            f.capacity.bytes_per_second
            if isinstance(f, CapacityFault)
            else f.bandwidth.bytes_per_second
            for f in faults
            if isinstance(f, BandwidthFault | CapacityFault)
            and f.link == fault.link
            and f.at <= fault.at
            and f.end >= fault.end
        ]
        if not capacity:
            return None
        return FloodPlan.share(float(fault.flood.fraction), float(min(capacity)), fault.connections)
    return FloodPlan(fault.connections, float(fault.flood.bytes_per_second))


def runnable_problems(faults: Sequence[object], stack: StackSpec) -> list[str]:
    """One line per fault this runner cannot carry out on any server."""
    return [
        f"fault {getattr(fault, 'name', '?')!r}: {reason}"
        for fault in faults
        if (reason := not_runnable(fault, faults, stack)) is not None
    ]


def check_runnable(faults: Sequence[object], stack: StackSpec) -> None:
    """Refuse faults this runner cannot carry out on any server (what a dry run can know)."""
    problems = runnable_problems(faults, stack)
    if problems:
        raise InvalidInput(
            "\n  ".join(problems),
            where="faults",
            fix="change those faults as each line says, or remove them",
        )


def not_runnable(fault: object, faults: Sequence[object], stack: StackSpec) -> str | None:
    """Why this runner cannot carry out a fault on any server; None when it can."""
    if not isinstance(fault, FloodFault):
        return None
    if stack.links[fault.link].protocol == "udp":
        return f"a flood is competing TCP connections, and link {fault.link} is UDP"
    if flood_plan(fault, faults) is None:
        return (
            f"a flood of {fault.flood} is a share of the link's capacity: add a capacity fault "
            f"on {fault.link} that covers the flood, or give a rate such as 50Mbps"
        )
    return None


def required_feature(
    fault: object, stack: StackSpec, *, kernel: bool = False
) -> tuple[str, str] | None:
    """The server feature a fault needs beyond Toxiproxy 2.12, and why; None when none
    (kernel-level faults are the stack backend's, not the server's, when it has a ``kernel``;
    without one a capacity is the server's ``shared_bandwidth`` toxic)."""
    if isinstance(fault, CapacityFault) and not kernel:
        return (
            "shared_bandwidth",
            f"a capacity shares one budget among every connection of link {fault.link}, "
            "which a per-connection bandwidth toxic cannot do",
        )
    if getattr(fault, "capability", None) in KERNEL_KINDS:
        return None
    if isinstance(fault, FloodFault) and fault.direction != "upstream":
        return (
            "flood_ingress",
            "a downstream flood pulls junk server-to-client through the link's proxies",
        )
    link = getattr(fault, "link", None)
    if isinstance(link, str) and stack.links[link].protocol == "udp":
        return "udp", f"link {link} is UDP, and only a server with UDP proxies can fault it"
    if isinstance(fault, LossFault):
        return "loss", "TCP loss (a lost segment stalling the stream) is a gameday extension"
    return None


def kernel_capacity_bypassed(fault: object, faults: Sequence[object]) -> str | None:
    """Why a downstream flood would miss a kernel-level capacity on its link (None if not):
    its junk starts in the fault proxy, past the ``tbf`` at the link's targets."""
    if not isinstance(fault, FloodFault) or fault.direction == "upstream":
        return None
    if not any(isinstance(f, CapacityFault) and f.link == fault.link for f in faults):
        return None
    return (
        f"on this backend the capacity of {fault.link} is a tbf at its targets, which a "
        "downstream flood (made in the fault proxy) never crosses; run with --backend local "
        "or docker, where the capacity is the proxy's shared_bandwidth"
    )


def check_supported(
    faults: Sequence[object],
    stack: StackSpec,
    features: frozenset[str],
    server: str,
    *,
    kernel: bool = False,
) -> None:
    """Refuse, before anything starts, an experiment whose faults this server cannot make
    (``kernel``: the stack backend makes kernel-level faults itself)."""
    problems = runnable_problems(faults, stack)
    for fault in faults:
        name = getattr(fault, "name", "?")
        if not_runnable(fault, faults, stack) is not None:
            continue
        need = required_feature(fault, stack, kernel=kernel)
        if need is not None and need[0] not in features:
            problems.append(f"fault {name!r}: {need[1]}; the server lacks feature {need[0]!r}")
        if kernel and (bypassed := kernel_capacity_bypassed(fault, faults)) is not None:
            problems.append(f"fault {name!r}: {bypassed}")
    if problems:
        raise InvalidInput(
            "\n  ".join(problems),
            where=f"faults (proxy {server})",
            fix="remove those faults, or use a fault proxy that offers the feature "
            "(its GET /gameday/features lists what it has)",
        )
