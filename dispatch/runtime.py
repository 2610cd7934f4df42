"""What a running service is made of: one typed, frozen `Runtime`, and the `Extension` shape.

`dispatch.bootstrap.build_runtime` builds the runtime from the configuration at start-up;
`dispatch.http.build_app` puts it under `RUNTIME` and composes the application from the core
routes and the extensions it is given (`dispatch.app` lists the shipped ones). Nothing outside
`dispatch` reads the application's state: what another package needs is handed to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dispatch.auth import Tokens
from dispatch.bus import Bus
from dispatch.metrics import Registry
from dispatch.places import Places
from dispatch.routes import RouteTable
from dispatch.service import DispatchService, Reaction, SideFold

if TYPE_CHECKING:
    from dispatch.health import Readiness
    from dispatch.positions import Live


@dataclass(frozen=True, slots=True)
class TokenFile:
    """Where the tokens were read, and whether this start generated the file."""

    path: Path
    generated: bool = False


@dataclass(frozen=True)
class Runtime:
    """The parts of one running service instance.

    Attributes
    ----------
    config
        The loaded configuration, command-line overrides applied.
    county, router, layout
        The county (`geodata.county.County`), its road router, the station layout whose units serve.
    tokens, token_file
        Who may call, and where that was read.
    service
        The dispatch service: the one writer of the event log.
    live
        The live positions and the consoles' websocket hub.
    bus
        Events and positions between instances (in process when alone).
    metrics
        The Prometheus registry ``/metrics`` renders.
    places
        The checks a call's location passes.
    readiness
        Whether this instance may take calls now (``/api/health/ready``).
    features
        The optional capabilities the enabled extensions provide (the consoles ask for them).
    """

    config: Mapping[str, Any]
    county: Any
    router: Any
    layout: Any
    tokens: Tokens
    token_file: TokenFile
    service: DispatchService
    live: Live
    bus: Bus
    metrics: Registry
    places: Places
    readiness: Readiness
    features: frozenset[str] = frozenset()


RUNTIME = web.AppKey("runtime", Runtime)


@dataclass(frozen=True, slots=True)
class Contribution:
    """What an extension adds to the service before it replays the log."""

    side_folds: Sequence[SideFold] = ()
    reactions: Sequence[Reaction] = ()


Lifespan = Callable[[web.Application, Runtime], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Extension:
    """An optional part of the service: its own routes, and what it adds and runs.

    Attributes
    ----------
    name
        The name ``[service] extensions`` enables it by.
    routes
        Its route table (auth, body schema and OpenAPI come from each route's entry).
    features
        The capabilities it provides, as the consoles ask for them (``websocket``, ``milestones``...).
    prepare
        Called once when the application is built: sets its application keys and static routes,
        and returns the side folds and reactions the service is built with.
    lifespan
        Runs after the service has started (its background tasks), ends before the service closes.
    """

    name: str
    routes: RouteTable = field(default_factory=RouteTable)
    features: tuple[str, ...] = ()
    prepare: Callable[[web.Application, Mapping[str, Any]], Contribution] | None = None
    lifespan: Lifespan | None = None


def runtime_of(app: web.Application) -> Runtime:
    """Return the application's runtime (set at start-up)."""
    return app[RUNTIME]


__all__ = ["Contribution", "Extension", "Lifespan", "RUNTIME", "Runtime", "TokenFile", "runtime_of"]
