"""Independent brute-force references for the optimize tests (and checks of them).

Nothing here imports facplan.optimize: every reference enumerates site subsets with
itertools and computes its objective directly from a dense boolean matrix, so the
model tests compare two unrelated implementations. Other test modules import these
helpers (``from .test_optimize_reference import ...``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow

__all__ = [
    "random_instance",
    "subsets",
    "newly_covered",
    "brute_mclp",
    "reference_rank",
    "max_served",
    "brute_lscp",
    "brute_pmedian",
]


def random_instance(seed: int, *, max_sites: int = 12, max_cells: int = 40) -> dict:
    """A small seeded MCLP instance: dense boolean coverage, integer weights and costs."""
    rng = np.random.default_rng(seed)
    n_sites = int(rng.integers(3, max_sites + 1))
    n_cells = int(rng.integers(5, max_cells + 1))
    density = float(rng.uniform(0.08, 0.4))
    cover = rng.random((n_sites, n_cells)) < density
    weights = rng.integers(0, 10, n_cells).astype(float)
    cost = rng.integers(1, 10, n_sites).astype(float)
    before = rng.random(n_cells) < 0.2
    ids = [f"s{i}" for i in range(n_sites)]  # "s10" < "s2": string order matters
    return {"cover": cover, "weights": weights, "cost": cost, "before": before, "ids": ids,
            "rng": rng}


def to_sparse_with_zeros(cover: np.ndarray, rng: np.random.Generator) -> sp.csr_matrix:
    """CSR with the covering pattern of ``cover``, about half of it stored as zeros."""
    r, c = np.nonzero(cover)
    data = np.where(rng.random(len(r)) < 0.5, 0.0, rng.uniform(1, 500, len(r)))
    return sp.csr_matrix((data, (r, c)), shape=cover.shape)


def subsets(n: int, *, force: Iterable[int] = (), forbid: Iterable[int] = ()):
    """Every subset of ``range(n)`` containing ``force`` and avoiding ``forbid``."""
    force, forbid = set(force), set(forbid)
    free = [j for j in range(n) if j not in force and j not in forbid]
    for k in range(len(free) + 1):
        for extra in itertools.combinations(free, k):
            yield tuple(sorted(force | set(extra)))


def newly_covered(cover: np.ndarray, weights: np.ndarray, before: np.ndarray,
                  chosen: Sequence[int]) -> float:
    """Weight of cells covered by ``chosen`` and not covered before."""
    if len(chosen) == 0:
        return 0.0
    hit = cover[list(chosen)].any(axis=0) & ~before
    return float(weights[hit].sum())


def brute_mclp(cover, weights, before, *, sites=None, budget=None, cost=None, force=(),
               forbid=(), one_in: dict[int, list[int]] | None = None,
               extra_ok=None) -> tuple[float, tuple[int, ...]]:
    """Best newly covered weight over all feasible subsets (and one best subset).

    ``one_in`` maps a community to its eligible sites: exactly one of them must be open.
    ``extra_ok(subset) -> bool`` is any further feasibility rule.
    """
    best, arg = -1.0, ()
    for s in subsets(cover.shape[0], force=force, forbid=forbid):
        if sites is not None and len(s) > sites:
            continue
        if budget is not None and cost[list(s)].sum() > budget + 1e-9:
            continue
        if one_in is not None and any(
            len(set(s) & set(m)) != 1 for m in one_in.values()
        ):
            continue
        if extra_ok is not None and not extra_ok(s):
            continue
        v = newly_covered(cover, weights, before, s)
        if v > best:
            best, arg = v, s
    return best, arg


def reference_rank(cover, weights, before, chosen, ids) -> tuple[list[int], list[float]]:
    """Greedy pass over ``chosen``: largest marginal first, ties by id (string order)."""
    left = list(chosen)
    covered = before.copy()
    order, gains = [], []
    while left:
        scored = [(-float(weights[cover[j] & ~covered].sum()), str(ids[j]), j) for j in left]
        scored.sort()
        g, _, j = scored[0]
        order.append(j)
        gains.append(-g)
        covered |= cover[j]
        left.remove(j)
    return order, gains


def max_served(cover, weights, before, chosen, capacity) -> float:
    """Most weight the ``chosen`` sites can serve (integer max-flow; splittable demand)."""
    chosen = list(chosen)
    n_cells = cover.shape[1]
    k = len(chosen)
    if k == 0:
        return 0.0
    # nodes: 0 source, 1..k sites, k+1..k+n cells, k+n+1 sink
    big = int(weights.sum()) + 1
    rows, cols, caps = [], [], []
    for a, j in enumerate(chosen):
        rows.append(0)
        cols.append(1 + a)
        caps.append(int(capacity[j]))
        for i in np.flatnonzero(cover[j] & ~before):
            rows.append(1 + a)
            cols.append(1 + k + i)
            caps.append(big)
    for i in range(n_cells):
        if weights[i] > 0 and not before[i]:
            rows.append(1 + k + i)
            cols.append(1 + k + n_cells)
            caps.append(int(weights[i]))
    n = k + n_cells + 2
    g = sp.csr_matrix((np.asarray(caps, dtype=np.int32), (rows, cols)), shape=(n, n))
    return float(maximum_flow(g, 0, n - 1).flow_value)


def brute_lscp(cover, weights, before, *, cost=None, force=(), forbid=()):
    """Least count (or cost) of sites covering every coverable cell; (value, subset)."""
    n_sites = cover.shape[0]
    allowed = [j for j in range(n_sites) if j not in set(forbid)]
    need = (weights > 0) & ~before
    need &= cover[allowed].any(axis=0) if allowed else False
    best, arg = np.inf, None
    for s in subsets(n_sites, force=force, forbid=forbid):
        covered = cover[list(s)].any(axis=0) if s else np.zeros(cover.shape[1], dtype=bool)
        if not covered[need].all():
            continue
        v = float(len(s)) if cost is None else float(cost[list(s)].sum())
        if v < best - 1e-12:
            best, arg = v, s
    return best, arg


def brute_pmedian(dist, weights, *, sites, existing=None, force=(), forbid=(),
                  unassigned_m=None):
    """Least Σ w·d over subsets of at most ``sites`` sites (dense NaN = no entry)."""
    n_sites, n_cells = dist.shape
    ex = np.full(n_cells, np.nan) if existing is None else existing
    finite_any = np.isfinite(dist).any(axis=0) | np.isfinite(ex)
    best, arg = np.inf, None
    for s in subsets(n_sites, force=force, forbid=forbid):
        if len(s) > sites:
            continue
        d = ex.copy()
        if s:
            d = np.fmin(d, np.fmin.reduce(dist[list(s)], axis=0))
        val = 0.0
        for i in range(n_cells):
            if not finite_any[i]:
                continue
            val += weights[i] * (d[i] if np.isfinite(d[i]) else unassigned_m)
        if val < best - 1e-9:
            best, arg = val, s
    return best, arg


# ---------------------------------------------------------------- checks of the references
def test_subsets_respect_force_and_forbid():
    got = list(subsets(4, force=[1], forbid=[2]))
    assert all(1 in s and 2 not in s for s in got)
    assert len(got) == 4  # {0, 3} free: 2^2


def test_brute_mclp_small_by_hand():
    cover = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
    w = np.array([5.0, 1.0, 4.0, 3.0])
    before = np.zeros(4, dtype=bool)
    assert brute_mclp(cover, w, before, sites=1)[0] == 6.0
    assert brute_mclp(cover, w, before, sites=2)[0] == 10.0
    assert reference_rank(cover, w, before, [2, 0, 1], ["a", "b", "c"])[0] == [0, 1, 2]


def test_max_served_by_hand():
    cover = np.array([[1, 1], [0, 1]], dtype=bool)
    w = np.array([5.0, 5.0])
    before = np.zeros(2, dtype=bool)
    assert max_served(cover, w, before, [0], np.array([7.0, 7.0])) == 7.0
    assert max_served(cover, w, before, [0, 1], np.array([7.0, 2.0])) == 9.0
