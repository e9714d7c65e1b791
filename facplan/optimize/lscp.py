"""Location set covering (LSCP): the fewest sites, or the least cost, covering all demand."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from facplan._errors import InputError
from facplan.optimize import _core, _highs
from facplan.optimize._base import (
    Model,
    as_pattern,
    check_amount,
    check_costs,
    check_mask,
    check_method,
    check_positions,
    check_positive,
    check_site_ids,
    check_weights,
    gap_min,
    proven_status,
    site_masks,
    site_order,
)
from facplan.optimize._core import CoverProblem, greedy_rank, reduce

__all__ = ["LSCP"]

_NAME = "LSCP"
#: ``method="auto"`` switches to the heuristic above this many non-zeros (the MCLP
#: family has its own, lower threshold: ``facplan.optimize._core.HEURISTIC_NNZ``).
HEURISTIC_NNZ = 2_000_000


class LSCP(Model):
    """Open the fewest sites (or the cheapest set) that covers every coverable cell.

    Cells that need a site are those with weight > 0, not ``covered_before`` and
    covered by at least one site that is not forbidden. The others with weight > 0 and
    not covered before are *uncoverable*: listed in ``uncoverable_`` with their weight
    in ``uncoverable_weight_``, never a reason for infeasibility.

    ``objective_`` is the number of opened sites (``minimize="sites"``) or their total
    cost (``minimize="cost"``), forced sites included. ``bound_`` is a lower bound on the
    optimum (HiGHS's dual bound; rounded up for a site count), and
    ``gap_ = (objective_ − bound_) / objective_`` (0 when the objective is 0).
    ``selected_`` is in rank order (greedy pass over the chosen set by marginal newly
    covered weight, ties by ``site_id``); a chosen site that adds nothing is dropped
    unless forced.

    ``method``: ``"exact"`` — greedy + redundancy removal as a start, then the MIP
    through HiGHS on the reduced model (cells surely covered by forced sites dropped,
    cells with identical covering-site sets merged); ``"heuristic"`` — the greedy
    alone, with the LP relaxation (small models) or a dual-feasible bound;
    ``"auto"`` — the heuristic above ``HEURISTIC_NNZ`` non-zeros, else exact.

    Attributes
    ----------
    selected_, marginal_ : numpy.ndarray
        Chosen sites in rank order and their marginal newly covered weight.
    objective_, bound_, gap_ : float
    covered_before_, covered_after_ : float
    covered_ : numpy.ndarray
    uncoverable_ : numpy.ndarray
        Positions of cells no allowed site covers.
    uncoverable_weight_ : float
    cost_ : float
    seconds_ : float
    method_, status_ : str
    """

    _results = (
        "selected_", "marginal_", "objective_", "bound_", "gap_", "covered_before_",
        "covered_after_", "covered_", "uncoverable_", "uncoverable_weight_", "cost_",
        "seconds_", "method_", "status_",
    )

    @classmethod
    def from_matrix(
        cls,
        coverage: sp.spmatrix | np.ndarray,
        weights: np.ndarray,
        *,
        site_ids: Sequence[str],
        cost: np.ndarray | None = None,
        minimize: str = "sites",
        covered_before: np.ndarray | None = None,
        force: Sequence[int] = (),
        forbid: Sequence[int] = (),
        time_limit_s: float = 60.0,
        method: str = "auto",
        mip_rel_gap: float = 1e-6,
    ) -> LSCP:
        """Build the model (see :meth:`facplan.optimize.MCLP.from_matrix` for the shared
        parameters).

        Parameters
        ----------
        minimize
            ``"sites"`` (fewest sites) or ``"cost"`` (least total ``cost``).
        """
        pat = as_pattern(coverage, _NAME)
        n_sites, n_cells = pat.shape
        w = check_weights(weights, n_cells, _NAME)
        ids = check_site_ids(site_ids, n_sites, _NAME)
        if minimize not in ("sites", "cost"):
            raise InputError(
                f"The 'minimize' parameter of {_NAME} must be 'sites' or 'cost'. "
                f"Got {minimize!r} instead.", field="minimize",
            )
        if minimize == "cost" and cost is None:
            raise InputError(f"{_NAME}: minimize='cost' needs 'cost'", field="cost")
        cost_arr = check_costs(cost, n_sites, _NAME)
        before = check_mask(covered_before, n_cells, _NAME, "covered_before")
        force_pos = check_positions(force, n_sites, _NAME, "force")
        forbid_pos = check_positions(forbid, n_sites, _NAME, "forbid")
        if len(np.intersect1d(force_pos, forbid_pos)):
            raise InputError(f"{_NAME}: a site is both forced and forbidden", field="force")
        m = cls(
            coverage=coverage, weights=weights, site_ids=ids, cost=cost, minimize=minimize,
            covered_before=covered_before, force=force_pos, forbid=forbid_pos,
            time_limit_s=check_positive(time_limit_s, _NAME, "time_limit_s"),
            method=check_method(method, _NAME),
            mip_rel_gap=check_amount(mip_rel_gap, _NAME, "mip_rel_gap"),
        )
        m._pattern, m._w, m._before, m._ids = pat, w, before, ids
        m._unit = np.ones(n_sites) if minimize == "sites" else cost_arr
        m._cost = cost_arr
        m._fixed, m._can_open = site_masks(n_sites, force_pos, forbid_pos)
        return m

    def solve(self) -> LSCP:
        """Solve; returns ``self``."""
        t0 = time.perf_counter()
        prm = self._params
        pat, w, before = self._pattern, self._w, self._before
        n_cells = pat.shape[1]
        reach = np.zeros(n_cells, dtype=bool)
        reach[pat[np.flatnonzero(self._can_open)].indices] = True
        demand = (w > 0) & ~before
        self.uncoverable_ = np.flatnonzero(demand & ~reach)
        self.uncoverable_weight_ = float(w[self.uncoverable_].sum())
        need = demand & reach
        order = site_order(self._ids)
        prob = CoverProblem(
            pattern=pat, weights=need.astype(np.float64), order=order, cost=self._unit,
            can_open=self._can_open, fixed=self._fixed,
        )
        red = reduce(prob)
        sel, bound, status, method = self._solve_reduced(prob, red, t0)
        opened = np.sort(red.sites[sel])
        w_eff = np.where(before, 0.0, w)
        perm, marg = greedy_rank(pat[opened], w_eff, order[opened])
        ranked = opened[perm]
        tol = 1e-12 * max(1.0, float(w_eff.sum()))
        keep = (marg > tol) | self._fixed[ranked]
        self.selected_, self.marginal_ = ranked[keep], marg[keep]
        covered = before.copy()
        covered[pat[self.selected_].indices] = True
        self.covered_ = covered
        self.covered_before_ = float(w[before].sum())
        self.covered_after_ = float(w[covered].sum())
        self.objective_ = float(self._unit[self.selected_].sum())
        self.cost_ = float(self._cost[self.selected_].sum())
        if prm["minimize"] == "sites":
            bound = math.ceil(bound - 1e-6)
        self.bound_ = float(min(bound, self.objective_))
        self.gap_ = gap_min(self.objective_, self.bound_)
        self.status_ = proven_status(status, self.objective_, self.bound_)
        self.method_ = method
        self.seconds_ = time.perf_counter() - t0
        return self

    # ------------------------------------------------------------------ internals
    def _greedy(self, A: sp.csr_matrix, AT: sp.csr_matrix, unit: np.ndarray,
                fixed: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Chvátal's greedy (most newly covered cell groups per cost), then drop the
        redundant sites, most expensive first."""
        S, G = A.shape
        sel = fixed.copy()
        covered = np.zeros(G, dtype=bool)
        covered[A[np.flatnonzero(sel)].indices] = True
        gain = np.asarray(A @ (~covered).astype(np.float64)).ravel()
        while not covered.all():
            cand = ~sel & (gain > 0)
            if not cand.any():  # pragma: no cover - every model cell has a site
                break
            free = cand & (unit <= 0)
            pool = free if free.any() else cand
            score = gain if free.any() else gain / np.where(unit > 0, unit, 1.0)
            idx = np.flatnonzero(pool)
            top = score[idx].max()
            ties = idx[score[idx] >= top * (1 - 1e-12)]
            j = int(ties[np.argmin(order[ties])])
            sel[j] = True
            cells = A.indices[A.indptr[j] : A.indptr[j + 1]]
            new = cells[~covered[cells]]
            covered[new] = True
            sub = AT[new]
            gain -= np.bincount(sub.indices, minlength=S)
        cnt = AT @ sel.astype(np.float64)
        for j in sorted(np.flatnonzero(sel & ~fixed), key=lambda j: (-unit[j], -order[j])):
            cells = A.indices[A.indptr[j] : A.indptr[j + 1]]
            if (cnt[cells] >= 2).all():
                sel[j] = False
                cnt[cells] -= 1
        return sel

    def _model(self, A, unit, fixed):
        S, G = A.shape
        return dict(
            cost=unit, matrix=sp.csr_matrix(A.T), row_lower=np.ones(G),
            row_upper=np.full(G, np.inf), col_lower=fixed.astype(np.float64),
            col_upper=np.ones(S), maximize=False,
        )

    def _solve_reduced(self, prob, red, t0):
        prm = self._params
        deadline = t0 + prm["time_limit_s"]
        A, AT = red.A, red.AT
        S, G = A.shape
        unit = self._unit[red.sites]
        fixed = self._fixed[red.sites]
        order = prob.order[red.sites]
        start = self._greedy(A, AT, unit, fixed, order)
        obj_start = float(unit[start].sum())
        fixed_cost = float(unit[fixed].sum())
        if G == 0:
            return start, obj_start, "optimal", "heuristic" if prm["method"] == "heuristic" \
                else "exact"
        # a dual-feasible bound: u_g = min over covering sites of cost / (groups covered)
        n_cov = np.diff(A.indptr).astype(np.float64)
        per = np.where(fixed, np.inf, unit / np.maximum(n_cov, 1.0))
        Ac = A.tocsc()
        u = np.minimum.reduceat(per[Ac.indices], Ac.indptr[:-1]) if Ac.nnz else np.zeros(G)
        simple = fixed_cost + float(u.sum())
        heuristic = prm["method"] == "heuristic" or (
            prm["method"] == "auto" and A.nnz > HEURISTIC_NNZ
        )
        kw = self._model(A, unit, fixed)
        if heuristic:
            bound = simple
            left = deadline - time.perf_counter()
            if A.nnz <= _core.LP_BOUND_NNZ and left > 0.05:
                lp = _highs.solve(**kw, integer=None, time_limit_s=left)
                if lp.status == "optimal":
                    bound = max(bound, lp.objective - 1e-7 * max(1.0, abs(lp.objective)))
            return start, min(bound, obj_start), "feasible", "heuristic"
        sol = _highs.solve(
            **kw, integer=np.ones(S, dtype=bool),
            time_limit_s=max(deadline - time.perf_counter(), 0.05),
            mip_rel_gap=prm["mip_rel_gap"], start=start.astype(np.float64),
            mip_lp_solver="ipm" if A.nnz > _core.IPM_ROOT_NNZ else None,
        )
        sel = start
        if sol.x is not None and float(unit[sol.x > 0.5].sum()) <= obj_start:
            sel = sol.x > 0.5
        bound = sol.bound if np.isfinite(sol.bound) else simple
        bound = max(bound, simple) if sol.status != "optimal" else bound
        status = sol.status
        method = "exact" if status == "optimal" or prm["method"] == "exact" else "heuristic"
        return sel, bound, status, method
