"""The embedded Helsinki demo runs end to end and its outputs follow the contract."""

import json

import geopandas as gpd
import pytest

import facplan
from facplan.demo import build_demo_data


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from facplan.demo import demo_scenario_path

    base = tmp_path_factory.mktemp("demo")
    data_dir = base / "data" / "demo"
    build_demo_data(data_dir)
    scen = base / "scenarios"
    scen.mkdir()
    (scen / "demo.yaml").write_text(demo_scenario_path().read_text(encoding="utf-8"))
    sc = facplan.load_scenario(scen / "demo.yaml")
    sc.map.tiles = "none"
    res = facplan.run(sc)
    out = res.write(base / "out")
    return res, out


def test_demo_contract(demo_run):
    res, out = demo_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "helsinki-demo"
    assert summary["crs"] == "EPSG:32635"
    tiers = {"sports_park/district", "sports_park/community", "sports_park/compound",
             "neighbourhood_centre/all"}
    assert tiers <= set(summary["access"])
    for a in summary["access"].values():
        assert 0 <= a["coverage"] <= a["after"]["coverage"] <= 1
    assert len(summary["optimize"]) >= 4
    demand = gpd.read_file(out / "demand.geojson")
    assert demand.crs.to_epsg() == 4326
    assert len(demand) == summary["cells"]
    assert demand["population"].sum() == pytest.approx(summary["population_total"], rel=1e-6)
    for k in tiers:
        col = "dist_" + k.replace("/", "_")
        assert col in demand and col + "_after" in demand
    sites = gpd.read_file(out / "sites.geojson")
    n_selected = sum(len(o["selected"]) for o in summary["optimize"])
    assert len(sites) == n_selected > 0
    assert sites["community_id"].notna().all()
    comm = gpd.read_file(out / "communities.geojson")
    assert comm["population"].sum() == pytest.approx(summary["population_total"], rel=1e-6)
    assert {"has_centre", "gaps", "coverage_sports_park_community_after"} <= set(comm.columns)
    cands = gpd.read_file(out / "candidates.geojson")
    assert cands["chosen"].sum() == n_selected
    assert (out / "map.html").stat().st_size > 10_000


def test_demo_one_centre_per_community(demo_run):
    res, out = demo_run
    comm = gpd.read_file(out / "communities.geojson").set_index("community_id")
    sites = gpd.read_file(out / "sites.geojson")
    centres = sites[sites["kind"] == "neighbourhood_centre"]
    entry = next(o for o in res.summary["optimize"] if o["kind"] == "neighbourhood_centre")
    for cid, row in comm.iterrows():
        n_new = int((centres["community_id"] == cid).sum())
        if row["has_centre"]:
            assert n_new == 0, cid
        elif cid in entry["gaps"]:
            assert n_new == 0 and "no eligible candidate" in row["gaps"]
        else:
            assert n_new == 1, cid
