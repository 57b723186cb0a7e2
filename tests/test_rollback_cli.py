"""`gameday rollback` as a person runs it, against the embedded server with live proxies."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from toxiproxy_harness import EchoServer, embedded_toxiproxy, round_trip

from chaos.errors import ExitCode
from chaos.faults.client import LatencyAttributes, TimeoutAttributes, ToxiproxyClient
from chaos.runner.run_tag import tag


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with embedded_toxiproxy() as api_url:
        yield api_url


def gameday(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    if url is not None:
        env["TOXIPROXY_URL"] = url
    else:
        env.pop("TOXIPROXY_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", "rollback", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_rollback_by_run_then_all(url: str) -> None:
    with EchoServer() as echo, ToxiproxyClient(url) as client:
        edge = client.create_proxy("edge", echo.address)
        client.create_proxy("ingest", echo.address)
        client.add_toxic("edge", LatencyAttributes(latency=10), name=tag("slow", "run-1"))
        client.add_toxic("edge", TimeoutAttributes(timeout=0), name=tag("cut", "run-2"))
        client.add_toxic("ingest", LatencyAttributes(latency=1), name="by-hand")
        client.disable_proxy("ingest")

        one_run = gameday("--run-id", "run-1", url=url)
        assert one_run.returncode == 0, one_run.stderr
        assert "removed latency toxic 'slow@run-1' (downstream) from proxy 'edge'" in one_run.stdout
        assert "left disabled: proxy 'ingest'" in one_run.stdout
        assert [t.name for t in client.list_toxics("edge")] == ["cut@run-2"]

        dry = gameday("--all", "--dry-run", "--toxiproxy-url", url)
        assert dry.returncode == 0, dry.stderr
        assert "would re-enable proxy 'ingest'" in dry.stdout
        assert len(client.list_toxics("edge")) == 1 and not client.get_proxy("ingest").enabled

        everything = gameday("--all", "--toxiproxy", url)
        assert everything.returncode == 0, everything.stderr
        assert "removed timeout toxic 'cut@run-2'" in everything.stdout
        assert "removed latency toxic 'by-hand'" in everything.stdout
        assert "re-enabled proxy 'ingest'" in everything.stdout
        proxies = client.list_proxies()
        assert all(p.enabled and p.toxics == () for p in proxies.values())
        assert round_trip(edge.listen, b"clean") == b"clean"

        again = gameday("--all", url=url)
        assert again.returncode == 0 and "nothing to roll back (all toxics)" in again.stdout
        for name in proxies:
            client.delete_proxy(name)


def test_rollback_flags_are_checked_before_any_call() -> None:
    neither = gameday(url="http://127.0.0.1:9")
    assert neither.returncode == ExitCode.INVALID_INPUT
    assert "--all" in neither.stderr and "Traceback" not in neither.stderr
    bad_id = gameday("--run-id", "no spaces", url="http://127.0.0.1:9")
    assert bad_id.returncode == ExitCode.INVALID_INPUT and "invalid run id" in bad_id.stderr
