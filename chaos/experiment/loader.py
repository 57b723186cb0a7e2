"""Load an experiment file and its stack spec, or fail with every located issue at once.

This is the one way in for the rest of gameday (`gameday validate`, `gameday run`, the
search): parse the YAML, validate the models, resolve the stack (a built-in name or a path
relative to the experiment), check cross-references, and either return both models or raise
one `ExperimentError` listing every problem with its file, line and column.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chaos.experiment.checks import check_experiment
from chaos.experiment.errors import (
    ExperimentError,
    Issue,
    Position,
    Problem,
    issues_from_validation,
    located,
)
from chaos.experiment.experiment import Experiment
from chaos.experiment.runnable import runnable_problems
from chaos.experiment.stack import StackSpec
from chaos.experiment.tagged import nearest
from chaos.experiment.timeline import Timeline
from chaos.experiment.yamldoc import (
    YamlDocument,
    YamlSyntaxError,
    parse_yaml,
    read_text,
    read_yaml,
)

BUILTIN_SPECS = Path(__file__).resolve().parent.parent / "stack" / "specs"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LoadedExperiment:
    path: Path
    experiment: Experiment
    stack: StackSpec
    stack_path: Path

    @property
    def timeline(self) -> Timeline:
        return Timeline.of(self.experiment)


def builtin_stacks() -> dict[str, Path]:
    """Built-in stack specs by name (`soundstage` → chaos/stack/specs/soundstage.yaml)."""
    return {path.stem: path for path in sorted(BUILTIN_SPECS.glob("*.yaml"))}


def _document(read: Any) -> YamlDocument:
    try:
        document: YamlDocument = read()
    except YamlSyntaxError as exc:
        raise ExperimentError([exc.issue]) from None
    return document


def _validate(document: YamlDocument, model: type[M], what: str) -> M:
    if not isinstance(document.data, dict):
        found = "an empty file" if document.data is None else type(document.data).__name__
        raise ExperimentError(
            [
                Issue(
                    document.source,
                    Position(1, 1),
                    "",
                    f"expected {what} as a mapping; got {found}",
                )
            ]
        )
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        raise ExperimentError(issues_from_validation(exc, document, model)) from None


def load_stack_spec(path: Path) -> StackSpec:
    """A stack spec file, validated with every reference resolved."""
    return _stack_from_text(path, _document_text(path))


def _document_text(path: Path) -> str:
    try:
        return read_text(path)
    except YamlSyntaxError as exc:
        raise ExperimentError([exc.issue]) from None


@functools.lru_cache(maxsize=16)
def _stack_from_text(path: Path, text: str) -> StackSpec:
    """Parsing YAML is the slow part of loading; many experiments share one (immutable) spec."""
    document = _document(lambda: parse_yaml(text, path))
    spec = _validate(document, StackSpec, "a stack spec (name, components, links)")
    problems = spec.problems()
    spec, template_problems = _with_templates(spec, path.parent)
    problems += template_problems
    if problems:
        raise ExperimentError(located(problems, document))
    return spec


def _with_templates(spec: StackSpec, base: Path) -> tuple[StackSpec, list[Problem]]:
    """The spec with every file `template` read (relative to the spec) and syntax-checked, so
    a spec in hand is self-contained (a Docker backend renders it far from its folder)."""
    from chaos.stack.plan import check_template

    problems: list[Problem] = []
    components = dict(spec.components)
    for name, component in spec.components.items():
        files = dict(component.files)
        for file_name, config in component.files.items():
            loc = ("components", name, "files", file_name)
            text = config.content
            if config.template is not None:
                source = base / config.template
                try:
                    text = source.read_text()
                except OSError as exc:
                    problems.append(
                        Problem((*loc, "template"), f"cannot read {source}: {exc.strerror}")
                    )
                    continue
                files[file_name] = config.model_copy(update={"content": text})
            error = check_template(text or "")
            if error:
                problems.append(Problem(loc, f"template {config.template or ''}: {error}"))
        components[name] = component.model_copy(update={"files": files})
    return spec.model_copy(update={"components": components}), problems


def _stack_path(reference: str, document: YamlDocument) -> Path:
    builtins = builtin_stacks()
    if reference in builtins:
        return builtins[reference]
    where = document.locate(("stack",))
    if "/" not in reference and not reference.endswith((".yaml", ".yml")):
        guess = nearest(reference, builtins)
        hint = f"did you mean '{guess}'? " if guess else ""
        raise ExperimentError(
            [
                Issue(
                    document.source,
                    where,
                    "stack",
                    f"no built-in stack named {reference!r}; {hint}built-in: "
                    f"{', '.join(builtins)}; for your own spec give a path like ./my-stack.yaml",
                )
            ]
        )
    path = document.source.parent / reference
    if not path.is_file():
        raise ExperimentError(
            [
                Issue(
                    document.source,
                    where,
                    "stack",
                    f"no stack spec at {path} (paths are relative to the experiment file)",
                )
            ]
        )
    return path


def _load(document: YamlDocument, backend: str | None) -> LoadedExperiment:
    experiment = _validate(document, Experiment, "an experiment (title, workload, faults, slos)")
    stack_path = _stack_path(experiment.stack, document)
    stack = load_stack_spec(stack_path)
    problems = check_experiment(experiment, stack, document.source.parent)
    if not problems:  # the run's own checks, once the references they follow are sound
        problems = runnable_problems(experiment, stack, backend)
    if problems:
        raise ExperimentError(located(problems, document))
    return LoadedExperiment(document.source, experiment, stack, stack_path)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a file is loaded: a 10 MB schedule builds
    millions of objects and no garbage, and each full collection would walk them all (a third
    of the load's time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def load_experiment(path: Path, backend: str | None = None) -> LoadedExperiment:
    """Read, validate and cross-check an experiment file; raises `ExperimentError`.

    With ``backend`` (`local`, `netns`, `docker`), also every check a run on it makes before
    its stack starts (``chaos.experiment.runnable``): `validate`, `run --dry-run` and `run`
    pass it and so agree; None leaves out only what depends on the backend."""
    with collector_paused():
        return _load(_document(lambda: read_yaml(path)), backend)


def parse_experiment(text: str, source: Path, backend: str | None = None) -> LoadedExperiment:
    """Like `load_experiment` for text already in hand; `source` names it and anchors paths."""
    with collector_paused():
        return _load(_document(lambda: parse_yaml(text, source)), backend)
