"""The facility catalogue of the 5/10/15-minute life circles (DESIGN, *A built-in facility
catalogue*): the kinds a 城市体检 counts beside sports parks and neighbourhood centres.

Each entry gives the walking threshold of its life circle, a minimum site area where one
could be read, the population served (the upper end of its life circle's population, as
the sports-park tiers use) and where each value comes from. **†** marks a value that was
not checked against the standard's own text (GB 50180-2018, TD/T 1062-2021 and the
完整居住社区建设标准 could not be read here): the life-circle level of each kind and the
300 m / 500 m / 1000 m thresholds follow DESIGN.md's table of life circles; the school
and kindergarten figures are those quoted from the facility table of the superseded
GB 50180-93 in public copies (service radius "不宜大于" 300 m / 500 m / 1000 m; site area
of the smallest listed size, e.g. 幼儿园 4班 ≥ 1500 m²). A kind without a readable minimum
area has ``min_area_m2`` 0 (no minimum). Every value can be overridden per scenario
(``standards: {kind: {all: {...}}}``), and a planner should do so from the local standard.

This module holds plain values; :mod:`facplan.standards` turns them into standards.
"""

from __future__ import annotations

__all__ = ["CATALOGUE", "CATALOGUE_NAMES", "LIFE_CIRCLES"]

#: Life circle (minutes) -> (walking threshold in m, population served, source of both).
LIFE_CIRCLES: dict[int, tuple[float, float, str]] = {
    5: (300.0, 12_000, "GB 50180-2018 5-minute life circle: 300 m †, 5,000-12,000 people †"),
    10: (500.0, 25_000, "GB 50180-2018 10-minute life circle: 500 m, 15,000-25,000 people"),
    15: (1000.0, 100_000, "GB 50180-2018 15-minute life circle: 800-1000 m, "
         "50,000-100,000 people"),
}

_OLD_TABLE = "GB 50180-93 facility table (public copies) †"

#: kind -> life circle, minimum site area (m², 0 = none encoded), English and Chinese
#: names, and the source of the kind's own values beyond its life circle.
_ENTRIES: dict[str, tuple[int, float, str, str, str]] = {
    "community_health_station": (5, 0.0, "community health station", "社区卫生服务站",
                                 "GB 50180-2018 Appendix B, 5-minute circle facility †; "
                                 "no minimum area encoded"),
    "elderly_day_care": (5, 0.0, "elderly day care centre", "老年人日间照料中心",
                         "GB 50180-2018 Appendix B, 5-minute circle facility †; "
                         "no minimum area encoded"),
    "nursery": (5, 0.0, "nursery (under 3)", "托儿所",
                f"service radius 300 m: {_OLD_TABLE}; no minimum area encoded"),
    "kindergarten": (5, 1500.0, "kindergarten", "幼儿园",
                     f"service radius 300 m and site ≥ 1500 m² (4 classes): {_OLD_TABLE}"),
    "culture_station": (5, 0.0, "culture station", "文化活动站",
                        "GB 50180-2018 Appendix B, 5-minute circle facility †; "
                        "no minimum area encoded"),
    "community_service_station": (5, 0.0, "community service station", "社区服务站",
                                  "GB 50180-2018 Appendix B, 5-minute circle facility †; "
                                  "no minimum area encoded"),
    "outdoor_fitness": (5, 150.0, "outdoor fitness ground", "室外综合健身场地",
                        "GB 50180-2018 5-minute circle; outdoor fitness ≥ 150 m² "
                        "(DESIGN.md default standards) †"),
    "primary_school": (10, 6000.0, "primary school", "小学",
                       f"service radius 500 m and site ≥ 6000 m² (12 classes): {_OLD_TABLE}"),
    "fresh_food_market": (10, 0.0, "fresh-food market", "菜市场或生鲜超市",
                          "GB 50180-2018 Appendix B, 10-minute circle facility †; "
                          "no minimum area encoded"),
    "junior_middle_school": (15, 11000.0, "junior middle school", "初中",
                             f"service radius 1000 m and site ≥ 11000 m² (18 classes): "
                             f"{_OLD_TABLE}"),
    "community_health_centre": (15, 0.0, "community health service centre", "社区卫生服务中心",
                                "GB 50180-2018 Appendix B, 15-minute circle facility †; "
                                "no minimum area encoded"),
    "culture_centre": (15, 0.0, "culture centre", "文化活动中心",
                       "GB 50180-2018 Appendix B, 15-minute circle facility †; "
                       "no minimum area encoded"),
    "elderly_care_home": (15, 0.0, "elderly care home", "养老院",
                          "GB 50180-2018 Appendix B, 15-minute circle facility †; "
                          "no minimum area encoded"),
}

#: kind -> (English, Chinese) name.
CATALOGUE_NAMES: dict[str, tuple[str, str]] = {k: (e[2], e[3]) for k, e in _ENTRIES.items()}


def _entry(kind: str) -> dict:
    circle, area, _, _, own = _ENTRIES[kind]
    walk_m, served, circle_source = LIFE_CIRCLES[circle]
    return {
        "walk_m": walk_m,
        "min_area_m2": area,
        "capacity": served,
        "life_circle_min": circle,
        "source": f"{own}; threshold and population served: {circle_source}",
    }


#: kind -> the values of its standard (tier ``all``): ``walk_m``, ``min_area_m2``,
#: ``capacity``, ``life_circle_min`` and ``source``.
CATALOGUE: dict[str, dict] = {kind: _entry(kind) for kind in _ENTRIES}
