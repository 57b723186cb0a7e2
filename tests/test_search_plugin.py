"""The pytest plugin, exercised the way users meet it: a small example suite run by pytester."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DATA = Path(__file__).parent / "data"

TINY = """
title: tiny
stack: ./tiny-stack.yaml
baseline: 1s
recovery: 1s
workload: {{listeners: []}}
faults:
  - {{name: slow-web, at: 0s, for: 2s, link: client->web, latency: 100ms}}
slos:
  - {{name: nobody-listening, max: gameday_listeners_connected, below: {below}}}
"""

MARKED = """
import pytest

@pytest.mark.gameday("tiny.yaml")
def test_tiny_holds(gameday_outcome):
    assert gameday_outcome.verdict.value == "pass"
    assert gameday_outcome.journal.exists()

@pytest.mark.gameday("tiny-broken.yaml")
def test_tiny_broken():
    raise AssertionError("the body must not run after a failed game day")
"""

PROPERTY = """
import json
from pathlib import Path

from hypothesis import given, settings

from chaos.pytest_plugin import fault_schedules, search_space

TINY = Path(__file__).parent / "tiny.yaml"
SPACE = search_space(TINY, kinds=("latency",), max_faults=1)

@settings(max_examples=2, deadline=None, database=None)
@given(schedule=fault_schedules(SPACE, min_faults=1))
def test_latency_never_breaks_the_tiny_stack(schedule, gameday_run, slo_checker):
    outcome = gameday_run(TINY, schedule, seed=1)
    slo_checker.assert_holds(outcome)
    records = [json.loads(line) for line in outcome.journal.read_text().splitlines()]
    started = [r for r in records if r["kind"] == "fault.start"]
    assert [r["name"] for r in started] == ["search-1-latency"]  # the schedule, not the file's
"""

FIXTURES = """
import urllib.request

def test_the_stack_runs_behind_the_fault_proxy(gameday_stack, fault_client):
    (dialled,) = gameday_stack.dialled["client->web"]
    assert urllib.request.urlopen(f"http://{dialled}/", timeout=5).status == 200
    upstreams = {p.upstream for p in fault_client.list_proxies().values()}
    assert gameday_stack.links["client->web"][0] in upstreams
"""


@pytest.mark.timeout(180)
def test_an_example_suite_uses_the_marker_fixtures_and_strategies(
    pytester: pytest.Pytester,
) -> None:
    shutil.copy(DATA / "tiny-stack.yaml", pytester.path / "tiny-stack.yaml")
    (pytester.path / "tiny.yaml").write_text(TINY.format(below=1))
    (pytester.path / "tiny-broken.yaml").write_text(TINY.format(below=0))
    pytester.makepyfile(test_marked=MARKED, test_property=PROPERTY, test_fixtures=FIXTURES)
    result = pytester.runpytest_subprocess(
        "--gameday-stack", "tiny-stack.yaml", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3, failed=1)
    assert "the body must not run" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*test_tiny_broken*",
            "*gameday verdict fail:*",
            "*nobody-listening: 0 (must be below 0)*",
            "*journal: *journal.jsonl*",
        ]
    )


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.gameday(experiment, seed=None, scale=1.0)*"])


LISTENERS = """
title: three listeners
stack: soundstage
workload:
  speakers: 1
  listeners:
    - {arrival: storm, count: 3, at: 0s, spread: 500ms}
slos:
  - {name: nobody-howls, increase: gameday_listener_howl_seconds_total, equals: 0}
"""

WORKLOAD = """
def test_listeners_hear_the_stack(gameday_workload):
    stats = gameday_workload("listeners.yaml", seconds=4)
    assert stats.join_attempts == 3 and stats.joins_ok == 3
    assert stats.played_seconds > 3
"""


@pytest.mark.timeout(120)
def test_the_workload_fixture_plays_listeners_against_the_running_stack(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "listeners.yaml").write_text(LISTENERS)
    pytester.makepyfile(test_workload=WORKLOAD)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
