"""Against soundstage (the reference stack, as local processes): storms and a slow edge link.

Every probe reads the framed stream with the harness's own decoder: a 500-listener storm must
record a time to first audio for each, and a bandwidth toxic on ``listener->edge`` must show up
as stalls that were not there before it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from soundstage_support import live_room, running, soundstage_spec

from chaos.faults.client.aio import AsyncToxiproxyClient
from chaos.faults.client.models import BandwidthAttributes
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.stats import ListenerStats
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
            duration=20.0,  # on a busy machine the last of 500 joins may take several seconds
            sample=LISTENERS,
        )
        result = await swarm.run()
    assert len(result.summaries) == LISTENERS
    missing = [
        s for s in result.summaries if not s["attempts"] or s["attempts"][0]["ttfa_seconds"] is None
    ]
    assert not missing, (result.stats, [s["attempts"] for s in missing[:3]])
    assert result.stats.joins_ok == LISTENERS
    assert sum(result.stats.ttfa_counts) == LISTENERS  # the histogram saw every one
    assert result.stats.played_seconds > LISTENERS * 4.0  # they kept hearing the room


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_bandwidth_toxic_on_listener_to_edge_makes_listeners_stall(tmp_path: Path) -> None:
    listeners = 20
    snapshots: list[ListenerStats] = []
    async with running(soundstage_spec(replicas={"edge": 1}), tmp_path) as (_, stack):
        room = await live_room(stack.addresses["api"]["http"])
        with EmbeddedToxiproxy(port=0) as proxy_server:
            async with AsyncToxiproxyClient(proxy_server.url) as toxiproxy:
                link = await toxiproxy.create_proxy(
                    "listener->edge", stack.addresses["edge"]["http"]
                )
                config = ListenerConfig(
                    f"http://{link.listen}/stream/{room}",
                    stream=StreamFormat.FRAMED,
                    target_delay=0.2,
                )
                swarm = Swarm(
                    build_schedule([Storm(listeners)], 5),
                    config,
                    seed=5,
                    duration=12.0,
                    workers=1,
                    snapshot_interval=0.5,
                    on_snapshot=snapshots.append,
                )
                run = asyncio.create_task(swarm.run())
                while not snapshots or snapshots[-1].joins_ok < listeners:
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)
                before = snapshots[-1]
                # ~9.8 kB/s per listener (µ-law, headers, chunking) squeezed to 4 kB/s
                await toxiproxy.add_toxic(
                    "listener->edge", BandwidthAttributes(rate=4), name="thin"
                )
                await asyncio.sleep(4.0)
                during = snapshots[-1]
                result = await run
    # The squeeze's four seconds, against what came before it (nothing on a quiet machine; a
    # starved harness may itself play a listener dry now and then): every listener ran dry at
    # least once, and far more of the listening went dry than before.
    squeezed = (during.stall_seconds - before.stall_seconds) / (listeners * 4.0)
    assert during.stalls - before.stalls >= listeners
    assert squeezed > 0.1 and squeezed > 2 * before.stall_ratio(), (before, during)
    assert result.stats.freezes >= listeners
