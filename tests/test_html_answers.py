"""Errors that quote a server's answer quote its status line and an HTML page's <title>, not
the page: a Toxiproxy or Prometheus URL that points at a web server says so in one line."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from runner_support import gameday

from chaos.answers import LIMIT, quoted_body, status_line
from chaos.errors import InfrastructureError
from chaos.faults.client import ToxiproxyClient
from chaos.faults.client.errors import ToxiproxyError, ToxiproxyProtocolError
from chaos.metrics.prometheus_api import PrometheusAPI

ROOT = Path(__file__).resolve().parent.parent
PAGE = (
    """<!DOCTYPE html>
<html><head><meta charset="utf-8">
  <title>Sign in &middot; Corp   SSO</title></head>
<body>"""
    + "<p>lots of markup</p>\n" * 200
    + "</body></html>"
)


def test_an_html_page_is_quoted_by_its_title() -> None:
    quoted = quoted_body(PAGE.encode())
    assert quoted.startswith("an HTML page titled 'Sign in · Corp SSO'")
    assert "markup" not in quoted and "\n" not in quoted
    assert quoted_body("<html><body>x</body></html>").startswith("an HTML page without a title")
    assert quoted_body("hello", "text/html; charset=utf-8").startswith("an HTML page")
    assert quoted_body(b"") == "(empty body)"
    assert quoted_body("404 page not found\n") == "404 page not found"
    assert status_line(404) == "HTTP 404 Not Found" and status_line(599) == "HTTP 599"


@given(st.text(max_size=2000))
def test_any_body_is_quoted_on_one_bounded_line(body: str) -> None:
    quoted = quoted_body(body)
    assert "\n" not in quoted and "\r" not in quoted
    assert len(quoted) <= 2 * LIMIT + 100


class _Site(http.server.BaseHTTPRequestHandler):
    """A web server where an API was expected: every path is a 404 HTML page, `/` a 200 one."""

    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _one_line_with_title(text: str) -> None:
    assert "HTTP 404 Not Found" in text
    assert "an HTML page titled 'Sign in · Corp SSO'" in text
    assert "<html" not in text and "markup" not in text


def test_a_toxiproxy_url_at_a_web_server_quotes_the_title(site: str) -> None:
    with ToxiproxyClient(site) as client, pytest.raises(ToxiproxyError) as caught:
        client.server_info()
    _one_line_with_title(str(caught.value))


def test_a_toxiproxy_url_answering_a_200_page_says_it_is_not_json(site: str) -> None:
    with (
        ToxiproxyClient(site + "/") as client,
        pytest.raises((ToxiproxyError, ToxiproxyProtocolError)) as caught,
    ):
        client.list_proxies()
    assert "titled 'Sign in · Corp SSO'" in str(caught.value)
    assert "<html" not in str(caught.value)


def test_a_prometheus_url_at_a_web_server_quotes_the_title(site: str) -> None:
    async def query() -> None:
        async with PrometheusAPI(site, timeout=5.0) as api:
            await api.query("up", time.time())

    with pytest.raises(InfrastructureError) as caught:
        asyncio.run(query())
    _one_line_with_title(caught.value.render())


def test_the_dry_run_quotes_the_title_not_the_page(site: str) -> None:
    done = gameday(
        "run", ROOT / "experiments" / "launch-storm.yaml", "--dry-run", "--toxiproxy", site
    )
    assert done.returncode == 3, done.stdout + done.stderr
    _one_line_with_title(done.stderr)
    assert len(done.stderr.splitlines()) <= 3


@pytest.mark.parametrize("url", ["not a url", "127.0.0.1:8474x"])
def test_a_toxiproxy_flag_that_is_no_url_is_refused_before_any_lookup(url: str) -> None:
    for command in (
        ["run", ROOT / "experiments" / "launch-storm.yaml", "--dry-run", "--toxiproxy", url],
        ["rollback", "--toxiproxy", url, "--run-id", "r1"],
    ):
        done = gameday(*command)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "invalid Toxiproxy URL" in done.stderr
        assert "Name or service not known" not in done.stderr
