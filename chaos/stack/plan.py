"""A stack plan: every replica's ports chosen and every command's placeholders resolvable.

Pure code (ports come from an injected allocator), so placeholder resolution is tested without
starting anything. The plan exists before any process starts because the harness needs the
links' target addresses to create fault proxies, whose listen addresses then go into the
commands (`{link:…}`, `{links:…}`). Grammar: docs/stack-spec.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chaos.errors import InvalidInput
from chaos.experiment.stack import StackSpec

Allocate = Callable[[str, str, int], int]
"""(host, protocol, requested port or 0) → the port to use."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Replica:
    name: str
    """`edge-2`, or the component's own name when it has one replica."""
    component: str
    number: int
    host: str
    ports: dict[str, int]
    command: tuple[str, ...] | None
    """The unresolved command; None for a component that already runs (`address`)."""
    env: dict[str, str] = field(default_factory=dict)

    def address(self, port: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.ports[port]}"


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class StackPlan:
    spec: StackSpec
    replicas: tuple[Replica, ...]

    def of(self, component: str) -> list[Replica]:
        return [r for r in self.replicas if r.component == component]

    def addrs(self, component: str, port: str) -> list[str]:
        return [r.address(port) for r in self.of(component)]

    @property
    def links(self) -> dict[str, list[str]]:
        """Each link's target addresses, one per replica of its target (what proxies forward to)."""
        return {
            name: self.addrs(link.component, link.port) for name, link in self.spec.links.items()
        }

    def proxy_names(self, link: str) -> list[str]:
        """Proxy names for a link: `LINK` for one target replica, `LINK#N` for several."""
        targets = self.links[link]
        return [link] if len(targets) == 1 else [f"{link}#{n}" for n in range(1, len(targets) + 1)]

    def dial(self, link: str, proxies: Mapping[str, str]) -> list[str]:
        """What a client of ``link`` dials per target replica: the proxy if there is one."""
        return [
            proxies.get(name, target)
            for name, target in zip(self.proxy_names(link), self.links[link], strict=True)
        ]

    def command(self, replica: Replica, proxies: Mapping[str, str], python: str) -> list[str]:
        """The replica's command with placeholders resolved and `python` → our interpreter."""
        if replica.command is None:
            raise ValueError(f"{replica.name} is external; it has no command")
        words = [self._resolve(word, replica, proxies) for word in replica.command]
        if words[0] == "python":
            words[0] = python
        return words

    def _resolve(self, word: str, replica: Replica, proxies: Mapping[str, str]) -> str:
        def value(match: re.Match[str]) -> str:
            kind, _, argument = match.group(1).partition(":")
            if kind == "replica":
                return str(replica.number)
            if kind == "host":
                return replica.host
            if kind == "port":
                return str(replica.ports[argument])
            if kind == "addrs":
                component, _, port = argument.partition(".")
                return ",".join(self.addrs(component, port))
            if kind in ("link", "links"):
                dialled = self.dial(argument, proxies)
                if kind == "link" and len(dialled) != 1:
                    raise InvalidInput(
                        f"{replica.name}: {{link:{argument}}} needs one target, "
                        f"found {len(dialled)}",
                        fix=f"use {{links:{argument}}} for a replicated target",
                    )
                return ",".join(dialled)
            raise InvalidInput(f"{replica.name}: unknown placeholder {match.group(0)}")

        return _PLACEHOLDER.sub(value, word)

    def endpoints(self, kind: str) -> dict[str, str]:
        """Replica name → URL of its `metrics` or `health` endpoint, where the spec has one."""
        urls: dict[str, str] = {}
        for replica in self.replicas:
            endpoint = getattr(self.spec.components[replica.component], kind)
            if endpoint is not None:
                urls[replica.name] = f"http://{replica.address(endpoint.port)}{endpoint.path}"
        return urls


def plan_stack(spec: StackSpec, allocate: Allocate) -> StackPlan:
    """Choose every replica's ports (fixed ports as given, 0 through ``allocate``)."""
    replicas: list[Replica] = []
    for name, component in spec.components.items():
        if component.address is not None:
            host, _, port_text = component.address.rpartition(":")
            host = host.strip("[]")
            ports = {p: int(port_text) for p in component.ports}
            replicas.append(Replica(name, name, 1, host, ports, None, dict(component.env)))
            continue
        assert component.command is not None  # the model guarantees command xor address
        for number, replica_name in enumerate(component.replica_names(name), start=1):
            ports = {
                port_name: allocate(component.host, port.protocol, port.port)
                for port_name, port in component.ports.items()
            }
            replicas.append(
                Replica(
                    replica_name,
                    name,
                    number,
                    component.host,
                    ports,
                    tuple(component.command),
                    dict(component.env),
                )
            )
    return StackPlan(spec, tuple(replicas))
