"""The coverage engine shared by the MCLP-family models.

A :class:`CoverProblem` is "open sites to cover the most weight" in its most general
form here: a site × cell coverage pattern, cell weights, site costs, a site count and/or a
budget, sites fixed open, and *groups* of sites of which at most one (or exactly one)
may be open. MCLP, its community and capacity variants and the multi-tier model are all
this problem with different inputs.

Solving goes through :func:`reduce` (drop cells that cannot change the answer, merge
cells with identical covering-site sets, vectorized) and :class:`CoverSolver`: a greedy +
1-swap local search, a Lagrangian upper bound (subgradient), a Lagrangian heuristic, a
"core" MIP over the sites with the best Lagrangian gains, Lagrangian reduced-cost fixing,
and the exact MIP through HiGHS over the sites left. :func:`solve_cover` runs them within
one wall-clock budget.
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
    "mip_fits",
    "root_lp_seconds",
    "HEURISTIC_NNZ",
    "LP_BOUND_NNZ",
    "IPM_ROOT_NNZ",
    "LAGRANGIAN_ITER",
    "CORE_NNZ",
    "CORE_FACTOR",
    "CORE_MIN_SITES",
    "CORE_REL_GAP",
]

#: ``method="auto"`` switches to the heuristic above this many non-zeros in the reduced
#: coverage matrix.
HEURISTIC_NNZ = 500_000
#: The heuristic path also solves the LP relaxation (for a tighter bound) below this size.
LP_BOUND_NNZ = 100_000
#: MIPs with more non-zeros solve their root LP by interior point (much faster there).
IPM_ROOT_NNZ = 100_000
#: The Lagrangian bound runs at most this many subgradient steps.
LAGRANGIAN_ITER = 600
#: The core MIP (a MIP over the sites with the best Lagrangian gains, improving the
#: greedy + 1-swap solution) runs on models with more non-zeros than this; its size is
#: ``CORE_FACTOR`` × the sites opened, at least ``CORE_MIN_SITES``.
CORE_NNZ = 50_000
CORE_FACTOR = 3
CORE_MIN_SITES = 200
#: Relative gap at which the core MIP stops (it only improves the primal solution).
CORE_REL_GAP = 1e-4
#: Shares of the time limit (from the start of the solve) by which the phases end:
#: greedy + 1-swap, Lagrangian bound, core MIP; the exact path's final MIP gets the rest.
_EXACT_SHARES = (0.1, 0.3, 0.5)
_HEURISTIC_SHARES = (0.3, 0.6, 1.0)
#: On the heuristic path the core MIP and the LP bound stop after at most
#: ``max(_EXTRA_MIN_S, _EXTRA_RATIO × the time spent before them)`` (and the limit).
_EXTRA_MIN_S = 5.0
_EXTRA_RATIO = 2.0
#: A HiGHS run is not started with less time than this left (nor when its root LP
#: would not fit in the time left, see :func:`mip_fits`).
_MIN_MIP_S = 0.05
#: Capacitated models keep this share of the time (at most ``_MAX_S`` seconds) for the
#: LP that serves the chosen set when the MIP stops early; that LP gets at least
#: ``_MIN_S`` seconds.
_CAPACITY_LP_SHARE = 0.05
_CAPACITY_LP_MAX_S = 5.0
_CAPACITY_LP_MIN_S = 0.5


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


def _row_keys(T: sp.csr_matrix, seed: int) -> np.ndarray:
    """One 64-bit key per row of a CSR pattern: random per-column keys summed (mod 2**64),
    mixed with the row's length. Equal column sets give equal keys."""
    m, n = T.shape
    rng = np.random.default_rng(seed)
    col_key = rng.integers(0, np.iinfo(np.int64).max, size=n + 1, dtype=np.uint64)
    nnz = np.diff(T.indptr)
    h = nnz.astype(np.uint64) * col_key[n]
    nonempty = nnz > 0
    if T.nnz:
        h[nonempty] += np.add.reduceat(
            col_key[T.indices], T.indptr[:-1][nonempty], dtype=np.uint64
        )
    return h


def _same_rows(T: sp.csr_matrix, rep: np.ndarray) -> bool:
    """Whether every row ``r`` of ``T`` has exactly the columns of row ``rep[r]``."""
    nnz = np.diff(T.indptr)
    if not np.array_equal(nnz, nnz[rep]):
        return False
    row = np.repeat(np.arange(T.shape[0]), nnz)
    off = np.arange(T.nnz) - T.indptr[row]
    return bool(np.array_equal(T.indices, T.indices[T.indptr[rep[row]] + off]))


def merge_identical_rows(T: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Group the rows of a 0/1 CSR matrix (sorted indices) that have identical column sets.

    Vectorized: each row gets a 64-bit hash of its column set, rows are grouped by hash
    and the grouping is then verified exactly, entry by entry, so a hash collision can
    never merge different rows (on a collision the hash is redrawn).

    Returns
    -------
    first, inverse
        ``first[k]`` is a row of group ``k``; ``inverse[r]`` the group of row ``r``.
    """
    m = T.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if not T.has_sorted_indices:
        T = T.sorted_indices()
    for seed in (0x5EED, 0xC0FFEE, 0xBADA55):
        _, first, inverse = np.unique(
            _row_keys(T, seed), return_index=True, return_inverse=True
        )
        first = first.astype(np.int64)
        inverse = np.asarray(inverse, dtype=np.int64).ravel()
        if _same_rows(T, first[inverse]):
            return first, inverse
    # collisions under three independent 64-bit hashes (practically impossible):
    # group exactly, row by row
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
    def greedy(self, by_ratio: bool = False, deadline: float = np.inf) -> np.ndarray:
        """Greedy: add the site with the largest gain (or gain per cost) while allowed.

        Fixed sites are open first; exact groups still empty at the end get their best
        member. Ties go to the smaller ``order``. Past ``deadline`` (``perf_counter``
        time) no further free additions are made (the result stays feasible).
        """
        sel, covered, gain, spent, used = self._start_state()
        while time.perf_counter() < deadline:
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
        self._fill_groups(sel, covered, gain, used, spent)
        return sel

    def _start_state(self):
        sel = self.fixed.copy()
        covered = np.zeros(self.G, dtype=bool)
        if sel.any():
            covered[self.A[np.flatnonzero(sel)].indices] = True
        gain = self.A @ np.where(covered, 0.0, self.w) if self.G else np.zeros(self.S)
        return sel, covered, gain, float(self.cost[sel].sum()), self._group_used(sel)

    def build(self, prefer: np.ndarray) -> np.ndarray:
        """A feasible open set: the fixed sites, then the sites of ``prefer`` in that
        order when they are allowed and add weight, then exact groups filled."""
        sel, covered, gain, spent, used = self._start_state()
        for j in prefer:
            if sel[j] or gain[j] <= self.tol:
                continue
            if self._addable(sel, used, spent, int(sel.sum()))[j]:
                spent = self._open(int(j), sel, covered, gain, used, spent)
        self._fill_groups(sel, covered, gain, used, spent)
        return sel

    def _fill_groups(self, sel, covered, gain, used, spent) -> None:
        """Open the best member of every exact group still empty."""
        for grp in np.flatnonzero(self.exact & ~used):
            cand = self._addable(sel, used, spent, int(sel.sum())) & (self.group == grp)
            if not cand.any():  # pragma: no cover - prevented by the model's checks
                continue
            idx = np.flatnonzero(cand)
            key = np.lexsort((self.order[idx], self.cost[idx], -gain[idx]))
            spent = self._open(int(idx[key[0]]), sel, covered, gain, used, spent)

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
        or ``deadline`` (``perf_counter`` time) passes; the deadline is checked between
        blocks of the swap evaluation too, so one pass never runs long past it.
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
                    if b0 and time.perf_counter() > deadline:
                        break  # keep the best move found so far
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

    def _cover_count(self, x: np.ndarray) -> np.ndarray:
        """``AT @ x``: how much of every cell group ``x`` covers (sparse ``x`` is cheap)."""
        nz = np.flatnonzero(x)
        if len(nz) * 4 > self.S:
            return self.AT @ x
        rows = self.A[nz]
        return np.bincount(
            rows.indices, weights=np.repeat(x[nz], np.diff(rows.indptr)), minlength=self.G
        ).astype(np.float64)

    @staticmethod
    def _direction(cnt, lam, w, prev, deflect):
        s = cnt - 1.0 + deflect * prev
        s[np.abs(s) < 1e-12] = 0.0  # decayed deflection: no denormals (they are slow)
        prev[:] = s
        s[((s > 0) & (lam <= 0)) | ((s < 0) & (lam >= w))] = 0.0
        return s, float((s * s).sum())  # not s @ s: BLAS threads are slow on small vectors

    @staticmethod
    def _move(lam, w, s, step):
        new = np.clip(lam - step * s, 0.0, w)
        return new, float((w - new).sum())

    def lagrangian(
        self,
        lower: float,
        deadline: float,
        max_iter: int = LAGRANGIAN_ITER,
        lam: np.ndarray | None = None,
        theta: float = 2.0,
    ) -> tuple[float, np.ndarray]:
        """Upper bound on the reduced optimum by subgradient optimisation.

        Relaxes ``y_g ≤ Σ_j a_jg x_j`` with multipliers ``λ_g ∈ [0, w_g]``: for any such
        ``λ``, ``L(λ) = Σ_g (w_g − λ_g) + max {c·x : x meets the open-site constraints}``
        with ``c = Aλ`` is ≥ the optimum (the inner maximum is solved exactly, or over a
        relaxation of the constraints, by :meth:`_sub`), so every iterate is a valid
        bound and the smallest is returned with its ``λ``. Steps follow Polyak's rule
        towards ``lower`` (a feasible objective) along a deflected subgradient
        (half of the previous direction is kept); the step factor halves when the bound
        stalls. Stops after ``max_iter`` iterations, at ``deadline`` (checked every
        iteration), when the bound meets ``lower`` or when the steps become tiny.
        ``lam`` and ``theta`` (the first step factor) warm-start it.
        """
        if self.G == 0:
            return 0.0, np.zeros(0)
        lam = self.w.copy() if lam is None else np.clip(lam, 0.0, self.w)
        slack = float((self.w - lam).sum())
        best, best_lam = np.inf, lam
        stall = 0
        prev = np.zeros(self.G)
        for _ in range(max_iter):
            val, x = self._sub(self.A @ lam)
            L = slack + val
            # progress below a millionth of the bound counts as a stall
            stall = 0 if L < best - max(self.tol, 1e-6 * abs(L)) else stall + 1
            if L < best:
                best, best_lam = L, lam
            if stall >= 15:
                theta, stall = theta / 2.0, 0
            if best - lower <= self.tol or theta < 1e-3 or time.perf_counter() > deadline:
                break
            s, ns = self._direction(self._cover_count(x), lam, self.w, prev, 0.5)
            if ns <= 0:
                break
            lam, slack = self._move(lam, self.w, s, theta * max(L - lower, self.tol) / ns)
        return float(best), best_lam

    def lagrangian_bound(
        self, lower: float, deadline: float, max_iter: int = LAGRANGIAN_ITER
    ) -> float:
        """The bound of :meth:`lagrangian` alone."""
        return self.lagrangian(lower, deadline, max_iter)[0]

    # ------------------------------------------------------------------ reductions
    def eliminate(self, lam: np.ndarray, lower: float) -> np.ndarray:
        """Sites that can be open in a solution better than ``lower`` (Lagrangian
        reduced-cost fixing), as a mask.

        With the multipliers ``λ`` (any in ``[0, w]``), ``L_j`` — the Lagrangian bound
        with ``x_j = 1`` imposed, or an upper bound of it — bounds every solution that
        opens ``j``. A site with ``L_j < lower`` can only be in solutions worse than
        ``lower``, so an optimum over the remaining sites is an optimum of the whole
        model (and a bound proven over them is, once ≥ ``lower``, a bound of the whole
        model). Fixed sites and the sites the relaxation opens are always kept.
        """
        free = ~self.fixed
        c = self.A @ lam
        val, x = self._sub(c)
        slack = float((self.w - lam).sum())
        L = slack + val
        if self.p is not None:
            # mirrors _sub: exact groups take their best member, then the best `slots`
            # of the ungrouped sites and the best members of the other groups
            g = self.group
            gi = np.maximum(g, 0)
            blocked = free & (g >= 0) & self._group_used(self.fixed)[gi]
            cand = free & ~blocked
            grouped = np.flatnonzero(cand & (g >= 0))
            best = np.full(self.n_groups, -np.inf)
            np.maximum.at(best, g[grouped], c[grouped])
            has = np.isfinite(best)
            slots = self.p - int(self.fixed.sum()) - int((has & self.exact).sum())
            pool = np.concatenate([c[cand & (g < 0)], best[has & ~self.exact]])
            pool = np.sort(pool[pool > 0])
            theta = float(pool[-slots]) if slots > 0 and len(pool) >= slots else 0.0
            # forcing j in: it replaces its group's best member (exact groups), or the
            # weakest chosen item unless its group's member was chosen
            rep = np.where(g >= 0, np.maximum(best[gi], theta), np.maximum(c, theta))
            Lj = L - rep + c
            in_exact = (g >= 0) & self.exact[gi]
            Lj = np.where(in_exact, L - best[gi] + c, Lj)
            if slots <= 0:  # no room besides the exact groups
                Lj = np.where(in_exact, Lj, -np.inf)
            Lj = np.where(blocked, -np.inf, np.minimum(Lj, L))
        else:
            # fractional knapsack (groups dropped, as in _sub)
            room = float(self.budget) - float(self.cost[self.fixed].sum())
            items = np.flatnonzero(free & (c > 0) & (self.cost > 0))
            base = val - float((c * x)[items].sum())  # fixed and zero-cost items
            ratio = c[items] / self.cost[items]
            o = np.argsort(-ratio, kind="stable")
            cum_c = np.concatenate([[0.0], np.cumsum(self.cost[items][o])])
            cum_v = np.concatenate([[0.0], np.cumsum(c[items][o])])
            r = room - self.cost
            m = np.clip(np.searchsorted(cum_c, r, side="right") - 1, 0, len(items))
            nxt = np.minimum(m, max(len(items) - 1, 0))
            part = np.where(
                m < len(items), (r - cum_c[m]) * (ratio[o][nxt] if len(items) else 0.0), 0.0
            )
            # c_j + knapsack of what is left (j may be counted twice: an upper bound)
            Lj = slack + c + base + cum_v[m] + np.maximum(part, 0.0)
            Lj = np.where(r >= -self.budget_tol, np.minimum(Lj, L), -np.inf)
        return (Lj >= lower - self.tol) | self.fixed | (x > 1.0 - 1e-9)

    def restrict(self, keep: np.ndarray) -> tuple[CoverSolver, np.ndarray]:
        """The model with only the sites in ``keep`` (a mask), reduced again.

        Returns the solver of that model and, for each of its sites, the position in
        this model.
        """
        idx = np.flatnonzero(keep)
        n = len(idx)
        sub = CoverProblem(
            pattern=sp.csr_matrix(self.A[idx]), weights=self.w, order=self.order[idx],
            cost=self.cost[idx], can_open=np.ones(n, dtype=bool), fixed=self.fixed[idx],
            max_sites=self.p, budget=self.budget, group=self.group[idx],
            group_exact=self.exact, capacity=None,
        )
        red = reduce(sub)
        return CoverSolver(sub, red), idx[red.sites]

    def core(self, lam: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """A small set of promising sites: the ``sel`` and fixed ones and the best by
        Lagrangian gain ``c = Aλ`` (and, under a budget, by gain per cost)."""
        c = self.A @ lam
        k = int(min(self.S, max(CORE_MIN_SITES, CORE_FACTOR * int(sel.sum()))))
        keep = sel | self.fixed
        keep[np.argpartition(-c, k - 1)[:k]] = True
        if self.budget is not None:
            ratio = c / np.where(self.cost > 0, self.cost, np.inf)
            ratio[self.cost <= 0] = np.inf
            keep[np.argpartition(-ratio, k - 1)[:k]] = True
        return keep

    def solve_restricted(
        self,
        keep: np.ndarray | None,
        start: np.ndarray,
        *,
        deadline: float,
        mip_rel_gap: float,
    ) -> tuple[_highs.Solution | None, np.ndarray | None]:
        """The MIP over the sites in ``keep`` (all when ``None``; it must hold
        ``start``'s sites), if it can get somewhere by ``deadline``.

        Returns HiGHS's answer (its bound is over the restricted model) and the open
        mask in this model's positions (``None`` without a solution). When the time left
        is too short for HiGHS to solve the root LP (:func:`mip_fits`) it is not run
        and the answer is ``None``: HiGHS cannot be stopped inside that LP.
        """
        if keep is None or keep.all():
            sub, pos = self, np.arange(self.S)
        else:
            sub, pos = self.restrict(keep)
        if sub.G == 0:  # nothing left to cover: any feasible set is optimal there
            return _highs.Solution(None, 0.0, 0.0, "optimal", 0.0), start.copy()
        left = deadline - time.perf_counter()
        if not mip_fits(sub.A.nnz, left):
            return None, None
        sol, sel_sub = sub.mip(time_limit_s=left, mip_rel_gap=mip_rel_gap, start=start[pos])
        if sel_sub is None:
            return sol, None
        sel = np.zeros(self.S, dtype=bool)
        sel[pos[sel_sub]] = True
        return sol, sel

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


def root_lp_seconds(nnz: int) -> float:
    """A cautious estimate of HiGHS's root LP time for a coverage MIP with ``nnz``
    pattern non-zeros (measured on two cores: ~3 s at 180 k, ~13 s at 460 k, ~40 s at
    920 k, ~300 s at 1.6 M non-zeros; interior point, whose work grows faster than the
    size)."""
    return nnz / 50_000 + (nnz / 100_000) ** 2.2


def mip_fits(nnz: int, left_s: float) -> bool:
    """Whether a coverage MIP with ``nnz`` pattern non-zeros is worth starting with
    ``left_s`` seconds left: HiGHS checks its time limit between steps but not inside
    the root LP, so a MIP whose root LP cannot finish in time would overrun it."""
    return left_s > _MIN_MIP_S and root_lp_seconds(nnz) <= left_s


def solve_cover(
    prob: CoverProblem,
    *,
    method: str,
    time_limit_s: float,
    mip_rel_gap: float,
    red: Reduced | None = None,
    started: float | None = None,
) -> CoverResult:
    """Solve a coverage problem by the requested ``method`` (see the MCLP docs).

    ``time_limit_s`` is the wall-clock budget of the whole call, counted from
    ``started`` (a ``time.perf_counter()`` value; default: now), reduction included.
    Every phase ends by its share of it (``_EXACT_SHARES``, ``_HEURISTIC_SHARES``):
    greedy + 1-swap and the Lagrangian bound check the clock as they go, and each HiGHS
    run gets only the time left — and is not started when its root LP would not fit in
    it (:func:`mip_fits`; HiGHS cannot stop inside that LP). What remains of the
    overshoot is HiGHS finishing a step (typically well under a second) and, for
    capacitated models, the LP that serves the chosen set (at least
    ``_CAPACITY_LP_MIN_S``).

    Phases (uncapacitated): greedy + 1-swap; Lagrangian bound; Lagrangian heuristic
    (the relaxation's sites, made feasible, + 1-swap); core MIP (the best sites by
    Lagrangian gain); then, on the exact path, the MIP over the sites left by
    Lagrangian reduced-cost fixing (:meth:`CoverSolver.eliminate`), or on the
    heuristic path the LP bound of small models.
    """
    t0 = time.perf_counter() if started is None else started
    deadline = t0 + time_limit_s
    red = reduce(prob) if red is None else red
    sv = CoverSolver(prob, red)
    nnz = red.A.nnz
    capacitated = prob.capacity is not None
    heuristic = method == "heuristic" or (
        method == "auto" and nnz > HEURISTIC_NNZ and not capacitated
    )
    shares = _HEURISTIC_SHARES if heuristic else _EXACT_SHARES

    def until(share: float) -> float:
        return t0 + share * time_limit_s

    if capacitated:
        return _solve_capacitated(sv, red, method, t0, time_limit_s, mip_rel_gap)

    # 1. greedy (by gain, and by gain per cost under a budget) + 1-swap; the greedy
    #    may use all the time (it is the least answer), the swaps only their share
    sel = sv.greedy(deadline=deadline)
    if prob.budget is not None:
        other = sv.greedy(by_ratio=True, deadline=deadline)
        if sv.value(other) > sv.value(sel):
            sel = other
    sel = sv.local_search(sel, until(shares[0]))
    obj = sv.value(sel)
    if sv.G == 0:
        status, used = ("feasible", "heuristic") if heuristic else ("optimal", "exact")
        return CoverResult(red.sites[sel], red.constant, red.constant, status, used, red)

    def open_enough() -> bool:  # the gap is not closed yet
        return bound - obj > max(mip_rel_gap * abs(bound), sv.tol)

    # 2. Lagrangian bound; its multipliers point at the promising sites
    bound, lam = sv.lagrangian(obj, until(shares[1]))
    bound = min(bound, sv.total_w)
    # 3. Lagrangian heuristic: the sites the relaxation opens, made feasible, + 1-swap
    if open_enough() and time.perf_counter() < until(shares[2]):
        c = sv.A @ lam
        _, x = sv._sub(c)
        pick = np.flatnonzero(x >= 0.5)
        cand = sv.local_search(sv.build(pick[np.argsort(-c[pick], kind="stable")]),
                               until(shares[2]))
        if sv.value(cand) > obj:
            sel, obj = cand, sv.value(cand)

    def step_deadline(share: float) -> float:
        # on the heuristic path an optional step also stops at a multiple of the time
        # spent so far: a big time limit does not make the fast path slow
        now = time.perf_counter()
        if not heuristic:
            return until(share)
        return min(until(share), now + max(_EXTRA_MIN_S, _EXTRA_RATIO * (now - t0)))

    # 4. core MIP: the best sites by Lagrangian gain, started from the best solution
    if nnz > CORE_NNZ and open_enough():
        keep = sv.core(lam, sel)
        if 2 * int(keep.sum()) <= sv.S:
            _, cand = sv.solve_restricted(
                keep, sel, deadline=step_deadline(shares[2]),
                mip_rel_gap=max(mip_rel_gap, CORE_REL_GAP),
            )
            if cand is not None and sv.value(cand) > obj:
                sel, obj = cand, sv.value(cand)
    if heuristic:
        left = step_deadline(1.0) - time.perf_counter()
        if nnz <= LP_BOUND_NNZ and left > _MIN_MIP_S and bound - obj > sv.tol:
            lp, _ = sv.mip(time_limit_s=left, mip_rel_gap=mip_rel_gap, relax=True)
            if lp.status == "optimal":
                # the LP optimum is exact up to HiGHS's tolerances
                bound = min(bound, lp.objective + 1e-7 * max(1.0, abs(lp.objective)))
        return CoverResult(
            red.sites[sel], obj + red.constant, max(bound, obj) + red.constant, "feasible",
            "heuristic", red,
        )
    # 5. the MIP, over the sites that Lagrangian reduced-cost fixing leaves; while
    #    that MIP is too big for the time left, more subgradient steps (a better bound
    #    fixes more sites)
    sol, status = None, "time_limit"
    for extra in range(2):
        keep = sv.eliminate(lam, obj) | sel
        if extra or not open_enough() or mip_fits(
            nnz * int(keep.sum()) // sv.S, deadline - time.perf_counter()
        ):
            sol, cand = sv.solve_restricted(
                keep, sel, deadline=deadline, mip_rel_gap=mip_rel_gap
            )
            break
        more, lam2 = sv.lagrangian(obj, deadline - 0.25 * (deadline - time.perf_counter()),
                                   lam=lam, theta=0.5)
        if more < bound:
            bound, lam = more, lam2
    if sol is not None:
        if sol.status == "infeasible":  # pragma: no cover - the models check feasibility
            raise RuntimeError("the optimization model is infeasible")
        if cand is not None and sv.value(cand) >= obj:
            sel, obj = cand, sv.value(cand)
        if np.isfinite(sol.bound):
            # over the kept sites; sites left out only open in solutions worse than obj
            bound = min(bound, sol.bound)
        status = sol.status
    bound = max(min(bound, sv.total_w), obj)
    used = "exact" if (status == "optimal" or method == "exact") else "heuristic"
    return CoverResult(
        red.sites[sel], obj + red.constant, bound + red.constant, status, used, red
    )


def _solve_capacitated(sv, red, method, t0, time_limit_s, mip_rel_gap) -> CoverResult:
    """The capacitated model: always the MIP (see :func:`solve_cover`)."""
    deadline = t0 + time_limit_s
    # the (uncapacitated) greedy only seeds the MIP with a feasible point; its
    # Lagrangian bound holds here too: served weight never exceeds covered weight
    start = sv.greedy(deadline=deadline)
    bound = sv.total_w
    if sv.G:
        lag, _ = sv.lagrangian(sv.value(start), t0 + _EXACT_SHARES[1] * time_limit_s)
        bound = min(bound, lag)
    # keep a little time for the LP that serves a set found when the MIP stops early
    reserve = min(_CAPACITY_LP_SHARE * time_limit_s, _CAPACITY_LP_MAX_S)
    left = deadline - time.perf_counter() - reserve
    if mip_fits(4 * sv.A.nnz, left):  # z_jg, z_jg ≤ x_j: about four times the pattern
        sol, sel = sv.mip(time_limit_s=left, mip_rel_gap=mip_rel_gap, start=start)
    else:
        sol, sel = _highs.Solution(None, float("nan"), float("inf"), "time_limit", 0.0), None
    if sol.status == "infeasible":  # pragma: no cover - the models check feasibility first
        raise RuntimeError("the optimization model is infeasible")
    x = sol.x
    if sol.status != "optimal":
        # best service of the set found (or of the greedy start): a quick LP
        chosen = sel if sel is not None else start
        lp, _ = sv._mip_capacity(max(deadline - time.perf_counter(), _CAPACITY_LP_MIN_S),
                                 mip_rel_gap, True, fix_x=chosen)
        if lp.x is not None and (x is None or lp.objective >= sol.objective):
            x, sel = lp.x, chosen
    if x is None:  # pragma: no cover - the LP of a fixed set always solves
        raise RuntimeError("HiGHS found no feasible solution in the time limit")
    served = sv.served(x[sv.S :])
    obj = float(np.asarray(served @ sv.w).sum()) if sv.G else 0.0
    if np.isfinite(sol.bound):
        bound = min(bound, sol.bound)
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
