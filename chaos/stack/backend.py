"""The interface every stack backend keeps, and the one place that picks a backend by name.

The runner and the fault driver use only this: ``plan()`` (ports and addresses known before
anything starts), ``links``, ``start(proxies)``, ``send_signal``, ``restart`` and ``stop``.
``proxy_host`` says where fault proxies must listen for the stack to reach them (loopback for
local processes; the harness's veth for namespaces; the proxy container for Docker, which
also offers ``start_proxy()`` because its stack cannot reach the harness's loopback).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from chaos.errors import InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.faults.client.models import ProxySpec
from chaos.stack.capabilities import require
from chaos.stack.ledger import ledger_path
from chaos.stack.local import LocalProcessBackend, RunningStack
from chaos.stack.plan import StackPlan
from chaos.stack.processes import ProcessRef


class StackBackend(Protocol):
    on_waiting: Callable[[list[str]], None]
    """Told, at each readiness check of ``start``, which replicas it still waits for."""

    def plan(self) -> StackPlan: ...

    @property
    def links(self) -> dict[str, list[str]]: ...

    async def start(self, proxies: Mapping[str, str] | None = None) -> RunningStack: ...

    def send_signal(self, name: str, sig: signal.Signals) -> None: ...

    async def restart(self, name: str, grace: float | None = None) -> ProcessRef: ...

    async def stop(self) -> list[str]: ...


@runtime_checkable
class KernelFaults(Protocol):
    """A backend that makes network faults in the kernel of its stack's namespaces (netns)."""

    async def add_loss(
        self,
        name: str,
        link: str,
        probability: float,
        *,
        direction: Literal["upstream", "downstream", "both"] = "both",
        burst_enter: float = 0.0,
        burst: float = 0.0,
    ) -> None: ...

    async def set_capacity(
        self, name: str, link: str, rate_bps: int, discipline: Literal["tbf", "htb"] = "tbf"
    ) -> None: ...

    async def link_down(self, name: str, replica: str) -> None: ...

    async def remove_fault(self, name: str) -> list[str]: ...

    async def remove_all_faults(self) -> list[str]: ...


@runtime_checkable
class Partitions(Protocol):
    """A backend that cuts a replica off its network and connects it again (Docker)."""

    async def partition(self, name: str) -> None: ...

    async def heal(self, name: str) -> None: ...


def proxy_host(backend: StackBackend) -> str:
    """The address fault proxies listen on for this backend's stack."""
    host = getattr(backend, "proxy_host", "127.0.0.1")
    return str(host)


def link_proxies(
    backend: StackBackend,
    spec: StackSpec,
    plan: StackPlan,
    links: list[str] | None = None,
    *,
    run: str | None = None,
) -> list[ProxySpec]:
    """One proxy per link target, named as ``gameday run`` names them (``LINK`` or ``LINK#N``).

    Shared by the runner and the pytest plugin so a test's ``fault_client`` finds the proxies
    under the same names an experiment's faults use.
    """
    listen = f"{proxy_host(backend)}:0"
    return [
        ProxySpec(
            name=name,
            upstream=target,
            listen=listen,
            protocol="udp" if spec.links[link].protocol == "udp" else None,
            run=run,
        )
        for link in (plan.links if links is None else links)
        for name, target in zip(plan.proxy_names(link), plan.links[link], strict=True)
    ]


def require_images(name: str, spec: StackSpec, images: Mapping[str, str]) -> None:
    """``--image COMPONENT=IMAGE`` names components of ``spec``, on the Docker backend only:
    checked before anything starts (`run` and `run --dry-run` too, not only `stack up`)."""
    if images and name != "docker":
        raise InvalidInput(
            f"--image applies to the docker backend, not {name}", fix="add --backend docker"
        )
    unknown = sorted(set(images) - set(spec.components))
    if unknown:
        raise InvalidInput(
            f"images given for unknown components {unknown}",
            where="--image",
            fix=f"components: {', '.join(spec.components)}",
        )


def make_backend(
    name: str,
    spec: StackSpec,
    run_dir: Path,
    run_id: str,
    *,
    tied: bool = False,
    health_timeout: float | None = None,
    images: Mapping[str, str] | None = None,
    fault_kinds: tuple[str, ...] = (),
    params: Mapping[str, str] | None = None,
) -> StackBackend:
    """The backend called ``name``, after checking it runs here and can make ``fault_kinds``.

    ``images`` (component → image) applies to Docker only; ``tied`` to processes (local and
    namespaces), which die with the harness and are listed by run id (``chaos.stack.ledger``);
    containers are removed by run id instead.
    ``params``: values for the spec's `params` (its defaults otherwise).
    """
    require(name, fault_kinds)
    require_images(name, spec, images or {})
    listed = ledger_path(run_id) if tied else None  # what `stack down --run-id` finds
    if name == "docker":
        from chaos.stack.docker import DockerBackend

        return DockerBackend(
            spec,
            run_dir,
            run_id,
            images=images,
            health_timeout=health_timeout or 60.0,
            params=params,
        )
    if name == "netns":
        from chaos.stack.netns import NamespaceBackend

        return NamespaceBackend(
            spec,
            run_dir,
            run_id,
            tied=tied,
            health_timeout=health_timeout or 20.0,
            params=params,
            ledger=listed,
        )
    return LocalProcessBackend(
        spec,
        run_dir,
        tied=tied,
        health_timeout=health_timeout or 20.0,
        params=params,
        ledger=listed,
    )
