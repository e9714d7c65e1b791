"""Shared machinery of the models: the fitted-attribute guard and parameter checks.

Every check raises :class:`facplan.InputError` whose message reads
"The 'x' parameter of Model must be … Got … instead." (scikit-learn's wording), with
``field`` set to the parameter name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from facplan._errors import InputError

__all__ = [
    "NotSolvedError",
    "Model",
    "METHODS",
    "as_pattern",
    "check_count",
    "check_amount",
    "check_weights",
    "check_mask",
    "check_costs",
    "check_positions",
    "check_site_ids",
    "check_method",
    "check_positive",
    "site_order",
    "gap_max",
    "gap_min",
    "OPTIMAL_REL_TOL",
    "agree",
    "proven_status",
]

#: ``status_`` is "optimal" only when the objective equals the bound within this
#: relative tolerance (DESIGN, *Results say what they measure*).
OPTIMAL_REL_TOL = 1e-6

#: Allowed values of the ``method`` parameter.
METHODS = ("auto", "exact", "heuristic")


class NotSolvedError(ValueError, AttributeError):
    """A result attribute (ending in ``_``) was read before :meth:`Model.solve`."""


class Model:
    """Base class: parameters stored by ``from_matrix``, results set by ``solve``.

    Result attributes end in ``_``; reading one before ``solve()`` raises
    :class:`NotSolvedError` (like scikit-learn's ``check_is_fitted``).
    """

    #: Names of the attributes that ``solve()`` sets.
    _results: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self._params = params  # checked inputs, from ``from_matrix``

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails
        if name in type(self)._results:
            raise NotSolvedError(
                f"This {type(self).__name__} is not solved yet: call solve() before "
                f"reading '{name}'."
            )
        if name.startswith("_") and not name.startswith("__"):
            raise AttributeError(
                f"This {type(self).__name__} has no inputs: build it with "
                f"{type(self).__name__}.from_matrix(...)"
            )
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    @property
    def solved(self) -> bool:
        """Whether :meth:`solve` has run."""
        return "objective_" in self.__dict__

    def __repr__(self) -> str:
        state = "solved" if self.solved else "not solved"
        return f"<{type(self).__name__} ({state})>"


def _err(model: str, name: str, must: str, got: object) -> InputError:
    return InputError(
        f"The '{name}' parameter of {model} must be {must}. Got {got!r} instead.", field=name
    )


def as_pattern(matrix: Any, model: str, name: str = "coverage") -> sp.csr_matrix:
    """Return the sparsity structure of ``matrix`` as a CSR matrix of ones.

    A stored entry (explicit zeros included) is a ``True``; a dense array counts its
    non-zero entries. Duplicate entries are merged.
    """
    if sp.issparse(matrix):
        m = sp.csr_matrix(matrix)
        pat = sp.csr_matrix(
            (np.ones(m.nnz), m.indices.copy(), m.indptr.copy()), shape=m.shape
        )
        pat.sum_duplicates()
        pat.data[:] = 1.0
    else:
        arr = np.asarray(matrix)
        if arr.ndim != 2:
            raise _err(model, name, "a 2-D sparse matrix (n_sites, n_cells)", arr.shape)
        pat = sp.csr_matrix(arr != 0, dtype=np.float64)
    pat.sort_indices()
    return pat


def check_count(value: Any, model: str, name: str) -> int | None:
    """Check a non-negative integer (or ``None``)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float | np.floating) and float(value).is_integer():
            value = int(value)
        else:
            raise _err(model, name, "a non-negative int or None", value)
    if value < 0:
        raise _err(model, name, "a non-negative int or None", value)
    return int(value)


def check_amount(value: Any, model: str, name: str) -> float | None:
    """Check a finite non-negative number (or ``None``)."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _err(model, name, "a finite non-negative number or None", value) from None
    if not math.isfinite(v) or v < 0:
        raise _err(model, name, "a finite non-negative number or None", value)
    return v


def check_positive(value: Any, model: str, name: str) -> float:
    """Check a finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise _err(model, name, "a finite number > 0", value) from None
    if not math.isfinite(v) or v <= 0:
        raise _err(model, name, "a finite number > 0", value)
    return v


def check_weights(values: Any, n: int, model: str, name: str = "weights") -> np.ndarray:
    """Check a float array of length ``n``, finite and ≥ 0."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.shape != (n,):
        raise _err(model, name, f"an array of length {n}", f"length {arr.size}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if len(bad):
        raise InputError(
            f"The '{name}' parameter of {model} must be finite and ≥ 0; "
            f"{len(bad)} entries are not (first: position {bad[0]}, value {arr[bad[0]]!r}).",
            field=name,
            rows=(bad + 1).tolist(),
        )
    return arr


def check_costs(values: Any, n: int, model: str, name: str = "cost") -> np.ndarray:
    """Check site costs (finite, ≥ 0); ``None`` gives zeros."""
    if values is None:
        return np.zeros(n)
    return check_weights(values, n, model, name)


def check_mask(values: Any, n: int, model: str, name: str) -> np.ndarray:
    """Check a boolean array of length ``n``; ``None`` gives all False."""
    if values is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise _err(model, name, f"a boolean array of length {n}", f"shape {arr.shape}")
    if arr.dtype != bool:
        if not np.isin(arr, [0, 1]).all():
            raise _err(model, name, "a boolean array", "non-boolean values")
        arr = arr.astype(bool)
    return arr


def check_positions(values: Sequence[int] | Any, n: int, model: str, name: str) -> np.ndarray:
    """Check site positions in ``[0, n)``; return them unique, in first-seen order."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values).ravel()
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise _err(model, name, "a sequence of integer site positions", values)
    bad = arr[(arr < 0) | (arr >= n)]
    if len(bad):
        raise _err(model, name, f"positions in [0, {n})", bad.tolist())
    _, first = np.unique(arr, return_index=True)
    return arr[np.sort(first)].astype(np.int64)


def site_masks(
    n_sites: int, force_pos: np.ndarray, forbid_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(fixed, allowed)``: bool (n_sites,) masks of the forced sites and of the sites
    that are not forbidden (positions as :func:`check_positions` gives them)."""
    fixed = np.zeros(n_sites, dtype=bool)
    fixed[force_pos] = True
    allowed = np.ones(n_sites, dtype=bool)
    allowed[forbid_pos] = False
    return fixed, allowed


def check_site_ids(site_ids: Sequence[str], n: int, model: str) -> np.ndarray:
    """Check ``site_ids``: ``n`` distinct ids; returned as an array of ``str``."""
    ids = np.asarray([str(s) for s in site_ids], dtype=object)
    if ids.shape != (n,):
        raise _err(model, "site_ids", f"a sequence of {n} ids (one per site)", f"{ids.size} ids")
    uniq, counts = np.unique(ids.astype(str), return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][:5].tolist()
        raise _err(model, "site_ids", "distinct", f"duplicates {dup}")
    return ids


def check_method(method: Any, model: str) -> str:
    """Check ``method`` ∈ ``METHODS``."""
    if method not in METHODS:
        raise _err(model, "method", f"one of {', '.join(map(repr, METHODS))}", method)
    return str(method)


def site_order(ids: np.ndarray) -> np.ndarray:
    """Tie-break key per site: its position in string order of the ids (0 first)."""
    order = np.argsort(ids.astype(str), kind="stable")
    key = np.empty(len(ids), dtype=np.int64)
    key[order] = np.arange(len(ids))
    return key


def gap_max(objective: float, bound: float) -> float:
    """``(bound − objective) / bound`` for a maximisation, 0 when the bound is 0."""
    if bound <= 0:
        return 0.0
    return max(0.0, (bound - objective) / bound)


def gap_min(objective: float, bound: float) -> float:
    """``(objective − bound) / objective`` for a minimisation, 0 when the objective is 0."""
    if objective <= 0:
        return 0.0
    return max(0.0, (objective - bound) / objective)


def agree(objective: float, bound: float) -> bool:
    """Whether ``objective`` equals ``bound`` within :data:`OPTIMAL_REL_TOL` relative
    (or 1e-9 absolute, for objectives of zero)."""
    diff = abs(float(bound) - float(objective))
    return diff <= OPTIMAL_REL_TOL * max(abs(objective), abs(bound)) or diff <= 1e-9


def proven_status(status: str, objective: float, bound: float) -> str:
    """``status``, except that "optimal" needs the reported objective to equal the
    proven bound (:func:`agree`); otherwise it becomes "feasible"."""
    if status == "optimal" and not agree(objective, bound):
        return "feasible"
    return status
