"""A schedule as a normal experiment: the original file with its faults replaced.

The same text serves the judge (validated with ``parse_experiment`` anchored at the original
file, so relative paths resolve as before) and the written minimal schedule (paths made
absolute, so ``gameday run`` replays it from any directory). SLOs bound to the original
faults' windows (`during: slow-edge`, `after: slow-edge`) cannot survive their faults'
replacement; they are left out, with their dependants, and the report names them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from chaos.experiment.loader import LoadedExperiment, builtin_stacks, parse_experiment
from chaos.experiment.yamldoc import read_round_trip
from chaos.search.schedule import Schedule


@dataclass(frozen=True)
class Candidate:
    text: str
    dropped_slos: tuple[str, ...]

    def load(self, source: Path) -> LoadedExperiment:
        return parse_experiment(self.text, source)


def _dropped(slos: list[Any], fault_names: set[str]) -> list[str]:
    """SLOs bound to a replaced fault, then (to a fixed point) recovery SLOs of those."""
    dropped = [
        s["name"] for s in slos if s.get("during") in fault_names or s.get("after") in fault_names
    ]
    while True:
        more = [
            s["name"]
            for s in slos
            if s["name"] not in dropped and set(s.get("of") or ()) & set(dropped)
        ]
        if not more:
            return dropped
        dropped += more


def candidate(
    loaded: LoadedExperiment, schedule: Schedule, *, seed: int | None = None, portable: bool
) -> Candidate:
    """The experiment with ``schedule`` as its faults (and ``seed``, if given); ``portable``
    makes paths absolute and says in the title what the file is."""
    tree = read_round_trip(loaded.path)
    if seed is not None:
        tree["seed"] = seed
    original = {f.name for f in loaded.experiment.faults}
    names = schedule.names()
    tree["faults"] = [f.to_yaml(name) for f, name in zip(schedule.faults, names, strict=True)]
    dropped = _dropped(list(tree["slos"]), original - set(names))
    tree["slos"] = [s for s in tree["slos"] if s["name"] not in dropped]
    if schedule.storm is not None:
        storm = next(p for p in tree["workload"]["listeners"] if p.get("arrival") == "storm")
        storm["count"] = schedule.storm.count
        storm["spread"] = f"{schedule.storm.spread}s"
    if portable:
        tree["title"] = f"{loaded.experiment.title} (minimal failing schedule)"[:200]
        base = loaded.path.parent.resolve()
        if loaded.experiment.stack not in builtin_stacks():
            tree["stack"] = str(loaded.stack_path.resolve())
        for phase in tree["workload"].get("listeners", []):
            if phase.get("arrival") == "curve":
                phase["csv"] = str(base / phase["csv"])
    yaml = YAML(typ="rt")
    yaml.width = 200
    out = io.StringIO()
    yaml.dump(tree, out)
    return Candidate(out.getvalue(), tuple(dropped))
