"""Against soundstage (the reference stack, as local processes): a 500-listener storm on an edge.

Every probe reads the framed stream with the harness's own decoder and must record a time to
first audio; the playout of those who joined is checked for continuity on a quiet machine's
terms (ratios, not timings).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from soundstage_support import live_room, running, soundstage_spec

from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm

LISTENERS = 500


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_storm_of_500_listeners_records_a_time_to_first_audio_for_each(
    tmp_path: Path,
) -> None:
    async with running(soundstage_spec(replicas={"edge": 1}), tmp_path) as (_, stack):
        room = await live_room(stack.addresses["api"]["http"])
        url = f"http://{stack.addresses['edge']['http']}/stream/{room}"
        config = ListenerConfig(url, stream=StreamFormat.FRAMED, target_delay=0.1)
        swarm = Swarm(
            build_schedule([Storm(LISTENERS, spread=0.5)], 11),
            config,
            seed=11,
            duration=10.0,
            sample=LISTENERS,
        )
        result = await swarm.run()
    assert len(result.summaries) == LISTENERS
    ttfas = [s["attempts"][0]["ttfa_seconds"] for s in result.summaries if s["attempts"]]
    missing = [
        s for s in result.summaries if not s["attempts"] or s["attempts"][0]["ttfa_seconds"] is None
    ]
    assert not missing, (result.stats, [s["attempts"] for s in missing[:3]])
    assert result.stats.joins_ok == LISTENERS
    assert sum(result.stats.ttfa_counts) == LISTENERS  # the histogram saw every one
    assert result.stats.played_seconds > LISTENERS * 4.0  # they kept hearing the room
