"""`gameday backends`, and backends that cannot run here refusing before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chaos.stack.capabilities import BACKENDS


def _gameday(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        timeout=60,
    )


def test_backends_lists_each_backend_its_availability_and_fault_kinds() -> None:
    done = _gameday("backends")
    assert done.returncode == 0, done.stderr
    for backend in BACKENDS.values():
        row = next(line for line in done.stdout.splitlines() if f" {backend.name} " in line)
        assert (" yes " in row) == backend.probe().ok
    assert "partition" in done.stdout and "shared-capacity" in done.stdout
    assert "proxy faults (every backend): bandwidth, down, latency" in done.stdout


def test_without_an_engine_the_docker_backend_says_so_and_starts_nothing(tmp_path: Path) -> None:
    done = _gameday(
        "stack", "up", "--backend", "docker", "--state", str(tmp_path / "s.json"),
        env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"},
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    assert "docker backend unavailable" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "s.json").exists()


def test_an_unknown_backend_and_misplaced_images_are_invalid_input(tmp_path: Path) -> None:
    unknown = _gameday("stack", "up", "--backend", "k8s", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown stack backend 'k8s'" in unknown.stderr
    misplaced = _gameday("stack", "up", "--image", "api=x:1", cwd=tmp_path)
    assert misplaced.returncode == 2 and "--image applies to the docker backend" in misplaced.stderr
    malformed = _gameday("stack", "up", "--backend", "docker", "--image", "api", cwd=tmp_path)
    assert malformed.returncode == 2 and "COMPONENT=IMAGE" in malformed.stderr
