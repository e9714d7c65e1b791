"""Run a scenario end to end: read, route, measure, optimize — timing each stage.

``run(scenario) -> Result`` computes everything in memory; ``Result.write(out)`` writes
the output contract of DESIGN.md atomically.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from facplan import access, network
from facplan._errors import FacplanWarning, InputError
from facplan.cache import file_sha256
from facplan.cells import cell_points
from facplan.inputs import Layers, load_layers
from facplan.routes import GraphRoutes, MatrixRoutes
from facplan.scenario import Scenario
from facplan.siting import (
    NOT_IN_ENTRY,
    SitingInput,
    SitingResult,
    group_threshold_m,
    plan_sites,
    serving_tiers,
)
from facplan.standards import TIER_ORDER, Standard

__all__ = ["Result", "run", "layer_key"]

Progress = Callable[[str], None]


def layer_key(kind: str, tier: str) -> str:
    """Column suffix of a kind/tier: ``sports_park_community``."""
    return f"{kind}_{tier}"


@dataclass
class Result:
    """Everything a run produced.

    Attributes
    ----------
    summary
        The content of ``summary.json``.
    demand
        One row per cell (scenario CRS): ``cell_id``, ``population``, ``community_id``,
        ``dist_<kind>_<tier>``, ``dist_<kind>_<tier>_after`` (m, NaN = unreachable) and
        ``sfca_<kind>_<tier>`` (m² per resident) where facilities have an area.
    sites
        Chosen sites (scenario CRS): ``site_id``, ``kind``, ``tier``, ``rank``,
        ``marginal_population``, ``cost``, ``community_id``.
    communities
        Per community: ``community_id``, ``name``, ``population``, coverage fractions,
        ``has_centre``, ``gaps`` (None without communities).
    candidates
        Every candidate with ``chosen``, ``gain`` and ``excluded`` (None without).
    facilities
        Existing facilities (scenario CRS).
    catchments
        Walking catchment polygons of chosen sites (scenario CRS).
    """

    scenario: Scenario
    summary: dict
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame | None
    candidates: gpd.GeoDataFrame | None
    facilities: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    thresholds: dict[str, float] = field(default_factory=dict)
    exclusions: gpd.GeoDataFrame | None = None
    #: capacitated entries: ``cell_id``, ``site_id``, ``people`` served (None without)
    assignment: pd.DataFrame | None = None

    def to_map(self) -> Any:
        """The interactive folium map of this run."""
        from facplan.outputs.writer import build_result_map

        return build_result_map(self)

    def write(self, out: str | Path, *, force: bool = False) -> Path:
        """Write every output file into ``out`` atomically; returns the folder."""
        from facplan.outputs.writer import write_result

        return write_result(self, Path(out), force=force)


class _Timer:
    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)


def _read_network(scenario: Scenario, crs: Any, *, use_cache: bool = True) -> network.Graph:
    """The walking graph, from the network cache when the same file was read before."""
    from facplan.cache import cached_graph

    crs_str = crs.to_string()
    net = scenario.network
    if net.online:
        from facplan.io import online

        settings = scenario.online.settings()
        if net.place is not None:
            graph, _ = online.online_graph(
                place=net.place, crs=crs_str, settings=settings, use_cache=use_cache
            )
        else:
            area = online.read_area_polygon(net.polygon, key="network.polygon")
            graph, _ = online.online_graph(
                polygon=area, crs=crs_str, settings=settings, use_cache=use_cache,
                source=f"network.polygon: {net.polygon}",
            )
        return graph
    if scenario.network.pbf is not None:
        path, kind = scenario.network.pbf, "pbf"
        loader = lambda: network.read_pbf(path, crs=crs_str)  # noqa: E731
    else:
        path, kind = scenario.network.graphml, "graphml"
        loader = lambda: network.read_graphml(path, crs=crs_str)  # noqa: E731
    graph, _ = cached_graph(path, crs_str, kind, loader, use_cache=use_cache)
    return graph


@dataclass
class _Network:
    routes: GraphRoutes | MatrixRoutes
    fac: np.ndarray
    cand: np.ndarray
    unreachable_cells: np.ndarray
    graph: network.Graph | None
    describe: dict


def _routes(
    scenario: Scenario, layers: Layers, warn: list[str], *, use_cache: bool = True
) -> _Network:
    """Walking distances for this scenario: the network with every cell and site
    attached, or the given origin–destination table."""
    cells, facilities, candidates = layers.cells, layers.facilities, layers.candidates
    n_c, n_f = len(cells), len(facilities)
    n_s = 0 if candidates is None else len(candidates)
    pop = cells["population"].to_numpy(dtype=float)
    if scenario.network.matrix is not None:
        from facplan.io.matrix import read_od_matrix

        dest_ids = np.concatenate([
            facilities["facility_id"].to_numpy(dtype=object),
            np.zeros(0, dtype=object) if candidates is None
            else candidates["site_id"].to_numpy(dtype=object),
        ])
        table, info = read_od_matrix(
            scenario.network, cells["cell_id"].to_numpy(dtype=object), dest_ids
        )
        handles = np.arange(n_f + n_s, dtype=np.int64)
        handles[info["missing_destinations"]] = -1
        unreachable = np.diff(table.tocsc().indptr) == 0
        if unreachable.all():
            raise InputError(
                "no population cell appears in the origin-destination table with any "
                "facility or candidate; do the ids match?",
                file=str(scenario.network.matrix),
            )
        if unreachable.any():
            warn.append(
                f"{int(unreachable.sum())} cells ({pop[unreachable].sum():.0f} people) have no "
                "row in the origin-destination table: unreachable"
            )
        if len(info["missing_destinations"]):
            warn.append(
                f"{len(info['missing_destinations'])} facilities/candidates have no row in the "
                "origin-destination table: unreachable"
            )
        return _Network(MatrixRoutes(table), handles[:n_f], handles[n_f:], unreachable, None,
                        {"matrix_pairs": int(table.nnz)})
    from facplan.memory import check_memory

    check_memory(scenario.network.path, n_c + n_f + n_s, key=f"network.{scenario.network.key}")
    graph = _read_network(scenario, layers.crs, use_cache=use_cache)
    _, sizes = network.components(graph)
    if len(sizes) == 0 or sizes.max() < scenario.min_component_nodes:
        raise InputError(
            f"the walking network has no connected piece with at least min_component_nodes "
            f"= {scenario.min_component_nodes} nodes (largest: "
            f"{0 if len(sizes) == 0 else int(sizes.max())} nodes); lower "
            "'min_component_nodes' or use a larger network extract",
            file=scenario.network.label, field="min_component_nodes",
        )
    parts = [cell_points(cells.geometry), cell_points(facilities.geometry)]
    if candidates is not None:
        parts.append(cell_points(candidates.geometry))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    att = network.attach_points(
        graph, x, y, snap=scenario.snap, max_snap_m=scenario.max_snap_m,
        min_component_nodes=scenario.min_component_nodes,
    )
    cell_nodes = att.node[:n_c]
    fac_nodes = att.node[n_c:n_c + n_f]
    cand_nodes = att.node[n_c + n_f:n_c + n_f + n_s]
    unsnapped = cell_nodes < 0
    if unsnapped.all():
        raise InputError(
            f"no population cell is within max_snap_m = {scenario.max_snap_m:g} m of the "
            "walking network; do the population and the network cover the same area "
            "(check lon/lat order and CRS)?",
            file=str(scenario.population.path or "population"),
        )
    if unsnapped.any():
        warn.append(
            f"{int(unsnapped.sum())} cells ({pop[unsnapped].sum():.0f} people) are farther "
            f"than max_snap_m = {scenario.max_snap_m:g} m from the network: unreachable "
            "(first: " + ", ".join(cells["cell_id"].to_numpy()[unsnapped][:5]) + ")"
        )
    if (fac_nodes < 0).any():
        warn.append(
            f"{int((fac_nodes < 0).sum())} existing facilities are farther than "
            "max_snap_m from the network and serve no one: "
            + ", ".join(facilities["facility_id"].to_numpy()[fac_nodes < 0][:5])
        )
    if candidates is not None and (cand_nodes < 0).any():
        warn.append(
            f"{int((cand_nodes < 0).sum())} candidates are farther than max_snap_m from "
            "the network and cannot be chosen"
        )
    return _Network(
        GraphRoutes(att.graph, cell_nodes), fac_nodes, cand_nodes, unsnapped, att.graph,
        {"nodes": int(graph.n_nodes), "edges": int(graph.n_edges)},
    )


def _kind_tiers(scenario: Scenario, facilities: gpd.GeoDataFrame, standards: dict) -> list:
    pairs = set(zip(facilities["kind"], facilities["tier"], strict=True))
    pairs |= {(o.kind, o.tier) for o in scenario.optimize}
    pairs = {(k, t) for k, t in pairs if k in standards and t in standards[k]}
    return sorted(pairs, key=lambda kt: (kt[0], TIER_ORDER.get(kt[1], 9), kt[1]))


def _demand_weights(scenario: Scenario, cells: gpd.GeoDataFrame) -> np.ndarray:
    """Demand per cell: population + Σ (weight − 1) × group people."""
    demand = cells["population"].to_numpy(dtype=float).copy()
    for group, w in scenario.weights.items():
        demand += (w - 1.0) * cells[group].to_numpy(dtype=float)
    return np.clip(demand, 0.0, None)


def _group_access(
    scenario: Scenario, cells: gpd.GeoDataFrame, dist: np.ndarray, std: Standard
) -> dict:
    """Coverage of each population group; a group with its own walking speed gets its
    own threshold when the standard is in minutes."""
    out = {}
    for group, g in scenario.population.groups.items():
        people = cells[group].to_numpy(dtype=float)
        thr = group_threshold_m(std, g.walk_speed_m_s)
        s = access.coverage_stats(dist, people, thr)
        out[group] = {k: s[k] for k in ("threshold_m", "covered_population", "coverage",
                                        "unreachable_population")}
        out[group]["population"] = float(people.sum())
    return out


def run(
    scenario: Scenario, *, progress: Progress | None = None, cache: bool = True
) -> Result:
    """Run a scenario end to end.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`facplan.load_scenario`).
    progress
        Called with each stage's name as it starts.
    cache
        Use the network cache (:mod:`facplan.cache`) for the walking graph.

    Returns
    -------
    Result

    Raises
    ------
    InputError
        Inputs that cannot be right (DESIGN, *Semantics*).
    """
    if scenario.sweep:
        raise InputError(
            "this scenario has a 'sweep' block: run it with `facplan batch`, which expands "
            "the sweep into one run per value",
            field="sweep",
        )
    timer = _Timer(progress)
    standards = scenario.resolved_standards()

    with timer.stage("read inputs"):
        layers = load_layers(scenario, standards)
    warn = list(layers.warnings)
    crs = layers.crs
    cells, facilities, candidates = layers.cells, layers.facilities, layers.candidates

    with timer.stage("read network"):
        net = _routes(scenario, layers, warn, use_cache=cache)
    routes, fac_nodes, cand_nodes = net.routes, net.fac, net.cand
    pop = cells["population"].to_numpy(dtype=float)
    unsnapped = net.unreachable_cells

    demand = cells.copy()
    demand_w = _demand_weights(scenario, cells)
    thresholds: dict[str, float] = {}
    access_summary: dict[str, dict] = {}
    kind_tiers = _kind_tiers(scenario, facilities, standards)
    before: dict[tuple[str, str], np.ndarray] = {}
    with timer.stage("access"):
        for kind, tier in kind_tiers:
            std = standards[kind][tier]
            serving = serving_tiers(kind, tier, standards)
            mask = (facilities["kind"].to_numpy() == kind) & np.isin(
                facilities["tier"].to_numpy(), serving
            )
            dist = routes.nearest(fac_nodes[mask])
            before[(kind, tier)] = dist
            key = layer_key(kind, tier)
            demand[f"dist_{key}"] = dist
            thresholds[f"dist_{key}"] = std.walk_m
            summary_kt = access.coverage_stats(dist, pop, std.walk_m)
            if scenario.population.groups:
                summary_kt["groups"] = _group_access(scenario, cells, dist, std)
            own = mask & (facilities["tier"].to_numpy() == tier)
            area = facilities["area_m2"].to_numpy(dtype=float)
            if own.any() and np.isfinite(area[own]).any():
                m = routes.matrix(fac_nodes[own], std.walk_m)
                sfca = access.two_step_fca(m, area[own], pop)
                demand[f"sfca_{key}"] = sfca
                summary_kt["sfca_mean_m2"] = (
                    float(np.average(sfca, weights=pop)) if pop.sum() > 0 else 0.0
                )
                summary_kt["sfca_target_m2"] = scenario.sfca_target_m2
                summary_kt["sfca_target_share"] = (
                    float(pop[sfca >= scenario.sfca_target_m2].sum() / pop.sum())
                    if pop.sum() > 0 else 0.0
                )
            access_summary[f"{kind}/{tier}"] = summary_kt

    siting = SitingResult()
    with timer.stage("optimize"):
        if candidates is not None and scenario.optimize:
            siting = plan_sites(SitingInput(
                scenario=scenario, standards=standards, routes=routes, cand_nodes=cand_nodes,
                fac_nodes=fac_nodes, candidates=candidates, demand=demand_w, before=before,
                facilities=facilities, communities=layers.communities,
                exclusions=layers.exclusions, population=pop,
                groups={g: (cells[g].to_numpy(dtype=float), spec.walk_speed_m_s,
                            float(scenario.weights.get(g, 1.0)))
                        for g, spec in scenario.population.groups.items()
                        if spec.walk_speed_m_s is not None},
            ))
            warn.extend(siting.warnings)
    chosen_rows = siting.rows

    with timer.stage("access after"):
        for kind, tier in kind_tiers:
            key = layer_key(kind, tier)
            std = standards[kind][tier]
            d = before[(kind, tier)].copy()
            serving = serving_tiers(kind, tier, standards)
            new_rows = [
                r["_row"] for r in chosen_rows if r["kind"] == kind and r["tier"] in serving
            ]
            if new_rows:
                d = np.fmin(d, routes.nearest(cand_nodes[new_rows]))
            demand[f"dist_{key}_after"] = d
            thresholds[f"dist_{key}_after"] = std.walk_m
            after = access.coverage_stats(d, pop, std.walk_m)
            a = {k: after[k] for k in ("covered_population", "coverage", "mean_m", "p50_m",
                                       "p90_m", "unreachable_population")}
            if scenario.population.groups:
                a["groups"] = _group_access(scenario, cells, d, std)
            _served_coverage(a, siting, kind, tier, before[(kind, tier)], pop, std.walk_m)
            if f"sfca_{key}" in demand.columns:
                sfca = _sfca_after(routes, facilities, fac_nodes, candidates, cand_nodes,
                                   chosen_rows, kind, tier, std.walk_m, pop)
                demand[f"sfca_{key}_after"] = sfca
                a["sfca_mean_m2"] = float(np.average(sfca, weights=pop)) if pop.sum() > 0 \
                    else 0.0
            access_summary[f"{kind}/{tier}"]["after"] = a
        reachable_any = any(
            (~np.isnan(demand[f"dist_{layer_key(k, t)}_after"].to_numpy())).any()
            for k, t in kind_tiers
        )
        if kind_tiers and not reachable_any and (len(facilities) or chosen_rows):
            from facplan.io.postgis import source_name

            sources = [source_name(f) if f.osm is None else f"facilities.{i}.osm"
                       for i, f in enumerate(scenario.facilities)]
            raise InputError(
                "no population cell can reach any facility or chosen site on the walking "
                "network (facilities from: " + ", ".join(sources) + "); check that the "
                "layers cover the same area and lie on the same connected network",
                file=scenario.network.label,
            )

    with timer.stage("tables"):
        sites = _sites_frame(chosen_rows, candidates, crs)
        catchments = _catchments(net.graph, sites, cand_nodes, chosen_rows, standards)
        comm_out = None
        if layers.communities is not None:
            comm_out = _communities_out(
                layers.communities, demand, kind_tiers, thresholds, facilities, sites,
                siting.summary,
            )
            _served_community_coverage(comm_out, demand, siting, before, standards, pop)
            if len(sites):
                sites["community_id"] = _community_of(sites, layers.communities)
        cand_out = None
        if candidates is not None:
            cand_out = candidates.copy()
            cand_out["chosen"] = cand_out["site_id"].isin(sites["site_id"])
            cand_out["gain"] = siting.gain if siting.gain is not None else np.nan
            cand_out["excluded"] = (
                siting.reason if siting.reason is not None
                else np.full(len(candidates), NOT_IN_ENTRY, dtype=object)
            )

    demand_cols = ["cell_id", "population", "community_id"] + sorted(
        c for c in demand.columns if c.startswith(("dist_", "sfca_"))
    )
    extra = [c for c in cells.columns if c not in demand_cols and c != "geometry"]
    demand = demand[demand_cols + extra + ["geometry"]]

    summary = {
        "scenario": scenario.name,
        "crs": f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.to_string(),
        "population_total": float(pop.sum()),
        "cells": int(len(cells)),
        "access": access_summary,
        "optimize": siting.summary,
        "warnings": warn,
        "unreachable_cells": int(unsnapped.sum()),
        "network": net.describe,
        **({"population_estimate": layers.population_estimate}
           if layers.population_estimate is not None else {}),
        "timings": timer.timings,
        "inputs": {
            k: {"path": str(p), "sha256": file_sha256(p)} for k, p in scenario.input_files().items()
        },
    }
    for w in warn:
        warnings.warn(w, FacplanWarning, stacklevel=2)
    return Result(
        scenario=scenario, summary=summary, demand=demand, sites=sites,
        communities=comm_out, candidates=cand_out, facilities=facilities,
        catchments=catchments, thresholds=thresholds, exclusions=layers.exclusions,
        assignment=_assignment_frame(siting, cells),
    )


def _sfca_after(routes, facilities, fac_nodes, candidates, cand_nodes, chosen_rows,
                kind: str, tier: str, walk_m: float, pop: np.ndarray) -> np.ndarray:
    """``sfca_<kind>_<tier>_after``: the two-step floating catchment supply (m² per
    resident) with the existing facilities of the tier and the new sites chosen for it,
    each with its site area (a new site without an area supplies nothing)."""
    own = (facilities["kind"].to_numpy() == kind) & (facilities["tier"].to_numpy() == tier)
    mats = [routes.matrix(fac_nodes[own], walk_m)] if own.any() else []
    areas = [facilities["area_m2"].to_numpy(dtype=float)[own]]
    new = [r["_row"] for r in chosen_rows if r["kind"] == kind and r["tier"] == tier]
    if new and candidates is not None:
        mats.append(routes.matrix(cand_nodes[new], walk_m))
        areas.append(candidates["area_m2"].to_numpy(dtype=float)[new])
    m = sp.vstack([sp.csr_matrix(x) for x in mats], format="csr")
    return access.two_step_fca(m, np.concatenate(areas), pop)


def _served_community_coverage(table: pd.DataFrame, demand: gpd.GeoDataFrame,
                               siting: SitingResult, before: dict, standards: dict,
                               pop: np.ndarray) -> None:
    """Per community, ``coverage_<kind>_<tier>_after`` of a capacitated kind/tier is the
    share of its people served (covered before + served by the new sites within their
    capacities), as in ``summary.json``; the distance figure moves to
    ``within_reach_<kind>_<tier>_after``."""
    keys = {(r["kind"], r["tier"]) for r in siting.assignment}
    for kind, tier in sorted(keys):
        key = layer_key(kind, tier)
        col = f"coverage_{key}_after"
        if col not in table.columns:
            continue
        std = standards[kind][tier]
        served = np.where(access.covered_mask(before[(kind, tier)], std.walk_m), pop, 0.0)
        for r in siting.assignment:
            if r["kind"] == kind and r["tier"] == tier:
                served[r["cell"]] += r["people"]
        df = pd.DataFrame({"c": demand["community_id"].to_numpy(), "p": pop,
                           "s": np.minimum(served, pop)})
        grp = df.groupby("c").sum()
        share = (grp["s"] / grp["p"].where(grp["p"] > 0)).reindex(table["community_id"])
        table[f"within_reach_{key}_after"] = table[col].to_numpy()
        table[col] = share.fillna(0.0).to_numpy()


def _served_coverage(a: dict, siting: SitingResult, kind: str, tier: str,
                     d_before: np.ndarray, pop: np.ndarray, walk_m: float) -> None:
    """For a kind/tier with a capacitated entry, the coverage after the plan counts the
    people served within capacities (covered before + served by the new sites), not the
    people within walking distance; the distance figure stays as
    ``within_reach_population``."""
    rows = [r for r in siting.assignment if r["kind"] == kind and r["tier"] == tier]
    if not rows:
        return
    covered_before = float(pop[access.covered_mask(d_before, walk_m)].sum())
    served = covered_before + sum(r["people"] for r in rows)
    total = float(pop.sum())
    a["within_reach_population"] = a["covered_population"]
    a["covered_population"] = served
    a["coverage"] = served / total if total > 0 else 0.0
    a["capacitated"] = True


def _assignment_frame(siting: SitingResult, cells: gpd.GeoDataFrame) -> pd.DataFrame | None:
    """``assignment.csv``: ``cell_id``, ``site_id``, ``people`` (capacitated entries)."""
    if not siting.assignment:
        return None
    df = pd.DataFrame(siting.assignment)
    df["cell_id"] = cells["cell_id"].to_numpy(dtype=object)[df["cell"].to_numpy()]
    return df[["cell_id", "site_id", "people", "kind", "tier", "optimize"]].sort_values(
        ["optimize", "site_id", "cell_id"], kind="stable").reset_index(drop=True)


def _sites_frame(rows: list[dict], candidates: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame:
    cols = ["site_id", "kind", "tier", "rank", "marginal_population", "cost", "community_id",
            "phase"]
    if not rows or candidates is None:
        return gpd.GeoDataFrame({c: [] for c in [*cols, "optimize", "_row"]}, geometry=[],
                                crs=crs)
    df = pd.DataFrame(rows)
    geom = candidates.geometry.to_numpy()[df["_row"].to_numpy()]
    df["community_id"] = None
    if "phase" not in df:
        df["phase"] = None
    df["phase"] = df["phase"].astype(object).where(df["phase"].notna(), None)
    for col in ("name", "source"):  # what an OSM candidate is (for the map's popups)
        df[col] = candidates[col].to_numpy(dtype=object)[df["_row"].to_numpy()] \
            if col in candidates.columns else ""
    out = gpd.GeoDataFrame(df[cols + ["optimize", "_row", "name", "source"]], geometry=geom,
                           crs=crs)
    return out


def _community_of(sites: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> np.ndarray:
    pts = gpd.GeoDataFrame(geometry=sites.geometry.representative_point(), crs=sites.crs)
    j = gpd.sjoin(pts, communities[["community_id", "geometry"]], how="left", predicate="intersects")
    j = j.sort_values("community_id")
    j = j[~j.index.duplicated(keep="first")].sort_index()
    return j["community_id"].to_numpy()


def _communities_out(
    communities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, kind_tiers: list,
    thresholds: dict, facilities: gpd.GeoDataFrame, sites: gpd.GeoDataFrame,
    opt_summary: list[dict],
) -> gpd.GeoDataFrame:
    dist_cols: dict[str, np.ndarray] = {}
    thr: dict[str, float] = {}
    for kind, tier in kind_tiers:
        key = layer_key(kind, tier)
        for suffix in ("", "_after"):
            dist_cols[key + suffix] = demand[f"dist_{key}{suffix}"].to_numpy()
            thr[key + suffix] = thresholds[f"dist_{key}{suffix}"]
    table = access.community_table(
        demand["community_id"].to_numpy(), demand["population"].to_numpy(), dist_cols, thr,
        communities,
    )
    centres = facilities[facilities["kind"] == "neighbourhood_centre"]
    has = np.zeros(len(communities), dtype=bool)
    if len(centres):
        pts = gpd.GeoDataFrame(geometry=centres.geometry.representative_point(), crs=centres.crs)
        j = gpd.sjoin(communities[["community_id", "geometry"]], pts, how="inner", predicate="intersects")
        has = communities["community_id"].isin(j["community_id"]).to_numpy()
    table["has_centre"] = has
    new_centre = np.zeros(len(communities), dtype=bool)
    if len(sites):
        nc = sites[sites["kind"] == "neighbourhood_centre"]
        if len(nc):
            pts = gpd.GeoDataFrame(geometry=nc.geometry.representative_point(), crs=nc.crs)
            j = gpd.sjoin(communities[["community_id", "geometry"]], pts, how="inner", predicate="intersects")
            new_centre = communities["community_id"].isin(j["community_id"]).to_numpy()
    no_candidate = {c for o in opt_summary for c in o.get("gaps", [])}
    for col in [c for c in demand.columns if c.startswith("sfca_")]:
        df = pd.DataFrame({"c": demand["community_id"].to_numpy(),
                           "w": demand["population"].to_numpy(),
                           "v": demand[col].to_numpy() * demand["population"].to_numpy()})
        grp = df.groupby("c").sum()
        mean = (grp["v"] / grp["w"].where(grp["w"] > 0)).reindex(table["community_id"])
        table[col] = mean.to_numpy()
    gaps = []
    for r, (_, row) in enumerate(table.iterrows()):
        items = []
        if not has[r] and not new_centre[r]:
            items.append("no neighbourhood centre")
        if row["community_id"] in no_candidate:
            items.append("no eligible candidate for a centre")
        for kind, tier in kind_tiers:
            c = row[f"coverage_{layer_key(kind, tier)}_after"]
            if row["population"] > 0 and c < 1.0 - 1e-9:
                items.append(f"{kind}/{tier} {c:.0%} covered")
        gaps.append("; ".join(items))
    table["gaps"] = gaps
    return gpd.GeoDataFrame(table, geometry=communities.geometry.to_numpy(), crs=communities.crs)


def _catchments(
    g: network.Graph | None, sites: gpd.GeoDataFrame, cand_nodes: np.ndarray,
    rows: list[dict], standards: dict,
) -> gpd.GeoDataFrame:
    """Walking catchment of each chosen site: the concave hull of the network nodes
    within the tier threshold (a drawing aid for the map; coverage uses exact distances).

    One threaded bounded search per threshold gives every site's reachable nodes (a
    sparse sites × nodes matrix); hulls and buffers are vectorised GEOS calls. Sites
    that reach fewer than three nodes get no catchment.
    """
    from facplan import distances

    crs = sites.crs
    keep = [r for r in rows if g is not None and cand_nodes[r["_row"]] >= 0]
    walk = np.array([standards[r["kind"]][r["tier"]].walk_m for r in keep], dtype=float)
    site_of, node_of = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for w in np.unique(walk):
        at = np.flatnonzero(walk == w)
        nodes = np.array([cand_nodes[keep[i]["_row"]] for i in at], dtype=np.int64)
        reach = distances.bounded_matrix(
            g.indptr, g.indices, g.length_m, nodes, np.arange(g.n_nodes), float(w)
        ).tocsr()
        site_of.append(at[np.repeat(np.arange(len(at)), np.diff(reach.indptr))])
        node_of.append(reach.indices.astype(np.int64))
    site_of, node_of = np.concatenate(site_of), np.concatenate(node_of)
    order = np.lexsort((node_of, site_of))  # by site, nodes ascending within each
    site_of, node_of = site_of[order], node_of[order]
    big = np.flatnonzero(np.bincount(site_of, minlength=len(keep)) >= 3)
    if len(big) == 0:
        return gpd.GeoDataFrame({"site_id": [], "kind": [], "tier": []}, geometry=[], crs=crs)
    sel = np.isin(site_of, big)
    pts = shapely.multipoints(
        np.column_stack([g.x[node_of[sel]], g.y[node_of[sel]]]),
        indices=np.searchsorted(big, site_of[sel]),
    )
    hulls = shapely.buffer(shapely.concave_hull(pts, ratio=0.3), 20.0, quad_segs=16)
    table = pd.DataFrame({k: [keep[i][k] for i in big] for k in ("site_id", "kind", "tier")})
    return gpd.GeoDataFrame(table, geometry=hulls, crs=crs)
