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
    if scenario.report.pdf:
        from facplan.outputs.report_html import require_pdf_browser

        try:
            require_pdf_browser()
        except InputError as exc:
            problems.append(str(exc))
    if not problems:
        from facplan.inputs import load_layers

        try:
            layers = load_layers(scenario, standards)
        except InputError as exc:
            problems.append(str(exc))
        else:
            problems += _check_together(scenario, standards, layers)
    return problems


def _check_together(scenario: Scenario, standards: dict, layers) -> list[str]:
    """What ``run`` checks once the layers are loaded, short of walking distances: the
    optimize entries against the candidates (force ids, eligibility, any usable
    candidate at all) and an origin–destination table's ids against the cells,
    facilities and candidates."""
    from facplan.siting import check_entries

    problems = []
    try:
        check_entries(scenario, standards, layers.candidates, layers.exclusions)
    except InputError as exc:
        problems.append(str(exc))
    if scenario.network.matrix is not None:
        try:
            _check_matrix_ids(scenario, layers)
        except InputError as exc:
            problems.append(str(exc))
    return problems


def _check_matrix_ids(scenario: Scenario, layers) -> None:
    """The origin–destination table must pair some cell with some facility or candidate
    (the error ``run`` gives when the ids match nothing)."""
    import numpy as np

    from facplan.io.matrix import read_od_matrix

    cand = layers.candidates
    dest_ids = np.concatenate([
        layers.facilities["facility_id"].to_numpy(dtype=object),
        np.zeros(0, dtype=object) if cand is None else cand["site_id"].to_numpy(dtype=object),
    ])
    table, _ = read_od_matrix(
        scenario.network, layers.cells["cell_id"].to_numpy(dtype=object), dest_ids
    )
    if table.nnz == 0 or (np.diff(table.tocsc().indptr) == 0).all():
        raise InputError(
            "no population cell appears in the origin-destination table with any "
            "facility or candidate; do the ids match?",
            file=str(scenario.network.matrix),
        )
