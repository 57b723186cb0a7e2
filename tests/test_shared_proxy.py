"""A fault proxy shared by several game days and by other teams (issue: never harm a shared
fault proxy): each run touches only what it created or was told to adopt; a start-up sweep
removes only what provably dead runs of the same stack left behind.

Against a real fault proxy server of the test's own (our embedded Toxiproxy-compatible server),
with `gameday run` in subprocesses as a user runs it.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_support import DATA

from chaos.faults.client import ToxiproxyClient
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.report.journal import read_journal
from chaos.runner.owners import Registry, own_record

THIRD_PARTY_RUN = "20260101T000000Z-0ther7ea"
"""A run id of another team's tool: no record of it exists on this machine."""

EXPERIMENT = """
title: shared {name}
stack: ./tiny-stack.yaml
baseline: 1s
recovery: 1s
workload: {{listeners: []}}
faults:
  - {{name: slow-{name}, at: 0s, for: {length}, link: client->web, latency: 100ms}}
slos:
  - {{name: nobody-listening, max: gameday_listeners_connected, below: 1}}
"""


@pytest.fixture
def server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(port=0) as proxy:
        yield proxy


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """Run records of this test only (the runs inherit GAMEDAY_STATE_DIR)."""
    monkeypatch.setenv("GAMEDAY_STATE_DIR", str(tmp_path / "state"))
    return Registry(tmp_path / "state" / "runs")


def _experiment(where: Path, name: str, length: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "tiny-stack.yaml", where / "tiny-stack.yaml")
    path = where / f"{name}.yaml"
    path.write_text(EXPERIMENT.format(name=name, length=length))
    return path


def _run(experiment: Path, url: str, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "run", experiment, "--toxiproxy", url, "--out", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _third_party(client: ToxiproxyClient) -> dict[str, object]:
    """Another team's proxy with a run-tagged toxic of theirs and an untagged one."""
    client.create_proxy("other-team-edge", "127.0.0.1:9", listen="127.0.0.1:0")
    client.add_toxic(
        "other-team-edge", {"latency": 50}, type="latency", name=f"their-fault@{THIRD_PARTY_RUN}"
    )
    client.add_toxic("other-team-edge", {"rate": 5}, type="bandwidth", name="hand-made")
    return _state_of(client, "other-team-edge")


def _state_of(client: ToxiproxyClient, name: str) -> dict[str, object]:
    proxy = client.get_proxy(name)
    return {
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": proxy.enabled,
        "toxics": sorted((t.name, t.type) for t in proxy.toxics),
    }


def _toxics_by_proxy(client: ToxiproxyClient) -> dict[str, set[str]]:
    return {p.name: {t.name for t in p.toxics} for p in client.list_proxies().values()}


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_game_days_share_one_fault_proxy_with_a_third_party_and_touch_nothing_of_the_other(
    tmp_path: Path, server: EmbeddedToxiproxy, state: Registry
) -> None:
    with ToxiproxyClient(server.url) as client:
        theirs = _third_party(client)
        long_run = _run(_experiment(tmp_path / "a", "a", "30s"), server.url, tmp_path / "run-a")
        # B starts once A's fault is on: B's sweep, proxies and end all happen under A's fault.
        deadline = time.monotonic() + 90
        a_toxic = None
        while a_toxic is None and time.monotonic() < deadline and long_run.poll() is None:
            for proxy, names in _toxics_by_proxy(client).items():
                a_toxic = next(((proxy, n) for n in names if n.startswith("slow-a-")), a_toxic)
            time.sleep(0.1)
        assert a_toxic is not None, "run A never applied its fault"
        short_run = _run(_experiment(tmp_path / "b", "b", "2s"), server.url, tmp_path / "run-b")
        both_on = False
        while short_run.poll() is None:
            seen = _toxics_by_proxy(client)
            assert a_toxic[1] in seen.get(a_toxic[0], set()), "A's fault went while B ran"
            assert _state_of(client, "other-team-edge") == theirs
            both_on |= any(n.startswith("slow-b-") for names in seen.values() for n in names)
            time.sleep(0.1)
        code_b, out_b = _finish(short_run)
        assert code_b == 0, out_b
        assert both_on, "B's fault was never on beside A's"
        assert a_toxic[1] in _toxics_by_proxy(client).get(a_toxic[0], set())  # B's end spared A
        long_run.terminate()  # SIGTERM: A rolls back its own fault and exits 130
        code_a, out_a = _finish(long_run)
        assert code_a == 130, out_a

        # Each run made its own proxy, named for the run, and deleted just that one.
        assert client.list_proxies().keys() == {"other-team-edge"}
        assert _state_of(client, "other-team-edge") == theirs
    runs = {}
    for name in ("a", "b"):
        journal = read_journal(tmp_path / f"run-{name}" / "journal.jsonl")
        (end,) = journal.of_kind("fault.end")
        assert end["problems"] == [], end  # its own toxic was there to remove
        (sweep,) = journal.of_kind("sweep")
        assert sweep["removed"] == [] and sweep["dead_runs"] == [], sweep
        runs[name] = journal.run_id
    assert a_toxic[0] == f"client->web@{runs['a']}"
    assert state.records(runs.values()) == {}  # clean ends leave no owner record


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_sweep_removes_a_dead_runs_leftovers_and_spares_live_and_unknown_runs(
    tmp_path: Path, server: EmbeddedToxiproxy, state: Registry
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = own_record(
        "20260101T000000Z-deadbeef", "tiny", server.url, ["client->web@20260101T000000Z-deadbeef"]
    )
    state.write(type(dead)(**{**dead.__dict__, "pid": gone.pid, "start_ticks": None}))
    live = own_record("20260101T000000Z-a11ve000", "tiny", server.url, [], pid=os.getpid())
    state.write(live)
    other_stack = own_record("20260101T000000Z-0therstk", "soundstage", server.url, [])
    state.write(type(other_stack)(**{**other_stack.__dict__, "pid": gone.pid}))
    with ToxiproxyClient(server.url) as client:
        theirs = _third_party(client)
        client.create_proxy(f"client->web@{dead.run_id}", "127.0.0.1:9", listen="127.0.0.1:0")
        client.add_toxic(
            f"client->web@{dead.run_id}",
            {"latency": 50},
            type="latency",
            name=f"slow@{dead.run_id}",
        )
        client.create_proxy("shared-edge", "127.0.0.1:9", listen="127.0.0.1:0")
        for run in (dead.run_id, live.run_id, other_stack.run_id):
            client.add_toxic("shared-edge", {"latency": 50}, type="latency", name=f"left@{run}")

        run = _run(_experiment(tmp_path, "c", "1s"), server.url, tmp_path / "run")
        code, out = _finish(run)
        assert code == 0, out
        left = _toxics_by_proxy(client)
    assert f"client->web@{dead.run_id}" not in left  # the dead run's own proxy went
    assert left["shared-edge"] == {f"left@{live.run_id}", f"left@{other_stack.run_id}"}
    with ToxiproxyClient(server.url) as client:
        assert _state_of(client, "other-team-edge") == theirs
    (sweep,) = read_journal(tmp_path / "run" / "journal.jsonl").of_kind("sweep")
    assert sweep["dead_runs"] == [dead.run_id]
    assert sorted(sweep["removed"]) == sorted(
        [f"slow@{dead.run_id} on client->web@{dead.run_id}", f"left@{dead.run_id} on shared-edge"]
    )
    assert sweep["deleted"] == [f"client->web@{dead.run_id}"]
    assert sum(sweep["kept"].values()) == 4  # live, other stack, the third party's two
    assert "left alone on the fault proxy" in out
    assert state.read(dead.run_id) is None and state.read(live.run_id) is not None


ADOPTING_STACK = """
name: already-running
components:
  web:  # already runs; its clients already dial it through the team's proxy
    address: 127.0.0.1:{port}
    ports: {{http: {{protocol: tcp}}}}
links:
  client->web: {{to: web.http, protocol: tcp, proxy: team-web}}
"""


@pytest.fixture
def web() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_adopted_proxy_gets_the_faults_and_is_neither_changed_nor_deleted(
    tmp_path: Path, server: EmbeddedToxiproxy, state: Registry, web: int
) -> None:
    (tmp_path / "tiny-stack.yaml").write_text(ADOPTING_STACK.format(port=web))
    experiment = tmp_path / "adopt.yaml"
    experiment.write_text(EXPERIMENT.format(name="adopt", length="20s"))
    with ToxiproxyClient(server.url) as client:
        client.create_proxy("team-web", f"127.0.0.1:{web}", listen="127.0.0.1:0")
        before = _state_of(client, "team-web")
        run = _run(experiment, server.url, tmp_path / "run")
        deadline = time.monotonic() + 90
        on = set()
        while not on and time.monotonic() < deadline and run.poll() is None:
            on = _toxics_by_proxy(client).get("team-web", set())
            time.sleep(0.1)
        assert any(n.startswith("slow-adopt-") for n in on), on
        assert client.list_proxies().keys() == {"team-web"}  # nothing else was made
        run.terminate()
        code, out = _finish(run)
        assert code == 130, out
        assert client.list_proxies().keys() == {"team-web"}
        assert _state_of(client, "team-web") == before  # same listen, upstream, no toxic


@pytest.mark.timeout(120)
def test_adopting_a_proxy_the_server_lacks_is_bad_input_and_starts_nothing(
    tmp_path: Path, server: EmbeddedToxiproxy, state: Registry, web: int
) -> None:
    (tmp_path / "tiny-stack.yaml").write_text(ADOPTING_STACK.format(port=web))
    experiment = tmp_path / "adopt.yaml"
    experiment.write_text(EXPERIMENT.format(name="adopt", length="2s"))
    code, out = _finish(_run(experiment, server.url, tmp_path / "run"))
    assert code == 2, out
    assert "team-web" in out and "links.client->web.proxy" in out, out
    with ToxiproxyClient(server.url) as client:
        assert client.list_proxies() == {}
