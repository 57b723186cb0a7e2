"""The stack spec model (docs/stack-spec.md): components, their ports, and the links faults touch.

Everything a backend or the fault proxy will later rely on is checked here, at load time, so a
typo in a spec fails in `gameday validate` instead of minutes into a run: links target an
existing `COMPONENT.PORT` of the same protocol, metrics and health checks name a declared TCP
port, and every `{placeholder}` in a command resolves.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from chaos.experiment.base import Model
from chaos.experiment.errors import Problem
from chaos.experiment.tagged import field_error, nearest

Protocol = Literal["tcp", "udp"]
ROLES = ("listener", "speaker", "client")
"""Link sources that are workload roles rather than components."""

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


class HttpEndpoint(Model):
    """An HTTP path on one of the component's ports (metrics scrape, readiness check)."""

    port: Name
    path: str = Field(pattern=r"^/\S*$")


class Component(Model):
    command: list[str] | None = Field(default=None, min_length=1)
    replicas: int = Field(default=1, strict=True, ge=1, le=64)
    host: str = "127.0.0.1"
    ports: dict[Name, Port] = Field(default_factory=dict)
    metrics: HttpEndpoint | None = None
    health: HttpEndpoint | None = None
    env: dict[str, str] = Field(default_factory=dict)
    address: str | None = Field(default=None, description="host:port of an external component")

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
        for field in ("metrics", "health"):
            endpoint: HttpEndpoint | None = getattr(self, field)
            if endpoint is None:
                continue
            port = self.ports.get(endpoint.port)
            if port is None:
                raise field_error(field, _unknown("port", endpoint.port, self.ports))
            if port.protocol != "tcp":
                raise field_error(field, f"port {endpoint.port!r} is UDP; HTTP needs a TCP port")
        return self

    def replica_names(self, name: str) -> list[str]:
        """`edge` with 2 replicas runs as `edge-1` and `edge-2`; one replica keeps its name."""
        if self.replicas == 1:
            return [name]
        return [f"{name}-{n}" for n in range(1, self.replicas + 1)]


class Link(Model):
    to: str = Field(description="COMPONENT.PORT the link's clients reach")
    protocol: Protocol = "tcp"

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


class ListenerEntry(Model):
    """Where the synthetic listeners of a run connect: `path` on every proxy of `link`."""

    link: LinkName
    path: str = Field(default="/", pattern=r"^/\S*$")
    format: Literal["framed", "progressive"] = "progressive"
    """`framed`: soundstage's sequenced frames; `progressive`: Icecast-style bytes."""
    bitrate: int | None = Field(default=None, strict=True, gt=0)
    """Bits per second of a progressive stream; unset reads the `icy-br` header."""


class Audience(Model):
    """How an experiment's workload reaches the stack: gameday needs no stack-specific code."""

    listeners: ListenerEntry | None = None
    speakers: Name | None = None
    """The component that plays the experiment's speakers: one replica per speaker."""


class StackSpec(Model):
    """A system under test: what to start, where its metrics are, which links may be faulted."""

    name: Name
    description: str | None = None
    components: dict[Name, Component] = Field(min_length=1)
    links: dict[LinkName, Link] = Field(default_factory=dict)
    audience: Audience = Audience()

    def problems(self) -> list[Problem]:
        """References that do not resolve, each at its place in the spec (empty when sound)."""
        found: list[Problem] = self._check_audience()
        for name, link in self.links.items():
            found += self._check_link(name, link)
        for name, component in self.components.items():
            for index, argument in enumerate(component.command or []):
                for placeholder in _PLACEHOLDER.findall(argument):
                    problem = self._check_placeholder(component, placeholder)
                    if problem:
                        found.append(Problem(("components", name, "command", index), problem))
        return found

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
        if source not in ROLES and source not in self.components:
            found.append(
                Problem(
                    ("links", name),
                    f"the link starts at {source!r}, which is neither a role "
                    f"({', '.join(ROLES)}) nor a component"
                    + _hint(source, [*ROLES, *self.components]),
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
        return found

    def _check_placeholder(self, component: Component, placeholder: str) -> str | None:
        kind, _, argument = placeholder.partition(":")
        if kind in ("replica", "host") and not argument:
            return None
        if kind == "port":
            return (
                None if argument in component.ports else _unknown("port", argument, component.ports)
            )
        if kind in ("link", "links"):
            link = self.links.get(argument)
            if link is None:
                return _unknown("link", argument, self.links)
            target = self.components.get(link.component)
            if kind == "link" and target is not None and target.replicas > 1:
                return (
                    f"{{link:{argument}}} reaches one address but {link.component} has "
                    f"{target.replicas} replicas; use {{links:{argument}}}"
                )
            return None
        if kind == "addrs":
            component_name, _, port_name = argument.partition(".")
            target = self.components.get(component_name)
            if target is None:
                return _unknown("component", component_name, self.components)
            return None if port_name in target.ports else _unknown("port", port_name, target.ports)
        return (
            f"unknown placeholder {{{placeholder}}}; use {{port:P}}, {{link:L}}, {{links:L}}, "
            "{addrs:C.P}, {host} or {replica}"
        )

    def targets(self) -> list[str]:
        """Names a component fault may target: components and their replicas (`edge-2`)."""
        names: list[str] = []
        for name, component in self.components.items():
            names.append(name)
            if component.replicas > 1:
                names += component.replica_names(name)
        return names


def _hint(word: str, candidates: object) -> str:
    guess = nearest(word, candidates)
    return f"; did you mean '{guess}'?" if guess else ""


def _unknown(what: str, name: str, known: object) -> str:
    names = ", ".join(str(k) for k in known) if isinstance(known, dict) else ""
    return f"no {what} named {name!r}" + (
        _hint(name, known) or (f" (known: {names})" if names else "")
    )
