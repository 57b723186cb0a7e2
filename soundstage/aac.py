"""AAC-LC for the edges' HLS output: the mix's 16 kHz mono PCM in, ADTS frames out.

FFmpeg's native AAC encoder (PyAV's wheels ship it) runs once per room per edge, not per
listener, so its cost (about 1 % of a core per room) does not grow with the audience. Each ADTS
frame holds 1024 samples (64 ms at 16 kHz); the encoder's first frame is its priming delay,
which is why ``timestamps`` start one frame before the first sample fed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from av.audio.codeccontext import AudioCodecContext
from av.audio.frame import AudioFrame
from av.codec.context import CodecContext

RATE = 16_000
SAMPLES = 1024
"""Samples per AAC frame."""
FRAME_S = SAMPLES / RATE
_FREQUENCY_INDEX = {96000: 0, 88200: 1, 64000: 2, 48000: 3, 44100: 4, 32000: 5, 24000: 6,
                    22050: 7, 16000: 8, 12000: 9, 11025: 10, 8000: 11}  # fmt: skip


def adts_header(length: int, rate: int = RATE, channels: int = 1) -> bytes:
    """The 7-byte ADTS header (MPEG-4 AAC LC, no CRC) of a raw frame of ``length`` bytes."""
    total = length + 7
    index = _FREQUENCY_INDEX[rate]
    return bytes(
        (
            0xFF,
            0xF1,
            (1 << 6) | (index << 2) | (channels >> 2),
            ((channels & 3) << 6) | (total >> 11),
            (total >> 3) & 0xFF,
            ((total & 7) << 5) | 0x1F,
            0xFC,
        )
    )


class AacEncoder:
    """One stream's encoder: ``encode`` PCM as it comes, get whole ADTS frames and the media
    time (samples since the stream began; the first frame is -1024, the priming) of each."""

    def __init__(self, bitrate: int = 64_000) -> None:
        context: AudioCodecContext = CodecContext.create("aac", "w")
        context.sample_rate = RATE
        context.layout = "mono"
        context.format = "fltp"
        context.bit_rate = bitrate
        context.open()
        self._context = context
        self._held: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self._fed = 0

    def encode(self, samples: npt.NDArray[np.int16]) -> list[tuple[int, bytes]]:
        """``(timestamp, adts_frame)`` for every frame the encoder completed."""
        pcm = np.concatenate((self._held, samples.astype(np.float32) / 32768.0))
        whole = len(pcm) // SAMPLES * SAMPLES
        self._held = pcm[whole:]
        out: list[tuple[int, bytes]] = []
        for start in range(0, whole, SAMPLES):
            frame = AudioFrame.from_ndarray(
                pcm[start : start + SAMPLES].reshape(1, -1), format="fltp", layout="mono"
            )
            frame.sample_rate = RATE
            frame.pts = self._fed
            self._fed += SAMPLES
            out += self._packets(frame)
        return out

    def flush(self) -> list[tuple[int, bytes]]:
        """The frames still inside the encoder (the stream ends here; the encoder is spent)."""
        if len(self._held):
            pad = np.zeros(SAMPLES - len(self._held), dtype=np.int16)
            self._held, rest = np.zeros(0, dtype=np.float32), self._held
            out = self.encode(np.concatenate(((rest * 32768.0).astype(np.int16), pad)))
        else:
            out = []
        return out + self._packets(None)

    def _packets(self, frame: AudioFrame | None) -> list[tuple[int, bytes]]:
        packets = []
        for packet in self._context.encode(frame):
            data = bytes(packet)
            if data:
                pts = packet.pts if packet.pts is not None else 0
                packets.append((int(pts), adts_header(len(data)) + data))
        return packets
