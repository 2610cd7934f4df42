"""Describe a county: its road network, places, facilities and layouts (``ems geodata info``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from geodata.county import County


@dataclass(frozen=True, slots=True)
class NetworkStats:
    """Size and shape of a county's road network."""

    n_nodes: int
    n_edges: int
    road_km: float
    bbox: tuple[float, float, float, float]  # (min_lon, min_lat, max_lon, max_lat)
    n_components: int  # strongly connected


@dataclass(frozen=True, slots=True)
class LayoutSummary:
    """A layout's size."""

    name: str
    description: str
    stations: int
    ambulances: int
    staff: int


@dataclass(frozen=True, slots=True)
class CountyInfo:
    """What `ems geodata info` shows."""

    name: str
    name_en: str
    path: str
    roads: str
    source: str
    attribution: str
    network: NetworkStats
    boundary_bbox: tuple[float, float, float, float]
    places: dict[str, int]
    hospitals: int
    stations: int
    capabilities: dict[str, int]
    layouts: tuple[LayoutSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the information as plain JSON-ready values."""
        return asdict(self)


def county_info(county: County) -> CountyInfo:
    """Gather the information about a county (reads the road network: see `_network_stats`)."""
    capabilities = Counter(c for h in county.hospitals for c in h.capabilities)
    return CountyInfo(
        name=county.name,
        name_en=county.name_en,
        path=str(county.path),
        roads=county.roads_path.name,
        source=county.source,
        attribution=county.attribution,
        network=_network_stats(county),
        boundary_bbox=tuple(float(b) for b in county.boundary.bounds),  # type: ignore[arg-type]
        places=dict(sorted(Counter(p.kind.value for p in county.places).items())),
        hospitals=len(county.hospitals),
        stations=len(county.stations),
        capabilities=dict(sorted(capabilities.items())),
        layouts=tuple(
            LayoutSummary(name, layout.description, len(layout.stations), layout.ambulances, layout.staff)
            for name, layout in sorted(county.layouts.items())
        ),
    )


def _network_stats(county: County) -> NetworkStats:
    """Return the road network's statistics, from the routing engine's compiled cache.

    The first call on a county compiles the network (tens of seconds for Ningxiang) and caches
    it beside the roads file; later calls read the arrays in a fraction of a second.
    """
    try:
        from routing.network import load_network
    except ModuleNotFoundError as e:
        if e.name not in ("routing", "routing.network"):
            raise
        return _graph_stats(county)
    network = load_network(county)
    return NetworkStats(
        n_nodes=network.n_nodes,
        n_edges=network.n_edges,
        road_km=round(network.road_km, 3),
        bbox=network.bbox,
        n_components=network.n_components,
    )


def _graph_stats(county: County) -> NetworkStats:
    """Return the road network's statistics from the networkx graph (no routing engine)."""
    import networkx as nx
    import shapely

    from geodata.osm import road_length_m

    graph = county.load_graph()
    xy = [(d["x"], d["y"]) for _, d in graph.nodes(data=True)]
    for _, _, geometry in graph.edges(data="geometry"):
        if geometry is not None:
            xy.extend(geometry.coords)
    return NetworkStats(
        n_nodes=graph.number_of_nodes(),
        n_edges=graph.number_of_edges(),
        road_km=round(road_length_m(graph) / 1000.0, 3),
        bbox=tuple(float(b) for b in shapely.MultiPoint(xy).bounds),  # type: ignore[arg-type]
        n_components=nx.number_strongly_connected_components(graph),
    )


def format_info(info: CountyInfo) -> str:
    """Return the information as text for a terminal."""
    net = info.network
    x0, y0, x1, y1 = net.bbox
    title = f"{info.name} ({info.name_en})" if info.name_en and info.name_en != info.name else info.name
    places = ", ".join(f"{n} {kind}" for kind, n in info.places.items()) or "none"
    lines = [
        f"county      {title}",
        f"directory   {info.path}",
        f"roads       {info.roads}: {net.n_nodes:,} nodes, {net.n_edges:,} edges, {net.road_km:,.1f} km, "
        f"{net.n_components} strongly connected component(s)",
        f"bbox        lon {x0:.5f} .. {x1:.5f}, lat {y0:.5f} .. {y1:.5f}",
        f"places      {sum(info.places.values()):,} ({places})",
        f"facilities  {info.hospitals} hospital(s), {info.stations} station(s)",
    ]
    if info.capabilities:
        caps = ", ".join(f"{c} {n}" for c, n in info.capabilities.items())
        lines.append(f"            capabilities: {caps}")
    if info.layouts:
        lines.append("layouts")
        for layout in info.layouts:
            lines.append(
                f"  {layout.name:<14} {layout.stations} station(s), {layout.ambulances} ambulance(s), "
                f"{layout.staff} staff"
            )
    else:
        lines.append("layouts     none")
    if info.source:
        lines.append(f"source      {info.source}")
    if info.attribution:
        lines.append(f"attribution {info.attribution}")
    return "\n".join(lines)
