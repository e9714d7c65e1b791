"""The coverage engine shared by the MCLP-family models.

A :class:`CoverProblem` is "open sites to cover the most weight" in its most general
form here: a site × cell coverage pattern, cell weights, site costs, a site count and/or a
budget, sites fixed open, and *groups* of sites of which at most one (or exactly one)
may be open. MCLP, its community and capacity variants and the multi-tier model are all
this problem with different inputs.

Solving goes through :func:`reduce` (drop cells that cannot change the answer, merge
cells with identical covering-site sets) and :class:`CoverSolver`: a greedy + 1-swap
local search, a Lagrangian (or LP) upper bound, and the exact MIP through HiGHS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from facplan.optimize import _highs

__all__ = [
    "CoverProblem",
    "Reduced",
    "CoverSolver",
    "CoverResult",
    "reduce",
    "merge_identical_rows",
    "greedy_rank",
    "solve_cover",
    "HEURISTIC_NNZ",
    "LP_BOUND_NNZ",
    "IPM_ROOT_NNZ",
]

#: ``method="auto"`` switches to the heuristic above this many non-zeros in the reduced
#: coverage matrix.
HEURISTIC_NNZ = 2_000_000
#: The heuristic path also solves the LP relaxation (for a tighter bound) below this size.
LP_BOUND_NNZ = 100_000
#: MIPs with more non-zeros solve their root LP by interior point (much faster there).
IPM_ROOT_NNZ = 100_000
#: Share of the time limit the exact path spends on its heuristic start.
_START_SHARE = 0.1
#: Time the exact path keeps for a Lagrangian bound when the MIP stops early.
_BOUND_SHARE = 0.1
_BOUND_MAX_S = 20.0


@dataclass
class CoverProblem:
    """Inputs of the coverage engine (all arrays indexed by site or cell position).

    Attributes
    ----------
    pattern
        CSR (n_sites, n_cells) of ones: site j covers cell i.
    weights
        Weight per cell; cells already covered must already be zeroed.
    order
        Tie-break key per site (smaller first), e.g. the rank of ``site_id``.
    cost
        Cost per site.
    can_open
        Sites that may be opened (not forbidden, affordable).
    fixed
        Sites forced open (a subset of ``can_open``).
    max_sites
        Most sites open in total (fixed ones included), or ``None``.
    budget
        Most total cost of open sites (fixed ones included), or ``None``.
    group
        Group per site (``-1``: none). At most one site per group is open.
    group_exact
        Per group: exactly one (True) rather than at most one (False) must be open.
    capacity
        People each site can serve, or ``None`` (uncapacitated).
    """

    pattern: sp.csr_matrix
    weights: np.ndarray
    order: np.ndarray
    cost: np.ndarray
    can_open: np.ndarray
    fixed: np.ndarray
    max_sites: int | None = None
    budget: float | None = None
    group: np.ndarray | None = None
    group_exact: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    capacity: np.ndarray | None = None


@dataclass
class Reduced:
    """The reduced model: only sites that may open, only cells that matter, merged.

    Attributes
    ----------
    sites
        Original position of each model site.
    A, AT
        CSR (S, G) site × cell-group pattern and its transpose.
    w
        Weight per cell group.
    cell_group
        Group of each original cell, ``-1`` for cells left out.
    constant
        Weight surely covered by fixed sites (left out of the model).
    """

    sites: np.ndarray
    A: sp.csr_matrix
    AT: sp.csr_matrix
    w: np.ndarray
    cell_group: np.ndarray
    constant: float


def merge_identical_rows(T: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Group the rows of a 0/1 CSR matrix that have identical column sets.

    Rows are hashed (two random 64-bit keys per column, summed) and the grouping is then
    verified exactly, so a hash collision can never merge different rows.

    Returns
    -------
    first, inverse
        ``first[k]`` is a row of group ``k``; ``inverse[r]`` the group of row ``r``.
    """
    m, n = T.shape
    if m == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    nnz = np.diff(T.indptr)
    rng = np.random.default_rng(0x5EED)
    keys = [nnz.astype(np.uint64)]
    nonempty = nnz > 0
    starts = T.indptr[:-1][nonempty]
    for _ in range(2):
        r = rng.integers(0, np.iinfo(np.int64).max, size=n, dtype=np.uint64)
        h = np.zeros(m, dtype=np.uint64)
        if T.nnz:
            h[nonempty] = np.add.reduceat(r[T.indices], starts, dtype=np.uint64)
        keys.append(h)
    _, first, inverse = np.unique(
        np.stack(keys, axis=1), axis=0, return_index=True, return_inverse=True
    )
    inverse = np.asarray(inverse).ravel()
    rep = T[first[inverse]]
    diff = abs(T - rep)
    diff.eliminate_zeros()
    if diff.nnz == 0:
        return first.astype(np.int64), inverse.astype(np.int64)
    # a hash collision (never seen in practice): group exactly
    seen: dict[bytes, int] = {}
    inverse = np.empty(m, dtype=np.int64)
    firsts: list[int] = []
    for r_ in range(m):
        key = T.indices[T.indptr[r_] : T.indptr[r_ + 1]].tobytes()
        k = seen.setdefault(key, len(firsts))
        if k == len(firsts):
            firsts.append(r_)
        inverse[r_] = k
    return np.asarray(firsts, dtype=np.int64), inverse


def reduce(prob: CoverProblem) -> Reduced:
    """Build the reduced model of ``prob``.

    Steps: keep only sites that may open; count weight surely covered by fixed sites as
    a constant (uncapacitated only); drop cells with zero weight or no covering site;
    merge cells with identical covering-site sets (weights added); drop sites that then
    cover nothing unless they are fixed or in a group.
    """
    n_sites, n_cells = prob.pattern.shape
    w = prob.weights
    keep = prob.can_open | prob.fixed
    P = prob.pattern[np.flatnonzero(keep)]
    sites = np.flatnonzero(keep)
    constant = 0.0
    cell_ok = w > 0
    if prob.capacity is None and prob.fixed.any():
        fixed_cov = np.zeros(n_cells, dtype=bool)
        fixed_cov[prob.pattern[np.flatnonzero(prob.fixed)].indices] = True
        constant = float(w[fixed_cov & cell_ok].sum())
        cell_ok &= ~fixed_cov
    col_count = np.bincount(P.indices, minlength=n_cells)
    cell_ok &= col_count > 0
    cells = np.flatnonzero(cell_ok)
    T = sp.csr_matrix(P[:, cells].T)
    T.sort_indices()
    first, inverse = merge_identical_rows(T)
    A = sp.csr_matrix(T[first].T)
    A.sort_indices()
    wg = np.bincount(inverse, weights=w[cells], minlength=len(first)).astype(np.float64)
    # sites that cover nothing and are neither fixed nor grouped can only be useless
    group = prob.group if prob.group is not None else np.full(n_sites, -1)
    useful = (np.diff(A.indptr) > 0) | prob.fixed[sites] | (group[sites] >= 0)
    if not useful.all():
        sites = sites[useful]
        A = A[np.flatnonzero(useful)]
    cell_group = np.full(n_cells, -1, dtype=np.int64)
    cell_group[cells] = inverse
    AT = sp.csr_matrix(A.T)
    AT.sort_indices()
    return Reduced(sites, A, AT, wg, cell_group, constant)


@dataclass
class CoverResult:
    """Outcome of :func:`solve_cover` (in original site positions).

    ``objective`` and ``bound`` are newly covered (or, with capacity, served) weight,
    fixed sites included; ``served`` is per (original) site with capacity, else None.
    """

    open: np.ndarray
    objective: float
    bound: float
    status: str
    method: str
    reduced: Reduced
    served_share: sp.csr_matrix | None = None  # (n_sites, n_groups) z values


class CoverSolver:
    """Heuristics, bounds and the MIP on a :class:`Reduced` model."""

    def __init__(self, prob: CoverProblem, red: Reduced) -> None:
        self.prob = prob
        self.red = red
        s = red.sites
        self.S = len(s)
        self.G = len(red.w)
        self.A, self.AT, self.w = red.A, red.AT, red.w
        self.cost = prob.cost[s].astype(np.float64)
        self.order = prob.order[s]
        self.fixed = prob.fixed[s].copy()
        self.p = prob.max_sites
        self.budget = prob.budget
        grp = prob.group[s] if prob.group is not None else np.full(self.S, -1)
        self.group = np.asarray(grp, dtype=np.int64)
        # group arrays get one spare slot so that ``arr[max(g, 0)]`` is always valid
        self.n_groups = max(len(prob.group_exact), 1)
        self.exact = np.zeros(self.n_groups, dtype=bool)
        self.exact[: len(prob.group_exact)] = prob.group_exact
        self.total_w = float(self.w.sum())
        self.tol = 1e-9 * max(1.0, self.total_w)
        # cheapest member of each group (for the budget reserve of exact groups)
        self.min_cost = np.full(self.n_groups, np.inf)
        m = self.group >= 0
        if m.any():
            np.minimum.at(self.min_cost, self.group[m], self.cost[m])
        self.budget_tol = 0.0 if self.budget is None else 1e-9 * max(1.0, self.budget)

    # ------------------------------------------------------------------ helpers
    def value(self, sel: np.ndarray) -> float:
        """Covered weight of the reduced model for the open mask ``sel``."""
        if self.G == 0:
            return 0.0
        cnt = self.AT @ sel.astype(np.float64)
        return float(self.w[cnt > 0.5].sum())

    def _group_used(self, sel: np.ndarray) -> np.ndarray:
        used = np.zeros(self.n_groups, dtype=bool)
        g = self.group[sel]
        used[g[g >= 0]] = True
        return used

    def _addable(self, sel: np.ndarray, used: np.ndarray, spent: float, n: int) -> np.ndarray:
        """Mask of sites that can be added to ``sel`` keeping every constraint satisfiable."""
        ok = ~sel
        g = self.group
        in_group = g >= 0
        ok &= ~(in_group & used[np.maximum(g, 0)])
        unfilled = self.exact & ~used
        n_unf = int(unfilled.sum())
        k_fills = in_group & unfilled[np.maximum(g, 0)]
        if self.p is not None:
            slots = self.p - n
            ok &= slots - 1 >= n_unf - k_fills.astype(np.int64)
        if self.budget is not None:
            reserve = float(self.min_cost[unfilled].sum()) if n_unf else 0.0
            own = np.where(k_fills, self.min_cost[np.maximum(g, 0)], 0.0)
            ok &= spent + self.cost + reserve - own <= self.budget + self.budget_tol
        return ok

    def _best(self, score: np.ndarray, cand: np.ndarray) -> int:
        idx = np.flatnonzero(cand)
        s = score[idx]
        top = s.max()
        ties = idx[s >= top - 1e-12 * max(1.0, abs(top))]
        return int(ties[np.argmin(self.order[ties])])

    # ------------------------------------------------------------------ greedy
    def greedy(self, by_ratio: bool = False) -> np.ndarray:
        """Greedy: add the site with the largest gain (or gain per cost) while allowed.

        Fixed sites are open first; exact groups still empty at the end get their best
        member. Ties go to the smaller ``order``.
        """
        sel = self.fixed.copy()
        covered = np.zeros(self.G, dtype=bool)
        if sel.any():
            covered[self.A[np.flatnonzero(sel)].indices] = True
        gain = self.A @ np.where(covered, 0.0, self.w) if self.G else np.zeros(self.S)
        spent = float(self.cost[sel].sum())
        used = self._group_used(sel)
        while True:
            cand = self._addable(sel, used, spent, int(sel.sum())) & (gain > self.tol)
            if not cand.any():
                break
            if by_ratio:
                free = cand & (self.cost <= 0)
                if free.any():
                    j = self._best(gain, free)
                else:
                    j = self._best(gain / np.where(self.cost > 0, self.cost, 1.0), cand)
            else:
                j = self._best(gain, cand)
            spent = self._open(j, sel, covered, gain, used, spent)
        # fill exact groups that are still empty
        for grp in np.flatnonzero(self.exact & ~used):
            cand = self._addable(sel, used, spent, int(sel.sum())) & (self.group == grp)
            if not cand.any():  # pragma: no cover - prevented by the model's checks
                continue
            idx = np.flatnonzero(cand)
            key = np.lexsort((self.order[idx], self.cost[idx], -gain[idx]))
            spent = self._open(int(idx[key[0]]), sel, covered, gain, used, spent)
        return sel

    def _open(self, j, sel, covered, gain, used, spent) -> float:
        sel[j] = True
        if self.group[j] >= 0:
            used[self.group[j]] = True
        cells = self.A.indices[self.A.indptr[j] : self.A.indptr[j + 1]]
        new = cells[~covered[cells]]
        if len(new):
            covered[new] = True
            sub = self.AT[new]
            gain -= np.bincount(
                sub.indices, weights=np.repeat(self.w[new], np.diff(sub.indptr)),
                minlength=self.S,
            )
        return spent + float(self.cost[j])

    # ------------------------------------------------------------------ local search
    def local_search(self, sel: np.ndarray, deadline: float) -> np.ndarray:
        """1-swap local search (and plain additions while room is left).

        Repeats the best improving move until none improves by more than a tolerance
        or the deadline passes.
        """
        sel = sel.copy()
        if self.G == 0:
            return sel
        while time.perf_counter() < deadline:
            cnt = self.AT @ sel.astype(np.float64)
            gain_in = self.A @ np.where(cnt < 0.5, self.w, 0.0)
            spent = float(self.cost[sel].sum())
            used = self._group_used(sel)
            best_delta, move = self.tol, None
            add = self._addable(sel, used, spent, int(sel.sum())) & (gain_in > self.tol)
            if add.any():
                k = self._best(gain_in, add)
                best_delta, move = gain_in[k], (None, k)
            sel_idx = np.flatnonzero(sel & ~self.fixed)
            if len(sel_idx) and (~sel).any():
                single = np.flatnonzero(np.abs(cnt - 1.0) < 0.5)
                ATs = sp.csr_matrix(self.AT[single][:, np.flatnonzero(sel)])
                all_sel = np.flatnonzero(sel)
                owner = all_sel[ATs.indices]  # exactly one entry per single group
                loc = np.full(self.S, -1)
                loc[sel_idx] = np.arange(len(sel_idx))
                keep = loc[owner] >= 0
                Bm = sp.csr_matrix(
                    (self.w[single][keep], (loc[owner[keep]], single[keep])),
                    shape=(len(sel_idx), self.G),
                )
                loss = np.asarray(Bm.sum(axis=1)).ravel()
                inter = sp.csr_matrix(Bm @ self.AT)
                base = ~sel
                g = self.group
                in_g = g >= 0
                base_free = base & ~(in_g & used[np.maximum(g, 0)])
                block = max(1, int(4_000_000 // max(self.S, 1)))
                for b0 in range(0, len(sel_idx), block):
                    rows = sel_idx[b0 : b0 + block]
                    delta = gain_in[None, :] - loss[b0 : b0 + len(rows), None]
                    delta = delta + inter[b0 : b0 + len(rows)].toarray()
                    for r, j in enumerate(rows):
                        gj = g[j]
                        if gj >= 0 and self.exact[gj]:
                            feas = base & (g == gj)
                        elif gj >= 0:
                            feas = base_free | (base & (g == gj))
                        else:
                            feas = base_free.copy()
                        if self.budget is not None:
                            feas &= spent - self.cost[j] + self.cost <= self.budget + self.budget_tol
                        d = np.where(feas, delta[r], -np.inf)
                        k = int(np.argmax(d))
                        if d[k] > best_delta + self.tol:
                            best_delta, move = d[k], (j, k)
            if move is None:
                break
            j, k = move
            if j is not None:
                sel[j] = False
            sel[k] = True
        return sel

    # ------------------------------------------------------------------ bounds
    def _sub(self, c: np.ndarray) -> tuple[float, np.ndarray]:
        """Upper bound of ``max c·x`` over the open-site constraints, with its ``x``."""
        x = np.zeros(self.S)
        x[self.fixed] = 1.0
        val = float(c[self.fixed].sum())
        free = ~self.fixed
        if self.p is not None:
            used = self._group_used(self.fixed)
            slots = self.p - int(self.fixed.sum())
            g = self.group
            cand = free & ~((g >= 0) & used[np.maximum(g, 0)])
            # best member of every group still open to choice
            grouped = np.flatnonzero(cand & (g >= 0))
            best_of = np.zeros(0, dtype=np.int64)
            if len(grouped):
                o = np.lexsort((-c[grouped], g[grouped]))
                srt = grouped[o]
                _, first = np.unique(g[srt], return_index=True)
                best_of = srt[first]
            must = best_of[self.exact[g[best_of]]] if len(best_of) else best_of
            x[must] = 1.0
            val += float(c[must].sum())
            slots -= len(must)
            items = np.concatenate(
                [np.flatnonzero(cand & (g < 0)), best_of[~self.exact[g[best_of]]]]
            )
            items = items[c[items] > 0]
            if slots > 0 and len(items):
                if len(items) > slots:
                    items = items[np.argpartition(-c[items], slots - 1)[:slots]]
                x[items] = 1.0
                val += float(c[items].sum())
            return val, x
        # budget: fractional knapsack, group constraints dropped (a relaxation)
        room = float(self.budget) - float(self.cost[self.fixed].sum())
        items = np.flatnonzero(free & (c > 0))
        zero = items[self.cost[items] <= 0]
        x[zero] = 1.0
        val += float(c[zero].sum())
        items = items[self.cost[items] > 0]
        if len(items) and room > 0:
            ratio = c[items] / self.cost[items]
            items = items[np.argsort(-ratio, kind="stable")]
            cum = np.cumsum(self.cost[items])
            full = cum <= room
            x[items[full]] = 1.0
            val += float(c[items[full]].sum())
            nxt = int(full.sum())
            if nxt < len(items):
                left = room - (cum[nxt - 1] if nxt else 0.0)
                frac = left / self.cost[items[nxt]]
                x[items[nxt]] = frac
                val += frac * float(c[items[nxt]])
        return val, x

    def lagrangian_bound(self, lower: float, deadline: float, max_iter: int = 400) -> float:
        """Upper bound on the reduced optimum by subgradient optimisation.

        Relaxes ``y_g ≤ Σ_j a_jg x_j`` with multipliers ``λ_g ∈ [0, w_g]``; every
        iterate is a valid bound, the smallest is returned.
        """
        if self.G == 0:
            return 0.0
        lam = self.w.copy()
        best = np.inf
        theta, stall = 2.0, 0
        for _ in range(max_iter):
            c = self.A @ lam
            val, x = self._sub(c)
            L = float((self.w - lam).sum()) + val
            if L < best - self.tol:
                best, stall = L, 0
            else:
                stall += 1
                if stall >= 15:
                    theta, stall = theta / 2.0, 0
            if best - lower <= self.tol or theta < 1e-4 or time.perf_counter() > deadline:
                break
            s = self.AT @ x - 1.0
            s[(lam <= 0) & (s > 0)] = 0.0
            s[(lam >= self.w) & (s < 0)] = 0.0
            ns = float(s @ s)
            if ns <= 0:
                break
            step = theta * max(L - lower, self.tol) / ns
            lam = np.clip(lam - step * s, 0.0, self.w)
        return float(best)

    # ------------------------------------------------------------------ MIP
    def _constraint_rows(self, n_extra: int) -> tuple[list, list, list]:
        """Count, budget and group rows over the x columns (padded by ``n_extra``)."""
        S = self.S
        mats, lo, hi = [], [], []
        pad = sp.csr_matrix((1, n_extra))
        if self.p is not None:
            mats.append(sp.hstack([sp.csr_matrix(np.ones((1, S))), pad]))
            lo.append(-np.inf)
            hi.append(float(self.p))
        if self.budget is not None:
            mats.append(sp.hstack([sp.csr_matrix(self.cost[None, :]), pad]))
            lo.append(-np.inf)
            hi.append(float(self.budget))
        m = np.flatnonzero(self.group >= 0)
        if len(m):
            gids, gi = np.unique(self.group[m], return_inverse=True)
            G_rows = sp.csr_matrix(
                (np.ones(len(m)), (np.asarray(gi).ravel(), m)), shape=(len(gids), S)
            )
            mats.append(sp.hstack([G_rows, sp.csr_matrix((len(gids), n_extra))]))
            ex = self.exact[gids]
            lo.extend(np.where(ex, 1.0, -np.inf).tolist())
            hi.extend([1.0] * len(gids))
        return mats, lo, hi

    def mip(
        self,
        *,
        time_limit_s: float,
        mip_rel_gap: float,
        start: np.ndarray | None = None,
        relax: bool = False,
    ) -> tuple[_highs.Solution, np.ndarray | None]:
        """Solve the MIP (or its LP relaxation); return the solution and the open mask."""
        S, G = self.S, self.G
        if self.prob.capacity is not None:
            return self._mip_capacity(time_limit_s, mip_rel_gap, relax, start)
        cover = sp.hstack([-self.AT, sp.identity(G, format="csr")], format="csr")
        mats, lo, hi = self._constraint_rows(G)
        M = sp.vstack([cover, *mats], format="csr")
        row_lo = np.concatenate([np.full(G, -np.inf), lo])
        row_hi = np.concatenate([np.zeros(G), hi])
        col_lo = np.concatenate([self.fixed.astype(np.float64), np.zeros(G)])
        col_hi = np.ones(S + G)
        cost = np.concatenate([np.zeros(S), self.w])
        integer = None if relax else np.concatenate([np.ones(S, bool), np.zeros(G, bool)])
        x0 = None
        if start is not None and not relax:
            cnt = self.AT @ start.astype(np.float64)
            x0 = np.concatenate([start.astype(np.float64), (cnt > 0.5).astype(np.float64)])
        sol = _highs.solve(
            cost=cost, matrix=M, row_lower=row_lo, row_upper=row_hi, col_lower=col_lo,
            col_upper=col_hi, integer=integer, maximize=True, time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap, start=x0,
            mip_lp_solver="ipm" if M.nnz > IPM_ROOT_NNZ else None,
        )
        sel = None if sol.x is None else sol.x[:S] > 0.5
        return sol, sel

    def _mip_capacity(self, time_limit_s, mip_rel_gap, relax, start=None, fix_x=None):
        """The capacitated MIP; ``start`` seeds it (with no one served), ``fix_x``
        fixes the open sites (an LP giving the best service of that set)."""
        S, G = self.S, self.G
        cap = self.prob.capacity[self.red.sites].astype(np.float64)
        A = self.A.tocoo()
        j, g = A.row, A.col
        K = len(j)
        k = np.arange(K)
        # Σ_j z_jg ≤ 1 per cell group
        r1 = sp.csr_matrix((np.ones(K), (g, S + k)), shape=(G, S + K))
        # Σ_g w_g z_jg − cap_j x_j ≤ 0 per site
        r2 = sp.csr_matrix(
            (np.concatenate([self.w[g], -cap]), (np.concatenate([j, np.arange(S)]),
                                                 np.concatenate([S + k, np.arange(S)]))),
            shape=(S, S + K),
        )
        # z_jg ≤ x_j (tightens the relaxation)
        r3 = sp.csr_matrix(
            (np.concatenate([np.ones(K), -np.ones(K)]), (np.concatenate([k, k]),
                                                         np.concatenate([S + k, j]))),
            shape=(K, S + K),
        )
        mats, lo, hi = self._constraint_rows(K)
        M = sp.vstack([r1, r2, r3, *mats], format="csr")
        row_lo = np.concatenate([np.full(G + S + K, -np.inf), lo])
        row_hi = np.concatenate([np.ones(G), np.zeros(S + K), hi])
        col_lo = np.concatenate([self.fixed.astype(np.float64), np.zeros(K)])
        col_hi = np.ones(S + K)
        cost = np.concatenate([np.zeros(S), self.w[g]])
        if fix_x is not None:
            col_lo[:S] = col_hi[:S] = fix_x.astype(np.float64)
            relax = True
        integer = None if relax else np.concatenate([np.ones(S, bool), np.zeros(K, bool)])
        x0 = None
        if start is not None and not relax:
            x0 = np.concatenate([start.astype(np.float64), np.zeros(K)])
        sol = _highs.solve(
            cost=cost, matrix=M, row_lower=row_lo, row_upper=row_hi, col_lower=col_lo,
            col_upper=col_hi, integer=integer, maximize=True, time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap, start=x0,
            mip_lp_solver="ipm" if M.nnz > IPM_ROOT_NNZ else None,
        )
        sel = None if sol.x is None else sol.x[:S] > 0.5
        return sol, sel

    def served(self, z: np.ndarray) -> sp.csr_matrix:
        """Shares ``z`` (one per pattern entry) as a CSR (S, G) matrix."""
        A = self.A.tocoo()
        return sp.csr_matrix((np.clip(z, 0.0, 1.0), (A.row, A.col)), shape=(self.S, self.G))


def solve_cover(
    prob: CoverProblem,
    *,
    method: str,
    time_limit_s: float,
    mip_rel_gap: float,
    red: Reduced | None = None,
) -> CoverResult:
    """Solve a coverage problem by the requested ``method`` (see the MCLP docs)."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    red = reduce(prob) if red is None else red
    sv = CoverSolver(prob, red)
    nnz = red.A.nnz
    capacitated = prob.capacity is not None
    heuristic = method == "heuristic" or (
        method == "auto" and nnz > HEURISTIC_NNZ and not capacitated
    )

    def best_start(share: float) -> np.ndarray:
        sel = sv.greedy()
        if prob.budget is not None:
            other = sv.greedy(by_ratio=True)
            if sv.value(other) > sv.value(sel):
                sel = other
        stop = t0 + share * time_limit_s
        return sv.local_search(sel, stop)

    if heuristic:
        sel = best_start(0.8)
        obj = sv.value(sel)
        bound = min(sv.lagrangian_bound(obj, deadline), sv.total_w)
        left = deadline - time.perf_counter()
        if nnz <= LP_BOUND_NNZ and left > 0.05 and bound - obj > sv.tol:
            lp, _ = sv.mip(time_limit_s=left, mip_rel_gap=mip_rel_gap, relax=True)
            if lp.status == "optimal":
                # the LP optimum is exact up to HiGHS's tolerances
                bound = min(bound, lp.objective + 1e-7 * max(1.0, abs(lp.objective)))
        sel_orig = red.sites[sel]
        return CoverResult(
            sel_orig, obj + red.constant, max(bound, obj) + red.constant, "feasible",
            "heuristic", red,
        )

    # with capacity the (uncapacitated) greedy only seeds the MIP with a feasible point
    start = sv.greedy() if capacitated else best_start(_START_SHARE)
    if sv.G == 0 and not capacitated:
        return CoverResult(red.sites[start], red.constant, red.constant, "optimal", "exact", red)
    # keep some time for a Lagrangian bound in case the MIP stops at the time limit
    reserve = min(_BOUND_SHARE * time_limit_s, _BOUND_MAX_S)
    left = max(deadline - time.perf_counter() - reserve, 0.05)
    sol, sel = sv.mip(time_limit_s=left, mip_rel_gap=mip_rel_gap, start=start)
    if sol.status == "infeasible":  # pragma: no cover - the models check feasibility first
        raise RuntimeError("the optimization model is infeasible")
    served = None
    if capacitated:
        x = sol.x
        if sol.status != "optimal":
            # best service of the set found (or of the greedy start): a quick LP
            chosen = sel if sel is not None else start
            lp, _ = sv._mip_capacity(max(deadline - time.perf_counter(), 1.0), mip_rel_gap,
                                     True, fix_x=chosen)
            if lp.x is not None and (x is None or lp.objective >= sol.objective):
                x, sel = lp.x, chosen
        if x is None:  # pragma: no cover - the LP of a fixed set always solves
            raise RuntimeError("HiGHS found no feasible solution in the time limit")
        served = sv.served(x[sv.S :])
        obj = float(np.asarray(served @ sv.w).sum()) if sv.G else 0.0
    else:
        obj_start = sv.value(start)
        obj = obj_start
        if sel is not None and sv.value(sel) >= obj_start:
            obj = sv.value(sel)
        else:
            sel = start
    bound = sol.bound if np.isfinite(sol.bound) else sv.total_w
    if sol.status != "optimal":
        # valid with capacity too: served weight never exceeds covered weight
        # (HiGHS may overrun its limit a little; the bound still gets half a second)
        stop = max(deadline, time.perf_counter() + 0.5)
        bound = min(bound, sv.lagrangian_bound(obj, stop))
    bound = max(min(bound, sv.total_w), obj)
    status = sol.status
    used = "exact" if (status == "optimal" or method == "exact") else "heuristic"
    return CoverResult(
        red.sites[sel], obj + red.constant, bound + red.constant, status, used, red, served
    )


def greedy_rank(
    pattern: sp.csr_matrix, weights: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Order chosen sites by a greedy pass (largest marginal weight first).

    Parameters
    ----------
    pattern
        CSR (k, n_cells) of the chosen sites.
    weights
        Weight per cell (zero for cells already covered before).
    order
        Tie-break key per chosen site (smaller first).

    Returns
    -------
    perm, marginal
        Positions into the chosen sites in rank order, and each one's marginal gain.
    """
    k = pattern.shape[0]
    w = weights.astype(np.float64).copy()
    left = np.ones(k, dtype=bool)
    perm = np.empty(k, dtype=np.int64)
    marg = np.empty(k)
    tol = 1e-12 * max(1.0, float(w.sum()))
    for r in range(k):
        gain = pattern @ w
        idx = np.flatnonzero(left)
        top = gain[idx].max()
        ties = idx[gain[idx] >= top - tol]
        j = int(ties[np.argmin(order[ties])])
        perm[r], marg[r] = j, max(float(gain[j]), 0.0)
        left[j] = False
        w[pattern.indices[pattern.indptr[j] : pattern.indptr[j + 1]]] = 0.0
    return perm, marg
