"""A soundstage edge serving live HLS, fed in real time by a stand-in origin.

The edge is the real process (``python -m soundstage.edge``); the origin is a small TCP server
in a thread that sends it one 20 ms mix frame of a 440 Hz tone every 20 ms, stamped with the
wall clock as the mixer stamps its frames, the way the real origin's fanout does. ``pause``
stops the frames (the edge's playlist then stops growing). Used by the soundstage HLS tests,
the LL-HLS comparison and ``benchmarks/hls.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from soundstage import codec
from soundstage.frames import FRAME_US, Frame, PayloadType

ROOM = 1
PLAYLIST = f"/hls/{ROOM}/live.m3u8"


class _Feeder(threading.Thread):
    """The stand-in origin: frames to whoever connects, until ``stop``."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = int(self.server.getsockname()[1])
        self.running = threading.Event()
        self.running.set()
        self.stopped = threading.Event()
        t = np.arange(codec.SAMPLES_PER_FRAME) / codec.RATE
        self._tone = (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                self._feed(conn)
        self.server.close()

    def _feed(self, conn: socket.socket) -> None:
        payload = codec.encode(PayloadType.L16_16K, self._tone)
        sequence = 0
        tick = time.time()
        while not self.stopped.is_set():
            tick += FRAME_US / 1e6
            delay = tick - time.time()
            if delay > 0:
                time.sleep(delay)
            if not self.running.is_set():
                continue
            frame = Frame(ROOM, 0, sequence, int(tick * 1e6), PayloadType.L16_16K, payload)
            sequence += 1
            conn.sendall(frame.encode())


@dataclass
class HlsEdge:
    port: int
    process: subprocess.Popen[bytes]
    feeder: _Feeder = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PLAYLIST}"

    def playlist(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as answer:
            return str(answer.read().decode())

    def pause(self) -> None:
        """Stop the mix: no frames, so nothing new is packaged."""
        self.feeder.running.clear()

    def resume(self) -> None:
        self.feeder.running.set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def hls_edge(*edge_args: str, segments: int = 3, timeout: float = 30.0) -> Iterator[HlsEdge]:
    """A live edge (extra ``edge_args``, e.g. ``--hls-part 0.2``); yields once its playlist
    lists ``segments`` segments."""
    feeder = _Feeder()
    feeder.start()
    port = _free_port()
    command = [sys.executable, "-m", "soundstage.edge", "--port", str(port),
               "--origin", f"127.0.0.1:{feeder.port}", *edge_args]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    edge = HlsEdge(port, process, feeder)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"the edge exited with {process.returncode}: {err[-400:]}")
            with contextlib.suppress(OSError):
                if edge.playlist().count("#EXTINF") >= segments:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the edge listed fewer than {segments} segments in {timeout}s")
            time.sleep(0.1)
        yield edge
    finally:
        feeder.stopped.set()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        feeder.join(5)
