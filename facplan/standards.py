"""Built-in walking standards per facility kind and tier.

Defaults follow GB 50180-2018 (城市居住区规划设计标准) life circles. Values marked
"secondary source" in DESIGN.md are taken from secondary summaries and must be checked
against the standard's text before they are relied upon; each entry names its source.
A scenario can override any value (``standards:`` key).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from facplan.catalogue import CATALOGUE

__all__ = [
    "Standard",
    "DEFAULT_STANDARDS",
    "TIERS",
    "TIER_ORDER",
    "tier_rank",
    "kind_tier_order",
    "DEFAULT_WALK_SPEED_M_S",
    "SPORTS_AREA_TARGET_M2_PER_PERSON",
    "resolve_standards",
]

#: Walking speed in m/s implied by the standard's 300 m / 5 min (60 m/min).
DEFAULT_WALK_SPEED_M_S = 1.0
#: National 2025 target of sports ground per resident, m² per person.
SPORTS_AREA_TARGET_M2_PER_PERSON = 2.6
#: The three tiers of sports parks, largest first; kinds without tiers use ``all``.
TIERS = ("district", "community", "compound")
TIER_ORDER = {"district": 0, "community": 1, "compound": 2, "all": 0}


def tier_rank(tier: str) -> int:
    """Where a tier sorts: district, community, compound (``all`` with district), then
    any tier a scenario names itself."""
    return TIER_ORDER.get(tier, len(TIERS))


def kind_tier_order(kind_tier: tuple[str, str]) -> tuple[str, int, str]:
    """Sort key of a ``(kind, tier)`` pair: by kind, then by :func:`tier_rank`."""
    kind, tier = kind_tier
    return kind, tier_rank(tier), tier


@dataclass(frozen=True)
class Standard:
    """The standard for one kind and tier.

    Attributes
    ----------
    walk_m
        Walking threshold in metres (``walk_min`` × speed when given in minutes).
    walk_min
        The threshold in minutes when the scenario gave one (groups with their own
        walking speed then get their own threshold in metres).
    min_area_m2
        Minimum site area in m² for a candidate to serve this tier.
    capacity
        People one site serves (upper end of the population served per circle).
    nested
        Whether a site of this tier also serves lower tiers' demand.
    one_per_community
        Each community should have exactly one (neighbourhood centres).
    source
        The clause or source behind the numbers.
    target_coverage
        Share of a community's people that must be covered for the community to meet the
        standard (``communities_meeting_target`` in summary.json; the ledger's 达标).
    """

    walk_m: float
    walk_min: float | None = None
    min_area_m2: float = 0.0
    capacity: float | None = None
    nested: bool = False
    one_per_community: bool = False
    source: str = ""
    target_coverage: float = 0.85


DEFAULT_STANDARDS: dict[str, dict[str, Standard]] = {
    "sports_park": {
        "district": Standard(
            walk_m=1000.0,
            min_area_m2=3150.0,
            capacity=100_000,
            source="GB 50180-2018 15-min life circle (800-1000 m); area: secondary source",
        ),
        "community": Standard(
            walk_m=500.0,
            min_area_m2=1310.0,
            capacity=25_000,
            source="GB 50180-2018 10-min life circle (500 m); GB/T 50378-2019 6.2.4; "
            "area: secondary source",
        ),
        "compound": Standard(
            walk_m=300.0,
            min_area_m2=770.0,
            capacity=12_000,
            source="GB 50180-2018 5-min life circle (300 m, secondary source); area: "
            "secondary source",
        ),
    },
    "neighbourhood_centre": {
        "all": Standard(
            walk_m=1000.0,
            min_area_m2=800.0,
            capacity=None,
            one_per_community=True,
            source="GB 50180-2018 15-min life circle; floor area: Shanghai 1+N centre "
            "(secondary source)",
        ),
    },
}


# the life-circle catalogue (facplan.catalogue): one tier, ``all``, per kind
DEFAULT_STANDARDS.update({
    kind: {"all": Standard(walk_m=v["walk_m"], min_area_m2=v["min_area_m2"],
                           capacity=v["capacity"], source=v["source"])}
    for kind, v in CATALOGUE.items()
})


def resolve_standards(
    overrides: dict[str, dict[str, dict]] | None = None,
    *,
    walk_speed_m_s: float = DEFAULT_WALK_SPEED_M_S,
) -> dict[str, dict[str, Standard]]:
    """Merge scenario overrides into the defaults.

    Parameters
    ----------
    overrides
        ``{kind: {tier: {walk_m | walk_min, min_area_m2, capacity, nested}}}``. Unknown
        kinds and tiers are added (user-named kinds); they must then give a threshold.
    walk_speed_m_s
        Speed used to turn ``walk_min`` into metres.

    Returns
    -------
    dict
        ``{kind: {tier: Standard}}``.
    """
    out = {kind: dict(tiers) for kind, tiers in DEFAULT_STANDARDS.items()}
    for kind, tiers in (overrides or {}).items():
        for tier, values in tiers.items():
            values = dict(values)
            minutes = values.pop("walk_min", None)
            if minutes is not None:
                values["walk_m"] = float(minutes) * 60.0 * walk_speed_m_s
                values["walk_min"] = float(minutes)
            elif "walk_m" in values:
                values["walk_min"] = None
            base = out.get(kind, {}).get(tier)
            if base is None:
                out.setdefault(kind, {})[tier] = Standard(**values)
            else:
                out[kind][tier] = replace(base, **values)
    return out
