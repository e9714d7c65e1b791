"""Several tiers (district, community, compound …) sited together under one budget."""

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
    check_count,
    check_mask,
    check_method,
    check_positions,
    check_positive,
    check_site_ids,
    check_weights,
    gap_max,
    proven_status,
    site_order,
)
from facplan.optimize._core import CoverProblem, greedy_rank, solve_cover

__all__ = ["MultiTierMCLP"]

_NAME = "MultiTierMCLP"


class MultiTierMCLP(Model):
    """One MCLP over K tiers that share candidate locations and a budget (or site count).

    Tier ``k`` has its own coverage matrix over the **same** ``n_locations`` candidate
    locations (``coverages[k]``: (n_locations, n_cells_k)), its own demand ``weights[k]``
    and ``covered_before[k]``. A location opens for at most one tier
    (``Σ_k x_jk ≤ 1``) and only for tiers it is ``eligible`` for (e.g. large enough).
    One ``budget`` over all tiers (cost per location, or per tier and location), or one
    total ``sites`` count. The objective is the total newly covered weight over tiers.

    Tiers are ordered from the highest (``k = 0``, e.g. district) down. With
    ``nested=True`` a location opened for tier ``k`` also covers the demand of every lower
    tier ``k' > k``, through that lower tier's coverage row for the location (GB 50180
    default is ``nested=False``: each tier is served by its own sites only).

    ``force`` takes ``(location, tier)`` pairs; ``forbid`` locations (for every tier).
    Rank: one greedy pass over all chosen (location, tier) pairs by marginal newly
    covered weight summed over tiers, ties by ``site_id`` then tier; pairs adding nothing
    are dropped unless forced. ``method`` and ``time_limit_s`` (a wall-clock budget for
    the whole :meth:`solve`) work as in :class:`~facplan.optimize.MCLP`.

    Attributes
    ----------
    selected_, selected_tier_, marginal_ : numpy.ndarray
        Chosen locations in rank order, the tier each is opened for, and its gain.
    tier_selected_ : list of numpy.ndarray
        Per tier, its chosen locations (rank order).
    objective_, bound_, gap_ : float
        Total newly covered weight, an upper bound, the relative gap.
    tier_objective_, tier_covered_before_, tier_covered_after_ : numpy.ndarray
        Per tier: newly covered weight (by any tier's site when nested), before, after.
    covered_before_, covered_after_ : float
        Totals over tiers.
    covered_ : list of numpy.ndarray
        Per tier, bool per cell: covered after.
    cost_ : float
    unaffordable_ : numpy.ndarray
        (m, 2) (location, tier) pairs costing more than the whole budget.
    seconds_ : float
    method_, status_ : str
    """

    _results = (
        "selected_", "selected_tier_", "marginal_", "tier_selected_", "objective_",
        "bound_", "gap_", "tier_objective_", "tier_covered_before_", "tier_covered_after_",
        "covered_before_", "covered_after_", "covered_", "cost_", "unaffordable_",
        "seconds_", "method_", "status_",
    )

    @classmethod
    def from_matrix(
        cls,
        coverages: Sequence[sp.spmatrix | np.ndarray],
        weights: Sequence[np.ndarray],
        *,
        site_ids: Sequence[str],
        tiers: Sequence[str] | None = None,
        eligible: Sequence[np.ndarray] | np.ndarray | None = None,
        sites: int | None = None,
        budget: float | None = None,
        cost: np.ndarray | None = None,
        covered_before: Sequence[np.ndarray | None] | None = None,
        force: Sequence[tuple[int, int]] = (),
        forbid: Sequence[int] = (),
        nested: bool = False,
        time_limit_s: float = 60.0,
        method: str = "auto",
        mip_rel_gap: float = 1e-6,
    ) -> MultiTierMCLP:
        """Build the model.

        Parameters
        ----------
        coverages
            K sparse matrices (n_locations, n_cells_k), highest tier first.
        weights
            K arrays (n_cells_k,) of demand weight.
        site_ids
            (n_locations,) distinct location ids.
        tiers
            K tier names (for messages); default ``"0"``, ``"1"``, ….
        eligible
            K boolean arrays (n_locations,) (or a (K, n_locations) array): may location
            ``j`` serve tier ``k``. Default: every location, every tier.
        sites, budget
            The most (location, tier) openings in total, or the most total cost; one of
            the two.
        cost
            (n_locations,) or (K, n_locations) cost of opening a location for a tier.
        covered_before
            K boolean arrays (or ``None``) of cells already covered.
        force
            ``(location, tier)`` pairs always opened.
        forbid
            Locations never opened.
        nested
            Whether a higher-tier site also covers lower-tier demand.
        """
        K = len(coverages)
        if K == 0 or len(weights) != K:
            raise InputError(
                f"The 'weights' parameter of {_NAME} must have one array per coverage "
                f"matrix ({K}). Got {len(weights)} instead.", field="weights",
            )
        pats = [as_pattern(c, _NAME, "coverages") for c in coverages]
        n_loc = pats[0].shape[0]
        for k, p_ in enumerate(pats):
            if p_.shape[0] != n_loc:
                raise InputError(
                    f"The 'coverages' parameter of {_NAME} must share the candidate "
                    f"locations: matrix {k} has {p_.shape[0]} rows, matrix 0 has {n_loc}.",
                    field="coverages",
                )
        ws = [check_weights(w, p_.shape[1], _NAME) for w, p_ in zip(weights, pats, strict=True)]
        ids = check_site_ids(site_ids, n_loc, _NAME)
        names = [str(k) for k in range(K)] if tiers is None else [str(t) for t in tiers]
        if len(names) != K:
            raise InputError(f"The 'tiers' parameter of {_NAME} must name {K} tiers.",
                             field="tiers")
        sites = check_count(sites, _NAME, "sites")
        budget = check_amount(budget, _NAME, "budget")
        if (sites is None) == (budget is None):
            raise InputError(
                f"{_NAME}: give 'sites' or 'budget' (exactly one)", field="sites"
            )
        if budget is not None and cost is None:
            raise InputError(f"{_NAME}: 'budget' needs 'cost'", field="cost")
        if cost is None:
            cost_kl = np.zeros((K, n_loc))
        else:
            c = np.asarray(cost, dtype=np.float64)
            if c.shape == (n_loc,):
                c = np.broadcast_to(c, (K, n_loc))
            if c.shape != (K, n_loc):
                raise InputError(
                    f"The 'cost' parameter of {_NAME} must have shape ({n_loc},) or "
                    f"({K}, {n_loc}). Got {c.shape} instead.", field="cost",
                )
            cost_kl = check_weights(c.ravel(), K * n_loc, _NAME, "cost").reshape(K, n_loc)
        if eligible is None:
            elig = np.ones((K, n_loc), dtype=bool)
        else:
            if len(eligible) != K:
                raise InputError(f"The 'eligible' parameter of {_NAME} must have {K} masks.",
                                 field="eligible")
            elig = np.stack([check_mask(e, n_loc, _NAME, "eligible") for e in eligible])
        if covered_before is None:
            befores = [np.zeros(p_.shape[1], dtype=bool) for p_ in pats]
        else:
            if len(covered_before) != K:
                raise InputError(
                    f"The 'covered_before' parameter of {_NAME} must have {K} entries.",
                    field="covered_before",
                )
            befores = [check_mask(b, p_.shape[1], _NAME, "covered_before")
                       for b, p_ in zip(covered_before, pats, strict=True)]
        forbid_pos = check_positions(forbid, n_loc, _NAME, "forbid")
        pairs = []
        for f in force:
            try:
                j, k = (int(v) for v in f)
            except (TypeError, ValueError):
                raise InputError(
                    f"The 'force' parameter of {_NAME} must hold (location, tier) pairs. "
                    f"Got {f!r} instead.", field="force",
                ) from None
            if not (0 <= j < n_loc and 0 <= k < K):
                raise InputError(f"{_NAME}: force pair {(j, k)} out of range", field="force")
            if not elig[k, j]:
                raise InputError(
                    f"{_NAME}: forced location {ids[j]!r} is not eligible for tier "
                    f"{names[k]!r}", field="force",
                )
            if j in set(forbid_pos.tolist()):
                raise InputError(f"{_NAME}: location {ids[j]!r} is forced and forbidden",
                                 field="force")
            if (j, k) not in pairs:
                pairs.append((j, k))
        if len({j for j, _ in pairs}) < len(pairs):
            raise InputError(f"{_NAME}: a location is forced for two tiers", field="force")
        if sites is not None and len(pairs) > sites:
            raise InputError(f"{_NAME}: {len(pairs)} forced pairs but sites={sites}",
                             field="force")
        if budget is not None:
            fc = float(sum(cost_kl[k, j] for j, k in pairs))
            if fc > budget * (1 + 1e-12):
                raise InputError(
                    f"{_NAME}: the forced sites cost {fc:g}, more than the budget {budget:g}",
                    field="force",
                )
        m = cls(
            coverages=coverages, weights=weights, site_ids=ids, tiers=names,
            eligible=eligible, sites=sites, budget=budget, cost=cost,
            covered_before=covered_before, force=pairs, forbid=forbid_pos, nested=bool(nested),
            time_limit_s=check_positive(time_limit_s, _NAME, "time_limit_s"),
            method=check_method(method, _NAME),
            mip_rel_gap=check_amount(mip_rel_gap, _NAME, "mip_rel_gap"),
        )
        m._pats, m._ws, m._befores, m._elig, m._cost = pats, ws, befores, elig, cost_kl
        m._ids, m._K, m._n_loc = ids, K, n_loc
        return m

    def solve(self) -> MultiTierMCLP:
        """Solve; returns ``self``."""
        t0 = time.perf_counter()
        prm = self._params
        K, n_loc = self._K, self._n_loc
        budget = prm["budget"]
        forbidden = np.zeros(n_loc, dtype=bool)
        forbidden[prm["forbid"]] = True
        affordable = np.ones((K, n_loc), bool) if budget is None else (
            self._cost <= budget * (1 + 1e-12)
        )
        fixed_pairs = set(prm["force"])
        usable = self._elig & ~forbidden[None, :]
        pair_loc, pair_tier = np.nonzero(usable.T)  # sorted by location, then tier
        n_pairs = len(pair_loc)
        offsets = np.concatenate([[0], np.cumsum([p_.shape[1] for p_ in self._pats])])
        # expanded pattern: pair (j, k) covers tier k cells (and lower tiers when nested)
        blocks = []
        for k2 in range(K):
            if prm["nested"]:
                rows_ok = pair_tier <= k2
            else:
                rows_ok = pair_tier == k2
            sub = self._pats[k2][pair_loc]
            sub = sp.diags(rows_ok.astype(np.float64)) @ sub
            sub.eliminate_zeros()
            blocks.append(sub)
        pattern = sp.hstack(blocks, format="csr") if n_pairs else sp.csr_matrix(
            (0, int(offsets[-1]))
        )
        pattern.sort_indices()
        w_all = np.concatenate(self._ws)
        before_all = np.concatenate(self._befores)
        w_eff = np.where(before_all, 0.0, w_all)
        fixed = np.array([(int(j), int(k)) in fixed_pairs
                          for j, k in zip(pair_loc, pair_tier, strict=True)], dtype=bool)
        pair_cost = self._cost[pair_tier, pair_loc]
        can_open = affordable[pair_tier, pair_loc] | fixed
        # one group per location with more than one usable pair: at most one opens
        counts = np.bincount(pair_loc, minlength=n_loc)
        multi = counts[pair_loc] > 1
        loc_group = np.full(n_loc, -1, dtype=np.int64)
        multi_locs = np.unique(pair_loc[multi])
        loc_group[multi_locs] = np.arange(len(multi_locs))
        group = loc_group[pair_loc]
        order = site_order(self._ids)[pair_loc] * K + pair_tier
        prob = CoverProblem(
            pattern=pattern, weights=w_eff, order=order, cost=pair_cost, can_open=can_open,
            fixed=fixed, max_sites=prm["sites"], budget=budget, group=group,
            group_exact=np.zeros(len(multi_locs), dtype=bool),
        )
        res = solve_cover(
            prob, method=prm["method"], time_limit_s=prm["time_limit_s"],
            mip_rel_gap=prm["mip_rel_gap"], started=t0,
        )
        opened = np.sort(res.open)
        perm, marg = greedy_rank(pattern[opened], w_eff, order[opened])
        ranked = opened[perm]
        tol = 1e-12 * max(1.0, float(w_eff.sum()))
        keep = (marg > tol) | fixed[ranked]
        ranked, marg = ranked[keep], marg[keep]
        self.selected_ = pair_loc[ranked]
        self.selected_tier_ = pair_tier[ranked]
        self.marginal_ = marg
        self.tier_selected_ = [self.selected_[self.selected_tier_ == k] for k in range(K)]
        covered_all = before_all.copy()
        covered_all[pattern[ranked].indices] = True
        self.covered_ = [covered_all[offsets[k] : offsets[k + 1]] for k in range(K)]
        self.tier_covered_before_ = np.array(
            [float(self._ws[k][self._befores[k]].sum()) for k in range(K)]
        )
        self.tier_covered_after_ = np.array(
            [float(self._ws[k][self.covered_[k]].sum()) for k in range(K)]
        )
        self.tier_objective_ = self.tier_covered_after_ - self.tier_covered_before_
        self.covered_before_ = float(self.tier_covered_before_.sum())
        self.covered_after_ = float(self.tier_covered_after_.sum())
        self.objective_ = self.covered_after_ - self.covered_before_
        self.bound_ = float(max(res.bound, self.objective_))
        self.gap_ = gap_max(self.objective_, self.bound_)
        self.cost_ = float(pair_cost[ranked].sum())
        un_l, un_t = np.nonzero((~affordable & usable).T)
        self.unaffordable_ = np.stack([un_l, un_t], axis=1) if len(un_l) else np.zeros(
            (0, 2), dtype=np.int64
        )
        self.method_ = res.method
        self.status_ = proven_status(res.status, self.objective_, self.bound_)
        self.seconds_ = time.perf_counter() - t0
        return self
