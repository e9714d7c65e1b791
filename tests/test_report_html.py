"""report.html and report.pdf: the figures equal summary.json and the tables beside it
(read back from the files), the page renders in the real browser with no console error
and no request beyond the page itself, and the PDF's text holds the scenario's figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser

import pandas as pd
import pytest

import facplan
from facplan.outputs.report_html import gap_words
from facplan.scenario import scenario_from_dict
from tests.browser import chromium, missing_browser
from tests.test_levels import write_quadrants


class _Cells(HTMLParser):
    """Every table of the page as lists of cell texts, by table class; data-v spans."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.spans: list[tuple[str, str]] = []
        self._table = None
        self._cell: list[str] | None = None
        self._span: str | None = None
        self.text: list[str] = []
        self.imgs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("class", "")
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "span" and "data-v" in a:
            self._span = a["data-v"]
            self._span_text: list[str] = []
        elif tag == "img":
            self.imgs.append(a.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "span" and self._span is not None:
            self.spans.append((self._span, "".join(self._span_text)))
            self._span = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._span is not None:
            self._span_text.append(data)


def _parse(path) -> _Cells:
    p = _Cells()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    from facplan.testing import grid_city

    folder = tmp_path_factory.mktemp("report")
    data = grid_city(folder)
    write_quadrants(folder, data)
    data["optimize"][0]["sites"] = 2
    data["map"]["lang"] = "zh"
    data["report"] = {"pdf": shutil.which("chromium") is not None,
                      "assumptions": ["候选用地造价为示意值"]}
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    out = res.write(folder / "out")
    return out, res


def test_report_figures_equal_summary_and_tables(report_run):
    out, _ = report_run
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    page = _parse(out / "report.html")
    a = s["access"]["sports_park/compound"]
    spans = dict(page.spans)
    assert spans["coverage"] == f"{a['coverage']:.1%}"
    assert spans["after"] == f"{a['after']['coverage']:.1%}"
    assert spans["covered"] == f"{a['covered_population']:,.0f}"
    assert spans["covered_after"] == f"{a['after']['covered_population']:,.0f}"
    cov = page.tables["coverage"][1]
    assert cov[0] == "社区体育公园·小区级" and cov[1] == "300 米"
    assert "GB 50180-2018" in cov[2]
    assert cov[7] == f"{a['gini']:.3f}"
    assert cov[8].startswith(f"{a['communities_meeting_target']} / {a['communities_with_people']}")
    # proposed sites: one row per site of sites.geojson in rank order, then the total
    sites = [f["properties"] for f in
             json.loads((out / "sites.geojson").read_text(encoding="utf-8"))["features"]]
    rows = page.tables["sites"][1:]
    assert [r[1] for r in rows[:-1]] == [p["site_id"] for p in sorted(sites, key=lambda p: p["rank"])]
    assert [r[6] for r in rows[:-1]] == [f"{p['marginal_population']:,.0f}" for p in
                                         sorted(sites, key=lambda p: p["rank"])]
    o = s["optimize"][0]
    assert rows[-1][6] == f"{o['covered_after'] - o['covered_before']:,.0f}"
    # the worst-served communities, from communities.csv, lowest coverage first
    comm = pd.read_csv(out / "communities.csv").sort_values(
        ["coverage_sports_park_compound_after", "community_id"])
    worst = page.tables["worst"][1:]
    assert [r[0] for r in worst] == [f"{n} ({c})" for n, c in zip(comm["name"],
                                                                   comm["community_id"],
                                                                   strict=True)]
    assert [r[3] for r in worst] == [f"{v:.1%}" for v in comm["coverage_sports_park_compound_after"]]
    # the optimality statement and the planner's assumption
    assert spans["gap"].startswith("已证明为最优方案") and o["gap"] <= 1e-6
    text = "".join(page.text)
    assert "候选用地造价为示意值" in text
    assert "研究范围与数据来源" in text and "未达标社区" in text
    # the map picture and the coverage curve are inlined
    assert len(page.imgs) == 2 and all(i.startswith("data:image/png;base64,") for i in page.imgs)


def test_gap_in_words():
    o = {"model": "mclp", "objective": 9970.0, "bound": 10000.0, "gap": 0.003,
         "status": "time_limit", "objective_unit": "people"}
    assert gap_words(o, "en").startswith("Within 0.3% of the best possible")
    assert gap_words(o, "zh").startswith("与理论最优相差不超过 0.3%")
    assert "Proven optimal" in gap_words({**o, "gap": 0.0, "status": "optimal"}, "en")


def test_english_report_without_communities(city):
    folder, data = city
    data.pop("communities")
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    out = res.write(folder / "out")
    page = _parse(out / "report.html")
    text = "".join(page.text)
    assert "Coverage before and after the plan" in text and "未达标" not in text
    assert "centre" not in text  # a parks-only study
    assert dict(page.spans)["after"] == (
        f"{res.summary['access']['sports_park/compound']['after']['coverage']:.1%}")


@pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")
def test_report_renders_in_the_browser_with_no_request(report_run):
    out, _ = report_run
    with chromium(width=900, height=1200) as d:
        d.get_log("browser")
        d.get((out / "report.html").as_uri())
        deadline = time.monotonic() + 20
        while d.execute_script("return document.readyState") != "complete":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
        names = d.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) {"
            " return e.name; })")
        assert [n for n in names if not n.startswith("data:")] == []
        sizes = d.execute_script(
            "return Array.from(document.images).map(function (i) {"
            " return [i.complete, i.naturalWidth]; })")
        assert len(sizes) == 2 and all(c and w > 100 for c, w in sizes)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium for report.pdf")
def test_report_pdf_text_and_pages(report_run, tmp_path):
    out, res = report_run
    from pypdf import PdfReader

    pdf = out / "report.pdf"
    reader = PdfReader(pdf)
    assert 1 <= len(reader.pages) <= 6
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    s = res.summary
    a = s["access"]["sports_park/compound"]
    for figure in (s["scenario"], f"{s['population_total']:,.0f}", f"{a['coverage']:.1%}",
                   f"{a['after']['coverage']:.1%}", *s["optimize"][0]["selected"]):
        assert figure in text, figure
    assert "未达标社区" in text.replace(" ", "")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is needed to render the pages")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "p")], check=True)
    from PIL import Image

    pages = sorted(tmp_path.glob("p*.png"))
    assert len(pages) == len(reader.pages)
    for p in pages:
        img = Image.open(p).convert("L")
        assert img.getextrema()[0] < 100  # there is ink on every page
