"""A harness that dies by SIGKILL leaves nothing behind: its leased toxic runs out (issue 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from chaos.faults.client import ToxiproxyClient
from chaos.faults.server.embedded import EmbeddedToxiproxy
from tests.toxiproxy_contract_support import Upstream, connect, echo, recv_exactly

HARNESS = textwrap.dedent(
    """
    import sys, time
    from chaos.faults.client import TimeoutAttributes, ToxiproxyClient

    with ToxiproxyClient(sys.argv[1]) as client:
        client.add_toxic("edge", TimeoutAttributes(timeout=0), name="blackhole@run-1",
                         lease_ms=800)
        print("armed", flush=True)
        while True:  # a live harness renews well inside the lease
            client.renew_leases("run-1", 800)
            time.sleep(0.2)
    """
)


def _blocked(listen: str) -> bool:
    """Whether a round trip through the proxy fails (the timeout toxic swallows data)."""
    with connect(listen, timeout=0.3) as conn:
        conn.sendall(b"ping")
        try:
            return recv_exactly(conn, 4) != b"ping"
        except TimeoutError:
            return True


@pytest.mark.timeout(60)
def test_a_sigkilled_harness_leaves_no_toxic_once_its_lease_runs_out() -> None:
    upstream = Upstream(echo)
    with EmbeddedToxiproxy("127.0.0.1", 0) as server, ToxiproxyClient(server.url) as client:
        listen = client.create_proxy("edge", upstream.address).listen
        harness = subprocess.Popen(
            [sys.executable, "-c", HARNESS, server.url],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        try:
            assert harness.stdout is not None
            assert harness.stdout.readline().strip() == "armed"
            time.sleep(1.5)  # longer than the lease: only renewal keeps the toxic alive
            assert [t.name for t in client.list_toxics("edge")] == ["blackhole@run-1"]
            assert _blocked(listen)
        finally:
            harness.send_signal(signal.SIGKILL)
            harness.wait()
        killed = time.monotonic()
        while client.list_toxics("edge"):
            assert time.monotonic() - killed < 3.0, "the lease never ran out"
            time.sleep(0.05)
        assert time.monotonic() - killed >= 0.3  # it went by lease, not with the process
        assert not _blocked(listen)  # connections recover
    upstream.close()
