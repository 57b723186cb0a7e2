"""`gameday run` on the tiny stack: bad input, unreachable infrastructure, guards, CI outputs.

Each run is the real command in a subprocess (exit codes and messages as a user sees them)
against a fault proxy the test owns, so the test can look at what was left on it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from runner_support import gameday, tiny_experiment

from chaos.faults.client import ToxiproxyClient
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.report.journal import read_journal


@pytest.fixture
def proxy() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(port=0) as server:
        yield server


def _toxics(url: str) -> list[str]:
    with ToxiproxyClient(url) as client:
        return [t.name for p in client.list_proxies().values() for t in p.toxics]


def _kinds(journal: Path) -> list[str]:
    return [str(e["kind"]) for e in read_journal(journal).events]


def test_an_unknown_link_is_refused_with_its_line_and_nothing_starts(tmp_path: Path) -> None:
    path = tiny_experiment(tmp_path)
    path.write_text(path.read_text().replace("link: client->web", "link: client->wbe"))
    done = gameday("run", path, "--out", tmp_path / "run")
    assert done.returncode == 2, done.stderr
    assert "tiny.yaml:8:45: faults[0].link: no link 'client->wbe'" in done.stderr
    assert "did you mean 'client->web'" in done.stderr
    assert not (tmp_path / "run").exists()


def test_an_slo_on_a_missing_metric_stops_before_any_fault(
    tmp_path: Path, proxy: EmbeddedToxiproxy
) -> None:
    path = tiny_experiment(tmp_path)
    path.write_text(path.read_text().replace("gameday_listeners_connected", "tiny_requests_served"))
    done = gameday("run", path, "--toxiproxy", proxy.url, "--out", tmp_path / "run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "SLO 'nobody-listening' reads 'tiny_requests_served'" in done.stdout
    kinds = _kinds(tmp_path / "run" / "journal.jsonl")
    assert "fault.start" not in kinds and kinds[-2:] == ["verdict", "journal.close"]
    assert _toxics(proxy.url) == []


def test_a_misspelt_listener_metric_is_refused_before_the_run(tmp_path: Path) -> None:
    # A deep directory: the located error is longer than the 200 columns gameday() sets, and a
    # log (not a terminal) still gets it on one line.
    where = tmp_path / ("deep-" * 30)
    where.mkdir()
    path = tiny_experiment(where)
    path.write_text(
        path.read_text().replace("gameday_listeners_connected", "gameday_listeners_conected")
    )
    done = gameday("run", path, "--out", tmp_path / "run")
    assert done.returncode == 2, done.stdout + done.stderr
    [located] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert located.startswith(f"error: {path}:10:35: slos[0].max: "), done.stderr
    assert "did you mean 'gameday_listeners_connected'?" in located
    assert not (tmp_path / "run").exists()  # nothing was started


def test_an_unreachable_toxiproxy_is_an_infrastructure_error(tmp_path: Path) -> None:
    done = gameday(
        "run", tiny_experiment(tmp_path), "--toxiproxy", "http://127.0.0.1:9", "--out", tmp_path
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot reach the Toxiproxy API at http://127.0.0.1:9" in done.stdout
    assert "verdict: infrastructure" in done.stdout
    journal = read_journal(tmp_path / "journal.jsonl")
    assert "stack.up" not in _kinds(journal.path)


def test_dry_run_prints_the_timeline_and_starts_nothing(tmp_path: Path) -> None:
    done = gameday("run", tiny_experiment(tmp_path), "--dry-run", "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert "T+00:00.0  apply slow-web: latency 100ms on client->web for 3s" in done.stdout
    assert "T+00:03.0  end slow-web (latency)" in done.stdout
    assert not (tmp_path / "run").exists()


@pytest.mark.timeout(60)
def test_a_passing_run_writes_junit_step_summary_and_a_journal_with_exact_faults(
    tmp_path: Path, proxy: EmbeddedToxiproxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "ci" / "gameday.xml"
    done = gameday(
        "run",
        tiny_experiment(tmp_path, length="2s"),
        "--toxiproxy",
        proxy.url,
        "--out",
        tmp_path / "run",
        "--junit",
        junit,
        "--report",
        tmp_path / "report",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: pass" in done.stdout
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"
    assert "nobody-listening" in summary.read_text()
    assert "nobody-listening" in (tmp_path / "report" / "report.html").read_text()
    assert (tmp_path / "run" / "summary.md").read_text() == (
        tmp_path / "report" / "summary.md"
    ).read_text()
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    start = next(journal.of_kind("fault.start"))
    assert start["name"] == "slow-web" and start["params"]["latency"] == "100ms"
    assert [t["stream"] for t in start["toxics"]] == ["upstream", "downstream"]
    end = next(journal.of_kind("fault.end"))
    # the window is the plan's, T0 to T0+2s: applied from T0 on (journalled once the proxy
    # answered, which a busy machine delays), removed when it closes, not before
    t0 = next(e for e in journal.of_kind("phase") if e["phase"] == "baseline")["t0_mono"]
    assert t0 <= start["mono"] <= end["mono"] and end["problems"] == []
    assert t0 + 2.0 <= end["mono"] < t0 + 4.0
    assert _toxics(proxy.url) == [] and journal.closed


@pytest.mark.timeout(60)
def test_a_tripped_guard_rolls_back_at_once_and_the_verdict_names_it(
    tmp_path: Path, proxy: EmbeddedToxiproxy
) -> None:
    guard = "abort:\n  - {name: always, metric: up, below: 2, for: 1s}"
    path = tiny_experiment(tmp_path, length="30s", extra=guard)
    done = gameday("run", path, "--toxiproxy", proxy.url, "--out", tmp_path / "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verdict: aborted" in done.stdout and "guard 'always' tripped" in done.stdout
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    trip = next(journal.of_kind("guard.trip"))
    end = next(journal.of_kind("fault.end"))
    assert end["seq"] > trip["seq"] and end["mono"] - trip["mono"] < 1.0
    assert end["mono"] - next(journal.of_kind("fault.start"))["mono"] < 10  # not its 30 s
    assert next(journal.of_kind("verdict"))["guard"] == "always"
    assert _toxics(proxy.url) == []


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs `prometheus` on PATH")
@pytest.mark.timeout(90)
def test_with_a_local_prometheus_the_slos_are_judged_on_what_it_scraped(
    tmp_path: Path, proxy: EmbeddedToxiproxy
) -> None:
    path = tiny_experiment(tmp_path, length="2s")
    path.write_text(path.read_text().replace("baseline: 1s", "baseline: 3s"))
    done = gameday(
        "run", path, "--toxiproxy", proxy.url, "--prometheus", "local", "--out", tmp_path / "run"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    assert next(journal.of_kind("prometheus"))["url"].startswith("http://127.0.0.1:")
    (result,) = journal.of_kind("slo")
    # Prometheus scraped the harness's registry over HTTP; direct scraping labels it "harness".
    assert result["series"] and all("harness" not in s for s in result["series"])


@pytest.mark.timeout(60)
def test_keep_stack_leaves_the_stack_for_stack_down(
    tmp_path: Path, proxy: EmbeddedToxiproxy
) -> None:
    path = tiny_experiment(tmp_path, length="1s")
    done = gameday(
        "run",
        path,
        "--toxiproxy",
        proxy.url,
        "--out",
        tmp_path / "run",
        "--keep-stack",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stack kept running" in done.stdout
    (web,) = next(read_journal(tmp_path / "run" / "journal.jsonl").of_kind("stack.up"))["processes"]
    assert Path(f"/proc/{web['pid']}").exists()
    down = gameday("stack", "down", cwd=tmp_path)
    assert down.returncode == 0 and "stopped 1 process" in down.stdout, down.stdout + down.stderr
    assert _toxics(proxy.url) == []


@pytest.mark.timeout(60)
def test_an_unhealthy_baseline_is_an_infrastructure_verdict_before_any_fault(
    tmp_path: Path, proxy: EmbeddedToxiproxy
) -> None:
    steady = "  - {name: steady, min: up, above: 5, during: baseline}\n"
    path = tiny_experiment(tmp_path)
    path.write_text(path.read_text().replace("slos:\n", "slos:\n" + steady))
    done = gameday("run", path, "--toxiproxy", proxy.url, "--out", tmp_path / "run")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "verdict: infrastructure" in done.stdout
    assert "not in a steady state before any fault" in done.stdout and "steady" in done.stdout
    kinds = _kinds(tmp_path / "run" / "journal.jsonl")
    assert "steady_state" in kinds and "fault.start" not in kinds
    assert _toxics(proxy.url) == []


def _netns_ok() -> bool:
    from chaos.stack.netns_probe import probe_netns

    return probe_netns().ok


@pytest.mark.skipif(not _netns_ok(), reason="the netns backend needs root and iproute2")
@pytest.mark.xdist_group("netns")
@pytest.mark.timeout(90)
def test_the_same_experiment_runs_on_the_namespace_backend(tmp_path: Path) -> None:
    done = gameday(
        "run",
        tiny_experiment(tmp_path, length="2s"),
        "--backend",
        "netns",
        "--out",
        tmp_path / "run",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    (web,) = next(journal.of_kind("stack.up"))["processes"]
    start = next(journal.of_kind("fault.start"))
    assert start["toxics"] and not Path(f"/proc/{web['pid']}").exists()


@pytest.mark.timeout(60)
def test_a_flood_pushes_junk_through_the_links_proxy_and_stops_with_the_fault(
    tmp_path: Path, proxy: EmbeddedToxiproxy
) -> None:
    path = tiny_experiment(tmp_path)
    flood = (
        "  - {name: junk, at: 0s, for: 2s, link: client->web, direction: upstream, flood: 1Mbps}"
    )
    path.write_text(path.read_text().replace("faults:\n", f"faults:\n{flood}\n"))
    done = gameday("run", path, "--toxiproxy", proxy.url, "--out", tmp_path / "run")
    assert done.returncode == 0, done.stdout + done.stderr
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    start = next(e for e in journal.of_kind("fault.start") if e["name"] == "junk")
    (target,) = start["floods"]
    assert target["bytes_per_second"] == 125_000 and target["connections"] == 20
    end = next(e for e in journal.of_kind("fault.end") if e["name"] == "junk")
    assert 50_000 < end["bytes_sent"] < 2 * 125_000 * (end["mono"] - start["mono"]) + 50_000
