"""OSM candidates say what they are: ``name`` and the tag that made each one a
candidate (``source``) reach candidates.geojson. Reference: the OSM tags read
straight from the extract with pyosmium (not through facplan)."""

from __future__ import annotations

import json

import osmium
import pytest

from facplan.io.osm import open_pbf, osm_candidates

from .conftest import shared_file
from .test_pipeline_inputs import liechtenstein  # noqa: F401  (the run on the extract)

UTM32N = 32632


@pytest.fixture(scope="module")
def way_tags():
    """name and building/landuse/amenity of every way, by id (pyosmium)."""
    out: dict[int, dict[str, str]] = {}

    class H(osmium.SimpleHandler):
        def way(self, w):
            t = {k: w.tags.get(k) for k in ("name", "building", "landuse", "amenity")}
            if any(t.values()):
                out[w.id] = {k: v for k, v in t.items() if v is not None}

    H().apply_file(str(shared_file("liechtenstein", "liechtenstein.osm.pbf")))
    return out


def _check(rows, way_tags):
    n_named = 0
    for sid, name, source in rows:
        if not sid.startswith("osm-way-"):
            continue
        tags = way_tags[int(sid.split("-")[-1])]
        assert name == tags.get("name", "").strip()
        key, value = source.split("=", 1)
        assert tags.get(key) == value
        n_named += bool(name)
    return n_named


def test_osm_candidates_carry_name_and_tag(way_tags):
    cand = osm_candidates(open_pbf(shared_file("liechtenstein", "liechtenstein.osm.pbf")),
                          crs=UTM32N)
    n = _check(zip(cand["site_id"], cand["name"], cand["source"], strict=True), way_tags)
    assert n > 10


def test_candidates_geojson_says_what_each_site_is(liechtenstein, way_tags):  # noqa: F811
    _, out = liechtenstein
    feats = json.loads((out / "candidates.geojson").read_text())["features"]
    rows = [(f["properties"]["site_id"], f["properties"]["name"], f["properties"]["tag"])
            for f in feats]
    assert _check(rows, way_tags) > 10


def test_map_popup_shows_name_and_tag(liechtenstein):  # noqa: F811
    res, out = liechtenstein
    html = (out / "map.html").read_text(encoding="utf-8")
    sites = res.sites
    osm = sites[sites["tag"].astype(str) != ""]
    assert len(osm)
    assert "Candidate because" in html
    for src in set(osm["tag"]):
        assert src in html
    for name in set(osm["name"]) - {""}:
        assert name in html
