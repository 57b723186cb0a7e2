"""Grafana annotations: request shapes against a loopback server that answers as Grafana's
documented HTTP API does (``/api/annotations``), failures as exit-3 errors, and a real Grafana
when ``GRAFANA_URL`` is set."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from report_support import WALL0, record_faults

from chaos.errors import ExitCode, InfrastructureError
from chaos.report.grafana import GrafanaAnnotator, annotate_journal, credential_from_env
from chaos.report.journal import read_journal

TOKEN = "glsa_test_token"
ROOT = Path(__file__).parent.parent


@dataclass
class FakeGrafana:
    """Grafana's annotation API as documented: POST /api/annotations answers
    ``{"message": "Annotation added", "id": N}``; PATCH /api/annotations/:id updates the given
    fields; requests need ``Authorization: Bearer <token>`` (or basic auth)."""

    token: str = TOKEN
    basic: tuple[str, str] | None = None
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header == f"Bearer {self.token}":
            return True
        if self.basic and header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return (user, password) == self.basic
        return False

    @web.middleware
    async def auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, body))
        self.headers.append(dict(request.headers))
        if not self._authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def settings(self, request: web.Request) -> web.Response:
        return web.json_response({"buildInfo": {"version": "11.3.0"}})

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body.get("time"), int) or body["time"] <= 0:
            return web.json_response({"message": "bad request data"}, status=400)
        if not body.get("text"):
            return web.json_response({"message": "Text field should not be empty"}, status=400)
        if not all(isinstance(t, str) for t in body.get("tags") or []):
            return web.json_response({"message": "bad request data"}, status=400)
        number = len(self.annotations) + 1
        self.annotations[number] = {
            "time": body["time"],
            "timeEnd": body.get("timeEnd") or body["time"],
            "tags": body.get("tags") or [],
            "text": body["text"],
        }
        return web.json_response({"message": "Annotation added", "id": number})

    async def patch(self, request: web.Request) -> web.Response:
        number = int(request.match_info["id"])
        if number not in self.annotations:
            return web.json_response({"message": "Could not find annotation"}, status=404)
        body = await request.json()
        existing = self.annotations[number]
        for key in ("time", "timeEnd"):
            if body.get(key):  # Go zero values (null, 0) leave the field as it was
                existing[key] = body[key]
        if body.get("text"):
            existing["text"] = body["text"]
        if body.get("tags") is not None:  # a non-nil list replaces the tags, even an empty one
            existing["tags"] = body["tags"]
        return web.json_response({"message": "Annotation patched"})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.auth])
        app.router.add_get("/api/frontend/settings", self.settings)
        app.router.add_post("/api/annotations", self.create)
        app.router.add_patch("/api/annotations/{id}", self.patch)
        return app


@pytest.fixture
async def grafana() -> AsyncIterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana(basic=("admin", "s3cret"))
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _event(kind: str, wall: float, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "run": "r1", "seq": 1, "wall": wall, "mono": 1.0, "kind": kind, **fields}


async def test_a_fault_becomes_a_region_and_the_verdict_a_tagged_point(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    annotator = GrafanaAnnotator(url, "r1", "launch storm", TOKEN)
    await annotator.check()
    await annotator.push(_event("fault.start", 1_795_000_015.25, name="slow-edge", latency="200ms"))
    await annotator.push(_event("metrics", 1_795_000_016.0, target="x", t=1.0, samples=[]))
    await annotator.push(_event("fault.end", 1_795_000_030.5, name="slow-edge"))
    await annotator.push(_event("verdict", 1_795_000_031.0, verdict="fail"))
    await annotator.aclose()

    writes = [(m, p, b) for m, p, b in fake.requests if m != "GET"]
    assert [(m, p) for m, p, _ in writes] == [
        ("POST", "/api/annotations"),
        ("PATCH", "/api/annotations/1"),
        ("POST", "/api/annotations"),
    ]
    start, end, verdict = (b for _, _, b in writes)
    assert start is not None and end is not None and verdict is not None
    tags = ["gameday", "run:r1", "experiment:launch storm", "fault:slow-edge"]
    assert start["time"] == 1_795_000_015_250 and start["tags"] == tags
    assert start["text"] == "fault slow-edge (latency=200ms)"
    assert end["timeEnd"] == 1_795_000_030_500 and end["tags"] == tags
    assert fake.annotations[1] == {
        "time": 1_795_000_015_250,
        "timeEnd": 1_795_000_030_500,
        "tags": tags,
        "text": "fault slow-edge (latency=200ms)",
    }
    assert verdict["tags"] == ["gameday", "run:r1", "experiment:launch storm", "verdict:fail"]
    assert verdict["time"] == 1_795_000_031_000 and "fail" in verdict["text"]
    assert annotator.errors == []


async def test_a_recorded_journal_is_annotated_after_the_fact(
    grafana: tuple[FakeGrafana, str], tmp_path: Path
) -> None:
    fake, url = grafana
    path = tmp_path / "journal.jsonl"
    record_faults(path, unended=True)
    await annotate_journal(read_journal(path), url, ("admin", "s3cret"))
    slow, flood, verdict = fake.annotations.values()
    assert (slow["time"], slow["timeEnd"]) == (round((WALL0 + 15) * 1000), (WALL0 + 30) * 1000)
    assert flood["timeEnd"] == flood["time"], "a fault that never ended stays a point"
    assert "fault:flood" in flood["tags"] and "run:20261124T150000Z-test" in flood["tags"]
    assert "experiment:Launch storm over a degraded edge" in verdict["tags"]
    assert "verdict:fail" in verdict["tags"]


async def test_unreachable_grafana_is_an_infrastructure_error_naming_url_and_fix() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    annotator = GrafanaAnnotator(url, "r1", timeout=2)
    with pytest.raises(InfrastructureError) as caught:
        await annotator.check()
    await annotator.aclose()
    assert caught.value.exit_code is ExitCode.INFRASTRUCTURE
    assert caught.value.where == url and "cannot connect" in caught.value.what
    assert caught.value.fix is not None and "GRAFANA_TOKEN" in caught.value.fix


async def test_a_grafana_that_never_answers_times_out_with_a_clear_error() -> None:
    with socket.socket() as silent:  # the kernel completes the handshake; nobody replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        annotator = GrafanaAnnotator(url, "r1", timeout=0.5)
        with pytest.raises(InfrastructureError, match=r"no answer within 0\.5s"):
            await annotator.check()
        await annotator.aclose()


async def test_a_wrong_token_is_refused_with_the_same_clear_error(
    grafana: tuple[FakeGrafana, str],
) -> None:
    _, url = grafana
    annotator = GrafanaAnnotator(url, "r1", credential="wrong")
    with pytest.raises(InfrastructureError, match=r"Unauthorized|401"):
        await annotator.push(_event("fault.start", 1_795_000_000.0, name="cut"))
    await annotator.aclose()


async def test_during_a_run_a_grafana_outage_is_recorded_not_raised() -> None:
    annotator = GrafanaAnnotator(f"http://127.0.0.1:{_free_port()}", "r1", timeout=2)
    await annotator.observe(_event("fault.start", 1_795_000_000.0, name="cut"))
    await annotator.observe(_event("fault.end", 1_795_000_001.0, name="cut"))
    await annotator.observe(_event("verdict", 1_795_000_002.0, verdict="pass"))
    await annotator.aclose()
    assert len(annotator.errors) == 2, "the start and the verdict failed; the end had no id"
    assert all("127.0.0.1" in error for error in annotator.errors)


def test_credentials_come_from_the_environment() -> None:
    assert credential_from_env({"GRAFANA_TOKEN": "t", "GRAFANA_USER": "u"}) == "t"
    assert credential_from_env({"GRAFANA_USER": "u", "GRAFANA_PASSWORD": "p"}) == ("u", "p")
    assert credential_from_env({"GRAFANA_USER": "u"}) is None


async def test_annotations_need_no_grafana_client_library(
    grafana: tuple[FakeGrafana, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One POST per annotation with httpx: nothing of grafana-client (whose urllib3-future
    replaces the urllib3 the Docker SDK runs on) is imported, installed or declared."""
    for name in ("grafana_client", "grafana_client.api", "niquests", "urllib3_future"):
        monkeypatch.setitem(sys.modules, name, None)  # importing any of them now fails
    fake, url = grafana
    annotator = GrafanaAnnotator(url, "r1", "launch storm", TOKEN)
    await annotator.check()
    await annotator.push(_event("verdict", 1_795_000_031.0, verdict="pass"))
    await annotator.aclose()
    assert [(m, p) for m, p, _ in fake.requests] == [
        ("GET", "/api/frontend/settings"),
        ("POST", "/api/annotations"),
    ]
    assert fake.headers[-1]["Authorization"] == f"Bearer {TOKEN}"
    assert fake.headers[-1]["Content-Type"] == "application/json"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = [*project["dependencies"], *(d for extra in extras.values() for d in extra)]
    assert "grafana" not in extras and not [d for d in declared if d.startswith("grafana")]
    (venv_line,) = [
        x
        for x in (ROOT / "Makefile").read_text().splitlines()
        if "pip install" in x and " -e " in x
    ]
    assert "grafana" not in venv_line


async def test_basic_auth_is_sent_when_there_is_no_token(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    annotator = GrafanaAnnotator(url, "r1", credential=("admin", "s3cret"))
    await annotator.push(_event("fault.start", 1_795_000_000.0, name="cut"))
    await annotator.aclose()
    expected = base64.b64encode(b"admin:s3cret").decode()
    assert fake.headers[-1]["Authorization"] == f"Basic {expected}"
    assert fake.annotations[1]["tags"][-1] == "fault:cut"


@pytest.mark.skipif(
    not os.environ.get("GRAFANA_URL"),
    reason="set GRAFANA_URL (and GRAFANA_TOKEN or GRAFANA_USER/GRAFANA_PASSWORD) "
    "to push annotations to a real Grafana; none is installed here",
)
async def test_annotations_reach_a_real_grafana(tmp_path: Path) -> None:
    import httpx

    url = os.environ["GRAFANA_URL"]
    path = tmp_path / "journal.jsonl"
    record_faults(path)
    journal = read_journal(path)
    credential = credential_from_env()
    await annotate_journal(journal, url, credential)
    headers = {"Authorization": f"Bearer {credential}"} if isinstance(credential, str) else {}
    auth = httpx.BasicAuth(*credential) if isinstance(credential, tuple) else None
    async with httpx.AsyncClient(base_url=url, headers=headers, auth=auth) as client:
        answer = await client.get(
            "/api/annotations",
            params={
                "tags": [f"run:{journal.run_id}", "fault:slow-edge"],
                "from": round(WALL0 * 1000),
                "to": round((WALL0 + 100) * 1000),
            },
        )
    found = answer.raise_for_status().json()
    assert len(found) == 1
    assert found[0]["timeEnd"] - found[0]["time"] == 15_000


async def _gameday(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chaos.cli", *args,
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_report_command_annotates_a_recorded_run(
    grafana: tuple[FakeGrafana, str], tmp_path: Path
) -> None:
    fake, url = grafana
    path = tmp_path / "journal.jsonl"
    record_faults(path)
    code, err = await _gameday(
        "report", str(path), "--grafana-url", url, env={"GRAFANA_TOKEN": TOKEN}
    )
    assert code == 1, "the recorded run failed: report exits as its verdict says"
    assert len(fake.annotations) == 3 and f"annotated {url}" in err


async def test_report_command_exits_3_when_grafana_is_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    record_faults(path)
    url = f"http://127.0.0.1:{_free_port()}"
    code, err = await _gameday("report", str(path), "--grafana-url", url, env={})
    assert code == 3
    assert url in err and "fix:" in err and "Traceback" not in err
