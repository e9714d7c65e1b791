"""Phasing: build in stages, each stage optimal given the sites opened before it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facplan._errors import InputError
from facplan.optimize._base import as_pattern, check_mask
from facplan.optimize.mclp import MCLP

__all__ = ["PhaseResult", "phase"]

_NAME = "phase"


@dataclass(frozen=True)
class PhaseResult:
    """One stage of :func:`phase`.

    Attributes
    ----------
    year
        The stage's label (as given).
    selected, marginal
        Site positions opened in this stage (rank order) and their gains.
    objective
        Weight newly covered in this stage.
    covered_before, covered_after
        Weight covered before and after the stage (after = before of the next stage).
    cost
        Cost of this stage's sites.
    bound, gap
        Upper bound on this stage's objective (given the earlier stages) and the gap.
    open_sites
        All sites open after the stage (earlier stages first).
    seconds
        Solve time of the stage.
    method, status
        As in :class:`MCLP`.
    """

    year: Any
    selected: np.ndarray
    marginal: np.ndarray
    objective: float
    covered_before: float
    covered_after: float
    cost: float
    bound: float
    gap: float
    open_sites: np.ndarray
    seconds: float
    method: str
    status: str


def phase(model_kwargs: Mapping[str, Any], phases: Sequence[Mapping[str, Any]]) -> list[
    PhaseResult
]:
    """Solve an MCLP stage by stage (e.g. one stage per year).

    Each stage opens the best additional set for its own ``sites`` or ``budget``, with
    the sites of all earlier stages fixed open (their coverage counts as already
    covered and they are not chosen again). This is the planner's "what do we build
    first" sequence: stage-wise optimal, which need not equal the best set for the
    total budget. Unspent budget does not carry over.

    Parameters
    ----------
    model_kwargs
        Keyword arguments of :meth:`MCLP.from_matrix` shared by every stage
        (``coverage``, ``weights``, ``site_ids``, ``cost``, ``covered_before``,
        ``forbid``, ``method``, ``time_limit_s`` …), without ``sites``/``budget``.
        ``capacity`` and ``require_one_in`` are not supported here.
    phases
        One mapping per stage, in order: ``{"year": 2026, "budget": 1e6}`` or
        ``{"year": 2026, "sites": 3}``, optionally ``"force"`` (positions to open in that
        stage).

    Returns
    -------
    list of PhaseResult
        One per stage, in order.
    """
    kw = dict(model_kwargs)
    for key in ("sites", "budget"):
        if kw.get(key) is not None:
            raise InputError(
                f"{_NAME}: give '{key}' per phase, not in model_kwargs", field=key
            )
        kw.pop(key, None)
    for key in ("capacity", "require_one_in", "community_of_site"):
        if kw.get(key) is not None and not (key == "require_one_in" and len(kw[key]) == 0):
            raise InputError(f"{_NAME}: '{key}' is not supported with phasing", field=key)
        kw.pop(key, None)
    if "coverage" not in kw or "weights" not in kw:
        raise InputError(f"{_NAME}: model_kwargs needs 'coverage' and 'weights'",
                         field="model_kwargs")
    pat = as_pattern(kw["coverage"], _NAME)
    n_cells = pat.shape[1]
    covered = check_mask(kw.pop("covered_before", None), n_cells, _NAME, "covered_before")
    base_forbid = list(kw.pop("forbid", ()))
    base_force = list(kw.pop("force", ()))
    w = np.asarray(kw["weights"], dtype=np.float64)
    cost = kw.get("cost")
    opened: list[int] = []
    out: list[PhaseResult] = []
    for i, ph in enumerate(phases):
        unknown = set(ph) - {"year", "sites", "budget", "force"}
        if unknown:
            raise InputError(f"{_NAME}: phase {i} has unknown keys {sorted(unknown)}",
                             field=f"phases.{i}")
        force = list(ph.get("force", ()))
        if i == 0:
            force = base_force + force
        force = [f for f in dict.fromkeys(int(x) for x in force) if f not in opened]
        m = MCLP.from_matrix(
            **kw, sites=ph.get("sites"), budget=ph.get("budget"), covered_before=covered,
            force=force, forbid=sorted(set(base_forbid) | set(opened)),
        ).solve()
        sel = np.asarray(m.selected_, dtype=np.int64)
        before_w = float(w[covered].sum())
        covered = m.covered_.copy()
        opened.extend(int(j) for j in sel)
        out.append(
            PhaseResult(
                year=ph.get("year", i), selected=sel, marginal=np.asarray(m.marginal_),
                objective=float(m.objective_), covered_before=before_w,
                covered_after=float(w[covered].sum()),
                cost=0.0 if cost is None else float(np.asarray(cost)[sel].sum()),
                bound=float(m.bound_), gap=float(m.gap_),
                open_sites=np.asarray(opened, dtype=np.int64), seconds=float(m.seconds_),
                method=str(m.method_), status=str(m.status_),
            )
        )
    return out
