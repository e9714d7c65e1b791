"""The interactive map: self-contained, safe, deterministic, and it works in a real browser.

The browser tests open the page from ``file://`` in Debian's headless chromium with
every host name unresolvable, so anything the page fetched from the network would show
as a console error.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from branca.element import Element, MacroElement
from folium.template import Template
from shapely.affinity import scale
from shapely.geometry import MultiPolygon, Point, Polygon, box

from facplan.outputs.map import (
    KIND_LABELS,
    TIER_LABELS,
    _dist_values,
    _geojson_geoms,
    _num,
    _nums,
    bilingual,
    build_map,
    render_map,
    write_map,
)
from tests.browser import chromium, missing_browser

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_ID = "<img src=x onerror=alert(2)>"
X0, Y0, DX, DY = 24.930, 60.170, 0.002, 0.001  # a 10 x 5 grid of cells in Helsinki
DIST = ["dist_sports_park_community", "dist_sports_park_community_after"]
THRESHOLDS = {"dist_sports_park_community": 500.0, "dist_sports_park_community_after": 500.0}
N_COMMUNITIES, N_FACILITIES, N_SITES, N_OVERLAYS = 3, 3, 4, 8


def make_layers(n_cols: int = 10, n_rows: int = 5, points: bool = False) -> dict:
    """Small synthetic inputs of build_map (EPSG:4326), seeded."""
    rng = np.random.default_rng(42)
    geoms, ids = [], []
    for i in range(n_cols):
        for j in range(n_rows):
            x, y = X0 + i * DX, Y0 + j * DY
            geoms.append(Point(x + DX / 2, y + DY / 2) if points else box(x, y, x + DX, y + DY))
            ids.append(f"r{j}c{i}")
    n = len(geoms)
    before = rng.uniform(0, 1600, n)
    before[7] = np.nan  # unreachable
    demand = gpd.GeoDataFrame(
        {
            "cell_id": ids,
            "population": rng.uniform(0, 200, n).round(1),
            "community_id": [f"k{min(i * 3 // n, 2)}" for i in range(n)],
            DIST[0]: before,
            DIST[1]: np.minimum(before, rng.uniform(0, 700, n)),
        },
        geometry=geoms,
        crs=4326,
    )
    w = n_cols * DX / 3
    communities = gpd.GeoDataFrame(
        {"community_id": ["k0", "k1", "k2"], "name": ["东社区 East", HOSTILE_NAME, 'West & "Co"']},
        geometry=[box(X0 + k * w, Y0, X0 + (k + 1) * w, Y0 + n_rows * DY) for k in range(3)],
        crs=4326,
    )
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": ["f1", HOSTILE_ID, "f3"],
            "kind": ["sports_park", "sports_park", "neighbourhood_centre"],
            "tier": ["community", "district", "all"],
        },
        geometry=[
            Point(X0 + 0.003, Y0 + 0.001),
            box(X0 + 0.010, Y0 + 0.002, X0 + 0.011, Y0 + 0.003),  # a polygon facility
            Point(X0 + 0.017, Y0 + 0.004),
        ],
        crs=4326,
    )
    site_pts = [Point(X0 + 0.005, Y0 + 0.003), Point(X0 + 0.013, Y0 + 0.001),
                Point(X0 + 0.008, Y0 + 0.004), Point(X0 + 0.015, Y0 + 0.002)]
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["s1", "s2", "s3", "s4"],
            "kind": ["sports_park", "sports_park", "sports_park", "neighbourhood_centre"],
            "tier": ["community", "community", "compound", "all"],
            "rank": [1, 2, 1, 1],
            "marginal_population": [1234.0, 456.0, 78.0, 900.0],
            "cost": [2.0e6, np.nan, 5.0e5, 8.0e6],
            "phase": ["2026", "2027", "2026", "2028"],
        },
        geometry=site_pts,
        crs=4326,
    )
    catchments = gpd.GeoDataFrame(
        sites[["site_id", "kind", "tier"]].copy(),
        geometry=[scale(p.buffer(0.0012), xfact=1 / np.cos(np.radians(Y0))) for p in site_pts],
        crs=4326,
    )
    exclusions = gpd.GeoDataFrame(
        {"name": ["遗址保护区 Heritage <b>zone</b>"]},
        geometry=[box(X0 + 0.0185, Y0 + 0.0035, X0 + 0.0199, Y0 + 0.0049)],
        crs=4326,
    )
    return dict(demand=demand, dist_columns=DIST, communities=communities,
                facilities=facilities, sites=sites, catchments=catchments,
                exclusions=exclusions, thresholds=THRESHOLDS)


def cells_data(text: str) -> dict:
    """The JSON data of the cells layer in a rendered page."""
    block = text[text.index("var C = {"):]
    block = block[block.index("var D = ") + len("var D = "):]
    return json.loads(block[: block.index(";\n")])


# --------------------------------------------------------------------------- no browser


def test_labels_are_bilingual():
    assert KIND_LABELS["sports_park"] == ("Community sports park", "社区体育公园")
    assert KIND_LABELS["neighbourhood_centre"][1] == "邻里中心"
    assert [TIER_LABELS[t][1] for t in ("district", "community", "compound", "all")] == [
        "片区", "社区", "小区", "全部"]
    assert bilingual("Community sports park", "社区体育公园", "zh") == "社区体育公园 Community sports park"
    assert bilingual("Community sports park", "社区体育公园", "en") == "Community sports park 社区体育公园"


def test_reruns_are_byte_identical(tmp_path):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    write_map(a, build_map(**make_layers(), tiles="none"))
    write_map(b, build_map(**make_layers(), tiles="none"))
    assert a.read_bytes() == b.read_bytes()
    c = tmp_path / "c.html"
    write_map(c, build_map(**make_layers(), tiles="none", seed=7))
    assert c.read_bytes() != a.read_bytes()


def test_inline_page_links_nothing_external(tmp_path):
    m = build_map(**make_layers(), tiles="osm")
    text = render_map(m, assets="inline")
    assert not re.search(r"<script[^>]*\ssrc=", text)
    assert not re.search(r"<link[^>]*\shref=[\"']?(https?:)?//", text)
    assert "Leaflet 1.9" in text  # inlined
    for lib in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers"):
        assert lib not in text.lower()
    cdn = render_map(m, assets="cdn")
    assert re.search(r'<script src="https://cdn\.jsdelivr\.net/npm/leaflet@[\d.]+/dist/leaflet\.js"', cdn)
    assert "Leaflet 1.9" not in cdn


def test_user_strings_are_escaped():
    text = render_map(build_map(**make_layers(), tiles="none", title="<i>plan</i> & co"))
    assert HOSTILE_NAME not in text
    assert HOSTILE_ID not in text
    assert "<b>zone</b>" not in text
    assert "<title>&lt;i&gt;plan&lt;/i&gt; &amp; co</title>" in text
    assert '"title":"\\u0026lt;i\\u0026gt;plan\\u0026lt;/i\\u0026gt; \\u0026amp; co"' in text


def test_primary_language():
    def names(lang):
        m = build_map(**make_layers(), tiles="none", lang=lang)
        return [c.layer_name for c in m._children.values() if hasattr(c, "layer_name")]

    assert "社区边界 Community boundaries" in names("zh")
    assert "Community boundaries 社区边界" in names("en")
    assert "Planned sites: Community sports park 规划选址：社区体育公园" in names("en")


def test_many_cells_are_aggregated_to_hexagons():
    layers = make_layers()
    small = render_map(build_map(**layers, tiles="none"))
    assert cells_data(small)["agg"] is False
    assert len(cells_data(small)["g"]) == len(layers["demand"])
    text = render_map(build_map(**layers, tiles="none", max_cells=12))
    data = cells_data(text)
    assert data["agg"] is True
    assert 1 <= len(data["g"]) <= 12
    assert sum(data["n"]) == len(layers["demand"])
    assert sum(data["pop"]) == pytest.approx(layers["demand"]["population"].sum(), abs=1)
    assert all(len(g["coordinates"][0]) == 7 for g in data["g"])  # hexagons
    assert len(data["d"]) == len(DIST) and len(data["cov"]) == len(DIST)
    assert all(0 <= s <= 1 for s in data["cov"][0] if s is not None)


def test_point_cells_and_missing_layers():
    layers = make_layers(points=True)
    text = render_map(build_map(demand=layers["demand"], dist_columns=DIST, tiles="none"))
    assert cells_data(text)["pt"] is True


def test_nullable_distances_and_many_community_labels(monkeypatch):
    import facplan.outputs.map as fmap

    layers = make_layers()
    layers["demand"][DIST[0]] = layers["demand"][DIST[0]].round().astype("Int64")
    monkeypatch.setattr(fmap, "MAX_COMMUNITY_LABELS", 2)
    text = render_map(build_map(**layers, tiles="none"))
    assert cells_data(text)["d"][0][7] is None  # pd.NA -> unreachable
    assert '"labelMinZoom":14' in text  # many communities: labels only when zoomed in


def test_projected_inputs_are_reprojected():
    layers = make_layers()
    layers["demand"] = layers["demand"].to_crs(3067)
    text = render_map(build_map(**layers, tiles="none"))
    lon, lat = cells_data(text)["g"][0]["coordinates"][0][0]
    assert lon == pytest.approx(X0 + DX, abs=1e-5) and lat == pytest.approx(Y0, abs=1e-5)


def test_bad_parameters():
    with pytest.raises(ValueError, match="'tiles'"):
        build_map(**make_layers(), tiles="bing")
    with pytest.raises(ValueError, match="'lang'"):
        build_map(**make_layers(), lang="fr")
    layers = make_layers()
    with pytest.raises(ValueError, match="dist_nope"):
        build_map(**{**layers, "dist_columns": ["dist_nope"]})


def _mapping_json(geoms: np.ndarray) -> str:
    """The plain way: shapely's ``mapping`` of each 2-D geometry, rounded to 6 decimals."""
    arr = shapely.transform(shapely.force_2d(geoms), lambda c: np.round(c, 6))
    return json.dumps([shapely.geometry.mapping(g) for g in arr])


def test_geometry_json_equals_shapely_mapping():
    rng = np.random.default_rng(3)
    xy = np.column_stack([rng.uniform(-180, 180, 500), rng.uniform(-90, 90, 500)])
    xy[:4] = [[-4e-7, 4e-7], [1e-6, -5e-7], [180.0, -0.0], [2.5e-6, 12.0000005]]
    hole = box(0.2, 0.2, 0.4, 0.4).exterior.coords
    cases = {
        "points": shapely.points(xy),
        "points 3-D": shapely.points(np.column_stack([xy, xy[:, 0]])),
        "points and an empty one": np.array([Point(1, 2), Point()], dtype=object),
        "polygons with holes": np.array(
            [Polygon(box(x, y, x + 1e-3, y + 2e-3).exterior.coords, [hole] if i % 2 else [])
             for i, (x, y) in enumerate(xy)], dtype=object),
        "polygons and multipolygons": np.array(
            [box(0, 0, 1, 1), MultiPolygon([box(2, 2, 3, 3), box(4, 4, 5.1234567, 5)])],
            dtype=object),
        "lines": shapely.linestrings(xy.reshape(-1, 5, 2)),
    }
    for name, geoms in cases.items():
        assert json.dumps(_geojson_geoms(geoms)) == _mapping_json(geoms), name


def test_number_lists_equal_rounding_each_value():
    rng = np.random.default_rng(5)
    x = np.concatenate([
        [0.0, -0.0, -0.04, 0.05, 0.15, 0.25, 2.675, 0.0005, 0.5, 1.5, 2.5, -0.5, -2.5, 1e20,
         np.nan, np.inf, -np.inf],
        (np.arange(-3000, 3000) + 0.5) / 1000,  # next to ties at 3 decimals
        rng.choice([-1, 1], 5000) * 10.0 ** rng.uniform(-6, 12, 5000),
    ])
    for decimals in (1, 3):
        assert json.dumps(_nums(x, decimals)) == json.dumps([_num(v, decimals) for v in x])
    assert json.dumps(_dist_values(x)) == json.dumps(
        [int(round(v)) if np.isfinite(v) else None for v in x.tolist()])
    for column in (
        pd.array([1, None, 3], dtype="Int64"),
        pd.Series([True, False]),
        pd.Series(["12.25", "abc", None, 4], dtype=object),
    ):
        assert json.dumps(_nums(column, 1)) == json.dumps([_num(v, 1) for v in column])


def test_page_equals_the_folium_template_rendering(monkeypatch):
    """Scripts and inlined assets skip branca's template pass over their text (slow for
    megabytes of data): the page must be what that pass gave."""
    import facplan.outputs.map as fmap

    def pages() -> list[str]:
        return [render_map(build_map(**make_layers(), tiles="osm")),
                render_map(build_map(**make_layers(points=True), tiles="none", max_cells=9))]

    fast = pages()
    monkeypatch.setattr(fmap, "_Text", Element)  # branca's Element(text): a template
    monkeypatch.setattr(fmap._Script, "render", MacroElement.render)
    monkeypatch.setattr(fmap._Script, "_template", Template(
        "{% macro script(this, kwargs) %}\n{{ this.code() }}\n{% endmacro %}"), raising=False)
    assert pages() == fast


def test_template_syntax_in_user_text_stays_text():
    layers = make_layers()
    layers["communities"].loc[0, "name"] = "{{ 7*7 }} {% raw %} {# x #}"
    assert "{{ 7*7 }} {% raw %} {# x #}" in render_map(build_map(**layers, tiles="none"))


# --------------------------------------------------------------------------- browser

_skip = missing_browser()
browser = pytest.mark.skipif(_skip is not None, reason=_skip or "")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("map") / "map.html"
    write_map(path, build_map(**make_layers(), tiles="none", title="facplan test"))
    return path


@pytest.fixture(scope="module")
def driver():
    if _skip:
        pytest.skip(_skip)
    with chromium() as d:
        yield d


def _open(driver, page: Path) -> None:
    driver.get(page.as_uri())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if driver.execute_script(
            "return document.querySelectorAll('.leaflet-overlay-pane path').length"
        ):
            return
        time.sleep(0.1)
    raise AssertionError("the map drew no vector paths")


def _count(driver, selector: str) -> int:
    return driver.execute_script(f"return document.querySelectorAll({json.dumps(selector)}).length")


@browser
@pytest.mark.browser
def test_page_renders_offline_without_errors(driver, page):
    driver.get_log("browser")  # drop earlier entries
    _open(driver, page)
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
    )
    assert [u for u in fetched if re.match(r"https?:", u)] == []
    assert driver.execute_script("return window.__alerts") == []
    assert _count(driver, ".leaflet-control-scale") == 1


@browser
@pytest.mark.browser
def test_layer_control_lists_every_layer(driver, page):
    _open(driver, page)
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(function (l) { return l.textContent.trim(); })"
    )
    assert len(labels) == N_OVERLAYS
    for expected in [
        "Population cells: walking distance 人口网格：步行距离",
        "Community boundaries 社区边界",
        "Exclusion zones 禁建区",
        "Walking catchments of planned sites 规划选址步行服务范围",
        "Existing facilities: Community sports park 现有设施：社区体育公园",
        "Existing facilities: Neighbourhood centre 现有设施：邻里中心",
        "Planned sites: Community sports park 规划选址：社区体育公园",
        "Planned sites: Neighbourhood centre 规划选址：邻里中心",
    ]:
        assert expected in labels


def _toggle(driver, label_start: str) -> None:
    driver.execute_script(
        "var ls = document.querySelectorAll('.leaflet-control-layers-overlays label');"
        "for (var i = 0; i < ls.length; i++) {"
        "  if (ls[i].textContent.trim().indexOf(arguments[0]) === 0) {"
        "    ls[i].querySelector('input').click(); return; } }"
        "throw new Error('no layer ' + arguments[0]);",
        label_start,
    )


@browser
@pytest.mark.browser
def test_toggling_layers_changes_drawn_paths(driver, page):
    _open(driver, page)
    paths = ".leaflet-overlay-pane path"
    n_all = _count(driver, paths)
    assert n_all == 50 + N_COMMUNITIES + 1 + N_SITES  # cells, communities, exclusion, catchments
    _toggle(driver, "Community boundaries")
    assert _count(driver, paths) == n_all - N_COMMUNITIES
    _toggle(driver, "Population cells")
    assert _count(driver, paths) == n_all - N_COMMUNITIES - 50
    _toggle(driver, "Community boundaries")
    _toggle(driver, "Population cells")
    assert _count(driver, paths) == n_all
    _toggle(driver, "Planned sites: Community sports park")
    assert _count(driver, ".fp-site") == 1


@browser
@pytest.mark.browser
def test_markers_and_popups(driver, page):
    _open(driver, page)
    assert _count(driver, ".fp-site") == N_SITES
    assert _count(driver, ".fp-facility") == N_FACILITIES
    driver.find_elements("css selector", ".fp-site")[0].click()
    popup = _popup_text(driver)
    assert "s1" in popup and "1,234" in popup and "Population gained" in popup
    assert "2,000,000" in popup and "2026" in popup


@browser
@pytest.mark.browser
def test_hostile_strings_show_as_text(driver, page):
    _open(driver, page)
    body = driver.execute_script("return document.body.innerText")
    assert HOSTILE_NAME in body
    assert 'West & "Co"' in body
    texts = []
    for el in driver.find_elements("css selector", ".fp-facility"):
        driver.execute_script("arguments[0].click()", el)
        texts.append(_popup_text(driver, texts[-1] if texts else ""))
    assert any(HOSTILE_ID in t for t in texts)
    assert _count(driver, "img[src='x']") == 0
    assert _count(driver, ".leaflet-pane script, .leaflet-control-container script") == 0
    assert driver.execute_script("return window.__alerts") == []


def _popup_text(driver, previous: str = "") -> str:
    """The text of the open popup, once it differs from ``previous``."""
    from selenium.webdriver.support.ui import WebDriverWait

    js = "var p = document.querySelector('.leaflet-popup-content'); return p ? p.innerText : '';"
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(js) not in ("", previous))
    return driver.execute_script(js)


def _cell_fills(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('path.fp-cell'))"
        ".map(function (p) { return p.getAttribute('fill'); })"
    )


@browser
@pytest.mark.browser
def test_switching_the_view_recolours_the_cells(driver, page):
    from selenium.webdriver.support.ui import Select

    _open(driver, page)
    before = _cell_fills(driver)
    assert len(before) == 50 and len(set(before)) >= 3
    legend = driver.find_element("css selector", ".fp-legend").text
    select = Select(driver.find_element("css selector", "select.fp-view"))
    assert len(select.options) == len(DIST)
    assert "after" in select.options[1].text and "规划后" in select.options[1].text
    select.select_by_index(1)
    after = _cell_fills(driver)
    assert len(after) == 50 and after != before
    assert _count(driver, ".leaflet-overlay-pane path") == 50 + N_COMMUNITIES + 1 + N_SITES
    assert "500 m" in legend


@browser
@pytest.mark.browser
def test_screenshot_is_not_blank(driver, page, tmp_path):
    _open(driver, page)
    png = driver.get_screenshot_as_png()
    (tmp_path / "map.png").write_bytes(png)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        assert len(png) > 20_000
        return
    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert len(img.getcolors(maxcolors=1 << 24)) > 50


def test_tianditu_tiles_need_a_key_and_use_it():
    layers = make_layers()
    with pytest.raises(ValueError, match="tianditu_key"):
        build_map(**layers, tiles="tianditu")
    html = render_map(build_map(**layers, tiles="tianditu", tianditu_key="abc 123"))
    assert "tianditu.gov.cn/vec_w/wmts" in html and "tianditu.gov.cn/cva_w/wmts" in html
    assert "tk=abc%20123" in html
