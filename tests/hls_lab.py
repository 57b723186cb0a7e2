"""A real HLS origin on loopback: ffmpeg's HLS muxer writing a live AAC stream, Debian's nginx
serving it (the way ``ffmpeg ... -f hls`` + a web server is deployed).

Used by the HLS listener tests, the ear tests and ``benchmarks/hls.py``. nginx runs unprivileged
(as ``www-data`` through ``setpriv`` when the tests run as root) with its own prefix, config and
logs in a temp dir, on a free 127.0.0.1 port. The source is bounded (``-re`` with a duration)
so nothing outlives a run; ``HlsOrigin.pause``/``resume`` freeze ffmpeg (SIGSTOP) to make a
playlist that stops updating.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PLAYLIST = "live.m3u8"
SEGMENT_SECONDS = 2
BITRATE = 64_000

_NGINX_CONFIG = """worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8000; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 100000;
  keepalive_timeout 65;
  sendfile on;
  types {{
    application/vnd.apple.mpegurl m3u8;
    video/mp2t ts;
    audio/aac aac;
    audio/mp4 m4s mp4;
  }}
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location ~ \\.m3u8$ {{ add_header Cache-Control "no-cache"; }}
  }}
}}
"""


class Unavailable(Exception):
    """nginx or ffmpeg is not installed here; the message says how to get them."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tools() -> tuple[str, str]:
    nginx, ffmpeg = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("ffmpeg")
    if not os.path.exists(nginx) or ffmpeg is None:
        raise Unavailable("needs Debian packages nginx and ffmpeg (`make apt` as root)")
    return nginx, ffmpeg


def _unprivileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("www-data")
    except KeyError:
        raise Unavailable("the www-data user is missing (reinstall nginx-common)") from None
    return ["setpriv", "--reuid=www-data", "--regid=www-data", "--init-groups", *command]


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGCONT)  # a paused ffmpeg cannot act on SIGTERM
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def nginx(root: Path) -> Iterator[int]:
    """Serve ``root`` over HTTP/1.1 keep-alive on a free loopback port; yields the port."""
    binary, _ = _tools()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gameday-nginx-") as prefix:
        os.chmod(prefix, 0o777)
        config = Path(prefix) / "nginx.conf"
        config.write_text(_NGINX_CONFIG.format(prefix=prefix, port=port, root=root))
        command = _unprivileged([binary, "-p", prefix, "-c", str(config)])
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 15
            while True:
                if server.poll() is not None:
                    err = server.stderr.read().decode() if server.stderr else ""
                    raise RuntimeError(f"nginx exited with {server.returncode}: {err[-400:]}")
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not listen within 15 s")
                time.sleep(0.05)
            yield port
        finally:
            _stop(server)


@dataclass
class HlsOrigin:
    """A live stream: ``url`` is its media playlist on nginx, ``root`` where ffmpeg writes."""

    url: str
    root: Path
    port: int
    packager: subprocess.Popen[bytes]

    def pause(self) -> None:
        """Freeze the packager: the playlist stops updating (a stuck stream)."""
        self.packager.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.packager.send_signal(signal.SIGCONT)

    def playlist(self) -> str:
        return (self.root / PLAYLIST).read_text()


def ffmpeg_hls(
    root: Path,
    seconds: int,
    *,
    list_size: int = 5,
    segment_seconds: int = SEGMENT_SECONDS,
    source: str | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """Start ffmpeg writing a live 64 kb/s AAC HLS stream of ``segment_seconds`` segments,
    deleting old ones and dating them (``program_date_time``)."""
    _, ffmpeg = _tools()
    lavfi = source or f"sine=frequency=440:sample_rate=44100:duration={seconds}"
    return subprocess.Popen(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", lavfi,
         "-ac", "1", "-c:a", "aac", "-b:a", "64k", "-f", "hls",
         "-hls_time", str(segment_seconds), "-hls_list_size", str(list_size),
         "-hls_flags", "delete_segments+program_date_time", *extra, str(root / PLAYLIST)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_for_segments(
    root: Path, count: int, timeout: float, proc: subprocess.Popen[bytes]
) -> None:
    """Until the playlist lists ``count`` segments (ffmpeg writes it atomically)."""
    deadline = time.monotonic() + timeout
    playlist = root / PLAYLIST
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ffmpeg exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            if playlist.read_text().count("#EXTINF") >= count:
                return
        time.sleep(0.1)
    raise RuntimeError(f"ffmpeg listed fewer than {count} segments in {timeout}s")


@contextlib.contextmanager
def hls_origin(
    seconds: int = 300, *, list_size: int = 5, ready_segments: int = 3
) -> Iterator[HlsOrigin]:
    """ffmpeg + nginx: yields once the playlist lists ``ready_segments`` segments."""
    _tools()
    with tempfile.TemporaryDirectory(prefix="gameday-hls-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o777)
        packager = ffmpeg_hls(root, seconds, list_size=list_size)
        try:
            with nginx(root) as port:
                wait_for_segments(root, ready_segments, 30 + 3 * ready_segments, packager)
                yield HlsOrigin(f"http://127.0.0.1:{port}/{PLAYLIST}", root, port, packager)
        finally:
            _stop(packager)
