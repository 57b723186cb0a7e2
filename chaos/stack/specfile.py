"""Finding and loading a stack spec: a built-in name (`soundstage`) or a path to a YAML file.

Errors are located (FILE:LINE:COL and the field path) by the experiment package's YAML and
validation machinery, so `gameday stack up` reports a bad spec exactly as `gameday validate`
does; nothing is started from an invalid spec.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from chaos.errors import InvalidInput
from chaos.experiment.errors import ExperimentError, issues_from_validation, located
from chaos.experiment.stack import StackSpec
from chaos.experiment.yamldoc import YamlSyntaxError, read_yaml

BUILTIN_DIR = Path(__file__).resolve().parent / "specs"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def spec_path(reference: str, base: Path | None = None) -> Path:
    """`soundstage` → the built-in spec; anything else is a path (relative to ``base``)."""
    builtin = BUILTIN_DIR / f"{reference}.yaml"
    if "/" not in reference and not reference.endswith((".yaml", ".yml")) and builtin.is_file():
        return builtin
    path = Path(reference)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise InvalidInput(
            f"no stack spec {reference!r}",
            where=str(path),
            fix=f"name a built-in stack ({', '.join(builtin_names())}) or a spec file's path",
        )
    return path


def load_spec(path: Path) -> StackSpec:
    """Parse and validate a spec file, raising ``ExperimentError`` with every located issue."""
    try:
        document = read_yaml(path)
    except YamlSyntaxError as exc:
        raise ExperimentError([exc.issue]) from None
    try:
        spec = StackSpec.model_validate(document.data)
    except ValidationError as exc:
        raise ExperimentError(issues_from_validation(exc, document, StackSpec)) from None
    problems = spec.problems()
    if problems:
        raise ExperimentError(located(problems, document))
    return spec


def with_replicas(spec: StackSpec, replicas: dict[str, int]) -> StackSpec:
    """The spec with some components' replica counts changed (`--edges 4`), re-checked."""
    components = dict(spec.components)
    for name, count in replicas.items():
        if name not in components:
            raise InvalidInput(
                f"stack {spec.name!r} has no component {name!r}",
                fix=f"choose one of: {', '.join(components)}",
            )
        if count < 1 or count > 64:
            raise InvalidInput(f"{name}: {count} replicas", fix="give 1 to 64 replicas")
        if components[name].command is None:
            raise InvalidInput(f"{name} already runs elsewhere; it cannot be replicated here")
        components[name] = components[name].model_copy(update={"replicas": count})
    changed = spec.model_copy(update={"components": components})
    problems = changed.problems()
    if problems:
        raise InvalidInput(
            "; ".join(p.message for p in problems),
            where=f"stack {spec.name}",
            fix="change the replica counts or the spec's placeholders",
        )
    return changed
