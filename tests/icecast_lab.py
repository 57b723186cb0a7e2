"""A real Icecast 2.4 on a free loopback port, fed a 64 kb/s MP3 tone by ffmpeg (reference §5).

Used by the workload tests and ``benchmarks/swarm.py``. Icecast refuses to run as root, so as
root it runs as the packaged ``icecast2`` user through ``setpriv``; its config and logs live in
a temp dir. The source is bounded (ffmpeg ``-re`` with a duration) so nothing outlives a run.
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
from pathlib import Path

MOUNT = "/tone.mp3"
BITRATE = 64_000

_CONFIG = """<icecast>
  <limits><clients>{clients}</clients><sources>2</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>65535</burst-size></limits>
  <authentication><source-password>labsource</source-password><admin-user>admin</admin-user>
    <admin-password>labadmin</admin-password></authentication>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <mount type="normal"><mount-name>{mount}</mount-name>
    <max-listeners>{clients}</max-listeners></mount>
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


@contextlib.contextmanager
def icecast(clients: int = 6000, source_seconds: int = 300) -> Iterator[str]:
    """Run Icecast with a live MP3 mount; yields the listener URL."""
    binary, ffmpeg = shutil.which("icecast2"), shutil.which("ffmpeg")
    if binary is None or ffmpeg is None:
        raise Unavailable("needs Debian packages icecast2 and ffmpeg (`make apt` as root)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gameday-icecast-") as lab:
        os.chmod(lab, 0o777)
        config = Path(lab) / "icecast.xml"
        config.write_text(_CONFIG.format(clients=clients, port=port, mount=MOUNT, lab=lab))
        command = [binary, "-c", str(config)]
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("icecast2")
            except KeyError:
                raise Unavailable("the icecast2 user is missing (reinstall icecast2)") from None
            command = ["setpriv", "--reuid=icecast2", "--regid=icecast", "--init-groups", *command]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        source: subprocess.Popen[bytes] | None = None
        try:
            _wait(
                "icecast",
                lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True,
                15,
                server,
            )
            source = subprocess.Popen(
                [ffmpeg, "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                 f"sine=frequency=440:sample_rate=44100:duration={source_seconds}", "-ac", "1",
                 "-c:a", "libmp3lame", "-b:a", "64k", "-content_type", "audio/mpeg", "-f", "mp3",
                 f"icecast://source:labsource@127.0.0.1:{port}{MOUNT}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}{MOUNT}"

            def mounted() -> bool:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return bool(response.read(1024))

            _wait("icecast mount", mounted, 15, source)
            yield url
        finally:
            for proc in (source, server):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
