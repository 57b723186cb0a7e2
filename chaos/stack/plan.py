"""A stack plan: every replica's ports chosen and every command's placeholders resolvable.

Pure code (ports come from an injected allocator), so placeholder resolution and config-file
rendering are tested without starting anything. The plan exists before any process starts
because the harness needs the links' target addresses to create fault proxies, whose listen
addresses then go into the commands and files (`{link:…}`, `{links:…}`). Grammar:
docs/stack-spec.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jinja2

from chaos.errors import InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.stack.readiness import tcp_check

Allocate = Callable[[str, str, int, int], int]
"""(host, protocol, requested port or 0, how many consecutive ports) → the first port."""

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
    spans: dict[str, int] = field(default_factory=dict)
    """Ports that are ranges: name → how many consecutive ports (absent: one)."""
    interface: str | None = None
    """The machine's interface address for ports that must not be loopback (None: ``host``)."""
    interface_ports: frozenset[str] = frozenset()

    def host_of(self, port: str) -> str:
        if self.interface is not None and port in self.interface_ports:
            return self.interface
        return self.host

    def address(self, port: str) -> str:
        return format_address(self.host_of(port), self.ports[port])

    def addresses(self, port: str) -> list[str]:
        """Every address of a port: one, or each port of a range in order."""
        first = self.ports[port]
        return [
            format_address(self.host_of(port), first + n) for n in range(self.spans.get(port, 1))
        ]

    def span(self, port: str) -> str:
        """`20000-20015` for a range (`20000-20000` for one port): a server's range option."""
        first = self.ports[port]
        return f"{first}-{first + self.spans.get(port, 1) - 1}"


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class StackPlan:
    spec: StackSpec
    replicas: tuple[Replica, ...]

    def of(self, component: str) -> list[Replica]:
        return [r for r in self.replicas if r.component == component]

    def addrs(self, component: str, port: str) -> list[str]:
        return [address for r in self.of(component) for address in r.addresses(port)]

    def peer(self, component: str, of: Replica) -> Replica:
        """``component``'s replica with ``of``'s number (a sidecar's server), or its only one."""
        replicas = self.of(component)
        if len(replicas) == 1:
            return replicas[0]
        for replica in replicas:
            if replica.number == of.number:
                return replica
        raise InvalidInput(
            f"{of.name}: {component} has no replica {of.number} to pair with",
            fix=f"give {component} as many replicas as {of.component}, or make "
            f"{of.component} `sidecar_of: {component}`",
        )

    def waves(self) -> list[list[Replica]]:
        """Started replicas in start order: each wave once every `after` of it is healthy."""
        started = [r for r in self.replicas if r.command is not None]
        done: set[str] = {r.component for r in self.replicas if r.command is None}
        waves: list[list[Replica]] = []
        while len(done) < len(self.spec.components):
            ready = [
                name
                for name in self.spec.components
                if name not in done and all(d in done for d in self.spec.dependencies(name))
            ]
            if not ready:
                raise InvalidInput("the stack's `after` relations form a cycle")
            waves.append([r for r in started if r.component in ready])
            done.update(ready)
        return [wave for wave in waves if wave]

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

    def command(
        self,
        replica: Replica,
        proxies: Mapping[str, str],
        python: str,
        workdir: str = "",
        params: Mapping[str, str] | None = None,
    ) -> list[str]:
        """The replica's command with placeholders resolved and `python` → our interpreter.

        ``workdir``: the replica's own directory as the process sees it (`{dir}`, where its
        `files` are written); ``params``: the run's values of the spec's `params`.
        """
        if replica.command is None:
            raise ValueError(f"{replica.name} is external; it has no command")
        words = [self._resolve(word, replica, proxies, workdir, params) for word in replica.command]
        if words[0] == "python":
            words[0] = python
        return words

    def files(
        self,
        replica: Replica,
        proxies: Mapping[str, str],
        workdir: str,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The replica's configuration files, rendered: file name → text."""
        component = self.spec.components[replica.component]
        values = {**self.spec.params, **(params or {})}
        context = {
            "p": lambda text: self._resolve("{" + text + "}", replica, proxies, workdir, params),
            "params": values,
            "dir": workdir,
            "host": replica.host,
            "replica": replica.number,
        }
        rendered = {}
        for name, spec in component.files.items():
            source = spec.content if spec.content is not None else ""
            try:
                template = _TEMPLATES.from_string(source)
                rendered[name] = template.render(context)
            except jinja2.TemplateError as exc:
                line = getattr(exc, "lineno", None)
                where = f"{replica.component}.files.{name}" + (f":{line}" if line else "")
                raise InvalidInput(
                    f"{replica.name}: cannot render {name}: {exc}",
                    where=spec.template or where,
                    fix="use p('PLACEHOLDER'), params, dir, host or replica in the template",
                ) from None
        return rendered

    def _resolve(
        self,
        word: str,
        replica: Replica,
        proxies: Mapping[str, str],
        workdir: str = "",
        params: Mapping[str, str] | None = None,
    ) -> str:
        def value(match: re.Match[str]) -> str:
            kind, _, argument = match.group(1).partition(":")
            if kind == "replica":
                return str(replica.number)
            if kind == "host":
                return replica.host_of(argument) if argument else replica.host
            if kind == "port":
                return str(replica.ports[argument])
            if kind == "ports":
                return replica.span(argument)
            if kind == "dir":
                return workdir
            if kind == "file":
                return f"{workdir}/{argument}"
            if kind == "param":
                values = {**self.spec.params, **(params or {})}
                if argument not in values:
                    raise InvalidInput(f"{replica.name}: no param {argument!r}")
                return values[argument]
            if kind == "addr":
                component, _, port = argument.partition(".")
                return self.peer(component, replica).address(port)
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
        """Replica name → URL of its `metrics` or `health` endpoint, where the spec has one
        (a health check without a path is ``tcp://host:port``, see ``chaos.stack.readiness``)."""
        urls: dict[str, str] = {}
        for replica in self.replicas:
            endpoint = getattr(self.spec.components[replica.component], kind)
            if endpoint is not None:
                server = replica
                if getattr(endpoint, "component", None) is not None:
                    server = self.peer(endpoint.component, replica)
                address = server.address(endpoint.port)
                path = endpoint.path
                urls[replica.name] = f"http://{address}{path}" if path else tcp_check(address)
        return urls


def run_params(spec: StackSpec, given: Mapping[str, str] | None) -> dict[str, str]:
    """The values a run gives some of the spec's `params` (checked: every name is one)."""
    unknown = sorted(set(given or {}) - set(spec.params))
    if unknown:
        raise InvalidInput(
            f"stack {spec.name!r} has no params {unknown}",
            where="--param",
            fix=f"its params: {', '.join(spec.params) or 'none'}",
        )
    return dict(given or {})


_TEMPLATES = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
)


def check_template(source: str) -> str | None:
    """A template's syntax error with its line, or None (the spec loader asks at load time)."""
    try:
        _TEMPLATES.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    return None


def plan_stack(spec: StackSpec, allocate: Allocate, interface: str | None = None) -> StackPlan:
    """Choose every replica's ports (fixed ports as given, 0 through ``allocate``).

    ``interface``: the machine address of ports marked `interface` (local processes only;
    in a container or namespace the replica's own address is its interface).
    """
    replicas: list[Replica] = []
    for name, component in spec.components.items():
        if component.address is not None:
            host, _, port_text = component.address.rpartition(":")
            host = host.strip("[]")
            ports = {p: int(port_text) for p in component.ports}
            replicas.append(Replica(name, name, 1, host, ports, None, dict(component.env)))
            continue
        assert component.command is not None  # the model guarantees command xor address
        on_interface = frozenset(p for p, port in component.ports.items() if port.interface)
        for number, replica_name in enumerate(spec.replica_names(name), start=1):
            ports = {
                port_name: allocate(
                    interface if interface and port_name in on_interface else component.host,
                    port.protocol,
                    port.port,
                    port.range,
                )
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
                    spans={p: port.range for p, port in component.ports.items() if port.range > 1},
                    interface=interface if on_interface else None,
                    interface_ports=on_interface,
                )
            )
    return StackPlan(spec, tuple(replicas))
