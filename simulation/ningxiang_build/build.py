"""Build the embedded Ningxiang county (geodata/ningxiang/) from the raw data, deterministically.

`build` reads the adcode data (geodata/data/ningxiang/), generates a schematic road network with a
seeded generator, writes it as OSM XML, loads it back through osmnx exactly as a user's ``.osm``
file is loaded, checks its size and connectivity, calibrates it against the published ambulance
trips (raising when a trip is off by more than 15 %), places the stations (one substation per
township block, near-optimal for demand and closest to the published arrivals) and writes every
file of docs/county-format.md. The same seed gives byte-identical files.

Run it with ``ems geodata build-ningxiang``. docs/ningxiang.md explains what is real and what is
generated; the package's docstring (`simulation.ningxiang_build`) says why it lives above geodata.
"""

from __future__ import annotations

import shutil
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ems.config import load_config, section
from geodata.county import EMBEDDED_DIR
from simulation.coverage import DEFAULT_REGIONS, extreme_place
from simulation.ningxiang_build.common import BuildError, LocalProjection, haversine_m
from simulation.ningxiang_build.evaluate import (
    PathLengths,
    RoadGraph,
    Snapper,
    fastest_paths,
    load_osm,
    strongly_connected_components,
    trip,
)
from simulation.ningxiang_build.osm_xml import write_osm_bz2
from simulation.ningxiang_build.params import RoadParams
from simulation.ningxiang_build.raw import FIGURES_TOML, RAW_DIR, RawData, read_raw
from simulation.ningxiang_build.roads import generate_network
from simulation.ningxiang_build.settlements import PlaceRow, bare_town_name, build_places
from simulation.ningxiang_build.shape import shape_edges
from simulation.ningxiang_build import stations as st
from simulation.ningxiang_build import writers

DEFAULT_OUT = EMBEDDED_DIR / "ningxiang"
DEFAULT_SEED = 20241126
# Calibration tolerance on distance and time of each published trip (+-15 %, the county issue's requirement).
TRIP_TOLERANCE = 0.15
# The network must be the size of a real county drive network (nodes after osmnx simplification).
MIN_GRAPH_NODES = 15_000
# Settlement pairs sampled for the detour ratio, and the shortest pair distance counted (m).
DETOUR_SAMPLE = 60
DETOUR_MIN_STRAIGHT_M = 3000.0
# Settlements the published "after" arrivals can be measured at (simulation.coverage): real ones.
REAL_PLACE_KINDS = ("town", "village")
OUTPUT_FILES = (
    "county.toml", "roads.osm.bz2", "boundary.geojson", "places.csv", "facilities.toml",
    "layouts/centralized.toml", "layouts/1+5+N.toml", "ATTRIBUTION.md",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """A published trip against the built network (emergency profile, fastest path)."""

    origin: str
    destination: str
    target_km: float
    built_km: float
    target_min: float
    built_min: float

    @property
    def distance_error(self) -> float:
        """Return the relative distance error (built / target - 1)."""
        return self.built_km / self.target_km - 1.0

    @property
    def time_error(self) -> float:
        """Return the relative time error (built / target - 1)."""
        return self.built_min / self.target_min - 1.0

    def within(self, tolerance: float) -> bool:
        """Return whether both errors are within +-tolerance."""
        return abs(self.distance_error) <= tolerance and abs(self.time_error) <= tolerance


@dataclass(frozen=True, slots=True)
class RegionArrival:
    """A published arrival after the reform against the built county (simulation.coverage's reading).

    The emergency travel time from the nearest 1+5+N station with an ambulance to the county's
    extreme real settlement in the region's direction (or the one nearest its centre).
    """

    region: str
    direction: str
    place: str
    target_min: float
    built_min: float

    @property
    def error(self) -> float:
        """Return the relative error (built / target - 1)."""
        return self.built_min / self.target_min - 1.0


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What `build` wrote and measured. JSON-able through `as_dict`; printable through `summary`."""

    out_dir: str
    seed: int
    files: tuple[tuple[str, int], ...]  # (relative path, bytes)
    osm_nodes: int
    osm_ways: int
    graph_nodes: int
    graph_edges: int
    graph_intersections: int  # nodes where 3 or more streets meet
    strongly_connected_components: int
    calibration: tuple[CalibrationRow, ...]
    detour_median: float
    detour_fastest_median: float
    detour_pairs: int
    places_by_kind: tuple[tuple[str, int], ...]
    urban_demand_share: float
    substations: tuple[str, ...]
    centre_ambulances: int
    region_arrivals: tuple[RegionArrival, ...]
    mean_emergency_time_min: float
    best_mean_emergency_time_min: float  # the p-median optimum over one-per-block layouts
    near_optimal_layouts: int
    build_time_s: float
    osmnx_load_time_s: float

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-able data."""
        d = asdict(self)
        d["calibration"] = [
            {**asdict(c), "distance_error": c.distance_error, "time_error": c.time_error}
            for c in self.calibration
        ]
        d["files"] = [{"path": p, "bytes": b} for p, b in self.files]
        d["places_by_kind"] = dict(self.places_by_kind)
        d["region_arrivals"] = [{**asdict(r), "error": r.error} for r in self.region_arrivals]
        d["substations"] = list(self.substations)
        return d

    def summary(self) -> str:
        """Return a human-readable summary: files, network size, calibration, stations."""
        lines = [f"Ningxiang county built in {self.out_dir} (seed {self.seed}) in {self.build_time_s:.0f} s"]
        lines.append("files: " + ", ".join(f"{p} {b / 1e6:.2f} MB" if b > 1e5 else f"{p} {b / 1e3:.0f} kB"
                                            for p, b in self.files))  # fmt: skip
        lines.append(
            f"roads: {self.osm_nodes:,} OSM nodes, {self.osm_ways:,} ways; osmnx (simplified): "
            f"{self.graph_nodes:,} nodes ({self.graph_intersections:,} intersections), "
            f"{self.graph_edges:,} edges, {self.strongly_connected_components} strongly connected "
            f"component(s); loaded in {self.osmnx_load_time_s:.0f} s"
        )
        lines.append(calibration_table(self.calibration))
        lines.append(
            f"detour (road / straight, {self.detour_pairs} settlement pairs >= 3 km): median "
            f"{self.detour_median:.2f} shortest path, {self.detour_fastest_median:.2f} fastest path"
        )
        lines.append(
            "places: " + ", ".join(f"{k} {n}" for k, n in self.places_by_kind)
            + f"; urban share of demand {self.urban_demand_share:.0%}"
        )
        lines.append(
            f"1+5+N: substations {', '.join(self.substations)} (one per block); "
            f"{self.centre_ambulances} ambulances at the centre, none at the points; "
            f"demand-weighted mean emergency travel {self.mean_emergency_time_min:.2f} min "
            f"(best one-per-block layout {self.best_mean_emergency_time_min:.2f} min; "
            f"{self.near_optimal_layouts} layouts within {st.PMEDIAN_SLACK:.0%})"
        )
        lines.append(arrivals_table(self.region_arrivals))
        return "\n".join(lines)


def arrivals_table(rows: tuple[RegionArrival, ...]) -> str:
    """Return the published arrivals after the reform against the built county."""
    out = ["arrival at the extreme settlement (min, emergency travel from the nearest 1+5+N station):"]
    for r in rows:
        out.append(
            f"  {r.region:<10} {r.direction:<11} {r.place:<8} target {r.target_min:4.0f}  built "
            f"{r.built_min:5.1f}  {r.error:+6.1%}"
        )
    return "\n".join(out)


def calibration_table(rows: tuple[CalibrationRow, ...]) -> str:
    """Return the calibration table: target vs built for each published trip."""
    out = ["calibration (emergency profile, fastest path; tolerance +-15 %):",
           f"  {'trip':<22} {'target km':>9} {'built km':>9} {'err':>6} {'target min':>10} "
           f"{'built min':>9} {'err':>6}"]  # fmt: skip
    for r in rows:
        out.append(
            f"  {r.origin + ' -> ' + r.destination:<22} {r.target_km:9.1f} {r.built_km:9.1f} "
            f"{r.distance_error:+6.1%} {r.target_min:10.1f} {r.built_min:9.1f} {r.time_error:+6.1%}"
        )
    return "\n".join(out)


def build(out_dir: Path = DEFAULT_OUT, *, seed: int = DEFAULT_SEED, progress: bool = True) -> BuildReport:
    """Build the embedded Ningxiang county into `out_dir`.

    Parameters
    ----------
    out_dir
        The county directory to write (created if needed). Only the files of the county format
        are replaced; anything else in it (e.g. ``.ems-cache/``) is left alone.
    seed
        Seed of every random choice; the same seed gives byte-identical files.
    progress
        Show a progress bar and print the calibration table on stderr.

    Returns
    -------
    BuildReport
        What was written and measured.

    Raises
    ------
    BuildError
        The raw data is missing or malformed, the network is too small or not strongly
        connected, or a calibration trip is off by more than 15 % (nothing is written then).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.build-{seed}"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "layouts").mkdir(parents=True)
    steps = 9
    with _progress(progress, steps) as say:
        try:
            report = _build(staging, out_dir, seed, say, started)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    (out_dir / "layouts").mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:
        (staging / name).replace(out_dir / name)
    shutil.rmtree(staging, ignore_errors=True)
    return report


class _Say:
    def __init__(self, bar: tqdm | None) -> None:
        self.bar = bar

    def step(self, text: str) -> None:
        if self.bar is not None:
            if self.bar.desc:
                self.bar.update(1)
            self.bar.set_postfix_str("", refresh=False)
            self.bar.set_description(text)

    def detail(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text)


@contextmanager
def _progress(enabled: bool, steps: int) -> Iterator[_Say]:
    if not enabled:
        yield _Say(None)
        return
    bar = tqdm(total=steps, unit="step", bar_format="{desc:<34} {n_fmt}/{total_fmt} [{elapsed}] {postfix}")
    try:
        yield _Say(bar)
        bar.update(bar.total - bar.n)
    finally:
        bar.close()


def _build(staging: Path, out_dir: Path, seed: int, say: _Say, started: float) -> BuildReport:
    params = RoadParams()
    proj = LocalProjection(params.lon0, params.lat0)
    rng = np.random.default_rng(seed)
    factors = section(load_config(), "routing.emergency_speed_factor")

    say.step("reading raw data")
    raw = read_raw()
    say.step("generating roads")
    net = generate_network(raw, proj, rng, params, say.detail)
    say.step("shaping roads")
    roads = shape_edges(net, proj, raw.boundary, rng, params)
    places = build_places(raw, net, proj)
    say.step("writing roads.osm.bz2")
    write_osm_bz2(staging / "roads.osm.bz2", net, roads)

    say.step("loading roads through osmnx")
    t0 = time.perf_counter()
    graph, n_nodes, n_edges, n_intersections = load_osm(staging / "roads.osm.bz2")
    load_s = time.perf_counter() - t0
    n_scc = strongly_connected_components(graph)
    if n_nodes < MIN_GRAPH_NODES:
        raise BuildError(f"road network: {n_nodes} nodes after simplification, expected >= {MIN_GRAPH_NODES}")
    if n_scc != 1:
        raise BuildError(f"road network: {n_scc} strongly connected components, expected 1")

    say.step("calibrating against published trips")
    weight = graph.emergency_time_s(factors)
    lengths = PathLengths(graph, weight)
    snap = Snapper(graph, proj)
    calibration = _calibrate(raw, graph, weight, lengths, snap)
    bad = [r for r in calibration if not r.within(TRIP_TOLERANCE)]
    if bad:
        raise BuildError(
            "calibration failed: "
            + ", ".join(f"{r.origin} -> {r.destination}" for r in bad)
            + f" off by more than {TRIP_TOLERANCE:.0%}\n" + calibration_table(calibration)
        )

    say.step("placing stations (by township block)")
    hospitals = st.hospitals(raw)
    stations, centralized, one_five_n, choice, arrivals = _stations(raw, hospitals, places, graph, weight, snap)

    say.step("measuring detours")
    detour, detour_fast, n_pairs = _detours(places, graph, weight, lengths, snap, seed)

    say.step("writing county files")
    notes = (
        "Schematic road network generated from the real township seats and villages (seeded); "
        "generated settlements fill in between. Calibrated to the published 1+5+N trips. "
        "See docs/ningxiang.md."
    )
    writers.write_county_toml(staging / "county.toml", seed, notes)
    writers.write_boundary(staging / "boundary.geojson", raw.boundary)
    writers.write_places(staging / "places.csv", places)
    writers.write_facilities(staging / "facilities.toml", hospitals, stations)
    writers.write_layout(
        staging / "layouts" / "centralized.toml", "centralized",
        f"All {st.AMBULANCES_TOTAL} ambulances at the 120 centre (宁乡市人民医院), as before the "
        "1+5+N reform.",
        centralized,
    )  # fmt: skip
    writers.write_layout(
        staging / "layouts" / "1+5+N.toml", "1+5+N",
        f"The 120 centre ({st.CENTRE_AMBULANCES} ambulances), five substations of 3 ambulances and "
        "6 staff, one per township block (流沙河 and four chosen near-optimal for demand and "
        "closest to the published arrivals), and emergency points with 2 staff and no ambulance "
        "at the other township health centres. See docs/ningxiang.md.",
        one_five_n,
    )  # fmt: skip
    writers.write_text(staging / "ATTRIBUTION.md", writers.ATTRIBUTION_MD)

    kinds: dict[str, int] = {}
    for p in places:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    urban_share = sum(p.demand_weight for p in places if p.urban)
    files = tuple((name, (staging / name).stat().st_size) for name in OUTPUT_FILES)
    return BuildReport(
        out_dir=str(out_dir),
        seed=seed,
        files=files,
        osm_nodes=len(roads.node_lon),
        osm_ways=len(roads.way_nodes),
        graph_nodes=n_nodes,
        graph_edges=n_edges,
        graph_intersections=n_intersections,
        strongly_connected_components=n_scc,
        calibration=calibration,
        detour_median=detour,
        detour_fastest_median=detour_fast,
        detour_pairs=n_pairs,
        places_by_kind=tuple(sorted(kinds.items())),
        urban_demand_share=float(urban_share),
        substations=tuple(st.station_id(t) for t in choice.substations),
        centre_ambulances=st.CENTRE_AMBULANCES,
        region_arrivals=arrivals,
        mean_emergency_time_min=choice.mean_time_s / 60.0,
        best_mean_emergency_time_min=choice.best_mean_time_s / 60.0,
        near_optimal_layouts=choice.near_optimal,
        build_time_s=time.perf_counter() - started,
        osmnx_load_time_s=load_s,
    )


def read_published_figures(raw_dir: Path = RAW_DIR) -> dict[str, Any]:
    """Return published_figures.toml (trips, targets, network figures)."""
    with (raw_dir / FIGURES_TOML).open("rb") as f:
        return tomllib.load(f)


def _named_point(raw: RawData, name: str) -> tuple[str, float, float]:
    for h in st.hospitals(raw):
        if h.name == name:
            return (name, h.lon, h.lat)
    for t in raw.towns:
        if t.name == name:
            return (name, t.lon, t.lat)
    raise BuildError(f"published trip endpoint {name!r}: not a hospital or township of the county")


def _calibrate(
    raw: RawData, graph: RoadGraph, weight: np.ndarray, lengths: PathLengths, snap: Snapper
) -> tuple[CalibrationRow, ...]:
    rows = []
    for t in read_published_figures()["trips"]:
        measured = trip(graph, weight, lengths, snap, _named_point(raw, t["from"]), _named_point(raw, t["to"]))
        rows.append(CalibrationRow(t["from"], t["to"], float(t["km"]), measured.distance_m / 1000.0,
                                   float(t["minutes"]), measured.travel_time_s / 60.0))  # fmt: skip
    return tuple(rows)


def _stations(
    raw: RawData, hospitals: tuple[st.HospitalRow, ...], places: tuple[PlaceRow, ...],
    graph: RoadGraph, weight: np.ndarray, snap: Snapper,
) -> tuple[
    tuple[st.StationRow, ...], tuple[st.LayoutEntry, ...], tuple[st.LayoutEntry, ...],
    st.SubstationChoice, tuple[RegionArrival, ...],
]:  # fmt: skip
    centre = next(h for h in hospitals if h.id == st.CENTRE_ID)
    seats = st.rural_seats(raw)
    seat_names = {s.name for s in seats}
    blocked = [t for members in st.SUBSTATION_BLOCKS.values() for t in members]
    if unknown := sorted(set(blocked) - seat_names):
        raise BuildError(f"substation blocks: {unknown} are not rural township seats of the raw data")
    if st.NAMED_SUBSTATION_TOWN not in blocked:
        raise BuildError(f"substation blocks: the named substation {st.NAMED_SUBSTATION_TOWN} is in no block")
    names = [st.CENTRE_ID] + [s.name for s in seats]
    nodes, _ = snap.nodes([centre.lon] + [s.lon for s in seats], [centre.lat] + [s.lat for s in seats])
    demand = [p for p in places if p.demand_weight > 0]
    d_nodes, _ = snap.nodes([p.lon for p in demand], [p.lat for p in demand])
    w = np.array([p.demand_weight for p in demand])
    dist, _ = fastest_paths(graph, weight, nodes)
    T = {n: dist[i, d_nodes] for i, n in enumerate(names)}

    # The published arrivals after the reform, measured as simulation.coverage reads them: at the
    # extreme real settlement in each direction, the centre being the boundary's centroid.
    targets = read_published_figures()["after_reform_arrival_min"]
    real = [i for i, p in enumerate(demand) if p.kind in REAL_PLACE_KINDS]
    c = raw.boundary.centroid
    extreme = {
        region: real[extreme_place([demand[i].lon for i in real], [demand[i].lat for i in real],
                                   direction, (float(c.x), float(c.y)))]
        for region, direction in DEFAULT_REGIONS.items()
    }  # fmt: skip

    def misfit(t: np.ndarray) -> float:
        return max(abs(t[i] / 60.0 / float(targets[r]) - 1.0) for r, i in extreme.items())

    choice = st.choose_substations(
        st.SUBSTATION_BLOCKS, {st.NAMED_SUBSTATION_TOWN}, T[st.CENTRE_ID], T, w,
        slack=st.PMEDIAN_SLACK, misfit=misfit,
    )  # fmt: skip
    final = T[st.CENTRE_ID]
    for t in choice.substations:
        final = np.minimum(final, T[t])
    arrivals = tuple(
        RegionArrival(region, DEFAULT_REGIONS[region].value, demand[i].name, float(targets[region]),
                      float(final[i]) / 60.0)
        for region, i in extreme.items()
    )  # fmt: skip

    subs = set(choice.substations)
    stations = [st.StationRow(st.CENTRE_ID, "宁乡市120急救指挥中心", "centre", st.CENTRE_ID, centre.lon,
                              centre.lat, "")]  # fmt: skip
    for s in seats:
        kind = "substation" if s.name in subs else "point"
        label = "急救分站" if kind == "substation" else "急救点"
        stations.append(st.StationRow(st.station_id(s.name), f"{bare_town_name(s.name)}{label}", kind,
                                      st.health_centre_id(s.name), s.lon, s.lat, s.name))  # fmt: skip
    stations.sort(key=lambda s: ({"centre": 0, "substation": 1, "point": 2}[s.kind], s.id))
    centralized = (st.LayoutEntry(st.CENTRE_ID, st.AMBULANCES_TOTAL, _published_staff()),)
    one_five_n = [st.LayoutEntry(st.CENTRE_ID, st.CENTRE_AMBULANCES, st.CENTRE_STAFF)]
    for s in stations[1:]:
        if s.kind == "substation":
            one_five_n.append(st.LayoutEntry(s.id, st.SUBSTATION_AMBULANCES, st.SUBSTATION_STAFF))
        else:
            one_five_n.append(st.LayoutEntry(s.id, st.POINT_AMBULANCES, st.POINT_STAFF))
    total = sum(e.ambulances for e in one_five_n)
    if total != st.AMBULANCES_TOTAL:
        raise BuildError(f"layout 1+5+N: {total} ambulances, expected {st.AMBULANCES_TOTAL}")
    return tuple(stations), centralized, tuple(one_five_n), choice, arrivals


def _published_staff() -> int:
    return int(read_published_figures()["network"]["medical_staff_total"])


def _detours(
    places: tuple[PlaceRow, ...], graph: RoadGraph, weight: np.ndarray, lengths: PathLengths,
    snap: Snapper, seed: int,
) -> tuple[float, float, int]:  # fmt: skip
    """Return the median road / straight distance over sampled settlement pairs (shortest, fastest)."""
    pts = [p for p in places if p.kind in ("generated", "village", "town")]
    rng = np.random.default_rng(seed + 1)
    pick = rng.choice(len(pts), size=2 * DETOUR_SAMPLE, replace=False)
    src, dst = pick[:DETOUR_SAMPLE], pick[DETOUR_SAMPLE:]
    lon = np.array([p.lon for p in pts])
    lat = np.array([p.lat for p in pts])
    s_nodes, _ = snap.nodes(lon[src], lat[src])
    t_nodes, _ = snap.nodes(lon[dst], lat[dst])
    d_short, _ = fastest_paths(graph, graph.length_m, s_nodes)
    _, pred_fast = fastest_paths(graph, weight, s_nodes)
    r_short, r_fast = [], []
    for i, s in enumerate(src):
        for j, t in enumerate(dst):
            straight = float(haversine_m(lon[s], lat[s], lon[t], lat[t]))
            if straight < DETOUR_MIN_STRAIGHT_M:
                continue
            r_short.append(float(d_short[i, t_nodes[j]]) / straight)
            r_fast.append(lengths.length_m(pred_fast[i], int(t_nodes[j])) / straight)
    return float(np.median(r_short)), float(np.median(r_fast)), len(r_short)


__all__ = ["BuildReport", "CalibrationRow", "RegionArrival", "arrivals_table", "build", "calibration_table"]
