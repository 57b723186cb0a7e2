"""`gameday stack …`: bring a stack up or down outside a run."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from chaos.cli_options import alias, duration_seconds, pairs, positive_duration_seconds
from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.loader import load_stack_spec
from chaos.report.journal import new_run_id
from chaos.stack import processes, state
from chaos.stack.backend import make_backend
from chaos.stack.cleanup import cleanup_run
from chaos.stack.ledger import WORKDIR_PREFIX
from chaos.stack.local import RunningStack
from chaos.stack.readiness import CHECK_TIMEOUT, answers
from chaos.stack.specfile import spec_path, with_replicas

stack_app = typer.Typer(help="Start and stop the stack under test.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)


def _replica_overrides(edges: int | None, replicas: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in replicas:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise InvalidInput(f"--replicas {item!r}", fix="write COMPONENT=N, e.g. edge=4")
        counts[name] = int(count)
    if edges is not None:
        counts["edge"] = edges
    return counts


@stack_app.command()
def up(
    spec: Annotated[str, typer.Argument(help="A built-in stack name or a spec file.")] = (
        "soundstage"
    ),
    edges: Annotated[int | None, typer.Option(help="Replicas of the `edge` component.")] = None,
    replicas: Annotated[
        list[str], typer.Option("--replicas", help="COMPONENT=N, repeatable.")
    ] = [],  # noqa: B006 - typer reads the default, it is never mutated
    out: Annotated[
        Path | None, typer.Option(help="Where logs go (default .gameday/stacks/TIME).")
    ] = None,
    run_dir: Annotated[Path | None, typer.Option(hidden=True)] = None,
    state_file: Annotated[Path, typer.Option("--state", help="State file.")] = state.DEFAULT_STATE,
    timeout: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="How long to wait for health, e.g. 30s (default 20s; 60s on docker).",
        ),
    ] = None,
    backend_name: Annotated[
        str, typer.Option("--backend", help="local, docker or netns (see `gameday backends`).")
    ] = "local",
    images: Annotated[
        list[str], typer.Option("--image", help="COMPONENT=IMAGE for docker, repeatable.")
    ] = [],  # noqa: B006 - typer reads the default, it is never mutated
    params: Annotated[
        list[str], typer.Option("--param", help="NAME=VALUE for one of the spec's params.")
    ] = [],  # noqa: B006 - typer reads the default, it is never mutated
) -> None:
    """Start a stack, wait until healthy, and exit: local processes on free loopback ports,
    containers on a private Docker network, or processes in network namespaces.

    [b]Examples[/b]:
      gameday stack up
      gameday stack up soundstage --edges 4
      gameday stack up my-stack.yaml --replicas worker=3
      gameday stack up --backend docker --image api=registry.local/api:1.4
      gameday stack up --backend netns
      gameday stack up spaces --param cache_lock=off
      gameday stack up --timeout 1m --out .gameday/stacks/mine
    """
    health_timeout = None if timeout is None else positive_duration_seconds(timeout, "--timeout")
    logs = alias(out, run_dir, name="--out", old_name="--run-dir")
    listed = state.read_processes(state_file)
    if listed and any(processes.alive(p) for p in listed):
        raise InvalidInput(
            "a stack is already up", where=str(state_file), fix="run `gameday stack down` first"
        )
    loaded = load_stack_spec(spec_path(spec))
    overrides = _replica_overrides(edges, replicas)
    if overrides:
        loaded = with_replicas(loaded, overrides)
    directory = logs or Path(".gameday") / "stacks" / time.strftime("%Y%m%d-%H%M%S")
    run_id = new_run_id()
    backend = make_backend(
        backend_name,
        loaded,
        directory.resolve(),
        run_id,
        health_timeout=health_timeout,
        images=pairs(images, "--image", "COMPONENT=IMAGE, e.g. api=myorg/api:1.4"),
        params=pairs(params, "--param", "NAME=VALUE, e.g. cache_lock=off"),
    )
    stack = asyncio.run(backend.start())
    state.write(state_file, stack, backend=backend_name, run_id=run_id)
    _print(stack, state_file)
    if backend_name != "local":
        console.print(f"{backend_name} run id: {run_id}")


def _print(stack: RunningStack, state_file: Path) -> None:
    console.print(f"[bold]{stack.spec}[/] is up; logs in {stack.run_dir / 'logs'}")
    for ref in stack.processes:
        ports = ", ".join(f"{p} {a}" for p, a in stack.addresses[ref.name].items())
        console.print(f"  {ref.name:<12} pid {ref.pid:<8} {ports}")
    console.print("links:")
    for link, targets in stack.links.items():
        console.print(f"  {link:<16} {', '.join(targets)}")
    console.print(f"state: {state_file}; stop with `gameday stack down`")


@stack_app.command()
def down(
    state_file: Annotated[Path, typer.Option("--state", help="State file.")] = state.DEFAULT_STATE,
    grace: Annotated[
        str, typer.Option(metavar="DURATION", help="Time between SIGTERM and SIGKILL, e.g. 5s.")
    ] = "5s",
    run_id: Annotated[
        str | None,
        typer.Option(
            help="Stop this run's processes, remove its containers, networks and namespaces "
            "(no state file needed)."
        ),
    ] = None,
) -> None:
    """Stop the stack the state file lists (SIGTERM, then SIGKILL after --grace); idempotent.

    With --run-id, stop every process group and remove every container, network and
    namespace of that run instead, e.g. after a killed `gameday run`.

    [b]Examples[/b]:
      gameday stack down
      gameday stack down --run-id 20261124T150000Z-1a2b3c4d
      gameday stack down --grace 10s
    """
    grace_seconds = duration_seconds(grace, "--grace")
    if run_id is not None:
        for line in cleanup_run(run_id):
            console.print(line)
        return
    data = state.read(state_file)
    if data is not None and data.get("backend", "local") != "local" and data.get("run_id"):
        for line in cleanup_run(str(data["run_id"])):
            console.print(line)
        state_file.unlink(missing_ok=True)
        return
    listed = state.read_processes(state_file)
    if listed is None:
        console.print(f"no stack is up ({state_file} does not exist)")
        return
    running = [p for p in listed if processes.group_running(p)]  # a wrapper's child too
    killed = asyncio.run(processes.stop_all(running, grace_seconds))
    workdir = state.workdir_of(data or {})
    if workdir is not None and workdir.name.startswith(WORKDIR_PREFIX):
        shutil.rmtree(workdir, ignore_errors=True)
    state_file.unlink(missing_ok=True)
    console.print(f"stopped {len(running)} process(es)" + (f"; killed {killed}" if killed else ""))


@stack_app.command()
def status(
    state_file: Annotated[Path, typer.Option("--state", help="State file.")] = state.DEFAULT_STATE,
) -> None:
    """Show each process of the stack that is up: running or not, healthy or not.

    Exits 3 if any process is gone or unhealthy.

    [b]Example[/b]: gameday stack status
    """
    data = state.read(state_file)
    if data is None:
        console.print(f"no stack is up ({state_file} does not exist)")
        return
    health: dict[str, str] = data.get("health", {})
    problems = []
    for ref in state.processes_of(data, state_file):
        running = processes.alive(ref)
        verdict = "running" if running else "gone"
        if running and ref.name in health:
            healthy = _healthy(health[ref.name])
            verdict += ", healthy" if healthy else ", UNHEALTHY"
            running = healthy
        if not running:
            problems.append(ref.name)
        console.print(f"  {ref.name:<12} pid {ref.pid:<8} {verdict}")
    if problems:
        raise InfrastructureError(
            f"{', '.join(problems)} not running or not healthy",
            where=str(data.get("run_dir", state_file)),
            fix="read the component logs; `gameday stack down` then `up` to start afresh",
        )


def _healthy(url: str) -> bool:
    async def check() -> bool:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT) as client:
            return await answers(client, url)

    return asyncio.run(check())
