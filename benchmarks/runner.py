"""The demo's cost: wall time of `make demo` (venv already there), the harness's CPU share
during the run, and the time from a fault's scheduled end until its toxics are gone.

Runs `make demo` once, samples the `gameday run` process's own CPU from /proc while it runs,
then reads the run's journal. Ratios are against the experiment's own length (baseline + run)
and against the wall time, measured in this one run on whatever else shares the machine.

    python benchmarks/runner.py
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

from chaos.experiment.loader import load_experiment
from chaos.report.journal import read_journal
from chaos.runner.timeline import resolve

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "experiments" / "launch-storm.yaml"
TICK = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += map(int, children)
        todo += map(int, children)
    return found


def _cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _is_harness(pid: int) -> bool:
    try:
        return b"run\x00" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def run_demo() -> tuple[float, float, float]:
    """(wall seconds, harness CPU seconds, CPU seconds of everything the demo started)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    make = subprocess.Popen(["make", "-s", "demo"], cwd=ROOT, stdout=subprocess.DEVNULL)
    harness_cpu = 0.0
    while make.poll() is None:
        for pid in _descendants(make.pid):
            if _is_harness(pid):
                harness_cpu = max(harness_cpu, _cpu_seconds(pid) or 0.0)
        time.sleep(0.25)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, harness_cpu, total


def removal_latencies(journal_events: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Per fault: seconds from its scheduled end to the journal's record that it is gone."""
    baseline = next(e for e in journal_events if e.get("phase") == "baseline")
    t0_mono = baseline["mono"] + (baseline["t0"] - baseline["wall"])
    timeline = resolve(load_experiment(DEMO).experiment)
    scheduled = {s.name: s.at for s in timeline.steps if s.action.value == "remove"}
    return [
        (e["name"], e["mono"] - (t0_mono + scheduled[e["name"]]))
        for e in journal_events
        if e["kind"] == "fault.end" and e["name"] in scheduled
    ]


def main() -> None:
    length = resolve(load_experiment(DEMO).experiment).total
    wall, harness, everything = run_demo()
    newest = max((ROOT / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    events = read_journal(newest / "journal.jsonl").events
    verdict = next(e for e in events if e["kind"] == "verdict")
    print(f"make demo ({DEMO.name}, {length:g} s of experiment), verdict {verdict['verdict']}")
    print(f"{'measure':<44} {'value':>10} {'ratio':>28}")
    print(f"{'make demo wall time':<44} {wall:>9.1f}s {wall / length:>12.2f} x experiment length")
    print(f"{'  of which start-up, evaluation, teardown':<44} {wall - length:>9.1f}s")
    print(f"{'harness process CPU':<44} {harness:>9.1f}s {harness / wall:>12.2f} of one core")
    print(
        f"{'all processes of the demo CPU':<44} {everything:>9.1f}s "
        f"{everything / wall / (os.cpu_count() or 1):>12.2f} of the machine"
    )
    print(f"{'harness share of all CPU':<44} {'':>10} {harness / everything:>12.2f}")
    for name, seconds in removal_latencies(events):
        print(f"{'fault ' + name + ': scheduled end → toxics gone':<44} {seconds:>9.2f}s")
    print(f"{'rollback at the end (all faults, sweep)':<44} {verdict['rollback_seconds']:>9.3f}s")


if __name__ == "__main__":
    main()
