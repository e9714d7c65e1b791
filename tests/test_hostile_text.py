"""Hostile user text through every output: nothing executes, nothing is lost.

Community names, community ids, site ids, the scenario name and an input file name carry
a corpus of console markup, HTML and JavaScript payloads, Markdown syntax, spreadsheet
formulas, line breaks, right-to-left and zero-width characters and a very long name.
One real ``facplan run`` (and ``facplan compare``) pushes them through the console,
``report.md``/``compare.md`` (rendered by markdown-it, an independent CommonMark
renderer, with raw HTML allowed as a careless viewer would), ``communities.csv``/
``compare.csv`` (read back with the ``csv`` module) and ``map.html`` in the real browser.
"""

from __future__ import annotations

import csv
import html.parser
import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from facplan.escape import FORMULA_PREFIXES, csv_cell
from facplan.testing import GRID_CRS, grid_city, write_scenario

from .browser import chromium, missing_browser

ROOT = Path(__file__).resolve().parents[1]
N = 11  # grid nodes per side: one community strip per grid column

CORPUS = [
    "[/] [bold red]loud[/] :smile: [link=http://x.invalid]l[/link]",
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    "\"'><svg onload=window.__pwned=3></script><script>window.__pwned=4</script>",
    '=HYPERLINK("http://x.invalid","click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3 | **bold** _em_ [link](http://x.invalid) `code` <b>b</b> &amp; # h",
    "\u202egnp.exe\u202c a\u200bb\u200d\ufeff مرحبا 东区",
    "line one\nline two\r\nthree",
    "长" * 3000,
]
SCENARIO_NAME = "[/] <script>window.__pwned=9</script> =1+1 \u202eRTL a\u200bb :smile:"
FACILITY_FILE = "parks [draft].gpkg"


def _env() -> dict:
    env = dict(os.environ, COLUMNS="1000")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facplan.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=_env())


def _lines(s: str) -> str:
    """Line breaks as one ``\\n`` each."""
    return s.replace("\r\n", "\n").replace("\r", "\n")


def _words(s: str) -> str:
    """Whitespace collapsed, as a browser's ``innerText`` shows ordinary text."""
    return " ".join(s.split())


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("hostile")
    data = grid_city(folder, n=N)
    x0, y0, _, _ = gpd.read_file(folder / "population.gpkg").total_bounds
    comm = gpd.GeoDataFrame(
        {"cid": [f"={i}+{i}" for i in range(N)], "name": CORPUS},
        geometry=[box(x0 - 50 + 100 * i, y0 - 50, x0 + 50 + 100 * i, y0 + N * 100)
                  for i in range(N)], crs=GRID_CRS,
    )
    comm.to_file(folder / "communities.gpkg")
    cand = gpd.read_file(folder / "candidates.gpkg")
    cand.loc[: len(CORPUS) - 1, "site_id"] = CORPUS
    cand.to_file(folder / "candidates.gpkg")
    fac = gpd.read_file(folder / "facilities.gpkg")
    fac["fid_"] = ["<b onmouseover=window.__pwned=5>f1</b>"]
    fac.to_file(folder / FACILITY_FILE)
    data["name"] = SCENARIO_NAME
    data["facilities"][0]["path"] = FACILITY_FILE
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "mclp",
                         "sites": len(CORPUS), "force": CORPUS}]
    a = write_scenario(folder, data, "a.yaml")
    data_b = dict(data, optimize=[dict(data["optimize"][0], sites=6, force=CORPUS[:6])])
    b = write_scenario(folder, data_b, "b.yaml")
    runs = {}
    for key, path in (("a", a), ("b", b)):
        r = _cli("run", path, "--out", folder / key)
        assert r.returncode == 0, r.stderr
        runs[key] = r
    cmp = _cli("compare", folder / "a", folder / "b", "--out", folder / "cmp")
    assert cmp.returncode == 0, cmp.stderr
    return {"folder": folder, "runs": runs, "compare": cmp, "data": data}


# --------------------------------------------------------------------------- console


def test_console_prints_user_text_verbatim(hostile):
    r = hostile["runs"]["a"]
    assert "Traceback" not in r.stderr
    assert SCENARIO_NAME in r.stdout  # not parsed as markup, no emoji
    cmp = hostile["compare"]
    assert _words(f"{SCENARIO_NAME} → {SCENARIO_NAME}") in _words(cmp.stdout)  # wrapped
    for sid in CORPUS[6:]:  # removed in b, listed verbatim
        assert _words(sid)[:200] in _words(cmp.stdout)


def test_console_error_names_a_file_with_brackets(hostile):
    folder = hostile["folder"]
    data = dict(hostile["data"])
    data["facilities"] = [dict(data["facilities"][0], path="parks [draft] [/].gpkg")]
    r = _cli("validate", write_scenario(folder, data, "missing.yaml"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "parks [draft] [/].gpkg" in r.stderr


# --------------------------------------------------------------------------- Markdown


class _Html(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag == "br":
            self.text.append("\n")

    def handle_data(self, data):
        self.text.append(data)


def _render(md: str) -> _Html:
    from markdown_it import MarkdownIt

    page = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    parsed = _Html()
    parsed.feed(page)
    return parsed


SAFE_TAGS = {"h1", "h2", "p", "ul", "li", "strong", "em", "code", "table", "thead", "tbody",
             "tr", "th", "td", "img", "br"}


def _assert_inert(parsed: _Html) -> None:
    assert {t for t, _ in parsed.tags} <= SAFE_TAGS
    for tag, attrs in parsed.tags:
        assert all(not k.startswith("on") for k, _ in attrs), (tag, attrs)
        if tag == "img":
            assert attrs == [("src", "coverage_curve.png"), ("alt", "coverage curve")]


def test_report_md_shows_every_name_and_runs_no_html(hostile):
    parsed = _render((hostile["folder"] / "a" / "report.md").read_text(encoding="utf-8"))
    _assert_inert(parsed)
    text = "".join(parsed.text)
    assert SCENARIO_NAME in text and FACILITY_FILE in text
    for i, name in enumerate(CORPUS):
        assert f"{_lines(name)} (={i}+{i})" in text  # the communities table
        assert text.count(_lines(name)) >= 2  # and the new sites table


def test_compare_md_shows_every_name_and_runs_no_html(hostile):
    parsed = _render((hostile["folder"] / "cmp" / "compare.md").read_text(encoding="utf-8"))
    _assert_inert(parsed)
    text = "".join(parsed.text)
    assert f"{SCENARIO_NAME} → {SCENARIO_NAME}" in text
    for name in CORPUS:
        assert _lines(name) in text
    removed = text.split("Sites removed (5): ")[1]
    for name in CORPUS[6:]:
        assert _lines(name) in removed

TRICKY = ["sports_park/compound", "_em_ x", "x__init__ __a__ a_b_", "a & b &amp; &#35; <b>",
          "[x](y) |a| `c` ~~s~~ **b** *i* \\ \\*", "<!-- c --> <?x?> <http://x.invalid>",
          "1. not a list", "# not a heading", "> not a quote", "a  \nb", "x_\u4e1c_y _东_"]


@pytest.mark.parametrize("text", TRICKY)
def test_md_text_renders_as_itself(text):
    """markdown-it (an independent CommonMark renderer) shows exactly the text, in a
    table cell, a paragraph, a list item and a heading."""
    from facplan.escape import md_text

    cell = _render(f"| h |\n|---|\n| {md_text(text)} |\n")
    _assert_inert(cell)
    assert "".join(cell.text).strip()[1:].lstrip("\n") == _lines(text)
    for md in (md_text(text), "- " + md_text(text), "# " + md_text(text)):
        para = _render(md + "\n")
        _assert_inert(para)
        assert [t for t, _ in para.tags if t not in ("br", "ul", "li", "h1")] in ([], ["p"])
        assert "".join(para.text).strip() == _lines(text).strip()


# --------------------------------------------------------------------------- CSV


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_csv_cells_are_not_formulas_and_keep_the_text(hostile):
    rows = _csv(hostile["folder"] / "a" / "communities.csv")
    assert [r["name"] for r in rows] == [csv_cell(n) for n in CORPUS]
    assert [r["community_id"] for r in rows] == [f"'={i}+{i}" for i in range(N)]
    crow = _csv(hostile["folder"] / "cmp" / "compare.csv")
    names = {r["name"] for r in crow}
    assert {csv_cell(n) for n in CORPUS} <= names
    for table in (rows, crow):
        for r in table:
            for v in r.values():
                assert not v.startswith(FORMULA_PREFIXES) or _is_number(v), v
    # the apostrophe is the only change: strip it and the text is back
    assert [r["name"][1:] if r["name"][:1] == "'" and CORPUS[i][:1] in FORMULA_PREFIXES
            else r["name"] for i, r in enumerate(rows)] == CORPUS


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def test_csv_cell_rules():
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("@x") == "'@x"
    assert csv_cell("\tx") == "'\tx" and csv_cell("-x") == "'-x" and csv_cell("+x") == "'+x"
    assert csv_cell("a=1") == "a=1" and csv_cell(-3.5) == -3.5 and csv_cell(None) is None


# --------------------------------------------------------------------------- browser

_skip = missing_browser()


@pytest.fixture(scope="module")
def driver():
    if _skip:
        pytest.skip(_skip)
    with chromium() as d:
        yield d


def _wait(driver, js: str, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(lambda d: d.execute_script(js), message=what)
    return driver.execute_script(js)


def _assert_nothing_ran(driver) -> None:
    assert driver.execute_script("return window.__pwned") is None
    assert driver.execute_script("return window.__alerts") == []
    assert driver.execute_script(
        "return document.querySelectorAll(\"img[src='x'], svg[onload], b[onmouseover]\")"
        ".length") == 0


def _popups(driver, selector: str) -> list[str]:
    texts = []
    for el in driver.find_elements("css selector", selector):
        driver.execute_script(
            "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", el)
        prev = texts[-1] if texts else ""
        js = ("var p = document.querySelector('.leaflet-popup-content');"
              "return p && p.innerText !== arguments[0] ? p.innerText : '';")
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, 10).until(lambda d, prev=prev, js=js: d.execute_script(js, prev))
        texts.append(driver.execute_script(js, prev))
    return texts


@pytest.mark.browser
def test_map_html_runs_nothing_and_shows_every_name(hostile, driver):
    driver.get((hostile["folder"] / "a" / "map.html").as_uri())
    _wait(driver, "return document.querySelectorAll('.fp-site').length", "no site markers")
    _assert_nothing_ran(driver)
    body = driver.execute_script("return document.body.innerText")
    assert _words(SCENARIO_NAME) in _words(body)
    texts = _words(" ".join(_popups(driver, ".fp-site, .fp-facility")))
    for sid in CORPUS:
        assert _words(sid) in texts
    assert "<b onmouseover=window.__pwned=5>f1</b>" in texts
    _assert_nothing_ran(driver)
    page = (hostile["folder"] / "a" / "map.html").read_text(encoding="utf-8")
    data_names = json.dumps(CORPUS[1])[1:-1]
    assert data_names not in page  # never raw in the page source, only escaped


@pytest.mark.browser
def test_compare_html_runs_nothing_and_shows_every_name(hostile, driver):
    from selenium.webdriver.support.ui import WebDriverWait

    page = hostile["folder"] / "cmp" / "compare.html"
    driver.get(page.as_uri())
    _wait(driver, "return document.querySelectorAll('.fp-cmp-site').length", "no markers")
    _assert_nothing_ran(driver)
    texts = _words(" ".join(_popups(driver, ".fp-cmp-site")))
    for sid in CORPUS[6:]:  # removed in b
        assert _words(sid) in texts
    # every community's tooltip: hover each boundary
    tips = []
    for i in range(N):
        driver.execute_script(
            "var p = document.querySelectorAll('.leaflet-overlay-pane path')[arguments[0]];"
            "p.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: 5, clientY: 5}));",
            i)
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(
            "return document.querySelector('.leaflet-tooltip') !== null"))
        tips.append(driver.execute_script(
            "return document.querySelector('.leaflet-tooltip').innerText"))
        driver.execute_script(
            "var p = document.querySelectorAll('.leaflet-overlay-pane path')[arguments[0]];"
            "p.dispatchEvent(new MouseEvent('mouseout', {bubbles: true}));", i)
    for name in CORPUS:
        assert any(_words(name) in _words(t) for t in tips), name[:40]
    _assert_nothing_ran(driver)
    assert CORPUS[1] not in page.read_text(encoding="utf-8")
