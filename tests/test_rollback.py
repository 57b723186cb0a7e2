"""Rollback: run tags, the pure plan, and the operation's idempotence (no server needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.errors import InvalidInput
from chaos.faults.client import Api, Proxy, Toxic
from chaos.faults.client.protocol import HttpRequest, HttpResponse
from chaos.runner.rollback import (
    RollbackReport,
    Scope,
    ToxicRef,
    describe,
    plan_rollback,
    rollback,
    rollback_command,
)
from chaos.runner.run_tag import check_run_id, run_id_of, tag

run_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
names = st.text(min_size=1, max_size=20)


@given(names, run_ids)
def test_a_tagged_name_says_which_run_made_it(name: str, run_id: str) -> None:
    assert run_id_of(tag(name, run_id)) == run_id


@pytest.mark.parametrize("name", ["latency_downstream", "a@", "x@bad id", "@"])
def test_untagged_names_belong_to_no_run(name: str) -> None:
    assert run_id_of(name) is None


@pytest.mark.parametrize("bad", ["", "-x", "a b", "a/b", "x" * 65, "ü"])
def test_invalid_run_ids_are_rejected_with_the_fix(bad: str) -> None:
    with pytest.raises(InvalidInput, match="run's journal"):
        check_run_id(bad)


def toxic(name: str) -> Toxic:
    return Toxic(name=name, type="latency")


@st.composite
def servers(draw: st.DrawFn) -> dict[str, Proxy]:
    proxy_names = draw(st.lists(names, unique=True, max_size=5))
    toxic_names = st.one_of(names, st.builds(tag, names, st.sampled_from(["r1", "r2"])))
    return {
        name: Proxy(
            name=name,
            listen="127.0.0.1:1",
            upstream="127.0.0.1:2",
            enabled=draw(st.booleans()),
            toxics=tuple(toxic(t) for t in draw(st.lists(toxic_names, unique=True, max_size=4))),
        )
        for name in proxy_names
    }


@given(servers())
def test_rollback_all_plans_every_toxic_and_every_disabled_proxy(
    proxies: dict[str, Proxy],
) -> None:
    plan = plan_rollback(proxies, Scope.everything())
    assert {(t.proxy, t.name) for t in plan.toxics} == {
        (p.name, t.name) for p in proxies.values() for t in p.toxics
    }
    assert set(plan.enable) == {p.name for p in proxies.values() if not p.enabled}
    assert plan.left_disabled == ()


@given(servers(), st.sampled_from(["r1", "r2"]))
def test_rollback_of_one_run_plans_only_its_toxics(proxies: dict[str, Proxy], run_id: str) -> None:
    plan = plan_rollback(proxies, Scope.run(run_id))
    assert {(t.proxy, t.name) for t in plan.toxics} == {
        (p.name, t.name) for p in proxies.values() for t in p.toxics if run_id_of(t.name) == run_id
    }
    assert plan.enable == ()
    assert set(plan.left_disabled) == {p.name for p in proxies.values() if not p.enabled}


@given(servers())
def test_a_start_up_sweep_plans_every_runs_toxics_but_no_hand_made_one(
    proxies: dict[str, Proxy],
) -> None:
    plan = plan_rollback(proxies, Scope.any_run())
    assert {(t.proxy, t.name) for t in plan.toxics} == {
        (p.name, t.name) for p in proxies.values() for t in p.toxics if run_id_of(t.name)
    }
    assert plan.enable == ()


def server_state() -> dict[str, Any]:
    return {
        "edge": {
            "name": "edge",
            "listen": "127.0.0.1:1",
            "upstream": "127.0.0.1:2",
            "enabled": False,
            "toxics": [{"name": "slow@r1", "type": "latency", "attributes": {"latency": 5}}],
        },
        "ingest": {
            "name": "ingest",
            "listen": "127.0.0.1:3",
            "upstream": "127.0.0.1:4",
            "enabled": True,
            "toxics": [{"name": "cut", "type": "limit_data", "attributes": {"bytes": 1}}],
        },
    }


def test_rollback_removes_toxics_before_enabling_and_tolerates_vanished_ones() -> None:
    operation = rollback(Api("http://t"), Scope.everything())
    sent = [next(operation)]
    answers = [
        HttpResponse(200, json.dumps(server_state()).encode()),
        HttpResponse(204, b""),
        HttpResponse(404, b'{"error":"toxic not found","status":404}\n'),
        HttpResponse(200, json.dumps(server_state()["edge"]).encode()),
    ]
    with pytest.raises(StopIteration) as done:
        for answer in answers:
            sent.append(operation.send(answer))
    assert [(r.method, r.path) for r in sent] == [
        ("GET", "/proxies"),
        ("DELETE", "/proxies/edge/toxics/slow%40r1"),
        ("DELETE", "/proxies/ingest/toxics/cut"),
        ("PATCH", "/proxies/edge"),
    ]
    report: RollbackReport = done.value.value
    assert report.removed == (ToxicRef("edge", "slow@r1", "latency", "downstream"),)
    assert report.enabled == ("edge",)
    assert report.vanished == ("toxic 'cut' on proxy 'ingest'",)
    lines = describe(report)
    assert lines[0] == "removed latency toxic 'slow@r1' (downstream) from proxy 'edge'"
    assert "already gone: toxic 'cut' on proxy 'ingest'" in lines
    assert lines[-1].startswith("rolled back: 1 toxic(s), 1 proxy(ies) re-enabled (all toxics)")


def test_dry_run_only_lists() -> None:
    operation = rollback(Api("http://t"), Scope.run("r1"), dry_run=True)
    assert next(operation) == HttpRequest("GET", "/proxies")
    with pytest.raises(StopIteration) as done:
        operation.send(HttpResponse(200, json.dumps(server_state()).encode()))
    lines = describe(done.value.value)
    assert lines == [
        "would remove latency toxic 'slow@r1' (downstream) from proxy 'edge'",
        "left disabled: proxy 'edge' (a disabled proxy carries no run tag; use --all)",
        "dry run, nothing changed: 1 toxic(s), 0 proxy(ies) re-enabled (run r1) on http://t",
    ]


@pytest.mark.parametrize(
    ("run_id", "everything", "message"),
    [(None, False, "say which faults"), ("r1", True, "exclude each other")],
)
def test_rollback_needs_exactly_one_scope(
    run_id: str | None, everything: bool, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        rollback_command("http://127.0.0.1:1", run_id, everything=everything, dry_run=False)
