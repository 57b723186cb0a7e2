"""The stack spec's `audience`: checked at load time, and what the runner makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from experiment_helpers import BASE, load

from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import builtin_stacks, load_stack_spec
from chaos.runner.audience import audience_problems, stack_for


def _spec(tmp_path: Path, audience: str) -> Path:
    text = builtin_stacks()["soundstage"].read_text()
    head = text[: text.index("audience:")]
    path = tmp_path / "spec.yaml"
    path.write_text(head + audience)
    return path


def test_the_builtin_spec_says_where_listeners_and_speakers_go() -> None:
    spec = load_stack_spec(builtin_stacks()["soundstage"])
    assert spec.audience.listeners is not None
    assert (spec.audience.listeners.link, spec.audience.listeners.path) == (
        "listener->edge",
        "/stream/1",
    )
    assert spec.audience.speakers == "speaker"


def test_an_audience_naming_an_unknown_link_or_component_is_located(tmp_path: Path) -> None:
    path = _spec(
        tmp_path, "audience:\n  listeners: {link: listener->egde, path: /s}\n  speakers: speakr\n"
    )
    with pytest.raises(ExperimentError) as caught:
        load_stack_spec(path)
    text = "\n".join(str(issue) for issue in caught.value.issues)
    assert "audience.listeners.link" in text and "did you mean 'listener->edge'" in text
    assert "audience.speakers" in text and "speaker" in text


def test_one_speaker_replica_per_experiment_speaker(tmp_path: Path) -> None:
    document = dict(BASE, workload={"speakers": 3, "listeners": []})
    loaded = load(document, tmp_path)
    assert stack_for(loaded.experiment, loaded.stack).components["speaker"].replicas == 3


def test_listeners_need_a_stack_that_says_where_they_connect(tmp_path: Path) -> None:
    _spec(tmp_path, "")  # the built-in spec without its audience
    document = dict(BASE, stack="./spec.yaml")
    loaded = load(document, tmp_path)
    (problem,) = audience_problems(loaded.experiment, loaded.stack)
    assert "does not say where listeners connect" in problem
    quiet = load(dict(document, workload={"speakers": 1, "listeners": []}), tmp_path)
    assert audience_problems(quiet.experiment, quiet.stack) == []
