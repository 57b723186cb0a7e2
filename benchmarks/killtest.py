"""Kill test at scale: N runs of `gameday run` killed at random moments, and what they left.

The suite's test_runner_kill.py does 21; this does N (default 60) on the same tiny stack and
prints, per signal, how many runs were killed with faults on, the toxics left when the harness
had exited and one lease later, processes left behind, and the time from launch to exit.

    python benchmarks/killtest.py [N] [SEED]
"""

from __future__ import annotations

import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from runner_support import kill_once, tiny_experiment, toxics, wait_for_no_holders

from chaos.faults.client import ToxiproxyClient
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.report.journal import read_journal
from chaos.runner.rollback import Scope, rollback

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
LEASE_S = 2


def main(runs: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    rows: dict[str, dict[str, list[float]]] = {
        s.name: {
            "runs": [],
            "faults_on": [],
            "toxics_left": [],
            "after_lease": [],
            "orphans": [],
            "exit_s": [],
        }
        for s in SIGNALS
    }
    with tempfile.TemporaryDirectory() as tmp, EmbeddedToxiproxy(port=0) as proxy:
        where = Path(tmp)
        experiment = tiny_experiment(where, length="3s", extra=f"rollback: {{lease: {LEASE_S}s}}")
        for n in range(runs):
            sig = SIGNALS[n % len(SIGNALS)]
            after_fault = n % 2 == 0
            delay = rng.uniform(0.0, 4.0) if after_fault else rng.uniform(0.3, 5.0)
            began = time.monotonic()
            _, run_dir = kill_once(
                where, proxy.url, sig, delay, experiment, after_first_fault=after_fault
            )
            row = rows[sig.name]
            row["runs"].append(1)
            row["exit_s"].append(time.monotonic() - began)
            journal_path = run_dir / "journal.jsonl"
            journal = read_journal(journal_path) if journal_path.exists() else None
            row["faults_on"].append(
                float(journal is not None and any(journal.of_kind("fault.start")))
            )
            row["toxics_left"].append(float(len(toxics(proxy.url))))
            if row["toxics_left"][-1]:
                time.sleep(LEASE_S + 0.5)  # a lease-capable proxy drops them by itself
            row["after_lease"].append(float(len(toxics(proxy.url))))
            row["orphans"].append(float(len(wait_for_no_holders(run_dir))))
            with ToxiproxyClient(proxy.url) as client:  # the next run's start-up sweep
                client.run(rollback(client.api, Scope.any_run()))
    print(
        f"kill test: {runs} runs, tiny stack, killed 0.3-5 s after launch or 0-4 s after the "
        f"first fault (alternately; seed {seed})"
    )
    print(
        f"{'signal':<8} {'runs':>5} {'faults on':>10} {'toxics at exit':>15} "
        f"{'after a lease':>14} {'orphans':>8} {'launch→exit median s':>21}"
    )
    for name, row in rows.items():
        print(
            f"{name:<8} {len(row['runs']):>5} {int(sum(row['faults_on'])):>10} "
            f"{int(sum(row['toxics_left'])):>15} {int(sum(row['after_lease'])):>14} "
            f"{int(sum(row['orphans'])):>8} {statistics.median(row['exit_s']):>21.2f}"
        )
    print(
        f"SIGINT/SIGTERM must leave 0 toxics at exit; a SIGKILLed run's toxics must be gone "
        f"after its {LEASE_S} s lease (on a proxy with leases; else the next run's sweep "
        "removes them); orphans must be 0 everywhere."
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 60, int(sys.argv[2]) if len(sys.argv) > 2 else 1
    )
