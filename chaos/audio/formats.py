"""Which splitter reads a progressive body: by its ``Content-Type``, else by its first bytes.

Streaming servers label their mounts (Icecast always does), but a relay or a misconfigured
origin may send ``application/octet-stream``; a player then sniffs, and so does this.
"""

from __future__ import annotations

from chaos.audio.coded import Splitter, StreamFormatError
from chaos.audio.mpeg import FrameSplitter, adts_header, id3_length, mpeg_header
from chaos.audio.ogg import OggSplitter
from chaos.audio.rawpcm import PcmSplitter, l16_info

MPEG = frozenset({"audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg", "audio/mpa"})
ADTS = frozenset({"audio/aac", "audio/aacp", "audio/x-aac", "audio/x-hx-aac-adts"})
OGG = frozenset({"application/ogg", "audio/ogg", "audio/opus", "audio/vorbis", "audio/x-ogg"})
WAV = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})
#: Bytes looked at to sniff an unlabelled stream.
SNIFF_BYTES = 4096


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """``audio/L16; rate=8000`` → (``audio/l16``, {``rate``: ``8000``})."""
    kind, *params = content_type.split(";")
    parameters = {}
    for param in params:
        key, _, value = param.partition("=")
        parameters[key.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), parameters


def splitter_for(content_type: str) -> Splitter | None:
    """The splitter for a labelled stream, or None when the label says nothing we know."""
    kind, parameters = media_type(content_type)
    if kind in MPEG:
        return FrameSplitter()
    if kind in ADTS:
        return FrameSplitter(adts=True)
    if kind in OGG:
        return OggSplitter()
    if kind in WAV:
        return PcmSplitter()
    if kind == "audio/l16":
        return PcmSplitter(l16_info(parameters))
    return None


def sniff(head: bytes) -> Splitter | None:
    """The splitter for a stream starting with ``head``; None: not sure yet (send more), and
    ``StreamFormatError`` once ``SNIFF_BYTES`` say nothing we can play."""
    if head.startswith(b"OggS"):
        return OggSplitter()
    if head.startswith(b"RIFF"):
        return PcmSplitter()
    if len(head) >= 10 and id3_length(head, 0) is not None:
        return FrameSplitter()  # ID3v2 leads MP3 files; the splitter skips the tag
    for pos in range(len(head) - 9):
        for adts, parse in ((True, adts_header), (False, mpeg_header)):
            header = parse(head, pos)
            if header is None:
                continue
            follower = pos + header.length
            if follower + 9 <= len(head) and parse(head, follower) is not None:
                return FrameSplitter(adts=adts)
    if len(head) >= SNIFF_BYTES:
        raise StreamFormatError(
            f"the stream's first {SNIFF_BYTES} bytes are not MPEG audio, AAC, Ogg or WAV"
        )
    return None
