"""Nested 5-, 10- and 15-minute walking areas around facilities (``rings.geojson``).

The m-minute area of a set of facilities is drawn from the walking network itself: every
stretch of street (edge, straight between its end nodes) that a person can walk within
``m × 60 × walk_speed_m_s`` metres of the nearest facility — whole edges, and the reachable
ends of edges that are only partly within reach — widened by :data:`RING_BUFFER_M` on each
side, drawn on a grid of :data:`RING_PIXEL_M` pixels and outlined along the pixel edges
(one vectorised pass, so a city-wide 15-minute area takes seconds, not the minutes a
union of street buffers would). Each area's pixels include the smaller areas', so
5 ⊂ 10 ⊂ 15 holds exactly. A point of the network within the limit (a cell's own leaf
node included: its connector is a street of the attached graph) lies inside its area; a
point inside is at most :func:`ring_tolerance_m` from a street within the limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import shapely
import shapely.geometry

from facplan import distances
from facplan.network import Graph

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["RING_MINUTES", "RING_BUFFER_M", "RING_PIXEL_M", "ring_limits_m", "ring_tolerance_m",
           "walking_areas", "ring_layer"]

#: The life-circle minutes drawn as rings.
RING_MINUTES = (5, 10, 15)
#: Half-width in metres of the band drawn around each reachable street.
RING_BUFFER_M = 25.0
#: Side in metres of the pixels the rings are drawn on (coarser for very large areas).
RING_PIXEL_M = 5.0
#: Most pixels of one drawing grid (the pixel grows to keep within it).
RING_MAX_PIXELS = 6_000_000


def ring_limits_m(walk_speed_m_s: float, minutes: Sequence[int] = RING_MINUTES) -> list[float]:
    """Walking distance in metres of each ring: minutes × 60 × speed."""
    return [float(m) * 60.0 * float(walk_speed_m_s) for m in minutes]


def _reachable_segments(
    graph: Graph, dist: np.ndarray, limit_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points ((K, 2) each) of the parts of edges within ``limit_m``."""
    u, v = graph.edge_u.astype(np.int64), graph.edge_v.astype(np.int64)
    length = graph.edge_length_m
    du, dv = dist[u], dist[v]
    pu = np.column_stack([graph.x[u], graph.y[u]])
    pv = np.column_stack([graph.x[v], graph.y[v]])
    with np.errstate(invalid="ignore", divide="ignore"):
        # fraction of the edge reachable from each end (1 for a zero-length edge)
        fu = np.where(length > 0, (limit_m - du) / np.where(length > 0, length, 1.0), 1.0)
        fv = np.where(length > 0, (limit_m - dv) / np.where(length > 0, length, 1.0), 1.0)
    fu = np.where(du <= limit_m, np.clip(fu, 0.0, 1.0), -1.0)
    fv = np.where(dv <= limit_m, np.clip(fv, 0.0, 1.0), -1.0)
    whole = (fu >= 0) & (fv >= 0) & (fu + fv >= 1.0)
    from_u = (fu >= 0) & ~whole
    from_v = (fv >= 0) & ~whole
    starts = [pu[whole], pu[from_u], pv[from_v]]
    ends = [pv[whole],
            pu[from_u] + (pv[from_u] - pu[from_u]) * fu[from_u, None],
            pv[from_v] + (pu[from_v] - pv[from_v]) * fv[from_v, None]]
    return np.concatenate(starts), np.concatenate(ends)


def _pixel_m(extent_m2: float) -> float:
    """Pixel side: :data:`RING_PIXEL_M`, coarser when the area would need more than
    :data:`RING_MAX_PIXELS` pixels."""
    return max(RING_PIXEL_M, math.sqrt(max(extent_m2, 0.0) / RING_MAX_PIXELS))


def ring_tolerance_m(pixel_m: float = RING_PIXEL_M, buffer_m: float = RING_BUFFER_M) -> float:
    """How far a point inside a ring can be from the streets it was drawn from: the band
    (rounded up to whole pixels) plus a pixel diagonal each at both ends."""
    return math.ceil(buffer_m / pixel_m) * pixel_m + 2.0 * math.sqrt(2.0) * pixel_m


def walking_areas(
    graph: Graph, source_nodes: np.ndarray, limits_m: Sequence[float],
    *, buffer_m: float = RING_BUFFER_M,
) -> list[shapely.Geometry | None]:
    """The walking area within each limit of the nearest of ``source_nodes``.

    The reachable streets are drawn on a grid of :func:`_pixel_m` pixels (points every
    half pixel along each reachable part of an edge), widened by ``buffer_m`` (a disk of
    whole pixels) and turned into polygons along the pixel edges. Each limit's pixels
    include the previous limit's, so the polygons are exactly nested; a point of a
    reachable street is inside its polygon, and a point inside is at most
    :func:`ring_tolerance_m` from a reachable street.

    Parameters
    ----------
    graph
        The walking graph (with the facilities' own leaf nodes).
    source_nodes
        Graph nodes of the facilities (negative entries, unsnapped facilities, are
        ignored).
    limits_m
        Increasing walking distances in metres.
    buffer_m
        Half-width of the band around each reachable street, metres.

    Returns
    -------
    list
        One MultiPolygon per limit in ``graph.crs``, each containing the ones before it;
        None for every limit when no facility is on the network.
    """
    from affine import Affine
    from rasterio.features import shapes
    from scipy import ndimage

    src = np.asarray(source_nodes, dtype=np.int64)
    src = src[src >= 0]
    if len(src) == 0:
        return [None] * len(limits_m)
    dist, _ = distances.nearest_source(
        graph.indptr, graph.indices, graph.length_m, src, cutoff=float(max(limits_m))
    )
    segments = []
    for limit in limits_m:
        a, b = _reachable_segments(graph, dist, float(limit))
        ends = np.column_stack([graph.x[src], graph.y[src]])  # a facility with no street
        segments.append((np.concatenate([a, ends]), np.concatenate([b, ends])))
    every = np.concatenate(segments[-1])
    x0, y0 = every.min(axis=0) - buffer_m
    x1, y1 = every.max(axis=0) + buffer_m
    pixel = _pixel_m((x1 - x0) * (y1 - y0))
    n_col = int(math.ceil((x1 - x0) / pixel)) + 5
    n_row = int(math.ceil((y1 - y0) / pixel)) + 5
    x0 -= 2 * pixel
    y_top = y0 - 2 * pixel + n_row * pixel
    transform = Affine(pixel, 0.0, x0, 0.0, -pixel, y_top)
    r = math.ceil(buffer_m / pixel)
    r = max(r, 2)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = (xx * xx + yy * yy) <= (buffer_m / pixel) ** 2 + 2.0  # ≥ the 8 neighbours
    mask = np.zeros((n_row, n_col), dtype=bool)
    out: list[shapely.Geometry | None] = []
    for a, b in segments:
        steps = np.ceil(np.hypot(*(b - a).T) / (pixel / 2.0)).astype(np.int64) + 1
        seg = np.repeat(np.arange(len(a)), steps)
        t = (np.arange(len(seg)) - np.repeat(np.cumsum(steps) - steps, steps)) / np.repeat(
            np.maximum(steps - 1, 1), steps)
        px = a[seg, 0] + (b[seg, 0] - a[seg, 0]) * t
        py = a[seg, 1] + (b[seg, 1] - a[seg, 1]) * t
        col = np.floor((px - x0) / pixel).astype(np.int64)
        row = np.floor((y_top - py) / pixel).astype(np.int64)
        drawn = np.zeros_like(mask)
        drawn[row, col] = True
        mask |= ndimage.binary_dilation(drawn, structure=disk)
        polys = [shapely.geometry.shape(g) for g, v in
                 shapes(mask.astype(np.uint8), mask=mask, connectivity=4, transform=transform)
                 if v == 1]
        out.append(shapely.MultiPolygon(polys))
    return out


def ring_layer(
    graph: Graph | None,
    kind_tiers: Sequence[tuple[str, str]],
    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *, walk_speed_m_s: float, crs: object,
) -> gpd.GeoDataFrame:
    """The rings of a run: one MultiPolygon per kind/tier, state and minutes.

    Parameters
    ----------
    graph
        The walking graph with every facility's and site's leaf node; None (an
        origin–destination table) gives an empty layer.
    kind_tiers
        The ``(kind, tier)`` pairs of the run.
    groups
        ``{"existing": (kind, tier, node), "planned": (kind, tier, node)}``: arrays with
        one entry per facility / chosen site.
    walk_speed_m_s
        The scenario's walking speed.
    crs
        CRS of the layer (the graph's).

    Returns
    -------
    geopandas.GeoDataFrame
        ``kind``, ``tier``, ``state`` (``existing``/``planned``), ``minutes``,
        ``walk_m``, MultiPolygon geometry; largest ring first within each group, so
        that drawn in order the smaller rings lie on top.
    """
    import geopandas as gpd

    rows, geoms = [], []
    limits = ring_limits_m(walk_speed_m_s)
    if graph is not None:
        for kind, tier in kind_tiers:
            for state in ("existing", "planned"):
                kinds, tiers, nodes = groups[state]
                sel = (np.asarray(kinds, dtype=object) == kind) & (
                    np.asarray(tiers, dtype=object) == tier)
                areas = walking_areas(graph, np.asarray(nodes)[sel], limits)
                for minutes, limit, geom in reversed(list(zip(RING_MINUTES, limits, areas,
                                                              strict=True))):
                    if geom is None or geom.is_empty:
                        continue
                    rows.append({"kind": kind, "tier": tier, "state": state,
                                 "minutes": int(minutes), "walk_m": float(limit)})
                    geoms.append(geom)
    cols = ["kind", "tier", "state", "minutes", "walk_m"]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(rows, columns=cols, geometry=geoms, crs=crs)
