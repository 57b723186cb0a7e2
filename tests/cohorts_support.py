"""Cohort runs for the tests: an experiment of a latency on the listeners' link, and one run
of an experiment against an embedded fault proxy the test starts, on either load engine."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console

from chaos.experiment.loader import parse_experiment
from chaos.faults.client import AsyncToxiproxyClient
from chaos.runner.audience import Audience
from chaos.runner.load_engine import LoadOptions
from chaos.runner.proxy_process import ProxyProcess
from chaos.runner.run import GameDay, RunOptions, RunOutcome

LATENCY = """
title: cohort latency
seed: {seed}
stack: soundstage
baseline: {baseline}
recovery: 2s
workload:
  speakers: 1
  listeners:
    - {{arrival: storm, count: {count}, at: 1s, spread: 3s}}
cohorts: {{control: 50%}}
faults:
  - {{name: slow-edge, at: 0s, for: {fault_for}, link: listener->edge, direction: upstream,
     latency: 300ms}}
slos:
  - {{name: ttfa-diff, p50: gameday_listener_time_to_first_audio_seconds, worse_by_at_most: 1s,
     during: slow-edge}}
  - {{name: joins-diff, ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total,
     above_control_minus: 5%}}
"""


def latency(seed: int, count: int, *, baseline: str = "3s", fault_for: str = "8s") -> str:
    """300 ms upstream on the listeners' link, judged by TTFA and joins against the control."""
    return LATENCY.format(seed=seed, count=count, baseline=baseline, fault_for=fault_for)


async def run_cohorts(
    tmp_path: Path,
    text: str,
    *,
    watch: bool = False,
    spinners: int = 0,
    load: LoadOptions | None = None,
) -> tuple[RunOutcome, dict[str, set[str]]]:
    """Run the experiment against an embedded proxy we started, noting every toxic seen on
    every proxy while it runs (polled every 0.1 s); ``spinners`` CPU-bound processes of ours
    load the machine from T0 (once the swarm runs) to the run's end: the stack and the swarm
    start unloaded, as on a CI machine whose neighbour's build starts mid-run."""
    loaded = parse_experiment(text, tmp_path / "experiment.yaml")
    server = await ProxyProcess(tmp_path / "fault-proxy.log").start()
    seen: dict[str, set[str]] = defaultdict(set)
    spinning: list[subprocess.Popen[bytes]] = []
    try:
        options = RunOptions(toxiproxy=server.url, out=tmp_path / "run", load=load or LoadOptions())
        game = GameDay(loaded, options, Console(file=open("/dev/null", "w")))  # noqa: SIM115
        running = asyncio.create_task(game.execute())
        async with AsyncToxiproxyClient(server.url) as client:
            while not running.done():
                if spinners and not spinning and _started(game):
                    spinning = busy(spinners)
                if watch:
                    for proxy in (await client.list_proxies()).values():
                        key = proxy.name.partition("@")[0]  # a run's proxy on a shared server
                        seen[key].update(t.name for t in proxy.toxics)
                        seen.setdefault(key, set())
                await asyncio.sleep(0.1)
        outcome = await running
    finally:
        for process in spinning:
            process.kill()
            process.wait()
        await server.stop()
    return outcome, seen


def _started(game: GameDay) -> bool:
    """T0 has come and the audience's swarm is running."""
    if game.t0_mono is None or time.monotonic() < game.t0_mono:
        return False
    swarm = game.audience.swarm if isinstance(game.audience, Audience) else None
    return swarm is None or swarm.ready_at is not None


def records(outcome: RunOutcome, kind: str) -> list[dict[str, Any]]:
    lines = outcome.journal.read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == kind]


def busy(processes: int) -> list[subprocess.Popen[bytes]]:
    """Load the CPU: spinning interpreters, ended by the caller."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
