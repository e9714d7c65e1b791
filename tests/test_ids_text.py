"""Ids are text exactly as given, in every reader and every output: ``0001`` stays
``0001`` and ``060750479.01`` stays ``060750479.01`` (census codes, zero-padded keys),
so an origin–destination table keyed by them still matches."""

from __future__ import annotations

import itertools
import json

import geopandas as gpd
import pandas as pd
import pytest

import facplan
from facplan.scenario import scenario_from_dict
from facplan.testing import GRID_CRS, grid_city

N = 4


def _code(i: int) -> str:
    """Ids that a number would lose: leading zeros, a decimal point with trailing zero."""
    return f"{i:04d}" if i % 2 else f"0607504{i:02d}.10"


@pytest.fixture
def textual(tmp_path):
    data = grid_city(tmp_path, n=N)
    pop = gpd.read_file(tmp_path / "population.gpkg")
    cell_ids = [_code(i) for i in range(len(pop))]
    ll = pop.to_crs(4326)
    pd.DataFrame({"code": cell_ids, "lon": ll.geometry.x, "lat": ll.geometry.y,
                  "people": pop["population"]}).to_csv(tmp_path / "cells.csv", index=False)
    data["population"] = {"path": "cells.csv", "lon": "lon", "lat": "lat", "field": "people",
                          "id_field": "code"}
    cands = gpd.read_file(tmp_path / "candidates.gpkg")
    cand_ids = [f"00{i}" for i in range(len(cands))]
    cands.assign(site_id=cand_ids).to_file(tmp_path / "candidates.geojson", driver="GeoJSON")
    data["candidates"] = dict(data["candidates"], path="candidates.geojson")
    fac = gpd.read_file(tmp_path / "facilities.gpkg")
    fac.assign(fid_=["000120"]).to_file(tmp_path / "facilities.shp")
    data["facilities"] = [dict(data["facilities"][0], path="facilities.shp")]
    comm = gpd.read_file(tmp_path / "communities.gpkg")
    comm.assign(cid=["010", "1.0"]).to_file(tmp_path / "communities.gpkg")
    return tmp_path, data, cell_ids, cand_ids


def _od(folder, cell_ids):
    cells = pd.read_csv(folder / "cells.csv", dtype={"code": str})
    pts = gpd.GeoDataFrame(cells, geometry=gpd.points_from_xy(cells.lon, cells.lat),
                           crs=4326).to_crs(GRID_CRS)
    dests = pd.concat([
        gpd.read_file(folder / "facilities.shp").rename(columns={"fid_": "id"}),
        gpd.read_file(folder / "candidates.geojson").rename(columns={"site_id": "id"}),
    ])
    rows = [(c, d, round(abs(cg.x - dg.x) + abs(cg.y - dg.y), 3))
            for (c, cg), (d, dg) in itertools.product(
                zip(pts["code"], pts.geometry, strict=True),
                zip(dests["id"], dests.geometry, strict=True))]
    pd.DataFrame(rows, columns=["from", "to", "walk_m"]).to_csv(folder / "od.csv", index=False)


@pytest.mark.parametrize("network", ["graphml", "matrix"])
def test_ids_stay_text_end_to_end(textual, network, tmp_path):
    folder, data, cell_ids, cand_ids = textual
    if network == "matrix":
        _od(folder, cell_ids)
        data["network"] = {"matrix": "od.csv", "origin_field": "from",
                           "destination_field": "to", "cost_field": "walk_m"}
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    assert sorted(res.demand["cell_id"]) == sorted(cell_ids)
    assert set(res.candidates["site_id"]) == set(cand_ids)
    assert set(res.communities["community_id"]) == {"010", "1.0"}
    # the table matched: everyone has a distance, and the chosen sites are text ids
    assert res.demand["dist_sports_park_compound"].notna().all()
    assert set(res.summary["optimize"][0]["selected"]) <= set(cand_ids)
    out = res.write(tmp_path / f"out-{network}")
    demand = json.loads((out / "demand.geojson").read_text())
    assert sorted(f["properties"]["cell_id"] for f in demand["features"]) == sorted(cell_ids)
    sites = json.loads((out / "sites.geojson").read_text())
    assert {f["properties"]["site_id"] for f in sites["features"]} <= set(cand_ids)
    comm = pd.read_csv(out / "communities.csv", dtype=str)
    assert set(comm["community_id"]) == {"010", "1.0"}
    summary = json.loads((out / "summary.json").read_text())
    assert all(isinstance(s, str) and s in cand_ids
               for s in summary["optimize"][0]["selected"])
