"""Load a county directory (docs/county-format.md): boundary, places, facilities, layouts, roads.

Every file except the road network is read and checked by `load_county`, so a bad file is reported
at once with its path. The road network is only read by `County.load_graph` (tens of seconds for a
county); the routing engine caches what it compiles from it, so nothing here caches the graph.

The readers live in modules of their own (`geodata.places`, `geodata.facilities`,
`geodata.roads`, `geodata.fields`) and the values in `geodata.model`; this module re-exports
the names callers import from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shapely.geometry import MultiPolygon, Polygon

from geodata.errors import (
    CountyNotFoundError,
    DisconnectedRoadsWarning,
    GeodataError,
    GeodataWarning,
    UnknownLayoutError,
)
from geodata.facilities import read_facilities, read_layout, read_layouts
from geodata.fields import read_toml, str_field
from geodata.model import Hospital, Layout, LayoutStation, Place, PlaceKind, Station, StationKind
from geodata.places import (
    BOUNDARY_TOLERANCE_DEG,
    PLACES_COLUMNS,
    URBAN_UR_CODES,
    check_places_inside,
    read_boundary,
    read_places,
)
from geodata.roads import (
    DEFAULT_SPEEDS_KPH,
    FALLBACK_SPEED_KPH,
    UNKNOWN_HIGHWAY,
    finish_graph,
    hull_of_roads,
    largest_scc,
    read_roads,
)

if TYPE_CHECKING:
    import networkx as nx

    from geodata.gazetteer import Gazetteer

EMBEDDED_DIR = Path(__file__).resolve().parent
EMBEDDED_COUNTIES = ("ningxiang",)
ROAD_FILE_NAMES = ("roads.osm.bz2", "roads.osm", "roads.osm.xml", "roads.graphml")


@dataclass(frozen=True)
class County:
    """A loaded county directory. Build it with `load_county`."""

    name: str
    name_en: str
    path: Path
    roads_path: Path
    boundary: Polygon | MultiPolygon
    places: tuple[Place, ...]
    hospitals: tuple[Hospital, ...]
    stations: tuple[Station, ...]
    layouts: dict[str, Layout]
    source: str = ""
    attribution: str = ""
    notes: str = ""
    boundary_is_hull: bool = False
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def layout(self, name: str) -> Layout:
        """Return the layout called `name`.

        Raises
        ------
        UnknownLayoutError
            No such layout; the message lists the known ones.
        """
        try:
            return self.layouts[name]
        except KeyError:
            known = ", ".join(sorted(self.layouts)) or "none"
            raise UnknownLayoutError(
                f"layout {name!r}: not a layout of county {self.name!r} (known: {known}); "
                "or give the path of a layout TOML file of your own"
            ) from None

    def resolve_layout(self, name_or_path: str) -> Layout:
        """Return the layout called `name_or_path`, or the layout TOML file at that path.

        Raises
        ------
        GeodataError
            Neither a layout of the county nor a readable layout file (the message lists the known ones).
        """
        path = Path(name_or_path)
        if name_or_path not in self.layouts and path.suffix == ".toml" and path.is_file():
            return self.load_layout_file(path)
        return self.layout(name_or_path)

    def load_layout_file(self, path: str | Path) -> Layout:
        """Read a layout TOML file of the user's against this county's stations.

        Raises
        ------
        GeodataError
            The file is missing or malformed, or names an unknown station without lon/lat.
        """
        return read_layout(Path(path), {s.id: s for s in self.stations})

    @cached_property
    def gazetteer(self) -> Gazetteer:
        """Return the gazetteer of this county's places, hospitals and stations."""
        from geodata.gazetteer import Gazetteer

        return Gazetteer(self.places, self.hospitals, self.stations)

    def load_graph(self) -> nx.MultiDiGraph:
        """Read the road network with travel times; keep its largest strongly connected part.

        Every edge has ``length`` (m), ``speed_kph``, ``travel_time`` (s, normal driving) and
        ``highway`` (a string). Slow for a whole county; not cached here.

        Raises
        ------
        GeodataError
            The road file is missing, unreadable or holds no roads.

        Warns
        -----
        DisconnectedRoadsWarning
            Nodes and edges outside the largest strongly connected component were dropped.
        """
        return read_roads(self.roads_path)


def load_county(name_or_dir: str | Path = "ningxiang") -> County:
    """Load and check a county directory: the embedded ``ningxiang`` or a directory path.

    Parameters
    ----------
    name_or_dir
        ``"ningxiang"`` for the county shipped in ``geodata/ningxiang/``, or the path of a
        directory in the county format (docs/county-format.md).

    Raises
    ------
    CountyNotFoundError
        Neither an embedded county nor a directory.
    GeodataError
        A file is missing or malformed; the message names the file and the problem.
    """
    path = _county_dir(name_or_dir)
    toml_path = path / "county.toml"
    meta = read_toml(toml_path)
    roads_path = _roads_path(path, meta, toml_path)
    boundary_path = path / "boundary.geojson"
    places = read_places(path / "places.csv")
    hospitals, stations = read_facilities(path / "facilities.toml")
    layouts = read_layouts(path / "layouts", {s.id: s for s in stations})
    if boundary_path.exists():
        boundary = read_boundary(boundary_path)
        hull = False
    else:
        boundary = hull_of_roads(roads_path)
        hull = True
    check_places_inside(places, boundary, path / "places.csv", hull)
    return County(
        name=str_field(meta, "name", toml_path, default=path.name),
        name_en=str_field(meta, "name_en", toml_path, default=""),
        path=path,
        roads_path=roads_path,
        boundary=boundary,
        places=places,
        hospitals=hospitals,
        stations=stations,
        layouts=layouts,
        source=str_field(meta, "source", toml_path, default=""),
        attribution=str_field(meta, "attribution", toml_path, default=""),
        notes=str_field(meta, "notes", toml_path, default=""),
        boundary_is_hull=hull,
        meta=meta,
    )


def _county_dir(name_or_dir: str | Path) -> Path:
    if isinstance(name_or_dir, str) and name_or_dir in EMBEDDED_COUNTIES:
        path = EMBEDDED_DIR / name_or_dir
        if not path.is_dir():
            raise CountyNotFoundError(
                f"county {name_or_dir!r}: the embedded directory {path} is missing; "
                f"build it with `ems geodata build-ningxiang`"
            )
        return path
    path = Path(name_or_dir).expanduser()
    if not path.is_dir():
        raise CountyNotFoundError(
            f"county {str(name_or_dir)!r}: not an embedded county ({', '.join(EMBEDDED_COUNTIES)}) "
            f"and not a directory"
        )
    return path.resolve()


def _roads_path(county_dir: Path, meta: Mapping[str, Any], toml_path: Path) -> Path:
    name = meta.get("roads")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise GeodataError(f"roads must be a file name, got {name!r}", toml_path)
        path = county_dir / name
        if not path.is_file():
            raise GeodataError(f"roads = {name!r}: no such file in {county_dir}", toml_path)
        return path
    for candidate in ROAD_FILE_NAMES:
        if (county_dir / candidate).is_file():
            return county_dir / candidate
    raise GeodataError(
        f"no road network: set roads = FILE or add one of {', '.join(ROAD_FILE_NAMES)}", toml_path
    )


__all__ = [
    "County",
    "EMBEDDED_COUNTIES",
    "EMBEDDED_DIR",
    "ROAD_FILE_NAMES",
    "load_county",
    # Defined in geodata.model, geodata.places, geodata.roads and geodata.errors; callers
    # import them from here.
    "BOUNDARY_TOLERANCE_DEG",
    "DEFAULT_SPEEDS_KPH",
    "DisconnectedRoadsWarning",
    "FALLBACK_SPEED_KPH",
    "GeodataWarning",
    "Hospital",
    "Layout",
    "LayoutStation",
    "PLACES_COLUMNS",
    "Place",
    "PlaceKind",
    "Station",
    "StationKind",
    "UNKNOWN_HIGHWAY",
    "URBAN_UR_CODES",
    "finish_graph",
    "largest_scc",
    "read_roads",
]
