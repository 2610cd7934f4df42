"""No import cycle among the project's modules, at module top or inside functions (imports run there too).

The graph is read with `ast` (tests/test_layers.py's parser): an edge for every import statement
anywhere in a module, so a function-level import that only runs when a request comes is counted.
A cycle is a strongly connected set of modules; the service's entry (`dispatch.app`, `ems.cli`)
must reach none. Then each entry point is imported in a fresh interpreter, as a user's process does.
"""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import pytest

from tests.test_layers import MODULES, ROOT, _all_imports

#: Cycles inside one package, each a function-level import of a module that imports the importer back,
#: with the reason it stays. No cycle may cross packages or touch the service's edge.
KNOWN: dict[frozenset[str], str] = {
    # open_store() picks a backend lazily; the backends build on store.py's shared checks.
    frozenset({"dispatch.store", "dispatch.store_pg", "dispatch.store_sqlite"}): "store factory",
    # County.gazetteer builds the gazetteer lazily; the gazetteer reads the county's places.
    frozenset({"geodata.county", "geodata.gazetteer"}): "lazy gazetteer",
    # Router.site_table / isochrones are built lazily from the router that they search on.
    frozenset({"routing.engine", "routing.isochrones", "routing.site_table"}): "lazy router tables",
    # The fleet asks the policy glue for the dispatch choice; the glue types its arguments by the fleet.
    frozenset({"simulation.fleet", "simulation.policy_use"}): "fleet and policy glue",
    # The builder's stages call each other's helpers (a tool run once, off the service's path).
    frozenset({"simulation.ningxiang_build.roads", "simulation.ningxiang_build.settlements",
               "simulation.ningxiang_build.stations"}): "county builder stages",
}
SERVICE_EDGE = ("dispatch.http", "dispatch.app", "dispatch.runtime", "dispatch.bootstrap", "dispatch.service",
                "dispatch.live", "dispatch.positions", "dispatch.centers_http", "dispatch.centers_service",
                "dispatch.geo_http", "dispatch.sim_http", "consoles.http")

ENTRY_POINTS = ("dispatch.app", "ems.cli", "dispatch.cli", "simulation.cli", "geodata.cli", "centers.cli",
                "routing.cli", "simulation.twin", "consoles.http")


def _module_of(target: str) -> str | None:
    """The project module an import target loads (``a.b.name`` -> ``a.b``), or None when not ours."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for imp in _all_imports():
        target = _module_of(imp.target)
        if target is not None and target != imp.module:
            graph.add_edge(imp.module, target, line=imp.where())
    return graph


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Return each set of modules that import each other (directly or around a loop), sorted."""
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def _describe(graph: nx.DiGraph, members: list[str]) -> str:
    loop = nx.find_cycle(graph.subgraph(members))
    return " -> ".join(f"{a} ({graph.edges[a, b]['line']})" for a, b in loop)


def test_no_module_imports_itself_back_through_others() -> None:
    graph = import_graph()
    unknown = [_describe(graph, m) for m in cycles(graph) if frozenset(m) not in KNOWN]
    assert unknown == []


def test_the_known_cycles_stay_inside_one_package_and_off_the_service_edge() -> None:
    for members in KNOWN:
        assert len({m.rsplit(".", 1)[0] for m in members}) == 1, members
        assert not members & set(SERVICE_EDGE), members
    assert {frozenset(m) for m in cycles(import_graph())} >= set(KNOWN)  # none is stale


def test_the_check_finds_a_cycle_through_function_level_imports() -> None:
    graph = nx.DiGraph([("dispatch.http", "dispatch.live"), ("dispatch.live", "dispatch.bootstrap"),
                        ("dispatch.bootstrap", "dispatch.http")])
    assert cycles(graph) == [["dispatch.bootstrap", "dispatch.http", "dispatch.live"]]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_each_entry_point_imports_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
