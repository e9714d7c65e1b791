"""Choosing new sites for a scenario's ``optimize`` entries.

Turns each entry into a model of :mod:`facplan.optimize` on the sparse site × cell
matrices: which candidates are eligible (kind, tier, minimum area, exclusion zones,
forbid, used by an earlier entry), what is covered already, communities that need a
centre; then collects the chosen sites in rank order. Entries run in the order given; a
later entry on the same kind/tier counts earlier entries' sites as open, and a candidate
location is used at most once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from facplan import access
from facplan._errors import InputError
from facplan.cells import community_of
from facplan.routes import GraphRoutes, MatrixRoutes
from facplan.scenario import OptimizeSpec, Scenario
from facplan.standards import Standard, tier_rank

__all__ = ["SitingInput", "SitingResult", "eligible_rows", "plan_sites", "check_entries",
           "serving_tiers", "group_threshold_m", "objective_unit", "OBJECTIVE_UNITS"]

NOT_IN_ENTRY = "not in any optimize entry"


def group_threshold_m(std: Standard, walk_speed_m_s: float | None) -> float:
    """Walking threshold of a population group: the standard's minutes at the group's
    own speed when the standard is in minutes and the group has a speed, else the
    standard's metres."""
    if std.walk_min is not None and walk_speed_m_s is not None:
        return float(std.walk_min) * 60.0 * float(walk_speed_m_s)
    return float(std.walk_m)


def serving_tiers(kind: str, tier: str, standards: dict) -> list[str]:
    """Tiers of ``kind`` whose sites serve ``tier`` demand: the tier itself, plus higher
    tiers whose standard is ``nested`` (GB 50180: by default a higher level does not
    stand in for a lower one)."""
    out = [tier]
    for t, std in standards[kind].items():
        if t != tier and std.nested and tier_rank(t) < tier_rank(tier):
            out.append(t)
    return out


#: Values of ``objective_unit`` (DESIGN, *Results say what they measure*).
OBJECTIVE_UNITS = ("people", "weighted people", "person-metres", "sites", "cost")


def objective_unit(spec: OptimizeSpec, scenario: Scenario) -> str:
    """What an entry's ``objective`` counts: MCLP newly covered (or, capacitated, served)
    people — "weighted people" when the scenario weights some group other than 1 —
    p-median population-weighted metres, LSCP sites or cost."""
    if spec.model == "lscp":
        return "cost" if spec.minimize == "cost" else "sites"
    if spec.model == "pmedian":
        return "person-metres"
    weighted = any(float(w) != 1.0 for w in (scenario.weights or {}).values())
    return "weighted people" if weighted else "people"


@dataclass
class SitingInput:
    """What the siting step needs (arrays aligned with cells and candidates)."""

    scenario: Scenario
    standards: dict
    routes: GraphRoutes | MatrixRoutes
    cand_nodes: np.ndarray  # route handle of each candidate (−1 = unreachable)
    candidates: gpd.GeoDataFrame
    demand: np.ndarray  # weighted demand per cell
    before: dict  # (kind, tier) -> distance per cell (existing facilities)
    facilities: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame | None
    exclusions: gpd.GeoDataFrame | None
    fac_nodes: np.ndarray | None = None  # route handle of each existing facility (pmedian)
    population: np.ndarray | None = None  # people per cell (capacitated assignments)
    #: groups with their own walking speed: name -> (people per cell, speed m/s, weight)
    groups: dict[str, tuple[np.ndarray, float, float]] = field(default_factory=dict)


@dataclass
class SitingResult:
    rows: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)
    reason: np.ndarray | None = None
    gain: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    #: capacitated entries: one dict per (cell, site) served — ``optimize`` (entry
    #: position), ``cell`` (cell position), ``site_id``, ``people``, ``kind``, ``tier``
    assignment: list[dict] = field(default_factory=list)


def _static_reasons(inp: SitingInput) -> np.ndarray:
    """Reasons that hold for every entry: exclusion zones, off the network."""
    n = len(inp.candidates)
    reason = np.full(n, "", dtype=object)
    if inp.exclusions is not None and len(inp.exclusions):
        j = gpd.sjoin(
            inp.candidates[["geometry"]].reset_index(drop=True),
            inp.exclusions[["name", "geometry"]], how="inner", predicate="intersects",
        )
        j = j.sort_values("name")
        first = j[~j.index.duplicated(keep="first")]
        reason[first.index.to_numpy()] = [f"exclusion zone: {z}" for z in first["name"]]
    reason[(reason == "") & (inp.cand_nodes < 0)] = "too far from the network"
    return reason


def _entry_reasons(
    spec: OptimizeSpec, inp: SitingInput, std: Standard, static: np.ndarray, used: set[str]
) -> np.ndarray:
    c = inp.candidates
    reason = static.copy()
    kind, tier = c["kind"].to_numpy(), c["tier"].to_numpy()
    raw_area = c["area_m2"].to_numpy(dtype=float)
    area = np.nan_to_num(raw_area, nan=0.0)
    free = reason == ""
    reason[free & (kind != spec.kind)] = "other kind"
    free = reason == ""
    reason[free & (tier != "") & (tier != spec.tier)] = "other tier"
    free = reason == ""
    # the minimum site area holds for a blank tier (no area: too small) and for an
    # explicit one whose area is known alike
    small = free & (area < std.min_area_m2) & ((tier == "") | ~np.isnan(raw_area))
    reason[small] = f"too small for {spec.tier} (< {std.min_area_m2:g} m²)"
    ids = c["site_id"].to_numpy()
    free = reason == ""
    reason[free & np.isin(ids, spec.forbid)] = "forbidden"
    free = reason == ""
    reason[free & np.isin(ids, list(used))] = "chosen for another entry"
    return reason


def eligible_rows(inp: SitingInput, spec: OptimizeSpec) -> np.ndarray:
    """Candidate rows that ``spec`` could open when no other entry has used them: its
    kind and tier, the minimum area, outside exclusion zones, on the network, not
    forbidden (the what-if panel of the map)."""
    std = inp.standards[spec.kind][spec.tier]
    return np.flatnonzero(_entry_reasons(spec, inp, std, _static_reasons(inp), set()) == "")


def _merge_reason(total: np.ndarray, entry: np.ndarray) -> None:
    """A candidate eligible for any entry shows '' ; otherwise the most telling reason
    (other kind/tier only when nothing better is known)."""
    eligible = entry == ""
    total[eligible] = ""
    weak = np.isin(entry, ["other kind", "other tier"])
    upd = (total != "") & ~eligible & (~weak | (total == NOT_IN_ENTRY))
    total[upd] = entry[upd]


def _community_index(inp: SitingInput, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Community position of each candidate in ``rows`` (−1 outside every community) and
    of communities that already have an existing facility of the entry's kind."""
    comm = inp.communities
    idx = community_of(inp.candidates.geometry.iloc[rows], comm)
    return idx, np.arange(len(comm))


@dataclass
class _Entry:
    """One optimize entry, prepared: eligible candidates and what is covered already."""

    i: int
    spec: OptimizeSpec
    std: Standard
    rows: np.ndarray  # eligible candidate rows
    covered_before: np.ndarray
    label: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.kind, self.spec.tier)


class _Planner:
    def __init__(self, inp: SitingInput) -> None:
        self.inp = inp
        self.out = SitingResult()
        c = inp.candidates
        self.ids = c["site_id"].to_numpy().astype(str)
        self.cost = c["cost"].to_numpy(dtype=float)
        self.out.reason = np.full(len(c), NOT_IN_ENTRY, dtype=object)
        self.out.gain = np.full(len(c), np.nan)
        self.static = _static_reasons(inp)
        self.used: set[str] = set()
        self.opened: dict[tuple[str, str], list[int]] = {}
        self.any_usable = False

    # ---- preparation -------------------------------------------------------------
    def prepare(self, i: int, spec: OptimizeSpec) -> _Entry | None:
        inp = self.inp
        std = inp.standards[spec.kind][spec.tier]
        reason = _entry_reasons(spec, inp, std, self.static, self.used)
        id_set = set(self.ids)
        _check_force(i, spec, self.ids, reason)
        for fid in spec.forbid:
            if fid not in id_set:
                self.out.warnings.append(f"optimize.{i}.forbid: no candidate with id {fid!r}")
        _merge_reason(self.out.reason, reason)
        rows = np.flatnonzero(reason == "")
        label = f"optimize.{i} ({spec.kind}/{spec.tier})"
        if len(rows) == 0:
            self.out.warnings.append(f"{label}: no eligible candidate; nothing chosen")
            self.out.summary.append(_empty(spec, inp))
            return None
        self.any_usable = True
        d_before = self.distance_before(spec)
        return _Entry(i, spec, std, rows, access.covered_mask(d_before, std.walk_m), label)

    def distance_before(self, spec: OptimizeSpec) -> np.ndarray:
        """Existing facilities plus sites of earlier entries that serve this tier."""
        inp = self.inp
        d = inp.before[(spec.kind, spec.tier)]
        prior = self.prior_rows(spec)
        if prior:
            d = np.fmin(d, inp.routes.nearest(inp.cand_nodes[prior]))
        return d

    def prior_rows(self, spec: OptimizeSpec) -> list[int]:
        """Candidate rows opened by earlier entries whose sites serve this tier."""
        return [r for t in serving_tiers(spec.kind, spec.tier, self.inp.standards)
                for r in self.opened.get((spec.kind, t), [])]

    def coverage(self, e: _Entry, rows: np.ndarray | None = None):
        rows = e.rows if rows is None else rows
        return self.inp.routes.matrix(self.inp.cand_nodes[rows], e.std.walk_m)

    def demand_parts(self, e: _Entry):
        """``(coverage, weights, covered_before, people)`` of the entry's model: one
        column per cell, or — when population groups walk at their own speed — one
        block of columns per group at the group's own threshold (its weighted people)
        after a block for everyone else at the standard's threshold."""
        inp = self.inp
        cov = self.coverage(e)
        people = inp.population if inp.population is not None else inp.demand
        own = [(people_g, w_g, group_threshold_m(e.std, speed))
               for people_g, speed, w_g in inp.groups.values()]
        own = [o for o in own if abs(o[2] - e.std.walk_m) > 1e-9]
        if not own:
            return cov, inp.demand, e.covered_before, people
        d_before = self.distance_before(e.spec)
        rest_w = inp.demand - sum(w_g * p_g for p_g, w_g, _ in own)
        rest_p = people - sum(p_g for p_g, _, _ in own)
        covs, ws, befores, ps = [cov], [np.clip(rest_w, 0.0, None)], [e.covered_before], \
            [np.clip(rest_p, 0.0, None)]
        for p_g, w_g, thr in own:
            covs.append(inp.routes.matrix(inp.cand_nodes[e.rows], thr))
            ws.append(w_g * p_g)
            befores.append(access.covered_mask(d_before, thr))
            ps.append(p_g)
        return (sp.hstack([sp.csr_matrix(c) for c in covs], format="csr"),
                np.concatenate(ws), np.concatenate(befores), np.concatenate(ps))

    def record_gain(self, e: _Entry, cov, weights=None, before=None) -> None:
        weights = self.inp.demand if weights is None else weights
        before = e.covered_before if before is None else before
        pattern = cov.tocsr().copy()
        pattern.data = np.ones_like(pattern.data)
        alone = pattern @ np.where(before, 0.0, weights)
        self.out.gain[e.rows] = np.fmax(np.nan_to_num(self.out.gain[e.rows], nan=-np.inf), alone)

    def choose(self, e: _Entry, positions, gains, *, phase=None) -> list[str]:
        """Record chosen sites (positions into ``e.rows``) in rank order."""
        chosen = []
        for rank, (j, g) in enumerate(zip(positions, gains, strict=True), start=1):
            r = int(e.rows[int(j)])
            sid = str(self.ids[r])
            self.used.add(sid)
            self.opened.setdefault(e.key, []).append(r)
            row = {"_row": r, "site_id": sid, "kind": e.spec.kind, "tier": e.spec.tier,
                   "rank": rank, "marginal_population": float(g),
                   "cost": float(self.cost[r]), "optimize": e.i}
            if phase is not None:
                row["phase"] = phase
            self.out.rows.append(row)
            chosen.append(sid)
        return chosen

    def unit(self, spec: OptimizeSpec) -> str:
        return objective_unit(spec, self.inp.scenario)

    def result_entry(self, e: _Entry, selected: list[str], model) -> dict:
        return {
            "kind": e.spec.kind, "tier": e.spec.tier, "model": e.spec.model,
            "selected": selected, "objective": float(model.objective_),
            "objective_unit": self.unit(e.spec),
            "bound": float(model.bound_), "gap": float(model.gap_),
            "covered_before": float(model.covered_before_),
            "covered_after": float(model.covered_after_),
            "cost": float(getattr(model, "cost_", 0.0) or 0.0),
            "method": str(model.method_), "status": str(model.status_),
            "seconds": round(float(model.seconds_), 3),
        }

    def common(self, e: _Entry) -> dict:
        eids = [str(x) for x in self.ids[e.rows]]
        return {
            "site_ids": eids, "force": [eids.index(f) for f in e.spec.force],
            "time_limit_s": e.spec.time_limit_s, "method": e.spec.method,
        }

    # ---- models --------------------------------------------------------------------
    def mclp(self, e: _Entry) -> None:
        from facplan.optimize import MCLP, phase

        inp, spec, std = self.inp, e.spec, e.std
        cov, weights, cbefore, people = self.demand_parts(e)
        self.record_gain(e, cov, weights, cbefore)
        kw = self.common(e)
        costs = self.cost[e.rows]
        one = spec.one_per_community if spec.one_per_community is not None else std.one_per_community
        if spec.phases:
            if one or spec.capacitated:
                raise InputError("phases cannot be combined with one_per_community or "
                                 "capacitated", field=f"optimize.{e.i}.phases")
            stages = phase(
                {"coverage": cov, "weights": weights, "cost": costs,
                 "covered_before": cbefore, **kw},
                [{"year": p.year, "sites": p.sites, "budget": p.budget} for p in spec.phases],
            )
            selected, phases = [], []
            for st in stages:
                chosen = self.choose(e, st.selected, st.marginal, phase=st.year)
                selected += chosen
                phases.append({
                    "year": st.year, "selected": chosen, "objective": st.objective,
                    "bound": st.bound, "gap": st.gap, "covered_after": st.covered_after,
                    "cost": st.cost,
                })
            total_obj = sum(p["objective"] for p in phases)
            self.out.summary.append({
                "kind": spec.kind, "tier": spec.tier, "model": spec.model,
                "selected": selected, "objective": total_obj,
                "objective_unit": self.unit(spec),
                "bound": sum(p["bound"] for p in phases),
                "gap": max((p["gap"] for p in phases), default=0.0),
                "covered_before": stages[0].covered_before if stages else 0.0,
                "covered_after": stages[-1].covered_after if stages else 0.0,
                "cost": sum(p["cost"] for p in phases), "method": stages[0].method,
                "status": ",".join(sorted({st.status for st in stages})),
                "seconds": round(sum(st.seconds for st in stages), 3), "phases": phases,
            })
            return
        if one:
            if inp.communities is None:
                raise InputError("one_per_community needs 'communities'",
                                 field=f"optimize.{e.i}.one_per_community")
            comm_idx, _ = _community_index(inp, e.rows)
            has = _has_facility(inp, spec.kind)
            kw.update(community_of_site=comm_idx,
                      require_one_in=[k for k in range(len(inp.communities)) if not has[k]])
        if spec.capacitated:
            cap = inp.candidates["capacity"].to_numpy(dtype=float)[e.rows]
            default = std.capacity if std.capacity is not None else np.inf
            kw["capacity"] = np.where(np.isnan(cap), default, cap)
        model = MCLP.from_matrix(
            cov, weights, sites=spec.sites, budget=spec.budget, cost=costs,
            covered_before=cbefore, **kw,
        ).solve()
        if spec.budget is not None and len(model.unaffordable_):
            ids = [str(self.ids[e.rows[j]]) for j in sorted(model.unaffordable_)]
            more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
            self.out.warnings.append(
                f"{e.label}: {len(ids)} eligible candidates cost more than the budget "
                f"{spec.budget:g}: " + ", ".join(ids[:5]) + more
            )
        entry = self.result_entry(e, self.choose(e, model.selected_, model.marginal_), model)
        if one:
            gaps = [str(inp.communities["community_id"].iloc[k]) for k in model.gaps_]
            if gaps:
                self.out.warnings.append(
                    f"{e.label}: {len(gaps)} communities need a centre but have no eligible "
                    "candidate: " + ", ".join(gaps[:10])
                )
            entry["gaps"] = gaps
        if spec.capacitated:
            entry["served"] = float(model.served_weight_)
            # people served within capacities: those covered before (existing sites are
            # not capacitated) plus those the new sites serve
            entry["served_after"] = float(model.covered_before_) + float(model.served_weight_)
            self.record_service(e, model, people)
        self.out.summary.append(entry)

    def record_service(self, e: _Entry, model, people: np.ndarray) -> None:
        """The (cell, site, people) pairs a capacitated model serves (``people`` per
        model column: a group's columns follow the others, see :meth:`demand_parts`)."""
        n_cells = len(self.inp.demand)
        svc = model.service_.tocoo()
        for k, cell, share in zip(svc.row, svc.col, svc.data, strict=True):
            if share <= 0:
                continue
            self.out.assignment.append({
                "optimize": e.i, "cell": int(cell) % n_cells,
                "site_id": str(self.ids[e.rows[int(model.selected_[k])]]),
                "people": float(people[cell] * min(share, 1.0)),
                "kind": e.spec.kind, "tier": e.spec.tier,
            })

    def lscp(self, e: _Entry) -> None:
        from facplan.optimize import LSCP

        cov, weights, cbefore, _ = self.demand_parts(e)
        self.record_gain(e, cov, weights, cbefore)
        model = LSCP.from_matrix(
            cov, weights, cost=self.cost[e.rows], minimize=e.spec.minimize,
            covered_before=cbefore, **self.common(e),
        ).solve()
        entry = self.result_entry(e, self.choose(e, model.selected_, model.marginal_), model)
        unc = np.asarray(model.uncoverable_, dtype=int)
        entry["uncoverable_population"] = float(model.uncoverable_weight_)
        entry["uncoverable_cells"] = int(len(unc))
        if len(unc):
            self.out.warnings.append(
                f"{e.label}: {len(unc)} cells ({model.uncoverable_weight_:.0f} people) cannot be "
                "covered by any candidate; lscp covers every other cell"
            )
        self.out.summary.append(entry)

    def pmedian(self, e: _Entry) -> None:
        from facplan.optimize import PMedian

        inp = self.inp
        cutoff = max(5.0 * e.std.walk_m, 3000.0)
        dist = inp.routes.matrix(inp.cand_nodes[e.rows], cutoff)
        serving = serving_tiers(e.spec.kind, e.spec.tier, inp.standards)
        fac = inp.facilities
        mask = (fac["kind"].to_numpy() == e.spec.kind) & np.isin(fac["tier"].to_numpy(), serving)
        existing = []
        if mask.any() and inp.fac_nodes is not None:
            existing.append(inp.routes.matrix(inp.fac_nodes[mask], cutoff))
        prior = self.prior_rows(e.spec)
        if prior:  # sites of earlier entries on this kind/tier are open like existing ones
            existing.append(inp.routes.matrix(inp.cand_nodes[prior], cutoff))
        existing = sp.vstack([sp.csr_matrix(m) for m in existing], format="csr") \
            if existing else None
        self.record_gain(e, self.coverage(e))
        model = PMedian.from_matrix(
            dist, inp.demand, sites=e.spec.sites, existing=existing, **self.common(e),
        ).solve()
        d_before = self.distance_before(e.spec)  # before this entry's sites are recorded
        chosen = self.choose(e, model.selected_, model.marginal_)
        d_after = np.fmin(d_before,
                          inp.routes.nearest(inp.cand_nodes[e.rows[model.selected_]])
                          if len(model.selected_) else np.full(len(inp.demand), np.nan))
        before = float(inp.demand[e.covered_before].sum())
        after = float(inp.demand[access.covered_mask(d_after, e.std.walk_m)].sum())
        self.out.summary.append({
            "kind": e.spec.kind, "tier": e.spec.tier, "model": "pmedian", "selected": chosen,
            "objective": float(model.objective_), "objective_unit": self.unit(e.spec),
            "objective_before": float(model.objective_before_),
            "bound": float(model.bound_), "gap": float(model.gap_),
            "covered_before": before, "covered_after": after,
            "cost": float(self.cost[e.rows[model.selected_]].sum()) if len(model.selected_) else 0.0,
            "method": str(model.method_), "status": str(model.status_),
            "seconds": round(float(model.seconds_), 3), "cutoff_m": cutoff,
        })

    def group(self, name: str, entries: list[_Entry]) -> None:
        """Entries sharing one budget: one multi-tier model over the union of their
        eligible candidates; a location serves at most one tier."""
        from facplan.optimize import MultiTierMCLP

        inp = self.inp
        entries = sorted(entries, key=lambda e: (tier_rank(e.spec.tier), e.i))
        rows = np.unique(np.concatenate([e.rows for e in entries]))
        covs, elig, cbs = [], [], []
        for e in entries:
            cov = self.coverage(e, rows)
            covs.append(cov)
            elig.append(np.isin(rows, e.rows))
            cbs.append(e.covered_before)
            self.record_gain(e, self.coverage(e))
        ids = [str(x) for x in self.ids[rows]]
        force = [(ids.index(f), k) for k, e in enumerate(entries) for f in e.spec.force]
        nested = any(e.std.nested for e in entries)
        model = MultiTierMCLP.from_matrix(
            covs, [inp.demand] * len(entries), site_ids=ids,
            tiers=[f"{e.spec.kind}/{e.spec.tier}" for e in entries], eligible=elig,
            budget=entries[0].spec.budget, cost=self.cost[rows], covered_before=cbs,
            force=force, nested=nested, time_limit_s=max(e.spec.time_limit_s for e in entries),
            method=entries[0].spec.method,
        ).solve()
        sel = np.asarray(model.selected_, dtype=int)
        tiers = np.asarray(model.selected_tier_, dtype=int)
        marg = np.asarray(model.marginal_, dtype=float)
        group_slack = max(float(model.bound_) - float(model.objective_), 0.0)
        for k, e in enumerate(entries):
            tier_obj = float(model.tier_objective_[k])
            pick = tiers == k
            pos = [int(np.flatnonzero(e.rows == rows[j])[0]) for j in sel[pick]]
            chosen = self.choose(e, pos, marg[pick])
            self.out.summary.append({
                "kind": e.spec.kind, "tier": e.spec.tier, "model": "mclp", "selected": chosen,
                "objective": tier_obj, "objective_unit": self.unit(e.spec),
                # the group's absolute gap carried to the tier: with the other tiers' sites
                # as chosen, this tier's objective is at most this (bound == objective
                # exactly when the group is solved to optimality)
                "bound": tier_obj + group_slack,
                "gap": group_slack / (tier_obj + group_slack) if group_slack > 0 else 0.0,
                "covered_before": float(model.tier_covered_before_[k]),
                "covered_after": float(model.tier_covered_after_[k]),
                "cost": float(self.cost[rows[sel[pick]]].sum()),
                "method": str(model.method_),
                "status": str(model.status_) if group_slack <= 1e-6 * max(tier_obj, 1e-3)
                else ("feasible" if model.status_ == "optimal" else str(model.status_)),
                "seconds": round(float(model.seconds_), 3), "budget_group": name,
                "group_objective": float(model.objective_), "group_bound": float(model.bound_),
            })
        if len(model.unaffordable_):
            self.out.warnings.append(
                f"budget_group '{name}': {len(model.unaffordable_)} candidate/tier pairs cost "
                "more than the budget"
            )


@contextmanager
def _naming_entry(scenario: Scenario, i: int) -> Iterator[None]:
    """Name the scenario file and the ``optimize.<i>`` key in an entry's InputError (the
    models know only their own parameters, e.g. ``sites``)."""
    try:
        yield
    except InputError as exc:
        if exc.file is not None:
            raise
        field = exc.field or ""
        if not field.startswith("optimize."):
            field = f"optimize.{i}" + (f".{field}" if field else "")
        src = scenario.source_file
        raise InputError(exc.message, file=str(src) if src else "scenario", field=field,
                         rows=exc.rows) from None


def plan_sites(inp: SitingInput) -> SitingResult:
    """Run every optimize entry of the scenario (see module docstring).

    Entries run in order; entries sharing a ``budget_group`` run together as one model
    at the position of the group's first entry.
    """
    sc = inp.scenario
    p = _Planner(inp)
    done_groups: set[str] = set()
    for i, spec in enumerate(sc.optimize):
        if spec.budget_group is not None:
            if spec.budget_group in done_groups:
                continue
            done_groups.add(spec.budget_group)
            members = [(k, s) for k, s in enumerate(sc.optimize)
                       if s.budget_group == spec.budget_group]
            with _naming_entry(sc, i):
                prepared = [p.prepare(k, s) for k, s in members]
                ready = [e for e in prepared if e is not None]
                if ready:
                    p.group(spec.budget_group, ready)
            continue
        with _naming_entry(sc, i):
            e = p.prepare(i, spec)
            if e is not None:
                getattr(p, spec.model)(e)
    if sc.optimize and not p.any_usable:
        raise _no_usable(sc, p.out.reason)
    return p.out


def _check_force(i: int, spec: OptimizeSpec, ids: np.ndarray, reason: np.ndarray) -> None:
    """Every ``force`` id names a candidate that can serve the entry."""
    id_set = set(ids)
    for fid in spec.force:
        if fid not in id_set:
            raise InputError(f"no candidate with id {fid!r}", field=f"optimize.{i}.force")
        r = reason[ids == fid][0]
        if r:
            raise InputError(
                f"candidate {fid!r} cannot serve {spec.kind}/{spec.tier} ({r})",
                field=f"optimize.{i}.force",
            )


def _no_usable(sc: Scenario, reason: np.ndarray) -> InputError:
    reasons = pd.Series(reason).value_counts()
    counts = "; ".join(f"{n} {r}" for r, n in reasons.items())
    files = [str(c.path) for c in sc.candidates if c.path is not None]
    return InputError(
        f"no usable candidate at all for any optimize entry ({counts})",
        file=", ".join(files) or None, field="candidates",
    )


def check_entries(
    scenario: Scenario,
    standards: dict,
    candidates: gpd.GeoDataFrame | None,
    exclusions: gpd.GeoDataFrame | None,
) -> None:
    """The checks of :func:`plan_sites` that need no walking distances, for ``validate``:
    ``force`` ids that name no candidate or one that cannot serve the entry (other kind
    or tier, too small, forbidden, in an exclusion zone), and no usable candidate at all.
    Raises the :class:`InputError` that ``run`` raises. Candidates too far from the
    network and sites taken by an earlier entry are only known in ``run``.
    """
    if not scenario.optimize or candidates is None:
        return
    from types import SimpleNamespace

    view = SimpleNamespace(candidates=candidates, exclusions=exclusions,
                           cand_nodes=np.zeros(len(candidates), dtype=np.int64))
    static = _static_reasons(view)  # type: ignore[arg-type]
    ids = candidates["site_id"].to_numpy().astype(str)
    total = np.full(len(candidates), NOT_IN_ENTRY, dtype=object)
    usable = False
    for i, spec in enumerate(scenario.optimize):
        with _naming_entry(scenario, i):
            std = standards[spec.kind][spec.tier]
            reason = _entry_reasons(spec, view, std, static, set())  # type: ignore[arg-type]
            _check_force(i, spec, ids, reason)
            _merge_reason(total, reason)
            usable |= bool((reason == "").any())
    if not usable:
        raise _no_usable(scenario, total)


def _has_facility(inp: SitingInput, kind: str) -> np.ndarray:
    """Whether each community already has an existing facility of ``kind`` inside it."""
    comm = inp.communities
    has = np.zeros(len(comm), dtype=bool)
    pos = community_of(inp.facilities.geometry[inp.facilities["kind"] == kind], comm)
    has[pos[pos >= 0]] = True
    return has


def _empty(spec: OptimizeSpec, inp: SitingInput) -> dict:
    std = inp.standards[spec.kind][spec.tier]
    cov = float(inp.demand[access.covered_mask(inp.before[(spec.kind, spec.tier)], std.walk_m)].sum())
    return {
        "kind": spec.kind, "tier": spec.tier, "model": spec.model, "selected": [],
        "objective": 0.0, "objective_unit": objective_unit(spec, inp.scenario), "bound": 0.0, "gap": 0.0, "covered_before": cov,
        "covered_after": cov, "cost": 0.0, "method": "none", "status": "no candidates",
        "seconds": 0.0,
    }
