"""Walking access: nearest-facility distances, coverage, per-community tables, 2SFCA.

Inputs are arrays from :mod:`facplan.distances` on a graph whose every cell and site has
its own leaf node (:func:`facplan.network.attach_points`). Distances are metres; NaN means
unreachable (not snapped, or on a piece of the network with no facility).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from facplan.keys import COVER_EPS_M
from facplan.network import Graph
from facplan.routes import GraphRoutes

__all__ = [
    "COVER_EPS_M",
    "nearest_distance",
    "coverage_stats",
    "weighted_quantile",
    "community_table",
    "two_step_fca",
    "site_matrix",
    "covered_mask",
    "demand_weights",
]

def nearest_distance(
    graph: Graph, site_nodes: np.ndarray, cell_nodes: np.ndarray
) -> np.ndarray:
    """Network distance in metres from every cell to its nearest site (NaN = none
    reachable); see :meth:`facplan.routes.GraphRoutes.nearest`."""
    return GraphRoutes(graph, np.asarray(cell_nodes, dtype=np.int64)).nearest(site_nodes)


def site_matrix(
    graph: Graph, site_nodes: np.ndarray, cell_nodes: np.ndarray, cutoff_m: float
) -> sp.csr_matrix:
    """Sites × cells distances within ``cutoff_m``; see
    :meth:`facplan.routes.GraphRoutes.matrix`."""
    return GraphRoutes(graph, np.asarray(cell_nodes, dtype=np.int64)).matrix(site_nodes, cutoff_m)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Weighted quantile: the smallest value whose cumulative weight share is ≥ ``q``.

    NaN values are ignored; returns NaN when no weight remains.
    """
    ok = ~np.isnan(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    v, w = values[ok], weights[ok]
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order])
    i = int(np.searchsorted(cum, q * cum[-1] - 1e-9 * cum[-1], side="left"))
    return float(v[order][min(i, len(v) - 1)])


def coverage_stats(dist_m: np.ndarray, population: np.ndarray, threshold_m: float) -> dict:
    """Coverage of one kind/tier.

    Returns
    -------
    dict
        ``threshold_m``; ``covered_population`` (people with distance ≤ threshold);
        ``coverage`` (covered ÷ all people in the study area, unreachable included);
        ``mean_m``, ``p50_m``, ``p90_m`` (population-weighted, over reachable people);
        ``unreachable_population``.
    """
    population = np.asarray(population, dtype=float)
    total = float(population.sum())
    reach = ~np.isnan(dist_m)
    covered = reach & (np.nan_to_num(dist_m, nan=np.inf) <= threshold_m + COVER_EPS_M)
    cov_pop = float(population[covered].sum())
    w = population[reach]
    mean = float(np.average(dist_m[reach], weights=w)) if w.sum() > 0 else float("nan")
    return {
        "threshold_m": float(threshold_m),
        "covered_population": cov_pop,
        "coverage": cov_pop / total if total > 0 else 0.0,
        "mean_m": mean,
        "p50_m": weighted_quantile(dist_m, population, 0.5),
        "p90_m": weighted_quantile(dist_m, population, 0.9),
        "unreachable_population": float(population[~reach].sum()),
    }


def covered_mask(dist_m: np.ndarray, threshold_m: float) -> np.ndarray:
    """Boolean mask of cells within ``threshold_m`` (NaN = not covered)."""
    return np.nan_to_num(dist_m, nan=np.inf) <= threshold_m + COVER_EPS_M


def community_table(
    community_ids: np.ndarray,
    population: np.ndarray,
    dist_columns: dict[str, np.ndarray],
    thresholds: dict[str, float],
    communities: pd.DataFrame,
) -> pd.DataFrame:
    """Per-community population and coverage.

    Parameters
    ----------
    community_ids
        Community of each cell.
    population
        People per cell.
    dist_columns
        ``{"<kind>_<tier>": dist, "<kind>_<tier>_after": dist, ...}`` per cell.
    thresholds
        Threshold per key of ``dist_columns``.
    communities
        ``community_id``, ``name`` of every community (communities without cells get 0).

    Returns
    -------
    pandas.DataFrame
        ``community_id``, ``name``, ``population``, ``coverage_<key>`` (fraction; NaN
        for a community without people).
    """
    df = pd.DataFrame({"community_id": community_ids, "population": population})
    for key, dist in dist_columns.items():
        df[f"_cov_{key}"] = np.where(covered_mask(dist, thresholds[key]), population, 0.0)
    g = df.groupby("community_id", sort=True).sum(numeric_only=True)
    out = communities[["community_id", "name"]].copy().reset_index(drop=True)
    out["population"] = out["community_id"].map(g["population"]).fillna(0.0).to_numpy()
    for key in dist_columns:
        cov = out["community_id"].map(g[f"_cov_{key}"]).fillna(0.0).to_numpy()
        pop = out["population"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"coverage_{key}"] = np.where(pop > 0, cov / np.where(pop > 0, pop, 1), np.nan)
    return out


def two_step_fca(
    matrix: sp.csr_matrix, supply: np.ndarray, population: np.ndarray
) -> np.ndarray:
    """Two-step floating catchment supply per resident (DESIGN, ``sfca_<kind>_<tier>``).

    Parameters
    ----------
    matrix
        Facilities × cells; an entry means the cell is within the tier threshold of the
        facility (explicit zeros count).
    supply
        Supply of each facility (site area in m²; NaN counts as 0).
    population
        People per cell.

    Returns
    -------
    numpy.ndarray
        A_i = Σ_j R_j over facilities j within the threshold of cell i, with
        R_j = supply_j / (population within the threshold of j); m² per resident.
        Facilities with no one in reach contribute nothing.
    """
    m = matrix.tocsr().copy()
    m.data = np.ones_like(m.data)
    demand = m @ np.asarray(population, dtype=float)
    supply = np.nan_to_num(np.asarray(supply, dtype=float), nan=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(demand > 0, supply / np.where(demand > 0, demand, 1), 0.0)
    return np.asarray(m.T @ ratio).ravel()


def demand_weights(cells: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    """Demand per cell: ``population + Σ (weight − 1) × group people``, at least 0.

    Parameters
    ----------
    cells
        One row per cell with ``population`` and a column per weighted group.
    weights
        Group column → weight (a scenario's ``weights``; everyone else counts 1).

    Returns
    -------
    numpy.ndarray
        Weighted people per cell, in the order of ``cells``.
    """
    demand = cells["population"].to_numpy(dtype=float).copy()
    for group, w in weights.items():
        demand += (w - 1.0) * cells[group].to_numpy(dtype=float)
    return np.clip(demand, 0.0, None)
