"""LSCP and p-median against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from facplan._errors import InputError
from facplan.optimize import LSCP, PMedian

from .test_optimize_reference import (
    brute_lscp,
    brute_pmedian,
    random_instance,
    reference_rank,
    to_sparse_with_zeros,
)


# ---------------------------------------------------------------- LSCP
@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("method", ["exact", "heuristic"])
def test_lscp_against_brute_force(seed, method):
    inst = random_instance(100 + seed, max_sites=10, max_cells=30)
    rng = inst["rng"]
    cover, w, before, ids, cost = (inst[k] for k in ("cover", "weights", "before", "ids",
                                                     "cost"))
    n = len(ids)
    minimize = "cost" if seed % 2 else "sites"
    perm = rng.permutation(n)
    force = [int(j) for j in perm[: seed % 3]]
    forbid = [int(j) for j in perm[3 : 3 + seed % 2]]
    m = LSCP.from_matrix(
        to_sparse_with_zeros(cover, rng), w, site_ids=ids, cost=cost, minimize=minimize,
        covered_before=before, force=force, forbid=forbid, method=method,
    ).solve()
    best, _ = brute_lscp(cover, w, before, cost=cost if minimize == "cost" else None,
                         force=force, forbid=forbid)
    sel = [int(j) for j in m.selected_]
    allowed = [j for j in range(n) if j not in forbid]
    need = (w > 0) & ~before & cover[allowed].any(axis=0)
    uncoverable = (w > 0) & ~before & ~cover[allowed].any(axis=0)
    assert m.uncoverable_.tolist() == np.flatnonzero(uncoverable).tolist()
    assert m.uncoverable_weight_ == pytest.approx(w[uncoverable].sum())
    assert set(force) <= set(sel) and not set(forbid) & set(sel)
    got = cover[sel].any(axis=0) if sel else np.zeros(len(w), bool)
    assert got[need].all()
    value = len(sel) if minimize == "sites" else cost[sel].sum()
    assert m.objective_ == pytest.approx(value)
    assert m.bound_ <= best + 1e-6
    assert m.bound_ <= m.objective_ + 1e-9
    assert m.gap_ == pytest.approx(0 if m.objective_ == 0 else
                                   (m.objective_ - m.bound_) / m.objective_)
    if method == "exact":
        assert m.objective_ == pytest.approx(best)
        assert m.gap_ <= 1e-6 and m.status_ == "optimal"
    else:
        assert m.objective_ >= best - 1e-9
    order, gains = reference_rank(cover, w, before, sel, ids)
    assert sel == order
    np.testing.assert_allclose(m.marginal_, gains)
    assert m.covered_after_ == pytest.approx(w[before | got].sum())


def test_lscp_uncoverable_cells_are_listed_not_infeasible():
    cover = np.array([[1, 0, 0], [0, 1, 0]], dtype=bool)
    m = LSCP.from_matrix(sp.csr_matrix(cover), np.array([1.0, 2.0, 5.0]),
                         site_ids=["a", "b"]).solve()
    assert m.uncoverable_.tolist() == [2] and m.uncoverable_weight_ == 5.0
    assert m.objective_ == 2 and m.bound_ == 2 and m.gap_ == 0
    m = LSCP.from_matrix(sp.csr_matrix(cover), np.array([1.0, 2.0, 5.0]),
                         site_ids=["a", "b"], forbid=[1]).solve()
    assert m.uncoverable_.tolist() == [1, 2] and m.objective_ == 1


def test_lscp_nothing_to_cover():
    cover = np.eye(2, dtype=bool)
    m = LSCP.from_matrix(sp.csr_matrix(cover), np.zeros(2), site_ids=["a", "b"]).solve()
    assert m.objective_ == 0 and len(m.selected_) == 0 and m.gap_ == 0


def test_lscp_errors():
    cov = sp.csr_matrix(np.eye(2))
    with pytest.raises(InputError) as e:
        LSCP.from_matrix(cov, np.ones(2), site_ids=["a", "b"], minimize="money")
    assert e.value.field == "minimize"
    with pytest.raises(InputError) as e:
        LSCP.from_matrix(cov, np.ones(2), site_ids=["a", "b"], minimize="cost")
    assert e.value.field == "cost"


# ---------------------------------------------------------------- p-median
def _pmedian_case(seed: int):
    rng = np.random.default_rng(500 + seed)
    n_sites = int(rng.integers(3, 9))
    n_cells = int(rng.integers(5, 25))
    mask = rng.random((n_sites, n_cells)) < rng.uniform(0.2, 0.6)
    dist = np.where(mask, rng.integers(0, 1000, (n_sites, n_cells)).astype(float), np.nan)
    dist[mask & (rng.random((n_sites, n_cells)) < 0.05)] = 0.0  # explicit zero distances
    w = rng.integers(0, 10, n_cells).astype(float)
    existing = None
    if seed % 2:
        emask = rng.random(n_cells) < 0.3
        existing = np.where(emask, rng.integers(0, 1000, n_cells).astype(float), np.nan)
    ids = [f"p{i}" for i in range(n_sites)]
    return rng, dist, w, existing, ids


def _to_sparse(dense: np.ndarray) -> sp.csr_matrix:
    r, c = np.nonzero(np.isfinite(dense))
    return sp.csr_matrix((dense[r, c], (r, c)), shape=dense.shape)


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("method", ["exact", "heuristic"])
def test_pmedian_against_brute_force(seed, method):
    rng, dist, w, existing, ids = _pmedian_case(seed)
    n = len(ids)
    p = int(rng.integers(0, n + 1))
    perm = rng.permutation(n)
    force = [int(j) for j in perm[: min(seed % 3, p)]]
    forbid = [int(j) for j in perm[3 : 3 + seed % 2]]
    um = None if seed % 3 == 0 else 1500.0
    ex_sp = None if existing is None else _to_sparse(existing[None, :])
    m = PMedian.from_matrix(
        _to_sparse(dist), w, site_ids=ids, sites=p, existing=ex_sp, force=force,
        forbid=forbid, unassigned_m=um, method=method,
    ).solve()
    finite = [dist[np.isfinite(dist)]]
    if existing is not None:
        finite.append(existing[np.isfinite(existing)])
    um_ref = um if um is not None else max(float(np.max(f)) if len(f) else 0.0
                                           for f in finite)
    dist_allowed = dist.copy()
    dist_allowed[forbid] = np.nan
    best, _ = brute_pmedian(dist_allowed, w, sites=p, existing=existing, force=force,
                            forbid=forbid, unassigned_m=um_ref)
    sel = [int(j) for j in m.selected_]
    assert len(sel) <= p and set(force) <= set(sel) and not set(forbid) & set(sel)
    # objective recomputed independently for the chosen set
    ex = np.full(len(w), np.nan) if existing is None else existing
    d = ex.copy()
    if sel:
        d = np.fmin(d, np.fmin.reduce(dist[sel], axis=0))
    reach = np.isfinite(dist_allowed).any(axis=0) | np.isfinite(ex)
    value = sum(w[i] * (d[i] if np.isfinite(d[i]) else um_ref)
                for i in range(len(w)) if reach[i])
    assert m.objective_ == pytest.approx(value)
    assert m.bound_ <= best + 1e-6
    if method == "exact":
        assert m.objective_ == pytest.approx(best)
        assert m.gap_ <= 1e-6
    else:
        assert m.objective_ >= best - 1e-6
    assert m.unassigned_.tolist() == np.flatnonzero(~reach).tolist()
    # assignment: to a chosen site at the cell's best distance, else −1
    for i in range(len(w)):
        a = m.assignment_[i]
        if a >= 0:
            assert a in sel and dist[a, i] == pytest.approx(d[i])
            assert not (np.isfinite(ex[i]) and ex[i] <= dist[a, i])
    assert sum(m.marginal_) == pytest.approx(m.objective_before_ - m.objective_)


def test_pmedian_by_hand():
    # cells on a line at 0, 100, 200, 300 m; sites at 0 and 300; existing reaches cell 3
    dist = np.array([[0, 100, 200, np.nan], [np.nan, 200, 100, 0]], dtype=float)
    w = np.array([1.0, 1.0, 1.0, 1.0])
    m = PMedian.from_matrix(_to_sparse(dist), w, site_ids=["a", "b"], sites=1,
                            existing=_to_sparse(np.array([[np.nan, np.nan, np.nan, 50.0]])),
                            ).solve()
    assert m.selected_.tolist() == [0]
    assert m.objective_ == 0 + 100 + 200 + 50
    assert m.assignment_.tolist() == [0, 0, 0, -1]
    np.testing.assert_allclose(m.distance_, [0, 100, 200, 50])
    m = PMedian.from_matrix(_to_sparse(dist), np.ones(5)[:4], site_ids=["a", "b"],
                            sites=2).solve()
    assert m.objective_ == 0 + 100 + 100 + 0
    assert m.unreached_.tolist() == [] and m.unassigned_.tolist() == []


def test_pmedian_unassigned_and_unreached():
    dist = np.array([[10, np.nan, np.nan], [np.nan, 20, np.nan]], dtype=float)
    m = PMedian.from_matrix(_to_sparse(dist), np.ones(3), site_ids=["a", "b"], sites=1,
                            unassigned_m=1000.0).solve()
    assert m.unassigned_.tolist() == [2]  # no entry at all
    assert len(m.unreached_) == 1  # the cell of the closed site
    assert m.objective_ == pytest.approx(1010.0 if m.selected_[0] == 0 else 1020.0)
    assert m.objective_ == 1010.0  # site a: 10 + 1000 beats 20 + 1000


def test_pmedian_errors():
    with pytest.raises(InputError) as e:
        PMedian.from_matrix(np.eye(2), np.ones(2), site_ids=["a", "b"], sites=1)
    assert e.value.field == "distance"
    with pytest.raises(InputError) as e:
        PMedian.from_matrix(sp.csr_matrix(np.eye(2)), np.ones(2), site_ids=["a", "b"],
                            sites=None)
    assert e.value.field == "sites"
    bad = sp.csr_matrix(np.array([[-1.0, 0], [0, 1]]))
    with pytest.raises(InputError, match="distances"):
        PMedian.from_matrix(bad, np.ones(2), site_ids=["a", "b"], sites=1)
