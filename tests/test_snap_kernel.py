"""The compiled nearest-segment search against a brute-force pass over every segment.

The reference projects each point onto *all* segments with plain numpy and takes the
smallest distance, ties to the lowest segment position; distances are also checked
against GEOS (shapely), an independent implementation of point–segment distance.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from facplan import network
from facplan.io import network as io_network
from facplan.snapping import component_labels, nearest_segments
from tests.conftest import shared_file


def brute_force(px, py, ax, ay, bx, by, max_snap_m):
    """(segment, t, distance) of every point by projecting it on every segment."""
    seg = np.full(len(px), -1, dtype=np.int64)
    t_out = np.full(len(px), np.nan)
    d_out = np.full(len(px), np.inf)
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    for p in range(len(px)):
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(l2 > 0, ((px[p] - ax) * dx + (py[p] - ay) * dy) / l2, 0.0)
        t = np.clip(t, 0.0, 1.0)
        d = np.hypot(px[p] - (ax + t * dx), py[p] - (ay + t * dy))
        best = int(np.lexsort((np.arange(len(d)), d))[0])  # smallest d, then lowest position
        if d[best] <= max_snap_m:
            seg[p], t_out[p], d_out[p] = best, t[best], d[best]
    return seg, t_out, d_out


def assert_same_as_brute_force(px, py, ax, ay, bx, by, max_snap_m, **kw):
    seg, t, d = nearest_segments(px, py, ax, ay, bx, by, max_snap_m, **kw)
    rseg, rt, rd = brute_force(px, py, ax, ay, bx, by, max_snap_m)
    np.testing.assert_array_equal(seg, rseg)
    ok = rseg >= 0
    np.testing.assert_array_equal(d[ok], rd[ok])  # the same floating-point formula
    np.testing.assert_array_equal(t[ok], rt[ok])
    assert np.all(np.isnan(t[~ok])) and np.all(np.isinf(d[~ok]))
    # projected positions, and distances from an independent implementation (GEOS)
    if ok.any():
        s = seg[ok]
        qx = ax[s] + t[ok] * (bx[s] - ax[s])
        qy = ay[s] + t[ok] * (by[s] - ay[s])
        lines = shapely.linestrings(
            np.stack([np.column_stack([ax[s], ay[s]]), np.column_stack([bx[s], by[s]])], axis=1)
        )
        geos = shapely.distance(shapely.points(px[ok], py[ok]), lines)
        np.testing.assert_allclose(d[ok], geos, rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.hypot(px[ok] - qx, py[ok] - qy), d[ok], rtol=0, atol=1e-9)
    return seg, t, d


def random_network(rng, n_seg=3000, extent=2000.0):
    """Short streets, a few long ones, repeated and zero-length segments, shared ends."""
    ax = rng.uniform(0, extent, n_seg)
    ay = rng.uniform(0, extent, n_seg)
    ang = rng.uniform(0, 2 * np.pi, n_seg)
    length = rng.exponential(25.0, n_seg)
    length[:20] = rng.uniform(500, 2500, 20)  # long segments crossing many grid cells
    bx, by = ax + length * np.cos(ang), ay + length * np.sin(ang)
    bx[20:40], by[20:40] = ax[20:40], ay[20:40]  # zero-length
    ax[40:80], ay[40:80], bx[40:80], by[40:80] = ax[80:120], ay[80:120], bx[80:120], by[80:120]
    ax[120:160], ay[120:160] = bx[160:200], by[160:200]  # chains sharing an end
    # a regular grid of streets: exact ties between parallel segments
    g = np.arange(0, 500, 50.0)
    hx = np.repeat(g[:-1], len(g))
    hy = np.tile(g, len(g) - 1)
    ax = np.concatenate([ax, hx, hy])
    ay = np.concatenate([ay, hy, hx])
    bx = np.concatenate([bx, hx + 50.0, hy])
    by = np.concatenate([by, hy, hx + 50.0])
    return ax, ay, bx, by


def test_random_network_equals_brute_force():
    rng = np.random.default_rng(21)
    ax, ay, bx, by = random_network(rng)
    n = 4000
    px = rng.uniform(-700, 2700, n)
    py = rng.uniform(-700, 2700, n)
    k = 400
    px[:k], py[:k] = ax[:k], ay[:k]  # exactly on segment ends (nodes)
    px[k:2 * k], py[k:2 * k] = bx[k:2 * k], by[k:2 * k]
    mid = np.arange(2 * k, 3 * k)
    px[mid], py[mid] = (ax[mid] + bx[mid]) / 2, (ay[mid] + by[mid]) / 2  # on segments
    # street-grid ties: centres of blocks (4 segments at 25 m), lines between two streets
    px[3 * k:3 * k + 9], py[3 * k:3 * k + 9] = np.arange(25, 450, 50.0), 25.0
    px[3 * k + 9:3 * k + 18], py[3 * k + 9:3 * k + 18] = 75.0, np.arange(25, 450, 50.0)
    seg, _, d = assert_same_as_brute_force(px, py, ax, ay, bx, by, 120.0)
    assert (seg < 0).sum() > 100 and (d <= 1e-9).sum() >= 3 * k  # both cases are exercised
    # one thread and several give the same answer
    seg1, t1, d1 = nearest_segments(px, py, ax, ay, bx, by, 120.0, n_threads=1)
    seg2, t2, d2 = nearest_segments(px, py, ax, ay, bx, by, 120.0, n_threads=3)
    np.testing.assert_array_equal(seg1, seg2)
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(t1, t2)


def test_ties_and_nodes_take_the_lowest_segment():
    # a star of four segments meeting at (0, 0), listed out of order; a square around it
    ax = np.array([0.0, 0.0, 0.0, 0.0, -10, 10, 10, -10])
    ay = np.array([0.0, 0.0, 0.0, 0.0, -10, -10, 10, 10])
    bx = np.array([5.0, 0.0, -5.0, 0.0, 10, 10, -10, -10])
    by = np.array([0.0, 5.0, 0.0, -5.0, -10, 10, 10, -10])
    px = np.array([0.0, 0.0, 3.0, -1.0, 20.0, 7.5])
    py = np.array([0.0, 3.0, 3.0, -1.0, 20.0, 0.0])
    seg, t, d = assert_same_as_brute_force(px, py, ax, ay, bx, by, 500.0)
    # on the node: all four at distance 0, the first listed wins
    assert seg[0] == 0 and d[0] == 0 and t[0] == 0
    assert seg[1] == 1 and d[1] == 0
    assert seg[2] == 0 and d[2] == 3.0  # equidistant from segments 0 and 1: the lower
    assert seg[3] == 2 and d[3] == 1.0  # equidistant from segments 2 and 3
    assert seg[4] == 5 and d[4] == pytest.approx(np.hypot(10, 10))  # corner (10, 10): 5 and 6
    # 2.5 m beyond the end of segment 0 and 2.5 m from the square's side 5: the lower
    assert seg[5] == 0 and d[5] == 2.5 and t[5] == 1.0


def test_max_snap_is_inclusive_and_far_points_are_left_out():
    ax, ay, bx, by = (np.array([v]) for v in (0.0, 0.0, 10.0, 0.0))
    px = np.array([5.0, 5.0, 1e7, 13.0])
    py = np.array([3.0, 3.0 + 1e-9, 0.0, 4.0])
    seg, _, d = nearest_segments(px, py, ax, ay, bx, by, 3.0)
    assert seg.tolist() == [0, -1, -1, -1] and d[0] == 3.0
    seg, _, d = nearest_segments(px, py, ax, ay, bx, by, 5.0)
    assert seg.tolist() == [0, 0, -1, 0] and d[3] == 5.0
    # a huge max_snap_m still finds the one segment from far away
    seg, _, d = nearest_segments(px, py, ax, ay, bx, by, 1e8)
    assert seg.tolist() == [0, 0, 0, 0] and d[2] == 1e7 - 10


def test_degenerate_extents():
    rng = np.random.default_rng(5)
    # all segments on one horizontal line (grid of height zero), one point, one segment
    x = np.sort(rng.uniform(0, 1000, 200))
    ax, bx = x[:-1], x[1:]
    ay = by = np.full(len(ax), 7.0)
    px = rng.uniform(-100, 1100, 500)
    py = rng.uniform(-100, 100, 500)
    assert_same_as_brute_force(px, py, ax, ay, bx, by, 60.0)
    assert_same_as_brute_force(px[:1], py[:1], ax[:1], ay[:1], ax[:1], ay[:1], 1e6)
    seg, t, d = nearest_segments(np.zeros(0), np.zeros(0), ax, ay, bx, by, 10.0)
    assert len(seg) == len(t) == len(d) == 0
    seg, _, _ = nearest_segments(px, py, ax[:0], ay[:0], bx[:0], by[:0], 10.0)
    assert np.all(seg == -1)
    with pytest.raises(ValueError, match="finite"):
        nearest_segments(np.array([np.nan]), np.array([0.0]), ax, ay, bx, by, 10.0)


@pytest.mark.parametrize(
    ("parts", "crs", "n"),
    [
        (("liechtenstein", "liechtenstein.osm.pbf"), "EPSG:32632", 1200),
        (("porto", "porto_portugal.osm.pbf"), "EPSG:32629", 450),
    ],
)
def test_real_network_equals_brute_force(parts, crs, n):
    g = io_network.read_pbf(shared_file(*parts), crs=crs)
    ax, ay = g.x[g.edge_u], g.y[g.edge_u]
    bx, by = g.x[g.edge_v], g.y[g.edge_v]
    rng = np.random.default_rng(3)
    px = rng.uniform(g.x.min() - 300, g.x.max() + 300, n)
    py = rng.uniform(g.y.min() - 300, g.y.max() + 300, n)
    # near the streets (as cells are), and exactly on nodes (every edge at a node ties)
    k = n // 3
    e = rng.integers(0, g.n_edges, k)
    f = rng.uniform(0, 1, k)
    px[:k] = ax[e] + f * (bx[e] - ax[e]) + rng.normal(0, 15, k)
    py[:k] = ay[e] + f * (by[e] - ay[e]) + rng.normal(0, 15, k)
    nodes = rng.integers(0, g.n_nodes, k)
    px[k:2 * k], py[k:2 * k] = g.x[nodes], g.y[nodes]
    seg, t, d = assert_same_as_brute_force(px, py, ax, ay, bx, by, 500.0)
    assert (d[k:2 * k] <= 1e-9).all() and (seg >= 0).sum() > 2 * k
    # the grid built by one thread and by three (Porto: three blocks of segments)
    for n_threads in (1, 3):
        s2, t2, d2 = nearest_segments(px, py, ax, ay, bx, by, 500.0, n_threads=n_threads)
        np.testing.assert_array_equal(s2, seg)
        np.testing.assert_array_equal(t2, t)
        np.testing.assert_array_equal(d2, d)


def test_attach_points_uses_the_nearest_segment():
    """attach_points(snap='edge') on a real network: every connector is as long as the
    brute-force nearest segment, and the point's leaf hangs on that segment's projection."""
    g = io_network.read_pbf(shared_file("liechtenstein", "liechtenstein.osm.pbf"), crs="EPSG:32632")
    rng = np.random.default_rng(8)
    e = rng.integers(0, g.n_edges, 600)
    ax, ay = g.x[g.edge_u], g.y[g.edge_u]
    bx, by = g.x[g.edge_v], g.y[g.edge_v]
    px = ax[e] + rng.uniform(0, 1, len(e)) * (bx[e] - ax[e]) + rng.normal(0, 40, len(e))
    py = ay[e] + rng.uniform(0, 1, len(e)) * (by[e] - ay[e]) + rng.normal(0, 40, len(e))
    att = network.attach_points(g, px, py, snap="edge", max_snap_m=500.0, min_component_nodes=1)
    rseg, rt, rd = brute_force(px, py, ax, ay, bx, by, 500.0)
    np.testing.assert_array_equal(att.node >= 0, rseg >= 0)
    np.testing.assert_array_equal(att.snap_m[rseg >= 0], rd[rseg >= 0])
    aug = att.graph
    for p in np.flatnonzero(rseg >= 0)[:300]:
        leaf = att.node[p]
        target = aug.indices[aug.indptr[leaf]]  # a leaf has one neighbour: its projection
        s = rseg[p]
        qx = ax[s] + rt[p] * (bx[s] - ax[s])
        qy = ay[s] + rt[p] * (by[s] - ay[s])
        assert np.hypot(aug.x[target] - qx, aug.y[target] - qy) <= 2e-9


def test_component_labels_equal_scipy():
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    g = io_network.read_pbf(shared_file("liechtenstein", "liechtenstein.osm.pbf"), crs="EPSG:32632")
    n, labels = component_labels(g.indptr, g.indices)
    adj = sp.csr_matrix((np.ones(len(g.indices)), g.indices, g.indptr),
                        shape=(g.n_nodes, g.n_nodes))
    n_ref, ref = connected_components(adj, directed=False)
    assert n == n_ref > 1 and labels.dtype == np.int32
    np.testing.assert_array_equal(labels, ref)
