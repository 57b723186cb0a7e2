"""The local-process stack backend: a stack spec run as processes on loopback ports.

Order of use, as the harness needs it: ``plan()`` allocates every port, so ``links`` (each
link's target addresses) is known before anything starts; the harness may then create fault
proxies in front of those targets and pass their listen addresses to ``start(proxies)``, which
resolves `{link:…}`/`{links:…}` to them. ``start`` writes each replica's configuration files
into its own directory (under one temporary directory of the stack's, world-traversable, so a
component may run as its own user), then starts the replicas wave by wave (`after`), waiting
until each wave is ready (``chaos.stack.readiness``: its health check passes, or it simply
stays up if it has none), after every external component (`address:`) with a check is, and
stops what it started if any replica fails. ``stop`` is SIGTERM, then SIGKILL after
a grace period, per process group, and removes the directories.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.stack import ledger, processes
from chaos.stack.ledger import WORKDIR_PREFIX
from chaos.stack.plan import Replica, StackPlan, plan_stack, run_params
from chaos.stack.ports import PortReservation, interface_address
from chaos.stack.processes import ProcessRef
from chaos.stack.readiness import wait_for_external, wait_until_ready


@dataclass
class RunningStack:
    """What a started stack looks like from outside: names, pids, addresses, logs."""

    spec: str
    run_dir: Path
    processes: list[ProcessRef]
    addresses: dict[str, dict[str, str]]
    """Replica → port name → host:port (direct, never through a proxy)."""
    links: dict[str, list[str]]
    """Link → target addresses, one per replica of its target."""
    dialled: dict[str, list[str]]
    """Link → what clients dial (the proxy when one was given)."""
    metrics: dict[str, str]
    health: dict[str, str]
    logs: dict[str, Path] = field(default_factory=dict)
    workdir: Path | None = None
    """The replicas' own directories (configuration files, scratch), removed at stop."""


def run_as(user: str | None, command: list[str]) -> list[str]:
    """``command`` as ``user`` (with its groups) when we are root; as ourselves otherwise."""
    if user is None or os.geteuid() != 0:
        return command
    entry = _user(user)
    return [
        "setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
        *command,
    ]  # fmt: skip


def keep_files(run_dir: Path, replica: str, files: Mapping[str, str]) -> None:
    """A copy of a replica's rendered files under the run's ``files/REPLICA/`` (every
    backend): what a server was started with is there for the post-mortem after the
    replica's own directory (or container) is gone."""
    for name, text in files.items():
        copy = run_dir / "files" / replica / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text)


def _user(user: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        raise InvalidInput(
            f"no system user {user!r} to run a component as",
            fix=f"create it (useradd --system {user}) or change the component's `user`",
        ) from None


class LocalProcessBackend:
    def __init__(
        self,
        spec: StackSpec,
        run_dir: Path,
        *,
        health_timeout: float = 20.0,
        grace: float = 5.0,
        python: str = sys.executable,
        tied: bool = False,
        params: Mapping[str, str] | None = None,
        ledger: Path | None = None,
    ) -> None:
        """``tied``: processes die with the calling thread (a run's stack must not outlive a
        killed harness); see ``processes.spawn``. ``params``: values for the spec's `params`.
        ``ledger``: where a run lists its process groups while they run (``chaos.stack.ledger``,
        for `gameday stack down --run-id`)."""
        self.spec = spec
        self.run_dir = run_dir
        self.health_timeout = health_timeout
        self.grace = grace
        self.python = python
        self.tied = tied
        self.params = run_params(spec, params)
        self.ledger = ledger
        self._workdir: Path | None = None
        self._plan: StackPlan | None = None
        self._reservation: PortReservation | None = None
        self._started: list[ProcessRef] = []
        self._commands: dict[str, list[str]] = {}
        self._stack: RunningStack | None = None
        self.on_waiting: Callable[[list[str]], None] = lambda names: None
        """Told which replicas start-up still waits for, at each check (the live view)."""

    def plan(self) -> StackPlan:
        """Allocate ports (held until ``start``); the same plan on every call."""
        if self._plan is None:
            self._plan = self._make_plan()
        return self._plan

    def _make_plan(self) -> StackPlan:
        """Loopback ports, held by a reservation until ``start`` (other backends override);
        ports marked `interface` on the machine's own interface address."""
        self._reservation = PortReservation()
        needs_interface = any(
            port.interface for c in self.spec.components.values() for port in c.ports.values()
        )
        return plan_stack(
            self.spec, self._reservation.take, interface_address() if needs_interface else None
        )

    def _prepare(self, plan: StackPlan, proxies: Mapping[str, str]) -> dict[str, str]:
        """Each started replica's own directory, its files written: replica → directory."""
        top = self._workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        top.chmod(0o755)
        directories = {}
        for replica in plan.replicas:
            if replica.command is None:
                continue
            directory = top / replica.name
            directory.mkdir()
            files = plan.files(replica, proxies, str(directory), self.params)
            for name, text in files.items():
                (directory / name).write_text(text)
            keep_files(self.run_dir, replica.name, files)
            user = self.spec.components[replica.component].user
            if user is not None and os.geteuid() == 0:
                entry = _user(user)
                for path in [directory, *directory.iterdir()]:
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            directories[replica.name] = str(directory)
        return directories

    def _launch_command(self, replica: str, command: list[str]) -> list[str]:
        """The command line that runs ``command`` for ``replica`` (a namespace wraps it)."""
        return command

    @property
    def links(self) -> dict[str, list[str]]:
        return self.plan().links

    async def start(self, proxies: Mapping[str, str] | None = None) -> RunningStack:
        plan = self.plan()
        proxies = dict(proxies or {})
        valid = [name for link in plan.links for name in plan.proxy_names(link)]
        unknown = sorted(set(proxies) - set(valid))
        if unknown:
            raise InvalidInput(
                f"proxies given for unknown links {unknown}",
                fix=f"name each proxy after one of: {', '.join(valid)}",
            )
        directories = self._prepare(plan, proxies)
        commands = self._commands = {
            r.name: self._launch_command(
                r.name,
                run_as(
                    self.spec.components[r.component].user,
                    plan.command(r, proxies, self.python, directories[r.name], self.params),
                ),
            )
            for r in plan.replicas
            if r.command
        }
        logs = {name: self.run_dir / "logs" / f"{name}.log" for name in commands}
        if self._reservation is not None:
            self._reservation.release()
        stack = RunningStack(
            spec=self.spec.name,
            run_dir=self.run_dir,
            processes=list(self._started),
            addresses={r.name: {p: r.address(p) for p in r.ports} for r in plan.replicas},
            links=plan.links,
            dialled={link: plan.dial(link, proxies) for link in plan.links},
            metrics=plan.endpoints("metrics"),
            health=plan.endpoints("health"),
            logs=logs,
            workdir=self._workdir,
        )
        try:
            await wait_for_external(plan, stack.health, self.health_timeout, self.on_waiting)
            for wave in plan.waves():
                refs = [self._spawn(replica, commands, logs) for replica in wave]
                stack.processes = list(self._started)
                await self._wait_healthy(stack, refs)
        except BaseException:
            await self.stop()
            raise
        self._stack = stack
        return stack

    def _spawn(
        self, replica: Replica, commands: dict[str, list[str]], logs: dict[str, Path]
    ) -> ProcessRef:
        ref = processes.spawn(
            replica.name, commands[replica.name], logs[replica.name], replica.env, tied=self.tied
        )
        self._started.append(ref)
        self._list()
        return ref

    def _list(self) -> None:
        if self.ledger is not None:
            ledger.write(self.ledger, self._started, self._workdir)
            processes.REAPER.ledger(self.ledger)  # a reaper that reaps it all removes it

    def _ref(self, name: str) -> ProcessRef:
        for ref in self._started:
            if ref.name == name:
                return ref
        known = ", ".join(r.name for r in self._started) or "none"
        raise InfrastructureError(
            part="stack", what=f"no running replica {name!r}", fix=f"running: {known}"
        )

    def send_signal(self, name: str, sig: signal.Signals) -> None:
        """Signal one replica's process group: SIGKILL to crash it, SIGSTOP/SIGCONT to pause."""
        processes.signal_group(self._ref(name), sig)

    async def restart(self, name: str, grace: float | None = None) -> ProcessRef:
        """Stop one replica (if it still runs) and start it again on the same ports."""
        assert self._stack is not None, "start() the stack first"
        old = self._ref(name)
        await processes.stop_all([old], self.grace if grace is None else grace)
        new = processes.spawn(
            name,
            self._commands[name],
            self._stack.logs[name],
            self._replica_env(name),
            tied=self.tied,
        )
        self._started[self._started.index(old)] = new
        self._list()
        self._stack.processes = list(self._started)
        await self._wait_healthy(self._stack, [new])
        return new

    def _replica_env(self, name: str) -> dict[str, str]:
        return next(r.env for r in self.plan().replicas if r.name == name)

    async def _wait_healthy(self, stack: RunningStack, refs: list[ProcessRef]) -> None:
        """Until each replica in ``refs`` passes its check; one that exits is an error."""
        by_name = {ref.name: ref for ref in refs}

        async def up(name: str) -> bool:
            ref = by_name.get(name)
            if ref is not None and not processes.alive(ref):
                raise InfrastructureError(
                    part="stack",
                    what=f"{name} exited during start-up; last lines of its log:\n"
                    + processes.log_tail(stack.logs[name]),
                    where=str(stack.logs[name]),
                    fix="correct the component's command or configuration",
                )
            return True

        await wait_until_ready(
            list(by_name),
            stack.health,
            timeout=self.health_timeout,
            up=up,
            where=lambda names: ", ".join(str(stack.logs[n]) for n in names),
            fix="read the logs above; for slow starts raise it: "
            "`gameday run --health-timeout 60s`, `gameday stack up --timeout 60s`",
            on_waiting=self.on_waiting,
        )

    async def stop(self) -> list[str]:
        """Stop everything started (idempotent); names of processes that needed SIGKILL."""
        if self._reservation is not None:
            self._reservation.release()
        refs, self._started = self._started, []
        killed = await processes.stop_all(refs, self.grace)
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        if self.ledger is not None:
            self.ledger.unlink(missing_ok=True)
        return killed
