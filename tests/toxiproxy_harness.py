"""Test helpers for driving a Toxiproxy API: an in-process embedded server and a threaded echo.

Blocking clients (our sync client, toxiproxy-python's requests) and the async client must all
reach the server, so it runs on its own event loop in a background thread.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from chaos.faults.server.embedded import EmbeddedToxiproxy


@contextmanager
def embedded_toxiproxy() -> Iterator[str]:
    """Run the embedded server on a free loopback port; yield its API URL."""
    with EmbeddedToxiproxy("127.0.0.1", 0) as server:
        yield server.url


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _EchoTCPServer)
        with server.lock:
            server.connections += 1
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _EchoTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.lock = threading.Lock()
        self.connections = 0


class EchoServer:
    """A loopback echo server in threads; counts the connections it accepted."""

    def __init__(self) -> None:
        self._server = _EchoTCPServer()
        host, port = self._server.server_address[:2]
        self.address = f"{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def connections(self) -> int:
        return self._server.connections

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def round_trip(listen: str, payload: bytes, timeout: float = 5) -> bytes:
    """Send ``payload`` through ``listen`` and read back as many bytes."""
    host, _, port = listen.rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as conn:
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return received
