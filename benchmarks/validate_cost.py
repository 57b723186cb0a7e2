"""What validating an experiment costs as it grows: reading the YAML (the fast reader, and
the exact one it falls back on) and the whole validation (read, models, cross-checks, the run's
own checks) per file size, one run, as a ratio table.

Validation must be linear in the file, so each row's cost per byte is compared with the
smallest file's (a ratio near 1 is linear; an O(n²) check shows as a ratio growing with n).
Files are generated schedules of link outages (every one a claim the overlap check reads)
and latency faults; the exact reader (pure Python) is timed up to ``--exact-largest`` bytes
only, for its ratio to the fast one. The last rows validate a file of 10 MB, the goal being
5 s, and count what a file with thousands of bad faults prints: the first 50 issues and a
count of the rest.

    python benchmarks/validate_cost.py                  # 25 KB .. 1.6 MB, and 10 MB
    python benchmarks/validate_cost.py --largest 400000 --exact-largest 100000
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from chaos.experiment import yamldoc
from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import collector_paused, load_experiment, parse_experiment
from chaos.experiment.validate import validate_files
from chaos.experiment.yamlexact import read_exact
from chaos.experiment.yamlfast import read_fast

HEAD = (
    "title: many faults\nstack: soundstage\nworkload: {speakers: 1, listeners: "
    "[{arrival: storm, count: 10}]}\n"
    "slos:\n  - {name: quiet, max: gameday_listeners_connected, below: 1}\nfaults:\n"
)
ROWS = {
    "outages": "  - {{name: f{0}, at: {1}s, for: 1s, link: listener->edge, down: true}}\n",
    "latency": "  - {{name: f{0}, at: {2}s, for: 1s, link: listener->edge, latency: 10ms}}\n",
}
BAD = "  - {{name: f{0}, at: {1}s, for: 1s, link: listener->edgee, down: true}}\n"


def schedule(kind: str, size: int) -> tuple[str, int]:
    """A valid experiment of about ``size`` bytes: ``kind`` faults, none overlapping."""
    rows, total, i = [], len(HEAD), 0
    while total < size:
        rows.append(ROWS[kind].format(i, 2 * i, i % 50))
        total += len(rows[-1])
        i += 1
    return HEAD + "".join(rows), i


def measure(text: str, source: Path, exact: bool) -> tuple[float, float | None, float]:
    """CPU seconds to read with the fast reader, with the exact one (when ``exact``), and to
    validate the file (read, models, checks; a valid file) as `gameday validate` does."""
    source.write_text(text)
    with collector_paused():
        start = time.process_time()
        read_fast(text)
        fast = time.process_time() - start
        start = time.process_time()
        if exact:
            read_exact(text)
        exact_s = time.process_time() - start if exact else None
    start = time.process_time()
    load_experiment(source)
    return fast, exact_s, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smallest", type=int, default=25_000)
    parser.add_argument("--largest", type=int, default=1_600_000)
    parser.add_argument("--exact-largest", type=int, default=400_000)
    args = parser.parse_args()
    sizes = []
    size = args.smallest
    while size <= args.largest:
        sizes.append(size)
        size *= 2
    print(f"load average {os.getloadavg()[0]:.1f}; CPU seconds of this process")
    print(
        "faults | kind | bytes | fast read s | exact read s | exact/fast | validate s "
        "| µs/byte | per byte vs smallest"
    )
    print("--- | --- | --- | --- | --- | --- | --- | --- | ---")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "generated.yaml"
        measure(schedule("outages", 1000)[0], source, exact=True)  # imports and caches, once
        for kind in ROWS:
            first = None
            for size in sizes:
                text, faults = schedule(kind, size)
                fast, exact, check_s = measure(text, source, exact=size <= args.exact_largest)
                per_byte = check_s / len(text) * 1e6
                first = first or per_byte
                exact_cells = f"{exact:.2f} | {exact / fast:.0f}" if exact is not None else "|"
                print(f"{faults} | {kind} | {len(text):,} | {fast:.2f} | {exact_cells} | "
                      f"{check_s:.2f} | {per_byte:.2f} | {per_byte / first:.2f}")  # fmt: skip
        text, faults = schedule("latency", 10_000_000)
        fast, _, check_s = measure(text, source, exact=False)
        print(f"\n10 MB file ({faults} latency faults, {len(text):,} bytes): read {fast:.2f} s, "
              f"validated in {check_s:.2f} s (goal: 5 s)")  # fmt: skip
        print(f"file limit: {yamldoc.MAX_BYTES:,} bytes")
        bad_rows = "".join(BAD.format(i, 2 * i) for i in range(2_000))
        source.write_text(HEAD + bad_rows)
        out, err = io.StringIO(), io.StringIO()
        validate_files([source], Console(file=out), Console(file=err, width=200))
        lines = err.getvalue().splitlines()
        try:
            parse_experiment(HEAD + bad_rows, source)
        except ExperimentError as exc:
            found = len(exc.issues)
        print("\nissues found | lines printed | last line")
        print("--- | --- | ---")
        print(f"{found} | {len(lines)} | {lines[-2] if len(lines) > 1 else lines[-1]}")


if __name__ == "__main__":
    main()
