"""The walking graph: readers, components, attaching points (DESIGN, *Distances*)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely

from facplan import distances, network
from facplan._errors import InputError
from facplan.io import network as io_network

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POA = DATA / "porto_alegre"
UTM = "EPSG:32635"  # any projected CRS for the hand-built graphs


def _leaf_distances(att: network.Attached, i: int) -> np.ndarray:
    """Distance (m) from point i to every point, via plain shortest paths."""
    g = att.graph
    dist, _ = distances.nearest_source(g.indptr, g.indices, g.length_m, att.node[[i]])
    out = np.full(len(att.node), np.inf)
    ok = att.node >= 0
    out[ok] = dist[att.node[ok]]
    return out


# --------------------------------------------------------------------------- building


def test_graph_from_edges_drops_loops_keeps_shortest_parallel():
    ids = np.array([30, 10, 20, 99])  # 99 is on no edge
    g = network.graph_from_edges(
        u=[10, 20, 20, 30, 10],
        v=[20, 10, 20, 20, 20],
        length_m=[5.0, 3.0, 1.0, 7.0, 4.0],
        node_id=ids,
        x=[0.0, 1.0, 2.0, 3.0],
        y=[0.0, 0.0, 0.0, 0.0],
        crs=UTM,
    )
    assert g.n_nodes == 3 and g.n_edges == 2
    np.testing.assert_array_equal(g.node_id, [30, 10, 20])  # input order kept
    np.testing.assert_array_equal(g.x, [0.0, 1.0, 2.0])
    pairs = {
        (int(g.node_id[a]), int(g.node_id[b])): w
        for a, b, w in zip(g.edge_u, g.edge_v, g.edge_length_m, strict=True)
    }
    pairs = {tuple(sorted(k)): w for k, w in pairs.items()}
    assert pairs == {(10, 20): 3.0, (20, 30): 7.0}
    csr = g.to_csr()
    assert (csr != csr.T).nnz == 0 and csr.shape == (3, 3)
    assert g.indices.dtype == np.int32 and g.indptr.dtype == np.int64
    assert len(g.indices) == len(g.length_m) == 2 * g.n_edges


def test_graph_from_edges_bad_inputs():
    kw = dict(node_id=[1, 2], x=[0.0, 1.0], y=[0.0, 0.0], crs=UTM)
    with pytest.raises(InputError, match="not among the nodes"):
        network.graph_from_edges([1], [3], [1.0], **kw)
    with pytest.raises(InputError, match="negative, NaN"):
        network.graph_from_edges([1, 1], [2, 2], [1.0, np.nan], **kw)
    with pytest.raises(InputError, match="geographic"):
        network.graph_from_edges([1], [2], [1.0], **{**kw, "crs": "EPSG:4326"})


def test_components():
    g = network.graph_from_edges(
        u=[1, 2, 4, 6],
        v=[2, 3, 5, 6],
        length_m=[1.0, 0.0, 2.0, 1.0],
        node_id=[1, 2, 3, 4, 5, 6],
        x=np.zeros(6),
        y=np.zeros(6),
        crs=UTM,
    )
    labels, sizes = network.components(g)
    assert labels.dtype == np.int32 and sizes.dtype == np.int64
    # node 6 had only a self loop and is dropped; zero-length edges still connect
    assert g.n_nodes == 5
    assert labels[0] == labels[1] == labels[2] != labels[3] == labels[4]
    assert sorted(sizes.tolist()) == [2, 3]


# --------------------------------------------------------------------------- snapping


def hand_graph() -> network.Graph:
    """A(0,0) –100– B(100,0) –200– C(100,100), and a small D(300,0) –10– E(310,0).

    B–C is 100 m long on the map but 200 m long as an edge: fractions scale length_m.
    """
    return network.graph_from_edges(
        u=[1, 2, 4],
        v=[2, 3, 5],
        length_m=[100.0, 200.0, 10.0],
        node_id=[1, 2, 3, 4, 5],
        x=[0.0, 100.0, 100.0, 300.0, 310.0],
        y=[0.0, 0.0, 100.0, 0.0, 0.0],
        crs=UTM,
    )


HAND_POINTS = np.array(
    [
        (30.0, 10.0),  # p0: A–B at t=0.3, 10 m off
        (80.0, -5.0),  # p1: A–B at t=0.8, 5 m off
        (110.0, 40.0),  # p2: B–C at t=0.4, 10 m off
        (305.0, 5.0),  # p3: nearest is D–E (5 m) but that piece is too small; B–C at 205 m
        (1000.0, 1000.0),  # p4: beyond max_snap_m
        (0.0, -7.0),  # p5: projects onto the end A
        (30.0, -4.0),  # p6: same projection as p0
        (100.0, 0.0),  # p7: exactly on node B (zero-length connector)
    ]
)


def test_snap_edge_hand_computed():
    g = hand_graph()
    att = network.attach_points(
        g, HAND_POINTS[:, 0], HAND_POINTS[:, 1], snap="edge", max_snap_m=300.0,
        min_component_nodes=3,
    )
    np.testing.assert_array_equal(att.snap_m[[0, 1, 2, 3, 5, 6, 7]], [10, 5, 10, 205, 7, 4, 0])
    assert att.node[4] == -1 and np.isnan(att.snap_m[4]) and att.n_unsnapped == 1
    # original nodes first, unchanged; then 7 leaves; then 4 projection nodes
    aug = att.graph
    np.testing.assert_array_equal(aug.x[:5], g.x)
    np.testing.assert_array_equal(aug.node_id[:5], g.node_id)
    assert aug.n_nodes == 5 + 7 + 4
    assert np.all(aug.node_id[5:] == -1)
    snapped = att.node[att.node >= 0]
    assert len(np.unique(snapped)) == 7 and np.all(snapped >= 5)
    # each leaf has degree 1
    assert np.all(np.diff(aug.indptr)[snapped] == 1)

    d0 = _leaf_distances(att, 0)
    assert d0[1] == pytest.approx(10 + 50 + 5, abs=1e-9)  # direct way along A–B
    assert d0[6] == pytest.approx(10 + 4, abs=1e-9)  # shared projection node
    assert d0[2] == pytest.approx(10 + 70 + 80 + 10, abs=1e-9)  # 0.4 × 200 m on B–C
    assert d0[5] == pytest.approx(10 + 30 + 7, abs=1e-9)
    assert np.isinf(d0[4]) and d0[0] == 0
    assert _leaf_distances(att, 1)[3] == pytest.approx(5 + 20 + 10 + 205, abs=1e-9)
    d7 = _leaf_distances(att, 7)
    assert d7[1] == pytest.approx(0 + 20 + 5, abs=1e-9)
    assert d7[2] == pytest.approx(0 + 80 + 10, abs=1e-9)
    assert d7[7] == 0.0

    # the same through the bounded matrix (explicit zeros for p7 to itself)
    m = distances.bounded_matrix(
        aug.indptr, aug.indices, aug.length_m, att.node[[7]], att.node[[7, 1, 2]], 30.0
    )
    coo = m.tocoo()
    assert sorted(zip(coo.col.tolist(), coo.data.tolist(), strict=True)) == [(0, 0.0), (1, 25.0)]


def test_snap_edge_small_component_allowed():
    g = hand_graph()
    att = network.attach_points(
        g, HAND_POINTS[:, 0], HAND_POINTS[:, 1], snap="edge", max_snap_m=300.0,
        min_component_nodes=1,
    )
    assert att.snap_m[3] == pytest.approx(5.0)
    d3 = _leaf_distances(att, 3)
    assert np.isinf(d3[0])  # on the other piece of the network
    # max_snap_m is inclusive and small values strand points
    att = network.attach_points(g, [30.0, 30.0], [10.0, 10.5], snap="edge", max_snap_m=10.0)
    np.testing.assert_array_equal(att.node >= 0, [False, False])  # A–B piece has 3 nodes < 50
    att = network.attach_points(
        g, [30.0, 30.0], [10.0, 10.5], snap="edge", max_snap_m=10.0, min_component_nodes=3
    )
    np.testing.assert_array_equal(att.node >= 0, [True, False])


def test_snap_node_hand_computed():
    g = hand_graph()
    att = network.attach_points(
        g, HAND_POINTS[:, 0], HAND_POINTS[:, 1], snap="node", max_snap_m=300.0,
        min_component_nodes=3,
    )
    expected_snap = [np.hypot(30, 10), np.hypot(20, 5), np.hypot(10, 40), np.hypot(205, 5)]
    np.testing.assert_allclose(att.snap_m[:4], expected_snap, rtol=0, atol=1e-9)
    assert att.node[4] == -1
    assert att.graph.n_nodes == 5 + 7
    d0 = _leaf_distances(att, 0)
    assert d0[1] == pytest.approx(np.hypot(30, 10) + 100 + np.hypot(20, 5), abs=1e-9)
    assert d0[2] == pytest.approx(np.hypot(30, 10) + 100 + np.hypot(10, 40), abs=1e-9)
    assert _leaf_distances(att, 7)[7] == 0.0


def test_attach_points_edge_cases():
    g = hand_graph()
    att = network.attach_points(g, [], [], snap="edge")
    assert len(att.node) == 0 and att.graph.n_nodes == g.n_nodes
    att = network.attach_points(g, [np.nan, 50.0], [0.0, 1.0], min_component_nodes=1)
    assert att.node[0] == -1 and att.node[1] >= 0
    with pytest.raises(ValueError, match="snap"):
        network.attach_points(g, [0.0], [0.0], snap="nearest")


# --------------------------------------------------------------------------- readers


def test_missing_files_name_the_file(tmp_path):
    for reader, name in ((io_network.read_pbf, "nope.osm.pbf"), (io_network.read_graphml, "no.graphml")):
        path = tmp_path / name
        with pytest.raises(InputError) as err:
            reader(path, crs=UTM)
        assert err.value.file == str(path) and str(path) in str(err.value)


def test_unreadable_files_name_the_file(tmp_path):
    for reader, name in ((io_network.read_pbf, "bad.osm.pbf"), (io_network.read_graphml, "bad.graphml")):
        path = tmp_path / name
        path.write_text("this is not a network\n")
        with pytest.raises(InputError) as err:
            reader(path, crs=UTM)
        assert str(path) in str(err.value)


def _small_osmnx_graph() -> nx.MultiDiGraph:
    """An osmnx-style lon/lat graph in Helsinki: two-way, one-way, parallel and a
    simplified edge with a geometry."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    lonlat = {
        101: (24.9400, 60.1700),
        102: (24.9410, 60.1700),
        103: (24.9410, 60.1705),
        104: (24.9420, 60.1705),
        105: (24.9430, 60.1710),
        106: (24.9500, 60.1750),  # on its own piece
        107: (24.9501, 60.1750),
    }
    for n, (x, y) in lonlat.items():
        g.add_node(n, x=x, y=y, street_count=2)
    edges = [
        (101, 102, 55.6), (102, 101, 55.6),  # two-way street
        (102, 103, 55.7),  # one-way: walking still goes both ways
        (103, 104, 60.0), (103, 104, 56.0),  # parallel: the shorter counts
        (104, 105, 90.0),  # simplified, curved: a geometry through a bend
        (106, 107, 5.6),
    ]
    for a, b, length in edges:
        attrs = {"length": length, "osmid": 1, "oneway": False, "reversed": False}
        if (a, b) == (104, 105):
            attrs["geometry"] = shapely.LineString(
                [lonlat[104], (24.9425, 60.1712), lonlat[105]]
            )
        g.add_edge(a, b, **attrs)
    return g


def test_read_graphml_round_trip(tmp_path):
    ox = pytest.importorskip("osmnx")
    from pyproj import Transformer

    src = _small_osmnx_graph()
    path = tmp_path / "walk.graphml"
    ox.save_graphml(src, path)
    g = io_network.read_graphml(path, crs=UTM)

    assert g.crs == UTM
    assert sorted(g.node_id.tolist()) == sorted(src.nodes)
    assert g.n_edges == 5  # 101–102 once, 103–104 once
    tr = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    for i, n in enumerate(g.node_id):
        ex, ey = tr.transform(src.nodes[n]["x"], src.nodes[n]["y"])
        assert g.x[i] == pytest.approx(ex, abs=1e-6) and g.y[i] == pytest.approx(ey, abs=1e-6)

    ref = nx.MultiGraph(src)  # undirected; dijkstra takes the shortest parallel edge
    for i, n in enumerate(g.node_id):
        dist, _ = distances.nearest_source(g.indptr, g.indices, g.length_m, np.array([i]))
        expected = nx.single_source_dijkstra_path_length(ref, int(n), weight="length")
        for j, m in enumerate(g.node_id):
            if int(m) in expected:
                assert dist[j] == pytest.approx(expected[int(m)], abs=1e-9)
            else:
                assert np.isinf(dist[j])
    # the one-way edge is walkable against its direction
    i103 = int(np.flatnonzero(g.node_id == 103)[0])
    dist, _ = distances.nearest_source(g.indptr, g.indices, g.length_m, np.array([i103]))
    assert dist[np.flatnonzero(g.node_id == 101)[0]] == pytest.approx(55.7 + 55.6)
    assert dist[np.flatnonzero(g.node_id == 105)[0]] == pytest.approx(56.0 + 90.0)


def test_read_graphml_projected_graph(tmp_path):
    ox = pytest.importorskip("osmnx")
    src = nx.MultiDiGraph(crs=UTM)
    src.add_node(1, x=385000.0, y=6672000.0)
    src.add_node(2, x=385030.0, y=6672040.0)
    src.add_edge(1, 2, length=50.0)
    path = tmp_path / "proj.graphml"
    ox.save_graphml(src, path)
    g = io_network.read_graphml(path, crs=UTM)
    np.testing.assert_allclose(np.sort(g.x), [385000.0, 385030.0], atol=1e-6)
    assert g.edge_length_m.tolist() == [50.0]


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def poa():
    """Porto Alegre: our graph plus pyrosm's own nodes/edges for an independent check."""
    pbf = POA / "poa_osm.pbf"
    if not pbf.is_file():
        pytest.skip(f"real test data not found at {POA} (../shared/data is absent)")
    import pandas as pd
    from pyproj import Transformer
    from pyrosm import OSM

    crs = "EPSG:32722"  # UTM 22S
    graph = io_network.read_pbf(pbf, crs=crs)
    nodes, edges = OSM(str(pbf)).get_network(network_type="walking", nodes=True)
    hexes = pd.read_csv(POA / "poa_hexgrid.csv")
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    hx, hy = tr.transform(hexes["lon"].to_numpy(), hexes["lat"].to_numpy())
    nx_, ny_ = tr.transform(nodes["lon"].to_numpy(), nodes["lat"].to_numpy())
    return {
        "graph": graph, "nodes": nodes, "edges": edges, "hx": np.asarray(hx),
        "hy": np.asarray(hy), "node_x": np.asarray(nx_), "node_y": np.asarray(ny_),
    }


def _brute_nearest(px, py, qx, qy):
    """Index and distance of the nearest of points q for each point p (brute force)."""
    idx = np.empty(len(px), dtype=np.int64)
    dist = np.empty(len(px))
    for lo in range(0, len(px), 64):
        d = np.hypot(px[lo:lo + 64, None] - qx[None, :], py[lo:lo + 64, None] - qy[None, :])
        idx[lo:lo + 64] = d.argmin(axis=1)
        dist[lo:lo + 64] = d[np.arange(len(d)), idx[lo:lo + 64]]
    return idx, dist


def test_porto_alegre_snap_node_matches_networkx(poa, record_property):
    graph, nodes, edges = poa["graph"], poa["nodes"], poa["edges"]
    hx, hy = poa["hx"], poa["hy"]
    rng = np.random.default_rng(7)
    pick = rng.choice(len(hx), 20, replace=False)
    fx = hx[pick] + rng.uniform(-150, 150, 20)  # facilities near, not at, hex centres
    fy = hy[pick] + rng.uniform(-150, 150, 20)
    max_snap_m = 500.0
    att = network.attach_points(
        graph, np.concatenate([hx, fx]), np.concatenate([hy, fy]), snap="node",
        max_snap_m=max_snap_m, min_component_nodes=1,
    )
    n_cells = len(hx)
    g = att.graph
    got = distances.distances_to(
        g.indptr, g.indices, g.length_m, att.node[n_cells:][att.node[n_cells:] >= 0],
        np.maximum(att.node[:n_cells], 0),
    )
    got[att.node[:n_cells] < 0] = np.inf

    # independent reference: networkx on pyrosm's edges, brute-force nearest nodes
    ref = nx.Graph()
    order = np.argsort(-edges["length"].to_numpy(), kind="stable")  # shortest parallel wins
    u, v, w = (edges[c].to_numpy()[order] for c in ("u", "v", "length"))
    ref.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist(), strict=True))
    on_edge = nodes["id"].isin(ref.nodes).to_numpy()
    ids = nodes["id"].to_numpy()[on_edge]
    qx, qy = poa["node_x"][on_edge], poa["node_y"][on_edge]
    c_idx, c_d = _brute_nearest(hx, hy, qx, qy)
    f_idx, f_d = _brute_nearest(fx, fy, qx, qy)
    for k in np.flatnonzero(f_d <= max_snap_m):
        ref.add_edge(("facility", int(k)), int(ids[f_idx[k]]), weight=float(f_d[k]))
    sources = {("facility", int(k)) for k in np.flatnonzero(f_d <= max_snap_m)}
    d = nx.multi_source_dijkstra_path_length(ref, sources)
    expected = np.array([
        c_d[i] + d.get(int(ids[c_idx[i]]), np.inf) if c_d[i] <= max_snap_m else np.inf
        for i in range(n_cells)
    ])

    np.testing.assert_allclose(att.snap_m[:n_cells][c_d <= max_snap_m], c_d[c_d <= max_snap_m],
                               rtol=0, atol=1e-6)
    assert np.array_equal(np.isfinite(got), np.isfinite(expected))
    fin = np.isfinite(expected)
    worst = float(np.abs(got[fin] - expected[fin]).max())
    record_property("worst_error_m", worst)
    print(f"Porto Alegre snap=node: {fin.sum()} of {n_cells} cells reachable, "
          f"worst error {worst:.3g} m")
    assert fin.sum() > 300  # the check is not vacuous
    assert (~fin).sum() > 0  # and some hexes lie beyond the extract
    assert worst <= 0.5


def test_porto_alegre_snap_edge_is_the_nearest_segment(poa):
    graph, edges = poa["graph"], poa["edges"]
    hx, hy = poa["hx"], poa["hy"]
    att = network.attach_points(graph, hx, hy, snap="edge", min_component_nodes=1)
    # independent: shapely's nearest straight segment between pyrosm's consecutive nodes
    pos = {int(n): i for i, n in enumerate(poa["nodes"]["id"].to_numpy())}
    iu = np.array([pos[int(a)] for a in edges["u"]])
    iv = np.array([pos[int(b)] for b in edges["v"]])
    segs = shapely.linestrings(np.stack([
        np.column_stack([poa["node_x"][iu], poa["node_y"][iu]]),
        np.column_stack([poa["node_x"][iv], poa["node_y"][iv]]),
    ], axis=1))
    tree = shapely.STRtree(segs)
    _, d = tree.query_nearest(shapely.points(hx, hy), return_distance=True, all_matches=False)
    near = d <= 500.0
    assert near.sum() > 300
    assert np.array_equal(att.node >= 0, near)
    np.testing.assert_allclose(att.snap_m[near], d[near], rtol=0, atol=1e-6)
    # every leaf reaches its own network; augmented lengths are consistent
    g = att.graph
    assert g.n_nodes > graph.n_nodes and np.all(g.length_m >= 0)
    # splitting keeps total length: removed edges = sum of their pieces
    total_net = g.edge_length_m.sum() - np.nansum(att.snap_m)
    assert total_net == pytest.approx(graph.edge_length_m.sum(), rel=1e-12)
