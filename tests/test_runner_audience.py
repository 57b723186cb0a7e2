"""The stack spec's `audience`: checked at load time, and what the runner makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from experiment_helpers import BASE, load

from chaos.errors import InvalidInput
from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import builtin_stacks, load_stack_spec
from chaos.runner.audience import (
    Audience,
    CohortPlan,
    JoinPlan,
    audience_problems,
    listener_config,
    stack_for,
)
from chaos.runner.load_engine import Engine, LoadOptions
from chaos.workload.cohorts import Cohort


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


def test_cohorts_share_the_swarms_workers_each_dialling_its_own_proxies(tmp_path: Path) -> None:
    """One swarm for the whole audience: each (cohort, edge) is a crowd, every worker carries
    listeners of both cohorts (a loaded machine's scheduling then reaches them alike), control
    listeners dial the `~control` proxies, and each cohort's totals stay its own."""
    document = dict(
        BASE, workload={"speakers": 1, "listeners": [{"arrival": "storm", "count": 40}]}
    )
    loaded = load(document, tmp_path)
    edges = ["127.0.0.1:7001", "127.0.0.1:7002"]
    control = ["127.0.0.1:7101", "127.0.0.1:7102"]
    audience = Audience(
        loaded.experiment,
        loaded.stack,
        edges,
        seed=3,
        base_dir=tmp_path,
        start_at=None,
        duration=10.0,
        cohorts=CohortPlan(0.5, control),
    )
    swarm = audience.swarm
    assert swarm is not None and audience.count == 40
    assert audience.cohorts == [Cohort.CONTROL] * 2 + [Cohort.EXPERIMENT] * 2
    urls = [c.url for c in swarm.crowds.configs]
    assert urls == [f"http://{a}/stream/1" for a in control + edges]
    assert [c.edge for c in swarm.crowds.configs] == ["edge-1", "edge-2"] * 2
    jobs = swarm.jobs()  # one per core
    for job in jobs:
        dealt = [audience.cohorts[swarm.crowds.of[i]] for i, _ in job.listeners]
        assert dealt.count(Cohort.CONTROL) == dealt.count(Cohort.EXPERIMENT)
    assert sum(len(job.listeners) for job in jobs) == 40 and jobs[0].listeners
    assert set(audience.stats_by_cohort()) == {"control", "experiment"}
    started = audience.starts()
    assert [(s["cohort"], s["edge"], s["listeners"]) for s in started] == [
        ("control", "edge-1", 10),
        ("control", "edge-2", 10),
        ("experiment", "edge-1", 10),
        ("experiment", "edge-2", 10),
    ]
