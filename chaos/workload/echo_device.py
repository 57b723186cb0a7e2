"""A WebRTC speaker's second device: a phone next to the host's microphone, playing the Space.

When the feedback fault switches it on (``POST /echo`` on the speaker's metrics port, the same
contract as soundstage's speaker simulator), the device plays the room's live HLS, what any
listener hears, seconds behind the mix, and the air carries it into the microphone through
an ``AcousticPath`` (delay, resonance, gain). The speaker adds what reaches the mic to its own
voice, so the loop closes through Janus's real mixer, ffmpeg's real packager and an nginx
edge: each trip round it is ``gain`` times louder where the path resonates, until it howls.

The device plays like a phone app: from the newest segment of the live playlist, each segment
in order as soon as it is fetched and the one before has played, reloading the playlist every
second. It goes quiet (and stops fetching) when switched off or when its lease runs out
without renewal, so a killed harness leaves no loop behind.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import av
import numpy as np
import numpy.typing as npt

from chaos.faults.acoustic import AcousticPath

log = logging.getLogger("gameday.speaker.echo")

RATE = 16000
CHUNK = 320
"""Played audio is handed to the air 20 ms at a time, each with the time it is played."""
RELOAD_SECONDS = 1.0
LOUDEST = 32768 * 10 ** (-9 / 20)
"""The loudest peak the device's loudspeaker plays into the mic (-9 dBFS): past it, the phone's
output limiter turns the chunk down (a gain, not a clip), so a loop at its limit rings as a
steady, pure tone instead of a square wave."""


class EchoSettingError(ValueError):
    """A ``POST /echo`` body the device cannot take (the message names the field)."""


@dataclass(frozen=True, slots=True)
class EchoSetting:
    gain: float
    delay_s: float = 0.05
    resonance_hz: float = 1000.0
    lease_s: float = 30.0

    @classmethod
    def parse(cls, body: object) -> EchoSetting:
        if not isinstance(body, dict):
            raise EchoSettingError("send a JSON object with gain, delay_ms, resonance_hz")
        try:
            setting = cls(
                gain=float(body.get("gain", 0.0)),
                delay_s=float(body.get("delay_ms", 50.0)) / 1000,
                resonance_hz=float(body.get("resonance_hz", 1000.0)),
                lease_s=float(body.get("lease_s", 30.0)),
            )
        except (TypeError, ValueError):
            raise EchoSettingError("gain, delay_ms, resonance_hz and lease_s are numbers") from None
        if setting.gain < 0 or setting.delay_s < 0 or setting.lease_s <= 0:
            raise EchoSettingError("gain and delay_ms must be >= 0, lease_s > 0")
        if not 100 <= setting.resonance_hz <= RATE / 2 - 100:
            raise EchoSettingError(f"resonance_hz must be within 100-{RATE // 2 - 100}")
        return setting


def decode_segment(data: bytes) -> npt.NDArray[np.float64]:
    """A media segment (TS/AAC as ffmpeg packages it, or any container PyAV reads) as 16 kHz
    mono samples in int16 scale."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    pieces: list[npt.NDArray[Any]] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                pieces.append(out.to_ndarray().reshape(-1))
    for out in resampler.resample(None):
        pieces.append(out.to_ndarray().reshape(-1))
    if not pieces:
        return np.zeros(0)
    return np.concatenate(pieces).astype(np.float64)


def media_uris(playlist: str) -> list[tuple[int, str]]:
    """(media sequence number, URI) of each segment of a live media playlist."""
    sequence = 0
    found: list[tuple[int, str]] = []
    for line in playlist.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line and not line.startswith("#"):
            found.append((sequence, line))
            sequence += 1
    return found


class EchoDevice:
    def __init__(self, playlist_url: str | None) -> None:
        self.playlist_url = playlist_url
        self.setting: EchoSetting | None = None
        self.lease_until = 0.0
        self.path: AcousticPath | None = None
        self.segments_played = 0
        self.fetch_errors = 0
        self.switched_on = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def on(self) -> bool:
        if self.setting is not None and time.monotonic() > self.lease_until:
            log.warning("echo device: lease ran out without renewal; switching off")
            self.off()
        return self.setting is not None

    def set(self, setting: EchoSetting) -> None:
        """Switch on (or renew, or change); gain 0 switches off."""
        if setting.gain <= 0:
            self.off()
            return
        if self.playlist_url is None:
            raise EchoSettingError("this speaker was started without --hear: it has no device")
        unchanged = self.setting is not None and (
            (setting.gain, setting.delay_s, setting.resonance_hz)
            == (self.setting.gain, self.setting.delay_s, self.setting.resonance_hz)
        )
        self.setting = setting
        self.lease_until = time.monotonic() + setting.lease_s
        if not unchanged:
            self.path = AcousticPath(RATE, setting.gain, setting.delay_s, setting.resonance_hz)
            self.switched_on += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._play())

    def off(self) -> None:
        self.setting = None
        self.path = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def take(self, count: int) -> npt.NDArray[np.float64] | None:
        """What reaches the microphone in the next ``count`` samples, or None while off."""
        if not self.on or self.path is None:
            return None
        out = self.path.take(count, time.time())
        peak = float(np.max(np.abs(out))) if out.size else 0.0
        return out * (LOUDEST / peak) if peak > LOUDEST else out

    async def _play(self) -> None:
        assert self.playlist_url is not None
        base = self.playlist_url.rsplit("/", 1)[0]
        last: int | None = None
        played_until = 0.0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while self.setting is not None:
                try:
                    async with http.get(self.playlist_url) as response:
                        response.raise_for_status()
                        segments = media_uris(await response.text())
                    fresh = [s for s in segments if last is None or s[0] > last]
                    if last is None:
                        fresh = fresh[-1:]
                    for sequence, uri in fresh:
                        url = uri if "://" in uri else f"{base}/{uri}"
                        async with http.get(url) as response:
                            response.raise_for_status()
                            samples = decode_segment(await response.read())
                        last = sequence
                        played_until = self._hear(samples, max(time.time(), played_until))
                        self.segments_played += 1
                except (aiohttp.ClientError, TimeoutError, av.error.FFmpegError, ValueError) as exc:
                    self.fetch_errors += 1
                    log.info("echo device: %s: %s", self.playlist_url, exc or type(exc).__name__)
                await asyncio.sleep(RELOAD_SECONDS)

    def _hear(self, samples: npt.NDArray[np.float64], start: float) -> float:
        """The device plays ``samples`` from ``start``; returns when it has played them."""
        path = self.path
        if path is None:
            return start
        for offset in range(0, samples.size, CHUNK):
            path.hear(samples[offset : offset + CHUNK], start + offset / RATE)
        return start + samples.size / RATE
