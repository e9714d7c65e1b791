"""The minimum site area holds for every candidate whose tier is given, and generated
candidates carry an assumed area that the default standards accept."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

import facplan
from facplan.scenario import scenario_from_dict
from facplan.standards import DEFAULT_STANDARDS
from facplan.testing import grid_city

N = 5


def _run(folder, data):
    return facplan.run(scenario_from_dict(data, base_dir=folder))


def test_explicit_tier_below_its_minimum_area_is_excluded(tmp_path):
    """213 m² 'community sports parks' against the 1,310 m² minimum: excluded, with the
    reason in candidates.geojson; a blank tier and a large enough site stay eligible."""
    data = grid_city(tmp_path, n=N)
    c = gpd.read_file(tmp_path / "candidates.gpkg")
    k = len(c)
    c["tier"] = ["community"] * k
    c["area_m2"] = np.where(np.arange(k) % 2 == 0, 213.0, 2000.0)
    c.loc[c.index[-1], "tier"] = ""  # blank tier, large: eligible as before
    c.to_file(tmp_path / "candidates.gpkg")
    data["optimize"] = [{"kind": "sports_park", "tier": "community", "model": "mclp",
                         "sites": k}]
    res = _run(tmp_path, data)
    cand = res.candidates.set_index("site_id")
    small = c.loc[c["area_m2"] < 1310, "site_id"]
    assert (cand.loc[small, "excluded"] == "too small for community (< 1310 m²)").all()
    assert not cand.loc[small, "chosen"].any()
    assert not set(small) & set(res.summary["optimize"][0]["selected"])
    big = c.loc[c["area_m2"] >= 1310, "site_id"]
    assert (cand.loc[big, "excluded"] == "").all()
    out = res.write(tmp_path / "out")
    geo = gpd.read_file(out / "candidates.geojson").set_index("site_id")
    assert (geo.loc[small, "excluded"] == "too small for community (< 1310 m²)").all()


def test_explicit_tier_without_an_area_is_not_judged(tmp_path):
    data = grid_city(tmp_path, n=N)
    c = gpd.read_file(tmp_path / "candidates.gpkg")
    c["tier"] = "compound"
    c = c.drop(columns=["area_m2"])
    c.to_file(tmp_path / "candidates.gpkg")
    data["candidates"].pop("area_field")
    res = _run(tmp_path, data)
    assert (res.candidates["excluded"] == "").all()


def test_generated_candidates_are_usable_under_default_standards(tmp_path):
    data = grid_city(tmp_path, n=N)
    data["candidates"] = {"generate": {"n": 4, "kind": "sports_park", "seed": 0}}
    data["optimize"] = [
        {"kind": "sports_park", "tier": "district", "model": "mclp", "sites": 1},
        {"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 2},
    ]
    res = _run(tmp_path, data)
    biggest = max(s.min_area_m2 for s in DEFAULT_STANDARDS["sports_park"].values())
    assert biggest == 3150.0
    assert (res.candidates["area_m2"] == biggest).all()
    assert all(len(o["selected"]) > 0 for o in res.summary["optimize"])


def test_generated_area_can_be_set(tmp_path):
    data = grid_city(tmp_path, n=N)
    data["candidates"] = {"generate": {"n": 4, "kind": "sports_park", "area_m2": 800}}
    data["optimize"] = [
        {"kind": "sports_park", "tier": "community", "model": "mclp", "sites": 1},
        {"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 1},
    ]
    res = _run(tmp_path, data)
    assert (res.candidates["area_m2"] == 800).all()
    by = {o["tier"]: o for o in res.summary["optimize"]}
    assert by["community"]["selected"] == [] and len(by["compound"]["selected"]) == 1


@pytest.mark.parametrize("area", [-1, "big"])
def test_generated_area_must_be_a_non_negative_number(tmp_path, area):
    data = grid_city(tmp_path, n=N)
    data["candidates"] = {"generate": {"n": 4, "area_m2": area}}
    with pytest.raises(facplan.InputError, match="area_m2"):
        scenario_from_dict(data, base_dir=tmp_path)
