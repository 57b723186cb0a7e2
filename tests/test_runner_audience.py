"""The stack spec's `audience`: checked at load time, and what the runner makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from experiment_helpers import BASE, load

from chaos.errors import InvalidInput
from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import builtin_stacks, load_stack_spec
from chaos.runner.audience import JoinPlan, audience_problems, listener_config, stack_for
from chaos.runner.load_engine import Engine, LoadOptions


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
    # Refused as the file loads (validate, the dry run and the run share the check).
    with pytest.raises(ExperimentError, match="does not say where listeners connect"):
        load(document, tmp_path)
    quiet = load(dict(document, workload={"speakers": 1, "listeners": []}), tmp_path)
    assert audience_problems(quiet.experiment, quiet.stack) == []


def test_a_join_api_naming_an_unknown_link_is_located(tmp_path: Path) -> None:
    path = _spec(
        tmp_path,
        "audience:\n  listeners: {link: listener->edge, path: /s, join: {link: client->apii}}\n",
    )
    with pytest.raises(ExperimentError) as caught:
        load_stack_spec(path)
    text = "\n".join(str(issue) for issue in caught.value.issues)
    assert "audience.listeners.join.link" in text and "did you mean 'client->api'" in text


def test_listeners_on_spaces_join_through_the_control_plane_first(tmp_path: Path) -> None:
    """The join API's address, the edges it may name and the stream URL of each reach every
    swarm's listeners; a control cohort plays the same edge through its own proxy."""
    spec = load_stack_spec(builtin_stacks()["spaces"])
    entry = spec.audience.listeners
    assert entry is not None and entry.join is not None
    assert (entry.join.link, entry.join.path) == ("client->api", "/join")
    api = spec.components["api"].command or []
    assert "{links:listener->edge}" in api  # the API gives out the listeners' link proxies
    loaded = load(dict(BASE, stack="spaces"), tmp_path)
    edges = ["127.0.0.1:7001", "127.0.0.1:7002"]
    control = ["127.0.0.1:7101", "127.0.0.1:7102"]
    config = listener_config(
        entry,
        control[1],
        loaded.experiment,
        "edge-2",
        join=JoinPlan("127.0.0.1:7000", edges, ["edge-1", "edge-2"]),
        addresses=control,
    )
    assert config.join_url == "http://127.0.0.1:7000/join"
    assert config.announced == ("http://127.0.0.1:7001", "http://127.0.0.1:7002")
    assert config.edge_urls == tuple(f"http://{a}/live/mix.m3u8" for a in control)
    assert config.edge_names == ("edge-1", "edge-2")  # what its ears heard is labelled so
    plain = listener_config(entry, edges[0], loaded.experiment, "edge-1")
    assert plain.join_url is None  # no join plan: the edge itself, as before


def test_the_locust_engine_refuses_listeners_who_must_join_first(tmp_path: Path) -> None:
    loaded = load(dict(BASE, stack="spaces"), tmp_path)
    locust = LoadOptions(engine=Engine.LOCUST)
    with pytest.raises(InvalidInput, match="join through client->api first") as caught:
        locust.check(loaded.experiment, loaded.stack)  # as `gameday run` does, before a start
    assert "--load-engine native" in str(caught.value.fix)
    LoadOptions().check(loaded.experiment, loaded.stack)  # the native swarm joins
