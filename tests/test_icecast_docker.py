"""The built-in icecast stack on the Docker backend, from nothing but its spec: the image its
`image:` names (Debian's icecast2 and ffmpeg, `gameday images build --stack icecast`) runs
Icecast as the user its package made, the ffmpeg source puts the mount on air, and stopping
leaves nothing. Skipped with the reason when no engine answers."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import pytest

from chaos.experiment.loader import builtin_stacks, load_stack_spec
from chaos.stack.docker import DockerBackend
from chaos.stack.docker_engine import probe_engine
from tests.docker_support import labelled, runs_as

ENGINE = probe_engine()
pytestmark = [
    pytest.mark.skipif(not ENGINE.ok, reason=f"docker: {ENGINE.reason}"),
    pytest.mark.xdist_group("docker"),
    pytest.mark.slow,
]


@pytest.mark.timeout(900)
async def test_icecast_in_containers_serves_its_mount_as_its_own_user(
    icecast_image: str, tmp_path: Path
) -> None:
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    spec = load_stack_spec(builtin_stacks()["icecast"])
    backend = DockerBackend(spec, tmp_path, run_id, image=icecast_image)
    try:
        running = await backend.start()
        assert runs_as(backend.name_of("icecast"), "icecast2")
        received = b""
        mount = f"http://{running.addresses['icecast']['http']}/live.mp3"
        async with aiohttp.ClientSession() as http, http.get(mount) as got:
            assert got.status == 200
            while len(received) < 16000:  # 2 s of 64 kb/s MP3
                received += await got.content.readany()
        assert b"\xff\xfb" in received or b"\xff\xf3" in received  # MPEG audio frame syncs
    finally:
        await backend.stop()
    assert labelled(run_id) == []
