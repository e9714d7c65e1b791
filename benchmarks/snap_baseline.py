"""The edge-snapping search facplan used before its compiled kernel (for the benchmark).

A verbatim copy of ``facplan.network._nearest_segments`` as of commit 3440285 (shapely
STRtree boxes plus numpy projection): ``benchmarks/run.py --case snap`` times it against
:func:`facplan.snapping.nearest_segments` on the same points and checks that both give
the same segment, projection and distance for every point.
"""

from __future__ import annotations

import numpy as np

#: Half-side (metres) of the largest search box before falling back to GEOS's
#: nearest-neighbour query.
_BOX_M = 100.0


def _project(px, py, ax, ay, bx, by):
    """Fraction t ∈ [0, 1] of the projection of p onto segment a–b, and the distance."""
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(l2 > 0, ((px - ax) * dx + (py - ay) * dy) / l2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return t, np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def nearest_segments_strtree(graph, ea, eb, px, py, max_snap_m, *, chunk: int = 50_000):
    """Nearest segment a–b of each point within ``max_snap_m`` (exact, vectorized).

    The nearest segment is no farther than the nearest segment end (distance ``r``), so
    it is among the segments whose bounding boxes meet the square of half-side
    ``min(r, max_snap_m, _BOX_M)`` around the point (found with a shapely STRtree); the
    exact projection picks it (ties: lowest segment position). A point whose best
    candidate lies outside a box capped at ``_BOX_M`` is settled by GEOS's nearest query
    instead, so a point far from the streets never pulls in a large box of segments.

    Returns (point positions, segment positions, fraction t along a→b, distance) for the
    points that snap.
    """
    import shapely
    from scipy.spatial import cKDTree

    is_end = np.zeros(graph.n_nodes, dtype=bool)
    is_end[ea] = True
    is_end[eb] = True
    ends = np.flatnonzero(is_end)
    d_end, _ = cKDTree(np.column_stack([graph.x[ends], graph.y[ends]])).query(
        np.column_stack([px, py])
    )
    exact_r = np.minimum(d_end, max_snap_m)
    radius = np.minimum(exact_r, _BOX_M) * (1 + 1e-9) + 1e-6
    coords = np.empty((len(ea), 2, 2))
    coords[:, 0, 0], coords[:, 0, 1] = graph.x[ea], graph.y[ea]
    coords[:, 1, 0], coords[:, 1, 1] = graph.x[eb], graph.y[eb]
    tree = shapely.STRtree(shapely.linestrings(coords))

    def best_of(ip, iseg):
        t, dist = _project(
            px[ip], py[ip], graph.x[ea[iseg]], graph.y[ea[iseg]], graph.x[eb[iseg]],
            graph.y[eb[iseg]],
        )
        best = np.lexsort((iseg, dist, ip))
        first = np.ones(len(best), dtype=bool)
        first[1:] = ip[best][1:] != ip[best][:-1]
        best = best[first]
        return ip[best], iseg[best], t[best], dist[best]

    out = []
    settled = np.zeros(len(px), dtype=bool)
    for lo in range(0, len(px), chunk):
        hi = min(lo + chunk, len(px))
        r = radius[lo:hi]
        x, y = px[lo:hi], py[lo:hi]
        ip, iseg = tree.query(shapely.box(x - r, y - r, x + r, y + r))
        ip, iseg, t, dist = best_of(ip.astype(np.int64) + lo, iseg.astype(np.int64))
        # exact when the best candidate lies within the box's inscribed circle
        ok = (dist <= radius[ip]) | (exact_r[ip] <= _BOX_M)
        settled[ip[ok]] = True
        out.append((ip[ok], iseg[ok], t[ok], dist[ok]))
    rest = np.flatnonzero(~settled & (exact_r > _BOX_M))
    if len(rest):
        pairs = tree.query_nearest(
            shapely.points(px[rest], py[rest]),
            max_distance=max_snap_m * (1 + 1e-9) + 1e-6,
            all_matches=True,
        )
        out.append(best_of(rest[pairs[0]].astype(np.int64), pairs[1].astype(np.int64)))
    ip, iseg, t, dist = (np.concatenate([o[k] for o in out]) for k in range(4))
    order = np.argsort(ip, kind="stable")
    keep = order[dist[order] <= max_snap_m]
    return ip[keep], iseg[keep], t[keep], dist[keep]
