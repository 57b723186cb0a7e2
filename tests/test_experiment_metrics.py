"""Short names of the listener metrics: what README's examples write runs as printed.

The README's own experiment example (``p95: time_to_first_audio``, ``ratio: joins_ok/joins``,
``ratio: stall_ratio``, ``increase: howl_seconds``, a guard on ``join_error_ratio``) used to pass
``validate`` and then fail the run: the names were never exposed. Now they are aliases of the
listener metrics, resolved at validation, and refused where they cannot work.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import parse_experiment
from chaos.experiment.metrics import RATIOS, aliases, listener_families
from chaos.experiment.slos import GaugeSLO, QuantileSLO, RatioSLO

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GAMEDAY = Path(sys.executable).parent / "gameday"


def _yaml_blocks() -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


def _experiment(slos: list[dict[str, Any]], abort: list[dict[str, Any]] | None = None) -> str:
    doc = {
        "title": "t",
        "stack": "soundstage",
        "workload": {"listeners": [{"arrival": "storm", "count": 5}]},
        "slos": slos,
        "abort": abort or [],
    }
    import io

    out = io.StringIO()
    YAML().dump(doc, out)
    return out.getvalue()


def _load(text: str, tmp_path: Path) -> Any:
    return parse_experiment(text, tmp_path / "x.yaml").experiment


def _refusal(text: str, tmp_path: Path) -> str:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(text, tmp_path / "x.yaml")
    return "\n".join(str(i) for i in caught.value.issues)


def test_the_readme_names_resolve_to_what_the_listeners_expose(tmp_path: Path) -> None:
    slos = [
        {"name": "a", "p95": "time_to_first_audio", "below": "5s"},
        {"name": "b", "ratio": "joins_ok/joins", "above": "99.5%"},
        {"name": "c", "ratio": "stall_ratio", "below": "1%"},
        {"name": "d", "increase": "howl_seconds", "equals": 0},
    ]
    guard = [{"ratio": "join_error_ratio", "above": "50%", "for": "10s"}]
    experiment = _load(_experiment(slos, guard), tmp_path)
    a, b, c, d = experiment.slos
    assert isinstance(a, QuantileSLO) and isinstance(d, GaugeSLO)
    assert isinstance(b, RatioSLO) and isinstance(c, RatioSLO)
    assert a.metric == "gameday_listener_time_to_first_audio_seconds"
    assert (b.numerator, b.denominator) == (
        "gameday_listener_joins_ok_total",
        "gameday_listener_join_attempts_total",
    )
    assert (c.numerator, c.denominator) == (
        "gameday_listener_stall_seconds_total",
        "gameday_listener_played_seconds_total",
    )
    assert d.metric == "gameday_listener_howl_seconds_total"
    assert experiment.abort[0].ratio == (
        "gameday_listener_join_failures_total/gameday_listener_join_attempts_total"
    )
    exposed = {f.series for f in listener_families().values()}
    assert {b.numerator, b.denominator, c.numerator, c.denominator, d.metric} <= exposed


@pytest.mark.parametrize(
    ("slo", "fragment"),
    [
        ({"max": "stall_ratio", "below": "1%"}, "write `ratio: stall_ratio`"),
        ({"p95": "joins_ok", "below": "3s"}, "a quantile needs a histogram"),
        ({"increase": "time_to_first_audio", "equals": 0}, "needs a counter"),
        ({"max": "time_to_first_audio", "below": "1s"}, "write p95: time_to_first_audio"),
        ({"p95": "time_to_frist_audio", "below": "3s"}, "did you mean 'time_to_first_audio'"),
        ({"max": "gameday_listener_stall_ratio", "below": "1%"}, "listeners expose no metric"),
        ({"ratio": "joins_ok", "above": "99%"}, "numerator/denominator"),
        ({"p95": "time_to_first_audio", "below": 3}, "write a duration like 3s"),
        ({"max": "soundstage_edge_lag_seconds", "below": 2}, "write a duration like 2s"),
        ({"ratio": "joins_ok/joins", "above": "150%"}, "at most 100%"),
    ],
)
def test_names_and_thresholds_that_cannot_work_are_refused(
    tmp_path: Path, slo: dict[str, Any], fragment: str
) -> None:
    message = _refusal(_experiment([{"name": "s", **slo}]), tmp_path)
    assert fragment in message and re.search(r":\d+:\d+: slos\[0\]\.", message), message


def test_a_bare_zero_and_plain_ratio_numbers_stay_allowed(tmp_path: Path) -> None:
    slos = [
        {"name": "a", "p95": "time_to_first_audio", "below": 0},
        {"name": "b", "ratio": "requests/joins", "below": 3.5},
        {"name": "c", "max": "soundstage_api_edge_up", "equals": 1},
    ]
    _load(_experiment(slos), tmp_path)


@pytest.mark.parametrize(
    ("guard", "fragment"),
    [
        ({"ratio": "join_error_ratio", "above": "50%"}, "a guard needs `for:`"),
        ({"ratio": "join_error_ratio", "above": "150%", "for": "5s"}, "at most 100%"),
        ({"metric": "join_error_ratio", "above": "50%", "for": "5s"}, "ratio: join_error_ratio"),
    ],
)
def test_guards_say_how_long_and_on_what(
    tmp_path: Path, guard: dict[str, Any], fragment: str
) -> None:
    message = _refusal(_experiment([], [guard]), tmp_path)
    assert fragment in message and "abort[0]" in message, message


def test_readme_tables_every_listener_metric_with_its_type_and_short_name() -> None:
    text = README.read_text()
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r"^\| `(gameday_\w+)` \| (\w+) \| \w+ \| `(\w+)` \|", text, re.M)
    }
    wanted = {f.series: (f.type, f.short) for f in listener_families().values()}
    assert rows == wanted
    for name in [*RATIOS, *aliases()]:
        assert f"`{name}`" in text, name


def test_every_experiment_in_the_readme_validates_and_dry_runs(tmp_path: Path) -> None:
    experiments = [b for b in _yaml_blocks() if re.search(r"^title:", b, re.M)]
    assert experiments, "README shows no experiment"
    for index, block in enumerate(experiments):
        path = tmp_path / f"readme-{index}.yaml"
        path.write_text(block)
        for args in (["validate", str(path)], ["run", str(path), "--dry-run"]):
            done = subprocess.run(
                [str(GAMEDAY), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
            )
            assert done.returncode == 0, (args, done.stdout, done.stderr)
    for block in _yaml_blocks():  # the spec fragments at least parse
        YAML(typ="safe").load(block)
