"""Harness-side failures make the verdict `infrastructure` (exit 3), never pass, never fail.

The fault proxy killed (SIGKILL of the embedded child) or frozen (SIGSTOP of an external one)
mid-fault, a metrics endpoint gone, a fault whose removal failed: each is named in the console,
summary.md, JUnit (as `<error>`) and the journal, and a fault whose removal failed is never
printed or journalled as ended.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import pytest
from runner_support import DATA, popen_gameday, tiny_experiment

from chaos.errors import ExitCode
from chaos.experiment.faults import LatencyFault
from chaos.experiment.loader import load_stack_spec
from chaos.faults.client import AsyncToxiproxyClient, ToxiproxyClient
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.report.journal import JournalWriter, read_journal
from chaos.report.markdown import render_markdown
from chaos.report.summary import summarize
from chaos.runner.faults import FaultDriver
from chaos.runner.infrastructure import HarnessFailure, Part
from chaos.runner.junit import junit_xml
from chaos.runner.verdict import Verdict, decide
from chaos.slo.evaluate import Evidence, SloResult, Status
from chaos.slo.objective import Comparison, Threshold
from chaos.slo.window import Interval
from chaos.stack.local import LocalProcessBackend
from chaos.stack.ports import PortReservation

RUN = "20261124T150000Z-1a2b3c4d"


def _result(name: str, status: Status) -> SloResult:
    return SloResult(
        name,
        status,
        None if status is Status.NO_DATA else 0.5,
        Threshold(Comparison.ABOVE, 0.9),
        Evidence(Interval(0.0, 10.0), 3, ("x",)),
        "",
    )


# ----------------------------------------------------------------------------- pure parts


def test_any_harness_failure_makes_the_verdict_infrastructure_whatever_the_slos_say() -> None:
    lost = [HarnessFailure(Part.FAULT_PROXY, "the embedded fault proxy killed by SIGKILL")]
    passed = _result("a", Status.PASS)
    assert decide([passed], infrastructure=lost) is Verdict.INFRASTRUCTURE
    assert decide([_result("b", Status.FAIL)], infrastructure=lost) is Verdict.INFRASTRUCTURE
    assert decide([passed], infrastructure=lost, aborted_by="g") is Verdict.INFRASTRUCTURE
    assert Verdict.INFRASTRUCTURE.exit_code is ExitCode.INFRASTRUCTURE
    assert decide([passed], infrastructure=lost, interrupted=True) is Verdict.INTERRUPTED
    assert decide([passed], infrastructure=lost, error=ExitCode.INVALID_INPUT) is Verdict.INVALID


def test_junit_reports_a_harness_failure_as_an_error_and_judges_no_slo() -> None:
    results = [_result("ok", Status.PASS), _result("joins", Status.FAIL)]
    document = junit_xml(
        "launch", results, 0.0, duration=1.0, infrastructure=["fault proxy: killed by SIGKILL"]
    )
    suite = ElementTree.fromstring(document).find("testsuite")
    assert suite is not None
    assert (suite.get("errors"), suite.get("failures"), suite.get("skipped")) == ("1", "0", "1")
    assert suite.find(".//failure") is None  # the stack is not blamed
    error = suite.find("testcase[@name='infrastructure']/error")
    assert error is not None and "SIGKILL" in error.get("message", "")
    skipped = suite.find("testcase[@name='joins']/skipped")
    assert skipped is not None and "not judged" in skipped.get("message", "")


def test_summary_md_names_the_failure_and_a_fault_that_was_not_removed(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "journal.jsonl", run_id=RUN, seed=1, meta={"title": "t"})
    writer.write("fault.start", name="slow", type="latency")
    writer.write("fault.end_failed", name="slow", type="latency", problems=["proxy is gone"])
    writer.write("infrastructure.failure", part="fault-proxy", what="killed by SIGKILL")
    writer.write("verdict", verdict="infrastructure", exit_code=3, message="m")
    writer.close()
    journal = read_journal(tmp_path / "journal.jsonl")
    summary = summarize(journal)
    assert summary.faults[0].end is None and summary.faults[0].not_removed == ("proxy is gone",)
    assert summary.infrastructure[0]["part"] == "fault-proxy"
    text = render_markdown(journal)
    assert "Infrastructure: the harness failed, not the stack" in text
    assert "killed by SIGKILL" in text and "NOT REMOVED: proxy is gone" in text


def test_a_fault_whose_removal_failed_stays_active_and_is_never_journalled_as_ended(
    tmp_path: Path,
) -> None:
    spec = load_stack_spec(DATA / "tiny-stack.yaml")
    backend = LocalProcessBackend(spec, tmp_path)
    journal = JournalWriter(tmp_path / "journal.jsonl", run_id=RUN, seed=1, meta={})
    fault = LatencyFault.model_validate(
        {"name": "slow", "at": "0s", "for": "1s", "link": "client->web", "latency": "50ms"}
    )
    told: list[tuple[str, list[str]]] = []

    async def scenario() -> None:
        with EmbeddedToxiproxy(port=0) as server:
            client = AsyncToxiproxyClient(server.url, timeout=1.0)
            await client.create_proxy("client->web", "127.0.0.1:9")
            driver = FaultDriver(
                client, backend, spec, {"client->web": ["client->web"]}, RUN, journal
            )
            driver.on_end = lambda f, problems: told.append((f.name, problems))
            await driver.apply(fault)
        # the server is gone: removal fails, the fault stays active for the final rollback
        problems = await driver.remove(fault)
        assert problems and "slow" in driver.active
        assert len(driver.active["slow"].toxics) == 2
        with EmbeddedToxiproxy(port=0) as again:  # a fresh server: nothing of ours is on it
            driver.client = AsyncToxiproxyClient(again.url, timeout=1.0)
            assert await driver.rollback() == []  # gone already counts as removed
        assert "slow" not in driver.active
        await client.aclose()

    asyncio.run(scenario())
    journal.close()
    kinds = [e["kind"] for e in read_journal(tmp_path / "journal.jsonl").events]
    assert kinds.index("fault.end_failed") < kinds.index("fault.end")
    assert told[0][0] == "slow" and told[0][1] and told[1] == ("slow", [])


# ----------------------------------------------------------------------------- end to end


def _wait_for(path: Path, needle: bytes, harness: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and needle in path.read_bytes()):
        assert harness.poll() is None, harness.communicate()[0]
        assert time.monotonic() < deadline, f"{needle!r} never appeared in {path}"
        time.sleep(0.05)


def _judged_infrastructure(run_dir: Path, out: str, part: str) -> dict[str, object]:
    assert "verdict: infrastructure (exit 3)" in out, out
    journal = read_journal(run_dir / "journal.jsonl")
    failures = list(journal.of_kind("infrastructure.failure"))
    assert part in {f["part"] for f in failures}, failures
    verdict = next(journal.of_kind("verdict"))
    assert verdict["verdict"] == "infrastructure" and verdict["exit_code"] == 3
    assert part in {f["part"] for f in verdict["infrastructure"]}
    suite = ElementTree.parse(run_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("errors", 0)) >= 1
    assert "the harness failed, not the stack" in (run_dir / "summary.md").read_text()
    return verdict


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_sigkilled_embedded_proxy_mid_fault_is_an_infrastructure_verdict(tmp_path: Path) -> None:
    experiment = tiny_experiment(tmp_path, length="20s")
    run_dir = tmp_path / "run"
    harness = popen_gameday("run", experiment, "--out", run_dir)
    journal = run_dir / "journal.jsonl"
    _wait_for(journal, b'"fault.start"', harness, 60)
    proxy = next(read_journal(journal).of_kind("proxy"))
    os.kill(int(proxy["pid"]), signal.SIGKILL)
    out, _ = harness.communicate(timeout=60)
    assert harness.returncode == 3, out
    _judged_infrastructure(run_dir, out, "fault-proxy")
    assert "killed by SIGKILL" in out
    assert "] end slow-web" not in out  # its removal failed: never printed as ended
    assert "NOT ENDED slow-web (latency)" in out
    kinds = [e["kind"] for e in read_journal(journal).events]
    assert "fault.end_failed" in kinds and "fault.end" not in kinds


@pytest.fixture
def external_proxy(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    reservation = PortReservation()
    port = reservation.take("127.0.0.1", "tcp")
    reservation.release()
    with (tmp_path / "proxy.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "chaos.cli", "proxy", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with ToxiproxyClient(url, timeout=1.0) as client:
                client.version()
            break
        except Exception:
            assert time.monotonic() < deadline and server.poll() is None, "proxy did not start"
            time.sleep(0.1)
    try:
        yield url, server
    finally:
        server.send_signal(signal.SIGCONT)
        server.terminate()
        server.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_an_external_proxy_frozen_mid_fault_is_an_infrastructure_verdict(
    tmp_path: Path, external_proxy: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = external_proxy
    experiment = tiny_experiment(tmp_path, length="60s")
    run_dir = tmp_path / "run"
    harness = popen_gameday("run", experiment, "--toxiproxy", url, "--out", run_dir)
    _wait_for(run_dir / "journal.jsonl", b'"fault.start"', harness, 60)
    time.sleep(1)
    server.send_signal(signal.SIGSTOP)
    out, _ = harness.communicate(timeout=100)  # long before the 60 s fault would have ended
    server.send_signal(signal.SIGCONT)
    assert harness.returncode == 3, out
    _judged_infrastructure(run_dir, out, "fault-proxy")
    assert "has not answered" in out and "] end slow-web" not in out
    assert "gameday rollback --run-id" in out  # what to do about faults that may still be on


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"exporter_up 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


EXPORTER_STACK = """
name: tiny-with-exporter
components:
  web:
    command: [python, -m, http.server, "{{port:http}}", --bind, "{{host}}"]
    ports: {{http: {{protocol: tcp}}}}
    health: {{port: http, path: /}}
  exporter:  # already runs (the test's own server), scraped by the run
    address: 127.0.0.1:{port}
    ports: {{http: {{protocol: tcp}}}}
    metrics: {{port: http, path: /metrics}}
links:
  client->web: {{to: web.http, protocol: tcp}}
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_metrics_endpoint_that_goes_away_mid_run_is_an_infrastructure_verdict(
    tmp_path: Path,
) -> None:
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    port = exporter.server_address[1]
    experiment = tiny_experiment(tmp_path, length="12s")
    (tmp_path / "tiny-stack.yaml").write_text(EXPORTER_STACK.format(port=port))
    run_dir = tmp_path / "run"
    harness = popen_gameday("run", experiment, "--out", run_dir)
    _wait_for(run_dir / "journal.jsonl", b'"fault.start"', harness, 60)
    exporter.shutdown()
    exporter.server_close()
    out, _ = harness.communicate(timeout=90)
    assert harness.returncode == 3, out
    verdict = _judged_infrastructure(run_dir, out, "metrics")
    assert f"127.0.0.1:{port}" in json.dumps(verdict["infrastructure"])
