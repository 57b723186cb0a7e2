"""Bad HLS input over real sockets: a 50 MB playlist, a playlist whose segment is itself, a
segment that never ends, a variant on another host. Every listener is a counted failure with
the case's reason, the swarm finishes (no hang, no crash), and no request leaves what the
playlists named (the other host sees no connection)."""

from __future__ import annotations

import asyncio

import pytest
from hls_hostile import CASES, LISTED, bad_input


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_bad_hls_input_is_a_counted_failure_of_its_reason_and_traffic_stays_put() -> None:
    results, hostile = asyncio.run(bad_input(10))
    for case, (_, reason) in CASES.items():
        attempts, failures, took = results[case]
        assert attempts >= 10 and failures == {reason: attempts}, (case, failures)
        assert took < 100, case  # ended by the limits, not by the test's timeout
    assert set(hostile.requests) <= LISTED
    assert "/endless.aac" in hostile.requests and "/big.m3u8" in hostile.requests
    assert hostile.foreign_connections == 0
