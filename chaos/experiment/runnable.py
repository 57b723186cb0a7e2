"""What a run needs beyond a well-formed file: the checks `validate`, `run --dry-run` and `run`
share, up to what only the live stack or fault proxy can tell.

One list of located problems, so the three commands cannot disagree: a fault the chosen
backend cannot make (`layer: kernel` on the local backend), one no runner can carry out (a
flood share without a capacity), a kernel-level or component fault on an external component
(gameday neither starts nor shapes what runs elsewhere), listeners on a stack that does not
say where they connect, and a workload this machine cannot hold (too many listeners or
speaker processes). Only the fault proxy's own features (asked of it when one is given) and
the stack's metric names (known once it runs) are left to later.
"""

from __future__ import annotations

from chaos.experiment.errors import Problem
from chaos.experiment.experiment import Experiment
from chaos.experiment.faults import (
    CapacityFault,
    FloodFault,
    KillFault,
    LossFault,
    PartitionFault,
    PauseFault,
    RestartFault,
    target_of,
)
from chaos.experiment.stack import StackSpec
from chaos.experiment.workload import MAX_SPEAKERS, Curve

MAX_LISTENERS = 2_000_000
"""Synthetic listeners one run may schedule (each is a connection and a playout model; the
lab's figures: ~20,000 per worker core). More is a plan for many machines: `gameday plan`."""


KERNEL_CAPABILITIES = frozenset({"kernel-loss", "partition"})


def fault_key(fault: object) -> str:
    """The key that names the fault's kind in the file (where its problems point)."""
    kind = getattr(fault, "kind", "")
    return {"capacity": "capacity", "down": "down"}.get(kind, kind) or "name"


def runnable_problems(
    experiment: Experiment, stack: StackSpec, backend: str | None = "local"
) -> list[Problem]:
    """Every problem a run on ``backend`` would meet before its stack starts (None: any)."""
    return [
        *_backend(experiment, backend),
        *_carried_out(experiment, stack),
        *_external(experiment, stack, backend),
        *_audience(experiment, stack),
        *_bounds(experiment),
    ]


def _backend(experiment: Experiment, backend: str | None) -> list[Problem]:
    if backend is None:
        return []
    from chaos.stack.capabilities import BACKENDS, unsupported

    found = []
    for index, fault in enumerate(experiment.faults):
        missing = unsupported(backend, [fault.capability])
        if not missing:
            continue
        able = sorted(b.name for b in BACKENDS.values() if fault.capability in b.kinds)
        where = " or ".join(able)
        found.append(
            Problem(
                ("faults", index, "layer" if isinstance(fault, LossFault) else fault_key(fault)),
                f"the {backend} backend cannot make a {fault.capability} fault; "
                + (
                    f"run it with --backend {where} (check with "
                    f"`gameday validate --backend {able[0]} FILE`)"
                    if able
                    else "remove it"
                ),
            )
        )
    return found


def _carried_out(experiment: Experiment, stack: StackSpec) -> list[Problem]:
    from chaos.runner.toxics import not_runnable

    found = []
    for index, fault in enumerate(experiment.faults):
        if isinstance(fault, FloodFault) and fault.link in stack.links:
            reason = not_runnable(fault, experiment.faults, stack)
            if reason is not None:
                found.append(Problem(("faults", index, "flood"), reason))
    return found


def _external(experiment: Experiment, stack: StackSpec, backend: str | None) -> list[Problem]:
    """gameday neither starts, stops nor shapes a component that runs elsewhere."""
    external = {name for name, c in stack.components.items() if c.address is not None}
    found = []
    for index, fault in enumerate(experiment.faults):
        if isinstance(fault, KillFault | PauseFault | RestartFault | PartitionFault):
            target = target_of(fault)
            if target in external:
                found.append(
                    Problem(
                        ("faults", index, fault.kind),
                        f"{target!r} is an external component (`address:`): gameday does not "
                        "run it, so it cannot kill, pause, restart or cut it off; fault the "
                        "links to it instead (e.g. `down: true`)",
                    )
                )
            continue
        link = getattr(fault, "link", None)
        if not isinstance(link, str) or link not in stack.links:
            continue
        kernel = fault.capability in KERNEL_CAPABILITIES or (
            isinstance(fault, CapacityFault) and backend == "netns"
        )
        if kernel and stack.links[link].component in external:
            found.append(
                Problem(
                    ("faults", index, "layer" if isinstance(fault, LossFault) else fault.kind),
                    f"{link} leads to the external component {stack.links[link].component!r}: "
                    "a kernel-level fault shapes the targets' own network, which gameday "
                    "does not run; use the proxy layer on this link (drop `layer: kernel`)",
                )
            )
    return found


def _audience(experiment: Experiment, stack: StackSpec) -> list[Problem]:
    if experiment.workload.listeners and stack.audience.listeners is None:
        return [
            Problem(
                ("workload", "listeners"),
                f"stack {stack.name!r} does not say where listeners connect; add "
                "`audience: {listeners: {link: LINK, path: /stream}}` to its spec",
            )
        ]
    return []


def _bounds(experiment: Experiment) -> list[Problem]:
    found = []
    speakers = len(experiment.workload.speakers)
    if speakers > MAX_SPEAKERS:
        found.append(
            Problem(
                ("workload", "speakers"),
                f"{speakers:,} speakers: each is a process of the stack, and a run starts at "
                f"most {MAX_SPEAKERS}; use fewer speakers (a room rarely has more than a few)",
            )
        )
    total = 0
    for index, phase in enumerate(experiment.workload.listeners):
        if isinstance(phase, Curve):
            continue  # its peak is checked with its CSV
        total += phase.count
        if phase.count > MAX_LISTENERS:
            found.append(
                Problem(
                    ("workload", "listeners", index, "count"),
                    listeners_limit(phase.count),
                )
            )
    if total > MAX_LISTENERS and not found:
        found.append(Problem(("workload", "listeners"), listeners_limit(total)))
    return found


def listeners_limit(count: float) -> str:
    return (
        f"{count:,.0f} listeners: one run schedules at most {MAX_LISTENERS:,} synthetic "
        'listeners; use fewer (`--scale 0.001` multiplies every count, `scale: "1:1000"` '
        "records the people each stands for) and see what the full size needs with "
        f"`gameday plan --listeners {count:.0f}`"
    )
