"""Result: the public frames carry the documented columns and nothing internal."""

from __future__ import annotations

import facplan
from facplan.keys import SITE_COLUMNS
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city


def test_sites_have_the_documented_columns_only(tmp_path) -> None:
    data = grid_city(tmp_path)
    data["optimize"] = [
        {"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 2},
        {"kind": "sports_park", "tier": "community", "model": "mclp", "sites": 1},
    ]
    result = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    assert list(result.sites.columns) == [*SITE_COLUMNS, "geometry"]
    # entry by entry, each in rank order, as the summary lists them
    expected = [sid for o in result.summary["optimize"] for sid in o["selected"]]
    assert result.sites["site_id"].tolist() == expected
    assert len(expected) == 3
