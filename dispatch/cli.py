"""`ems serve`: run the dispatch service."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

from dispatch.auth import Role


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve", help="run the dispatch service (REST, websockets, consoles)",
        description="Run the 120 dispatch service on a county (the embedded Ningxiang by default) with "
                    "SQLite in the data directory, or PostgreSQL with --db. Without --token-file a demo "
                    "token file is generated in the data directory and the dispatcher token printed.")
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="config file (default: the project's config.toml; same as `ems --config FILE serve`)")
    p.add_argument("--db", metavar="URL", help="store: postgresql://… or sqlite:///path (default: SQLite in the data dir)")
    p.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default from config: 8120)")
    p.add_argument("--token-file", metavar="F", help="TOML token file ([[token]] value, role, unit|hospital)")
    p.add_argument("--data-dir", metavar="D", help="where the database, tokens and uploads live")
    p.add_argument("--county", metavar="NAME|DIR", help="county (default: ningxiang)")
    p.add_argument("--layout", metavar="NAME", help="station layout whose units are registered: a layout of the county or a layout "
                                                "TOML file (e.g. one written by `ems plan optimize`; default: 1+5+N)")
    p.add_argument("--allow-outside", action="store_true", help="accept call locations outside the county")
    p.add_argument("--bus", metavar="URL", help="share events between instances: redis://host:6379/0 "
                                                "(several instances on one PostgreSQL store)")
    p.add_argument("--twin", action="store_true",
                   help="also run the twin: simulated calls and crews driving this service (docs/twin.md)")
    p.add_argument("--twin-speed", type=float, default=10.0, metavar="S",
                   help="the twin's simulated seconds per second (default 10)")
    p.set_defaults(func=serve)


def serve_config(args: argparse.Namespace) -> dict[str, Any]:
    """Return the config with the command line's overrides applied."""
    from ems.config import load_config

    config = load_config(args.config)
    service = config.setdefault("service", {})
    for flag, key in (("db", "db"), ("host", "host"), ("port", "port"), ("token_file", "token_file"),
                      ("data_dir", "data_dir"), ("layout", "layout"), ("bus", "bus")):
        value = getattr(args, flag, None)
        if value is not None:
            service[key] = value
    if getattr(args, "allow_outside", False):
        service["allow_outside"] = True
    if getattr(args, "county", None):
        config.setdefault("county", {})["name"] = args.county
    return config


def startup_lines(rt: Any, host: str, port: int) -> list[str]:
    """Return what ``ems serve`` prints once it listens.

    The dispatcher token is printed only the first time, when this start generated the demo token
    file; afterwards the file is named, never its secrets (a terminal log outlives a shift).
    """
    lines = [f"ems: dispatch service on http://{host}:{port}/  (API: /api/openapi.json)"]
    if rt.token_file.generated:
        lines.append(f"ems: tokens generated in {rt.token_file.path} (keep it private: mode 0600)")
        dispatcher = rt.tokens.first(Role.DISPATCHER)
        if dispatcher:
            lines.append(f"ems: dispatcher token: {dispatcher}")
    else:
        lines.append(f"ems: tokens in {rt.token_file.path}")
    return lines


def serve(args: argparse.Namespace) -> int:
    import logging

    from aiohttp import web

    from dispatch.app import create_app
    from dispatch.runtime import RUNTIME

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = serve_config(args)
    twin = getattr(args, "twin", False)
    if twin:
        from simulation.twin import service_config_for_twin

        config = service_config_for_twin(config, args.twin_speed)
    app = create_app(config)
    host = config["service"].get("host", "127.0.0.1")
    port = int(config["service"].get("port", 8120))

    async def announce(app: web.Application) -> None:
        for line in startup_lines(app[RUNTIME], host, port):
            print(line, flush=True)

    async def run_twin(app: web.Application) -> AsyncIterator[None]:
        from simulation.twin import twin_running

        rt = app[RUNTIME]
        async with twin_running(config, args.twin_speed, token_path=rt.token_file.path, county=rt.county,
                                router=rt.router):
            yield

    app.on_startup.append(announce)
    if twin:
        app.cleanup_ctx.append(run_twin)
    web.run_app(app, host=host, port=port, print=None, access_log=None)
    return 0
