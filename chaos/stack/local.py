"""The local-process stack backend: a stack spec run as processes on loopback ports.

Order of use, as the harness needs it: ``plan()`` allocates every port, so ``links`` (each
link's target addresses) is known before anything starts; the harness may then create fault
proxies in front of those targets and pass their listen addresses to ``start(proxies)``, which
resolves `{link:…}`/`{links:…}` to them. ``start`` waits until every replica is healthy (its
health endpoint answers 200, or it simply stays up if it has none) and stops what it started if
any replica fails. ``stop`` is SIGTERM, then SIGKILL after a grace period, per process group.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.stack import processes
from chaos.stack.plan import StackPlan, plan_stack
from chaos.stack.ports import PortReservation
from chaos.stack.processes import ProcessRef


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
    ) -> None:
        """``tied``: processes die with the calling thread (a run's stack must not outlive a
        killed harness); see ``processes.spawn``."""
        self.spec = spec
        self.run_dir = run_dir
        self.health_timeout = health_timeout
        self.grace = grace
        self.python = python
        self.tied = tied
        self._plan: StackPlan | None = None
        self._reservation: PortReservation | None = None
        self._started: list[ProcessRef] = []
        self._commands: dict[str, list[str]] = {}
        self._stack: RunningStack | None = None

    def plan(self) -> StackPlan:
        """Allocate ports (held until ``start``); the same plan on every call."""
        if self._plan is None:
            self._plan = self._make_plan()
        return self._plan

    def _make_plan(self) -> StackPlan:
        """Loopback ports, held by a reservation until ``start`` (other backends override)."""
        self._reservation = PortReservation()
        return plan_stack(self.spec, self._reservation.take)

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
        commands = self._commands = {
            r.name: self._launch_command(r.name, plan.command(r, proxies, self.python))
            for r in plan.replicas
            if r.command
        }
        logs = {name: self.run_dir / "logs" / f"{name}.log" for name in commands}
        if self._reservation is not None:
            self._reservation.release()
        for replica in plan.replicas:
            if replica.command is None:
                continue
            ref = processes.spawn(
                replica.name,
                commands[replica.name],
                logs[replica.name],
                replica.env,
                tied=self.tied,
            )
            self._started.append(ref)
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
        )
        try:
            await self._wait_healthy(stack, stack.processes)
        except BaseException:
            await self.stop()
            raise
        self._stack = stack
        return stack

    def _ref(self, name: str) -> ProcessRef:
        for ref in self._started:
            if ref.name == name:
                return ref
        known = ", ".join(r.name for r in self._started) or "none"
        raise InfrastructureError(f"no running replica {name!r}", fix=f"running: {known}")

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
        self._stack.processes = list(self._started)
        await self._wait_healthy(self._stack, [new])
        return new

    def _replica_env(self, name: str) -> dict[str, str]:
        return next(r.env for r in self.plan().replicas if r.name == name)

    async def _wait_healthy(self, stack: RunningStack, refs: list[ProcessRef]) -> None:
        deadline = time.monotonic() + self.health_timeout
        pending = {ref.name: ref for ref in refs}
        async with httpx.AsyncClient(timeout=1.0) as client:
            while pending:
                for name, ref in list(pending.items()):
                    if not processes.alive(ref):
                        raise InfrastructureError(
                            f"{name} exited during start-up; last lines of its log:\n"
                            + processes.log_tail(stack.logs[name]),
                            where=str(stack.logs[name]),
                            fix="correct the component's command or configuration",
                        )
                    url = stack.health.get(name)
                    if url is None or await answers(client, url):
                        del pending[name]
                if not pending:
                    return
                if time.monotonic() > deadline:
                    names = ", ".join(sorted(pending))
                    raise InfrastructureError(
                        f"{names} not healthy after {self.health_timeout:g}s",
                        where=", ".join(str(stack.logs[n]) for n in sorted(pending)),
                        fix="read the logs above; raise the health timeout for slow starts",
                    )
                await asyncio.sleep(0.05)

    async def stop(self) -> list[str]:
        """Stop everything started (idempotent); names of processes that needed SIGKILL."""
        if self._reservation is not None:
            self._reservation.release()
        refs, self._started = self._started, []
        return await processes.stop_all(refs, self.grace)


async def answers(client: httpx.AsyncClient, url: str) -> bool:
    """True when ``url`` answers 200 (a health check); any HTTP failure is "not yet"."""
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
