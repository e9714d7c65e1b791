"""Choosing new sites for a scenario's ``optimize`` entries.

Turns each entry into a model of :mod:`facplan.optimize` on the sparse site × cell
matrices: which candidates are eligible (kind, tier, minimum area, exclusion zones,
forbid, used by an earlier entry), what is covered already, communities that need a
centre; then collects the chosen sites in rank order. Entries run in the order given; a
later entry on the same kind/tier counts earlier entries' sites as open, and a candidate
location is used at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np

from facplan import access
from facplan._errors import InputError
from facplan.routes import GraphRoutes, MatrixRoutes
from facplan.scenario import OptimizeSpec, Scenario
from facplan.standards import TIER_ORDER, Standard

__all__ = ["SitingInput", "SitingResult", "plan_sites", "serving_tiers"]

NOT_IN_ENTRY = "not in any optimize entry"


def serving_tiers(kind: str, tier: str, standards: dict) -> list[str]:
    """Tiers of ``kind`` whose sites serve ``tier`` demand: the tier itself, plus higher
    tiers whose standard is ``nested`` (GB 50180: by default a higher level does not
    stand in for a lower one)."""
    out = [tier]
    for t, std in standards[kind].items():
        if t != tier and std.nested and TIER_ORDER.get(t, 9) < TIER_ORDER.get(tier, 9):
            out.append(t)
    return out


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


@dataclass
class SitingResult:
    rows: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)
    reason: np.ndarray | None = None
    gain: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


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
    area = np.nan_to_num(c["area_m2"].to_numpy(dtype=float), nan=0.0)
    free = reason == ""
    reason[free & (kind != spec.kind)] = "other kind"
    free = reason == ""
    reason[free & (tier != "") & (tier != spec.tier)] = "other tier"
    free = reason == ""
    small = free & (tier == "") & (area < std.min_area_m2)
    reason[small] = f"too small for {spec.tier} (< {std.min_area_m2:g} m²)"
    ids = c["site_id"].to_numpy()
    free = reason == ""
    reason[free & np.isin(ids, spec.forbid)] = "forbidden"
    free = reason == ""
    reason[free & np.isin(ids, list(used))] = "chosen for another entry"
    return reason


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
    pts = gpd.GeoDataFrame(
        geometry=inp.candidates.geometry.iloc[rows].representative_point().to_numpy(),
        crs=inp.candidates.crs,
    )
    j = gpd.sjoin(pts, comm[["geometry"]].reset_index(drop=True), how="left",
                  predicate="intersects")
    j = j[~j.index.duplicated(keep="first")].sort_index()
    idx = j["index_right"].fillna(-1).to_numpy(dtype=int)
    return idx, np.arange(len(comm))


def _covering(spec: OptimizeSpec, inp: SitingInput, rows: np.ndarray, std: Standard):
    return inp.routes.matrix(inp.cand_nodes[rows], std.walk_m)


def plan_sites(inp: SitingInput) -> SitingResult:
    """Run every optimize entry of the scenario (see module docstring)."""
    from facplan.optimize import MCLP

    sc = inp.scenario
    out = SitingResult()
    c = inp.candidates
    ids = c["site_id"].to_numpy()
    out.reason = np.full(len(c), NOT_IN_ENTRY, dtype=object)
    out.gain = np.full(len(c), np.nan)
    static = _static_reasons(inp)
    used: set[str] = set()
    opened: dict[tuple[str, str], list[int]] = {}
    any_usable = False
    id_set = set(ids)
    for i, spec in enumerate(sc.optimize):
        std = inp.standards[spec.kind][spec.tier]
        reason = _entry_reasons(spec, inp, std, static, used)
        for fid in spec.force:
            if fid not in id_set:
                raise InputError(f"no candidate with id {fid!r}", field=f"optimize.{i}.force")
            r = reason[ids == fid][0]
            if r:
                raise InputError(
                    f"candidate {fid!r} cannot serve {spec.kind}/{spec.tier} ({r})",
                    field=f"optimize.{i}.force",
                )
        for fid in spec.forbid:
            if fid not in id_set:
                out.warnings.append(f"optimize.{i}.forbid: no candidate with id {fid!r}")
        _merge_reason(out.reason, reason)
        rows = np.flatnonzero(reason == "")
        label = f"optimize.{i} ({spec.kind}/{spec.tier})"
        if len(rows) == 0:
            out.warnings.append(f"{label}: no eligible candidate; nothing chosen")
            out.summary.append(_empty(spec, inp))
            continue
        any_usable = True
        # what is covered already: existing facilities + earlier entries' sites
        d_before = inp.before[(spec.kind, spec.tier)]
        prior = [r for t in serving_tiers(spec.kind, spec.tier, inp.standards)
                 for r in opened.get((spec.kind, t), [])]
        if prior:
            d_before = np.fmin(d_before, inp.routes.nearest(inp.cand_nodes[prior]))
        covered_before = access.covered_mask(d_before, std.walk_m)
        cov = _covering(spec, inp, rows, std)
        eids = [str(x) for x in ids[rows]]
        force_pos = [eids.index(f) for f in spec.force]
        costs = c["cost"].to_numpy(dtype=float)[rows]
        one = spec.one_per_community if spec.one_per_community is not None else std.one_per_community
        kwargs = {}
        if one:
            if inp.communities is None:
                raise InputError("one_per_community needs 'communities'",
                                 field=f"optimize.{i}.one_per_community")
            comm_idx, _ = _community_index(inp, rows)
            has = _has_facility(inp, spec.kind)
            need = [k for k in range(len(inp.communities)) if not has[k]]
            kwargs.update(community_of_site=comm_idx, require_one_in=need)
        if spec.capacitated:
            cap = c["capacity"].to_numpy(dtype=float)[rows]
            default = std.capacity if std.capacity is not None else np.inf
            kwargs["capacity"] = np.where(np.isnan(cap), default, cap)
        model = MCLP.from_matrix(
            cov, inp.demand, site_ids=eids, sites=spec.sites, budget=spec.budget, cost=costs,
            covered_before=covered_before, force=force_pos, time_limit_s=spec.time_limit_s,
            method=spec.method, **kwargs,
        ).solve()
        pattern = cov.tocsr().copy()
        pattern.data = np.ones_like(pattern.data)
        alone = pattern @ np.where(covered_before, 0.0, inp.demand)
        out.gain[rows] = np.fmax(np.nan_to_num(out.gain[rows], nan=-np.inf), alone)
        if spec.budget is not None and len(model.unaffordable_):
            out.warnings.append(
                f"{label}: {len(model.unaffordable_)} eligible candidates cost more than the "
                f"budget {spec.budget:g}"
            )
        gaps = []
        if one and len(model.gaps_):
            gaps = [str(inp.communities["community_id"].iloc[k]) for k in model.gaps_]
            out.warnings.append(
                f"{label}: {len(gaps)} communities need a centre but have no eligible "
                "candidate: " + ", ".join(gaps[:10])
            )
        sel = np.asarray(model.selected_, dtype=int)
        for rank, (j, g) in enumerate(zip(sel, model.marginal_, strict=True), start=1):
            r = int(rows[j])
            used.add(str(ids[r]))
            opened.setdefault((spec.kind, spec.tier), []).append(r)
            out.rows.append({
                "_row": r, "site_id": str(ids[r]), "kind": spec.kind, "tier": spec.tier,
                "rank": rank, "marginal_population": float(g),
                "cost": float(c["cost"].iloc[r]), "optimize": i,
            })
        entry = {
            "kind": spec.kind, "tier": spec.tier, "model": spec.model,
            "selected": [eids[j] for j in sel],
            "objective": float(model.objective_), "bound": float(model.bound_),
            "gap": float(model.gap_), "covered_before": float(model.covered_before_),
            "covered_after": float(model.covered_after_), "cost": float(model.cost_),
            "method": str(model.method_), "status": str(model.status_),
            "seconds": round(float(model.seconds_), 3),
        }
        if one:
            entry["gaps"] = gaps
        out.summary.append(entry)
    if sc.optimize and not any_usable:
        raise InputError(
            "no usable candidate at all: every candidate is of another kind or tier, too "
            "small, in an exclusion zone, forbidden or too far from the network",
            field="candidates",
        )
    out.reason[out.reason == NOT_IN_ENTRY] = NOT_IN_ENTRY
    return out


def _has_facility(inp: SitingInput, kind: str) -> np.ndarray:
    """Whether each community already has an existing facility of ``kind`` inside it."""
    comm = inp.communities
    fac = inp.facilities[inp.facilities["kind"] == kind]
    has = np.zeros(len(comm), dtype=bool)
    if len(fac):
        pts = gpd.GeoDataFrame(geometry=fac.geometry.representative_point().to_numpy(),
                               crs=fac.crs)
        j = gpd.sjoin(comm[["geometry"]].reset_index(drop=True), pts, how="inner",
                      predicate="intersects")
        has[np.unique(j.index.to_numpy())] = True
    return has


def _empty(spec: OptimizeSpec, inp: SitingInput) -> dict:
    std = inp.standards[spec.kind][spec.tier]
    cov = float(inp.demand[access.covered_mask(inp.before[(spec.kind, spec.tier)], std.walk_m)].sum())
    return {
        "kind": spec.kind, "tier": spec.tier, "model": spec.model, "selected": [],
        "objective": 0.0, "bound": 0.0, "gap": 0.0, "covered_before": cov,
        "covered_after": cov, "cost": 0.0, "method": "none", "status": "no candidates",
        "seconds": 0.0,
    }
