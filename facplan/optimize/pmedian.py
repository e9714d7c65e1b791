"""p-median: open sites to minimise population-weighted walking distance."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from facplan._errors import InputError
from facplan.optimize import _core, _highs
from facplan.optimize._base import (
    Model,
    check_amount,
    check_count,
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

__all__ = ["PMedian"]

_NAME = "PMedian"
#: ``method="auto"`` switches to the heuristic above this many non-zeros (the MCLP
#: family has its own, lower threshold: ``facplan.optimize._core.HEURISTIC_NNZ``).
HEURISTIC_NNZ = 2_000_000


def _as_distances(matrix: Any, name: str, n_cells: int | None = None) -> sp.csr_matrix:
    """A CSR distance matrix (stored entries, explicit zeros included, are distances)."""
    if not sp.issparse(matrix):
        raise InputError(
            f"The '{name}' parameter of {_NAME} must be a scipy sparse matrix of "
            f"distances in metres. Got {type(matrix).__name__} instead.", field=name,
        )
    m = sp.coo_matrix(matrix)
    if n_cells is not None and m.shape[1] != n_cells:
        raise InputError(
            f"The '{name}' parameter of {_NAME} must have {n_cells} columns (cells). "
            f"Got {m.shape[1]} instead.", field=name,
        )
    d = np.asarray(m.data, dtype=np.float64)
    bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        raise InputError(
            f"The '{name}' parameter of {_NAME} must hold finite distances ≥ 0; "
            f"{int(bad.sum())} entries are not.", field=name,
        )
    # duplicates: keep the smallest distance
    key = m.row.astype(np.int64) * max(m.shape[1], 1) + m.col
    o = np.lexsort((d, key))
    key, d, r, c = key[o], d[o], m.row[o], m.col[o]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    out = sp.csr_matrix((d[first], (r[first], c[first])), shape=m.shape)
    out.sort_indices()
    return out


class PMedian(Model):
    """Open at most ``sites`` sites minimising Σ weight × distance to the nearest open site.

    ``distance`` holds a site's distance to a cell only within a cutoff (a stored entry,
    explicit zeros included, is a distance); a cell may only be assigned to a site with an
    entry. ``existing`` holds distances from always-open existing sites.

    Cells with no entry at all (from an allowed candidate or an existing site) are
    *unassigned*: listed in ``unassigned_`` and left out of the objective — not
    infeasible. A cell that has entries but whose candidate sites all stay closed (and
    that no existing site reaches) is *unreached*: listed in ``unreached_`` and charged
    ``unassigned_m`` metres per person (default: the largest distance in the matrices,
    i.e. about the cutoff), so that the model prefers reaching people.

    ``objective_`` = Σ w·d over reachable cells (metres × weight, unreached ones at
    ``unassigned_m``); ``objective_before_`` the same with no new site; ``bound_`` a
    lower bound on the optimum; ``gap_ = (objective_ − bound_) / objective_``.
    ``selected_`` is in rank order: a greedy pass over the chosen set, each time the site
    with the largest reduction of the objective (``marginal_``, weight × metres), ties by
    ``site_id``; a chosen site that reduces nothing is dropped unless forced.
    ``assignment_`` gives each cell's site position, −1 for existing sites, unassigned
    or unreached cells; ``distance_`` the distance walked (NaN when unassigned/unreached).

    ``method``: ``"exact"`` — greedy + swap start, then the MIP (``x_j`` binary,
    ``z_ij ≤ x_j``, ``Σ_j z_ij ≤ 1``, costs relative to the cell's fallback distance);
    ``"heuristic"`` — greedy + 1-swap (interchange) local search with the LP relaxation
    (small models) or the "everyone walks to their nearest allowed candidate" bound;
    ``"auto"`` — heuristic above ``HEURISTIC_NNZ`` non-zeros, else exact.
    """

    _results = (
        "selected_", "marginal_", "objective_", "objective_before_", "bound_", "gap_",
        "assignment_", "distance_", "unassigned_", "unreached_", "seconds_", "method_",
        "status_",
    )

    @classmethod
    def from_matrix(
        cls,
        distance: sp.spmatrix,
        weights: np.ndarray,
        *,
        site_ids: Sequence[str],
        sites: int,
        existing: sp.spmatrix | None = None,
        force: Sequence[int] = (),
        forbid: Sequence[int] = (),
        unassigned_m: float | None = None,
        time_limit_s: float = 60.0,
        method: str = "auto",
        mip_rel_gap: float = 1e-6,
    ) -> PMedian:
        """Build the model.

        Parameters
        ----------
        distance
            (n_sites, n_cells) sparse distances in metres, entries only within a cutoff.
        weights
            (n_cells,) weight per cell (finite ≥ 0).
        site_ids
            (n_sites,) distinct ids (ties in the rank order go by string order).
        sites
            The most new sites to open (forced ones included).
        existing
            (n_existing, n_cells) sparse distances from always-open existing sites.
        force, forbid
            Site positions always / never opened.
        unassigned_m
            Metres charged per person of an unreached cell (see the class notes).
        """
        D = _as_distances(distance, "distance")
        n_sites, n_cells = D.shape
        w = check_weights(weights, n_cells, _NAME)
        ids = check_site_ids(site_ids, n_sites, _NAME)
        p = check_count(sites, _NAME, "sites")
        if p is None:
            raise InputError(f"{_NAME}: give 'sites'", field="sites")
        E = None if existing is None else _as_distances(existing, "existing", n_cells)
        force_pos = check_positions(force, n_sites, _NAME, "force")
        forbid_pos = check_positions(forbid, n_sites, _NAME, "forbid")
        if len(np.intersect1d(force_pos, forbid_pos)):
            raise InputError(f"{_NAME}: a site is both forced and forbidden", field="force")
        if len(force_pos) > p:
            raise InputError(f"{_NAME}: {len(force_pos)} forced sites but sites={p}",
                             field="force")
        um = check_amount(unassigned_m, _NAME, "unassigned_m")
        m = cls(
            distance=distance, weights=weights, site_ids=ids, sites=p, existing=existing,
            force=force_pos, forbid=forbid_pos, unassigned_m=um,
            time_limit_s=check_positive(time_limit_s, _NAME, "time_limit_s"),
            method=check_method(method, _NAME),
            mip_rel_gap=check_amount(mip_rel_gap, _NAME, "mip_rel_gap"),
        )
        m._D, m._E, m._w, m._ids, m._p = D, E, w, ids, p
        m._fixed, m._can_open = site_masks(n_sites, force_pos, forbid_pos)
        return m

    # ------------------------------------------------------------------ solving
    def solve(self) -> PMedian:
        """Solve; returns ``self``."""
        t0 = time.perf_counter()
        prm = self._params
        D, E, w = self._D, self._E, self._w
        n_sites, n_cells = D.shape
        order = site_order(self._ids)
        # allowed candidate entries only
        Dc = D[np.flatnonzero(self._can_open)]
        cand_sites = np.flatnonzero(self._can_open)
        has_cand = np.zeros(n_cells, dtype=bool)
        has_cand[Dc.indices] = True
        ex = np.full(n_cells, np.inf)
        if E is not None and E.nnz:
            Ec = E.tocoo()
            np.minimum.at(ex, Ec.col, Ec.data)
        reachable = has_cand | np.isfinite(ex)
        um = prm["unassigned_m"]
        if um is None:
            um = max(float(D.data.max()) if D.nnz else 0.0,
                     float(E.data.max()) if E is not None and E.nnz else 0.0)
        # fallback distance when no new site is open: existing, else the penalty
        base = np.where(np.isfinite(ex), ex, um)
        base[~reachable] = 0.0
        self._um = um
        # model entries: allowed sites strictly better than the fallback, weight > 0
        Dcoo = Dc.tocoo()
        # (a tie with an existing site goes to the existing one; a tie with the
        # penalty goes to the site, so that people at exactly the cutoff are reached)
        ex_c = ex[Dcoo.col]
        better = np.where(np.isfinite(ex_c), Dcoo.data < ex_c, Dcoo.data <= um)
        keep = better & (w[Dcoo.col] > 0)
        rows, cols, dist = cand_sites[Dcoo.row[keep]], Dcoo.col[keep], Dcoo.data[keep]
        solver = _PSolver(rows, cols, dist, w, base, n_sites, self._fixed, self._can_open,
                          self._p, order)
        sel, bound, status, method = solver.solve(
            prm["method"], t0 + prm["time_limit_s"], prm["mip_rel_gap"], prm["time_limit_s"]
        )
        opened = np.flatnonzero(sel)
        # rank: greedy pass over the chosen set
        cur = base.copy()
        left = list(opened)
        ranked, marg = [], []
        tol = 1e-12 * max(1.0, float((w * base).sum()))
        while left:
            gains = [solver.reduction(j, cur) for j in left]
            top = max(gains)
            ties = [j for j, g in zip(left, gains, strict=True) if g >= top - tol]
            j = min(ties, key=lambda j: order[j])
            ranked.append(j)
            marg.append(max(solver.reduction(j, cur), 0.0))
            solver.apply(j, cur)
            left.remove(j)
        ranked, marg = np.asarray(ranked, dtype=np.int64), np.asarray(marg)
        keep_s = (marg > tol) | self._fixed[ranked] if len(ranked) else np.zeros(0, bool)
        self.selected_, self.marginal_ = ranked[keep_s], marg[keep_s]
        # assignment
        final = solver.costs(np.isin(np.arange(n_sites), self.selected_))
        best_site = solver.best_site(np.isin(np.arange(n_sites), self.selected_), order)
        self.objective_before_ = float((w * base)[reachable].sum())
        self.objective_ = float((w * final)[reachable].sum())
        self.bound_ = float(min(bound, self.objective_))
        self.gap_ = gap_min(self.objective_, self.bound_)
        on_existing = reachable & np.isfinite(ex) & (best_site < 0)
        self.assignment_ = best_site
        dist_ = np.full(n_cells, np.nan)
        got = best_site >= 0
        dist_[got] = final[got]
        dist_[on_existing] = ex[on_existing]
        self.distance_ = dist_
        self.unassigned_ = np.flatnonzero(~reachable)
        self.unreached_ = np.flatnonzero(reachable & ~got & ~np.isfinite(ex))
        self.status_ = proven_status(status, self.objective_, self.bound_)
        self.method_ = method
        self.seconds_ = time.perf_counter() - t0
        return self


class _PSolver:
    """p-median on model entries (site, cell, distance) that beat each cell's fallback.

    Every entry is a real choice: strictly shorter than an existing site, or not longer
    than the penalty.
    """

    def __init__(self, rows, cols, dist, w, base, n_sites, fixed, can_open, p, order):
        self.rows, self.cols, self.dist = rows, cols, dist
        self.w, self.base, self.n_sites = w, base, n_sites
        self.fixed, self.can_open, self.p, self.order = fixed, can_open, p, order
        o = np.lexsort((cols, rows))
        self.rows, self.cols, self.dist = rows[o], cols[o], dist[o]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.rows, minlength=n_sites))])
        self.tol = 1e-9 * max(1.0, float((w * base).sum()))

    def _row(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.indptr[j], self.indptr[j + 1]
        return self.cols[a:b], self.dist[a:b]

    def reduction(self, j: int, cur: np.ndarray) -> float:
        """Weighted distance saved by opening ``j`` when cells currently walk ``cur``."""
        c, d = self._row(j)
        return float((self.w[c] * np.maximum(cur[c] - d, 0.0)).sum())

    def apply(self, j: int, cur: np.ndarray) -> None:
        """Open ``j``: update the walked distances ``cur`` in place."""
        c, d = self._row(j)
        cur[c] = np.minimum(cur[c], d)

    def costs(self, sel: np.ndarray) -> np.ndarray:
        cur = self.base.copy()
        m = sel[self.rows]
        np.minimum.at(cur, self.cols[m], self.dist[m])
        return cur

    def best_site(self, sel: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Open site each cell walks to (−1: existing/none); ties to the smaller order."""
        cur = self.costs(sel)
        out = np.full(len(self.w), -1, dtype=np.int64)
        m = sel[self.rows] & (self.dist <= cur[self.cols])
        r, c = self.rows[m], self.cols[m]
        o = np.lexsort((order[r], c))
        r, c = r[o], c[o]
        first = np.ones(len(c), dtype=bool)
        first[1:] = c[1:] != c[:-1]
        out[c[first]] = r[first]
        return out

    def value(self, sel: np.ndarray) -> float:
        return float((self.w * self.costs(sel)).sum())

    # ------------------------------------------------------------------ heuristics
    def greedy(self) -> np.ndarray:
        sel = self.fixed.copy()
        cur = self.costs(sel)
        while sel.sum() < self.p:
            red = self._reductions(cur)
            cand = self.can_open & ~sel & (red > self.tol)
            if not cand.any():
                break
            idx = np.flatnonzero(cand)
            top = red[idx].max()
            ties = idx[red[idx] >= top - 1e-12 * max(1.0, top)]
            j = int(ties[np.argmin(self.order[ties])])
            sel[j] = True
            self.apply(j, cur)
        return sel

    def _reductions(self, cur: np.ndarray) -> np.ndarray:
        v = self.w[self.cols] * np.maximum(cur[self.cols] - self.dist, 0.0)
        return np.bincount(self.rows, weights=v, minlength=self.n_sites)

    def local_search(self, sel: np.ndarray, deadline: float) -> np.ndarray:
        """Best-improvement interchange (one site out, one in), plus additions."""
        sel = sel.copy()
        r, c, d, w = self.rows, self.cols, self.dist, self.w
        while time.perf_counter() < deadline:
            # best and second-best cost per cell among open sites and the fallback
            m = sel[r]
            c1 = self.base.copy()
            np.minimum.at(c1, c[m], d[m])
            best = np.full(len(w), -1, dtype=np.int64)
            hit = m & (d <= c1[c])
            best[c[hit]] = r[hit]
            c2 = self.base.copy()
            m2 = m & (r != best[c])
            np.minimum.at(c2, c[m2], d[m2])
            red = self._reductions(c1)
            add = self.can_open & ~sel & (red > self.tol)
            move, best_delta = None, self.tol
            if sel.sum() < self.p and add.any():
                k = int(np.argmax(np.where(add, red, -np.inf)))
                move, best_delta = (None, k), red[k]
            out = np.flatnonzero(sel & ~self.fixed)
            if len(out) and (self.can_open & ~sel).any():
                has_best = best >= 0
                loss = np.bincount(best[has_best], weights=(w * (c2 - c1))[has_best],
                                   minlength=self.n_sites)
                # correction for cells whose best site j leaves: they compare k with c2
                e = best[c] >= 0
                e &= ~sel[r]
                corr_v = w[c[e]] * (np.maximum(c2[c[e]] - d[e], 0.0)
                                    - np.maximum(c1[c[e]] - d[e], 0.0))
                corr = sp.csr_matrix((corr_v, (best[c[e]], r[e])),
                                     shape=(self.n_sites, self.n_sites))
                feas_k = self.can_open & ~sel
                for j in out:
                    delta = red - loss[j] + corr[j].toarray().ravel()
                    delta = np.where(feas_k, delta, -np.inf)
                    k = int(np.argmax(delta))
                    if delta[k] > best_delta + self.tol:
                        move, best_delta = (j, k), delta[k]
            if move is None:
                break
            j, k = move
            if j is not None:
                sel[j] = False
            sel[k] = True
        return sel

    # ------------------------------------------------------------------ MIP
    def _model(self, relax: bool, start: np.ndarray | None):
        S, K = self.n_sites, len(self.rows)
        k = np.arange(K)
        cells, inv = np.unique(self.cols, return_inverse=True)
        inv = np.asarray(inv).ravel()
        n_c = len(cells)
        r_assign = sp.csr_matrix((np.ones(K), (inv, S + k)), shape=(n_c, S + K))
        r_link = sp.csr_matrix(
            (np.concatenate([np.ones(K), -np.ones(K)]),
             (np.concatenate([k, k]), np.concatenate([S + k, self.rows]))),
            shape=(K, S + K),
        )
        r_count = sp.csr_matrix(
            (np.ones(S), (np.zeros(S, dtype=np.int64), np.arange(S))), shape=(1, S + K)
        )
        M = sp.vstack([r_assign, r_link, r_count], format="csr")
        row_lo = np.full(n_c + K + 1, -np.inf)
        row_hi = np.concatenate([np.ones(n_c), np.zeros(K), [float(self.p)]])
        col_lo = np.concatenate([self.fixed.astype(np.float64), np.zeros(K)])
        col_hi = np.concatenate([self.can_open.astype(np.float64), np.ones(K)])
        cost = np.concatenate([np.zeros(S), self.w[self.cols] * (self.dist - self.base[self.cols])])
        offset = float((self.w * self.base).sum())
        x0 = None
        if start is not None:
            best = self.best_site(start, self.order)
            z = (best[self.cols] == self.rows).astype(np.float64)
            x0 = np.concatenate([start.astype(np.float64), z])
        return dict(
            cost=cost, matrix=M, row_lower=row_lo, row_upper=row_hi, col_lower=col_lo,
            col_upper=col_hi, maximize=False, offset=offset,
            integer=None if relax else np.concatenate([np.ones(S, bool), np.zeros(K, bool)]),
            start=x0,
        )

    def solve(self, method, deadline, mip_rel_gap, time_limit_s):
        t0 = time.perf_counter()
        nnz = len(self.rows)
        # trivial lower bound: everyone at their nearest allowed candidate (or fallback)
        allowed = self.can_open[self.rows]
        lb_cost = self.base.copy()
        np.minimum.at(lb_cost, self.cols[allowed], self.dist[allowed])
        trivial = float((self.w * lb_cost).sum())
        heuristic = method == "heuristic" or (method == "auto" and nnz > HEURISTIC_NNZ)
        share = 0.8 if heuristic else 0.1
        sel = self.local_search(self.greedy(), t0 + share * time_limit_s)
        obj = self.value(sel)
        if nnz == 0:
            return sel, obj, "optimal", "heuristic" if method == "heuristic" else "exact"
        if heuristic:
            bound = trivial
            left = deadline - time.perf_counter()
            if nnz <= _core.LP_BOUND_NNZ and left > 0.05:
                lp = _highs.solve(**self._model(True, None), time_limit_s=left)
                if lp.status == "optimal":
                    bound = max(bound, lp.objective - 1e-7 * max(1.0, abs(lp.objective)))
            return sel, min(bound, obj), "feasible", "heuristic"
        kw = self._model(False, sel)
        sol = _highs.solve(
            **kw, time_limit_s=max(deadline - time.perf_counter(), 0.05),
            mip_rel_gap=mip_rel_gap,
            mip_lp_solver="ipm" if kw["matrix"].nnz > _core.IPM_ROOT_NNZ else None,
        )
        if sol.x is not None:
            cand = sol.x[: self.n_sites] > 0.5
            if self.value(cand) <= obj:
                sel, obj = cand, self.value(cand)
        bound = sol.bound if np.isfinite(sol.bound) else trivial
        if sol.status != "optimal":
            bound = max(bound, trivial)
        used = "exact" if sol.status == "optimal" or method == "exact" else "heuristic"
        return sel, min(bound, obj), sol.status, used
