"""The coverage engine's parts: row merging, Lagrangian bound and reduced-cost fixing
(checked against enumeration), the core MIP, and the wall-clock time limit."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import scipy.sparse as sp

from facplan.optimize import MCLP, _core
from facplan.optimize._core import CoverProblem, CoverSolver, merge_identical_rows, reduce

from .test_optimize_mclp import _brute, _case, _check_solution


# ---------------------------------------------------------------------- row merging
def _exact_groups(T: sp.csr_matrix) -> np.ndarray:
    """Group id per row by exact comparison of the column sets (first-seen order)."""
    seen: dict[tuple, int] = {}
    return np.array([
        seen.setdefault(tuple(T.indices[T.indptr[r]:T.indptr[r + 1]]), len(seen))
        for r in range(T.shape[0])
    ])


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("seed", range(8))
def test_merge_identical_rows_groups_exactly_equal_rows(seed):
    rng = np.random.default_rng(seed)
    base = rng.random((30, 25)) < rng.uniform(0.0, 0.3)
    rows = base[rng.integers(0, 30, 200)]  # many duplicates, empty rows too
    T = sp.csr_matrix(rows.astype(float))
    T.sort_indices()
    first, inverse = merge_identical_rows(T)
    assert _same_partition(inverse, _exact_groups(T))
    np.testing.assert_array_equal(inverse[first], np.arange(len(first)))


def test_merge_identical_rows_survives_hash_collisions(monkeypatch):
    """Keys that collide for every row: the exact check refuses the merge."""
    rng = np.random.default_rng(3)
    T = sp.csr_matrix((rng.random((50, 12)) < 0.3).astype(float))
    T.sort_indices()
    monkeypatch.setattr(_core, "_row_keys", lambda T, seed: np.zeros(T.shape[0], np.uint64))
    first, inverse = merge_identical_rows(T)
    assert _same_partition(inverse, _exact_groups(T))


# ---------------------------------------------------------------------- bounds, fixing
def _engine_case(seed: int) -> tuple[CoverProblem, CoverSolver]:
    """A small random CoverProblem: count or budget, fixed sites, exact or loose groups."""
    rng = np.random.default_rng(1000 + seed)
    n, m = int(rng.integers(4, 10)), int(rng.integers(6, 30))
    cover = rng.random((n, m)) < rng.uniform(0.1, 0.5)
    w = rng.integers(0, 10, m).astype(float)
    cost = rng.integers(0, 6, n).astype(float)
    group = np.full(n, -1)
    n_groups = 0
    if seed % 3:  # a few groups of two or three sites
        for k, start in enumerate(range(0, n - 1, 3)):
            group[start : start + int(rng.integers(2, 4))] = k
            n_groups = k + 1
    exact = rng.random(n_groups) < (0.5 if seed % 3 == 2 else 0.0)
    fixed = np.zeros(n, dtype=bool)
    if seed % 4 == 1:
        fixed[int(rng.integers(0, n))] = True
    # one fixed site per group at most, none in an exact group with another fixed
    for k in range(n_groups):
        members = np.flatnonzero(group == k)
        if fixed[members].sum() > 1:
            fixed[members[1:]] = False
    budget = max_sites = None
    if seed % 2:  # enough for the fixed sites and the dearest site of each exact group
        dear = sum(cost[group == k].max() for k in np.flatnonzero(exact))
        budget = float(cost[fixed].sum() + dear + rng.integers(0, int(cost.sum()) + 2))
    else:
        max_sites = int(fixed.sum()) + int(exact.sum()) + int(rng.integers(0, 4))
    prob = CoverProblem(
        pattern=sp.csr_matrix(cover.astype(float)), weights=w,
        order=np.arange(n), cost=cost, can_open=np.ones(n, dtype=bool), fixed=fixed,
        max_sites=max_sites, budget=budget, group=group, group_exact=exact,
    )
    return prob, CoverSolver(prob, reduce(prob))


def _feasible_sets(sv: CoverSolver):
    """Every feasible open set of the reduced model, with its covered weight."""
    fixed = np.flatnonzero(sv.fixed)
    free = np.flatnonzero(~sv.fixed)
    for k in range(len(free) + 1):
        for extra in itertools.combinations(free.tolist(), k):
            s = np.zeros(sv.S, dtype=bool)
            s[fixed] = True
            s[list(extra)] = True
            if sv.p is not None and s.sum() > sv.p:
                continue
            if sv.budget is not None and sv.cost[s].sum() > sv.budget + 1e-9:
                continue
            g = sv.group[s]
            counts = np.bincount(g[g >= 0], minlength=sv.n_groups)
            if (counts > 1).any():
                continue
            has_member = np.bincount(sv.group[sv.group >= 0], minlength=sv.n_groups) > 0
            if (sv.exact & has_member & (counts == 0)).any():
                continue
            yield s, sv.value(s)


@pytest.mark.parametrize("seed", range(36))
def test_lagrangian_bound_and_fixing_are_valid(seed):
    prob, sv = _engine_case(seed)
    sets = list(_feasible_sets(sv))
    if not sets or sv.G == 0:
        return
    best = max(v for _, v in sets)
    bound, lam = sv.lagrangian(0.0, time.perf_counter() + 5)
    assert bound >= best - 1e-9
    rng = np.random.default_rng(seed)
    for lam_try in (lam, rng.uniform(0, 1, sv.G) * sv.w, sv.w.copy(), np.zeros(sv.G)):
        for s, v in sets:
            # every site of a set worth v survives fixing against v
            keep = sv.eliminate(lam_try, v)
            assert keep[s].all(), (seed, np.flatnonzero(s), np.flatnonzero(keep))


@pytest.mark.parametrize("seed", range(36))
def test_engine_exact_path_matches_enumeration(seed, monkeypatch):
    """Core MIP and reduced-cost fixing forced on small models: still optimal."""
    monkeypatch.setattr(_core, "CORE_NNZ", 0)
    monkeypatch.setattr(_core, "CORE_MIN_SITES", 1)
    monkeypatch.setattr(_core, "CORE_FACTOR", 1)
    prob, sv = _engine_case(seed)
    sets = list(_feasible_sets(sv))
    if not sets:
        return
    best = max(v for _, v in sets) + sv.red.constant
    res = _core.solve_cover(prob, method="exact", time_limit_s=30, mip_rel_gap=1e-9)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best)
    assert res.bound == pytest.approx(best, abs=1e-6)
    heur = _core.solve_cover(prob, method="heuristic", time_limit_s=30, mip_rel_gap=1e-9)
    assert heur.objective <= best + 1e-9 <= heur.bound + 1e-6


@pytest.mark.parametrize("seed", range(40))
def test_mclp_with_core_mip_equals_brute_force(seed, monkeypatch):
    monkeypatch.setattr(_core, "CORE_NNZ", 0)
    monkeypatch.setattr(_core, "CORE_MIN_SITES", 1)
    inst = _case(seed)
    m = MCLP.from_matrix(
        inst["coverage"], inst["weights"], site_ids=inst["ids"],
        covered_before=inst["before"], method="exact", **inst["kw"],
    ).solve()
    assert m.status_ == "optimal"
    assert m.objective_ == pytest.approx(_brute(inst))
    _check_solution(m, inst)


# ---------------------------------------------------------------------- time limit
def _random_big(seed: int, n_sites: int, n_cells: int, per_site: int):
    """Random (non-spatial) coverage: a weak LP relaxation, hard for the exact MIP."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_sites), per_site)
    cols = rng.integers(0, n_cells, n_sites * per_site)
    cov = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_sites, n_cells))
    w = rng.integers(1, 100, n_cells).astype(float)
    return cov, w, [f"s{i}" for i in range(n_sites)]


@pytest.mark.parametrize("method", ["exact", "auto", "heuristic"])
def test_solve_respects_the_time_limit(method):
    """480 k non-zeros of random coverage: no exact proof in 3 s, and a root LP that
    HiGHS cannot interrupt (started anyway, it ran ~3 s past the limit)."""
    cov, w, ids = _random_big(11, 6000, 60_000, 80)
    limit = 3.0
    t = time.perf_counter()
    m = MCLP.from_matrix(cov, w, site_ids=ids, sites=150, time_limit_s=limit,
                         method=method).solve()
    elapsed = time.perf_counter() - t
    assert elapsed <= limit + 1.5
    assert m.seconds_ <= limit + 1.5
    assert m.status_ in ("time_limit", "feasible")
    assert m.objective_ > 0
    # a valid bound: above the objective, below the total, and above any other
    # feasible objective (here: a plain greedy of 150 sites)
    greedy = MCLP.from_matrix(cov, w, site_ids=ids, sites=150, method="heuristic",
                              time_limit_s=0.5).solve()
    assert m.objective_ - 1e-6 <= m.bound_ <= w.sum() + 1e-6
    assert m.bound_ >= greedy.objective_ - 1e-6
    assert m.gap_ == pytest.approx((m.bound_ - m.objective_) / m.bound_)


def test_capacitated_solve_respects_the_time_limit():
    cov, w, ids = _random_big(12, 1500, 15_000, 40)
    cap = np.full(1500, 2_000.0)
    limit = 2.0
    t = time.perf_counter()
    m = MCLP.from_matrix(cov, w, site_ids=ids, sites=60, capacity=cap,
                         time_limit_s=limit).solve()
    assert time.perf_counter() - t <= limit + 1.5
    assert m.status_ in ("time_limit", "optimal")
    assert m.objective_ <= m.bound_ + 1e-6
    assert m.objective_ <= 60 * 2_000.0 + 1e-6


def test_spatial_instance_heuristic_gap_is_small():
    """A metro-like (spatial) instance on the heuristic path: a gap well under 1%."""
    rng = np.random.default_rng(5)
    n_cells, n_sites, side, reach = 30_000, 2_000, 6_000.0, 210.0
    cx, cy = rng.uniform(0, side, (2, n_cells))
    sx, sy = rng.uniform(0, side, (2, n_sites))
    from scipy.spatial import cKDTree

    pairs = cKDTree(np.column_stack([sx, sy])).sparse_distance_matrix(
        cKDTree(np.column_stack([cx, cy])), reach, output_type="coo_matrix"
    )
    cov = sp.csr_matrix((np.ones(pairs.nnz), (pairs.row, pairs.col)),
                        shape=(n_sites, n_cells))
    w = np.round(rng.lognormal(3, 1, n_cells))
    m = MCLP.from_matrix(cov, w, site_ids=[f"s{i}" for i in range(n_sites)], sites=40,
                         method="heuristic", time_limit_s=20).solve()
    assert m.gap_ <= 0.01
    assert m.seconds_ < 20
