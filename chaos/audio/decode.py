"""Coded packets to what an ear hears: mono 16-bit PCM at ``EAR_RATE``, with FFmpeg (PyAV).

Every format is decoded by FFmpeg's own decoders (PyAV's wheels ship them) and resampled to one
rate, so every detector sees one kind of signal whatever the stream carried: 16 kHz covers the
howling band (150 Hz - 7 kHz) and costs a third of 48 kHz to analyse. Raw PCM skips the
decoder, not the resampler. The media time an ear reports is what the decoder produced, at the
source rate, before resampling: the stream's real duration.

A decoder keeps its state across packets, as a player's does (AAC and Vorbis overlap each
frame with the previous one; a fresh decoder per packet would fade every frame in). A packet
the decoder refuses is counted as a decode error and skipped, as a player would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import av
import numpy as np
import numpy.typing as npt
from av.audio.codeccontext import AudioCodecContext
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.codec.context import CodecContext

from chaos.audio.coded import CodecInfo, CodedPacket

#: The rate every ear's detectors run at.
EAR_RATE = 16000

Pcm = npt.NDArray[np.int16]
EMPTY: Pcm = np.zeros(0, dtype=np.int16)


@dataclass(frozen=True, slots=True)
class Decoded:
    """What some packets decoded to: ``pcm`` (mono, ``EAR_RATE``), the media ``seconds`` the
    decoder produced, packets it refused, whether the decoder had to start afresh (the codec
    or its parameters changed: a reset a listener hears), and how often the stream lost its
    frame sync before these packets (bytes were missing or garbled)."""

    pcm: Pcm
    seconds: float
    errors: int = 0
    reset: bool = False
    lost: int = 0


class PacketDecoder:
    """One stream's decoder: feed its packets in order, get PCM."""

    def __init__(self) -> None:
        self._info: CodecInfo | None = None
        self._context: AudioCodecContext | None = None
        self._resampler: AudioResampler | None = None

    def decode(self, packets: list[CodedPacket]) -> Decoded:
        chunks: list[Pcm] = []
        seconds, errors, reset = 0.0, 0, False
        for packet in packets:
            if packet.codec != self._info:
                reset = reset or self._info is not None
                self._start(packet.codec)
            for frame in self._frames(packet):
                if frame is None:
                    errors += 1
                    continue
                seconds += frame.samples / frame.sample_rate
                chunks.extend(self._resample(frame))
        pcm = np.concatenate(chunks) if chunks else EMPTY
        return Decoded(pcm, seconds, errors, reset)

    def restart(self) -> None:
        """Forget the stream's state (a discontinuity: what follows does not continue it)."""
        self._info = self._context = self._resampler = None

    def _start(self, info: CodecInfo) -> None:
        self._info = info
        self._resampler = AudioResampler(format="s16", layout="mono", rate=EAR_RATE)
        if info.pcm is not None:
            self._context = None
            return
        context = cast(AudioCodecContext, CodecContext.create(info.codec, "r"))
        if info.extradata:
            context.extradata = info.extradata
        context.sample_rate = info.rate
        self._context = context

    def _frames(self, packet: CodedPacket) -> list[AudioFrame | None]:
        info = packet.codec
        if info.pcm is not None:
            return [_pcm_frame(packet.data, info)]
        assert self._context is not None
        if not packet.data:  # an empty packet would tell FFmpeg the stream has ended
            return [None]
        try:
            frames = self._context.decode(av.Packet(packet.data))
        except av.FFmpegError:
            return [None]
        return [f for f in frames if isinstance(f, AudioFrame)]

    def _resample(self, frame: AudioFrame) -> list[Pcm]:
        assert self._resampler is not None
        return [
            f.to_ndarray().reshape(-1).astype(np.int16, copy=False)
            for f in self._resampler.resample(frame)
        ]


def _pcm_frame(data: bytes, info: CodecInfo) -> AudioFrame:
    dtype = "<i2" if info.pcm == "s16le" else ">i2"
    usable = len(data) // (2 * info.channels) * 2 * info.channels
    samples = np.frombuffer(data[:usable], dtype=dtype).astype(np.int16).reshape(1, -1)
    frame = AudioFrame.from_ndarray(samples, format="s16", layout=_layout(info.channels))
    frame.sample_rate = info.rate
    return frame


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo" if channels == 2 else f"{channels}c"
