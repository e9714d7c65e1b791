"""Facility-location models on a sparse site × cell matrix.

Every model is a small class: ``Model.from_matrix(...)`` checks and stores the inputs,
``solve()`` returns the model with results in attributes ending in ``_`` (reading one
before ``solve()`` raises :class:`NotSolvedError`). Every model reports ``objective_``,
``bound_`` (on the same side as the objective), ``gap_`` and ``seconds_``.

- :class:`MCLP` — maximal coverage under a site count or a budget, with forced and
  forbidden sites, existing coverage, capacities and one centre per community.
"""

from facplan.optimize._base import NotSolvedError
from facplan.optimize.mclp import MCLP

__all__ = ["MCLP", "NotSolvedError"]
