"""The client's edges when no Toxiproxy answers: timeouts, refusals, strangers on the port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from chaos.errors import ExitCode, InfrastructureError
from chaos.faults.client import (
    AsyncToxiproxyClient,
    ToxiproxyClient,
    ToxiproxyProtocolError,
    ToxiproxyTimeout,
    ToxiproxyUnreachable,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"
        server.close()


@pytest.fixture
async def silent_url() -> AsyncIterator[str]:
    """A server that accepts, reads, and never answers (a wedged process)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(65536)

    async for url in _serve(hold):
        yield url
    for writer in held:
        writer.close()


@pytest.fixture
async def hangup_url() -> AsyncIterator[str]:
    """A server that accepts and closes at once without an HTTP answer."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async for url in _serve(hang_up):
        yield url


@pytest.fixture
def closed_url() -> str:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_async_call_on_a_silent_server_times_out(silent_url: str) -> None:
    async with AsyncToxiproxyClient(silent_url, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(ToxiproxyTimeout) as caught:
            await client.list_proxies()
    assert 0.25 < time.monotonic() - started < 3
    assert silent_url in str(caught.value) and "0.3 s" in str(caught.value)
    assert caught.value.exit_code == ExitCode.INFRASTRUCTURE


async def test_sync_call_on_a_silent_server_times_out(silent_url: str) -> None:
    def call() -> None:
        with ToxiproxyClient(silent_url, timeout=0.3) as client:
            client.reset()

    with pytest.raises(ToxiproxyTimeout):
        await asyncio.to_thread(call)


async def test_a_server_that_hangs_up_is_reported_as_not_toxiproxy(hangup_url: str) -> None:
    async with AsyncToxiproxyClient(hangup_url) as client:
        with pytest.raises(ToxiproxyProtocolError, match="does not speak the Toxiproxy API"):
            await client.version()


async def test_async_unreachable_server_names_the_url_and_the_fix(closed_url: str) -> None:
    async with AsyncToxiproxyClient(closed_url) as client:
        with pytest.raises(ToxiproxyUnreachable) as caught:
            await client.server_info()
    assert isinstance(caught.value, InfrastructureError)
    message = str(caught.value)
    assert closed_url in message and "gameday proxy serve" in message
    assert "TOXIPROXY_URL" in message


def test_sync_unreachable_server(closed_url: str) -> None:
    with ToxiproxyClient(closed_url) as client, pytest.raises(ToxiproxyUnreachable):
        client.list_proxies()


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ToxiproxyClient(timeout=0)


def test_cli_exits_3_with_a_clear_message_when_unreachable(closed_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "rollback", "--all", "--toxiproxy", closed_url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == ExitCode.INFRASTRUCTURE, done.stderr
    assert "Traceback" not in done.stderr
    assert closed_url in done.stderr and "gameday proxy serve" in done.stderr
