"""`network: {matrix: …}`: a precomputed origin–destination table instead of a street
network gives the same answers as the network itself."""

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import facplan
from facplan.scenario import scenario_from_dict


def _od_table(folder):
    cells = gpd.read_file(folder / "population.gpkg")
    dests = pd.concat([
        gpd.read_file(folder / "facilities.gpkg").rename(columns={"fid_": "id"})[["id", "geometry"]],
        gpd.read_file(folder / "candidates.gpkg").rename(columns={"site_id": "id"})[["id", "geometry"]],
    ])
    rows = []
    for (cid, cg), (did, dg) in itertools.product(
        zip(cells["cell_id"], cells.geometry, strict=True), zip(dests["id"], dests.geometry, strict=True)
    ):
        m = abs(cg.x - dg.x) + abs(cg.y - dg.y)  # grid city: walking = Manhattan
        if m <= 1200:
            rows.append((cid, did, round(m, 6)))
    od = pd.DataFrame(rows, columns=["from_id", "to_id", "walk_m"])
    od = pd.concat([od, od.iloc[:5].assign(walk_m=od["walk_m"].iloc[:5] + 50)])  # repeats: min wins
    od.to_csv(folder / "od.csv", index=False)


def test_matrix_equals_network(city):
    folder, data = city
    graph_run = facplan.run(scenario_from_dict(data, base_dir=folder))
    _od_table(folder)
    data["network"] = {"matrix": "od.csv", "origin_field": "from_id",
                       "destination_field": "to_id", "cost_field": "walk_m"}
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    a = graph_run.demand.set_index("cell_id")["dist_sports_park_compound"]
    b = res.demand.set_index("cell_id")["dist_sports_park_compound"]
    within = a <= 1200
    np.testing.assert_allclose(b[within], a[within], atol=1e-6)
    assert b[~within].isna().all()  # beyond the table: unreachable
    oa, ob = graph_run.summary["optimize"][0], res.summary["optimize"][0]
    assert ob["objective"] == pytest.approx(oa["objective"])
    assert res.summary["access"]["sports_park/compound"]["covered_population"] == pytest.approx(
        graph_run.summary["access"]["sports_park/compound"]["covered_population"])
    assert len(res.catchments) == 0


def test_matrix_missing_field(city):
    folder, data = city
    _od_table(folder)
    data["network"] = {"matrix": "od.csv", "cost_field": "metres",
                       "origin_field": "from_id", "destination_field": "to_id"}
    with pytest.raises(facplan.InputError, match="no field 'metres'"):
        facplan.run(scenario_from_dict(data, base_dir=folder))
