"""Run a scenario end to end: read, route, measure, optimize — timing each stage.

``run(scenario) -> Result`` computes everything in memory; ``Result.write(out)`` writes
the output contract of DESIGN.md atomically.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from facplan import access, equity, levels, network, rings, streets
from facplan._errors import FacplanWarning, InputError
from facplan.cache import file_sha256
from facplan.cells import community_of
from facplan.inputs import Layers, load_layers
from facplan.io.network import read_network
from facplan.keys import SITE_COLUMNS, layer_key
from facplan.result import Result
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
from facplan.standards import Standard, kind_tier_order

__all__ = ["Result", "run", "measured_kind_tiers"]

Progress = Callable[[str], None]


class _Timer:
    """Wall time (``timings``, seconds) and peak resident memory (``peak_memory_mb``) of
    each stage of a run; stages do not nest."""

    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self.peak_memory_mb: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        from facplan.memory import peak_rss_mb, reset_peak_rss

        if self.progress:
            self.progress(name)
        reset_peak_rss()
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
        peak = peak_rss_mb()
        if peak is not None:
            self.peak_memory_mb[name] = round(peak, 1)


@dataclass
class _Network:
    routes: GraphRoutes | MatrixRoutes
    fac: np.ndarray
    cand: np.ndarray
    unreachable_cells: np.ndarray
    graph: network.Graph | None
    describe: dict
    snap_m: list[np.ndarray] | None = None  # cells, facilities[, candidates]: metres
    default_point: np.ndarray | None = None  # cell polygons entered at one interior point


def _routes(
    scenario: Scenario, layers: Layers, warn: list[str], *, use_cache: bool = True,
    timer: _Timer | None = None,
) -> _Network:
    """Walking distances for this scenario: the network with every cell and site
    attached, or the given origin–destination table.

    With a ``timer``, reading (file or cache → graph, or the table) is its stage
    ``read network`` and attaching the points is its stage ``attach``.
    """
    timer = timer or _Timer(None)
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
        with timer.stage("read network"):
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
    with timer.stage("read network"):
        graph = read_network(scenario.network, layers.crs, online=scenario.online,
                             use_cache=use_cache)
    _, sizes = network.components(graph)
    if len(sizes) == 0 or sizes.max() < scenario.min_component_nodes:
        raise InputError(
            f"the walking network has no connected piece with at least min_component_nodes "
            f"= {scenario.min_component_nodes} nodes (largest: "
            f"{0 if len(sizes) == 0 else int(sizes.max())} nodes); lower "
            "'min_component_nodes' or use a larger network extract",
            file=scenario.network.label, field="min_component_nodes",
        )
    with timer.stage("attach"):
        from facplan.entry import FeatureLayer, attach_layers

        feats = [FeatureLayer(cells.geometry.values, layers.entries.get("cells"), "target", False),
                 FeatureLayer(facilities.geometry.values, layers.entries.get("facilities"),
                              "source", True)]
        if candidates is not None:
            feats.append(FeatureLayer(candidates.geometry.values, layers.entries.get("candidates"),
                                      "source", True))
        att = attach_layers(
            graph, feats, snap=scenario.snap, max_snap_m=scenario.max_snap_m,
            min_component_nodes=scenario.min_component_nodes,
        )
    cell_nodes, fac_nodes = att.node[0], att.node[1]
    cand_nodes = att.node[2] if candidates is not None else np.zeros(0, dtype=np.int64)
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
        snap_m=att.snap_m, default_point=att.default_point[0],
    )


def _entry_warnings(
    net: _Network, cells: gpd.GeoDataFrame, kind_tiers: list, standards: dict
) -> list[str]:
    """Warnings about where features entered the network: long connectors, and large
    population polygons entered at one interior point (DESIGN, *Entrances*)."""
    from facplan.entry import long_snap_warning, wide_polygons

    out = []
    if net.snap_m is not None:
        names = ["cells", "existing facilities", "candidates"]
        w = long_snap_warning(dict(zip(names, net.snap_m, strict=False)))
        if w:
            out.append(w)
    if net.default_point is not None and net.default_point.any() and kind_tiers:
        smallest = min(standards[k][t].walk_m for k, t in kind_tiers)
        wide = net.default_point & wide_polygons(cells.geometry.values, smallest / 4)
        if wide.any():
            out.append(
                f"{int(wide.sum())} population polygons wider than {smallest / 4:g} m (a "
                f"quarter of the smallest threshold, {smallest:g} m) enter the walking "
                "network at one interior point, so their residents may be counted farther "
                "than they walk; give their gates or buildings as 'population.entrances' "
                "({path, owner_field})"
            )
    return out


def _offset_warnings(scenario: Scenario, layers: Layers, net: _Network) -> list[str]:
    """Point sources in China that lie systematically off the network (GCJ-02/BD-09
    coordinates read as WGS84), one warning per source."""
    from facplan.io.coords import offset_warning

    if net.snap_m is None or net.graph is None:
        return []
    g = net.graph
    real = g.node_id >= 0
    node_xy = (g.x[real], g.y[real]) if real.any() else (g.x, g.y)
    crs = layers.crs
    frames = [("population", layers.cells, [("population", len(layers.cells))],
               [scenario.population]),
              ("facilities", layers.facilities, layers.sources.get("facilities", []),
               scenario.facilities),
              ("candidates", layers.candidates, layers.sources.get("candidates", []),
               scenario.candidates)]
    out = []
    for k, (name, frame, parts, specs) in enumerate(frames):
        if frame is None or k >= len(net.snap_m):
            continue
        given = layers.entries.get("cells" if name == "population" else name)
        has = np.zeros(len(frame), dtype=bool)
        if given is not None:
            has[given.row] = True
        pts = np.asarray(shapely.get_type_id(frame.geometry.values) == 0) & ~has
        start = 0
        for (key, n), spec in zip(parts, specs, strict=False):
            sel = np.zeros(len(frame), dtype=bool)
            sel[start:start + n] = True
            start += n
            sel &= pts
            if not sel.any():
                continue
            geom = frame.geometry.values[sel]
            w = offset_warning(key, shapely.get_x(geom), shapely.get_y(geom),
                               net.snap_m[k][sel], crs=crs, network_xy=node_xy,
                               coords=getattr(spec, "coords", "wgs84"))
            if w:
                out.append(w)
    return out


def measured_kind_tiers(
    scenario: Scenario, facilities: gpd.GeoDataFrame, standards: dict
) -> list[tuple[str, str]]:
    """The kind/tier pairs a run measures: those of the existing facilities and of the
    optimize entries that have a standard, by kind then tier (:func:`kind_tier_order`)."""
    pairs = set(zip(facilities["kind"], facilities["tier"], strict=True))
    pairs |= {(o.kind, o.tier) for o in scenario.optimize}
    pairs = {(k, t) for k, t in pairs if k in standards and t in standards[k]}
    return sorted(pairs, key=kind_tier_order)


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

    net = _routes(scenario, layers, warn, use_cache=cache, timer=timer)
    routes, fac_nodes, cand_nodes = net.routes, net.fac, net.cand
    pop = cells["population"].to_numpy(dtype=float)
    unsnapped = net.unreachable_cells

    demand = cells.copy()
    demand["snap_m"] = net.snap_m[0] if net.snap_m is not None else np.nan
    demand_w = access.demand_weights(cells, scenario.weights)
    thresholds: dict[str, float] = {}
    access_summary: dict[str, dict] = {}
    kind_tiers = measured_kind_tiers(scenario, facilities, standards)
    warn.extend(_entry_warnings(net, cells, kind_tiers, standards))
    warn.extend(_offset_warnings(scenario, layers, net))
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
    siting_in = None
    with timer.stage("optimize"):
        if candidates is not None and scenario.optimize:
            siting_in = SitingInput(
                scenario=scenario, standards=standards, routes=routes, cand_nodes=cand_nodes,
                fac_nodes=fac_nodes, candidates=candidates, demand=demand_w, before=before,
                facilities=facilities, communities=layers.communities,
                exclusions=layers.exclusions, population=pop,
                groups={g: (cells[g].to_numpy(dtype=float), spec.walk_speed_m_s,
                            float(scenario.weights.get(g, 1.0)))
                        for g, spec in scenario.population.groups.items()
                        if spec.walk_speed_m_s is not None},
            )
            siting = plan_sites(siting_in)
            warn.extend(siting.warnings)
    chosen_rows = siting.rows
    whatif = None
    if siting_in is not None:
        with timer.stage("what-if"):
            whatif = _whatif(siting_in, kind_tiers, chosen_rows, pop, cells, layers.communities,
                             _candidate_snap_m(net, candidates))

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
        cand_snap = _candidate_snap_m(net, candidates)
        sites = _sites_frame(chosen_rows, candidates, crs, cand_snap)
        catchments = _catchments(net.graph, sites, cand_nodes, chosen_rows, standards)
        ring_frame = rings.ring_layer(net.graph, kind_tiers, {
            "existing": (facilities["kind"].to_numpy(), facilities["tier"].to_numpy(), fac_nodes),
            "planned": ([r["kind"] for r in chosen_rows], [r["tier"] for r in chosen_rows],
                        np.array([cand_nodes[r["_row"]] for r in chosen_rows], dtype=np.int64)),
        }, walk_speed_m_s=scenario.walk_speed_m_s, crs=crs)
        street_frame = streets.street_lines(net.graph, crs=crs)
        comm_out = None
        if layers.communities is not None:
            comm_out = _communities_out(
                layers.communities, demand, kind_tiers, thresholds, facilities, sites,
                siting.summary, lang=scenario.map.lang,
                uses_centres="neighbourhood_centre" in equity.used_kinds(
                    facilities, candidates, optimize_kinds=[o.kind for o in scenario.optimize]
                ),
            )
            comm_out = levels.with_parents(comm_out, layers.communities)
            _served_community_coverage(comm_out, demand, siting, before, standards, pop)
            if len(sites):
                sites["community_id"] = _community_of(sites, layers.communities)
        cand_out = None
        if candidates is not None:
            cand_out = candidates.copy()
            cand_out["chosen"] = cand_out["site_id"].isin(sites["site_id"])
            cand_out["snap_m"] = cand_snap
            cand_out["gain"] = siting.gain if siting.gain is not None else np.nan
            cand_out["excluded"] = (
                siting.reason if siting.reason is not None
                else np.full(len(candidates), NOT_IN_ENTRY, dtype=object)
            )

        equity.add_equity(access_summary, demand, kind_tiers, standards, comm_out)
        parents = None
        if comm_out is not None and "parent_id" in comm_out:
            parents = levels.parent_table(comm_out, kind_tiers, {
                f"{k}/{t}": standards[k][t].target_coverage for k, t in kind_tiers})

    demand_cols = ["cell_id", "population", "community_id", "snap_m"] + sorted(
        c for c in demand.columns if c.startswith(("dist_", "sfca_"))
    )
    extra = [c for c in cells.columns if c not in demand_cols and c != "geometry"]
    demand = demand[demand_cols + extra + ["geometry"]]

    summary = {
        "scenario": scenario.name,
        "crs": f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.to_string(),
        "population_total": float(pop.sum()),
        "population_estimate": layers.population_estimate,
        "cells": int(len(cells)),
        "access": access_summary,
        "optimize": siting.summary,
        "warnings": warn,
        "unreachable_cells": int(unsnapped.sum()),
        "network": net.describe,
        # per-stage peak memory sits inside `timings`, the block reruns may differ in
        "timings": {**timer.timings, "peak_memory_mb": timer.peak_memory_mb},
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
        whatif=whatif, parents=parents, rings=ring_frame, streets=street_frame,
        assignment=_assignment_frame(siting, cells),
    )


def _candidate_snap_m(net: _Network, candidates: gpd.GeoDataFrame | None) -> np.ndarray:
    """Each candidate's ``snap_m`` (metres to the network; NaN when not attached)."""
    if net.snap_m is not None and candidates is not None:
        return net.snap_m[2]
    return np.full(0 if candidates is None else len(candidates), np.nan)


def _whatif(
    inp: SitingInput, kind_tiers: list, chosen_rows: list[dict], pop: np.ndarray,
    cells: gpd.GeoDataFrame, communities: gpd.GeoDataFrame | None, cand_snap_m: np.ndarray,
) -> Any:
    """The map's what-if payload (:mod:`facplan.whatif`), with each site's community."""
    from facplan.whatif import build_whatif

    w = build_whatif(
        inp, kind_tiers=kind_tiers, chosen_rows=chosen_rows, population=pop,
        community_of_cell=cells["community_id"].to_numpy(dtype=object),
        max_pairs=inp.scenario.map.max_whatif_pairs,
    )
    if w is not None and w.site_frame is not None:
        w.site_frame = w.site_frame.assign(snap_m=cand_snap_m[np.asarray(w.sites, dtype=int)])
    if w is not None and communities is not None and len(w.sites):
        w.site_community = [
            None if c is None or c != c else str(c)
            for c in _community_of(w.site_frame, communities)
        ]
    elif w is not None:
        w.site_community = [None] * len(w.sites)
    return w


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


def _sites_frame(
    rows: list[dict], candidates: gpd.GeoDataFrame | None, crs: Any, cand_snap_m: np.ndarray
) -> gpd.GeoDataFrame:
    cols = list(SITE_COLUMNS)
    if not rows or candidates is None:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=crs)
    # entry by entry, each in rank order (the order of sites.geojson and the report)
    df = pd.DataFrame(rows).sort_values(["optimize", "rank"], kind="stable")
    rows_idx = df["_row"].to_numpy()
    geom = candidates.geometry.to_numpy()[rows_idx]
    for col in ("name", "tag"):
        df[col] = (candidates[col].to_numpy(dtype=object)[rows_idx] if col in candidates
                   else "")
    df["snap_m"] = cand_snap_m[rows_idx]
    df["community_id"] = None
    if "phase" not in df:
        df["phase"] = None
    df["phase"] = df["phase"].astype(object).where(df["phase"].notna(), None)
    return gpd.GeoDataFrame(df[cols].reset_index(drop=True), geometry=geom, crs=crs)


def _community_of(sites: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> np.ndarray:
    pos = community_of(sites.geometry, communities)
    ids = communities["community_id"].to_numpy(dtype=object)
    return np.where(pos >= 0, ids[pos], None)


def _contains_any(communities: gpd.GeoDataFrame, places: gpd.GeoDataFrame) -> np.ndarray:
    """Whether each community holds at least one of ``places`` (by :func:`community_of`)."""
    has = np.zeros(len(communities), dtype=bool)
    pos = community_of(places.geometry, communities)
    has[pos[pos >= 0]] = True
    return has


def _communities_out(
    communities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, kind_tiers: list,
    thresholds: dict, facilities: gpd.GeoDataFrame, sites: gpd.GeoDataFrame,
    opt_summary: list[dict], *, lang: str = "en", uses_centres: bool = True,
) -> gpd.GeoDataFrame:
    from facplan.words import kind_tier_label, say

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
    has = _contains_any(communities, facilities[facilities["kind"] == "neighbourhood_centre"])
    table["has_centre"] = has
    new_centre = _contains_any(communities, sites[sites["kind"] == "neighbourhood_centre"])
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
        if uses_centres and not has[r] and not new_centre[r]:
            items.append(say("no neighbourhood centre", lang))
        if row["community_id"] in no_candidate:
            items.append(say("no eligible candidate for a centre", lang))
        for kind, tier in kind_tiers:
            c = row[f"coverage_{layer_key(kind, tier)}_after"]
            if row["population"] > 0 and c < 1.0 - 1e-9:
                label = kind_tier_label(kind, tier, lang)
                items.append(f"{label} {say('covered', lang)} {c:.0%}" if lang == "zh"
                             else f"{label} {c:.0%} covered")
        gaps.append(("；" if lang == "zh" else "; ").join(items))
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
