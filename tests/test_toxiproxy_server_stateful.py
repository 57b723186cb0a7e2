"""Random API call sequences against a model of the server (hypothesis stateful testing).

Whatever the sequence, the embedded server never answers 500 (except the documented listen
errors), never hangs (every call has a timeout), keeps serving, and every response matches the
model: status codes, proxies, toxics and their attributes, populate and reset semantics. Traffic
through proxies whose toxics all pass data must come back intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from chaos.faults.server import EmbeddedToxiproxy, gojson
from tests.toxiproxy_contract_support import Upstream, connect, echo, recv_exactly

FIELDS = {
    "latency": ["latency", "jitter"],
    "bandwidth": ["rate"],
    "slow_close": ["delay"],
    "timeout": ["timeout"],
    "reset_peer": ["timeout"],
    "slicer": ["average_size", "size_variation", "delay"],
    "limit_data": ["bytes"],
    "noop": [],
}
NAMES = st.sampled_from(["a", "b"])
TOXIC_NAMES = st.sampled_from([None, "t1", "t2"])
STREAMS = st.sampled_from([None, "upstream", "downstream", "UpStream", "upstream", "sideways"])
TOXICITY = st.sampled_from([None, 0.0, 0.25, 0.5, 1.0, 1.5, -1.0])
ATTRIBUTE = st.one_of(st.integers(1, 25), st.integers(0, 25), st.integers(-2, 0))


def valid(kind: str, attributes: dict[str, int]) -> bool:
    """The model of our 400s: values Toxiproxy would crash or stall on (a slicer's variation
    may equal its average, as Toxiproxy accepts; only more than it panics there)."""
    if kind == "bandwidth":
        return attributes["rate"] > 0
    if kind == "slicer":
        average, variation = attributes["average_size"], attributes["size_variation"]
        return average > 0 and 0 <= variation <= average and attributes["delay"] >= 0
    return all(value >= 0 for value in attributes.values())


def passes_data(toxic: ModelToxic) -> bool:
    """Toxics under which an echo round trip must succeed (whatever their toxicity roll)."""
    return toxic.type in ("noop", "latency", "slicer", "bandwidth", "slow_close")


@dataclass
class ModelToxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]

    def json(self) -> dict[str, object]:
        return {
            "attributes": self.attributes,
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }

    @property
    def upstream(self) -> bool:
        return self.stream.lower() == "upstream"


@dataclass
class ModelProxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: list[ModelToxic] = field(default_factory=list)

    def ordered_toxics(self) -> list[ModelToxic]:
        return [t for t in self.toxics if t.upstream] + [t for t in self.toxics if not t.upstream]


class ServerMachine(RuleBasedStateMachine):
    api: httpx.Client
    upstreams: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.proxies: dict[str, ModelProxy] = {}

    @initialize()
    def clear(self) -> None:
        for name in self.api.get("/proxies").json():
            assert self.api.delete(f"/proxies/{name}").status_code == 204

    # --- helpers ---

    def check_proxy(self, body: dict[str, object], model: ModelProxy) -> None:
        assert list(body) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
        assert body["name"] == model.name
        assert body["upstream"] == model.upstream
        assert body["enabled"] == model.enabled
        assert body["toxics"] == [t.json() for t in model.ordered_toxics()]
        listen = body["listen"]
        assert isinstance(listen, str)
        if model.listen == "bound?":
            assert listen.startswith("127.0.0.1:") and not listen.endswith(":0")
            model.listen = listen
        assert listen == model.listen

    def started(self, model: ModelProxy, response: httpx.Response) -> None:
        """After an attempt to start: a listen error keeps the proxy disabled."""
        if response.status_code == 500:
            assert "bind: address already in use" in response.json()["error"]
            model.enabled = False
        else:
            model.enabled = True
            if model.listen.endswith(":0"):
                model.listen = "bound?"

    # --- proxies ---

    @rule(name=NAMES, enabled=st.booleans(), upstream=st.integers(0, 1))
    def create_proxy(self, name: str, enabled: bool, upstream: int) -> None:
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": self.upstreams[upstream]}
        response = self.api.post("/proxies", json={**body, "enabled": enabled})
        if name in self.proxies:
            assert response.status_code == 409
            return
        assert response.status_code == 201, response.text
        model = ModelProxy(name, "bound?" if enabled else "127.0.0.1:0", body["upstream"], enabled)
        self.proxies[name] = model
        self.check_proxy(response.json(), model)

    @rule(name=NAMES)
    def delete_proxy(self, name: str) -> None:
        response = self.api.delete(f"/proxies/{name}")
        assert response.status_code == (204 if self.proxies.pop(name, None) else 404)

    @rule(name=NAMES)
    def show_proxy(self, name: str) -> None:
        response = self.api.get(f"/proxies/{name}")
        if name not in self.proxies:
            assert response.status_code == 404
            return
        assert response.status_code == 200
        self.check_proxy(response.json(), self.proxies[name])

    @rule(name=NAMES, enabled=st.booleans(), method=st.sampled_from(["PATCH", "POST"]))
    def toggle(self, name: str, enabled: bool, method: str) -> None:
        response = self.api.request(method, f"/proxies/{name}", json={"enabled": enabled})
        model = self.proxies.get(name)
        if model is None:
            assert response.status_code == 404
            return
        if enabled and not model.enabled:
            self.started(model, response)
        else:
            model.enabled = enabled
        if response.status_code == 200:
            self.check_proxy(response.json(), model)

    @rule(name=NAMES, upstream=st.integers(0, 1))
    def change_upstream(self, name: str, upstream: int) -> None:
        address = self.upstreams[upstream]
        response = self.api.patch(f"/proxies/{name}", json={"upstream": address})
        model = self.proxies.get(name)
        if model is None:
            assert response.status_code == 404
            return
        if address != model.upstream:
            model.upstream = address
            if model.enabled:  # restarted on the same listen address
                model.enabled = False
                self.started(model, response)
        if response.status_code == 200:
            self.check_proxy(response.json(), model)

    @rule(
        entries=st.lists(
            st.tuples(NAMES, st.integers(0, 1), st.sampled_from([None, True, False])),
            max_size=3,
            unique_by=lambda e: e[0],
        )
    )
    def populate(self, entries: list[tuple[str, int, bool | None]]) -> None:
        body = [
            {"name": n, "listen": "127.0.0.1:0", "upstream": self.upstreams[u], "enabled": e}
            for n, u, e in entries
        ]
        response = self.api.post("/populate", json=body)
        assert response.status_code in (201, 500), response.text
        reported = response.json()["proxies"] or []
        for index, (name, upstream, enabled) in enumerate(entries):
            if index >= len(reported):
                assert response.status_code == 500
                break
            address = self.upstreams[upstream]
            existing = self.proxies.get(name)
            unchanged = existing is not None and existing.listen == "127.0.0.1:0"
            if not (unchanged and existing is not None and existing.upstream == address):
                model = ModelProxy(name, "127.0.0.1:0", address, False)
                if enabled is not False:
                    model.enabled, model.listen = True, "bound?"
                self.proxies[name] = model
            self.check_proxy(reported[index], self.proxies[name])

    @rule()
    def reset(self) -> None:
        response = self.api.post("/reset")
        assert response.status_code in (204, 500)
        for name in sorted(self.proxies):
            model = self.proxies[name]
            if not model.enabled:
                model.enabled = True
                if model.listen.endswith(":0"):
                    model.listen = "bound?"
            model.toxics.clear()
        if response.status_code == 500:  # a listen error: resync from the server
            for name, body in self.api.get("/proxies").json().items():
                self.proxies[name].enabled = body["enabled"]
                self.proxies[name].toxics = [
                    ModelToxic(
                        **{k: t[k] for k in ("name", "type", "stream", "toxicity", "attributes")}
                    )
                    for t in body["toxics"]
                ]

    # --- toxics ---

    @precondition(lambda self: bool(self.proxies))
    @rule(
        proxy=NAMES,
        kind=st.sampled_from([*FIELDS, "bogus"]),
        name=TOXIC_NAMES,
        stream=STREAMS,
        toxicity=TOXICITY,
        values=st.lists(ATTRIBUTE, min_size=3, max_size=3),
    )
    def add_toxic(
        self,
        proxy: str,
        kind: str,
        name: str | None,
        stream: str | None,
        toxicity: float | None,
        values: list[int],
    ) -> None:
        attributes = dict(zip(FIELDS.get(kind, []), values, strict=False))
        body: dict[str, object] = {"type": kind, "attributes": attributes}
        for key, value in (("name", name), ("stream", stream), ("toxicity", toxicity)):
            if value is not None:
                body[key] = value
        response = self.api.post(f"/proxies/{proxy}/toxics", json=body)
        model = self.proxies.get(proxy)
        effective_stream = stream or "downstream"
        effective_name = name or f"{kind}_{effective_stream}"
        if model is None:
            expected = 404
        elif effective_stream.lower() not in ("upstream", "downstream") or kind not in FIELDS:
            expected = 400
        elif any(t.name == effective_name for t in model.toxics):
            expected = 409
        elif not valid(kind, attributes):
            expected = 400
        else:
            expected = 200
        assert response.status_code == expected, response.text
        if expected != 200 or model is None:
            return
        toxic = ModelToxic(
            effective_name,
            kind,
            effective_stream,
            1.0 if toxicity is None else toxicity,
            attributes,
        )
        model.toxics.append(toxic)
        assert response.json() == toxic.json()
        assert list(response.json()["attributes"]) == FIELDS[kind]

    @precondition(lambda self: bool(self.proxies))
    @rule(
        proxy=NAMES,
        name=st.sampled_from(["t1", "t2", "latency_downstream", "noop_upstream"]),
        toxicity=TOXICITY,
        values=st.dictionaries(
            st.sampled_from(
                [
                    "latency",
                    "jitter",
                    "rate",
                    "delay",
                    "timeout",
                    "bytes",
                    "average_size",
                    "size_variation",
                ]
            ),
            ATTRIBUTE,
            max_size=2,
        ),
    )
    def update_toxic(
        self, proxy: str, name: str, toxicity: float | None, values: dict[str, int]
    ) -> None:
        body: dict[str, object] = {"attributes": values}
        if toxicity is not None:
            body["toxicity"] = toxicity
        response = self.api.patch(f"/proxies/{proxy}/toxics/{name}", json=body)
        model = self.proxies.get(proxy)
        toxic = None if model is None else next((t for t in model.toxics if t.name == name), None)
        if toxic is None:
            assert response.status_code == 404
            return
        merged = {**toxic.attributes, **{k: v for k, v in values.items() if k in toxic.attributes}}
        if not valid(toxic.type, merged):
            assert response.status_code == 400
            return
        assert response.status_code == 200, response.text
        toxic.attributes = merged
        if toxicity is not None:
            toxic.toxicity = toxicity
        assert response.json() == toxic.json()

    @precondition(lambda self: bool(self.proxies))
    @rule(proxy=NAMES)
    def list_toxics(self, proxy: str) -> None:
        response = self.api.get(f"/proxies/{proxy}/toxics")
        model = self.proxies.get(proxy)
        if model is None:
            assert response.status_code == 404
            return
        assert response.json() == [t.json() for t in model.ordered_toxics()]

    @precondition(lambda self: bool(self.proxies))
    @rule(proxy=NAMES, name=st.sampled_from(["t1", "t2", "latency_downstream", "noop_upstream"]))
    def delete_toxic(self, proxy: str, name: str) -> None:
        response = self.api.delete(f"/proxies/{proxy}/toxics/{name}")
        model = self.proxies.get(proxy)
        toxic = None if model is None else next((t for t in model.toxics if t.name == name), None)
        if model is None or toxic is None:
            assert response.status_code == 404
            return
        assert response.status_code == 204
        model.toxics.remove(toxic)

    # --- garbage and traffic ---

    @rule(
        path=st.sampled_from(
            ["/proxies", "/populate", "/proxies/a", "/proxies/a/toxics", "/proxies/a/toxics/t1"]
        ),
        method=st.sampled_from(["POST", "PATCH"]),
        data=st.binary(max_size=30),
    )
    def garbage(self, path: str, method: str, data: bytes) -> None:
        try:
            gojson.decode(data)
        except gojson.GoJSONError:
            pass
        else:
            return
        response = self.api.request(method, path, content=data)
        assert response.status_code in (400, 404, 405), response.text

    @rule(name=NAMES, payload=st.binary(min_size=1, max_size=200))
    def traffic(self, name: str, payload: bytes) -> None:
        model = self.proxies.get(name)
        if model is None or not model.enabled:
            return
        if not all(passes_data(t) for t in model.toxics):
            return
        if model.listen == "bound?":
            self.show_proxy(name)  # learn the port it bound
        with connect(model.listen, timeout=5) as conn:
            conn.sendall(payload)
            assert recv_exactly(conn, len(payload)) == payload

    @invariant()
    def listing_matches(self) -> None:
        listing = self.api.get("/proxies")
        assert listing.status_code == 200
        assert list(listing.json()) == sorted(self.proxies)


@pytest.fixture(scope="module")
def machine_env() -> Iterator[tuple[httpx.Client, list[str]]]:
    a, b = Upstream(echo), Upstream(echo)
    with (
        EmbeddedToxiproxy(port=0, seed=5) as server,
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        yield api, [a.address, b.address]
    a.close()
    b.close()


@pytest.mark.timeout(300)
def test_random_api_sequences_match_the_model(machine_env: tuple[httpx.Client, list[str]]) -> None:
    ServerMachine.api, ServerMachine.upstreams = machine_env
    run_state_machine_as_test(
        ServerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
