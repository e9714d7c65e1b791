"""Generated candidate sites, for when a planner has no list of sites yet.

:func:`kmeans_candidates` places ``n`` candidates where people are: at the centres of a
population-weighted k-means of the cells. These are *locations to look at*, not land
that is available: they have no cost, so they suit ``sites:`` models rather than
budgets. Their site area is assumed (:func:`assumed_area_m2`: ``generate: {area_m2: …}``,
by default the largest minimum site area of the kind's standards), so that they pass the
minimum-area check of every tier of their kind.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from pyproj import CRS

from facplan._errors import InputError
from facplan.cells import cell_points
from facplan.io.vector import numeric_field, require_fields

__all__ = ["kmeans_candidates", "assumed_area_m2", "KMEANS_N_INIT", "PARALLEL_MIN_WORK"]

#: k-means restarts (the best inertia is kept); fixed so results depend only on ``seed``.
KMEANS_N_INIT = 10
#: Below this many cell × cluster pairs k-means runs on one thread.
PARALLEL_MIN_WORK = 5_000_000


def assumed_area_m2(area_m2: float | None, standards: dict, kind: str) -> float:
    """Site area given to generated candidates of ``kind``, in m².

    ``area_m2`` when the scenario gives it (``generate: {area_m2: …}``); otherwise the
    largest ``min_area_m2`` among the tiers of ``kind`` in ``standards`` (0 when the kind
    has no standard), so a generated site is large enough for any tier of its kind.
    """
    if area_m2 is not None:
        return float(area_m2)
    tiers = standards.get(kind, {})
    return float(max((std.min_area_m2 for std in tiers.values()), default=0.0))


def kmeans_candidates(
    cells: gpd.GeoDataFrame, n: int, *, seed: int = 0, kind: str = "sports_park"
) -> gpd.GeoDataFrame:
    """``n`` candidate sites at the centres of a population-weighted k-means.

    Parameters
    ----------
    cells
        Population cells (``population`` column; points or polygons) in a projected CRS
        (metres). Polygons count at their ``representative_point()``, as they do
        everywhere in facplan. Cells with no people are ignored.
    n
        Number of candidates (clusters), at least 1 and at most the number of distinct
        populated cell locations.
    seed
        Random state of the k-means initialisation (``k-means++``, ``KMEANS_N_INIT``
        restarts); the same inputs and seed give the same sites.
    kind
        Facility kind given to every candidate.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id`` (``kmeans-0`` … in order of x, then y, in the cells' CRS), ``kind``,
        ``tier`` (""), ``cost`` (0.0), ``area_m2`` (NaN), ``source`` (``"kmeans"``),
        ``population`` (people in the cluster), point geometry in EPSG:4326. Each point
        is exactly the population-weighted mean of the cells assigned to its cluster
        (the centres are recomputed from the final assignment), so it may fall in a
        river or a courtyard: check the sites before relying on them.

    Raises
    ------
    InputError
        No CRS or a geographic one; missing, NaN, infinite or negative population;
        ``n`` < 1 or more than the distinct populated locations.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    where = "population"
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InputError(f"the number of k-means candidates must be a whole number ≥ 1, got {n!r}",
                         field="n")
    if cells.crs is None:
        raise InputError("the cells have no CRS", file=where)
    crs = CRS.from_user_input(cells.crs)
    if not crs.is_projected:
        raise InputError(
            f"k-means needs cells in a projected CRS (metres), got {crs.name}", file=where
        )
    require_fields(cells, {"population.field": "population"}, where)
    pop = numeric_field(cells, "population", where)
    x, y = cell_points(cells.geometry)
    keep = pop > 0
    xy = np.column_stack([x[keep], y[keep]])
    w = pop[keep]
    distinct = len(np.unique(xy, axis=0)) if len(xy) else 0
    if n > distinct:
        raise InputError(
            f"asked for {n} k-means candidates but there are only {distinct} distinct "
            f"populated cell locations ({len(cells)} cells)",
            field="n",
        )
    # tol=0: iterate until the assignment no longer changes (a true Lloyd fixed point).
    # Small inputs run on one thread: OpenMP start-up and spinning cost far more than the
    # work there (seconds instead of milliseconds on a busy 2-core machine).
    threads = 1 if len(xy) * n < PARALLEL_MIN_WORK else None
    with threadpool_limits(limits=threads, user_api="openmp"):
        km = KMeans(n_clusters=int(n), n_init=KMEANS_N_INIT, random_state=seed, tol=0.0).fit(
            xy, sample_weight=w
        )
    labels = km.labels_
    mass = np.bincount(labels, weights=w, minlength=n)
    cx = np.bincount(labels, weights=w * xy[:, 0], minlength=n) / mass
    cy = np.bincount(labels, weights=w * xy[:, 1], minlength=n) / mass
    order = np.lexsort((cy, cx))
    pts = gpd.GeoSeries(gpd.points_from_xy(cx[order], cy[order]), crs=crs).to_crs(4326)
    return gpd.GeoDataFrame(
        {
            "site_id": [f"kmeans-{i}" for i in range(n)],
            "kind": kind,
            "tier": "",
            "cost": 0.0,
            "area_m2": np.nan,
            "source": "kmeans",
            "population": mass[order],
        },
        geometry=pts.values,
        crs=4326,
    )
