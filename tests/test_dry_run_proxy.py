"""`gameday run --dry-run` asks the fault proxy it is given what it can make, and says so.

Without `--toxiproxy` it says plainly that no proxy was asked; with one, it names the server,
its version and extensions, and refuses (exit 2) what that server cannot make, as the run
would; a proxy that does not answer is exit 3, and a `--toxiproxy` that is no URL exit 2
before any lookup. The proxy here is the embedded server, run by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_support import gameday, tiny_experiment

from chaos.faults.server.embedded import EmbeddedToxiproxy


@pytest.fixture
def proxy() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(port=0) as server:
        yield server


def test_a_dry_run_without_a_proxy_says_none_was_asked(tmp_path: Path) -> None:
    done = gameday("run", tiny_experiment(tmp_path), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "fault proxy: not asked (no --toxiproxy, no TOXIPROXY_URL)" in done.stdout


def test_a_dry_run_asks_the_proxy_it_is_given(tmp_path: Path, proxy: EmbeddedToxiproxy) -> None:
    done = gameday("run", tiny_experiment(tmp_path), "--dry-run", "--toxiproxy", proxy.url)
    assert done.returncode == 0, done.stderr
    assert f"fault proxy: asked {proxy.url} (from --toxiproxy; gameday " in done.stdout
    assert "leases" in done.stdout and "it can make every fault above" in done.stdout


def test_a_proxy_that_does_not_answer_is_infrastructure(tmp_path: Path) -> None:
    done = gameday("run", tiny_experiment(tmp_path), "--dry-run", "--toxiproxy", "127.0.0.1:9")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot reach the Toxiproxy API at http://127.0.0.1:9" in done.stderr


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1:8474", "http://:8474"])
def test_a_toxiproxy_that_is_no_url_is_invalid_input(tmp_path: Path, url: str) -> None:
    for extra in (["--dry-run"], []):
        done = gameday("run", tiny_experiment(tmp_path), "--toxiproxy", url, *extra)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "invalid Toxiproxy URL" in done.stderr and "Traceback" not in done.stderr
