"""One name for the fault proxy on every command and in the pytest plugin: ``--toxiproxy``, else
``TOXIPROXY_URL``, else the command's own default (the embedded proxy for run and search, the
recorded one for replay, 127.0.0.1:8474 for rollback). Older spellings still work, hidden; a
bad or unreachable URL is named by where it came from."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_support import tiny_experiment
from toxiproxy_harness import embedded_toxiproxy

pytest_plugins = ["pytester"]


pytestmark = pytest.mark.slow  # first in the queue: see conftest


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with embedded_toxiproxy() as api_url:
        yield api_url


def _closed_url() -> str:
    """A loopback URL nobody listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _gameday(
    *args: str | Path, env_url: str | None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`gameday ARGS` with ``TOXIPROXY_URL`` set to ``env_url`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "TOXIPROXY_URL"} | {"COLUMNS": "200"}
    if env_url is not None:
        env["TOXIPROXY_URL"] = env_url
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_run_reads_toxiproxy_url_and_says_so(tmp_path: Path, url: str) -> None:
    path = tiny_experiment(tmp_path)
    done = _gameday("run", path, "--dry-run", env_url=url)
    assert done.returncode == 0, done.stderr
    assert f"fault proxy: asked {url} (from TOXIPROXY_URL; gameday" in done.stdout


def test_the_flag_wins_over_the_environment(tmp_path: Path, url: str) -> None:
    path = tiny_experiment(tmp_path)
    done = _gameday("run", path, "--dry-run", "--toxiproxy", url, env_url="http://bad host:1")
    assert done.returncode == 0, done.stderr
    assert f"fault proxy: asked {url} (from --toxiproxy;" in done.stdout


def test_an_empty_toxiproxy_url_leaves_the_run_on_its_embedded_proxy(tmp_path: Path) -> None:
    path = tiny_experiment(tmp_path)
    done = _gameday("run", path, "--dry-run", env_url="")
    assert done.returncode == 0, done.stderr
    assert "fault proxy: not asked (no --toxiproxy, no TOXIPROXY_URL)" in done.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("run", "tiny.yaml"),
        ("run", "tiny.yaml", "--dry-run"),
        ("search", "tiny.yaml", "--budget", "30s"),
        ("replay", "runs/recorded/journal.jsonl"),
        ("rollback", "--all"),
    ],
    ids=lambda c: " ".join(c[:3:2]),
)
@pytest.mark.parametrize(
    ("flag", "env_url", "source"),
    [
        (("--toxiproxy", "http://bad host:8474"), None, "--toxiproxy"),
        ((), "http://toxiproxy:port", "TOXIPROXY_URL"),
    ],
    ids=["flag", "env"],
)
def test_a_bad_url_is_refused_naming_its_source_before_anything_starts(
    tmp_path: Path,
    command: tuple[str, ...],
    flag: tuple[str, ...],
    env_url: str | None,
    source: str,
) -> None:
    tiny_experiment(tmp_path)
    done = _gameday(*command, *flag, env_url=env_url, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{source}: invalid Toxiproxy URL" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists(), "nothing was started"


def test_an_unreachable_proxy_is_named_by_what_chose_it_in_run_and_replay(tmp_path: Path) -> None:
    path = tiny_experiment(tmp_path)
    stale = _closed_url()
    run = _gameday("run", path, "--out", tmp_path / "run", env_url=stale)
    assert run.returncode == 3, run.stdout + run.stderr
    assert f"at {stale} (from TOXIPROXY_URL)" in run.stdout

    journal = tmp_path / "run" / "journal.jsonl"
    replayed = _gameday("replay", journal, "--out", tmp_path / "again", env_url=None)
    assert replayed.returncode == 3, replayed.stdout + replayed.stderr
    assert f"at {stale} (from the run recorded in {journal})" in replayed.stdout

    other = _closed_url()
    staged = _gameday("replay", journal, "--out", tmp_path / "staged", env_url=other)
    assert staged.returncode == 3, staged.stdout + staged.stderr
    assert f"at {other} (from TOXIPROXY_URL)" in staged.stdout, "the variable wins over the record"


def test_rollback_spells_it_toxiproxy_and_keeps_the_old_spelling_hidden(url: str) -> None:
    for given in (("--toxiproxy", url), ("--toxiproxy-url", url)):
        done = _gameday("rollback", "--all", "--dry-run", *given, env_url=_closed_url())
        assert done.returncode == 0, done.stderr
        assert f"on {url}" in done.stdout
    from_env = _gameday("rollback", "--all", "--dry-run", env_url=url)
    assert from_env.returncode == 0 and f"on {url}" in from_env.stdout
    shown = _gameday("rollback", "--help", env_url=None).stdout
    assert "--toxiproxy" in shown and "--toxiproxy-url" not in shown

    stale = _closed_url()
    down = _gameday("rollback", "--all", env_url=stale)
    assert down.returncode == 3 and f"at {stale} (from TOXIPROXY_URL)" in down.stderr


SEES_THE_PROXY = """
def test_sees_the_proxy(gameday_proxy):
    print("PROXY", gameday_proxy)

def test_without_gameday():
    pass
"""


@pytest.mark.parametrize(
    ("args", "env_url", "seen"),
    [
        (("--toxiproxy", "http://127.0.0.1:9"), "http://127.0.0.1:8", "http://127.0.0.1:9"),
        (("--gameday-toxiproxy", "http://127.0.0.1:9"), None, "http://127.0.0.1:9"),
        ((), "127.0.0.1:8", "http://127.0.0.1:8"),
    ],
    ids=["flag", "older-flag", "env"],
)
def test_the_pytest_plugin_takes_the_same_flag_and_variable(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env_url: str | None,
    seen: str,
) -> None:
    if env_url is None:
        monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    else:
        monkeypatch.setenv("TOXIPROXY_URL", env_url)
    pytester.makepyfile(test_proxy=SEES_THE_PROXY)
    result = pytester.runpytest_subprocess(*args, "-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*PROXY {seen}*"])


def test_the_plugin_shows_one_spelling_and_names_a_bad_variable_only_where_used(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = pytester.runpytest_subprocess("--help").stdout.str()
    assert "--toxiproxy=URL" in shown and "--gameday-toxiproxy" not in shown
    monkeypatch.setenv("TOXIPROXY_URL", "http://toxiproxy:port")
    pytester.makepyfile(test_proxy=SEES_THE_PROXY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*TOXIPROXY_URL: invalid Toxiproxy URL*"])
