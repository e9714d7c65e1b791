"""The words of facplan's texts in English and Chinese (``map: {lang: zh}``).

``say(text, lang)`` gives the Chinese of an English phrase of the CLI summary,
``report.md``, the ``gaps`` text and the coverage-curve labels when ``lang`` is ``"zh"``,
and the phrase itself otherwise (English is the default; unknown phrases stay English).
"""

from __future__ import annotations

__all__ = ["say", "kind_tier_label", "KIND_ZH", "TIER_ZH"]

#: Chinese names of the built-in kinds.
KIND_ZH = {
    "sports_park": "体育公园",
    "neighbourhood_centre": "邻里中心",
    "clinic": "卫生服务站",
    "park": "公园",
}
#: Chinese names of the tiers (GB 50180 life circles).
TIER_ZH = {"district": "片区", "community": "社区", "compound": "小区", "all": "全部"}

_ZH = {
    # CLI summary and report
    "kind/tier": "类型/层级",
    "threshold": "步行标准",
    "covered before": "现状覆盖率",
    "after": "规划后",
    "people": "人",
    "sites": "处新址",
    "gap": "最优间隙",
    "bound": "上界",
    "mean distance": "平均距离",
    "unreachable": "不可达人口",
    "Inputs": "输入数据",
    "Coverage": "覆盖情况",
    "New sites": "新增选址",
    "Communities": "社区",
    "Warnings": "提示",
    "key": "键",
    "file": "文件",
    "rank": "排序",
    "site": "选址",
    "people gained": "新增覆盖人口",
    "cost": "造价",
    "community": "社区",
    "population": "人口",
    "gaps": "缺口",
    "coverage curve": "覆盖曲线",
    "walking network": "步行网络",
    "nodes": "节点",
    "an origin–destination table of {n} cell–site pairs": "起讫点距离表，{n} 对人口单元–选址",
    "edges": "路段",
    "cells": "个人口单元",
    "population {total} in {cells} cells": "人口 {total}，{cells} 个人口单元",
    "outputs in": "输出目录",
    # gaps text
    "no neighbourhood centre": "无邻里中心",
    "no eligible candidate for a centre": "无可用于邻里中心的候选用地",
    "covered": "覆盖",
    # coverage curve
    "new sites (in rank order)": "新增选址数（按排序）",
    "people within the walking standard": "步行标准内人口",
    "coverage curve (population {total})": "覆盖曲线（人口 {total}）",
}


def say(text: str, lang: str = "en") -> str:
    """``text`` in ``lang`` (``"en"`` or ``"zh"``)."""
    if lang == "zh":
        return _ZH.get(text, text)
    return text


def kind_tier_label(kind: str, tier: str, lang: str = "en") -> str:
    """``sports_park/community`` in English; ``体育公园/社区`` in Chinese."""
    if lang != "zh":
        return f"{kind}/{tier}"
    return f"{KIND_ZH.get(kind, kind)}/{TIER_ZH.get(tier, tier)}"
