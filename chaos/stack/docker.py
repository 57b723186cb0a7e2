"""The Docker stack backend: each replica a container on a private network of the run's own.

The same life cycle as the local backend (``plan`` → ``links`` → ``start(proxies)`` →
``send_signal``/``restart`` → ``stop``), so the runner and the fault driver need no
Docker-specific code. The network is ``internal`` (no route out of it, no NAT) on a /24 of
10.214.0.0/16 that nothing on this host uses, and every container gets a fixed address on
it, so the plan (and the fault proxies' upstreams) is known before anything starts. The
harness reaches the containers through the bridge's gateway address on the host.

Component faults map onto the engine: SIGKILL/SIGTERM → ``kill``, SIGSTOP/SIGCONT →
``pause``/``unpause`` (the cgroup freezer: the whole container hangs), ``restart``; and one
more a process cannot have: ``partition`` disconnects a replica from the network, ``heal``
connects it again at its address. Everything is labelled ``gameday.run=<run id>``, so
``cleanup(run_id)`` removes a killed run's containers and network too.

Images: every component runs its own from ``images`` (component → image, `--image`), or
``image``, or ``$GAMEDAY_IMAGE``, or what ``gameday images build --stack NAME`` made from this
source tree for the stack (the Debian packages its spec's `image:` names), with the spec's
command (``python`` as the first word runs the image's ``python``).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import signal
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.stack.docker_engine import COMPONENT_LABEL, RUN_LABEL, client
from chaos.stack.images import default_image
from chaos.stack.local import RunningStack, keep_files
from chaos.stack.netns_topology import choose_subnet, run_key, used_networks
from chaos.stack.plan import StackPlan, plan_stack, run_params
from chaos.stack.processes import ENDING_SIGNALS, ProcessRef, ending, start_ticks
from chaos.stack.readiness import wait_for_external, wait_until_ready

POOL = ipaddress.IPv4Network("10.214.0.0/16")
WORKDIR = "/gameday"
"""Each container's replica directory is ``WORKDIR/REPLICA`` (`{dir}`), files copied in."""
FIRST_PORT = 8000
PROXY_API_PORT = 8474
PROXY = "fault-proxy"


class DockerBackend:
    def __init__(
        self,
        spec: StackSpec,
        run_dir: Path,
        run_id: str,
        *,
        image: str | None = None,
        images: Mapping[str, str] | None = None,
        health_timeout: float = 60.0,
        grace: float = 5.0,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.params = run_params(spec, params)
        self.run_dir = run_dir
        self.run_id = run_id
        self.key = run_key(run_id)
        self.image = image
        self.images = dict(images or {})
        self.health_timeout = health_timeout
        self.grace = grace
        self._engine: Any = None
        self._plan: StackPlan | None = None
        self._subnet: ipaddress.IPv4Network | None = None
        self._network: Any = None
        self._containers: dict[str, Any] = {}
        self.on_waiting: Callable[[list[str]], None] = lambda names: None
        """Told which containers start-up still waits for, at each check (the live view)."""
        self._stack: RunningStack | None = None

    # ------------------------------------------------------------------ plan

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = client()
        return self._engine

    def plan(self) -> StackPlan:
        """Fixed ports (each container has all of them) and one address per replica."""
        if self._plan is not None:
            return self._plan
        counter = [FIRST_PORT - 1]

        def allocate(host: str, protocol: str, port: int, count: int) -> int:
            del host, protocol
            if port:
                return port
            counter[0] += count
            return counter[0] - count + 1

        draft = plan_stack(self.spec, allocate)
        started = [r for r in draft.replicas if r.command is not None]
        if len(started) > 250:
            raise InvalidInput("at most 250 replicas fit one Docker network /24")
        subnet = self._subnet = choose_subnet(self.key, self._taken(), POOL)
        addresses = {r.name: str(subnet[i + 2]) for i, r in enumerate(started)}
        self._plan = StackPlan(
            draft.spec,
            tuple(
                replace(r, host=addresses[r.name], interface=None) if r.command else r
                for r in draft.replicas
            ),
        )
        return self._plan

    def _taken(self) -> list[ipaddress.IPv4Network]:
        taken = used_networks()
        for network in self.engine.networks.list():
            for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
                if "Subnet" in config and ":" not in config["Subnet"]:
                    taken.append(ipaddress.IPv4Network(config["Subnet"]))
        return taken

    @property
    def links(self) -> dict[str, list[str]]:
        return self.plan().links

    @property
    def proxy_host(self) -> str:
        """The fault proxy container's address: proxies listen there for the stack to dial."""
        self.plan()
        assert self._subnet is not None
        return str(self._subnet[254])

    def name_of(self, replica: str) -> str:
        return f"gd-{self.key}-{replica}"

    def _image_for(self, component: str) -> str:
        if component in self.images:
            return self.images[component]
        if self.image is None:
            self.image = default_image(self.engine, self.spec)
        return self.image

    # ------------------------------------------------------------------ start

    async def _ensure_network(self) -> None:
        if self._network is not None:
            return
        self.plan()
        assert self._subnet is not None
        import docker.types

        ipam = docker.types.IPAMConfig(
            pool_configs=[
                docker.types.IPAMPool(subnet=str(self._subnet), gateway=str(self._subnet[1]))
            ]
        )
        self._network = await asyncio.to_thread(
            self.engine.networks.create,
            f"gd-{self.key}",
            driver="bridge",
            internal=True,
            ipam=ipam,
            labels={RUN_LABEL: self.run_id},
        )

    async def _run(
        self,
        name: str,
        component: str,
        image: str,
        command: list[str],
        address: str,
        env: dict[str, str],
        files: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> Any:
        import docker.errors

        api = self.engine.api
        networking = api.create_networking_config(
            {self._network.name: api.create_endpoint_config(ipv4_address=address)}
        )
        try:
            created = await asyncio.to_thread(
                api.create_container,
                image,
                command=command,
                name=self.name_of(name),
                hostname=name,
                environment=env,
                labels={RUN_LABEL: self.run_id, COMPONENT_LABEL: component},
                host_config=api.create_host_config(network_mode=self._network.name, init=True),
                networking_config=networking,
                user=user or "",
            )
        except docker.errors.ImageNotFound:
            raise InfrastructureError(
                part="stack",
                what=f"no image {image!r} for {name}",
                fix=f"run `gameday images build --stack {self.spec.name}` (or the spec file's "
                "path), or give your own: --image COMPONENT=IMAGE, or $GAMEDAY_IMAGE for all",
            ) from None
        container = self.engine.containers.get(created["Id"])
        self._containers[name] = container
        if files is not None:
            await asyncio.to_thread(container.put_archive, "/", _directory_tar(name, files))
        await asyncio.to_thread(container.start)
        return container

    async def start_proxy(self) -> str:
        """Run the embedded fault proxy in its own container on the network; its API URL."""
        await self._ensure_network()
        await self._run(
            PROXY,
            PROXY,
            self._image_for(PROXY),
            ["gameday", "proxy", "serve", "-host", self.proxy_host, "-port", str(PROXY_API_PORT)],
            self.proxy_host,
            {},
        )
        url = f"http://{self.proxy_host}:{PROXY_API_PORT}"
        await self._wait_healthy({PROXY: f"{url}/version"}, [PROXY])
        return url

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
        started = [r for r in plan.replicas if r.command is not None]
        stack = RunningStack(
            spec=self.spec.name,
            run_dir=self.run_dir,
            processes=[],
            addresses={r.name: {p: r.address(p) for p in r.ports} for r in plan.replicas},
            links=plan.links,
            dialled={link: plan.dial(link, proxies) for link in plan.links},
            metrics=plan.endpoints("metrics"),
            health=plan.endpoints("health"),
            logs={r.name: self.run_dir / "logs" / f"{r.name}.log" for r in started},
        )
        try:
            await self._ensure_network()
            await wait_for_external(plan, stack.health, self.health_timeout, self.on_waiting)
            for wave in plan.waves():
                for replica in wave:
                    workdir = f"{WORKDIR}/{replica.name}"
                    files = plan.files(replica, proxies, workdir, self.params)
                    keep_files(self.run_dir, replica.name, files)
                    await self._run(
                        replica.name,
                        replica.component,
                        self._image_for(replica.component),
                        plan.command(replica, proxies, "python", workdir, self.params),
                        replica.host,
                        replica.env,
                        files,
                        self.spec.components[replica.component].user,
                    )
                await self._wait_healthy(stack.health, [r.name for r in wave])
        except BaseException:
            await self.stop()
            raise
        stack.processes = [self._ref(r.name) for r in started]
        self._stack = stack
        return stack

    def _ending(self, name: str) -> None:
        """The run ends this replica's container itself: its exit is no crash to report."""
        for ref in self._stack.processes if self._stack is not None else []:
            if ref.name == name:
                ending(ref)

    def _ref(self, name: str) -> ProcessRef:
        container = self._container(name)
        container.reload()
        pid = int(container.attrs["State"].get("Pid") or 0)
        return ProcessRef(name, pid, start_ticks(pid) if pid else None)

    def _container(self, name: str) -> Any:
        container = self._containers.get(name)
        if container is None:
            known = ", ".join(n for n in self._containers if n != PROXY) or "none"
            raise InfrastructureError(
                part="stack", what=f"no running replica {name!r}", fix=f"running: {known}"
            )
        return container

    async def _wait_healthy(self, health: Mapping[str, str], names: list[str]) -> None:
        async def up(name: str) -> bool:
            container = self._container(name)
            await asyncio.to_thread(container.reload)
            if container.status in ("exited", "dead"):
                tail = container.logs(tail=15).decode(errors="replace")
                raise InfrastructureError(
                    part="stack",
                    what=f"{name} exited during start-up; last lines of its log:\n{tail}",
                    where=f"container {container.name}",
                    fix="correct the component's command, configuration or image",
                )
            return bool(container.status == "running")

        await wait_until_ready(
            names,
            health,
            timeout=self.health_timeout,
            up=up,
            where=lambda pending: ", ".join(self.name_of(n) for n in pending),
            fix="`docker logs` the containers; for slow starts raise it: "
            "`gameday run --health-timeout 2m`, `gameday stack up --timeout 2m`",
            on_waiting=self.on_waiting,
            poll=0.1,
        )

    # ------------------------------------------------------------------ faults

    def send_signal(self, name: str, sig: signal.Signals) -> None:
        """SIGSTOP/SIGCONT pause and unpause the whole container; other signals are sent."""
        container = self._container(name)
        if sig in ENDING_SIGNALS:
            self._ending(name)
        container.reload()
        if sig is signal.SIGSTOP:
            if container.status == "running":
                container.pause()
        elif sig is signal.SIGCONT:
            if container.status == "paused":
                container.unpause()
        elif container.status in ("running", "paused"):
            container.kill(signal=int(sig))

    async def restart(self, name: str, grace: float | None = None) -> ProcessRef:
        """Stop the replica's container (if it runs) and start it again, same address."""
        assert self._stack is not None, "start() the stack first"
        container = self._container(name)
        self._ending(name)
        await asyncio.to_thread(container.reload)
        if container.status == "paused":
            await asyncio.to_thread(container.unpause)
        timeout = round(self.grace if grace is None else grace)
        await asyncio.to_thread(container.restart, timeout=timeout)
        await self._wait_healthy(self._stack.health, [name])
        ref = self._ref(name)
        self._stack.processes = [ref if p.name == name else p for p in self._stack.processes]
        return ref

    async def partition(self, name: str) -> None:
        """Cut the replica off the network: its peers' packets go nowhere, no RST, no FIN."""
        await asyncio.to_thread(self._network.disconnect, self._container(name), force=True)

    async def heal(self, name: str) -> None:
        """Connect a partitioned replica again, at its planned address."""
        host = next(r.host for r in self.plan().replicas if r.name == name)
        await asyncio.to_thread(self._network.connect, self._container(name), ipv4_address=host)

    # ------------------------------------------------------------------ stop

    async def stop(self) -> list[str]:
        """Stop and remove every container (logs saved first), all at once, the fault proxy
        last, then the network; idempotent. The replicas that needed SIGKILL after the grace
        period."""
        containers, self._containers = self._containers, {}
        proxy = containers.pop(PROXY, None)
        outcomes = await asyncio.gather(
            *(self._stop_one(name, c) for name, c in containers.items()), return_exceptions=True
        )
        if proxy is not None:
            await self._stop_one(PROXY, proxy)
        network, self._network = self._network, None
        if network is not None:
            await asyncio.to_thread(network.remove)
        await cleanup(self.run_id)  # anything a partial start left unregistered
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [name for name, killed in zip(containers, outcomes, strict=True) if killed is True]

    async def _stop_one(self, name: str, container: Any) -> bool:
        """SIGTERM, SIGKILL after the grace period; True when it needed the SIGKILL."""
        try:
            await asyncio.to_thread(container.reload)
            if container.status == "paused":
                await asyncio.to_thread(container.unpause)
            began = time.monotonic()
            await asyncio.to_thread(container.stop, timeout=round(self.grace))
            await asyncio.to_thread(container.reload)
            killed = bool(
                container.attrs["State"].get("ExitCode") == 137
                and time.monotonic() - began >= self.grace
            )
            log = self.run_dir / "logs" / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_bytes(await asyncio.to_thread(container.logs))
            return killed
        finally:
            await asyncio.to_thread(container.remove, force=True)


def _directory_tar(replica: str, files: Mapping[str, str]) -> bytes:
    """A tar of ``WORKDIR/REPLICA`` with the rendered files, writable by any user: the
    component may run as its own (`user`), whose id the image decides."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in (WORKDIR.strip("/"), f"{WORKDIR.strip('/')}/{replica}"):
            entry = tarfile.TarInfo(path)
            entry.type = tarfile.DIRTYPE
            entry.mode = 0o1777
            archive.addfile(entry)
        for name, text in files.items():
            data = text.encode()
            entry = tarfile.TarInfo(f"{WORKDIR.strip('/')}/{replica}/{name}")
            entry.size = len(data)
            entry.mode = 0o644
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


async def cleanup(run_id: str, grace: float = 5.0) -> list[str]:
    """Stop (SIGTERM, SIGKILL after ``grace``) and remove every container labelled with
    ``run_id``, then its networks (idempotent); their names.

    For what a kept or killed run left behind: `gameday stack down` and `gameday rollback`.
    """
    engine = client()
    label = f"{RUN_LABEL}={run_id}"
    containers = await asyncio.to_thread(engine.containers.list, all=True, filters={"label": label})

    async def stop(container: Any) -> None:
        if container.status == "paused":
            await asyncio.to_thread(container.unpause)
        if container.status in ("running", "paused"):
            await asyncio.to_thread(container.stop, timeout=round(grace))

    await asyncio.gather(*(stop(c) for c in containers), return_exceptions=True)
    removed = []
    for container in containers:
        await asyncio.to_thread(container.remove, force=True)
        removed.append(f"container {container.name}")
    for network in await asyncio.to_thread(engine.networks.list, filters={"label": label}):
        await asyncio.to_thread(network.remove)
        removed.append(f"network {network.name}")
    return removed
