"""Servers under contract and the sockets that probe them.

The contract suite drives every server through raw httpx and real sockets, never through
gameday's client, so the client and the server are checked independently. A real
``toxiproxy-server`` joins the suite when ``TOXIPROXY_SERVER`` names one or one is on PATH.
"""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass

import httpx

from chaos.faults.server import EmbeddedToxiproxy


@dataclass
class ServerUnderTest:
    kind: str  # "embedded" or "toxiproxy"
    url: str
    api: httpx.Client

    def clear(self) -> None:
        """Remove every proxy so each test starts from an empty server."""
        for name in self.api.get("/proxies").json():
            self.api.delete(f"/proxies/{name}")


def real_server_binary() -> str | None:
    return os.environ.get("TOXIPROXY_SERVER") or shutil.which("toxiproxy-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def embedded_server() -> Iterator[ServerUnderTest]:
    with (
        EmbeddedToxiproxy(port=0, seed=7) as server,
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        yield ServerUnderTest("embedded", server.url, api)


def server_command(kind: str) -> list[str] | None:
    """How to start a server of this kind as its own process (None: no real one here)."""
    if kind == "embedded":
        return [sys.executable, "-m", "chaos.faults.server"]
    binary = real_server_binary()
    return [binary] if binary else None


@contextmanager
def server_process(command: list[str], *flags: str) -> Iterator[ServerUnderTest]:
    """``command -host 127.0.0.1 -port N FLAGS...``, once it answers ``/version``."""
    port = free_port()
    process = subprocess.Popen(
        [*command, "-host", "127.0.0.1", "-port", str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as api:
            deadline = time.monotonic() + 30
            while True:
                try:
                    api.get("/version")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.05)
            kind = "embedded" if command == server_command("embedded") else "toxiproxy"
            yield ServerUnderTest(kind, url, api)
    finally:
        process.terminate()
        process.wait(10)


def real_server(binary: str) -> AbstractContextManager[ServerUnderTest]:
    return server_process([binary])


# --- upstreams ---------------------------------------------------------------------------


class Upstream:
    """A threaded loopback TCP server running ``handle(conn)`` per connection."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with outer.lock:
                    outer.accepted += 1
                handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.lock = threading.Lock()
        self.accepted = 0
        self._server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def echo(conn: socket.socket) -> None:
    try:
        while data := conn.recv(65536):
            conn.sendall(data)
    except OSError:
        pass


def sender(payload: bytes) -> Callable[[socket.socket], None]:
    """Send ``payload`` at once on connect, then close."""

    def handle(conn: socket.socket) -> None:
        with suppress(OSError):
            conn.sendall(payload)

    return handle


def reply_later(delay: float, payload: bytes) -> Callable[[socket.socket], None]:
    """Read the request until EOF, wait, then answer (tests half-close propagation)."""

    def handle(conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
            time.sleep(delay)
            conn.sendall(payload)
        except OSError:
            pass

    return handle


# --- client side ------------------------------------------------------------------------


def connect(listen: str, timeout: float = 5) -> socket.socket:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "::", "0.0.0.0"):
        host = "127.0.0.1"
    conn = socket.create_connection((host, int(port)), timeout=timeout)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = conn.recv(size - len(data))
        if not part:
            break
        data += part
    return data


def recv_until_eof(conn: socket.socket) -> bytes:
    data = b""
    while part := conn.recv(65536):
        data += part
    return data


def round_trip(conn: socket.socket, payload: bytes) -> float:
    """Seconds from sending ``payload`` until it is echoed back in full."""
    start = time.perf_counter()
    conn.sendall(payload)
    assert recv_exactly(conn, len(payload)) == payload
    return time.perf_counter() - start
