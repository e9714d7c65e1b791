"""``facplan validate`` fails exactly where ``facplan run`` fails (DESIGN, *Users and
their day*: every problem in the inputs before any heavy work).

Over the whole bad-input corpus (:mod:`tests.test_bad_inputs`) and the cases below:
validate (``load_scenario`` + :func:`facplan.validate.validate_inputs`) reports a problem
for every case that ``run`` rejects, and none for the good scenario; the problem names
the same key. The only cases validate cannot see are those that need walking distances
(:data:`NEEDS_DISTANCES`: snapping to the network), which validate never does.
"""

from __future__ import annotations

import json
import shutil
import warnings

import geopandas as gpd
import pandas as pd
import pytest

import facplan
from facplan import FacplanWarning, InputError
from facplan.testing import grid_city, write_scenario
from facplan.validate import validate_inputs

from .test_bad_inputs import CASES, Case, _break, _layer, _set

#: corpus cases whose error only shows once the points are attached to the walking
#: network (snapping and distances: the heavy work validate leaves to run)
NEEDS_DISTANCES = {
    "network-only-small-pieces",
    "network-no-cell-reaches-a-facility",
    "network-mismatched-crs",
    "population-csv-lonlat-swapped-no-communities",
    "candidates-none-usable-too-far",
}


def _od_matching_nothing(folder, data):
    pd.DataFrame({"from": ["x1", "x2"], "to": ["s0_1", "f1"], "m": [10.0, 20.0]}).to_csv(
        folder / "od.csv", index=False)
    data["network"] = {"matrix": "od.csv", "origin_field": "from",
                       "destination_field": "to", "cost_field": "m"}


def _generated_too_small(folder, data):
    data["candidates"] = {"generate": {"n": 3, "kind": "sports_park", "area_m2": 10}}


def _facility_kind_without_standard(folder, data):
    _layer("facilities.gpkg", lambda g: g.assign(kind="ice_rink", tier="all"))(folder, data)


NEW = [
    Case("optimize-force-ineligible", _set("optimize.0.force", ["s0_1"]), ("optimize.0.force",)),
    Case("optimize-forbid-and-force", _set("optimize.0.forbid", ["s0_1"]), ("optimize.0",)),
    Case("network-matrix-ids-match-nothing", _od_matching_nothing, ("od.csv",)),
    Case("candidates-generated-too-small", _generated_too_small, ("candidates",)),
    Case("facilities-kind-without-standard", _facility_kind_without_standard, ("ice_rink",)),
]


def _prepare_new(case: Case):
    if case.id == "optimize-force-ineligible":
        # s0_1 is in an exclusion zone: run refuses to force it
        def mutate(folder, data):
            from shapely.geometry import box

            from facplan.testing import GRID_CRS, node_xy

            x, y = node_xy(0, 1)
            gpd.GeoDataFrame({"name": ["heritage"]}, geometry=[box(x - 10, y - 10, x + 10, y + 10)],
                             crs=GRID_CRS).to_file(folder / "zone.gpkg")
            data["exclusions"] = [{"path": "zone.gpkg", "name_field": "name"}]
            data["optimize"][0]["force"] = ["s0_1"]
        return Case(case.id, mutate, case.words)
    if case.id == "optimize-forbid-and-force":
        def mutate(folder, data):
            data["optimize"][0]["force"] = ["s0_1"]
            data["optimize"][0]["forbid"] = ["s0_1"]
        return Case(case.id, mutate, case.words)
    return case


ALL = [c for c in CASES] + [_prepare_new(c) for c in NEW]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template")
    return folder, grid_city(folder)


@pytest.fixture
def town(template, tmp_path):
    src, data = template
    folder = tmp_path / "city"
    shutil.copytree(src, folder)
    return folder, json.loads(json.dumps(data))


def _validate(path) -> list[str]:
    try:
        sc = facplan.load_scenario(path)
    except InputError as exc:
        return [str(exc)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        return validate_inputs(sc)


def _run(path) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacplanWarning)
            facplan.run(facplan.load_scenario(path), cache=False)
    except InputError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in ALL])
def test_validate_fails_where_run_fails(town, case):
    folder, data = town
    path = _break(folder, data, case)
    run_error = _run(path)
    problems = _validate(path)
    if case.id in NEEDS_DISTANCES:
        assert run_error is not None
        return
    assert (run_error is None) == (problems == []), (run_error, problems)
    if run_error is not None:
        assert any(all(w in p for w in case.words) for p in problems) or any(
            w in " ".join(problems) for w in case.words), (case.words, problems)


def test_validate_passes_the_good_scenario(town):
    folder, data = town
    path = write_scenario(folder, data)
    assert _run(path) is None
    assert _validate(path) == []
