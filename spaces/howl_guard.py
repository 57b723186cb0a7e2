"""The spaces howl guard: a service of the stack that listens to the room's mix and mutes the
speaker whose microphone closed a feedback loop, through Janus's AudioBridge API.

It asks the room for an RTP forwarder of its own (as the control plane does for the packager),
decodes the Opus mix (PyAV) to 16 kHz and listens for two things. The loop itself
(``spaces.loop_detector``): a microphone that hears the Space puts the mix back into the mix one
trip late, so some band's envelope repeats itself at one lag; that is heard one to four trips
after the loop closes (the louder, the sooner), before it rings. And the howl (``MixDetector``):
a narrow peak with no partials that persists at one frequency with a steady or growing level,
where speech moves its pitch syllable by syllable and pauses, for a ring the loop detector
missed. It hears the mix before the packager does, so it acts seconds before any listener
could hear either.

When the mix loops or howls, the guard mutes the offenders (``mute`` on the room): the unmuted
participants Janus flags as talking (the room's audio-level events, from the speakers'
ssrc-audio-level RTP extension), or, when none is flagged, every unmuted one. It unmutes them
after ``hold_s``; a loop still closed is heard again and muted again. With ``--mode watch`` it
only detects and counts (the stack's guard switched off). It never touches the media path.

    python -m spaces.howl_guard --janus http://127.0.0.1:8088/janus --room 1234 \\
        --rtp 127.0.0.1:5004 --mode mute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
import numpy as np
import numpy.typing as npt
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from chaos.audio.howl import HowlConfig, HowlDetector, HowlOnset
from spaces.janus_api import AudioBridge, JanusUnavailable
from spaces.loop_detector import LoopDetector
from spaces.service import metrics_route, serve

log = logging.getLogger("spaces.howl_guard")

RATE = 16000
Floats = npt.NDArray[np.float64]


@dataclass
class MixDetector:
    """Sans-IO: ``feed`` 16 kHz samples of the mix; True from the analysis that finds a howl
    until the ring is gone.

    The decision is gameday's streaming howl detector (``chaos.audio.howl``: a narrow peak
    standing out from the spectrum, its would-be partials and its neighbours, persisting at one
    frequency with a steady or growing level, or held there for half a second), the published
    features a platform's guard would use. An earlier detector of the guard's own, stricter
    about neighbours and allowing one missed analysis, never fired on a ring growing under the
    host's voice and its echo (a loop's usual sound) until it was louder than both, seconds after
    listeners' ears heard it, and fired on speech 3 times in 8 minutes where this one did not."""

    config: HowlConfig = field(default_factory=HowlConfig)
    onsets: int = 0
    level_dbfs: float = -120.0

    def __post_init__(self) -> None:
        self._detector = HowlDetector(RATE, self.config)

    @property
    def howling(self) -> bool:
        return self._detector.howling

    def feed(self, samples: Floats) -> bool:
        for event in self._detector.feed(samples):
            if isinstance(event, HowlOnset):
                self.onsets += 1
                self.level_dbfs = event.level_dbfs
        return self.howling


def rtp_payload(packet: bytes) -> bytes | None:
    """The payload of an RTP packet (RFC 3550: CSRCs, extension and padding skipped)."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    count = packet[0] & 0x0F
    offset = 12 + 4 * count
    if packet[0] & 0x10:
        if len(packet) < offset + 4:
            return None
        (words,) = struct.unpack_from("!H", packet, offset + 2)
        offset += 4 + 4 * words
    end = len(packet)
    if packet[0] & 0x20 and end > offset:
        end -= packet[-1]
    return packet[offset:end] if end > offset else None


class OpusMix:
    """Opus RTP payloads of the mix → 16 kHz mono samples (int16 scale)."""

    def __init__(self) -> None:
        self.decoder = av.CodecContext.create("libopus", "r")
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)

    def decode(self, payload: bytes) -> Floats:
        pieces = []
        try:
            for frame in self.decoder.decode(av.Packet(payload)):  # type: ignore[attr-defined]
                for out in self.resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError:
            return np.zeros(0)
        return np.concatenate(pieces).astype(np.float64) if pieces else np.zeros(0)


@dataclass
class GuardStats:
    packets: int = 0
    loops: int = 0
    howls: int = 0
    mutes: int = 0
    unmutes: int = 0
    mute_errors: int = 0
    forwarding: bool = False
    howling: bool = False
    muted: dict[int, float] = field(default_factory=dict)
    """Participant id → when the guard unmutes it (monotonic)."""
    first_mute_after: float | None = None
    """Seconds from the last loop or howl heard in the mix to the guard's mute taking effect."""


class HowlGuard(asyncio.DatagramProtocol):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats = GuardStats()
        self.detector = MixDetector(HowlConfig(min_level_dbfs=args.min_level))
        self.loop = LoopDetector(RATE)
        self.mix = OpusMix()
        self.alarms: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        """When the mix looped or howled, and which."""

    def datagram_received(self, data: bytes, addr: Any) -> None:
        payload = rtp_payload(data)
        if payload is None:
            return
        self.stats.packets += 1
        samples = self.mix.decode(payload)
        if (loop := self.loop.feed(samples)) is not None:
            self.stats.loops += 1
            log.warning(
                "the mix repeats itself %.2f s late around %.0f Hz (r=%.2f): a feedback loop",
                loop.lag_s,
                loop.band_hz,
                loop.correlation,
            )
            self.alarms.put_nowait((time.monotonic(), "looped"))
        before = self.detector.onsets
        self.stats.howling = self.detector.feed(samples)
        if self.detector.onsets > before:
            self.stats.howls += 1
            log.warning("the mix howls at %.0f dBFS", self.detector.level_dbfs)
            self.alarms.put_nowait((time.monotonic(), "howled"))

    async def forward(self, bridge: AudioBridge, stop: asyncio.Event) -> None:
        """Keep an RTP forwarder of the room's mix pointed at the guard."""
        ticks = 0
        while not stop.is_set():
            try:
                if await bridge.forward_mix(self.args.room, self.args.rtp):
                    log.info("the room's mix is forwarded to the guard at %s", self.args.rtp)
                self.stats.forwarding = True
                ticks += 1
                if ticks % 20 == 0:
                    await bridge.keepalive()
            except JanusUnavailable as exc:
                if self.stats.forwarding:
                    log.warning("janus: %s", exc)
                self.stats.forwarding = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def act(self, bridge: AudioBridge, stop: asyncio.Event) -> None:
        """Mute the offenders of each loop or howl (mode mute); unmute them after the hold.
        The loop detector starts afresh at each mute: what it heard before is the past of a
        mix without the offender, and a loop still closed after the hold is heard anew (in
        mode watch it reports a loop once)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                onset, what = await asyncio.wait_for(self.alarms.get(), 0.5)
                if self.args.mode == "mute":
                    await self._mute_offenders(bridge, onset, what)
                    self.loop.reset()
            await self._release(bridge)

    async def _participants(self, bridge: AudioBridge) -> list[dict[str, Any]]:
        listed = await bridge.request({"request": "listparticipants", "room": self.args.room})
        return list(listed.get("participants", []))

    async def _mute_offenders(self, bridge: AudioBridge, onset: float, what: str) -> None:
        try:
            people = [p for p in await self._participants(bridge) if not p.get("muted")]
        except JanusUnavailable as exc:
            self.stats.mute_errors += 1
            log.warning("cannot list the room's participants: %s", exc)
            return
        talking = [p for p in people if p.get("talking")]
        for person in talking or people:
            try:
                await self._set_muted(bridge, int(person["id"]), True)
            except JanusUnavailable as exc:
                self.stats.mute_errors += 1
                log.warning("cannot mute %s: %s", person.get("display"), exc)
                continue
            self.stats.mutes += 1
            self.stats.muted[int(person["id"])] = time.monotonic() + self.args.hold
            self.stats.first_mute_after = time.monotonic() - onset
            log.warning(
                "muted %s (%s) for %.0f s: the mix %s",
                person.get("display"),
                "talking" if talking else "unmuted",
                self.args.hold,
                what,
            )

    async def _release(self, bridge: AudioBridge) -> None:
        now = time.monotonic()
        for participant, until in list(self.stats.muted.items()):
            if now < until:
                continue
            with contextlib.suppress(JanusUnavailable):  # gone from the room: forget it
                await self._set_muted(bridge, participant, False)
                self.stats.unmutes += 1
            del self.stats.muted[participant]

    async def _set_muted(self, bridge: AudioBridge, participant: int, muted: bool) -> None:
        await bridge.request(
            {"request": "mute" if muted else "unmute", "room": self.args.room, "id": participant}
        )


class GuardCollector(Collector):
    def __init__(self, guard: HowlGuard) -> None:
        self.guard = guard

    def collect(self) -> Iterator[Metric]:
        s = self.guard.stats
        mode = self.guard.args.mode
        yield GaugeMetricFamily(
            "spaces_howl_guard_acting",
            "1 when the guard mutes (mode mute), 0 when it only watches.",
            value=1.0 if mode == "mute" else 0.0,
        )
        yield GaugeMetricFamily(
            "spaces_howl_guard_forwarding",
            "1 while the room's mix is forwarded to the guard.",
            value=1.0 if s.forwarding else 0.0,
        )
        yield CounterMetricFamily(
            "spaces_howl_guard_mix_packets",
            "RTP packets of the mix the guard heard.",
            value=s.packets,
        )
        yield GaugeMetricFamily(
            "spaces_howl_guard_howling",
            "1 while the guard hears the mix howl.",
            value=1.0 if s.howling else 0.0,
        )
        yield CounterMetricFamily(
            "spaces_howl_guard_loops",
            "Feedback loops the guard heard in the mix (the mix repeating itself a trip late).",
            value=s.loops,
        )
        yield CounterMetricFamily(
            "spaces_howl_guard_howls", "Howls the guard heard in the mix.", value=s.howls
        )
        yield CounterMetricFamily(
            "spaces_howl_guard_mutes", "Speakers the guard muted.", value=s.mutes
        )
        yield CounterMetricFamily(
            "spaces_howl_guard_mute_errors",
            "Mutes Janus refused or did not answer.",
            value=s.mute_errors,
        )
        yield GaugeMetricFamily(
            "spaces_howl_guard_muted", "Speakers the guard holds muted now.", value=len(s.muted)
        )
        yield GaugeMetricFamily(
            "spaces_howl_guard_reaction_seconds",
            "From the last loop or howl the guard heard to its mute (NaN before any).",
            value=float("nan") if s.first_mute_after is None else s.first_mute_after,
        )


def application(guard: HowlGuard) -> web.Application:
    registry = CollectorRegistry()
    registry.register(GuardCollector(guard))

    async def health(_: web.Request) -> web.Response:
        body = {"forwarding": guard.stats.forwarding, "mode": guard.args.mode}
        return web.json_response(body, status=200 if guard.stats.forwarding else 503)

    app = web.Application()
    app.add_routes([web.get("/healthz", health), metrics_route(registry)])
    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="metrics and health")
    parser.add_argument("--janus", required=True, help="Janus API URL, e.g. http://H:P/janus")
    parser.add_argument("--room", type=int, default=1234)
    parser.add_argument("--rtp", required=True, help="host:port the guard hears the mix on")
    parser.add_argument(
        "--mode",
        choices=["mute", "watch", "off"],
        default="mute",
        help="mute offenders, or only watch (off = watch)",
    )
    parser.add_argument("--hold", type=float, default=10.0, help="seconds a speaker stays muted")
    parser.add_argument("--min-level", type=float, default=-50.0, help="dBFS a ring must reach")
    args = parser.parse_args(argv)
    if args.mode == "off":
        args.mode = "watch"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    guard = HowlGuard(args)

    async def background(stop: asyncio.Event) -> None:
        host, _, port = args.rtp.rpartition(":")
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: guard, local_addr=(host, int(port))
        )
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                bridge = AudioBridge(http, args.janus)
                acting = AudioBridge(http, args.janus)
                await asyncio.gather(guard.forward(bridge, stop), guard.act(acting, stop))
        finally:
            transport.close()

    serve(application(guard), args.host, args.port, background)


if __name__ == "__main__":
    main()
