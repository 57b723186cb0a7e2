"""A run's start-up sweep: remove what provably dead runs of the same stack left on the server.

A fault proxy may be shared by concurrent game days and by other teams. The sweep therefore
removes a toxic only when all of these hold: its name carries a run tag (``NAME@RUN``), that
run is not this one, its owner record (``chaos.runner.owners``) says it belongs to the same
stack, and the record proves the run dead (its process no longer runs on this machine). It
deletes a proxy only when the dead run's record lists it as one that run created, and
re-enables a disabled proxy only when the server says which run disabled it (feature ``tags``)
and that run is one of those. Everything else is left alone and counted: untagged toxics, live
runs' toxics, runs nobody here can vouch for (another machine, another team), other stacks'.

Planning is pure (``plan_sweep``); the sweep itself is a sans-IO operation like ``rollback``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from chaos.faults.client import Api, Operation, Proxy, ToxiproxyNotFound
from chaos.runner.owners import Liveness, RunRecord
from chaos.runner.rollback import ToxicRef, Undone, undo
from chaos.runner.run_tag import run_id_of


@dataclass(frozen=True, slots=True)
class SweepPlan:
    toxics: tuple[ToxicRef, ...]
    """Toxics of dead runs of this stack."""
    enable: tuple[str, ...]
    """Proxies a dead run of this stack disabled (by the server's own record of whose)."""
    delete: tuple[str, ...]
    """Proxies a dead run of this stack created (by its own record)."""
    dead: tuple[str, ...]
    """The dead runs of this stack whose leftovers these are."""
    kept: Mapping[str, int]
    """Why other toxics stay, and how many: untagged, a live run's, an unknown run's, ..."""


UNTAGGED = "untagged (no run's)"
LIVE = "of a run that still runs"
UNKNOWN = "of a run not known here (another machine, user or team)"
OTHER_STACK = "of a dead run of another stack"


def plan_sweep(
    proxies: Mapping[str, Proxy],
    *,
    run_id: str,
    stack: str,
    records: Mapping[str, RunRecord],
    status: Callable[[RunRecord | None], Liveness],
) -> SweepPlan:
    """What the sweep of run ``run_id`` (of ``stack``) removes from ``proxies``."""
    kept: dict[str, int] = {}
    verdicts: dict[str, bool] = {}

    def removable(owner: str | None) -> bool:
        """Whether leftovers of run ``owner`` may go; counts why not."""
        if owner is None:
            return False
        if owner not in verdicts:
            record = records.get(owner)
            verdicts[owner] = (
                owner != run_id
                and record is not None
                and record.run_id == owner
                and record.stack == stack
                and status(record) is Liveness.DEAD
            )
        return verdicts[owner]

    def reason(owner: str | None) -> str:
        if owner is None:
            return UNTAGGED
        record = records.get(owner)
        life = status(record)
        if owner == run_id or life is Liveness.ALIVE:
            return LIVE
        if record is None or life is Liveness.UNKNOWN:
            return UNKNOWN
        return OTHER_STACK

    toxics = []
    for proxy in sorted(proxies.values(), key=lambda p: p.name):
        for toxic in proxy.toxics:
            owner = run_id_of(toxic.name)
            if removable(owner):
                toxics.append(ToxicRef(proxy.name, toxic.name, toxic.type, toxic.stream))
            else:
                why = reason(owner)
                kept[why] = kept.get(why, 0) + 1
    delete = sorted(
        name
        for owner, record in records.items()
        if removable(owner)
        for name in record.proxies
        if name in proxies and proxies[name].run in (None, owner)
    )
    enable = sorted(
        name
        for name, proxy in proxies.items()
        if not proxy.enabled and name not in delete and removable(proxy.run)
    )
    dead = sorted(owner for owner, ok in verdicts.items() if ok)
    return SweepPlan(tuple(toxics), tuple(enable), tuple(delete), tuple(dead), kept)


@dataclass(frozen=True, slots=True)
class SweepReport:
    removed: tuple[ToxicRef, ...]
    enabled: tuple[str, ...]
    deleted: tuple[str, ...]
    dead: tuple[str, ...]
    kept: Mapping[str, int]
    vanished: tuple[str, ...]

    def lines(self) -> list[str]:
        """What a person reads about the sweep (empty when it found nothing of interest)."""
        lines = []
        if self.removed or self.deleted or self.enabled:
            lines.append(
                f"removed {len(self.removed)} toxic(s) and {len(self.deleted)} proxy(ies)"
                + (f", re-enabled {len(self.enabled)} proxy(ies)" if self.enabled else "")
                + f" that killed run(s) {', '.join(self.dead)} of this stack left behind"
            )
        if self.kept:
            lines.append(
                "left alone on the fault proxy: "
                + ", ".join(f"{n} toxic(s) {why}" for why, n in sorted(self.kept.items()))
            )
        return lines


def sweep(
    api: Api,
    *,
    run_id: str,
    stack: str,
    lookup: Callable[[Iterable[str]], Mapping[str, RunRecord]],
    status: Callable[[RunRecord | None], Liveness],
) -> Operation[SweepReport]:
    """List, plan, then remove toxics, re-enable proxies, delete dead runs' proxies."""
    proxies = yield from api.list_proxies()
    owners = {run_id_of(t.name) for p in proxies.values() for t in p.toxics}
    owners |= {p.run for p in proxies.values()}
    records = lookup(o for o in owners if o is not None)
    plan = plan_sweep(proxies, run_id=run_id, stack=stack, records=records, status=status)
    undone = Undone()
    yield from undo(api, plan.toxics, plan.enable, undone)
    removed, enabled, vanished = undone.toxics, undone.enabled, undone.vanished
    deleted: list[str] = []
    for name in plan.delete:
        try:
            yield from api.delete_proxy(name)
            deleted.append(name)
        except ToxiproxyNotFound:
            vanished.append(f"proxy {name!r}")
    return SweepReport(
        tuple(removed), tuple(enabled), tuple(deleted), plan.dead, plan.kept, tuple(vanished)
    )
