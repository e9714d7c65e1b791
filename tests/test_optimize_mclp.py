"""MCLP against brute force, plus degenerate inputs, errors and the heuristic path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from facplan._errors import InputError
from facplan.optimize import MCLP, NotSolvedError, _core

from .test_optimize_reference import (
    brute_mclp,
    newly_covered,
    random_instance,
    reference_rank,
    to_sparse_with_zeros,
)

SEEDS = range(40)


def _case(seed: int) -> dict:
    """A random instance with a random mode: sites, budget, force/forbid, before."""
    inst = random_instance(seed)
    rng = inst["rng"]
    n = len(inst["ids"])
    inst["coverage"] = to_sparse_with_zeros(inst["cover"], rng)
    mode = seed % 4
    kw: dict = {}
    if mode in (0, 2):
        kw["sites"] = int(rng.integers(0, n + 2))
    else:
        kw["budget"] = float(rng.integers(0, int(inst["cost"].sum()) + 1))
        kw["cost"] = inst["cost"]
    if mode >= 2:  # force and forbid
        perm = rng.permutation(n)
        nf = int(rng.integers(0, 3))
        force = [int(j) for j in perm[:nf]]
        if "sites" in kw:
            kw["sites"] = max(kw["sites"], len(force))
        else:
            kw["budget"] = max(kw["budget"], float(inst["cost"][force].sum()))
        kw["force"] = force
        kw["forbid"] = [int(j) for j in perm[nf : nf + int(rng.integers(0, 3))]]
    inst["kw"] = kw
    return inst


def _brute(inst: dict) -> float:
    kw = inst["kw"]
    return brute_mclp(
        inst["cover"], inst["weights"], inst["before"], sites=kw.get("sites"),
        budget=kw.get("budget"), cost=inst["cost"], force=kw.get("force", ()),
        forbid=kw.get("forbid", ()),
    )[0]


def _check_solution(m: MCLP, inst: dict) -> None:
    """Feasibility, bookkeeping and rank of a solved model, by independent code."""
    cover, w, before, ids, kw = (inst[k] for k in ("cover", "weights", "before", "ids", "kw"))
    sel = [int(j) for j in m.selected_]
    assert len(set(sel)) == len(sel)
    assert set(kw.get("force", ())) <= set(sel)
    assert not set(kw.get("forbid", ())) & set(sel)
    if "sites" in kw:
        assert len(sel) <= kw["sites"]
    else:
        assert inst["cost"][sel].sum() <= kw["budget"] + 1e-9
    new = newly_covered(cover, w, before, sel)
    assert m.objective_ == pytest.approx(new)
    assert m.covered_before_ == pytest.approx(w[before].sum())
    assert m.covered_after_ == pytest.approx(w[before].sum() + new)
    covered = before | (cover[sel].any(axis=0) if sel else False)
    np.testing.assert_array_equal(m.covered_, covered)
    order, gains = reference_rank(cover, w, before, sel, ids)
    assert sel == order
    np.testing.assert_allclose(m.marginal_, gains)
    # no useless site unless forced
    forced = set(kw.get("force", ()))
    assert all(g > 0 or j in forced for j, g in zip(sel, gains, strict=True))
    assert m.bound_ >= m.objective_ - 1e-9
    assert m.gap_ == pytest.approx(
        0.0 if m.bound_ == 0 else (m.bound_ - m.objective_) / m.bound_, abs=1e-12
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_exact_equals_brute_force(seed):
    inst = _case(seed)
    m = MCLP.from_matrix(
        inst["coverage"], inst["weights"], site_ids=inst["ids"],
        covered_before=inst["before"], method="exact", **inst["kw"],
    ).solve()
    best = _brute(inst)
    assert m.objective_ == pytest.approx(best)
    assert m.method_ == "exact" and m.status_ == "optimal"
    assert m.gap_ <= 1e-6
    assert m.bound_ == pytest.approx(best, rel=1e-6, abs=1e-6)
    _check_solution(m, inst)


@pytest.mark.parametrize("seed", SEEDS)
def test_heuristic_is_feasible_and_bound_is_valid(seed):
    inst = _case(seed)
    m = MCLP.from_matrix(
        inst["coverage"], inst["weights"], site_ids=inst["ids"],
        covered_before=inst["before"], method="heuristic", **inst["kw"],
    ).solve()
    best = _brute(inst)
    assert m.method_ == "heuristic" and m.status_ == "feasible"
    assert m.bound_ >= best - 1e-6
    assert m.objective_ <= best + 1e-9
    _check_solution(m, inst)


def test_auto_switches_to_heuristic_on_large_models(monkeypatch):
    inst = _case(1)
    monkeypatch.setattr(_core, "HEURISTIC_NNZ", 0)
    m = MCLP.from_matrix(
        inst["coverage"], inst["weights"], site_ids=inst["ids"], sites=3
    ).solve()
    assert m.method_ == "heuristic"
    monkeypatch.setattr(_core, "HEURISTIC_NNZ", 10**9)
    m = MCLP.from_matrix(
        inst["coverage"], inst["weights"], site_ids=inst["ids"], sites=3
    ).solve()
    assert m.method_ == "exact"


def test_heuristic_on_a_bigger_instance_has_an_honest_gap():
    rng = np.random.default_rng(7)
    cover = rng.random((60, 400)) < 0.05
    w = rng.integers(1, 50, 400).astype(float)
    kw = dict(site_ids=[f"c{i:03d}" for i in range(60)], sites=6)
    h = MCLP.from_matrix(sp.csr_matrix(cover), w, method="heuristic", **kw).solve()
    e = MCLP.from_matrix(sp.csr_matrix(cover), w, method="exact", **kw).solve()
    assert e.status_ == "optimal"
    assert h.objective_ <= e.objective_ + 1e-9
    assert h.bound_ >= e.objective_ - 1e-6
    assert h.gap_ == pytest.approx((h.bound_ - h.objective_) / h.bound_)
    assert h.gap_ < 0.25


def test_explicit_zeros_count_and_dense_input_is_accepted():
    cov = sp.csr_matrix((np.array([0.0, 0.0]), (np.array([0, 1]), np.array([0, 1]))),
                        shape=(2, 2))
    m = MCLP.from_matrix(cov, np.array([3.0, 4.0]), site_ids=["a", "b"], sites=2).solve()
    assert m.objective_ == 7.0
    m = MCLP.from_matrix(np.eye(2), np.array([3.0, 4.0]), site_ids=["a", "b"], sites=1).solve()
    assert list(m.selected_) == [1]


def test_merging_identical_cells_keeps_weights():
    # cells 0..3 all covered by exactly {0, 1}: one merged cell of weight 10
    cover = np.zeros((3, 6), dtype=bool)
    cover[0, :4] = cover[1, :4] = True
    cover[2, 4:] = True
    w = np.array([1.0, 2.0, 3.0, 4.0, 6.0, 5.0])
    m = MCLP.from_matrix(sp.csr_matrix(cover), w, site_ids=["a", "b", "c"], sites=1).solve()
    assert m.n_model_cells_ == 2
    assert m.objective_ == 11.0 and list(m.selected_) == [2]
    m = MCLP.from_matrix(sp.csr_matrix(cover), w, site_ids=["a", "b", "c"], sites=2).solve()
    assert m.objective_ == 21.0
    assert m.selected_[0] == 2 and m.selected_[1] in (0, 1)  # a and b are equivalent


def test_ties_follow_site_id_string_order():
    cover = np.eye(3, dtype=bool)
    w = np.ones(3)
    m = MCLP.from_matrix(sp.csr_matrix(cover), w, site_ids=["s2", "s10", "s1"], sites=3).solve()
    assert list(m.selected_) == [2, 1, 0]  # "s1" < "s10" < "s2"


# ---------------------------------------------------------------- degenerate inputs
def _tiny():
    cover = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool)
    return sp.csr_matrix(cover), np.array([2.0, 3.0, 4.0]), ["a", "b", "c"]


@pytest.mark.parametrize("method", ["exact", "heuristic"])
def test_zero_demand(method):
    cov, w, ids = _tiny()
    m = MCLP.from_matrix(cov, np.zeros(3), site_ids=ids, sites=2, method=method).solve()
    assert m.objective_ == 0 and m.bound_ == 0 and m.gap_ == 0
    assert len(m.selected_) == 0


@pytest.mark.parametrize("method", ["exact", "heuristic"])
def test_everything_already_covered(method):
    cov, w, ids = _tiny()
    m = MCLP.from_matrix(cov, w, site_ids=ids, sites=2, covered_before=np.ones(3, bool),
                         method=method).solve()
    assert m.objective_ == 0 and m.covered_before_ == 9 and m.covered_after_ == 9
    assert len(m.selected_) == 0 and m.gap_ == 0


@pytest.mark.parametrize("method", ["exact", "heuristic"])
def test_budget_below_any_site(method):
    cov, w, ids = _tiny()
    m = MCLP.from_matrix(cov, w, site_ids=ids, budget=1.0, cost=np.array([2.0, 3.0, 5.0]),
                         method=method).solve()
    assert len(m.selected_) == 0 and m.objective_ == 0
    assert list(m.unaffordable_) == [0, 1, 2]
    m = MCLP.from_matrix(cov, w, site_ids=ids, budget=4.0, cost=np.array([2.0, 3.0, 5.0]),
                         method=method).solve()
    assert list(m.unaffordable_) == [2]
    assert list(m.selected_) == [1] and m.objective_ == 7.0


@pytest.mark.parametrize("method", ["exact", "heuristic"])
def test_more_sites_than_useful(method):
    cov, w, ids = _tiny()
    m = MCLP.from_matrix(cov, w, site_ids=ids, sites=10, method=method).solve()
    assert m.objective_ == 9.0
    assert sorted(m.selected_.tolist()) == [0, 1] or sorted(m.selected_.tolist()) == [0, 2]
    assert len(m.selected_) == 2  # the third site would add nothing


def test_sites_zero():
    cov, w, ids = _tiny()
    m = MCLP.from_matrix(cov, w, site_ids=ids, sites=0).solve()
    assert len(m.selected_) == 0 and m.objective_ == 0 and m.bound_ == 0


def test_forced_useless_site_is_kept_and_ranked_last():
    cov, w, ids = _tiny()
    m = MCLP.from_matrix(cov, w, site_ids=ids, sites=3, force=[2, 1, 0]).solve()
    assert list(m.selected_) == [1, 0, 2]
    np.testing.assert_allclose(m.marginal_, [7.0, 2.0, 0.0])


def test_no_sites_no_cells():
    m = MCLP.from_matrix(sp.csr_matrix((0, 0)), np.zeros(0), site_ids=[], sites=3).solve()
    assert m.objective_ == 0 and len(m.selected_) == 0


# ---------------------------------------------------------------- errors
def test_sites_and_budget_together_is_an_error():
    cov, w, ids = _tiny()
    with pytest.raises(InputError, match="not both") as e:
        MCLP.from_matrix(cov, w, site_ids=ids, sites=1, budget=5.0, cost=np.ones(3))
    assert e.value.field == "sites"


def test_neither_sites_nor_budget_is_an_error():
    cov, w, ids = _tiny()
    with pytest.raises(InputError, match="'sites'"):
        MCLP.from_matrix(cov, w, site_ids=ids)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"sites": -1}, "sites"),
        ({"sites": 1.5}, "sites"),
        ({"budget": -3.0, "cost": np.ones(3)}, "budget"),
        ({"budget": float("nan"), "cost": np.ones(3)}, "budget"),
        ({"budget": 3.0}, "cost"),
        ({"budget": 3.0, "cost": np.array([1.0, -1.0, 1.0])}, "cost"),
        ({"sites": 1, "force": [5]}, "force"),
        ({"sites": 1, "force": [0, 1]}, "force"),
        ({"sites": 2, "force": [0], "forbid": [0]}, "force"),
        ({"budget": 1.0, "cost": np.full(3, 2.0), "force": [0]}, "force"),
        ({"sites": 1, "method": "fast"}, "method"),
        ({"sites": 1, "time_limit_s": 0}, "time_limit_s"),
        ({"sites": 1, "covered_before": np.ones(2, bool)}, "covered_before"),
    ],
)
def test_bad_parameters_name_the_parameter(kw, field):
    cov, w, ids = _tiny()
    with pytest.raises(InputError) as e:
        MCLP.from_matrix(cov, w, site_ids=ids, **kw)
    assert e.value.field == field
    assert field in str(e.value)


def test_bad_weights_and_ids():
    cov, w, ids = _tiny()
    with pytest.raises(InputError, match="weights"):
        MCLP.from_matrix(cov, np.array([1.0, np.nan, 1.0]), site_ids=ids, sites=1)
    with pytest.raises(InputError, match="weights"):
        MCLP.from_matrix(cov, np.ones(4), site_ids=ids, sites=1)
    with pytest.raises(InputError, match="site_ids"):
        MCLP.from_matrix(cov, w, site_ids=["a", "a", "b"], sites=1)


def test_reading_results_before_solve_is_a_clear_error():
    cov, w, ids = _tiny()
    m = MCLP.from_matrix(cov, w, site_ids=ids, sites=1)
    with pytest.raises(NotSolvedError, match=r"solve\(\)"):
        m.objective_  # noqa: B018
    with pytest.raises(AttributeError):  # NotSolvedError is also an AttributeError
        m.selected_  # noqa: B018
    assert not m.solved
    assert m.solve() is m and m.solved


def test_time_limit_keeps_the_start_and_a_valid_bound(monkeypatch):
    """A MIP stopped by its time limit: the start solution stays, the bound stays valid."""
    from facplan.optimize import _highs

    real = _highs.solve

    def stopped(**kw):
        sol = real(**kw)
        if kw.get("integer") is None:  # LPs still solve
            return sol
        return _highs.Solution(None, float("nan"), float("inf"), "time_limit", sol.seconds)

    monkeypatch.setattr(_highs, "solve", stopped)
    for seed in range(6):
        inst = _case(seed)
        best = _brute(inst)
        for method, reported in (("auto", "heuristic"), ("exact", "exact")):
            m = MCLP.from_matrix(
                inst["coverage"], inst["weights"], site_ids=inst["ids"],
                covered_before=inst["before"], method=method, **inst["kw"],
            ).solve()
            assert m.status_ == "time_limit" or m.n_model_cells_ == 0
            if m.n_model_cells_:
                assert m.method_ == reported
            assert m.objective_ <= best + 1e-9 <= m.bound_ + 2e-9
            _check_solution(m, inst)
    # capacitated: the greedy set, served as well as it can be
    cover = np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)
    m = MCLP.from_matrix(sp.csr_matrix(cover), np.array([4.0, 4.0, 4.0]), site_ids=["a", "b"],
                         sites=1, capacity=np.array([5.0, 5.0])).solve()
    assert m.status_ == "time_limit" and m.objective_ == pytest.approx(5.0)
    assert m.bound_ >= 5.0 and len(m.selected_) == 1
