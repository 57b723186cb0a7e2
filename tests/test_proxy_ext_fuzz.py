"""Random bodies with extension fields against the running server: never a 500, never a hang,
and every refusal names what was wrong (issue 4; the stateful test of issue 3 covers the rest)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.faults.server.embedded import EmbeddedToxiproxy

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["udp", "tcp", "r-1", "r 1", "@", "", "1e3"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
extension_fields = st.dictionaries(
    st.sampled_from(["lease_ms", "run", "protocol", "seed", "enabled", "name", "type"]),
    values,
    max_size=4,
)
ENDPOINTS = [
    ("POST", "/gameday/leases"),
    ("POST", "/gameday/seed"),
    ("POST", "/proxies"),
    ("POST", "/populate"),
    ("PATCH", "/proxies/fixed"),
    ("POST", "/proxies/fixed/toxics"),
    ("POST", "/proxies/fixed-udp/toxics"),
    ("PATCH", "/proxies/fixed/toxics/standing"),
]


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    with (
        EmbeddedToxiproxy("127.0.0.1", 0) as server,
        httpx.Client(base_url=server.url, timeout=5) as client,
    ):
        client.post("/proxies", json={"name": "fixed", "upstream": "127.0.0.1:9"})
        client.post(
            "/proxies", json={"name": "fixed-udp", "upstream": "127.0.0.1:9", "protocol": "udp"}
        )
        client.post("/proxies/fixed/toxics", json={"type": "noop", "name": "standing"})
        yield client


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(endpoint=st.sampled_from(ENDPOINTS), body=extension_fields, base=st.booleans())
def test_extension_fields_never_break_the_server(
    api: httpx.Client, endpoint: tuple[str, str], body: dict[str, object], base: bool
) -> None:
    method, path = endpoint
    payload: object = body
    if base and path == "/proxies":
        payload = {"name": "fuzz", "upstream": "127.0.0.1:9", **body}
    if path == "/populate":
        payload = [{"name": "fuzz-pop", "upstream": "127.0.0.1:9", **body}]
    response = api.request(method, path, content=json.dumps(payload))
    assert response.status_code < 500, response.text
    if response.status_code == 400:
        assert response.json()["error"]
    for name in ("fuzz", "fuzz-pop"):
        api.delete(f"/proxies/{name}")
    api.post("/proxies/fixed", json={"enabled": True})
