"""``facplan compare``: a site that moved tier, missing values, damaged inputs and
``compare.html`` working offline in the real browser (no jQuery, nothing fetched)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import facplan
from facplan import FacplanWarning, InputError
from facplan.compare import compare_runs
from facplan.testing import grid_city, write_scenario

from .browser import chromium, missing_browser

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "facplan.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """A: two compound parks (s0_1, s0_3). B: s0_3 stays compound, s0_1 becomes a
    community park — it moved tier; B also measures sports_park/community, A does not."""
    folder = tmp_path_factory.mktemp("cmp")
    data = grid_city(folder)
    a = dict(data, name="A", optimize=[
        {"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 2,
         "force": ["s0_1", "s0_3"]}])
    b = dict(data, name="B", optimize=[
        {"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 1,
         "force": ["s0_3"]},
        {"kind": "sports_park", "tier": "community", "model": "mclp", "sites": 1,
         "force": ["s0_1"]}])
    out = {}
    for key, d in (("a", a), ("b", b)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacplanWarning)
            facplan.run(facplan.load_scenario(write_scenario(folder, d, f"{key}.yaml"))).write(
                folder / key)
        out[key] = json.loads((folder / key / "summary.json").read_text())
    r = _cli("compare", folder / "a", folder / "b", "--out", folder / "cmp")
    assert r.returncode == 0, r.stderr
    return {"folder": folder, "summary": out, "cli": r}


def _chosen(summary: dict) -> set[tuple[str, str]]:
    return {(sid, o["tier"]) for o in summary["optimize"] for sid in o["selected"]}


def test_a_site_that_moved_tier_is_moved_not_added_and_removed(runs):
    a, b = _chosen(runs["summary"]["a"]), _chosen(runs["summary"]["b"])
    assert a == {("s0_1", "compound"), ("s0_3", "compound")}
    assert b == {("s0_3", "compound"), ("s0_1", "community")}
    c = compare_runs(runs["folder"] / "a", runs["folder"] / "b")
    assert list(c.added["site_id"]) == [] and list(c.removed["site_id"]) == []
    assert c.moved[["site_id", "kind", "tier_a", "tier_b"]].values.tolist() == [
        ["s0_1", "sports_park", "compound", "community"]]
    md = (runs["folder"] / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert "Sites added (0): \n" in md and "Sites removed (0): \n" in md
    assert "Sites that moved tier (1): s0\\_1" not in md  # intraword _ is left alone
    assert "Sites that moved tier (1): s0_1 (sports_park compound → community)" in md
    out = runs["cli"].stdout
    assert "sites added (0)" in out and "sites removed (0)" in out
    assert "sites that moved tier (1): s0_1 (sports_park compound → community)" in out


def test_missing_values_print_as_a_dash(runs):
    c = compare_runs(runs["folder"] / "a", runs["folder"] / "b")
    row = c.access.set_index("kind_tier").loc["sports_park/community"]
    assert row["coverage_a"] != row["coverage_a"]  # A never measured it
    md = (runs["folder"] / "cmp" / "compare.md").read_text(encoding="utf-8")
    cov_b = runs["summary"]["b"]["access"]["sports_park/community"]["after"]["coverage"]
    assert f"| sports_park/community | – | {cov_b:.1%} | – |" in md
    assert "nan" not in md.lower() and "nan" not in runs["cli"].stdout.lower()
    assert re.search(r"sports_park/community\s*│\s*–\s*│\s*[\d.]+%\s*│\s*–", runs["cli"].stdout)


def test_damaged_summary_is_one_message(runs, tmp_path):
    import shutil

    for damage in ('{"scenario": "x", "acc', '{"scenario": "x", "access": {"k/t": {}}}', "[]"):
        bad = tmp_path / "bad"
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(runs["folder"] / "a", bad)
        (bad / "summary.json").write_text(damage, encoding="utf-8")
        r = _cli("compare", bad, runs["folder"] / "b")
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and str(bad / "summary.json") in r.stderr, r.stderr
        with pytest.raises(InputError, match="summary.json"):
            compare_runs(bad, runs["folder"] / "b")


def test_damaged_sites_is_one_message(runs, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(runs["folder"] / "a", bad)
    (bad / "sites.geojson").write_text('{"type": "FeatureCollection", "feat', encoding="utf-8")
    r = _cli("compare", bad, runs["folder"] / "b")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "sites.geojson" in r.stderr


def test_compare_out_naming_a_file_is_one_message(runs, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    r = _cli("compare", runs["folder"] / "a", runs["folder"] / "b", "--out", target)
    assert r.returncode == 2, r.stderr
    assert "--out names a file" in r.stderr and "Traceback" not in r.stderr
    assert target.read_text() == "keep me"


# --------------------------------------------------------------------------- browser

_skip = missing_browser()


@pytest.fixture(scope="module")
def driver():
    if _skip:
        pytest.skip(_skip)
    with chromium() as d:
        yield d


@pytest.mark.browser
def test_compare_html_works_offline(runs, driver):
    from selenium.webdriver.support.ui import WebDriverWait

    page = runs["folder"] / "cmp" / "compare.html"
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)[^>]+(src|href)=", text)  # everything inline
    driver.get_log("browser")
    driver.get(page.as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('.fp-cmp-site').length"))
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    assert driver.execute_script("return typeof jQuery + typeof $") == "undefinedundefined"
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert [u for u in fetched if re.match(r"https?:", u)] == []
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(function (l) { return l.textContent.trim(); })")
    assert labels == ["Coverage change sports_park/community 覆盖率变化",
                      "Coverage change sports_park/compound 覆盖率变化",
                      "Sites Added 新增", "Sites Removed 移除", "Sites moved tier 改变层级"]
    # the communities: one path each for the first view, plus the moved site's marker
    assert driver.execute_script(
        "return document.querySelectorAll('.leaflet-overlay-pane path').length") == 2 + 1
    driver.execute_script("document.querySelector('.fp-cmp-site').dispatchEvent("
                          "new MouseEvent('click', {bubbles: true}))")
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "return document.querySelector('.leaflet-popup-content') !== null"))
    popup = driver.execute_script(
        "return document.querySelector('.leaflet-popup-content').innerText")
    assert popup.split("\n") == ["s0_1", "sports_park: compound → community",
                                 "Moved tier 改变层级"]
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
