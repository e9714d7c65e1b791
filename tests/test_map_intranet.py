"""The map on an intranet: sports-park tiers by their own names; the streets drawn from the
walking network when tiles cannot load or with ``tiles: none``."""

from __future__ import annotations

from facplan.outputs.map import tier_label


def test_sports_park_tiers_have_their_own_names():
    assert [tier_label(t, "zh").split(" ")[0] for t in ("district", "community", "compound")] == [
        "片区级", "社区级", "小区级"]
    assert tier_label("community", "en") == "Community 社区级"
    assert tier_label("all", "zh") == "全部 All"
