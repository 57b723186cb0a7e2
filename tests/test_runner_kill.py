"""Kill test: faults always end, whatever ends the harness (DESIGN.md, "Faults always end").

12 runs of `gameday run` on the tiny stack, each killed with SIGINT, SIGTERM or SIGKILL at a
random moment: after the launch (start-up, stack start, faults on) for half of them, after the
first fault was applied (faults on, their end, rollback) for the other half, so a slow start-up
on a busy machine cannot make every kill miss the faults. Against a fault proxy the test owns.
What is asserted is what each kill left, never how many moments fell inside a fault (that
depends on how fast the machine is).
After each:

- SIGINT/SIGTERM: a harness still importing dies of it (nothing started); otherwise it exits
  130 (or 0 if it had finished), zero toxics remain on the server as soon as it has exited (its
  ``finally`` rolled back), and the journal reads back, closed.
- SIGKILL: no ``finally`` runs; what is left is only the killed run's tagged toxics. On a
  server with leases they are gone within the lease (2 s here); on one without, the next run's
  start-up sweep (``Scope.any_run``, run here directly) or `gameday rollback --run-id`
  (alternately) removes them. Either way zero remain afterwards.
  The journal reads back (a torn last line is allowed).
- No process the run started survives it: the stack is tied to the harness (PDEATHSIG), so no
  process may hold a file of the run directory open.

`python benchmarks/killtest.py N` runs more.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_support import gameday, kill_once, tiny_experiment, toxics, wait_for_no_holders

from chaos.faults.client import ToxiproxyClient
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.report.journal import read_journal
from chaos.runner.rollback import Scope, rollback
from chaos.runner.run_tag import run_id_of

RUNS = 12
LEASE_S = 2
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


@pytest.fixture(scope="module")
def proxy() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(port=0) as server:
        yield server


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_runs_killed_at_random_moments_leave_nothing_behind(
    tmp_path: Path, proxy: EmbeddedToxiproxy
) -> None:
    rng = random.Random(20261124)
    experiment = tiny_experiment(tmp_path, length="2s", extra=f"rollback: {{lease: {LEASE_S}s}}")
    with ToxiproxyClient(proxy.url) as client:
        leased = client.server_info().supports("leases")
    for n in range(RUNS):
        sig = SIGNALS[n % len(SIGNALS)]
        after_fault = n % 2 == 0
        delay = rng.uniform(0.0, 3.0) if after_fault else rng.uniform(0.3, 4.0)
        code, run_dir = kill_once(
            tmp_path, proxy.url, sig, delay, experiment, after_first_fault=after_fault
        )
        what = f"run {n} ({sig.name} after {delay:.2f}s, exit {code})"
        journal = (
            read_journal(run_dir / "journal.jsonl")
            if (run_dir / "journal.jsonl").exists()
            else None
        )
        if sig is signal.SIGKILL:
            left = toxics(proxy.url)
            run_id = journal.run_id if journal is not None else None
            assert all(run_id_of(name) == run_id for name in left), (what, left)
            if leased:  # gone once the lease ran out: waited for generously, not timed
                deadline = time.monotonic() + LEASE_S + 30
                while toxics(proxy.url) and time.monotonic() < deadline:
                    time.sleep(0.2)
            elif n % 2 and run_id is not None:
                done = gameday("rollback", "--run-id", run_id, "--toxiproxy", proxy.url)
                assert done.returncode == 0, done.stdout + done.stderr
            else:  # what the next run does first
                with ToxiproxyClient(proxy.url) as client:
                    client.run(rollback(client.api, Scope.any_run()))
        elif not run_dir.exists():
            # Killed while Python was still importing gameday: nothing was started yet.
            assert code in (-sig, 130), what
        else:
            assert code in (0, 130), what
            if journal is not None:
                assert journal.closed, what
                verdict = next(journal.of_kind("verdict"))["verdict"]
                assert verdict in ("interrupted", "pass"), what
                if after_fault and code == 130:  # killed after kill_once saw a fault on
                    assert any(journal.of_kind("fault.start")), what
        assert toxics(proxy.url) == [], what
        assert wait_for_no_holders(run_dir, timeout=60) == [], f"{what}: processes outlived it"
