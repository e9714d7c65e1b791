"""Overlapping community polygons never create people; split cells keep their id
(DESIGN, *Overlapping polygons*)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

import facplan
from facplan.cells import clip_to_communities
from facplan.scenario import scenario_from_dict
from facplan.testing import GRID_CRS


def _overlapping():
    # b overlaps a on x 80..100 (20 × 100 = 2,000 m²); c overlaps b on x 180..200 (2,000 m²)
    return gpd.GeoDataFrame(
        {"community_id": ["b", "a", "c"], "name": ["B", "A", "C"]},
        geometry=[box(80, 0, 200, 100), box(0, 0, 100, 100), box(180, 0, 300, 100)],
        crs=GRID_CRS,
    )


def test_overlap_goes_to_lowest_id_and_totals_are_kept():
    cells = gpd.GeoDataFrame(
        {"cell_id": ["x", "y", "z", "tiny"], "population": [100.0, 60.0, 7.0, 3.0],
         "age_65_plus": [10.0, 6.0, 0.0, 1.0]},
        geometry=[box(50, 10, 150, 20),       # 30 m in a (x 50..80 … 100 goes to a) …
                  box(170, 50, 230, 60),      # across the b/c overlap
                  box(85, 85, 95, 95),        # wholly inside the a/b overlap
                  box(99.5, 0, 100.5, 1)],    # 1 m² straddling a|b at x = 100
        crs=GRID_CRS,
    )
    out, dropped = clip_to_communities(cells, _overlapping())
    assert dropped == {"cells": 0, "population": 0.0}
    assert out["population"].sum() == pytest.approx(170.0, abs=1e-9)
    assert out["age_65_plus"].sum() == pytest.approx(17.0, abs=1e-9)
    got = {(c, k): p for c, k, p in zip(out["cell_id"], out["community_id"],
                                         out["population"], strict=True)}
    # x: x 50..100 is a's (the overlap 80..100 goes to a, the lowest id), 100..150 b's
    assert got[("x", "a")] == pytest.approx(50.0)
    assert got[("x", "b")] == pytest.approx(50.0)
    # y: 170..200 is b's (b < c), 200..230 c's
    assert got[("y", "b")] == pytest.approx(30.0)
    assert got[("y", "c")] == pytest.approx(30.0)
    assert got[("z", "a")] == pytest.approx(7.0) and ("z", "b") not in got
    # tiny: two 0.5 m² pieces; one joins the other, whole population kept under its id
    tiny = out[out["cell_id"] == "tiny"]
    assert len(tiny) == 1 and tiny["population"].iloc[0] == pytest.approx(3.0)
    assert out.attrs["overlap"] == {"pairs": 2, "area_m2": pytest.approx(4000.0)}


def test_points_in_overlap_counted_once():
    cells = gpd.GeoDataFrame({"cell_id": ["p"], "population": [5.0]},
                             geometry=[Point(90, 50)], crs=GRID_CRS)
    out, _ = clip_to_communities(cells, _overlapping())
    assert out["community_id"].tolist() == ["a"] and out["population"].sum() == 5.0


def test_run_warns_and_keeps_total(tmp_path):
    from facplan.testing import grid_city

    data = grid_city(tmp_path)
    comm = gpd.read_file(tmp_path / data["communities"]["path"])
    west = comm.geometry[comm[data["communities"]["id_field"]] == "west"].iloc[0]
    grown = comm.copy()
    grown.loc[grown[data["communities"]["id_field"]] == "west", "geometry"] = west.buffer(120)
    grown.to_file(tmp_path / "overlap.gpkg")
    data["communities"]["path"] = "overlap.gpkg"
    base = facplan.run(scenario_from_dict(grid_city(tmp_path / "b"), base_dir=tmp_path / "b"))
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    assert res.summary["population_total"] == pytest.approx(base.summary["population_total"])
    w = [x for x in res.summary["warnings"] if "communities overlap" in x]
    assert len(w) == 1 and w[0].startswith("1 pairs of communities overlap (")


def test_matrix_run_with_split_cells_equals_hand_computation(tmp_path):
    """Two polygon cells split by two communities; the OD table is keyed by the cells'
    original ids. Coverage by hand from the table: cell X (100 people, 70/30 split) is
    420 m from the facility, Y (50 people, all in b) 900 m; threshold 500 m."""
    comm = gpd.GeoDataFrame({"cid": ["a", "b"], "name": ["A", "B"]},
                            geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
                            crs=GRID_CRS).to_crs(4326)
    comm.to_file(tmp_path / "comm.geojson", driver="GeoJSON")
    cells = gpd.GeoDataFrame({"cid": ["X", "Y"], "population": [100.0, 50.0]},
                             geometry=[box(30, 10, 130, 20), box(120, 50, 180, 60)],
                             crs=GRID_CRS).to_crs(4326)
    cells.to_file(tmp_path / "cells.geojson", driver="GeoJSON")
    fac = gpd.GeoDataFrame({"fid": ["F"]}, geometry=[Point(10, 10)], crs=GRID_CRS).to_crs(4326)
    fac.to_file(tmp_path / "fac.geojson", driver="GeoJSON")
    pd.DataFrame({"o": ["X", "Y"], "d": ["F", "F"], "m": [420.0, 900.0]}).to_csv(
        tmp_path / "od.csv", index=False)
    data = {
        "name": "od", "crs": 32635,
        "communities": {"path": "comm.geojson", "id_field": "cid", "name_field": "name"},
        "population": {"path": "cells.geojson", "id_field": "cid"},
        "network": {"matrix": "od.csv", "origin_field": "o", "destination_field": "d",
                    "cost_field": "m"},
        "facilities": [{"path": "fac.geojson", "id_field": "fid", "kind": "clinic",
                        "tier": "all"}],
        "standards": {"clinic": {"all": {"walk_m": 500}}},
        "map": {"tiles": "none"},
    }
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    d = res.demand
    assert sorted(zip(d["cell_id"], d["community_id"], strict=True)) == [
        ("X", "a"), ("X", "b"), ("Y", "b")]
    by = {(c, k): (p, m) for c, k, p, m in zip(d["cell_id"], d["community_id"],
                                                d["population"], d["dist_clinic_all"],
                                                strict=True)}
    assert by[("X", "a")] == (pytest.approx(70.0), 420.0)
    assert by[("X", "b")] == (pytest.approx(30.0), 420.0)
    assert by[("Y", "b")] == (pytest.approx(50.0), 900.0)
    acc = res.summary["access"]["clinic/all"]
    assert res.summary["population_total"] == pytest.approx(150.0)
    assert acc["covered_population"] == pytest.approx(100.0)
    assert acc["coverage"] == pytest.approx(100.0 / 150.0)
    assert acc["unreachable_population"] == pytest.approx(0.0)
    comm_out = res.communities.set_index("community_id")
    assert comm_out.loc["a", "coverage_clinic_all"] == pytest.approx(1.0)
    assert comm_out.loc["b", "coverage_clinic_all"] == pytest.approx(30.0 / 80.0)
    assert not any("no row in the origin-destination table" in w
                   for w in res.summary["warnings"])
    assert np.isfinite(d["dist_clinic_all"]).all()
