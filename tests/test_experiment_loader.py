"""Loading experiment files: every issue located at FILE:LINE:COL, never another exception."""

from __future__ import annotations

import functools
import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.experiment.errors import ExperimentError, Issue, Position, format_path
from chaos.experiment.loader import (
    builtin_stacks,
    load_experiment,
    load_stack_spec,
    parse_experiment,
)
from tests.experiment_helpers import BASE, text_issues

ROOT = Path(__file__).resolve().parent.parent
VIRTUAL = ROOT / "tests" / "data" / "generated" / "experiment.yaml"
"""Where generated documents claim to live (never written: parsing takes the text)."""

GOOD = """\
title: Located
workload:
  speakers: 1
  listeners:
    - {arrival: storm, count: 10, spread: 1s}
faults:
  - {name: slow-edge, at: 5s, for: 10s, link: listener->edge, latency: 100ms}
slos:
  - {name: delay, p95: time_to_first_audio, below: 5s, during: storm}
"""


def _at(text: str, line: int, fragment: str) -> Position:
    """Where `fragment` starts on 1-based `line` of `text`."""
    return Position(line, text.splitlines()[line - 1].index(fragment) + 1)


def _one(found: list[Issue]) -> Issue:
    assert len(found) == 1, found
    return found[0]


def test_typo_in_a_field_name_is_located_at_the_key_with_a_suggestion(tmp_path: Path) -> None:
    text = GOOD.replace("latency: 100ms", "lateny: 100ms")
    issue = _one(text_issues(text, tmp_path))
    assert issue.position == _at(text, 7, "lateny")
    column = issue.position.column
    assert str(issue) == (
        f"{tmp_path / 'experiment.yaml'}:7:{column}: faults[0].lateny: unknown field; "
        "did you mean 'latency'?"
    )


def test_a_bad_value_is_located_at_the_value(tmp_path: Path) -> None:
    text = GOOD.replace("at: 5s", "at: 5 seconds")
    issue = _one(text_issues(text, tmp_path))
    assert (issue.position, issue.path) == (_at(text, 7, "5 seconds"), "faults[0].at")
    assert "expected a duration like 200ms" in issue.message


def test_block_style_locations(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - {name: slow-edge, at: 5s, for: 10s, link: listener->edge, latency: 100ms}\n",
        "  - name: slow-edge\n    at: 5s\n    for: 10s\n    link: listener->edge\n"
        "    latency: 100ms\n    jitter: lots\n",
    )
    issue = _one(text_issues(text, tmp_path))
    assert (issue.position, issue.path) == (_at(text, 12, "lots"), "faults[0].jitter")


def test_a_missing_field_is_located_at_its_mapping(tmp_path: Path) -> None:
    text = GOOD.replace("for: 10s, ", "")
    issue = _one(text_issues(text, tmp_path))
    assert (issue.position, issue.path, issue.message) == (
        _at(text, 7, "{"),
        "faults[0].for",
        "required field is missing",
    )


def test_all_issues_are_reported_together_in_reading_order(tmp_path: Path) -> None:
    text = GOOD.replace("count: 10", "count: -10").replace("latency: 100ms", "latncy: 1s")
    text = text.replace("title: Located\n", "title: Located\nseed: x\n")
    found = text_issues(text, tmp_path)
    assert [i.path for i in found] == [
        "seed",
        "workload.listeners[0].count",
        "faults[0].latncy",
    ]
    assert [i.position.line for i in found if i.position] == [2, 6, 8]


def test_cross_reference_issues_are_located_too(tmp_path: Path) -> None:
    text = GOOD.replace("link: listener->edge", "link: listener->egde")
    issue = _one(text_issues(text, tmp_path))
    assert (issue.position, issue.path) == (_at(text, 7, "listener->egde"), "faults[0].link")
    assert "did you mean 'listener->edge'?" in issue.message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("title: [unclosed\n", 2, "not valid YAML"),
        ("title: a\n  bad: indent\n", 2, "not valid YAML"),
        ("title: a\ntitle: b\n", 2, "duplicate key"),
        ("a: 1\n---\nb: 2\n", 2, "not valid YAML"),
        ("key: *nope\n", 1, "not valid YAML"),
        ("\t- tab\n", 1, "not valid YAML"),
    ],
)
def test_yaml_syntax_errors_are_located(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    issue = _one(text_issues(text, tmp_path))
    assert issue.position is not None and issue.position.line == line, issue
    assert fragment in issue.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "got an empty file"), ("- a\n- b\n", "got list"), ("just text\n", "got str")],
)
def test_documents_that_are_not_mappings(tmp_path: Path, text: str, fragment: str) -> None:
    issue = _one(text_issues(text, tmp_path))
    assert issue.position == Position(1, 1)
    assert fragment in issue.message


def test_yaml_1_2_keeps_off_and_no_as_strings(tmp_path: Path) -> None:
    text = GOOD.replace("title: Located", "title: off\ndescription: no")
    experiment = parse_experiment(text, tmp_path / "e.yaml").experiment
    assert (experiment.title, experiment.description) == ("off", "no")


def test_anchors_and_aliases_are_followed(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - {name: slow-edge, at: 5s, for: 10s, link: listener->edge, latency: 100ms}\n",
        "  - &slow {name: slow-edge, at: 5s, for: 10s, link: listener->edge, latency: 100ms}\n"
        "  - {<<: *slow, name: slower, latency: 300ms}\n",
    )
    faults = parse_experiment(text, tmp_path / "e.yaml").experiment.faults
    assert [(f.name, str(getattr(f, "latency", None))) for f in faults] == [
        ("slow-edge", "100ms"),
        ("slower", "300ms"),
    ]


def test_errors_in_merged_mappings_are_located_where_they_are_written(tmp_path: Path) -> None:
    text = (ROOT / "tests" / "data" / "anchors.yaml").read_text()
    assert len(parse_experiment(text, tmp_path / "e.yaml").experiment.faults) == 3
    broken = text.replace("for: 10s", "for: 10 s!").replace("latency: 100ms", "latency: 100pc")
    broken = broken.replace("at: 40s", "at: 4O")
    found = [(i.path, i.position) for i in text_issues(broken, tmp_path)]
    shared = _at(broken, 8, "10 s!")  # merged into every fault, reported for each, located once
    assert found == [
        ("faults[0].for", shared),
        ("faults[1].for", shared),
        ("faults[2].for", shared),
        ("faults[0].latency", _at(broken, 8, "100pc")),
        ("faults[2].at", _at(broken, 12, "4O")),
    ]


def test_recursive_documents_are_refused_not_crashed(tmp_path: Path) -> None:
    found = text_issues("title: &a [*a]\n", tmp_path)
    assert found and all(i.position is not None for i in found)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="cannot read the file"):
        load_experiment(tmp_path / "absent.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00title")
    with pytest.raises(ExperimentError, match=r"binary.yaml:1:1: not UTF-8: byte 0xff"):
        load_experiment(tmp_path / "binary.yaml")


def test_error_is_invalid_input_with_every_issue_in_its_message(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(GOOD.replace("5s", "5x"), tmp_path / "e.yaml")
    error = caught.value
    assert int(error.exit_code) == 2
    assert all(str(issue) in error.render() for issue in error.issues)
    assert "gameday validate" in error.render()
    with pytest.raises(ValueError):
        ExperimentError([])


# --- stacks ----------------------------------------------------------------------------------


def test_builtin_soundstage_spec_is_valid() -> None:
    assert "soundstage" in builtin_stacks()
    spec = load_stack_spec(builtin_stacks()["soundstage"])
    assert set(spec.links) >= {"listener->edge", "speaker->ingest"}


def test_unknown_builtin_stack_suggests_the_nearest(tmp_path: Path) -> None:
    issue = _one(text_issues("stack: soundstag\n" + GOOD, tmp_path))
    assert (issue.path, issue.position) == ("stack", Position(1, 8))
    assert "did you mean 'soundstage'?" in issue.message


def test_stack_path_is_relative_to_the_experiment(tmp_path: Path) -> None:
    spec = builtin_stacks()["soundstage"].read_text()
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "mine.yaml").write_text(spec.replace("name: soundstage", "name: mine"))
    loaded = parse_experiment("stack: stacks/mine.yaml\n" + GOOD, tmp_path / "e.yaml")
    assert (loaded.stack.name, loaded.stack_path) == ("mine", tmp_path / "stacks" / "mine.yaml")
    issue = _one(text_issues("stack: stacks/theirs.yaml\n" + GOOD, tmp_path))
    assert "no stack spec at" in issue.message and issue.path == "stack"


def test_issues_in_a_stack_spec_are_located_in_that_file(tmp_path: Path) -> None:
    spec = builtin_stacks()["soundstage"].read_text().replace("to: edge.http", "to: edge.htp")
    (tmp_path / "bad-stack.yaml").write_text(spec)
    issue = _one(text_issues("stack: bad-stack.yaml\n" + GOOD, tmp_path))
    assert issue.file == tmp_path / "bad-stack.yaml"
    assert issue.path == "links.listener->edge.to"
    assert (
        issue.position is not None
        and "listener->edge" in spec.splitlines()[issue.position.line - 1]
    )
    assert "did you mean 'http'?" in issue.message


def test_format_path_drops_union_tags() -> None:
    assert format_path(("faults", 1, "<latency>", "jitter")) == "faults[1].jitter"
    assert format_path(("links", "a->b", "[key]")) == "links.a->b (key)"


# --- properties: malformed and random documents ----------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["5s", "200ms", "5%", "64kbps", "1000KB/s", "1.5MB", "1:500", "2k"]),
    st.sampled_from(["storm", "ramp", "paced", "curve", "listener->edge", "speaker->ingest"]),
    st.sampled_from(["edge", "edge-1", "speaker-1", "slow-edge", "off", "immediate", "backoff"]),
    st.text(max_size=8),
)
_keys = st.sampled_from(
    [
        "title", "seed", "stack", "scale", "workload", "speakers", "listeners", "faults", "slos",
        "abort", "rollback", "name", "at", "for", "link", "latency", "jitter", "loss", "flood",
        "bandwidth", "slicer", "average_size", "kill", "restart", "feedback", "speaker", "gain",
        "arrival", "count", "spread", "from", "to", "rate", "csv", "p95", "ratio", "max",
        "below", "above", "equals", "during", "after", "window", "recovers_within", "metric",
        "reconnect", "policy", "duration", "lateny", "durign",
    ]
)  # fmt: skip
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=6)),
    max_leaves=30,
)


def _assert_located(run: Any) -> None:
    try:
        run()
    except ExperimentError as error:
        assert error.issues
        for issue in error.issues:
            assert issue.position is not None and issue.position.line >= 1, issue
            assert issue.message
            assert "Traceback" not in issue.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents)
def test_random_structures_give_a_model_or_located_issues(document: Any) -> None:
    _assert_located(lambda: parse_experiment(json.dumps(document, allow_nan=True), VIRTUAL))


def _mutate(data: st.DataObject, base: dict[str, Any]) -> Any:
    """A valid document with one piece replaced, deleted or added anywhere in its tree."""
    document = json.loads(json.dumps(base))
    node = document
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if not isinstance(child, dict | list) or data.draw(st.booleans()):
            action = data.draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                node[key] = data.draw(_documents)
            elif action == "delete":
                del node[key]
            elif isinstance(node, dict):
                node[data.draw(_keys)] = data.draw(_scalars)
            else:
                node.append(data.draw(_documents))
            break
        node = child
    return document


@functools.cache
def _valid_examples() -> list[dict[str, Any]]:
    examples = [json.loads(json.dumps(BASE))]
    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        experiment = load_experiment(path).experiment
        examples.append(experiment.model_dump(mode="json", by_alias=True, exclude_none=True))
    return examples


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_documents_give_a_model_or_located_issues(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(_valid_examples()))
    document = _mutate(data, base)
    _assert_located(lambda: parse_experiment(json.dumps(document, allow_nan=True), VIRTUAL))


_yamlish = st.text(
    alphabet=string.ascii_letters + string.digits + " :-{}[],&*!|>'\"#%@`?\n\t.\\/<=",
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        _yamlish, st.text(max_size=80), st.builds(lambda a, b: a + b, st.just(GOOD), _yamlish)
    )
)
def test_random_text_gives_a_model_or_located_issues(text: str) -> None:
    _assert_located(lambda: parse_experiment(text, VIRTUAL))


@functools.cache
def _written_files() -> list[str]:
    """Hand-written YAML: comments, flow and block styles, anchors and merge keys."""
    paths = [
        *sorted((ROOT / "experiments").glob("*.yaml")),
        *sorted((ROOT / "tests/data").glob("*.yaml")),
    ]
    return [path.read_text() for path in paths]


_tokens = st.sampled_from(
    ["5s", "-1s", "200", "lateny", "latency", "*edge-fault", "&x", "<<", "{", "}", "[", "- ",
     ": ", "\n  ", "\n", "null", "off", "1:500", "listener->egde", "strom", "p95", "#"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_edited_files_give_a_model_or_located_issues(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(_written_files()))
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 12)))
    insert = data.draw(st.one_of(_tokens, _yamlish.map(lambda t: t[:10])))
    _assert_located(lambda: parse_experiment(text[:start] + insert + text[end:], VIRTUAL))
