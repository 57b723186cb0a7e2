"""Every YAML block of the README runs as printed: each experiment validates, dry-runs and
runs (one longer than 40 s shortened: every time and listener count in it divided by 10) on
the stack it names; each stack spec loads and dry-runs under an experiment; a spec fragment
is what the built-in spec it quotes says. A block of a kind this test does not know fails
it, so a new example cannot go unchecked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from runner_support import gameday

from chaos.experiment.loader import BUILTIN_SPECS, load_stack_spec
from chaos.experiment.units import Duration
from chaos.report.journal import read_journal
from chaos.report.summary import SLO_KIND, VERDICT_KIND

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```yaml\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def _line(block: str) -> int:
    return README[: README.index(block)].count("\n") + 1


def _data(block: str) -> Any:
    return YAML(typ="safe").load(block)


def _kind(block: str) -> str:
    data = _data(block)
    if "title" in data:
        return "experiment"
    if "components" in data:
        return "stack"
    return "fragment"


IDS = [f"README.md:{_line(b)}" for b in BLOCKS]
EXPERIMENTS = [b for b in BLOCKS if _kind(b) == "experiment"]
STACKS = [b for b in BLOCKS if _kind(b) == "stack"]
FRAGMENTS = [b for b in BLOCKS if _kind(b) == "fragment"]

TIMES = {"at", "for", "spread", "from", "to", "window", "recovers_within", "initial", "max",
         "lease", "baseline", "recovery", "duration", "delay"}  # fmt: skip
"""Keys whose values are durations of the run (not thresholds, which stay as printed)."""

STARVED = ("metrics endpoints not answering:",)
"""Infrastructure failures a starved machine causes (the run says so): skipped, never passed."""

SHORTEN = 10
LONGEST_AS_PRINTED = 40.0
"""Seconds of run an example may take unshortened."""


def test_the_readme_has_experiments_stacks_and_fragments() -> None:
    assert len(EXPERIMENTS) >= 2 and len(STACKS) >= 2, IDS


def _shortened(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _shortened(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(v, key) for v in value]
    if key == "count" and isinstance(value, int):
        return max(1, value // SHORTEN)
    if key in TIMES and isinstance(value, str):
        try:
            seconds = Duration.parse(value).seconds
        except ValueError:
            return value
        return f"{seconds / SHORTEN:g}s"
    return value


def _length(data: dict[str, Any]) -> float:
    """A rough length of the run: baseline, the last thing to end, recovery."""
    ends = [0.0]
    for item in [*data.get("faults", []), *data.get("workload", {}).get("listeners", [])]:
        start = Duration.parse(str(item.get("at", item.get("from", "0s")))).seconds
        span = Duration.parse(str(item.get("for", item.get("spread", "0s")))).seconds
        ends.append(max(start + span, Duration.parse(str(item.get("to", "0s"))).seconds))
    baseline = Duration.parse(str(data.get("baseline", "10s"))).seconds
    recovery = Duration.parse(str(data.get("recovery", "30s"))).seconds
    return baseline + max(ends) + recovery


def _write(tmp_path: Path, data: dict[str, Any], name: str) -> Path:
    path = tmp_path / name
    with path.open("w") as out:
        YAML().dump(data, out)
    return path


@pytest.mark.parametrize("block", EXPERIMENTS, ids=[f"README.md:{_line(b)}" for b in EXPERIMENTS])
def test_an_experiment_validates_and_dry_runs_as_printed(tmp_path: Path, block: str) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(block)
    done = gameday("validate", path)
    assert done.returncode == 0, done.stdout + done.stderr
    done = gameday("run", path, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry run: nothing was started" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("block", EXPERIMENTS, ids=[f"README.md:{_line(b)}" for b in EXPERIMENTS])
def test_an_experiment_runs_on_its_stack(tmp_path: Path, block: str) -> None:
    data = _data(block)
    assert data["stack"] in {p.stem for p in BUILTIN_SPECS.glob("*.yaml")}, "runs on a built-in"
    if _length(data) > LONGEST_AS_PRINTED:
        data = _shortened(data)
        data.setdefault("baseline", "15s")  # time for the load generator to start
        data.setdefault("recovery", "3s")
    path = _write(tmp_path, data, "example.yaml")
    assert gameday("validate", path).returncode == 0
    out = tmp_path / "run"
    done = gameday("run", path, "--out", out, timeout=400)
    output = done.stdout + done.stderr
    starved = [sign for sign in STARVED if sign in output]
    if done.returncode == 3 and starved:
        pytest.skip(f"the machine was too loaded to run the stack: {starved[0]}")
    assert done.returncode in (0, 1, 4), output  # a verdict on the stack: pass, fail, inconclusive
    journal = read_journal(out / "journal.jsonl")
    assert journal.closed and any(journal.of_kind(VERDICT_KIND)), output
    slos = {e["name"] for e in journal.of_kind(SLO_KIND)}
    assert slos >= {slo["name"] for slo in data["slos"] if "recovers_within" not in slo}, output


EXTERNAL = """\
title: an example stack, checked without running
stack: ./stack.yaml
workload: {workload}
slos:
  - {{name: quiet, max: gameday_listeners_connected, equals: 0}}
"""


@pytest.mark.parametrize("block", STACKS, ids=[f"README.md:{_line(b)}" for b in STACKS])
def test_a_stack_spec_loads_and_dry_runs_under_an_experiment(tmp_path: Path, block: str) -> None:
    """Specs of servers that already run elsewhere (`address:`) have no stack here to run."""
    (tmp_path / "stack.yaml").write_text(block)
    spec = load_stack_spec(tmp_path / "stack.yaml")
    assert all(c.address is not None for c in spec.components.values()), "a stack to run"
    has_audience = spec.audience is not None and spec.audience.listeners is not None
    workload = "{listeners: [{arrival: storm, count: 2, at: 0s}]}" if has_audience else "{}"
    path = tmp_path / "experiment.yaml"
    path.write_text(EXTERNAL.format(workload=workload))
    done = gameday("validate", path)
    assert done.returncode == 0, done.stdout + done.stderr
    done = gameday("run", path, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("block", FRAGMENTS, ids=[f"README.md:{_line(b)}" for b in FRAGMENTS])
def test_a_fragment_is_what_the_built_in_spec_it_quotes_says(block: str) -> None:
    fragment = _data(block)
    (key,) = fragment
    quoted = [
        path.stem
        for path in BUILTIN_SPECS.glob("*.yaml")
        if _data(path.read_text()).get(key) == fragment[key]
    ]
    assert quoted, f"no built-in spec has this {key}: {fragment[key]}"
