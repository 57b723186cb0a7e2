"""Remove faults that a run left behind on a Toxiproxy server.

A run rolls back in ``finally``; this is for what survives anyway (a SIGKILLed harness, a
crashed CI job, a hand-made experiment). Planning is pure over the server's proxy list, and the
rollback itself is a sans-IO operation, so the CLI runs it with the sync client and the runner
with the async one. Cleanup is idempotent: a toxic or proxy that vanished meanwhile (someone else
cleaned up) counts as gone, not as a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chaos.errors import InvalidInput
from chaos.faults.client import Api, Operation, Proxy, ToxiproxyClient, ToxiproxyNotFound
from chaos.faults.client.errors import ToxiproxyUnreachable
from chaos.runner.run_tag import check_run_id, run_id_of


@dataclass(frozen=True, slots=True)
class Scope:
    """Which faults a rollback removes.

    ``Scope.everything()`` removes every toxic and re-enables every proxy (``--all``);
    ``Scope.run(ID)`` only that run's tagged toxics (``--run-id``); ``Scope.any_run()`` every
    run-tagged toxic but no hand-made one (a run's start-up sweep, which may not know the id of
    the run that was killed). A disabled proxy carries no tag, so only ``everything`` re-enables.
    """

    run_id: str | None = None
    tagged_only: bool = False

    @classmethod
    def everything(cls) -> Scope:
        return cls()

    @classmethod
    def run(cls, run_id: str) -> Scope:
        return cls(run_id=check_run_id(run_id), tagged_only=True)

    @classmethod
    def any_run(cls) -> Scope:
        return cls(tagged_only=True)

    def covers(self, toxic_name: str) -> bool:
        return self.owns(run_id_of(toxic_name))

    def owns(self, run_id: str | None) -> bool:
        """Whether something tagged with ``run_id`` (None: untagged) is in scope."""
        if not self.tagged_only:
            return True
        return run_id is not None and (self.run_id is None or run_id == self.run_id)

    def __str__(self) -> str:
        if not self.tagged_only:
            return "all toxics"
        return f"run {self.run_id}" if self.run_id else "all runs' tagged toxics"


@dataclass(frozen=True, slots=True)
class ToxicRef:
    proxy: str
    name: str
    type: str
    stream: str


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    """What to undo: toxics to remove first, then proxies to re-enable."""

    toxics: tuple[ToxicRef, ...]
    enable: tuple[str, ...]
    left_disabled: tuple[str, ...]
    """Disabled proxies a tag-scoped rollback cannot attribute to a run, so leaves alone."""


@dataclass(frozen=True, slots=True)
class RollbackReport:
    url: str
    scope: Scope
    dry_run: bool
    removed: tuple[ToxicRef, ...]
    enabled: tuple[str, ...]
    vanished: tuple[str, ...]
    """Things that disappeared between listing and removing (someone else cleaned up)."""
    left_disabled: tuple[str, ...]

    @property
    def changed_anything(self) -> bool:
        return bool(self.removed or self.enabled)


def plan_rollback(
    proxies: Mapping[str, Proxy], scope: Scope, *, tags: bool = False
) -> RollbackPlan:
    """The toxics in ``scope`` and the disabled proxies to re-enable: all of them for
    ``Scope.everything()``; with ``tags`` (a gameday server, whose proxies carry the ``run``
    that created them) also those of the runs in scope."""
    toxics = tuple(
        ToxicRef(proxy.name, toxic.name, toxic.type, toxic.stream)
        for proxy in sorted(proxies.values(), key=lambda p: p.name)
        for toxic in proxy.toxics
        if scope.covers(toxic.name)
    )
    disabled = sorted(name for name, proxy in proxies.items() if not proxy.enabled)
    ours = [
        name
        for name in disabled
        if not scope.tagged_only or (tags and scope.owns(proxies[name].run))
    ]
    left = tuple(name for name in disabled if name not in ours)
    return RollbackPlan(toxics, enable=tuple(ours), left_disabled=left)


@dataclass(slots=True)
class Undone:
    """What an undo did: toxics removed, proxies re-enabled, and what had vanished meanwhile
    (someone else cleaned up: gone, not a failure)."""

    toxics: list[ToxicRef] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)


def undo(
    api: Api, toxics: Iterable[ToxicRef], enable: Iterable[str], done: Undone
) -> Operation[None]:
    """Remove ``toxics``, then re-enable ``enable`` (so no traffic meets a toxic that is about
    to go), recording each step in ``done`` as it happens: a failure midway leaves ``done``
    saying what was already undone."""
    for ref in toxics:
        try:
            yield from api.remove_toxic(ref.proxy, ref.name)
            done.toxics.append(ref)
        except ToxiproxyNotFound:
            done.vanished.append(f"toxic {ref.name!r} on proxy {ref.proxy!r}")
    for name in enable:
        try:
            yield from api.update_proxy(name, enabled=True)
            done.enabled.append(name)
        except ToxiproxyNotFound:
            done.vanished.append(f"proxy {name!r}")


def rollback(
    api: Api, scope: Scope, *, dry_run: bool = False, tags: bool = False
) -> Operation[RollbackReport]:
    """List, plan, then remove toxics before re-enabling proxies (so no traffic meets a toxic
    that is about to go). ``tags``: the server supports run tags on proxies (feature ``tags``)."""
    plan = plan_rollback((yield from api.list_proxies()), scope, tags=tags)
    undone = Undone()
    if not dry_run:
        yield from undo(api, plan.toxics, plan.enable, undone)
    removed, enabled, vanished = undone.toxics, undone.enabled, undone.vanished
    return RollbackReport(
        url=api.url,
        scope=scope,
        dry_run=dry_run,
        removed=plan.toxics if dry_run else tuple(removed),
        enabled=plan.enable if dry_run else tuple(enabled),
        vanished=tuple(vanished),
        left_disabled=plan.left_disabled,
    )


def describe(report: RollbackReport) -> list[str]:
    """The lines a person reads after ``gameday rollback``."""
    remove, enable = (
        ("would remove", "would re-enable") if report.dry_run else ("removed", "re-enabled")
    )
    lines = [
        f"{remove} {ref.type} toxic {ref.name!r} ({ref.stream}) from proxy {ref.proxy!r}"
        for ref in report.removed
    ]
    lines += [f"{enable} proxy {name!r}" for name in report.enabled]
    lines += [f"already gone: {what}" for what in report.vanished]
    lines += [
        f"left disabled: proxy {name!r} (a disabled proxy carries no run tag; use --all)"
        for name in report.left_disabled
    ]
    if not report.changed_anything:
        lines.append(f"nothing to roll back ({report.scope}) on {report.url}")
    else:
        lines.append(
            f"{'dry run, nothing changed: ' if report.dry_run else 'rolled back: '}"
            f"{len(report.removed)} toxic(s), {len(report.enabled)} proxy(ies) re-enabled "
            f"({report.scope}) on {report.url}"
        )
    return lines


def rollback_command(
    url: str | None,
    run_id: str | None,
    *,
    everything: bool,
    dry_run: bool,
    source: str | None = None,
) -> list[str]:
    """``gameday rollback``: insist on an explicit scope, roll back, describe what happened.
    ``source`` names what gave ``url`` (``--toxiproxy``, ``TOXIPROXY_URL``) in its errors.

    No default scope on purpose: on a Toxiproxy shared by several runs, removing everything
    should be asked for (``--all``), not what a bare command does.
    """
    if everything == (run_id is not None):
        raise InvalidInput(
            "say which faults to roll back"
            if not everything
            else "--all and --run-id exclude each other",
            where="gameday rollback",
            fix="--all removes every toxic and re-enables every proxy; "
            "--run-id ID removes only the toxics of that run",
        )
    scope = Scope.everything() if everything else Scope.run(run_id or "")
    with ToxiproxyClient(url) as client:
        try:
            tags = client.server_info().supports("tags")
        except ToxiproxyUnreachable as exc:
            raise exc if source is None else exc.named_by(source) from None
        return describe(client.run(rollback(client.api, scope, dry_run=dry_run, tags=tags)))
