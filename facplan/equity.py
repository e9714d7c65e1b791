"""Equity of walking access: the Gini coefficient of distances and the communities that
meet the coverage target (DESIGN, *Planner deliverables*).

Pure numbers in, numbers out; the pipeline adds them to ``summary.json`` ``access[...]``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["gini", "communities_meeting_target", "used_kinds", "add_equity"]


def gini(dist_m: np.ndarray, population: np.ndarray) -> float | None:
    """Population-weighted Gini coefficient of walking distances.

    G = Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ), with w the people of each cell, W = Σ w
    and μ the population-weighted mean distance. Unreachable cells (NaN) and cells
    without people are left out. 0 means everyone walks the same distance; values near 1
    mean a few people carry nearly all of the walking.

    Parameters
    ----------
    dist_m
        Walking distance of each cell in metres (NaN = unreachable).
    population
        People per cell.

    Returns
    -------
    float or None
        The coefficient in [0, 1); 0.0 when every reachable person is at distance 0;
        None when no reachable cell has people.
    """
    x = np.asarray(dist_m, dtype=float)
    w = np.asarray(population, dtype=float)
    ok = ~np.isnan(x) & (w > 0)
    x, w = x[ok], w[ok]
    if len(x) == 0:
        return None
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    total = float(w.sum())
    mean = float((w * x).sum() / total)
    if mean <= 0:
        return 0.0
    before = np.cumsum(w) - w  # weight strictly earlier in the order
    after = total - before - w
    # Σ over ordered pairs i<j of w_i w_j (x_j − x_i), doubled for both orders
    pair_sum = 2.0 * float((w * x * (before - after)).sum())
    return max(pair_sum / (2.0 * total * total * mean), 0.0)


def communities_meeting_target(
    coverage_after: Iterable[float], population: Iterable[float], target: float
) -> int:
    """How many communities with people have a covered share of at least ``target``.

    Parameters
    ----------
    coverage_after
        Covered share of each community after the plan (fractions; NaN for none).
    population
        People per community; communities without people are not counted.
    target
        The standard's ``target_coverage`` (fraction).
    """
    cov = np.asarray(list(coverage_after), dtype=float)
    pop = np.asarray(list(population), dtype=float)
    return int(((pop > 0) & (np.nan_to_num(cov, nan=-1.0) >= target - 1e-12)).sum())


def used_kinds(*frames: pd.DataFrame | None, optimize_kinds: Iterable[str] = ()) -> set[str]:
    """The facility kinds a scenario uses: those of its facilities, its candidates and
    its optimize entries (only these appear in tables, gaps and reports)."""
    kinds = set(optimize_kinds)
    for df in frames:
        if df is not None and len(df) and "kind" in df:
            kinds |= {str(k) for k in df["kind"].dropna().unique()}
    return kinds


def add_equity(
    access_summary: dict[str, dict],
    demand: pd.DataFrame,
    kind_tiers: Iterable[tuple[str, str]],
    standards: dict,
    communities: pd.DataFrame | None,
) -> None:
    """Add ``gini``, ``target_coverage`` and ``communities_meeting_target`` (with
    ``communities_with_people``) to each ``access["<kind>/<tier>"]`` of ``summary.json``.

    ``gini`` is taken over ``dist_<kind>_<tier>_after`` (walking distance after the
    plan); the community counts are None when the scenario has no communities.
    """
    pop = demand["population"].to_numpy(dtype=float)
    for kind, tier in kind_tiers:
        a = access_summary[f"{kind}/{tier}"]
        target = float(standards[kind][tier].target_coverage)
        a["gini"] = gini(demand[f"dist_{kind}_{tier}_after"].to_numpy(dtype=float), pop)
        a["target_coverage"] = target
        if communities is None:
            a["communities_meeting_target"] = None
            a["communities_with_people"] = None
            continue
        cpop = communities["population"].to_numpy(dtype=float)
        a["communities_meeting_target"] = communities_meeting_target(
            communities[f"coverage_{kind}_{tier}_after"].to_numpy(dtype=float), cpop, target
        )
        a["communities_with_people"] = int((cpop > 0).sum())
