"""Entrances and polygon boundary entry (DESIGN, *Entrances and polygon sites*).

Every distance is checked against an independent networkx computation of the pinned
definition: the minimum, over a feature's entries, of connector + shortest path +
connector. The reference attaches points by brute force (every edge or node tried in a
Python loop) and finds the boundary entries of a polygon edge by edge with shapely, so
it shares no code with :mod:`facplan.entry`.
"""

from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

import facplan
from facplan._errors import InputError
from facplan.scenario import scenario_from_dict

from .conftest import shared_file

CRS = "EPSG:32650"  # UTM 50N (Luoyang)
X0, Y0 = 650_000.0, 3_830_000.0


# --------------------------------------------------------------------------- reference


class Reference:
    """The pinned distance definition, computed with networkx and brute force.

    Parameters
    ----------
    xy
        node id → (x, y).
    edges
        (u, v, length_m) triples.
    snap
        ``"edge"`` or ``"node"``.
    """

    def __init__(self, xy: dict, edges: list, snap: str) -> None:
        self.xy = xy
        self.snap = snap
        g = nx.Graph()
        for u, v, w in edges:
            if u != v and (not g.has_edge(u, v) or g[u][v]["w"] > w):
                g.add_edge(u, v, w=float(w))
        self.base = g
        self.edge_list = list(g.edges(data="w"))
        self.points: list[tuple] = []  # (key, x, y)

    def add(self, key, x: float, y: float) -> None:
        self.points.append((key, float(x), float(y)))

    def build(self) -> None:
        """Attach every added point (its own leaf joined by a straight connector)."""
        g = self.base.copy()
        self.conn: dict = {}
        if self.snap == "node":
            ids = list(self.base.nodes)
            arr = np.array([self.xy[n] for n in ids])
            for key, x, y in self.points:
                d = np.hypot(arr[:, 0] - x, arr[:, 1] - y)
                k = int(np.argmin(d))
                g.add_edge(("pt", key), ids[k], w=float(d[k]))
                self.conn[key] = float(d[k])
            self.g = g
            return
        on_edge: dict = {}
        ex = np.array([[*self.xy[u], *self.xy[v]] for u, v, _ in self.edge_list])
        for key, x, y in self.points:
            ax, ay, bx, by = ex[:, 0], ex[:, 1], ex[:, 2], ex[:, 3]
            dx, dy = bx - ax, by - ay
            l2 = dx * dx + dy * dy
            t = np.clip(np.where(l2 > 0, ((x - ax) * dx + (y - ay) * dy) / np.where(
                l2 > 0, l2, 1), 0), 0, 1)
            d = np.hypot(x - (ax + t * dx), y - (ay + t * dy))
            k = int(np.argmin(d))
            self.conn[key] = float(d[k])
            on_edge.setdefault(k, []).append((float(t[k]), key))
        for k, items in on_edge.items():
            u, v, w = self.edge_list[k]
            glen = math.dist(self.xy[u], self.xy[v])
            g.remove_edge(u, v)
            chain = [(0.0, u)]
            for t, key in sorted(items):
                if t * glen <= 1e-9:
                    g.add_edge(("pt", key), u, w=self.conn[key])
                elif (1 - t) * glen <= 1e-9:
                    g.add_edge(("pt", key), v, w=self.conn[key])
                else:
                    node = ("proj", k, t)
                    if chain[-1][1] != node:
                        chain.append((t, node))
                    g.add_edge(("pt", key), node, w=self.conn[key])
            chain.append((1.0, v))
            for (t0, a), (t1, b) in zip(chain[:-1], chain[1:], strict=True):
                g.add_edge(a, b, w=(t1 - t0) * w)
        self.g = g

    def from_entries(self, entries: list) -> dict:
        """Distances from a feature whose entries are point keys or ("node", id)."""
        sources = [e[1] if isinstance(e, tuple) and e[0] == "node" else ("pt", e)
                   for e in entries]
        return nx.multi_source_dijkstra_path_length(self.g, set(sources), weight="w")


def boundary_entry_points(poly: Polygon, xy: dict, edges: list, touch_m: float = 1.0,
                          all_edges: list | None = None):
    """Points where edges cross/touch ``poly``'s boundary, and nodes inside (edge by
    edge, with shapely)."""
    pts, nodes = [], set()
    ring = poly.boundary
    for u, v, _ in edges:
        line = LineString([xy[u], xy[v]])
        if line.distance(ring) > touch_m:
            continue
        inter = line.intersection(ring)
        if inter.is_empty:
            a, _ = shapely.ops.nearest_points(ring, line)
            pts.append((a.x, a.y))
        else:
            for c in shapely.get_coordinates(inter):
                pts.append((float(c[0]), float(c[1])))
    for n, (x, y) in xy.items():
        if poly.intersects(Point(x, y)):
            nodes.add(n)
    if not pts and not nodes:
        edges = all_edges if all_edges is not None else edges
        best = min(edges, key=lambda e: poly.distance(LineString([xy[e[0]], xy[e[1]]])))
        a, _ = shapely.ops.nearest_points(poly, LineString([xy[best[0]], xy[best[1]]]))
        pts.append((a.x, a.y))
    return pts, sorted(nodes)


# --------------------------------------------------------------------------- synthetic


def _district(folder, *, seed: int = 3):
    """A seeded Chinese-style district: a jittered street grid, a 500 × 400 m park with
    three gates and no street inside, a small park without gates, a gated compound
    polygon and scattered residents."""
    rng = np.random.default_rng(seed)
    n, step = 11, 100.0
    xy = {}
    for i in range(n):
        for j in range(n):
            xy[i * n + j] = (X0 + j * step + rng.uniform(-15, 15),
                             Y0 + i * step + rng.uniform(-15, 15))
    park_a = box(X0 + 150, Y0 + 150, X0 + 650, Y0 + 550)
    edges = []
    for i in range(n):
        for j in range(n):
            a = i * n + j
            for b in ([a + 1] if j + 1 < n else []) + ([a + n] if i + 1 < n else []):
                inside = park_a.contains(Point(xy[a])) and park_a.contains(Point(xy[b]))
                if inside or rng.uniform() < 0.08:
                    continue
                edges.append((a, b, math.dist(xy[a], xy[b])))
    g = nx.MultiDiGraph(crs=CRS)
    for k, (x, y) in xy.items():
        g.add_node(k, x=x, y=y)
    for u, v, w in edges:
        g.add_edge(u, v, length=w)
        g.add_edge(v, u, length=w)
    g.remove_nodes_from([k for k in list(g.nodes) if g.degree(k) == 0])
    import osmnx

    osmnx.save_graphml(g, folder / "walk.graphml")
    xy = {k: xy[k] for k in g.nodes}

    park_b = Polygon([(X0 + 720, Y0 + 720), (X0 + 880, Y0 + 700), (X0 + 860, Y0 + 870),
                      (X0 + 730, Y0 + 850)])
    parks = gpd.GeoDataFrame({"park_id": ["A", "B"], "area_m2": [2.0e5, 2.5e4]},
                             geometry=[park_a, park_b], crs=CRS)
    parks.to_file(folder / "parks.gpkg")
    gates = gpd.GeoDataFrame(
        {"park_id": ["A", "A", "A"]},
        geometry=[Point(X0 + 150, Y0 + 300), Point(X0 + 400, Y0 + 550), Point(X0 + 650, Y0 + 200)],
        crs=CRS,
    )
    gates.to_file(folder / "gates.gpkg")

    compound = box(X0 + 720, Y0 + 120, X0 + 980, Y0 + 400)  # 7.3 ha
    wide = box(X0 + 50, Y0 + 700, X0 + 400, Y0 + 950)
    px = rng.uniform(X0, X0 + 1000, 120)
    py = rng.uniform(Y0, Y0 + 1000, 120)
    keep = ~shapely.contains(park_a, shapely.points(px, py))
    geoms = [compound, wide, *shapely.points(px[keep], py[keep])]
    ids = ["c-compound", "c-wide", *[f"p{i}" for i in range(int(keep.sum()))]]
    cells = gpd.GeoDataFrame({"cell_id": ids, "population": rng.integers(5, 200, len(ids))},
                             geometry=geoms, crs=CRS)
    cells.to_file(folder / "cells.gpkg")
    cgates = gpd.GeoDataFrame(
        {"cell_id": ["c-compound", "c-compound"]},
        geometry=[Point(X0 + 720, Y0 + 260), Point(X0 + 850, Y0 + 400)], crs=CRS,
    )
    cgates.to_file(folder / "cgates.gpkg")
    data = {
        "name": "district",
        "crs": 32650,
        "snap": "edge",
        "min_component_nodes": 1,
        "population": {"path": "cells.gpkg", "id_field": "cell_id",
                       "entrances": {"path": "cgates.gpkg", "owner_field": "cell_id"}},
        "network": {"graphml": "walk.graphml"},
        "facilities": [{"path": "parks.gpkg", "id_field": "park_id", "kind": "park",
                        "tier": "all", "area_field": "area_m2",
                        "entrances": {"path": "gates.gpkg", "owner_field": "park_id"}}],
        "standards": {"park": {"all": {"walk_m": 300}}},
        "map": {"tiles": "none"},
    }
    return data, xy, edges, parks, gates, cells, cgates


def _reference_district(snap, xy, edges, parks, gates, cells, cgates):
    ref = Reference(xy, edges, snap)
    park_entries = {}
    for pid, poly in zip(parks["park_id"], parks.geometry, strict=True):
        mine = gates[gates["park_id"] == pid]
        if len(mine):
            keys = []
            for k, p in enumerate(mine.geometry):
                ref.add(("gate", pid, k), p.x, p.y)
                keys.append(("gate", pid, k))
        else:
            pts, nodes = boundary_entry_points(poly, xy, ref.edge_list)
            keys = []
            for k, (x, y) in enumerate(pts):
                ref.add(("bnd", pid, k), x, y)
                keys.append(("bnd", pid, k))
            keys += [("node", nd) for nd in nodes]
        park_entries[pid] = keys
    cell_entries = {}
    for cid, geom in zip(cells["cell_id"], cells.geometry, strict=True):
        mine = cgates[cgates["cell_id"] == cid]
        pts = list(mine.geometry) if len(mine) else [geom.representative_point()]
        cell_entries[cid] = [("cell", cid, k) for k in range(len(pts))]
        for k, p in enumerate(pts):
            ref.add(("cell", cid, k), p.x, p.y)
    ref.build()
    per_park = {}
    for pid, keys in park_entries.items():
        d = ref.from_entries(keys)
        per_park[pid] = {cid: min(d.get(("pt", e), np.inf) for e in es)
                         for cid, es in cell_entries.items()}
    snap_m = {cid: min(ref.conn[e] for e in es) for cid, es in cell_entries.items()}
    return pd.DataFrame(per_park), pd.Series(snap_m)


@pytest.mark.parametrize("snap", ["edge", "node"])
def test_district_distances_equal_networkx(tmp_path, snap):
    data, xy, edges, parks, gates, cells, cgates = _district(tmp_path)
    data["snap"] = snap
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    per_park, snap_ref = _reference_district(snap, xy, edges, parks, gates, cells, cgates)
    got = res.demand.set_index("cell_id")
    ref = per_park.min(axis=1).reindex(got.index)
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(got["dist_park_all"].to_numpy(), ref.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(got["snap_m"].to_numpy(), snap_ref.reindex(got.index), atol=1e-6)
    # the gated compound is nearer than its interior point would be
    assert got.loc["c-compound", "dist_park_all"] < per_park.loc["c-compound"].min() + 1e-6
    # 2SFCA goes through the sites × cells matrix: check it against the reference too
    thr = 300 + 1e-6
    pop = cells.set_index("cell_id")["population"].reindex(got.index).to_numpy(float)
    area = parks.set_index("park_id")["area_m2"]
    sfca = np.zeros(len(got))
    for pid in per_park.columns:
        within = per_park[pid].reindex(got.index).to_numpy() <= thr
        if pop[within].sum() > 0:
            sfca += np.where(within, area[pid] / pop[within].sum(), 0.0)
    np.testing.assert_allclose(got["sfca_park_all"].to_numpy(), sfca, rtol=1e-9)
    # the wide polygon without entrances is named in a warning; the compound is not
    warns = [w for w in res.summary["warnings"] if "population polygons wider" in w]
    assert len(warns) == 1 and warns[0].startswith("1 population polygons wider than 75 m")
    assert "population.entrances" in warns[0]


def test_gates_replace_boundary_entry(tmp_path):
    """Park A with gates is entered only at its gates: a resident on the street that runs
    along its boundary walks to the nearest gate, not 0 m."""
    data, xy, edges, parks, gates, cells, cgates = _district(tmp_path)
    res_gates = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    data["facilities"][0].pop("entrances")
    res_bnd = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    a = res_gates.demand["dist_park_all"].to_numpy()
    b = res_bnd.demand["dist_park_all"].to_numpy()
    assert (b <= a + 1e-9).all() and (b < a - 1.0).any()


def test_polygon_park_reached_at_its_edge(tmp_path):
    """A park whose interior point is far from every path is reached at its boundary
    (the issue's lake park): distances stay finite, and equal the reference."""
    data, xy, edges, parks, gates, cells, cgates = _district(tmp_path)
    data["facilities"][0].pop("entrances")
    data["max_snap_m"] = 60
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    # park A's interior point is > 60 m from any street, so one interior point would
    # leave it unreachable; at the boundary every cell reaches it
    centre = parks.geometry[0].representative_point()
    lines = [LineString([xy[u], xy[v]]) for u, v, _ in edges]
    assert min(line.distance(centre) for line in lines) > 60
    no_gates = gates.iloc[:0]
    per_park, _ = _reference_district("edge", xy, edges, parks, no_gates, cells, cgates)
    got = res.demand.set_index("cell_id")
    snap_ok = got["snap_m"].notna()
    ref = per_park.min(axis=1).reindex(got.index)
    np.testing.assert_allclose(got.loc[snap_ok, "dist_park_all"], ref[snap_ok], atol=1e-6)


def test_unknown_owner_is_an_error_naming_rows(tmp_path):
    data, *_ = _district(tmp_path)
    bad = gpd.GeoDataFrame({"park_id": ["A", "Z", "A", "Q"]},
                           geometry=[Point(X0 + 150, Y0 + 300)] * 4, crs=CRS)
    bad.to_file(tmp_path / "bad.gpkg")
    data["facilities"][0]["entrances"]["path"] = "bad.gpkg"
    with pytest.raises(InputError) as err:
        facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    assert err.value.rows == [2, 4]
    assert "park_id" in str(err.value) and "bad.gpkg" in str(err.value)


def test_long_connectors_are_counted(tmp_path):
    data, *_ = _district(tmp_path)
    far = gpd.GeoDataFrame({"cell_id": ["far"], "population": [10]},
                           geometry=[Point(X0 + 500, Y0 + 1300)], crs=CRS)
    cells = gpd.read_file(tmp_path / "cells.gpkg")
    pd.concat([cells, far]).pipe(gpd.GeoDataFrame, crs=CRS).to_file(tmp_path / "cells.gpkg")
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    w = [x for x in res.summary["warnings"] if "longer than 200 m" in x]
    assert len(w) == 1 and w[0].startswith("1 cells ") and "snap_m" in w[0]
    assert res.demand.set_index("cell_id").loc["far", "snap_m"] > 200


def test_candidates_snap_m_written(tmp_path):
    import json

    data, xy, edges, parks, *_ = _district(tmp_path)
    cand = gpd.GeoDataFrame({"site_id": ["s1", "s2"], "cost": [1.0, 1.0]},
                            geometry=[box(X0 + 300, Y0 + 720, X0 + 340, Y0 + 760),
                                      Point(X0 + 505, Y0 + 905)], crs=CRS)
    cand.to_file(tmp_path / "cand.gpkg")
    data["candidates"] = [{"path": "cand.gpkg", "id_field": "site_id", "kind": "park",
                           "tier": "all", "cost_field": "cost"}]
    data["optimize"] = [{"kind": "park", "tier": "all", "model": "mclp", "sites": 1}]
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    out = res.write(tmp_path / "run")
    feats = json.loads((out / "candidates.geojson").read_text())["features"]
    snap = {f["properties"]["site_id"]: f["properties"]["snap_m"] for f in feats}
    ref = Reference(xy, edges, "edge")
    pts, nodes = boundary_entry_points(cand.geometry[0], xy, ref.edge_list)
    for k, (x, y) in enumerate(pts):
        ref.add(k, x, y)
    ref.add("s2", X0 + 505, Y0 + 905)
    ref.build()
    s1 = 0.0 if nodes else min(ref.conn[k] for k in range(len(pts)))
    assert snap["s1"] == pytest.approx(s1, abs=1e-4)  # GeoJSON keeps 4 decimals
    assert snap["s2"] == pytest.approx(ref.conn["s2"], abs=1e-4)
    sites = json.loads((out / "sites.geojson").read_text())["features"]
    assert all("snap_m" in f["properties"] for f in sites)


# --------------------------------------------------------------------------- real OSM


@pytest.fixture(scope="module")
def liechtenstein(tmp_path_factory):
    """Liechtenstein's leisure=park polygons, the barrier=gate / entrance nodes on their
    outlines (the gates' owner: the park they lie on), and seeded residents around."""
    import pyrosm

    pbf = shared_file("liechtenstein", "liechtenstein.osm.pbf")
    folder = tmp_path_factory.mktemp("li")
    osm = pyrosm.OSM(str(pbf))
    parks = osm.get_data_by_custom_criteria(
        {"leisure": ["park"]}, keep_nodes=False, keep_ways=True, keep_relations=True)
    parks = gpd.GeoDataFrame({"park_id": parks["id"].astype(str)},
                             geometry=parks.geometry.values, crs=4326)
    gates = osm.get_data_by_custom_criteria(
        {"barrier": ["gate", "entrance"], "entrance": True}, keep_nodes=True,
        keep_ways=False, keep_relations=False)
    utm = parks.estimate_utm_crs()
    pu, gu = parks.to_crs(utm), gates.to_crs(utm)
    j = gpd.sjoin_nearest(gu[["geometry"]], pu, max_distance=1.0, how="inner")
    gates = gpd.GeoDataFrame({"park_id": j["park_id"].to_numpy()},
                             geometry=gates.geometry.values[j.index.to_numpy()], crs=4326)
    parks.to_file(folder / "parks.geojson", driver="GeoJSON")
    gates.to_file(folder / "gates.geojson", driver="GeoJSON")
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = pu.total_bounds
    x = rng.uniform(minx - 500, maxx + 500, 250)
    y = rng.uniform(miny - 500, maxy + 500, 250)
    lon, lat = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=utm).to_crs(4326).pipe(
        lambda s: (s.x, s.y))
    pd.DataFrame({"id": [f"r{i}" for i in range(250)], "lon": lon, "lat": lat,
                  "population": 1}).to_csv(folder / "people.csv", index=False)
    data = {
        "name": "li-parks", "crs": "auto", "snap": "node", "min_component_nodes": 1,
        "max_snap_m": 100000,
        "population": {"path": "people.csv", "lon": "lon", "lat": "lat", "id_field": "id"},
        "network": {"pbf": str(pbf)},
        "facilities": [{"path": "parks.geojson", "id_field": "park_id", "kind": "park",
                        "tier": "all",
                        "entrances": {"path": "gates.geojson", "owner_field": "park_id"}}],
        "standards": {"park": {"all": {"walk_m": 500}}},
        "map": {"tiles": "none"},
    }
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    return pbf, parks, gates, res, folder


def test_liechtenstein_parks_equal_networkx(liechtenstein):
    """Real parks: two are entered at their OSM gates only, the others at their
    boundary (crossing points and nodes inside); distances equal networkx."""
    import pyrosm
    from pyproj import Transformer

    pbf, parks, gates, res, folder = liechtenstein
    assert gates["park_id"].nunique() >= 2 and len(parks) >= 10
    crs = res.summary["crs"]
    nodes, edges = pyrosm.OSM(str(pbf)).get_network(network_type="walking", nodes=True)
    tr = Transformer.from_crs(4326, crs, always_xy=True)
    nx_, ny_ = tr.transform(nodes["lon"].to_numpy(), nodes["lat"].to_numpy())
    xy = dict(zip(nodes["id"].to_numpy().tolist(), zip(nx_, ny_, strict=True), strict=True))
    elist = [(int(u), int(v), float(w)) for u, v, w in
             zip(edges["u"], edges["v"], edges["length"], strict=True)]
    ref = Reference(xy, elist, "node")
    xy = {n: xy[n] for n in ref.base.nodes}
    entries = []
    pu = parks.to_crs(crs)
    gu = gates.to_crs(crs)
    # only the edges near the parks matter for their boundaries (keeps the loop short)
    near = pu.buffer(5).union_all()
    close = [e for e in ref.edge_list
             if near.intersects(LineString([xy[e[0]], xy[e[1]]]))]
    for pid, poly in zip(pu["park_id"], pu.geometry, strict=True):
        mine = gu[gu["park_id"] == pid]
        if len(mine):
            for k, p in enumerate(mine.geometry):
                ref.add(("g", pid, k), p.x, p.y)
                entries.append(("g", pid, k))
            continue
        pts, inside = boundary_entry_points(poly, xy, close, all_edges=ref.edge_list)
        for k, (x, y) in enumerate(pts):
            ref.add(("b", pid, k), x, y)
            entries.append(("b", pid, k))
        entries += [("node", n) for n in inside]
    people = pd.read_csv(folder / "people.csv")
    px, py = tr.transform(people["lon"].to_numpy(), people["lat"].to_numpy())
    for i, x, y in zip(people["id"], px, py, strict=True):
        ref.add(("c", i), x, y)
    ref.build()
    d = ref.from_entries(entries)
    want = pd.Series([d.get(("pt", ("c", i)), np.nan) for i in people["id"]],
                     index=people["id"])
    got = res.demand.set_index("cell_id")["dist_park_all"].reindex(want.index)
    assert (np.isnan(got) == np.isnan(want)).all()
    err = np.nanmax(np.abs(got.to_numpy() - want.to_numpy()))
    assert err <= 1e-6, err


# --------------------------------------------------------------------------- combined


def test_chinese_district_end_to_end(tmp_path):
    """The issue's district: overlapping community fences from a GBK Shapefile without
    .cpg, a compound split by them whose pieces use the gates in their own community, a
    compound entered at its buildings, the gated park, and clinics from a BD-09 POI CSV.
    Distances equal the networkx reference; the population total is kept exactly."""
    from facplan.io.coords import wgs84_to_bd09

    data, xy, edges, parks, gates, cells, cgates = _district(tmp_path)
    # communities: west (x < 800) and east (x > 600) overlap on 600..800; GBK names
    comm = gpd.GeoDataFrame(
        {"sqdm": ["E", "W"], "sqmc": ["东区", "西区"]},
        geometry=[box(X0 + 600, Y0 - 50, X0 + 1050, Y0 + 1050),
                  box(X0 - 50, Y0 - 50, X0 + 800, Y0 + 1050)], crs=CRS)
    comm.to_file(tmp_path / "comm.shp", encoding="gbk")
    (tmp_path / "comm.cpg").unlink()
    # the overlap x 600..800 belongs to E ("E" < "W"); a compound straddling x = 600 is
    # split into a W piece (560..600, gate at 570) and an E piece (600..700, gate at 690)
    split = box(X0 + 560, Y0 + 600, X0 + 700, Y0 + 680)
    bld = gpd.GeoDataFrame(
        {"cell_id": ["c-split", "c-split", "c-wide", "c-wide"]},
        geometry=[Point(X0 + 570, Y0 + 640), Point(X0 + 690, Y0 + 610),
                  box(X0 + 100, Y0 + 760, X0 + 130, Y0 + 790),
                  box(X0 + 300, Y0 + 900, X0 + 340, Y0 + 930)], crs=CRS)
    ents = pd.concat([cgates.assign(kind="gate"), bld.assign(kind="building")])
    gpd.GeoDataFrame(ents, crs=CRS).to_file(tmp_path / "entrances.gpkg")
    cells = pd.concat([cells, gpd.GeoDataFrame({"cell_id": ["c-split"], "population": [140]},
                                               geometry=[split], crs=CRS)])
    cells = gpd.GeoDataFrame(cells, crs=CRS)
    cells.to_file(tmp_path / "cells.gpkg")
    rng = np.random.default_rng(5)
    cx, cy = rng.uniform(X0, X0 + 1000, 6), rng.uniform(Y0, Y0 + 1000, 6)
    wgs = gpd.GeoSeries(gpd.points_from_xy(cx, cy), crs=CRS).to_crs(4326)
    blon, blat = wgs84_to_bd09(wgs.x.to_numpy(), wgs.y.to_numpy())
    pd.DataFrame({"uid": [f"k{i}" for i in range(6)], "lng": blon, "lat": blat}).to_csv(
        tmp_path / "clinics_bd09.csv", index=False)
    data["communities"] = {"path": "comm.shp", "id_field": "sqdm", "name_field": "sqmc"}
    data["population"]["entrances"]["path"] = "entrances.gpkg"
    data["facilities"].append({"path": "clinics_bd09.csv", "lon": "lng", "lat": "lat",
                               "coords": "bd09", "id_field": "uid", "kind": "clinic",
                               "tier": "all"})
    data["standards"]["clinic"] = {"all": {"walk_m": 500}}
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))

    assert res.communities.set_index("community_id")["name"].to_dict() == {
        "E": "东区", "W": "西区"}
    assert any("encoding: gbk" in w for w in res.summary["warnings"])
    assert any(w.startswith("1 pairs of communities overlap (") for w in res.summary["warnings"])
    assert res.summary["population_total"] == pytest.approx(float(cells["population"].sum()))
    d = res.demand
    pieces = d[d["cell_id"] == "c-split"]
    assert sorted(pieces["community_id"]) == ["E", "W"]
    assert pieces["population"].sum() == pytest.approx(140.0)

    # reference: each piece enters at the entrances in its own community
    ref = Reference(xy, edges, "edge")
    for k, p in enumerate(gates.geometry):
        ref.add(("gate", k), p.x, p.y)
    park_b = parks.geometry[1]
    pts, nodes = boundary_entry_points(park_b, xy, ref.edge_list)
    for k, (x, y) in enumerate(pts):
        ref.add(("bnd", k), x, y)
    clinic_xy = list(zip(cx, cy, strict=True))
    for k, (x, y) in enumerate(clinic_xy):
        ref.add(("clinic", k), x, y)
    entry_of = {}
    for _, row in d.iterrows():
        cid, comm_id = row["cell_id"], row["community_id"]
        mine = ents[ents["cell_id"] == cid]
        if len(mine):
            own = comm.set_index("sqdm").geometry[comm_id]
            if comm_id == "W":  # the overlap is E's ("E" < "W")
                own = own.difference(comm.set_index("sqdm").geometry["E"])
            in_comm = [g for g in mine.geometry if own.intersects(g.representative_point())]
            pts_ = [g.representative_point() for g in (in_comm or list(mine.geometry))]
        else:
            geom = cells.set_index("cell_id").geometry[cid]
            pts_ = [geom.representative_point()]
        entry_of[(cid, comm_id)] = []
        for k, p in enumerate(pts_):
            key = ("cell", cid, comm_id, k)
            ref.add(key, p.x, p.y)
            entry_of[(cid, comm_id)].append(key)
    ref.build()
    park = ref.from_entries([("gate", k) for k in range(len(gates))]
                            + [("bnd", k) for k in range(len(pts))]
                            + [("node", n) for n in nodes])
    clinic = ref.from_entries([("clinic", k) for k in range(len(clinic_xy))])
    for _, row in d.iterrows():
        keys = entry_of[(row["cell_id"], row["community_id"])]
        want_p = min(park.get(("pt", k), np.inf) for k in keys)
        want_c = min(clinic.get(("pt", k), np.inf) for k in keys)
        assert row["dist_park_all"] == pytest.approx(want_p, abs=1e-3), row["cell_id"]
        assert row["dist_clinic_all"] == pytest.approx(want_c, abs=1e-3), row["cell_id"]
    # the split compound's pieces used different gates: their distances differ
    assert pieces["dist_park_all"].nunique() == 2


def test_validate_reports_unknown_owner(tmp_path):
    from facplan.validate import validate_inputs

    data, *_ = _district(tmp_path)
    bad = gpd.GeoDataFrame({"cell_id": ["nobody"]}, geometry=[Point(X0, Y0)], crs=CRS)
    bad.to_file(tmp_path / "bad_gates.gpkg")
    data["population"]["entrances"]["path"] = "bad_gates.gpkg"
    problems = validate_inputs(scenario_from_dict(data, base_dir=tmp_path))
    assert len(problems) == 1 and "'nobody'" in problems[0] and "bad_gates.gpkg" in problems[0]
