"""The bad-input corpus: every input that cannot be right is one clear error.

DESIGN, *Semantics*: malformed or unknown keys, missing files/fields, empty layers, bad
values, null or invalid geometry, no CRS, a geographic CRS where metres are needed,
duplicate ids, no reachable cell and no usable candidate at all are **errors** — exit
code 2, one message naming the file, key or field and the offending rows (the first few
plus a count), no traceback, nothing written. Partial problems (a network in pieces,
cells beyond the snap distance, unaffordable sites, a community without candidates) are
**warnings**: the run completes and the summary counts them.

Each corpus case is ``Case(id, mutate, words)``: ``mutate(folder, data)`` breaks the
synthetic grid city (:func:`facplan.testing.grid_city`) — its files or its scenario dict —
and ``words`` must all appear in the message. Every case runs through the Python entry
points the CLI uses (``load_scenario`` → ``run`` → ``Result.write``); the cases marked
``cli=True`` also run through the real ``facplan`` command in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

import facplan
from facplan import FacplanWarning, InputError
from facplan.testing import GRID_CRS, grid_city, grid_graph, node_xy, write_scenario

Mutate = Callable[[Path, dict], "Path | None"]


@dataclass(frozen=True)
class Case:
    """One bad input: ``mutate`` breaks the city; the message must contain ``words``."""

    id: str
    mutate: Mutate
    words: tuple[str, ...]
    cli: bool = False
    marks: tuple = ()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict]:
    """The grid city written once; each test copies it (files are small)."""
    folder = tmp_path_factory.mktemp("template")
    return folder, grid_city(folder)


@pytest.fixture
def town(template, tmp_path) -> tuple[Path, dict]:
    """A fresh copy of the grid city in ``tmp_path/city``: (folder, scenario dict)."""
    src, data = template
    folder = tmp_path / "city"
    shutil.copytree(src, folder)
    return folder, json.loads(json.dumps(data))


# --------------------------------------------------------------------------- mutators


def _walk(data: Any, key: str) -> tuple[Any, str | int]:
    *parents, last = key.split(".")
    node = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    return node, int(last) if isinstance(node, list) else last


def _set(key: str, value: Any) -> Mutate:
    """Set a scenario key (dotted path, list positions as numbers)."""

    def mutate(folder: Path, data: dict) -> None:
        node, last = _walk(data, key)
        node[last] = value

    return mutate


def _drop(key: str) -> Mutate:
    """Remove a scenario key."""

    def mutate(folder: Path, data: dict) -> None:
        node, last = _walk(data, key)
        del node[last]

    return mutate


def _both(*mutators: Mutate) -> Mutate:
    def mutate(folder: Path, data: dict) -> Path | None:
        path = None
        for m in mutators:
            path = m(folder, data) or path
        return path

    return mutate


def _yaml(text: str) -> Mutate:
    """Replace the scenario file by raw text."""

    def mutate(folder: Path, data: dict) -> Path:
        path = folder / "scenario.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return mutate


def _bytes(name: str, content: bytes) -> Mutate:
    """Overwrite a file with raw bytes."""

    def mutate(folder: Path, data: dict) -> Path | None:
        (folder / name).write_bytes(content)
        return folder / name if name.endswith(".yaml") else None

    return mutate


def _layer(name: str, edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]) -> Mutate:
    """Read a GeoPackage of the city, edit it, write it back."""

    def mutate(folder: Path, data: dict) -> None:
        path = folder / name
        gdf = edit(gpd.read_file(path))
        path.unlink()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyogrio warns on layers without a CRS
            gdf.to_file(path)

    return mutate


def _values(column: str, rows: list[int], value: Any) -> Callable:
    def edit(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        gdf[column] = gdf[column].astype(object) if isinstance(value, str) else gdf[column]
        gdf.loc[rows, column] = value
        return gdf

    return edit


def _geometry(rows: list[int], geom: Any) -> Callable:
    def edit(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        gdf.loc[rows, "geometry"] = geom
        return gdf

    return edit


def _shift(rows: list[int], dx: float, dy: float = 0.0) -> Callable:
    def edit(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        gdf.loc[rows, "geometry"] = gdf.geometry.iloc[rows].translate(dx, dy).to_numpy()
        return gdf

    return edit


def _no_crs(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(gdf.drop(columns="geometry"), geometry=list(gdf.geometry), crs=None)


def _relabel_crs(epsg: int) -> Callable:
    """Claim a wrong CRS for the same numbers (a mismatched CRS)."""
    return lambda gdf: gdf.set_crs(epsg, allow_override=True)


def _empty(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.iloc[:0]


def _bowtie(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    x0, y0 = node_xy(0, 0)
    bow = Polygon([(x0 - 50, y0 - 50), (x0 + 350, y0 + 750), (x0 + 350, y0 - 50),
                   (x0 - 50, y0 + 750)])
    gdf.loc[0, "geometry"] = bow
    return gdf


def _graph(edit: Callable | None = None, *, crs: str | None = GRID_CRS) -> Mutate:
    """Rewrite the city's GraphML after ``edit(graph)``."""

    def mutate(folder: Path, data: dict) -> None:
        import osmnx as ox

        g = grid_graph(8)
        if edit is not None:
            g = edit(g) or g
        if crs is None:
            g.graph.pop("crs", None)
        else:
            g.graph["crs"] = crs
        ox.save_graphml(g, folder / "walk.graphml")

    return mutate


def _edge_attr(attr: str, value: Any, n: int) -> Callable:
    def edit(g):
        for u, v, key in list(g.edges(keys=True))[:n]:
            if value is None:
                del g.edges[u, v, key][attr]
            else:
                g.edges[u, v, key][attr] = value

    return edit


def _no_edges(g):
    g.remove_edges_from(list(g.edges(keys=True)))


def _population_csv(*, swap: bool = False, projected: bool = False) -> Mutate:
    """Population as a CSV of points (lon/lat), optionally with the columns swapped or
    with projected metres where degrees are expected."""

    def mutate(folder: Path, data: dict) -> None:
        pop = gpd.read_file(folder / "population.gpkg")
        pts = pop.geometry if projected else pop.geometry.to_crs(4326)
        pd.DataFrame(
            {"cell_id": pop["cell_id"], "lon": pts.x, "lat": pts.y,
             "population": pop["population"]}
        ).to_csv(folder / "population.csv", index=False)
        data["population"] = {
            "path": "population.csv", "lon": "lat" if swap else "lon",
            "lat": "lon" if swap else "lat", "field": "population", "id_field": "cell_id",
        }

    return mutate


def _no_facility_reachable(folder: Path, data: dict) -> None:
    """Two halves of the grid; the only facility in the east, all people in the west."""
    _graph(_split_grid)(folder, data)
    _layer("facilities.gpkg", _geometry([0], Point(*node_xy(0, 7))))(folder, data)
    _layer("population.gpkg", lambda g: g[g.geometry.x < node_xy(0, 4)[0]])(folder, data)
    data.pop("candidates")
    data.pop("optimize")


def _split_grid(g):
    """Cut every edge between columns 3 and 4 (two components of 32 nodes)."""
    n = 8
    for i in range(n):
        a, b = i * n + 3, i * n + 4
        g.remove_edges_from([(a, b, 0), (b, a, 0)])


def _second_facility_file(folder: Path, data: dict) -> None:
    shutil.copy(folder / "facilities.gpkg", folder / "facilities2.gpkg")
    data["facilities"].append(dict(data["facilities"][0], path="facilities2.gpkg"))


def _directory(name: str) -> Mutate:
    def mutate(folder: Path, data: dict) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return mutate


def _unreadable(name: str) -> Mutate:
    def mutate(folder: Path, data: dict) -> None:
        os.chmod(folder / name, 0)

    return mutate


def _python_tag(folder: Path, data: dict) -> Path:
    marker = folder / "pwned"
    path = write_scenario(folder, data)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "name: grid-city", f"name: !!python/object/apply:os.system ['touch {marker}']"
    )
    path.write_text(text, encoding="utf-8")
    return path


def _every_nan(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf["population"] = np.nan
    return gdf


ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
as_root = pytest.mark.skipif(ROOT, reason="root reads files whatever their permissions")



# --------------------------------------------------------------------------- the corpus

CASES: list[Case] = [
    # ---- scenario file ----------------------------------------------------------------
    Case("yaml-malformed", _yaml("name: x\npopulation: {path: a.gpkg\nnetwork: [\n"),
         ("scenario.yaml", "not valid YAML", "line"), cli=True),
    Case("yaml-bad-indent", _yaml("name: x\n  population:\n path: a\n"),
         ("scenario.yaml", "not valid YAML", "line 2")),
    Case("yaml-python-tag", _python_tag, ("scenario.yaml", "python/object"), cli=True),
    Case("yaml-empty", _yaml(""), ("scenario.yaml", "empty")),
    Case("yaml-not-a-mapping", _yaml("- name: x\n- population: y\n"),
         ("scenario.yaml", "mapping")),
    Case("yaml-not-utf8", _bytes("scenario.yaml", b"name: \xff\xfe\x00grid\n"),
         ("scenario.yaml", "cannot read")),
    Case("scenario-missing",
         lambda folder, data: folder / "no-such-scenario.yaml",
         ("no-such-scenario.yaml", "not found"), cli=True),
    Case("unknown-key-misspelled", _both(lambda f, d: d.update(populaton=d["population"])),
         ("unknown key 'populaton'",), cli=True),
    Case("unknown-nested-key", _set("population.feild", "people"),
         ("unknown key 'population.feild'",)),
    Case("unknown-optimize-key", _set("optimize.0.site", 3),
         ("unknown key 'optimize.0.site'",)),
    Case("missing-key-network", _drop("network"), ("missing key 'network'",)),
    Case("missing-key-name", _drop("name"), ("missing key 'name'",)),
    Case("wrong-type-walk-speed", _set("walk_speed_m_s", "fast"),
         ("walk_speed_m_s", "'fast'")),
    Case("wrong-type-population", _set("population", "population.gpkg"), ("population",)),
    Case("negative-max-snap", _set("max_snap_m", -5), ("max_snap_m", "-5")),
    Case("bad-snap-mode", _set("snap", "vertex"), ("snap", "'vertex'")),
    Case("crs-not-a-code", _set("crs", "wgs84"), ("crs", "EPSG code", "'wgs84'")),
    Case("crs-geographic-wgs84", _set("crs", 4326),
         ("crs", "EPSG:4326", "geographic", "metres"), cli=True),
    Case("crs-geographic-cgcs2000", _set("crs", "EPSG:4490"), ("crs", "4490", "geographic")),
    Case("crs-unknown-code", _set("crs", 999999), ("crs", "999999")),
    Case("standards-negative-walk", _set("standards", {"sports_park": {"compound": {"walk_m": -1}}}),
         ("standards.sports_park.compound.walk_m",)),
    Case("standards-walk-m-and-min",
         _set("standards", {"sports_park": {"compound": {"walk_m": 300, "walk_min": 5}}}),
         ("standards.sports_park.compound", "not both")),
    Case("map-unknown-language", _set("map.lang", "fr"), ("map.lang", "'fr'")),
    # ---- population -------------------------------------------------------------------
    Case("population-file-missing", _set("population.path", "nowhere.gpkg"),
         ("population.path", "nowhere.gpkg", "not found")),
    Case("population-file-garbage", _bytes("population.gpkg", b"\x00\x01 not a geopackage"),
         ("population.gpkg", "cannot read")),
    Case("population-file-is-folder", _directory("population.gpkg"),
         ("population.gpkg", "cannot read")),
    Case("population-file-unreadable", _unreadable("population.gpkg"),
         ("population.gpkg", "cannot read"), marks=(as_root,)),
    Case("population-field-missing", _set("population.field", "people"),
         ("population.gpkg", "no field 'people'", "population.field")),
    Case("population-id-field-missing", _set("population.id_field", "cid"),
         ("population.gpkg", "no field 'cid'")),
    Case("population-negative", _layer("population.gpkg", _values("population", [3, 9], -5.0)),
         ("population.gpkg", "'population'", "negative", "rows 4, 10"), cli=True),
    Case("population-nan", _layer("population.gpkg", _values("population", [0], np.nan)),
         ("population.gpkg", "'population'", "missing", "row 1")),
    Case("population-nan-many", _layer("population.gpkg", _every_nan),
         ("population.gpkg", "'population'", "64 values", "rows 1, 2, 3, 4, 5 and 59 more")),
    Case("population-infinite", _layer("population.gpkg", _values("population", [5], np.inf)),
         ("population.gpkg", "'population'", "infinite", "row 6")),
    Case("population-text", _layer("population.gpkg", _values("population", [2], "many")),
         ("population.gpkg", "'population'", "not numbers", "'many'", "row 3")),
    Case("population-duplicate-ids", _layer("population.gpkg", _values("cell_id", [1, 7], "p0_0")),
         ("population.gpkg", "'cell_id'", "duplicate", "rows 1, 2, 8")),
    Case("population-empty", _layer("population.gpkg", _empty), ("population.gpkg", "empty")),
    Case("population-null-geometry", _layer("population.gpkg", _geometry([1, 4], None)),
         ("population.gpkg", "geometry", "rows 2, 5")),
    Case("population-no-crs", _layer("population.gpkg", _no_crs), ("population.gpkg", "no CRS")),
    Case("population-mismatched-crs", _layer("population.gpkg", _relabel_crs(32636)),
         ("population.gpkg", "community")),
    Case("population-csv-lonlat-swapped", _population_csv(swap=True),
         ("population.csv", "community")),
    Case("population-csv-lonlat-swapped-no-communities",
         _both(_population_csv(swap=True), _drop("communities")),
         ("population.csv", "max_snap_m", "lon/lat")),
    Case("population-csv-metres-as-degrees", _population_csv(projected=True),
         ("population.csv", "out of range", "rows 1, 2, 3, 4, 5 and 59 more")),
    # ---- communities ------------------------------------------------------------------
    Case("communities-file-missing", _set("communities.path", "gone.gpkg"),
         ("communities.path", "gone.gpkg")),
    Case("communities-id-field-missing", _set("communities.id_field", "code"),
         ("communities.gpkg", "no field 'code'", "communities.id_field")),
    Case("communities-duplicate-ids", _layer("communities.gpkg", _values("cid", [1], "west")),
         ("communities.gpkg", "'cid'", "duplicate", "rows 1, 2")),
    Case("communities-self-intersecting", _layer("communities.gpkg", _bowtie),
         ("communities.gpkg", "geometry", "invalid", "Self-intersection", "row 1"), cli=True),
    Case("communities-points", _layer("communities.gpkg", lambda g: g.set_geometry(g.centroid)),
         ("communities.gpkg", "polygons", "rows 1, 2")),
    Case("communities-empty", _layer("communities.gpkg", _empty), ("communities.gpkg", "empty")),
    Case("communities-no-crs", _layer("communities.gpkg", _no_crs),
         ("communities.gpkg", "no CRS")),
    Case("communities-mismatched-crs", _layer("communities.gpkg", _relabel_crs(32636)),
         ("population.gpkg", "community", "CRS")),
    # ---- network ----------------------------------------------------------------------
    Case("network-file-missing", _set("network.graphml", "missing.graphml"),
         ("network.graphml", "missing.graphml"), cli=True),
    Case("network-pbf-and-graphml", _set("network.pbf", "walk.graphml"),
         ("network", "exactly one")),
    Case("network-graphml-garbage", _bytes("walk.graphml", b"<graphml><node"),
         ("walk.graphml", "GraphML")),
    Case("network-pbf-garbage",
         _both(_bytes("city.osm.pbf", b"\x00\x00\x00\x0dnot a pbf at all"),
               _set("network", {"pbf": "city.osm.pbf"})),
         ("city.osm.pbf", "PBF")),
    Case("network-no-edges", _graph(_no_edges), ("walk.graphml", "no edges")),
    Case("network-length-missing", _graph(_edge_attr("length", None, 2)),
         ("walk.graphml", "'length'", "2 edges", "rows 1, 2"),
         ),
    Case("network-length-negative", _graph(_edge_attr("length", -100.0, 1)),
         ("walk.graphml", "'length'", "negative", "row 1"),
         ),
    Case("network-no-crs", _graph(crs=None), ("walk.graphml", "crs")),
    Case("network-mismatched-crs", _graph(crs="EPSG:32636"),
         ("population.gpkg", "max_snap_m", "network")),
    Case("network-only-small-pieces", _set("min_component_nodes", 100),
         ("walk.graphml", "min_component_nodes", "64"),
         ),
    Case("network-no-cell-reaches-a-facility", _no_facility_reachable,
         ("no population cell can reach any facility", "facilities.gpkg", "walk.graphml"),
         ),
    # ---- facilities -------------------------------------------------------------------
    Case("facilities-file-missing", _set("facilities.0.path", "parks.gpkg"),
         ("facilities.0.path", "parks.gpkg")),
    Case("facilities-unknown-tier", _layer("facilities.gpkg", _values("tier", [0], "huge")),
         ("facilities.gpkg", "'tier'", "'huge'", "row 1"), cli=True),
    Case("facilities-no-kind", _layer("facilities.gpkg", _values("kind", [0], "")),
         ("facilities.gpkg", "'kind'", "no kind", "row 1")),
    Case("facilities-kind-and-kind-field", _set("facilities.0.kind", "sports_park"),
         ("facilities.0", "kind")),
    Case("facilities-area-field-missing", _set("facilities.0.area_field", "size"),
         ("facilities.gpkg", "no field 'size'")),
    Case("facilities-area-text", _layer("facilities.gpkg", _values("area_m2", [0], "big")),
         ("facilities.gpkg", "'area_m2'", "'big'", "row 1")),
    Case("facilities-null-geometry", _layer("facilities.gpkg", _geometry([0], None)),
         ("facilities.gpkg", "geometry", "row 1")),
    Case("facilities-empty", _layer("facilities.gpkg", _empty), ("facilities.gpkg", "empty")),
    Case("facilities-duplicate-across-files", _second_facility_file,
         ("facilities.gpkg", "facilities2.gpkg", "duplicate", "f1", "row 1"),
         ),
    Case("facilities-not-a-list", _set("facilities", "facilities.gpkg"), ("facilities",)),
    # ---- candidates -------------------------------------------------------------------
    Case("candidates-file-missing", _set("candidates.path", "sites.gpkg"),
         ("candidates", "sites.gpkg", "not found")),
    Case("candidates-cost-field-missing", _set("candidates.cost_field", "price"),
         ("candidates.gpkg", "no field 'price'", "candidates.cost_field")),
    Case("candidates-negative-cost", _layer("candidates.gpkg", _values("cost", [2], -1.0)),
         ("candidates.gpkg", "'cost'", "negative", "row 3")),
    Case("candidates-nan-cost", _layer("candidates.gpkg", _values("cost", [0, 1], np.nan)),
         ("candidates.gpkg", "'cost'", "missing", "rows 1, 2")),
    Case("candidates-duplicate-ids", _layer("candidates.gpkg", _values("site_id", [3], "s0_1")),
         ("candidates.gpkg", "'site_id'", "duplicate", "rows 1, 4")),
    Case("candidates-unknown-tier", _layer("candidates.gpkg", _values("tier", [4], "mega")),
         ("candidates.gpkg", "'tier'", "'mega'", "row 5")),
    Case("candidates-self-intersecting",
         _layer("candidates.gpkg", _geometry([2], Polygon([(0, 0), (10, 10), (10, 0), (0, 10)]))),
         ("candidates.gpkg", "geometry", "invalid", "row 3")),
    Case("candidates-empty", _layer("candidates.gpkg", _empty), ("candidates.gpkg", "empty")),
    Case("candidates-none-usable-too-small",
         _layer("candidates.gpkg", lambda g: g.assign(area_m2=10.0)),
         ("candidates", "no usable candidate"), cli=True),
    Case("candidates-none-usable-too-small-counted",
         _layer("candidates.gpkg", lambda g: g.assign(area_m2=10.0)),
         ("candidates", "no usable candidate", "32 ", "too small")),
    Case("candidates-none-usable-too-far", _layer("candidates.gpkg", _shift(list(range(32)), 9e3)),
         ("candidates", "no usable candidate", "32 ", "too far")),
    Case("candidates-none-usable-other-kind",
         _layer("candidates.gpkg", lambda g: g.assign(kind="neighbourhood_centre")),
         ("candidates", "no usable candidate", "32 ", "other kind")),
    # ---- optimize settings ------------------------------------------------------------
    Case("optimize-sites-and-budget", _set("optimize.0.budget", 3.0),
         ("optimize.0", "'sites' or 'budget', not both"), cli=True),
    Case("optimize-negative-sites", _set("optimize.0.sites", -2),
         ("optimize.0.sites", "-2")),
    Case("optimize-sites-not-a-number", _set("optimize.0.sites", "five"),
         ("optimize.0.sites", "'five'")),
    Case("optimize-negative-budget",
         _both(_drop("optimize.0.sites"), _set("optimize.0.budget", -10.0)),
         ("optimize.0.budget", "-10")),
    Case("optimize-neither-sites-nor-budget", _drop("optimize.0.sites"),
         ("optimize.0", "'sites'", "'budget'")),
    Case("optimize-unknown-model", _set("optimize.0.model", "maxcover"),
         ("optimize.0.model", "'maxcover'", "mclp"), cli=True),
    Case("optimize-unknown-kind", _set("optimize.0.kind", "swimming_pool"),
         ("optimize.0.kind", "swimming_pool")),
    Case("optimize-unknown-tier", _set("optimize.0.tier", "regional"),
         ("optimize.0.tier", "regional", "compound")),
    Case("optimize-without-candidates", _drop("candidates"), ("optimize.0", "candidates")),
    Case("optimize-force-unknown-id", _set("optimize.0.force", ["s99_99"]),
         ("optimize.0.force", "s99_99")),
    Case("optimize-bad-method", _set("optimize.0.method", "fastest"),
         ("optimize.0.method", "'fastest'")),
    Case("optimize-zero-time-limit", _set("optimize.0.time_limit_s", 0),
         ("optimize.0.time_limit_s",)),
]


def _params(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.id, marks=c.marks) for c in cases]


def _break(folder: Path, data: dict, case: Case) -> Path:
    path = case.mutate(folder, data)
    return path if path is not None else write_scenario(folder, data)


def _leftovers(folder: Path) -> list[str]:
    """Output folders or hidden temporaries a failed run must not leave behind."""
    return sorted(p.name for p in folder.iterdir() if p.name == "out" or ".facplan-" in p.name)


def test_corpus_is_large_and_varied():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(CASES) >= 40
    groups = {c.id.split("-")[0] for c in CASES}
    assert {"yaml", "population", "communities", "network", "facilities", "candidates",
            "optimize"} <= groups
    assert sum(c.cli for c in CASES) >= 10


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input_is_one_clear_error(town, case):
    folder, data = town
    path = _break(folder, data, case)
    out = folder / "out"
    with pytest.raises(InputError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        result = facplan.run(facplan.load_scenario(path))
        result.write(out)
    message = str(info.value)
    missing = [w for w in case.words if w not in message]
    assert not missing, f"message lacks {missing}: {message}"
    assert "Traceback" not in message
    assert _leftovers(folder) == []


def _facplan(*args: Any, cwd: Path | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "facplan.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=600, env=env,
    )


CLI_CASES = [c for c in CASES if c.cli]


@pytest.fixture(scope="module")
def cli_runs(template, tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Every ``cli=True`` case run through ``facplan run`` — concurrently, as each
    subprocess mostly waits on imports: case id → (city folder, completed process)."""
    src, data0 = template
    jobs = {}
    for case in CLI_CASES:
        folder = tmp_path_factory.mktemp(case.id) / "city"
        shutil.copytree(src, folder)
        path = _break(folder, json.loads(json.dumps(data0)), case)
        jobs[case.id] = (folder, path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = {
            cid: pool.submit(_facplan, "run", path, "--out", folder / "out")
            for cid, (folder, path) in jobs.items()
        }
        return {cid: (jobs[cid][0], f.result()) for cid, f in done.items()}


@pytest.mark.parametrize("case", _params(CLI_CASES))
def test_bad_input_cli_exits_2(cli_runs, case):
    folder, r = cli_runs[case.id]
    assert r.returncode == 2, r.stderr
    missing = [w for w in case.words if w not in r.stderr]
    assert not missing, f"stderr lacks {missing}: {r.stderr}"
    assert "Traceback" not in r.stderr
    assert r.stderr.count("error:") == 1, r.stderr
    assert _leftovers(folder) == []


# --------------------------------------------------------------------------- security


def test_python_tag_is_refused_and_not_executed(town):
    folder, data = town
    path = _python_tag(folder, data)
    with pytest.raises(InputError, match="python/object"):
        facplan.load_scenario(path)
    assert not (folder / "pwned").exists()
    r = _facplan("validate", path)
    assert r.returncode == 2 and "python/object" in r.stderr and "Traceback" not in r.stderr
    assert not (folder / "pwned").exists()


def test_only_safe_yaml_loading_in_facplan():
    src = Path(facplan.__file__).parent
    offenders = []
    for py in src.rglob("*.py"):
        text = py.read_text(encoding="utf-8")
        for bad in ("yaml.load(", "yaml.unsafe_load", "yaml.full_load", "Loader=yaml.Loader",
                    "yaml.FullLoader", "yaml.UnsafeLoader"):
            if bad in text:
                offenders.append(f"{py.name}: {bad}")
    assert offenders == []


PAYLOADS = {
    "name": "</script><script>alert('name')</script>",
    "community": "<img src=x onerror=alert('community')>",
    "facility": "<svg onload=alert('facility')>",
    "site": "<iframe src=javascript:alert('site')>",
}


def test_user_strings_are_escaped_in_html(town):
    """Names and ids from the user's files reach the map only escaped."""
    folder, data = town
    data["name"] = PAYLOADS["name"]
    _layer("communities.gpkg", _values("name", [0], PAYLOADS["community"]))(folder, data)
    _layer("communities.gpkg", _values("cid", [1], "east" + PAYLOADS["community"]))(folder, data)
    _layer("facilities.gpkg", _values("fid_", [0], PAYLOADS["facility"]))(folder, data)
    _layer("candidates.gpkg", lambda g: g.assign(site_id=g["site_id"] + PAYLOADS["site"]))(
        folder, data
    )
    result, _ = _run_ok(folder, data)
    assert result.summary["optimize"][0]["selected"]  # the site ids reach the map
    html = (folder / "out" / "map.html").read_text(encoding="utf-8")
    tags = ["<script>alert(", "<img src=x", "<svg onload", "<iframe src=javascript"]
    # a tag that a browser would build: raw, or "<" escaped only for JavaScript
    forms = [t.replace("<", lt) for t in tags for lt in ("<", "\\u003c", "\\u003C", "\\x3c")]
    found = [f for f in forms if f in html]
    assert found == [], f"unescaped user strings in map.html: {found}"


# --------------------------------------------------------------------------- validate


def test_validate_reports_every_layer_problem_at_once(town):
    folder, data = town
    _layer("population.gpkg", _values("population", [3], -1.0))(folder, data)
    _layer("communities.gpkg", _values("cid", [1], "west"))(folder, data)
    _layer("facilities.gpkg", _values("tier", [0], "huge"))(folder, data)
    data["candidates"]["cost_field"] = "price"
    r = _facplan("validate", write_scenario(folder, data))
    assert r.returncode == 2
    for words in (("population.gpkg", "negative", "row 4"),
                  ("communities.gpkg", "duplicate", "rows 1, 2"),
                  ("facilities.gpkg", "'huge'"),
                  ("candidates.gpkg", "no field 'price'")):
        assert all(w in r.stderr for w in words), (words, r.stderr)
    assert "4 problem(s)" in r.stderr and "Traceback" not in r.stderr


def test_load_reports_every_scenario_problem_at_once(town):
    folder, data = town
    data["populaton"] = 1
    data["optimize"][0]["sites"] = -1
    data["max_snap_m"] = "far"
    with pytest.raises(InputError) as info:
        facplan.load_scenario(write_scenario(folder, data))
    message = str(info.value)
    assert "3 problems" in message
    for w in ("populaton", "optimize.0.sites", "max_snap_m"):
        assert w in message


def test_load_reports_missing_files_together(town):
    folder, data = town
    data["population"]["path"] = "a.gpkg"
    data["candidates"]["path"] = "b.gpkg"
    data["optimize"][0]["budget"] = 2.0
    with pytest.raises(InputError) as info:
        facplan.load_scenario(write_scenario(folder, data))
    message = str(info.value)
    assert "a.gpkg" in message and "b.gpkg" in message and "not both" in message


def test_validate_reports_several_problems_of_one_layer(town):
    folder, data = town

    def two_problems(gdf):
        gdf.loc[3, "population"] = -1.0
        gdf.loc[7, "cell_id"] = "p0_0"
        return gdf

    _layer("population.gpkg", two_problems)(folder, data)
    r = _facplan("validate", write_scenario(folder, data))
    assert r.returncode == 2
    assert "negative" in r.stderr and "duplicate" in r.stderr, r.stderr


def test_validate_checks_the_network(town):
    folder, data = town
    (folder / "walk.graphml").write_bytes(b"<graphml><node")
    r = _facplan("validate", write_scenario(folder, data))
    assert r.returncode == 2 and "walk.graphml" in r.stderr, r.stderr


def test_validate_accepts_a_good_scenario(town):
    folder, data = town
    r = _facplan("validate", write_scenario(folder, data))
    assert r.returncode == 0 and "valid" in r.stdout, r.stderr


# --------------------------------------------------------------------------- warnings


def _run_ok(folder: Path, data: dict) -> tuple[facplan.Result, list[str]]:
    """Run and write; the run must complete. Returns the result and warning texts."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FacplanWarning)
        result = facplan.run(facplan.load_scenario(write_scenario(folder, data)))
        result.write(folder / "out")
    texts = [str(w.message) for w in caught if issubclass(w.category, FacplanWarning)]
    assert texts == result.summary["warnings"]
    return result, texts


def _cells_of(result: facplan.Result, column: str) -> dict[str, float]:
    d = result.demand
    return dict(zip(d["cell_id"], d[column], strict=True))


def test_network_in_pieces_is_a_warning(town):
    """Real OSM networks are in pieces: cells on a piece without a facility are
    unreachable — counted, kept (null distance), not an error."""
    folder, data = town
    _graph(_split_grid)(folder, data)
    del data["optimize"], data["candidates"]
    result, _ = _run_ok(folder, data)
    pop = gpd.read_file(folder / "population.gpkg")
    east = pop.geometry.x.to_numpy() > node_xy(0, 3)[0]
    acc = result.summary["access"]["sports_park/compound"]
    assert acc["unreachable_population"] == pytest.approx(pop["population"][east].sum())
    assert len(result.demand) == 64  # reported, never dropped
    dist = _cells_of(result, "dist_sports_park_compound")
    assert all(np.isnan(dist[c]) for c in pop["cell_id"][east])
    assert all(np.isfinite(dist[c]) for c in pop["cell_id"][~east])
    demand = json.loads((folder / "out" / "demand.geojson").read_text())
    nulls = {f["properties"]["cell_id"] for f in demand["features"]
             if f["properties"]["dist_sports_park_compound"] is None}
    assert nulls == set(pop["cell_id"][east])


def test_stray_fragments_are_ignored(town):
    """A tiny disconnected piece (fewer than min_component_nodes) strands no cell."""
    folder, data = town

    def fragment(g):
        x, y = node_xy(2, 2)
        g.add_node(1000, x=x + 30, y=y + 30)
        g.add_node(1001, x=x + 60, y=y + 30)
        g.add_edge(1000, 1001, length=30.0)
        g.add_edge(1001, 1000, length=30.0)

    _graph(fragment)(folder, data)
    data["min_component_nodes"] = 50
    result, _ = _run_ok(folder, data)
    assert result.summary["access"]["sports_park/compound"]["unreachable_population"] == 0
    assert result.summary["unreachable_cells"] == 0


def test_cells_beyond_snap_distance_are_counted(town):
    folder, data = town
    rows = [18, 27, 45]
    _layer("population.gpkg", _shift(rows, 60.0, 60.0))(folder, data)
    data["max_snap_m"] = 30
    result, texts = _run_ok(folder, data)
    pop = gpd.read_file(folder / "population.gpkg")
    far = pop.iloc[rows]
    assert result.summary["unreachable_cells"] == 3
    acc = result.summary["access"]["sports_park/compound"]
    assert acc["unreachable_population"] == pytest.approx(far["population"].sum())
    assert acc["after"]["unreachable_population"] == pytest.approx(far["population"].sum())
    dist = _cells_of(result, "dist_sports_park_compound_after")
    assert all(np.isnan(dist[c]) for c in far["cell_id"])
    assert any("3 cells" in t and "max_snap_m" in t for t in texts), texts


def test_cells_beyond_snap_distance_are_listed(town):
    folder, data = town
    rows = [18, 27, 45]
    _layer("population.gpkg", _shift(rows, 60.0, 60.0))(folder, data)
    data["max_snap_m"] = 30
    result, texts = _run_ok(folder, data)
    ids = gpd.read_file(folder / "population.gpkg")["cell_id"].iloc[rows]
    text = json.dumps(result.summary)
    assert all(c in text for c in ids), texts


def test_unaffordable_sites_are_a_warning(town):
    folder, data = town
    pricey = ["s0_1", "s3_4", "s6_5"]
    _layer("candidates.gpkg", lambda g: g.assign(cost=np.where(g["site_id"].isin(pricey), 10.0, 1.0)))(
        folder, data
    )
    data["optimize"][0] = {"kind": "sports_park", "tier": "compound", "budget": 3.0}
    result, texts = _run_ok(folder, data)
    chosen = result.summary["optimize"][0]["selected"]
    assert 0 < len(chosen) <= 3 and not set(chosen) & set(pricey)
    assert any("3 eligible candidates cost more than the budget" in t for t in texts), texts


def test_unaffordable_sites_are_listed(town):
    folder, data = town
    pricey = ["s0_1", "s3_4", "s6_5"]
    _layer("candidates.gpkg", lambda g: g.assign(cost=np.where(g["site_id"].isin(pricey), 10.0, 1.0)))(
        folder, data
    )
    data["optimize"][0] = {"kind": "sports_park", "tier": "compound", "budget": 3.0}
    result, texts = _run_ok(folder, data)
    assert all(s in json.dumps(result.summary) for s in pricey), texts


def test_candidates_beyond_snap_distance_are_a_warning(town):
    folder, data = town
    _layer("candidates.gpkg", _shift([0, 1], 5_000.0))(folder, data)
    result, texts = _run_ok(folder, data)
    assert any("2 candidates" in t and "max_snap_m" in t for t in texts), texts
    cand = result.candidates.set_index("site_id")
    far = gpd.read_file(folder / "candidates.gpkg")["site_id"].iloc[[0, 1]]
    assert (cand.loc[far, "excluded"] == "too far from the network").all()
    assert not cand.loc[far, "chosen"].any()


def test_facility_beyond_snap_distance_is_a_warning(town):
    folder, data = town
    _second_facility_file(folder, data)
    _layer("facilities2.gpkg", lambda g: g.assign(fid_="f2"))(folder, data)
    _layer("facilities2.gpkg", _shift([0], 5_000.0))(folder, data)
    _, texts = _run_ok(folder, data)
    assert any("1 existing facilities" in t and "f2" in t for t in texts), texts


def _east_without_candidates(folder: Path, data: dict) -> None:
    half = node_xy(0, 3.5)[0]
    _layer("candidates.gpkg", lambda g: g[g.geometry.x < half])(folder, data)


def test_community_without_candidates_completes(town):
    folder, data = town
    _east_without_candidates(folder, data)
    data["optimize"][0]["sites"] = 1
    result, _ = _run_ok(folder, data)
    comm = result.communities.set_index("community_id")
    assert comm.loc["east", "gaps"] != ""
    table = pd.read_csv(folder / "out" / "communities.csv").set_index("community_id")
    assert isinstance(table.loc["east", "gaps"], str) and table.loc["east", "gaps"]


def test_community_without_candidate_for_its_centre_is_listed(town):
    """One centre per community: a community with no eligible candidate is listed (in the
    summary's warnings and its ``gaps``), the others still get their centre."""
    folder, data = town
    _east_without_candidates(folder, data)
    _layer("candidates.gpkg", lambda g: g.assign(kind="neighbourhood_centre"))(folder, data)
    data["optimize"] = [{"kind": "neighbourhood_centre", "one_per_community": True}]
    result, texts = _run_ok(folder, data)
    assert any("east" in t and "candidate" in t for t in texts), texts
    assert len(result.summary["optimize"][0]["selected"]) == 1  # west gets its centre
    comm = result.communities.set_index("community_id")
    assert "no neighbourhood centre" in comm.loc["east", "gaps"]
    assert "no neighbourhood centre" not in comm.loc["west", "gaps"]


def test_entry_without_eligible_candidate_is_a_warning(town):
    folder, data = town
    data["optimize"].append({"kind": "neighbourhood_centre", "sites": 1})
    result, texts = _run_ok(folder, data)
    assert any("optimize.1" in t and "no eligible candidate" in t for t in texts), texts
    assert result.summary["optimize"][1]["selected"] == []
    assert len(result.summary["optimize"][0]["selected"]) == 2


def test_cells_outside_communities_are_a_warning(town):
    folder, data = town
    _layer("population.gpkg", _shift([0, 1], 0.0, -500.0))(folder, data)
    result, texts = _run_ok(folder, data)
    assert result.summary["cells"] == 62
    assert any("2 population cells" in t and "outside every community" in t for t in texts)
