"""spaces on the Docker backend: the same spec and configuration as on local processes, every
server from Debian in the stack's own image (`gameday images build --stack spaces`), each
replica a container on the run's private network, every link through the fault proxy in its
container. The stack comes up healthy and serves the room's HLS through an edge's proxied
link, runs its servers as their users, and leaves nothing behind; a shortened launch
experiment (a speaker on air, a listener storm through the edges, a latency fault on the edge
link) gets its verdict.

Skipped with the reason when no engine answers. The image is built once per tree (cached by
content hash: another run reuses it, a build of ~10 min when the base is new).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from chaos.faults.client import AsyncToxiproxyClient
from chaos.report.journal import read_journal
from chaos.stack.backend import link_proxies
from chaos.stack.docker import DockerBackend
from chaos.stack.docker_engine import probe_engine
from chaos.stack.local import RunningStack
from tests.docker_support import labelled, runs_as
from tests.runner_support import gameday
from tests.spaces_support import metrics, poll, spaces_spec

ENGINE = probe_engine()
pytestmark = [
    pytest.mark.skipif(not ENGINE.ok, reason=f"docker: {ENGINE.reason}"),
    pytest.mark.xdist_group("docker"),  # one engine, its containers and networks
    pytest.mark.slow,
]

COMPONENTS = {
    "janus", "janus-exporter", "api", "origin", "origin-exporter", "packager-progress",
    "packager", "edge-1", "edge-2", "edge-exporter-1", "edge-exporter-2", "speaker", "howl-guard",
}  # fmt: skip

SHORT_LAUNCH = """
title: "spaces on docker: a short launch"
seed: 21
stack: spaces
baseline: 8s
recovery: 6s
workload:
  speakers: 1
  listeners:
    - {arrival: storm, count: 30, at: 0s, spread: 2s}
  reconnect: {policy: backoff, initial: 500ms, max: 5s}
faults:
  - {name: lossy-host, at: 2s, for: 12s, link: speaker->janus, loss: 3%}
  - {name: slow-edge, at: 4s, for: 8s, link: listener->edge, direction: downstream,
     latency: 100ms, jitter: 20ms}
slos:
  - {name: broadcast-up, min: spaces_api_broadcast_up, equals: 1, during: baseline}
  - {name: edges-up, min: spaces_api_edge_up, equals: 1, during: baseline}
  - {name: on-air, on_air_within: 15s}
  - {name: launch-delay, p95: gameday_listener_time_to_first_audio_seconds, below: 5s,
     during: storm}
  - {name: join-success, above: 99%,
     ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total}
  - {name: stalls, below: 5%, during: slow-edge,
     ratio: gameday_listener_stall_seconds_total/gameday_listener_played_seconds_total}
  - {name: no-feedback, increase: gameday_listener_howl_seconds_total, equals: 0}
  - {name: host-loss-seen, max: gameday_speaker_rtp_packets_lost, above: 0, during: lossy-host}
"""
"""experiments/spaces-launch.yaml cut to about 30 s: a 30-listener storm at T0 while the host's
uplink through the UDP proxy loses 3 % (its RTCP must say so) and the edge link slows."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    spaces_image: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[DockerBackend, RunningStack, dict[str, str]]]:
    """spaces in containers, every link through the fault proxy's container."""
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    spec = spaces_spec()
    backend = DockerBackend(
        spec, tmp_path_factory.mktemp("spaces-docker"), run_id, image=spaces_image,
        health_timeout=120,
    )  # fmt: skip
    try:
        proxy = AsyncToxiproxyClient(await backend.start_proxy())
        created = await proxy.populate(link_proxies(backend, spec, backend.plan()))
        proxies = {p.name: p.listen for p in created}
        running = await backend.start(proxies)
        yield backend, running, proxies
    finally:
        await backend.stop()
        assert labelled(run_id) == [], "containers or networks left after stop"


def _total(samples: dict[str, float], name: str) -> float:
    """The sum of a metric's samples over its labels."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


async def _segment_through(edge: str) -> int:
    """Bytes of the newest segment of the live playlist at ``edge`` (host:port)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{edge}/live/mix.m3u8") as response:
            response.raise_for_status()
            playlist = await response.text()
        newest = [line for line in playlist.splitlines() if line.endswith(".ts")][-1]
        async with http.get(f"http://{edge}/live/{newest}") as response:
            return len(await response.read())


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.timeout(900)
async def test_spaces_in_containers_is_healthy_and_serves_the_room_through_the_proxy(
    stack: tuple[DockerBackend, RunningStack, dict[str, str]],
) -> None:
    backend, running, proxies = stack
    assert {p.name for p in running.processes} == COMPONENTS
    assert all(url.startswith("http://10.214.") for url in running.health.values())
    # Janus and nginx run as their users (the spec's `user:`), in their own containers.
    for name, user in (("janus", "nobody"), ("origin", "www-data"), ("edge-1", "www-data")):
        assert runs_as(backend.name_of(name), user)
    # What each server was started with is kept for the post-mortem, as on local processes.
    assert "rtp_port_range" in (backend.run_dir / "files" / "janus" / "janus.jcfg").read_text()
    # The room's mix, packaged by ffmpeg, served by an edge through the listener->edge proxy.
    for name in ("listener->edge#1", "listener->edge#2"):
        assert proxies[name].startswith(backend.proxy_host)
        assert await _segment_through(proxies[name]) > 4000  # 2 s of 64 kb/s AAC in MPEG-TS

    async def received_from_speaker() -> float:
        janus = await metrics(running.metrics["janus-exporter"])
        return _total(janus, "janus_participant_packets_received_total")

    # The speaker's WebRTC media crossed the UDP proxy of speaker->janus into the room.
    assert _total(await metrics(running.metrics["speaker"]), "gameday_speaker_joins_total") >= 1
    assert await poll(received_from_speaker, timeout=30) > 0


@pytest.mark.timeout(600)
def test_a_short_launch_runs_on_the_docker_backend_to_its_verdict(
    spaces_image: str, tmp_path: Path
) -> None:
    del spaces_image  # built (or found cached) first: the run finds this tree's image
    experiment = tmp_path / "short-launch.yaml"
    experiment.write_text(SHORT_LAUNCH)
    done = gameday(
        "run", experiment, "--backend", "docker", "--health-timeout", "2m",
        "--out", tmp_path / "run", timeout=560,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "verdict: pass" in done.stdout and "rollback problem" not in done.stdout
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    assert next(journal.of_kind("proxy"))["url"].startswith("http://10.214.")
    statuses = {e["name"]: e["status"] for e in journal.of_kind("slo")}
    assert set(statuses.values()) == {"pass"}, statuses
    proxies = {e["name"]: {t["proxy"] for t in e["toxics"]} for e in journal.of_kind("fault.start")}
    assert proxies["slow-edge"] == {"listener->edge#1", "listener->edge#2"}
    assert len(proxies["lossy-host"]) == 16  # one UDP proxy per port of Janus's RTP range
    assert journal.run_id is not None and labelled(journal.run_id) == []
