"""Helpers for the tests that run stacks on a real Docker engine: what a run left behind, and
which user a container's processes run as."""

from __future__ import annotations

import subprocess

from chaos.stack.docker_engine import RUN_LABEL, client


def labelled(run_id: str) -> list[str]:
    """Ids of the containers and networks labelled with ``run_id`` (none after a clean stop)."""
    out = []
    for kind in (["ps", "-a"], ["network", "ls"]):
        listed = subprocess.run(
            ["docker", *kind, "-q", "--filter", f"label={RUN_LABEL}={run_id}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out += listed.stdout.split()
    return out


def runs_as(container_name: str, user: str) -> bool:
    """Every process of the container has the uid ``user`` has in its image, and it is not
    root (uids, not names: `docker top` names them by the host's users)."""
    container = client().containers.get(container_name)
    uid = container.exec_run(["id", "-u", user]).output.decode().strip()
    top = container.top(ps_args="-o pid,uid,comm")
    uids = {row[top["Titles"].index("UID")] for row in top["Processes"]}
    return uid not in ("", "0") and uids == {uid}
