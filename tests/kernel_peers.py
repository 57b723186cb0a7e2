"""Tiny peers run inside namespaces by the kernel-fault tests (``python kernel_peers.py …``).

``sink HOST UDP_PORT TCP_PORT``: counts UDP datagrams (an 8-byte sequence number each) and,
on every TCP connection, answers with the JSON list of sequence numbers received so far.
``source HOST TCP_PORT``: writes bytes to every connection as fast as the network takes them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys


async def sink(host: str, udp_port: int, tcp_port: int) -> None:
    received: list[int] = []

    class Counter(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            received.append(struct.unpack_from("!Q", data)[0])

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
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


if __name__ == "__main__":
    role, host, *ports = sys.argv[1:]
    if role == "sink":
        asyncio.run(sink(host, int(ports[0]), int(ports[1])))
    else:
        asyncio.run(source(host, int(ports[0])))
