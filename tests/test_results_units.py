"""Every optimize entry says what its objective counts, and entries run in sequence see
the sites opened before them (grid city: points on grid nodes, so walking distance is
the Manhattan distance; references by brute force over the candidates)."""

from __future__ import annotations

import itertools
import json

import geopandas as gpd
import numpy as np
import pytest

import facplan
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city

N = 5
EXISTING = [(0, 0)]


@pytest.fixture
def small(tmp_path):
    data = grid_city(tmp_path, n=N)
    pop = gpd.read_file(tmp_path / "population.gpkg")
    w = {tuple(int(v) for v in cid[1:].split("_")): p
         for cid, p in zip(pop["cell_id"], pop["population"], strict=True)}
    cands = [(i, j) for i in range(N) for j in range(N) if (i + j) % 2 == 1]
    return tmp_path, data, w, cands


def _m(a, b):
    return 100.0 * (abs(a[0] - b[0]) + abs(a[1] - b[1]))


def _covered(w, sites, r=300.0):
    return sum(p for c, p in w.items() if any(_m(c, s) <= r + 1e-9 for s in sites))


def _walked(w, sites):
    return sum(p * min(_m(c, s) for s in sites) for c, p in w.items())


def _sid(s):
    return tuple(int(v) for v in s[1:].split("_"))


def _run(folder, data):
    return facplan.run(scenario_from_dict(data, base_dir=folder))


PARK = {"kind": "sports_park", "tier": "compound"}


def test_each_model_names_its_unit(small):
    folder, data, w, cands = small
    data["optimize"] = [
        {**PARK, "model": "mclp", "sites": 1},
        {**PARK, "model": "pmedian", "sites": 1},
        {**PARK, "model": "lscp"},
        {"kind": "sports_park", "tier": "community", "model": "lscp", "minimize": "cost"},
    ]
    res = _run(folder, data)
    units = [o["objective_unit"] for o in res.summary["optimize"]]
    assert units == ["people", "person-metres", "sites", "cost"]
    for o in res.summary["optimize"]:
        if o["status"] == "optimal":
            assert o["objective"] == pytest.approx(o["bound"], rel=1e-6)


def test_weighted_demand_is_weighted_people(tmp_path):
    data = grid_city(tmp_path, n=N)
    pop = gpd.read_file(tmp_path / "population.gpkg")
    pop["age_65_plus"] = np.floor(pop["population"] / 3)
    pop.to_file(tmp_path / "population.gpkg")
    data["population"]["groups"] = ["age_65_plus"]
    data["weights"] = {"age_65_plus": 2.0}
    res = _run(tmp_path, data)
    assert res.summary["optimize"][0]["objective_unit"] == "weighted people"


def test_pmedian_after_mclp_sees_the_mclp_sites(small):
    """The defect: covered_before 20 → covered_after 2 for a p-median entry after an
    MCLP entry on the same kind/tier (its 'after' ignored the MCLP's sites)."""
    folder, data, w, cands = small
    data["optimize"] = [{**PARK, "model": "mclp", "sites": 2},
                        {**PARK, "model": "pmedian", "sites": 1}]
    res = _run(folder, data)
    first, second = res.summary["optimize"]
    open_after_mclp = EXISTING + [_sid(s) for s in first["selected"]]
    assert first["covered_after"] == pytest.approx(_covered(w, open_after_mclp))
    assert second["covered_before"] == pytest.approx(first["covered_after"])
    chosen = [_sid(s) for s in second["selected"]]
    assert second["covered_after"] == pytest.approx(_covered(w, open_after_mclp + chosen))
    assert second["covered_after"] >= second["covered_before"]
    # the p-median itself counted the MCLP's sites as open
    rest = [c for c in cands if c not in open_after_mclp]
    best = min(_walked(w, open_after_mclp + [c]) for c in rest)
    assert second["objective"] == pytest.approx(best)
    assert second["objective_before"] == pytest.approx(_walked(w, open_after_mclp))


@pytest.mark.parametrize("later", [
    {"model": "lscp"},
    {"model": "mclp", "sites": 1},
    {"model": "mclp", "sites": 2, "phases": [{"year": 2030, "sites": 1}]},
])
def test_later_entries_see_earlier_sites(small, later):
    folder, data, w, cands = small
    later = {k: v for k, v in later.items() if not (k == "sites" and "phases" in later)}
    data["optimize"] = [{**PARK, "model": "mclp", "sites": 2}, {**PARK, **later}]
    res = _run(folder, data)
    first, second = res.summary["optimize"]
    open_before = EXISTING + [_sid(s) for s in first["selected"]]
    assert second["covered_before"] == pytest.approx(_covered(w, open_before))
    chosen = [_sid(s) for s in second["selected"]]
    assert not set(chosen) & set(open_before)
    assert second["covered_after"] == pytest.approx(_covered(w, open_before + chosen))
    if later["model"] == "mclp":
        k = 1
        best = max(_covered(w, open_before + list(c)) for c in itertools.combinations(
            [c for c in cands if c not in open_before], k))
        assert second["covered_after"] == pytest.approx(best)


def test_cli_report_and_curve_print_the_unit(small, tmp_path):
    folder, data, w, cands = small
    data["optimize"] = [{**PARK, "model": "pmedian", "sites": 1},
                        {**PARK, "model": "lscp"}]
    res = _run(folder, data)
    out = res.write(tmp_path / "out")
    summary = json.loads((out / "summary.json").read_text())
    assert [o["objective_unit"] for o in summary["optimize"]] == ["person-metres", "sites"]
    report = (out / "report.md").read_text()
    lines = [ln for ln in report.splitlines() if ln.startswith("- **sports_park/compound**")]
    assert len(lines) == 2
    p, lscp = summary["optimize"]
    assert f"{p['objective']:,.0f} person-metres" in lines[0] and "people" not in lines[0]
    assert f"{lscp['objective']:,.0f} sites" in lines[1] and "people" not in lines[1]

    from facplan.cli import _print_summary
    from facplan.cli import out as console

    with console.capture() as cap:
        _print_summary(summary, out)
    text = cap.get()
    assert "person-metres" in text and f"{lscp['objective']:,.0f} sites" in text
    assert "+" + f"{p['objective']:,.0f}" + " people" not in text


def test_coverage_curve_keeps_units_apart():
    import types

    import pandas as pd

    from facplan.outputs.report import coverage_curves

    entries = [
        {"kind": "k", "tier": "all", "model": "mclp", "objective_unit": "people",
         "covered_before": 100.0, "objective": 50.0, "selected": ["a", "b"]},
        {"kind": "k", "tier": "all", "model": "pmedian", "objective_unit": "person-metres",
         "covered_before": 100.0, "objective": 7000.0, "objective_before": 9000.0,
         "selected": ["c"]},
    ]
    sites = pd.DataFrame({"site_id": ["a", "b", "c"], "rank": [1, 2, 1],
                          "marginal_population": [30.0, 20.0, 2000.0], "cost": 1.0})
    curves = coverage_curves(types.SimpleNamespace(summary={"optimize": entries}, sites=sites))
    assert curves[0]["unit"] == "people" and curves[0]["covered"] == [100.0, 130.0, 150.0]
    assert curves[1]["unit"] == "person-metres" and curves[1]["covered"] == [9000.0, 7000.0]
