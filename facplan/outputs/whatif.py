"""The map's what-if panel: switch candidate sites on and off in the browser, offline.

:func:`whatif_script` turns a run's :class:`facplan.whatif.WhatIf` into one page script:
the data (coverage sets as delta-coded varints in base64, cell populations, communities,
the openable sites with their geometry) and the code in ``facplan/assets/whatif.js``,
which exposes ``window.facplanWhatIf`` (DESIGN, *What-if in the browser*):

- ``open()`` — ids of the open new sites (sorted);
- ``toggle(siteId, key)`` — switch a site on or off (``key`` = ``"<kind>/<tier>"``, needed
  only when the site could serve several); returns whether it is now open;
- ``coverage()`` — ``{"<kind>/<tier>": covered_population}`` of the current set;
- ``exportGeoJSON()`` — the current set as a FeatureCollection with the fields of
  ``sites.geojson``;
- ``reset()``, ``figures()`` (before / plan / now per kind/tier), ``enabled``, ``reason``.

Covered population is summed exactly (Shewchuk's algorithm, as Python's ``math.fsum``),
so the page's figure does not depend on the order of the cells or of the toggles, and a
toggle and its undo give back the plan's figure to the last bit.

Encoding of a set of cell positions ``c_0 < c_1 < …``: the gaps ``c_0``, ``c_1 − c_0 − 1``,
… as unsigned LEB128 varints (7 bits a byte, high bit = more), the sets of one kind/tier
one after the other, base64; each set's length is listed beside it.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import shapely

from facplan.escape import js_json as _js
from facplan.outputs.map import (
    KIND_LABELS,
    TIER_LABELS,
    asset_text,
    bilingual,
    kind_label,
    tier_label,
)

if TYPE_CHECKING:
    from facplan.whatif import WhatIf

__all__ = [
    "encode_sets", "decode_sets", "encode_geoms", "whatif_data", "whatif_script", "whatif_css",
]

COORD_DECIMALS = 6

# key -> (English, Chinese); plain text (the page sets it with textContent)
_TEXT: dict[str, tuple[str, str]] = {
    "title": ("What-if: switch sites on and off", "方案推演：开关候选点"),
    "hint": ("Click a candidate (circle) or a planned site to switch it on or off.",
             "点击候选点（圆点）或规划选址即可开启或关闭。"),
    "kindtier": ("Kind / tier", "类型 / 级别"),
    "before": ("Before", "规划前"),
    "plan": ("Plan", "规划"),
    "now": ("Now", "当前"),
    "people": ("people", "人"),
    "cost": ("Cost of the current set", "当前方案造价"),
    "plan_cost": ("plan", "规划方案"),
    "budget": ("budget", "预算"),
    "over": ("over budget", "超出预算"),
    "community": ("Community", "社区"),
    "change": ("Change per community (now − plan)", "各社区变化（当前 − 规划）"),
    "no_change": ("No change from the plan.", "与规划方案相同。"),
    "show": ("Colour the cells by", "网格着色依据"),
    "reset": ("Reset to the plan", "恢复规划方案"),
    "export": ("Export GeoJSON", "导出 GeoJSON"),
    "open_n": ("Open new sites", "开启的新选址"),
    "covered_before": ("Covered before", "原已覆盖"),
    "covered_new": ("Newly covered", "新增覆盖"),
    "not_covered": ("Not covered", "未覆盖"),
    "share_hex": ("share covered in the hexagon", "六边形内覆盖比例"),
    "open_for": ("Open for", "开启为"),
    "close": ("Switch off", "关闭"),
    "site": ("Site", "选址"),
    "off": ("The what-if panel is off for this run", "本次运行未启用方案推演"),
}


def _t(key: str, lang: str) -> str:
    en, zh = _TEXT[key]
    return bilingual(en, zh, lang)


def _off_reason(w: WhatIf, lang: str) -> str:
    need = max(w.pairs, w.max_pairs + 1)
    en = (f"The what-if panel is off: this run has more than {w.max_pairs:,} site–cell pairs "
          f"(map.max_whatif_pairs; at least {w.pairs:,} counted), which would make the map "
          f"too large. To turn it on, raise the limit in the scenario, e.g. "
          f"map: {{max_whatif_pairs: {need}}}, or use fewer candidates, and run again.")
    zh = (f"方案推演已关闭：本次运行的候选点–网格对超过 {w.max_pairs:,} 个（map.max_whatif_pairs，"
          f"已计数至少 {w.pairs:,} 个），地图文件会过大。如需开启，请在情景文件中调高上限，"
          f"例如 map: {{max_whatif_pairs: {need}}}，或减少候选点，然后重新运行。")
    return f"{zh}\n{en}" if lang == "zh" else f"{en}\n{zh}"


# --------------------------------------------------------------------------- encoding


def _varints(d: np.ndarray) -> str:
    """Unsigned integers as base64 LEB128 varints."""
    d = np.asarray(d, dtype=np.uint64)
    if len(d) == 0:
        return ""
    nb = np.ones(len(d), dtype=np.int64)
    for k in range(1, 10):
        nb += d >= np.uint64(1 << (7 * k))
    start = np.concatenate([[0], np.cumsum(nb)[:-1]])
    out = np.zeros(int(nb.sum()), dtype=np.uint8)
    for k in range(int(nb.max())):
        m = nb > k
        byte = (d[m] >> np.uint64(7 * k)) & np.uint64(127)
        more = np.where(nb[m] > k + 1, 128, 0).astype(np.uint64)
        out[start[m] + k] = (byte | more).astype(np.uint8)
    return base64.b64encode(out.tobytes()).decode("ascii")


def encode_sets(sets: Sequence[np.ndarray]) -> str:
    """Sorted integer sets as one base64 string of delta varints (module docstring)."""
    parts = [np.diff(np.asarray(a, dtype=np.int64), prepend=-1) - 1 for a in sets]
    if not parts:
        return ""
    d = np.concatenate(parts)
    if (d < 0).any():
        raise ValueError("encode_sets needs sorted sets of distinct non-negative integers")
    return _varints(d)


_NESTING = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
            "MultiPolygon": 3}


def encode_geoms(geoms: Any) -> dict[str, Any]:
    """Geometries (EPSG:4326) in a compact form the page turns back into GeoJSON.

    Coordinates become whole micro-degrees (:data:`COORD_DECIMALS`): each x minus the
    previous x and each y minus the previous y, interleaved, as zigzag varints; ``s`` holds per geometry its
    type and the nesting of the GeoJSON coordinates with each innermost list of points
    replaced by its length (a point: ``0``). Other types stay GeoJSON (in ``g``).
    """
    shapes: list[Any] = []
    coords: list[np.ndarray] = []
    raw: dict[int, dict] = {}

    def walk(c: Any, depth: int) -> Any:
        if depth == 0:
            coords.append(np.asarray(c, dtype=float)[None, :2])
            return 0
        if depth == 1:
            a = np.asarray(c, dtype=float).reshape(-1, len(c[0]) if len(c) else 2)[:, :2]
            coords.append(a)
            return len(a)
        return [walk(x, depth - 1) for x in c]

    for i, g in enumerate(np.asarray(geoms, dtype=object)):
        m = shapely.geometry.mapping(g)
        t = m["type"]
        if t not in _NESTING:
            raw[i] = json.loads(json.dumps(m))
            shapes.append(None)
            continue
        shapes.append([t, walk(m["coordinates"], _NESTING[t])])
    xy = np.concatenate(coords) if coords else np.zeros((0, 2))
    q = np.rint(xy * 10**COORD_DECIMALS).astype(np.int64)
    d = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()  # x, y apart
    zz = np.where(d >= 0, 2 * d, -2 * d - 1).astype(np.uint64)
    out: dict[str, Any] = {"s": shapes, "c": _varints(zz), "k": 10**COORD_DECIMALS}
    if raw:
        out["g"] = {str(i): g for i, g in raw.items()}
    return out


def decode_sets(text: str, counts: Sequence[int]) -> list[np.ndarray]:
    """The inverse of :func:`encode_sets` (a reference for tests and other readers)."""
    raw = base64.b64decode(text)
    out, p = [], 0
    for n in counts:
        prev, vals = -1, []
        for _ in range(int(n)):
            v = shift = 0
            while True:
                c = raw[p]
                p += 1
                v |= (c & 127) << shift
                shift += 7
                if not c & 128:
                    break
            prev = prev + 1 + v
            vals.append(prev)
        out.append(np.array(vals, dtype=np.int64))
    return out


# --------------------------------------------------------------------------- data


def _floats(values: Any) -> list[float | None]:
    x = np.asarray(values, dtype=float)
    return [float(v) if np.isfinite(v) else None for v in x.tolist()]


def _key_label(key: str, lang: str) -> str:
    kind, _, tier = key.partition("/")
    return f"{kind_label(kind, lang)} · {tier_label(tier, lang)}"


def _short_label(key: str, lang: str) -> str:
    """The kind/tier in the primary language only (the panel's table)."""
    kind, _, tier = key.partition("/")
    k = KIND_LABELS.get(kind, (kind, kind))[1 if lang == "zh" else 0]
    t = TIER_LABELS.get(tier, (tier, tier))[1 if lang == "zh" else 0]
    return f"{k} · {t}"


def whatif_data(
    w: WhatIf,
    *,
    lang: str,
    cell_rows: np.ndarray | None,
    hex_of_row: np.ndarray | None,
    plan_sites: gpd.GeoDataFrame | None = None,
) -> dict[str, Any]:
    """The page data of the what-if panel.

    Parameters
    ----------
    w
        The run's what-if payload.
    lang
        ``"en"`` or ``"zh"``.
    cell_rows
        The ``demand`` row of each feature of the map's cells layer (None: the same
        order and number).
    hex_of_row
        With an aggregated cells layer: the hexagon of each drawn cell (aligned with
        ``cell_rows``), else None.
    plan_sites
        ``Result.sites`` (for the rank, gain and phase of the plan's own sites).
    """
    texts = {k: _t(k, lang) for k in _TEXT}
    data: dict[str, Any] = {
        "enabled": bool(w.enabled),
        "pairs": int(w.pairs),
        "maxPairs": int(w.max_pairs),
        "reason": "" if w.enabled else _off_reason(w, lang),
        "keys": list(w.keys),
        "labels": {k: _key_label(k, lang) for k in w.keys},
        "short": {k: _short_label(k, lang) for k in w.keys},
        "thr": {k: float(v) for k, v in w.threshold_m.items()},
        "openKeys": list(w.open_keys),
        "serves": w.serves,
        "t": texts,
        "budgets": w.budgets,
    }
    frame = w.site_frame if w.site_frame is not None else gpd.GeoDataFrame(geometry=[])
    if len(frame) and frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs(4326)
    pts = frame.geometry.representative_point() if len(frame) else frame.geometry
    xy = np.round(shapely.get_coordinates(pts.to_numpy()), COORD_DECIMALS) if len(frame) \
        else np.zeros((0, 2))
    costs = _floats(frame["cost"]) if len(frame) else []

    def text(col: str, i: int) -> str:
        v = frame[col].iloc[i] if col in frame.columns else ""
        return "" if v is None or v != v else str(v)

    data["sites"] = [
        [str(sid), str(kind), costs[i], float(xy[i, 1]), float(xy[i, 0]),
         [w.open_keys.index(k) for k in w.site_keys[i]],
         w.site_community[i] if i < len(w.site_community) else None,
         text("name", i), text("tag", i), _snap(frame, i)]
        for i, (sid, kind) in enumerate(zip(frame["site_id"] if len(frame) else [],
                                            frame["kind"] if len(frame) else [], strict=True))
    ]
    plan_info: dict[str, list] = {}
    if plan_sites is not None and len(plan_sites):
        for _, r in plan_sites.iterrows():
            ph = r.get("phase")
            plan_info[f"{r['site_id']}\u0000{r['kind']}/{r['tier']}"] = [
                None if ph is None or ph != ph else ph]
    data["plan"] = [[int(s), k] for s, k in w.plan]
    data["planPhase"] = [
        plan_info.get(f"{data['sites'][s][0]}\u0000{k}", [None])[0] for s, k in w.plan
    ]
    if not w.enabled:
        return data
    data["geom"] = encode_geoms(frame.geometry.to_numpy() if len(frame) else [])
    data["pop"] = [float(v) for v in np.asarray(w.population, dtype=float).tolist()]
    data["comm"] = [int(v) for v in w.community.tolist()]
    data["comms"] = [[c, n] for c, n in zip(w.community_ids, w.community_names, strict=True)]
    data["base"] = {k: {"n": [len(v)], "b": encode_sets([v])} for k, v in w.base.items()}
    cover = {}
    for k, sets in w.cover.items():
        order = sorted(sets)
        cover[k] = {"s": order, "n": [len(sets[s]) for s in order],
                    "b": encode_sets([sets[s] for s in order])}
    data["cover"] = cover
    data["cellRow"] = None if cell_rows is None else [int(v) for v in cell_rows]
    data["hex"] = None if hex_of_row is None else [int(v) for v in hex_of_row]
    return data


def _snap(frame: gpd.GeoDataFrame, i: int) -> float | None:
    """The site's ``snap_m`` (as sites.geojson writes it: None when not attached)."""
    if "snap_m" not in frame.columns:
        return None
    v = float(frame["snap_m"].iloc[i])
    return round(v, 4) if np.isfinite(v) else None







def whatif_css() -> str:
    """The panel's stylesheet (``facplan/assets/whatif.css``)."""
    return asset_text("whatif.css")


def _html_escaped(obj: Any) -> Any:
    """Every string of ``obj`` (dict keys too) HTML-escaped, as the rest of the map keeps
    user text; the page undoes it once (``unescape`` in whatif.js) and then shows text
    only through ``textContent``."""
    if isinstance(obj, str):
        return html.escape(obj, quote=True)
    if isinstance(obj, dict):
        return {_html_escaped(k): _html_escaped(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_html_escaped(v) for v in obj]
    return obj


def whatif_script(core: str, data: dict[str, Any]) -> str:
    """The page script: the panel code, then its start on the map's core object ``core``."""
    code = asset_text("whatif.js").replace("</script", "<\\/script")
    return f"{code}\nfacplanWhatIfInit({core}, {_js(_html_escaped(data))});\n"
