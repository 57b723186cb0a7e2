"""Tiny peers for the kernel-fault tests and benchmark, and the harness side that drives them.

Run inside namespaces (``python kernel_peers.py …``):
``sink HOST UDP_PORT TCP_PORT`` counts UDP datagrams (an 8-byte sequence number each) and,
on every TCP connection, answers with the JSON list of sequence numbers received so far;
``source HOST TCP_PORT`` writes bytes to every connection as fast as the network takes them.
Imported: ``send_paced``, ``received`` and ``throughput`` measure them from the harness.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
import time

SO_RCVBUFFORCE = 33
"""Linux's SO_RCVBUF that may exceed net.core.rmem_max (CAP_NET_ADMIN); Python lacks the name."""


async def sink(host: str, udp_port: int, tcp_port: int) -> None:
    received: list[int] = []

    class Counter(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            received.append(struct.unpack_from("!Q", data)[0])

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # past net.core.rmem_max (root): a busy box must not add loss of its own
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((host, udp_port))
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Counter, sock=sock)

    async def report(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(received).encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(report, host, tcp_port)
    await server.serve_forever()


async def source(host: str, tcp_port: int) -> None:
    chunk = b"\0" * 65536

    async def pour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(chunk)
                await writer.drain()
        except OSError:
            writer.close()

    server = await asyncio.start_server(pour, host, tcp_port)
    await server.serve_forever()


async def connect_retry(
    host: str, port: int, timeout: float = 10.0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def received(host: str, port: int) -> list[int]:
    """The sequence numbers the sink has received so far."""
    reader, writer = await connect_retry(host, port)
    data = await reader.read()
    writer.close()
    return list(json.loads(data))


async def send_paced(target: tuple[str, int], count: int, per_ms: int, first: int = 0) -> float:
    """``count`` numbered datagrams, ``per_ms`` per millisecond at most (no socket buffer
    overflows); the rate achieved, in datagrams per second."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for n in range(count):
        sock.sendto(struct.pack("!Q", first + n) + b"x" * 152, target)
        if n % per_ms == per_ms - 1:
            lag = start + (n + 1) / per_ms / 1000 - time.monotonic()
            await asyncio.sleep(max(lag, 0))
    rate = count / (time.monotonic() - start)
    sock.close()
    await asyncio.sleep(0.3)
    return rate


async def throughput(
    host: str, port: int, connections: int, seconds: float, warmup: float = 1.0
) -> tuple[float, list[int]]:
    """Bits per second received in total over ``connections`` streams from the source (after
    ``warmup``), and the bytes each connection got."""
    conns = [await connect_retry(host, port) for _ in range(connections)]
    counts = [0] * connections

    async def drain(i: int, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            counts[i] += len(chunk)

    tasks = [asyncio.create_task(drain(i, r)) for i, (r, _) in enumerate(conns)]
    await asyncio.sleep(warmup)
    before, began = sum(counts), time.monotonic()
    await asyncio.sleep(seconds)
    rate = (sum(counts) - before) * 8 / (time.monotonic() - began)
    for task in tasks:
        task.cancel()
    for _, writer in conns:
        writer.close()
    return rate, counts


if __name__ == "__main__":
    role, host, *ports = sys.argv[1:]
    if role == "sink":
        asyncio.run(sink(host, int(ports[0]), int(ports[1])))
    else:
        asyncio.run(source(host, int(ports[0])))
