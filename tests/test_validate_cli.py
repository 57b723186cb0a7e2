"""`gameday validate` as a user runs it: exit codes, located messages, never a traceback."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from chaos.experiment.experiment import Experiment
from chaos.experiment.loader import builtin_stacks, load_experiment
from chaos.experiment.validate import validate_files

ROOT = Path(__file__).resolve().parent.parent
GAMEDAY = Path(sys.executable).parent / "gameday"
EXAMPLES = sorted((ROOT / "experiments").glob("*.yaml"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GAMEDAY), "validate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_there_are_at_least_two_examples_on_the_builtin_stack() -> None:
    # Every example runs on a stack that ships with chaos (as chaos itself lists them), so a
    # fresh clone can run any of them; at least two run on the default one.
    builtins = builtin_stacks()
    stacks = {p.name: load_experiment(p).experiment.stack for p in EXAMPLES}
    assert len(EXAMPLES) >= 2
    assert {name: s for name, s in stacks.items() if s not in builtins} == {}
    default = Experiment.model_fields["stack"].default
    assert default in builtins
    assert sum(s == default for s in stacks.values()) >= 2


def test_examples_validate_with_exit_0() -> None:
    result = _run(*(str(p.relative_to(ROOT)) for p in EXAMPLES))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(EXAMPLES)
    demo = load_experiment(ROOT / "experiments" / "launch-storm.yaml").experiment
    faults, slos = len(demo.faults), len(demo.slos)
    assert f"ok experiments/launch-storm.yaml ({demo.title}, {faults} faults, {slos} SLOs)" in lines


def test_broken_example_exits_2_with_located_suggestions() -> None:
    result = _run("tests/data/broken-experiment.yaml")
    assert result.returncode == 2
    assert result.stdout == ""
    located = "tests/data/broken-experiment.yaml:11:61: faults[1].lateny: unknown field; "
    assert located + "did you mean 'latency'?" in result.stderr
    assert "tests/data/broken-experiment.yaml:8:17: workload.listeners[0].arrival:" in result.stderr
    assert "did you mean 'storm'?" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_mixed_files_report_each_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "syntax.yaml").write_text("title: [oops\n")
    result = _run(
        "experiments/",
        "tests/data/broken-references.yaml",
        str(tmp_path / "syntax.yaml"),
        str(tmp_path / "absent.yaml"),
    )
    assert result.returncode == 2
    assert result.stdout.count("ok ") == len(EXAMPLES)
    err = result.stderr
    assert "broken-references.yaml:9:48: faults[0].link: no link 'listener->egde'" in err
    assert "did you mean 'listener->edge'?" in err
    assert "syntax.yaml:2:1: not valid YAML" in err
    assert "absent.yaml: cannot read the file" in err
    assert "3 of" in err and "files invalid" in err
    assert "Traceback" not in result.stdout + err


def test_help_shows_examples() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "gameday validate experiments/" in result.stdout


@pytest.mark.parametrize("width", [40, 200])
def test_messages_are_never_wrapped_or_marked_up(width: int) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = validate_files(
        [ROOT / "tests/data/broken-experiment.yaml"],
        Console(file=out, width=width),
        Console(file=err, width=width),
    )
    assert code == 2
    text = err.getvalue()
    assert "faults[1].lateny: unknown field; did you mean 'latency'?" in text
    assert f"{ROOT}/tests/data/broken-experiment.yaml:11:61:" in text


def test_an_empty_directory_is_invalid_input(tmp_path: Path) -> None:
    err = io.StringIO()
    assert validate_files([tmp_path], Console(file=io.StringIO()), Console(file=err)) == 2
    assert "no experiment files" in err.getvalue()
