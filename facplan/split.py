"""One big city split by area across Dask tasks, with exact coverage.

:func:`split_access` partitions the population cells into ``parts`` compact groups (whole
communities, or balanced tiles of cells), and runs the network searches of each group as
one task on the sub-network that lies within a *halo* around the group's bounding box.
The results are stitched back into one table and one sparse site × cell coverage matrix
of the candidates, and the optimization runs once, centrally, on that matrix (an N-site
model cannot be split by area) through the same siting step as :func:`facplan.run`.

Why the halo makes it exact
---------------------------
Every cell, facility and candidate is attached once to the whole graph (as
:func:`facplan.run` does, so snapping is identical), which gives each point its own leaf
node at the point itself. A walking path of network length ``L`` starting at a cell never
leaves the disc of radius ``stretch × L`` around the cell, where ``stretch`` is the
largest ratio of an edge's straight-line length (in the projected CRS) to its network
length — 1.0 for a graph whose lengths are planar, slightly above 1 for OSM lengths
(measured on the sphere, rounded, drawn in a map projection; 1.005 on Porto Alegre). The halo is ``stretch × T + 1 m`` for the largest
threshold ``T`` (plus the straight extent of any zero-length edges), so every path of
length ≤ ``T`` from a cell of the group lies inside the group's sub-network, and
distances up to ``T`` are the same as on the whole network.

Distances beyond the threshold are not computed (each search stops at the threshold;
the candidate matrix at the largest threshold of the candidate's kind): they are
reported as ``inf`` ("farther than the threshold"). Coverage, covered
population and every distance ≤ threshold equal a single-machine run; mean and
percentile distances, which need the far distances, are not reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from facplan._errors import InputError

if TYPE_CHECKING:
    from distributed import Client

    from facplan.network import Graph
    from facplan.scenario import Scenario

__all__ = ["partition_cells", "halo_m", "split_access", "write_split"]

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
    cand_node: np.ndarray
    cand_cutoff: np.ndarray
    tables: dict[str, Any]
    seconds: dict[str, float]


def _check_supported(scenario: Scenario) -> None:
    problems = [
        f"key 'optimize.{i}.model': 'pmedian' needs every distance, not only those within "
        "the threshold; split runs cannot give it exactly (use facplan run)"
        for i, o in enumerate(scenario.optimize) if o.model == "pmedian"
    ]
    if problems:
        raise InputError.many(problems, file=str(scenario._source_file or scenario.name))


def _prepare(scenario: Scenario, parts: int, by: str) -> _Plan:
    """Read, attach and partition (runs once: on a worker, or in this process)."""
    from facplan import network
    from facplan.cells import cell_points
    from facplan.inputs import load_layers
    from facplan.io.network import read_network
    from facplan.pipeline import measured_kind_tiers
    from facplan.siting import serving_tiers

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    standards = scenario.resolved_standards()
    layers = load_layers(scenario, standards)
    crs = layers.crs
    cells, facilities, candidates = layers.cells, layers.facilities, layers.candidates
    seconds["read inputs"] = round(time.perf_counter() - t0, 3)
    from facplan.entry import is_polygon

    polygon_sites = is_polygon(facilities.geometry.values).any() or (
        candidates is not None and is_polygon(candidates.geometry.values).any())
    if layers.entries or polygon_sites:
        layers.warnings.append(
            "a split run enters every cell and site at one point (its interior point): "
            "'entrances' and the boundary entry of polygon facilities and candidates are "
            "not applied; run the scenario unsplit (`facplan run`) for them"
        )

    t0 = time.perf_counter()
    graph = read_network(scenario.network, crs, online=scenario.online)
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
    if (cell_node < 0).all():
        raise InputError(
            f"no population cell is within max_snap_m = {scenario.max_snap_m:g} m of the "
            "walking network; do the population and the network cover the same area?",
            file=str(scenario.population.path or "population"),
        )

    # kind/tiers as the pipeline measures them; facilities serving each
    kind_tiers = measured_kind_tiers(scenario, facilities, standards)
    thresholds = {kt: float(standards[kt[0]][kt[1]].walk_m) for kt in kind_tiers}
    fk = facilities["kind"].to_numpy()
    ft = facilities["tier"].to_numpy()
    sources = {}
    for k, t in kind_tiers:
        mask = (fk == k) & np.isin(ft, serving_tiers(k, t, standards)) & (fac_node >= 0)
        sources[(k, t)] = np.unique(fac_node[mask])
    # candidates of an optimized kind: distances up to the kind's largest threshold
    cand_cutoff = np.full(len(cand_node), -1.0)
    if candidates is not None and scenario.optimize:
        kinds = candidates["kind"].to_numpy()
        for k in {o.kind for o in scenario.optimize}:
            t_k = max((v for (kk, _), v in thresholds.items() if kk == k), default=None)
            if t_k is not None:
                cand_cutoff[(kinds == k) & (cand_node >= 0)] = t_k

    # partition the snapped cells
    t0 = time.perf_counter()
    snapped = cell_node >= 0
    x, y = g.x[cell_node[snapped]], g.y[cell_node[snapped]]
    if by == "auto":
        by = "community" if layers.communities is not None else "grid"
    if by == "community":
        if layers.communities is None:
            raise InputError("splitting by community needs 'communities'", field="communities")
        lab = partition_cells(x, y, parts, groups=cells["community_id"].to_numpy()[snapped])
    else:
        lab = partition_cells(x, y, parts)
    part = np.full(n_c, -1, dtype=np.int64)
    part[snapped] = lab
    t_max = max(thresholds.values(), default=0.0)
    seconds["partition"] = round(time.perf_counter() - t0, 3)

    crs_text = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.to_string()
    return _Plan(
        name=scenario.name, crs=crs_text, graph=g, cell_node=cell_node, part=part,
        n_parts=int(lab.max()) + 1, by=by, halo_m=halo_m(g, t_max), thresholds=thresholds,
        sources=sources, cand_node=cand_node, cand_cutoff=cand_cutoff,
        tables={
            "cells": pd.DataFrame(cells.drop(columns="geometry")),
            "facilities": facilities,
            "candidates": candidates,
            "communities": layers.communities,
            "exclusions": getattr(layers, "exclusions", None),
            "cand_snapped": cand_node >= 0,
            "kind_tiers": kind_tiers,
            "standards": standards,
            "warnings": list(getattr(layers, "warnings", [])),
            "network": {"nodes": int(graph.n_nodes), "edges": int(graph.n_edges)},
        },
        seconds=seconds,
    )


def _plan_tables(plan: _Plan) -> dict[str, Any]:
    """The part of a plan the client needs (everything but the graph)."""
    return {
        "name": plan.name, "crs": plan.crs, "part": plan.part, "n_parts": plan.n_parts,
        "by": plan.by, "halo_m": plan.halo_m, "thresholds": plan.thresholds,
        "seconds": plan.seconds, "cand_cutoff": plan.cand_cutoff, **plan.tables,
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
    cand_groups = []  # (cutoff, candidate rows, local nodes) per distinct cutoff
    for cutoff in np.unique(plan.cand_cutoff[plan.cand_cutoff >= 0]):
        rows = np.flatnonzero(plan.cand_cutoff == cutoff)
        loc = local[plan.cand_node[rows]]
        cand_groups.append((float(cutoff), rows[loc >= 0], loc[loc >= 0]))
    return {
        "part": k, "indptr": indptr, "indices": indices, "length_m": length,
        "cells": cells, "cell_local": local[nodes], "sources": sources,
        "thresholds": plan.thresholds, "cand_groups": cand_groups, "edges": int(keep.sum()),
    }


def _solve_part(inp: dict[str, Any]) -> dict[str, Any]:
    """Nearest distances and the candidate matrix of one part (runs as one task)."""
    from facplan import distances
    from facplan.access import COVER_EPS_M

    t0 = time.perf_counter()
    indptr, indices, length = inp["indptr"], inp["indices"], inp["length_m"]
    cells, cell_local = inp["cells"], inp["cell_local"]
    dist = {}
    for kt, src in inp["sources"].items():
        if len(src) == 0:
            dist[kt] = np.full(len(cells), np.inf)
            continue
        cutoff = inp["thresholds"][kt] + _EXTRA_M
        d, _ = distances.nearest_source(indptr, indices, length, src, cutoff=cutoff)
        dist[kt] = d[cell_local]
    rows, cols, data = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for cutoff, cand_rows, loc in inp["cand_groups"]:
        m = distances.bounded_matrix(
            indptr, indices, length, loc, cell_local, cutoff + COVER_EPS_M
        ).tocoo()
        rows.append(cand_rows[m.row])
        cols.append(cells[m.col])
        data.append(m.data)
    return {
        "part": inp["part"], "cells": cells, "dist": dist,
        "matrix": (np.concatenate(rows), np.concatenate(cols), np.concatenate(data)),
        "nodes": int(len(indptr) - 1), "edges": inp["edges"],
        "seconds": round(time.perf_counter() - t0, 3),
    }


# --------------------------------------------------------------------------- central step


def _coverage(d: np.ndarray, pop: np.ndarray, t: float) -> dict:
    from facplan.access import covered_mask

    total = float(pop.sum())
    cov = float(pop[covered_mask(d, t)].sum())
    return {"covered_population": cov, "coverage": cov / total if total > 0 else 0.0}


def _site_plan(scenario: Scenario, tables: dict, dist: dict, table: sp.csr_matrix):
    """The pipeline's siting step on the stitched matrix: (result, routes, handles)."""
    from facplan.access import demand_weights
    from facplan.routes import MatrixRoutes
    from facplan.siting import SitingInput, SitingResult, plan_sites

    cand = tables["candidates"]
    if cand is None or not scenario.optimize:
        return SitingResult(), None, None
    routes = MatrixRoutes(table)
    handles = np.where(tables["cand_snapped"], np.arange(len(cand)), -1).astype(np.int64)
    result = plan_sites(SitingInput(
        scenario=scenario, standards=tables["standards"], routes=routes, cand_nodes=handles,
        candidates=cand, demand=demand_weights(tables["cells"], scenario.weights),
        before=dist, facilities=tables["facilities"], communities=tables["communities"],
        exclusions=tables["exclusions"],
    ))
    return result, routes, handles


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
        A validated scenario with a ``network.pbf`` or ``network.graphml`` (not a
        ``network.matrix``). Optimize entries run as in :func:`facplan.run`, except
        ``pmedian`` (it needs distances beyond the threshold).
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
          ``population_total``, ``network`` (nodes, edges), ``warnings``;
        - ``demand``: :class:`pandas.DataFrame`, one row per cell in the pipeline's
          order: ``cell_id``, ``population``, ``community_id``, ``part`` (−1: not
          snapped), ``dist_<kind>_<tier>`` and ``dist_<kind>_<tier>_after`` in metres —
          exact up to the threshold (``_after``: up to the largest threshold of the
          kind), ``inf`` beyond what was searched (farther than the threshold, or
          unreachable), NaN when the cell is not on the network (farther than
          ``max_snap_m``);
        - ``access``: ``"<kind>/<tier>"`` → ``threshold_m``, ``covered_population``,
          ``coverage`` and ``after`` (the same after the new sites);
        - ``matrix``: ``{"site_ids", "cutoff_m", "matrix"}``: the stitched candidates ×
          cells CSR matrix of walking distances up to each candidate's cutoff (the
          largest threshold of its kind; −1 for candidates of a kind not optimized or
          off the network, whose rows are empty); explicit zeros are entries;
        - ``optimize``: per optimize entry, as in ``summary.json`` (``selected``,
          ``objective``, ``bound``, ``gap``, ``covered_before``, ``covered_after``, …);
        - ``sites``: the chosen sites (``site_id``, ``kind``, ``tier``, ``rank``,
          ``marginal_population``, ``cost``) as a :class:`pandas.DataFrame`;
        - ``part_stats``: per piece ``part``, ``cells``, ``nodes``, ``edges``,
          ``seconds``; ``timings``.

    Raises
    ------
    InputError
        Inputs that cannot be right (as :func:`facplan.run`), a matrix network, or a
        ``pmedian`` entry.
    """
    if int(parts) < 1:
        raise ValueError(
            f"The 'parts' parameter of split_access must be ≥ 1. Got {parts!r} instead."
        )
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
    if getattr(scenario, "sweep", None):
        raise InputError("expand the 'sweep' first (facplan.batch.expand_sweep)", field="sweep")
    _check_supported(scenario)
    say = progress or (lambda _msg: None)
    t_start = time.perf_counter()

    if client is None:
        plan = _prepare(scenario, int(parts), by)
        tables = _plan_tables(plan)
        say(f"prepared {plan.n_parts} parts")
        results = []
        for k in range(plan.n_parts):
            results.append(_solve_part(_part_input(plan, k)))
            say(f"part {k + 1}/{plan.n_parts} done")
        del plan
    else:
        from distributed import as_completed

        plan_f = client.submit(_prepare, scenario, int(parts), by, pure=False)
        tables = client.submit(_plan_tables, plan_f, pure=False).result()
        say(f"prepared {tables['n_parts']} parts")
        futures = []
        for k in range(tables["n_parts"]):
            inp = client.submit(_part_input, plan_f, k, pure=False)
            futures.append(client.submit(_solve_part, inp, pure=False))
        results = []
        for i, fut in enumerate(as_completed(futures), start=1):
            results.append(fut.result())
            say(f"part {i}/{len(futures)} done")
        plan_f.release()
    results.sort(key=lambda r: r["part"])
    t_parts = time.perf_counter()

    # stitch: every snapped cell belongs to exactly one part
    cells = tables["cells"]
    pop = cells["population"].to_numpy(dtype=float)
    n = len(cells)
    snapped = tables["part"] >= 0
    dist = {}
    for kt in tables["kind_tiers"]:
        d = np.full(n, np.nan)
        d[snapped] = np.inf
        for r in results:
            d[r["cells"]] = r["dist"][kt]
        dist[kt] = d
    cand = tables["candidates"]
    n_cand = 0 if cand is None else len(cand)
    rows = np.concatenate([r["matrix"][0] for r in results])
    cols = np.concatenate([r["matrix"][1] for r in results])
    data = np.concatenate([r["matrix"][2] for r in results])
    table = sp.csr_matrix((data, (rows, cols)), shape=(n_cand, n))
    table.sort_indices()

    t0 = time.perf_counter()
    siting, routes, handles = _site_plan(scenario, tables, dist, table)
    t_opt = time.perf_counter() - t0

    from facplan.keys import layer_key
    from facplan.siting import serving_tiers

    demand = cells[["cell_id", "population", "community_id"]].copy()
    demand["part"] = tables["part"]
    access = {}
    for kt in tables["kind_tiers"]:
        kind, tier = kt
        key = layer_key(kind, tier)
        t = tables["thresholds"][kt]
        after = dist[kt].copy()
        serving = serving_tiers(kind, tier, tables["standards"])
        new_rows = [
            r["_row"] for r in siting.rows if r["kind"] == kind and r["tier"] in serving
        ]
        if new_rows:
            after = np.fmin(after, routes.nearest(handles[new_rows]))
        demand[f"dist_{key}"] = dist[kt]
        demand[f"dist_{key}_after"] = after
        access[f"{kind}/{tier}"] = {
            "threshold_m": t, **_coverage(dist[kt], pop, t), "after": _coverage(after, pop, t),
        }
    sites = pd.DataFrame(
        [{k: r[k] for k in ("site_id", "kind", "tier", "rank", "marginal_population", "cost")}
         for r in siting.rows],
        columns=["site_id", "kind", "tier", "rank", "marginal_population", "cost"],
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
        "warnings": tables["warnings"] + list(siting.warnings),
        "demand": demand,
        "access": access,
        "matrix": {
            "site_ids": (np.zeros(0, dtype=object) if cand is None
                         else cand["site_id"].to_numpy()),
            "cutoff_m": tables["cand_cutoff"],
            "matrix": table,
        },
        "optimize": siting.summary,
        "sites": sites,
        "part_stats": [
            {"part": r["part"], "cells": int(len(r["cells"])), "nodes": r["nodes"],
             "edges": r["edges"], "seconds": r["seconds"]}
            for r in results
        ],
        "timings": timings,
    }



def write_split(res: dict[str, Any], out: str | Path, *, force: bool = False) -> Path:
    """Write a :func:`split_access` result into the folder ``out`` (atomically: nothing
    appears unless every file is written, and an earlier run there stays until then).

    Files
    -----
    ``summary.json``
        ``scenario``, ``crs``, ``parts``, ``by``, ``halo_m``, ``population_total``,
        ``network``, ``warnings``, ``access`` (per kind/tier: ``threshold_m``,
        ``covered_population``, ``coverage``, ``after``), ``optimize`` (as in ``facplan
        run``'s summary), ``part_stats`` and ``timings``.
    ``demand.csv``
        One row per cell: ``cell_id``, ``population``, ``community_id``, ``part``
        (−1: not on the network) and ``dist_<kind>_<tier>`` / ``…_after`` in metres;
        ``inf`` = farther than what was searched (the threshold), empty = not on the
        network.
    ``sites.csv``
        The chosen sites: ``site_id``, ``kind``, ``tier``, ``rank``,
        ``marginal_population``, ``cost``.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    from facplan.io.atomic import atomic_output_dir
    from facplan.outputs.geojson import write_csv, write_json

    keys = ("scenario", "crs", "parts", "by", "halo_m", "population_total", "network",
            "warnings", "access", "optimize", "part_stats", "timings")
    summary = {k: res[k] for k in keys}
    with atomic_output_dir(out, force=force) as tmp:
        write_json(tmp / "summary.json", summary)
        write_csv(tmp / "demand.csv", res["demand"])
        write_csv(tmp / "sites.csv", res["sites"])
    return Path(out)
