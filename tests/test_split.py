"""City splitting: pieces with a halo give the same coverage and the same distances
within the threshold as one run on the whole network, and the central MCLP on the
stitched matrix picks the same sites."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import facplan
from facplan import FacplanWarning
from facplan.access import COVER_EPS_M
from facplan.io import network as io_network
from facplan.network import graph_from_edges
from facplan.scenario import scenario_from_dict
from facplan.split import halo_m, partition_cells, split_access

from .conftest import shared_file
from .test_batch import local_dask_cluster


def _run(scenario):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        return facplan.run(scenario)


def assert_split_equals_run(split: dict, result, thresholds: dict[str, float]) -> None:
    """Coverage, covered population, distances ≤ threshold and MCLP choices are equal;
    beyond the threshold the split reports inf or the exact distance, never a covering
    one."""
    got, want = split["demand"], result.demand
    assert got["cell_id"].tolist() == want["cell_id"].tolist()
    for col, t in thresholds.items():
        for c in (col, f"{col}_after"):
            a = want[c].to_numpy()
            b = got[c].to_numpy()
            near = a <= t + COVER_EPS_M
            np.testing.assert_allclose(b[near], a[near], rtol=0, atol=1e-6, err_msg=c)
            assert not (b[~near] <= t + COVER_EPS_M).any(), c
            # beyond the threshold: inf (not searched) or, where searched, still exact
            far = ~near & np.isfinite(b)
            np.testing.assert_allclose(b[far], a[far], rtol=0, atol=1e-6, err_msg=c)
            # NaN only for cells off the network, as in the single run
            assert (np.isnan(b) <= np.isnan(a)).all(), c
    for key, a in result.summary["access"].items():
        s = split["access"][key]
        assert s["covered_population"] == pytest.approx(a["covered_population"], abs=1e-6)
        assert s["coverage"] == pytest.approx(a["coverage"], abs=1e-12)
        assert s["after"]["covered_population"] == pytest.approx(
            a["after"]["covered_population"], abs=1e-6)
    assert len(split["optimize"]) == len(result.summary["optimize"])
    for s, o in zip(split["optimize"], result.summary["optimize"], strict=True):
        assert s["selected"] == o["selected"]
        assert s["objective"] == pytest.approx(o["objective"], abs=1e-6)
        assert s["covered_after"] == pytest.approx(o["covered_after"], abs=1e-6)
    cols = ["site_id", "kind", "tier", "rank", "marginal_population", "cost"]
    pd.testing.assert_frame_equal(
        split["sites"][cols].reset_index(drop=True),
        pd.DataFrame(result.sites[cols]).reset_index(drop=True), check_dtype=False,
    )


# --------------------------------------------------------------------------- pieces


def test_partition_is_balanced_compact_and_deterministic():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 4000, 1000), rng.uniform(0, 1000, 1000)
    lab = partition_cells(x, y, 4)
    assert np.array_equal(lab, partition_cells(x, y, 4))
    assert sorted(np.bincount(lab)) == [250, 250, 250, 250]
    # a wide area is cut across its long side: the pieces are x-bands
    order = [x[lab == k].mean() for k in range(4)]
    assert sorted(order) == order
    assert partition_cells(x[:3], y[:3], 10).max() == 2  # never more pieces than points


def test_partition_keeps_groups_whole():
    x = np.repeat(np.arange(6) * 100.0, 5)
    y = np.zeros(30)
    groups = np.repeat(list("abcdef"), 5)
    lab = partition_cells(x, y, 3, groups=groups)
    for g in "abcdef":
        assert len(set(lab[groups == g])) == 1
    assert sorted(np.bincount(lab)) == [10, 10, 10]


def test_halo_covers_the_stretch_of_edge_lengths():
    crs = "EPSG:32635"
    x, y = np.array([0.0, 100.0, 200.0]), np.zeros(3)
    planar = graph_from_edges([1, 2], [2, 3], [100.0, 100.0], node_id=[1, 2, 3], x=x, y=y,
                              crs=crs)
    assert halo_m(planar, 500) == pytest.approx(501.0, abs=1e-3)
    short = graph_from_edges([1, 2], [2, 3], [100.0, 50.0], node_id=[1, 2, 3], x=x, y=y,
                             crs=crs)
    assert halo_m(short, 500) == pytest.approx(2 * 500 + 1.0, abs=1e-3)


def test_split_grid_city_in_process(city):
    folder, data = city
    data["standards"] = {"sports_park": {"community": {"walk_m": 450}}}
    data["optimize"].append({"kind": "sports_park", "tier": "community", "sites": 1})
    scenario = scenario_from_dict(data, base_dir=folder)
    result = _run(scenario)
    thresholds = {"dist_sports_park_compound": 300.0, "dist_sports_park_community": 450.0}
    for parts, by in ((2, "community"), (3, "grid"), (5, "grid")):
        split = split_access(scenario, parts=parts, by=by)
        assert split["parts"] == parts and split["by"] == by
        if by == "community":
            part_of = split["demand"].groupby("community_id")["part"].nunique()
            assert (part_of == 1).all()
        assert_split_equals_run(split, result, thresholds)
        m = split["matrix"]
        assert m["matrix"].shape == (len(m["site_ids"]), 64)
        assert (m["cutoff_m"] == 450.0).all()  # the largest threshold of the kind


def test_split_refuses_what_it_cannot_do_exactly(city):
    folder, data = city
    scenario = scenario_from_dict(data, base_dir=folder)
    with pytest.raises(ValueError, match="'parts' parameter"):
        split_access(scenario, parts=0)
    scenario.optimize[0].model = "pmedian"  # not validated again: as a later schema allows
    with pytest.raises(facplan.InputError, match="'pmedian' needs every distance"):
        split_access(scenario, parts=2)


# --------------------------------------------------------------------------- real city


@pytest.fixture(scope="module")
def dask_client(tmp_path_factory) -> Iterator:
    from distributed import Client

    with local_dask_cluster(tmp_path_factory.mktemp("dask")) as address:
        with Client(address, timeout="30s") as client:
            yield client


@pytest.fixture(scope="module")
def porto_alegre(tmp_path_factory):
    import geopandas as gpd

    pbf = shared_file("porto_alegre", "poa_osm.pbf")
    csv = shared_file("porto_alegre", "poa_hexgrid.csv")
    hexes = pd.read_csv(csv)
    folder = tmp_path_factory.mktemp("poa")
    health = hexes[hexes["healthcare"] > 0]
    gpd.GeoDataFrame(
        {"hex": health["id"].astype(str)},
        geometry=gpd.points_from_xy(health["lon"], health["lat"]), crs=4326,
    ).to_file(folder / "health.geojson", driver="GeoJSON")
    schools = hexes[hexes["schools"] > 0]
    gpd.GeoDataFrame(
        {"hex": "school-" + schools["id"].astype(str)},
        geometry=gpd.points_from_xy(schools["lon"], schools["lat"]), crs=4326,
    ).to_file(folder / "schools.geojson", driver="GeoJSON")
    gpd.GeoDataFrame(
        {"site": "c-" + schools["id"].astype(str), "kind": "clinic", "tier": "",
         "cost": 1.0},
        geometry=gpd.points_from_xy(schools["lon"], schools["lat"]), crs=4326,
    ).to_file(folder / "candidates.geojson", driver="GeoJSON")
    data = {
        "name": "poa-split",
        "crs": "auto",
        "snap": "edge",
        "population": {"path": str(csv), "lon": "lon", "lat": "lat", "field": "population",
                       "id_field": "id"},
        "network": {"pbf": str(pbf)},
        "facilities": [
            {"path": "health.geojson", "id_field": "hex", "kind": "clinic", "tier": "all"},
            {"path": "schools.geojson", "id_field": "hex", "kind": "school", "tier": "all"},
        ],
        "candidates": {"path": "candidates.geojson", "id_field": "site", "kind_field": "kind",
                       "tier_field": "tier", "cost_field": "cost"},
        "standards": {"clinic": {"all": {"walk_m": 800}}, "school": {"all": {"walk_m": 500}}},
        "optimize": [{"kind": "clinic", "tier": "all", "model": "mclp", "sites": 5}],
        "map": {"tiles": "none"},
    }
    scenario = scenario_from_dict(data, base_dir=folder)
    return scenario, _run(scenario)


@pytest.mark.slow
def test_split_porto_alegre_on_a_cluster_equals_single_run(porto_alegre, dask_client):
    scenario, result = porto_alegre
    split = split_access(scenario, parts=4, by="grid", client=dask_client)
    assert split["parts"] == 4
    assert split["population_total"] == pytest.approx(812_935)
    # each piece routes on part of the network only
    nodes = [p["nodes"] for p in split["part_stats"]]
    assert max(nodes) < 0.6 * result.summary["network"]["nodes"]
    assert sum(p["cells"] for p in split["part_stats"]) == (split["demand"]["part"] >= 0).sum()
    assert_split_equals_run(
        split, result, {"dist_clinic_all": 800.0, "dist_school_all": 500.0}
    )
    # the stitched matrix equals one bounded search on the whole network
    from facplan import access, network
    from facplan.cells import cell_points

    g = io_network.read_pbf(scenario.network.pbf, crs=result.summary["crs"])
    cand = result.candidates
    pts = [cell_points(result.demand.geometry), cell_points(result.facilities.geometry),
           cell_points(cand.geometry)]
    att = network.attach_points(
        g, np.concatenate([p[0] for p in pts]), np.concatenate([p[1] for p in pts]),
        snap=scenario.snap, max_snap_m=scenario.max_snap_m,
        min_component_nodes=scenario.min_component_nodes,
    )
    n_c, n_f = len(result.demand), len(result.facilities)
    full = access.site_matrix(att.graph, att.node[n_c + n_f:], att.node[:n_c], 800.0)
    stitched = split["matrix"]
    assert list(stitched["site_ids"]) == cand["site_id"].tolist()
    diff = abs(stitched["matrix"] - full)
    assert stitched["matrix"].nnz == full.nnz and (diff.max() if diff.nnz else 0.0) < 1e-6


def test_split_command_writes_the_tables_of_a_single_run(city):
    """`facplan split` writes summary.json, demand.csv and sites.csv whose coverage,
    distances within the threshold and chosen sites equal `facplan run`'s; a pmedian
    entry is refused with exit 2 and leaves the earlier output as it was."""
    import json
    import subprocess
    import sys

    from facplan.testing import write_scenario

    folder, data = city
    scenario = scenario_from_dict(data, base_dir=folder)
    result = _run(scenario)
    path = write_scenario(folder, data)
    out = folder / "split-out"

    def facplan_split(*extra):
        return subprocess.run(
            [sys.executable, "-m", "facplan.cli", "split", str(path), "--out", str(out),
             *extra], capture_output=True, text=True, timeout=600,
        )

    r = facplan_split("--parts", "3", "--by", "grid")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "demand.csv", "sites.csv", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parts"] == 3 and summary["by"] == "grid"
    for key, a in result.summary["access"].items():
        assert summary["access"][key]["coverage"] == pytest.approx(a["coverage"], abs=1e-6)
        assert summary["access"][key]["after"]["covered_population"] == pytest.approx(
            a["after"]["covered_population"], abs=1e-3)
    assert [o["selected"] for o in summary["optimize"]] == [
        o["selected"] for o in result.summary["optimize"]]
    demand = pd.read_csv(out / "demand.csv")
    want = result.demand.set_index("cell_id")["dist_sports_park_compound"]
    got = demand.set_index("cell_id")["dist_sports_park_compound"]
    near = want <= 300
    np.testing.assert_allclose(got[near], want[near], atol=1e-3)
    assert (got[~near] > 300).all()  # inf: beyond the threshold, not searched
    sites = pd.read_csv(out / "sites.csv")
    assert sites["site_id"].tolist() == result.sites["site_id"].tolist()

    before = (out / "summary.json").read_bytes()
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "pmedian",
                         "sites": 1}]
    path = write_scenario(folder, data)
    r = facplan_split("--parts", "2")
    assert r.returncode == 2
    assert "pmedian" in r.stderr and "Traceback" not in r.stderr
    assert (out / "summary.json").read_bytes() == before
