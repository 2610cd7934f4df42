"""The composition root: the dispatch service application with the extensions the service ships.

``[service] extensions`` in config.toml names the optional parts to serve (all by default):

- ``live``: GPS intake (JSON and the OsmAnd protocol), the websocket stream, ``/metrics``
  (`dispatch.live`);
- ``geo``: the county's GeoJSON, place search, layouts, unit routes (`dispatch.geo_http`);
- ``centers``: chest pain and stroke patients: milestones, destination, ECG, pre-notification,
  reports (`dispatch.centers_http`);
- ``simulations``: the planner's simulation runs (`dispatch.sim_http`);
- ``consoles``: the console pages (`consoles.http`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from consoles import http as consoles_http
from dispatch import centers_http, geo_http, live, sim_http
from dispatch.errors import ValidationError
from dispatch.http import build_app
from dispatch.runtime import Extension
from dispatch.service import utcnow

#: The shipped extensions, in the order they are composed.
SHIPPED: tuple[Extension, ...] = (live.EXTENSION, geo_http.EXTENSION, centers_http.EXTENSION, sim_http.EXTENSION,
                                  consoles_http.EXTENSION)


def extensions_for(config: Mapping[str, Any]) -> list[Extension]:
    """Return the extensions ``[service] extensions`` enables (all shipped ones when it is absent).

    Raises
    ------
    ValidationError
        A name is not a shipped extension; the message lists them.
    """
    by_name = {ext.name: ext for ext in SHIPPED}
    names = (config.get("service", {}) or {}).get("extensions")
    if names is None:
        return list(SHIPPED)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValidationError("service.extensions", f"service.extensions: {', '.join(map(repr, unknown))} "
                                                    f"not an extension; expected some of {', '.join(by_name)}")
    return [ext for ext in SHIPPED if ext.name in names]


def create_app(config: Mapping[str, Any], extensions: Sequence[Extension] | None = None, *,
               clock: Callable[[], datetime] = utcnow,
               fleet: Callable[[Any], Iterable[Any]] | None = None) -> web.Application:
    """Build the dispatch service application.

    Parameters
    ----------
    config
        The loaded ``config.toml`` (``ems.config.load_config``), with command-line overrides applied.
    extensions
        The optional parts to compose; None: those ``[service] extensions`` enables.
    clock, fleet
        The service's clock and the fleet built from the layout (tests and benchmarks pass their own).
    """
    chosen = extensions_for(config) if extensions is None else list(extensions)
    return build_app(config, chosen, clock=clock, fleet=fleet)


__all__ = ["SHIPPED", "create_app", "extensions_for"]
