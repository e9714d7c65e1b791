"""The life-circle facility catalogue: every entry is a built-in kind with a threshold,
a minimum area, the population served and the clause it comes from, or a † where the
value was not checked against the standard's own text."""

from __future__ import annotations

import re

import pytest

import facplan
from facplan.catalogue import CATALOGUE, CATALOGUE_NAMES, LIFE_CIRCLES
from facplan.scenario import scenario_from_dict
from facplan.standards import DEFAULT_STANDARDS, resolve_standards

#: kinds the issue names, which the catalogue must hold
NAMED = {"community_health_station", "elderly_day_care", "kindergarten", "primary_school",
         "junior_middle_school", "fresh_food_market", "culture_station"}
CLAUSE = re.compile(r"(GB|TD/T|GB/T)\s?[\d.]+-\d{4}.*(Appendix|Table|表|附录|\d+\.\d+\.\d+)"
                    r"|life circle")


def test_every_entry_has_values_and_a_clause_or_dagger():
    assert NAMED <= set(CATALOGUE)
    for kind, v in CATALOGUE.items():
        std = DEFAULT_STANDARDS[kind]["all"]
        assert std.walk_m == v["walk_m"] == LIFE_CIRCLES[v["life_circle_min"]][0] > 0
        assert std.min_area_m2 >= 0 and std.capacity and std.capacity > 0
        assert std.source, kind
        # each value's provenance: a clause, and † wherever it was not read in the text
        assert CLAUSE.search(std.source) or "†" in std.source, kind
        if std.min_area_m2 > 0:
            assert "m²" in std.source, kind
        else:
            assert "no minimum area encoded" in std.source, kind
        en, zh = CATALOGUE_NAMES[kind]
        assert en and re.search(r"[\u4e00-\u9fff]", zh), kind
    # the 5-minute threshold is itself unverified, so every 5-minute kind carries a †
    for kind, v in CATALOGUE.items():
        if v["life_circle_min"] == 5:
            assert "†" in DEFAULT_STANDARDS[kind]["all"].source


def test_thresholds_by_life_circle():
    assert {CATALOGUE[k]["walk_m"] for k in ("kindergarten", "community_health_station",
                                              "elderly_day_care", "culture_station")} == {300.0}
    assert CATALOGUE["primary_school"]["walk_m"] == 500.0
    assert CATALOGUE["fresh_food_market"]["walk_m"] == 500.0
    assert CATALOGUE["junior_middle_school"]["walk_m"] == 1000.0


def test_catalogue_kinds_run_and_can_be_overridden(city):
    folder, data = city
    assert resolve_standards({"kindergarten": {"all": {"walk_m": 250.0}}})[
        "kindergarten"]["all"].walk_m == 250.0
    # a kindergarten at the grid corner: coverage by hand (Manhattan ≤ 300 m)
    import geopandas as gpd

    fac = gpd.read_file(folder / "facilities.gpkg")
    fac["kind"] = "kindergarten"
    fac["tier"] = ""
    fac.to_file(folder / "facilities.gpkg")
    data["facilities"][0].pop("tier_field")
    data["optimize"] = []
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    a = res.summary["access"]["kindergarten/all"]
    pop = res.demand.set_index("cell_id")["population"]
    covered = sum(pop[f"p{i}_{j}"] for i in range(8) for j in range(8) if 100 * (i + j) <= 300)
    assert a["threshold_m"] == 300.0
    assert a["covered_population"] == pytest.approx(covered)
    out = res.write(folder / "out")
    assert "幼儿园" not in (out / "report.html").read_text(encoding="utf-8")  # English report
    data["map"]["lang"] = "zh"
    out = facplan.run(scenario_from_dict(data, base_dir=folder)).write(folder / "out2")
    assert "幼儿园" in (out / "report.html").read_text(encoding="utf-8")
