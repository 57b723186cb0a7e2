"""Kernel-level and partition faults written in experiments: models, validation, and runs.

`loss` with `layer: kernel`, `capacity` and `partition` are made by the stack backend, so an
experiment asks for them and the backend's capability list decides where it runs: refused on
the local backend (exit 2, backend named), carried out on netns (root) and Docker (engine).
Off netns a `capacity` is the fault proxy's `shared_bandwidth` toxic on each of the link's proxies.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from chaos.experiment.faults import CapacityFault, Fault, LossFault, PartitionFault
from chaos.experiment.loader import load_experiment
from chaos.report.journal import read_journal
from chaos.runner.run import plan_for
from chaos.stack.capabilities import BACKENDS, unsupported
from chaos.stack.docker_engine import probe_engine
from chaos.stack.netns_probe import probe_netns
from chaos.stack.netns_topology import PREFIX, run_key
from tests.docker_support import labelled
from tests.experiment_helpers import BASE, issues, load, with_
from tests.runner_support import DATA, gameday

FAULT: TypeAdapter[Fault] = TypeAdapter(Fault)
WINDOW = {"at": "5s", "for": "10s"}


pytestmark = pytest.mark.slow  # first in the queue: see conftest


def _fault(**fields: Any) -> Fault:
    return FAULT.validate_python({"name": "f", **WINDOW, **fields})


# ---------------------------------------------------------------- models


def test_each_kernel_fault_names_the_capability_a_backend_must_have() -> None:
    kernel_loss = _fault(link="speaker->ingest", loss="5%", layer="kernel")
    proxy_loss = _fault(link="speaker->ingest", loss="5%")
    capacity = _fault(link="listener->edge", capacity="10Mbps")
    cut = _fault(partition="origin")
    assert isinstance(kernel_loss, LossFault) and kernel_loss.capability == "kernel-loss"
    assert proxy_loss.capability == "loss"
    assert isinstance(capacity, CapacityFault) and capacity.capability == "shared-capacity"
    assert isinstance(cut, PartitionFault) and (cut.capability, cut.partition) == (
        "partition",
        "origin",
    )
    assert unsupported("local", [f.capability for f in (kernel_loss, capacity, cut)]) == [
        "kernel-loss",
        "partition",
    ]  # a capacity off netns is the fault proxy's shared_bandwidth toxic
    assert unsupported("netns", ["kernel-loss", "shared-capacity", "partition"]) == []
    assert unsupported("docker", ["partition", "shared-capacity"]) == []


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"link": "l", "loss": "5%", "layer": "kernel", "toxicity": "50%"}, "toxicity"),
        ({"link": "l", "loss": "5%", "layer": "nic"}, "layer"),
        ({"link": "l", "capacity": "0bps"}, "at least 8bps"),
        ({"link": "l", "capacity": "10Mbps", "direction": "upstream"}, "downstream"),
        ({"partition": "origin", "at": "5s"}, "for"),
    ],
)
def test_a_kernel_fault_that_cannot_be_made_is_refused(
    fields: dict[str, Any], fragment: str
) -> None:
    document = {"name": "f", **WINDOW, **fields}
    if "for" not in fields and "partition" in fields:
        del document["for"]
    with pytest.raises(ValidationError) as caught:
        FAULT.validate_python(document)
    assert fragment in str(caught.value)


@given(st.integers(min_value=1, max_value=10_000))
def test_a_capacity_in_mbps_keeps_every_bit(megabits: int) -> None:
    fault = _fault(link="listener->edge", capacity=f"{megabits}Mbps")
    assert isinstance(fault, CapacityFault)
    assert int(fault.capacity.bytes_per_second * 8) == megabits * 1_000_000
    assert FAULT.validate_python(fault.model_dump(mode="json", by_alias=True)) == fault


# ---------------------------------------------------------------- validation against the stack


def _with_fault(fault: dict[str, Any]) -> dict[str, Any]:
    return with_(("faults",), [{"name": "f", **WINDOW, **fault}], BASE)


def test_loss_on_a_tcp_link_loads_at_either_layer(tmp_path: Path) -> None:
    # Kernel loss drops packets (TCP retransmits); proxy loss is our proxy's TCP loss toxic
    # (a stock Toxiproxy lacks it, and the run refuses it there before anything starts).
    load(_with_fault({"link": "listener->edge", "loss": "5%", "layer": "kernel"}), tmp_path)
    load(_with_fault({"link": "listener->edge", "loss": "5%"}), tmp_path)


def test_a_partition_names_a_component_or_replica_of_the_stack(tmp_path: Path) -> None:
    load(_with_fault({"partition": "edge-2"}), tmp_path)
    (issue,) = issues(_with_fault({"partition": "orgin"}), tmp_path)
    assert issue.path == "faults[0].partition" and "origin" in issue.message


def test_overlapping_capacities_of_one_link_would_undo_each_other(tmp_path: Path) -> None:
    faults = [
        {"name": "a", "at": "0s", "for": "10s", "link": "listener->edge", "capacity": "10Mbps"},
        {"name": "b", "at": "5s", "for": "10s", "link": "listener->edge", "capacity": "5Mbps"},
    ]
    found = issues(with_(("faults",), faults, BASE), tmp_path)
    assert any("overlaps 'a'" in i.message and "capacity" in i.message for i in found)


# ---------------------------------------------------------------- runs


KERNEL_RUN = """
title: tiny kernel faults
stack: ./tiny-stack.yaml
baseline: 1s
recovery: 1s
workload: {{listeners: []}}
faults:
{faults}
slos:
  - {{name: nobody-listening, max: gameday_listeners_connected, below: 1}}
"""


def _experiment(where: Path, *faults: str) -> Path:
    (where / "tiny-stack.yaml").write_text((DATA / "tiny-stack.yaml").read_text())
    path = where / "kernel.yaml"
    path.write_text(KERNEL_RUN.format(faults="\n".join(f"  - {f}" for f in faults)))
    return path


@pytest.mark.parametrize(
    ("fault", "kinds"),
    [
        ("{name: cut, at: 0s, for: 1s, partition: web}", "partition"),
        (
            "{name: drop, at: 0s, for: 1s, link: client->web, loss: 5%, layer: kernel}",
            "kernel-loss",
        ),
    ],
)
def test_the_local_backend_refuses_kernel_faults_before_anything_starts(
    tmp_path: Path, fault: str, kinds: str
) -> None:
    done = gameday("run", _experiment(tmp_path, fault), "--out", tmp_path / "run", timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "kernel.yaml:" in said and "the local backend cannot make" in said, said
    assert kinds.split("-")[-1] in said and "--backend" in said, said
    # Refused as the file loads: no run directory, no journal, nothing started.
    assert not (tmp_path / "run" / "journal.jsonl").exists()


def _in(namespace: str, *argv: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(not probe_netns().ok, reason=f"netns: {probe_netns().reason}")
@pytest.mark.xdist_group("netns")
@pytest.mark.timeout(90)
def test_kernel_loss_capacity_and_partition_run_on_namespaces_and_leave_nothing(
    tmp_path: Path,
) -> None:
    path = _experiment(
        tmp_path,
        "{name: thin, at: 0s, for: 2s, link: client->web, capacity: 10Mbps}",
        "{name: drop, at: 0s, for: 2s, link: client->web, loss: 5%, layer: kernel}",
        "{name: cut, at: 2s, for: 1s, partition: web}",
    )
    # The stack is kept, so what the faults left in its namespace can be looked at.
    done = gameday(
        "run", path, "--backend", "netns", "--keep-stack", "--out", tmp_path / "run", cwd=tmp_path
    )
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    assert journal.run_id is not None
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        starts = {e["name"]: e for e in journal.of_kind("fault.start")}
        assert starts["thin"]["bits_per_second"] == 10_000_000
        assert starts["thin"]["discipline"] == "tbf" and starts["thin"]["layer"] == "kernel"
        assert starts["drop"]["probability"] == 0.05
        assert starts["drop"]["params"]["layer"] == "kernel"
        assert starts["cut"]["replicas"] == ["web"]
        ends = {e["name"]: e for e in journal.of_kind("fault.end")}
        assert set(ends) == {"thin", "drop", "cut"}
        assert all(e["problems"] == [] for e in ends.values())
        namespace = f"{PREFIX}{run_key(journal.run_id)}-web"
        assert "tbf" not in _in(namespace, "tc", "qdisc", "show", "dev", "eth0")
        assert "gd_" not in _in(namespace, "nft", "list", "tables")
        assert "state UP" in _in(namespace, "ip", "link", "show", "eth0")
    finally:
        gameday("stack", "down", "--run-id", journal.run_id, cwd=tmp_path)


@pytest.mark.skipif(not probe_netns().ok, reason=f"netns: {probe_netns().reason}")
@pytest.mark.xdist_group("netns")
@pytest.mark.timeout(90)
def test_sigint_during_a_capacity_fault_rolls_it_back_out_of_the_kernel(tmp_path: Path) -> None:
    path = _experiment(
        tmp_path, "{name: thin, at: 0s, for: 20s, link: client->web, capacity: 1Mbps}"
    )
    journal_path = tmp_path / "run" / "journal.jsonl"
    run = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "run", str(path), "--backend", "netns",
         "--keep-stack", "--out", str(tmp_path / "run")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while '"fault.start"' not in (journal_path.read_text() if journal_path.exists() else ""):
        assert time.monotonic() < deadline and run.poll() is None, "the fault never started"
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=60)
    journal = read_journal(journal_path)
    assert journal.run_id is not None
    try:
        assert run.returncode == 130, output
        (end,) = journal.of_kind("fault.end")
        assert end["name"] == "thin" and end["problems"] == []
        namespace = f"{PREFIX}{run_key(journal.run_id)}-web"
        assert "tbf" not in _in(namespace, "tc", "qdisc", "show", "dev", "eth0")
    finally:
        gameday("stack", "down", "--run-id", journal.run_id, cwd=tmp_path)


@pytest.mark.skipif(not probe_engine().ok, reason=f"docker: {probe_engine().reason}")
@pytest.mark.xdist_group("docker")
@pytest.mark.timeout(900)  # the first test of a worker to ask for the image may build it
def test_a_partition_runs_on_docker_and_leaves_no_container(tmp_path: Path, image: str) -> None:
    path = _experiment(tmp_path, "{name: cut, at: 0s, for: 2s, partition: web}")
    # the tiny stack is Python only, as soundstage is: its image serves (as a user's own would)
    done = gameday(
        *("run", path, "--backend", "docker", "--out", tmp_path / "run"),
        env={"GAMEDAY_IMAGE": image},
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    (start,) = journal.of_kind("fault.start")
    (end,) = journal.of_kind("fault.end")
    assert (start["type"], start["replicas"]) == ("partition", ["web"])
    assert end["problems"] == [] and end["mono"] - start["mono"] > 1.5
    assert journal.run_id is not None and labelled(journal.run_id) == []


def test_every_backend_lists_what_it_can_make() -> None:
    done = gameday("backends", timeout=60)
    assert done.returncode == 0, done.stderr
    for name in BACKENDS:
        assert name in done.stdout
    assert "partition" in done.stdout and "shared-capacity" in done.stdout


def test_a_dry_run_refuses_what_the_backend_cannot_make_and_names_it(tmp_path: Path) -> None:
    path = _experiment(tmp_path, "{name: cut, at: 0s, for: 1s, partition: web}")
    done = gameday("run", path, "--dry-run", timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "kernel.yaml:8:45: faults[0].partition" in said  # located, before anything starts
    assert "the local backend cannot make a partition fault" in said and "--backend" in said
    shown = gameday("run", path, "--dry-run", "--backend", "docker", timeout=60)
    assert shown.returncode == 0 and "dry run: nothing was started" in shown.stdout


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).parent.parent / "experiments").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_every_experiment_of_the_library_passes_its_dry_run(path: Path) -> None:
    assert plan_for(load_experiment(path), 1.0).total > 0


# ---------------------------------------------------------------- the driver against fakes


class _Kernel:
    """A namespace backend's kernel-fault surface that records calls (and can fail one)."""

    def __init__(self, failing: str = "") -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.held: set[str] = set()
        self.failing = failing

    async def add_loss(self, name: str, link: str, probability: float, **kw: Any) -> None:
        self.calls.append(("loss", name, link, probability, kw["direction"]))
        self.held.add(name)

    async def set_capacity(self, name: str, link: str, rate_bps: int, discipline: str) -> None:
        self.calls.append(("capacity", name, link, rate_bps, discipline))
        self.held.add(name)

    async def link_down(self, name: str, replica: str) -> None:
        self.calls.append(("down", name, replica))
        self.held.add(name)

    async def remove_fault(self, name: str) -> list[str]:
        self.calls.append(("remove", name))
        self.held.discard(name)
        return [f"{name}: tc said no"] if name == self.failing else []

    async def remove_all_faults(self) -> list[str]:
        self.calls.append(("remove-all",))
        return []


class _Docker:
    def __init__(self) -> None:
        self.cut: list[str] = []
        self.calls: list[tuple[str, str]] = []

    async def partition(self, name: str) -> None:
        self.calls.append(("partition", name))
        self.cut.append(name)

    async def heal(self, name: str) -> None:
        self.calls.append(("heal", name))
        self.cut.remove(name)


def _driver(
    tmp_path: Path,
    backend: object,
    faults: list[dict[str, Any]],
    client: object = None,
    proxies: dict[str, list[str]] | None = None,
) -> Any:
    from typing import cast

    from chaos.faults.client import AsyncToxiproxyClient
    from chaos.report.journal import JournalWriter
    from chaos.runner.faults import FaultDriver
    from chaos.stack.backend import StackBackend

    loaded = load(with_(("faults",), faults, BASE), tmp_path)
    journal = JournalWriter(tmp_path / "journal.jsonl", run_id="RUN1")
    driver = FaultDriver(
        cast(AsyncToxiproxyClient, client),
        cast(StackBackend, backend),
        loaded.stack,
        proxies or {},
        "RUN1",
        journal,
    )
    return driver, loaded.experiment.faults


async def test_kernel_faults_go_through_the_backend_and_rollback_takes_every_one_back(
    tmp_path: Path,
) -> None:
    kernel = _Kernel(failing="thin")
    driver, faults = _driver(
        tmp_path,
        kernel,
        [
            {"name": "thin", **WINDOW, "link": "listener->edge", "capacity": "10Mbps"},
            {"name": "drop", **WINDOW, "link": "speaker->ingest", "loss": "5%", "layer": "kernel"},
            {"name": "cut", "at": "20s", "for": "1s", "partition": "edge"},
        ],
    )
    for fault in faults:
        await driver.apply(fault)
    assert kernel.calls == [
        ("capacity", "thin", "listener->edge", 10_000_000, "tbf"),
        ("loss", "drop", "speaker->ingest", 0.05, "both"),
        ("down", "cut@edge-1", "edge-1"),
        ("down", "cut@edge-2", "edge-2"),
    ]
    problems = await driver.rollback()
    # Latest first, each one undone even though one removal failed; then the backend's sweep.
    assert kernel.calls[4:] == [
        ("remove", "cut@edge-1"),
        ("remove", "cut@edge-2"),
        ("remove", "drop"),
        ("remove", "thin"),
        ("remove-all",),
    ]
    assert kernel.held == set()
    assert any("thin: tc said no" in p for p in problems)
    journal = read_journal(tmp_path / "journal.jsonl")
    ends = {e["name"]: e["problems"] for e in journal.of_kind("fault.end")}
    failed = {e["name"]: e["problems"] for e in journal.of_kind("fault.end_failed")}
    # A fault whose removal failed is never journalled as ended: it is an end that failed.
    assert ends == {"drop": [], "cut": []}
    assert list(failed) == ["thin"] and any("tc said no" in p for p in failed["thin"])


async def test_a_partition_on_docker_disconnects_each_replica_and_heals_it(tmp_path: Path) -> None:
    docker = _Docker()
    driver, (cut,) = _driver(
        tmp_path, docker, [{"name": "cut", "at": "0s", "for": "1s", "partition": "edge"}]
    )
    await driver.apply(cut)
    assert docker.cut == ["edge-1", "edge-2"]
    assert await driver.remove(cut) == []
    assert docker.calls[2:] == [("heal", "edge-1"), ("heal", "edge-2")] and docker.cut == []


class _Proxy:
    """A fault proxy's toxic surface that records what is added and removed."""

    def __init__(self) -> None:
        self.toxics: dict[tuple[str, str], dict[str, Any]] = {}

    async def add_toxic(self, proxy: str, attributes: dict[str, Any], **kw: Any) -> None:
        self.toxics[(proxy, kw["name"])] = {"attributes": attributes, **kw}

    async def remove_toxic(self, proxy: str, name: str) -> None:
        del self.toxics[(proxy, name)]


async def test_a_capacity_off_netns_is_a_shared_bandwidth_toxic_on_each_proxy_of_the_link(
    tmp_path: Path,
) -> None:
    proxy = _Proxy()
    links = {"listener->edge": ["listener->edge#1", "listener->edge#2"]}
    driver, (thin,) = _driver(
        tmp_path,
        _Docker(),
        [{"name": "thin", **WINDOW, "link": "listener->edge", "capacity": "10Mbps"}],
        client=proxy,
        proxies=links,
    )
    await driver.apply(thin)
    assert sorted(proxy.toxics) == [
        ("listener->edge#1", "thin@RUN1"),
        ("listener->edge#2", "thin@RUN1"),
    ]
    for toxic in proxy.toxics.values():
        assert toxic["type"] == "shared_bandwidth" and toxic["stream"] == "downstream"
        assert toxic["attributes"] == {"rate": 1250}  # 10 Mbit/s = 1250 KB/s
    (start,) = read_journal(tmp_path / "journal.jsonl").of_kind("fault.start")
    assert start["layer"] == "proxy" and start["toxic_type"] == "shared_bandwidth"
    assert start["rate_kbps"] == 1250 and len(start["toxics"]) == 2
    assert await driver.remove(thin) == [] and proxy.toxics == {}
