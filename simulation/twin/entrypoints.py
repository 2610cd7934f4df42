"""Entry points of the twin: ``ems twin`` (`run_twin`) and ``ems serve --twin`` (`twin_running`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from simulation.twin.core import Twin
from simulation.twin.errors import TwinError
from simulation.twin.options import TwinOptions, TwinReport

log = logging.getLogger(__name__)


async def run_twin(options: TwinOptions, *, config: Mapping[str, Any], county: Any = None,
                   router: Any = None) -> TwinReport:
    """Run the twin against the service at ``options.url``.

    Parameters
    ----------
    options
        The run's settings.
    config
        The loaded config (``[simulation]`` for the demand and service times, ``[county]``).
    county, router
        The county and its `routing.engine.Router` (the service's own when run inside it); loaded
        from ``config`` when None.

    Raises
    ------
    TwinError
        The token file cannot be used or the service does not answer.
    """
    if county is None or router is None:
        county, router = await asyncio.to_thread(load_county_router, config)
    return await Twin(options, config=config, county=county, router=router).run()


def load_county_router(config: Mapping[str, Any]) -> tuple[Any, Any]:
    """Load the config's county and a router on its road network (blocking: seconds)."""
    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import load_network

    county = load_county((config.get("county") or {}).get("name", "ningxiang"))
    return county, Router(load_network(county), config=dict(config), boundary=None)


def service_url(config: Mapping[str, Any]) -> str:
    """Return the URL a twin inside ``ems serve`` reaches the service at (loopback for a wildcard host)."""
    service = config.get("service", {}) or {}
    host = str(service.get("host", "127.0.0.1"))
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{host}:{int(service.get('port', 8120))}"


@asynccontextmanager
async def twin_running(config: Mapping[str, Any], speed: float, *, token_path: Path, county: Any, router: Any,
                       calls_per_hour: float | None = None, seed: int = 1) -> AsyncIterator[Twin]:
    """Run the twin in the background against the service of ``config`` while the block runs.

    ``ems serve --twin`` enters it once the service listens, with the service's own county, router
    and token file (the demo one unless ``--token-file``).
    """
    options = TwinOptions(url=service_url(config), token_file=token_path, speed=speed,
                          calls_per_hour=calls_per_hour, seed=seed)
    twin = Twin(options, config=config, county=county, router=router)

    async def run() -> None:
        try:
            await twin.run()
        except TwinError as e:
            log.error("twin stopped: %s", e)

    task = asyncio.ensure_future(run())
    print(f"ems: the twin drives the county at speed {speed:g} (turn it off: ems serve without --twin, "
          "make run TWIN=0)", flush=True)
    try:
        yield twin
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
