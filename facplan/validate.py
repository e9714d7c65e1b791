"""``facplan validate``: read every input layer and collect every problem."""

from __future__ import annotations

from facplan._errors import InputError
from facplan.io import read_candidates, read_communities, read_facilities, read_population
from facplan.scenario import Scenario

__all__ = ["validate_inputs"]


def validate_inputs(scenario: Scenario) -> list[str]:
    """Read each input layer (not the network) and return every problem as a message.

    Each reader stops at its layer's first problem; problems of different layers are
    all reported.
    """
    standards = scenario.resolved_standards()
    checks = [("population", lambda: read_population(scenario.population))]
    if scenario.communities is not None:
        checks.append(("communities", lambda: read_communities(scenario.communities)))
    for i, f in enumerate(scenario.facilities):
        checks.append((f"facilities.{i}", lambda f=f: read_facilities([f], standards)))
    if scenario.candidates is not None:
        checks.append(("candidates", lambda: read_candidates(scenario.candidates, standards)))
    problems = []
    for _, check in checks:
        try:
            check()
        except InputError as exc:
            problems.append(str(exc))
    return problems
