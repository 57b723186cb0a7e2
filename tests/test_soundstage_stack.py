"""The local-process stack backend, its plan and placeholders, and `gameday stack up/down`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from itertools import count
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import load_stack_spec
from chaos.experiment.stack import StackSpec
from chaos.stack import processes
from chaos.stack.local import LocalProcessBackend
from chaos.stack.plan import plan_stack
from chaos.stack.processes import ProcessRef
from chaos.stack.specfile import spec_path, with_replicas

GAMEDAY = str(Path(sys.executable).parent / "gameday")


def _spec(edges: int = 2) -> StackSpec:
    return with_replicas(load_stack_spec(spec_path("soundstage")), {"edge": edges})


def _plan(spec: StackSpec):  # type: ignore[no-untyped-def]
    ports = count(20000)
    return plan_stack(spec, lambda host, protocol, port, count: port or next(ports))


def test_placeholders_resolve_to_direct_addresses_without_proxies() -> None:
    plan = _plan(_spec(edges=2))
    edges = plan.addrs("edge", "http")
    assert plan.links["listener->edge"] == edges and len(edges) == 2
    api = plan.of("api")[0]
    command = plan.command(api, {}, "/py")
    assert command[0] == "/py"
    assert command[command.index("--edges") + 1] == ",".join(edges)
    assert command[command.index("--edge-links") + 1] == ",".join(edges)
    speaker = plan.command(plan.of("speaker")[0], {}, "/py")
    assert speaker[speaker.index("--speaker-id") + 1] == "1"
    assert speaker[speaker.index("--ingest") + 1] == plan.links["speaker->ingest"][0]


def test_proxied_links_dial_the_proxy_and_replicated_targets_get_one_proxy_each() -> None:
    plan = _plan(_spec(edges=2))
    assert plan.proxy_names("listener->edge") == ["listener->edge#1", "listener->edge#2"]
    assert plan.proxy_names("origin->edge") == ["origin->edge"]
    proxies = {
        "listener->edge#1": "127.0.0.1:1001",
        "listener->edge#2": "127.0.0.1:1002",
        "origin->edge": "127.0.0.1:1003",
    }
    api = plan.command(plan.of("api")[0], proxies, "python")
    assert api[api.index("--edge-links") + 1] == "127.0.0.1:1001,127.0.0.1:1002"
    assert api[api.index("--edges") + 1] == ",".join(plan.addrs("edge", "http"))  # never proxied
    for edge in plan.of("edge"):
        command = plan.command(edge, proxies, "python")
        assert command[command.index("--origin") + 1] == "127.0.0.1:1003"
        assert command[command.index("--port") + 1] == str(edge.ports["http"])


@given(st.integers(1, 6))
def test_every_replica_gets_its_own_ports(edges: int) -> None:
    plan = _plan(_spec(edges))
    ports = [(r.host, p) for r in plan.replicas for p in r.ports.values()]
    assert len(ports) == len(set(ports))
    assert [r.name for r in plan.of("edge")] == (
        ["edge"] if edges == 1 else [f"edge-{n}" for n in range(1, edges + 1)]
    )
    assert set(plan.endpoints("metrics")) == {r.name for r in plan.replicas}


def test_spec_references_and_overrides_fail_as_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no stack spec"):
        spec_path("no-such-stack")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: s\ncomponents:\n  a:\n    comand: [x]\n")
    with pytest.raises(ExperimentError, match=r"bad.yaml:4:5"):
        load_stack_spec(bad)
    with pytest.raises(InvalidInput, match="no component 'edges'"):
        with_replicas(load_stack_spec(spec_path("soundstage")), {"edges": 2})
    # The origin is dialled with {link:...}: replicating it would need {links:...}.
    with pytest.raises(InvalidInput, match="links:origin->edge"):
        with_replicas(load_stack_spec(spec_path("soundstage")), {"origin": 2})


async def test_proxies_for_unknown_links_are_refused_before_anything_starts(tmp_path: Path) -> None:
    backend = LocalProcessBackend(_spec(edges=2), tmp_path)
    with pytest.raises(InvalidInput, match="listener->edge#1"):
        await backend.start({"listener->edge": "127.0.0.1:1"})  # replicated: needs LINK#N
    assert backend._started == [] and not (tmp_path / "logs").exists()


def _tiny_spec(command: list[str], health: bool = True) -> StackSpec:
    component: dict[str, object] = {"command": command, "ports": {"http": {}}}
    if health:
        component["health"] = {"port": "http", "path": "/healthz"}
    return StackSpec.model_validate({"name": "tiny", "components": {"thing": component}})


async def test_a_component_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    spec = _tiny_spec(["python", "-c", "import sys; print('bad config'); sys.exit(3)"])
    backend = LocalProcessBackend(spec, tmp_path)
    with pytest.raises(InfrastructureError, match="thing exited during start-up") as caught:
        await backend.start()
    assert "bad config" in caught.value.what
    assert (tmp_path / "logs" / "thing.log").exists()


async def test_a_component_never_healthy_times_out_and_is_stopped(tmp_path: Path) -> None:
    spec = _tiny_spec(["python", "-c", "import time; time.sleep(60)"])
    backend = LocalProcessBackend(spec, tmp_path, health_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match=r"not healthy after 0\.5s"):
        await backend.start()
    assert time.monotonic() - started < 5
    assert backend._started == []


async def test_stop_escalates_to_sigkill_and_wakes_paused_processes(tmp_path: Path) -> None:
    stubborn = processes.spawn(
        "stubborn",
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
         "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
        tmp_path / "stubborn.log",
    )  # fmt: skip
    paused = processes.spawn(
        "paused", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "p.log"
    )
    while "ready" not in (tmp_path / "stubborn.log").read_text():
        await asyncio.sleep(0.02)
    processes.signal_group(paused, signal.SIGSTOP)
    started = time.monotonic()
    killed = await processes.stop_all([stubborn, paused], grace=0.5)
    assert killed == ["stubborn"]
    assert not processes.alive(stubborn) and not processes.alive(paused)
    assert time.monotonic() - started < 3


def test_a_reused_pid_is_not_mistaken_for_our_process() -> None:
    me = ProcessRef("me", os.getpid(), processes.start_ticks(os.getpid()))
    assert processes.alive(me)
    impostor = ProcessRef("me", os.getpid(), (me.start_ticks or 0) + 1)
    assert not processes.alive(impostor)
    processes.signal_group(impostor, signal.SIGTERM)  # must not signal us


def _gameday(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GAMEDAY, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.timeout(90)
def test_gameday_stack_up_and_down(tmp_path: Path) -> None:
    up = _gameday("stack", "up", "soundstage", "--edges", "1", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / ".gameday" / "stack.json").read_text())
    names = [p["name"] for p in state["processes"]]
    assert sorted(names) == ["api", "edge", "origin", "speaker"]  # in start order (api after edge)
    api = state["addresses"]["api"]["http"]
    assert api in up.stdout and "listener->edge" in up.stdout
    assert httpx.get(f"http://{api}/healthz").json()["status"] == "ok"
    assert all((tmp_path / ".gameday" / "stacks").glob("*/logs/edge.log"))

    healthy = _gameday("stack", "status", cwd=tmp_path)
    assert healthy.returncode == 0 and healthy.stdout.count("healthy") == 4
    edge = next(p for p in state["processes"] if p["name"] == "edge")
    os.kill(edge["pid"], signal.SIGKILL)  # the edge dies
    broken = _gameday("stack", "status", cwd=tmp_path)
    assert broken.returncode == 3 and "edge" in broken.stderr and "gone" in broken.stdout

    again = _gameday("stack", "up", cwd=tmp_path)
    assert again.returncode == 2 and "already up" in again.stderr

    down = _gameday("stack", "down", cwd=tmp_path)
    assert down.returncode == 0 and "stopped 3" in down.stdout
    refs = [ProcessRef(p["name"], p["pid"], p["start_ticks"]) for p in state["processes"]]
    assert not any(processes.alive(r) for r in refs)
    assert not (tmp_path / ".gameday" / "stack.json").exists()

    idempotent = _gameday("stack", "down", cwd=tmp_path)
    assert idempotent.returncode == 0 and "no stack is up" in idempotent.stdout
    assert "no stack is up" in _gameday("stack", "status", cwd=tmp_path).stdout


def test_gameday_stack_up_rejects_bad_input_without_a_traceback(tmp_path: Path) -> None:
    result = _gameday("stack", "up", "missing.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "no stack spec" in result.stderr and "Traceback" not in result.stderr
    result = _gameday("stack", "up", "--replicas", "edge:3", cwd=tmp_path)
    assert result.returncode == 2 and "COMPONENT=N" in result.stderr


METRICS_CONTRACT = {
    "api": [
        "soundstage_api_joins_total",
        "soundstage_api_join_duration_seconds_bucket",
        "soundstage_api_room_state",
        "soundstage_api_room_go_live_timestamp_seconds",
        "soundstage_api_edge_listeners",
        "process_cpu_seconds_total",
    ],
    "origin": [
        "soundstage_origin_frames_received_total",
        "soundstage_origin_frames_dropped_total",
        "soundstage_origin_mix_frames_total",
        "soundstage_origin_edge_connections_total",
        "soundstage_origin_edge_queue_bytes",
        "soundstage_origin_bytes_sent_total",
        "process_cpu_seconds_total",
    ],
    "edge": [
        "soundstage_edge_listeners",
        "soundstage_edge_frames_sent_total",
        "soundstage_edge_frames_dropped_total",
        "soundstage_edge_slow_listeners",
        "soundstage_edge_send_queue_bytes",
        "soundstage_edge_origin_reconnects_total",
        "soundstage_edge_bytes_sent_total",
        "process_cpu_seconds_total",
    ],
    "speaker": ["soundstage_speaker_frames_sent_total", "process_cpu_seconds_total"],
}


@pytest.mark.timeout(60)
async def test_every_component_serves_its_metrics_and_health(tmp_path: Path) -> None:
    backend = LocalProcessBackend(_spec(edges=1), tmp_path)
    stack = await backend.start()
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            # The speaker goes live through the api: the room's state and go-live time appear.
            for _ in range(100):
                api_text = (await client.get(stack.metrics["api"])).text
                if 'state="live"} 1.0' in api_text:
                    break
                await asyncio.sleep(0.05)
            for name, expected in METRICS_CONTRACT.items():
                text = (await client.get(stack.metrics[name])).text
                missing = [m for m in expected if f"\n{m}" not in text]
                assert missing == [], f"{name} lacks {missing}"
                assert (await client.get(stack.health[name])).status_code == 200
        assert 'soundstage_api_room_state{room="1",state="live"} 1.0' in api_text
    finally:
        assert await backend.stop() == []  # everything stopped on SIGTERM, nothing killed
