"""Maximal covering location (MCLP) and its budget, capacity and community variants."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from facplan._errors import InputError
from facplan.optimize._base import (
    Model,
    as_pattern,
    check_amount,
    check_costs,
    check_count,
    check_mask,
    check_method,
    check_positions,
    check_positive,
    check_site_ids,
    check_weights,
    gap_max,
    proven_status,
    site_masks,
    site_order,
)
from facplan.optimize._core import CoverProblem, greedy_rank, solve_cover

__all__ = ["MCLP"]

_NAME = "MCLP"


class MCLP(Model):
    """Open sites to cover the most demand weight within reach.

    Build with :meth:`from_matrix`, then call :meth:`solve`.

    **Rules** (DESIGN, *Semantics*):

    - give ``sites`` (the most sites to open) or ``budget`` (the most total ``cost``),
      never both; with ``require_one_in`` both may be left out (see below);
    - ``force`` sites are opened first and count toward ``sites``/``budget``;
      ``forbid`` sites are never opened;
    - with a budget, a site that costs more than the whole budget is unaffordable
      (listed in ``unaffordable_``), not an error;
    - the model opens **at most** ``sites`` sites: a site that would add no newly
      covered weight is not opened (unless forced or needed for a community), so fewer
      sites are chosen when fewer are useful;
    - cells in ``covered_before`` are served already and never counted again.

    **Objective.** ``objective_`` = newly covered weight = ``covered_after_ −
    covered_before_``; ``bound_`` ≥ the true optimum; ``gap_ = (bound_ − objective_) /
    bound_`` (0 when the bound is 0).

    **Rank.** ``selected_`` lists the chosen sites in the order of a greedy pass over the
    chosen set: repeatedly the one with the largest marginal newly covered weight
    (``marginal_``), ties by ``site_id`` in string order; forced sites take part in the
    same pass. The marginals add up to ``objective_``.

    **Capacity.** With ``capacity`` (people per site) each opened site serves at most
    that many people and a cell's people may be split between sites in reach
    (continuous assignment ``z_ij``). ``objective_`` is then the newly *served* weight,
    ``covered_after_ = covered_before_ + objective_``, ``marginal_`` is the weight each
    site serves (the sites ranked by it, ties by ``site_id``), ``served_`` the served
    share of every cell, ``assignment_`` the site serving the largest share of the cell
    (−1: none), ``covered_`` still means "within reach". The capacitated model is always
    solved as a MIP (``method="heuristic"`` is refused).

    **One centre per community.** ``community_of_site`` gives each site's community
    index (−1: none) and ``require_one_in`` the communities that must get a centre:
    for each of them with at least one eligible site (not forbidden, affordable),
    exactly one of its sites is opened — forced sites included, so two forced sites in
    one required community are an error. Required communities with no eligible site are
    listed in ``gaps_`` (not an error). With neither ``sites`` nor ``budget`` the count
    is implied: exactly one site in each required community with an eligible site, plus
    the forced sites, and nothing else. With ``sites`` the centres count toward it (it
    must leave room for them); with ``budget`` the cheapest centres must fit in it; the
    remaining sites or money go to any site for the most coverage.

    **Method.** Every method first reduces the model (cells already covered, with zero
    weight, with no covering site or surely covered by a forced site dropped; cells with
    identical covering-site sets merged) and then runs: greedy (by gain, and by gain per
    cost under a budget) + 1-swap local search; a Lagrangian bound (subgradient on
    ``y_g ≤ Σ_{j covers g} x_j``); a Lagrangian heuristic (the sites the relaxation
    opens, made feasible, + 1-swap); and on models over ``CORE_NNZ`` non-zeros a *core*
    MIP through HiGHS over the few sites with the best Lagrangian gains (a few times the
    sites opened), which improves the solution. ``"exact"`` then removes every site that
    the Lagrangian bound proves cannot be in a solution better than the one found
    (reduced-cost fixing) and solves the sparse MIP (``x_j`` binary, ``y_g ∈ [0, 1]``,
    ``y_g ≤ Σ x_j``) over the sites left through HiGHS; an optimum there is an optimum
    of the whole model, ``bound_`` is the better of HiGHS's dual bound and the
    Lagrangian bound and ``status_ = "optimal"`` when proven, else ``"time_limit"``
    with the best solution found (also when the MIP left is too big for its root LP to
    finish in the time left: it is then not started). ``"heuristic"`` stops after the
    core MIP; ``bound_`` is the Lagrangian bound (or, for models up to
    ``LP_BOUND_NNZ`` (100,000) non-zeros, the LP relaxation if better);
    ``status_ = "feasible"``. ``"auto"`` (default): the heuristic when the reduced model
    has more than ``HEURISTIC_NNZ`` (500,000) non-zeros, else the exact path; when that
    exact solve stops at the time limit ``method_`` is reported as ``"heuristic"`` (a
    solution without optimality proof). Every bound is ≥ the true optimum, so ``gap_``
    is an honest worst case; on instances whose LP relaxation is weak (e.g. random,
    non-spatial coverage, or many sites that saturate the area) it can be large even
    when the solution is good. On metro-size spatial models (20,000 candidates, 300,000
    cells, 2 million non-zeros, 200 sites) the heuristic path typically ends within
    seconds at a gap of about 0.1%.

    **Time limit.** ``time_limit_s`` is a wall-clock budget for the whole of
    :meth:`solve` (reduction, heuristics, bounds, MIPs). Each phase ends by its share of
    it, the local search and the subgradient check the clock at every step, and HiGHS
    only gets the time left — and is not started when its root LP (which it cannot
    interrupt) would not fit in it. The overshoot left is HiGHS finishing its current
    step and the final ranking, typically well under a second; with ``capacity`` the
    LP that serves the chosen set still runs (at least half a second). On the heuristic
    path the core MIP and the LP bound also stop after twice the time spent before them
    (at least 5 s), so a large limit does not slow that path down. With ``capacity``
    the greedy start and the Lagrangian bound (of the uncapacitated model, still valid)
    precede the capacitated MIP.

    Attributes
    ----------
    selected_ : numpy.ndarray
        Chosen site positions, in rank order.
    marginal_ : numpy.ndarray
        Gain of each chosen site in the rank pass (same order).
    objective_, bound_, gap_ : float
        Newly covered weight, an upper bound on its optimum, the relative gap.
    covered_before_, covered_after_ : float
        Weight covered before and after.
    covered_ : numpy.ndarray
        bool (n_cells,): covered after (before ∪ within reach of a chosen site).
    cost_ : float
        Total cost of the chosen sites.
    unaffordable_ : numpy.ndarray
        Positions of sites costing more than the whole budget (empty without a budget).
    gaps_ : numpy.ndarray
        Required communities with no eligible site.
    assignment_, served_ : numpy.ndarray or None
        With capacity: serving site per cell (−1 none) and served share per cell.
    served_weight_ : float or None
        With capacity: total newly served weight (= ``objective_``).
    service_ : scipy.sparse.csr_matrix or None
        With capacity: (n_selected, n_cells) share of each cell served by each chosen
        site (rows in the order of ``selected_``); a cell's shares add up to ≤ 1.
    seconds_ : float
        Wall time of :meth:`solve`.
    method_ : str
        ``"exact"`` or ``"heuristic"``.
    status_ : str
        ``"optimal"``, ``"time_limit"`` or ``"feasible"`` (heuristic, no proof).
    n_model_sites_, n_model_cells_, n_model_nonzeros_ : int
        Size of the reduced model.
    """

    _results = (
        "selected_", "marginal_", "objective_", "bound_", "gap_", "covered_before_",
        "covered_after_", "covered_", "cost_", "unaffordable_", "gaps_", "assignment_",
        "served_", "served_weight_", "service_", "seconds_", "method_", "status_", "n_model_sites_",
        "n_model_cells_", "n_model_nonzeros_",
    )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_matrix(
        cls,
        coverage: sp.spmatrix | np.ndarray,
        weights: np.ndarray,
        *,
        site_ids: Sequence[str],
        sites: int | None = None,
        budget: float | None = None,
        cost: np.ndarray | None = None,
        covered_before: np.ndarray | None = None,
        force: Sequence[int] = (),
        forbid: Sequence[int] = (),
        capacity: np.ndarray | None = None,
        community_of_site: np.ndarray | None = None,
        require_one_in: Sequence[int] = (),
        time_limit_s: float = 60.0,
        method: str = "auto",
        mip_rel_gap: float = 1e-6,
    ) -> MCLP:
        """Build the model from a sparse site × cell coverage matrix.

        Parameters
        ----------
        coverage
            (n_sites, n_cells) sparse matrix; a stored entry — explicit zeros included —
            means the site covers the cell (only the sparsity structure is used). A
            dense array counts its non-zero entries.
        weights
            (n_cells,) demand weight per cell (people, or weighted people), finite ≥ 0.
        site_ids
            (n_sites,) distinct ids, used for tie-breaking (string order) and messages.
        sites
            The most sites to open (forced ones included).
        budget
            The most total cost of opened sites (forced ones included); needs ``cost``.
        cost
            (n_sites,) cost per site, finite ≥ 0.
        covered_before
            (n_cells,) bool: cells already covered by existing facilities.
        force, forbid
            Site positions always opened / never opened.
        capacity
            (n_sites,) people each site can serve (capacitated variant).
        community_of_site
            (n_sites,) community index per site, −1 for none.
        require_one_in
            Community indices that must get exactly one new site.
        time_limit_s
            Wall-clock budget of the whole :meth:`solve` in seconds (see *Time limit*).
        method
            ``"auto"``, ``"exact"`` or ``"heuristic"`` (see the class notes).
        mip_rel_gap
            Relative gap at which HiGHS stops.

        Raises
        ------
        InputError
            A parameter that cannot be right (named in the message and ``field``).
        """
        pat = as_pattern(coverage, _NAME)
        n_sites, n_cells = pat.shape
        w = check_weights(weights, n_cells, _NAME)
        ids = check_site_ids(site_ids, n_sites, _NAME)
        sites = check_count(sites, _NAME, "sites")
        budget = check_amount(budget, _NAME, "budget")
        require = np.unique(np.asarray(list(require_one_in), dtype=np.int64))
        if len(require) and require.min() < 0:
            raise InputError(
                f"The 'require_one_in' parameter of {_NAME} must hold community indices "
                f"≥ 0. Got {require[require < 0].tolist()} instead.", field="require_one_in",
            )
        if sites is not None and budget is not None:
            raise InputError(
                f"{_NAME}: give 'sites' or 'budget', not both (got sites={sites}, "
                f"budget={budget:g})", field="sites",
            )
        if sites is None and budget is None and len(require) == 0:
            raise InputError(
                f"{_NAME}: give 'sites' (number of new sites) or 'budget'", field="sites"
            )
        if budget is not None and cost is None:
            raise InputError(f"{_NAME}: 'budget' needs 'cost' (one per site)", field="cost")
        cost_arr = check_costs(cost, n_sites, _NAME)
        before = check_mask(covered_before, n_cells, _NAME, "covered_before")
        force_pos = check_positions(force, n_sites, _NAME, "force")
        forbid_pos = check_positions(forbid, n_sites, _NAME, "forbid")
        both = np.intersect1d(force_pos, forbid_pos)
        if len(both):
            raise InputError(
                f"{_NAME}: sites {[str(ids[i]) for i in both]} are both forced and "
                "forbidden", field="force",
            )
        cap = None if capacity is None else check_weights(capacity, n_sites, _NAME, "capacity")
        method = check_method(method, _NAME)
        if cap is not None and method == "heuristic":
            raise InputError(
                f"The 'method' parameter of {_NAME} must be 'auto' or 'exact' with "
                "'capacity'. Got 'heuristic' instead.", field="method",
            )
        time_limit_s = check_positive(time_limit_s, _NAME, "time_limit_s")
        mip_rel_gap = check_amount(mip_rel_gap, _NAME, "mip_rel_gap")
        if sites is not None and len(force_pos) > sites:
            raise InputError(
                f"{_NAME}: {len(force_pos)} forced sites but sites={sites}", field="force"
            )
        if budget is not None:
            fc = float(cost_arr[force_pos].sum())
            if fc > budget * (1 + 1e-12):
                raise InputError(
                    f"{_NAME}: the forced sites cost {fc:g}, more than the budget "
                    f"{budget:g}", field="force",
                )
        # communities
        if community_of_site is None:
            comm = np.full(n_sites, -1, dtype=np.int64)
        else:
            comm = np.asarray(community_of_site)
            if comm.shape != (n_sites,) or comm.dtype.kind not in "iu":
                raise InputError(
                    f"The 'community_of_site' parameter of {_NAME} must be an int array of "
                    f"length {n_sites}. Got shape {comm.shape}, dtype {comm.dtype} instead.",
                    field="community_of_site",
                )
            comm = comm.astype(np.int64)
        fixed, allowed = site_masks(n_sites, force_pos, forbid_pos)
        affordable = np.ones(n_sites, dtype=bool) if budget is None else (
            cost_arr <= budget * (1 + 1e-12)
        )
        can_open = (allowed & affordable) | fixed
        group = np.full(n_sites, -1, dtype=np.int64)
        gaps: list[int] = []
        n_groups = 0
        need_sites = len(force_pos)
        need_cost = float(cost_arr[force_pos].sum())
        for c in require.tolist():
            members = np.flatnonzero((comm == c) & can_open)
            if len(members) == 0:
                gaps.append(int(c))
                continue
            nf = int(fixed[members].sum())
            if nf > 1:
                raise InputError(
                    f"{_NAME}: community {c} must get exactly one site but "
                    f"{nf} of its sites are forced", field="force",
                )
            group[members] = n_groups
            n_groups += 1
            if nf == 0:
                need_sites += 1
                need_cost += float(cost_arr[members].min())
        if len(require):
            if sites is not None and need_sites > sites:
                raise InputError(
                    f"{_NAME}: sites={sites} leaves no room for the {need_sites} sites "
                    "needed (forced sites and one per required community)", field="sites",
                )
            if budget is not None and need_cost > budget * (1 + 1e-12):
                raise InputError(
                    f"{_NAME}: the budget {budget:g} does not pay for the forced sites and "
                    f"the cheapest site of every required community ({need_cost:g})",
                    field="budget",
                )
            if sites is None and budget is None:
                sites = need_sites
        model = cls(
            coverage=coverage, weights=weights, site_ids=ids, sites=sites, budget=budget,
            cost=cost, covered_before=covered_before, force=force_pos, forbid=forbid_pos,
            capacity=capacity, community_of_site=community_of_site,
            require_one_in=require, time_limit_s=time_limit_s, method=method,
            mip_rel_gap=mip_rel_gap,
        )
        model._pattern = pat
        model._w = w
        model._before = before
        model._cost = cost_arr
        model._order = site_order(ids)
        model._fixed = fixed
        model._can_open = can_open
        model._affordable = affordable
        model._group = group
        model._n_groups = n_groups
        model._gaps = np.asarray(gaps, dtype=np.int64)
        model._cap = cap
        model._p = sites
        model._budget = budget
        return model

    # ------------------------------------------------------------------ solving
    def solve(self) -> MCLP:
        """Solve the model; returns ``self`` with the result attributes set."""
        t0 = time.perf_counter()
        prm = self._params
        pat, w, before = self._pattern, self._w, self._before
        w_eff = np.where(before, 0.0, w)
        prob = CoverProblem(
            pattern=pat, weights=w_eff, order=self._order, cost=self._cost,
            can_open=self._can_open, fixed=self._fixed, max_sites=self._p,
            budget=self._budget, group=self._group,
            group_exact=np.ones(self._n_groups, dtype=bool), capacity=self._cap,
        )
        res = solve_cover(
            prob, method=prm["method"], time_limit_s=prm["time_limit_s"],
            mip_rel_gap=prm["mip_rel_gap"], started=t0,
        )
        red = res.reduced
        opened = np.sort(res.open)
        keep_always = self._fixed[opened] | (self._group[opened] >= 0)
        self.covered_before_ = float(w[before].sum())
        covered = before.copy()
        if self._cap is None:
            perm, marg = greedy_rank(pat[opened], w_eff, self._order[opened])
            ranked = opened[perm]
            tol = 1e-12 * max(1.0, float(w_eff.sum()))
            keep = (marg > tol) | keep_always[perm]
            self.selected_ = ranked[keep]
            self.marginal_ = marg[keep]
            covered[pat[self.selected_].indices] = True
            self.covered_after_ = float(w[covered].sum())
            self.objective_ = self.covered_after_ - self.covered_before_
            self.assignment_ = None
            self.served_ = None
            self.served_weight_ = None
            self.service_ = None
        else:
            self._capacity_results(res, opened, keep_always, covered)
            covered[pat[self.selected_].indices] = True
        self.covered_ = covered
        self.bound_ = float(max(res.bound, self.objective_))
        self.gap_ = gap_max(self.objective_, self.bound_)
        self.cost_ = float(self._cost[self.selected_].sum())
        self.unaffordable_ = np.flatnonzero(~self._affordable & ~self._fixed)
        self.gaps_ = self._gaps
        self.method_ = res.method
        self.status_ = proven_status(res.status, self.objective_, self.bound_)
        self.n_model_sites_ = len(red.sites)
        self.n_model_cells_ = len(red.w)
        self.n_model_nonzeros_ = int(red.A.nnz)
        self.seconds_ = time.perf_counter() - t0
        return self

    def _capacity_results(self, res, opened, keep_always, covered) -> None:
        red = res.reduced
        z = res.served_share  # (S, G) over model sites
        w_g = red.w
        served_site = np.asarray(z @ w_g).ravel() if z.shape[1] else np.zeros(z.shape[0])
        pos_of = {int(s): k for k, s in enumerate(red.sites)}
        rows = np.array([pos_of[int(s)] for s in opened], dtype=np.int64)
        served = served_site[rows] if len(rows) else np.zeros(0)
        tol = 1e-9 * max(1.0, float(w_g.sum()))
        keep = (served > tol) | keep_always
        opened, served, rows = opened[keep], served[keep], rows[keep]
        order = np.lexsort((self._order[opened], -np.round(served, 9)))
        self.selected_ = opened[order]
        self.marginal_ = served[order]
        self.served_weight_ = float(served.sum())
        self.objective_ = self.served_weight_
        self.covered_after_ = self.covered_before_ + self.objective_
        n_cells = len(self._w)
        share = np.zeros(n_cells)
        assign = np.full(n_cells, -1, dtype=np.int64)
        cg = red.cell_group
        if len(rows) and z.shape[1]:
            zt = z[rows].toarray()  # (k, G), k = chosen sites (small)
            tot = zt.sum(axis=0)
            # largest share, ties to the smaller site order
            ordk = np.argsort(self._order[opened], kind="stable")
            best_local = ordk[np.argmax(zt[ordk], axis=0)]
            best = np.where(tot > 1e-9, opened[best_local], -1)
            ok = cg >= 0
            share[ok] = np.minimum(tot[cg[ok]], 1.0)
            assign[ok] = best[cg[ok]]
        self.served_ = share
        self.assignment_ = assign
        # share of every cell served by each chosen site (rows in rank order)
        ok = np.flatnonzero(cg >= 0)
        to_cells = sp.csr_matrix((np.ones(len(ok)), (cg[ok], ok)), shape=(z.shape[1], n_cells))
        rows_ranked = rows[order]
        self.service_ = sp.csr_matrix(z[rows_ranked] @ to_cells) if len(rows_ranked) else \
            sp.csr_matrix((0, n_cells))
