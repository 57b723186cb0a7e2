"""A report from a real run: soundstage as local processes, scraped into a journal while
listeners join and the origin is paused (SIGSTOP) as the fault, then rendered from the journal."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import aiohttp
import pytest
from soundstage_support import Audience, live_room, running, soundstage_spec

from chaos.metrics.batch import SampleBatch
from chaos.metrics.scraper import Scraper, Target
from chaos.metrics.store import SeriesStore
from chaos.report.html import render_html
from chaos.report.journal import JournalWriter, read_journal
from chaos.report.markdown import render_markdown
from chaos.report.summary import summarize
from chaos.report.timeseries import charts


@pytest.mark.timeout(120)
async def test_a_report_of_a_real_soundstage_run(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = JournalWriter(path, seed=5, meta={"title": "paused origin", "stack": "soundstage"})
    async with running(soundstage_spec(), tmp_path / "run") as (backend, stack):
        api = stack.addresses["api"]["http"]
        room = await live_room(api)
        targets = [Target.http(replica, url) for replica, url in stack.metrics.items()]
        answered: list[str] = []

        def record(batch: SampleBatch) -> None:
            journal.write("metrics", **batch.to_record())
            if any(key.name == "up" and value == 1.0 for key, value in batch.samples):
                answered.append(batch.target)

        # a scrape timeout of a whole second: a busy machine's api answers late, not never
        scraper = Scraper(targets, SeriesStore(), interval=0.25, timeout=1.0, sink=record)
        audience = Audience()
        async with scraper.running(), aiohttp.ClientSession() as session:
            journal.phase("baseline")
            await asyncio.sleep(1.0)
            # rates need a sample before the joins: every target answered twice first
            deadline = asyncio.get_running_loop().time() + 30
            while min(answered.count(str(t)) for t in targets) < 2:
                assert asyncio.get_running_loop().time() < deadline, answered
                await asyncio.sleep(0.1)
            journal.phase("method")
            await audience.add(session, api, room, 3)
            await asyncio.sleep(1.0)
            journal.write("fault.start", name="pause-origin", component="origin")
            backend.send_signal("origin", signal.SIGSTOP)
            try:
                await asyncio.sleep(1.0)
            finally:
                backend.send_signal("origin", signal.SIGCONT)
                journal.write("fault.end", name="pause-origin")
            journal.phase("recovery")
            await asyncio.sleep(1.0)
        await audience.finish()
    journal.write("verdict", verdict="pass")
    journal.close()

    recorded = read_journal(path)
    drawn = charts(recorded, summarize(recorded))
    panels = {panel.key: panel for panel in drawn.panels}
    [joined] = [line for line in panels["listeners"].lines if line.label == "joined (api)"]
    assert max(v for v in joined.values if v == v) == 3
    [admitted] = [line for line in panels["joins"].lines if line.label == "admitted/s (api)"]
    assert max(v for v in admitted.values if v == v) > 0
    assert not panels["ttfa"].has_data, "no probe histogram in a stack-only scrape"
    [suppressed] = panels["howling"].lines  # the origin's suppression gauge, nothing from probes
    assert suppressed.label == "speakers suppressed (origin)"
    assert all(v == 0 for v in suppressed.values if v == v)

    html = render_html(recorded)
    figures = re.findall(
        r'data-plot="([^"]+)" data-has-data="(\w+)"\s*data-fault-windows=\'([^\']*)\'', html
    )
    shaded = {key for key, has_data, windows in figures if windows == "[0]"}
    drawn = {key for key, has_data, windows in figures if has_data == "true"}
    assert {"timeline", "listeners", "joins", "howling"} <= shaded, figures
    assert any(key.startswith("component-origin") for key in shaded), "the paused component's panel"
    assert drawn - {"ttfa-distribution"} == shaded, "every plot drawn over time shades the fault"
    assert "No data: no time to first audio histogram was scraped" in html
    assert "| pause-origin |" in render_markdown(recorded)
