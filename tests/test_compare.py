import json

import pytest

import facplan
from facplan.compare import compare_runs, write_comparison
from facplan.scenario import scenario_from_dict


def test_compare_reports_known_difference(city, tmp_path):
    folder, data = city
    a = facplan.run(scenario_from_dict(data, base_dir=folder)).write(tmp_path / "a")
    data["optimize"][0]["sites"] = 4
    data["name"] = "grid-4"
    b = facplan.run(scenario_from_dict(data, base_dir=folder)).write(tmp_path / "b")
    c = compare_runs(a, b)
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    row = c.access.set_index("kind_tier").loc["sports_park/compound"]
    assert row["coverage_a"] == pytest.approx(sa["access"]["sports_park/compound"]["after"]["coverage"])
    assert row["change"] == pytest.approx(
        sb["access"]["sports_park/compound"]["after"]["coverage"]
        - sa["access"]["sports_park/compound"]["after"]["coverage"]
    )
    assert row["change"] > 0
    chosen_a = set(sa["optimize"][0]["selected"])
    chosen_b = set(sb["optimize"][0]["selected"])
    assert set(c.added["site_id"]) == chosen_b - chosen_a
    assert set(c.removed["site_id"]) == chosen_a - chosen_b
    assert len(c.added) - len(c.removed) == 2
    assert set(c.communities["community_id"]) == {"west", "east"}
    write_comparison(c, tmp_path / "cmp")
    assert "sports_park/compound" in (tmp_path / "cmp" / "compare.md").read_text()
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert "<script src=\"http" not in html


def test_compare_rejects_other_folder(tmp_path):
    with pytest.raises(facplan.InputError, match="not a complete facplan run"):
        compare_runs(tmp_path, tmp_path)
