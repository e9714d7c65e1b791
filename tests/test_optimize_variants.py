"""MCLP variants against brute force: capacity, one centre per community, several tiers
under one budget, phasing, and the greedy coverage curve."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from facplan._errors import InputError
from facplan.optimize import MCLP, MultiTierMCLP, coverage_curve, phase

from .test_optimize_reference import (
    brute_mclp,
    max_served,
    newly_covered,
    random_instance,
    subsets,
)


# ---------------------------------------------------------------- capacity
@pytest.mark.parametrize("seed", range(16))
def test_capacitated_against_brute_force(seed):
    inst = random_instance(300 + seed, max_sites=9, max_cells=25)
    rng = inst["rng"]
    cover, w, before, ids = inst["cover"], inst["weights"], inst["before"], inst["ids"]
    n = len(ids)
    cap = rng.integers(0, 30, n).astype(float)
    p = int(rng.integers(0, n + 1))
    force = [int(rng.integers(n))] if seed % 3 == 0 and p > 0 else []
    m = MCLP.from_matrix(sp.csr_matrix(cover), w, site_ids=ids, sites=p, capacity=cap,
                         covered_before=before, force=force).solve()
    best = max(
        max_served(cover, w, before, s, cap)
        for s in subsets(n, force=force) if len(s) <= p
    )
    assert m.objective_ == pytest.approx(best)
    assert m.served_weight_ == pytest.approx(best)
    assert m.gap_ <= 1e-6
    sel = [int(j) for j in m.selected_]
    assert len(sel) <= p and set(force) <= set(sel)
    # the chosen set can really serve that much
    assert max_served(cover, w, before, sel, cap) == pytest.approx(best)
    assert m.covered_after_ == pytest.approx(w[before].sum() + best)
    # marginal = served per site, ≤ capacity; ranked by it
    assert sum(m.marginal_) == pytest.approx(best)
    assert all(g <= cap[j] + 1e-6 for j, g in zip(sel, m.marginal_, strict=True))
    assert list(m.marginal_) == sorted(m.marginal_, reverse=True)
    # assignment only to a chosen site that covers the cell; served ≤ 1
    for i, a in enumerate(m.assignment_):
        if a >= 0:
            assert a in sel and cover[a, i] and not before[i]
    assert (m.served_ <= 1 + 1e-9).all()
    served_w = float((m.served_ * w).sum())
    assert served_w == pytest.approx(best)


def test_capacity_binds():
    cover = np.array([[1, 1, 1]], dtype=bool)
    m = MCLP.from_matrix(sp.csr_matrix(cover), np.array([10.0, 10.0, 10.0]), site_ids=["a"],
                         sites=1, capacity=np.array([15.0])).solve()
    assert m.objective_ == pytest.approx(15.0)
    assert m.covered_.all()  # within reach, although only half is served


def test_capacity_refuses_heuristic():
    with pytest.raises(InputError) as e:
        MCLP.from_matrix(sp.csr_matrix(np.eye(2)), np.ones(2), site_ids=["a", "b"], sites=1,
                         capacity=np.ones(2), method="heuristic")
    assert e.value.field == "method"


# ---------------------------------------------------------------- one centre per community
def _community_case(seed):
    inst = random_instance(400 + seed, max_sites=11, max_cells=30)
    rng = inst["rng"]
    n = len(inst["ids"])
    comm = rng.integers(-1, 3, n)
    comm[0] = 0  # community 0 has a site
    require = [0, 1, 2, 7]  # 7 has no site at all (and 1 or 2 may have none)
    return inst, comm, require


@pytest.mark.parametrize("seed", range(20))
def test_one_per_community_against_brute_force(seed):
    inst, comm, require = _community_case(seed)
    rng = inst["rng"]
    cover, w, before, ids, cost = (inst[k] for k in ("cover", "weights", "before", "ids",
                                                     "cost"))
    n = len(ids)
    mode = seed % 3
    forbid = [int(j) for j in rng.permutation(n)[:1]] if seed % 2 else []
    members = {c: [j for j in range(n) if comm[j] == c and j not in forbid] for c in require}
    has = {c: m for c, m in members.items() if m}
    kw: dict = {}
    extra = None
    if mode == 0:  # implied count: exactly one per community, nothing else
        def extra(s):
            return all(comm[j] in has for j in s)
    elif mode == 1:
        kw["sites"] = len(has) + int(rng.integers(0, 3))
    else:
        kw["budget"] = float(sum(cost[m].min() for m in has.values())) + float(
            rng.integers(0, 10))
        kw["cost"] = cost
    m = MCLP.from_matrix(
        sp.csr_matrix(cover), w, site_ids=ids, covered_before=before, forbid=forbid,
        community_of_site=comm, require_one_in=require, **kw,
    ).solve()
    best, _ = brute_mclp(cover, w, before, sites=kw.get("sites"), budget=kw.get("budget"),
                         cost=cost, forbid=forbid, one_in=has, extra_ok=extra)
    assert m.objective_ == pytest.approx(best)
    assert m.gap_ <= 1e-6
    sel = [int(j) for j in m.selected_]
    for c, mem in has.items():
        assert len(set(sel) & set(mem)) == 1, c
    assert sorted(m.gaps_.tolist()) == sorted(c for c in require if c not in has)
    assert m.objective_ == pytest.approx(newly_covered(cover, w, before, sel))


@pytest.mark.parametrize("seed", range(6))
def test_one_per_community_heuristic_is_feasible(seed):
    inst, comm, require = _community_case(seed)
    cover, w, before, ids = inst["cover"], inst["weights"], inst["before"], inst["ids"]
    has = {c: [j for j in range(len(ids)) if comm[j] == c] for c in require}
    has = {c: v for c, v in has.items() if v}
    m = MCLP.from_matrix(sp.csr_matrix(cover), w, site_ids=ids, covered_before=before,
                         community_of_site=comm, require_one_in=require, sites=len(has) + 1,
                         method="heuristic").solve()
    best, _ = brute_mclp(cover, w, before, sites=len(has) + 1, one_in=has)
    sel = set(int(j) for j in m.selected_)
    assert all(len(sel & set(v)) == 1 for v in has.values())
    assert m.objective_ <= best + 1e-9 <= m.bound_ + 2e-9


def test_community_rules_and_errors():
    cover = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=bool)
    w = np.array([1.0, 2.0, 3.0])
    comm = np.array([0, 0, 1, -1])
    kw = dict(site_ids=["a", "b", "c", "d"], community_of_site=comm)
    # implied count: one in 0, one in 1, nothing else (d is never opened)
    m = MCLP.from_matrix(sp.csr_matrix(cover), w, require_one_in=[0, 1], **kw).solve()
    assert sorted(m.selected_.tolist()) == [1, 2] and m.objective_ == 5.0
    # a zero-gain centre is still opened
    m = MCLP.from_matrix(sp.csr_matrix(cover), w, require_one_in=[0, 1], sites=3,
                         **kw).solve()
    assert m.objective_ == 6.0 and len(m.selected_) == 3
    with pytest.raises(InputError) as e:
        MCLP.from_matrix(sp.csr_matrix(cover), w, require_one_in=[0, 1], sites=1, **kw)
    assert e.value.field == "sites"
    with pytest.raises(InputError) as e:
        MCLP.from_matrix(sp.csr_matrix(cover), w, require_one_in=[0], force=[0, 1], sites=3,
                         **kw)
    assert e.value.field == "force"
    with pytest.raises(InputError) as e:
        MCLP.from_matrix(sp.csr_matrix(cover), w, require_one_in=[0, 1], budget=1.0,
                         cost=np.ones(4), **kw)
    assert e.value.field == "budget"


# ---------------------------------------------------------------- several tiers
def _brute_tiers(covers, ws, befores, elig, cost, *, sites=None, budget=None, nested=False,
                 force=(), forbid=()):
    K, n = elig.shape
    best = -1.0
    force = dict(force)
    for assign in itertools.product(range(-1, K), repeat=n):
        if any(a >= 0 and (not elig[a, j] or j in forbid) for j, a in enumerate(assign)):
            continue
        if any(assign[j] != k for j, k in force.items()):
            continue
        opened = [(j, a) for j, a in enumerate(assign) if a >= 0]
        if sites is not None and len(opened) > sites:
            continue
        if budget is not None and sum(cost[a, j] for j, a in opened) > budget + 1e-9:
            continue
        total = 0.0
        for k in range(K):
            hit = np.zeros(covers[k].shape[1], dtype=bool)
            for j, a in opened:
                if a == k or (nested and a < k):
                    hit |= covers[k][j]
            total += ws[k][hit & ~befores[k]].sum()
        best = max(best, total)
    return best


@pytest.mark.parametrize("seed", range(16))
def test_multitier_against_brute_force(seed):
    rng = np.random.default_rng(600 + seed)
    K = 2 + seed % 2
    n = int(rng.integers(3, 7))
    covers = [rng.random((n, int(rng.integers(4, 15)))) < 0.35 for _ in range(K)]
    ws = [rng.integers(0, 10, c.shape[1]).astype(float) for c in covers]
    befores = [rng.random(c.shape[1]) < 0.2 for c in covers]
    elig = rng.random((K, n)) < 0.7
    cost = rng.integers(1, 8, (K, n)).astype(float)
    nested = bool(seed % 4 >= 2)
    kw = {"sites": int(rng.integers(0, n + 1))} if seed % 2 else {
        "budget": float(rng.integers(0, 15)), "cost": cost}
    force = []
    ok = np.argwhere(elig.T)
    if seed % 5 == 0 and len(ok) and "sites" in kw and kw["sites"] > 0:
        force = [tuple(int(v) for v in ok[0])]
    m = MultiTierMCLP.from_matrix(
        [sp.csr_matrix(c) for c in covers], ws, site_ids=[f"L{i}" for i in range(n)],
        eligible=list(elig), covered_before=befores, nested=nested, force=force, **kw,
    ).solve()
    best = _brute_tiers(covers, ws, befores, elig, cost, sites=kw.get("sites"),
                        budget=kw.get("budget"), nested=nested, force=force)
    assert m.objective_ == pytest.approx(best)
    assert m.gap_ <= 1e-6
    locs = m.selected_.tolist()
    assert len(set(locs)) == len(locs)  # a location is used for one tier only
    assert all(elig[k, j] for j, k in zip(locs, m.selected_tier_, strict=True))
    assert sum(m.marginal_) == pytest.approx(m.objective_)
    assert m.tier_objective_.sum() == pytest.approx(m.objective_)
    if "budget" in kw:
        assert m.cost_ <= kw["budget"] + 1e-9
    for j, k in force:
        assert (j, k) in zip(locs, m.selected_tier_.tolist(), strict=True)


def test_multitier_one_location_one_tier():
    # location 0 is best for both tiers; it may serve only one
    c0 = np.array([[1, 1], [0, 0], [1, 0]], dtype=bool)
    c1 = np.array([[1, 1], [1, 0], [0, 0]], dtype=bool)
    w0, w1 = np.array([5.0, 5.0]), np.array([4.0, 4.0])
    m = MultiTierMCLP.from_matrix([sp.csr_matrix(c0), sp.csr_matrix(c1)], [w0, w1],
                                  site_ids=["x", "y", "z"], tiers=["district", "community"],
                                  sites=2).solve()
    # best: x for district (10) + y for community (4) = 14, or x community (8) + z (5) = 13
    assert m.objective_ == 14.0
    assert list(zip(m.selected_.tolist(), m.selected_tier_.tolist(), strict=True)) == [
        (0, 0), (1, 1)]
    np.testing.assert_allclose(m.tier_objective_, [10.0, 4.0])
    # nested: x as district also covers the community demand
    m = MultiTierMCLP.from_matrix([sp.csr_matrix(c0), sp.csr_matrix(c1)], [w0, w1],
                                  site_ids=["x", "y", "z"], sites=1, nested=True).solve()
    assert m.objective_ == 18.0 and m.selected_tier_.tolist() == [0]


def test_multitier_errors():
    c = sp.csr_matrix(np.eye(2))
    with pytest.raises(InputError):
        MultiTierMCLP.from_matrix([c, c], [np.ones(2)], site_ids=["a", "b"], sites=1)
    with pytest.raises(InputError) as e:
        MultiTierMCLP.from_matrix([c, c], [np.ones(2)] * 2, site_ids=["a", "b"], sites=1,
                                  budget=1.0, cost=np.ones(2))
    assert e.value.field == "sites"
    with pytest.raises(InputError) as e:
        MultiTierMCLP.from_matrix([c, c], [np.ones(2)] * 2, site_ids=["a", "b"], sites=2,
                                  force=[(0, 0), (0, 1)])
    assert e.value.field == "force"


# ---------------------------------------------------------------- phasing
@pytest.mark.parametrize("seed", range(10))
def test_phasing_each_stage_optimal_given_earlier(seed):
    inst = random_instance(700 + seed, max_sites=10, max_cells=30)
    cover, w, before, ids, cost = (inst[k] for k in ("cover", "weights", "before", "ids",
                                                     "cost"))
    phases = [{"year": 2026, "budget": 8.0}, {"year": 2027, "budget": 6.0},
              {"year": 2028, "sites": 1}]
    res = phase(dict(coverage=sp.csr_matrix(cover), weights=w, site_ids=ids, cost=cost,
                     covered_before=before), phases)
    assert [r.year for r in res] == [2026, 2027, 2028]
    opened: list[int] = []
    covered = before.copy()
    for r, ph in zip(res, phases, strict=True):
        best, _ = brute_mclp(cover, w, covered, sites=ph.get("sites"),
                             budget=ph.get("budget"), cost=cost, forbid=opened)
        assert r.objective == pytest.approx(best)
        assert r.covered_before == pytest.approx(w[covered].sum())
        sel = r.selected.tolist()
        assert not set(sel) & set(opened)
        if "budget" in ph:
            assert cost[sel].sum() <= ph["budget"] + 1e-9
        opened += sel
        covered = covered | (cover[sel].any(axis=0) if sel else False)
        assert r.covered_after == pytest.approx(w[covered].sum())
        assert r.open_sites.tolist() == opened


def test_phasing_rejects_global_budget():
    with pytest.raises(InputError):
        phase(dict(coverage=sp.csr_matrix(np.eye(2)), weights=np.ones(2),
                   site_ids=["a", "b"], sites=1), [{"sites": 1}])


# ---------------------------------------------------------------- coverage curve
@pytest.mark.parametrize("seed", range(8))
def test_coverage_curve_is_greedy(seed):
    inst = random_instance(800 + seed)
    cover, w, before, ids = inst["cover"], inst["weights"], inst["before"], inst["ids"]
    n = len(ids)
    curve = coverage_curve(sp.csr_matrix(cover), w, covered_before=before, max_sites=n + 2,
                           site_ids=ids)
    assert len(curve) == n + 3
    # independent greedy
    covered, total, ref = before.copy(), w[before].sum(), [w[before].sum()]
    left = set(range(n))
    for _ in range(n + 2):
        gains = sorted((-w[cover[j] & ~covered].sum(), ids[j], j) for j in left)
        if not gains or gains[0][0] >= 0:
            ref.append(total)
            continue
        g, _, j = gains[0]
        total += -g
        covered |= cover[j]
        left.remove(j)
        ref.append(total)
    np.testing.assert_allclose(curve, ref)
    assert (np.diff(curve) >= -1e-12).all()
    for k in range(0, min(n, 4) + 1):  # greedy never beats the optimum
        assert curve[k] <= w[before].sum() + brute_mclp(cover, w, before, sites=k)[0] + 1e-9
