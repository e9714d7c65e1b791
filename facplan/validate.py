"""``facplan validate``: read every input layer and collect every problem."""

from __future__ import annotations

from collections.abc import Callable

from facplan._errors import InputError
from facplan.io import read_candidates, read_communities, read_facilities, read_population
from facplan.io.network import check_network
from facplan.io.postgis import read_source
from facplan.scenario import Scenario

__all__ = ["validate_inputs"]


def validate_inputs(scenario: Scenario) -> list[str]:
    """Read each input layer (not the network) and return every problem as a message.

    Each file is checked on its own, so the problems of different files are all
    reported; when every file passes, the layers are loaded together (OSM sources,
    dasymetric population, clipping to communities, CRS) to catch what only shows then.
    """
    standards = scenario.resolved_standards()
    checks: list[Callable[[], object]] = []
    pop = scenario.population
    if pop.path is not None or pop.postgis is not None:
        if pop.is_raster:
            from facplan.io.raster import read_population_raster

            checks.append(lambda: read_population_raster(pop.path, band=pop.band))
        else:
            checks.append(lambda: read_population(pop))
    c = scenario.communities
    if c is not None and (c.path is not None or c.postgis is not None):
        checks.append(lambda: read_communities(c))
    for i, f in enumerate(scenario.facilities):
        if f.path is not None or f.postgis is not None:
            checks.append(lambda f=f, i=i: read_facilities([f], standards, first_index=i))
    for cand in scenario.candidates:
        if cand.path is not None or cand.postgis is not None:
            checks.append(lambda cand=cand: read_candidates(cand, standards))
    for i, e in enumerate(scenario.exclusions):
        checks.append(lambda e=e, i=i: read_source(e, key=f"exclusions.{i}"))
    problems = []
    for check in checks:
        try:
            check()
        except InputError as exc:
            problems.append(str(exc))
    try:
        check_network(scenario.network, scenario.online)
    except InputError as exc:
        problems.append(str(exc))
    if not problems:
        from facplan.inputs import load_layers

        try:
            load_layers(scenario, standards)
        except InputError as exc:
            problems.append(str(exc))
    return problems
