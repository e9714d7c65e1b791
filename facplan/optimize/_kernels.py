"""Compiled (numba) inner loops of the Lagrangian bound, for big models.

Each kernel fuses what would be several whole-array numpy passes into one loop; the
results equal the numpy code in :mod:`facplan.optimize._core` up to the rounding of
sums (same operations per element). Imported only when a model is big enough to pay
for the compilation (cached on disk after the first run).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["cover_count", "direction", "move"]


@njit(cache=True, nogil=True)
def cover_count(indptr, indices, x, rows, n_cols):  # pragma: no cover - compiled
    """``AT @ x`` for an ``x`` that is non-zero only on ``rows`` (A in CSR)."""
    out = np.zeros(n_cols)
    for r in rows:
        v = x[r]
        for k in range(indptr[r], indptr[r + 1]):
            out[indices[k]] += v
    return out


@njit(cache=True, nogil=True)
def direction(cnt, lam, w, prev, deflect):  # pragma: no cover - compiled
    """Deflected subgradient ``s = cnt − 1 + deflect·prev`` (written to ``prev``) and its
    projection on the box ``[0, w]`` (components pushing out of it zeroed), with the
    squared norm of the projection."""
    n = len(lam)
    out = np.empty(n)
    ns = 0.0
    for g in range(n):
        s = cnt[g] - 1.0 + deflect * prev[g]
        prev[g] = s
        if (s > 0.0 and lam[g] <= 0.0) or (s < 0.0 and lam[g] >= w[g]):
            s = 0.0
        out[g] = s
        ns += s * s
    return out, ns


@njit(cache=True, nogil=True)
def move(lam, w, s, step):  # pragma: no cover - compiled
    """New multipliers ``clip(lam − step·s, 0, w)`` and ``Σ (w − new)``."""
    n = len(lam)
    out = np.empty(n)
    tot = 0.0
    for g in range(n):
        v = lam[g] - step * s[g]
        if v < 0.0:
            v = 0.0
        elif v > w[g]:
            v = w[g]
        out[g] = v
        tot += w[g] - v
    return out, tot
