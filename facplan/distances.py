"""Shortest-path kernels on a CSR walking graph: arrays in, arrays out.

Graphs come as CSR arrays (``indptr``, ``indices``, ``length_m``) in which every
undirected edge is stored both ways (:class:`facplan.network.Graph`). Lengths are metres
and must be ≥ 0 (zero-length edges are fine). The kernels are binary-heap Dijkstra with
lazy deletion, compiled with numba:

- :func:`nearest_source` — one multi-source search: distance from every node to its
  nearest source, O(E log V), never one search per node;
- :func:`bounded_matrix` — sources × targets distances within a cutoff as a sparse
  matrix: one bounded search per source, chunked and run on several threads, memory
  proportional to the number of entries (never a dense V×V or sources×V array).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from numba import config as _numba_config
from numba import njit

__all__ = [
    "MATRIX_TOL_M", "nearest_source", "bounded_matrix", "distances_to", "default_threads",
]

#: Tolerance added to the cutoff of :func:`bounded_matrix` (metres), for floating-point ties.
MATRIX_TOL_M = 1e-6

#: Largest number of sources one task of :func:`bounded_matrix` searches from.
_MAX_CHUNK = 256


# --------------------------------------------------------------------------- heap


@njit(cache=True, nogil=True)
def _push(keys, vals, n, key, val):  # pragma: no cover - compiled
    """Push (key, val) on the binary min-heap of size n; return the new size."""
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if keys[p] <= key:
            break
        keys[i] = keys[p]
        vals[i] = vals[p]
        i = p
    keys[i] = key
    vals[i] = val
    return n + 1


@njit(cache=True, nogil=True)
def _pop(keys, vals, n):  # pragma: no cover - compiled
    """Remove the top of the heap of size n (read it first); return the new size."""
    n -= 1
    key = keys[n]
    val = vals[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and keys[c + 1] < keys[c]:
            c += 1
        if keys[c] >= key:
            break
        keys[i] = keys[c]
        vals[i] = vals[c]
        i = c
    keys[i] = key
    vals[i] = val
    return n


# --------------------------------------------------------------------------- kernels


@njit(cache=True, nogil=True)
def _nearest_kernel(indptr, indices, length, sources, cutoff):  # pragma: no cover - compiled
    n_nodes = indptr.shape[0] - 1
    dist = np.full(n_nodes, np.inf)
    origin = np.full(n_nodes, -1, dtype=np.int64)
    cap = indices.shape[0] + sources.shape[0] + 1
    keys = np.empty(cap, dtype=np.float64)
    vals = np.empty(cap, dtype=np.int32)
    n = 0
    for k in range(sources.shape[0]):
        s = sources[k]
        if origin[s] == -1:  # a repeated source keeps its first position
            dist[s] = 0.0
            origin[s] = k
            n = _push(keys, vals, n, 0.0, s)
    while n > 0:
        d = keys[0]
        u = vals[0]
        n = _pop(keys, vals, n)
        if d > dist[u]:  # stale entry (pushes happen only on strict improvement)
            continue
        o = origin[u]
        for e in range(indptr[u], indptr[u + 1]):
            w = indices[e]
            nd = d + length[e]
            if nd < dist[w] and nd <= cutoff:
                dist[w] = nd
                origin[w] = o
                n = _push(keys, vals, n, nd, w)
    return dist, origin


@njit(cache=True, nogil=True)
def _bounded_kernel(
    indptr, indices, length, sources, tptr, tcols, limit, dist, touched, keys, vals
):  # pragma: no cover - compiled
    """Bounded searches from each of ``sources``.

    ``dist`` (all inf), ``touched``, ``keys`` and ``vals`` are scratch owned by the
    calling thread; ``dist`` is left all inf again. Returns (count per source, column of
    each entry, distance of each entry), entries of one source sorted by column.
    """
    n_src = sources.shape[0]
    counts = np.zeros(n_src, dtype=np.int64)
    cap = 1024
    cols = np.empty(cap, dtype=tcols.dtype)
    data = np.empty(cap, dtype=np.float64)
    nnz = 0
    for k in range(n_src):
        s = sources[k]
        start = nnz
        n_touch = 1
        touched[0] = s
        dist[s] = 0.0
        n = _push(keys, vals, 0, 0.0, s)
        while n > 0:
            d = keys[0]
            u = vals[0]
            n = _pop(keys, vals, n)
            if d > dist[u]:
                continue
            t0 = tptr[u]
            t1 = tptr[u + 1]
            if t1 > t0:
                if nnz + (t1 - t0) > cap:
                    while nnz + (t1 - t0) > cap:
                        cap *= 2
                    new_cols = np.empty(cap, dtype=cols.dtype)
                    new_data = np.empty(cap, dtype=np.float64)
                    new_cols[:nnz] = cols[:nnz]
                    new_data[:nnz] = data[:nnz]
                    cols = new_cols
                    data = new_data
                for j in range(t0, t1):
                    cols[nnz] = tcols[j]
                    data[nnz] = d
                    nnz += 1
            for e in range(indptr[u], indptr[u + 1]):
                w = indices[e]
                nd = d + length[e]
                if nd <= limit and nd < dist[w]:
                    if dist[w] == np.inf:
                        touched[n_touch] = w
                        n_touch += 1
                    dist[w] = nd
                    n = _push(keys, vals, n, nd, w)
        for i in range(n_touch):
            dist[touched[i]] = np.inf
        if nnz - start > 1:
            order = np.argsort(cols[start:nnz])
            c = cols[start:nnz][order]
            x = data[start:nnz][order]
            cols[start:nnz] = c
            data[start:nnz] = x
        counts[k] = nnz - start
    return counts, cols[:nnz].copy(), data[:nnz].copy()


# --------------------------------------------------------------------------- checks


def _graph_arrays(indptr, indices, length_m):
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    length_m = np.ascontiguousarray(length_m, dtype=np.float64)
    if indptr.ndim != 1 or len(indptr) < 1:
        raise ValueError("indptr must be a 1-D array of length V+1 ≥ 1")
    if not (indptr[-1] == len(indices) == len(length_m)) or indptr[0] != 0:
        raise ValueError(
            f"inconsistent CSR arrays: indptr ends at {indptr[-1]}, indices has "
            f"{len(indices)} entries, length_m {len(length_m)}"
        )
    if np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must be non-decreasing")
    n_nodes = len(indptr) - 1
    if len(indices) and (indices.min() < 0 or indices.max() >= n_nodes):
        raise ValueError(f"indices must lie in [0, {n_nodes})")
    if len(length_m) and not np.all(length_m >= 0):
        raise ValueError("length_m must be ≥ 0 and not NaN (metres)")
    return indptr, indices, length_m


def _node_array(nodes, n_nodes: int, name: str) -> np.ndarray:
    arr = np.asarray(nodes)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of node indices (integers)")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= n_nodes))
    if len(bad):
        raise ValueError(
            f"{name} must be node indices in [0, {n_nodes}); got {arr[bad[0]]} at position "
            f"{bad[0]} ({len(bad)} bad in all)"
        )
    return arr


def _cutoff(cutoff: float, name: str) -> float:
    cutoff = float(cutoff)
    if not cutoff >= 0:
        raise ValueError(f"The '{name}' parameter must be ≥ 0 (metres). Got {cutoff!r} instead.")
    return cutoff


def _default_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, int(_numba_config.NUMBA_NUM_THREADS)))


def default_threads() -> int:
    """Threads the kernels use by default: the CPUs available to this process, capped by
    ``NUMBA_NUM_THREADS``."""
    return _default_threads()


# --------------------------------------------------------------------------- public


def nearest_source(
    indptr: np.ndarray,
    indices: np.ndarray,
    length_m: np.ndarray,
    sources: np.ndarray,
    *,
    cutoff: float = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from every node to its nearest source: one multi-source Dijkstra.

    Parameters
    ----------
    indptr, indices, length_m
        The graph in CSR form (every undirected edge stored both ways), lengths in
        metres, ≥ 0.
    sources
        int (S,) source node indices. Repeats are allowed (the first position counts).
    cutoff
        Stop the search at this distance (metres); nodes farther away are unreached.

    Returns
    -------
    dist : numpy.ndarray
        float64 (V,) metres to the nearest source; ``np.inf`` where unreached or beyond
        ``cutoff``.
    origin : numpy.ndarray
        int64 (V,) position in ``sources`` of the nearest source (one of them on exact
        ties); ``-1`` where unreached. Empty ``sources`` gives all inf / -1.
    """
    indptr, indices, length_m = _graph_arrays(indptr, indices, length_m)
    n_nodes = len(indptr) - 1
    sources = _node_array(sources, n_nodes, "sources")
    cutoff = _cutoff(cutoff, "cutoff")
    if len(sources) == 0:
        return np.full(n_nodes, np.inf), np.full(n_nodes, -1, dtype=np.int64)
    return _nearest_kernel(indptr, indices, length_m, sources, cutoff)


def distances_to(
    indptr: np.ndarray,
    indices: np.ndarray,
    length_m: np.ndarray,
    sources: np.ndarray,
    targets: np.ndarray,
    *,
    cutoff: float = np.inf,
) -> np.ndarray:
    """Distance from each target node to its nearest source (metres).

    :func:`nearest_source` followed by taking ``dist[targets]``.

    Returns
    -------
    numpy.ndarray
        float64 (T,), ``np.inf`` where no source is reachable within ``cutoff``.
    """
    dist, _ = nearest_source(indptr, indices, length_m, sources, cutoff=cutoff)
    targets = _node_array(targets, len(dist), "targets")
    return dist[targets]


def bounded_matrix(
    indptr: np.ndarray,
    indices: np.ndarray,
    length_m: np.ndarray,
    sources: np.ndarray,
    targets: np.ndarray,
    cutoff: float,
    *,
    n_threads: int | None = None,
) -> sp.csr_matrix:
    """Sources × targets shortest distances within ``cutoff`` as a sparse matrix.

    One bounded Dijkstra per source (stopping at ``cutoff``), the sources split into
    chunks run on ``n_threads`` threads, each with its own scratch arrays of size V.
    Memory is proportional to the number of entries, never a dense V×V or sources×V
    array.

    Parameters
    ----------
    indptr, indices, length_m
        The graph in CSR form (every undirected edge stored both ways), lengths in
        metres, ≥ 0.
    sources
        int (S,) node indices of the rows.
    targets
        int (T,) node indices of the columns (repeats allowed: each column is filled).
    cutoff
        Largest distance kept, metres; entries ≤ ``cutoff + MATRIX_TOL_M`` are kept.
    n_threads
        Threads to use; default: the CPUs available (capped by ``NUMBA_NUM_THREADS``).

    Returns
    -------
    scipy.sparse.csr_matrix
        float64 of shape (S, T); entry (i, j) is the distance from ``sources[i]`` to
        ``targets[j]`` in metres when within the cutoff, absent otherwise. Zero distances
        are **explicit entries** (a target at its source, or reached over zero-length
        edges): callers must not call ``eliminate_zeros``; test membership with the
        sparsity structure, not with ``!= 0``. Column indices are sorted within each row.
    """
    indptr, indices, length_m = _graph_arrays(indptr, indices, length_m)
    n_nodes = len(indptr) - 1
    sources = _node_array(sources, n_nodes, "sources")
    targets = _node_array(targets, n_nodes, "targets")
    limit = _cutoff(cutoff, "cutoff") + MATRIX_TOL_M
    n_src, n_tgt = len(sources), len(targets)
    if n_src == 0 or n_tgt == 0:
        return sp.csr_matrix((n_src, n_tgt), dtype=np.float64)

    # node -> its target columns, CSR-style (handles repeated targets)
    col_dtype = np.int32 if n_tgt < 2**31 else np.int64
    order = np.argsort(targets, kind="stable")
    tcols = order.astype(col_dtype)
    tptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(targets, minlength=n_nodes), out=tptr[1:])

    n_threads = _default_threads() if n_threads is None else max(1, int(n_threads))
    chunk = int(min(_MAX_CHUNK, max(1, -(-n_src // (8 * n_threads)))))
    bounds = list(range(0, n_src, chunk)) + [n_src]
    local = threading.local()
    heap_cap = len(indices) + 1

    def run(lo: int, hi: int):
        if not hasattr(local, "dist"):  # per-thread scratch, reused across chunks
            local.dist = np.full(n_nodes, np.inf)
            local.touched = np.empty(max(n_nodes, 1), dtype=np.int32)
            local.keys = np.empty(heap_cap, dtype=np.float64)
            local.vals = np.empty(heap_cap, dtype=np.int32)
        return _bounded_kernel(
            indptr, indices, length_m, sources[lo:hi], tptr, tcols, limit,
            local.dist, local.touched, local.keys, local.vals,
        )

    tasks = list(zip(bounds[:-1], bounds[1:], strict=True))
    if n_threads == 1 or len(tasks) == 1:
        results = [run(lo, hi) for lo, hi in tasks]
    else:
        with ThreadPoolExecutor(max_workers=min(n_threads, len(tasks))) as pool:
            results = list(pool.map(lambda b: run(*b), tasks))

    counts = np.concatenate([r[0] for r in results])
    nnz = int(counts.sum())
    idx_dtype = np.int32 if max(nnz, n_tgt) < 2**31 else np.int64
    out_indptr = np.zeros(n_src + 1, dtype=idx_dtype)
    np.cumsum(counts, out=out_indptr[1:])
    out_cols = np.concatenate([r[1] for r in results]).astype(idx_dtype, copy=False)
    out_data = np.concatenate([r[2] for r in results])
    del results
    mat = sp.csr_matrix((out_data, out_cols, out_indptr), shape=(n_src, n_tgt))
    mat.has_sorted_indices = True
    return mat
