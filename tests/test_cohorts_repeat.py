"""`gameday run --repeat N`: seeds, per-SLO verdicts with their stability, JUnit, and the vote."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

from hypothesis import given
from hypothesis import strategies as st
from runner_support import gameday, tiny_experiment

from chaos.runner.repeat import (
    repeat_junit,
    repeat_seed,
    repeated_verdict,
    statement,
    tally,
)
from chaos.runner.verdict import Verdict
from chaos.slo.evaluate import Evidence, SloResult, Status
from chaos.slo.objective import Comparison, Threshold
from chaos.slo.window import Interval

TTFA = ("gameday_listener_time_to_first_audio_seconds_bucket",)


def _result(name: str, value: float, limit: float = 1.0) -> SloResult:
    threshold = Threshold(Comparison.BELOW, limit)
    status = Status.PASS if threshold.holds(value) else Status.FAIL
    return SloResult(name, status, value, threshold, Evidence(Interval(0, 1), 10, TTFA), "")


def test_a_planted_flaky_slo_says_flaky_with_its_counts_and_a_stable_one_pass_in_5_of_5() -> None:
    flaky = [0.8, 1.3, 0.9, 1.1, 0.85]  # 2 of 5 above the 1 s threshold
    runs = [[_result("launch-delay", v), _result("steady", 0.2)] for v in flaky]
    delay, steady = tally(runs)
    assert delay.describe() == "flaky: 2 of 5 fail, values 0.8–1.3 s around a 1 s threshold"
    assert delay.status is Status.PASS and delay.share == (3, 5) and not delay.stable
    assert steady.describe() == "pass in 5 of 5" and steady.stable
    assert repeated_verdict([Verdict.PASS] * 5, [delay, steady]) is Verdict.PASS
    seven = tally([[_result("x", 2.0)]] * 7)
    assert seven[0].describe() == "fail in 7 of 7"
    assert repeated_verdict([Verdict.FAIL] * 7, seven) is Verdict.FAIL


def test_an_infrastructure_error_in_any_repeat_makes_the_whole_verdict_infrastructure() -> None:
    runs = [[_result("steady", 0.2)]] * 4
    verdicts = [Verdict.PASS, Verdict.PASS, Verdict.INFRASTRUCTURE, Verdict.PASS, Verdict.PASS]
    tallies = tally(runs)
    assert repeated_verdict(verdicts, tallies) is Verdict.INFRASTRUCTURE
    junit = ElementTree.fromstring(
        repeat_junit("t", tallies, Verdict.INFRASTRUCTURE, ["run 3: fault-proxy: gone"])
    )
    assert junit.get("errors") == "1" and junit.get("skipped") == "1"


def test_a_tie_fails_and_inconclusive_is_its_own_verdict() -> None:
    tie = tally([[_result("x", 0.5)], [_result("x", 2.0)]])
    assert tie[0].status is Status.FAIL
    assert repeated_verdict([Verdict.PASS, Verdict.FAIL], tie) is Verdict.FAIL
    counts = Counter({"inconclusive": 3, "pass": 2})
    assert statement(counts, 5) == "flaky: 2 of 5 pass"


@given(st.integers(0, 2**64 - 1), st.integers(0, 1000))
def test_repeat_seeds_are_derived_and_distinct(seed: int, n: int) -> None:
    assert repeat_seed(seed, n) == repeat_seed(seed, n)
    assert repeat_seed(seed, n) != repeat_seed(seed, n + 1)
    assert 0 <= repeat_seed(seed, n) < 2**63


def test_junit_has_one_case_per_slo_with_its_statement() -> None:
    tallies = tally([[_result("a", v), _result("b", 0.1)] for v in (0.5, 1.5, 1.6)])
    verdict = repeated_verdict([Verdict.PASS, Verdict.FAIL, Verdict.FAIL], tallies)
    assert verdict is Verdict.FAIL
    suite = ElementTree.fromstring(repeat_junit("t", tallies, verdict))
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"a", "b"}
    failure = cases["a"].find("failure")
    assert failure is not None
    assert failure.get("message") == "flaky: 2 of 3 fail, values 0.5–1.6 s around a 1 s threshold"
    out = cases["b"].find("system-out")
    assert out is not None and out.text == "pass in 3 of 3"


def test_a_failed_case_says_what_each_failing_run_measured_and_why_listeners_failed() -> None:
    runs = [[_result("a", v)] for v in (0.5, 1.5, 1.6)]
    tallies = tally(runs)
    why = ["", "why listeners failed:\n  join failed, protocol ×3\n    no icy-br", ""]
    suite = ElementTree.fromstring(repeat_junit("t", tallies, Verdict.FAIL, runs=runs, why=why))
    case = next(suite.iter("testcase"))
    failure = case.find("failure")
    assert failure is not None and failure.text is not None
    assert failure.text.splitlines() == [
        "run 2: fail 1.5 (must be below 1)",
        "run 3: fail 1.6 (must be below 1)",
    ]
    out = case.find("system-out")
    assert out is not None and out.text is not None
    assert out.text.startswith("run 2: why listeners failed:") and "no icy-br" in out.text


def test_gameday_run_repeat_3_on_a_stable_experiment(tmp_path: Path) -> None:
    path = tiny_experiment(tmp_path, length="1s")
    junit = tmp_path / "junit.xml"
    done = gameday(
        "run", path, "--repeat", "3", "--out", tmp_path / "runs", "--junit", junit, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nobody-listening: pass in 3 of 3 (3 of 3 runs)" in done.stdout
    summary = json.loads((tmp_path / "runs" / "repeat.json").read_text())
    assert [r["verdict"] for r in summary["runs"]] == ["pass"] * 3
    assert len({r["seed"] for r in summary["runs"]}) == 3
    assert all(Path(r["dir"], "journal.jsonl").is_file() for r in summary["runs"])
    case = ElementTree.parse(junit).getroot().find("testcase")
    assert case is not None and case.get("name") == "nobody-listening"
