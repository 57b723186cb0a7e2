"""The 2023 overload launch replayed on spaces, as launched, in `make test`: a join storm past
the control plane's admission (every listener asks `POST /join` first, as the spec says) with
the host's second device feeding the Space back into the microphone. It fails on both: joins
refused in step, listeners hear the howl. The fixed half of the pair is
`test_spaces_overload_2023_fixed.py` (a file of its own, so the two run side by side). About
a minute and a half, the stack's start included."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spaces_support import ROOT, last_sample, replay, slo_statuses

SEED = ROOT / "seeds" / "spaces-overload-launch-2023"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_as_launched_the_storm_meets_the_door_and_listeners_hear_the_howl(tmp_path: Path) -> None:
    done, journal = replay(SEED / "storm.fail.yaml", tmp_path / "run")
    out = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 1, out
    slos = slo_statuses(journal)
    assert slos["join-success"] == "fail", slos
    assert slos["edges-up"] == "pass" and slos["heard"] == "pass", slos
    # the ring stands out of the host's voice 30-50 s into the loop (the growth from the voice's
    # own 1 kHz content varies run to run), so 70 s of feedback: with 50 s, one run in a suite
    # heard the first howl only after the device was off, another none. How long listeners hear
    # it varies (1-15 s an episode); that they hear it does not
    longest = next(e for e in journal if e["kind"] == "slo" and e["name"] == "longest-howl")
    print(f"as launched, the longest howl a listener heard: {longest['value']} s")
    assert [e for e in journal if e["kind"] == "ear.howl"], "no listener heard the howl"
    # the guard only watches as launched: it heard the loop and muted no one
    assert last_sample(journal, "spaces_howl_guard_loops_total") >= 1, out
    assert last_sample(journal, "spaces_howl_guard_mutes_total") == 0
    # the door is the control plane's: it admitted 100 and refused the rest, who came back
    assert last_sample(journal, "spaces_api_listeners") == 100
    assert last_sample(journal, "spaces_api_joins_total", outcome="full") >= 32
    assert last_sample(journal, "gameday_listener_join_failures_total", reason="join_http_503")
