"""`gameday plan`: print what a run of N listeners needs, with the figures and assumptions used."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from chaos.errors import InvalidInput
from chaos.experiment.units import BitRate, UnitError
from chaos.workload.capacity import FIGURES_FILE, LAB_FIGURES, Assumptions, Figures, plan


def plan_command(
    listeners: int,
    *,
    engine: str,
    figures_path: Path | None,
    bitrate: str,
    fd_limit: int,
    cores_per_machine: int,
    console: Console,
) -> int:
    if engine not in ("native", "locust"):
        raise InvalidInput(
            f"--load-engine {engine!r}", where="gameday plan", fix="native or locust"
        )
    try:
        bits = BitRate.parse(bitrate).bits_per_second
    except UnitError as exc:
        raise InvalidInput(str(exc), where="gameday plan --bitrate", fix="e.g. 64kbps") from None
    if bits <= 0 or fd_limit <= 64 or cores_per_machine < 1:
        raise InvalidInput(
            f"--bitrate {bitrate}, --fd-limit {fd_limit}, --cores-per-machine {cores_per_machine}",
            where="gameday plan",
            fix="a bit rate above 0, an fd limit above 64 and at least 1 core",
        )
    if figures_path is not None:
        figures, source = Figures.read(figures_path), str(figures_path)
    elif FIGURES_FILE.exists():
        figures, source = Figures.read(FIGURES_FILE), str(FIGURES_FILE)
    else:
        figures, source = LAB_FIGURES, "built-in lab figures (no reports/capacity.json here)"
    assumptions = Assumptions(bitrate=bits, fd_limit=fd_limit, cores_per_machine=cores_per_machine)
    result = plan(listeners, figures, assumptions, engine)
    for line in result.lines():
        console.print(line, markup=False, highlight=False)
    console.print(f"measured figures ({source}):", markup=False, highlight=False)
    for line in (
        f"  native swarm: {figures.native_listeners_per_core:,.0f} listeners per core",
        f"  Locust: {figures.locust_listeners_per_core:,.0f} listeners per core",
        f"  joins: {figures.joins_per_core_second:,.0f} per core-second",
        f"  measured {figures.measured} on {figures.where}",
    ):
        console.print(line, markup=False, highlight=False)
    console.print("assumptions:", markup=False, highlight=False)
    for line in assumptions.lines():
        console.print(f"  {line}", markup=False, highlight=False)
    return 0
