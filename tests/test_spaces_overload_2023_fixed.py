"""The 2023 overload launch on spaces, fixed, in `make test`: the same storm and the same
second device, with admission headroom, jittered backoff and the stack's howl guard muting.
The guard hears the loop itself (the mix repeating itself one HLS trip late) about a trip
after the device switches on and mutes the host before the ring builds, so no listener hears
a howl past the bound. The as-launched half is `test_spaces_overload_2023.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spaces_support import ROOT, last_sample, replay, slo_statuses

SEED = ROOT / "seeds" / "spaces-overload-launch-2023"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_with_headroom_backoff_and_the_howl_guard_it_passes(tmp_path: Path) -> None:
    done, journal = replay(SEED / "storm.pass.yaml", tmp_path / "run")
    out = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, out
    assert set(slo_statuses(journal).values()) == {"pass"}, slo_statuses(journal)
    assert last_sample(journal, "spaces_api_listeners") == 132
    # the guard acted on the loop, not only on a ring: it heard the mix repeat itself
    assert last_sample(journal, "spaces_howl_guard_loops_total") >= 1, out
    assert last_sample(journal, "spaces_howl_guard_mutes_total") >= 1
