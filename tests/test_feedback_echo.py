"""soundstage's echo path with a resonance: the loop gain peaks at one frequency."""

from __future__ import annotations

import numpy as np
import pytest

from soundstage.echo import EchoPath


def gain_at(hz: float, echo: EchoPath) -> float:
    t = np.arange(16000) / 16000
    tone = (10000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    echo.hear(tone, arrival_us=0)
    out = echo.take(16000, now_us=10**9).astype(np.float64)[8000:]  # past the filter's start-up
    return float(np.sqrt(np.mean(out**2)) / np.sqrt(np.mean(tone[8000:].astype(np.float64) ** 2)))


def test_resonant_echo_has_its_gain_at_the_resonance_only() -> None:
    assert gain_at(1000, EchoPath(1.2, 0, resonance_hz=1000, q=20)) == pytest.approx(1.2, rel=0.03)
    assert gain_at(700, EchoPath(1.2, 0, resonance_hz=1000, q=20)) < 0.2
    assert gain_at(2000, EchoPath(1.2, 0, resonance_hz=1000, q=20)) < 0.2
    assert gain_at(700, EchoPath(1.2, 0)) == pytest.approx(1.2, rel=0.01)  # flat without one


@pytest.mark.parametrize(
    "kwargs", [{"resonance_hz": 10.0}, {"resonance_hz": 7900.0}, {"resonance_hz": 900.0, "q": 0}]
)
def test_echo_resonance_out_of_range_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="resonance"):
        EchoPath(1.0, 0, **kwargs)  # type: ignore[arg-type]


async def test_echo_control_endpoint_switches_the_echo_device_at_run_time() -> None:
    import json
    import logging
    import time

    import aiohttp

    from soundstage import service
    from soundstage.speaker import Speaker, SpeakerConfig

    speaker = Speaker(SpeakerConfig(), service.new_registry(), logging.getLogger("test"))
    server = await service.serve_metrics(
        "127.0.0.1", 0, speaker.registry, speaker.health, {"/echo": speaker.echo_control}
    )
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/echo"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as r:
                assert r.status == 200 and (await r.json())["gain"] == 0.0
            body = {"gain": 1.2, "delay_ms": 150, "resonance_hz": 900}
            async with http.post(url, data=json.dumps(body)) as r:
                state = await r.json()
                assert r.status == 200 and state["gain"] == 1.2 and state["resonance_hz"] == 900
            assert speaker.echo is not None and speaker.echo.delay_us == 150_000
            async with http.get(url.replace("/echo", "/metrics")) as r:
                assert "soundstage_speaker_echo_gain 1.2" in await r.text()
            for bad, needle in [
                ({"gain": "loud"}, "gain must be a number"),
                ({"gain": -1}, ">= 0"),
                ({"volume": 2}, "unknown field"),
                ({"resonance_hz": 20}, "resonance"),
            ]:
                async with http.post(url, data=json.dumps(bad)) as r:
                    assert r.status == 400 and needle in (await r.json())["error"]
            async with http.post(url, data=b"[1]") as r:
                assert r.status == 400 and "JSON object" in (await r.json())["error"]
            async with http.post(url, data=b"{nope") as r:
                assert r.status == 400
            # A lease: renewing with the same settings keeps the loop as it is; unrenewed, the
            # device leaves by itself (the harness that closed the loop may be dead).
            path = speaker.echo
            leased = {**body, "lease_s": 5}
            async with http.post(url, data=json.dumps(leased)) as r:
                assert 4 < (await r.json())["lease_remaining_s"] <= 5
            assert speaker.echo is path
            assert not speaker.expire_echo(time.monotonic())
            assert speaker.expire_echo(time.monotonic() + 6)
            assert speaker.echo is None and speaker.config.echo_gain == 0
            async with http.post(url, data=json.dumps({"gain": 1.2, "lease_s": 0})) as r:
                assert r.status == 400 and "lease_s" in (await r.json())["error"]
            async with http.post(url, data=json.dumps({"gain": 0})) as r:
                assert (await r.json())["active"] is False
            assert speaker.echo is None
    finally:
        server.close()
        await server.wait_closed()
