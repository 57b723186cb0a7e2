"""hypothesis is a dependency of gameday (`gameday search` and the plugin's strategies need it),
yet an install without it (``pip install --no-deps``, a distro package) must not break every
pytest session through the plugin: the plugin loads, and what needs hypothesis says so, with
the fix. Each check runs in a fresh interpreter whose imports of hypothesis fail."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

BLOCK_HYPOTHESIS = """
import sys

class NoHypothesis:
    def find_spec(self, name, path=None, target=None):
        if name == "hypothesis" or name.startswith("hypothesis."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoHypothesis())
"""

USES_THE_PLUGIN = """
import pytest

def test_the_plugin_is_there(slo_checker, pytestconfig):
    assert slo_checker.failures.__doc__
    assert pytestconfig.getoption("toxiproxy") is None

def test_strategies_say_what_they_need():
    with pytest.raises(ImportError) as caught:
        from chaos.pytest_plugin import fault_schedules  # noqa: F401
    message = str(caught.value)
    assert "needs hypothesis, which is not installed" in message
    assert "pip install" in message
"""


def _without_hypothesis(
    code: str, cwd: Path, *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_HYPOTHESIS + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_hypothesis_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("hypothesis") for d in project["dependencies"])
    assert not any(d.startswith("hypothesis") for d in project["optional-dependencies"]["dev"])


@pytest.mark.timeout(120)
def test_the_plugin_loads_and_its_strategies_name_the_fix(tmp_path: Path) -> None:
    (tmp_path / "test_user_suite.py").write_text(USES_THE_PLUGIN)
    done = _without_hypothesis(
        "import pytest\n"
        "sys.exit(pytest.main(['-p', 'chaos.pytest_plugin', '-p', 'no:cacheprovider', '-q']))",
        tmp_path,
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert "Error while loading plugin" not in done.stdout + done.stderr


@pytest.mark.timeout(120)
def test_gameday_search_names_the_missing_package(tmp_path: Path) -> None:
    experiment = tmp_path / "tiny.yaml"
    experiment.write_text("title: tiny\n")
    done = _without_hypothesis(
        "from chaos.cli import main\n"
        f"sys.argv = ['gameday', 'search', {str(experiment)!r}, '--budget', '10s']\n"
        "main()",
        tmp_path,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "gameday search needs hypothesis, which is not installed" in done.stderr
    assert "fix: pip install" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()
