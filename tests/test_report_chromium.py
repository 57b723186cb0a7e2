"""The HTML report in a real headless Chromium, driven over the DevTools protocol.

Checks what a reader would notice: the page loads from the file alone (no network request),
logs no console error or exception, draws every figure (its own inline script: SVG in the
page), shades the run's fault windows on every time plot, draws each SLO's threshold line and
window, marks T0, keeps phase labels apart, shows values on hover and zooms every plot
together on a drag. One test renders the demo's own report (``make demo``'s experiment run on
soundstage) and checks its per-fault table too; a full-page screenshot is kept as
``report.png`` next to each report for a human look.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from report_support import record_run

from chaos.report.files import write_reports
from chaos.report.journal import read_journal

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian package chromium is not installed (make apt installs it)"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).parent.parent

# Runs in the page: per figure, what was drawn; then hover the middle of one plot.
PROBE = """
(async () => {
  const overlaps = (boxes) => boxes.some((a, i) => boxes.slice(i + 1).some((b) =>
    a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 &&
    a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5));
  const figures = [];
  for (const figure of document.querySelectorAll("figure.plot")) {
    const svg = figure.querySelector("svg");
    const labels = svg ? [...svg.querySelectorAll(".phase-label")] : [];
    figures.push({
      key: figure.dataset.plot, hasData: figure.dataset.hasData === "true",
      faultWindows: JSON.parse(figure.dataset.faultWindows), drawn: !!svg,
      faultRects: svg ? [...svg.querySelectorAll(".fault-window")].map((r) => r.id) : [],
      thresholds: svg ? [...svg.querySelectorAll(".threshold")].map((l) => l.dataset.slo) : [],
      thresholdLabels: svg
        ? [...svg.querySelectorAll(".threshold-label")].map((t) => t.textContent) : [],
      sloWindows: svg ? svg.querySelectorAll(".slo-window").length : 0,
      t0: svg ? svg.querySelectorAll(".t0-marker").length : 0,
      ticks: svg ? [...svg.querySelectorAll(".x-axis .tick")].map((t) => t.textContent) : [],
      phaseLabelsOverlap: overlaps(labels.map((l) => l.getBBox())),
      phaseLabels: labels.map((l) => l.textContent),
      text: figure.innerText,
    });
  }
  return JSON.stringify({figures, drawn: document.documentElement.dataset.drawn,
                         verdict: document.getElementById("verdict").textContent,
                         height: document.documentElement.scrollHeight});
})()
"""

HOVER = """
((key, fraction) => {
  const figure = document.querySelector(`figure[data-plot="${key}"]`);
  const overlay = figure.querySelector(".overlay");
  const box = overlay.getBoundingClientRect();
  const at = {clientX: box.left + box.width * fraction, clientY: box.top + box.height / 2,
              bubbles: true};
  overlay.dispatchEvent(new MouseEvent("mousemove", at));
  const tip = figure.querySelector(".tooltip");
  return JSON.stringify({hidden: tip.hidden, text: tip.innerText});
})
"""

DRAG = """
((key, from, to) => {
  const overlay = document.querySelector(`figure[data-plot="${key}"] .overlay`);
  const box = overlay.getBoundingClientRect();
  const at = (f) => ({clientX: box.left + box.width * f, clientY: box.top + 10, bubbles: true});
  overlay.dispatchEvent(new MouseEvent("mousedown", at(from)));
  overlay.dispatchEvent(new MouseEvent("mousemove", at(to)));
  overlay.dispatchEvent(new MouseEvent("mouseup", at(to)));
  const ticks = (k) => [...document.querySelectorAll(`figure[data-plot="${k}"] .x-axis .tick`)]
    .map((t) => t.textContent);
  return JSON.stringify({ticks: ticks(key), timeline: ticks("timeline"),
                         reset: !document.querySelector(".zoom-reset").hidden});
})
"""


class DevTools:
    """A minimal DevTools-protocol session: commands by id, events collected as they come."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
            else:
                self.events.append(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        await self.ws.send_json({"id": self._next, "method": method, "params": params})
        answer = await asyncio.wait_for(future, 30)
        assert "error" not in answer, answer
        return dict(answer["result"])

    async def until(self, method: str, timeout: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event.get("method") == method:
                        return event
                await asyncio.sleep(0.05)

    def close(self) -> None:
        self._reader.cancel()


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[DevTools]:
    assert CHROMIUM is not None
    process = subprocess.Popen(
        [
            CHROMIUM,
            *FLAGS,
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        endpoint = None
        for line in process.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/..."
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                endpoint = found.group(1)
                break
        assert endpoint, "chromium did not open its DevTools port"
        port = re.search(r":(\d+)/", endpoint)
        assert port
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port.group(1)}/json/list") as answer:
                targets = await answer.json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tools = DevTools(ws)
                try:
                    yield tools
                finally:
                    tools.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _open(page: DevTools, report: Path) -> dict[str, Any]:
    for domain in ("Page", "Runtime", "Log", "Network"):
        await page.send(f"{domain}.enable")
    await page.send(
        "Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1,
        mobile=False,
    )  # fmt: skip
    await page.send("Page.navigate", url=report.as_uri())
    await page.until("Page.loadEventFired")
    probe = await page.send("Runtime.evaluate", expression=PROBE, awaitPromise=True)
    seen: dict[str, Any] = json.loads(probe["result"]["value"])
    return seen


async def _call(page: DevTools, function: str, *args: Any) -> dict[str, Any]:
    expression = f"({function})({', '.join(json.dumps(a) for a in args)})"
    answer = await page.send("Runtime.evaluate", expression=expression)
    result: dict[str, Any] = json.loads(answer["result"]["value"])
    return result


async def _screenshot(page: DevTools, height: int, where: Path) -> bytes:
    await page.send(
        "Emulation.setDeviceMetricsOverride", width=1200, height=height, deviceScaleFactor=1,
        mobile=False,
    )  # fmt: skip
    shot = await page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    where.write_bytes(png)
    return png


def _problems(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]


def _fetched(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith(("file:", "data:"))
    ]


@pytest.mark.timeout(180)
async def test_the_report_reads_well_in_headless_chromium(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    await record_run(journal, unended=True)
    [report] = write_reports(read_journal(journal), tmp_path / "out", ["html"])

    async with chromium(tmp_path / "profile") as page:
        seen = await _open(page, report)
        hover = await _call(page, HOVER, "slo-stalls", 0.5)
        zoomed = await _call(page, DRAG, "ttfa", 0.25, 0.5)
        png = await _screenshot(page, int(seen["height"]), report.parent / "report.png")
        events = list(page.events)

    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    assert not _problems(events)
    assert not _fetched(events), "the report fetched from the network"
    assert seen["drawn"] == "true" and seen["verdict"] == "fail"
    figures = {f["key"]: f for f in seen["figures"]}
    assert set(figures) == {
        "timeline", "slo-launch-delay", "slo-join-success", "slo-stalls", "listeners", "ttfa",
        "latency", "joins", "stalls", "howling", "throughput", "ttfa-distribution",
    }  # fmt: skip
    for figure in figures.values():
        assert figure["hasData"] and figure["drawn"], figure["text"]
        assert not figure["phaseLabelsOverlap"], (figure["key"], figure["phaseLabels"])
    for key, figure in figures.items():
        if key == "ttfa-distribution":
            assert figure["faultWindows"] == [] and figure["faultRects"] == []
            continue
        assert figure["faultWindows"] == [0, 1], key
        assert figure["faultRects"] == [f"{key}-fault-window-0", f"{key}-fault-window-1"], key
        assert figure["t0"] == 1, f"{key}: T0 is marked"
        assert "T+00:00" in figure["ticks"] and "11:06:50Z" in figure["ticks"], figure["ticks"]
    for slo in ("launch-delay", "join-success", "stalls"):
        figure = figures[f"slo-{slo}"]
        assert figure["thresholds"] == [slo] and figure["sloWindows"] == 1
    assert figures["slo-launch-delay"]["thresholdLabels"] == ["launch-delay: below 2s"]
    assert figures["ttfa"]["thresholds"] == ["launch-delay"], "the same quantity: its threshold"
    assert figures["stalls"]["thresholds"] == ["stalls"]
    assert not hover["hidden"]
    assert re.search(r"T\+00:\d\d\.\d 2026|T\+00:\d\d\.\d \d\d:\d\d:\d\dZ", hover["text"])
    assert re.search(r"gameday_listener_stall_seconds_total / .*: [\d.]+ %", hover["text"])
    assert zoomed["reset"] and zoomed["ticks"] != figures["ttfa"]["ticks"]
    assert zoomed["timeline"] == zoomed["ticks"], "every time plot zooms together"


@pytest.mark.timeout(180)
async def test_plots_without_data_say_so_in_the_browser(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    from chaos.report.journal import JournalWriter

    with JournalWriter(journal, seed=1, meta={"title": "nothing scraped"}) as writer:
        writer.phase("baseline")
        writer.write("fault.start", name="cut", link="client->api")
        writer.write("fault.end", name="cut")
    [report] = write_reports(read_journal(journal), tmp_path / "out", ["html"])
    async with chromium(tmp_path / "profile") as page:
        seen = await _open(page, report)
        errors = _problems(list(page.events))
    figures = {f["key"]: f for f in seen["figures"]}
    assert not errors
    assert figures["timeline"]["drawn"] is True
    for key in ("listeners", "ttfa", "latency", "joins", "stalls", "howling", "ttfa-distribution"):
        assert not figures[key]["hasData"] and not figures[key]["drawn"]
        assert "No data" in figures[key]["text"], figures[key]["text"]


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make demo``: the launch-storm experiment on soundstage, with its report."""
    where = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "run", str(ROOT / "experiments/launch-storm.yaml"),
         "--report", str(where / "report"), "--out", str(where / "run")],
        capture_output=True, text=True, timeout=400, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    return where / "report" / "report.html"


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_the_demo_report_has_the_fault_costs_thresholds_t0_and_hover_values(
    demo_report: Path, tmp_path: Path
) -> None:
    async with chromium(tmp_path / "profile") as page:
        seen = await _open(page, demo_report)
        costs = await page.send(
            "Runtime.evaluate",
            expression="JSON.stringify([...document.querySelectorAll('table.cost')].map((t) => "
            "({fault: t.dataset.fault, rows: [...t.querySelectorAll('tbody tr')].map((r) => "
            "[...r.cells].map((c) => c.innerText))})))",
        )
        # the storm's joins are in the first fifth of the run (the baseline comes first)
        hovers = [await _call(page, HOVER, "slo-launch-delay", f / 100) for f in range(12, 40)]
        await _screenshot(page, int(seen["height"]), demo_report.parent / "report.png")
        events = list(page.events)
    assert not _problems(events) and not _fetched(events)
    tables = {t["fault"]: t["rows"] for t in json.loads(costs["result"]["value"])}
    assert set(tables) == {"slow-edge", "slow-api"}
    rows = {row[0]: row for row in tables["slow-edge"]}
    assert set(rows) == {"edges-up", "launch-delay", "join-success", "stalls", "no-feedback"}
    in_fault, reference, change = rows["launch-delay"][1:4]
    assert re.fullmatch(r"[\d.]+ s", in_fault) and re.match(r"[\d.]+ s \(", reference)
    assert re.match(r"[+-][\d.]+ s", change), change
    assert re.fullmatch(r"[\d.]+ %", rows["stalls"][1])
    figures = {f["key"]: f for f in seen["figures"]}
    for slo in ("launch-delay", "join-success", "stalls", "no-feedback", "edges-up"):
        assert figures[f"slo-{slo}"]["thresholds"] == [slo]
        assert figures[f"slo-{slo}"]["t0"] == 1
    assert figures["slo-launch-delay"]["thresholdLabels"] == ["launch-delay: below 3s"]
    assert all(not h["hidden"] and re.match(r"T[+-]00:\d\d\.\d \d\d:", h["text"]) for h in hovers)
    valued = [h for h in hovers if re.search(r"first_audio_seconds: [\d.]+ s", h["text"])]
    assert valued, [h["text"] for h in hovers]
    assert any("slow-edge: latency 150ms ± 40ms, downstream" in h["text"] for h in hovers)
