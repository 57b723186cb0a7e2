"""The feedback-loop fault: a host's second device near the microphone closes the loop.

Two ways to close it, both stack-agnostic (only HTTP and the speaker ingest are used):

- ``via: device``: the speaker's own echo device is switched on through its control endpoint
  (``POST {control_url}/echo {"gain", "delay_ms", "resonance_hz", "lease_s"}``, soundstage's
  speaker simulator), renewed at a third of the lease, and switched off (gain 0) when the
  fault ends; a harness that dies stops renewing, and the speaker ends the loop by itself.
- ``via: harness``: the harness is the second device. It listens to the room's stream, passes
  what it hears through an ``AcousticPath`` (delay, resonance, gain) and sends it to the speaker
  ingest every 20 ms as frames of its own source, as a phone's audio picked up by the host's
  microphone would reach the mix.

Either way the fault also *listens*: a monitor stream runs the howling detector, so the fault
measures what the loop did to listeners, including how long after the loop closed the room was
quiet again (the platform's suppression, if it has one). These are ``gameday_feedback_*``
metrics on the registry given. ``start`` and ``stop`` are the whole interface a runner needs;
``stop`` never raises and may be called more than once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from chaos.audio.ear import Ear
from chaos.audio.frames import AudioFrame, Flags, FrameFormatError, FrameReader, PayloadType
from chaos.audio.howl import HowlEnd, HowlOnset
from chaos.audio.pcm import decode, sample_rate
from chaos.audio.playout import Frame
from chaos.errors import InfrastructureError
from chaos.experiment.faults import Feedback
from chaos.faults.acoustic import AcousticPath
from chaos.stack.local import RunningStack

log = logging.getLogger(__name__)

RATE = 16000
FRAME_SAMPLES = 320
FRAME_SECONDS = 0.02
SOURCE_BASE = 60000
"""The harness's second device sends as source ``SOURCE_BASE + speaker number``."""
RETRY_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class FeedbackTarget:
    """Where the loop is closed, as the runner resolves it from the stack spec.

    ``stream_url``: a listener stream of the room (the monitor, and the harness's ear).
    ``control_url``: the speaker's control base URL (``via: device``).
    ``ingest``: the speaker ingest's UDP (host, port) (``via: harness``).
    ``speaker_number``: the speaker replica's number (``speaker-1`` → 1).
    """

    stream_url: str
    control_url: str | None = None
    ingest: tuple[str, int] | None = None
    speaker_number: int = 1
    monitored: bool = True
    """False when the room's stream is not the framed one the monitor reads (HLS on spaces):
    the listeners' ears judge the loop instead, and the monitor's metrics stay at 0."""


def target_in(
    stack: RunningStack,
    speaker: str,
    stream_path: str,
    *,
    component: str = "speaker",
    control_port: str = "metrics",
    listener_link: str = "listener->edge",
    ingest_link: str = "speaker->ingest",
    stream_format: str = "framed",
) -> FeedbackTarget:
    """Resolve a started stack's addresses for the fault on workload speaker ``speaker``
    (``speaker-N`` is replica N of ``component``). The monitor dials what listeners dial (the
    fault proxy when the link is proxied), so it hears what they hear."""
    _, _, suffix = speaker.rpartition("-")
    number = int(suffix) if suffix.isdigit() else 1
    replica = f"{component}-{number}" if f"{component}-{number}" in stack.addresses else component
    streams = stack.dialled.get(listener_link) or []
    if not streams:
        raise InfrastructureError(
            f"the stack has no {listener_link!r} link to listen on",
            where="stack",
            fix=f"declare the link {listener_link!r} in the stack spec",
        )
    control = stack.addresses.get(replica, {}).get(control_port)
    ingests = stack.dialled.get(ingest_link) or [""]
    host, _, port = ingests[0].rpartition(":")
    return FeedbackTarget(
        stream_url=f"http://{streams[0]}{stream_path}",
        control_url=None if control is None else f"http://{control}",
        ingest=(host, int(port)) if port.isdigit() else None,
        speaker_number=number,
        monitored=stream_format != "hls",
    )


@dataclass
class _Measure:
    """What the monitor heard since the loop closed, in wall-clock seconds."""

    closed_at: float | None = None
    opened_at: float | None = None
    howling_since: float | None = None
    last_howl_end: float | None = None
    howl_seconds: float = 0.0
    howls: int = 0

    def time_to_quiet(self, now: float) -> float:
        """From the loop closing until its howl was gone: grows while it howls (and the loop
        is closed), freezes when the howl ends; 0 while none was heard."""
        if self.closed_at is None:
            return 0.0
        if self.howling_since is not None:
            end = now if self.opened_at is None else min(now, self.opened_at)
            return max(0.0, end - self.closed_at)
        if self.last_howl_end is None:
            return 0.0
        return max(0.0, self.last_howl_end - self.closed_at)


class FeedbackLoop:
    def __init__(
        self,
        name: str,
        feedback: Feedback,
        target: FeedbackTarget,
        registry: CollectorRegistry | None = None,
        lease: float = 30.0,
    ) -> None:
        """``lease``: the speaker drops its echo device by itself this long after the last
        renewal (``via: device``), so the fault ends even if the harness is killed."""
        if feedback.via == "device" and target.control_url is None:
            raise InfrastructureError(
                f"feedback fault {name!r} needs the speaker's control endpoint",
                where=f"faults.{name}",
                fix="give the speaker a control URL in the stack, or use `via: harness`",
            )
        if feedback.via == "harness" and target.ingest is None:
            raise InfrastructureError(
                f"feedback fault {name!r} needs the speaker ingest address",
                where=f"faults.{name}",
                fix="declare the speaker->ingest link in the stack spec",
            )
        self.name = name
        self.feedback = feedback
        self.lease = lease
        self.target = target
        self.measure = _Measure()
        self._monitor = Ear(edge=name, batch_seconds=0.25)
        self._audio_origin: float | None = None
        self._path = AcousticPath(
            RATE, feedback.gain.fraction, feedback.delay.seconds, feedback.resonance_hz
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._room: int | None = None
        if registry is not None:
            registry.register(FeedbackCollector(self))

    @property
    def closed(self) -> bool:
        return self.measure.closed_at is not None and self.measure.opened_at is None

    async def start(self) -> None:
        """Close the loop; returns once it is closed (``InfrastructureError`` if it cannot)."""
        if self.target.monitored:
            self._tasks.append(asyncio.create_task(self._listen()))
        if self.feedback.via == "device":
            try:
                await self._set_echo(self.feedback.gain.fraction)
            except BaseException:
                await self._end_tasks()
                raise
            self._tasks.append(asyncio.create_task(self._renew()))
        else:
            self._tasks.append(asyncio.create_task(self._speak()))
        self.measure.closed_at = time.time()

    async def stop(self) -> None:
        """Open the loop and stop listening; problems are logged, never raised."""
        if self.measure.closed_at is not None and self.measure.opened_at is None:
            self.measure.opened_at = time.time()
        if self.feedback.via == "device" and self.measure.closed_at is not None:
            try:
                await self._set_echo(0.0)
            except InfrastructureError as exc:
                log.warning("feedback %s: could not switch the echo device off: %s", self.name, exc)
        await self._end_tasks()

    def summary(self) -> dict[str, Any]:
        """For the journal: what the loop did to the room."""
        now = time.time()
        return {
            "via": self.feedback.via,
            "howls": self.measure.howls,
            "howl_seconds": round(self.howl_seconds(now), 3),
            "time_to_quiet_seconds": round(self.measure.time_to_quiet(now), 3),
        }

    def howl_seconds(self, now: float) -> float:
        ongoing = 0.0 if self.measure.howling_since is None else now - self.measure.howling_since
        return self.measure.howl_seconds + max(0.0, ongoing)

    async def _end_tasks(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _renew(self) -> None:
        """Renew the echo device's lease at a third of its length while the loop is closed."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.lease / 3)
            if self._stop.is_set():
                return
            try:
                await self._set_echo(self.feedback.gain.fraction)
            except InfrastructureError as exc:
                log.warning("feedback %s: lease renewal failed: %s", self.name, exc)

    async def _set_echo(self, gain: float) -> None:
        assert self.target.control_url is not None
        url = self.target.control_url.rstrip("/") + "/echo"
        body: dict[str, float] = {
            "gain": gain,
            "delay_ms": self.feedback.delay.seconds * 1000,
            "resonance_hz": self.feedback.resonance_hz,
        }
        if gain > 0:
            body["lease_s"] = self.lease
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
                http.post(url, json=body) as response,
            ):
                if response.status == 404:
                    raise InfrastructureError(
                        f"{url} answered 404: the speaker has no echo control",
                        where=f"faults.{self.name}",
                        fix="use `via: harness`, which needs nothing from the speaker",
                    )
                if response.status != 200:
                    raise InfrastructureError(
                        f"{url} refused the echo setting ({response.status}: "
                        f"{(await response.text())[:200]})",
                        where=f"faults.{self.name}",
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfrastructureError(
                f"cannot reach the speaker's echo control at {url}: {exc or type(exc).__name__}",
                where=f"faults.{self.name}",
                fix="check that the speaker is running and its metrics port is reachable",
            ) from None

    # ------------------------------------------------------------------ the ear and the mouth

    async def _listen(self) -> None:
        """The monitor (and the harness's ear): stream the room, reconnecting until stopped."""
        while not self._stop.is_set():
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=5)) as http,
                    http.get(self.target.stream_url) as response,
                ):
                    if response.status == 200:
                        reader = FrameReader()
                        async for chunk in response.content.iter_any():
                            for frame in reader.feed(chunk):
                                self._heard(frame, time.time())
            except (aiohttp.ClientError, TimeoutError, FrameFormatError) as exc:
                log.info("feedback %s: stream %s: %s", self.name, self.target.stream_url, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RETRY_SECONDS)

    def _heard(self, frame: AudioFrame, now: float) -> None:
        self._room = frame.room
        if self._audio_origin is None:
            self._audio_origin = now - frame.duration
        seen = len(self._monitor.howl_events)
        self._monitor(Frame(frame.sequence, frame.duration, frame), frame.duration)
        for event in self._monitor.howl_events[seen:]:
            self._judge(event)
        if self.feedback.via == "harness" and self.closed:
            samples = decode(frame.payload_type, frame.payload).astype(np.float64)
            rate = sample_rate(frame.payload_type)
            if rate != RATE:  # upsample 8 kHz µ-law to the 16 kHz L16 the harness sends
                fine = np.arange(samples.size * RATE // rate) * rate / RATE
                samples = np.interp(fine, np.arange(samples.size), samples)
            self._path.hear(samples, now)

    def _judge(self, event: HowlOnset | HowlEnd) -> None:
        origin = self._audio_origin
        assert origin is not None
        m = self.measure
        if isinstance(event, HowlOnset):
            m.howls += 1
            m.howling_since = origin + event.at
        else:
            m.howl_seconds += event.seconds
            m.howling_since = None
            m.last_howl_end = origin + event.at

    async def _speak(self) -> None:
        """The harness's second device: 20 ms of what reaches the mic, every 20 ms."""
        assert self.target.ingest is not None
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=self.target.ingest
        )
        source = SOURCE_BASE + self.target.speaker_number
        sequence = 0
        next_tick = loop.time()
        try:
            while not self._stop.is_set():
                samples = self._path.take(FRAME_SAMPLES, time.time())
                if self._room is not None:
                    pcm = np.clip(np.round(samples), -32768, 32767).astype(">i2")
                    frame = AudioFrame(
                        room=self._room,
                        source=source,
                        sequence=sequence,
                        capture_us=time.time_ns() // 1000,
                        payload_type=PayloadType.L16_16K,
                        flags=Flags.DISCONTINUITY if sequence == 0 else Flags.NONE,
                        payload=pcm.tobytes(),
                    )
                    with contextlib.suppress(OSError):  # a full socket buffer drops a frame
                        transport.sendto(frame.encode())
                    sequence += 1
                next_tick = max(next_tick + FRAME_SECONDS, loop.time() - 5 * FRAME_SECONDS)
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
        finally:
            transport.close()


class FeedbackCollector(Collector):
    """``gameday_feedback_*``: what one feedback fault did to the room, labelled by fault."""

    def __init__(self, loop: FeedbackLoop) -> None:
        self.loop = loop

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        fault = [self.loop.name]
        closed = GaugeMetricFamily(
            "gameday_feedback_loop_closed", "1 while the fault's loop is closed.", labels=["fault"]
        )
        closed.add_metric(fault, 1.0 if self.loop.closed else 0.0)
        yield closed
        seconds = CounterMetricFamily(
            "gameday_feedback_howl_seconds",
            "Seconds of howling the fault's monitor listener heard.",
            labels=["fault"],
        )
        seconds.add_metric(fault, self.loop.howl_seconds(now))
        yield seconds
        howls = CounterMetricFamily(
            "gameday_feedback_howls", "Howls the fault's monitor heard.", labels=["fault"]
        )
        howls.add_metric(fault, self.loop.measure.howls)
        yield howls
        quiet = GaugeMetricFamily(
            "gameday_feedback_time_to_suppression_seconds",
            "From the loop closing until listeners no longer heard its howl (grows while it "
            "howls; 0 if it never did).",
            labels=["fault"],
        )
        quiet.add_metric(fault, self.loop.measure.time_to_quiet(now))
        yield quiet
