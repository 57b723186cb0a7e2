"""`gameday schema` and the schemas shipped for editors: up to date with the models, named by a
YAML language server modeline in every example, and accepting every example the loader accepts."""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from typer.testing import CliRunner

from chaos.cli import app
from chaos.experiment.schema import FILE_NAMES, KINDS, MODELINE, Kind, schema_text
from chaos.experiment.units import parse_count

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
EXAMPLES = sorted([*(ROOT / "experiments").rglob("*.yaml"), *(ROOT / "seeds").rglob("*.yaml")])
LAUNCH_STORM = YAML(typ="safe").load((ROOT / "experiments" / "launch-storm.yaml").read_text())
BUILT_IN_STACKS = sorted((ROOT / "chaos" / "stack" / "specs").glob("*.yaml"))


def kind_of(path: Path) -> Kind:
    return "stack" if "stacks" in path.parts or path in BUILT_IN_STACKS else "experiment"


@functools.cache
def validator(kind: Kind) -> jsonschema.Draft202012Validator:
    shipped = json.loads((SCHEMAS / FILE_NAMES[kind]).read_text())
    jsonschema.Draft202012Validator.check_schema(shipped)
    return jsonschema.Draft202012Validator(shipped)


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_schemas_are_up_to_date(kind: Kind) -> None:
    shipped = (SCHEMAS / FILE_NAMES[kind]).read_text()
    assert shipped == schema_text(kind), "regenerate them: gameday schema --out schemas/"


@pytest.mark.parametrize("kind", KINDS)
def test_gameday_schema_prints_the_shipped_schema(kind: Kind) -> None:
    done = CliRunner().invoke(app, ["schema", kind])
    assert done.exit_code == 0, done.output
    assert done.stdout == (SCHEMAS / FILE_NAMES[kind]).read_text()
    assert CliRunner().invoke(app, ["schema", "bogus"]).exit_code == 2


def test_gameday_schema_out_writes_both(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["schema", "--out", str(tmp_path)]).exit_code == 0
    for kind in KINDS:
        assert (tmp_path / FILE_NAMES[kind]).read_text() == schema_text(kind)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_names_its_schema_for_editors(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith(MODELINE), f"{path}: first line must be {MODELINE}PATH"
    target = (path.parent / first.removeprefix(MODELINE).strip()).resolve()
    assert target == (SCHEMAS / FILE_NAMES[kind_of(path)]).resolve(), first
    assert os.path.isfile(target)


@pytest.mark.parametrize("path", EXAMPLES + BUILT_IN_STACKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_the_loader_accepts_the_schema_accepts(path: Path) -> None:
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(kind_of(path)).iter_errors(load_yaml(path))
    ]
    assert not errors, errors


def test_the_schema_catches_what_an_editor_should_flag() -> None:
    check = validator("experiment")
    good = load_yaml(ROOT / "experiments" / "launch-storm.yaml")
    assert check.is_valid(good)
    for bend in (
        {"titel": "typo"},  # unknown key
        {"scale": 500},  # a scale is 1:N
        {"workload": {**good["workload"], "speakers": "two"}},
        {"seed": -1},
    ):
        assert not check.is_valid({**good, **bend}), bend
    defaults = json.loads(schema_text("experiment"))["properties"]
    assert defaults["baseline"]["default"] == "10s"  # as a file writes it


@settings(deadline=None)  # a loaded machine; the property is about acceptance, not speed
@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(["plain", "commas", "k", "M"]))
def test_a_count_the_parser_reads_the_schema_accepts(number: int, form: str) -> None:
    text = {
        "plain": str(number),
        "commas": f"{number:,}",
        "k": f"{number % 1000}k",
        "M": f"{number % 100}.5M",
    }[form]
    count = parse_count(text)
    document = copy.deepcopy(LAUNCH_STORM)
    document["workload"]["listeners"][0]["count"] = text
    assert validator("experiment").is_valid(document), (text, count)
