"""Shared helpers for the experiment tests: a minimal valid document and ways to bend it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chaos.experiment.errors import ExperimentError, Issue
from chaos.experiment.loader import LoadedExperiment, parse_experiment

BASE: dict[str, Any] = {
    "title": "minimal",
    "stack": "soundstage",
    "workload": {"speakers": 1, "listeners": [{"arrival": "storm", "count": 10}]},
    "faults": [
        {"name": "slow", "at": "5s", "for": "10s", "link": "listener->edge", "latency": "100ms"}
    ],
    "slos": [{"name": "delay", "p95": "time_to_first_audio", "below": "5s"}],
}


def with_(path: tuple[str | int, ...], value: Any, base: dict[str, Any] | None = None) -> Any:
    """A deep copy of `base` (default BASE) with the value at `path` replaced (or removed)."""
    document = copy.deepcopy(BASE if base is None else base)
    node = document
    for segment in path[:-1]:
        node = node[segment]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


DELETE = object()


def load(document: Any, where: Path) -> LoadedExperiment:
    """Load a document written as JSON (a subset of YAML 1.2) into `where`/experiment.yaml."""
    return parse_experiment(json.dumps(document), where / "experiment.yaml")


def issues(document: Any, where: Path) -> list[Issue]:
    with pytest.raises(ExperimentError) as caught:
        load(document, where)
    return list(caught.value.issues)


def text_issues(text: str, where: Path) -> list[Issue]:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(text, where / "experiment.yaml")
    return list(caught.value.issues)
