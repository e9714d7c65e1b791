"""One point-in-community rule (facplan.cells.community_of) for every table and constraint.

The disagreement it fixes: a candidate on the border of two communities counted for one
of them in the one-centre-per-community constraint (the first in file order) and was
written into sites.geojson with the other's community_id (the lowest id).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import Point, Polygon, box

import facplan
from facplan.cells import community_of
from facplan.scenario import scenario_from_dict
from facplan.testing import GRID_CRS, grid_city, node_xy


def test_border_points_go_to_the_lowest_id() -> None:
    comm = gpd.GeoDataFrame(
        {"community_id": ["west", "east", "north"]},
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10), box(0, 10, 20, 20)],
    )
    pts = [Point(5, 5), Point(10, 5), Point(10, 10), Point(15, 15), Point(30, 30)]
    # a concave polygon whose centroid lies outside it, in "north": the representative
    # point (inside the polygon) decides
    u = Polygon([(1, 11), (19, 11), (19, 19), (17, 19), (17, 13), (3, 13), (3, 19), (1, 19)])
    assert not u.contains(u.centroid) and u.centroid.within(comm.geometry[2])
    got = community_of(gpd.GeoSeries([*pts, u]), comm)
    # by hand: west inside; the west/east border → "east" < "west"; the corner of all
    # three → "east"; north inside; outside → -1; the U → north
    assert got.tolist() == [0, 1, 1, 2, -1, 2]


def test_a_border_candidate_is_in_one_community_everywhere(tmp_path) -> None:
    data = grid_city(tmp_path)
    # the two communities meet at x = node(·, 3.5); "east" < "west" in id order. Both
    # layers are stored in lon/lat and the candidate sits on the corner both boundaries
    # share, so after projection it lies exactly on both (as a POI snapped to a fence
    # vertex does in real data).
    comm = gpd.read_file(tmp_path / "communities.gpkg").to_crs(4326)
    comm.to_file(tmp_path / "communities.gpkg")
    corner = sorted(set(comm.geometry[0].exterior.coords) & set(comm.geometry[1].exterior.coords))[0]
    border = Point(corner)
    west = gpd.GeoSeries([Point(*node_xy(3, 1))], crs=GRID_CRS).to_crs(4326)[0]
    gpd.GeoDataFrame(
        {"site_id": ["c_border", "c_west"], "kind": ["neighbourhood_centre"] * 2,
         "tier": ["all"] * 2, "cost": [1.0, 1.0], "area_m2": [5000.0, 5000.0]},
        geometry=[border, west], crs=4326,
    ).to_file(tmp_path / "candidates.gpkg")
    data["optimize"] = [{"kind": "neighbourhood_centre", "model": "mclp",
                         "one_per_community": True}]
    data["snap"] = "edge"
    result = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    sites = result.sites.set_index("site_id")
    # the border site is east's (the lowest id), so each community gets its own centre
    assert sorted(sites.index) == ["c_border", "c_west"]
    assert sites.loc["c_border", "community_id"] == "east"
    assert sites.loc["c_west", "community_id"] == "west"
    comm = result.communities.set_index("community_id")
    assert "no neighbourhood centre" not in comm.loc["east", "gaps"]
    assert "no eligible candidate" not in comm.loc["east", "gaps"]
    assert (result.summary["optimize"][0].get("gaps") or []) == []
    assert np.all(comm["population"] > 0)
