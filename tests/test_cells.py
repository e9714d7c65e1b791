import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from facplan.cells import cell_points, clip_to_communities
from facplan.testing import GRID_CRS


def _communities():
    return gpd.GeoDataFrame(
        {"community_id": ["a", "b"], "name": ["A", "B"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=GRID_CRS,
    )


def test_polygon_split_by_area():
    cells = gpd.GeoDataFrame(
        {"cell_id": ["x", "y"], "population": [100.0, 40.0]},
        # x straddles the border 75/25; y lies half outside the study area
        geometry=[box(25, 0, 125, 10), box(150, 50, 250, 60)], crs=GRID_CRS,
    )
    out, dropped = clip_to_communities(cells, _communities())
    got = dict(zip(zip(out["cell_id"], out["community_id"], strict=True), out["population"],
                   strict=True))
    # split pieces keep the cell's id and differ by community (DESIGN, 2026-12-03)
    assert got[("x", "a")] == pytest.approx(75.0)
    assert got[("x", "b")] == pytest.approx(25.0)
    assert got[("y", "b")] == pytest.approx(20.0)
    assert dropped == {"cells": 0, "population": pytest.approx(20.0)}


def test_points_assigned_and_outside_dropped():
    cells = gpd.GeoDataFrame(
        {"cell_id": ["p", "q", "r"], "population": [1.0, 2.0, 5.0]},
        geometry=[Point(50, 50), Point(150, 50), Point(500, 500)], crs=GRID_CRS,
    )
    out, dropped = clip_to_communities(cells, _communities())
    assert out["cell_id"].tolist() == ["p", "q"]
    assert out["community_id"].tolist() == ["a", "b"]
    assert dropped == {"cells": 1, "population": 5.0}


def test_no_communities_keeps_everything():
    cells = gpd.GeoDataFrame({"cell_id": ["p"], "population": [1.0]}, geometry=[Point(5, 5)], crs=GRID_CRS)
    out, dropped = clip_to_communities(cells, None)
    assert len(out) == 1 and out["community_id"].isna().all() and dropped["cells"] == 0


def test_representative_point_inside_concave_polygon():
    from shapely.geometry import Polygon

    u = Polygon([(0, 0), (30, 0), (30, 30), (20, 30), (20, 10), (10, 10), (10, 30), (0, 30)])
    x, y = cell_points(gpd.GeoSeries([u]))
    assert u.contains(Point(x[0], y[0]))
    assert not u.contains(u.centroid)
