"""spaces, the stack of real servers, measured: what one nginx edge serves, how late a speaker
is heard, and how long the spaces demo takes.

One stack (`spaces_behind_proxy`: every component a local process, every link through the
embedded fault proxy), the speaker beeping (1 kHz for the first second of every ten of the
wall clock):

- ``end-to-end delay``: each beep's onset, heard by a listener of edge-1 that fetches each new
  segment as it appears and plays it at once, minus when it was said (p50/p95 over ``BEEPS``);
- ``listeners per edge``: steps of raw HLS listeners on edge-1 (each its own keep-alive
  connection, reloading the playlist every second and fetching every new segment), each step
  ``STEP_SECONDS`` long; a listener *skips* a segment when one it has not fetched leaves the
  playlist window. Reported: the largest step with 0 skipped, and the edge's nginx CPU (its
  worker's utime+stime over the step) at each step;
- ``speakers per Janus room``: steps of speakers added to the room, each a plain-RTP
  AudioBridge participant (`join` with `rtp`: Janus's own way in for SIP and other non-WebRTC
  callers) sending 20 ms Opus packets of speech-like audio from one sender here (encoded
  once, so the harness costs a socket write per packet, not an encoder per speaker). Each
  step lasts ``SPEAKER_STEP_SECONDS``; reported per step: Janus's CPU (its process's utime +
  stime over the step), the packager's speed (ffmpeg's own `speed`, 1.0 = real time), the
  segments it wrote against the step's length (``hls_time`` each), and packets Janus's mixer
  counted lost for the speakers. The room *degrades* at the first step where the packager
  falls behind real time (speed below 0.97, or a segment short) or the mixer loses packets;
  the largest step before it is the figure.
- ``gameday run`` wall time of experiments/spaces-launch.yaml (the spaces demo), start to exit.

The machine is shared: the load average is printed with the table.

    python benchmarks/spaces.py [--steps 25,50,100] [--beeps 4] [--speakers 4,8,16,32] [--no-demo]

(``--steps ''``, ``--beeps 0`` or ``--speakers ''`` leave that measurement out.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaos.audio.signals import speech  # noqa: E402
from chaos.workload.echo_device import decode_segment, media_uris  # noqa: E402
from chaos.workload.janus import JanusSession  # noqa: E402
from chaos.workload.rtc_speaker import BEEP_PERIOD  # noqa: E402
from tests.spaces_support import metrics, spaces_behind_proxy  # noqa: E402

STEP_SECONDS = 12.0
SPEAKER_STEP_SECONDS = 10.0
OPUS_PT = 111


def dated_segments(playlist: str) -> list[tuple[str, float]]:
    entries: list[tuple[str, float]] = []
    date: float | None = None
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
        elif line and not line.startswith("#") and date is not None:
            entries.append((line, date))
            date = None
    return entries


def tone_levels(samples: np.ndarray) -> list[float]:
    levels = []
    for start in range(0, samples.size - 320 + 1, 320):
        spectrum = np.abs(np.fft.rfft(samples[start : start + 320] * np.hanning(320), 1600))
        levels.append(20 * np.log10(max(float(spectrum[98:103].max()), 1e-9) / (32768 * 80)))
    return levels


async def end_to_end(edge: str, beeps: int) -> list[float]:
    delays: list[float] = []
    seen: set[str] = set()
    was_loud, first = True, True
    deadline = time.monotonic() + beeps * BEEP_PERIOD + 40
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        while len(delays) < beeps and time.monotonic() < deadline:
            async with http.get(f"http://{edge}/live/mix.m3u8") as response:
                text = await response.text() if response.status == 200 else ""
            for uri, date in dated_segments(text):
                if uri in seen:
                    continue
                seen.add(uri)
                if first:
                    continue
                async with http.get(f"http://{edge}/live/{uri}") as response:
                    data = await response.read()
                fetched = time.time()
                for index, level in enumerate(tone_levels(decode_segment(data))):
                    loud = level > -40
                    if loud and not was_loud:
                        offset = index * 0.02
                        said = BEEP_PERIOD * round((date + offset) / BEEP_PERIOD)
                        delays.append(fetched + offset - said)
                    was_loud = loud
            first = False
            await asyncio.sleep(0.25)
    return delays


async def listener(edge: str, until: float, skipped: list[int], fetched: list[int]) -> None:
    """Follow the live playlist from its newest segment; a gap in media sequence numbers
    between the last fetched and the oldest still listed is that many skipped segments."""
    last: int | None = None
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=10)
    ) as http:
        while time.monotonic() < until:
            try:
                async with http.get(f"http://{edge}/live/mix.m3u8") as response:
                    listed = media_uris(await response.text())
                if last is None and listed:
                    last = listed[-1][0] - 1
                fresh = [(n, uri) for n, uri in listed if last is not None and n > last]
                if fresh and last is not None and fresh[0][0] > last + 1:
                    skipped[0] += fresh[0][0] - last - 1
                for number, uri in fresh:
                    async with http.get(f"http://{edge}/live/{uri}") as response:
                        await response.read()
                    fetched[0] += 1
                    last = number
            except (aiohttp.ClientError, TimeoutError):
                skipped[0] += 1
            await asyncio.sleep(1.0)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def nginx_pids(root: int) -> list[int]:
    """The nginx master and its workers."""
    pids, todo = [root], [root]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        pids += map(int, children)
        todo += map(int, children)
    return pids


async def per_edge(
    edge: str, pids: list[int], steps: list[int]
) -> list[tuple[int, int, int, float]]:
    rows = []
    for count in steps:
        skipped, fetched = [0], [0]
        before = cpu_seconds(pids)
        began = time.monotonic()
        until = began + STEP_SECONDS
        await asyncio.gather(*(listener(edge, until, skipped, fetched) for _ in range(count)))
        elapsed = time.monotonic() - began
        rows.append((count, skipped[0], fetched[0], (cpu_seconds(pids) - before) / elapsed))
    return rows


def opus_packets(seconds: float = 2.0) -> list[bytes]:
    """Speech-like audio as 20 ms Opus packets (48 kHz mono, 32 kb/s), encoded once."""
    pcm = np.clip(speech(seconds, 48000, seed=7), -32768, 32767).astype(np.int16)
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = 48000, "mono", "s16", 32000
    packets: list[bytes] = []
    for start in range(0, pcm.size - 959, 960):
        frame = av.AudioFrame.from_ndarray(pcm[start : start + 960].reshape(1, -1), layout="mono")
        frame.sample_rate, frame.pts = 48000, start
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets


class RtpSpeakers(asyncio.DatagramProtocol):
    """Every plain-RTP speaker of the room, sent from one socket each by one 20 ms clock."""

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets
        self.speakers: list[tuple[asyncio.DatagramTransport, tuple[str, int], int]] = []
        self.tick = 0

    async def add(self, janus: JanusSession, room: int, n: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        handle = await janus.attach("janus.plugin.audiobridge")
        rtp = {"ip": "127.0.0.1", "port": port, "payload_type": OPUS_PT}
        body = {"request": "join", "room": room, "display": f"bench-{n}", "rtp": rtp}
        data, _ = await janus.message(handle, body)
        there = data["rtp"]
        self.speakers.append((transport, (str(there["ip"]), int(there["port"])), 0x5EED0000 + n))

    async def send(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not stop.is_set():
            payload = self.packets[self.tick % len(self.packets)]
            for transport, there, ssrc in self.speakers:
                header = (
                    bytes([0x80, OPUS_PT])
                    + (self.tick & 0xFFFF).to_bytes(2, "big")
                    + ((self.tick * 960) & 0xFFFFFFFF).to_bytes(4, "big")
                    + ssrc.to_bytes(4, "big")
                )
                transport.sendto(header + payload, there)
            self.tick += 1
            await asyncio.sleep(max(0.0, start + self.tick * 0.02 - loop.time()))

    def close(self) -> None:
        for transport, _, _ in self.speakers:
            transport.close()


def _sum(values: dict[str, float], name: str) -> float:
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


async def speakers_per_room(
    spaces: Any, steps: list[int]
) -> list[tuple[int, float, float, int, float, float]]:
    """(speakers, Janus CPU, packager speed, segments written, segments due, packets lost)."""
    janus_pid = next(p.pid for p in spaces.stack.processes if p.name == "janus")
    progress = spaces.stack.metrics["packager-progress"]
    exporter = spaces.stack.metrics["janus-exporter"]
    origin = spaces.stack.addresses["origin"]["http"]
    params = {**spaces.backend.spec.params, **spaces.backend.params}
    rows = []
    stop = asyncio.Event()
    sender = RtpSpeakers(opus_packets())
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        janus = JanusSession(http, f"http://{spaces.stack.addresses['janus']['http']}/janus")
        await janus.create()
        sending = asyncio.create_task(sender.send(stop))
        try:
            for count in steps:
                while len(sender.speakers) < count:
                    await sender.add(janus, int(params["room"]), len(sender.speakers))
                await asyncio.sleep(2.0)  # joined, prebuffered, mixed
                lost_before = _sum(await metrics(exporter), "janus_participant_packets_lost_total")
                sequence_before = await _media_sequence(http, origin)
                cpu_before, began = cpu_seconds([janus_pid]), time.monotonic()
                speeds = []
                while time.monotonic() - began < SPEAKER_STEP_SECONDS:
                    await asyncio.sleep(1.0)
                    speeds.append(_sum(await metrics(progress), "ffmpeg_speed_ratio"))
                elapsed = time.monotonic() - began
                cpu = (cpu_seconds([janus_pid]) - cpu_before) / elapsed
                written = await _media_sequence(http, origin) - sequence_before
                lost = _sum(await metrics(exporter), "janus_participant_packets_lost_total")
                due = elapsed / float(params["hls_time"])
                rows.append((count, cpu, min(speeds), written, due, lost - lost_before))
        finally:
            stop.set()
            await sending
            sender.close()
            await janus.destroy()
    return rows


async def _media_sequence(http: aiohttp.ClientSession, origin: str) -> int:
    async with http.get(f"http://{origin}/live/mix.m3u8") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            return int(line.split(":", 1)[1]) + sum(
                1 for x in text.splitlines() if x.endswith(".ts")
            )
    return 0


def demo_wall_time() -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "chaos.cli", "run", "experiments/spaces-launch.yaml",
             "--out", f"{out}/run"],
            cwd=ROOT, capture_output=True, text=True, timeout=400, check=False,
        )  # fmt: skip
        return time.monotonic() - began, done.returncode


async def measure(args: argparse.Namespace) -> None:
    steps = [int(n) for n in args.steps.split(",") if n]
    speakers = [int(n) for n in args.speakers.split(",") if n]
    with tempfile.TemporaryDirectory() as tmp:
        params = {"speaker_signal": "beeps", "rtp_participants": "true" if speakers else "false"}
        async with spaces_behind_proxy(Path(tmp), params=params) as spaces:
            edge = spaces.stack.addresses["edge-1"]["http"]  # direct: the edge, not the proxy
            root = next(p.pid for p in spaces.stack.processes if p.name == "edge-1")
            delays = await end_to_end(edge, args.beeps) if args.beeps else []
            rows = await per_edge(edge, nginx_pids(root), steps)
            room = await speakers_per_room(spaces, speakers) if speakers else []
    demo = None if args.no_demo else demo_wall_time()
    ordered = sorted(delays)
    print(f"spaces benchmark, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    if ordered:
        p50 = statistics.median(ordered)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"| end-to-end delay speaker -> listener, p50 / p95 ({len(ordered)} beeps) "
              f"| {p50:.2f} s / {p95:.2f} s |")  # fmt: skip
    elif args.beeps:
        print("| end-to-end delay speaker -> listener | no beep heard |")
    if rows:
        clean = [count for count, skipped, _, _ in rows if skipped == 0]
        print(f"| listeners per nginx edge at 0 skipped segments (largest step) | "
              f"{_largest(clean, len(rows))} |")  # fmt: skip
    for count, skipped, fetched, cpu in rows:
        print(f"| edge-1 with {count} listeners, {STEP_SECONDS:g} s: skipped / fetched, nginx CPU "
              f"| {skipped} / {fetched}, {cpu * 100:.1f} % of a core |")  # fmt: skip
    if room:
        healthy = []
        for count, _, speed, written, due, lost in room:
            if speed < 0.97 or written < int(due) - 1 or lost > 0:
                break
            healthy.append(count)
        print(f"| speakers per Janus room before the mix or packager degrade (largest step) | "
              f"{_largest(healthy, len(room))} |")  # fmt: skip
    for count, cpu, speed, written, due, lost in room:
        print(f"| room with {count} speakers, {SPEAKER_STEP_SECONDS:g} s: Janus CPU, packager "
              f"speed (min), segments written / due, packets lost | {cpu * 100:.1f} % of a core, "
              f"{speed:.2f}, {written} / {due:.1f}, {lost:g} |")  # fmt: skip
    if demo is not None:
        print(f"| `gameday run experiments/spaces-launch.yaml` wall time (exit {demo[1]}) "
              f"| {demo[0]:.1f} s |")  # fmt: skip
    print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _largest(clean: list[int], steps: int) -> str:
    if not clean:
        return "none"
    return f"{max(clean)}" + (" (every step)" if len(clean) == steps else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="25,50,100", help="listeners per step, on one edge")
    parser.add_argument("--beeps", type=int, default=4)
    parser.add_argument("--speakers", default="4,8,16,32", help="speakers in the room, per step")
    parser.add_argument("--no-demo", action="store_true", help="skip the gameday run timing")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
