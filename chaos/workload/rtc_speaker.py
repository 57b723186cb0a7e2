"""A WebRTC speaker: a host who asks the control plane to speak, joins a Janus AudioBridge room
over WebRTC (Opus) and talks, in real time, while it hears the room's mix.

What a platform's speaker app does at launch, measured from the speaker's side: the join time
(asking to speak → the PeerConnection is up), RTP packets sent, and what the room's receiver
reports back in RTCP receiver reports (packets lost, fraction lost, interarrival jitter, RTT),
plus what it hears of the mix. Media goes through the fault proxy in front of the server's
media ports (``chaos.workload.sdp``), so loss, jitter and rate toxics act on real
STUN/DTLS/RTP/RTCP. A lost session (the server restarted, the PeerConnection failed) is
joined again after a second. It serves ``gameday_speaker_*`` metrics and ``/healthz`` (200
while it is in the room) on its metrics port.

    python -m chaos.workload.rtc_speaker --api 127.0.0.1:8080 --janus 127.0.0.1:8088 \\
        --media 192.0.2.2:20000,192.0.2.2:20001 --media-via 127.0.0.1:41000,127.0.0.1:41001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
import numpy as np
import numpy.typing as npt
from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from chaos.audio.signals import speech
from chaos.workload.echo_device import EchoDevice, EchoSetting, EchoSettingError
from chaos.workload.janus import JanusError, JanusSession
from chaos.workload.sdp import SdpError, route_of, routed, without_candidates

log = logging.getLogger("gameday.speaker")

RATE = 16000
FRAME_SAMPLES = 320
FRAME_SECONDS = FRAME_SAMPLES / RATE
OPUS_CLOCK = 48000
"""RTCP jitter of an Opus stream is in units of its 48 kHz RTP clock."""
LOOP_SECONDS = 30.0
REJOIN_SECONDS = 1.0


BEEP_PERIOD = 10.0
BEEP_SECONDS = 1.0
"""``beeps``: the tone for the first second of every ten of the wall clock (``time.time()``), so
a listener who hears a beep's onset knows when it was said: end-to-end delay, measured."""


def beep_gate(wall: float, count: int) -> npt.NDArray[np.bool_]:
    """Which of ``count`` samples from wall time ``wall`` on fall inside a beep."""
    at = wall + np.arange(count) / RATE
    gate: npt.NDArray[np.bool_] = np.mod(at, BEEP_PERIOD) < BEEP_SECONDS
    return gate


def source_signal(kind: str, seed: int, level_dbfs: float, tone_hz: float) -> npt.NDArray[np.int16]:
    """What the speaker says, looped: speech-like audio, or a steady tone (a test's marker;
    ``beeps`` gate the tone by the wall clock)."""
    if kind in ("tone", "beeps"):
        time_axis = np.arange(int(LOOP_SECONDS * RATE)) / RATE
        amplitude = np.sqrt(2) * 32768 * 10 ** (level_dbfs / 20)
        samples = amplitude * np.sin(2 * np.pi * tone_hz * time_axis)
    elif kind == "silence":
        samples = np.zeros(int(LOOP_SECONDS * RATE))
    else:
        samples = speech(LOOP_SECONDS, RATE, seed, level_dbfs)
    pcm: npt.NDArray[np.int16] = np.clip(np.round(samples), -32768, 32767).astype(np.int16)
    return pcm


@dataclass
class SpeakerStats:
    joins: int = 0
    join_failures: int = 0
    join_seconds: float | None = None
    in_room_since: float | None = None
    packets_sent: int = 0
    packets_lost: int = 0
    fraction_lost: float = 0.0
    jitter_seconds: float = 0.0
    rtt_seconds: float | None = None
    heard_packets: int = 0
    heard_lost: int = 0
    heard_frames: int = 0
    heard_level_dbfs: float = -120.0
    last_error: str = ""
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SpeakerConfig:
    name: str
    api: str
    janus: str
    media: list[str]
    media_via: list[str]
    signal: str = "speech"
    tone_hz: float = 1000.0
    level_dbfs: float = -20.0
    seed: int = 1
    host: str = "127.0.0.1"
    metrics_port: int = 0
    hear: str | None = None
    """The room's live HLS playlist URL the speaker's second device plays (the echo)."""


class Speaker:
    def __init__(self, config: SpeakerConfig) -> None:
        self.config = config
        self.stats = SpeakerStats()
        self.route = route_of(config.media, config.media_via)
        self.samples = source_signal(config.signal, config.seed, config.level_dbfs, config.tone_hz)
        self.echo = EchoDevice(config.hear)

    @property
    def in_room(self) -> bool:
        return self.stats.in_room_since is not None

    def _failed(self, reason: str, detail: str) -> None:
        self.stats.join_failures += 1
        self.stats.errors[reason] = self.stats.errors.get(reason, 0) + 1
        self.stats.last_error = detail
        log.warning("%s: %s: %s", self.config.name, reason, detail)

    async def run(self, stop: asyncio.Event) -> None:
        """Join, talk until the session is lost, join again; until ``stop``."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            while not stop.is_set():
                try:
                    await self._session(http, stop)
                except (JanusError, SdpError, aiohttp.ClientError, TimeoutError) as exc:
                    reason = type(exc).__name__
                    self._failed(reason, str(exc) or reason)
                self.stats.in_room_since = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), REJOIN_SECONDS)

    async def _admit(self, http: aiohttp.ClientSession) -> int:
        url = f"http://{self.config.api}/speak"
        async with http.post(url, json={"speaker": self.config.name}) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            if response.status != 200:
                raise JanusError(f"{url} refused the speaker: {response.status} {body}")
        return int(body["room"])

    async def _session(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        began = time.monotonic()
        room = await self._admit(http)
        janus = JanusSession(http, f"http://{self.config.janus}/janus")
        pc = RTCPeerConnection()
        tasks: list[asyncio.Task[None]] = []
        try:
            await janus.create()
            handle = await janus.attach("janus.plugin.audiobridge")
            pc.addTrack(VoiceTrack(self.samples, self.echo, beeps=self.config.signal == "beeps"))

            @pc.on("track")
            def heard(track: Any) -> None:
                tasks.append(asyncio.create_task(self._hear(track)))

            await pc.setLocalDescription(await pc.createOffer())
            offer = {"type": "offer", "sdp": without_candidates(pc.localDescription.sdp)}
            data, answer = await janus.message(
                handle,
                {"request": "join", "room": room, "display": self.config.name, "muted": False},
                offer,
            )
            if answer is None:
                raise JanusError(f"join answered without SDP: {data}")
            await pc.setRemoteDescription(
                RTCSessionDescription(routed(answer["sdp"], self.route), "answer")
            )
            await self._connected(pc, 15.0)
            self.stats.joins += 1
            self.stats.join_seconds = time.monotonic() - began
            self.stats.in_room_since = time.time()
            log.info("%s in room %s after %.2fs", self.config.name, room, self.stats.join_seconds)
            while not stop.is_set() and not janus.lost.is_set():
                if pc.connectionState in ("failed", "closed"):
                    raise JanusError(f"PeerConnection {pc.connectionState}")
                await self._read_stats(pc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
            if janus.lost.is_set():
                raise JanusError("Janus session lost")
        finally:
            for task in tasks:
                task.cancel()
            await pc.close()
            await janus.destroy()

    @staticmethod
    async def _connected(pc: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while pc.connectionState != "connected":
            if pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
                raise JanusError(f"PeerConnection {pc.connectionState} after {timeout:g}s")
            await asyncio.sleep(0.05)

    async def _read_stats(self, pc: Any) -> None:
        for report in (await pc.getStats()).values():
            if report.type == "outbound-rtp":
                self.stats.packets_sent = report.packetsSent
            elif report.type == "remote-inbound-rtp":
                self.stats.packets_lost = max(0, report.packetsLost)
                self.stats.fraction_lost = report.fractionLost / 256
                self.stats.jitter_seconds = report.jitter / OPUS_CLOCK
                if report.roundTripTime is not None:
                    self.stats.rtt_seconds = report.roundTripTime
            elif report.type == "inbound-rtp":
                self.stats.heard_packets = report.packetsReceived
                self.stats.heard_lost = max(0, report.packetsLost)

    async def _hear(self, track: Any) -> None:
        """Play out what the room sends back (the mix without this speaker), measuring it."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                pcm = frame.to_ndarray().astype(np.float64)
                rms = float(np.sqrt(np.mean(pcm**2))) if pcm.size else 0.0
                self.stats.heard_frames += 1
                self.stats.heard_level_dbfs = 20 * np.log10(max(rms, 1e-6) / 32768)


class VoiceTrack(MediaStreamTrack):
    """20 ms frames of 16 kHz mono from a looped signal, paced in real time (aiortc's Opus
    encoder resamples to 48 kHz), plus whatever the echo device puts into the microphone."""

    kind = "audio"

    def __init__(
        self, samples: npt.NDArray[np.int16], echo: EchoDevice | None = None, beeps: bool = False
    ) -> None:
        super().__init__()
        self.samples = samples
        self.echo = echo
        self.beeps = beeps
        self.frames = 0
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.started is None:
            self.started = time.monotonic()
        due = self.started + self.frames * FRAME_SECONDS
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        start = (self.frames * FRAME_SAMPLES) % self.samples.size
        chunk = np.take(self.samples, range(start, start + FRAME_SAMPLES), mode="wrap")
        if self.beeps:
            chunk = np.where(beep_gate(time.time(), FRAME_SAMPLES), chunk, 0).astype(np.int16)
        heard = None if self.echo is None else self.echo.take(FRAME_SAMPLES)
        if heard is not None:
            chunk = np.clip(np.round(chunk + heard), -32768, 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.frames * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        self.frames += 1
        return frame


class SpeakerCollector(Collector):
    """``gameday_speaker_*``: one speaker's view of its own media, labelled by speaker."""

    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker

    def collect(self) -> Iterator[Metric]:
        s = self.speaker.stats
        label = [self.speaker.config.name]

        def gauge(name: str, text: str, value: float) -> Metric:
            family = GaugeMetricFamily(f"gameday_speaker_{name}", text, labels=["speaker"])
            family.add_metric(label, value)
            return family

        def counter(name: str, text: str, value: float) -> Metric:
            family = CounterMetricFamily(f"gameday_speaker_{name}", text, labels=["speaker"])
            family.add_metric(label, value)
            return family

        yield gauge("in_room", "1 while the speaker's PeerConnection is up.", self.speaker.in_room)
        yield gauge(
            "join_seconds",
            "Last join: asking to speak until the PeerConnection was up.",
            s.join_seconds if s.join_seconds is not None else float("nan"),
        )
        yield counter("joins", "Joins that reached the room.", s.joins)
        yield counter("join_failures", "Joins or sessions that failed.", s.join_failures)
        yield counter("rtp_packets_sent", "RTP packets sent (this session).", s.packets_sent)
        yield gauge(
            "rtp_packets_lost",
            "Packets the room's receiver reported lost (RTCP, cumulative, this session).",
            s.packets_lost,
        )
        yield gauge(
            "rtcp_fraction_lost", "Fraction lost in the last RTCP report (0-1).", s.fraction_lost
        )
        yield gauge(
            "jitter_seconds", "Interarrival jitter the receiver reported.", s.jitter_seconds
        )
        yield gauge(
            "rtt_seconds",
            "Round-trip time from RTCP.",
            s.rtt_seconds if s.rtt_seconds is not None else float("nan"),
        )
        yield counter("heard_packets", "RTP packets of the room's mix received.", s.heard_packets)
        yield gauge("heard_packets_lost", "Packets of the mix lost on the way.", s.heard_lost)
        yield gauge("heard_level_dbfs", "RMS level of the last frame heard.", s.heard_level_dbfs)
        echo = self.speaker.echo
        yield gauge("echo_on", "1 while the second device plays the room into the mic.", echo.on)
        yield counter(
            "echo_segments_played", "HLS segments the second device played.", echo.segments_played
        )


def app(speaker: Speaker) -> web.Application:
    registry = CollectorRegistry()
    registry.register(SpeakerCollector(speaker))

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    async def health(_: web.Request) -> web.Response:
        if speaker.in_room:
            return web.json_response({"in_room": True})
        return web.json_response(
            {"in_room": False, "last_error": speaker.stats.last_error}, status=503
        )

    async def echo(request: web.Request) -> web.Response:
        """The second device (the feedback fault's `via: device`): {"gain", "delay_ms",
        "resonance_hz", "lease_s"}; gain 0 switches it off."""
        try:
            setting = EchoSetting.parse(await request.json())
            speaker.echo.set(setting)
        except ValueError as exc:  # EchoSettingError, or a body that is not JSON
            reason = str(exc) if isinstance(exc, EchoSettingError) else "send a JSON object"
            return web.json_response({"error": reason}, status=400)
        return web.json_response({"on": speaker.echo.on, "gain": setting.gain})

    application = web.Application()
    application.add_routes(
        [web.get("/metrics", metrics), web.get("/healthz", health), web.post("/echo", echo)]
    )
    return application


def parse_args(argv: list[str] | None = None) -> SpeakerConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default=None, help="display name (default speaker-ID)")
    parser.add_argument("--speaker-id", type=int, default=1)
    parser.add_argument("--api", required=True, help="host:port of the control plane")
    parser.add_argument("--janus", required=True, help="host:port of the Janus HTTP API")
    parser.add_argument("--media", required=True, help="Janus media addresses, comma-separated")
    parser.add_argument(
        "--media-via", required=True, help="what to send to instead, in the same order"
    )
    parser.add_argument(
        "--signal", choices=["speech", "tone", "beeps", "silence"], default="speech"
    )
    parser.add_argument("--tone-hz", type=float, default=1000.0)
    parser.add_argument("--level", type=float, default=-20.0, help="RMS level, dBFS")
    parser.add_argument("--host", default="127.0.0.1", help="address the metrics port binds")
    parser.add_argument("--metrics-port", type=int, default=0)
    parser.add_argument(
        "--hear",
        default=None,
        help="the room's HLS playlist URL (or edge addresses, comma-separated: the first is "
        "used with /live/mix.m3u8) the second device plays when the echo is switched on",
    )
    args = parser.parse_args(argv)
    hear = args.hear
    if hear and "://" not in hear:
        hear = f"http://{hear.split(',')[0]}/live/mix.m3u8"
    return SpeakerConfig(
        name=args.name or f"speaker-{args.speaker_id}",
        api=args.api,
        janus=args.janus,
        media=args.media.split(","),
        media_via=args.media_via.split(","),
        signal=args.signal,
        tone_hz=args.tone_hz,
        level_dbfs=args.level,
        seed=args.speaker_id,
        host=args.host,
        metrics_port=args.metrics_port,
        hear=hear,
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = parse_args(argv)
    speaker = Speaker(config)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(app(speaker))
        await runner.setup()
        await web.TCPSite(runner, config.host, config.metrics_port).start()
        try:
            await speaker.run(stop)
        finally:
            await runner.cleanup()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
