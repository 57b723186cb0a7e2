"""A real Icecast 2.4 on a free loopback port, fed by ffmpeg (reference §5).

``icecast()``: one 64 kb/s MP3 tone mount, for the workload tests and ``benchmarks/swarm.py``.
``icecast_server()`` + ``Source``: any mounts, each fed a file (a WAV the test made) encoded
by ffmpeg as MP3, AAC, Opus or Vorbis, at real time or faster (``readrate``). Icecast refuses
to run as root, so as root it runs as the packaged ``icecast2`` user through ``setpriv``; its
config and logs live in a temp dir. Sources are bounded (a file, or a duration) so nothing
outlives a run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MOUNT = "/tone.mp3"
BITRATE = 64_000

_CONFIG = """<icecast>
  <limits><clients>{clients}</clients><sources>{sources}</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>{burst}</burst-size></limits>
  <authentication><source-password>labsource</source-password><admin-user>admin</admin-user>
    <admin-password>labadmin</admin-password></authentication>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
{mounts}
  <paths><basedir>/usr/share/icecast2</basedir><webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot><logdir>{lab}</logdir>
    <pidfile>{lab}/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>2</loglevel>
  </logging>
  <security><chroot>0</chroot></security>
</icecast>
"""


class Unavailable(Exception):
    """Icecast or ffmpeg is not installed here; the message says how to get them."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: object, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout}s")


#: name → (ffmpeg encoder options, Content-Type); ffmpeg sends no bitrate to Icecast, so no
#: mount announces ``icy-br``.
ENCODINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "mp3": (("-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"), "audio/mpeg"),
    "aac": (("-c:a", "aac", "-b:a", "64k", "-f", "adts"), "audio/aac"),
    "opus": (("-c:a", "libopus", "-b:a", "48k", "-f", "ogg"), "audio/ogg"),
    "vorbis": (("-c:a", "libvorbis", "-q:a", "4", "-f", "ogg"), "audio/ogg"),  # VBR
}


@dataclass(frozen=True)
class Source:
    """An ffmpeg source client: ``path`` (any file ffmpeg reads) encoded as ``encoding``,
    sent ``readrate`` times faster than real time."""

    mount: str
    path: Path
    encoding: str
    readrate: float = 1.0


class Lab:
    def __init__(self, port: int, ffmpeg: str) -> None:
        self.port = port
        self._ffmpeg = ffmpeg
        self.sources: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, mount: str) -> str:
        return f"http://127.0.0.1:{self.port}{mount}"

    def start(self, source: Source, wait: bool = True) -> subprocess.Popen[bytes]:
        """Start feeding ``source.mount``; with ``wait``, return once it serves audio."""
        options, content_type = ENCODINGS[source.encoding]
        proc = subprocess.Popen(
            [self._ffmpeg, "-nostdin", "-loglevel", "error", "-readrate", str(source.readrate),
             "-i", str(source.path), "-ac", "1", *options, "-content_type", content_type,
             f"icecast://source:labsource@127.0.0.1:{self.port}{source.mount}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.sources[source.mount] = proc
        if wait:
            self.wait(source.mount)
        return proc

    def wait(self, mount: str, timeout: float = 30.0) -> None:
        """Return once ``mount`` serves audio (its source connected)."""
        url = self.url(mount)
        _wait(f"icecast mount {mount}", lambda: _serves(url), timeout, self.sources[mount])


def _serves(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.read(64))


def _binaries() -> tuple[str, str]:
    binary, ffmpeg = shutil.which("icecast2"), shutil.which("ffmpeg")
    if binary is None or ffmpeg is None:
        raise Unavailable("needs Debian packages icecast2 and ffmpeg (`make apt` as root)")
    return binary, ffmpeg


@contextlib.contextmanager
def icecast_server(
    mounts: tuple[str, ...], clients: int = 200, burst: int = 65535
) -> Iterator[Lab]:
    """Run Icecast with ``mounts`` declared; start sources with ``Lab.start``."""
    binary, ffmpeg = _binaries()
    port = free_port()
    declared = "\n".join(
        f'  <mount type="normal"><mount-name>{m}</mount-name>'
        f"<max-listeners>{clients}</max-listeners></mount>"
        for m in mounts
    )
    with tempfile.TemporaryDirectory(prefix="gameday-icecast-") as lab_dir:
        os.chmod(lab_dir, 0o777)
        config = Path(lab_dir) / "icecast.xml"
        config.write_text(
            _CONFIG.format(
                clients=clients,
                port=port,
                mounts=declared,
                lab=lab_dir,
                burst=burst,
                sources=len(mounts) + 1,
            )
        )
        command = [binary, "-c", str(config)]
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("icecast2")
            except KeyError:
                raise Unavailable("the icecast2 user is missing (reinstall icecast2)") from None
            command = ["setpriv", "--reuid=icecast2", "--regid=icecast", "--init-groups", *command]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lab = Lab(port, ffmpeg)
        try:
            _wait(
                "icecast",
                lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True,
                15,
                server,
            )
            yield lab
        finally:
            for proc in (*lab.sources.values(), server):
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()


@contextlib.contextmanager
def icecast(clients: int = 6000, source_seconds: int = 300) -> Iterator[str]:
    """Run Icecast with a live 64 kb/s MP3 tone mount; yields the listener URL."""
    with icecast_server((MOUNT,), clients=clients) as lab:
        tone = f"sine=frequency=440:sample_rate=44100:duration={source_seconds}"
        proc = subprocess.Popen(
            [lab._ffmpeg, "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", tone,
             "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k", "-content_type", "audio/mpeg",
             "-f", "mp3", f"icecast://source:labsource@127.0.0.1:{lab.port}{MOUNT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        lab.sources[MOUNT] = proc
        url = lab.url(MOUNT)
        _wait("icecast mount", lambda: _serves(url), 15, proc)
        yield url
