"""Where features enter the walking network: entrances, polygon boundaries, hubs.

DESIGN, *Contracts added on 2026-12-03* (*Entrances and polygon sites*): a feature (a
population cell, an existing facility, a candidate) may enter the network at several
points — its given entrances, or, for a polygon facility or candidate without entrances,
every point where a walkable edge crosses or touches its boundary (within
:data:`TOUCH_M`) and every network node inside it. Its distance is the minimum over
those entries.

Every entry point is attached with :func:`facplan.network.attach_points` (its own leaf
and connector, exactly as a single point is). A feature with one attached entry uses
that leaf as its node, so single-point inputs give the very graph they always did. A
feature with several gets one *hub* node joined to its entries by zero-length **one-way
arcs**: hub → entry for a search source (facility, candidate), entry → hub for a search
target (cell). Searches in :mod:`facplan.distances` follow the CSR arcs as given, so a
search from a site hub leaves through every entrance at once (distance = minimum over
its entrances), a search reaching any entrance of a cell arrives at the cell's hub, and
no path ever passes *through* a hub (a source hub has no incoming arc, a target hub no
outgoing one). The hub arcs exist only in the CSR arrays (``indptr``, ``indices``,
``length_m``); ``edge_u``/``edge_v`` stay the undirected street edges and connectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import shapely

from facplan import network
from facplan.network import Graph

__all__ = [
    "TOUCH_M",
    "LONG_SNAP_M",
    "EntryPoints",
    "FeatureLayer",
    "AttachedLayers",
    "boundary_entries",
    "attach_layers",
    "is_polygon",
]

#: An edge within this distance (metres) of a polygon's boundary touches it.
TOUCH_M = 1.0
#: Attachments longer than this (metres) are counted in a warning.
LONG_SNAP_M = 200.0

Role = Literal["source", "target"]


@dataclass(frozen=True)
class EntryPoints:
    """Entry points of some features of one layer.

    Attributes
    ----------
    row
        int64 (K,) position of the owning feature in its layer.
    x, y
        float64 (K,) coordinates in the graph's CRS, metres.
    """

    row: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @classmethod
    def empty(cls) -> EntryPoints:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


@dataclass(frozen=True)
class FeatureLayer:
    """One layer to attach.

    Attributes
    ----------
    geometry
        (N,) shapely geometries in the graph's CRS.
    entrances
        Given entrances (features without any use the default entry).
    role
        ``"source"`` (sites: searches start there) or ``"target"`` (cells).
    boundary
        Polygons without entrances enter at their boundary (facilities, candidates);
        otherwise at ``representative_point()`` (population).
    """

    geometry: np.ndarray
    entrances: EntryPoints | None
    role: Role
    boundary: bool


@dataclass(frozen=True, eq=False)
class AttachedLayers:
    """Layers attached by :func:`attach_layers`.

    Attributes
    ----------
    graph
        The augmented graph (leaves, projection nodes, then hubs).
    node
        Per layer, int64 (N,) node of each feature (its leaf, or its hub); −1 when no
        entry of it could be attached.
    snap_m
        Per layer, float64 (N,) shortest connector of the feature's attached entries,
        metres (NaN when not attached).
    n_entries
        Per layer, int64 (N,) number of attached entries.
    default_point
        Per layer, bool (N,) polygons that entered at ``representative_point()``.
    """

    graph: Graph
    node: list[np.ndarray]
    snap_m: list[np.ndarray]
    n_entries: list[np.ndarray] = field(default_factory=list)
    default_point: list[np.ndarray] = field(default_factory=list)


def is_polygon(geom: np.ndarray) -> np.ndarray:
    """True for Polygon and MultiPolygon geometries."""
    t = shapely.get_type_id(geom)
    return np.asarray((t == 3) | (t == 6))


def _eligible_nodes(graph: Graph, min_component_nodes: int) -> np.ndarray:
    labels, sizes = network.components(graph)
    if len(labels) == 0:
        return np.zeros(0, dtype=bool)
    return sizes[labels] >= min_component_nodes


def boundary_entries(
    graph: Graph,
    polygons: np.ndarray,
    *,
    min_component_nodes: int = 50,
    touch_m: float = TOUCH_M,
) -> tuple[EntryPoints, np.ndarray, np.ndarray]:
    """Where polygons are entered from the network when no entrances are given.

    Only edges and nodes of components with at least ``min_component_nodes`` nodes count
    (the snap targets of :func:`facplan.network.attach_points`).

    Parameters
    ----------
    graph
        The walking graph (projected CRS, metres).
    polygons
        (N,) shapely polygons in ``graph.crs``.
    min_component_nodes
        Smallest component whose edges and nodes count.
    touch_m
        An edge within this distance (metres) of a polygon touches it.

    Returns
    -------
    points : EntryPoints
        Points to attach: every point where an edge crosses the boundary (or runs along
        it: the ends of the shared stretch); for an edge within ``touch_m`` that does
        not meet the boundary, the boundary point nearest to it; for a polygon that no
        edge reaches, the boundary point nearest to the network (``max_snap_m`` then
        decides whether it attaches).
    node_row, node : numpy.ndarray
        int64 (M,) polygon position and graph node of every eligible node inside or on
        a polygon (entered with no connector).
    """
    polygons = np.asarray(polygons, dtype=object)
    n = len(polygons)
    none = np.zeros(0, np.int64)
    elig = _eligible_nodes(graph, min_component_nodes)
    if n == 0 or graph.n_edges == 0 or not elig.any():
        return EntryPoints.empty(), none, none
    seg = np.flatnonzero(elig[graph.edge_u])
    ea = graph.edge_u[seg].astype(np.int64)
    eb = graph.edge_v[seg].astype(np.int64)
    coords = np.empty((len(seg), 2, 2))
    coords[:, 0, 0], coords[:, 0, 1] = graph.x[ea], graph.y[ea]
    coords[:, 1, 0], coords[:, 1, 1] = graph.x[eb], graph.y[eb]
    lines = shapely.linestrings(coords)
    tree = shapely.STRtree(lines)
    boundary = shapely.boundary(polygons)

    pi, si = tree.query(boundary, predicate="dwithin", distance=touch_m)
    rows, xs, ys = [], [], []
    if len(pi):
        inter = shapely.intersection(lines[si], boundary[pi])
        xy, idx = shapely.get_coordinates(inter, return_index=True)
        rows.append(pi[idx])
        xs.append(xy[:, 0])
        ys.append(xy[:, 1])
        miss = np.flatnonzero(shapely.is_empty(inter))
        if len(miss):  # within touch_m of the boundary without meeting it
            near = shapely.get_point(shapely.shortest_line(boundary[pi[miss]], lines[si[miss]]), 0)
            rows.append(pi[miss])
            xs.append(shapely.get_x(near))
            ys.append(shapely.get_y(near))

    nodes = np.flatnonzero(elig)
    ntree = shapely.STRtree(shapely.points(graph.x[nodes], graph.y[nodes]))
    qi, ni = ntree.query(polygons, predicate="intersects")
    node_row, node = qi.astype(np.int64), nodes[ni].astype(np.int64)

    reached = np.zeros(n, dtype=bool)
    for r in rows:
        reached[r] = True
    reached[node_row] = True
    rest = np.flatnonzero(~reached)
    if len(rest):
        qi2, si2 = tree.query_nearest(polygons[rest], all_matches=False)
        near = shapely.get_point(shapely.shortest_line(polygons[rest[qi2]], lines[si2]), 0)
        rows.append(rest[qi2])
        xs.append(shapely.get_x(near))
        ys.append(shapely.get_y(near))
    row = np.concatenate(rows).astype(np.int64) if rows else none
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    order = np.argsort(row, kind="stable")
    norder = np.lexsort((node, node_row))
    return EntryPoints(row[order], x[order], y[order]), node_row[norder], node[norder]


def attach_layers(
    graph: Graph,
    layers: list[FeatureLayer],
    *,
    snap: str = "edge",
    max_snap_m: float = 500.0,
    min_component_nodes: int = 50,
    touch_m: float = TOUCH_M,
) -> AttachedLayers:
    """Attach every feature of every layer to one augmented graph.

    A feature enters at its entrances when it has any (and only there); otherwise a
    polygon of a ``boundary`` layer enters at its boundary (:func:`boundary_entries`),
    and any other feature at its point, or its ``representative_point()``.

    Parameters
    ----------
    graph
        The walking graph (projected CRS, metres).
    layers
        The layers, e.g. cells (``target``), facilities and candidates (``source``).
    snap, max_snap_m, min_component_nodes
        As :func:`facplan.network.attach_points`; ``max_snap_m`` applies to every entry.
    touch_m
        See :func:`boundary_entries`.

    Returns
    -------
    AttachedLayers
    """
    n_layers = len(layers)
    sizes = [len(lay.geometry) for lay in layers]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_feat = int(offsets[-1])
    role = np.concatenate([
        np.full(s, lay.role == "source", dtype=bool) for s, lay in zip(sizes, layers, strict=True)
    ]) if n_feat else np.zeros(0, dtype=bool)

    pt_owner, pt_x, pt_y = [], [], []
    nd_owner, nd_node = [], []
    default_point = []
    for k, lay in enumerate(layers):
        geom = np.asarray(lay.geometry, dtype=object)
        has = np.zeros(len(geom), dtype=bool)
        if lay.entrances is not None and len(lay.entrances.row):
            e = lay.entrances
            has[e.row] = True
            pt_owner.append(offsets[k] + e.row)
            pt_x.append(e.x)
            pt_y.append(e.y)
        poly = is_polygon(geom) & ~has
        boundary = poly if lay.boundary else np.zeros(len(geom), dtype=bool)
        default_point.append(poly & ~boundary)
        if boundary.any():
            at = np.flatnonzero(boundary)
            pts, nrow, nnode = boundary_entries(
                graph, geom[at], min_component_nodes=min_component_nodes, touch_m=touch_m
            )
            pt_owner.append(offsets[k] + at[pts.row])
            pt_x.append(pts.x)
            pt_y.append(pts.y)
            nd_owner.append(offsets[k] + at[nrow])
            nd_node.append(nnode)
        plain = np.flatnonzero(~has & ~boundary)
        if len(plain):
            p = shapely.point_on_surface(geom[plain])
            pt_owner.append(offsets[k] + plain)
            pt_x.append(shapely.get_x(p))
            pt_y.append(shapely.get_y(p))

    owner = np.concatenate(pt_owner).astype(np.int64) if pt_owner else np.zeros(0, np.int64)
    px = np.concatenate(pt_x) if pt_x else np.zeros(0)
    py = np.concatenate(pt_y) if pt_y else np.zeros(0)
    att = network.attach_points(
        graph, px, py, snap=snap, max_snap_m=max_snap_m,
        min_component_nodes=min_component_nodes,
    )
    ok = att.node >= 0
    e_owner = np.concatenate([owner[ok], *nd_owner]).astype(np.int64)
    e_node = np.concatenate([att.node[ok], *nd_node]).astype(np.int64)
    e_conn = np.concatenate([att.snap_m[ok], *[np.zeros(len(a)) for a in nd_node]])
    # one entry per (feature, node): the shortest connector
    order = np.lexsort((e_conn, e_node, e_owner))
    e_owner, e_node, e_conn = e_owner[order], e_node[order], e_conn[order]
    first = np.ones(len(e_owner), dtype=bool)
    first[1:] = (e_owner[1:] != e_owner[:-1]) | (e_node[1:] != e_node[:-1])
    e_owner, e_node, e_conn = e_owner[first], e_node[first], e_conn[first]

    count = np.bincount(e_owner, minlength=n_feat).astype(np.int64)
    snap_m = np.full(n_feat, np.nan)
    if len(e_owner):
        best = np.full(n_feat, np.inf)
        np.minimum.at(best, e_owner, e_conn)
        snap_m = np.where(count > 0, best, np.nan)
    node = np.full(n_feat, -1, dtype=np.int64)
    single = count[e_owner] == 1
    node[e_owner[single]] = e_node[single]

    g = att.graph
    multi_feat = np.flatnonzero(count > 1)
    if len(multi_feat):
        v0 = g.n_nodes
        hub_of = np.full(n_feat, -1, dtype=np.int64)
        hub_of[multi_feat] = v0 + np.arange(len(multi_feat), dtype=np.int64)
        node[multi_feat] = hub_of[multi_feat]
        m = count[e_owner] > 1
        hub = hub_of[e_owner[m]]
        ent = e_node[m]
        src_hub = role[e_owner[m]]
        arc_src = np.where(src_hub, hub, ent)
        arc_dst = np.where(src_hub, ent, hub)
        hx = np.bincount(e_owner[m], weights=g.x[ent], minlength=n_feat)[multi_feat]
        hy = np.bincount(e_owner[m], weights=g.y[ent], minlength=n_feat)[multi_feat]
        g = _with_arcs(g, len(multi_feat), hx / count[multi_feat], hy / count[multi_feat],
                       arc_src, arc_dst)

    split = [slice(offsets[k], offsets[k + 1]) for k in range(n_layers)]
    return AttachedLayers(
        graph=g,
        node=[node[s] for s in split],
        snap_m=[snap_m[s] for s in split],
        n_entries=[count[s] for s in split],
        default_point=default_point,
    )


def _with_arcs(
    g: Graph, n_hubs: int, hx: np.ndarray, hy: np.ndarray, arc_src: np.ndarray,
    arc_dst: np.ndarray,
) -> Graph:
    """``g`` with ``n_hubs`` new nodes and zero-length one-way arcs (CSR only)."""
    v = g.n_nodes + n_hubs
    src = np.concatenate([np.repeat(np.arange(g.n_nodes, dtype=np.int64), np.diff(g.indptr)),
                          arc_src])
    dst = np.concatenate([g.indices.astype(np.int64), arc_dst])
    w = np.concatenate([g.length_m, np.zeros(len(arc_src))])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(v + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=v), out=indptr[1:])
    return Graph(
        indptr=indptr,
        indices=np.ascontiguousarray(dst[order], dtype=np.int32),
        length_m=np.ascontiguousarray(w[order]),
        x=np.concatenate([g.x, hx]),
        y=np.concatenate([g.y, hy]),
        node_id=np.concatenate([g.node_id, np.full(n_hubs, -1, dtype=np.int64)]),
        edge_u=g.edge_u,
        edge_v=g.edge_v,
        edge_length_m=g.edge_length_m,
        crs=g.crs,
    )


def long_snap_warning(snap_m: dict[str, np.ndarray], *, limit_m: float = LONG_SNAP_M) -> str | None:
    """The warning counting attachments longer than ``limit_m`` (``snap_m`` maps a
    plural noun, e.g. ``"cells"``, to its features' connector lengths), or None."""
    counts = {k: int(np.count_nonzero(np.nan_to_num(v, nan=0.0) > limit_m))
              for k, v in snap_m.items()}
    said = [f"{n} {k}" for k, n in counts.items() if n]
    if not said:
        return None
    return (", ".join(said) + f" are joined to the walking network by a straight connector "
            f"longer than {limit_m:g} m (it may cross water, rails or walls); see the "
            "'snap_m' column of demand.geojson, sites.geojson and candidates.geojson, and "
            "check the coordinates or give 'entrances'")


def wide_polygons(geom: np.ndarray, width_m: float) -> np.ndarray:
    """True for polygons whose oriented bounding rectangle has a side longer than
    ``width_m``."""
    out = np.zeros(len(geom), dtype=bool)
    poly = np.flatnonzero(is_polygon(geom))
    if len(poly) == 0:
        return out
    rect = shapely.oriented_envelope(geom[poly])
    xy, idx = shapely.get_coordinates(rect, return_index=True)
    side = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
    same = idx[1:] == idx[:-1]
    longest = np.zeros(len(poly))
    np.maximum.at(longest, idx[1:][same], side[same])
    out[poly] = longest > width_m
    return out
