"""Facility-location models on a sparse site × cell matrix.

Every model is a small class: ``Model.from_matrix(...)`` checks and stores the inputs,
``solve()`` returns the model with results in attributes ending in ``_`` (reading one
before ``solve()`` raises :class:`NotSolvedError`). Every model reports ``objective_``,
``bound_`` (on the same side as the objective: an upper bound when maximising, a lower
bound when minimising), ``gap_`` and ``seconds_``.

- :class:`MCLP` — maximal coverage under a site count or a budget, with forced and
  forbidden sites, existing coverage, capacities and one centre per community.
- :class:`LSCP` — fewest sites (or least cost) covering every coverable cell.
- :class:`PMedian` — least population-weighted walking distance.
- :class:`MultiTierMCLP` — several tiers sharing locations and one budget.
- :func:`phase` — stage-by-stage (yearly) building.
- :func:`coverage_curve` — covered weight against the number of sites (greedy).
"""

from facplan.optimize._base import NotSolvedError
from facplan.optimize.curve import coverage_curve
from facplan.optimize.lscp import LSCP
from facplan.optimize.mclp import MCLP
from facplan.optimize.multitier import MultiTierMCLP
from facplan.optimize.phasing import PhaseResult, phase
from facplan.optimize.pmedian import PMedian

__all__ = [
    "MCLP",
    "LSCP",
    "PMedian",
    "MultiTierMCLP",
    "PhaseResult",
    "phase",
    "coverage_curve",
    "NotSolvedError",
]
