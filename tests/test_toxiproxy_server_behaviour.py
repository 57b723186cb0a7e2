"""What the embedded server promises beyond the shared contract: 400 where Toxiproxy crashes,
seeded decisions, live rewiring without losing bytes, metrics, the CLI and the Python API."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chaos.faults.server import EmbeddedToxiproxy, ToxiproxyServer
from tests.toxiproxy_contract_support import (
    Upstream,
    connect,
    echo,
    free_port,
    recv_exactly,
    recv_until_eof,
    round_trip,
    sender,
)


@pytest.fixture(scope="module")
def echo_up() -> Iterator[Upstream]:
    upstream = Upstream(echo)
    yield upstream
    upstream.close()


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    with EmbeddedToxiproxy(port=0, seed=3) as server, httpx.Client(base_url=server.url) as client:
        yield client


def make_proxy(api: httpx.Client, upstream: str, name: str = "p") -> str:
    response = api.post(
        "/proxies", json={"name": name, "listen": "127.0.0.1:0", "upstream": upstream}
    )
    assert response.status_code == 201, response.text
    listen: str = response.json()["listen"]
    return listen


def test_crashing_values_get_400_on_create_and_update(api: httpx.Client, echo_up: Upstream) -> None:
    make_proxy(api, echo_up.address)
    created = api.post("/proxies/p/toxics", json={"type": "bandwidth", "attributes": {"rate": 0}})
    assert created.status_code == 400
    assert created.headers["content-type"] == "text/plain; charset=utf-8"
    assert created.json()["error"].startswith("invalid bandwidth toxic: attribute rate must be")
    api.post("/proxies/p/toxics", json={"type": "slicer", "attributes": {"average_size": 8}})
    updated = api.patch(
        "/proxies/p/toxics/slicer_downstream", json={"attributes": {"average_size": 0}}
    )
    assert updated.status_code == 400
    kept = api.get("/proxies/p/toxics/slicer_downstream").json()
    assert kept["attributes"]["average_size"] == 8


def delayed_pattern(seed: int, upstream: str, connections: int) -> list[bool]:
    """Which connections a 50 %-toxicity latency delays, each checked over three round trips."""
    with EmbeddedToxiproxy(port=0, seed=seed) as server, httpx.Client(base_url=server.url) as api:
        listen = make_proxy(api, upstream)
        api.post(
            "/proxies/p/toxics",
            json={"type": "latency", "toxicity": 0.5, "attributes": {"latency": 80}},
        )
        pattern = []
        for _ in range(connections):
            with connect(listen) as conn:
                slow = [round_trip(conn, b"x") > 0.05 for _ in range(3)]
            assert len(set(slow)) == 1, "toxicity is rolled per connection, never per chunk"
            pattern.append(slow[0])
        return pattern


def test_seed_makes_toxicity_rolls_reproducible(echo_up: Upstream) -> None:
    first = delayed_pattern(11, echo_up.address, 10)
    assert first == delayed_pattern(11, echo_up.address, 10)
    assert True in first and False in first


def test_toxic_added_mid_transfer_loses_no_bytes(api: httpx.Client) -> None:
    payload = os.urandom(8 << 20)
    upstream = Upstream(sender(payload))
    try:
        listen = make_proxy(api, upstream.address)
        with connect(listen, timeout=10) as conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            received = recv_exactly(conn, 1 << 20)
            time.sleep(0.1)  # the proxy is now blocked with bytes spliced but unwritten
            assert api.post("/proxies/p/toxics", json={"type": "noop"}).status_code == 200
            received += recv_until_eof(conn)
    finally:
        upstream.close()
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()


def test_removing_latency_releases_the_held_chunk_at_once(
    api: httpx.Client, echo_up: Upstream
) -> None:
    listen = make_proxy(api, echo_up.address)
    api.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 5000}})
    with connect(listen) as conn:
        start = time.perf_counter()
        conn.sendall(b"held")
        time.sleep(0.05)
        assert api.delete("/proxies/p/toxics/latency_downstream").status_code == 204
        assert recv_exactly(conn, 4) == b"held"
        assert time.perf_counter() - start < 1


def test_updating_a_toxic_applies_to_live_connections(api: httpx.Client, echo_up: Upstream) -> None:
    listen = make_proxy(api, echo_up.address)
    api.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 300}})
    with connect(listen) as conn:
        assert round_trip(conn, b"a") > 0.29
        api.patch("/proxies/p/toxics/latency_downstream", json={"attributes": {"latency": 0}})
        assert round_trip(conn, b"b") < 0.1


def test_metrics_only_with_the_flag(echo_up: Upstream) -> None:
    with EmbeddedToxiproxy(port=0) as plain:
        assert httpx.get(f"{plain.url}/metrics").status_code == 404
    with EmbeddedToxiproxy(port=0, runtime_metrics=True) as runtime:
        process = httpx.get(f"{runtime.url}/metrics").text
        assert "process_cpu_seconds_total" in process and "toxiproxy_proxy" not in process
    with EmbeddedToxiproxy(port=0, proxy_metrics=True) as server:
        api = httpx.Client(base_url=server.url)
        listen = make_proxy(api, echo_up.address)
        with connect(listen) as conn:
            round_trip(conn, b"12345")
        deadline = time.monotonic() + 10  # counted when both links have ended
        while "toxiproxy_proxy_sent" not in (text := api.get("/metrics").text):
            assert time.monotonic() < deadline, text
            time.sleep(0.02)
    labels = f'listener="{listen}",proxy="p",upstream="{echo_up.address}"'
    assert f'toxiproxy_proxy_received_bytes_total{{direction="upstream",{labels}}} 5\n' in text
    assert f'toxiproxy_proxy_sent_bytes_total{{direction="downstream",{labels}}} 5\n' in text


def _through(text: str) -> dict[str, float]:
    """``gameday_proxy_sent_bytes_total`` by direction, from an exposition."""
    prefix = 'gameday_proxy_sent_bytes_total{direction="'
    return {
        line[len(prefix) :].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


@pytest.mark.parametrize("toxic", [False, True], ids=["spliced", "through a toxic"])
def test_bytes_through_a_proxy_count_as_they_pass_not_only_when_the_link_ends(
    echo_up: Upstream, toxic: bool
) -> None:
    """Toxiproxy's counters grow when a connection ends; ours grow while it is open, on both
    forwarding paths (kernel splice, and the chunk path a toxic puts a link on), so a scrape
    mid-run sees a long-lived stream's throughput; after Toxiproxy's families."""
    with EmbeddedToxiproxy(port=0, proxy_metrics=True) as server:
        api = httpx.Client(base_url=server.url)
        listen = make_proxy(api, echo_up.address)
        if toxic:
            api.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 0}})
        with connect(listen) as conn:
            round_trip(conn, b"x" * 3000)
            deadline = time.monotonic() + 10
            while _through(text := api.get("/metrics").text) != {
                "downstream": 3000,
                "upstream": 3000,
            }:
                assert time.monotonic() < deadline, text
                time.sleep(0.02)
            assert "toxiproxy_proxy_sent" not in text  # Toxiproxy's own: not before the end
        deadline = time.monotonic() + 10
        while "toxiproxy_proxy_sent" not in (text := api.get("/metrics").text):
            assert time.monotonic() < deadline, text
            time.sleep(0.02)
    assert _through(text) == {"downstream": 3000, "upstream": 3000}  # ended: counted once
    families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert families[-1] == "gameday_proxy_sent_bytes_total"


async def test_async_context_manager_runs_in_the_callers_loop(echo_up: Upstream) -> None:
    async with ToxiproxyServer(port=0) as server, httpx.AsyncClient(base_url=server.url) as api:
        assert (await api.get("/version")).status_code == 200
        created = await api.post(
            "/proxies", json={"name": "a", "listen": "127.0.0.1:0", "upstream": echo_up.address}
        )
        assert created.status_code == 201


def test_embedded_reports_a_busy_port() -> None:
    with EmbeddedToxiproxy(port=0) as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(
            OSError, match=f"listen tcp 127.0.0.1:{port}: bind: address already in use"
        ):
            EmbeddedToxiproxy(port=port).start()


def gameday(*args: str) -> list[str]:
    return [sys.executable, "-c", "from chaos.cli import main; main()", *args]


def test_cli_serve_with_config_and_single_dash_flags(tmp_path: Path, echo_up: Upstream) -> None:
    listen_port, api_port = free_port(), free_port()
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps(
            [{"name": "c", "listen": f"127.0.0.1:{listen_port}", "upstream": echo_up.address}]
        )
    )
    process = subprocess.Popen(
        gameday("proxy", "serve", "-port", str(api_port), "-config", str(config), "-seed", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                proxies = httpx.get(f"http://127.0.0.1:{api_port}/proxies").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        assert proxies["c"]["listen"] == f"127.0.0.1:{listen_port}"
        with connect(f"127.0.0.1:{listen_port}") as conn:
            round_trip(conn, b"via cli")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0


def test_cli_rejects_a_bad_config_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text('[{"name": "x"}]')
    done = subprocess.run(
        gameday("proxy", "serve", "--port", str(free_port()), "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "missing required field: upstream at proxy 1" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_cli_busy_port_is_exit_3() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            gameday("proxy", "serve", "-port", str(port)),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 3
    assert "address already in use" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(60)
def test_rewiring_toxics_under_load_keeps_every_byte_in_order(api: httpx.Client) -> None:
    payload = os.urandom(6 << 20)
    upstream = Upstream(sender(payload))
    passing = [
        {"type": "noop"},
        {"type": "latency", "attributes": {"latency": 2, "jitter": 1}},
        {"type": "slicer", "attributes": {"average_size": 4000, "size_variation": 1000}},
        {"type": "bandwidth", "attributes": {"rate": 200_000}},
        {"type": "slow_close", "attributes": {"delay": 1}},
    ]
    try:
        listen = make_proxy(api, upstream.address)
        with connect(listen, timeout=20) as conn:
            received = bytearray()
            step = 0
            while part := conn.recv(256 * 1024):
                received += part
                toxic = passing[step % len(passing)]
                name = f"t{step % 3}"
                if api.get(f"/proxies/p/toxics/{name}").status_code == 200:
                    if step % 2:
                        api.delete(f"/proxies/p/toxics/{name}")
                    else:
                        api.patch(f"/proxies/p/toxics/{name}", json={"toxicity": 0.5})
                else:
                    api.post("/proxies/p/toxics", json={**toxic, "name": name})
                step += 1
    finally:
        upstream.close()
    assert step > 10
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()


def test_link_returns_to_splice_when_its_last_toxic_goes(echo_up: Upstream) -> None:
    with EmbeddedToxiproxy(port=0) as server, httpx.Client(base_url=server.url) as api:
        listen = make_proxy(api, echo_up.address)
        with connect(listen) as conn:
            round_trip(conn, b"spliced")
            (connection,) = server.server.registry.proxies["p"].connections
            assert connection.down.chain is None and connection.up.chain is None
            api.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 100}})
            assert round_trip(conn, b"chunked") >= 0.1
            assert connection.down.chain is not None and connection.up.chain is None
            api.delete("/proxies/p/toxics/latency_downstream")
            assert round_trip(conn, b"spliced again") < 0.08
            assert connection.down.chain is None


def test_without_pipes_a_link_copies_through_the_chunk_path(
    echo_up: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaos.faults.server import splice

    def no_pipes(self: splice.PipePool) -> tuple[int, int]:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(splice.PipePool, "acquire", no_pipes)
    with EmbeddedToxiproxy(port=0) as server, httpx.Client(base_url=server.url) as api:
        listen = make_proxy(api, echo_up.address)
        with connect(listen) as conn:
            payload = os.urandom(300_000)
            conn.sendall(payload)
            assert recv_exactly(conn, len(payload)) == payload


def test_features_endpoint_tells_our_server_from_toxiproxy(api: httpx.Client) -> None:
    from chaos import __version__
    from chaos.faults.server.api import FEATURES

    response = api.get("/gameday/features")
    assert response.status_code == 200
    body = response.json()
    assert body == {"server": "gameday", "version": __version__, "features": list(FEATURES)}
    assert {"seed", "leases", "tags", "loss", "shared_bandwidth"} <= set(body["features"])


def test_cli_rejects_an_unknown_log_level_with_exit_2() -> None:
    done = subprocess.run(
        gameday("proxy", "serve", "-port", str(free_port())),
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "LOG_LEVEL": "loud"},
    )
    assert done.returncode == 2
    assert "unknown log level 'loud'" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


HEAVY = ("aiohttp", "numpy", "typer", "pydantic", "prometheus_client", "httpx", "rich", "chaos.cli")


@pytest.mark.parametrize(
    "start",
    [
        "from chaos.entry import main; sys.argv = ['gameday', 'proxy', 'serve', '-version']; "
        "main()",
        "import runpy; sys.argv = ['x', '-version']; runpy.run_module('chaos.faults.server', "
        "run_name='__main__')",
    ],
    ids=["gameday proxy serve", "python -m chaos.faults.server"],
)
def test_the_server_starts_without_loading_the_rest_of_gameday(start: str) -> None:
    """A proxy restarts in every run and test: what it imports is what it takes to start."""
    probe = (
        "import atexit, sys\n"
        f"heavy = {HEAVY!r}\n"
        "atexit.register(lambda: print('loaded:', sorted(m for m in sys.modules "
        "if m in heavy or m.split('.')[0] in heavy)))\n"
        f"{start}\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("toxiproxy-server version 2.12.0"), done.stdout
    assert done.stdout.splitlines()[-1] == "loaded: []"


def test_proxy_metrics_lines_are_written_as_gos_client_writes_them() -> None:
    from chaos.faults.server.metrics import ServerMetrics, go_float

    assert [go_float(v) for v in (1500, 1e6, 1.5e6, 999999, 0.25, 1.5e-5, 0)] == [
        "1500",
        "1e+06",
        "1.5e+06",
        "999999",
        "0.25",
        "1.5e-05",
        "0",
    ]
    metrics = ServerMetrics(proxy_metrics=True, runtime_metrics=False)
    body, content_type = metrics.render()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b"toxiproxy" not in body  # a family appears with its first sample, as in Go
    metrics.link_finished(("upstream", 'q"x', "127.0.0.1:1", "127.0.0.1:2"), 10, 7, False)
    metrics.link_finished(("downstream", "a", "127.0.0.1:3", "127.0.0.1:4"), 3, 3, True)
    text = metrics.render()[0].decode()
    assert (
        'toxiproxy_proxy_received_bytes_total{direction="downstream",listener="127.0.0.1:3",'
        'proxy="a",upstream="127.0.0.1:4"} 3\n'
        'toxiproxy_proxy_received_bytes_total{direction="upstream",listener="127.0.0.1:1",'
        'proxy="q\\"x",upstream="127.0.0.1:2"} 10\n'
    ) in text
    assert 'toxiproxy_proxy_sent_bytes_total{direction="downstream"' not in text  # write failed
