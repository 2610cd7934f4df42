"""Generated garbage to every route: the service answers 4xx JSON with a reason, never a 5xx."""

from __future__ import annotations

import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.app import SHIPPED
from dispatch.http import routes_of
from tests.live_server import LiveServer
from tests.dispatch.service_fixtures import TOKENS, make_config

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
TOKEN_CHOICES = st.sampled_from([None, "garbage-token", *TOKENS])
PATH_IDS = st.sampled_from(["centre-1", "liushahe-1", "C20261126-00001", "nope", "%00", "..", "x" * 300, "龙田"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    warnings.simplefilter("ignore")
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    live = LiveServer(make_config(tmp))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def send(server: LiveServer, method: str, path: str, body: bytes | None, token: str | None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {TOKENS.get(token, token)}"
    req = urllib.request.Request(f"{server.url}{path}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def fill(path: str, ident: str) -> str:
    return "/".join(urllib.request.quote(ident, safe="") if p.startswith("{") else p for p in path.split("/"))


def check_answer(status: int, raw: bytes) -> None:
    assert status < 500, f"server error {status}: {raw[:300]!r}"
    if status >= 400:
        body = orjson.loads(raw)
        assert set(body) == {"error", "message"} and body["message"], body


ROUTES = [r for r in routes_of(SHIPPED) if r.path.startswith("/api/")]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_garbage_to_every_route_gets_a_4xx_with_a_reason(server: LiveServer, route, data) -> None:
    ident = data.draw(PATH_IDS)
    token = data.draw(TOKEN_CHOICES)
    # half the time a body shaped like the schema (its field names, wild values), else anything
    props = (route.body or {}).get("properties", {})
    shaped = st.fixed_dictionaries({}, optional={name: JSON for name in props}) if props else JSON
    body = data.draw(st.one_of(shaped.map(orjson.dumps), JSON.map(orjson.dumps), st.binary(max_size=200)))
    status, raw = send(server, route.method, fill(route.path, ident), body if route.method != "GET" else None, token)
    check_answer(status, raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(location=JSON, complaint=JSON, priority=JSON, extra=st.dictionaries(st.sampled_from(
    ["notes", "caller_phone", "symptom_onset", "place_name"]), JSON, max_size=3))
def test_near_valid_calls_are_answered(server: LiveServer, location, complaint, priority, extra) -> None:
    body = {"location": location, "complaint": complaint, "priority": priority} | extra
    status, raw = send(server, "POST", "/api/calls", orjson.dumps(body), "dispatcher")
    check_answer(status, raw)
