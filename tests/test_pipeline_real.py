"""End to end on real data: Porto Alegre's OSM network and census hexagons.

The facplan distances of every cell must equal an independent networkx computation of
DESIGN's pinned definition (straight connector + shortest path + straight connector,
``snap: node``, ``min_component_nodes: 1``) to 0.5 m.
"""

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

import facplan
from facplan.scenario import scenario_from_dict

from .conftest import shared_file


@pytest.fixture(scope="module")
def poa(tmp_path_factory):
    pbf = shared_file("porto_alegre", "poa_osm.pbf")
    hexes = pd.read_csv(shared_file("porto_alegre", "poa_hexgrid.csv"))
    folder = tmp_path_factory.mktemp("poa")
    import geopandas as gpd

    health = hexes[hexes["healthcare"] > 0]
    gpd.GeoDataFrame(
        {"hex": health["id"].astype(str), "kind": "clinic"},
        geometry=gpd.points_from_xy(health["lon"], health["lat"]), crs=4326,
    ).to_file(folder / "health.geojson", driver="GeoJSON")
    data = {
        "name": "poa-health",
        "crs": "auto",
        "snap": "node",
        "min_component_nodes": 1,
        "max_snap_m": 100000,
        "population": {"path": str(shared_file("porto_alegre", "poa_hexgrid.csv")),
                       "lon": "lon", "lat": "lat", "field": "population", "id_field": "id"},
        "network": {"pbf": str(pbf)},
        "facilities": [{"path": "health.geojson", "id_field": "hex", "kind": "clinic",
                        "tier": "all"}],
        "standards": {"clinic": {"all": {"walk_m": 1000}}},
        "map": {"tiles": "none"},
    }
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    return pbf, hexes, health, res


def test_distances_equal_networkx(poa):
    import pyrosm

    pbf, hexes, health, res = poa
    nodes, edges = pyrosm.OSM(str(pbf)).get_network(network_type="walking", nodes=True)
    crs = res.summary["crs"]
    tr = Transformer.from_crs(4326, crs, always_xy=True)
    nx_, ny_ = tr.transform(nodes["lon"].to_numpy(), nodes["lat"].to_numpy())
    node_ids = nodes["id"].to_numpy()
    g = nx.Graph()
    for u, v, length in zip(edges["u"], edges["v"], edges["length"], strict=True):
        if u != v and (not g.has_edge(u, v) or g[u][v]["w"] > length):
            g.add_edge(u, v, w=float(length))
    on_graph = np.isin(node_ids, np.fromiter(g.nodes, dtype=np.int64))
    nx_, ny_, node_ids = nx_[on_graph], ny_[on_graph], node_ids[on_graph]

    def nearest(lon, lat):
        x, y = tr.transform(lon, lat)
        out = []
        for xi, yi in zip(x, y, strict=True):  # brute force, independent of facplan
            d2 = (nx_ - xi) ** 2 + (ny_ - yi) ** 2
            k = int(np.argmin(d2))
            out.append((node_ids[k], float(np.sqrt(d2[k]))))
        return out

    src = "SOURCE"
    for node, conn in nearest(health["lon"].to_numpy(), health["lat"].to_numpy()):
        w = min(conn, g[src][node]["w"]) if g.has_edge(src, node) else conn
        g.add_edge(src, node, w=w)
    dist = nx.single_source_dijkstra_path_length(g, src, weight="w")
    ref = []
    for node, conn in nearest(hexes["lon"].to_numpy(), hexes["lat"].to_numpy()):
        ref.append(conn + dist[node] if node in dist else np.nan)
    ref = pd.Series(ref, index=hexes["id"].astype(str))
    got = res.demand.set_index("cell_id")["dist_clinic_all"]
    assert len(got) == len(ref) == 1227
    got = got.reindex(ref.index)
    assert (np.isnan(got) == np.isnan(ref)).all()
    err = np.nanmax(np.abs(got.to_numpy() - ref.to_numpy()))
    print(f"worst distance error vs networkx: {err:.6f} m")
    assert err <= 0.5


def test_population_total_and_coverage(poa):
    _, hexes, _, res = poa
    s = res.summary
    assert s["population_total"] == pytest.approx(812_935)
    a = s["access"]["clinic/all"]
    d = res.demand["dist_clinic_all"].to_numpy()
    pop = res.demand["population"].to_numpy()
    assert a["covered_population"] == pytest.approx(pop[d <= 1000 + 1e-6].sum())
