"""soundstage's framed stream as a probe's ``StreamDecoder``: frames with sequence numbers.

The edge sends one frame per HTTP chunk; ``ResponseParser`` has already de-chunked the body, so
this only reads frames (``chaos.audio.frames``) and numbers them for the playout model. Because
sequence numbers are known, a missing frame is concealed (not a stall), and late, duplicate and
reordered frames are told apart. Each playout frame carries its ``AudioFrame`` so a ``PcmTap``
can decode what was played for the howling detector.
"""

from __future__ import annotations

from collections.abc import Mapping

from chaos.audio.frames import AudioFrame, Flags, FrameFormatError, FrameReader, SequenceUnwrapper
from chaos.audio.playout import Frame
from chaos.workload.http import ProtocolError


class FramedDecoder:
    def __init__(self) -> None:
        self._reader = FrameReader()
        self._sequences = SequenceUnwrapper()

    def start(self, headers: Mapping[str, str]) -> None:
        """Nothing to configure: every frame says its own payload type and length."""

    def feed(self, data: bytes) -> list[Frame]:
        try:
            frames = self._reader.feed(data)
        except FrameFormatError as exc:
            raise ProtocolError(f"framed audio: {exc}") from None
        return [self._frame(f) for f in frames]

    def _frame(self, audio: AudioFrame) -> Frame:
        seq = self._sequences.unwrap(audio.sequence, bool(audio.flags & Flags.DISCONTINUITY))
        return Frame(seq, audio.duration, audio, audio.capture_us / 1e6)
