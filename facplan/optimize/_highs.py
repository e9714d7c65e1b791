"""A thin wrapper around HiGHS (``highspy``): pass a sparse model, solve, read the bound."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Solution", "solve"]


@dataclass
class Solution:
    """What a HiGHS run gives back.

    Attributes
    ----------
    x
        Column values (``None`` when HiGHS found no feasible point).
    objective
        Objective of ``x`` (model sense, offset included); NaN without ``x``.
    bound
        Best proven bound on the optimum (the MIP dual bound, or the LP optimum);
        ``+inf``/``-inf`` when nothing is proven.
    status
        ``"optimal"``, ``"time_limit"``, ``"infeasible"`` or HiGHS's own status text.
    seconds
        Wall time of the run.
    """

    x: np.ndarray | None
    objective: float
    bound: float
    status: str
    seconds: float


def _highs():  # pragma: no cover - trivial
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a dependency
        raise ImportError("facplan.optimize needs highspy: pip install highspy") from exc
    # the raw binding does not print the licence banner on stdout
    cls = getattr(getattr(highspy, "_core", None), "_Highs", None) or highspy.Highs
    h = cls()
    h.setOptionValue("output_flag", False)
    return highspy, h


def solve(
    *,
    cost: np.ndarray,
    matrix: sp.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    integer: np.ndarray | None,
    maximize: bool,
    offset: float = 0.0,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-6,
    start: np.ndarray | None = None,
    threads: int | None = None,
    mip_lp_solver: str | None = None,
) -> Solution:
    """Solve ``max/min cost·x + offset`` s.t. ``row_lower ≤ matrix·x ≤ row_upper``.

    Parameters
    ----------
    integer
        Boolean mask of integer columns; ``None`` (or all False) solves an LP.
    start
        A feasible point to start the MIP from (optional).
    mip_lp_solver
        HiGHS's ``mip_lp_solver`` option (``"ipm"`` solves big root LPs much faster).

    Notes
    -----
    HiGHS (1.16) given a start may report the objective of a better solution it found
    while handing back the start's column values. The returned ``x`` is therefore
    checked against the reported objective; on a mismatch the model is solved again
    without the start in the time left, and if that is not possible ``x`` is ``None``
    (the bound stays, the status is no longer "optimal").
    """
    t0 = time.perf_counter()
    kw = dict(
        cost=cost, matrix=matrix, row_lower=row_lower, row_upper=row_upper,
        col_lower=col_lower, col_upper=col_upper, integer=integer, maximize=maximize,
        offset=offset, mip_rel_gap=mip_rel_gap, threads=threads, mip_lp_solver=mip_lp_solver,
    )
    sol = _solve_once(**kw, time_limit_s=time_limit_s, start=start)
    if sol.x is not None and not _x_gives_objective(sol, cost, offset):
        left = time_limit_s - (time.perf_counter() - t0)
        again = _solve_once(**kw, time_limit_s=left, start=None) if left > 0.05 else None
        if again is not None and again.x is not None and _x_gives_objective(
            again, cost, offset
        ):
            bound = again.bound
            if np.isfinite(sol.bound):  # both runs prove their bounds on the same model
                bound = min(bound, sol.bound) if maximize else max(bound, sol.bound)
            sol = Solution(again.x, again.objective, bound, again.status, 0.0)
        else:
            status = sol.status if sol.status != "optimal" else "feasible"
            sol = Solution(None, float("nan"), sol.bound, status, 0.0)
    sol.seconds = time.perf_counter() - t0
    return sol


def _x_gives_objective(sol: Solution, cost: np.ndarray, offset: float) -> bool:
    """Whether the column values reproduce the objective HiGHS reports."""
    val = float(np.dot(np.asarray(cost, dtype=np.float64), sol.x)) + float(offset)
    return abs(val - sol.objective) <= 1e-7 * max(1.0, abs(val), abs(sol.objective))


def _solve_once(
    *,
    cost: np.ndarray,
    matrix: sp.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    integer: np.ndarray | None,
    maximize: bool,
    offset: float,
    time_limit_s: float,
    mip_rel_gap: float,
    start: np.ndarray | None,
    threads: int | None,
    mip_lp_solver: str | None,
) -> Solution:
    """One HiGHS run (see :func:`solve`)."""
    highspy, h = _highs()
    t0 = time.perf_counter()
    n_col = len(cost)
    a = sp.csc_matrix(matrix, dtype=np.float64)
    a.sort_indices()
    n_row = a.shape[0]
    is_mip = integer is not None and bool(np.any(integer))
    integrality = (
        np.asarray(integer, dtype=np.int32) if is_mip else np.zeros(n_col, dtype=np.int32)
    )
    inf = highspy.kHighsInf
    status = h.passModel(
        n_col,
        n_row,
        int(a.nnz),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize),
        float(offset),
        np.ascontiguousarray(cost, dtype=np.float64),
        np.ascontiguousarray(col_lower, dtype=np.float64),
        np.ascontiguousarray(np.minimum(col_upper, inf), dtype=np.float64),
        np.ascontiguousarray(np.maximum(row_lower, -inf), dtype=np.float64),
        np.ascontiguousarray(np.minimum(row_upper, inf), dtype=np.float64),
        a.indptr.astype(np.int32),
        a.indices.astype(np.int32),
        a.data.astype(np.float64),
        integrality,
    )
    if status == highspy.HighsStatus.kError:  # pragma: no cover - model built by us
        raise RuntimeError("HiGHS rejected the model")
    h.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    if is_mip:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        if mip_lp_solver is not None:
            h.setOptionValue("mip_lp_solver", mip_lp_solver)
        if start is not None:
            idx = np.arange(n_col, dtype=np.int32)
            h.setSolution(n_col, idx, np.ascontiguousarray(start, dtype=np.float64))
    h.run()
    ms = h.getModelStatus()
    info = h.getInfo()
    MS = highspy.HighsModelStatus
    text = {
        MS.kOptimal: "optimal",
        MS.kTimeLimit: "time_limit",
        MS.kInfeasible: "infeasible",
        MS.kUnboundedOrInfeasible: "infeasible",
    }.get(ms, h.modelStatusToString(ms))
    has_x = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_x else None
    objective = float(info.objective_function_value) if has_x else float("nan")
    if is_mip:
        bound = float(info.mip_dual_bound)
    elif text == "optimal":
        bound = objective
    else:
        bound = float("inf") if maximize else float("-inf")
    if not np.isfinite(bound) or abs(bound) >= inf:
        bound = float("inf") if maximize else float("-inf")
    return Solution(x, objective, bound, text, time.perf_counter() - t0)
