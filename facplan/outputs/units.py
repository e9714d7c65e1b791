"""How an ``optimize`` entry's objective reads in the CLI table and the reports.

Each entry of ``summary.json`` ``optimize`` names its ``objective_unit`` (DESIGN,
*Results say what they measure*); this module turns the number and the unit into
text, so that no output prints "people" for person-metres, sites or cost.
"""

from __future__ import annotations

__all__ = ["objective_text", "curve_unit"]


def objective_text(o: dict) -> str:
    """The objective of the summary entry ``o`` with its unit.

    ``people``/``weighted people``: newly covered (served, when capacitated), with a
    sign ("+1,234 people"); ``person-metres``: the total walked after the plan, and
    before it when known; ``sites``: the number of sites; ``cost``: the total cost.
    """
    unit = o.get("objective_unit", "people")
    v = float(o["objective"])
    if unit in ("people", "weighted people"):
        return f"+{v:,.0f} {unit}"
    if unit == "person-metres":
        before = o.get("objective_before")
        text = f"{v:,.0f} person-metres"
        return text if before is None else f"{text} (before {float(before):,.0f})"
    if unit == "sites":
        return f"{v:,.0f} sites"
    if unit == "cost":
        return f"cost {v:,.0f}"
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
