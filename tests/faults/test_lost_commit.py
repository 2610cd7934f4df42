"""A COMMIT whose reply is lost: the service folds the committed event once and numbers on correctly.

The PostgreSQL store runs through `CommitCutter`, which lets one COMMIT reach the server and cuts the
connection before its reply reaches the service (as when a backend is terminated, the server restarts
or the network resets during a COMMIT). The write is committed but the request fails; the service
must neither number the next events after the seq it last saw nor write that call's id again.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio

from dispatch.bootstrap import fleet_from_layout
from dispatch.service import DispatchService
from dispatch.store import StoreAmbiguousError, open_store
from ems.config import load_config
from geodata.county import load_county
from routing.engine import Router
from routing.network import load_network
from tests.dispatch.service_fixtures import TINY
from tests.faults.pg_proxy import CommitCutter

pytestmark = pytest.mark.integration

INSIDE = (112.121, 28.001)  # on the tiny county's road grid


def through(url: str, port: int) -> str:
    """Return ``url`` pointed at the proxy on 127.0.0.1:``port``, without TLS (the proxy reads the bytes)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    query = "&".join(q for q in (parts.query, "sslmode=disable") if q)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory):
    """The tiny county's router and fleet (a copy: loading it writes a cache beside it)."""
    copy = Path(shutil.copytree(TINY, tmp_path_factory.mktemp("county") / "tiny",
                                ignore=shutil.ignore_patterns(".ems-cache")))
    config = load_config(environ={})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
        tiny = load_county(str(copy))
        router = Router(load_network(tiny), config=config, boundary=None)
    return config, router, fleet_from_layout(tiny.resolve_layout("1+5+N"))


async def service_on(url: str, county, tmp_path: Path) -> DispatchService:
    """Start a dispatch service on the store at ``url``, the only writer of its log."""
    config, router, fleet = county
    service = DispatchService(open_store(url, tmp_path), router, fleet, config)
    await service.start()
    return service


@pytest_asyncio.fixture
async def behind_proxy(pg_url: str, county, tmp_path: Path):
    """A started service whose store reaches PostgreSQL through a `CommitCutter`."""
    parts = urlsplit(pg_url)
    proxy = CommitCutter(parts.hostname, parts.port or 5432)
    await proxy.start()
    service = await service_on(through(pg_url, proxy.port), county, tmp_path)
    try:
        yield proxy, service
    finally:
        await service.close()
        await proxy.close()


async def take_call(service: DispatchService, key: str | None = None) -> str:
    call, _ = await service.receive_call(location=INSIDE, complaint="chest_pain", priority=1, by="alice", key=key)
    return call.id


async def call_ids_in_log(pg_url: str, tmp_path: Path) -> tuple[list[int], list[str]]:
    """Return the log's seqs and the call id of each CallReceived, read without the proxy."""
    async with open_store(pg_url, tmp_path) as store:
        log = await store.read_events()
    return [e.seq for e in log], [e.event["call_id"] for e in log if e.event["type"] == "CallReceived"]


async def test_lost_commit_reply_is_folded_once_and_later_calls_number_on(behind_proxy, pg_url: str, county,
                                                                          tmp_path: Path) -> None:
    proxy, service = behind_proxy
    first_seq = service.last_seq  # the fleet's registration
    proxy.arm()
    with pytest.raises(StoreAmbiguousError, match="outcome is unknown"):
        await take_call(service)
    assert proxy.cuts == 1

    taken = [await take_call(service) for _ in range(5)]

    assert service.last_seq == first_seq + 6
    seqs, received = await call_ids_in_log(pg_url, tmp_path)
    assert seqs == list(range(1, first_seq + 7))
    assert len(received) == 6 and len(set(received)) == 6  # the lost-reply call exactly once
    assert received[1:] == taken
    assert sorted(service.state.calls) == sorted(received)
    fresh = await service_on(pg_url, county, tmp_path)
    try:
        assert fresh.last_seq == first_seq + 6
        assert fresh.state.calls == service.state.calls
    finally:
        await fresh.close()


async def test_retry_under_its_key_after_a_lost_commit_reply_gets_the_committed_call(behind_proxy, pg_url: str,
                                                                                      county, tmp_path: Path) -> None:
    proxy, service = behind_proxy
    proxy.arm()
    with pytest.raises(StoreAmbiguousError):
        await take_call(service, key="k-1")

    retried = await take_call(service, key="k-1")
    following = await take_call(service, key="k-2")

    _, received = await call_ids_in_log(pg_url, tmp_path)
    assert received == [retried, following] and retried != following
    fresh = await service_on(pg_url, county, tmp_path)
    try:  # the service holds the call as committed (not as the retry built it again)
        assert fresh.state.calls == service.state.calls
    finally:
        await fresh.close()
