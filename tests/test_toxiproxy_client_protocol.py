"""The client's sans-IO core: requests it builds and how it reads answers, with no server."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.errors import ExitCode, InvalidInput
from chaos.faults.client import (
    Api,
    BandwidthAttributes,
    LatencyAttributes,
    LimitDataAttributes,
    Operation,
    PopulateError,
    Proxy,
    ProxySpec,
    SlicerAttributes,
    Toxic,
    ToxicAttributes,
    ToxiproxyBadRequest,
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyProtocolError,
    UnknownAttributes,
    register_toxic_type,
    resolve_url,
)
from chaos.faults.client.models import ATTRIBUTES_BY_TYPE
from chaos.faults.client.protocol import HttpRequest, HttpResponse

T = TypeVar("T")
URL = "http://127.0.0.1:8474"
api = Api(URL)


def drive(operation: Operation[T], *answers: tuple[int, Any]) -> tuple[T, list[HttpRequest]]:
    """Run an operation against canned answers; return its result and the requests it made."""
    sent = [next(operation)]
    for index, (status, body) in enumerate(answers):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            sent.append(operation.send(HttpResponse(status, raw)))
        except StopIteration as done:
            assert index == len(answers) - 1, "operation finished before all answers were used"
            return done.value, sent
    raise AssertionError(f"operation wants more answers after {sent}")


def body_of(request: HttpRequest) -> Any:
    assert request.body is not None
    return json.loads(request.body)


PROXY = {
    "name": "edge",
    "listen": "127.0.0.1:33697",
    "upstream": "127.0.0.1:9000",
    "enabled": True,
    "Logger": {},
    "toxics": [
        {
            "attributes": {"latency": 100, "jitter": 10},
            "name": "latency_downstream",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1,
        }
    ],
}


def test_get_proxy_quotes_the_name_and_parses_typed_toxics() -> None:
    proxy, sent = drive(api.get_proxy("a b/c"), (200, PROXY))
    assert sent == [HttpRequest("GET", "/proxies/a%20b%2Fc")]
    assert proxy.listen_host_port == ("127.0.0.1", 33697)
    assert proxy.toxics[0].attributes == LatencyAttributes(latency=100, jitter=10)


def test_create_proxy_defaults_to_loopback_and_expects_201() -> None:
    _, sent = drive(api.create_proxy("edge", "127.0.0.1:9000"), (201, PROXY))
    assert sent[0].method == "POST" and sent[0].path == "/proxies"
    assert body_of(sent[0]) == {
        "name": "edge",
        "listen": "127.0.0.1:0",
        "upstream": "127.0.0.1:9000",
        "enabled": True,
    }


def test_update_proxy_patches_only_given_fields() -> None:
    _, sent = drive(api.update_proxy("edge", enabled=False), (200, PROXY))
    assert (sent[0].method, body_of(sent[0])) == ("PATCH", {"enabled": False})


def test_add_toxic_takes_its_type_from_the_attributes_model() -> None:
    answer = {**PROXY["toxics"][0], "stream": "UpStream"}  # type: ignore[dict-item]
    toxic, sent = drive(
        api.add_toxic("edge", LatencyAttributes(latency=5), stream="upstream"), (200, answer)
    )
    assert body_of(sent[0]) == {
        "type": "latency",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {"latency": 5, "jitter": 0},
    }
    assert toxic.stream == "upstream"  # echoed case is normalised


def test_add_toxic_with_a_raw_mapping_needs_a_type() -> None:
    with pytest.raises(ValueError, match="type="):
        next(api.add_toxic("edge", {"latency": 1}))
    with pytest.raises(ValueError, match="contradicts"):
        next(api.add_toxic("edge", LatencyAttributes(), type="bandwidth"))
    _, sent = drive(
        api.add_toxic("edge", {"percent": 5}, type="loss", name="drop"),
        (200, {"name": "drop", "type": "loss", "attributes": {"percent": 5}}),
    )
    assert body_of(sent[0])["name"] == "drop"


def test_update_toxic_sends_only_explicitly_set_attributes() -> None:
    _, sent = drive(
        api.update_toxic("edge", "latency_downstream", LatencyAttributes(jitter=10)),
        (200, PROXY["toxics"][0]),  # type: ignore[index]
    )
    assert (sent[0].method, body_of(sent[0])) == ("PATCH", {"attributes": {"jitter": 10}})
    _, sent = drive(api.update_toxic("edge", "t", toxicity=0.5), (200, PROXY["toxics"][0]))  # type: ignore[index]
    assert body_of(sent[0]) == {"toxicity": 0.5}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ToxiproxyBadRequest),
        (404, ToxiproxyNotFound),
        (409, ToxiproxyConflict),
        (500, ToxiproxyError),
    ],
)
def test_error_status_becomes_a_typed_error_with_the_servers_words(
    status: int, error: type[ToxiproxyError]
) -> None:
    answer = json.dumps({"error": "proxy not found", "status": status}).encode() + b"\n"
    with pytest.raises(error) as caught:
        drive(api.get_proxy("x"), (status, answer))
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.message) == (status, "proxy not found")
    assert URL in str(caught.value) and "GET /proxies/x" in str(caught.value)
    assert caught.value.exit_code == ExitCode.INFRASTRUCTURE


def test_non_json_error_body_is_kept_as_text() -> None:
    with pytest.raises(ToxiproxyNotFound, match="404 page not found"):
        drive(api.reset(), (404, b"404 page not found\n"))


def test_success_with_a_non_json_body_is_a_protocol_error() -> None:
    with pytest.raises(ToxiproxyProtocolError, match="not JSON"):
        drive(api.list_proxies(), (200, b"<html>hello</html>"))
    with pytest.raises(ToxiproxyProtocolError, match="unexpected response shape"):
        drive(api.list_proxies(), (200, {"edge": {"name": "edge"}}))


def test_version_reads_json_and_the_old_plain_text_form() -> None:
    assert drive(api.version(), (200, b'{"version": "2.12.0"}\n'))[0] == "2.12.0"
    assert drive(api.version(), (200, b"2.0.0\n"))[0] == "2.0.0"


def test_server_info_on_404_is_a_real_toxiproxy_without_extensions() -> None:
    info, sent = drive(
        api.server_info(), (200, {"version": "2.12.0"}), (404, b"404 page not found\n")
    )
    assert [r.path for r in sent] == ["/version", "/gameday/features"]
    assert (info.flavor, info.version, info.features) == ("toxiproxy", "2.12.0", frozenset())
    assert not info.supports("leases")


def test_server_info_reads_our_extensions() -> None:
    features = {"server": "gameday", "version": "0.1.0", "features": ["leases", "tags"]}
    info, _ = drive(api.server_info(), (200, {"version": "2.12.0"}), (200, features))
    assert info.flavor == "gameday" and info.server_version == "0.1.0"
    assert info.supports("leases") and not info.supports("loss")


def test_server_info_ignores_a_foreign_features_endpoint() -> None:
    info, _ = drive(api.server_info(), (200, {"version": "2.12.0"}), (200, {"x": 1}))
    assert info.flavor == "toxiproxy"


def test_populate_returns_proxies_and_reports_partial_results() -> None:
    specs = [ProxySpec(name="a", upstream="127.0.0.1:1"), ProxySpec(name="b", upstream="x:2")]
    proxies, sent = drive(api.populate(specs), (201, {"proxies": [PROXY]}))
    assert [p.name for p in proxies] == ["edge"]
    assert body_of(sent[0])[1] == {
        "name": "b",
        "upstream": "x:2",
        "listen": "127.0.0.1:0",
        "enabled": True,
    }
    assert drive(api.populate([]), (201, {"proxies": None}))[0] == []
    failed = {"error": "listen tcp: address in use", "status": 500, "proxies": [PROXY]}
    with pytest.raises(PopulateError) as caught:
        drive(api.populate(specs), (500, failed))
    assert caught.value.message == "listen tcp: address in use"
    assert [p.name for p in caught.value.proxies] == ["edge"]


def test_unknown_toxic_types_parse_and_can_be_registered() -> None:
    raw = {"name": "t", "type": "not_a_known_type", "attributes": {"percent": 5}}
    assert Toxic.model_validate(raw).attributes == UnknownAttributes(percent=5)

    class LossAttributes(ToxicAttributes):
        toxic_type = "loss_test_only"
        percent: int = 0

    register_toxic_type(LossAttributes)
    try:
        parsed = Toxic.model_validate({**raw, "type": "loss_test_only"})
        assert parsed.attributes == LossAttributes(percent=5)
    finally:
        del ATTRIBUTES_BY_TYPE["loss_test_only"]
    with pytest.raises(ValueError, match="toxic_type"):
        register_toxic_type(ToxicAttributes)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "http://127.0.0.1:8474"),
        ("localhost:9999", "http://localhost:9999"),
        ("https://proxy.example:8474/", "https://proxy.example:8474"),
    ],
)
def test_resolve_url(given: str | None, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    assert resolve_url(given) == expected


def test_resolve_url_prefers_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", "toxiproxy.lab.example:8474")
    assert resolve_url() == "http://toxiproxy.lab.example:8474"
    assert resolve_url("127.0.0.1:1") == "http://127.0.0.1:1"


@pytest.mark.parametrize("bad", ["ftp://x:1", "http://", "http://h:99999", "http://h:port"])
def test_resolve_url_rejects_bad_urls_naming_the_source(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", bad)
    with pytest.raises(InvalidInput) as caught:
        resolve_url()
    assert caught.value.where == "TOXIPROXY_URL" and "http://HOST:PORT" in str(caught.value)


ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
ATTRIBUTE_STRATEGIES = {
    "latency": st.fixed_dictionaries({"latency": ints, "jitter": ints}),
    "bandwidth": st.fixed_dictionaries({"rate": ints}),
    "slicer": st.fixed_dictionaries({"average_size": ints, "size_variation": ints, "delay": ints}),
    "limit_data": st.fixed_dictionaries({"bytes": ints}),
    "future_type": st.dictionaries(st.text(min_size=1), ints, max_size=3),
}


@given(
    toxic_type=st.sampled_from(sorted(ATTRIBUTE_STRATEGIES)),
    data=st.data(),
    name=st.text(min_size=1),
    stream=st.sampled_from(["upstream", "downstream", "UpStream", "DOWNSTREAM"]),
    toxicity=st.floats(allow_nan=False, allow_infinity=False, width=32),
)
def test_any_toxic_the_server_can_emit_round_trips(
    toxic_type: str, data: st.DataObject, name: str, stream: str, toxicity: float
) -> None:
    attributes = data.draw(ATTRIBUTE_STRATEGIES[toxic_type])
    raw = {
        "attributes": attributes,
        "name": name,
        "type": toxic_type,
        "stream": stream,
        "toxicity": toxicity,
    }
    toxic = Toxic.model_validate_json(json.dumps(raw))
    assert toxic.stream == stream.lower()
    assert toxic.attributes.model_dump() == attributes
    assert type(toxic.attributes) is ATTRIBUTES_BY_TYPE.get(toxic_type, UnknownAttributes)
    assert Toxic.model_validate(toxic.model_dump()) == toxic


@given(
    st.one_of(
        st.builds(LatencyAttributes, latency=ints, jitter=ints),
        st.builds(BandwidthAttributes, rate=ints),
        st.builds(SlicerAttributes, average_size=ints, delay=ints),
        st.builds(LimitDataAttributes, bytes=ints),
    )
)
def test_add_toxic_sends_every_attribute_and_update_only_the_set_ones(
    attributes: ToxicAttributes,
) -> None:
    add = body_of(next(api.add_toxic("p", attributes)))
    assert add["type"] == attributes.toxic_type
    assert add["attributes"] == attributes.model_dump()
    update = body_of(next(api.update_toxic("p", "t", attributes)))
    assert update["attributes"] == {k: getattr(attributes, k) for k in attributes.model_fields_set}


@given(st.text(), st.integers(min_value=100, max_value=599), st.binary(max_size=200))
def test_any_error_answer_becomes_a_typed_error_never_a_crash(
    name: str, status: int, body: bytes
) -> None:
    operation = api.get_proxy(name)
    request = next(operation)
    assert request.path.count("/") == 2  # the name never escapes its path segment
    try:
        operation.send(HttpResponse(status, body))
    except StopIteration as done:
        assert status == 200 and isinstance(done.value, Proxy)
    except ToxiproxyError as error:
        assert status != 200 and error.status == status
    except ToxiproxyProtocolError:
        assert status == 200


hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
)


@given(hosts, st.integers(min_value=1, max_value=65535), st.sampled_from(["", "http://"]))
def test_any_host_and_port_resolves_to_an_http_url(host: str, port: int, scheme: str) -> None:
    assert resolve_url(f"{scheme}{host}:{port}") == f"http://{host}:{port}"


def test_sync_and_async_clients_offer_every_operation_with_one_signature() -> None:
    import inspect

    from chaos.faults.client import AsyncToxiproxyClient, ToxiproxyClient

    operations = {
        name for name, value in vars(Api).items() if inspect.isfunction(value) and name[0] != "_"
    }
    for client in (ToxiproxyClient, AsyncToxiproxyClient):
        assert operations <= set(vars(client)), client
        for name in operations:
            method = getattr(client, name)
            assert inspect.iscoroutinefunction(method) == (client is AsyncToxiproxyClient)
            assert list(inspect.signature(method).parameters) == list(
                inspect.signature(getattr(Api, name)).parameters
            ), name
