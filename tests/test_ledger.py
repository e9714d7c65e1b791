"""ledger.xlsx read back with openpyxl: its rows match communities.csv, parents.csv and
sites.geojson, which are read independently from the files of the same run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from openpyxl import load_workbook

import facplan
from facplan.scenario import scenario_from_dict
from tests.test_levels import write_quadrants


def _run(folder, data):
    out = folder / "out"
    facplan.run(scenario_from_dict(data, base_dir=folder)).write(out, force=True)
    return out


def _sheet(ws) -> tuple[list[str], list[list]]:
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return rows[0], rows[1:]


def _sites_by(out, key) -> dict[str, list[str]]:
    feats = json.loads((out / "sites.geojson").read_text(encoding="utf-8"))["features"]
    props = sorted((f["properties"] for f in feats),
                   key=lambda p: p["rank"])  # one optimize entry here
    by: dict[str, list[str]] = {}
    for p in props:
        by.setdefault(key(p["community_id"]), []).append(p["site_id"])
    return by


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_ledger_matches_the_tables(city, lang):
    folder, data = city
    write_quadrants(folder, data)
    data["optimize"][0]["sites"] = 3
    data["map"]["lang"] = lang
    out = _run(folder, data)
    wb = load_workbook(out / "ledger.xlsx")
    names = ("社区", "街道") if lang == "zh" else ("communities", "parents")
    assert wb.sheetnames == list(names)
    comm = pd.read_csv(out / "communities.csv", dtype={"community_id": str})
    parents = pd.read_csv(out / "parents.csv", dtype={"parent_id": str})
    parent_of = dict(zip(comm["community_id"], comm["parent_id"], strict=True))
    yes, no = ("达标", "未达标") if lang == "zh" else ("yes", "no")

    header, rows = _sheet(wb[names[0]])
    ws = wb[names[0]]
    assert ws.freeze_panes == "A2"
    if lang == "zh":
        assert header[:5] == ["社区编号", "名称", "街道编号", "所属街道", "人口"]
        assert "社区体育公园·小区级 规划后覆盖率" in header
        after_col = header.index("社区体育公园·小区级 规划后覆盖率")
        before_col = header.index("社区体育公园·小区级 现状覆盖率")
        meets_col = header.index("社区体育公园·小区级 是否达标")
        prop_col = header.index("拟建设施")
    else:
        after_col = header.index("sports park (compound) covered after")
        before_col = header.index("sports park (compound) covered before")
        meets_col = header.index("sports park (compound) meets target")
        prop_col = header.index("Proposed sites")
    assert ws.cell(row=2, column=after_col + 1).number_format == "0.0%"
    assert ws.cell(row=2, column=5).number_format == "#,##0"
    assert ws.column_dimensions["B"].width >= 8
    sites = _sites_by(out, lambda c: c)
    assert sum(map(len, sites.values())) == 3
    assert [r[0] for r in rows] == list(comm["community_id"])
    for r, (_, c) in zip(rows, comm.iterrows(), strict=True):
        assert r[1] == c["name"] and r[2] == c["parent_id"] and r[3] == c["parent_name"]
        assert r[4] == pytest.approx(c["population"], abs=1e-3)
        assert r[before_col] == pytest.approx(c["coverage_sports_park_compound"], abs=5e-5)
        assert r[after_col] == pytest.approx(c["coverage_sports_park_compound_after"], abs=5e-5)
        assert r[meets_col] == (yes if c["coverage_sports_park_compound_after"] >= 0.85 else no)
        listed = [s.split(" ")[0] for s in (r[prop_col] or "").split("; ") if s]
        assert listed == sites.get(c["community_id"], [])

    header, rows = _sheet(wb[names[1]])
    assert wb[names[1]].freeze_panes == "A2"
    meeting_col = header.index(
        "社区体育公园·小区级 达标社区数" if lang == "zh"
        else "sports park (compound) communities meeting target")
    psites = _sites_by(out, lambda c: parent_of[c])
    assert [r[0] for r in rows] == list(parents["parent_id"])
    for r, (_, p) in zip(rows, parents.iterrows(), strict=True):
        assert r[1] == p["parent_name"] and r[2] == p["communities"]
        assert r[3] == pytest.approx(p["population"], abs=1e-3)
        assert r[after_col - 1] == pytest.approx(p["coverage_sports_park_compound_after"],
                                                 abs=5e-5)
        assert r[meeting_col] == p["meeting_target_sports_park_compound"]
        # the count of communities meeting the target, from communities.csv
        mine = comm[comm["parent_id"] == p["parent_id"]]
        assert r[meeting_col] == int((mine["coverage_sports_park_compound_after"] >= 0.85).sum())
        listed = [s.split(" ")[0] for s in (r[-1] or "").split("; ") if s]
        assert listed == psites.get(p["parent_id"], [])


def test_ledger_is_byte_identical_on_rerun_and_absent_without_communities(city):
    folder, data = city
    out = _run(folder, data)
    first = (out / "ledger.xlsx").read_bytes()
    wb = load_workbook(out / "ledger.xlsx")
    assert wb.sheetnames == ["communities"]  # no parent_field: one level
    out = _run(folder, data)
    assert (out / "ledger.xlsx").read_bytes() == first
    data.pop("communities")
    out = _run(folder, data)
    assert not (out / "ledger.xlsx").exists()
