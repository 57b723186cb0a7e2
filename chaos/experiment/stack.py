"""The stack spec model (docs/stack-spec.md): components, their ports, and the links faults touch.

Everything a backend or the fault proxy will later rely on is checked here, at load time, so a
typo in a spec fails in `gameday validate` instead of minutes into a run: links target an
existing `COMPONENT.PORT` of the same protocol, metrics and health checks name a declared TCP
port, and every `{placeholder}` in a command resolves.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from chaos.experiment.base import Model
from chaos.experiment.errors import Problem
from chaos.experiment.tagged import field_error, nearest
from chaos.experiment.workload import Ears

Protocol = Literal["tcp", "udp"]
ROLES = ("listener", "speaker", "client")
"""The harness's own workload roles; a link may start at any other name as well (a role of
the stack's, e.g. `source->icecast`), or at a component."""

_NAME = r"[a-z][a-z0-9_]*(?:-[a-z0-9_]+)*"
_LINK_NAME = re.compile(rf"({_NAME})->({_NAME})")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ADDRESS = re.compile(r"(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})")

Name = Annotated[str, Field(pattern=rf"^{_NAME}$", max_length=63)]
"""Component and port names: lower-case words joined by `-` (`edge`, `origin`, `http`)."""


class Port(Model):
    protocol: Protocol = "tcp"
    port: int = Field(
        default=0, strict=True, ge=0, le=65535, description="0 = allocate a free port"
    )
    range: int = Field(default=1, strict=True, ge=1, le=1024)
    """Consecutive ports from `port` (a media server's RTP range); a link to it gets one proxy
    per port."""
    interface: bool = False
    """The port listens on the machine's network interface, not on the component's loopback
    host: for servers that never use loopback (an ICE agent gathers only interface addresses).
    Inside a container or namespace that is the replica's own address anyway."""

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.port and self.port + self.range - 1 > 65535:
            raise field_error("range", f"{self.port} + {self.range} ports pass 65535")
        return self


class HttpEndpoint(Model):
    """An HTTP path on one of the component's ports (the metrics scrape)."""

    port: Name
    path: str = Field(pattern=r"^/\S*$")


class Readiness(Model):
    """When a component may be used (`health:`): its URL answers 200 (`path`), or, without a
    path, its TCP port accepts a connection. Checked for external components (`address:`) too,
    before anything starts."""

    port: Name
    path: str | None = Field(default=None, pattern=r"^/\S*$")
    """An HTTP path answering 200 when ready (only its status is read, so a stream will do:
    an Icecast mount answers 200 once its source is on air); none: a TCP connect."""
    component: Name | None = None
    """The URL is on this other component's port (its replica of the same number, or its only
    one): a process without an HTTP server of its own is ready when another serves what it
    makes (a packager when the origin has its playlist, a source when its mount answers)."""


FileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)]


class ConfigFile(Model):
    """A configuration file the backend writes for each replica before it starts: a Jinja2
    template (`template`, a path relative to the spec file, read when the spec is loaded) or
    inline `content`. In the template, ``p('PLACEHOLDER')`` is any command placeholder
    (``{{ p('port:http') }}``, ``{{ p('link:edge->origin') }}``), and ``params``, ``dir``,
    ``host`` and ``replica`` are there by name."""

    template: str | None = None
    content: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.template is None) == (self.content is None):
            raise ValueError("give exactly one of `template` (a file) or `content` (inline)")
        return self


class Component(Model):
    command: list[str] | None = Field(default=None, min_length=1)
    replicas: int = Field(default=1, strict=True, ge=1, le=64)
    host: str = "127.0.0.1"
    ports: dict[Name, Port] = Field(default_factory=dict)
    metrics: HttpEndpoint | None = None
    health: Readiness | None = None
    env: dict[str, str] = Field(default_factory=dict)
    address: str | None = Field(default=None, description="host:port of an external component")
    files: dict[FileName, ConfigFile] = Field(default_factory=dict)
    """Configuration files written into the replica's own directory (`{file:NAME}`)."""
    user: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_-]*$")
    """Run as this system user (when gameday runs as root): servers that refuse root or
    should not have it. Its directory is the user's."""
    after: list[Name] = Field(default_factory=list)
    """Components that must be healthy before this one starts."""
    sidecar_of: Name | None = None
    """Runs one replica beside each replica of that component (an exporter per server):
    the same count, and `{addr:…}` names the partner with the same number."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.command is None) == (self.address is None):
            raise ValueError(
                "give exactly one of `command` (gameday starts it) or `address` "
                "(it already runs at host:port)"
            )
        if self.address is not None:
            found = _ADDRESS.fullmatch(self.address)
            if found is None or not 0 < int(found.group(1)) < 65536:
                raise field_error(
                    "address", f"{self.address!r} is not host:port, e.g. 127.0.0.1:9000"
                )
            if self.replicas != 1:
                raise field_error("replicas", "an external component (`address`) has one replica")
            for field in ("files", "user", "after", "sidecar_of"):
                if getattr(self, field):
                    raise field_error(field, "an external component (`address`) is not started")
        for field in ("metrics", "health"):
            endpoint: HttpEndpoint | Readiness | None = getattr(self, field)
            if endpoint is None:
                continue
            if isinstance(endpoint, Readiness) and endpoint.component is not None:
                continue  # the other component's port is checked with the whole spec
            port = self.ports.get(endpoint.port)
            if port is None:
                raise field_error(field, _unknown("port", endpoint.port, self.ports))
            if port.protocol != "tcp":
                raise field_error(
                    field,
                    f"port {endpoint.port!r} is UDP; HTTP and a TCP connect need a TCP port "
                    "(UDP accepts no connection to check: check another port, or leave "
                    "`health` out)",
                )
        return self


ProxyName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\s]+$")]
ListenAddress = Annotated[str, Field(pattern=rf"^{_ADDRESS.pattern}$")]


class Link(Model):
    to: str = Field(description="COMPONENT.PORT the link's clients reach")
    protocol: Protocol = "tcp"
    proxy: ProxyName | list[ProxyName] | None = None
    """Adopt proxies that already exist on the fault proxy (`--toxiproxy`), one per target
    replica: faults go there, and gameday creates, changes or deletes none of them (the link's
    clients must already dial them)."""
    listen: ListenAddress | list[ListenAddress] | None = None
    """The fixed address (`127.0.0.1:8100`) the link's proxy listens on, one per target
    replica, instead of a free port: components that already run can be pointed through the
    proxy once, before the game day."""

    def proxies(self) -> list[str]:
        return [self.proxy] if isinstance(self.proxy, str) else list(self.proxy or [])

    def listens(self) -> list[str]:
        return [self.listen] if isinstance(self.listen, str) else list(self.listen or [])

    @property
    def component(self) -> str:
        return self.to.partition(".")[0]

    @property
    def port(self) -> str:
        return self.to.partition(".")[2]


def _link_name(name: str) -> str:
    if not _LINK_NAME.fullmatch(name):
        raise PydanticCustomError(
            "link_name",
            "link names are `from->to`, e.g. listener->edge; got {name!r}",
            {"name": name},
        )
    return name


LinkName = Annotated[str, AfterValidator(_link_name)]


class JoinEntry(Model):
    """The join API listeners call first (`chaos.workload.join`): `POST path` through the
    proxy of `link`, answered with the edge to stream from."""

    link: LinkName
    path: str = Field(default="/join", pattern=r"^/\S*$")


class ListenerEntry(Model):
    """Where the synthetic listeners of a run connect: `path` on every proxy of `link` (the
    one the join API names, with `join`)."""

    link: LinkName
    path: str = Field(default="/", pattern=r"^/\S*$")
    format: Literal["framed", "progressive", "hls"] = "progressive"
    """`framed`: soundstage's sequenced frames; `progressive`: Icecast-style bytes; `hls`: an
    HLS (or LL-HLS) playlist at `path`, multivariant or media."""
    variant: Literal["lowest", "highest"] | Annotated[int, Field(strict=True, gt=0)] = "highest"
    """HLS: the variant a listener plays: `lowest`, `highest`, or a bandwidth in bit/s (the
    highest variant at most that, else the lowest)."""
    low_latency: bool = True
    """HLS: use LL-HLS parts, blocking reloads and preload hints where the playlist offers
    them (`false` plays whole segments with plain reloads, as a player without LL-HLS)."""
    bitrate: int | None = Field(default=None, strict=True, gt=0)
    """Bits per second of a progressive stream in a format gameday cannot read (MP3, AAC,
    Ogg Vorbis/Opus and PCM are timed by their own media time); unset reads `icy-br`."""
    ears: Ears | None = None
    """Listeners per edge that decode what they hear (a count or a share, `4` or `1%`);
    the experiment's `workload.ears` overrides it; unset: 4."""
    join: JoinEntry | None = None
    """A control plane's join API every listener calls first: who may listen, which edge."""


class Audience(Model):
    """How an experiment's workload reaches the stack: gameday needs no stack-specific code."""

    listeners: ListenerEntry | None = None
    speakers: Name | None = None
    """The component that plays the experiment's speakers: one replica per speaker."""


DebianPackage = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9+.-]+$", max_length=100)]


class ImageNeeds(Model):
    """What the stack's components need in the image the Docker backend runs, beyond Debian's
    Python and the harness (`gameday images build --stack NAME` installs it): a new stack
    brings its servers by naming them here, never by a change to the image recipe."""

    packages: list[DebianPackage] = Field(default_factory=list)
    """Debian packages its servers come from (`janus`, `nginx`), with their dependencies and
    without recommends; part of the base image's cache key."""
    extras: list[Name] = Field(default_factory=list)
    """The harness's optional extras its Python components import (`webrtc`: aiortc, for
    the WebRTC speakers)."""


class StackSpec(Model):
    """A system under test: what to start, where its metrics are, which links may be faulted."""

    name: Name
    description: str | None = None
    components: dict[Name, Component] = Field(min_length=1)
    links: dict[LinkName, Link] = Field(default_factory=dict)
    audience: Audience = Audience()
    image: ImageNeeds = ImageNeeds()
    params: dict[Name, str] = Field(default_factory=dict)
    """Knobs of the stack with their defaults (`{param:NAME}`), changed per run without
    editing the spec (`gameday stack up --param NAME=VALUE`, or a spec that `extends` it)."""

    def problems(self) -> list[Problem]:
        """References that do not resolve, each at its place in the spec (empty when sound)."""
        found: list[Problem] = self._check_audience()
        for name, link in self.links.items():
            found += self._check_link(name, link)
        for name, component in self.components.items():
            found += self._check_relations(name, component)
            for index, argument in enumerate(component.command or []):
                for placeholder in _PLACEHOLDER.findall(argument):
                    problem = self._check_placeholder(component, placeholder)
                    if problem:
                        found.append(Problem(("components", name, "command", index), problem))
        return found

    def replicas_of(self, name: str) -> int:
        """A sidecar has as many replicas as the component it sits beside."""
        component = self.components[name]
        main = component.sidecar_of
        if main is not None and main in self.components and main != name:
            return self.components[main].replicas
        return component.replicas

    def _check_relations(self, name: str, component: Component) -> list[Problem]:
        found = []
        for index, other in enumerate(component.after):
            if other not in self.components or other == name:
                message = _unknown("component", other, self.components)
                if other == name:
                    message = f"{name!r} cannot start after itself"
                found.append(Problem(("components", name, "after", index), message))
        if component.sidecar_of is not None:
            main = self.components.get(component.sidecar_of)
            if main is None or component.sidecar_of == name:
                found.append(
                    Problem(
                        ("components", name, "sidecar_of"),
                        _unknown("component", component.sidecar_of, self.components),
                    )
                )
            elif main.command is None:
                found.append(
                    Problem(("components", name, "sidecar_of"), "a sidecar needs a started main")
                )
        health = component.health
        if health is not None and health.component is not None:
            server = self.components.get(health.component)
            if server is None:
                found.append(
                    Problem(
                        ("components", name, "health", "component"),
                        _unknown("component", health.component, self.components),
                    )
                )
            elif health.port not in server.ports or server.ports[health.port].protocol != "tcp":
                found.append(
                    Problem(
                        ("components", name, "health", "port"),
                        _unknown(f"TCP port of {health.component}", health.port, server.ports),
                    )
                )
        if self._cycle_from(name):
            found.append(
                Problem(("components", name, "after"), f"{name!r} waits for itself (a cycle)")
            )
        return found

    def dependencies(self, name: str) -> list[str]:
        """What must be healthy before ``name`` starts: its `after`, and a sidecar's main."""
        component = self.components[name]
        found = [c for c in component.after if c in self.components and c != name]
        if component.sidecar_of in self.components and component.sidecar_of != name:
            found.append(component.sidecar_of)
        return found

    def _cycle_from(self, start: str) -> bool:
        seen: set[str] = set()
        todo = list(self.dependencies(start))
        while todo:
            current = todo.pop()
            if current == start:
                return True
            if current not in seen:
                seen.add(current)
                todo += self.dependencies(current)
        return False

    def _check_audience(self) -> list[Problem]:
        found = []
        listeners = self.audience.listeners
        if listeners is not None and listeners.link not in self.links:
            found.append(
                Problem(
                    ("audience", "listeners", "link"),
                    _unknown("link", listeners.link, self.links),
                )
            )
        join = listeners.join if listeners is not None else None
        if join is not None and join.link not in self.links:
            found.append(
                Problem(
                    ("audience", "listeners", "join", "link"),
                    _unknown("link", join.link, self.links),
                )
            )
        speakers = self.audience.speakers
        if speakers is not None:
            component = self.components.get(speakers)
            if component is None:
                found.append(
                    Problem(
                        ("audience", "speakers"), _unknown("component", speakers, self.components)
                    )
                )
            elif component.command is None:
                found.append(
                    Problem(
                        ("audience", "speakers"),
                        f"{speakers!r} already runs elsewhere (`address`); gameday can only "
                        "start speakers it runs itself",
                    )
                )
        return found

    def _check_link(self, name: str, link: Link) -> list[Problem]:
        source = name.partition("->")[0]
        found = []
        # Any name is a role (whoever dials the link: `source->icecast`); only a near-miss of a
        # component's name is taken for the typo it almost surely is.
        close = difflib.get_close_matches(source, list(self.components), n=1, cutoff=0.85)
        if source not in ROLES and source not in self.components and close:
            found.append(
                Problem(
                    ("links", name),
                    f"the link starts at {source!r}: did you mean the component "
                    f"'{close[0]}'? (a role that dials the link may have any other name)",
                    at_key=True,
                )
            )
        target = self.components.get(link.component)
        if "." not in link.to or target is None:
            hint = _hint(link.component, self.components) if target is None else ""
            message = f"{link.to!r} is not COMPONENT.PORT of this stack{hint}"
            return [*found, Problem(("links", name, "to"), message)]
        port = target.ports.get(link.port)
        if port is None:
            message = _unknown(f"port of {link.component}", link.port, target.ports)
            found.append(Problem(("links", name, "to"), message))
        elif port.protocol != link.protocol:
            found.append(
                Problem(
                    ("links", name, "protocol"),
                    f"the link is {link.protocol} but {link.to} is {port.protocol}; "
                    "make them the same",
                )
            )
        if port is not None:
            targets = self.replicas_of(link.component) * port.range
            found += self._check_link_proxy(name, link, targets)
        return found

    def _check_link_proxy(self, name: str, link: Link, targets: int) -> list[Problem]:
        """`proxy` and `listen` name one proxy (address) per target replica, not both."""
        if link.proxy is not None and link.listen is not None:
            return [
                Problem(
                    ("links", name, "listen"),
                    "an adopted proxy (`proxy`) already listens where it listens; give "
                    "`proxy` or `listen`, not both",
                )
            ]
        found = []
        for field, given in (("proxy", link.proxies()), ("listen", link.listens())):
            if given and len(given) != targets:
                found.append(
                    Problem(
                        ("links", name, field),
                        f"{link.to} has {targets} target(s) (replicas x ports) and {field} "
                        f"names {len(given)}; give one per target, in replica order",
                    )
                )
            if len(set(given)) != len(given):
                found.append(Problem(("links", name, field), f"{field} names one twice"))
        return found

    def _check_placeholder(self, component: Component, placeholder: str) -> str | None:
        kind, _, argument = placeholder.partition(":")
        if kind in ("replica", "host", "dir") and not argument:
            return None
        if kind in ("port", "ports", "host"):
            return (
                None if argument in component.ports else _unknown("port", argument, component.ports)
            )
        if kind == "file":
            return (
                None if argument in component.files else _unknown("file", argument, component.files)
            )
        if kind == "param":
            return None if argument in self.params else _unknown("param", argument, self.params)
        if kind in ("link", "links"):
            link = self.links.get(argument)
            if link is None:
                return _unknown("link", argument, self.links)
            target = self.components.get(link.component)
            if kind == "link" and target is not None:
                span = target.ports[link.port].range if link.port in target.ports else 1
                count = self.replicas_of(link.component) * span
                if count > 1:
                    return (
                        f"{{link:{argument}}} reaches one address but {link.to} has "
                        f"{count}; use {{links:{argument}}}"
                    )
            return None
        if kind in ("addrs", "addr"):
            component_name, _, port_name = argument.partition(".")
            target = self.components.get(component_name)
            if target is None:
                return _unknown("component", component_name, self.components)
            if port_name not in target.ports:
                return _unknown("port", port_name, target.ports)
            if kind == "addr" and target.ports[port_name].range > 1:
                return f"{component_name}.{port_name} is a range; use {{addrs:{argument}}}"
            return None
        return (
            f"unknown placeholder {{{placeholder}}}; use {{port:P}}, {{ports:P}}, {{host:P}}, "
            "{link:L}, {links:L}, {addr:C.P}, {addrs:C.P}, {file:F}, {param:N}, {dir}, {host} "
            "or {replica}"
        )

    def targets(self) -> list[str]:
        """Names a component fault may target: components and their replicas (`edge-2`)."""
        names: list[str] = []
        for name in self.components:
            names.append(name)
            if self.replicas_of(name) > 1:
                names += self.replica_names(name)
        return names

    def replica_names(self, name: str) -> list[str]:
        """`edge` with 2 replicas runs as `edge-1` and `edge-2` (a sidecar follows its main)."""
        count = self.replicas_of(name)
        if count == 1:
            return [name]
        return [f"{name}-{n}" for n in range(1, count + 1)]


def _hint(word: str, candidates: object) -> str:
    guess = nearest(word, candidates)
    return f"; did you mean '{guess}'?" if guess else ""


def _unknown(what: str, name: str, known: object) -> str:
    names = ", ".join(str(k) for k in known) if isinstance(known, dict) else ""
    return f"no {what} named {name!r}" + (
        _hint(name, known) or (f" (known: {names})" if names else "")
    )
