"""Shared pytest set-up. Package tests live in tests/<package>/."""

# --- PostgreSQL for store tests ------------------------------------------------------------------
# A throw-away database per test session (``ems_test_<random>``, dropped at the end) on the local
# server, and a fresh schema in it per test. The admin URL can be changed with EMS_TEST_PG_ADMIN_URL.
# When the server is unreachable the PostgreSQL tests are skipped on a workstation, but fail in CI
# (environment variable CI set), where .ci/start-services must have started it.

import asyncio
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_ADMIN_URL = os.environ.get("EMS_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _run_pg(statements: list[str], url: str = PG_ADMIN_URL) -> None:
    """Run SQL statements on their own connection, in a thread with its own event loop.

    A fresh thread keeps this away from the event loop pytest-asyncio manages for the tests.
    """
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def _with_database(url: str, database: str, **query: str) -> str:
    parts = urlsplit(url)
    query_text = "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit(parts._replace(path=f"/{database}", query=query_text))


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """Return the URL of a fresh PostgreSQL database, dropped after the test session."""
    database = f"ems_test_{secrets.token_hex(6)}"
    try:
        _run_pg([f'CREATE DATABASE "{database}"'])
    except Exception as e:  # noqa: BLE001 - any failure to reach the server means the same here
        reason = f"PostgreSQL unreachable at {PG_ADMIN_URL} ({type(e).__name__}: {e})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI .ci/start-services must start it", pytrace=False)
        pytest.skip(f"{reason}; run .ci/start-services to test the PostgreSQL store")
    try:
        yield _with_database(PG_ADMIN_URL, database)
    finally:
        _run_pg([f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'])


@pytest.fixture
def pg_url(pg_database_url: str) -> Iterator[str]:
    """Return the URL of an empty schema of the session's test database, dropped after the test.

    The schema is chosen through the ``search_path`` server setting carried in the URL's query.
    """
    schema = f"t_{secrets.token_hex(6)}"
    _run_pg([f'CREATE SCHEMA "{schema}"'], pg_database_url)
    try:
        yield _with_database(pg_database_url, urlsplit(pg_database_url).path.lstrip("/"), search_path=schema)
    finally:
        # a connection the test left open in a transaction would block the drop for ever: fail instead
        _run_pg(["SET lock_timeout = '15s'", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'], pg_database_url)
