"""``ems geodata``: describe a county, import OpenStreetMap data, rebuild the embedded Ningxiang."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from geodata.errors import GeodataError, GeodataWarning

_INFO_HELP = """\
Show a county's road network (nodes, edges, km of road, bounding box, strongly connected
components), its places by kind, facilities and station layouts. The first run on a county
compiles the road network for the routing engine (tens of seconds) and caches it.
"""
_IMPORT_HELP = """\
Write a county directory (docs/county-format.md) from OpenStreetMap data: an extract file
(.osm, .osm.xml, .osm.bz2, .osm.pbf) or an osmnx GraphML file, or a place name fetched from
OpenStreetMap's servers (--place, needs the internet). Only drivable roads are kept, and only the
largest strongly connected part of them. OSM place nodes become places.csv; facilities.toml and
layouts/ are left for you to fill in.

examples:
  ems geodata import hunan-latest.osm.pbf --out counties/hunan
  ems geodata import --place "Ningxiang, Changsha, Hunan, China" --out counties/ningxiang-osm
"""
_BUILD_HELP = """\
Regenerate the embedded Ningxiang county (geodata/ningxiang/) from the reference data shipped
with the project: township seats, villages and boundary converted to WGS84, a schematic road
network written as OSM XML, facilities and the published 1+5+N layout.
"""


def register(subparsers: Any) -> None:
    """Add ``ems geodata`` and its subcommands to the ``ems`` parser."""
    parser = subparsers.add_parser(
        "geodata",
        help="counties: describe, import OpenStreetMap data, build Ningxiang",
        description="Work with county directories: the embedded Ningxiang county or one you import.",
    )
    parser.set_defaults(func=lambda args: _help(parser))
    commands = parser.add_subparsers(dest="geodata_command", metavar="SUBCOMMAND")

    info = commands.add_parser(
        "info",
        help="describe a county",
        description=_INFO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument(
        "--county",
        metavar="NAME|DIR",
        help="'ningxiang' or a county directory (default: [county] name in the config)",
    )
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_info)

    imp = commands.add_parser(
        "import",
        help="import OpenStreetMap data into a county directory",
        description=_IMPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("path", nargs="?", type=Path, metavar="PATH", help="the extract or GraphML file")
    imp.add_argument("--place", metavar="NAME", help="fetch this place from OpenStreetMap (online)")
    imp.add_argument("--out", required=True, type=Path, metavar="DIR", help="the county directory to write")
    imp.add_argument("--name", metavar="NAME", help="the county's name (default: file stem or place)")
    imp.set_defaults(func=_import)

    build = commands.add_parser(
        "build-ningxiang",
        help="regenerate the embedded Ningxiang county",
        description=_BUILD_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write it (default: geodata/ningxiang/)"
    )
    build.add_argument("--seed", type=int, metavar="N", help="seed of the generated roads and settlements")
    build.add_argument("--quiet", action="store_true", help="print only the summary")
    build.set_defaults(func=_build)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _county_name(args: argparse.Namespace) -> str:
    if args.county:
        return str(args.county)
    from ems.config import load_config, section

    name = section(load_config(getattr(args, "config", None)), "county").get("name", "ningxiang")
    if not isinstance(name, str) or not name:
        raise GeodataError(f"config [county] name must be a county name or directory, got {name!r}")
    return name


def _info(args: argparse.Namespace) -> int:
    from geodata.county import load_county
    from geodata.info import county_info, format_info

    county = load_county(_county_name(args))
    with warnings.catch_warnings():
        # The dropped-component warning is for code that loads a graph; here the counts say it.
        warnings.simplefilter("ignore", category=GeodataWarning)
        info = county_info(county)
    if args.json:
        import orjson

        sys.stdout.write(orjson.dumps(info.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_info(info))
    return 0


def _import(args: argparse.Namespace) -> int:
    from geodata.osm import import_county

    if (args.path is None) == (args.place is None):
        raise GeodataError("ems geodata import: give PATH or --place NAME (one of them)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=GeodataWarning)  # the report lists what was dropped
        report = import_county(args.path, args.out, place=args.place, name=args.name)
    print(report.summary())
    return 0


def _build(args: argparse.Namespace) -> int:
    # The builder sits above geodata (it places the stations with the planner): an entry point may import it.
    from simulation.ningxiang_build import build as ningxiang

    out = args.out if args.out is not None else ningxiang.DEFAULT_OUT
    kwargs: dict[str, Any] = {"progress": not args.quiet}
    if args.seed is not None:
        kwargs["seed"] = args.seed
    report = ningxiang.build(out, **kwargs)
    print(report.summary())
    return 0



