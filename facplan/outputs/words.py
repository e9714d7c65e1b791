"""The words of the planner deliverables (ledger.xlsx, report.html) in English and Chinese.

One language per document: Chinese with ``map.lang: zh``, English otherwise (the map
itself shows both; a ledger column header has room for one).
"""

from __future__ import annotations

from typing import Any

__all__ = ["WORDS", "word", "kind_name", "tier_name", "kind_tier_name"]

#: key -> (English, Chinese)
WORDS: dict[str, tuple[str, str]] = {
    "communities": ("Communities", "社区"),
    "parents": ("Parent units", "街道"),
    "community_id": ("Community id", "社区编号"),
    "name": ("Name", "名称"),
    "parent_id": ("Parent id", "街道编号"),
    "parent_name": ("Parent unit", "所属街道"),
    "n_communities": ("Communities", "社区数"),
    "population": ("Population", "人口"),
    "before": ("covered before", "现状覆盖率"),
    "after": ("covered after", "规划后覆盖率"),
    "people_after": ("people covered after", "规划后覆盖人口"),
    "meets": ("meets target", "是否达标"),
    "meeting": ("communities meeting target", "达标社区数"),
    "yes": ("yes", "达标"),
    "no": ("no", "未达标"),
    "missing": ("What is missing", "问题清单"),
    "proposed": ("Proposed sites", "拟建设施"),
    "none": ("—", "—"),
}

_KINDS: dict[str, tuple[str, str]] = {
    "sports_park": ("sports park", "社区体育公园"),
    "neighbourhood_centre": ("neighbourhood centre", "邻里中心"),
}
_TIERS: dict[str, tuple[str, str]] = {
    "district": ("district", "片区级"),
    "community": ("community", "社区级"),
    "compound": ("compound", "小区级"),
    "all": ("", ""),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "zh" else pair[0]


def word(key: str, lang: str) -> str:
    """The word for ``key`` in ``lang`` (``"zh"`` or anything else for English)."""
    return _pick(WORDS[key], lang)


def kind_name(kind: Any, lang: str) -> str:
    """A facility kind in one language (built-in kinds and the catalogue's; others as
    given)."""
    k = str(kind)
    if k in _KINDS:
        return _pick(_KINDS[k], lang)
    from facplan.catalogue import CATALOGUE_NAMES

    if k in CATALOGUE_NAMES:
        return _pick(CATALOGUE_NAMES[k], lang)
    return k


def tier_name(tier: Any, lang: str) -> str:
    """A tier in one language ('' for ``all``)."""
    t = str(tier)
    return _pick(_TIERS[t], lang) if t in _TIERS else t


def kind_tier_name(kind: Any, tier: Any, lang: str) -> str:
    """``社区体育公园·小区级`` / ``sports park (compound)``; the kind alone for ``all``."""
    k, t = kind_name(kind, lang), tier_name(tier, lang)
    if not t:
        return k
    return f"{k}·{t}" if lang == "zh" else f"{k} ({t})"
