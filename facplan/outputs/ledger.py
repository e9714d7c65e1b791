"""``ledger.xlsx``: the 城市体检 issue ledger (问题台账) of a run.

One sheet per level — communities, and parents when ``communities.parent_field`` is
given — with one row per unit: its population; per kind/tier the covered share before and
after the plan, the people covered after, and whether the unit meets the standard's
``target_coverage``; what is missing; and the proposed sites. Frozen header row, column
widths, number formats; Chinese headers with ``map.lang: zh``. Written with openpyxl.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from facplan.outputs.words import kind_tier_name, word

if TYPE_CHECKING:
    from facplan.result import Result

__all__ = ["write_ledger", "ledger_rows", "SHEETS"]

#: Sheet names per level: level -> (English, Chinese).
SHEETS = {"communities": ("communities", "社区"), "parents": ("parents", "街道")}

_PCT = "0.0%"
_INT = "#,##0"
_CENTRE_WORDS = {
    "no neighbourhood centre": ("no neighbourhood centre", "无邻里中心"),
    "no eligible candidate for a centre": ("no eligible candidate for a centre",
                                            "无可用邻里中心备选用地"),
}


def _kind_tiers(result: Result) -> list[tuple[str, str]]:
    return [tuple(k.split("/", 1)) for k in result.summary["access"]]


def _proposed(sites: pd.DataFrame, by: pd.Series | None, lang: str) -> dict[str, str]:
    """Unit id -> "site (kind/tier); …" of the chosen sites in it, in rank order."""
    if sites is None or len(sites) == 0:
        return {}
    df = pd.DataFrame({
        "unit": sites["community_id"].to_numpy(dtype=object),
        "text": [f"{s} ({kind_tier_name(k, t, lang)})" for s, k, t in
                 zip(sites["site_id"], sites["kind"], sites["tier"], strict=True)],
        "o": np.arange(len(sites)), "r": sites["rank"].to_numpy(),  # sites: entry, rank order
    })
    if by is not None:
        df["unit"] = df["unit"].map(by)
    df = df[df["unit"].notna()].sort_values(["o", "r"], kind="stable")
    return {u: "; ".join(g["text"]) for u, g in df.groupby("unit", sort=False)}


def _missing(shares: dict, targets: dict, lang: str) -> list[str]:
    items = []
    for (kind, tier), share in shares.items():
        target = targets[(kind, tier)]
        if share == share and share < target - 1e-12:
            name = kind_tier_name(kind, tier, lang)
            items.append(f"{name} 覆盖率 {share:.0%}（目标 {target:.0%}）" if lang == "zh"
                         else f"{name} {share:.0%} covered (target {target:.0%})")
    return items


def ledger_rows(result: Result, level: str) -> tuple[list[str], list[list[Any]], list[str]]:
    """The header, the rows and the number format of each column of one sheet.

    Parameters
    ----------
    result
        A run with communities.
    level
        ``"communities"`` or ``"parents"``.
    """
    lang = result.scenario.map.lang
    kts = _kind_tiers(result)
    acc = result.summary["access"]
    targets = {(k, t): float(acc[f"{k}/{t}"].get("target_coverage", 0.85)) for k, t in kts}
    comm = result.communities
    if level == "communities":
        table = comm
        lead = [("community_id", "community_id", "@"), ("name", "name", "@")]
        if "parent_id" in comm:
            lead += [("parent_id", "parent_id", "@"), ("parent_name", "parent_name", "@")]
        lead += [("population", "population", _INT)]
        proposed = _proposed(result.sites, None, lang)
        unit_col = "community_id"
    else:
        table = result.parents
        lead = [("parent_id", "parent_id", "@"), ("parent_name", "parent_name", "@"),
                ("n_communities", "communities", _INT), ("population", "population", _INT)]
        parent_of = pd.Series(comm["parent_id"].to_numpy(), index=comm["community_id"].to_numpy())
        proposed = _proposed(result.sites, parent_of, lang)
        unit_col = "parent_id"
    header = [word(w, lang) for w, _, _ in lead]
    formats = [f for _, _, f in lead]
    for k, t in kts:
        name = kind_tier_name(k, t, lang)
        extra = [("before", _PCT), ("after", _PCT), ("people_after", _INT), ("meets", "@")]
        if level == "parents":
            extra.insert(3, ("meeting", _INT))
        for w, f in extra:
            header.append(f"{name} {word(w, lang)}")
            formats.append(f)
    header += [word("missing", lang), word("proposed", lang)]
    formats += ["@", "@"]
    rows = []
    for _, r in table.iterrows():
        row: list[Any] = [r[c] for _, c, _ in lead]
        shares = {}
        for k, t in kts:
            key = f"{k}_{t}"
            before, after = float(r[f"coverage_{key}"]), float(r[f"coverage_{key}_after"])
            shares[(k, t)] = after
            pop = float(r["population"])
            cells = [None if np.isnan(before) else before, None if np.isnan(after) else after,
                     round(after * pop, 6) if pop > 0 else 0.0]
            if level == "parents":
                cells.append(int(r[f"meeting_target_{key}"]))
            meets = pop > 0 and after >= targets[(k, t)] - 1e-12
            cells.append(word("yes" if meets else "no", lang) if pop > 0 else word("none", lang))
            row += cells
        missing = _missing(shares, targets, lang) if float(r["population"]) > 0 else []
        if level == "communities":
            gaps = str(r.get("gaps") or "")
            missing = [_CENTRE_WORDS[p][lang == "zh"] for p in _CENTRE_WORDS if p in gaps.split("; ")
                       ] + missing
        row += ["；".join(missing) if lang == "zh" else "; ".join(missing),
                proposed.get(r[unit_col], "")]
        rows.append(row)
    return header, rows, formats


def _width(values: list[Any]) -> float:
    """Column width in Excel character units; a CJK character counts as two."""
    def w(v: Any) -> int:
        s = "" if v is None else (f"{v:,.1f}" if isinstance(v, float) else str(v))
        return sum(2 if ord(c) >= 0x2E80 else 1 for c in s)

    return float(min(max(8, max(w(v) for v in values) + 2), 60))


def write_ledger(path: Path, result: Result) -> None:
    """Write ``ledger.xlsx`` (nothing when the run has no communities).

    Equal inputs give byte-identical files (fixed workbook timestamps).
    """
    if result.communities is None:
        return
    import datetime

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    lang = result.scenario.map.lang
    wb = Workbook()
    wb.remove(wb.active)
    fixed = datetime.datetime(2000, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "facplan"
    wb.properties.title = f"{result.summary['scenario']} ledger"
    levels = ["communities"] + (["parents"] if result.parents is not None else [])
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for level in levels:
        header, rows, formats = ledger_rows(result, level)
        ws = wb.create_sheet(SHEETS[level][lang == "zh"])
        ws.append(header)
        for row in rows:
            ws.append(row)
        for j, name in enumerate(header, start=1):
            c = ws.cell(row=1, column=j)
            c.font, c.fill = bold, fill
            c.alignment = Alignment(wrap_text=True, vertical="top")
            for i in range(2, len(rows) + 2):
                ws.cell(row=i, column=j).number_format = formats[j - 1]
            letter = c.column_letter
            values = [r[j - 1] for r in rows]
            ws.column_dimensions[letter].width = max(
                min(_width([name]) / 2 + 2, 24), _width(values) if values else 8)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
    wb.save(path)
    _fix_zip_times(path)


def _fix_zip_times(path: Path) -> None:
    """Rewrite the zip with fixed member timestamps (and the document's ``modified``
    date, which openpyxl sets to the time of saving) so reruns are byte-identical."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z",
                              data)
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
