"""``report.html`` (and ``report.pdf``): the report a planner hands in.

One self-contained page — no script, every picture inlined as a data URI, system fonts
only — laid out for A4 paper, Chinese first with ``map.lang: zh`` (English otherwise):
the study area and its data sources; coverage per kind/tier before and after against the
standard's threshold and clause; the communities (and parent units) that miss the target;
the proposed sites with cost, phase and people gained; a map picture and the coverage
curve; the optimality statement in words; what was assumed. ``report: {pdf: true}``
prints the same page to ``report.pdf`` with a headless Chromium.

Every figure is formatted from ``summary.json``'s values (or the tables written beside
it) by the helpers :func:`pct` and :func:`people`, so a test can read them back.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facplan.outputs.words import kind_tier_name

if TYPE_CHECKING:
    from facplan.result import Result

__all__ = ["render_report_html", "write_report_html", "write_report_pdf", "pct", "people",
           "gap_words", "find_chromium", "map_picture"]

#: key -> (English, Chinese)
_T: dict[str, tuple[str, str]] = {
    "title": ("Facility plan", "公共服务设施规划评估报告"),
    "area": ("Study area and data", "研究范围与数据来源"),
    "population": ("Population", "人口"),
    "cells": ("population cells", "人口单元"),
    "communities_n": ("communities", "社区"),
    "parents_n": ("parent units", "街道"),
    "network": ("Walking network", "步行路网"),
    "nodes": ("nodes", "节点"),
    "edges": ("edges", "路段"),
    "crs": ("Coordinate system", "坐标系"),
    "inputs": ("Input files", "输入数据"),
    "key": ("Key", "数据项"),
    "file": ("File", "文件"),
    "coverage": ("Coverage before and after the plan", "规划前后服务覆盖率"),
    "kt": ("Facility", "设施"),
    "threshold": ("Walking threshold", "步行距离标准"),
    "clause": ("Standard (clause)", "标准依据（条款）"),
    "before": ("Covered before", "现状覆盖率"),
    "after": ("Covered after", "规划后覆盖率"),
    "people_before": ("People covered before", "现状覆盖人口"),
    "people_after": ("People covered after", "规划后覆盖人口"),
    "gini": ("Gini of walking distance", "步行距离基尼系数"),
    "meeting": ("Communities meeting the target", "达标社区"),
    "target": ("target", "目标"),
    "missing": ("Communities missing the target", "未达标社区"),
    "missing_parents": ("Parent units missing the target", "未达标街道"),
    "worst": ("Worst-served communities", "服务最差的社区"),
    "community": ("Community", "社区"),
    "parent": ("Parent unit", "街道"),
    "all_meet": ("Every community meets the target.", "全部社区达标。"),
    "all_parents_meet": ("Every parent unit meets the target.", "全部街道达标。"),
    "sites": ("Proposed sites", "拟建设施"),
    "rank": ("Rank", "序号"),
    "site": ("Site", "选址编号"),
    "cost": ("Cost", "造价"),
    "phase": ("Phase", "分期"),
    "gained": ("People gained", "新增覆盖人口"),
    "total": ("Total", "合计"),
    "no_sites": ("No new site was chosen.", "未选出新设施。"),
    "optimality": ("How good is the plan", "方案的最优性"),
    "map": ("Map", "地图"),
    "curve": ("Coverage curve", "覆盖曲线"),
    "assumptions": ("Assumptions", "假设与说明"),
    "warnings": ("Warnings", "警告"),
    "m": ("m", "米"),
    "min": ("min", "分钟"),
    "per_m_s": ("m/s", "米/秒"),
    "yes": ("meets", "达标"),
    "no": ("misses", "未达标"),
    "map_legend": ("Cells coloured by walking distance after the plan to", "人口单元按规划后步行距离着色："),
    "existing": ("existing facility", "现有设施"),
    "planned": ("proposed site", "拟建设施"),
}


def _w(key: str, lang: str) -> str:
    en, zh = _T[key]
    return zh if lang == "zh" else en


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def pct(x: Any) -> str:
    """A share as the report prints it: ``64.2%`` (``—`` for none)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{float(x):.1%}"


def people(x: Any) -> str:
    """A number of people (or metres, or a cost) as the report prints it: ``12,345``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{float(x):,.0f}"


#: Chinese names of the objective units of summary.json.
_UNITS_ZH = {"people": "人", "weighted people": "加权人数", "person-metres": "人·米",
             "sites": "处", "cost": "造价"}


def gap_words(o: dict, lang: str) -> str:
    """The optimality statement of one optimize entry in words."""
    gap, status = o.get("gap"), o.get("status", "")
    unit = o.get("objective_unit", "people" if o.get("model") == "mclp" else "")
    if lang == "zh":
        unit = _UNITS_ZH.get(unit, unit)
    obj, bound = o.get("objective"), o.get("bound")
    if status == "no candidates" or gap is None or (isinstance(gap, float) and math.isnan(gap)):
        return ("没有可选用地，未求解。" if lang == "zh"
                else "No candidate could be chosen; nothing was solved.")
    if status == "optimal" or gap <= 1e-6:
        return (f"已证明为最优方案：目标值 {people(obj)}（{unit}）等于理论上限 {people(bound)}。"
                if lang == "zh" else
                f"Proven optimal: the objective {people(obj)} ({unit}) equals the best "
                f"possible ({people(bound)}).")
    g = f"{gap:.1%}" if gap >= 0.001 else f"{gap:.2%}"
    return (f"与理论最优相差不超过 {g}：目标值 {people(obj)}（{unit}），理论界 {people(bound)}。"
            if lang == "zh" else
            f"Within {g} of the best possible: objective {people(obj)} ({unit}), bound "
            f"{people(bound)}.")


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------- map picture

_PAL = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]
_GREY = "#8c8c8c"


def map_picture(result: Result, key: str, *, width: int = 900, height: int = 620) -> bytes:
    """A static PNG of the plan: cells coloured by the walking distance after the plan to
    ``key`` (``"<kind>/<tier>"``: ≤ T/2, ≤ T, ≤ 1.5 T, ≤ 2 T, > 2 T, grey unreachable),
    community outlines, existing facilities (hollow squares) and proposed sites (filled
    circles), in the run's projected CRS."""
    from PIL import Image, ImageDraw

    kind, tier = key.split("/", 1)
    thr = float(result.summary["access"][key]["threshold_m"])
    demand = result.demand
    frames = [g for g in (result.communities, demand) if g is not None and len(g)]
    x0, y0, x1, y1 = np.array([f.total_bounds for f in frames]).T
    x0, y0, x1, y1 = x0.min(), y0.min(), x1.max(), y1.max()
    pad = 16
    scale = min((width - 2 * pad) / max(x1 - x0, 1.0), (height - 2 * pad) / max(y1 - y0, 1.0))
    ox = (width - (x1 - x0) * scale) / 2
    oy = (height - (y1 - y0) * scale) / 2

    def px(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
        return list(zip(((x - x0) * scale + ox).tolist(), (height - ((y - y0) * scale + oy)).tolist(),
                        strict=True))

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    d = demand[f"dist_{kind}_{tier}_after"].to_numpy(dtype=float)
    cls = np.digitize(d, [thr / 2 + 1e-6, thr + 1e-6, 1.5 * thr + 1e-6, 2 * thr + 1e-6])
    colour = [(_GREY if np.isnan(v) else _PAL[c]) for v, c in zip(d, cls, strict=True)]
    geoms = demand.geometry.to_numpy()
    r = max(2.0, min(6.0, 0.5 * math.sqrt(width * height / max(len(geoms), 1)) / 2))
    for g, c in zip(geoms, colour, strict=True):
        if g is None or g.is_empty:
            continue
        if g.geom_type == "Point":
            (u, v), = px(np.array([g.x]), np.array([g.y]))
            draw.ellipse((u - r, v - r, u + r, v + r), fill=c)
        else:
            for part in getattr(g, "geoms", [g]):
                if part.geom_type == "Polygon":
                    xy = np.asarray(part.exterior.coords)
                    draw.polygon(px(xy[:, 0], xy[:, 1]), fill=c)
    if result.communities is not None:
        for g in result.communities.geometry:
            for part in getattr(g, "geoms", [g]):
                xy = np.asarray(part.exterior.coords)
                draw.line(px(xy[:, 0], xy[:, 1]), fill="#333333", width=2)
    fac = result.facilities
    fac = fac[(fac["kind"] == kind) & (fac["tier"] == tier)]
    for p in fac.geometry.representative_point():
        (u, v), = px(np.array([p.x]), np.array([p.y]))
        draw.rectangle((u - 6, v - 6, u + 6, v + 6), outline="#1f3f7f", width=3)
    sites = result.sites
    if len(sites):
        sites = sites[(sites["kind"] == kind) & (sites["tier"] == tier)]
        for p in sites.geometry.representative_point():
            (u, v), = px(np.array([p.x]), np.array([p.y]))
            draw.ellipse((u - 7, v - 7, u + 7, v + 7), fill="#c2185b", outline="white", width=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _curve_png(result: Result) -> bytes | None:
    if not result.summary["optimize"]:
        return None
    from facplan.outputs.report import write_coverage_plot

    buf = io.BytesIO()
    write_coverage_plot(buf, result)  # type: ignore[arg-type]
    return buf.getvalue()


# --------------------------------------------------------------------------- sections

_CSS = """
@page { size: A4; margin: 16mm 14mm; }
html { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
  "Microsoft YaHei", "PingFang SC", "DejaVu Sans", Arial, sans-serif; font-size: 10.5pt;
  color: #111; }
body { max-width: 182mm; margin: 0 auto; }
h1 { font-size: 18pt; margin: 0 0 4mm; }
h2 { font-size: 13pt; margin: 7mm 0 2mm; border-bottom: 1px solid #888; padding-bottom: 1mm;
  break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; font-size: 9pt;
  break-inside: auto; }
tr { break-inside: avoid; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #e8eef7; }
td.n, th.n { text-align: right; }
figure { margin: 3mm 0; break-inside: avoid; text-align: center; }
figure img { max-width: 100%; max-height: 120mm; }
figcaption { font-size: 9pt; color: #444; }
.meets { color: #1a7a30; } .misses { color: #b0281f; font-weight: bold; }
.small { font-size: 8.5pt; color: #444; }
"""


def _area(result: Result, lang: str) -> str:
    s = result.summary
    n_comm = 0 if result.communities is None else len(result.communities)
    bits = [f"{_w('population', lang)} {people(s['population_total'])}",
            f"{s['cells']:,} {_w('cells', lang)}"]
    if n_comm:
        bits.append(f"{n_comm:,} {_w('communities_n', lang)}")
    if result.parents is not None:
        bits.append(f"{len(result.parents):,} {_w('parents_n', lang)}")
    net = s["network"]
    sep = "，" if lang == "zh" else ", "
    lines = [f"<p>{_e(sep.join(bits))}</p>"]
    if "nodes" in net:
        lines.append(f"<p>{_w('network', lang)}: {net['nodes']:,} {_w('nodes', lang)}, "
                     f"{net['edges']:,} {_w('edges', lang)}; {_w('crs', lang)} {_e(s['crs'])}</p>")
    rows = [[_e(k), _e(Path(f["path"]).name), f"<code>{_e(f['sha256'][:12])}</code>"]
            for k, f in s["inputs"].items()]
    lines.append(_table([_w("key", lang), _w("file", lang), "sha256"], rows, "inputs"))
    return f'<h2>1. {_w("area", lang)}</h2>' + "".join(lines)


def _coverage(result: Result, lang: str, standards: dict) -> str:
    rows = []
    for key, a in result.summary["access"].items():
        kind, tier = key.split("/", 1)
        std = standards.get(kind, {}).get(tier)
        thr = f"{a['threshold_m']:,.0f} {_w('m', lang)}"
        if std is not None and std.walk_min is not None:
            thr += f" ({std.walk_min:g} {_w('min', lang)})"
        after = a.get("after", {})
        meet = a.get("communities_meeting_target")
        with_people = a.get("communities_with_people")
        meeting = "—" if meet is None else (
            f"{meet} / {with_people} ({_w('target', lang)} {pct(a.get('target_coverage'))})")
        rows.append([
            _e(kind_tier_name(kind, tier, lang)), thr, _e(std.source if std else ""),
            f'<span data-v="coverage">{pct(a["coverage"])}</span>',
            f'<span data-v="after">{pct(after.get("coverage"))}</span>',
            f'<span data-v="covered">{people(a["covered_population"])}</span>',
            f'<span data-v="covered_after">{people(after.get("covered_population"))}</span>',
            "—" if a.get("gini") is None else f'{a["gini"]:.3f}', meeting,
        ])
    head = [_w(k, lang) for k in ("kt", "threshold", "clause", "before", "after",
                                 "people_before", "people_after", "gini", "meeting")]
    return f'<h2>2. {_w("coverage", lang)}</h2>' + _table(head, rows, "coverage")


def _missing(result: Result, lang: str) -> str:
    out = [f'<h2>3. {_w("missing", lang)}</h2>']
    comm = result.communities
    if comm is None:
        return ""
    acc = result.summary["access"]
    keys = list(acc)
    bad_rows, worst = [], []
    for _, r in comm.iterrows():
        if not float(r["population"]) > 0:
            continue
        fails = []
        for key in keys:
            kind, tier = key.split("/", 1)
            c = float(r[f"coverage_{kind}_{tier}_after"])
            if c < float(acc[key].get("target_coverage", 0.85)) - 1e-12:
                fails.append(f"{_e(kind_tier_name(kind, tier, lang))} {pct(c)}")
        score = min(float(r[f"coverage_{k.replace('/', '_')}_after"]) for k in keys) if keys else 1.0
        label = f"{_e(r['name'])} ({_e(r['community_id'])})"
        parent = [_e(r["parent_name"])] if "parent_name" in comm else []
        if fails:
            bad_rows.append([label, *parent, people(r["population"]), "; ".join(fails)])
        worst.append((score, str(r["community_id"]), [label, *parent, people(r["population"]),
                                                      pct(score)]))
    head = [_w("community", lang)] + ([_w("parent", lang)] if "parent_name" in comm else []) + [
        _w("population", lang), _w("after", lang)]
    out.append(_table(head, bad_rows, "missing") if bad_rows else f"<p>{_w('all_meet', lang)}</p>")
    if result.parents is not None:
        prow = []
        for _, p in result.parents.iterrows():
            fails = []
            for key in keys:
                kind, tier = key.split("/", 1)
                c = float(p[f"coverage_{kind}_{tier}_after"])
                if p["population"] > 0 and c < float(acc[key].get("target_coverage", 0.85)) - 1e-12:
                    fails.append(f"{_e(kind_tier_name(kind, tier, lang))} {pct(c)}")
            if fails:
                prow.append([f"{_e(p['parent_name'])} ({_e(p['parent_id'])})",
                             people(p["population"]), "; ".join(fails)])
        out.append(f"<h3>{_w('missing_parents', lang)}</h3>")
        out.append(_table([_w("parent", lang), _w("population", lang), _w("after", lang)], prow,
                          "missing-parents") if prow
                   else f"<p>{_w('all_parents_meet', lang)}</p>")
    worst.sort(key=lambda t: (t[0], t[1]))
    if worst:
        out.append(f"<h3>{_w('worst', lang)}</h3>")
        out.append(_table(head, [w[2] for w in worst[:10]], "worst"))
    return "".join(out)


def _sites(result: Result, lang: str) -> str:
    out = [f'<h2>4. {_w("sites", lang)}</h2>']
    sites = result.sites
    if not len(sites):
        return out[0] + f"<p>{_w('no_sites', lang)}</p>"
    rows = []
    for _, r in sites.iterrows():  # entry by entry, in rank order
        phase = r.get("phase")
        rows.append([str(int(r["rank"])), _e(r["site_id"]),
                     _e(kind_tier_name(r["kind"], r["tier"], lang)), _e(r["community_id"] or ""),
                     people(r["cost"]), "" if phase is None or phase != phase else _e(phase),
                     f'<span data-v="gained">{people(r["marginal_population"])}</span>'])
    cost = float(np.nansum(sites["cost"].to_numpy(dtype=float)))
    gained = float(sites["marginal_population"].sum())
    rows.append([f"<b>{_w('total', lang)}</b>", f"{len(sites)}", "", "", people(cost), "",
                 people(gained)])
    head = [_w(k, lang) for k in ("rank", "site", "kt", "community", "cost", "phase", "gained")]
    out.append(_table(head, rows, "sites"))
    return "".join(out)


def _optimality(result: Result, lang: str) -> str:
    items = []
    for o in result.summary["optimize"]:
        name = kind_tier_name(o["kind"], o["tier"], lang)
        items.append(f"<li><b>{_e(name)}</b> ({_e(o['model'])}): "
                     f'<span data-v="gap">{_e(gap_words(o, lang))}</span></li>')
    if not items:
        return ""
    return f'<h2>5. {_w("optimality", lang)}</h2><ul>{"".join(items)}</ul>'


def _pictures(result: Result, lang: str) -> str:
    keys = list(result.summary["access"])
    if not keys:
        return ""
    opt = result.summary["optimize"]
    key = f"{opt[0]['kind']}/{opt[0]['tier']}" if opt else keys[0]
    kind, tier = key.split("/", 1)
    out = [f'<h2>6. {_w("map", lang)}</h2>',
           f'<figure><img alt="map" src="{_png_uri(map_picture(result, key))}">'
           f"<figcaption>{_w('map_legend', lang)} {_e(kind_tier_name(kind, tier, lang))}"
           f" (≤ T/2, ≤ T, ≤ 1.5 T, ≤ 2 T, > 2 T; T = "
           f"{result.summary['access'][key]['threshold_m']:,.0f} {_w('m', lang)}); "
           f"□ {_w('existing', lang)}, ● {_w('planned', lang)}</figcaption></figure>"]
    curve = _curve_png(result)
    if curve is not None:
        out.append(f'<figure><img alt="coverage curve" src="{_png_uri(curve)}">'
                   f"<figcaption>{_w('curve', lang)}</figcaption></figure>")
    return "".join(out)


def _assumptions(result: Result, lang: str) -> str:
    sc = result.scenario
    s = result.summary
    zh = lang == "zh"
    items = [
        (f"步行速度 {sc.walk_speed_m_s:g} 米/秒；步行距离沿路网计算（接入方式 {sc.snap}，"
         f"最大接入距离 {sc.max_snap_m:g} 米）。") if zh else
        (f"Walking speed {sc.walk_speed_m_s:g} m/s; distances along the walking network "
         f"(snap: {sc.snap}, max_snap_m {sc.max_snap_m:g} m)."),
    ]
    if sc.population.dasymetric is not None:
        items.append("人口为按居住建筑分配的估算值（分区密度法），并非普查数据。" if zh else
                     "Population is estimated from residential buildings (dasymetric), not "
                     "counted.")
    if sc.candidates:
        items.append("造价取自备选用地数据中给出的数值，本工具未核实。" if zh else
                     "Costs are the values given with the candidate sites; facplan does not "
                     "check them.")
    unreachable = sum(a["unreachable_population"] for a in s["access"].values())
    if unreachable:
        items.append("部分人口无法通过路网到达设施，计为未覆盖（见警告）。" if zh else
                     "Some people cannot reach any facility on the network and count as not "
                     "covered (see the warnings).")
    items.append("标有 † 的标准数值来自二手资料，使用前应对照标准原文核实。" if zh else
                 "Standard values marked † come from secondary sources and should be checked "
                 "against the standard's text.")
    items += [_e(t) for t in sc.report.assumptions] if getattr(sc, "report", None) else []
    body = "".join(f"<li>{t}</li>" for t in items)
    warn = ""
    if s["warnings"]:
        warn = (f"<h3>{_w('warnings', lang)}</h3><ul class='small'>"
                + "".join(f"<li>{_e(w)}</li>" for w in s["warnings"]) + "</ul>")
    return f'<h2>7. {_w("assumptions", lang)}</h2><ul>{body}</ul>{warn}'


def render_report_html(result: Result) -> str:
    """The report page of ``result`` as one HTML string (UTF-8, self-contained)."""
    lang = result.scenario.map.lang
    standards = result.scenario.resolved_standards()
    s = result.summary
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{_e(s['scenario'])} — {_w('title', lang)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(s['scenario'])}<br><small>{_w('title', lang)}</small></h1>",
        _area(result, lang),
        _coverage(result, lang, standards),
        _missing(result, lang),
        _sites(result, lang),
        _optimality(result, lang),
        _pictures(result, lang),
        _assumptions(result, lang),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def write_report_html(path: Path, result: Result) -> None:
    """Write ``report.html``."""
    Path(path).write_text(render_report_html(result), encoding="utf-8")


#: Where :func:`find_chromium` looks, after ``$FACPLAN_CHROMIUM``.
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                   "chrome", "msedge")


def find_chromium() -> str | None:
    """A Chromium-family browser for printing: ``$FACPLAN_CHROMIUM`` or the first of
    :data:`_CHROMIUM_NAMES` on the PATH."""
    import os
    import shutil

    env = os.environ.get("FACPLAN_CHROMIUM")
    if env:
        return env
    for name in _CHROMIUM_NAMES:
        if (found := shutil.which(name)) is not None:
            return found
    return None


def require_pdf_browser() -> str:
    """The browser :func:`write_report_pdf` prints with; checked by ``facplan validate``
    and at the start of ``facplan run`` when a scenario asks for ``report: {pdf: true}``,
    so that a missing browser is found before the work, not after it.

    Raises
    ------
    InputError
        No Chromium-family browser is found.
    """
    from facplan._errors import InputError

    browser = find_chromium()
    if browser is None:
        raise InputError(
            "report.pdf needs a Chromium-family browser (chromium, google-chrome or msedge on "
            "the PATH, or FACPLAN_CHROMIUM=/path/to/browser); install one or set "
            "'report: {pdf: false}'",
            field="report.pdf",
        )
    return browser


def write_report_pdf(html_path: Path, pdf_path: Path, *, timeout_s: float = 120.0) -> None:
    """Print ``html_path`` to ``pdf_path`` (A4, from the page's own ``@page`` rule) with a
    headless Chromium, with no network (every host name fails to resolve).

    Raises
    ------
    InputError
        When no browser is found (``report.pdf`` was asked for in the scenario) or the
        browser fails.
    """
    import subprocess
    import tempfile

    from facplan._errors import InputError

    browser = require_pdf_browser()
    with tempfile.TemporaryDirectory(prefix="facplan-pdf-") as profile:
        cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
               "--disable-background-networking", "--disable-component-update",
               f"--user-data-dir={profile}",
               "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
               "--no-pdf-header-footer", "--print-to-pdf-no-header",
               f"--print-to-pdf={Path(pdf_path).resolve()}", Path(html_path).resolve().as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InputError(f"printing report.pdf with {browser} failed: {exc}",
                             field="report.pdf") from exc
    if done.returncode != 0 or not Path(pdf_path).is_file() or Path(pdf_path).stat().st_size == 0:
        raise InputError(
            f"printing report.pdf with {browser} failed (exit {done.returncode}): "
            + (done.stderr or "").strip()[-500:],
            field="report.pdf",
        )
