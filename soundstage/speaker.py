"""Speaker simulator: a host talking into a room, in real time, over UDP.

It does what a host's app does at launch: create the room (or find it by name) and go live
through the api, then send one speech-like 20 ms frame every 20 ms to the origin's ingest
(RTP-like: sequence number, capture timestamp). With ``--echo-gain`` it also models a second
device in the room: it joins as a listener and feeds what it hears, ``--echo-delay-ms`` later
and scaled by the gain (at ``--echo-resonance-hz``, if given), back into the microphone. Gain
≥ 1 is runaway feedback. The echo device can also be switched at run time, which is how a
chaos harness injects feedback: ``POST /echo {"gain": 1.2, "delay_ms": 200,
"resonance_hz": 1000, "lease_s": 30}`` on the metrics port (gain 0 takes the device away; with
a lease it leaves by itself unless the request is repeated in time; ``GET /echo`` reads).

    python -m soundstage.speaker --api 127.0.0.1:8080 --ingest 127.0.0.1:5004 --room-name main
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from soundstage import codec, service
from soundstage.echo import EchoPath
from soundstage.frames import FRAME_US, Flags, Frame, PayloadType
from soundstage.listener import join, listen
from soundstage.origin import CODECS
from soundstage.voice import Voice

MAX_BEHIND_TICKS = 5


@dataclass(slots=True)
class SpeakerConfig:
    api: str = "127.0.0.1:0"
    ingest: tuple[str, int] = ("127.0.0.1", 0)
    room_name: str = "main"
    speaker_id: int = 1
    codec: PayloadType = PayloadType.PCMU_8K
    seed: int = 0
    level_dbfs: float = -20.0
    echo_gain: float = 0.0
    echo_delay_ms: float = 200.0
    echo_resonance_hz: float | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0


@dataclass(slots=True)
class SpeakerStats:
    frames: int = 0
    bytes: int = 0
    send_errors: int = 0
    ticks_skipped: int = 0
    echo_frames: int = 0
    level_dbfs: float = -120.0
    room: int = 0


class Speaker:
    def __init__(self, config: SpeakerConfig, registry: CollectorRegistry, log: logging.Logger):
        self.config = config
        self.log = log
        self.stats = SpeakerStats()
        self.voice = Voice(config.seed or config.speaker_id, config.level_dbfs)
        self.echo: EchoPath | None = None
        self._echo_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stop: asyncio.Event | None = None
        self._echo_expires: float | None = None
        """Monotonic time the echo device leaves unless its lease is renewed (None: never)."""
        self.set_echo(config.echo_gain, config.echo_delay_ms, config.echo_resonance_hz)
        self.live = False
        registry.register(_SpeakerCollector(self))
        self.registry = registry

    def health(self) -> dict[str, object]:
        return {"status": "ok", "room": self.stats.room, "live": self.live}

    def set_echo(self, gain: float, delay_ms: float, resonance_hz: float | None) -> None:
        """Put the second device in the room (gain > 0), retune it, or take it away (0).

        Retuning starts a fresh path: what the old device had heard is not replayed."""
        self.echo = (
            EchoPath(gain, int(delay_ms * 1000), resonance_hz=resonance_hz) if gain > 0 else None
        )
        self.config.echo_gain, self.config.echo_delay_ms = gain, delay_ms
        self.config.echo_resonance_hz = resonance_hz
        if self.echo is None and self._echo_task is not None:
            self._echo_task.cancel()
            self._echo_task = None
        self._start_echo_device()

    def _start_echo_device(self) -> None:
        """The device joins once the speaker is live (it needs the room and a session)."""
        session, stop, room = self._session, self._stop, self.stats.room
        if self.echo is None or self._echo_task is not None or session is None or stop is None:
            return
        self._echo_task = asyncio.create_task(self.echo_loop(session, room, stop))

    def echo_control(self, request: dict[str, Any] | None) -> dict[str, Any]:
        """``/echo``: read (None) or change the echo device; ValueError for a bad request."""
        if request is not None:
            unknown = set(request) - {"gain", "delay_ms", "resonance_hz", "lease_s"}
            if unknown:
                raise ValueError(
                    f"unknown field(s) {sorted(unknown)}; use gain, delay_ms, resonance_hz, lease_s"
                )
            lease = _number(request, "lease_s", 0.0) if "lease_s" in request else None
            if lease is not None and lease <= 0:
                raise ValueError("lease_s must be > 0 (leave it out for no lease)")
            gain = _number(request, "gain", self.config.echo_gain)
            delay_ms = _number(request, "delay_ms", self.config.echo_delay_ms)
            resonance: float | None = self.config.echo_resonance_hz
            if "resonance_hz" in request:
                resonance = (
                    None
                    if request["resonance_hz"] is None
                    else _number(request, "resonance_hz", 0.0)
                )
            if gain < 0 or delay_ms < 0:
                raise ValueError("gain and delay_ms must be >= 0")
            EchoPath(gain, int(delay_ms * 1000), resonance_hz=resonance)  # validates, or raises
            c = self.config
            if (gain, delay_ms, resonance) != (c.echo_gain, c.echo_delay_ms, c.echo_resonance_hz):
                self.set_echo(gain, delay_ms, resonance)  # a renewal alone keeps the loop as is
            self._echo_expires = None if lease is None else time.monotonic() + lease
        remaining = None if self._echo_expires is None else self._echo_expires - time.monotonic()
        return {
            "gain": self.config.echo_gain,
            "delay_ms": self.config.echo_delay_ms,
            "resonance_hz": self.config.echo_resonance_hz,
            "active": self._echo_task is not None,
            "lease_remaining_s": None if remaining is None else max(0.0, remaining),
        }

    def expire_echo(self, now: float) -> bool:
        """Take the echo device away if its lease ran out (the harness that set it is gone, so
        the fault must end by itself); whether it did."""
        if self._echo_expires is None or now < self._echo_expires:
            return False
        self._echo_expires = None
        self.log.warning("echo lease expired: the echo device leaves the room")
        self.set_echo(0.0, self.config.echo_delay_ms, self.config.echo_resonance_hz)
        return True

    async def go_live(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> int | None:
        """Create-or-find the room and go live; retries until the api answers or ``stop``."""
        base = f"http://{self.config.api}"
        delay = 0.05
        while not stop.is_set():
            try:
                async with session.post(f"{base}/rooms", json={"name": self.config.room_name}) as r:
                    r.raise_for_status()
                    room = int((await r.json())["id"])
                async with session.post(f"{base}/rooms/{room}/live") as r:
                    r.raise_for_status()
                return room
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.log.info("api not ready (%s); retrying in %.2fs", exc, delay)
                await service.sleep_or_stop(stop, delay)
                delay = min(1.0, delay * 2)
        return None

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            room = await self.go_live(session, stop)
            if room is None:
                return
            self.stats.room = room
            self.live = True
            self.log.info("live in room %d (%s)", room, self.config.room_name)
            self._session, self._stop = session, stop
            self._start_echo_device()
            try:
                await self.send_loop(room, stop)
            finally:
                if self._echo_task is not None:
                    self._echo_task.cancel()
                    await asyncio.gather(self._echo_task, return_exceptions=True)
                self._session = self._stop = self._echo_task = None

    async def echo_loop(
        self, session: aiohttp.ClientSession, room: int, stop: asyncio.Event
    ) -> None:
        """The second device: a listener in the room whose output reaches the microphone."""

        def heard(frame: Frame, _at: float) -> None:
            echo = self.echo  # retuned at run time: hear into the current path
            if echo is None:
                return
            self.stats.echo_frames += 1
            samples = codec.decode(frame.payload_type, frame.payload)
            echo.hear(samples, time.time_ns() // 1000)

        while not stop.is_set():
            try:
                joined = await join(session, self.config.api, room)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.log.info("echo device cannot join yet: %s", exc)
            else:
                result = await listen(joined.stream_url, stop=stop, on_frame=heard)
                self.log.info("echo device stream ended: %s", result.error)
            await service.sleep_or_stop(stop, 0.5)

    async def send_loop(self, room: int, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=cfg.ingest
        )
        period = FRAME_US / 1e6
        next_tick = loop.time()
        sequence = 0
        try:
            while not stop.is_set():
                capture_us = time.time_ns() // 1000
                self.expire_echo(time.monotonic())
                samples = self.voice.next_frame()
                echo = self.echo
                if echo is not None:
                    mic = samples.astype(np.int32) + echo.take(samples.size, capture_us)
                    samples = np.clip(mic, -32768, 32767).astype(np.int16)
                self.stats.level_dbfs = codec.level_dbfs(samples)
                frame = Frame(
                    room=room,
                    source=cfg.speaker_id,
                    sequence=sequence,
                    capture_us=capture_us,
                    payload_type=cfg.codec,
                    payload=codec.encode(cfg.codec, samples),
                    flags=Flags.DISCONTINUITY if sequence == 0 else Flags.NONE,
                )
                data = frame.encode()
                try:
                    transport.sendto(data)
                    self.stats.frames += 1
                    self.stats.bytes += len(data)
                except OSError:
                    self.stats.send_errors += 1
                sequence += 1
                next_tick += period
                delay = next_tick - loop.time()
                if delay < -MAX_BEHIND_TICKS * period:
                    # Starved (paused, CPU-saturated): audio not captured is gone; carry on live
                    # rather than bursting stale frames at the origin.
                    skipped = int(-delay / period)
                    self.stats.ticks_skipped += skipped
                    next_tick += skipped * period
                    delay += skipped * period
                if delay > 0:
                    await service.sleep_or_stop(stop, delay)
        finally:
            transport.close()


def _number(request: dict[str, Any], name: str, default: float) -> float:
    value = request.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


class _SpeakerCollector(Collector):
    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self.speaker.stats
        prefix = "soundstage_speaker_"
        yield CounterMetricFamily(prefix + "frames_sent", "Frames sent to the origin.", s.frames)
        yield CounterMetricFamily(prefix + "bytes_sent", "Bytes sent to the origin.", s.bytes)
        yield CounterMetricFamily(
            prefix + "send_errors", "Datagrams the OS refused.", s.send_errors
        )
        yield CounterMetricFamily(
            prefix + "ticks_skipped",
            "Frames never captured: the sender was starved.",
            s.ticks_skipped,
        )
        yield CounterMetricFamily(
            prefix + "echo_frames_heard",
            "Frames the echo device played into the mic.",
            s.echo_frames,
        )
        yield GaugeMetricFamily(
            prefix + "mic_level_dbfs", "RMS level of the last frame sent, dBFS.", s.level_dbfs
        )
        yield GaugeMetricFamily(
            prefix + "echo_gain",
            "Loop gain of the echo path (0 = no echo device).",
            self.speaker.config.echo_gain,
        )


def parse_args(argv: list[str] | None = None) -> SpeakerConfig:
    parser = argparse.ArgumentParser(prog="soundstage.speaker", description=__doc__.split("\n")[0])
    parser.add_argument("--api", required=True, help="host:port of the api")
    parser.add_argument("--ingest", required=True, help="host:port of the origin's UDP ingest")
    parser.add_argument("--room-name", default="main")
    parser.add_argument("--speaker-id", type=int, default=1, help="source id in frames")
    parser.add_argument("--codec", choices=sorted(CODECS), default="pcmu")
    parser.add_argument("--seed", type=int, default=0, help="voice seed (default: speaker id)")
    parser.add_argument("--level", type=float, default=-20.0, help="voiced RMS level, dBFS")
    parser.add_argument("--echo-gain", type=float, default=0.0, help="echo path gain; 0 = off")
    parser.add_argument("--echo-delay-ms", type=float, default=200.0)
    parser.add_argument(
        "--echo-resonance-hz", type=float, default=None, help="echo path peak; default flat"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address the metrics port binds")
    parser.add_argument("--metrics-port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        service.parse_address(args.api)
        ingest = service.parse_address(args.ingest)
    except ValueError as exc:
        parser.error(str(exc))
    if args.echo_gain < 0 or args.echo_delay_ms < 0:
        parser.error("--echo-gain and --echo-delay-ms must be >= 0")
    return SpeakerConfig(
        api=args.api,
        ingest=ingest,
        room_name=args.room_name,
        speaker_id=args.speaker_id,
        codec=CODECS[args.codec],
        seed=args.seed,
        level_dbfs=args.level,
        echo_gain=args.echo_gain,
        echo_delay_ms=args.echo_delay_ms,
        echo_resonance_hz=args.echo_resonance_hz,
        metrics_host=args.host,
        metrics_port=args.metrics_port,
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    log = service.configure_logging(f"speaker-{config.speaker_id}")

    async def serve(stop: asyncio.Event) -> None:
        speaker = Speaker(config, service.new_registry(), log)
        server = await service.serve_metrics(
            config.metrics_host,
            config.metrics_port,
            speaker.registry,
            speaker.health,
            {"/echo": speaker.echo_control},
        )
        try:
            await speaker.run(stop)
        finally:
            server.close()
        log.info("stopped")

    service.run(serve)


if __name__ == "__main__":
    main()
