"""One big city split by area across Dask tasks, with exact coverage.

:func:`split_access` partitions the population cells into ``parts`` compact groups (whole
communities, or balanced tiles of cells), and runs the network searches of each group as
one task on the sub-network that lies within a *halo* around the group's bounding box.
The results are stitched back into one table and one sparse site × cell coverage matrix
per kind/tier, and the optimization runs once, centrally, on that matrix (an N-site
model cannot be split by area).

Why the halo makes it exact
---------------------------
Every cell, facility and candidate is attached once to the whole graph (as
:func:`facplan.run` does, so snapping is identical), which gives each point its own leaf
node at the point itself. A walking path of network length ``L`` starting at a cell never
leaves the disc of radius ``stretch × L`` around the cell, where ``stretch`` is the
largest ratio of an edge's straight-line length (in the projected CRS) to its network
length — 1.0 for a graph whose lengths are planar, about 1.001 for OSM lengths measured
on the sphere and drawn in UTM. The halo is ``stretch × T + 1 m`` for the largest
threshold ``T`` (plus the straight extent of any zero-length edges), so every path of
length ≤ ``T`` from a cell of the group lies inside the group's sub-network, and
distances up to ``T`` are the same as on the whole network.

Distances beyond the threshold are not computed (each search stops at the threshold):
they are reported as ``inf`` ("farther than the threshold"). Coverage, covered
population and every distance ≤ threshold equal a single-machine run; mean and
percentile distances, which need the far distances, are not reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from facplan._errors import InputError

if TYPE_CHECKING:
    from distributed import Client

    from facplan.network import Graph
    from facplan.scenario import Scenario

__all__ = ["partition_cells", "halo_m", "split_access"]

#: Tolerances of the pipeline: covered means ``d ≤ T + COVER_EPS_M``; searches keep
#: distances up to ``T + COVER_EPS_M + MATRIX_TOL_M`` (as :func:`access.site_matrix`).
_EXTRA_M = 2e-6

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- partitioning


def _rcb(x: np.ndarray, y: np.ndarray, w: np.ndarray, parts: int) -> np.ndarray:
    """Recursive coordinate bisection: ``parts`` compact groups of about equal weight."""
    labels = np.zeros(len(x), dtype=np.int64)
    stack = [(np.arange(len(x)), parts, 0)]
    while stack:
        idx, k, first = stack.pop()
        if k == 1 or len(idx) <= 1:
            labels[idx] = first
            continue
        xs, ys = x[idx], y[idx]
        coord = xs if np.ptp(xs) >= np.ptp(ys) else ys
        order = idx[np.lexsort((idx, coord))]
        cum = np.cumsum(w[order])
        k1 = k // 2
        cut = int(np.searchsorted(cum, cum[-1] * k1 / k, side="left")) + 1
        cut = min(max(cut, k1), len(order) - (k - k1))
        stack.append((order[:cut], k1, first))
        stack.append((order[cut:], k - k1, first + k1))
    return labels


def partition_cells(
    x: np.ndarray,
    y: np.ndarray,
    parts: int,
    *,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Split points into ``parts`` compact groups of about equal size.

    Recursive coordinate bisection: the points are cut at the weighted median of the
    longer side of their extent, then each half again, until there are ``parts`` groups.
    Deterministic (ties broken by position).

    Parameters
    ----------
    x, y
        (N,) point coordinates, metres.
    parts
        Number of groups wanted (at most the number of points, or of distinct groups).
    groups
        Optional (N,) group key per point (e.g. ``community_id``): points of one key stay
        together; the keys are placed at their points' mean and weighted by their number
        of points.

    Returns
    -------
    numpy.ndarray
        int64 (N,) part of each point, 0 … parts′−1, where parts′ ≤ ``parts``.
    """
    if int(parts) < 1:
        raise ValueError(f"The 'parts' parameter of partition_cells must be ≥ 1. Got {parts!r} instead.")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    if groups is None:
        return _rcb(x, y, np.ones(len(x)), min(int(parts), len(x)))
    keys, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    count = np.bincount(inv, minlength=len(keys)).astype(float)
    gx = np.bincount(inv, weights=x, minlength=len(keys)) / count
    gy = np.bincount(inv, weights=y, minlength=len(keys)) / count
    return _rcb(gx, gy, count, min(int(parts), len(keys)))[inv]


def halo_m(graph: Graph, threshold_m: float) -> float:
    """Halo (metres) that keeps every path of length ≤ ``threshold_m`` inside the box.

    ``stretch × threshold + 1 m + Σ straight length of zero-length edges``, where
    ``stretch`` ≥ 1 is the largest ratio of an edge's straight-line length to its network
    length (see the module notes).
    """
    u = np.asarray(graph.edge_u, dtype=np.int64)
    v = np.asarray(graph.edge_v, dtype=np.int64)
    length = np.asarray(graph.edge_length_m, dtype=float)
    straight = np.hypot(graph.x[u] - graph.x[v], graph.y[u] - graph.y[v])
    pos = length > 0
    stretch = 1.0
    if pos.any():
        stretch = max(1.0, float(np.max(straight[pos] / length[pos])))
    slack = float(straight[~pos].sum())
    return stretch * (float(threshold_m) + _EXTRA_M) + 1.0 + slack


# --------------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    """Everything prepared once: the attached graph, the partition and the tables."""

    name: str
    crs: str
    graph: Graph
    cell_node: np.ndarray
    part: np.ndarray
    n_parts: int
    by: str
    halo_m: float
    thresholds: dict[tuple[str, str], float]
    sources: dict[tuple[str, str], np.ndarray]
    matrix_keys: list[tuple[str, str]]
    cand_node: np.ndarray
    cand_kind: np.ndarray
    tables: dict[str, Any]
    seconds: dict[str, float]


def _serving_tiers(kind: str, tier: str, standards: dict) -> list[str]:
    """Tiers whose facilities serve ``tier`` demand (itself, plus higher nested tiers)."""
    from facplan.standards import TIER_ORDER

    out = [tier]
    for t, std in standards[kind].items():
        if t != tier and std.nested and TIER_ORDER.get(t, 9) < TIER_ORDER.get(tier, 9):
            out.append(t)
    return out


def _load_layers(scenario: Scenario, standards: dict) -> Any:
    """The scenario's layers in its projected CRS, read as :func:`facplan.run` reads them."""
    from facplan import pipeline

    reader = getattr(pipeline, "_read_inputs", None)
    if reader is None:
        from facplan.inputs import load_layers as reader
    return reader(scenario, standards)


def _check_supported(scenario: Scenario) -> None:
    problems = []
    if getattr(scenario, "weights", None):
        problems.append("key 'weights': demand weights are not supported by split runs yet")
    for i, o in enumerate(scenario.optimize):
        if o.model != "mclp":
            problems.append(f"key 'optimize.{i}.model': split runs solve 'mclp' only")
        for key in ("budget_group", "one_per_community", "capacitated", "phases"):
            if getattr(o, key, None):
                problems.append(f"key 'optimize.{i}.{key}': not supported by split runs yet")
    if problems:
        raise InputError(
            problems[0] if len(problems) == 1
            else f"{len(problems)} problems:\n  - " + "\n  - ".join(problems),
            file=str(scenario.source_file or scenario.name),
        )


def _prepare(scenario: Scenario, parts: int, by: str) -> _Plan:
    """Read, attach and partition (runs once: on a worker, or in this process)."""
    from facplan import network
    from facplan.batch import read_network_cached
    from facplan.cells import cell_points
    from facplan.standards import TIER_ORDER

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    standards = scenario.resolved_standards()
    layers = _load_layers(scenario, standards)
    crs = layers.crs
    cells, facilities, candidates = layers.cells, layers.facilities, layers.candidates
    seconds["read inputs"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    graph = read_network_cached(scenario, crs)
    seconds["read network"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    pts = [cell_points(cells.geometry), cell_points(facilities.geometry)]
    if candidates is not None:
        pts.append(cell_points(candidates.geometry))
    att = network.attach_points(
        graph, np.concatenate([p[0] for p in pts]), np.concatenate([p[1] for p in pts]),
        snap=scenario.snap, max_snap_m=scenario.max_snap_m,
        min_component_nodes=scenario.min_component_nodes,
    )
    n_c, n_f = len(cells), len(facilities)
    cell_node = att.node[:n_c]
    fac_node = att.node[n_c:n_c + n_f]
    cand_node = att.node[n_c + n_f:]
    g = att.graph
    seconds["snap to network"] = round(time.perf_counter() - t0, 3)

    # kind/tiers as the pipeline measures them
    pairs = set(zip(facilities["kind"], facilities["tier"], strict=True))
    pairs |= {(o.kind, o.tier) for o in scenario.optimize}
    kind_tiers = sorted(
        ((k, t) for k, t in pairs if k in standards and t in standards[k]),
        key=lambda kt: (kt[0], TIER_ORDER.get(kt[1], 9), kt[1]),
    )
    thresholds = {kt: float(standards[kt[0]][kt[1]].walk_m) for kt in kind_tiers}
    fk = facilities["kind"].to_numpy()
    ft = facilities["tier"].to_numpy()
    sources = {}
    for k, t in kind_tiers:
        mask = (fk == k) & np.isin(ft, _serving_tiers(k, t, standards)) & (fac_node >= 0)
        sources[(k, t)] = np.unique(fac_node[mask])
    opt_kinds = {o.kind for o in scenario.optimize}
    matrix_keys = [kt for kt in kind_tiers if kt[0] in opt_kinds and candidates is not None]
    cand_kind = (
        candidates["kind"].to_numpy() if candidates is not None else np.zeros(0, dtype=object)
    )

    # partition the snapped cells
    t0 = time.perf_counter()
    snapped = cell_node >= 0
    x, y = g.x[cell_node[snapped]], g.y[cell_node[snapped]]
    if by == "auto":
        by = "community" if layers.communities is not None else "grid"
    if by == "community":
        if layers.communities is None:
            raise InputError("splitting by community needs 'communities'", field="communities")
        keys = cells["community_id"].to_numpy()[snapped]
        lab = partition_cells(x, y, parts, groups=keys)
    else:
        lab = partition_cells(x, y, parts)
    part = np.full(n_c, -1, dtype=np.int64)
    part[snapped] = lab
    n_parts = int(lab.max()) + 1 if len(lab) else 0
    t_max = max(thresholds.values(), default=0.0)
    halo = halo_m(g, t_max)
    seconds["partition"] = round(time.perf_counter() - t0, 3)

    tables: dict[str, Any] = {
        "cells": pd.DataFrame({
            "cell_id": cells["cell_id"].to_numpy(),
            "population": cells["population"].to_numpy(dtype=float),
            "community_id": cells["community_id"].to_numpy(),
        }),
        "candidates": None if candidates is None else _candidate_table(candidates, layers),
        "cand_snapped": cand_node >= 0,
        "kind_tiers": kind_tiers,
        "standards": standards,
        "network": {"nodes": int(graph.n_nodes), "edges": int(graph.n_edges)},
    }
    crs_text = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.to_string()
    return _Plan(
        name=scenario.name, crs=crs_text, graph=g, cell_node=cell_node, part=part,
        n_parts=n_parts, by=by, halo_m=halo, thresholds=thresholds, sources=sources,
        matrix_keys=matrix_keys, cand_node=cand_node, cand_kind=cand_kind, tables=tables,
        seconds=seconds,
    )


def _candidate_table(candidates: Any, layers: Any) -> pd.DataFrame:
    table = pd.DataFrame({
        "site_id": candidates["site_id"].astype(str).to_numpy(),
        "kind": candidates["kind"].to_numpy(),
        "tier": candidates["tier"].fillna("").to_numpy(),
        "cost": candidates["cost"].to_numpy(dtype=float),
        "area_m2": candidates["area_m2"].to_numpy(dtype=float),
    })
    excluded = np.zeros(len(candidates), dtype=bool)
    zones = getattr(layers, "exclusions", None)
    if zones is not None and len(zones):
        import shapely

        union = shapely.union_all(zones.geometry.to_numpy())
        excluded = shapely.intersects(candidates.geometry.to_numpy(), union)
    table["in_exclusion"] = excluded
    return table


def _plan_tables(plan: _Plan) -> dict[str, Any]:
    """The small part of a plan the client needs (everything but the graph)."""
    return {
        "name": plan.name, "crs": plan.crs, "part": plan.part, "n_parts": plan.n_parts,
        "by": plan.by, "halo_m": plan.halo_m, "thresholds": plan.thresholds,
        "matrix_keys": plan.matrix_keys, "seconds": plan.seconds, **plan.tables,
    }


def _csr(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray):
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return (
        indptr,
        np.ascontiguousarray(dst[order], dtype=np.int32),
        np.ascontiguousarray(np.concatenate([w, w])[order], dtype=np.float64),
    )


def _part_input(plan: _Plan, k: int) -> dict[str, Any]:
    """The sub-network of part ``k`` (its cells' box plus the halo) and its points."""
    g = plan.graph
    cells = np.flatnonzero(plan.part == k)
    nodes = plan.cell_node[cells]
    h = plan.halo_m
    x0, x1 = g.x[nodes].min() - h, g.x[nodes].max() + h
    y0, y1 = g.y[nodes].min() - h, g.y[nodes].max() + h
    inside = (g.x >= x0) & (g.x <= x1) & (g.y >= y0) & (g.y <= y1)
    local = np.full(g.n_nodes, -1, dtype=np.int64)
    local[inside] = np.arange(int(inside.sum()))
    eu = np.asarray(g.edge_u, dtype=np.int64)
    ev = np.asarray(g.edge_v, dtype=np.int64)
    keep = inside[eu] & inside[ev]
    indptr, indices, length = _csr(
        int(inside.sum()), local[eu[keep]], local[ev[keep]], g.edge_length_m[keep]
    )
    sources = {}
    for kt, src in plan.sources.items():
        s = local[src]
        sources[kt] = s[s >= 0]
    rows = {}
    for kt in plan.matrix_keys:
        pos = np.flatnonzero((plan.cand_kind == kt[0]) & (plan.cand_node >= 0))
        loc = local[plan.cand_node[pos]]
        rows[kt] = (pos[loc >= 0], loc[loc >= 0])
    return {
        "part": k, "indptr": indptr, "indices": indices, "length_m": length,
        "cells": cells, "cell_local": local[nodes], "sources": sources,
        "cand_rows": rows, "thresholds": plan.thresholds, "matrix_keys": plan.matrix_keys,
        "edges": int(keep.sum()),
    }


def _solve_part(inp: dict[str, Any]) -> dict[str, Any]:
    """Nearest distances and coverage matrices of one part (runs as one task)."""
    from facplan import distances
    from facplan.access import COVER_EPS_M

    t0 = time.perf_counter()
    indptr, indices, length = inp["indptr"], inp["indices"], inp["length_m"]
    cells, cell_local = inp["cells"], inp["cell_local"]
    dist = {}
    for kt, src in inp["sources"].items():
        t = inp["thresholds"][kt]
        if len(src) == 0:
            dist[kt] = np.full(len(cells), np.inf)
            continue
        d, _ = distances.nearest_source(indptr, indices, length, src, cutoff=t + _EXTRA_M)
        dist[kt] = d[cell_local]
    mats = {}
    for kt in inp["matrix_keys"]:
        rows, loc = inp["cand_rows"][kt]
        m = distances.bounded_matrix(
            indptr, indices, length, loc, cell_local, inp["thresholds"][kt] + COVER_EPS_M
        ).tocoo()
        mats[kt] = (rows[m.row], cells[m.col], m.data)
    return {
        "part": inp["part"], "cells": cells, "dist": dist, "matrix": mats,
        "nodes": int(len(indptr) - 1), "edges": inp["edges"],
        "seconds": round(time.perf_counter() - t0, 3),
    }


# --------------------------------------------------------------------------- central step


def _eligibility(spec: Any, cand: pd.DataFrame, std: Any, used: set[str]) -> np.ndarray:
    """Why each candidate cannot serve this entry ('' = eligible), as the pipeline rules."""
    reason = np.full(len(cand), "", dtype=object)
    kind = cand["kind"].to_numpy()
    tier = cand["tier"].to_numpy()
    area = cand["area_m2"].to_numpy()
    ids = cand["site_id"].to_numpy()
    reason[kind != spec.kind] = "other kind"
    reason[(kind == spec.kind) & (tier != "") & (tier != spec.tier)] = "other tier"
    small = (reason == "") & (tier == "") & ~(np.nan_to_num(area, nan=0.0) >= std.min_area_m2)
    reason[small] = f"too small for {spec.tier} (< {std.min_area_m2:g} m²)"
    reason[(reason == "") & cand["in_exclusion"].to_numpy()] = "exclusion zone"
    reason[(reason == "") & np.isin(ids, list(spec.forbid))] = "forbidden"
    reason[(reason == "") & np.isin(ids, list(used))] = "used by another entry"
    return reason


def _covered(d: np.ndarray, t: float) -> np.ndarray:
    from facplan.access import covered_mask

    return covered_mask(d, t)


def _rows_min(m: sp.csr_matrix, rows: list[int], n: int) -> np.ndarray:
    """Column-wise minimum distance over ``rows`` of ``m`` (inf where no entry)."""
    out = np.full(n, np.inf)
    if rows:
        sub = m[np.asarray(rows)].tocoo()
        np.minimum.at(out, sub.col, sub.data)
    return out


def _optimize(
    scenario: Scenario, tables: dict, dist: dict, mats: dict
) -> tuple[list[dict], dict]:
    """The pipeline's sequence of MCLP entries on the stitched matrices."""
    from facplan.optimize import MCLP

    standards = tables["standards"]
    cand = tables["candidates"]
    pop = tables["cells"]["population"].to_numpy(dtype=float)
    n = len(pop)
    out: list[dict] = []
    chosen: list[tuple[int, str, str]] = []  # (candidate row, kind, entry tier)
    extra_open: dict[tuple[str, str], list[int]] = {}
    used: set[str] = set()
    if cand is None or not scenario.optimize:
        return out, {}
    ids = cand["site_id"].to_numpy()
    costs = cand["cost"].to_numpy()
    for i, spec in enumerate(scenario.optimize):
        kt = (spec.kind, spec.tier)
        std = standards[spec.kind][spec.tier]
        reason = _eligibility(spec, cand, std, used)
        reason[(reason == "") & ~tables["cand_snapped"]] = "too far from the network"
        for fid in spec.force:
            if fid not in set(ids):
                raise InputError(f"force: no candidate with id {fid!r}", field=f"optimize.{i}.force")
            r = reason[ids == fid][0]
            if r:
                raise InputError(
                    f"force: candidate {fid!r} cannot serve {spec.kind}/{spec.tier} ({r})",
                    field=f"optimize.{i}.force",
                )
        eligible = np.flatnonzero(reason == "")
        before = dist[kt]
        prior = extra_open.get(kt, [])
        if prior:
            before = np.fmin(before, _rows_min(mats[kt], prior, n))
        covered_before = _covered(before, std.walk_m)
        if len(eligible) == 0:
            cov = float(pop[covered_before].sum())
            out.append({
                "kind": spec.kind, "tier": spec.tier, "model": spec.model, "selected": [],
                "objective": 0.0, "bound": 0.0, "gap": 0.0, "covered_before": cov,
                "covered_after": cov, "method": "none", "seconds": 0.0,
            })
            continue
        cov_m = mats[kt][eligible]
        eids = ids[eligible]
        model = MCLP.from_matrix(
            cov_m, pop, site_ids=list(eids), sites=spec.sites, budget=spec.budget,
            cost=costs[eligible], covered_before=covered_before,
            force=[int(np.flatnonzero(eids == f)[0]) for f in spec.force],
            time_limit_s=spec.time_limit_s, method=spec.method,
        ).solve()
        sel = [int(eligible[j]) for j in np.asarray(model.selected_, dtype=int)]
        used.update(str(ids[j]) for j in sel)
        chosen.extend((j, spec.kind, spec.tier) for j in sel)
        extra_open.setdefault(kt, []).extend(sel)
        out.append({
            "kind": spec.kind, "tier": spec.tier, "model": spec.model,
            "selected": [str(ids[j]) for j in sel],
            "objective": float(model.objective_), "bound": float(model.bound_),
            "gap": float(model.gap_), "covered_before": float(model.covered_before_),
            "covered_after": float(model.covered_after_), "method": str(model.method_),
            "seconds": round(float(model.seconds_), 3),
        })
    after = {}
    for kt in tables["kind_tiers"]:
        k, t = kt
        serving = _serving_tiers(k, t, standards)
        rows = [j for j, ck, ct in chosen if ck == k and ct in serving]
        d = dist[kt]
        if rows and kt in mats:
            d = np.fmin(d, _rows_min(mats[kt], rows, n))
        after[kt] = d
    return out, after


def _coverage(d: np.ndarray, pop: np.ndarray, t: float) -> dict:
    total = float(pop.sum())
    cov = float(pop[_covered(d, t)].sum())
    return {"covered_population": cov, "coverage": cov / total if total > 0 else 0.0}


# --------------------------------------------------------------------------- public


def split_access(
    scenario: Scenario,
    *,
    parts: int,
    client: Client | None = None,
    by: Literal["auto", "community", "grid"] = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Coverage of a big scenario computed in ``parts`` pieces, then optimized centrally.

    Parameters
    ----------
    scenario
        A validated scenario with a ``network.pbf`` or ``network.graphml``. Optimize
        entries must be plain ``mclp`` (sites or budget, force, forbid).
    parts
        Number of pieces (tasks). Fewer are used when there are fewer cells or
        communities.
    client
        A :class:`distributed.Client`: the inputs are read and attached by one task on a
        worker (whose network cache it uses), each piece's sub-network goes to its own
        task, and only the per-piece results come back. None: everything runs in this
        process, one piece after the other (same results).
    by
        ``"community"``: whole communities per piece; ``"grid"``: balanced tiles of
        cells (recursive bisection); ``"auto"``: communities when the scenario has them.
    progress
        Called with a short message as pieces finish.

    Returns
    -------
    dict
        - ``scenario``, ``crs``, ``parts`` (pieces used), ``by``, ``halo_m``,
          ``population_total``, ``network`` (nodes, edges);
        - ``demand``: :class:`pandas.DataFrame`, one row per cell in the pipeline's
          order: ``cell_id``, ``population``, ``community_id``, ``part`` (−1: not
          snapped), ``dist_<kind>_<tier>`` and ``dist_<kind>_<tier>_after`` in metres —
          exact when within the threshold, ``inf`` when farther than the threshold (or
          unreachable), NaN when the cell is not on the network (farther than
          ``max_snap_m``);
        - ``access``: ``"<kind>/<tier>"`` → ``threshold_m``, ``covered_population``,
          ``coverage`` and ``after`` (the same after the new sites);
        - ``matrices``: ``"<kind>/<tier>"`` → ``{"site_ids", "matrix"}``: the stitched
          candidates × cells CSR matrix of distances within the threshold (explicit zeros
          are entries; rows of candidates of other kinds or off the network are empty);
        - ``optimize``: per optimize entry, as in ``summary.json`` (``selected``,
          ``objective``, ``bound``, ``gap``, ``covered_before``, ``covered_after``, …);
        - ``part_stats``: per piece ``part``, ``cells``, ``nodes``, ``edges``,
          ``seconds``; ``timings``.

    Raises
    ------
    InputError
        Inputs that cannot be right (as :func:`facplan.run`), a matrix network, or an
        optimize entry that split runs do not support yet.
    """
    if int(parts) < 1:
        raise ValueError(f"The 'parts' parameter of split_access must be ≥ 1. Got {parts!r} instead.")
    if by not in ("auto", "community", "grid"):
        raise ValueError(
            f"The 'by' parameter of split_access must be 'auto', 'community' or 'grid'. "
            f"Got {by!r} instead."
        )
    if getattr(scenario.network, "pbf", None) is None and getattr(
        scenario.network, "graphml", None
    ) is None:
        raise InputError(
            "split runs need a walking network ('network.pbf' or 'network.graphml')",
            field="network",
        )
    _check_supported(scenario)
    say = progress or (lambda _msg: None)
    t_start = time.perf_counter()

    if client is None:
        plan = _prepare(scenario, int(parts), by)
        tables = _plan_tables(plan)
        results = []
        for k in range(plan.n_parts):
            results.append(_solve_part(_part_input(plan, k)))
            say(f"part {k + 1}/{plan.n_parts} done")
        del plan
    else:
        from distributed import as_completed

        plan_f = client.submit(_prepare, scenario, int(parts), by, pure=False)
        tables = client.submit(_plan_tables, plan_f).result()
        futures = []
        for k in range(tables["n_parts"]):
            inp = client.submit(_part_input, plan_f, k, pure=False)
            futures.append(client.submit(_solve_part, inp, pure=False))
        results = []
        for i, fut in enumerate(as_completed(futures), start=1):
            results.append(fut.result())
            say(f"part {i}/{len(futures)} done")
        plan_f.release()
    t_parts = time.perf_counter()

    # stitch
    cells = tables["cells"]
    pop = cells["population"].to_numpy(dtype=float)
    n = len(cells)
    snapped = tables["part"] >= 0
    dist = {}
    for kt in tables["kind_tiers"]:
        d = np.full(n, np.nan)
        d[snapped] = np.inf
        dist[kt] = d
    n_cand = 0 if tables["candidates"] is None else len(tables["candidates"])
    coo: dict[tuple[str, str], list] = {kt: [] for kt in tables["matrix_keys"]}
    for r in sorted(results, key=lambda r: r["part"]):
        for kt, d in r["dist"].items():
            dist[kt][r["cells"]] = d
        for kt, m in r["matrix"].items():
            coo[kt].append(m)
    mats = {}
    for kt, pieces in coo.items():
        rows = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.int64)
        cols = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0, np.int64)
        data = np.concatenate([p[2] for p in pieces]) if pieces else np.zeros(0)
        m = sp.csr_matrix((data, (rows, cols)), shape=(n_cand, n))
        m.sort_indices()
        mats[kt] = m

    t0 = time.perf_counter()
    opt, after = _optimize(scenario, tables, dist, mats)
    t_opt = time.perf_counter() - t0
    if not after:
        after = dict(dist)

    from facplan.pipeline import layer_key

    demand = cells.copy()
    demand["part"] = tables["part"]
    access = {}
    for kt in tables["kind_tiers"]:
        key = layer_key(*kt)
        t = tables["thresholds"][kt]
        demand[f"dist_{key}"] = dist[kt]
        demand[f"dist_{key}_after"] = after[kt]
        access[f"{kt[0]}/{kt[1]}"] = {
            "threshold_m": t, **_coverage(dist[kt], pop, t),
            "after": _coverage(after[kt], pop, t),
        }
    site_ids = (
        np.zeros(0, dtype=object) if tables["candidates"] is None
        else tables["candidates"]["site_id"].to_numpy()
    )
    timings = dict(tables["seconds"])
    timings["parts"] = round(t_parts - t_start - sum(tables["seconds"].values()), 3)
    timings["optimize"] = round(t_opt, 3)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    return {
        "scenario": tables["name"],
        "crs": tables["crs"],
        "parts": tables["n_parts"],
        "by": tables["by"],
        "halo_m": tables["halo_m"],
        "population_total": float(pop.sum()),
        "network": tables["network"],
        "demand": demand,
        "access": access,
        "matrices": {
            f"{k}/{t}": {"site_ids": site_ids, "matrix": m} for (k, t), m in mats.items()
        },
        "optimize": opt,
        "part_stats": [
            {"part": r["part"], "cells": int(len(r["cells"])), "nodes": r["nodes"],
             "edges": r["edges"], "seconds": r["seconds"]}
            for r in sorted(results, key=lambda r: r["part"])
        ],
        "timings": timings,
    }
