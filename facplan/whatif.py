"""What the map's what-if panel needs: who each site could cover, and who is covered already.

For every kind/tier that the run measures (``summary.json`` ``access`` keys), the
payload holds

- the cells covered before (by existing facilities, ``nested`` standards respected: the
  union of what the facilities cover, as the run's ``dist_<kind>_<tier>`` says), and
- for every candidate eligible for an ``optimize`` entry whose tier serves this kind/tier
  (the entry's own tier, or a higher ``nested`` one), the cells within this kind/tier's
  threshold of the site.

"Within" is the run's own rule, distance ≤ threshold + :data:`facplan.routes.COVER_EPS_M`,
from the same :meth:`routes.matrix` the models use; so the coverage of any set of open
sites, computed in the browser from these sets, is the coverage ``facplan run`` reports
with those sites forced. Candidate eligibility is the optimize entry's (kind, tier,
minimum area, exclusion zones, forbid, on the network), without "chosen for another
entry": in the panel a site is open for at most one kind/tier at a time.

The site–cell pairs are counted as they are computed; above ``map.max_whatif_pairs`` the
computation stops and the payload only says why the panel is off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np

from facplan import access
from facplan.routes import GraphRoutes, MatrixRoutes
from facplan.siting import SitingInput, eligible_rows, serving_tiers

__all__ = ["WhatIf", "build_whatif"]

#: Candidates per bounded search when the coverage sets are computed (the count of pairs
#: is checked after each chunk).
CHUNK_SITES = 256


@dataclass
class WhatIf:
    """The what-if data of one run (arrays aligned with ``Result.demand`` rows).

    Attributes
    ----------
    keys
        Access keys ``"<kind>/<tier>"`` in the order of ``summary.json``.
    threshold_m
        Key -> walking threshold in metres.
    open_keys
        Keys of the optimize entries, i.e. the kinds/tiers a site can be opened for.
    serves
        Open key -> the access keys a site opened for it serves (its own and, through
        ``nested`` standards, lower tiers of the same kind).
    population
        People per cell.
    community
        Position of each cell's community in ``community_ids`` (−1: none).
    community_ids, community_names
        The communities, in the order of ``Result.communities``.
    base
        Key -> sorted cell positions covered before (existing facilities).
    sites
        Candidate rows that can be opened for some open key (positions into
        ``Result.candidates``), ascending.
    site_keys
        Per site (aligned with ``sites``): the open keys it is eligible for.
    cover
        Key -> {site position in ``sites`` -> sorted cell positions within the key's
        threshold}; only sites that can serve the key appear.
    plan
        The run's chosen sites as ``(position in sites, open key)`` in rank order.
    budgets
        ``{"label", "keys", "budget"}`` per optimize entry or budget group with a budget.
    site_frame
        The openable candidates (``site_id``, ``kind``, ``cost``, geometry; scenario CRS).
    site_community
        The community of each openable candidate (None: outside every community).
    pairs
        Site–cell pairs counted (over every key).
    max_pairs
        ``map.max_whatif_pairs``.
    enabled
        False when ``pairs`` went over ``max_pairs`` (then ``cover`` is empty).
    """

    keys: list[str]
    threshold_m: dict[str, float]
    open_keys: list[str]
    serves: dict[str, list[str]]
    population: np.ndarray
    community: np.ndarray
    community_ids: list[str]
    community_names: list[str]
    base: dict[str, np.ndarray]
    sites: np.ndarray
    site_keys: list[list[str]]
    cover: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    plan: list[tuple[int, str]] = field(default_factory=list)
    budgets: list[dict] = field(default_factory=list)
    site_frame: gpd.GeoDataFrame | None = None
    site_community: list[str | None] = field(default_factory=list)
    pairs: int = 0
    max_pairs: int = 2_000_000
    enabled: bool = True


def _key(kind: str, tier: str) -> str:
    return f"{kind}/{tier}"


def build_whatif(
    inp: SitingInput,
    *,
    kind_tiers: list[tuple[str, str]],
    chosen_rows: list[dict],
    population: np.ndarray,
    community_of_cell: np.ndarray,
    max_pairs: int,
) -> WhatIf | None:
    """The what-if payload of a run, or ``None`` when it has no optimize entry.

    Parameters
    ----------
    inp
        The siting input of the run (candidates, routes, existing distances).
    kind_tiers
        The run's measured (kind, tier) pairs, in summary order.
    chosen_rows
        The chosen sites (``SitingResult.rows``), in rank order per entry.
    population
        People per cell (not the weighted demand: the panel shows people).
    community_of_cell
        Each cell's ``community_id`` (None: outside every community).
    max_pairs
        Stop computing (and turn the panel off) above this many site–cell pairs.
    """
    sc = inp.scenario
    if not sc.optimize or inp.candidates is None:
        return None
    standards = inp.standards
    routes: GraphRoutes | MatrixRoutes = inp.routes
    # a capacitated kind/tier's coverage is the people served within capacities, which
    # depends on the whole assignment: the panel leaves it out rather than show a
    # different figure than the run
    capacitated = {(o.kind, o.tier) for o in sc.optimize if o.capacitated}
    kind_tiers = [kt for kt in kind_tiers if kt not in capacitated]
    keys = [_key(k, t) for k, t in kind_tiers]
    open_pairs: list[tuple[str, str]] = []
    for spec in sc.optimize:
        if (spec.kind, spec.tier) not in open_pairs and (spec.kind, spec.tier) not in capacitated:
            open_pairs.append((spec.kind, spec.tier))
    if not open_pairs:
        return None
    open_keys = [_key(k, t) for k, t in open_pairs]
    # eligible rows per open key (any entry of that kind/tier)
    elig: dict[str, set[int]] = {k: set() for k in open_keys}
    for spec in sc.optimize:
        if (spec.kind, spec.tier) in capacitated:
            continue
        elig[_key(spec.kind, spec.tier)].update(eligible_rows(inp, spec).tolist())
    sites = np.array(sorted(set().union(*elig.values())), dtype=np.int64)
    pos = {int(r): i for i, r in enumerate(sites)}
    site_keys = [[k for k in open_keys if int(r) in elig[k]] for r in sites]
    serves: dict[str, list[str]] = {}
    for ok, (kind, tier) in zip(open_keys, open_pairs, strict=True):
        serves[ok] = [
            _key(k, t) for k, t in kind_tiers
            if k == kind and t in standards[k] and tier in serving_tiers(k, t, standards)
        ]
    if inp.communities is not None:
        comm_ids = [str(c) for c in inp.communities["community_id"]]
        names = inp.communities["name"] if "name" in inp.communities.columns else None
        comm_names = []
        for i, cid in enumerate(comm_ids):
            n = None if names is None else names.iloc[i]
            comm_names.append(cid if n is None or n != n or str(n) == "" else str(n))
        where = {c: i for i, c in enumerate(comm_ids)}
        community = np.array(
            [where.get(None if c is None else str(c), -1) for c in community_of_cell],
            dtype=np.int64,
        )
    else:
        comm_ids, comm_names = [], []
        community = np.full(len(community_of_cell), -1, dtype=np.int64)

    base: dict[str, np.ndarray] = {}
    thr: dict[str, float] = {}
    for (kind, tier), key in zip(kind_tiers, keys, strict=True):
        std = standards[kind][tier]
        thr[key] = float(std.walk_m)
        base[key] = np.flatnonzero(access.covered_mask(inp.before[(kind, tier)], std.walk_m))

    budgets = [b for b in _budgets(sc) if set(b["keys"]) <= set(open_keys)]
    plan = [(pos[int(r["_row"])], _key(r["kind"], r["tier"])) for r in chosen_rows
            if int(r["_row"]) in pos and _key(r["kind"], r["tier"]) in open_keys]
    out = WhatIf(
        keys=keys, threshold_m=thr, open_keys=open_keys, serves=serves,
        population=np.asarray(population, dtype=float),
        community=community, community_ids=comm_ids, community_names=comm_names,
        base=base, sites=sites, site_keys=site_keys, plan=plan, budgets=budgets,
        site_frame=inp.candidates.iloc[sites][
            [c for c in ("site_id", "kind", "cost", "name", "tag", "geometry")
             if c in inp.candidates.columns]],
        max_pairs=int(max_pairs),
    )
    pairs = 0
    for key in keys:
        can = [i for i, ks in enumerate(site_keys)
               if any(key in serves[k] for k in ks)]
        out.cover[key] = {}
        for a in range(0, len(can), CHUNK_SITES):
            chunk = np.array(can[a:a + CHUNK_SITES], dtype=np.int64)
            m = routes.matrix(inp.cand_nodes[sites[chunk]], thr[key]).tocsr()
            pairs += int(m.nnz)
            if pairs > max_pairs:
                out.cover, out.pairs, out.enabled = {}, pairs, False
                return out
            for j, i in enumerate(chunk.tolist()):
                cells = m.indices[m.indptr[j]:m.indptr[j + 1]]
                out.cover[key][i] = np.sort(cells.astype(np.int64))
    out.pairs = pairs
    return out


def _budgets(sc) -> list[dict]:
    """Budgets of the optimize entries: one line per entry with a budget, one per group."""
    out: list[dict] = []
    seen: set[str] = set()
    for i, spec in enumerate(sc.optimize):
        if spec.budget is None:
            continue
        if spec.budget_group is not None:
            if spec.budget_group in seen:
                continue
            seen.add(spec.budget_group)
            members = [s for s in sc.optimize if s.budget_group == spec.budget_group]
            keys = sorted({_key(s.kind, s.tier) for s in members})
            out.append({"label": spec.budget_group, "keys": keys, "budget": float(spec.budget)})
        else:
            out.append({"label": f"optimize.{i}", "keys": [_key(spec.kind, spec.tier)],
                        "budget": float(spec.budget)})
    return out
