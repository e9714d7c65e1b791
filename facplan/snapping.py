"""Nearest-segment search: arrays in, arrays out (the kernels behind attaching points).

:func:`nearest_segments` finds, for every point, the nearest of a set of straight
segments a–b and the exact projection onto it, in the style of :mod:`facplan.distances`:
a compiled (numba, ``nogil``) kernel run on several threads.

The segments are put in a uniform grid: each segment is cut into pieces no longer than a
grid cell and registered in every cell that a piece's bounding box (widened by
:data:`_REG_TOL_M`) meets, so every point of a segment lies in a cell that lists it. A
point then visits the cells around its own in square rings of growing size, projecting
onto each listed segment, and stops as soon as its best distance is shorter than the
distance from the point to any cell not yet visited (or than ``max_snap_m`` is). The
result is therefore exact: the segment of smallest projected distance (ties: the lowest
segment position), with the projection computed by the same floating-point formula as a
brute-force pass over all segments (:func:`project`).

:func:`component_labels` gives the connected components that decide which segments are
snap targets (a compiled breadth-first pass).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from facplan.distances import default_threads

__all__ = ["nearest_segments", "project", "component_labels"]

#: Widening (metres) of each piece's bounding box when it is registered in the grid, and
#: the margin kept when a ring search stops; both far above the rounding of coordinates
#: of up to 10^7 m (about 2e-9 m), far below anything a planner measures.
_REG_TOL_M = 1e-6

#: Largest number of grid cells, whatever the extent of the segments (memory bound).
_MAX_CELLS = 1 << 25

#: Points per task of the threaded query.
_CHUNK = 16_384


def project(px, py, ax, ay, bx, by):
    """Fraction t ∈ [0, 1] of the projection of p onto segment a–b, and the distance.

    The formula (vectorised with numpy) that :func:`nearest_segments` evaluates in its
    kernel, operation for operation, so both give the same floating-point numbers.
    A zero-length segment gives t = 0.
    """
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(l2 > 0, ((px - ax) * dx + (py - ay) * dy) / l2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return t, np.hypot(px - (ax + t * dx), py - (ay + t * dy))


# --------------------------------------------------------------------------- kernels


@njit(cache=True, nogil=True)
def _register(
    ax, ay, bx, by, s_lo, s_hi, x0, y0, h, nx, ny, tol, fill_mode, counts, cell_seg, cell_xy,
):  # pragma: no cover - compiled
    """Register segments ``s_lo:s_hi`` in the grid cells their pieces meet.

    ``fill_mode`` false: add one to ``counts[c]`` per (segment, cell c). True: ``counts``
    holds each cell's next free entry; write the segment's position into ``cell_seg`` and
    its ends into ``cell_xy`` there and advance it.
    """
    inv_h = 1.0 / h
    for s in range(s_lo, s_hi):
        dx = bx[s] - ax[s]
        dy = by[s] - ay[s]
        n_piece = max(1, int(math.ceil(math.sqrt(dx * dx + dy * dy) * inv_h)))
        last_lo_i, last_hi_i, last_lo_j, last_hi_j = -1, -2, -1, -2
        for k in range(n_piece):
            if n_piece == 1:
                xa, xb, ya, yb = ax[s], bx[s], ay[s], by[s]
            else:
                t0 = k / n_piece
                t1 = (k + 1) / n_piece
                xa = ax[s] + t0 * dx
                xb = ax[s] + t1 * dx
                ya = ay[s] + t0 * dy
                yb = ay[s] + t1 * dy
            # (widened by tol, so rounding in the cell index never loses a cell)
            lo_i = max(int(math.floor((min(xa, xb) - tol - x0) * inv_h)), 0)
            hi_i = min(int(math.floor((max(xa, xb) + tol - x0) * inv_h)), nx - 1)
            lo_j = max(int(math.floor((min(ya, yb) - tol - y0) * inv_h)), 0)
            hi_j = min(int(math.floor((max(ya, yb) + tol - y0) * inv_h)), ny - 1)
            for j in range(lo_j, hi_j + 1):
                for i in range(lo_i, hi_i + 1):
                    # skip the cells the previous piece already listed the segment in
                    if last_lo_i <= i <= last_hi_i and last_lo_j <= j <= last_hi_j:
                        continue
                    c = j * nx + i
                    if fill_mode:
                        f = counts[c]
                        cell_seg[f] = s
                        cell_xy[f, 0] = ax[s]
                        cell_xy[f, 1] = ay[s]
                        cell_xy[f, 2] = bx[s]
                        cell_xy[f, 3] = by[s]
                        counts[c] = f + 1
                    else:
                        counts[c] += 1
            last_lo_i, last_hi_i, last_lo_j, last_hi_j = lo_i, hi_i, lo_j, hi_j


@njit(cache=True, nogil=True)
def _query(
    px, py, cell_ptr, cell_seg, cell_xy, x0, y0, h, nx, ny, max_snap_m, tol,
    out_seg, out_t, out_d,
):  # pragma: no cover - compiled
    """Nearest segment of each point (ring search over the grid); writes the outputs.

    A cell is skipped when its box is farther than the best distance so far (or than
    ``max_snap_m``), and a segment's ``hypot`` only computed when its squared distance
    can win; both tests keep a margin, so they never drop a winner or a tie.
    """
    x1 = x0 + nx * h
    y1 = y0 + ny * h
    for p in range(px.shape[0]):
        x = px[p]
        y = py[p]
        best_d = np.inf
        best_s = -1
        best_t = 0.0
        # every listed cell lies in the grid's box: no farther than max_snap_m, or skip
        to_grid = np.hypot(max(x0 - x, 0.0, x - x1), max(y0 - y, 0.0, y - y1))
        if to_grid - tol <= max_snap_m:
            # start at the grid cell nearest the point (cells beyond the grid hold nothing)
            ci = int(min(max(math.floor((x - x0) / h), -1.0), float(nx)))
            cj = int(min(max(math.floor((y - y0) / h), -1.0), float(ny)))
            k = 0
            while True:
                lo_i, hi_i, lo_j, hi_j = ci - k, ci + k, cj - k, cj + k
                for j in range(max(lo_j, 0), min(hi_j, ny - 1) + 1):
                    if j == lo_j or j == hi_j:  # the ring's first and last rows: all cells
                        i_start, i_stop, i_step = max(lo_i, 0), min(hi_i, nx - 1) + 1, 1
                    else:  # rows in between: the ring's two end cells
                        i_start, i_stop, i_step = lo_i, hi_i + 1, max(hi_i - lo_i, 1)
                    for i in range(i_start, i_stop, i_step):
                        if i < 0 or i >= nx:
                            continue
                        lim = min(best_d, max_snap_m) + tol
                        cx = max(x0 + i * h - x, 0.0, x - (x0 + (i + 1) * h))
                        cy = max(y0 + j * h - y, 0.0, y - (y0 + (j + 1) * h))
                        if cx * cx + cy * cy > lim * lim:
                            continue
                        c = j * nx + i
                        for e in range(cell_ptr[c], cell_ptr[c + 1]):
                            sax = cell_xy[e, 0]
                            say = cell_xy[e, 1]
                            dx = cell_xy[e, 2] - sax
                            dy = cell_xy[e, 3] - say
                            l2 = dx * dx + dy * dy
                            if l2 > 0:
                                t = ((x - sax) * dx + (y - say) * dy) / l2
                            else:
                                t = 0.0
                            if t < 0.0:
                                t = 0.0
                            elif t > 1.0:
                                t = 1.0
                            ex = x - (sax + t * dx)
                            ey = y - (say + t * dy)
                            # ex² + ey² is within 1e-12 of hypot()²: skip only sure losers
                            if ex * ex + ey * ey > lim * lim * (1.0 + 1e-12):
                                continue
                            d = np.hypot(ex, ey)
                            s = cell_seg[e]
                            if d < best_d or (d == best_d and s < best_s):
                                best_d = d
                                best_s = s
                                best_t = t
                                lim = min(best_d, max_snap_m) + tol
                # distance from the point to the nearest grid cell not yet visited
                margin = np.inf
                if lo_i > 0:
                    margin = min(margin, x - (x0 + lo_i * h))
                if hi_i < nx - 1:
                    margin = min(margin, (x0 + (hi_i + 1) * h) - x)
                if lo_j > 0:
                    margin = min(margin, y - (y0 + lo_j * h))
                if hi_j < ny - 1:
                    margin = min(margin, (y0 + (hi_j + 1) * h) - y)
                if margin == np.inf:
                    break  # the whole grid is visited
                margin = max(margin, to_grid) - tol
                if best_d < margin or margin > max_snap_m:
                    break
                k += 1
        if best_s >= 0 and best_d <= max_snap_m:
            out_seg[p] = best_s
            out_t[p] = best_t
            out_d[p] = best_d
        else:
            out_seg[p] = -1
            out_t[p] = np.nan
            out_d[p] = np.inf


@njit(cache=True, nogil=True)
def _labels_kernel(indptr, indices):  # pragma: no cover - compiled
    n_nodes = indptr.shape[0] - 1
    labels = np.full(n_nodes, -1, dtype=np.int32)
    queue = np.empty(max(n_nodes, 1), dtype=np.int64)
    n_comp = 0
    for start in range(n_nodes):
        if labels[start] >= 0:
            continue
        labels[start] = n_comp
        head = 0
        tail = 1
        queue[0] = start
        while head < tail:
            u = queue[head]
            head += 1
            for e in range(indptr[u], indptr[u + 1]):
                w = indices[e]
                if labels[w] < 0:
                    labels[w] = n_comp
                    queue[tail] = w
                    tail += 1
        n_comp += 1
    return n_comp, labels


# --------------------------------------------------------------------------- public


def component_labels(indptr: np.ndarray, indices: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of an undirected CSR graph (every edge stored both ways).

    Returns
    -------
    n_components : int
    labels : numpy.ndarray
        int32 (V,) label of each node, numbered in the order of each component's lowest
        node (as ``scipy.sparse.csgraph.connected_components``).
    """
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    n, labels = _labels_kernel(indptr, indices)
    return int(n), labels


def _run_tasks(fn, tasks: list, n_threads: int) -> None:
    """``fn(*task)`` for every task, on up to ``n_threads`` threads (the kernels release
    the GIL)."""
    if n_threads == 1 or len(tasks) <= 1:
        for task in tasks:
            fn(*task)
    else:
        with ThreadPoolExecutor(max_workers=min(n_threads, len(tasks))) as pool:
            list(pool.map(lambda task: fn(*task), tasks))


def _build_grid(ax, ay, bx, by, x0, y0, h, nx, ny, n_threads: int):
    """The grid as CSR arrays: cell c lists entries ``cell_ptr[c]:cell_ptr[c + 1]`` of
    ``cell_seg`` (segment positions, ascending) and ``cell_xy`` (their ends ax, ay, bx,
    by, copied so that a cell's segments are read from contiguous memory).

    A counting sort run on threads: each thread counts its block of segments per cell,
    then fills its own part of every cell (blocks in order, so positions ascend).
    """
    n_seg, n_cell = len(ax), nx * ny
    n_blocks = max(1, min(n_threads, n_seg // 100_000))
    edges = np.linspace(0, n_seg, n_blocks + 1).astype(np.int64)
    blocks = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
    counts = np.zeros((n_blocks, n_cell), dtype=np.int64)
    none_seg, none_xy = np.empty(0, dtype=np.int32), np.empty((0, 4))

    def count(b: int, lo: int, hi: int) -> None:
        _register(ax, ay, bx, by, lo, hi, x0, y0, h, nx, ny, _REG_TOL_M, False, counts[b],
                  none_seg, none_xy)

    _run_tasks(count, [(b, lo, hi) for b, (lo, hi) in enumerate(blocks)], n_threads)
    cell_ptr = np.zeros(n_cell + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=cell_ptr[1:])
    # block b fills cell c after the entries of blocks 0 … b−1 there (in place: the
    # counts become each block's next free entry per cell)
    fill = counts
    running = cell_ptr[:-1].copy()
    for b in range(n_blocks):
        mine = fill[b].copy()
        fill[b] = running
        running += mine
    del running, mine
    cell_seg = np.empty(cell_ptr[-1], dtype=np.int32)
    cell_xy = np.empty((cell_ptr[-1], 4), dtype=np.float64)

    def put(b: int, lo: int, hi: int) -> None:
        _register(ax, ay, bx, by, lo, hi, x0, y0, h, nx, ny, _REG_TOL_M, True, fill[b],
                  cell_seg, cell_xy)

    _run_tasks(put, [(b, lo, hi) for b, (lo, hi) in enumerate(blocks)], n_threads)
    return cell_ptr, cell_seg, cell_xy


def _grid(ax, ay, bx, by):
    """Origin, cell size and shape of the grid over the segments' extent."""
    xmin = float(min(ax.min(), bx.min()))
    xmax = float(max(ax.max(), bx.max()))
    ymin = float(min(ay.min(), by.min()))
    ymax = float(max(ay.max(), by.max()))
    w, hgt = max(xmax - xmin, 1.0), max(ymax - ymin, 1.0)
    seg_len = np.hypot(bx - ax, by - ay)
    # about one segment per cell, never finer than the typical segment
    h = max(math.sqrt(w * hgt / max(len(ax), 1)), float(np.median(seg_len)), 1.0)
    h = max(h, math.sqrt(w * hgt / _MAX_CELLS))
    nx = int(w // h) + 1
    ny = int(hgt // h) + 1
    return xmin, ymin, h, nx, ny


def nearest_segments(
    px: np.ndarray,
    py: np.ndarray,
    ax: np.ndarray,
    ay: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    max_snap_m: float,
    *,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest segment of every point within ``max_snap_m``, with the exact projection.

    Parameters
    ----------
    px, py
        float (P,) point coordinates, metres (a projected CRS); must be finite.
    ax, ay, bx, by
        float (S,) segment end coordinates, same CRS; zero-length segments allowed.
    max_snap_m
        Points farther than this (metres) from every segment get no segment.
    n_threads
        Threads to use; default: the CPUs available (as :func:`facplan.distances.bounded_matrix`).

    Returns
    -------
    seg : numpy.ndarray
        int64 (P,) position of the nearest segment (smallest distance; on exact ties the
        lowest position); ``-1`` when none is within ``max_snap_m``.
    t : numpy.ndarray
        float64 (P,) fraction along a→b of the projection (:func:`project`); NaN for -1.
    dist_m : numpy.ndarray
        float64 (P,) distance from the point to its projection, metres; inf for -1.
    """
    px = np.ascontiguousarray(px, dtype=np.float64).ravel()
    py = np.ascontiguousarray(py, dtype=np.float64).ravel()
    ax, ay, bx, by = (np.ascontiguousarray(a, dtype=np.float64).ravel() for a in (ax, ay, bx, by))
    n_pts = len(px)
    seg = np.full(n_pts, -1, dtype=np.int64)
    t = np.full(n_pts, np.nan)
    dist = np.full(n_pts, np.inf)
    if n_pts == 0 or len(ax) == 0:
        return seg, t, dist
    if not (np.isfinite(px).all() and np.isfinite(py).all()):
        raise ValueError("point coordinates must be finite")
    n_threads = default_threads() if n_threads is None else max(1, int(n_threads))
    x0, y0, h, nx, ny = _grid(ax, ay, bx, by)
    cell_ptr, cell_seg, cell_xy = _build_grid(ax, ay, bx, by, x0, y0, h, nx, ny, n_threads)
    # visit the points cell by cell (locality); results go back to the input order
    key = (np.clip(np.floor((py - y0) / h), -1, ny) * (nx + 2)
           + np.clip(np.floor((px - x0) / h), -1, nx))
    order = np.argsort(key, kind="stable")
    qx, qy = px[order], py[order]
    o_seg = np.empty(n_pts, dtype=np.int64)
    o_t = np.empty(n_pts)
    o_d = np.empty(n_pts)
    max_snap_m = float(max_snap_m)

    def run(lo: int, hi: int) -> None:
        _query(qx[lo:hi], qy[lo:hi], cell_ptr, cell_seg, cell_xy, x0, y0, h, nx, ny,
               max_snap_m, _REG_TOL_M, o_seg[lo:hi], o_t[lo:hi], o_d[lo:hi])

    bounds = list(range(0, n_pts, _CHUNK)) + [n_pts]
    _run_tasks(run, list(zip(bounds[:-1], bounds[1:], strict=True)), n_threads)
    seg[order], t[order], dist[order] = o_seg, o_t, o_d
    return seg, t, dist
