"""The stack spec model (docs/stack-spec.md): fields, references, located problems."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaos.experiment.errors import ExperimentError, Issue
from chaos.experiment.loader import builtin_stacks, load_stack_spec
from chaos.experiment.stack import StackSpec

SPEC: dict[str, Any] = {
    "name": "tiny",
    "components": {
        "api": {
            "command": [
                "python",
                "-m",
                "api",
                "--port",
                "{port:http}",
                "--edges",
                "{links:client->edge}",
            ],
            "ports": {"http": {"protocol": "tcp"}},
            "metrics": {"port": "http", "path": "/metrics"},
            "health": {"port": "http", "path": "/healthz"},
            "env": {"MODE": "test"},
        },
        "edge": {
            "command": ["python", "-m", "edge", "--port", "{port:http}", "--n", "{replica}"],
            "replicas": 2,
            "ports": {"http": {}, "media": {"protocol": "udp", "port": 0}},
        },
        "db": {"address": "127.0.0.1:5432"},
    },
    "links": {
        "listener->edge": {"to": "edge.http"},
        "client->edge": {"to": "edge.http"},
        "api->media": {"to": "edge.media", "protocol": "udp"},
    },
}


def _write(tmp_path: Path, spec: dict[str, Any]) -> Path:
    path = tmp_path / "stack.yaml"
    with path.open("w") as handle:
        YAML().dump(spec, handle)
    return path


def _issues(tmp_path: Path, spec: dict[str, Any]) -> list[Issue]:
    with pytest.raises(ExperimentError) as caught:
        load_stack_spec(_write(tmp_path, spec))
    return list(caught.value.issues)


def _bent(change: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    change(spec)
    return spec


def test_a_full_spec_loads(tmp_path: Path) -> None:
    spec = load_stack_spec(_write(tmp_path, SPEC))
    assert isinstance(spec, StackSpec)
    assert spec.problems() == []


def test_fields_and_defaults(tmp_path: Path) -> None:
    spec = load_stack_spec(_write(tmp_path, SPEC))
    edge = spec.components["edge"]
    assert (edge.replicas, edge.host, edge.ports["http"].protocol, edge.ports["http"].port) == (
        2,
        "127.0.0.1",
        "tcp",
        0,
    )
    assert spec.replica_names("edge") == ["edge-1", "edge-2"]
    assert spec.replica_names("api") == ["api"]
    assert spec.components["db"].address == "127.0.0.1:5432"
    assert spec.components["api"].env == {"MODE": "test"}
    assert (spec.links["api->media"].component, spec.links["api->media"].port) == ("edge", "media")
    assert spec.targets() == ["api", "edge", "edge-1", "edge-2", "db"]


def test_the_builtin_soundstage_spec_uses_every_feature_validly() -> None:
    spec = load_stack_spec(builtin_stacks()["soundstage"])
    assert spec.links["speaker->ingest"].protocol == "udp"
    assert spec.problems() == []


@pytest.mark.parametrize(
    ("change", "where", "fragment"),
    [
        (
            lambda s: s["links"].update({"nowhere": {"to": "edge.http"}}),
            "links.nowhere (key)",
            "from->to",
        ),
        (
            lambda s: s["links"].update({"edgee->edge": {"to": "edge.http"}}),
            "links.edgee->edge",
            "did you mean the component 'edge'?",
        ),
        (
            lambda s: s["links"]["listener->edge"].update(to="egde.http"),
            "links.listener->edge.to",
            "did you mean 'edge'?",
        ),
        (
            lambda s: s["links"]["listener->edge"].update(to="edge"),
            "links.listener->edge.to",
            "COMPONENT.PORT",
        ),
        (
            lambda s: s["links"]["listener->edge"].update(to="edge.htp"),
            "links.listener->edge.to",
            "did you mean 'http'?",
        ),
        (
            lambda s: s["links"]["listener->edge"].update(protocol="udp"),
            "links.listener->edge.protocol",
            "make them the same",
        ),
        (
            lambda s: s["links"]["listener->edge"].update(protocol="sctp"),
            "links.listener->edge.protocol",
            "expected one of tcp, udp",
        ),
        (
            lambda s: s["components"]["api"]["command"].append("{port:htp}"),
            "components.api.command[7]",
            "did you mean 'http'?",
        ),
        (
            lambda s: s["components"]["api"]["command"].append("{link:listener->edge}"),
            "components.api.command[7]",
            "use {links:listener->edge}",
        ),
        (
            lambda s: s["components"]["api"]["command"].append("{links:nope}"),
            "components.api.command[7]",
            "no link named 'nope'",
        ),
        (lambda s: s["components"]["api"]["command"].append("{addrs:edge.http}"), None, None),
        (
            lambda s: s["components"]["api"]["command"].append("{addrs:edg.http}"),
            "components.api.command[7]",
            "did you mean 'edge'?",
        ),
        (
            lambda s: s["components"]["api"]["command"].append("{addrs:edge.x}"),
            "components.api.command[7]",
            "no port named 'x'",
        ),
        (
            lambda s: s["components"]["api"]["command"].append("{hots}"),
            "components.api.command[7]",
            "unknown placeholder",
        ),
        (
            lambda s: s["components"]["api"].update(metrics={"port": "web", "path": "/metrics"}),
            "components.api.metrics",
            "no port named 'web'",
        ),
        (
            lambda s: s["components"]["edge"].update(health={"port": "media", "path": "/h"}),
            "components.edge.health",
            "HTTP and a TCP connect need a TCP port",
        ),
        (
            lambda s: s["components"]["api"].update(metrics={"port": "http", "path": "metrics"}),
            "components.api.metrics.path",
            "should match pattern",
        ),
        (
            lambda s: s["components"]["api"].pop("command"),
            "components.api",
            "exactly one of `command`",
        ),
        (
            lambda s: s["components"]["db"].update(command=["x"]),
            "components.db",
            "exactly one of `command`",
        ),
        (
            lambda s: s["components"]["db"].update(address="localhost"),
            "components.db.address",
            "not host:port",
        ),
        (
            lambda s: s["components"]["db"].update(replicas=2),
            "components.db.replicas",
            "one replica",
        ),
        (
            lambda s: s["components"]["edge"].update(replicas=0),
            "components.edge.replicas",
            "greater than or equal to 1",
        ),
        (
            lambda s: s["components"]["edge"]["ports"]["http"].update(port=70000),
            "components.edge.ports.http.port",
            "less than or equal to 65535",
        ),
        (
            lambda s: s["components"]["edge"].update(comand=["x"]),
            "components.edge.comand",
            "did you mean 'command'?",
        ),
        (
            lambda s: s["components"].update({"Bad Name": {"address": "h:1"}}),
            "components.Bad Name (key)",
            "should match pattern",
        ),
        (lambda s: s.update(components={}), "components", "at least 1 item"),
        (lambda s: s.pop("name"), "name", "required field is missing"),
        (
            lambda s: s["components"]["edge"].update(replicas=True),
            "components.edge.replicas",
            "valid integer",
        ),
        (
            lambda s: s["components"]["edge"]["ports"]["http"].update(port="80"),
            "components.edge.ports.http.port",
            "valid integer",
        ),
        (
            lambda s: s["components"]["edge"]["ports"]["media"].update(port=65530, range=8),
            "components.edge.ports.media.range",
            "pass 65535",
        ),
        (
            lambda s: s["components"]["api"].update(after=["nope"]),
            "components.api.after[0]",
            "no component named 'nope'",
        ),
        (
            lambda s: (
                s["components"]["api"].update(after=["edge"]),
                s["components"]["edge"].update(after=["api"]),
            ),
            "components.api.after",
            "a cycle",
        ),
        (
            lambda s: s["components"]["api"].update(sidecar_of="api"),
            "components.api.sidecar_of",
            "no component named 'api'",
        ),
        (
            lambda s: s["components"]["api"].update(files={"a.conf": {}}),
            "components.api.files.a.conf",
            "exactly one of `template`",
        ),
        (
            lambda s: s["components"]["api"].update(files={"a.conf": {"template": "missing.j2"}}),
            "components.api.files.a.conf.template",
            "cannot read",
        ),
        (
            lambda s: s["components"]["api"].update(files={"a.conf": {"content": "{{ x"}}),
            "components.api.files.a.conf",
            "line 1",
        ),
        (
            lambda s: s["components"]["api"]["command"].append("{param:knob}"),
            "components.api.command[7]",
            "no param named 'knob'",
        ),
        (
            lambda s: s["components"]["api"]["command"].append("{file:nope.conf}"),
            "components.api.command[7]",
            "no file named 'nope.conf'",
        ),
        (
            lambda s: s["components"]["api"].update(
                health={"component": "ghost", "port": "http", "path": "/"}
            ),
            "components.api.health.component",
            "no component named 'ghost'",
        ),
        (
            lambda s: s["components"]["api"].update(
                metrics={"component": "edge", "port": "http", "path": "/"}
            ),
            "components.api.metrics.component",
            "unknown field; expected one of port, path",
        ),
        (
            lambda s: s["components"]["db"].update(user="nobody"),
            "components.db.user",
            "not started",
        ),
        (
            lambda s: (
                s["components"]["edge"]["ports"]["media"].update(range=4),
                s["components"]["api"]["command"].append("{link:api->media}"),
            ),
            "components.api.command[7]",
            "use {links:api->media}",
        ),
    ],
)
def test_spec_refusals(
    tmp_path: Path, change: Any, where: str | None, fragment: str | None
) -> None:
    spec = _bent(change)
    if where is None:
        load_stack_spec(_write(tmp_path, spec))
        return
    found = _issues(tmp_path, spec)
    assert any(i.path == where and fragment in i.message for i in found), found
    assert all(i.position is not None for i in found)


def test_a_link_may_start_at_any_role_name(tmp_path: Path) -> None:
    spec = tmp_path / "icecast.yaml"
    spec.write_text(
        "name: radio\ncomponents:\n  icecast:\n    address: 127.0.0.1:8000\n"
        "    ports: {http: {protocol: tcp}}\nlinks:\n"
        "  source->icecast: {to: icecast.http}\n  listener->icecast: {to: icecast.http}\n"
    )
    loaded = load_stack_spec(spec)
    assert set(loaded.links) == {"source->icecast", "listener->icecast"}
