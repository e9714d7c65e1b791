"""The demo's own map in a real headless Chromium (Debian's, through chromedriver), with
every host name unresolvable: it loads without console errors, lists every layer,
toggling a layer changes what is drawn, it shows one marker per chosen site, a hostile
community name shows as text, and the screenshot is not blank."""

import io
import json
import time

import geopandas as gpd
import pytest
import yaml

import facplan
from facplan.demo import build_demo_data, demo_scenario_path
from tests.browser import chromium, missing_browser

_skip = missing_browser()
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(_skip is not None, reason=_skip or "")]

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo-map")
    data_dir = base / "data" / "demo"
    build_demo_data(data_dir)
    comm = gpd.read_file(data_dir / "communities.geojson")
    comm.loc[0, "name"] = HOSTILE
    comm.to_file(data_dir / "communities.geojson", driver="GeoJSON")
    scen = yaml.safe_load(demo_scenario_path().read_text(encoding="utf-8"))
    scen["map"] = {"tiles": "none", "lang": "zh"}
    (base / "scenarios").mkdir()
    (base / "scenarios" / "demo.yaml").write_text(yaml.safe_dump(scen, allow_unicode=True))
    res = facplan.run(facplan.load_scenario(base / "scenarios" / "demo.yaml"))
    out = res.write(base / "out")
    return out / "map.html", res


@pytest.fixture(scope="module")
def driver():
    with chromium() as d:
        yield d


def _open(driver, page):
    driver.get(page.as_uri())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if driver.execute_script(
            "return document.querySelectorAll('.leaflet-overlay-pane path').length"
        ):
            return
        time.sleep(0.1)
    raise AssertionError("the demo map drew no vector paths")


def _count(driver, selector):
    return driver.execute_script(f"return document.querySelectorAll({json.dumps(selector)}).length")


def _labels(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(function (l) { return l.textContent.trim(); })"
    )


def _toggle(driver, text):
    driver.execute_script(
        "var ls = document.querySelectorAll('.leaflet-control-layers-overlays label');"
        "for (var i = 0; i < ls.length; i++) {"
        "  if (ls[i].textContent.indexOf(arguments[0]) >= 0) {"
        "    ls[i].querySelector('input').click(); return; } }"
        "throw new Error('no layer ' + arguments[0]);",
        text,
    )


def test_demo_map_in_a_real_browser(driver, demo_page, tmp_path):
    page, res = demo_page
    driver.get_log("browser")
    _open(driver, page)
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    assert driver.execute_script("return window.__alerts") == []
    # every layer is listed, Chinese first (lang: zh)
    labels = _labels(driver)
    for zh in ("社区边界", "人口网格", "规划选址", "现有设施", "步行服务范围"):
        assert any(zh in label for label in labels), (zh, labels)
    # one marker per chosen site
    assert _count(driver, ".fp-site") == len(res.sites) > 0
    # toggling the community layer removes exactly its polygons
    paths = ".leaflet-overlay-pane path"
    n_all = _count(driver, paths)
    _toggle(driver, "社区边界")
    assert _count(driver, paths) == n_all - len(res.communities)
    _toggle(driver, "社区边界")
    assert _count(driver, paths) == n_all
    # the hostile community name is shown as text, not run
    text = driver.execute_script("return document.body.innerText")
    assert HOSTILE in text
    # the screenshot is a real picture
    png = driver.get_screenshot_as_png()
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert len(img.getcolors(maxcolors=1 << 24)) > 50
