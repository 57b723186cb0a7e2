"""The network-namespace stack backend: each replica in its own namespace, faults in the kernel.

Each replica runs (``ip netns exec``) in a namespace whose ``eth0`` is a veth into a bridge
in the run's hub namespace; the harness reaches them through its own veth into that bridge
(``netns_topology``). Ports are fixed per namespace (the spec's port, or 8000 + the port's
index), so the plan is known before anything starts, as the local backend's is.

Kernel faults act on the link's target replicas: loss with nftables ``numgen`` (random or
bursty, UDP or TCP, ``chaos.faults.kernel.nft``), shared egress capacity with ``tbf``/``htb``
(``chaos.faults.kernel.tc``), and the replica's link set down. They live inside the run's
namespaces, so deleting the namespaces (``stop``, or ``cleanup`` after a killed run) removes
every one of them with the processes' network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.faults.kernel import nft, tc
from chaos.faults.kernel.commands import in_namespace, run, run_sync
from chaos.stack.local import LocalProcessBackend, RunningStack
from chaos.stack.netns_probe import has_netem
from chaos.stack.netns_topology import Topology, namespaces_of, run_key, used_networks
from chaos.stack.plan import StackPlan, plan_stack

FIRST_PORT = 8000


class NamespaceBackend(LocalProcessBackend):
    def __init__(
        self,
        spec: StackSpec,
        run_dir: Path,
        run_id: str,
        *,
        health_timeout: float = 20.0,
        grace: float = 5.0,
        python: str = sys.executable,
        tied: bool = False,
        params: Mapping[str, str] | None = None,
        ledger: Path | None = None,
    ) -> None:
        super().__init__(
            spec,
            run_dir,
            health_timeout=health_timeout,
            grace=grace,
            python=python,
            tied=tied,
            params=params,
            ledger=ledger,
        )
        self.run_id = run_id
        self._topology: Topology | None = None
        self._built = False
        self._faults: dict[str, list[tuple[str, list[str]]]] = {}
        """Fault name → (namespace, the command that undoes it), for removal and rollback."""

    # ------------------------------------------------------------------ plan and start
    # The namespaces are built with the plan, not at start: the harness creates fault proxies
    # between the two, and they must listen on the harness's veth (``proxy_host``).

    def _make_plan(self) -> StackPlan:
        if os.geteuid() != 0:
            raise InfrastructureError(
                part="stack",
                what="netns backend unavailable: network namespaces need root",
                fix="run gameday as root (or in a container with CAP_NET_ADMIN and "
                "CAP_SYS_ADMIN), or choose --backend local or docker",
            )
        counters: dict[str, int] = {}

        def allocate(host: str, protocol: str, port: int, count: int) -> int:
            del host, protocol
            if port:
                return port
            counters["n"] = counters.get("n", FIRST_PORT - 1) + count
            return counters["n"] - count + 1

        draft = plan_stack(self.spec, allocate)
        names = [r.name for r in draft.replicas if r.command is not None]
        topology = self._topology = Topology.of(self.run_id, names, used_networks())
        self._built = True  # from the first command on: stop() removes whatever was made
        for argv in topology.setup():
            run_sync(argv)
        return StackPlan(
            draft.spec,
            tuple(
                dataclasses.replace(r, host=topology.address(r.name), interface=None)
                if r.command
                else r
                for r in draft.replicas
            ),
        )

    @property
    def topology(self) -> Topology:
        self.plan()
        assert self._topology is not None
        return self._topology

    @property
    def proxy_host(self) -> str:
        """Where a fault proxy must listen for the namespaces to reach it: the harness's veth."""
        return self.topology.host_address

    def _launch_command(self, replica: str, command: list[str]) -> list[str]:
        return in_namespace(self.topology.namespace(replica), command)

    async def start(self, proxies: Mapping[str, str] | None = None) -> RunningStack:
        try:
            return await super().start(proxies)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> list[str]:
        killed = await super().stop()
        if self._topology is not None and self._built:
            await cleanup(self.run_id)
            self._built = False
            self._faults.clear()
        return killed

    # ------------------------------------------------------------------ kernel faults

    def _targets(self, link: str) -> list[tuple[str, int]]:
        """(namespace, port) of every replica a link reaches."""
        spec_link = self.spec.links.get(link)
        if spec_link is None:
            raise InvalidInput(f"no link {link!r}", fix=f"links: {', '.join(self.spec.links)}")
        replicas = self.plan().of(spec_link.component)
        if any(r.command is None for r in replicas):
            raise InvalidInput(f"{link} reaches an external component; no namespace to fault")
        return [(self.topology.namespace(r.name), r.ports[spec_link.port]) for r in replicas]

    def _check_new(self, name: str) -> None:
        if name in self._faults:
            raise InvalidInput(f"kernel fault {name!r} is already applied")

    async def add_loss(
        self,
        name: str,
        link: str,
        probability: float,
        *,
        direction: nft.Direction = "both",
        burst_enter: float = 0.0,
        burst: float = 0.0,
    ) -> None:
        """Drop the link's packets (its protocol, its target port) in the target's kernel."""
        self._check_new(name)
        protocol = self.spec.links[link].protocol if link in self.spec.links else "tcp"
        table = f"gd_{_safe(name)}"
        rule = nft.LossRule(
            table, (protocol,), probability, direction, burst_enter, burst, port=None
        )
        undo = self._faults[name] = []
        for namespace, port in self._targets(link):
            script = nft.ruleset(dataclasses.replace(rule, port=port))
            await run(in_namespace(namespace, ["nft", "-f", "-"]), stdin=script)
            undo.append((namespace, ["nft", *nft.delete(table)]))

    async def set_capacity(
        self, name: str, link: str, rate_bps: int, discipline: tc.Discipline = "tbf"
    ) -> None:
        """One egress budget for every connection leaving each target replica of ``link``."""
        self._check_new(name)
        undo = self._faults[name] = []
        for namespace, _ in self._targets(link):
            for argv in tc.capacity("eth0", rate_bps, discipline):
                await run(in_namespace(namespace, ["tc", *argv]))
            undo.append((namespace, ["tc", *tc.clear("eth0")]))

    async def add_delay(self, name: str, link: str, delay: float, jitter: float = 0.0) -> None:
        """Delay every packet leaving the link's targets with ``netem``, where the kernel has
        it; elsewhere a clear refusal (a latency fault through the fault proxy works on every
        backend)."""
        self._check_new(name)
        if not has_netem():
            raise InfrastructureError(
                part="stack",
                what="this kernel has no netem (sch_netem), so no kernel-level delay",
                where=f"fault {name!r}",
                fix="use a latency fault: it goes through the fault proxy on every backend",
            )
        undo = self._faults[name] = []
        for namespace, _ in self._targets(link):
            argv = tc.netem_delay("eth0", delay * 1000, jitter * 1000)
            await run(in_namespace(namespace, ["tc", *argv]))
            undo.append((namespace, ["tc", *tc.clear("eth0")]))

    async def link_down(self, name: str, replica: str) -> None:
        """Take a replica's only network link down (its loopback stays up)."""
        self._check_new(name)
        namespace = self.topology.namespace(self._replica(replica))
        await run(["ip", "-n", namespace, "link", "set", "eth0", "down"])
        self._faults[name] = [(namespace, ["ip", "link", "set", "eth0", "up"])]

    def _replica(self, name: str) -> str:
        if name not in self.topology.replicas:
            raise InvalidInput(
                f"no replica {name!r} in a namespace", fix=", ".join(self.topology.replicas)
            )
        return name

    async def remove_fault(self, name: str) -> list[str]:
        """Undo one kernel fault; the problems met (empty when it was undone cleanly)."""
        problems = []
        for namespace, argv in self._faults.pop(name, []):
            try:
                await run(in_namespace(namespace, argv))
            except InfrastructureError as exc:
                problems.append(f"{name} in {namespace}: {exc.what}")
        return problems

    async def remove_all_faults(self) -> list[str]:
        problems = []
        for name in reversed(list(self._faults)):
            problems += await self.remove_fault(name)
        return problems


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)[:40]


async def cleanup(run_id: str) -> list[str]:
    """Kill every process in the run's namespaces and delete them (idempotent); their names.

    Deleting a namespace removes the veths inside it, and the hub's removal takes the harness's
    end with it; a namespace with processes left in it would outlive ``ip netns del`` as long as
    they run, so they are killed first.
    """
    key = run_key(run_id)
    listed = await run(["ip", "netns", "list"], check=False)
    names = namespaces_of(key, listed.splitlines())
    for namespace in names:
        pids = await run(["ip", "netns", "pids", namespace], check=False)
        for pid in pids.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    for namespace in names:
        await run(["ip", "netns", "del", namespace], check=False)
    await run(["ip", "link", "del", f"gd{key}h"], check=False)
    return names
