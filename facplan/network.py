"""The walking network as compact arrays, and attaching points (cells, sites) to it.

A :class:`Graph` is an undirected graph in CSR form (``indptr``, ``indices``,
``length_m``) with node coordinates in a projected CRS (metres). The readers of
:mod:`facplan.io.network` build it (:func:`graph_from_edges`) from an OSM PBF, an osmnx
GraphML file or an online place.

:func:`attach_points` implements DESIGN's pinned distance definition by augmenting the
graph: every point gets its own leaf node joined by one straight connector edge to its
snap target (the nearest node, or its projection onto the nearest edge). The distance
between two points is then the plain shortest path between their leaf nodes, which
:mod:`facplan.distances` computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from facplan._errors import InputError

__all__ = [
    "Graph",
    "Attached",
    "graph_from_edges",
    "projected_crs",
    "project_lonlat",
    "components",
    "attach_points",
]

#: A projection closer than this to an edge's end (metres, along the edge) uses the end node.
ENDPOINT_TOL_M = 1e-9


@dataclass(frozen=True, eq=False)
class Graph:
    """Undirected walking graph as compact arrays, coordinates in a projected CRS (metres).

    Attributes
    ----------
    indptr
        int64 (V+1,) CSR row pointers; every undirected edge is stored both ways.
    indices
        int32 (2E,) neighbour node of each CSR entry.
    length_m
        float64 (2E,) edge length of each CSR entry, metres (zero-length edges allowed).
    x, y
        float64 (V,) node coordinates in ``crs``, metres.
    node_id
        int64 (V,) original node ids (OSM ids); ``-1`` for nodes added by
        :func:`attach_points`.
    edge_u, edge_v
        int32 (E,) the undirected edge list (node indices; ``u < v`` is not required).
    edge_length_m
        float64 (E,) length of each undirected edge, metres.
    crs
        The projected CRS of ``x``/``y``, e.g. ``"EPSG:32635"``.
    """

    indptr: np.ndarray
    indices: np.ndarray
    length_m: np.ndarray
    x: np.ndarray
    y: np.ndarray
    node_id: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    crs: str

    @property
    def n_nodes(self) -> int:
        """Number of nodes V."""
        return int(len(self.indptr) - 1)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges E."""
        return int(len(self.edge_u))

    def to_csr(self) -> sp.csr_matrix:
        """The symmetric (V, V) adjacency matrix with edge lengths in metres.

        Zero-length edges are kept as explicit zeros (do not call ``eliminate_zeros``
        before handing it to a shortest-path routine).
        """
        v = self.n_nodes
        return sp.csr_matrix((self.length_m, self.indices, self.indptr), shape=(v, v))


@dataclass(frozen=True, eq=False)
class Attached:
    """Points attached to a graph by :func:`attach_points`.

    Attributes
    ----------
    graph
        The augmented graph: the original nodes first, in the same order, then one leaf
        node per snapped point, then the projection nodes on split edges.
    node
        int64 (P,) index in ``graph`` of each point's own leaf node; ``-1`` when the point
        could not be snapped (farther than ``max_snap_m`` from every eligible target, or
        non-finite coordinates).
    snap_m
        float64 (P,) straight-line connector length in metres; NaN when not snapped.
    """

    graph: Graph
    node: np.ndarray
    snap_m: np.ndarray

    @property
    def n_unsnapped(self) -> int:
        """Number of points that could not be snapped."""
        return int(np.count_nonzero(self.node < 0))


# --------------------------------------------------------------------------- building


def projected_crs(crs: Any) -> str:
    """Return ``crs`` as a string, or raise when it is not a projected (metre) CRS."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        raise InputError(f"unknown CRS {crs!r}", field="crs") from None
    if not parsed.is_projected:
        raise InputError(
            f"CRS {crs!r} is geographic (degrees), but the network needs a projected CRS "
            "in metres",
            field="crs",
        )
    return crs if isinstance(crs, str) else parsed.to_string()


def _from_index_edges(
    n_nodes: int,
    u: np.ndarray,
    v: np.ndarray,
    length_m: np.ndarray,
    *,
    x: np.ndarray,
    y: np.ndarray,
    node_id: np.ndarray,
    crs: str,
) -> Graph:
    """Assemble a :class:`Graph` from an undirected edge list given as node indices."""
    if n_nodes >= 2**31 - 1:
        raise ValueError(f"graphs above 2**31 - 1 nodes are not supported (got {n_nodes})")
    u = np.asarray(u, dtype=np.int32)
    v = np.asarray(v, dtype=np.int32)
    length_m = np.asarray(length_m, dtype=np.float64)
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n_nodes), out=indptr[1:])
    return Graph(
        indptr=indptr,
        indices=np.ascontiguousarray(dst[order], dtype=np.int32),
        length_m=np.ascontiguousarray(np.concatenate([length_m, length_m])[order]),
        x=np.ascontiguousarray(x, dtype=np.float64),
        y=np.ascontiguousarray(y, dtype=np.float64),
        node_id=np.ascontiguousarray(node_id, dtype=np.int64),
        edge_u=u,
        edge_v=v,
        edge_length_m=length_m,
        crs=crs,
    )


def graph_from_edges(
    u: np.ndarray,
    v: np.ndarray,
    length_m: np.ndarray,
    *,
    node_id: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    crs: str,
) -> Graph:
    """Build an undirected :class:`Graph` from an edge list keyed by node ids.

    Self loops are dropped; of parallel edges (either direction) the shortest is kept;
    nodes that are on no edge are dropped. The remaining nodes keep the order they have in
    ``node_id``.

    Parameters
    ----------
    u, v
        (E,) end node ids of each edge, in the same id space as ``node_id``.
    length_m
        (E,) edge lengths in metres; must be finite and ≥ 0.
    node_id
        (N,) unique node ids.
    x, y
        (N,) node coordinates in ``crs``, metres.
    crs
        A projected CRS (anything :class:`pyproj.CRS` accepts).

    Returns
    -------
    Graph

    Raises
    ------
    InputError
        Duplicate node ids, edges naming unknown nodes, or lengths that are negative, NaN
        or infinite (rows are edge positions counted from 1).
    """
    crs = projected_crs(crs)
    u = np.asarray(u).ravel()
    v = np.asarray(v).ravel()
    length_m = np.asarray(length_m, dtype=np.float64).ravel()
    node_id = np.asarray(node_id).ravel()
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if not (len(u) == len(v) == len(length_m)):
        raise ValueError(
            f"u, v and length_m must have the same length (got {len(u)}, {len(v)}, "
            f"{len(length_m)})"
        )
    if not (len(node_id) == len(x) == len(y)):
        raise ValueError(
            f"node_id, x and y must have the same length (got {len(node_id)}, {len(x)}, "
            f"{len(y)})"
        )
    bad = np.flatnonzero(~(np.isfinite(length_m) & (length_m >= 0)))
    if len(bad):
        raise InputError(
            f"{len(bad)} edges have a negative, NaN or infinite length (metres)",
            field="length",
            rows=(bad + 1).tolist(),
        )
    order = np.argsort(node_id, kind="stable")
    sorted_ids = node_id[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(dup):
        raise InputError(
            f"{len(dup)} duplicate node ids, e.g. {sorted_ids[dup[:3]].tolist()}",
            field="node_id",
        )
    iu = _lookup(sorted_ids, order, u)
    iv = _lookup(sorted_ids, order, v)
    missing = np.flatnonzero((iu < 0) | (iv < 0))
    if len(missing):
        raise InputError(
            f"{len(missing)} edges refer to node ids that are not among the nodes",
            field="u/v",
            rows=(missing + 1).tolist(),
        )
    keep = iu != iv
    iu, iv, w = iu[keep], iv[keep], length_m[keep]
    # parallel edges: keep the shortest of each unordered pair
    key = np.minimum(iu, iv) * len(node_id) + np.maximum(iu, iv)
    srt = np.argsort(key, kind="stable")
    key = key[srt]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    w = np.minimum.reduceat(w[srt], starts) if len(starts) else w[:0]
    a, b = np.divmod(key[starts], len(node_id))
    # drop nodes on no edge; renumber keeping the input order
    used = np.zeros(len(node_id), dtype=bool)
    used[a] = True
    used[b] = True
    new_index = np.cumsum(used) - 1
    return _from_index_edges(
        int(used.sum()),
        new_index[a],
        new_index[b],
        w,
        x=x[used],
        y=y[used],
        node_id=node_id[used].astype(np.int64),
        crs=crs,
    )


def _lookup(sorted_ids: np.ndarray, order: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in the unsorted id array (``-1`` when absent)."""
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    found = sorted_ids[pos] == ids
    return np.where(found, order[pos], -1).astype(np.int64)


# --------------------------------------------------------------------------- readers


def project_lonlat(lon: np.ndarray, lat: np.ndarray, src: Any, crs: str):
    from pyproj import Transformer

    transformer = Transformer.from_crs(src, crs, always_xy=True)
    x, y = transformer.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def components(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the graph.

    Labels are numbered in the order of each component's lowest node (the numbering of
    ``scipy.sparse.csgraph.connected_components``), found by one compiled breadth-first
    pass (no scipy.sparse.csgraph import, which pulls in scipy.linalg).

    Returns
    -------
    labels : numpy.ndarray
        int32 (V,) component label of each node (0 … C−1).
    sizes : numpy.ndarray
        int64 (C,) number of nodes in each component.
    """
    from facplan.snapping import component_labels

    if graph.n_nodes == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    n, labels = component_labels(graph.indptr, graph.indices)
    return labels, np.bincount(labels, minlength=n).astype(np.int64)


# --------------------------------------------------------------------------- attaching


def attach_points(
    graph: Graph,
    x: np.ndarray,
    y: np.ndarray,
    *,
    snap: str = "edge",
    max_snap_m: float = 500.0,
    min_component_nodes: int = 50,
) -> Attached:
    """Give every point its own leaf node joined to the graph by a straight connector.

    Afterwards the distance between two points is the plain shortest path between their
    leaf nodes: connector + network path + connector, as DESIGN pins it (a leaf has
    degree 1, so no path passes through it). Pass every point (cells, facilities,
    candidates) in one call so they share one augmented graph.

    Parameters
    ----------
    graph
        The walking graph (projected CRS, metres).
    x, y
        (P,) point coordinates in ``graph.crs``, metres.
    snap
        ``"node"``: the connector goes to the nearest graph node. ``"edge"``: the point is
        projected onto the nearest edge (the straight segment between its end nodes); the
        edge a–b of length L is split at the projection, a node at fraction t along it
        getting edges of t·L to a and (1−t)·L to b (L is the edge's ``length_m``, not the
        Euclidean length). Several projections on one edge are chained in order of t, so
        two points on one edge get the direct way along it; points whose projections
        coincide share one projection node; a projection on an end uses the end node.
    max_snap_m
        A point farther than this (metres) from every eligible node/edge is not snapped.
    min_component_nodes
        Only nodes/edges of connected components with at least this many nodes are snap
        targets (so stray fragments do not strand points).

    Returns
    -------
    Attached
        The augmented graph, each point's leaf node (``-1`` when not snapped) and the
        connector length in metres (NaN when not snapped). Unsnapped points are never
        dropped and never an error.
    """
    if snap not in ("node", "edge"):
        raise ValueError(
            f"The 'snap' parameter of attach_points must be 'node' or 'edge'. Got {snap!r} "
            "instead."
        )
    if not max_snap_m >= 0:
        raise ValueError(
            "The 'max_snap_m' parameter of attach_points must be a number ≥ 0. Got "
            f"{max_snap_m!r} instead."
        )
    px = np.asarray(x, dtype=np.float64).ravel()
    py = np.asarray(y, dtype=np.float64).ravel()
    if px.shape != py.shape:
        raise ValueError(f"x and y must have the same length (got {len(px)} and {len(py)})")
    n_pts = len(px)
    labels, sizes = components(graph)
    eligible = sizes[labels] >= min_component_nodes if len(labels) else np.zeros(0, bool)
    finite = np.flatnonzero(np.isfinite(px) & np.isfinite(py))

    if snap == "node":
        pt, target, dist = _snap_to_nodes(graph, px[finite], py[finite], eligible, max_snap_m)
        pt = finite[pt]
        split = None
    else:
        pt, target, dist, split = _snap_to_edges(
            graph, px[finite], py[finite], eligible, max_snap_m
        )
        pt = finite[pt]

    v0 = graph.n_nodes
    n_snap = len(pt)
    leaf = v0 + np.arange(n_snap, dtype=np.int64)
    node = np.full(n_pts, -1, dtype=np.int64)
    snap_m = np.full(n_pts, np.nan)
    node[pt] = leaf
    snap_m[pt] = dist

    keep_edge = np.ones(graph.n_edges, dtype=bool)
    new_u = [leaf]
    new_v = [target]
    new_len = [dist]
    extra_x = [px[pt]]
    extra_y = [py[pt]]
    if split is not None:
        keep_edge[split["removed"]] = False
        new_u.append(split["u"])
        new_v.append(split["v"])
        new_len.append(split["length_m"])
        extra_x.append(split["x"])
        extra_y.append(split["y"])
    n_new = n_snap + (0 if split is None else len(split["x"]))
    u = np.concatenate([graph.edge_u[keep_edge].astype(np.int64), *new_u])
    v = np.concatenate([graph.edge_v[keep_edge].astype(np.int64), *new_v])
    w = np.concatenate([graph.edge_length_m[keep_edge], *new_len])
    aug = _from_index_edges(
        v0 + n_new,
        u,
        v,
        w,
        x=np.concatenate([graph.x, *extra_x]),
        y=np.concatenate([graph.y, *extra_y]),
        node_id=np.concatenate([graph.node_id, np.full(n_new, -1, dtype=np.int64)]),
        crs=graph.crs,
    )
    return Attached(graph=aug, node=node, snap_m=snap_m)


def _snap_to_nodes(graph: Graph, px, py, eligible, max_snap_m):
    """Nearest eligible node of each point within ``max_snap_m``.

    Returns (point positions, target node, connector length) for the snapped points.
    """
    from scipy.spatial import cKDTree

    cand = np.flatnonzero(eligible)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(cand) == 0 or len(px) == 0:
        return empty
    tree = cKDTree(np.column_stack([graph.x[cand], graph.y[cand]]))
    bound = max_snap_m * (1 + 1e-12) + 1e-9  # cKDTree's bound is strict; filter below
    d, i = tree.query(np.column_stack([px, py]), k=1, distance_upper_bound=bound)
    ok = np.flatnonzero(d <= max_snap_m)
    return ok.astype(np.int64), cand[i[ok]].astype(np.int64), d[ok].astype(np.float64)


def _snap_to_edges(graph: Graph, px, py, eligible, max_snap_m):
    """Project each point onto its nearest eligible edge within ``max_snap_m``.

    Returns (point positions, target node, connector length, split) where target is an
    end node or a new projection node (indices continue after the leaf nodes, which the
    caller numbers ``V … V+n_snapped−1``), and split describes the edges that are cut:
    ``removed`` (edge positions), the chain edges ``u``, ``v``, ``length_m`` and the
    coordinates ``x``, ``y`` of the projection nodes.
    """
    seg = np.flatnonzero(eligible[graph.edge_u]) if graph.n_edges else np.zeros(0, np.int64)
    none = np.zeros(0, np.int64)
    no_split = {
        "removed": none,
        "u": none,
        "v": none,
        "length_m": np.zeros(0),
        "x": np.zeros(0),
        "y": np.zeros(0),
    }
    if len(seg) == 0 or len(px) == 0:
        return none, none, np.zeros(0), no_split

    ea = graph.edge_u[seg].astype(np.int64)
    eb = graph.edge_v[seg].astype(np.int64)
    ip, iseg, t, dist = _nearest_segments(graph, ea, eb, px, py, max_snap_m)
    e = seg[iseg]
    a, b = ea[iseg], eb[iseg]
    ax, ay = graph.x[a], graph.y[a]
    dx, dy = graph.x[b] - ax, graph.y[b] - ay
    qx, qy = ax + t * dx, ay + t * dy

    # projections at an end use the end node
    geom_len = np.hypot(dx, dy)
    at_a = t * geom_len <= ENDPOINT_TOL_M
    at_b = ~at_a & ((1.0 - t) * geom_len <= ENDPOINT_TOL_M)
    inner = ~(at_a | at_b)
    target = np.where(at_a, a, b).astype(np.int64)

    # interior projections: one node per distinct (edge, t), chained along each edge
    n_snap = len(ip)
    first_new = graph.n_nodes + n_snap
    ii = np.flatnonzero(inner)
    if len(ii) == 0:
        return ip, target, dist, no_split
    order = ii[np.lexsort((t[ii], e[ii]))]
    es, ts = e[order], t[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (es[1:] != es[:-1]) | (ts[1:] != ts[:-1])
    group = np.cumsum(new_group) - 1
    target[order] = first_new + group
    rep = order[new_group]  # one point per projection node, sorted by (edge, t)
    ge, gt = e[rep], t[rep]
    gnode = first_new + np.arange(len(rep), dtype=np.int64)
    glen = graph.edge_length_m[ge]
    first_on_edge = np.ones(len(rep), dtype=bool)
    first_on_edge[1:] = ge[1:] != ge[:-1]
    last_on_edge = np.ones(len(rep), dtype=bool)
    last_on_edge[:-1] = ge[1:] != ge[:-1]
    pos = gt * glen  # metres along the edge from its u end
    prev_node = np.empty(len(rep), dtype=np.int64)
    prev_pos = np.zeros(len(rep))
    prev_node[first_on_edge] = graph.edge_u[ge[first_on_edge]]
    prev_node[~first_on_edge] = gnode[:-1][~first_on_edge[1:]]
    prev_pos[~first_on_edge] = pos[:-1][~first_on_edge[1:]]
    last = np.flatnonzero(last_on_edge)
    split = {
        "removed": ge[first_on_edge],
        "u": np.concatenate([prev_node, gnode[last]]),
        "v": np.concatenate([gnode, graph.edge_v[ge[last]].astype(np.int64)]),
        "length_m": np.concatenate([pos - prev_pos, glen[last] - pos[last]]),
        "x": qx[rep],
        "y": qy[rep],
    }
    return ip, target, dist, split


def _nearest_segments(graph: Graph, ea, eb, px, py, max_snap_m):
    """Nearest segment a–b of each point within ``max_snap_m`` (exact; compiled grid
    search of :func:`facplan.snapping.nearest_segments`, ties: lowest segment position).

    Returns (point positions, segment positions, fraction t along a→b, distance) for the
    points that snap, in increasing point position.
    """
    from facplan.snapping import nearest_segments

    seg, t, dist = nearest_segments(
        px, py, graph.x[ea], graph.y[ea], graph.x[eb], graph.y[eb], max_snap_m
    )
    ip = np.flatnonzero(seg >= 0)
    return ip, seg[ip], t[ip], dist[ip]
