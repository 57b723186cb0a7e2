"""Carry out faults at run time, and take every one of them back.

One ``FaultDriver`` per run applies each fault of the timeline (toxics and proxy disables
through the Toxiproxy client, kills/pauses/restarts, partitions and kernel-level loss and
capacity through the stack backend), records it in
the journal with its exact parameters (``fault.start``/``fault.end``, or ``fault.end_failed``
when it could not be undone), and remembers what it did, so ``rollback`` can undo precisely
that, in reverse order, whatever ended the run.
Undoing never raises: each step that fails is reported and the rest still run, because a
rollback that stops half-way is the one failure a chaos tool must not have.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from chaos.errors import GamedayError, InvalidInput
from chaos.experiment.faults import (
    CapacityFault,
    DownFault,
    Fault,
    FeedbackFault,
    FloodFault,
    KillFault,
    LossFault,
    PartitionFault,
    PauseFault,
    RestartFault,
    target_of,
)
from chaos.experiment.stack import StackSpec
from chaos.faults.client import AsyncToxiproxyClient, ToxiproxyNotFound
from chaos.faults.feedback import FeedbackLoop
from chaos.faults.flood import Flood, FloodPlan, Mode, on_loopback
from chaos.report.journal import JournalWriter
from chaos.report.summary import FAULT_END, FAULT_END_FAILED, FAULT_START
from chaos.runner.rollback import Scope, rollback
from chaos.runner.timeline import fault_params
from chaos.runner.toxics import ToxicFault, ToxicOp, capacity_ops, toxic_ops
from chaos.stack.backend import KernelFaults, Partitions, StackBackend, proxy_host

Step = Callable[[], Awaitable[object]]


@dataclass
class _Applied:
    fault: Fault
    toxics: list[ToxicOp] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)
    loop: FeedbackLoop | None = None
    floods: list[Flood] = field(default_factory=list)
    kernel: list[str] = field(default_factory=list)
    """The backend's names of the kernel faults made for this one."""
    partitioned: list[str] = field(default_factory=list)


def replicas_of(target: str, stack: StackSpec) -> list[str]:
    """A component fault's processes: every replica of a component, or the one replica named."""
    return stack.replica_names(target) if target in stack.components else [target]


class FaultDriver:
    def __init__(
        self,
        client: AsyncToxiproxyClient,
        backend: StackBackend,
        stack: StackSpec,
        proxies: Mapping[str, Sequence[str]],
        run_id: str,
        journal: JournalWriter,
        *,
        lease_ms: int | None = None,
        feedback: Mapping[str, FeedbackLoop] | None = None,
    ) -> None:
        """``proxies``: link → the names of its proxies on the server; ``lease_ms``: lease
        every toxic and disable (the server has leases, and the run renews them);
        ``feedback``: fault name → its loop, made (and its metrics registered) before the run."""
        self.client = client
        self.backend = backend
        self.stack = stack
        self.proxies = proxies
        self.run_id = run_id
        self.journal = journal
        self.lease_ms = lease_ms
        self.feedback = dict(feedback or {})
        self.flood_plans: dict[str, FloodPlan] = {}
        """Fault name → its flood's plan; set with ``dialled`` once the stack is up."""
        self.dialled: dict[str, list[str]] = {}
        self.flood_lease = 30.0
        self.active: dict[str, _Applied] = {}
        self.on_end: Callable[[Fault, list[str]], None] | None = None
        """Told when a fault ended (no problems) or could not be ended (its problems), so
        the run says which: only a fault undone cleanly is ever shown as ended."""

    def _link_proxies(self, link: str) -> list[str]:
        return list(self.proxies.get(link, ()))

    async def apply(self, fault: Fault) -> None:
        """Apply one fault; a partial application is remembered, so rollback undoes it."""
        applied = self.active[fault.name] = _Applied(fault)
        details: dict[str, Any] = {}
        try:
            match fault:
                case DownFault():
                    for proxy in self._link_proxies(fault.link):
                        await self._disable(proxy)
                        applied.disabled.append(proxy)
                    details["proxies"] = applied.disabled
                case KillFault():
                    for replica in replicas_of(target_of(fault), self.stack):
                        self.backend.send_signal(replica, signal.SIGKILL)
                        applied.killed.append(replica)
                    details["replicas"] = applied.killed
                case PauseFault():
                    for replica in replicas_of(target_of(fault), self.stack):
                        self.backend.send_signal(replica, signal.SIGSTOP)
                        applied.paused.append(replica)
                    details["replicas"] = applied.paused
                case FloodFault():
                    await self._flood(fault, applied)
                    details["floods"] = [
                        {
                            "target": f"{f.host}:{f.port}",
                            "mode": f.mode,
                            "connections": f.plan.connections,
                            "bytes_per_second": f.plan.rate,
                        }
                        for f in applied.floods
                    ]
                case FeedbackFault():
                    applied.loop = self.feedback[fault.name]
                    await applied.loop.start()
                    details["via"] = fault.feedback.via
                case RestartFault():
                    replicas = replicas_of(target_of(fault), self.stack)
                    for replica in replicas:
                        await self.backend.restart(replica)
                    details["replicas"] = replicas
                case PartitionFault():
                    details["replicas"] = await self._partition(fault, applied)
                case CapacityFault() if not isinstance(self.backend, KernelFaults):
                    ops = capacity_ops(fault, self._link_proxies(fault.link), self.run_id)
                    await self._add_ops(ops, applied)
                    details.update(
                        layer="proxy",
                        toxics=[
                            {"proxy": op.proxy, "toxic": op.name, "stream": op.stream}
                            for op in applied.toxics
                        ],
                        toxic_type="shared_bandwidth",
                        rate_kbps=ops[0].attributes["rate"] if ops else None,
                    )
                case CapacityFault():
                    kernel = self._kernel(fault)
                    bits = int(fault.capacity.bytes_per_second * 8)
                    applied.kernel.append(fault.name)
                    await kernel.set_capacity(fault.name, fault.link, bits, "tbf")
                    details.update(layer="kernel", discipline="tbf", bits_per_second=bits)
                case LossFault(layer="kernel"):
                    probability = float(fault.loss.fraction)
                    applied.kernel.append(fault.name)
                    await self._kernel(fault).add_loss(
                        fault.name, fault.link, probability, direction=fault.direction
                    )
                    details.update(layer="kernel", probability=probability)
                case _:
                    await self._add_toxics(fault, applied)
                    details["toxics"] = [
                        {"proxy": op.proxy, "toxic": op.name, "stream": op.stream}
                        for op in applied.toxics
                    ]
        finally:
            self.journal.write(
                FAULT_START, name=fault.name, type=fault.kind, params=fault_params(fault), **details
            )
        if isinstance(fault, RestartFault):
            await self.remove(fault)

    async def _add_toxics(self, fault: Fault, applied: _Applied) -> None:
        link = getattr(fault, "link", None)
        assert isinstance(link, str), f"{fault.kind} is a link fault"
        toxic: ToxicFault = fault  # type: ignore[assignment]  # every other link kind is refused
        udp = self.stack.links[link].protocol == "udp"
        await self._add_ops(
            toxic_ops(toxic, self._link_proxies(link), self.run_id, udp=udp), applied
        )

    async def _add_ops(self, ops: list[ToxicOp], applied: _Applied) -> None:
        # Every proxy of the link at once: a fault hits all of a link's replicas together.
        added = await asyncio.gather(*(self._add_toxic(op) for op in ops), return_exceptions=True)
        applied.toxics += [op for op, outcome in zip(ops, added, strict=True) if outcome is None]
        failed = [outcome for outcome in added if isinstance(outcome, BaseException)]
        if failed:
            raise failed[0]

    def _kernel(self, fault: Fault) -> KernelFaults:
        if not isinstance(self.backend, KernelFaults):  # require() refuses this before a run
            raise InvalidInput(
                f"this stack backend makes no kernel-level faults ({fault.capability})",
                where=f"fault {fault.name!r}",
                fix="run with --backend netns",
            )
        return self.backend

    async def _partition(self, fault: PartitionFault, applied: _Applied) -> list[str]:
        """Docker disconnects each replica's container; namespaces take each replica's link
        down (one kernel fault per replica, so each comes back on its own); the replicas."""
        replicas = replicas_of(target_of(fault), self.stack)
        for replica in replicas:
            if isinstance(self.backend, Partitions):
                applied.partitioned.append(replica)
                await self.backend.partition(replica)
            else:
                name = f"{fault.name}@{replica}"
                applied.kernel.append(name)
                await self._kernel(fault).link_down(name, replica)
        return replicas

    async def _flood(self, fault: FloodFault, applied: _Applied) -> None:
        """Competing connections on every proxy of the link, the rate and connections split
        between them: pushed into the proxies (upstream) and pulled from their flood ingresses
        (downstream). Only to the stack's declared endpoints (the links' dialled addresses) and
        the ingresses our proxy server opened for this link's proxies."""
        plan = self.flood_plans[fault.name]
        targets: list[tuple[str, Mode]] = []
        if fault.direction in ("upstream", "both"):
            targets += [(address, "push") for address in self.dialled.get(fault.link, [])]
        if fault.direction in ("downstream", "both"):
            ingresses = [await self.client.flood_ingress(p) for p in self._link_proxies(fault.link)]
            targets += [(address, "pull") for address in ingresses]
        declared = {address for addresses in self.dialled.values() for address in addresses}
        declared |= {address for address, mode in targets if mode == "pull"}
        per_direction = len(targets) // (2 if fault.direction == "both" else 1)
        share = FloodPlan(max(1, plan.connections // per_direction), plan.rate / per_direction)
        # Off loopback the proxies sit on the backend's own network (docker's private subnet):
        # the stack's declared endpoints there are still ours to flood.
        remote = not on_loopback(proxy_host(self.backend))
        for target, mode in targets:
            flood = Flood(
                target,
                share,
                declared=declared,
                allow_remote=remote,
                lease_seconds=self.flood_lease,
                mode=mode,
            )
            await flood.start()
            applied.floods.append(flood)

    def renew_floods(self) -> None:
        """Keep running floods alive for another lease (a wedged harness lets them lapse)."""
        for applied in self.active.values():
            for flood in applied.floods:
                flood.renew()

    async def _add_toxic(self, op: ToxicOp) -> None:
        await self.client.add_toxic(
            op.proxy,
            dict(op.attributes),
            type=op.type,
            name=op.name,
            stream=op.stream,
            toxicity=op.toxicity,
            lease_ms=self.lease_ms,
        )

    async def _disable(self, proxy: str) -> None:
        """Under a lease the proxy names its run, so renewals (and a sweep) can find it."""
        run = self.run_id if self.lease_ms is not None else None
        await self.client.update_proxy(proxy, enabled=False, run=run, lease_ms=self.lease_ms)

    async def remove(self, fault: Fault) -> list[str]:
        """End one fault; the problems met (empty when it was undone cleanly).

        Only a fault undone cleanly is journalled as ended (``fault.end``). When a step fails
        (the fault proxy is gone, a toxic would not go) the journal says ``fault.end_failed``
        and the fault stays active with the steps that failed, so the final rollback tries
        them again: a fault whose removal failed is never recorded, or printed, as ended.
        """
        applied = self.active.pop(fault.name, None)
        if applied is None:
            self.journal.write(FAULT_END, name=fault.name, type=fault.kind, problems=[])
            return []
        problems, left = await self._undo(applied)
        if problems:
            self.active[fault.name] = left
            self.journal.write(
                FAULT_END_FAILED, name=fault.name, type=fault.kind, problems=problems
            )
            if self.on_end is not None:
                self.on_end(fault, problems)
            return problems
        effect: dict[str, object] = {}
        if applied.loop is not None:
            effect = applied.loop.summary()
        if applied.floods:
            effect = {"bytes_sent": sum(f.sent for f in applied.floods)}
        self.journal.write(FAULT_END, name=fault.name, type=fault.kind, problems=[], **effect)
        if self.on_end is not None:
            self.on_end(fault, [])
        return []

    async def _signal(self, replica: str, sig: signal.Signals) -> None:
        self.backend.send_signal(replica, sig)

    async def _undo(self, applied: _Applied) -> tuple[list[str], _Applied]:
        """Toxics come off every proxy at once (like they went on), then proxies come back,
        then components; each step that fails is reported and the others still run. Returns
        the problems and what is still applied (the steps that failed)."""
        problems: list[str] = []
        left = _Applied(applied.fault)

        async def attempt(what: str, step: Step) -> bool:
            try:
                await step()
            except ToxiproxyNotFound:
                pass  # already gone: someone else cleaned up, which is what we wanted
            except Exception as exc:  # rollback reports and carries on
                problems.append(f"{what}: {exc.what if isinstance(exc, GamedayError) else exc}")
                return False
            return True

        removed = await asyncio.gather(
            *(
                attempt(
                    f"remove toxic {op.name} from {op.proxy}",
                    partial(self.client.remove_toxic, op.proxy, op.name),
                )
                for op in applied.toxics
            )
        )
        left.toxics = [op for op, done in zip(applied.toxics, removed, strict=True) if not done]
        for proxy in applied.disabled:
            if not await attempt(
                f"re-enable proxy {proxy}", partial(self.client.update_proxy, proxy, enabled=True)
            ):
                left.disabled.append(proxy)
        for replica in applied.paused:
            if not await attempt(
                f"resume {replica}", partial(self._signal, replica, signal.SIGCONT)
            ):
                left.paused.append(replica)
        for replica in applied.killed:
            if not await attempt(f"start {replica} again", partial(self.backend.restart, replica)):
                left.killed.append(replica)
        if applied.loop is not None and not await attempt(
            "open the feedback loop", applied.loop.stop
        ):
            left.loop = applied.loop
        for flood in applied.floods:
            if not await attempt(f"stop the flood on {flood.host}:{flood.port}", flood.stop):
                left.floods.append(flood)
        for name in applied.kernel:
            if not await attempt(f"remove kernel fault {name}", partial(self._remove_kernel, name)):
                left.kernel.append(name)
        for replica in applied.partitioned:
            if not await attempt(f"reconnect {replica}", partial(self._heal, replica)):
                left.partitioned.append(replica)
        return problems, left

    async def _remove_kernel(self, name: str) -> None:
        assert isinstance(self.backend, KernelFaults)
        problems = await self.backend.remove_fault(name)
        if problems:
            raise RuntimeError("; ".join(problems))

    async def _heal(self, replica: str) -> None:
        assert isinstance(self.backend, Partitions)
        await self.backend.heal(replica)

    async def rollback(self) -> list[str]:
        """Undo every active fault (latest first), then remove any toxic still tagged with this
        run (an add whose answer was lost); the problems met, empty when all is clean."""
        problems: list[str] = []
        for applied in reversed(list(self.active.values())):
            problems += await self.remove(applied.fault)
        if isinstance(self.backend, KernelFaults):  # whatever the backend still holds
            problems += await self.backend.remove_all_faults()
        try:
            report = await self.client.run(rollback(self.client.api, Scope.run(self.run_id)))
        except Exception as exc:  # the server may be gone: say so
            reason = exc.what if isinstance(exc, GamedayError) else exc
            problems.append(f"sweep of run {self.run_id}'s toxics: {reason}")
        else:
            self.journal.write(
                "rollback.sweep", removed=[f"{r.name} on {r.proxy}" for r in report.removed]
            )
        return problems
