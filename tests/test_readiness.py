"""Readiness of every component: HTTP (a status line of 200, so a stream will do), a TCP
connect, a URL on another component (the icecast stack's mount), and external components
(`address:`) checked before anything starts; `gameday run --health-timeout`: how long the
stack may take, named by the error when it runs out."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from runner_support import gameday

from chaos.errors import InfrastructureError
from chaos.experiment.loader import BUILTIN_SPECS, load_stack_spec
from chaos.experiment.stack import StackSpec
from chaos.metrics.prometheus_server import free_port
from chaos.stack.local import LocalProcessBackend
from chaos.stack.readiness import CHECK_TIMEOUT, not_ready_because, tcp_check

NEVER_READY = """name: never
components:
  web:
    command: [python, -c, "import time; time.sleep(120)"]
    ports: {http: {protocol: tcp}}
    health: {port: http, path: /}
links:
  client->web: {to: web.http, protocol: tcp}
"""

EXPERIMENT = """title: never ready
stack: ./never.yaml
baseline: 1s
recovery: 1s
workload: {speakers: 0}
slos:
  - {name: quiet, max: gameday_listeners_connected, equals: 0}
"""


def test_a_stack_not_ready_within_the_health_timeout_names_the_option(tmp_path: Path) -> None:
    (tmp_path / "never.yaml").write_text(NEVER_READY)
    experiment = tmp_path / "never-ready.yaml"
    experiment.write_text(EXPERIMENT)
    done = gameday(
        "run", experiment, "--health-timeout", "1s", "--out", tmp_path / "run", timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "web not healthy after 1s" in output
    assert "--health-timeout" in output


def test_a_health_timeout_that_is_no_duration_is_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "never.yaml").write_text(NEVER_READY)
    experiment = tmp_path / "never-ready.yaml"
    experiment.write_text(EXPERIMENT)
    done = gameday("run", experiment, "--health-timeout", "soon", "--out", tmp_path / "run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--health-timeout" in done.stderr


# ---------------------------------------------------------------- readiness of every component


async def _reason(url: str) -> str | None:
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT) as client:
        return await not_ready_because(client, url)


@pytest.mark.asyncio
async def test_a_tcp_check_passes_once_the_port_accepts() -> None:
    port = free_port()
    refused = await _reason(tcp_check(f"127.0.0.1:{port}"))
    assert refused is not None and "Connection refused" in refused
    with socket.create_server(("127.0.0.1", port)):
        assert await _reason(tcp_check(f"127.0.0.1:{port}")) is None


class _Endless(http.server.BaseHTTPRequestHandler):
    """A mount: 200 and audio without end on /live, 404 elsewhere (as Icecast with no source)."""

    def do_GET(self) -> None:
        if self.path != "/live":
            self.send_error(404, "Source Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg")
        self.end_headers()
        with contextlib.suppress(OSError):
            while True:
                self.wfile.write(b"\xff" * 4096)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.asyncio
async def test_an_http_check_reads_only_the_status_so_a_stream_will_do() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert await _reason(f"{base}/live") is None
        missing = await _reason(f"{base}/other")
        assert missing is not None and "answered 404" in missing
    finally:
        server.shutdown()
        server.server_close()


def _origin(ports: dict[str, int]) -> list[str]:
    return [
        sys.executable, "-m", "soundstage.origin", "--host", "127.0.0.1",
        "--ingest-port", str(ports["ingest"]), "--fanout-port", str(ports["fanout"]),
        "--metrics-port", str(ports["metrics"]),
    ]  # fmt: skip


EDGE = [
    "python", "-m", "soundstage.edge", "--host", "{host}", "--port", "{port:http}",
    "--origin", "{link:origin->edge}",
]  # fmt: skip


def _external_origin_spec(fanout: int) -> StackSpec:
    """soundstage's edge, started by gameday, fed by an origin that already runs elsewhere and
    is ready when its fan-out port accepts (a TCP check: it speaks no HTTP there)."""
    return StackSpec.model_validate(
        {
            "name": "external-origin",
            "components": {
                "origin": {
                    "address": f"127.0.0.1:{fanout}",
                    "ports": {"fanout": {}},
                    "health": {"port": "fanout"},
                },
                "edge": {
                    "command": EDGE,
                    "ports": {"http": {}},
                    "health": {"port": "http", "path": "/healthz"},
                    "after": ["origin"],
                },
            },
            "links": {"origin->edge": {"to": "origin.fanout"}},
        }
    )


@pytest.mark.asyncio
async def test_an_external_component_not_ready_fails_the_start_before_anything_starts(
    tmp_path: Path,
) -> None:
    fanout = free_port()
    backend = LocalProcessBackend(_external_origin_spec(fanout), tmp_path, health_timeout=1.0)
    with pytest.raises(InfrastructureError) as caught:
        await backend.start()
    assert "origin not healthy after 1s" in caught.value.what
    assert f"TCP connect to 127.0.0.1:{fanout}: Connection refused" in caught.value.what
    assert "--health-timeout" in (caught.value.fix or "")
    assert backend._started == [], "the edge must not start before its origin is ready"


@pytest.mark.asyncio
async def test_the_stack_waits_for_an_external_soundstage_origin(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("ingest", "fanout", "metrics")}
    backend = LocalProcessBackend(_external_origin_spec(ports["fanout"]), tmp_path)
    waited: list[list[str]] = []
    backend.on_waiting = waited.append
    starting = asyncio.ensure_future(backend.start())
    deadline = time.monotonic() + 30
    while not waited:
        assert time.monotonic() < deadline and not starting.done()
        await asyncio.sleep(0.05)
    assert waited[0] == ["origin"] and backend._started == []
    origin = subprocess.Popen(_origin(ports), stderr=subprocess.DEVNULL)
    try:
        stack = await asyncio.wait_for(starting, 60)
        try:
            assert [p.name for p in stack.processes] == ["edge"]
            edge = stack.addresses["edge"]["http"]
            assert httpx.get(f"http://{edge}/healthz", timeout=5).status_code == 200
        finally:
            await backend.stop()
    finally:
        origin.terminate()
        origin.wait(10)


@pytest.mark.asyncio
@pytest.mark.skipif(
    shutil.which("icecast2") is None or shutil.which("ffmpeg") is None,
    reason="needs icecast2 and ffmpeg",
)
async def test_the_icecast_stack_is_ready_only_once_its_mount_is_on_air(tmp_path: Path) -> None:
    """The built-in icecast stack's source is ready when its mount answers 200, so a storm at
    T0 never meets the 404 Icecast gives a mount whose source has not connected yet."""
    spec = load_stack_spec(BUILTIN_SPECS / "icecast.yaml")
    assert spec.components["source"].health is not None
    backend = LocalProcessBackend(spec, tmp_path, health_timeout=60)
    stack = await backend.start()
    try:
        mount = f"http://{stack.addresses['icecast']['http']}/live.mp3"
        async with (
            httpx.AsyncClient(timeout=5) as client,
            client.stream("GET", mount) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"] == "audio/mpeg"
    finally:
        await backend.stop()
