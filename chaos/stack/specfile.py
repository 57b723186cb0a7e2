"""Which stack spec `gameday stack up` means, and a spec with some replica counts changed.

Loading and validation are the experiment package's (`load_stack_spec`), so a bad spec is
reported here exactly as `gameday validate` reports it; nothing starts from an invalid spec.
"""

from __future__ import annotations

from pathlib import Path

from chaos.errors import InvalidInput
from chaos.experiment.loader import builtin_stacks
from chaos.experiment.stack import StackSpec


def spec_path(reference: str, base: Path | None = None) -> Path:
    """`soundstage` → the built-in spec; anything else is a path (relative to ``base``)."""
    builtins = builtin_stacks()
    if reference in builtins:
        return builtins[reference]
    path = Path(reference)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise InvalidInput(
            f"no stack spec {reference!r}",
            where=str(path),
            fix=f"name a built-in stack ({', '.join(builtins)}) or a spec file's path",
        )
    return path


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
