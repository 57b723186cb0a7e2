"""The HTML report in a real headless Chromium, driven over the DevTools protocol.

Checks what a reader would notice: the page loads from the file alone (no network request),
logs no console error or exception, every plot image decodes, every time plot has the run's
fault windows shaded (SVG groups ``fault-window-N`` inside the decoded image), and a full-page
screenshot is taken (kept as ``report.png`` next to the report for a human look).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
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

# Runs in the page: decode every image and report, per figure, what was drawn.
PROBE = """
(async () => {
  const figures = [];
  for (const figure of document.querySelectorAll("figure.plot")) {
    const img = figure.querySelector("img");
    let decoded = null, error = null;
    if (img) {
      try { await img.decode(); decoded = img.naturalWidth > 0 && img.naturalHeight > 0; }
      catch (e) { decoded = false; error = String(e); }
    }
    figures.push({
      key: figure.dataset.plot, hasData: figure.dataset.hasData === "true",
      faultWindows: JSON.parse(figure.dataset.faultWindows), decoded, error,
      src: img ? img.src : null, text: figure.innerText,
    });
  }
  return JSON.stringify({figures, verdict: document.getElementById("verdict").textContent,
                         height: document.documentElement.scrollHeight});
})()
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


def _svg(src: str) -> str:
    prefix = "data:image/svg+xml;base64,"
    assert src.startswith(prefix), src[:40]
    return base64.b64decode(src[len(prefix) :]).decode()


@pytest.mark.timeout(180)
async def test_the_report_reads_well_in_headless_chromium(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    await record_run(journal, unended=True)
    [report] = write_reports(read_journal(journal), tmp_path / "out", ["html"])

    async with chromium(tmp_path / "profile") as page:
        for domain in ("Page", "Runtime", "Log", "Network"):
            await page.send(f"{domain}.enable")
        await page.send("Page.navigate", url=report.as_uri())
        await page.until("Page.loadEventFired")
        probe = await page.send("Runtime.evaluate", expression=PROBE, awaitPromise=True)
        seen = json.loads(probe["result"]["value"])
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1200,
            height=int(seen["height"]),
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        events = list(page.events)

    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    (report.parent / "report.png").write_bytes(png)

    problems = [
        e
        for e in events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert not problems, problems
    fetched = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith(("file:", "data:"))
    ]
    assert not fetched, f"the report fetched from the network: {fetched}"

    assert seen["verdict"] == "fail"
    figures = {f["key"]: f for f in seen["figures"]}
    assert set(figures) == {
        "timeline", "listeners", "ttfa", "latency", "joins", "stalls", "howling",
        "ttfa-distribution",
    }  # fmt: skip
    for figure in figures.values():
        assert figure["hasData"], figure["text"]
        assert figure["decoded"] is True, (figure["key"], figure["error"])
    for key in ("timeline", "listeners", "ttfa", "latency", "joins", "stalls", "howling"):
        assert figures[key]["faultWindows"] == [0, 1], key
        svg = _svg(figures[key]["src"])
        for window in (0, 1):
            assert f'id="fault-window-{window}"' in svg, (key, window)
        assert "slow-edge" in svg and "flood (never ended)" in svg, key
    assert figures["ttfa-distribution"]["faultWindows"] == []


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
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Page.navigate", url=report.as_uri())
        await page.until("Page.loadEventFired")
        probe = await page.send("Runtime.evaluate", expression=PROBE, awaitPromise=True)
        errors = [e for e in page.events if e.get("method") == "Runtime.exceptionThrown"]
    seen = {f["key"]: f for f in json.loads(probe["result"]["value"])["figures"]}
    assert not errors
    assert seen["timeline"]["decoded"] is True
    for key in ("listeners", "ttfa", "latency", "joins", "stalls", "howling", "ttfa-distribution"):
        assert not seen[key]["hasData"] and seen[key]["src"] is None
        assert "No data" in seen[key]["text"], seen[key]["text"]
