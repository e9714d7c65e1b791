"""Every network kind writes every output: the same Porto Alegre scenario on a PBF, a
GraphML file, an origin–destination table and ``place``/``polygon`` (osmnx, offline from
a filled cache) goes through ``Result.write``, and each file of the output contract is
there and readable (a ``network: {matrix: …}`` run used to fail in report.md with
``KeyError: 'nodes'`` after the whole computation, writing nothing)."""

from __future__ import annotations

import json

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image
from shapely.geometry import box

import facplan
from facplan.io.online import osmnx_folder
from facplan.scenario import scenario_from_dict

from .conftest import shared_file
from .test_online import (  # noqa: F401  (fixtures: the PBF's network; no connections)
    CRS,
    PLACE,
    _fill_cache,
    _no_network,
    _offline,
    _pbf_graph_in,
    poa,
)

KINDS = ["pbf", "graphml", "matrix", "place", "polygon"]


def _inputs(folder, area):
    hexes = pd.read_csv(shared_file("porto_alegre", "poa_hexgrid.csv"))
    inside = hexes[shapely.intersects_xy(area, hexes["lon"], hexes["lat"])].copy()
    inside["id"] = inside["id"].astype(str)
    inside.to_csv(folder / "pop.csv", index=False)
    pts = gpd.GeoDataFrame(inside, geometry=gpd.points_from_xy(inside.lon, inside.lat),
                           crs=4326)
    fac, cand = pts.iloc[::6], pts.drop(pts.index[::6]).iloc[::2]
    gpd.GeoDataFrame({"fid": "f" + fac["id"]}, geometry=fac.geometry.to_numpy(), crs=4326
                     ).to_file(folder / "clinics.geojson", driver="GeoJSON")
    gpd.GeoDataFrame({"sid": "c" + cand["id"], "cost": 1.0, "area_m2": 2000.0},
                     geometry=cand.geometry.to_numpy(), crs=4326
                     ).to_file(folder / "sites.geojson", driver="GeoJSON")
    minx, miny, maxx, maxy = area.bounds
    mid = (minx + maxx) / 2
    gpd.GeoDataFrame({"cid": ["w", "e"], "name": ["West", "East"]},
                     geometry=[box(minx, miny, mid, maxy), box(mid, miny, maxx, maxy)],
                     crs=4326).to_file(folder / "communities.geojson", driver="GeoJSON")
    return pts, fac, cand


def _od_table(folder, ref_graph, pts, fac, cand):
    """Walking metres from every cell to every clinic and candidate on the PBF graph
    (networkx Dijkstra between the nearest nodes; independent of facplan)."""
    g = nx.Graph()
    for u, v, w in zip(ref_graph.edge_u.tolist(), ref_graph.edge_v.tolist(),
                       ref_graph.edge_length_m.tolist(), strict=True):
        g.add_edge(u, v, w=w)
    xy = np.c_[ref_graph.x, ref_graph.y]

    def near(gdf):
        p = gdf.to_crs(CRS)
        return [int(np.argmin(((xy - [q.x, q.y]) ** 2).sum(axis=1))) for q in p.geometry]

    cells = near(pts)
    rows = []
    for ids, nodes in (("f" + fac["id"], near(fac)), ("c" + cand["id"], near(cand))):
        for did, dn in zip(ids, nodes, strict=True):
            dist = nx.single_source_dijkstra_path_length(g, dn, cutoff=3000, weight="w")
            for cid, cn in zip(pts["id"], cells, strict=True):
                if cn in dist:
                    rows.append((cid, did, dist[cn]))
    pd.DataFrame(rows, columns=["cell", "dest", "metres"]).to_csv(folder / "od.csv",
                                                                   index=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, poa):  # noqa: F811
    folder = tmp_path_factory.mktemp("kinds")
    settings = _offline(folder)
    area = _fill_cache(settings, poa)
    ref = _pbf_graph_in(poa, area)
    pts, fac, cand = _inputs(folder, area)
    gpd.GeoDataFrame(geometry=[area], crs=4326).to_file(folder / "area.geojson",
                                                        driver="GeoJSON")
    g = nx.MultiDiGraph(crs=CRS)
    for i, x, y in zip(ref.node_id.tolist(), ref.x.tolist(), ref.y.tolist(), strict=True):
        g.add_node(i, x=x, y=y)
    for u, v, w in zip(ref.node_id[ref.edge_u].tolist(), ref.node_id[ref.edge_v].tolist(),
                       ref.edge_length_m.tolist(), strict=True):
        g.add_edge(u, v, length=w)
        g.add_edge(v, u, length=w)
    import osmnx

    osmnx.save_graphml(g, folder / "area.graphml")
    _od_table(folder, ref, pts, fac, cand)
    base = {
        "name": "poa-kinds", "crs": 32722, "snap": "node", "min_component_nodes": 1,
        "communities": {"path": "communities.geojson", "id_field": "cid",
                        "name_field": "name"},
        "population": {"path": "pop.csv", "lon": "lon", "lat": "lat",
                       "field": "population", "id_field": "id"},
        "facilities": [{"path": "clinics.geojson", "id_field": "fid", "kind": "clinic",
                        "tier": "all"}],
        "candidates": {"path": "sites.geojson", "id_field": "sid", "kind": "clinic",
                       "tier": "all", "cost_field": "cost", "area_field": "area_m2"},
        "standards": {"clinic": {"all": {"walk_m": 600, "min_area_m2": 0}}},
        "optimize": [{"kind": "clinic", "tier": "all", "model": "mclp", "sites": 2}],
        "map": {"tiles": "none"},
    }
    online = {"online": {"offline": True, "cache_folder": str(osmnx_folder(settings))}}
    nets = {
        "pbf": {"network": {"pbf": str(shared_file("porto_alegre", "poa_osm.pbf"))}},
        "graphml": {"network": {"graphml": "area.graphml"}},
        "matrix": {"network": {"matrix": "od.csv", "origin_field": "cell",
                               "destination_field": "dest", "cost_field": "metres"}},
        "place": {"network": {"place": PLACE}, **online},
        "polygon": {"network": {"polygon": "area.geojson"}, **online},
    }
    return folder, base, nets, len(pts), len(cand)


def _scenario_keys_known():
    from facplan.scenario import NetworkSpec, Scenario

    return "place" in NetworkSpec.model_fields and "online" in Scenario.model_fields


@pytest.mark.parametrize("kind", KINDS)
def test_every_network_kind_writes_every_output(runs, kind):
    if kind in ("place", "polygon") and not _scenario_keys_known():
        pytest.skip("network.place/polygon not wired into the scenario")
    folder, base, nets, n_cells, n_cand = runs
    res = facplan.run(scenario_from_dict({**base, **nets[kind]}, base_dir=folder),
                      cache=False)
    out = res.write(folder / f"out-{kind}")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["optimize"][0]["objective_unit"] == "people"
    assert "clinic/all" in summary["access"]
    demand = json.loads((out / "demand.geojson").read_text())
    assert len(demand["features"]) >= n_cells
    assert {"cell_id", "dist_clinic_all", "dist_clinic_all_after"} <= set(
        demand["features"][0]["properties"])
    sites = json.loads((out / "sites.geojson").read_text())
    assert [f["properties"]["site_id"] for f in sites["features"]] == \
        summary["optimize"][0]["selected"]
    cands = json.loads((out / "candidates.geojson").read_text())
    assert len(cands["features"]) == n_cand
    comm = json.loads((out / "communities.geojson").read_text())
    assert {f["properties"]["community_id"] for f in comm["features"]} == {"w", "e"}
    assert set(pd.read_csv(out / "communities.csv")["community_id"]) == {"w", "e"}
    html = (out / "map.html").read_text()
    assert "L.map(" in html or "leaflet" in html.lower()
    report = (out / "report.md").read_text()
    assert report.startswith("# poa-kinds") and "## New sites" in report
    assert "walking network:" in report
    if kind == "matrix":
        assert "origin–destination table of" in report
    with Image.open(out / "coverage_curve.png") as img:
        assert img.size == (700, 450)
    layers = set(gpd.list_layers(out / "plan.gpkg")["name"]) \
        if hasattr(gpd, "list_layers") else {"x"}
    assert layers
