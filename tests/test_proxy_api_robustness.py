"""The embedded server's API under careless or hostile clients.

Memory and descriptors return to their baseline after any mix of requests; numbers Python
cannot convert and names no URL can address get 400s naming the field; ``/reset`` never leaves
a fault behind; slow or idle clients are timed out, and open API connections are bounded, so
they cannot take the descriptors the proxies need.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest

from chaos.faults.server import EmbeddedToxiproxy
from chaos.faults.server.http_server import Limits
from chaos.faults.server.requests import MAX_NAME_BYTES
from tests.toxiproxy_contract_support import Upstream, echo, free_port


@pytest.fixture(scope="module")
def echo_up() -> Iterator[Upstream]:
    upstream = Upstream(echo)
    yield upstream
    upstream.close()


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    with EmbeddedToxiproxy(port=0) as server, httpx.Client(base_url=server.url) as client:
        yield client


def proxy_body(name: str, upstream: str, **extra: object) -> dict[str, object]:
    return {"name": name, "listen": "127.0.0.1:0", "upstream": upstream, **extra}


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]
    return message


# --- memory and descriptors ---------------------------------------------------------------


@dataclass
class ServerProcess:
    pid: int
    url: str

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@pytest.fixture
def server_process() -> Iterator[ServerProcess]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos.faults.server", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/version")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        yield ServerProcess(process.pid, url)
    finally:
        process.terminate()
        process.wait(10)


def request_mix(url: str, upstream: str) -> None:
    """Failing requests of every kind, with big bodies, over fresh and reused connections."""
    big_bad_type = json.dumps({"type": "nope", "pad": "x" * 600_000}).encode()
    huge_number = b'{"type": "latency", "attributes": {"latency": ' + b"9" * 5000 + b"}}"
    with httpx.Client(base_url=url, timeout=30) as api:
        api.post("/proxies", json=proxy_body("p", upstream))
        for _ in range(500):
            api.get("/proxies/nope")
        for _ in range(100):
            api.post("/proxies/nope/toxics", json={"type": "latency"})
            api.post("/proxies", content=b"{not json")
            api.post("/proxies", json=proxy_body("a/b", upstream))
        for _ in range(20):
            api.post("/proxies/p/toxics", content=big_bad_type)
            api.post("/proxies/p/toxics", content=huge_number)
            api.post("/gameday/seed", content=b'{"seed": ' + b"1" * 5000 + b"}")
            api.post("/proxies", content=b"\x1f\x8bjunk", headers={"Content-Encoding": "gzip"})
        for i in range(20):
            api.post("/proxies/p/toxics", json={"name": f"t{i}", "type": "latency"})
            api.delete(f"/proxies/p/toxics/t{i}")
        api.delete("/proxies/p")
    for _ in range(50):  # connections opened and dropped, some in the middle of a request
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as conn:
            conn.sendall(b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")


@pytest.mark.timeout(300)
def test_memory_and_descriptors_return_to_baseline(
    server_process: ServerProcess, echo_up: Upstream
) -> None:
    request_mix(server_process.url, echo_up.address)  # warm: caches, allocator arenas
    rss, fds = server_process.rss_kib(), server_process.fds()
    for _ in range(3):
        request_mix(server_process.url, echo_up.address)
    deadline = time.monotonic() + 60
    while server_process.fds() > fds:
        assert time.monotonic() < deadline, (server_process.fds(), fds)
        time.sleep(0.1)
    # Three more rounds moved about 40 MB of failing bodies; kept, they would show here.
    assert server_process.rss_kib() - rss < 16 * 1024, (rss, server_process.rss_kib())


def test_a_failure_does_not_keep_its_request_alive() -> None:
    """Each failure is a new exception: a shared one grew a traceback (and frames) per raise."""
    from chaos.faults.server import errors

    first, second = errors.proxy_not_found(), errors.proxy_not_found()
    assert first is not second and first.__traceback__ is None


# --- numbers Python will not convert, bodies it must not decode ----------------------------


def test_integers_of_thousands_of_digits_are_400s_naming_the_field(
    api: httpx.Client, echo_up: Upstream
) -> None:
    api.post("/proxies", json=proxy_body("p", echo_up.address))
    digits = "7" * 4301
    seed = api.post("/gameday/seed", content=f'{{"seed": {digits}}}')
    assert "seed" in error_of(seed, 400) and len(seed.text) < 300
    lease = api.post("/proxies/p/toxics", content=f'{{"type": "noop", "lease_ms": {digits}}}')
    assert error_of(lease, 400).startswith("lease_ms must be a whole number")
    assert len(lease.text) < 300
    attribute = api.post(
        "/proxies/p/toxics", content=f'{{"type": "latency", "attributes": {{"jitter": {digits}}}}}'
    )
    assert error_of(attribute, 400) == (
        f"bad request body: json: cannot unmarshal number {digits} "
        "into Go struct field LatencyToxic.attributes.jitter of type int64"
    )


def test_a_body_over_the_bound_is_413_and_is_never_asked_for(echo_up: Upstream) -> None:
    limits = Limits(max_body_bytes=1 << 20)
    with EmbeddedToxiproxy(port=0, limits=limits) as server:
        with httpx.Client(base_url=server.url) as api:
            too_big = api.post(
                "/proxies", json=proxy_body("p", echo_up.address, pad="x" * (2 << 20))
            )
            assert error_of(too_big, 413) == (
                "bad request body: request body over the 1 MiB this server accepts"
            )
            assert api.get("/version").status_code == 200
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                b"POST /populate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: 5000000\r\n\r\n"
            )
            answer = b""
            while part := conn.recv(65536):  # the server closes: the body was never sent
                answer += part
    assert answer.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n"), answer
    assert b"100 Continue" not in answer


def test_a_compressed_body_is_not_inflated(api: httpx.Client, echo_up: Upstream) -> None:
    """No Content-Encoding is decoded (as in Go): a small bomb stays small."""
    bomb = gzip.compress(b"[" + b" " * (200 << 20) + b"]")
    response = api.post("/populate", content=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("bad request body: invalid character")


# --- /reset ---------------------------------------------------------------------------------


def test_reset_removes_every_toxic_before_re_enabling_and_names_what_cannot_rebind(
    api: httpx.Client, echo_up: Upstream
) -> None:
    listens = {}
    for name in ("a", "b", "c"):
        listens[name] = api.post("/proxies", json=proxy_body(name, echo_up.address)).json()[
            "listen"
        ]
        api.post(f"/proxies/{name}/toxics", json={"type": "latency"})
        api.patch(f"/proxies/{name}", json={"enabled": False})
    squatters = []
    for name in ("a", "c"):
        host, port = listens[name].rsplit(":", 1)
        squatter = socket.socket()
        squatter.bind((host, int(port)))
        squatter.listen()
        squatters.append(squatter)
    try:
        failed = api.post("/reset")
    finally:
        for squatter in squatters:
            squatter.close()
    assert error_of(failed, 500) == (
        f"listen tcp {listens['a']}: bind: address already in use; "
        f"listen tcp {listens['c']}: bind: address already in use"
    )
    state = api.get("/proxies").json()
    assert [state[n]["toxics"] for n in "abc"] == [[], [], []]
    assert [state[n]["enabled"] for n in "abc"] == [False, True, False]
    assert api.post("/reset").status_code == 204  # the addresses are free again
    assert all(proxy["enabled"] for proxy in api.get("/proxies").json().values())


# --- names ----------------------------------------------------------------------------------

UNADDRESSABLE = [".", "..", "a/b", "/", "x" * (MAX_NAME_BYTES + 1), "é" * (MAX_NAME_BYTES // 2 + 1)]


@pytest.mark.parametrize("name", UNADDRESSABLE, ids=lambda n: n if len(n) < 9 else f"{len(n)}ch")
def test_a_name_no_url_can_address_is_refused(
    api: httpx.Client, echo_up: Upstream, name: str
) -> None:
    assert error_of(api.post("/proxies", json=proxy_body(name, echo_up.address)), 400).startswith(
        "invalid proxy name: names go in URL paths"
    )
    entries = [proxy_body("fine", echo_up.address), proxy_body(name, echo_up.address)]
    populated = api.post("/populate", json=entries)
    assert error_of(populated, 400).startswith("invalid proxy name at proxy 2")
    api.post("/proxies", json=proxy_body("p", echo_up.address))
    toxic = api.post("/proxies/p/toxics", json={"type": "noop", "name": name})
    assert error_of(toxic, 400).startswith("invalid toxic name")
    assert sorted(api.get("/proxies").json()) == ["p"]


@pytest.mark.parametrize("name", ["x" * MAX_NAME_BYTES, "a b?c#d%e", "...", "ünï"])
def test_every_name_accepted_can_be_shown_and_deleted(
    api: httpx.Client, echo_up: Upstream, name: str
) -> None:
    assert api.post("/proxies", json=proxy_body(name, echo_up.address)).status_code == 201
    path = f"/proxies/{quote(name, safe='')}"
    assert api.post(f"{path}/toxics", json={"type": "noop", "name": name}).status_code == 200
    assert api.get(f"{path}/toxics/{quote(name, safe='')}").json()["name"] == name
    assert api.get(path).json()["name"] == name
    assert api.delete(path).status_code == 204
    assert api.get("/proxies").json() == {}


# --- slow and idle clients -------------------------------------------------------------------


def test_the_default_limits_are_toxiproxy_servers() -> None:
    limits = Limits()
    assert (limits.read_seconds, limits.write_seconds, limits.idle_seconds) == (15, 30, 60)
    assert limits.max_header_bytes >= 1 << 20


def closed_within(conn: socket.socket, seconds: float, dribble: bytes = b"") -> bytes:
    """What the server sent before closing ``conn``, while sending it ``dribble`` byte by byte."""
    conn.settimeout(0.1)
    received = b""
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline:
        if sent < len(dribble):
            try:
                conn.sendall(dribble[sent : sent + 1])
            except OSError:
                return received
            sent += 1
        try:
            part = conn.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received
        if not part:
            return received
        received += part
    raise AssertionError(f"still open after {seconds} s, got {received!r}")


def test_slow_and_idle_clients_are_timed_out(echo_up: Upstream) -> None:
    limits = Limits(read_seconds=0.5, idle_seconds=1.0)
    with EmbeddedToxiproxy(port=0, limits=limits) as server:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        address = (host, int(port))
        with socket.create_connection(address) as silent:
            assert closed_within(silent, 20) == b""
        with socket.create_connection(address) as slowloris:  # activity does not extend it
            assert (
                closed_within(slowloris, 20, b"GET /version HTTP/1.1\r\n" + b"X: y\r\n" * 500)
                == b""
            )
        with socket.create_connection(address) as slow_body:
            slow_body.sendall(b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            answer = closed_within(slow_body, 20)
            assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
            assert b"i/o timeout" in answer
        with socket.create_connection(address) as idle:
            idle.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            assert closed_within(idle, 20).startswith(b"HTTP/1.1 200 OK\r\n")
        assert httpx.get(f"{server.url}/version").status_code == 200


def test_open_api_connections_are_bounded(echo_up: Upstream) -> None:
    with EmbeddedToxiproxy(port=0, limits=Limits(max_connections=20)) as server:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        held = []
        try:
            for _ in range(100):
                conn = socket.create_connection((host, int(port)))
                conn.sendall(b"GET /version HTTP/1.1\r\n")  # and never the rest
                held.append(conn)
            deadline = time.monotonic() + 20
            while server.server.http.open_connections > 20:
                assert time.monotonic() < deadline, server.server.http.open_connections
                time.sleep(0.05)
            # A newcomer takes the place of the oldest stalled one and is answered.
            assert httpx.get(f"{server.url}/version").status_code == 200
        finally:
            for conn in held:
                conn.close()
