"""The twin's side of the service's API: the tokens it acts with and its HTTP requests."""

from __future__ import annotations

import asyncio
import logging
import time
import tomllib
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulation.twin.errors import TwinError, TwinHttpError

log = logging.getLogger(__name__)

#: Methods whose requests carry an Idempotency-Key: the service applies a request sent again under
#: the same key (the answer was lost) once.
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Attempts of such a request when the connection fails before an answer (a pooled connection the
#: service closed, a restart), each after NETWORK_RETRY_S times its number, all under one key.
NETWORK_ATTEMPTS = 3
NETWORK_RETRY_S = 0.5


@dataclass(frozen=True)
class TwinTokens:
    """The tokens the twin acts with: a dispatcher's and one crew token per unit."""

    dispatcher: str
    crews: Mapping[str, str]


def read_tokens(path: Path) -> TwinTokens:
    """Read a token file (dispatch/auth.py format): the first dispatcher (or admin) token and the crews'.

    Raises
    ------
    TwinError
        The file is missing or not TOML, or holds no dispatcher or admin token.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise TwinError(f"token file {path}: not found (ems serve writes var/tokens.toml on first start)") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TwinError(f"token file {path}: not valid TOML ({e})") from e
    entries = [e for e in data.get("token", []) if isinstance(e, dict) and isinstance(e.get("value"), str)]
    dispatcher = next((e["value"] for e in entries if e.get("role") == "dispatcher"), None) or \
        next((e["value"] for e in entries if e.get("role") == "admin"), None)
    if dispatcher is None:
        raise TwinError(f"token file {path}: expected a [[token]] with role = \"dispatcher\" (or admin), found none")
    crews: dict[str, str] = {}
    for e in entries:
        if e.get("role") == "crew" and isinstance(e.get("unit"), str):
            crews.setdefault(e["unit"], e["value"])
    return TwinTokens(dispatcher, crews)


class ServiceClient:
    """Requests to one running service (``url``), inside `connect`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session: Any = None

    @asynccontextmanager
    async def connect(self, timeout_s: float = 60.0) -> AsyncIterator[None]:
        """Open the HTTP session the requests use, for the time of the ``async with`` block."""
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            self.session = session
            try:
                yield
            finally:
                self.session = None

    async def request(self, method: str, path: str, token: str | None, *, json: Any = None,
                      data: bytes | None = None, params: Mapping[str, str] | None = None,
                      content_type: str | None = None) -> Any:
        """Call the service; return the JSON body (None when empty).

        A POST, PUT, PATCH or DELETE is one action: it carries one new Idempotency-Key, and is sent
        again under that key (up to NETWORK_ATTEMPTS in all) when the connection fails before an answer.

        Raises
        ------
        TwinHttpError
            The service answered 4xx or 5xx.
        TwinError
            Called outside `connect`.
        aiohttp.ClientConnectionError
            The connection failed on the last attempt.
        """
        import aiohttp

        if self.session is None:
            raise TwinError(f"url: {self.url}: no HTTP session (requests are made inside ServiceClient.connect)")
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        attempts = 1
        if method in MUTATING:
            headers["Idempotency-Key"] = str(uuid.uuid4())
            attempts = NETWORK_ATTEMPTS
        for attempt in range(1, attempts):
            try:
                return await self._send(method, path, headers, json, data, params)
            except aiohttp.ClientConnectionError as e:
                log.info("twin: %s %s: %s; sending it again under the same key (attempt %d of %d)",
                         method, path, e, attempt + 1, attempts)
                await asyncio.sleep(NETWORK_RETRY_S * attempt)
        return await self._send(method, path, headers, json, data, params)  # the last attempt fails loudly

    async def _send(self, method: str, path: str, headers: dict[str, str], json: Any, data: bytes | None,
                    params: Mapping[str, str] | None) -> Any:
        async with self.session.request(method, self.url.rstrip("/") + path, json=json, data=data,
                                        params=params, headers=headers) as response:
            body = await response.read()
            if response.status >= 400:
                try:
                    err = await response.json(content_type=None)
                except ValueError:
                    err = {}
                err = err if isinstance(err, dict) else {}
                raise TwinHttpError(method, path, response.status, str(err.get("error", "http_error")),
                                    str(err.get("message", body[:200].decode("utf-8", "replace"))))
            if not body:
                return None
            try:
                return await response.json(content_type=None)
            except ValueError:
                return None

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the service answers ``/api/health``.

        Raises
        ------
        TwinError
            No answer within ``timeout_s``.
        """
        import aiohttp

        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                await self.request("GET", "/api/health", None)
                return
            except (aiohttp.ClientError, TwinHttpError, OSError) as e:
                last = e
            await asyncio.sleep(0.5)
        raise TwinError(f"url: {self.url} did not answer /api/health within {timeout_s:.0f} s ({last})")
