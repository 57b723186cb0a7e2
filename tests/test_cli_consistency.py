"""One spelling per concept across `gameday` commands: durations with units, counts like 8M,
`--scale 1:N` as the YAML writes it, `--out`, `--load-engine`, `--version`; replay's proxy,
Prometheus and evidence flags. Older spellings keep working as hidden aliases."""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import typer
from experiment_helpers import BASE, load
from hypothesis import given, settings
from hypothesis import strategies as st
from runner_support import gameday
from typer.testing import CliRunner

from chaos import __version__, cli_options
from chaos.cli import app
from chaos.experiment.units import Duration, Scale
from chaos.runner.audience import scale_text, scaled

DATA = Path(__file__).resolve().parent / "data"
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def plain(text: str) -> str:
    """Help text without rich's boxes and colours, one space between words."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


# ------------------------------------------------------------------------------ value parsers


@given(st.integers(min_value=0, max_value=10**6 * 10**9))
def test_a_duration_option_reads_what_the_files_write(nanoseconds: int) -> None:
    duration = Duration(nanoseconds)
    assert cli_options.duration_seconds(str(duration)) == duration.seconds


@given(st.integers(min_value=0, max_value=10**6))
def test_a_bare_number_of_seconds_is_the_older_spelling(seconds: int) -> None:
    assert cli_options.duration_seconds(str(seconds)) == float(seconds)


@pytest.mark.parametrize("text", ["30 parsecs", "-5s", "", "5s30m", "1e3"])
def test_a_bad_duration_names_the_option(text: str) -> None:
    with pytest.raises(typer.BadParameter) as caught:
        cli_options.duration_seconds(text, "--timeout")
    assert caught.value.param_hint == "--timeout"


@given(st.integers(min_value=0, max_value=10**9))
def test_counts_are_read_as_the_files_write_them(count: int) -> None:
    assert cli_options.count(str(count)) == count
    assert cli_options.count(f"{count:,}") == count


@pytest.mark.parametrize(
    ("text", "count"), [("8M", 8_000_000), ("660k", 660_000), ("1.3M", 1_300_000)]
)
def test_counts_with_suffixes(text: str, count: int) -> None:
    assert cli_options.count(text) == count


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_scale_reads_the_yaml_form(model: int, real: int) -> None:
    assert cli_options.scale(f"{model}:{real}") == Scale(model, real)
    assert cli_options.people_per_listener(f"{model}:{real}") == Scale(model, real)


def test_older_scale_spellings_keep_their_meaning() -> None:
    assert cli_options.scale("0.5") == 0.5  # run's multiplier
    assert cli_options.people_per_listener("5000") == Scale(1, 5000)  # import's N
    for bad in ("0", "1:0", "x", "-2"):
        with pytest.raises(typer.BadParameter):
            cli_options.scale(bad)


def test_an_alias_given_with_a_different_value_is_refused() -> None:
    assert cli_options.alias("a", None, name="--new", old_name="--old") == "a"
    assert cli_options.alias(None, "b", name="--new", old_name="--old") == "b"
    with pytest.raises(typer.BadParameter, match="older spelling of --new"):
        cli_options.alias("a", "b", name="--new", old_name="--old")


# ------------------------------------------------------------------------ --scale 1:N in run


def _document(**extra: Any) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    document.update(extra)
    return document


@settings(deadline=None)  # each example loads an experiment and its stack spec: load, not logic
@given(st.integers(min_value=1, max_value=5000), st.sampled_from([100, 250, 500, 1000, 2000]))
def test_scale_re_expresses_counts_from_the_files_scale(count: int, people: int) -> None:
    """`--scale 1:N` on a file written at 1:500: the same audience, N people per probe."""
    where = Path("/nonexistent")  # parse only: the file is never read back
    document = _document(scale="1:500")
    document["workload"]["listeners"][0]["count"] = count
    experiment = load(document, where).experiment
    at = scaled(experiment, Scale(1, people))
    expected = max(1, round(Fraction(count * 500, people)))
    assert at.workload.listeners[0].count == expected
    assert at.scale == Scale(1, people)


def test_scale_on_a_file_without_one_counts_people(tmp_path: Path) -> None:
    document = _document()
    document["workload"]["listeners"][0]["count"] = 20_000
    experiment = load(document, tmp_path).experiment
    assert scaled(experiment, Scale(1, 100)).workload.listeners[0].count == 200
    assert scaled(experiment, 0.5).workload.listeners[0].count == 10_000  # the older multiplier
    assert scale_text(Scale(1, 100)) == "1:100" and scale_text(0.5) == "0.5"


def test_scale_rescales_a_replayed_curve(tmp_path: Path) -> None:
    (tmp_path / "curve.csv").write_text("seconds,listeners\n0,0\n10,100000\n")
    curve = {"name": "replay", "arrival": "curve", "csv": "curve.csv", "scale": "1:500"}
    document = _document(scale="1:500", duration="20s")
    document["workload"]["listeners"] = [curve]
    experiment = load(document, tmp_path).experiment
    at = scaled(experiment, Scale(1, 2000))
    assert at.workload.listeners[0].scale == Scale(1, 2000)
    assert scaled(experiment, 0.5).workload.listeners[0].scale == Scale(1, 500)


# ------------------------------------------------------------------------------- the commands


def test_version_flag_and_command_agree() -> None:
    flag, command = invoke("--version"), invoke("version")
    assert flag.exit_code == 0 and command.exit_code == 0
    assert flag.stdout == command.stdout
    assert f"gameday {__version__}" in flag.stdout


def test_plan_takes_counts_with_suffixes_and_the_load_engine_flag() -> None:
    new = invoke("plan", "--listeners", "8M", "--load-engine", "native")
    old = invoke("plan", "--listeners", "8000000", "--engine", "native")
    assert new.exit_code == 0, new.output
    assert new.stdout == old.stdout
    assert "8,000,000 listeners on the native engine" in new.stdout
    refused = invoke("plan", "--listeners", "8X")
    assert refused.exit_code == 2 and "--listeners" in plain(refused.output)
    both = invoke("plan", "--listeners", "8M", "--load-engine", "native", "--engine", "locust")
    assert both.exit_code == 2 and "older spelling of --load-engine" in plain(both.output)


def test_run_and_plan_both_take_load_engine() -> None:
    for command in ("run", "plan"):
        assert "--load-engine" in plain(invoke(command, "--help").output)


def test_run_dry_run_takes_the_yaml_scale_form() -> None:
    done = invoke("run", EXPERIMENTS / "edge-outage.yaml", "--dry-run", "--scale", "1:20000")
    assert done.exit_code == 0, done.output
    refused = invoke("run", EXPERIMENTS / "edge-outage.yaml", "--dry-run", "--scale", "1:0")
    assert refused.exit_code == 2 and "--scale" in plain(refused.output)


def test_run_takes_images_as_stack_up_does_and_checks_them_before_anything_starts(
    tmp_path: Path,
) -> None:
    """The Docker backend's "no image" error tells a run to give --image: run takes it, and
    a component the stack lacks, or --image off docker, is refused even by a dry run."""
    experiment = EXPERIMENTS / "edge-outage.yaml"
    assert "COMPONENT=IMAGE" in plain(invoke("run", "--help").output)
    docker = ("run", experiment, "--dry-run", "--backend", "docker", "--image")
    good = gameday(*docker, "api=x:1")
    assert good.returncode == 0, good.stdout + good.stderr
    unknown = gameday(*docker, "apii=x")
    assert unknown.returncode == 2 and "unknown components ['apii']" in plain(unknown.stderr)
    assert "components: api, origin" in plain(unknown.stderr)
    local = gameday("run", experiment, "--image", "api=x:1", "--out", tmp_path / "run")
    assert local.returncode == 2 and "add --backend docker" in plain(local.stderr)
    assert not (tmp_path / "run").exists()  # refused before the run directory is made
    malformed = gameday(*docker, "api")
    assert malformed.returncode == 2 and "COMPONENT=IMAGE" in plain(malformed.stderr)


def test_import_writes_the_same_experiment_for_out_and_output(tmp_path: Path) -> None:
    source = DATA / "replay" / "launch.csv"
    if not source.exists():
        pytest.skip(f"no sample recording at {source}")
    new, old = tmp_path / "new" / "incident.yaml", tmp_path / "old" / "incident.yaml"
    new.parent.mkdir()
    old.parent.mkdir()
    assert invoke("import", source, "--out", new, "--scale", "1:5000").exit_code == 0
    assert invoke("import", source, "--output", old, "--scale", "5000").exit_code == 0
    assert new.read_text() == old.read_text()
    assert "1:5000" in new.read_text()


def test_slo_export_out_and_its_older_spelling(tmp_path: Path) -> None:
    experiment = EXPERIMENTS / "launch-storm.yaml"
    new, old = tmp_path / "new.yml", tmp_path / "old.yml"
    assert invoke("slo", "export", experiment, "--out", new).exit_code == 0
    assert invoke("slo", "export", experiment, "--output", old).exit_code == 0
    assert new.read_text() == old.read_text() != ""


def test_stack_up_waits_as_long_as_its_backend_does_unless_told() -> None:
    """`stack up --backend docker` waited 20 s, the local default, while run waits 60 s."""
    help_text = plain(invoke("stack", "up", "--help").output)
    assert "default 20s; 60s on docker" in help_text


def test_stack_durations_carry_units() -> None:
    done = invoke("stack", "up", "--timeout", "30 parsecs", "--state", "/nonexistent/state")
    assert done.exit_code == 2
    assert "--timeout" in plain(done.output) and "30s" in plain(done.output)
    assert "DURATION" in plain(invoke("stack", "down", "--help").output)


def test_replay_takes_proxy_prometheus_and_evidence_flags() -> None:
    shown = plain(invoke("replay", "--help").output)
    for flag in ("--toxiproxy", "--prometheus", "--report", "--junit", "--out"):
        assert flag in shown, shown


@pytest.mark.parametrize(
    ("command", "hidden"),
    [
        (("plan",), "--engine"),
        (("import",), "--output"),
        (("slo", "export"), "--output"),
        (("stack", "up"), "--run-dir"),
    ],
)
def test_older_spellings_are_hidden_from_help(command: tuple[str, ...], hidden: str) -> None:
    shown = plain(invoke(*command, "--help").output)
    assert not re.search(rf"{re.escape(hidden)}\b", shown), shown


def _journal_with_scale(tmp_path: Path, scale: object) -> Path:
    import json

    header = {"v": 1, "run": "r", "seq": 0, "wall": 1.0, "mono": 1.0, "kind": "journal.open"}
    header |= {"schema": 1, "seed": 1, "title": "t", "experiment": "e.yaml", "scale": scale}
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps(header) + "\n")
    return path


@pytest.mark.parametrize(("written", "read"), [("1:500", Scale(1, 500)), (0.5, 0.5), (1, 1.0)])
def test_a_replay_reads_either_scale_the_journal_recorded(
    tmp_path: Path, written: object, read: object
) -> None:
    from chaos.replay.recorded import recorded_run
    from chaos.report.journal import read_journal

    assert recorded_run(read_journal(_journal_with_scale(tmp_path, written))).scale == read


def test_a_journal_with_a_nonsense_scale_is_refused(tmp_path: Path) -> None:
    from chaos.replay.recorded import recorded_run
    from chaos.report.journal import JournalError, read_journal

    with pytest.raises(JournalError, match="neither 1:N nor a number"):
        recorded_run(read_journal(_journal_with_scale(tmp_path, "lots")))
