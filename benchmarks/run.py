"""facplan against its anchors, on the same inputs, in one run.

``make bench`` runs ``.venv/bin/python benchmarks/run.py``. For each case (``porto``,
``metro``, ``megacity``; inputs from ``make_inputs.py``, cached in
``benchmarks/out/<case>/``) it runs,
one after another on this machine:

(a) **floor** — pyrosm read of the PBF + one scipy ``dijkstra(min_only=True)`` from the
    existing parks (CSR build and KD-tree snapping of the parks included);
(b) **facplan** — ``facplan run SCENARIO --out DIR`` as a user runs it (a subprocess: wall
    time, peak RSS of its process tree), and facplan's kernels in-process on the same
    inputs: ``read_pbf``, ``attach_points``, ``nearest_source``, ``bounded_matrix``,
    ``MCLP.from_matrix(...).solve()``; beside them scipy's ``min_only`` Dijkstra and (Porto
    only) scipy's dense ``dijkstra(indices=candidates, limit=500)`` on the *same* graph;
(c) **anchors** — pyrosm → networkx (the raw graph, ``simplify=False``, so nearest-node
    snapping gives DESIGN's distances) + ``multi_source_dijkstra_path_length`` +
    per-candidate ``single_source_dijkstra_path_length(cutoff)`` + spopt
    ``MCLP.from_cost_matrix`` solved by PuLP/CBC (Porto only; CBC time limit 600 s);
    pandana (``Network``, ``precompute(500)``, ``nearest_pois``, ``nodes_in_range``) on
    both cases;
(d) the objective check: facplan's objective against spopt's (cells already covered by
    the existing parks are given to spopt as removed demand, so both objectives are the
    newly covered population).

Every tool except facplan's CLI runs in a worker subprocess of this script
(``--worker NAME``), so each has its own clean memory; per-step peaks are read from the
kernel's high-water mark (``VmHWM``, reset before each step). Prints a Markdown table
(step, tool, seconds, ratio = tool seconds ÷ facplan seconds for the same step, peak
memory, objective) and the performance targets of DESIGN.md, and writes both to
``benchmarks/out/results.md``.

Usage::

    .venv/bin/python benchmarks/run.py [--case porto|metro|megacity|all] [--skip-slow]
                                       [--cbc-time-limit 600] [--seed 7] [--repeat N]

Needs the ``bench`` extra (``pip install -e '.[bench]'``: spopt, pulp, pandana, osmium,
psutil); an anchor that cannot be imported or fails is reported in the table, not fatal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from facplan.io import network as io_network

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

import make_inputs  # noqa: E402

TOL_M = 1e-6  # DESIGN: covered means distance ≤ threshold + 1e-6 m
GB = 1024.0  # MB per GB

# --------------------------------------------------------------------------- measuring


def _status_mb(key: str) -> float:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return float("nan")
    m = re.search(rf"{key}:\s+(\d+)\s+kB", text)
    return int(m.group(1)) / 1024.0 if m else float("nan")


def _reset_hwm() -> None:
    """Reset this process's peak-RSS mark (Linux ≥ 4.0: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


class Recorder:
    """Rows of one worker: each step timed, with its peak RSS and the RSS before it."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.extra: dict = {}

    def step(self, step: str, tool: str, fn, *, note: str = "", **fields):
        _reset_hwm()
        rss0 = _status_mb("VmRSS")
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        peak = _status_mb("VmHWM")
        self.rows.append(
            {"step": step, "tool": tool, "seconds": seconds, "peak_mb": peak,
             "delta_mb": max(0.0, peak - rss0), "note": note, **fields}
        )
        print(f"  {step:<32} {tool:<40} {seconds:9.2f} s  peak {peak / GB:6.2f} GB",
              flush=True)
        return result

    def last(self, **fields) -> None:
        self.rows[-1].update(fields)


# --------------------------------------------------------------------------- inputs


def read_case_inputs(case_dir: Path) -> dict:
    """Population, candidates and parks of a case as lon/lat arrays."""
    import pandas as pd
    import pyogrio

    pop = pd.read_csv(case_dir / "population.csv")
    cand = pyogrio.read_dataframe(case_dir / "candidates.geojson")
    parks = pyogrio.read_dataframe(case_dir / "parks.geojson")
    return {
        "cell_lon": pop["lon"].to_numpy(float), "cell_lat": pop["lat"].to_numpy(float),
        "pop": pop["population"].to_numpy(float), "cell_id": pop["id"].astype(str).to_numpy(),
        "cand_lon": cand.geometry.x.to_numpy(), "cand_lat": cand.geometry.y.to_numpy(),
        "cand_id": cand["site_id"].astype(str).to_numpy(),
        "park_lon": parks.geometry.x.to_numpy(), "park_lat": parks.geometry.y.to_numpy(),
    }


def utm_of(lon: np.ndarray, lat: np.ndarray) -> str:
    """The local UTM CRS of the points (what ``crs: auto`` picks)."""
    import geopandas as gpd

    crs = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").estimate_utm_crs()
    return crs.to_string()


def project(lon, lat, crs: str):
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


def pyrosm_read(pbf: str):
    from pyrosm import OSM

    return OSM(pbf).get_network(network_type="walking", nodes=True)


def raw_csr(nodes, edges):
    """pyrosm nodes/edges → symmetric CSR (V×V, metres), node lon/lat."""
    import scipy.sparse as sp

    ids = nodes["id"].to_numpy(np.int64)
    order = np.argsort(ids)
    sids = ids[order]
    u = order[np.searchsorted(sids, edges["u"].to_numpy(np.int64))]
    v = order[np.searchsorted(sids, edges["v"].to_numpy(np.int64))]
    w = edges["length"].to_numpy(np.float64)
    n = len(ids)
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    # symmetric; of parallel edges scipy keeps the sum on tocsr(), so take the minimum
    a, b = np.concatenate([u, v]), np.concatenate([v, u])
    ww = np.concatenate([w, w])
    srt = np.lexsort((ww, b, a))
    a, b, ww = a[srt], b[srt], ww[srt]
    first = np.ones(len(a), bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    mat = sp.csr_matrix((ww[first], (a[first], b[first])), shape=(n, n))
    return mat, nodes["lon"].to_numpy(float), nodes["lat"].to_numpy(float)


# --------------------------------------------------------------------------- workers


def worker_floor(case: str, meta: dict, rec: Recorder, args) -> None:
    """pyrosm read + one scipy multi-source Dijkstra (min_only) from the parks."""
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    inp = read_case_inputs(OUT / case)
    crs = utm_of(inp["cell_lon"], inp["cell_lat"])
    nodes, edges = rec.step("read network", "pyrosm get_network", lambda: pyrosm_read(meta["pbf"]))
    rec.last(note=f"{len(nodes):,} raw walk nodes, {len(edges):,} edges")
    rec.extra["walk_nodes"] = len(nodes)

    def search():
        mat, lon, lat = raw_csr(nodes, edges)
        x, y = project(lon, lat, crs)
        on_edge = np.diff(mat.indptr) > 0
        idx = np.flatnonzero(on_edge)
        px, py = project(inp["park_lon"], inp["park_lat"], crs)
        _, j = cKDTree(np.column_stack([x[idx], y[idx]])).query(np.column_stack([px, py]))
        src = np.unique(idx[j])
        dist = dijkstra(mat, directed=True, indices=src, min_only=True)
        return int(np.isfinite(dist).sum())

    reached = rec.step("nearest distances (floor)", "scipy csgraph + dijkstra(min_only)", search,
                       note="CSR build, park snapping and one multi-source search")
    rec.last(note=rec.rows[-1]["note"] + f"; {reached:,} nodes reached")


def _warm_numba() -> None:
    """Compile/load facplan's kernels on a tiny graph so no timing includes the JIT."""
    from facplan import distances

    indptr = np.array([0, 1, 3, 4], dtype=np.int64)
    indices = np.array([1, 0, 2, 1], dtype=np.int32)
    length = np.array([1.0, 1.0, 2.0, 2.0])
    distances.nearest_source(indptr, indices, length, np.array([0]))
    distances.bounded_matrix(indptr, indices, length, np.array([0, 2]), np.array([1, 2]), 5.0)


def worker_facplan_kernels(case: str, meta: dict, rec: Recorder, args) -> None:
    """facplan's kernels in-process, with scipy on the same augmented graph beside them."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    from facplan import distances, network
    from facplan.optimize import MCLP

    _warm_numba()
    inp = read_case_inputs(OUT / case)
    crs = utm_of(inp["cell_lon"], inp["cell_lat"])
    cut = float(meta["threshold_m"])
    graph = rec.step("read network", "facplan io.network.read_pbf",
                     lambda: io_network.read_pbf(meta["pbf"], crs=crs))
    rec.last(note=f"{graph.n_nodes:,} nodes, {graph.n_edges:,} edges")
    rec.extra["walk_nodes"] = graph.n_nodes
    n_c, n_s = len(inp["cell_lon"]), len(inp["cand_lon"])
    lon = np.concatenate([inp["cell_lon"], inp["cand_lon"], inp["park_lon"]])
    lat = np.concatenate([inp["cell_lat"], inp["cand_lat"], inp["park_lat"]])
    x, y = project(lon, lat, crs)
    att = rec.step(
        "snap to network", "facplan network.attach_points",
        lambda: network.attach_points(graph, x, y, snap=meta["snap"], max_snap_m=500.0,
                                      min_component_nodes=50),
        note=f"snap={meta['snap']}",
    )
    g = att.graph
    cell_leaf, cand_leaf, park_leaf = att.node[:n_c], att.node[n_c:n_c + n_s], att.node[n_c + n_s:]
    parks = park_leaf[park_leaf >= 0]
    cells_ok = cell_leaf >= 0
    cands_ok = np.flatnonzero(cand_leaf >= 0)
    graph = None  # free it (the lambdas above hold the name)

    dist, _ = rec.step("nearest distances", "facplan distances.nearest_source",
                       lambda: distances.nearest_source(g.indptr, g.indices, g.length_m, parks))
    rec.last(note=f"{g.n_nodes:,} nodes (with point leaves)")
    csr = g.to_csr()
    d_scipy = rec.step(
        "nearest distances", "scipy dijkstra(min_only) same graph",
        lambda: dijkstra(csr, directed=True, indices=parks, min_only=True),
    )
    cell_d = np.where(cells_ok, dist[np.maximum(cell_leaf, 0)], np.inf)
    a, b = d_scipy[cell_leaf[cells_ok]], dist[cell_leaf[cells_ok]]
    fin = np.isfinite(a) & np.isfinite(b)
    diff = np.abs(a[fin] - b[fin])
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        diff = np.array([np.inf])
    rec.last(note=f"max |facplan − scipy| at cells {diff.max() if len(diff) else 0:.2e} m")
    del d_scipy

    cov = rec.step(
        "coverage matrix", "facplan distances.bounded_matrix",
        lambda: distances.bounded_matrix(g.indptr, g.indices, g.length_m, cand_leaf[cands_ok],
                                         cell_leaf[cells_ok], cut),
    )
    mem = cov.data.nbytes + cov.indices.nbytes + cov.indptr.nbytes
    rec.last(note=f"{len(cands_ok):,}×{int(cells_ok.sum()):,}, nnz {cov.nnz:,}, "
                  f"matrix {mem / 2**20:.0f} MB")
    if case == "porto":
        def dense():
            d = dijkstra(csr, directed=True, indices=cand_leaf[cands_ok], limit=cut + TOL_M)
            nnz = int(np.isfinite(d[:, cell_leaf[cells_ok]]).sum())
            return d.nbytes, nnz

        nbytes, nnz = rec.step("coverage matrix", "scipy dijkstra(indices, limit) dense", dense)
        rec.last(note=f"dense {nbytes / 2**30:.2f} GB; nnz at cells {nnz:,} "
                      f"({'=' if nnz == cov.nnz else '≠'} facplan)")
    csr = None

    # (n_sites, n_cells) coverage in the input order; unsnapped rows/columns stay empty
    cell_pos = np.flatnonzero(cells_ok)
    r = cands_ok[np.repeat(np.arange(len(cands_ok)), np.diff(cov.indptr))]
    cov_full = sp.csr_matrix((np.ones(cov.nnz), (r, cell_pos[cov.indices])), shape=(n_s, n_c))
    before = cell_d <= cut + TOL_M
    rec.extra["covered_before"] = float(inp["pop"][before].sum())
    if case != "porto":
        return  # at metro size the MCLP is timed by the `facplan run` row (summary.json)

    def mclp():
        return MCLP.from_matrix(
            cov_full, inp["pop"], site_ids=list(inp["cand_id"]), sites=int(meta["sites"]),
            covered_before=before, time_limit_s=120.0, method="auto",
        ).solve()

    model = rec.step("MCLP solve", "facplan optimize.MCLP (HiGHS)", mclp)
    rec.last(objective=float(model.objective_), bound=float(model.bound_),
             gap=float(model.gap_), note=f"method {getattr(model, 'method_', '?')}, "
             f"gap {100 * float(model.gap_):.3f}%")


def worker_networkx(case: str, meta: dict, rec: Recorder, args) -> None:
    """The route users take today: pyrosm → networkx → spopt (PuLP/CBC)."""
    import networkx as nx
    from scipy.spatial import cKDTree

    inp = read_case_inputs(OUT / case)
    cut = float(meta["threshold_m"])
    lim = cut + TOL_M
    crs = utm_of(inp["cell_lon"], inp["cell_lat"])
    import pyrosm

    osm_nodes = {}

    def read():
        osm = pyrosm.OSM(meta["pbf"])
        nodes, edges = osm.get_network(network_type="walking", nodes=True)
        osm_nodes["osm"] = osm
        return nodes, edges

    nodes, edges = rec.step("read network", "pyrosm get_network", read)
    G = rec.step(
        "build graph", "pyrosm to_graph(networkx, raw)",
        lambda: osm_nodes["osm"].to_graph(nodes, edges, graph_type="networkx",
                                          network_type="walking", simplify=False,
                                          retain_all=True),
    )
    rec.last(note=f"{G.number_of_nodes():,} nodes, {G.number_of_edges():,} directed edges")
    nodes = edges = None

    def snap():
        # nearest node (projected, metres) among nodes of components with ≥ 50 nodes
        keep = [n for comp in nx.weakly_connected_components(G) if len(comp) >= 50 for n in comp]
        keep = np.asarray(keep, dtype=np.int64)
        lon = np.array([G.nodes[n]["x"] for n in keep.tolist()])
        lat = np.array([G.nodes[n]["y"] for n in keep.tolist()])
        nx_, ny_ = project(lon, lat, crs)
        tree = cKDTree(np.column_stack([nx_, ny_]))
        out = {}
        for key in ("cell", "cand", "park"):
            px, py = project(inp[f"{key}_lon"], inp[f"{key}_lat"], crs)
            d, j = tree.query(np.column_stack([px, py]), distance_upper_bound=500.0)
            ok = np.isfinite(d)
            node = np.where(ok, keep[np.minimum(j, len(keep) - 1)], -1)
            out[key] = (node, np.where(ok, d, np.nan))
        return out

    snapped = rec.step("snap to network", "scipy cKDTree nearest node", snap, note="snap=node")
    cell_node, cell_snap = snapped["cell"]
    cand_node, cand_snap = snapped["cand"]
    park_node, park_snap = snapped["park"]

    def nearest():
        # parks enter with their connector length: a super source joined to their nodes
        src = ("parks",)
        for node, s in zip(park_node, park_snap, strict=True):
            if node >= 0:
                old = G.get_edge_data(src, int(node))
                if old is None or s < min(a["length"] for a in old.values()):
                    if old is not None:
                        G.remove_edge(src, int(node))
                    G.add_edge(src, int(node), length=float(s))
        d = nx.multi_source_dijkstra_path_length(G, {src}, weight="length")
        G.remove_node(src)
        return np.array([cs + d.get(int(n), np.inf) if n >= 0 else np.inf
                         for n, cs in zip(cell_node, cell_snap, strict=True)])

    cell_d = rec.step("nearest distances", "networkx multi_source_dijkstra", nearest)
    before = cell_d <= lim

    def coverage():
        by_node: dict[int, list[int]] = {}
        for i, n in enumerate(cell_node.tolist()):
            if n >= 0:
                by_node.setdefault(n, []).append(i)
        rows, cols, vals = [], [], []
        for j, (n, s) in enumerate(zip(cand_node.tolist(), cand_snap.tolist(), strict=True)):
            if n < 0:
                continue
            reach = nx.single_source_dijkstra_path_length(G, n, cutoff=lim - s, weight="length")
            for m, dm in reach.items():
                cells = by_node.get(m)
                if cells is None:
                    continue
                for i in cells:
                    total = s + dm + cell_snap[i]
                    if total <= lim:
                        rows.append(i)
                        cols.append(j)
                        vals.append(total)
        return np.array(rows), np.array(cols), np.array(vals)

    rows, cols, vals = rec.step("coverage matrix", "networkx single_source_dijkstra(cutoff)",
                                coverage)
    rec.last(note=f"{len(rows):,} cell–site pairs within {cut:g} m")
    G = None
    rec.extra["covered_before"] = float(inp["pop"][before].sum())

    # facplan's chosen sites, scored on this coverage (an independent check)
    fp_summary = OUT / case / "facplan_run" / "summary.json"
    if fp_summary.exists():
        sel = json.loads(fp_summary.read_text())["optimize"][0]["selected"]
        pos = {s: j for j, s in enumerate(inp["cand_id"])}
        chosen = np.zeros(len(inp["cand_id"]), bool)
        chosen[[pos[s] for s in sel if s in pos]] = True
        hit = np.zeros(len(cell_node), bool)
        hit[rows[chosen[cols]]] = True
        rec.extra["facplan_sites_on_anchor_coverage"] = float(inp["pop"][hit & ~before].sum())

    if args.skip_slow:
        return
    import pulp
    from spopt.locate import MCLP as SpoptMCLP

    def build():
        need = np.flatnonzero(~before)  # existing parks' coverage counted before, as in facplan
        row_of = np.full(len(cell_node), -1)
        row_of[need] = np.arange(len(need))
        cost = np.full((len(need), len(inp["cand_id"])), 1e9)
        m = row_of[rows] >= 0
        cost[row_of[rows[m]], cols[m]] = vals[m]
        return SpoptMCLP.from_cost_matrix(cost, inp["pop"][need], service_radius=lim,
                                          p_facilities=int(meta["sites"]))

    model = rec.step("MCLP build", "spopt MCLP.from_cost_matrix", build)
    rec.last(note=f"dense {int((~before).sum()):,}×{len(inp['cand_id']):,} cost matrix")
    t_lim = float(args.cbc_time_limit)
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=t_lim)
    model = rec.step("MCLP solve", "spopt MCLP + PuLP CBC", lambda: model.solve(solver))
    obj = float(pulp.value(model.problem.objective))
    status = pulp.LpStatus[model.problem.status]
    hit = rec.rows[-1]["seconds"] >= 0.98 * t_lim
    rec.last(objective=obj, note=f"status {status}"
             + (f"; HIT the {t_lim:g} s time limit (not proven optimal)" if hit else ""))
    rec.extra["cbc_time_limit_hit"] = bool(hit)


def worker_pandana(case: str, meta: dict, rec: Recorder, args) -> None:
    """pandana: contraction-hierarchy network, precompute, nearest POIs, range queries."""
    import pandana
    import pandas as pd

    inp = read_case_inputs(OUT / case)
    cut = float(meta["threshold_m"])
    crs = utm_of(inp["cell_lon"], inp["cell_lat"])
    nodes, edges = rec.step("read network", "pyrosm get_network", lambda: pyrosm_read(meta["pbf"]))

    def build():
        x, y = project(nodes["lon"].to_numpy(), nodes["lat"].to_numpy(), crs)
        idx = nodes["id"].to_numpy(np.int64)
        return pandana.Network(pd.Series(x, index=idx), pd.Series(y, index=idx),
                               edges["u"].to_numpy(np.int64), edges["v"].to_numpy(np.int64),
                               edges[["length"]].astype(np.float64), twoway=True)

    net = rec.step("build graph", "pandana Network (contraction hierarchy)", build)
    nodes = edges = None
    rec.step("precompute", f"pandana precompute({cut:g})", lambda: net.precompute(cut))
    pts = {}
    for key in ("cell", "cand", "park"):
        pts[key] = project(inp[f"{key}_lon"], inp[f"{key}_lat"], crs)

    def snap():
        return {k: net.get_node_ids(pd.Series(v[0]), pd.Series(v[1])).to_numpy()
                for k, v in pts.items()}

    ids = rec.step("snap to network", "pandana get_node_ids", snap, note="snap=node (KD-tree)")

    def nearest():
        px, py = pts["park"]
        net.set_pois("parks", cut, 1, pd.Series(px), pd.Series(py))
        r = net.nearest_pois(cut, "parks", num_pois=1)
        return r[1].reindex(ids["cell"]).to_numpy()

    d = rec.step("nearest distances", f"pandana nearest_pois(≤{cut:g} m)", nearest)
    rec.last(note=f"bounded at {cut:g} m (pandana has no unbounded nearest); "
                  f"{int((d < cut).sum()):,} cells within")

    def coverage():
        df = net.nodes_in_range(np.unique(ids["cand"]), cut)
        cells = pd.DataFrame({"destination": ids["cell"], "cell": np.arange(len(ids["cell"]))})
        pairs = df.merge(cells, on="destination")
        return len(df), len(pairs)

    n_range, n_pairs = rec.step("coverage matrix", f"pandana nodes_in_range({cut:g})", coverage)
    rec.last(note=f"{n_range:,} node pairs, {n_pairs:,} node-level cell–site pairs")


SNAP_POINTS = 300_000  # points of the snapping comparison (DESIGN: 300 k at metro size)


def worker_snap(case: str, meta: dict, rec: Recorder, args) -> None:
    """Nearest-segment search of edge snapping: the compiled grid kernel against the
    STRtree search it replaced (``snap_baseline.py``), on the same points and graph.

    The points are the case's cells, candidates and parks, topped up to
    :data:`SNAP_POINTS` with seeded points near the streets (as the cells are made).
    Both must give, point for point, the same snapped set, the same projected position
    (within 1e-9 m) and the same distance (within 1e-9 m); the segment must be the same
    too, except where the projection is a node shared by both segments.
    """
    from snap_baseline import nearest_segments_strtree

    from facplan import network
    from facplan.snapping import nearest_segments

    inp = read_case_inputs(OUT / case)
    crs = utm_of(inp["cell_lon"], inp["cell_lat"])
    graph = io_network.read_pbf(meta["pbf"], crs=crs)
    labels, sizes = network.components(graph)
    seg = np.flatnonzero((sizes[labels] >= 50)[graph.edge_u])
    ea, eb = graph.edge_u[seg].astype(np.int64), graph.edge_v[seg].astype(np.int64)
    ax, ay, bx, by = graph.x[ea], graph.y[ea], graph.x[eb], graph.y[eb]
    lon = np.concatenate([inp["cell_lon"], inp["cand_lon"], inp["park_lon"]])
    lat = np.concatenate([inp["cell_lat"], inp["cand_lat"], inp["park_lat"]])
    x, y = project(lon, lat, crs)
    rng = np.random.default_rng(args.seed)
    extra = max(0, SNAP_POINTS - len(x))
    e = rng.integers(0, len(seg), extra)
    f = rng.uniform(0, 1, extra)
    x = np.concatenate([x, ax[e] + f * (bx[e] - ax[e]) + rng.normal(0, 20, extra)])
    y = np.concatenate([y, ay[e] + f * (by[e] - ay[e]) + rng.normal(0, 20, extra)])
    nearest_segments(x[:10], y[:10], ax, ay, bx, by, 500.0)  # load the compiled kernel
    note = f"{len(x):,} points, {len(seg):,} segments"
    s_new, t_new, d_new = rec.step(
        "snap: nearest segment", "facplan snapping.nearest_segments",
        lambda: nearest_segments(x, y, ax, ay, bx, by, 500.0), note=note,
    )
    ip, iseg, t_old, d_old = rec.step(
        "snap: nearest segment", "shapely STRtree (facplan ≤ 3440285)",
        lambda: nearest_segments_strtree(graph, ea, eb, x, y, 500.0), note=note,
    )
    ok = np.flatnonzero(s_new >= 0)
    same_set = np.array_equal(ok, ip)
    if same_set:
        s1, t1 = s_new[ok], t_new[ok]
        q_new = (ax[s1] + t1 * (bx[s1] - ax[s1]), ay[s1] + t1 * (by[s1] - ay[s1]))
        q_old = (ax[iseg] + t_old * (bx[iseg] - ax[iseg]), ay[iseg] + t_old * (by[iseg] - ay[iseg]))
        pos = float(np.hypot(q_new[0] - q_old[0], q_new[1] - q_old[1]).max(initial=0.0))
        dd = float(np.abs(d_new[ok] - d_old).max(initial=0.0))
        n_seg = int((s1 != iseg).sum())
        identical = pos <= 1e-9 and dd <= 1e-9
        rec.extra["snap_check"] = {"identical": identical, "max_position_m": pos,
                                   "max_distance_m": dd, "other_segment": n_seg,
                                   "snapped": len(ok), "points": len(x)}
        detail = (f"{len(ok):,} of {len(x):,} snapped by both; max Δposition {pos:.1e} m, "
                  f"max Δdistance {dd:.1e} m; {n_seg} points on another segment at the "
                  "same position")
    else:
        rec.extra["snap_check"] = {"identical": False, "points": len(x)}
        detail = f"DIFFERENT snapped sets: {len(ok):,} vs {len(ip):,}"
    rec.rows[-2]["note"] += "; " + detail


WORKERS = {
    "floor": worker_floor,
    "facplan_kernels": worker_facplan_kernels,
    "networkx": worker_networkx,
    "pandana": worker_pandana,
    "snap": worker_snap,
}


def run_worker(name: str, case: str, args) -> int:
    meta = json.loads((OUT / case / "meta.json").read_text())
    rec = Recorder()
    status = "ok"
    try:
        WORKERS[name](case, meta, rec, args)
    except Exception as exc:  # reported in the table, not fatal to the benchmark
        traceback.print_exc()
        status = f"{type(exc).__name__}: {exc}"
    Path(args.result_file).write_text(
        json.dumps({"rows": rec.rows, "extra": rec.extra, "status": status}, default=float)
    )
    return 0


# --------------------------------------------------------------------------- parent


class TreePeak:
    """Poll the RSS of a process and its children (summed) until it ends."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def spawn(cmd: list[str], log: Path, timeout: float | None = None) -> dict:
    """Run ``cmd``; wall time, exit code and peak memory (max of the polled tree sum and
    the kernel's ru_maxrss of the child)."""
    with open(log, "w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            poll = TreePeak(proc.pid)
        except ImportError:  # psutil missing: the kernel's ru_maxrss alone
            poll = None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak = max(poll.stop() if poll else 0.0, usage.ru_maxrss / 1024.0)
    return {"seconds": seconds, "rc": proc.returncode, "peak_mb": peak}


def call_worker(name: str, case: str, args) -> dict:
    log = OUT / case / f"{name}.log"
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        result_file = tmp.name
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--case", case,
           "--result-file", result_file, "--cbc-time-limit", str(args.cbc_time_limit)]
    if args.skip_slow:
        cmd.append("--skip-slow")
    print(f"[{case}] {name} … (log: {log.relative_to(ROOT)})", flush=True)
    info = spawn(cmd, log)
    try:
        out = json.loads(Path(result_file).read_text())
    except (OSError, ValueError):
        tail = log.read_text()[-2000:] if log.exists() else ""
        out = {"rows": [], "extra": {}, "status": f"worker died (exit {info['rc']}): {tail}"}
    finally:
        Path(result_file).unlink(missing_ok=True)
    out["peak_mb"] = info["peak_mb"]
    out["seconds"] = info["seconds"]
    for row in out["rows"]:
        print(f"  {row['step']:<32} {row['tool']:<40} {row['seconds']:9.2f} s", flush=True)
    if out["status"] != "ok":
        print(f"  !! {name} failed: {out['status'][:500]}", flush=True)
    return out


def run_facplan_cli(case: str, repeat: int) -> list[dict]:
    exe = Path(sys.executable).with_name("facplan")
    cmd = [str(exe) if exe.exists() else "facplan", "run",
           str(OUT / case / "scenario.yaml"), "--out", str(OUT / case / "facplan_run")]
    runs = []
    # run #1 starts with an empty network cache (cold: the PBF is parsed); later runs
    # find the graph in the cache, as a planner's second scenario on the same city does
    cache = OUT / case / "network_cache"
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["FACPLAN_CACHE_DIR"] = str(cache)
    for r in range(repeat):
        shutil.rmtree(OUT / case / "facplan_run", ignore_errors=True)
        print(f"[{case}] facplan run #{r + 1} …", flush=True)
        info = spawn(cmd, OUT / case / f"facplan_run_{r + 1}.log")
        summary_path = OUT / case / "facplan_run" / "summary.json"
        if info["rc"] == 0 and summary_path.exists():
            info["summary"] = json.loads(summary_path.read_text())
        else:
            log = (OUT / case / f"facplan_run_{r + 1}.log").read_text()
            info["error"] = log[-1500:]
        print(f"  facplan run: {info['seconds']:.2f} s, rc {info['rc']}, "
              f"peak {info['peak_mb'] / GB:.2f} GB", flush=True)
        runs.append(info)
    return runs


# --------------------------------------------------------------------------- report


def _fmt_s(s):
    return "—" if s is None or not np.isfinite(s) else (f"{s:.3f}" if s < 10 else f"{s:.1f}")


def _fmt_mem(peak, delta=None):
    if peak is None or not np.isfinite(peak):
        return "—"
    out = f"{peak / GB:.2f} GB"
    if delta is not None and np.isfinite(delta):
        out += f" (+{delta / GB:.2f})"
    return out


def _fmt_ratio(tool_s, ref_s):
    if tool_s is None or ref_s is None or not ref_s or not np.isfinite(tool_s):
        return "—"
    return f"{tool_s / ref_s:.2f}×"


def _fmt_obj(v):
    return "" if v is None else f"{v:,.0f}"


REF_STEP = {"nearest distances (floor)": "nearest distances", "MCLP build": "MCLP solve"}


def case_report(case: str, meta: dict, res: dict) -> tuple[list[str], list[str]]:
    """Markdown table and target lines for one case."""
    fk = {(r["step"], r["tool"]): r for r in res["facplan_kernels"]["rows"]}

    def fp(step):
        for (s, t), r in fk.items():
            if s == step and t.startswith("facplan"):
                return r
        return None

    runs = res["facplan_cli"]
    good = [r for r in runs if "summary" in r]
    best = min(good, key=lambda r: r["seconds"]) if good else None
    e2e = best["seconds"] if best else None
    fp_obj = best["summary"]["optimize"][0] if best else None

    walk = ((res.get("floor") or {}).get("extra", {}).get("walk_nodes")
            or res["facplan_kernels"].get("extra", {}).get("walk_nodes"))
    lines = [
        f"### {case}: {walk or 0:,} raw walk nodes, {meta['cells']:,} cells, "
        f"{meta['candidates']:,} candidates, {meta['parks']} parks, MCLP {meta['sites']} "
        f"sites at {meta['threshold_m']:g} m, snap={meta['snap']}",
        "",
        f"Load average (1 min) at start / end of the case: {res['load'][0]:.2f} / "
        f"{res['load'][1]:.2f} on {os.cpu_count()} cores"
        + (f"; tiled network: {meta.get('stitches')} stitching footways" if case == "metro"
           else "") + ".",
        "",
        "ratio = tool seconds ÷ facplan seconds for the same step (> 1: facplan is faster). "
        "Memory: peak RSS of the process during the step (in parentheses: growth during "
        "the step); for whole pipelines, the peak of the process tree.",
        "",
        "| step | tool | seconds | ratio vs facplan | peak memory | objective | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]

    def row(step, tool, seconds, ref, mem, obj="", note=""):
        lines.append(f"| {step} | {tool} | {_fmt_s(seconds)} | {_fmt_ratio(seconds, ref)} | "
                     f"{mem} | {obj} | {note} |")

    # end to end
    for i, r in enumerate(runs):
        tim = r.get("summary", {}).get("timings", {})
        stages = ", ".join(f"{k} {v:.2f}" for k, v in tim.items() if not isinstance(v, dict))
        peaks = tim.get("peak_memory_mb", {})
        if peaks:
            stages += "; peak GB: " + ", ".join(f"{k} {v / GB:.2f}" for k, v in peaks.items())
        o = r.get("summary", {}).get("optimize", [{}])[0]
        label = "cold network cache" if i == 0 else "network cache"
        row("end to end", f"facplan run (#{i + 1}, {label})", r["seconds"], e2e,
            _fmt_mem(r["peak_mb"]), _fmt_obj(o.get("objective")),
            (f"gap {100 * o['gap']:.3f}%, {o.get('method', '')}; stages: {stages}"
             if o else f"FAILED rc {r['rc']}: {r.get('error', '')[-300:]!r}"))
    pipelines = {}
    for wname, label in (("floor", "floor: pyrosm read + scipy min_only Dijkstra"),
                         ("networkx", "pyrosm → networkx → spopt (CBC)"),
                         ("pandana", "pyrosm → pandana")):
        w = res.get(wname)
        if not w or not w["rows"]:
            continue
        total = sum(r["seconds"] for r in w["rows"])
        pipelines[wname] = total
        obj = next((r.get("objective") for r in w["rows"] if r.get("objective") is not None),
                   None)
        note = "sum of the steps below"
        if w["status"] != "ok":
            note += f"; FAILED: {w['status'][:200]}"
        if wname == "networkx" and not any(r["tool"].startswith("spopt") for r in w["rows"]):
            note += "; spopt skipped (--skip-slow)"
        if "spopt skipped" in note:
            label = "pyrosm → networkx (no MCLP)"
        row("end to end", label, total, e2e, _fmt_mem(w["peak_mb"]), _fmt_obj(obj), note)

    # per step
    order = ["read network", "build graph", "precompute", "snap to network",
             "snap: nearest segment",
             "nearest distances", "nearest distances (floor)", "coverage matrix",
             "MCLP build", "MCLP solve"]
    all_rows = []
    for wname in ("facplan_kernels", "snap", "floor", "networkx", "pandana"):
        w = res.get(wname)
        if w:
            all_rows += [(wname, r) for r in w["rows"]]
    for step in order:
        ref_row = fp(REF_STEP.get(step, step))
        ref = ref_row["seconds"] if ref_row else None
        for _wname, r in all_rows:
            if r["step"] != step:
                continue
            tool = (r["tool"] if _wname == "facplan_kernels" or r["tool"].startswith("facplan")
                    else f"{r['tool']} · {_wname}")
            row(step, tool, r["seconds"], ref, _fmt_mem(r["peak_mb"], r["delta_mb"]),
                _fmt_obj(r.get("objective")), r.get("note", ""))
    if best and not fp("MCLP solve"):
        row("MCLP solve", "facplan run: optimize (summary.json)", fp_obj.get("seconds"), None,
            "—", _fmt_obj(fp_obj["objective"]),
            f"method {fp_obj.get('method')}, status {fp_obj.get('status', '')}, "
            f"gap {100 * fp_obj['gap']:.3f}%, bound {fp_obj['bound']:,.0f}")
    for wname in ("floor", "facplan_kernels", "snap", "networkx", "pandana"):
        w = res.get(wname)
        if w and w["status"] != "ok":
            lines.append(f"| — | {wname} worker | — | — | — | — | FAILED: "
                         f"{w['status'][:300].replace('|', '/')} |")
    lines.append("")

    # targets
    tg = [f"**Targets ({case})**", ""]

    def check(label, ok, detail):
        mark = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        tg.append(f"- [{mark}] {label}: {detail}")

    floor_total = pipelines.get("floor")
    snap_rows = {r["tool"]: r for r in (res.get("snap") or {}).get("rows", [])}
    s_new = snap_rows.get("facplan snapping.nearest_segments")
    s_old = snap_rows.get("shapely STRtree (facplan ≤ 3440285)")
    if s_new and s_old:
        chk = res["snap"]["extra"].get("snap_check", {})
        check("nearest-segment snapping ≥ 10× faster than the STRtree search, same results",
              s_old["seconds"] >= 10 * s_new["seconds"] and bool(chk.get("identical")),
              f"{s_old['seconds']:.2f} s vs {s_new['seconds']:.3f} s = "
              f"{s_old['seconds'] / s_new['seconds']:.1f}× on {chk.get('points', 0):,} points; "
              + ("identical positions and distances (≤ 1e-9 m)" if chk.get("identical")
                 else "results DIFFER"))
    if case == "porto":
        nxw = res.get("networkx") or {"rows": [], "extra": {}}
        spopt = next((r for r in nxw["rows"] if r["tool"] == "spopt MCLP + PuLP CBC"), None)
        nx_total = pipelines.get("networkx")
        if spopt and e2e and fp_obj is not None:
            same = abs(spopt["objective"] - fp_obj["objective"]) <= 1e-6 * max(1, spopt["objective"])
            check("end to end ≥ 30× faster than networkx + spopt at an equal objective",
                  (nx_total / e2e >= 30) and same,
                  f"{nx_total:.1f} s vs {e2e:.2f} s = {nx_total / e2e:.1f}×; objective "
                  f"facplan {fp_obj['objective']:,.0f} vs spopt {spopt['objective']:,.0f} "
                  f"({'equal' if same else 'DIFFERENT'})"
                  + ("; CBC hit its time limit" if nxw["extra"].get("cbc_time_limit_hit")
                     else ""))
        else:
            check("end to end ≥ 30× faster than networkx + spopt", None,
                  "spopt not run (--skip-slow) or a run failed")
        if "facplan_sites_on_anchor_coverage" in nxw["extra"] and fp_obj is not None:
            v = nxw["extra"]["facplan_sites_on_anchor_coverage"]
            check("facplan's sites re-scored on networkx's own coverage give facplan's objective",
                  abs(v - fp_obj["objective"]) < 0.5,
                  f"{v:,.0f} vs {fp_obj['objective']:,.0f}; covered before: networkx "
                  f"{nxw['extra'].get('covered_before', float('nan')):,.0f}, facplan "
                  f"{fp_obj.get('covered_before', float('nan')):,.0f}")
        nn_fp, nn_sp = fp("nearest distances"), fk.get(
            ("nearest distances", "scipy dijkstra(min_only) same graph"))
        if nn_fp and nn_sp:
            check("nearest distances within 2× of scipy's min_only Dijkstra",
                  nn_fp["seconds"] <= 2 * nn_sp["seconds"],
                  f"facplan {nn_fp['seconds']:.3f} s vs scipy {nn_sp['seconds']:.3f} s "
                  f"({nn_fp['seconds'] / nn_sp['seconds']:.2f}×)")
        nn_nx = next((r for r in nxw["rows"] if r["step"] == "nearest distances"), None)
        if nn_fp and nn_nx:
            route_steps = ("read network", "build graph", "snap to network", "nearest distances")
            nx_route = sum(r["seconds"] for r in nxw["rows"] if r["step"] in route_steps)
            fp_route = sum(fp(s_)["seconds"] for s_ in route_steps if fp(s_))
            check("nearest distances ≥ 20× faster than networkx (the search itself)",
                  nn_nx["seconds"] >= 20 * nn_fp["seconds"],
                  f"{nn_nx['seconds']:.2f} s vs {nn_fp['seconds']:.3f} s = "
                  f"{nn_nx['seconds'] / nn_fp['seconds']:.0f}×; whole route (read, graph, snap, "
                  f"search) {nx_route:.1f} s vs {fp_route:.1f} s = {nx_route / fp_route:.1f}×")
        cm_fp = fp("coverage matrix")
        cm_sp = fk.get(("coverage matrix", "scipy dijkstra(indices, limit) dense"))
        if cm_fp and cm_sp:
            check("coverage matrix faster than scipy dense `limit`, a fraction of its memory",
                  cm_fp["seconds"] < cm_sp["seconds"] and cm_fp["delta_mb"] < cm_sp["delta_mb"],
                  f"{cm_fp['seconds']:.3f} s vs {cm_sp['seconds']:.3f} s "
                  f"({cm_sp['seconds'] / cm_fp['seconds']:.1f}× faster); memory growth "
                  f"{cm_fp['delta_mb']:.0f} MB vs {cm_sp['delta_mb']:.0f} MB "
                  f"({cm_fp['delta_mb'] / max(cm_sp['delta_mb'], 1e-9):.1%})")
        solve_fp = fp("MCLP solve")
        sp_build = next((r for r in nxw["rows"] if r["tool"] == "spopt MCLP.from_cost_matrix"),
                        None)
        if spopt and solve_fp:
            sp_total = spopt["seconds"] + (sp_build["seconds"] if sp_build else 0.0)
            check("MCLP ≥ 10× faster than spopt (PuLP/CBC, build + solve) at an equal objective",
                  sp_total >= 10 * solve_fp["seconds"]
                  and abs(spopt["objective"] - solve_fp["objective"]) < 0.5,
                  f"{sp_total:.1f} s (build {sp_total - spopt['seconds']:.1f} + CBC "
                  f"{spopt['seconds']:.1f}) vs {solve_fp['seconds']:.2f} s = "
                  f"{sp_total / solve_fp['seconds']:.0f}×; objective "
                  f"{solve_fp['objective']:,.0f} vs {spopt['objective']:,.0f}")
        warm = runs[1] if len(runs) > 1 and "summary" in runs[1] else None
        if spopt and warm and fp_obj is not None:
            same = abs(spopt["objective"] - fp_obj["objective"]) <= 1e-6 * max(1, spopt["objective"])
            check("warm end to end (network cache) ≥ 80× networkx + spopt at an equal objective",
                  nx_total / warm["seconds"] >= 80 and same,
                  f"{nx_total:.1f} s vs {warm['seconds']:.2f} s = "
                  f"{nx_total / warm['seconds']:.1f}×")
    else:
        # facplan's own floor: its PBF read plus one scipy multi-source Dijkstra
        own_read = fp("read network")
        own_dij = fk.get(("nearest distances", "scipy dijkstra(min_only) same graph"))
        cold = runs[0] if runs and "summary" in runs[0] else None
        own_floor = (own_read["seconds"] + own_dij["seconds"]) if own_read and own_dij else None
        cap_gb = 4 if case == "metro" else 8
        if cold and own_floor:
            check("cold end to end within 3× facplan's floor (read_pbf + one scipy "
                  "multi-source Dijkstra)", cold["seconds"] <= 3 * own_floor,
                  f"{cold['seconds']:.1f} s vs floor {own_floor:.1f} s (read "
                  f"{own_read['seconds']:.1f} + Dijkstra {own_dij['seconds']:.1f}) = "
                  f"{cold['seconds'] / own_floor:.2f}×")
        if e2e and floor_total:
            check("end to end within 4× of (pyrosm read + one multi-source Dijkstra)",
                  e2e <= 4 * floor_total,
                  f"{e2e:.1f} s vs floor {floor_total:.1f} s = {e2e / floor_total:.2f}×")
        if best:
            check(f"peak memory ≤ {cap_gb} GB", best["peak_mb"] <= cap_gb * GB,
                  f"{best['peak_mb'] / GB:.2f} GB (process tree)")
            check("reported gap ≤ 1%", fp_obj["gap"] <= 0.01 + 1e-12,
                  f"{100 * fp_obj['gap']:.3f}% (objective {fp_obj['objective']:,.0f}, "
                  f"bound {fp_obj['bound']:,.0f}, method {fp_obj.get('method')})")
        if not good:
            check("facplan run", False, "failed: " + runs[0].get("error", "")[-300:])
    tg.append("")
    return lines, tg


def machine_line() -> str:
    import psutil

    return (f"{platform.machine()}, {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM, Python "
            f"{platform.python_version()}")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("facplan", "pyrosm", "networkx", "scipy", "numba", "highspy", "spopt", "pulp",
                "pandana", "osmium"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return ", ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=["porto", "metro", "megacity", "all"], default="all")
    ap.add_argument("--skip-slow", action="store_true", help="skip spopt (PuLP/CBC)")
    ap.add_argument("--cbc-time-limit", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs of `facplan run` per case (best counts; default 2 porto, 1 metro)")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return run_worker(args.worker, args.case, args)

    if not make_inputs.PORTO_PBF.is_file():
        print(f"Porto extract not found ({make_inputs.PORTO_PBF}); nothing to benchmark.")
        return 1
    cases = list(make_inputs.CASES) if args.case == "all" else [args.case]
    t_all = time.perf_counter()
    tables, targets = [], []
    for case in cases:
        print(f"[{case}] inputs …", flush=True)
        meta = make_inputs.make_case(case, seed=args.seed)
        res = {"load": [os.getloadavg()[0], None]}
        big = case == "megacity"  # pyrosm-based anchors cannot hold it on this machine
        if not big:
            res["floor"] = call_worker("floor", case, args)
        res["facplan_kernels"] = call_worker("facplan_kernels", case, args)
        if not big:
            res["snap"] = call_worker("snap", case, args)
        repeat = args.repeat or (2 if case == "porto" else 1)
        res["facplan_cli"] = run_facplan_cli(case, repeat=max(1, repeat))
        if case == "porto":
            res["networkx"] = call_worker("networkx", case, args)
        if not big:
            res["pandana"] = call_worker("pandana", case, args)
        res["load"][1] = os.getloadavg()[0]
        (OUT / case / "results.json").write_text(json.dumps({"meta": meta, **res}, default=float,
                                                            indent=1))
        lines, tg = case_report(case, meta, res)
        tables += lines
        targets += tg

    head = [
        "# facplan benchmarks",
        "",
        f"Machine: {machine_line()}.  ",
        f"Versions: {versions()}.  ",
        f"Command: `{' '.join([Path(sys.executable).name, 'benchmarks/run.py', *sys.argv[1:]])}`"
        f" (total {time.perf_counter() - t_all:.0f} s).",
        "",
        "Pipelines other than `facplan run` are the sums of their timed steps (no interpreter "
        "start, imports or input reading; `facplan run` is wall time of the whole command, "
        "writing every output and the map included).  ",
        "Not measured on the metro case: networkx + spopt and scipy's dense `limit` search "
        "(a 300 k × 20 k dense matrix is 48 GB; scipy's sites × V result 240 GB). On the "
        "megacity case only facplan runs (its kernels, scipy's Dijkstra on its graph, and "
        "`facplan run`): pyrosm cannot read the 4×4 tiling within this machine's memory.",
        "Targets at metro and megacity size compare `facplan run` (cold network cache) with "
        "facplan's own floor: its `read_pbf` plus one scipy multi-source Dijkstra on its graph.",
        "",
    ]
    text = "\n".join(head + tables + targets)
    print("\n" + text)
    (OUT / "results.md").write_text(text + "\n")
    print(f"\nwritten: {(OUT / 'results.md').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
