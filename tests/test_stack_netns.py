"""The namespace backend: real kernel loss and shared capacity, and nothing left behind.

Root-only tests are skipped with the reason elsewhere; the naming, addressing and nft rule
builders are pure and always tested.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.faults.kernel import nft, tc
from chaos.stack.capabilities import require, unsupported
from chaos.stack.netns import NamespaceBackend, cleanup
from chaos.stack.netns_probe import has_netem, probe_netns
from chaos.stack.netns_topology import POOL, Topology, choose_subnet, namespaces_of, run_key
from tests.kernel_peers import received, send_paced, throughput

PEERS = str(Path(__file__).with_name("kernel_peers.py"))
AVAILABLE = probe_netns()
needs_netns = pytest.mark.skipif(not AVAILABLE.ok, reason=f"netns: {AVAILABLE.reason}")

pytestmark = pytest.mark.xdist_group("netns")  # namespaces are counted afterwards


def _spec() -> StackSpec:
    return StackSpec.model_validate(
        {
            "name": "kernel-lab",
            "components": {
                "sink": {
                    "command": ["python", PEERS, "sink", "{host}", "{port:data}", "{port:report}"],
                    "ports": {"data": {"protocol": "udp"}, "report": {"protocol": "tcp"}},
                },
                "source": {
                    "command": ["python", PEERS, "source", "{host}", "{port:pour}"],
                    "ports": {"pour": {"protocol": "tcp"}},
                },
            },
            "links": {
                "speaker->sink": {"to": "sink.data", "protocol": "udp"},
                "listener->source": {"to": "source.pour", "protocol": "tcp"},
            },
        }
    )


def _run_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def _namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------- pure parts


@given(st.text(min_size=1, max_size=64), st.lists(st.integers(0, 255), max_size=40))
def test_topology_names_fit_the_kernel_and_addresses_stay_in_the_pool(
    run_id: str, used_thirds: list[int]
) -> None:
    used = [ipaddress.IPv4Network(f"10.213.{n}.0/24") for n in used_thirds]
    if len(set(used_thirds)) == 256:
        return
    topology = Topology.of(run_id, ["api", "edge-1", "edge-2"], used)
    assert len(topology.host_device) <= 15
    assert topology.subnet.subnet_of(POOL)
    assert not any(topology.subnet.overlaps(u) for u in used)
    addresses = {topology.address(r) for r in topology.replicas} | {topology.host_address}
    assert len(addresses) == 4
    assert all(ipaddress.IPv4Address(a) in topology.subnet for a in addresses)
    assert all(
        topology.namespace(r).startswith(f"gd-{run_key(run_id)}-") for r in topology.replicas
    )


def test_a_full_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="in use"):
        choose_subnet("00000000", [POOL])


def test_cleanup_finds_only_its_runs_namespaces() -> None:
    listed = ["gd-aaaa0000-hub (id: 3)", "gd-aaaa0000-edge-1", "gd-bbbb0000-hub", "other", ""]
    assert namespaces_of("aaaa0000", listed) == ["gd-aaaa0000-edge-1", "gd-aaaa0000-hub"]


@given(st.floats(0, 1), st.sampled_from(["upstream", "downstream", "both"]))
def test_random_loss_rules_drop_in_millionths(probability: float, direction: str) -> None:
    rule = nft.LossRule("gd_t", ("udp",), probability, direction, port=5004)  # type: ignore[arg-type]
    script = nft.ruleset(rule)
    threshold = round(probability * nft.SCALE)
    assert script.count(f"< {threshold} drop") == (
        0 if threshold == 0 and probability == 0 else 1
    ) * (2 if direction == "both" else 1)
    assert ("hook input" in script) == (direction != "downstream")
    assert ("hook output" in script) == (direction != "upstream")
    assert nft.mean_loss(rule, 1000) == probability


def test_bursty_loss_rules_use_a_timed_bad_state() -> None:
    rule = nft.LossRule("gd_b", ("udp",), 0.0, "upstream", burst_enter=0.001, burst=0.02)
    script = nft.ruleset(rule)
    assert "set bad" in script and "update @bad { meta l4proto timeout 20ms }" in script
    assert "meta l4proto udp meta l4proto @bad drop" in script
    assert 0.01 < nft.mean_loss(rule, 1000) < 0.03  # a 20-packet burst every ~1000 packets
    with pytest.raises(ValueError):
        nft.LossRule("gd_b", ("udp",), 0.0, burst_enter=0.1, burst=0)


@given(st.integers(1, 10**10))
def test_capacity_buckets_hold_a_few_frames(rate: int) -> None:
    (tbf,) = tc.capacity("eth0", rate)
    assert tbf[tbf.index("rate") + 1] == f"{rate}bit"
    assert int(tbf[tbf.index("burst") + 1]) >= 4 * tc.MTU
    htb = tc.capacity("eth0", rate, "htb")
    assert [a[0] for a in htb] == ["qdisc", "class"]


def test_capabilities_refuse_faults_a_backend_cannot_make() -> None:
    assert unsupported("local", ["latency", "kill", "partition"]) == ["partition"]
    assert unsupported("netns", ["kernel-loss", "shared-capacity", "kill"]) == []
    assert unsupported("local", ["feedback", "flood"]) == []  # the harness's, not the stack's
    with pytest.raises(InvalidInput, match="partition") as refused:
        require("local", ["partition"])
    assert "docker" in (refused.value.fix or "")
    with pytest.raises(InvalidInput, match="unknown stack backend"):
        require("kubernetes")


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the message a non-root user gets")
def test_without_root_the_backend_says_so() -> None:
    assert not AVAILABLE.ok and "root" in AVAILABLE.reason


# ---------------------------------------------------------------- the kernel, for real


@pytest.fixture
async def lab(tmp_path: Path):  # type: ignore[no-untyped-def]
    backend = NamespaceBackend(_spec(), tmp_path, _run_id(), tied=True)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.stop()
    assert not [n for n in _namespaces() if n.startswith(backend.topology.prefix)]


def _addr(backend: NamespaceBackend, replica: str, port: str) -> tuple[str, int]:
    r = next(r for r in backend.plan().replicas if r.name == replica)
    return r.host, r.ports[port]


@needs_netns
@pytest.mark.timeout(60)
async def test_random_udp_loss_of_5_percent_is_measured_at_the_receiver(
    lab: NamespaceBackend,
) -> None:
    data, report = _addr(lab, "sink", "data"), _addr(lab, "sink", "report")
    await received(*report)  # the sink is listening
    await lab.add_loss("lossy", "speaker->sink", 0.05, direction="upstream")
    await send_paced(data, 10_000, per_ms=10)
    got = await received(*report)
    loss = 1 - len(set(got)) / 10_000
    assert abs(loss - 0.05) <= 0.015, f"measured {loss:.2%} loss"
    assert await lab.remove_fault("lossy") == []
    await send_paced(data, 2_000, per_ms=10)  # after removal: nothing lost
    assert len(await received(*report)) - len(got) == 2_000


@needs_netns
@pytest.mark.timeout(60)
async def test_bursty_loss_drops_runs_of_packets(lab: NamespaceBackend) -> None:
    data, report = _addr(lab, "sink", "data"), _addr(lab, "sink", "report")
    await received(*report)
    await lab.add_loss("bursts", "speaker->sink", 0.0, burst_enter=0.002, burst=0.01)
    await send_paced(data, 10_000, per_ms=10)
    got = set(await received(*report))
    lost = [seq not in got for seq in range(10_000)]
    runs = sum(1 for i, x in enumerate(lost) if x and (i == 0 or not lost[i - 1]))
    assert runs > 3, "no bursts at all"
    mean_run = sum(lost) / runs
    assert mean_run > 20, f"losses come in runs of {mean_run:.1f} packets (random: ~1)"


@needs_netns
@pytest.mark.timeout(60)
async def test_a_10_mbit_shared_link_caps_20_connections_together(lab: NamespaceBackend) -> None:
    await lab.set_capacity("thin", "listener->source", 10_000_000)
    host, port = _addr(lab, "source", "pour")
    rate, counts = await throughput(host, port, connections=20, seconds=3.0)
    assert rate <= 10.5e6, f"{rate / 1e6:.2f} Mbit/s across 20 connections"
    assert rate >= 8e6, f"only {rate / 1e6:.2f} Mbit/s: the link was not saturated"
    # tbf queues FIFO with tail drop: on a loaded machine a flow whose segments keep being
    # dropped can sit out the 4 s in retransmission backoff (seen once: 19 of 20 moved data).
    assert sum(1 for c in counts if c > 0) >= 18


@needs_netns
@pytest.mark.timeout(60)
async def test_link_down_cuts_a_replica_off_and_comes_back(lab: NamespaceBackend) -> None:
    report = _addr(lab, "sink", "report")
    await received(*report)
    await lab.link_down("cut", "sink")
    with pytest.raises((OSError, TimeoutError)):
        await asyncio.wait_for(asyncio.open_connection(*report), 1.0)
    assert await lab.remove_fault("cut") == []
    await received(*report)


@needs_netns
@pytest.mark.timeout(60)
def test_a_sigkilled_harness_leaves_namespaces_that_stack_down_removes(tmp_path: Path) -> None:
    run_id = _run_id()
    script = (
        "import asyncio, sys, time\n"
        "from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
        "from tests.test_stack_netns import _spec\n"
        "from chaos.stack.netns import NamespaceBackend\n"
        f"b = NamespaceBackend(_spec(), Path({str(tmp_path)!r}), {run_id!r})\n"
        "asyncio.run(b.start())\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert harness.stdout is not None and harness.stdout.readline().strip() == "up"
    harness.kill()
    harness.wait()
    prefix = f"gd-{run_key(run_id)}-"
    assert len([n for n in _namespaces() if n.startswith(prefix)]) == 3  # hub, sink, source
    down = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "stack", "down", "--run-id", run_id],
        capture_output=True,
        text=True,
    )
    assert down.returncode == 0, down.stderr
    assert not [n for n in _namespaces() if n.startswith(prefix)]
    assert asyncio.run(cleanup(run_id)) == []  # idempotent


@needs_netns
@pytest.mark.timeout(120)
def test_gameday_stack_up_runs_soundstage_in_namespaces_and_down_removes_them(
    tmp_path: Path,
) -> None:
    state = tmp_path / "stack.json"

    def gameday(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chaos.cli", "stack", *args, "--state", str(state)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )

    up = gameday("up", "--backend", "netns", "--timeout", "60")
    assert up.returncode == 0, up.stdout + up.stderr
    record = json.loads(state.read_text())
    assert record["backend"] == "netns"
    prefix = f"gd-{run_key(record['run_id'])}-"
    assert len([n for n in _namespaces() if n.startswith(prefix)]) == 6  # hub + 5 replicas
    edge = record["metrics"]["edge-1"]
    assert edge.startswith("http://10.213.")
    import httpx

    # Healthy means serving; the edge dials the origin in the background, so give it a moment.
    deadline = time.monotonic() + 10
    while "soundstage_edge_origin_connected 1.0" not in httpx.get(edge, timeout=5).text:
        assert time.monotonic() < deadline, "edge-1 never connected to the origin"
        time.sleep(0.2)
    assert gameday("status").returncode == 0
    down = gameday("down")
    assert down.returncode == 0, down.stderr
    assert not [n for n in _namespaces() if n.startswith(prefix)]
    assert not state.exists()


@needs_netns
@pytest.mark.timeout(150)
def test_the_demo_experiment_passes_on_the_namespace_backend(tmp_path: Path) -> None:
    from chaos.report.journal import read_journal
    from tests.runner_support import gameday
    from tests.test_runner_soundstage import _experiment

    done = gameday(
        "run", _experiment(tmp_path), "--backend", "netns", "--out", tmp_path / "run",
        timeout=140,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: pass" in done.stdout and "rollback problem" not in done.stdout
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    assert journal.run_id is not None
    up = next(journal.of_kind("stack.up"))
    assert all(a.startswith("10.213.") for a in up["dialled"]["listener->edge"])
    assert not [n for n in _namespaces() if n.startswith(f"gd-{run_key(journal.run_id)}-")]


@needs_netns
@pytest.mark.timeout(60)
async def test_kernel_delay_uses_netem_or_says_why_not(lab: NamespaceBackend) -> None:
    report = _addr(lab, "sink", "report")
    await received(*report)
    if not has_netem():
        with pytest.raises(InfrastructureError, match="no netem") as refused:
            await lab.add_delay("slow", "speaker->sink", 0.05)
        assert "latency fault" in (refused.value.fix or "")
        assert "slow" not in lab._faults
        return
    await lab.add_delay("slow", "speaker->sink", 0.05)
    began = time.monotonic()
    await received(*report)  # a TCP handshake and a reply: at least one delayed round trip
    assert time.monotonic() - began >= 0.05
    assert await lab.remove_fault("slow") == []
