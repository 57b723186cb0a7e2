"""`gameday stack …`: bring a stack up or down outside a run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.loader import load_stack_spec
from chaos.stack import processes, state
from chaos.stack.local import LocalProcessBackend, RunningStack
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
    run_dir: Annotated[
        Path | None, typer.Option(help="Where logs go (default .gameday/stacks/TIME).")
    ] = None,
    state_file: Annotated[Path, typer.Option("--state", help="State file.")] = state.DEFAULT_STATE,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for health.")] = 20.0,
) -> None:
    """Start a stack as local processes on free loopback ports, wait until healthy, and exit.

    [b]Examples[/b]:
      gameday stack up
      gameday stack up soundstage --edges 4
      gameday stack up my-stack.yaml --replicas worker=3
    """
    listed = state.read_processes(state_file)
    if listed and any(processes.alive(p) for p in listed):
        raise InvalidInput(
            "a stack is already up", where=str(state_file), fix="run `gameday stack down` first"
        )
    loaded = load_stack_spec(spec_path(spec))
    overrides = _replica_overrides(edges, replicas)
    if overrides:
        loaded = with_replicas(loaded, overrides)
    directory = run_dir or Path(".gameday") / "stacks" / time.strftime("%Y%m%d-%H%M%S")
    backend = LocalProcessBackend(loaded, directory.resolve(), health_timeout=timeout)
    stack = asyncio.run(backend.start())
    state.write(state_file, stack)
    _print(stack, state_file)


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
    grace: Annotated[float, typer.Option(help="Seconds between SIGTERM and SIGKILL.")] = 5.0,
) -> None:
    """Stop the stack the state file lists (SIGTERM, then SIGKILL after --grace); idempotent.

    [b]Example[/b]: gameday stack down
    """
    listed = state.read_processes(state_file)
    if listed is None:
        console.print(f"no stack is up ({state_file} does not exist)")
        return
    running = [p for p in listed if processes.alive(p)]
    killed = asyncio.run(processes.stop_all(running, grace))
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
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
