"""A dasymetric estimate says what it assumed: the rule and the persons per km² in
summary.json and report.md (Liechtenstein, no total given)."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import pytest

import facplan
from facplan.scenario import scenario_from_dict

from .conftest import shared_file


def test_estimate_states_rule_and_density(tmp_path):
    data = {
        "name": "li-estimate",
        "communities": {"osm_admin_level": 8},
        "population": {"dasymetric": {"buildings": "osm"}},
        "network": {"pbf": str(shared_file("liechtenstein", "liechtenstein.osm.pbf"))},
        "facilities": [{"osm": {"leisure": ["pitch"]}, "kind": "sports_park"}],
        "map": {"tiles": "none"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    out = res.write(tmp_path / "out")
    est = json.loads((out / "summary.json").read_text())["population_estimate"]
    assert "building=yes inside landuse=residential" in est["rule"]
    comm = gpd.read_file(out / "communities.geojson").to_crs(res.summary["crs"])
    area_km2 = comm.geometry.union_all().area / 1e6
    assert est["area_km2"] == pytest.approx(area_km2, rel=1e-6)
    assert est["population"] == pytest.approx(res.summary["population_total"], rel=1e-6)
    assert est["persons_per_km2"] == pytest.approx(est["population"] / area_km2, rel=1e-6)
    report = (out / "report.md").read_text()
    assert f"{est['persons_per_km2']:,.0f} persons per km²" in report
    assert "building=yes inside landuse=residential" in report
