"""Run a scenario end to end: read, route, measure, optimize — timing each stage.

``run(scenario) -> Result`` computes everything in memory; ``Result.write(out)`` writes
the output contract of DESIGN.md atomically.
"""

from __future__ import annotations

import hashlib
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
import shapely

from facplan import access, network
from facplan._errors import FacplanWarning, InputError
from facplan.cells import cell_points, clip_to_communities
from facplan.io import (
    choose_crs,
    read_candidates,
    read_communities,
    read_facilities,
    read_population,
    to_projected,
)
from facplan.scenario import OptimizeSpec, Scenario
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class _Inputs:
    crs: Any
    cells: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame | None
    facilities: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame | None
    outside: dict


def _read_inputs(scenario: Scenario, standards: dict) -> _Inputs:
    pop = read_population(scenario.population)
    crs = choose_crs(scenario.crs, pop)
    cells = to_projected(pop, crs)
    communities = None
    if scenario.communities is not None:
        communities = to_projected(read_communities(scenario.communities), crs)
    cells, outside = clip_to_communities(cells, communities)
    if len(cells) == 0:
        raise InputError(
            "no population cell lies inside any community; check that both layers cover "
            "the same area and have the right CRS",
            file=str(scenario.population.path),
        )
    facilities = to_projected(read_facilities(scenario.facilities, standards), crs)
    candidates = None
    if scenario.candidates is not None:
        candidates = to_projected(read_candidates(scenario.candidates, standards), crs)
        poly_area = candidates.geometry.area.to_numpy()
        area = candidates["area_m2"].to_numpy()
        candidates["area_m2"] = np.where(np.isnan(area) & (poly_area > 0), poly_area, area)
    return _Inputs(crs, cells, communities, facilities, candidates, outside)


def _read_network(scenario: Scenario, crs: Any) -> network.Graph:
    crs_str = crs.to_string()
    if scenario.network.pbf is not None:
        return network.read_pbf(scenario.network.pbf, crs=crs_str)
    return network.read_graphml(scenario.network.graphml, crs=crs_str)


def _kind_tiers(scenario: Scenario, facilities: gpd.GeoDataFrame, standards: dict) -> list:
    pairs = set(zip(facilities["kind"], facilities["tier"], strict=True))
    pairs |= {(o.kind, o.tier) for o in scenario.optimize}
    pairs = {(k, t) for k, t in pairs if k in standards and t in standards[k]}
    return sorted(pairs, key=lambda kt: (kt[0], TIER_ORDER.get(kt[1], 9), kt[1]))


def _serving_tiers(kind: str, tier: str, standards: dict) -> list[str]:
    """Tiers of ``kind`` whose facilities serve ``tier`` demand (itself, plus higher
    tiers marked ``nested``)."""
    out = [tier]
    for t, std in standards[kind].items():
        if t != tier and std.nested and TIER_ORDER.get(t, 9) < TIER_ORDER.get(tier, 9):
            out.append(t)
    return out


def _eligibility(
    spec: OptimizeSpec, candidates: gpd.GeoDataFrame, std: Standard, used: set[str]
) -> np.ndarray:
    """Why each candidate cannot serve this entry ('' = eligible)."""
    reason = np.full(len(candidates), "", dtype=object)
    kind = candidates["kind"].to_numpy()
    tier = candidates["tier"].to_numpy()
    area = candidates["area_m2"].to_numpy()
    reason[kind != spec.kind] = "other kind"
    other_tier = (kind == spec.kind) & (tier != "") & (tier != spec.tier)
    reason[other_tier] = "other tier"
    blank_small = (reason == "") & (tier == "") & ~(np.nan_to_num(area, nan=0.0) >= std.min_area_m2)
    reason[blank_small] = f"too small for {spec.tier} (< {std.min_area_m2:g} m²)"
    ids = candidates["site_id"].to_numpy()
    reason[(reason == "") & np.isin(ids, list(spec.forbid))] = "forbidden"
    reason[(reason == "") & np.isin(ids, list(used))] = "used by another entry"
    return reason


def run(scenario: Scenario, *, progress: Progress | None = None) -> Result:
    """Run a scenario end to end.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`facplan.load_scenario`).
    progress
        Called with each stage's name as it starts.

    Returns
    -------
    Result

    Raises
    ------
    InputError
        Inputs that cannot be right (DESIGN, *Semantics*).
    """
    from facplan.optimize import MCLP

    timer = _Timer(progress)
    warn: list[str] = []
    standards = scenario.resolved_standards()

    with timer.stage("read inputs"):
        inp = _read_inputs(scenario, standards)
    crs = inp.crs
    cells, facilities, candidates = inp.cells, inp.facilities, inp.candidates
    if inp.outside["cells"]:
        warn.append(
            f"{inp.outside['cells']} population cells ({inp.outside['population']:.0f} "
            "people) lie outside every community and are left out of the study area"
        )

    with timer.stage("read network"):
        graph = _read_network(scenario, crs)

    with timer.stage("snap to network"):
        n_c, n_f = len(cells), len(facilities)
        n_s = 0 if candidates is None else len(candidates)
        parts = [cell_points(cells.geometry), cell_points(facilities.geometry)]
        if candidates is not None:
            parts.append(cell_points(candidates.geometry))
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        att = network.attach_points(
            graph, x, y, snap=scenario.snap, max_snap_m=scenario.max_snap_m,
            min_component_nodes=scenario.min_component_nodes,
        )
        g = att.graph
        cell_nodes = att.node[:n_c]
        fac_nodes = att.node[n_c:n_c + n_f]
        cand_nodes = att.node[n_c + n_f:n_c + n_f + n_s]
        pop = cells["population"].to_numpy(dtype=float)
        unsnapped = cell_nodes < 0
        if unsnapped.all():
            raise InputError(
                f"no population cell is within max_snap_m = {scenario.max_snap_m:g} m of the "
                "walking network; do the population and the network cover the same area "
                "(check lon/lat order and CRS)?",
                file=str(scenario.population.path),
            )
        if unsnapped.any():
            warn.append(
                f"{int(unsnapped.sum())} cells ({pop[unsnapped].sum():.0f} people) are farther "
                f"than max_snap_m = {scenario.max_snap_m:g} m from the network: unreachable"
            )
        if (fac_nodes < 0).any():
            warn.append(
                f"{int((fac_nodes < 0).sum())} existing facilities are farther than "
                f"max_snap_m from the network and serve no one: "
                + ", ".join(facilities["facility_id"].to_numpy()[fac_nodes < 0][:5])
            )
        if candidates is not None and (cand_nodes < 0).any():
            warn.append(
                f"{int((cand_nodes < 0).sum())} candidates are farther than max_snap_m from "
                "the network and cannot be chosen"
            )

    demand = cells.copy()
    thresholds: dict[str, float] = {}
    access_summary: dict[str, dict] = {}
    kind_tiers = _kind_tiers(scenario, facilities, standards)
    before: dict[tuple[str, str], np.ndarray] = {}
    with timer.stage("access"):
        for kind, tier in kind_tiers:
            std = standards[kind][tier]
            serving = _serving_tiers(kind, tier, standards)
            mask = (facilities["kind"].to_numpy() == kind) & np.isin(
                facilities["tier"].to_numpy(), serving
            )
            dist = access.nearest_distance(g, fac_nodes[mask], cell_nodes)
            before[(kind, tier)] = dist
            key = layer_key(kind, tier)
            demand[f"dist_{key}"] = dist
            thresholds[f"dist_{key}"] = std.walk_m
            access_summary[f"{kind}/{tier}"] = access.coverage_stats(dist, pop, std.walk_m)
            own = mask & (facilities["tier"].to_numpy() == tier)
            area = facilities["area_m2"].to_numpy()
            if own.any() and np.isfinite(area[own]).any():
                m = access.site_matrix(g, fac_nodes[own], cell_nodes, std.walk_m)
                demand[f"sfca_{key}"] = access.two_step_fca(m, area[own], pop)
        if not any(
            (~np.isnan(d)).any() for d in before.values()
        ) and before and not scenario.optimize:
            raise InputError(
                "no population cell can reach any facility on the network; check that "
                "facilities and population lie on the same network"
            )

    # ---- optimize -----------------------------------------------------------------
    chosen_rows: list[dict] = []
    opt_summary: list[dict] = []
    extra_open: dict[tuple[str, str], list[int]] = {}
    cand_reason = None
    cand_gain = None
    used: set[str] = set()
    with timer.stage("optimize"):
        if candidates is not None and scenario.optimize:
            cand_reason = np.full(len(candidates), "not in any optimize entry", dtype=object)
            cand_gain = np.full(len(candidates), np.nan)
            ids = candidates["site_id"].to_numpy()
            unsnapped_c = cand_nodes < 0
            any_usable = False
            for i, spec in enumerate(scenario.optimize):
                std = standards[spec.kind][spec.tier]
                reason = _eligibility(spec, candidates, std, used)
                reason[(reason == "") & unsnapped_c] = "too far from the network"
                for fid in spec.force:
                    if fid not in set(ids):
                        raise InputError(
                            f"force: no candidate with id {fid!r}", field=f"optimize.{i}.force"
                        )
                for fid in spec.force:
                    r = reason[ids == fid][0]
                    if r:
                        raise InputError(
                            f"force: candidate {fid!r} cannot serve {spec.kind}/{spec.tier} "
                            f"({r})", field=f"optimize.{i}.force",
                        )
                eligible = np.flatnonzero(reason == "")
                # record reasons: a candidate eligible anywhere is shown as eligible
                upd = (cand_reason == "not in any optimize entry") | (reason == "")
                cand_reason[upd & (reason == "")] = ""
                rel = upd & (reason != "") & (cand_reason != "")
                keep_other = np.isin(reason, ["other kind", "other tier"])
                cand_reason[rel & ~keep_other] = reason[rel & ~keep_other]
                if len(eligible) == 0:
                    warn.append(
                        f"optimize.{i} ({spec.kind}/{spec.tier}): no eligible candidate; "
                        "nothing chosen"
                    )
                    opt_summary.append(_empty_opt(spec, access_summary, pop, before))
                    continue
                any_usable = True
                before_d = before[(spec.kind, spec.tier)]
                prior = extra_open.get((spec.kind, spec.tier), [])
                if prior:
                    prior_d = access.nearest_distance(g, cand_nodes[prior], cell_nodes)
                    before_d = np.fmin(before_d, prior_d)
                covered_before = access.covered_mask(before_d, std.walk_m)
                cov = access.site_matrix(g, cand_nodes[eligible], cell_nodes, std.walk_m)
                eids = ids[eligible]
                force_pos = [int(np.flatnonzero(eids == f)[0]) for f in spec.force]
                costs = candidates["cost"].to_numpy()[eligible]
                model = MCLP.from_matrix(
                    cov, pop, site_ids=list(eids), sites=spec.sites, budget=spec.budget,
                    cost=costs, covered_before=covered_before, force=force_pos,
                    time_limit_s=spec.time_limit_s, method=spec.method,
                ).solve()
                # gain alone, for candidates.geojson
                m = cov.tocsr().copy()
                m.data = np.ones_like(m.data)
                gain = m @ np.where(covered_before, 0.0, pop)
                cand_gain[eligible] = np.fmax(np.nan_to_num(cand_gain[eligible], nan=-1), gain)
                sel = np.asarray(model.selected_, dtype=int)
                if spec.budget is not None:
                    unaff = costs > spec.budget
                    if unaff.any():
                        warn.append(
                            f"optimize.{i} ({spec.kind}/{spec.tier}): {int(unaff.sum())} "
                            f"eligible candidates cost more than the budget {spec.budget:g}"
                        )
                for rank, (j, gain_j) in enumerate(
                    zip(sel, np.asarray(model.marginal_, dtype=float), strict=True), start=1
                ):
                    gi = int(eligible[j])
                    used.add(ids[gi])
                    chosen_rows.append(
                        {
                            "_row": gi, "site_id": ids[gi], "kind": spec.kind, "tier": spec.tier,
                            "rank": rank, "marginal_population": float(gain_j),
                            "cost": float(candidates["cost"].to_numpy()[gi]),
                            "optimize": i,
                        }
                    )
                extra_open.setdefault((spec.kind, spec.tier), []).extend(
                    int(eligible[j]) for j in sel
                )
                opt_summary.append(
                    {
                        "kind": spec.kind, "tier": spec.tier, "model": spec.model,
                        "selected": [str(ids[eligible[j]]) for j in sel],
                        "objective": float(model.objective_), "bound": float(model.bound_),
                        "gap": float(model.gap_),
                        "covered_before": float(model.covered_before_),
                        "covered_after": float(model.covered_after_),
                        "method": str(model.method_),
                        "seconds": round(float(model.seconds_), 3),
                    }
                )
            if not any_usable:
                raise InputError(
                    "no usable candidate at all: every candidate is of another kind or "
                    "tier, too small, forbidden or too far from the network",
                    file=str(scenario.candidates.path),
                )

    # ---- after -------------------------------------------------------------------
    with timer.stage("access after"):
        for kind, tier in kind_tiers:
            key = layer_key(kind, tier)
            std = standards[kind][tier]
            d = before[(kind, tier)].copy()
            serving = _serving_tiers(kind, tier, standards)
            new_rows = [
                r["_row"] for r in chosen_rows if r["kind"] == kind and r["tier"] in serving
            ]
            if new_rows:
                d = np.fmin(d, access.nearest_distance(g, cand_nodes[new_rows], cell_nodes))
            demand[f"dist_{key}_after"] = d
            thresholds[f"dist_{key}_after"] = std.walk_m
            after = access.coverage_stats(d, pop, std.walk_m)
            access_summary[f"{kind}/{tier}"]["after"] = {
                k: after[k]
                for k in ("covered_population", "coverage", "mean_m", "p50_m", "p90_m",
                          "unreachable_population")
            }
        unreachable = access_summary and all(
            np.isnan(demand[f"dist_{layer_key(k, t)}_after"].to_numpy()).all()
            for k, t in kind_tiers
        )
        if unreachable and (len(facilities) or chosen_rows):
            raise InputError(
                "no population cell can reach any facility or chosen site on the walking "
                "network; check that the layers cover the same area"
            )

    with timer.stage("tables"):
        sites = _sites_frame(chosen_rows, candidates, crs)
        catchments = _catchments(g, sites, cand_nodes, candidates, chosen_rows, standards)
        comm_out = None
        if inp.communities is not None:
            comm_out = _communities_out(
                inp.communities, demand, kind_tiers, thresholds, facilities, sites
            )
            if len(sites):
                sites["community_id"] = _community_of(sites, inp.communities)
        cand_out = None
        if candidates is not None:
            cand_out = candidates.copy()
            cand_out["chosen"] = cand_out["site_id"].isin(sites["site_id"])
            cand_out["gain"] = cand_gain if cand_gain is not None else np.nan
            reason = (
                cand_reason if cand_reason is not None
                else np.full(len(candidates), "not in any optimize entry", dtype=object)
            )
            cand_out["excluded"] = reason

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
        "optimize": opt_summary,
        "warnings": warn,
        "unreachable_cells": int(unsnapped.sum()),
        "network": {"nodes": int(graph.n_nodes), "edges": int(graph.n_edges)},
        "timings": timer.timings,
        "inputs": {
            k: {"path": str(p), "sha256": _sha256(p)} for k, p in scenario.input_files().items()
        },
    }
    for w in warn:
        warnings.warn(w, FacplanWarning, stacklevel=2)
    return Result(
        scenario=scenario, summary=summary, demand=demand, sites=sites,
        communities=comm_out, candidates=cand_out, facilities=facilities,
        catchments=catchments, thresholds=thresholds,
    )


def _empty_opt(spec: OptimizeSpec, access_summary: dict, pop: np.ndarray, before: dict) -> dict:
    cov = access_summary[f"{spec.kind}/{spec.tier}"]["covered_population"]
    return {
        "kind": spec.kind, "tier": spec.tier, "model": spec.model, "selected": [],
        "objective": 0.0, "bound": 0.0, "gap": 0.0, "covered_before": cov,
        "covered_after": cov, "method": "none", "seconds": 0.0,
    }


def _sites_frame(rows: list[dict], candidates: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame:
    cols = ["site_id", "kind", "tier", "rank", "marginal_population", "cost", "community_id"]
    if not rows or candidates is None:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=crs)
    df = pd.DataFrame(rows)
    geom = candidates.geometry.to_numpy()[df["_row"].to_numpy()]
    df["community_id"] = None
    out = gpd.GeoDataFrame(df[cols + ["optimize", "_row"]], geometry=geom, crs=crs)
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
    gaps = []
    for r, (_, row) in enumerate(table.iterrows()):
        items = []
        if not has[r] and not new_centre[r]:
            items.append("no neighbourhood centre")
        for kind, tier in kind_tiers:
            c = row[f"coverage_{layer_key(kind, tier)}_after"]
            if row["population"] > 0 and c < 1.0 - 1e-9:
                items.append(f"{kind}/{tier} {c:.0%} covered")
        gaps.append("; ".join(items))
    table["gaps"] = gaps
    return gpd.GeoDataFrame(table, geometry=communities.geometry.to_numpy(), crs=communities.crs)


def _catchments(
    g: network.Graph, sites: gpd.GeoDataFrame, cand_nodes: np.ndarray,
    candidates: gpd.GeoDataFrame | None, rows: list[dict], standards: dict,
) -> gpd.GeoDataFrame:
    """Walking catchment of each chosen site: the concave hull of the network nodes
    within the tier threshold (a drawing aid for the map; coverage uses exact distances)."""
    from facplan import distances

    out_rows, geoms = [], []
    for r in rows:
        node = cand_nodes[r["_row"]]
        if node < 0:
            continue
        walk = standards[r["kind"]][r["tier"]].walk_m
        dist, _ = distances.nearest_source(
            g.indptr, g.indices, g.length_m, np.array([node]), cutoff=walk
        )
        reach = np.flatnonzero(np.isfinite(dist))
        if len(reach) < 3:
            continue
        pts = shapely.multipoints(np.column_stack([g.x[reach], g.y[reach]]))
        hull = shapely.concave_hull(pts, ratio=0.3)
        out_rows.append({"site_id": r["site_id"], "kind": r["kind"], "tier": r["tier"]})
        geoms.append(hull.buffer(20.0))
    crs = sites.crs
    if not out_rows:
        return gpd.GeoDataFrame({"site_id": [], "kind": [], "tier": []}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(pd.DataFrame(out_rows), geometry=geoms, crs=crs)
