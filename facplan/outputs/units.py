"""How an ``optimize`` entry's objective reads in the CLI table and the reports.

Each entry of ``summary.json`` ``optimize`` names its ``objective_unit`` (DESIGN,
*Results say what they measure*); this module turns the number and the unit into
text, so that no output prints "people" for person-metres, sites or cost.
"""

from __future__ import annotations

__all__ = ["objective_text", "curve_unit"]


#: The units' words in Chinese (``map.lang: zh``).
_ZH = {"people": "人", "weighted people": "加权人口", "person-metres": "人·米", "sites": "处",
       "cost": "造价", "before": "现状"}


def objective_text(o: dict, lang: str = "en") -> str:
    """The objective of the summary entry ``o`` with its unit (in Chinese with
    ``lang="zh"``).

    ``people``/``weighted people``: newly covered (served, when capacitated), with a
    sign ("+1,234 people"); ``person-metres``: the total walked after the plan, and
    before it when known; ``sites``: the number of sites; ``cost``: the total cost.
    """
    def w(word: str) -> str:
        return _ZH.get(word, word) if lang == "zh" else word

    unit = o.get("objective_unit", "people")
    v = float(o["objective"])
    if unit in ("people", "weighted people"):
        return f"+{v:,.0f} {w(unit)}"
    if unit == "person-metres":
        before = o.get("objective_before")
        text = f"{v:,.0f} {w('person-metres')}"
        return text if before is None else f"{text} ({w('before')} {float(before):,.0f})"
    if unit == "sites":
        return f"{v:,.0f} {w('sites')}"
    if unit == "cost":
        return f"{w('cost')} {v:,.0f}"
    return f"{v:,.6g} {unit}"


def curve_unit(o: dict) -> str:
    """Unit of the coverage curve of entry ``o``: covered (weighted) people for every
    model except p-median, whose curve is the person-metres walked."""
    unit = o.get("objective_unit", "people")
    if unit == "person-metres":
        return unit
    if unit == "weighted people":
        return unit
    if unit in ("sites", "cost"):  # LSCP: the curve counts the demand it covers
        return o.get("covered_unit", "people")
    return "people"
