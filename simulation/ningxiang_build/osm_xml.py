"""Write the generated roads as OSM XML, compressed with bz2 (deterministic bytes)."""

from __future__ import annotations

import bz2
from pathlib import Path
from xml.sax.saxutils import quoteattr

from simulation.ningxiang_build.common import fmt_coord
from simulation.ningxiang_build.roads import Network
from simulation.ningxiang_build.shape import ShapedRoads

GENERATOR = "ems geodata build-ningxiang (schematic network)"
BZ2_LEVEL = 9


def osm_xml_bytes(net: Network, roads: ShapedRoads) -> bytes:
    """Return the OSM XML document: every node, then one way per road with its tags.

    Node ids are 1-based positions in `roads.node_lon`; way ids follow `net.edges`. Tags:
    ``highway``, ``maxspeed`` (km/h), ``oneway`` (``yes``/``no``), and ``name`` / ``ref`` where
    the road has them.
    """
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<osm version="0.6" generator="{GENERATOR}">\n']
    for i, (lon, lat) in enumerate(zip(roads.node_lon.tolist(), roads.node_lat.tolist(), strict=True)):
        out.append(f' <node id="{i + 1}" lat="{fmt_coord(lat)}" lon="{fmt_coord(lon)}"/>\n')
    for w, (e, nodes, speed) in enumerate(zip(net.edges, roads.way_nodes, roads.maxspeed_kph, strict=True)):
        out.append(f' <way id="{w + 1}">\n')
        out.extend(f'  <nd ref="{n + 1}"/>\n' for n in nodes)
        tags = {"highway": e.highway, "maxspeed": str(speed), "oneway": "yes" if e.oneway else "no"}
        if e.name:
            tags["name"] = e.name
        if e.ref:
            tags["ref"] = e.ref
        out.extend(f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>\n" for k, v in sorted(tags.items()))
        out.append(" </way>\n")
    out.append("</osm>\n")
    return "".join(out).encode("utf-8")


def write_osm_bz2(path: Path, net: Network, roads: ShapedRoads) -> int:
    """Write roads.osm.bz2 and return its size in bytes."""
    data = bz2.compress(osm_xml_bytes(net, roads), BZ2_LEVEL)
    path.write_bytes(data)
    return len(data)
