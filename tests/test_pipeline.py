"""End to end on the synthetic grid city, checked against hand computation: with every
point on a grid node, the walking distance between two points is their Manhattan
distance."""

import itertools
import json

import numpy as np
import pytest

import facplan
from facplan.scenario import scenario_from_dict


def _manhattan(a, b):
    (i1, j1), (i2, j2) = a, b
    return 100.0 * (abs(i1 - i2) + abs(j1 - j2))


def _cells(n=8):
    return [(i, j) for i in range(n) for j in range(n)]


@pytest.fixture
def grid_result(city):
    folder, data = city
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    return folder, data, res


def test_distances_before_are_manhattan(grid_result):
    _, _, res = grid_result
    d = res.demand.set_index("cell_id")["dist_sports_park_compound"]
    for i, j in _cells():
        assert d[f"p{i}_{j}"] == pytest.approx(_manhattan((i, j), (0, 0)), abs=1e-6)


def test_mclp_matches_brute_force(grid_result):
    _, _, res = grid_result
    pop = res.demand.set_index("cell_id")["population"]
    cells = _cells()
    w = np.array([pop[f"p{i}_{j}"] for i, j in cells])
    cands = [(i, j) for i, j in cells if (i + j) % 2 == 1]

    def covered(sites):
        return np.array(
            [any(_manhattan(c, s) <= 300 for s in sites) for c in cells]
        )

    base = covered([(0, 0)])
    best = max(
        (w[covered([(0, 0), a, b])].sum() - w[base].sum(), (a, b))
        for a, b in itertools.combinations(cands, 2)
    )
    opt = res.summary["optimize"][0]
    assert opt["objective"] == pytest.approx(best[0])
    assert opt["covered_before"] == pytest.approx(w[base].sum())
    assert opt["covered_after"] == pytest.approx(w[base].sum() + best[0])
    assert opt["gap"] <= 1e-6
    chosen = [tuple(int(x) for x in s[1:].split("_")) for s in opt["selected"]]
    assert w[covered([(0, 0), *chosen])].sum() - w[base].sum() == pytest.approx(best[0])
    # rank: the first site has the larger marginal gain
    sites = res.sites.sort_values("rank")
    assert sites["marginal_population"].iloc[0] >= sites["marginal_population"].iloc[1]
    assert sites["marginal_population"].sum() == pytest.approx(best[0])
    # after distances: nearest of the facility and the chosen sites
    d_after = res.demand.set_index("cell_id")["dist_sports_park_compound_after"]
    for i, j in cells:
        exp = min(_manhattan((i, j), s) for s in [(0, 0), *chosen])
        assert d_after[f"p{i}_{j}"] == pytest.approx(exp, abs=1e-6)


def test_summary_and_community_tables(grid_result):
    _, _, res = grid_result
    s = res.summary
    a = s["access"]["sports_park/compound"]
    assert s["population_total"] == pytest.approx(res.demand["population"].sum())
    assert a["threshold_m"] == 300.0
    assert a["coverage"] == pytest.approx(a["covered_population"] / s["population_total"])
    comm = res.communities.set_index("community_id")
    assert comm["population"].sum() == pytest.approx(s["population_total"])
    west = res.demand[res.demand["community_id"] == "west"]
    cov_w = west.loc[west["dist_sports_park_compound"] <= 300, "population"].sum()
    assert comm.loc["west", "coverage_sports_park_compound"] == pytest.approx(
        cov_w / west["population"].sum()
    )
    assert not comm["has_centre"].any()
    assert "no neighbourhood centre" not in comm.loc["west", "gaps"]  # parks-only study
    # 2SFCA: one facility, area 1000, serving everyone within 300 m
    within = res.demand["dist_sports_park_compound"] <= 300
    r = 1000.0 / res.demand.loc[within, "population"].sum()
    np.testing.assert_allclose(res.demand.loc[within, "sfca_sports_park_compound"], r)
    assert (res.demand.loc[~within, "sfca_sports_park_compound"] == 0).all()


def test_outputs_follow_contract(grid_result, tmp_path):
    _, _, res = grid_result
    out = res.write(tmp_path / "run")
    names = {p.name for p in out.iterdir()}
    assert {"summary.json", "demand.geojson", "sites.geojson", "candidates.geojson",
            "communities.geojson", "communities.csv", "map.html"} <= names
    demand = json.loads((out / "demand.geojson").read_text())
    props = demand["features"][0]["properties"]
    assert {"cell_id", "population", "community_id", "dist_sports_park_compound",
            "dist_sports_park_compound_after", "sfca_sports_park_compound"} <= set(props)
    lon, lat = demand["features"][0]["geometry"]["coordinates"]
    assert 24 < lon < 26 and 60 < lat < 61  # EPSG:4326
    sites = json.loads((out / "sites.geojson").read_text())["features"]
    assert [f["properties"]["rank"] for f in sites] == [1, 2]
    assert set(sites[0]["properties"]) == {
        "site_id", "kind", "tier", "rank", "marginal_population", "cost", "community_id",
        "phase", "name", "tag", "snap_m"}
    assert sites[0]["properties"]["name"] == "" == sites[0]["properties"]["tag"]  # a file
    cands = json.loads((out / "candidates.geojson").read_text())["features"]
    assert sum(f["properties"]["chosen"] for f in cands) == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "grid-city" and summary["crs"] == "EPSG:32635"
    assert set(summary["timings"]) >= {"read inputs", "read network", "optimize"}


def test_rerun_is_byte_identical(city, tmp_path):
    folder, data = city
    sc = scenario_from_dict(data, base_dir=folder)
    a = facplan.run(sc).write(tmp_path / "a")
    b = facplan.run(sc).write(tmp_path / "b")
    for name in ("demand.geojson", "sites.geojson", "candidates.geojson",
                 "communities.geojson", "communities.csv", "map.html", "report.md",
                 "coverage_curve.png", "plan.gpkg"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    for s in (sa, sb):
        s.pop("timings")
        for o in s["optimize"]:
            o.pop("seconds")
    assert sa == sb


def test_unreachable_cells_are_warned_not_dropped(city):
    import geopandas as gpd
    from shapely.geometry import Point

    folder, data = city
    pop = gpd.read_file(folder / "population.gpkg")
    far = gpd.GeoDataFrame(
        {"cell_id": ["far"], "population": [1000.0]},
        geometry=[Point(385_350, 6_672_000 + 1500)], crs=pop.crs,
    )
    pop = gpd.GeoDataFrame(
        __import__("pandas").concat([pop, far], ignore_index=True), crs=pop.crs
    )
    pop.to_file(folder / "population.gpkg")
    data["communities"] = None
    with pytest.warns(facplan.FacplanWarning, match="farther than max_snap_m"):
        res = facplan.run(scenario_from_dict(data, base_dir=folder))
    a = res.summary["access"]["sports_park/compound"]
    assert a["unreachable_population"] == 1000.0
    assert res.summary["population_total"] == pytest.approx(pop["population"].sum())
    assert np.isnan(res.demand.set_index("cell_id").loc["far", "dist_sports_park_compound"])


def test_catchments_hold_the_nodes_within_walking_distance(grid_result):
    """Each chosen site's catchment (a drawing aid) contains every grid node within the
    compound threshold (300 m Manhattan) of the site and no node beyond 300 m + 100 m
    (the hull is drawn around reachable nodes and buffered by 20 m)."""
    import shapely

    from facplan.testing import node_xy

    _, _, res = grid_result
    catch = res.catchments.set_index("site_id")
    assert sorted(catch.index) == sorted(res.sites["site_id"])
    assert (catch["tier"] == "compound").all()
    for site in catch.index:
        si, sj = (int(x) for x in site[1:].split("_"))
        hull = catch.loc[site, "geometry"]
        for i, j in _cells():
            d = _manhattan((i, j), (si, sj))
            p = shapely.Point(*node_xy(i, j))
            if d <= 300:
                assert hull.contains(p), (site, i, j)
            elif d >= 400:
                assert not hull.contains(p), (site, i, j)
