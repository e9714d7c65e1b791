"""The coverage curve: covered weight against the number of new sites (greedy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from facplan.optimize._base import (
    as_pattern,
    check_count,
    check_mask,
    check_positions,
    check_site_ids,
    check_weights,
    site_order,
)

__all__ = ["coverage_curve"]

_NAME = "coverage_curve"


def coverage_curve(
    coverage: sp.spmatrix | np.ndarray,
    weights: np.ndarray,
    *,
    covered_before: np.ndarray | None = None,
    max_sites: int,
    site_ids: Sequence[str] | None = None,
    forbid: Sequence[int] = (),
) -> np.ndarray:
    """Covered weight after adding k = 0 … ``max_sites`` sites **greedily**.

    Each step adds the site with the largest newly covered weight (ties by ``site_id``
    in string order, or by position without ids). Greedy is within (1 − 1/e) of the
    optimum for every k and usually much closer; the curve is meant for the report plot,
    not as the optimum for each k (solve :class:`MCLP` for that). Once no site adds
    anything the curve stays flat.

    Parameters
    ----------
    coverage
        (n_sites, n_cells) sparse; a stored entry means "covers".
    weights
        (n_cells,) weight per cell.
    covered_before
        (n_cells,) bool, covered by existing facilities (counted at k = 0).
    max_sites
        Largest k.
    site_ids
        Optional ids for tie-breaking.
    forbid
        Sites never added.

    Returns
    -------
    numpy.ndarray
        float (max_sites + 1,): covered weight (including ``covered_before``) after k
        sites.
    """
    pat = as_pattern(coverage, _NAME)
    n_sites, n_cells = pat.shape
    w = check_weights(weights, n_cells, _NAME)
    before = check_mask(covered_before, n_cells, _NAME, "covered_before")
    k_max = check_count(max_sites, _NAME, "max_sites")
    if k_max is None:
        k_max = 0
    order = (
        np.arange(n_sites) if site_ids is None
        else site_order(check_site_ids(site_ids, n_sites, _NAME))
    )
    allowed = np.ones(n_sites, dtype=bool)
    allowed[check_positions(forbid, n_sites, _NAME, "forbid")] = False
    left = np.where(before, 0.0, w)
    out = np.empty(k_max + 1)
    total = float(w[before].sum())
    out[0] = total
    tol = 1e-12 * max(1.0, float(w.sum()))
    for k in range(1, k_max + 1):
        gain = pat @ left
        gain[~allowed] = -np.inf
        top = gain.max() if n_sites else 0.0
        if top <= tol:
            out[k:] = total
            break
        ties = np.flatnonzero(gain >= top - tol)
        j = int(ties[np.argmin(order[ties])])
        total += float(gain[j])
        left[pat.indices[pat.indptr[j] : pat.indptr[j + 1]]] = 0.0
        allowed[j] = False
        out[k] = total
    return out
