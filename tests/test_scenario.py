from pathlib import Path

import pytest

from facplan import InputError, load_scenario
from facplan.scenario import scenario_from_dict
from facplan.testing import write_scenario

from .conftest import shared_file


def test_paths_resolve_relative_to_yaml(city):
    folder, data = city
    path = write_scenario(folder, data)
    sc = load_scenario(path)
    assert sc.population.path == folder / "population.gpkg"
    assert sc.network.graphml == folder / "walk.graphml"
    assert sc.snap == "node" and sc.crs == 32635


def test_unknown_key_is_named(city):
    folder, data = city
    data["optimize"][0]["sitez"] = 3
    with pytest.raises(InputError, match=r"unknown key 'optimize\.0\.sitez'"):
        load_scenario(write_scenario(folder, data))


def test_every_problem_reported_at_once(city):
    folder, data = city
    data["snap"] = "nearest"
    data["colour"] = "red"
    with pytest.raises(InputError) as exc:
        load_scenario(write_scenario(folder, data))
    msg = str(exc.value)
    assert "2 problems" in msg and "'snap'" in msg and "unknown key 'colour'" in msg


def test_malformed_yaml_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\npopulation: {path: a.csv\nnetwork: 3\n")
    with pytest.raises(InputError, match=r"bad\.yaml.*not valid YAML at line"):
        load_scenario(p)


def test_missing_file_named(city):
    folder, data = city
    data["population"]["path"] = "nope.gpkg"
    with pytest.raises(InputError, match=r"population\.path.*file not found.*nope\.gpkg"):
        load_scenario(write_scenario(folder, data))


def test_sites_and_budget_together(city):
    folder, data = city
    data["optimize"][0]["budget"] = 10.0
    with pytest.raises(InputError, match="'sites' or 'budget', not both"):
        load_scenario(write_scenario(folder, data))


@pytest.mark.parametrize("sites", [-1, "many"])
def test_bad_site_count(city, sites):
    folder, data = city
    data["optimize"][0]["sites"] = sites
    with pytest.raises(InputError, match=r"optimize\.0\.sites"):
        load_scenario(write_scenario(folder, data))


def test_unknown_tier_and_model(city):
    folder, data = city
    data["optimize"][0]["tier"] = "mega"
    data["optimize"].append({"kind": "sports_park", "tier": "compound", "model": "magic", "sites": 1})
    with pytest.raises(InputError) as exc:
        load_scenario(write_scenario(folder, data))
    assert "optimize.1.model" in str(exc.value)
    data["optimize"].pop()
    with pytest.raises(InputError, match="has no tier 'mega'"):
        load_scenario(write_scenario(folder, data))


def test_crs_forms(city):
    folder, data = city
    for value, expected in [("auto", "auto"), ("EPSG:4547", 4547), (32650, 32650)]:
        data["crs"] = value
        assert scenario_from_dict(data, base_dir=folder).crs == expected
    data["crs"] = "web mercator"
    with pytest.raises(InputError, match="key 'crs'"):
        scenario_from_dict(data, base_dir=folder)


def test_standard_overrides_minutes(city):
    folder, data = city
    data["walk_speed_m_s"] = 0.8
    data["standards"] = {"sports_park": {"community": {"walk_min": 10}}}
    sc = scenario_from_dict(data, base_dir=folder)
    assert sc.resolved_standards()["sports_park"]["community"].walk_m == pytest.approx(480.0)
    assert sc.resolved_standards()["sports_park"]["district"].walk_m == 1000.0


def test_empty_file(tmp_path: Path):
    p = tmp_path / "e.yaml"
    p.write_text("")
    with pytest.raises(InputError, match="empty"):
        load_scenario(p)


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ({"osm": {"landuse": ["brownfield"]}}, r"candidates\.0.*need 'kind'"),
        ({"osm": True, "kind": "sports_park"}, r"candidates\.0.*'osm: true' gives land"),
        ({"generate": {"n": 5, "kind": "sports_park"}, "tier": "community"},
         r"candidates\.0.*generated candidates take 'generate\.kind'"),
        ({"osm": {"landuse": ["grass"]}, "kind": "sports_park", "cost_field": "cost"},
         r"candidates\.0.*'osm' candidates have no fields to read: remove 'cost_field'"),
    ],
)
def test_osm_and_generated_candidates_reject_keys_they_would_ignore(city, candidates, message):
    folder, data = city
    data["candidates"] = [candidates]
    with pytest.raises(InputError, match=message):
        load_scenario(write_scenario(folder, data))


def test_osm_tag_candidates_with_kind_load(city):
    folder, data = city
    pbf = shared_file("liechtenstein", "liechtenstein.osm.pbf")
    data["candidates"] = [{"osm": {"landuse": ["brownfield"]}, "kind": "sports_park",
                           "tier": "community", "osm_file": str(pbf)}]
    sc = load_scenario(write_scenario(folder, data))
    assert sc.candidates[0].osm == {"landuse": ["brownfield"]}
    assert sc.candidates[0].kind == "sports_park"


def test_osm_sources_kind_and_tier_checked_before_reading(city):
    """A typo in an OSM source's kind or tier is reported with the scenario's other
    problems, before the extract is read."""
    folder, data = city
    pbf = str(shared_file("liechtenstein", "liechtenstein.osm.pbf"))
    data["facilities"] = [{"osm": {"leisure": ["pitch"]}, "kind": "sport_park",
                           "osm_file": pbf}]
    data["candidates"] = [{"osm": {"landuse": ["grass"]}, "kind": "sports_park",
                           "tier": "huge", "osm_file": pbf}]
    with pytest.raises(InputError) as info:
        load_scenario(write_scenario(folder, data))
    msg = str(info.value)
    assert "key 'facilities.0.kind': unknown kind 'sport_park'" in msg
    assert "key 'candidates.0.tier': kind 'sports_park' has no tier 'huge'" in msg


@pytest.mark.parametrize(("osm", "message"), [
    ({}, r"facilities\.0\.osm.*give at least one OSM tag"),
    ({"leisure": []}, r"facilities\.0\.osm.*tag 'leisure': give a list of values"),
    ({"leisure": False}, r"facilities\.0\.osm.*tag 'leisure': give a list of values"),
])
def test_empty_osm_tag_queries_are_refused(city, osm, message):
    folder, data = city
    data["facilities"] = [{"osm": osm, "kind": "sports_park",
                           "osm_file": str(shared_file("liechtenstein", "liechtenstein.osm.pbf"))}]
    with pytest.raises(InputError, match=message):
        load_scenario(write_scenario(folder, data))
