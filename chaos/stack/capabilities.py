"""What each stack backend can do, and whether it can run on this machine at all.

A run must learn before anything starts that its backend is missing (no Docker engine, not
root) or cannot make one of its faults (a partition on local processes): the capability table
is pure data, the probes are small and separate, and ``require`` turns both into one
``InvalidInput``/``InfrastructureError`` naming the backend, the fault and the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chaos.errors import InfrastructureError, InvalidInput

PROXY_KINDS = frozenset(
    {
        "latency",
        "loss",
        "bandwidth",
        "slicer",
        "timeout",
        "reset_peer",
        "limit_data",
        "slow_close",
        "down",
    }
)
"""Experiment fault kinds the fault proxy makes, whatever runs the stack."""
COMPONENT_KINDS = frozenset({"kill", "pause", "restart"})
KERNEL_KINDS = frozenset({"kernel-loss", "shared-capacity", "partition"})
"""Capabilities of the kernel-level fault kinds an experiment can write (``fault.capability``):
`loss` with `layer: kernel`, `capacity`, `partition`. Off netns a `capacity` is the fault
proxy's `shared_bandwidth` toxic instead (one budget per proxy direction), when it has one."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str
    """Why not (or what was found, when ok)."""


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    kinds: frozenset[str]
    """Fault kinds it supports: experiment kinds plus backend-only ones (`partition`, …)."""
    probe: Callable[[], Availability]


def _local() -> Availability:
    return Availability(True, "runs stack components as processes on loopback")


def _docker() -> Availability:
    from chaos.stack.docker_engine import probe_engine

    return probe_engine()


def _netns() -> Availability:
    from chaos.stack.netns_probe import probe_netns

    return probe_netns()


BACKENDS: dict[str, Backend] = {
    "local": Backend(
        "local",
        "processes on loopback ports",
        PROXY_KINDS | COMPONENT_KINDS | {"shared-capacity"},
        _local,
    ),
    "docker": Backend(
        "docker",
        "containers on a private Docker network per run",
        PROXY_KINDS | COMPONENT_KINDS | {"partition", "shared-capacity"},
        _docker,
    ),
    "netns": Backend(
        "netns",
        "processes in network namespaces joined by veth pairs (root)",
        PROXY_KINDS
        | COMPONENT_KINDS
        | {"kernel-loss", "kernel-bursty-loss", "shared-capacity", "link-down", "partition"},
        _netns,
    ),
}


def backend(name: str) -> Backend:
    found = BACKENDS.get(name)
    if found is None:
        raise InvalidInput(
            f"unknown stack backend {name!r}",
            where="--backend",
            fix=f"choose one of: {', '.join(BACKENDS)}",
        )
    return found


def unsupported(name: str, kinds: Iterable[str]) -> list[str]:
    """The fault kinds among ``kinds`` that backend ``name`` cannot make, sorted.

    Only kinds some backend makes are a backend's business: others (a feedback loop in the
    speakers, a flood of competing traffic) are the harness's, whatever runs the stack.
    """
    governed = frozenset().union(*(b.kinds for b in BACKENDS.values()))
    return sorted((set(kinds) & governed) - backend(name).kinds)


def check_kinds(name: str, kinds: Iterable[str]) -> Backend:
    """The backend, once it can make every fault kind in ``kinds`` (invalid input if not);
    what a dry run can tell without probing the machine."""
    found = backend(name)
    missing = unsupported(name, kinds)
    if missing:
        able = sorted(b.name for b in BACKENDS.values() if not set(missing) - b.kinds)
        raise InvalidInput(
            f"the {name} backend cannot make fault kind(s) {', '.join(missing)}",
            where="faults",
            fix=f"run on {' or '.join(able)}" if able else "remove those faults",
        )
    return found


def require(name: str, kinds: Iterable[str] = ()) -> Backend:
    """The backend, once it is available here and supports every fault kind in ``kinds``.

    Call it before starting anything: an unknown backend or an unsupported fault is invalid
    input (exit 2); a backend this machine cannot run is infrastructure (exit 3).
    """
    found = check_kinds(name, kinds)
    available = found.probe()
    if not available.ok:
        raise InfrastructureError(
            f"{name} backend unavailable: {available.reason}",
            where=f"--backend {name}",
            fix="see `gameday backends` for what each backend needs here",
        )
    return found
