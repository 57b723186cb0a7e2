"""Incident seeds validate; the fail/fix pairs give exit 1 then 0 against soundstage; a replay
of a recorded run makes the same fault decisions and reaches the same verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runner_support import gameday

from chaos.experiment.faults import FeedbackFault, FloodFault
from chaos.experiment.loader import load_experiment
from chaos.faults.client.protocol import ChosenUrl
from chaos.replay.diff import Change, fault_differences, verdict_diff
from chaos.replay.recorded import RecordedRun, SloOutcome, recorded_run
from chaos.report.journal import read_journal
from chaos.runner.run import plan_for

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EXPERIMENTS = sorted(SEEDS.glob("*/*.yaml"))
INCIDENTS = ("overload-launch-2023", "flooded-launch-2024", "stress-test-gap")


def test_every_incident_has_facts_and_a_fail_and_a_pass() -> None:
    for incident in INCIDENTS:
        folder = SEEDS / incident
        facts = (folder / "FACTS.md").read_text()
        assert "incidents.md" in facts.lower(), f"{incident}: FACTS.md must name its source"
        names = [p.name for p in folder.glob("*.yaml")]
        assert any(n.endswith(".fail.yaml") for n in names), incident
        assert any(n.endswith(".pass.yaml") for n in names), incident


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_seed_experiment_validates_and_states_its_scale(path: Path) -> None:
    loaded = load_experiment(path)
    assert loaded.experiment.scale is not None, f"{path}: a replay states its scale factor"
    assert "FACTS.md" in path.read_text(), f"{path}: say which facts it reproduces"


def _howls_through_real_servers(path: Path) -> bool:
    experiment = load_experiment(path).experiment
    return experiment.stack == "spaces" and any(
        isinstance(f, FeedbackFault) for f in experiment.faults
    )


def test_seed_runs_are_short() -> None:
    """≤ 30 s of run each (baseline to the end of recovery), so the library can run in CI; a
    feedback replay on spaces ≤ 85 s: its loop builds through Janus, ffmpeg's packager and an
    nginx edge, about 8 s a trip, and the ring stands out of the voice 30-50 s in, so such a
    replay holds 70 s of feedback."""
    for path in EXPERIMENTS:
        total = plan_for(load_experiment(path), 1.0).total
        assert total <= (85 if _howls_through_real_servers(path) else 30), f"{path}: {total}s"


def _run(path: Path, out: Path) -> tuple[int, str]:
    done = gameday("run", path.relative_to(ROOT), "--out", out, timeout=150, cwd=ROOT)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def recorded_failure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2023 join storm as launched, run once: the recording the replay test replays."""
    out = tmp_path_factory.mktemp("recorded")
    code, output = _run(SEEDS / "overload-launch-2023" / "join-storm.fail.yaml", out)
    assert code == 1, output
    assert "fail     join-success" in output, output
    return out / "journal.jsonl"


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_overload_join_storm_fails_as_launched_and_passes_fixed(
    recorded_failure: Path, tmp_path: Path
) -> None:
    assert read_journal(recorded_failure).of_kind("verdict")
    code, output = _run(SEEDS / "overload-launch-2023" / "join-storm.pass.yaml", tmp_path)
    assert code == 0, output


@pytest.mark.long
@pytest.mark.timeout(200)
def test_stress_test_gap_steady_passes_and_storm_of_an_eighth_fails(tmp_path: Path) -> None:
    steady, storm = (
        SEEDS / "stress-test-gap" / "steady.pass.yaml",
        SEEDS / "stress-test-gap" / "storm.fail.yaml",
    )
    steady_n = sum(p.count for p in load_experiment(steady).experiment.workload.listeners)  # type: ignore[union-attr]
    storm_n = sum(p.count for p in load_experiment(storm).experiment.workload.listeners)  # type: ignore[union-attr]
    assert storm_n * 8 == steady_n
    code, output = _run(steady, tmp_path / "steady")
    assert code == 0, output
    code, output = _run(storm, tmp_path / "storm")
    assert code == 1, output
    assert "fail     launch-delay" in output, output


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_replay_makes_the_same_fault_decisions_and_verdicts(
    recorded_failure: Path, tmp_path: Path
) -> None:
    done = gameday("replay", recorded_failure, "--out", tmp_path, timeout=150, cwd=ROOT)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "fault decisions: identical" in done.stdout, done.stdout
    before = recorded_run(read_journal(recorded_failure))
    after = recorded_run(read_journal(tmp_path / "journal.jsonl"))
    assert after.seed == before.seed and after.run_id != before.run_id
    assert after.fault_events == before.fault_events
    assert fault_differences(before, after) == []
    assert before.fault_events, "the recording applied faults"
    rows = verdict_diff(before, after)
    assert [r.change for r in rows] == [Change.SAME] * len(before.slos), rows
    assert "same           join-success: fail" in done.stdout


@pytest.mark.long
@pytest.mark.timeout(300)
@pytest.mark.parametrize(("name", "expected"), [("flood.fail.yaml", 1), ("flood.pass.yaml", 0)])
def test_flooded_launch_fails_as_launched_and_passes_fixed(
    name: str, expected: int, tmp_path: Path
) -> None:
    path = SEEDS / "flooded-launch-2024" / name
    assert any(isinstance(f, FloodFault) for f in load_experiment(path).experiment.faults)
    code, output = _run(path, tmp_path)
    assert code == expected, output


def test_verdict_diff_names_each_change() -> None:
    def run(*slos: tuple[str, str, float | None]) -> RecordedRun:
        return RecordedRun(
            journal=Path("j"), run_id="r", seed=1, scale=1.0, experiment=Path("e"), title="t",
            toxiproxy=None, prometheus=None, verdict=None, fault_events=(),
            slos=tuple(SloOutcome(n, s, v, "below", 1.0) for n, s, v in slos),
        )  # fmt: skip

    before = run(("a", "pass", 0.5), ("b", "fail", 2.0), ("c", "pass", 0.1), ("d", "fail", 3.0))
    after = run(("a", "pass", 0.6), ("b", "pass", 0.9), ("c", "fail", 1.5), ("e", "pass", 0.0))
    rows = {r.name: r for r in verdict_diff(before, after)}
    assert {n: r.change for n, r in rows.items()} == {
        "a": Change.SAME,
        "b": Change.NEWLY_PASSING,
        "c": Change.NEWLY_FAILING,
        "d": Change.REMOVED,
        "e": Change.ADDED,
    }
    assert rows["c"].line().split() == [
        "newly",
        "failing",
        "c:",
        "pass",
        "(0.1)",
        "->",
        "fail",
        "(1.5)",
    ]


def test_fault_decisions_ignore_timings_and_run_ids(tmp_path: Path) -> None:
    def journal(run: str, wall: float) -> RecordedRun:
        path = tmp_path / f"{run}.jsonl"
        events = [
            {"kind": "journal.open", "schema": 1, "seed": 1, "experiment": "e.yaml"},
            {"kind": "fault.start", "name": "x", "params": {"latency": "1s"},
             "toxics": [{"proxy": "p", "toxic": f"x@{run}"}]},
            {"kind": "fault.end", "name": "x", "problems": [], "howls": wall},
        ]  # fmt: skip
        lines = [{"v": 1, "run": run, "seq": i, "wall": wall + i, "mono": wall, **e}
                 for i, e in enumerate(events)]  # fmt: skip
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return recorded_run(read_journal(path))

    first, second = journal("run-a", 1.0), journal("run-b", 50.0)
    assert first.fault_events == second.fault_events
    assert first.fault_events[1]["toxics"] == [{"proxy": "p", "toxic": "x"}]


def test_replay_refuses_a_journal_whose_experiment_changed(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    header = {
        "v": 1, "run": "r1", "seq": 0, "wall": 1.0, "mono": 1.0, "kind": "journal.open",
        "schema": 1, "seed": 7, "title": "not this one", "scale": 1.0, "toxiproxy": "embedded",
        "experiment": str(SEEDS / "stress-test-gap" / "steady.pass.yaml"), "prometheus": None,
    }  # fmt: skip
    journal.write_text(json.dumps(header) + "\n")
    done = gameday("replay", journal, cwd=ROOT)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--experiment" in done.stderr and "Traceback" not in done.stderr
    missing = {**header, "experiment": str(tmp_path / "gone.yaml")}
    journal.write_text(json.dumps(missing) + "\n")
    done = gameday("replay", journal, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "does not exist here" in " ".join(done.stderr.split()), done.stderr


def test_replay_of_a_fix_runs_the_given_file_and_reports_newly_passing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--experiment` skips the title guard (a fix is another file) and the diff names changes;
    the runner is stood in for so that only the replay's own logic runs."""
    import io

    from rich.console import Console

    from chaos.replay import replay
    from chaos.runner.run import RunOutcome
    from chaos.runner.verdict import Verdict

    def journal(where: Path, title: str, status: str, value: float, verdict: str) -> Path:
        where.mkdir()
        events = [
            {"kind": "journal.open", "schema": 1, "seed": 5, "title": title, "scale": 1.0,
             "experiment": "gone/launch.yaml", "toxiproxy": "embedded", "prometheus": None},
            {"kind": "slo", "name": "joins", "status": status, "value": value,
             "comparison": "above", "threshold": 0.99},
            {"kind": "verdict", "verdict": verdict},
        ]  # fmt: skip
        lines = [{"v": 1, "run": where.name, "seq": i, "wall": 1.0, "mono": 1.0, **e}
                 for i, e in enumerate(events)]  # fmt: skip
        path = where / "journal.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return path

    recorded = journal(tmp_path / "before", "as launched", "fail", 0.2, "fail")
    journal(tmp_path / "after", "fixed", "pass", 1.0, "pass")
    seen: dict[str, object] = {}

    class FakeGameDay:
        def __init__(self, loaded: object, options: replay.RunOptions, console: object) -> None:
            seen["seed"], seen["scale"] = options.seed, options.scale
            seen["toxiproxy"], seen["prometheus"] = options.toxiproxy, options.prometheus
            seen["junit"] = options.junit

        async def execute(self) -> RunOutcome:
            return RunOutcome(Verdict.PASS, "after", tmp_path / "after")

    monkeypatch.setattr(replay, "GameDay", FakeGameDay)
    out = io.StringIO()
    fixed = SEEDS / "stress-test-gap" / "steady.pass.yaml"  # any valid file; title differs
    settings = replay.ReplaySettings(
        report=tmp_path / "report",
        toxiproxy=ChosenUrl("http://toxiproxy.staging.example:8474", "--toxiproxy"),
        prometheus="http://prometheus.staging.example:9090",
        junit=tmp_path / "replay.xml",
    )
    code = replay.replay_command(
        recorded, experiment=fixed, settings=settings, console=Console(file=out, width=200)
    )
    text = out.getvalue()
    assert code == 0 and seen == {
        "seed": 5,
        "scale": 1.0,
        "toxiproxy": "http://toxiproxy.staging.example:8474",
        "prometheus": "http://prometheus.staging.example:9090",
        "junit": tmp_path / "replay.xml",
    }
    assert (tmp_path / "report" / "report.html").is_file()
    assert (tmp_path / "report" / "summary.md").is_file()
    assert "newly passing  joins: fail (0.2) -> pass (1)" in text, text
    assert "verdict: fail -> pass" in text


ENV = {"PROMETHEUS_URL": "http://env:9090", "TOXIPROXY_URL": "http://env:8474"}
RECORDED = ("http://recorded:9090", "http://recorded:8474")


@pytest.mark.parametrize(
    ("flag", "env", "used"),
    [
        (None, {}, RECORDED),
        (None, {"PROMETHEUS_URL": "", "TOXIPROXY_URL": ""}, RECORDED),  # empty: unset
        (None, ENV, ("http://env:9090", "http://env:8474")),
        ("http://flag", ENV, ("http://flag:9090", "http://flag:8474")),
    ],
)
def test_a_replay_picks_prometheus_as_it_picks_the_fault_proxy(
    flag: str | None, env: dict[str, str], used: tuple[str, str]
) -> None:
    """Flag, then environment variable, then what the run recorded, for both."""
    from chaos.faults.client.protocol import chosen_url
    from chaos.metrics.backend import choose_prometheus
    from chaos.replay.replay import ReplaySettings, replay_options

    recorded = RecordedRun(
        journal=Path("j"), run_id="r", seed=1, scale=1.0, experiment=Path("e"), title="t",
        toxiproxy=RECORDED[1], prometheus=RECORDED[0], verdict=None, fault_events=(), slos=(),
    )  # fmt: skip
    settings = ReplaySettings(
        toxiproxy=chosen_url(flag and f"{flag}:8474", env), prometheus=flag and f"{flag}:9090"
    )
    options = replay_options(recorded, settings, env)
    prometheus = choose_prometheus(options.prometheus, env)  # as the run will choose
    assert (prometheus.url if prometheus else None, options.toxiproxy) == used


def test_a_bad_prometheus_url_in_a_replay_is_named_as_the_variable() -> None:
    from chaos.errors import InvalidInput
    from chaos.metrics.backend import choose_prometheus
    from chaos.replay.replay import ReplaySettings, replay_options

    recorded = RecordedRun(
        journal=Path("j"), run_id="r", seed=1, scale=1.0, experiment=Path("e"), title="t",
        toxiproxy=None, prometheus=RECORDED[0], verdict=None, fault_events=(), slos=(),
    )  # fmt: skip
    env = {"PROMETHEUS_URL": "prom:9090"}
    options = replay_options(recorded, ReplaySettings(), env)
    with pytest.raises(InvalidInput) as raised:
        choose_prometheus(options.prometheus, env)
    assert "PROMETHEUS_URL" in str(raised.value) and "prom:9090" in str(raised.value)


@pytest.mark.parametrize(
    ("flag", "env", "recorded"),
    [
        (None, "http://env:9090", "http://env:9090"),
        ("http://flag:9090", "http://env:9090", "http://flag:9090"),
        ("local", "http://env:9090", "local"),
        (None, "", None),
    ],
)
def test_a_run_records_the_prometheus_it_used_so_its_replay_uses_it_too(
    flag: str | None,
    env: str,
    recorded: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From the flag or PROMETHEUS_URL, as the fault proxy is recorded from either."""
    import io

    from rich.console import Console

    from chaos.runner.run import GameDay, RunOptions

    monkeypatch.setenv("PROMETHEUS_URL", env)
    loaded = load_experiment(ROOT / "experiments" / "launch-storm.yaml")
    options = RunOptions(prometheus=flag, out=tmp_path / "run")
    GameDay(loaded, options, Console(file=io.StringIO())).journal.close()
    journal = recorded_run(read_journal(tmp_path / "run" / "journal.jsonl"), replayable=False)
    assert journal.prometheus == recorded
