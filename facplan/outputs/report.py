"""``report.md`` and ``coverage_curve.png``: a readable summary of one run."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facplan.escape import md_code, md_text
from facplan.outputs.units import curve_unit, objective_text

if TYPE_CHECKING:
    from facplan.result import Result

__all__ = ["coverage_curves", "write_coverage_plot", "write_report"]


def coverage_curves(result: Result) -> list[dict]:
    """Population covered against the number of new sites, per optimize entry.

    The k-th point is the coverage after the first k sites in rank order (the greedy pass
    over the chosen set), so the last point equals ``covered_after``.

    Returns
    -------
    list of dict
        ``label``, ``sites`` (0..n), ``covered`` (in ``unit``: people or weighted
        people covered; for p-median the person-metres walked), ``unit``, ``cost``
        (cumulative).
    """
    curves = []
    sites = result.sites
    for o in result.summary["optimize"]:
        rows = (sites[sites["site_id"].isin(o["selected"])].sort_values("rank") if len(sites)
                else sites)
        gains = rows["marginal_population"].to_numpy(dtype=float) if len(rows) else np.zeros(0)
        costs = rows["cost"].to_numpy(dtype=float) if len(rows) else np.zeros(0)
        unit = curve_unit(o)
        if unit == "person-metres":  # p-median: marginals are person-metres saved
            start = float(o.get("objective_before", o["objective"]))
            values = [start, *(start - np.cumsum(gains))]
        else:
            values = [o["covered_before"], *(o["covered_before"] + np.cumsum(gains))]
        curves.append(
            {
                "label": f"{o['kind']}/{o['tier']} ({o['model']})",
                "sites": list(range(len(gains) + 1)),
                "covered": values,
                "unit": unit,
                "cost": [0.0, *np.cumsum(np.nan_to_num(costs))],
            }
        )
    return curves


#: Line colours, one per optimize entry (matplotlib's "tab10").
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")
_SIZE = (700, 450)  # pixels
_SS = 3  # drawn at 3x and scaled down: smooth lines without an anti-aliasing renderer
_LEGEND_SPOTS = ((1, 0), (0, 0), (0, 1), (1, 1), (1, 0.5), (0, 0.5), (0.5, 1), (0.5, 0),
                 (0.5, 0.5))  # (x, y) in the plot area, 0 = left/top; first wins a tie


def _nice_ticks(lo: float, hi: float, *, integer: bool = False, most: int = 8) -> np.ndarray:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) within ``[lo, hi]``."""
    raw = (hi - lo) / most
    base = 10.0 ** math.floor(math.log10(raw))
    steps = [m * base for m in (1.0, 2.0, 2.5, 5.0, 10.0)]
    if integer:
        steps = [st for st in steps if st >= 1 and st == round(st)] or [1.0]
    step = next(st for st in steps if st >= raw)
    return np.arange(math.ceil(lo / step), math.floor(hi / step) + 1) * step


def _tick_text(values: np.ndarray) -> list[str]:
    """Tick labels with thousands separators and as many decimals as the step needs."""
    step = float(values[1] - values[0]) if len(values) > 1 else 1.0
    decimals = 0
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-9:
        decimals += 1
    return [f"{v:,.{decimals}f}" for v in values]


#: Fonts with Chinese glyphs, tried in order for text DejaVu Sans cannot draw (Debian's
#: fonts-wqy-microhei, which ``make test`` installs; Noto CJK; Windows; macOS).
_CJK_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
)


def _needs_cjk(text: str) -> bool:
    """Whether ``text`` has characters from the CJK blocks (U+2E80 on)."""
    return any(ord(c) >= 0x2E80 for c in text)


@functools.lru_cache(maxsize=1)
def _cjk_font_file() -> str | None:
    """A font file with Chinese glyphs on this machine, or None.

    The first of :data:`_CJK_FONT_FILES` that exists, else the first font fontconfig
    lists for Chinese (``fc-list :lang=zh``) when fontconfig is installed.
    """
    for path in _CJK_FONT_FILES:
        if Path(path).is_file():
            return path
    import shutil
    import subprocess

    if shutil.which("fc-list") is None:
        return None
    try:
        found = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True,
                               text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.split(":")[0].strip() for line in found.splitlines() if line.strip())
    return files[0] if files else None


@functools.lru_cache(maxsize=8)
def _font(size: int, cjk: bool = False) -> Any:
    """DejaVu Sans (matplotlib's font, shipped in its package) at ``size`` pixels; with
    ``cjk``, a font with Chinese glyphs (:func:`_cjk_font_file`) when there is one."""
    from PIL import ImageFont

    if cjk and (file := _cjk_font_file()) is not None:
        return ImageFont.truetype(file, size, layout_engine=ImageFont.Layout.BASIC)
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return ImageFont.load_default(size)
    path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not path.is_file():
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)


def _legend(draw: Any, box: tuple, texts: list[str], samples: np.ndarray, r: int) -> None:
    """The legend, at the first of :data:`_LEGEND_SPOTS` that hides the fewest of the
    ``samples`` (pixels along the lines); ``r`` is the marker radius."""
    s = _SS
    font = _font(11 * s)
    row = font.getbbox("Ag")[3] + 5 * s
    lw = 44 * s + max(draw.textlength(t, font=font) for t in texts)
    lh = row * len(texts) + 8 * s
    pad = 8 * s
    spots = [(box[0] + pad + fx * (box[2] - box[0] - 2 * pad - lw),
              box[1] + pad + fy * (box[3] - box[1] - 2 * pad - lh)) for fx, fy in _LEGEND_SPOTS]

    def hidden(spot: tuple[float, float]) -> int:
        u, v = samples[:, 0] - spot[0], samples[:, 1] - spot[1]
        return int(((u >= -r) & (u <= lw + r) & (v >= -r) & (v <= lh + r)).sum())

    lx, ly = min(spots, key=hidden)
    draw.rounded_rectangle((lx, ly, lx + lw, ly + lh), radius=3 * s, fill="white",
                           outline="#cccccc", width=s)
    for i, t in enumerate(texts):
        colour = _COLOURS[i % len(_COLOURS)]
        v = ly + 4 * s + row * (i + 0.5)
        draw.line([(lx + 8 * s, v), (lx + 34 * s, v)], fill=colour, width=2 * s)
        draw.ellipse((lx + 21 * s - r, v - r, lx + 21 * s + r, v + r), fill=colour)
        draw.text((lx + 40 * s, v), t, fill="#000000", font=font, anchor="lm")


def write_coverage_plot(path: Path, result: Result) -> None:
    """Plot covered population against the number of new sites (one line per entry).

    A 700x450 PNG drawn with Pillow (importing matplotlib's plotting machinery costs more
    than the rest of the writers together): title, axis labels, round ticks with a light
    grid, one line with markers per optimize entry and a legend in the emptiest corner.
    Equal inputs give byte-identical files.
    """
    from PIL import Image, ImageDraw

    from facplan.words import say

    lang = _lang(result)
    curves = coverage_curves(result)
    # one unit per axis: the people curves, or the p-median ones when there is no other
    units = [c["unit"] for c in curves]
    unit = next((u for u in units if u != "person-metres"), units[0] if units else "people")
    curves = [c for c in curves if c["unit"] == unit]
    total = result.summary["population_total"]
    s = _SS
    width, height = _SIZE[0] * s, _SIZE[1] * s
    title = f"{result.summary['scenario']}: " + say(
        "coverage curve (population {total})", lang).format(total=f"{total:,.0f}")
    xlabel = say("new sites (in rank order)", lang)
    ylabel = (say("person-metres walked", lang) if unit == "person-metres"
              else say(f"{unit} within the walking standard", lang))
    title_font = _font(17 * s, _needs_cjk(title))
    label_font = _font(14 * s, _needs_cjk(xlabel + ylabel))
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)

    # data range with 5 % margins, and the ticks
    x0, x1 = 0.0, float(max([len(c["sites"]) - 1 for c in curves] + [1]))
    ys = np.array([y for c in curves for y in c["covered"]], dtype=float)
    ys = ys[np.isfinite(ys)]
    y0, y1 = (float(ys.min()), float(ys.max())) if len(ys) else (0.0, 1.0)
    if y0 == y1:  # one value: a range of at least one person around it, not below 0
        y0, y1 = max(y0 - max(abs(y0) * 0.05, 1.0), min(y0, 0.0)), y1 + max(abs(y1) * 0.05, 1.0)
    x0, x1 = x0 - 0.05 * (x1 - x0), x1 + 0.05 * (x1 - x0)
    y0, y1 = y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0)
    xticks, yticks = _nice_ticks(x0, x1, integer=True), _nice_ticks(y0, y1)
    xtext, ytext = _tick_text(xticks), _tick_text(yticks)

    # the plot area: room for the title, the tick labels and the axis labels
    tick = 5 * s
    label_h = label_font.getbbox("Ag")[3]
    left = 14 * s + label_h + max(draw.textlength(t, font=label_font) for t in ytext) + tick
    box = (round(left), 42 * s, width - 18 * s, height - 24 * s - 2 * label_h - tick)

    def px(x: float, y: float) -> tuple[float, float]:
        return (box[0] + (x - x0) / (x1 - x0) * (box[2] - box[0]),
                box[3] - (y - y0) / (y1 - y0) * (box[3] - box[1]))

    grid, ink = "#e6e6e6", "#000000"
    for x, t in zip(xticks, xtext, strict=True):
        u = px(x, y0)[0]
        draw.line([(u, box[1]), (u, box[3])], fill=grid, width=s)
        draw.line([(u, box[3]), (u, box[3] + tick)], fill=ink, width=s)
        draw.text((u, box[3] + tick + 3 * s), t, fill=ink, font=label_font, anchor="mt")
    for y, t in zip(yticks, ytext, strict=True):
        v = px(x0, y)[1]
        draw.line([(box[0], v), (box[2], v)], fill=grid, width=s)
        draw.line([(box[0] - tick, v), (box[0], v)], fill=ink, width=s)
        draw.text((box[0] - tick - 3 * s, v), t, fill=ink, font=label_font, anchor="rm")
    draw.rectangle(box, outline=ink, width=s)

    # one line with markers per entry (the 5 % margins keep them inside the plot area)
    r = 4 * s
    samples = [np.zeros((0, 2))]  # points along the lines, to place the legend
    for i, c in enumerate(curves):
        colour = _COLOURS[i % len(_COLOURS)]
        xy = [px(x, y) for x, y in zip(c["sites"], c["covered"], strict=True) if math.isfinite(y)]
        draw.line(xy, fill=colour, width=2 * s, joint="curve")
        for u, v in xy:
            draw.ellipse((u - r, v - r, u + r, v + r), fill=colour)
        samples += [np.reshape(xy, (-1, 2))]
        samples += [np.linspace(a, b, 24) for a, b in itertools.pairwise(xy)]
    samples = np.concatenate(samples)

    if curves:
        _legend(draw, box, [c["label"] for c in curves], samples, r)

    # titles
    draw.text((width / 2, 14 * s), title, fill=ink, font=title_font, anchor="mt")
    draw.text(((box[0] + box[2]) / 2, height - 10 * s), xlabel,
              fill=ink, font=label_font, anchor="md")
    side = Image.new("L", (round(draw.textlength(ylabel, font=label_font)) + 2 * s,
                           label_h + 4 * s), 0)
    ImageDraw.Draw(side).text((s, 0), ylabel, fill=255, font=label_font)
    side = side.transpose(Image.Transpose.ROTATE_90)
    img.paste(ink, (10 * s, round((box[1] + box[3] - side.height) / 2)), side)
    img.reduce(s).save(path, format="PNG")


def _lang(result: Any) -> str:
    """The scenario's ``map.lang`` (``en`` when the result has no scenario)."""
    spec = getattr(getattr(result, "scenario", None), "map", None)
    return getattr(spec, "lang", "en") or "en"


def _pct(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.1%}"


def _estimate_lines(est: dict | None) -> list[str]:
    """How an estimated population was made (dasymetric): the rule and the density."""
    if not est:
        return []
    return [f"- population estimated ({est['method']}): {est['rule']}; "
            f"{est['population']:,.0f} people on {est['area_km2']:,.1f} km² = "
            f"{est['persons_per_km2']:,.0f} persons per km²"]


def write_report(path: Path, result: Result) -> None:
    """Write ``report.md``: inputs, coverage before/after, chosen sites, communities
    (in Chinese with ``map: {lang: zh}``)."""
    from facplan.words import kind_tier_label, say

    lang = _lang(result)

    def t(text: str) -> str:
        return say(text, lang)

    def kt(key: str) -> str:
        kind, _, tier = key.partition("/")
        return kind_tier_label(kind, tier, lang)

    s = result.summary
    net = s["network"]
    net_text = (f"{net['nodes']:,} {t('nodes')}, {net['edges']:,} {t('edges')}"
                if "nodes" in net else
                t("an origin–destination table of {n} cell–site pairs").format(
                    n=f"{net.get('matrix_pairs', 0):,}"))
    lines = [
        f"# {md_text(s['scenario'])}",
        "",
        f"- CRS: {s['crs']}; " + t("population {total} in {cells} cells").format(
            total=f"{s['population_total']:,.0f}", cells=f"{s['cells']:,}"),
        f"- {t('walking network')}: {net_text}",
        *_estimate_lines(s.get("population_estimate")),
        "",
        f"## {t('Inputs')}",
        "",
        f"| {t('key')} | {t('file')} | sha256 |",
        "|---|---|---|",
    ]
    for key, f in s["inputs"].items():
        lines.append(f"| {md_text(key)} | {md_code(Path(f['path']).name)} | `{f['sha256'][:12]}` |")
    lines += _estimate_lines(s.get("population_estimate"))
    lines += [
        "",
        f"## {t('Coverage')}",
        "",
        "| " + " | ".join(t(h) for h in ("kind/tier", "threshold", "covered before", "after",
                                         "mean distance", "unreachable")) + " |",
        "|---|---|---|---|---|---|",
    ]
    for key, a in s["access"].items():
        after = a.get("after", {})
        lines.append(
            f"| {md_text(kt(key))} | {a['threshold_m']:.0f} m | {_pct(a['coverage'])} | "
            f"{_pct(after.get('coverage'))} | {a['mean_m']:.0f} m | "
            f"{a['unreachable_population']:,.0f} |"
        )
    groups = [(key, g, a["groups"][g], a.get("after", {}).get("groups", {}).get(g, {}))
              for key, a in s["access"].items() for g in a.get("groups", {})]
    if groups:
        lines += ["", "### " + t("By population group"), "",
                  "| " + " | ".join(t(h) for h in ("kind/tier", "group", "threshold", "people",
                                                   "covered before", "after")) + " |",
                  "|---|---|---|---|---|---|"]
        for key, g, b, a in groups:
            lines.append(
                f"| {md_text(kt(key))} | {md_text(g)} | {b['threshold_m']:.0f} m | "
                f"{b['population']:,.0f} | {_pct(b['coverage'])} | {_pct(a.get('coverage'))} |"
            )
    lines += ["", f"## {t('New sites')}", ""]
    for o in s["optimize"]:
        lines.append(
            f"- **{md_text(kind_tier_label(o['kind'], o['tier'], lang))}** ({o['model']}): "
            f"{len(o['selected'])} {t('sites')}, {objective_text(o, lang)}, "
            f"{t('bound')} {o['bound']:,.0f}, {t('gap')} {o['gap']:.2%}, {o.get('status', '')}"
        )
    if len(result.sites):
        lines += ["", "| " + " | ".join(t(h) for h in ("rank", "site", "kind/tier",
                                                        "gain", "cost", "community"))
                  + " |", "|---|---|---|---|---|---|"]
        entry_of = {sid: o for o in s["optimize"] for sid in o["selected"]}
        for _, r in result.sites.iterrows():  # entry by entry, in rank order
            o = entry_of.get(r["site_id"])
            unit = curve_unit(o) if o is not None else "people"
            saved = " saved" if unit == "person-metres" else ""
            lines.append(
                f"| {r['rank']} | {md_text(r['site_id'])} | "
                f"{md_text(kind_tier_label(r['kind'], r['tier'], lang))} | "
                f"{r['marginal_population']:,.0f} {t(unit)}{saved} | {r['cost']:,.0f} | "
                f"{md_text(r['community_id'] or '')} |"
            )
    if result.communities is not None:
        cols = [c for c in result.communities.columns if c.startswith("coverage_")]
        lines += ["", f"## {t('Communities')}", "",
                  f"| {t('community')} | {t('population')} | " + " | ".join(cols)
                  + f" | {t('gaps')} |",
                  "|---|---|" + "---|" * len(cols) + "---|"]
        for _, r in result.communities.iterrows():
            cells = " | ".join(_pct(r[c]) for c in cols)
            lines.append(
                f"| {md_text(r['name'])} ({md_text(r['community_id'])}) | "
                f"{r['population']:,.0f} | {cells} | {md_text(r['gaps'])} |"
            )
    if result.parents is not None:
        lines += _parents_section(result.parents)
    if s["warnings"]:
        lines += ["", f"## {t('Warnings')}", ""] + [f"- {md_text(w)}" for w in s["warnings"]]
    lines += ["", f"![{t('coverage curve')}](coverage_curve.png)", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")


def _parents_section(parents: Any) -> list[str]:
    """The report's roll-up of the communities to their parent units (街道)."""
    cols = [c for c in parents.columns if c.startswith("coverage_")]
    lines = ["", "## Parent units (population-weighted)", "",
             "| unit | communities | population | " + " | ".join(cols) + " | gaps |",
             "|---|---|---|" + "---|" * len(cols) + "---|"]
    for _, r in parents.iterrows():
        cells = " | ".join(_pct(r[c]) for c in cols)
        lines.append(f"| {md_text(r['parent_name'])} ({md_text(r['parent_id'])}) | "
                     f"{r['communities']} | {r['population']:,.0f} | {cells} | "
                     f"{md_text(r['gaps'])} |")
    return lines
