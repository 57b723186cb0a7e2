"""What validating an experiment costs as it grows: parse (YAML with positions) and checks
(the models, the cross-checks, the run's own checks) per file size, one run, as a ratio table.

Validation must be linear in the file, so each row's cost per byte is compared with the
smallest file's (a ratio near 1 is linear; an O(n²) check shows as a ratio growing with n).
Files are generated schedules of link outages (every one a claim the overlap check reads)
and latency faults, up to ``--largest`` bytes; the row for 10 MB is extrapolated from the
largest measured cost per byte, which is how the 1 MB file limit (chaos.experiment.yamldoc.
MAX_BYTES) was chosen. The last table counts what a file with thousands of bad faults prints:
the first 50 issues and a count of the rest.

    python benchmarks/validate_cost.py                  # 25 KB .. 400 KB
    python benchmarks/validate_cost.py --largest 1000000
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
from chaos.experiment.loader import parse_experiment
from chaos.experiment.validate import validate_files

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


def measure(text: str, source: Path) -> tuple[float, float]:
    """CPU seconds to parse alone, and to validate (parse, models, checks; a valid file)."""
    start = time.process_time()
    yamldoc.parse_yaml(text, source)
    parsed = time.process_time()
    parse_experiment(text, source)
    return parsed - start, time.process_time() - parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smallest", type=int, default=25_000)
    parser.add_argument("--largest", type=int, default=400_000)
    args = parser.parse_args()
    sizes = []
    size = args.smallest
    while size <= args.largest:
        sizes.append(size)
        size *= 2
    print(f"load average {os.getloadavg()[0]:.1f}; CPU seconds of this process")
    print("faults | kind | bytes | parse s | validate s | µs/byte | per byte vs smallest")
    print("--- | --- | --- | --- | --- | --- | ---")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "generated.yaml"
        measure(schedule("outages", 1000)[0], source)  # imports and caches, once
        for kind in ROWS:
            first = None
            for size in sizes:
                text, faults = schedule(kind, size)
                parse_s, check_s = measure(text, source)
                per_byte = check_s / len(text) * 1e6
                first = first or per_byte
                worst = max(worst, per_byte)
                print(f"{faults} | {kind} | {len(text):,} | {parse_s:.2f} | {check_s:.2f} | "
                      f"{per_byte:.1f} | {per_byte / first:.2f}")  # fmt: skip
        print(f"10 MB (extrapolated at {worst:.1f} µs/byte) | | 10,000,000 | | | | "
              f"{worst * 10:.0f} s in all")  # fmt: skip
        limit = yamldoc.MAX_BYTES
        print(f"\nfile limit: {limit:,} bytes: at most {worst * limit / 1e6:.0f} s here")
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
