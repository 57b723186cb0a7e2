"""Stack plans of real stacks' needs: config files, port ranges, interface ports, sidecars,
start order, params, health through another component (docs/stack-spec.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaos.errors import InvalidInput
from chaos.experiment.loader import builtin_stacks, load_stack_spec
from chaos.experiment.stack import StackSpec
from chaos.stack.plan import plan_stack, run_params

SPEC: dict[str, Any] = {
    "name": "media",
    "params": {"lock": "on", "room": "7"},
    "components": {
        "server": {
            "command": [
                "srv",
                "-c",
                "{file:srv.conf}",
                "--rtp",
                "{ports:rtp}",
                "--room",
                "{param:room}",
            ],
            "ports": {"http": {}, "rtp": {"protocol": "udp", "range": 4, "interface": True}},
            "health": {"port": "http", "path": "/ok"},
            "files": {
                "srv.conf": {
                    "content": (
                        "listen {{ host }}:{{ p('port:http') }}; media {{ p('host:rtp') }} "
                        "{{ p('ports:rtp') }}; lock {{ params.lock }}; dir {{ dir }}\n"
                    )
                }
            },
        },
        "web": {
            "replicas": 2,
            "after": ["server"],
            "command": ["web", "{port:http}", "{link:web->server}"],
            "ports": {"http": {}},
        },
        "web-exporter": {
            "sidecar_of": "web",
            "command": ["exp", "{addr:web.http}", "{port:http}"],
            "ports": {"http": {}},
        },
        "packer": {
            "after": ["server"],
            "command": ["packer"],
            "health": {"component": "server", "port": "http", "path": "/out"},
        },
    },
    "links": {
        "web->server": {"to": "server.http"},
        "client->media": {"to": "server.rtp", "protocol": "udp"},
    },
}


def _spec(tmp_path: Path, spec: dict[str, Any] = SPEC) -> StackSpec:
    path = tmp_path / "stack.yaml"
    with path.open("w") as handle:
        YAML().dump(spec, handle)
    return load_stack_spec(path)


def _allocator() -> Any:
    counter = [10000]

    def allocate(host: str, protocol: str, port: int, count: int) -> int:
        first = counter[0]
        counter[0] += count
        return port or first

    return allocate


def test_ranges_interfaces_sidecars_files_and_params_resolve(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    plan = plan_stack(spec, _allocator(), interface="192.0.2.7")
    server = plan.of("server")[0]
    assert server.address("http") == "127.0.0.1:10000"
    assert plan.addrs("server", "rtp") == [f"192.0.2.7:{10001 + n}" for n in range(4)]
    assert plan.links["client->media"] == plan.addrs("server", "rtp")
    assert plan.proxy_names("client->media") == [f"client->media#{n}" for n in range(1, 5)]
    command = plan.command(server, {}, "py", "/w/server", {"room": "9"})
    assert command == ["srv", "-c", "/w/server/srv.conf", "--rtp", "10001-10004", "--room", "9"]
    files = plan.files(server, {}, "/w/server", {"lock": "off"})
    assert files["srv.conf"] == (
        "listen 127.0.0.1:10000; media 192.0.2.7 10001-10004; lock off; dir /w/server\n"
    )
    exporters = plan.of("web-exporter")
    assert [r.name for r in exporters] == ["web-exporter-1", "web-exporter-2"]
    webs = plan.of("web")
    for exporter, web in zip(exporters, webs, strict=True):
        assert plan.command(exporter, {}, "py")[1] == web.address("http")
    assert plan.endpoints("health")["packer"] == f"http://{server.address('http')}/out"


def test_proxies_replace_what_clients_dial_in_commands_and_files(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    plan = plan_stack(spec, _allocator())
    web = plan.of("web")[0]
    assert plan.command(web, {"web->server": "127.0.0.1:9999"}, "py")[2] == "127.0.0.1:9999"
    assert plan.of("server")[0].host_of("rtp") == "127.0.0.1"  # no interface given: loopback


def test_waves_start_what_others_wait_for_first(tmp_path: Path) -> None:
    plan = plan_stack(_spec(tmp_path), _allocator())
    waves = [[r.name for r in wave] for wave in plan.waves()]
    assert waves == [["server"], ["web-1", "web-2", "packer"], ["web-exporter-1", "web-exporter-2"]]


def test_unknown_params_and_undefined_template_names_are_refused(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    with pytest.raises(InvalidInput, match=r"no params \[.lokc.\]"):
        run_params(spec, {"lokc": "off"})
    bad = spec.components["server"].files["srv.conf"].model_copy(update={"content": "{{ nope }}"})
    server = spec.components["server"].model_copy(update={"files": {"srv.conf": bad}})
    broken = spec.model_copy(update={"components": {**spec.components, "server": server}})
    plan = plan_stack(broken, _allocator())
    with pytest.raises(InvalidInput, match=r"cannot render srv\.conf.*'nope' is undefined"):
        plan.files(plan.of("server")[0], {}, "/w")


def test_the_builtin_spaces_spec_plans_and_renders_every_file() -> None:
    spec = load_stack_spec(builtin_stacks()["spaces"])
    plan = plan_stack(spec, _allocator(), interface="192.0.2.7")
    for replica in plan.replicas:
        if replica.command is None:
            continue
        files = plan.files(replica, {}, f"/w/{replica.name}")
        for text in files.values():
            assert "{{" not in text and "p(" not in text
        assert all("{" not in word or "daemon" in word for word in plan.command(replica, {}, "py"))
    janus = plan.files(plan.of("janus")[0], {}, "/w/janus")
    assert 'ice_enforce_list = "192.0.2.7"' in janus["janus.jcfg"]
    edge = plan.files(plan.of("edge")[0], {}, "/w/edge-1", {"cache_lock": "off"})
    assert "proxy_cache_lock off;" in edge["nginx.conf"]
    assert [r.name for r in plan.of("edge-exporter")] == ["edge-exporter-1", "edge-exporter-2"]
