"""The Grafana dashboards: current JSON schema, the datasource as a template variable, every
panel's PromQL accepted by Prometheus' own parser (``promtool``), and every metric a panel reads
actually exposed by a running soundstage and the harness's listener registry."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from soundstage_support import live_room, running, soundstage_spec

from chaos.audio.ear import Ear
from chaos.metrics.scraper import Scraper, Target
from chaos.metrics.store import SeriesStore
from chaos.workload.metrics import ListenerCollector
from chaos.workload.stats import ListenerStats

DASHBOARDS = Path(__file__).parent.parent / "dashboards"
FILES = {"soundstage": DASHBOARDS / "soundstage.json", "gameday": DASHBOARDS / "gameday.json"}
PROMTOOL = shutil.which("promtool")
# Grafana's built-in interval variables, as Grafana substitutes them before querying.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FILES[name].read_text())
    return data


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def expand(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads: identifiers outside strings, label matchers,
    range brackets and grouping clauses that are neither functions nor keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b\d[\d.]*(?:[eE][+-]?\d+)?\b", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[found.end() :].lstrip()
        word = found.group()
        if following.startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def test_metric_name_extraction() -> None:
    expr = 'histogram_quantile(0.95, sum by (le) (rate(a_bucket{job="x"}[5m]))) / on(x) b + 1e3'
    assert metric_names(expr) == {"a_bucket", "b"}
    assert metric_names('sum by (reason) (rate(c_total{reason=~"a|b"}[1m]))') == {"c_total"}


@pytest.mark.parametrize("name", sorted(FILES))
def test_dashboards_use_the_current_schema_and_a_datasource_variable(name: str) -> None:
    dashboard = load(name)
    assert dashboard["schemaVersion"] >= 36 and dashboard["uid"] and dashboard["title"]
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "DS_PROMETHEUS"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] in ("row", "annolist"):
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"] and panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
    tags = [a.get("target", {}).get("tags") for a in dashboard["annotations"]["list"]]
    assert ["gameday"] in tags, "fault windows pushed by gameday must show on every panel"
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    assert "fault activity" in titles and "listeners" in titles
    assert name != "gameday" or all(
        topic in titles for topic in ("time to first audio", "join success", "stall")
    )
    assert name != "soundstage" or all(
        topic in titles for topic in ("join latency", "joins admitted", "frames dropped")
    )


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) is missing")
def test_every_panel_query_parses_as_promql(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    rules = [
        {"record": f"dashboard:{name}:{i}", "expr": expand(expr)}
        for name in FILES
        for i, (_, expr) in enumerate(queries(load(name)))
    ]
    path = tmp_path / "dashboards.rules.json"  # promtool reads YAML, and JSON is YAML
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout

    broken = [{"record": "broken", "expr": "sum(rate(soundstage_api_joins_total[1m])"}]
    path.write_text(json.dumps({"groups": [{"name": "broken", "rules": broken}]}))
    refused = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True)
    assert refused.returncode != 0, "the parser must refuse what Prometheus would refuse"


@pytest.mark.timeout(120)
async def test_every_metric_a_panel_reads_is_exposed_by_soundstage_and_the_harness(
    tmp_path: Path,
) -> None:
    wanted = {
        name: {metric for _, expr in queries(load(name)) for metric in metric_names(expr)}
        for name in FILES
    }
    stats = ListenerStats()
    stats.failures["timeout"] += 1  # labelled families only expose the reasons that occurred
    stats.drops["eof"] += 1
    # Ear families only have samples for the edges that had an ear: one real ear concealed 20 ms.
    ear = Ear(edge="edge-1")
    ear(None, 0.02)
    ear.finish()
    stats.ear(ear.edge).add(ear)
    harness = CollectorRegistry()
    harness.register(ListenerCollector(lambda: stats))

    async with running(soundstage_spec(), tmp_path / "run") as (_, stack):
        api = stack.addresses["api"]["http"]
        room = await live_room(api)
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.post(f"http://{api}/rooms/{room}/join")).status_code == 200
            assert (await client.post(f"http://{api}/rooms/9999/join")).status_code == 404
        targets = [Target.http(replica, url) for replica, url in stack.metrics.items()]
        store = SeriesStore()
        scraper = Scraper([*targets, Target("gameday", "harness", registry=harness)], store)
        await scraper.scrape_all()
        assert not scraper.down(), [scraper.last_error(t) for t in scraper.down()]

    exposed = store.names()
    for name, metrics in wanted.items():
        missing = sorted(metrics - exposed)
        assert not missing, f"dashboards/{name}.json reads metrics nobody exposes: {missing}"
    assert all(m.startswith("gameday_") for m in wanted["gameday"])
    assert all(m.startswith("soundstage_") for m in wanted["soundstage"])
