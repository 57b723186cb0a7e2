"""The Docker backend against a real engine: soundstage in containers, faults, clean-up.

Skipped with the reason when no engine answers. The image is built once (cached by content
hash: a second run of the suite reuses it); one stack serves the fault tests in order.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from chaos.errors import InfrastructureError
from chaos.runner.exits import ExitWatch
from chaos.stack.docker import DockerBackend, cleanup
from chaos.stack.docker_engine import probe_engine
from chaos.stack.local import RunningStack
from soundstage.listener import join, listen
from tests.docker_support import labelled
from tests.soundstage_support import live_room, scrape, soundstage_spec
from tests.spaces_support import poll

ENGINE = probe_engine()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ENGINE.ok, reason=f"docker: {ENGINE.reason}"),
    pytest.mark.xdist_group("docker"),  # one engine, its containers and networks
]


def _run_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    image: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[DockerBackend, RunningStack]]:
    run_id = _run_id()
    backend = DockerBackend(
        soundstage_spec(), tmp_path_factory.mktemp("docker"), run_id, image=image
    )
    running = await backend.start()
    try:
        yield backend, running
    finally:
        await backend.stop()
        assert labelled(run_id) == [], "containers or networks left after stop"


async def _frames(url: str, seconds: float) -> int:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    result = await listen(url, stop=stop)
    return result.watch.frames if result.watch else 0


async def _at_least(url: str, seconds: float, frames: int) -> bool:
    return await _frames(url, seconds) >= frames


async def _edge_url(stack: RunningStack, edge: str, room: int) -> str:
    async with aiohttp.ClientSession() as session:
        joined = await join(session, stack.addresses["api"]["http"], room)
    path = joined.stream_url.split("/", 3)[3]
    return f"http://{stack.addresses[edge]['http']}/{path}"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.timeout(900)
async def test_soundstage_in_containers_is_healthy_and_serves_audio(
    stack: tuple[DockerBackend, RunningStack],
) -> None:
    _backend, running = stack
    assert all(url.startswith("http://10.214.") for url in running.metrics.values())
    room = await live_room(running.addresses["api"]["http"], timeout=30)
    for edge in ("edge-1", "edge-2"):
        url = await _edge_url(running, edge, room)
        # 1.5 s of 20 ms frames, at least once in 30 s (a loaded machine may starve a window)
        assert await poll(functools.partial(_at_least, url, 1.5, 40), timeout=30)
    origin = await scrape(running.metrics["origin"])
    assert origin["soundstage_origin_edges"] == 2


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.timeout(120)
async def test_killing_an_edge_container_makes_its_listeners_reconnect(
    stack: tuple[DockerBackend, RunningStack],
) -> None:
    backend, running = stack
    room = await live_room(running.addresses["api"]["http"])
    url = await _edge_url(running, "edge-1", room)
    stop = asyncio.Event()
    streaming = asyncio.create_task(listen(url, stop=stop))
    await asyncio.sleep(1.0)
    exits = ExitWatch(lambda: running.processes, running.logs, now=lambda: 0.0)
    backend.send_signal("edge-1", signal.SIGKILL)
    killed_at = time.monotonic()
    before = await asyncio.wait_for(streaming, 10)
    assert before.error is not None and before.watch is not None and before.watch.frames > 0
    assert exits.check() == []  # a kill fault's exit is the harness's, no crash to report
    with pytest.raises((aiohttp.ClientError, TimeoutError)):  # refused, or no host at all
        async with aiohttp.ClientSession() as session:
            await session.get(running.metrics["edge-1"], timeout=aiohttp.ClientTimeout(total=2))
    await backend.restart("edge-1")
    assert await _frames(url, 1.0) > 0
    gap = time.monotonic() - killed_at
    edge = await scrape(running.metrics["edge-1"])
    assert edge["soundstage_edge_origin_connects_total"] == 1  # a fresh process dialled again
    assert edge["soundstage_edge_origin_connected"] == 1
    assert gap > 0.5, "the listener heard no gap: the kill did not land"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.timeout(120)
async def test_a_partitioned_origin_shows_in_the_edges_metrics(
    stack: tuple[DockerBackend, RunningStack],
) -> None:
    backend, running = stack
    edge = running.metrics["edge-2"]

    async def received_over(seconds: float) -> float:
        first = (await scrape(edge))["soundstage_edge_frames_received_total"]
        await asyncio.sleep(seconds)
        return (await scrape(edge))["soundstage_edge_frames_received_total"] - first

    assert await received_over(1.0) >= 40
    await backend.partition("origin")
    try:
        await asyncio.sleep(0.5)
        assert await received_over(1.5) == 0
    finally:
        await backend.heal("origin")
    deadline = time.monotonic() + 30
    while await received_over(1.0) < 40:
        assert time.monotonic() < deadline, "frames never came back after the partition healed"


@pytest.mark.timeout(300)
def test_a_sigkilled_harness_leaves_containers_that_rollback_removes(
    image: str, tmp_path: Path
) -> None:
    run_id = _run_id()
    script = (
        "import asyncio, sys, time\n"
        "from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
        "from tests.soundstage_support import soundstage_spec\n"
        "from chaos.stack.docker import DockerBackend\n"
        f"b = DockerBackend(soundstage_spec(), Path({str(tmp_path)!r}), {run_id!r}, "
        f"image={image!r})\n"
        "print(asyncio.run(b.start_proxy()), flush=True)\n"
        "asyncio.run(b.start())\n"
        "print('up', flush=True)\n"
        "time.sleep(120)\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert harness.stdout is not None
    proxy_url = harness.stdout.readline().strip()
    assert harness.stdout.readline().strip() == "up"
    harness.kill()
    harness.wait()
    assert len(labelled(run_id)) == 7  # api, origin, 2 edges, speaker, proxy + the network
    rollback = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "rollback", "--run-id", run_id,
         "--toxiproxy", proxy_url],
        capture_output=True, text=True,
    )  # fmt: skip
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert "removed container" in rollback.stdout
    assert labelled(run_id) == []
    down = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "stack", "down", "--run-id", run_id],
        capture_output=True, text=True,
    )  # fmt: skip
    assert down.returncode == 0 and "no process, container" in down.stdout, down.stdout


async def test_a_missing_image_is_an_infrastructure_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    run_id = _run_id()
    backend = DockerBackend(soundstage_spec(), tmp_path, run_id, image="gameday-absent:none")
    with pytest.raises(InfrastructureError, match="gameday images build"):
        await backend.start()
    assert labelled(run_id) == []
    assert await cleanup(run_id) == []


@pytest.mark.timeout(300)
def test_the_demo_experiment_passes_on_the_docker_backend(image: str, tmp_path: Path) -> None:
    from chaos.report.journal import read_journal
    from tests.runner_support import gameday
    from tests.test_runner_soundstage import _experiment

    done = gameday(
        "run", _experiment(tmp_path), "--backend", "docker", "--out", tmp_path / "run",
        timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: pass" in done.stdout and "rollback problem" not in done.stdout
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    assert next(journal.of_kind("proxy"))["url"].startswith("http://10.214.")
    assert journal.run_id is not None and labelled(journal.run_id) == []
