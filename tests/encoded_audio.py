"""Test audio encoded by a real ffmpeg: numpy samples in, MP3/AAC/Opus/Vorbis/WAV bytes out.

Each format is what a streaming source would send: MP3 and ADTS AAC frames, Ogg pages (Opus,
and Vorbis in quality mode: VBR, no nominal bitrate), or a WAV header and PCM.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

#: name → (ffmpeg output options, Content-Type as Icecast labels the mount)
FORMATS: dict[str, tuple[list[str], str]] = {
    "mp3": (["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"], "audio/mpeg"),
    "aac": (["-c:a", "aac", "-b:a", "64k", "-f", "adts"], "audio/aac"),
    "opus": (["-c:a", "libopus", "-b:a", "48k", "-f", "ogg"], "audio/ogg"),
    "vorbis": (["-c:a", "libvorbis", "-q:a", "3", "-f", "ogg"], "audio/ogg"),
    "wav": (["-c:a", "pcm_s16le", "-f", "wav"], "audio/wav"),
}


def ffmpeg() -> str:
    binary = shutil.which("ffmpeg")
    if binary is None:
        pytest.skip("needs ffmpeg (Debian package; `make apt` as root installs it)")
    return binary


def encode(samples: npt.NDArray[np.int16], rate: int, fmt: str) -> bytes:
    """Encode mono 16-bit ``samples`` at ``rate`` as ``fmt`` (a key of ``FORMATS``)."""
    options, _ = FORMATS[fmt]
    result = subprocess.run(
        [ffmpeg(), "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1",
         "-i", "pipe:0", *options, "pipe:1"],
        input=samples.astype("<i2").tobytes(), capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return result.stdout


def write_wav_source(samples: npt.NDArray[np.int16], rate: int, path: Path) -> Path:
    """A WAV file ffmpeg can stream from (``-re -i path``)."""
    path.write_bytes(encode(samples, rate, "wav"))
    return path
