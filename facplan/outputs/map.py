"""The interactive map (DESIGN.md, *The map*): one self-contained folium HTML file.

:func:`build_map` assembles a :class:`folium.Map` from the run's layers (all in
EPSG:4326) and :func:`write_map` renders it to one HTML file.

Design points:

- **No network needed.** With ``assets="inline"`` (the default) Leaflet's JavaScript and
  CSS are read at write time from the installed ``XStatic-Leaflet`` package (PyPI
  ``xstatic-leaflet``, Leaflet 1.9.3 — the version folium 0.20 links) and written into the
  page, its control images as ``data:`` URIs. folium's other defaults (jQuery, Bootstrap,
  Font Awesome, awesome-markers) are not used at all: markers are inline SVG, controls are
  plain JavaScript. ``assets="cdn"`` links Leaflet from jsDelivr instead.
- **One cells layer.** The population cells are one geometry layer whose style switches
  between the distance columns (a select box in a Leaflet control), never a copy per
  view. Above ``max_cells`` cells an aggregated layer of hexagons is drawn instead,
  coloured by each hexagon's population-weighted median distance.
- **Safe text.** Every user-supplied string (names, ids, kinds, the title) is
  HTML-escaped before it reaches the page, and JSON inside ``<script>`` escapes ``<``,
  ``>`` and ``&``.
- **Byte-identical reruns.** folium's random element ids are replaced by ids derived
  from ``seed`` and the element's position in the tree; coordinates are rounded to 6
  decimals (≈ 0.1 m), distances to whole metres.
"""

from __future__ import annotations

import base64
import functools
import html
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement

from facplan.escape import js_json as _js
from facplan.keys import COVER_EPS_M
from facplan.outputs.geojson import round_values

__all__ = [
    "KIND_LABELS",
    "TIER_LABELS",
    "build_map",
    "render_map",
    "write_map",
    "bilingual",
    "kind_label",
    "tier_label",
]

#: Built-in facility kinds: ``kind -> (English, Chinese)``. Other kinds are shown as given.
KIND_LABELS: dict[str, tuple[str, str]] = {
    "sports_park": ("Community sports park", "社区体育公园"),
    "neighbourhood_centre": ("Neighbourhood centre", "邻里中心"),
}

#: Tiers: ``tier -> (English, Chinese)``. Other tiers are shown as given.
TIER_LABELS: dict[str, tuple[str, str]] = {
    "district": ("District", "片区"),
    "community": ("Community", "社区"),
    "compound": ("Compound", "小区"),
    "all": ("All", "全部"),
}

LANGS = ("en", "zh")
TILES = ("osm", "cartodb", "tianditu", "none")
#: 天地图 (Tianditu) WMTS in Web Mercator: vector base map and its Chinese labels; needs a
#: key (https://console.tianditu.gov.cn). CGCS2000 ≈ WGS84 at map scale, so the GeoJSON
#: layers line up.
_TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
    "&TILECOL={x}&tk={key}"
)
ASSETS = ("inline", "cdn")

#: Decimals kept for coordinates in EPSG:4326 (1e-6 degree ≈ 0.1 m).
COORD_DECIMALS = 6
#: Above this many vector features the cells layer is drawn on a canvas, not as SVG.
SVG_MAX_FEATURES = 5_000
#: Above this many communities their name labels show only from :data:`LABEL_MIN_ZOOM` on.
MAX_COMMUNITY_LABELS = 300
#: From this many markers in one layer they shrink when zoomed out (to MARKER_MIN_SCALE of
#: their size, full size from zoom MARKER_FULL_ZOOM on), so that 500+ sites do not hide
#: the cells under them.
MANY_MARKERS = 500
MARKER_MIN_SCALE = 0.3
MARKER_FULL_ZOOM = 15
LABEL_MIN_ZOOM = 14

LEAFLET_VERSION_FALLBACK = "1.9.3"
_CDN = "https://cdn.jsdelivr.net/npm/leaflet@{version}/dist/leaflet.{ext}"
_CARTO_URL = "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png"
_CARTO_ATTR = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors '
    '&copy; <a href="https://carto.com/attributions">CARTO</a>'
)

# Distance classes: two covered (≤ T/2, ≤ T), three not (≤ 1.5T, ≤ 2T, > 2T).
_CLASS_COLOURS = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]
_UNREACHABLE_COLOUR = "#8c8c8c"
_DEFAULT_BREAKS_M = [250.0, 500.0, 1000.0, 2000.0]

_KIND_COLOURS = {"sports_park": "#1f5fbf", "neighbourhood_centre": "#8e24aa"}
_EXTRA_KIND_COLOURS = ["#e08e0b", "#00897b", "#c2185b", "#5d4037", "#3949ab", "#7cb342"]
# tier -> (shape, icon size in px)
_TIER_SHAPES = {
    "district": ("square", 20),
    "community": ("triangle", 20),
    "compound": ("circle", 14),
}
_OTHER_SHAPE = ("diamond", 18)

# Fixed UI text: key -> (English, Chinese).
_TEXT: dict[str, tuple[str, str]] = {
    "base": ("OpenStreetMap base map", "OpenStreetMap 底图"),
    "base_carto": ("CARTO Positron base map", "CARTO 浅色底图"),
    "communities": ("Community boundaries", "社区边界"),
    "cells": ("Population cells: walking distance", "人口网格：步行距离"),
    "hexes": ("Population (hexagons): walking distance", "人口（六边形汇总）：步行距离"),
    "existing": ("Existing", "现有"),
    "planned": ("Planned", "规划"),
    "existing_layer": ("Existing facilities", "现有设施"),
    "planned_layer": ("Planned sites", "规划选址"),
    "catchments": ("Walking catchments of planned sites", "规划选址步行服务范围"),
    "exclusions": ("Exclusion zones", "禁建区"),
    "view": ("Walking distance to the nearest facility", "到最近设施的步行距离"),
    "before": ("before", "规划前"),
    "after": ("after", "规划后"),
    "covered": ("Covered", "已覆盖"),
    "not_covered": ("Not covered", "未覆盖"),
    "unreachable": ("unreachable", "不可达"),
    "threshold": ("threshold", "服务半径"),
    "population": ("Population", "人口"),
    "cells_n": ("Cells", "网格数"),
    "share": ("Population covered", "覆盖人口比例"),
    "median": ("Median distance", "距离中位数"),
    "distance": ("Walking distance", "步行距离"),
    "id": ("ID", "编号"),
    "kind": ("Kind", "类型"),
    "tier": ("Tier", "级别"),
    "rank": ("Rank", "排序"),
    "gained": ("Population gained", "新增覆盖人口"),
    "cost": ("Cost", "造价"),
    "phase": ("Phase", "分期"),
    "name": ("Name", "名称"),
    "tag": ("Candidate because", "候选依据"),
    "community": ("Community", "社区"),
    "site": ("Site", "选址"),
    "hollow": ("Existing (hollow)", "现有（空心）"),
    "filled": ("Planned (filled)", "规划（实心）"),
    "aggregated": ("median of the hexagon's population", "六边形内人口的中位数"),
    "legend": ("Legend", "图例"),
    "rings": ("5/10/15-minute walking areas", "5/10/15分钟步行范围"),
    "streets": ("Streets (from the network)", "街道（来自步行路网）"),
    "minutes": ("min", "分钟"),
}


# --------------------------------------------------------------------------- text


def bilingual(en: str, zh: str, lang: str = "en") -> str:
    """One label in both languages, the primary one first: ``'社区体育公园 Community sports park'``.

    Parameters
    ----------
    en, zh
        The English and Chinese text (plain text, not HTML).
    lang
        ``"en"`` or ``"zh"``: which language comes first.

    Returns
    -------
    str
        ``"<primary> <secondary>"``, or the text once when both are the same.
    """
    if en == zh:
        return en
    return f"{zh} {en}" if lang == "zh" else f"{en} {zh}"


def kind_label(kind: Any, lang: str = "en") -> str:
    """The bilingual label of a facility kind; unknown kinds are shown as given (plain text)."""
    k = "" if kind is None else str(kind)
    en, zh = KIND_LABELS.get(k, (k, k))
    return bilingual(en, zh, lang)


def tier_label(tier: Any, lang: str = "en") -> str:
    """The bilingual label of a tier, with 级 on the sports-park tiers (片区级, 社区级,
    小区级, so that 社区级 does not read as a community); unknown tiers as given."""
    t = "all" if tier is None or (isinstance(tier, float) and math.isnan(tier)) else str(tier)
    en, zh = TIER_LABELS.get(t, (t, t))
    if t in TIER_LABELS and t != "all":
        zh += "级"
    return bilingual(en, zh, lang)


def _t(key: str, lang: str) -> str:
    en, zh = _TEXT[key]
    return bilingual(en, zh, lang)


def _esc(value: Any) -> str:
    """HTML-escape any value's text (quotes too)."""
    return html.escape("" if value is None else str(value), quote=True)




def _num(v: Any, decimals: int = 0) -> float | int | None:
    """A finite number rounded for JSON, or ``None``."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    if decimals == 0:
        return int(round(f))
    r = round(f, decimals)
    return 0.0 if r == 0 else r


def _nums(values: Any, decimals: int) -> list[float | None]:
    """:func:`_num` of every value (``decimals >= 1``); numeric columns in one pass."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if getattr(s.dtype, "kind", "O") not in "biuf":
        return [_num(v, decimals) for v in s]
    x = s.to_numpy(dtype=float, na_value=np.nan)
    out: list[float | None] = (round_values(x, decimals) + 0.0).tolist()  # + 0.0: no -0.0
    for i in np.flatnonzero(~np.isfinite(x)):
        out[i] = None
    return out


def _fmt_int(v: Any) -> str:
    n = _num(v)
    return "—" if n is None else f"{n:,}"


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- checks


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(
            f"The '{name}' parameter of build_map must be one of {list(choices)}. "
            f"Got {value!r} instead."
        )


def _require(gdf: gpd.GeoDataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise ValueError(
            f"The '{what}' frame given to build_map lacks the column(s) {missing}; "
            f"it has {list(gdf.columns)}."
        )


def _to_wgs84(gdf: gpd.GeoDataFrame | None, what: str) -> gpd.GeoDataFrame | None:
    """``gdf`` in EPSG:4326 with empty and null geometries dropped, or ``None`` if empty."""
    if gdf is None:
        return None
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"The '{what}' parameter of build_map must be a GeoDataFrame.")
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs(4326)
    keep = gdf.geometry.notna().to_numpy() & ~gdf.geometry.is_empty.to_numpy()
    gdf = gdf[keep]
    return gdf if len(gdf) else None


# --------------------------------------------------------------------------- geometry


def _geojson_geoms(geoms: Any) -> list[dict]:
    """GeoJSON geometry dicts, 2-D, coordinates rounded to :data:`COORD_DECIMALS`.

    Points and polygons are built straight from the coordinate arrays; other types go
    through :func:`shapely.geometry.mapping` (same JSON).
    """
    arr = np.asarray(geoms, dtype=object)
    types = shapely.get_type_id(arr)
    if len(arr) and (types == shapely.GeometryType.POINT).all():
        xy = shapely.get_coordinates(arr)
        if len(xy) == len(arr):  # no empty points
            return [{"type": "Point", "coordinates": c}
                    for c in np.round(xy, COORD_DECIMALS).tolist()]
    if len(arr) and (types == shapely.GeometryType.POLYGON).all():
        _, xy, (ring_ends, polygon_ends) = shapely.to_ragged_array(arr, include_z=False)
        xy = np.round(xy, COORD_DECIMALS).tolist()
        rings = [xy[a:b] for a, b in itertools.pairwise(ring_ends.tolist())]
        return [{"type": "Polygon", "coordinates": rings[a:b]}
                for a, b in itertools.pairwise(polygon_ends.tolist())]
    arr = shapely.transform(shapely.force_2d(arr), lambda c: np.round(c, COORD_DECIMALS))
    return [shapely.geometry.mapping(g) for g in arr]


def _latlon(points: gpd.GeoSeries) -> list[list[float]]:
    xy = np.round(shapely.get_coordinates(points.to_numpy()), COORD_DECIMALS)
    return [[float(y), float(x)] for x, y in xy]


def _marker_points(gdf: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Points as they are; polygons and lines at their representative point."""
    geom = gdf.geometry
    is_point = (geom.geom_type == "Point").to_numpy()
    if is_point.all():
        return geom
    return geom.where(is_point, geom.representative_point())


# --------------------------------------------------------------------------- distances


def _parse_dist_column(col: str, pairs: Sequence[tuple[str, str]]) -> tuple[str, str | None, bool]:
    """``dist_<kind>_<tier>[_after]`` -> (kind, tier or None, after)."""
    rest = col[len("dist_"):] if col.startswith("dist_") else col
    after = rest.endswith("_after")
    if after:
        rest = rest[: -len("_after")]
    for kind, tier in pairs:
        if rest == f"{kind}_{tier}":
            return kind, tier, after
    for tier in sorted(TIER_LABELS, key=len, reverse=True):
        if rest.endswith("_" + tier) and len(rest) > len(tier) + 1:
            return rest[: -len(tier) - 1], tier, after
    return rest, None, after


def _view_label(col: str, pairs: Sequence[tuple[str, str]], lang: str) -> str:
    kind, tier, after = _parse_dist_column(col, pairs)
    k_en, k_zh = KIND_LABELS.get(kind, (kind, kind))
    parts_en, parts_zh = [k_en], [k_zh]
    if tier is not None:
        t_en, t_zh = TIER_LABELS.get(tier, (tier, tier))
        parts_en.append(t_en.lower() if tier in TIER_LABELS else t_en)
        parts_zh.append(t_zh + ("级" if tier in TIER_LABELS and tier != "all" else ""))
    p_en, p_zh = _TEXT["after" if after else "before"]
    parts_en.append(p_en)
    parts_zh.append(p_zh)
    en, zh = " · ".join(parts_en), " · ".join(parts_zh)
    return f"{zh} / {en}" if lang == "zh" else f"{en} / {zh}"


def _threshold(col: str, thresholds: Mapping[str, float] | None) -> float | None:
    if not thresholds:
        return None
    for key in (col, col.removesuffix("_after")):
        v = thresholds.get(key)
        if v is not None and math.isfinite(float(v)) and float(v) > 0:
            return float(v)
    return None


def _breaks(threshold: float | None) -> list[float]:
    if threshold is None:
        return list(_DEFAULT_BREAKS_M)
    return [round(threshold * f, 1) for f in (0.5, 1.0, 1.5, 2.0)]


def _floats(values: Any) -> np.ndarray:
    """A float array of any numeric-ish column; missing or non-numeric values become NaN."""
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _dist_values(values: np.ndarray) -> list[int | None]:
    """Whole metres (``rint`` is Python's ``round``: half to even), ``None`` if not finite."""
    r = np.rint(values)
    bad = ~np.isfinite(r)
    out: list[int | None] = list(map(int, np.where(bad, 0.0, r).tolist()))
    for i in np.flatnonzero(bad):
        out[i] = None
    return out


def _hexagons(
    demand: gpd.GeoDataFrame,
    dist_columns: Sequence[str],
    thresholds: Mapping[str, float] | None,
    max_cells: int,
) -> dict[str, Any]:
    """Aggregate the cells into at most ``max_cells`` hexagons (a local UTM grid).

    Each hexagon gets its population, its number of cells, per distance column the
    population-weighted median distance (``None`` when that median is unreachable) and
    the share of its population within the threshold.
    """
    geoms = demand.geometry.to_numpy()
    if not (shapely.get_type_id(geoms) == 0).all():  # points are their own representative
        geoms = shapely.point_on_surface(geoms)
    utm = demand.estimate_utm_crs()
    from pyproj import Transformer

    lonlat = shapely.get_coordinates(geoms)
    x, y = Transformer.from_crs(demand.crs, utm, always_xy=True).transform(
        lonlat[:, 0], lonlat[:, 1]
    )
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    pop = _floats(demand["population"])
    pop = np.where(np.isfinite(pop) & (pop > 0), pop, 0.0)
    extent = max((x.max() - x.min()) * (y.max() - y.min()), 1.0)
    target = max(1, max_cells // 4)
    size = max(math.sqrt(2.0 * extent / target / (3.0 * math.sqrt(3.0))), 10.0)
    while True:
        qf = (math.sqrt(3.0) / 3.0 * x - y / 3.0) / size
        rf = (2.0 / 3.0 * y) / size
        sf = -qf - rf
        q, r, s = np.round(qf), np.round(rf), np.round(sf)
        dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
        fix_q = (dq > dr) & (dq > ds)
        fix_r = ~fix_q & (dr > ds)
        q = np.where(fix_q, -r - s, q)
        r = np.where(fix_r, -q - s, r)
        # one int64 key per (q, r), ordered as (q, r) pairs: a 1-D unique, not axis=0's
        qi, ri = q.astype(np.int64), r.astype(np.int64)
        span = int(ri.max() - ri.min()) + 1
        flat, inv = np.unique((qi - qi.min()) * span + (ri - ri.min()), return_inverse=True)
        inv = inv.ravel()
        keys = np.column_stack([flat // span + qi.min(), flat % span + ri.min()])
        if len(keys) <= max_cells:
            break
        size *= 1.5
    cq, cr = keys[:, 0].astype(float), keys[:, 1].astype(float)
    cx = size * math.sqrt(3.0) * (cq + cr / 2.0)
    cy = size * 1.5 * cr
    angles = np.radians(np.arange(6) * 60.0 + 30.0)
    vx = cx[:, None] + size * np.cos(angles)[None, :]
    vy = cy[:, None] + size * np.sin(angles)[None, :]
    tr = Transformer.from_crs(utm, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(vx.ravel(), vy.ravel())
    lon = np.round(np.asarray(lon).reshape(vx.shape), COORD_DECIMALS)
    lat = np.round(np.asarray(lat).reshape(vx.shape), COORD_DECIMALS)
    geoms = []
    for i in range(len(keys)):
        ring = [[float(lon[i, k]), float(lat[i, k])] for k in range(6)]
        ring.append(ring[0])
        geoms.append({"type": "Polygon", "coordinates": [ring]})

    n_hex = len(keys)
    hex_pop = np.bincount(inv, weights=pop, minlength=n_hex)
    n_cells = np.bincount(inv, minlength=n_hex)
    weight = pop + 1e-9  # hexagons of zero population still get an (unweighted) median
    medians: list[list[int | None]] = []
    shares: list[list[float | None]] = []
    for col in dist_columns:
        d = _floats(demand[col])
        d = np.where(np.isfinite(d), d, np.inf)
        order = np.lexsort((d, inv))
        cw = np.cumsum(weight[order])
        tot = np.bincount(inv, weights=weight, minlength=n_hex)
        ends = np.cumsum(n_cells)
        starts = ends - n_cells
        before = np.where(starts > 0, cw[np.maximum(starts - 1, 0)], 0.0)
        idx = np.searchsorted(cw, before + tot / 2.0, side="left")
        idx = np.clip(idx, starts, ends - 1)
        medians.append(_dist_values(d[order][idx]))
        thr = _threshold(col, thresholds)
        if thr is None:
            shares.append([None] * n_hex)
        else:
            cov = np.bincount(inv, weights=pop * (d <= thr + COVER_EPS_M), minlength=n_hex)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(hex_pop > 0, cov / np.where(hex_pop > 0, hex_pop, 1.0), np.nan)
            shares.append(_nums(share, 3))
    return {
        "g": geoms,
        "pop": _nums(hex_pop, 1),
        "n": [int(v) for v in n_cells],
        "d": medians,
        "cov": shares,
        "agg": True,
        "_inv": inv,  # the hexagon of each cell (for the what-if panel; not drawn)
    }


def _cells(demand: gpd.GeoDataFrame, dist_columns: Sequence[str]) -> dict[str, Any]:
    return {
        "g": _geojson_geoms(demand.geometry.to_numpy()),
        "id": list(map(str, demand["cell_id"].to_numpy(dtype=object).tolist())),
        "pop": _nums(demand["population"], 1),
        "d": [_dist_values(_floats(demand[c])) for c in dist_columns],
        "agg": False,
    }


# --------------------------------------------------------------------------- symbols


def _shape_svg(shape: str, size: int, colour: str, filled: bool) -> str:
    """An inline SVG marker: planned sites filled, existing facilities hollow."""
    z = size
    p = 2.0
    if filled:
        paint = f'fill="{colour}" stroke="#1a1a1a" stroke-width="1.5"'
    else:
        paint = f'fill="#ffffff" fill-opacity="0.85" stroke="{colour}" stroke-width="3"'
    h = z / 2
    if shape == "square":
        body = f'<rect x="{p}" y="{p}" width="{z - 2 * p}" height="{z - 2 * p}" {paint}/>'
    elif shape == "triangle":
        body = f'<polygon points="{h},{p} {z - p},{z - p} {p},{z - p}" {paint}/>'
    elif shape == "circle":
        body = f'<circle cx="{h}" cy="{h}" r="{h - p}" {paint}/>'
    else:
        body = f'<polygon points="{h},{p} {z - p},{h} {h},{z - p} {p},{h}" {paint}/>'
    return f'<svg width="{z}" height="{z}" viewBox="0 0 {z} {z}">{body}</svg>'


def _kind_colours(kinds: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    extra = iter(_EXTRA_KIND_COLOURS * (len(kinds) // len(_EXTRA_KIND_COLOURS) + 1))
    for k in kinds:
        out[k] = _KIND_COLOURS[k] if k in _KIND_COLOURS else next(extra)
    return out


def _tier_shape(tier: Any) -> tuple[str, int]:
    return _TIER_SHAPES.get(str(tier), _OTHER_SHAPE)


def _popup_table(title: str, rows: Sequence[tuple[str, Any]]) -> str:
    """Popup HTML; ``title`` and row labels are trusted text, values are escaped."""
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<div class="fp-pop"><b>{_esc(title)}</b><table>{body}</table></div>'


# --------------------------------------------------------------------------- elements


class _Text(Element):
    r"""Literal page text, rendered as it is.

    branca's ``Element(text)`` parses ``text`` as a Jinja template, which is slow for
    megabytes of data and would read ``{{``/``{%`` in user text as template syntax. For
    text without those, ``\r`` or a final newline, the output is the same.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        """The text."""
        return self._text


class _Script(MacroElement):
    """A piece of map JavaScript generated at render time (so element names are final)."""

    def __init__(self, name: str, make: Callable[[_Script], str]) -> None:
        super().__init__()
        self._name = name
        self._make = make

    def code(self) -> str:
        """The JavaScript of this element."""
        return self._make(self)

    def render(self, **kwargs: Any) -> None:
        """Add the code to the page's scripts (as folium's ``script`` macro would)."""
        self.get_root().script.add_child(_Text("\n" + self.code()), name=self.get_name())


def asset_text(name: str) -> str:
    """A file of ``facplan/assets`` (the map's stylesheet and script templates), read with
    :mod:`importlib.resources` so that it works from a wheel or a zip as from a checkout."""
    from importlib import resources

    return resources.files("facplan").joinpath("assets", name).read_text(encoding="utf-8")


#: The map's stylesheet and script templates (``str.format`` fields in braces).
_CSS = asset_text("map.css")

# The shared helpers; the map's layer scripts register themselves on this object.
_CORE_JS = asset_text("map_core.js")

_CELLS_JS = asset_text("map_cells.js")

_POLYGONS_JS = asset_text("map_polygons.js")

_MARKERS_JS = asset_text("map_markers.js")

_PANEL_JS = asset_text("map_panel.js")


def _seed_ids(root: Element, seed: int) -> None:
    """Replace folium's random element ids by ``<seed>_<position>`` (depth-first order)."""
    counter = 0
    stack: list[Element] = [root]
    while stack:
        el = stack.pop()
        el._id = f"{seed}_{counter}"
        counter += 1
        stack.extend(reversed(list(el._children.values())))


# --------------------------------------------------------------------------- build


def build_map(
    *,
    demand: gpd.GeoDataFrame,
    dist_columns: Sequence[str],
    communities: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    catchments: gpd.GeoDataFrame | None = None,
    exclusions: gpd.GeoDataFrame | None = None,
    thresholds: Mapping[str, float] | None = None,
    title: str = "facplan",
    lang: str = "en",
    tiles: str = "osm",
    tianditu_key: str | None = None,
    assets: str = "inline",
    max_cells: int = 50_000,
    seed: int = 0,
    whatif: Any = None,
    rings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build the interactive map of a run.

    Parameters
    ----------
    demand
        Population cells in EPSG:4326 (other CRSs are reprojected): ``cell_id``,
        ``population`` and the ``dist_columns``; points or polygons.
    dist_columns
        Walking-distance columns of ``demand`` in metres (NaN = unreachable), e.g.
        ``dist_sports_park_community`` and ``dist_sports_park_community_after``. Each
        becomes one view of the cells layer; the first is shown on opening.
    communities
        ``community_id``, optional ``name``, polygons: outlines with name labels.
    facilities
        Existing facilities: ``facility_id``, ``kind``, optional ``tier``; points or
        polygons (drawn at their representative point).
    sites
        Chosen sites: ``site_id``, ``kind``, ``tier``, optional ``rank``,
        ``marginal_population``, ``cost`` (NaN = unknown), ``phase``,
        ``community_id``.
    catchments
        Walking catchment polygons of the chosen sites: ``site_id``, ``kind``, optional
        ``tier``.
    exclusions
        Exclusion zones (polygons), optional ``name``.
    thresholds
        Distance column -> walking threshold in metres; sets the colour classes
        (≤ T/2, ≤ T covered; ≤ 1.5 T, ≤ 2 T, > 2 T not). A ``_after`` column without its
        own entry uses its base column's. Without one: 250/500/1000/2000 m classes.
    title
        Shown at the top of the map (escaped).
    lang
        ``"en"`` or ``"zh"``: the primary language of labels (both are always shown).
    tiles
        ``"osm"``, ``"cartodb"``, ``"tianditu"`` (天地图, needs ``tianditu_key``) or
        ``"none"``. The vector layers show without tiles.
    tianditu_key
        The Tianditu API key, for ``tiles="tianditu"``.
    assets
        ``"inline"`` or ``"cdn"``: the default for :func:`write_map`.
    max_cells
        Above this many cells the cells are aggregated to at most ``max_cells`` hexagons.
    seed
        Seeds the element ids, so that equal inputs give byte-identical HTML.
    whatif
        A run's :class:`facplan.whatif.WhatIf` (aligned with ``demand``): adds the
        what-if panel (:mod:`facplan.outputs.whatif`).
    rings
        Nested 5/10/15-minute walking areas (:func:`facplan.rings.ring_layer`): ``kind``,
        ``tier``, ``state``, ``minutes``; one switchable layer, off on opening.
    streets
        Lines of the walking network (:func:`facplan.streets.street_lines`): the
        ``Streets (from the network)`` base layer, shown with ``tiles="none"`` and
        switched on by itself when the tiles cannot load.

    Returns
    -------
    folium.Map
        Render it with :func:`write_map`.

    Raises
    ------
    ValueError
        For an unknown ``lang``/``tiles``/``assets``, ``max_cells < 1`` or missing columns.
    """
    _check_choice("lang", lang, LANGS)
    _check_choice("tiles", tiles, TILES)
    if tiles == "tianditu" and not tianditu_key:
        raise ValueError(
            "The 'tianditu_key' parameter of build_map must be a Tianditu API key when "
            "tiles='tianditu'. Got None instead."
        )
    _check_choice("assets", assets, ASSETS)
    if int(max_cells) < 1:
        raise ValueError(f"The 'max_cells' parameter of build_map must be >= 1. Got {max_cells} instead.")
    dist_columns = list(dist_columns)
    _require(demand, ["cell_id", "population", *dist_columns], "demand")
    demand_w = _to_wgs84(demand, "demand")
    communities_w = _to_wgs84(communities, "communities")
    facilities_w = _to_wgs84(facilities, "facilities")
    sites_w = _to_wgs84(sites, "sites")
    catchments_w = _to_wgs84(catchments, "catchments")
    exclusions_w = _to_wgs84(exclusions, "exclusions")
    if communities_w is not None:
        _require(communities_w, ["community_id"], "communities")
    if facilities_w is not None:
        _require(facilities_w, ["facility_id", "kind"], "facilities")
    if sites_w is not None:
        _require(sites_w, ["site_id", "kind"], "sites")
    if catchments_w is not None:
        _require(catchments_w, ["site_id"], "catchments")

    # kinds and their colours, in a stable order (built-ins first, then by name)
    kinds: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for gdf in (facilities_w, sites_w, catchments_w):
        if gdf is not None and "kind" in gdf.columns:
            kinds.update(str(k) for k in gdf["kind"])
            if "tier" in gdf.columns:
                pairs.update((str(k), str(t)) for k, t in zip(gdf["kind"], gdf["tier"], strict=True))
    kind_order = [k for k in _KIND_COLOURS if k in kinds] + sorted(kinds - set(_KIND_COLOURS))
    colours = _kind_colours(kind_order)
    pair_list = sorted(pairs, key=lambda p: (-len(p[0]) - len(p[1]), p))

    # the extent
    frames = [g for g in (demand_w, communities_w) if g is not None] or [
        g for g in (facilities_w, sites_w, catchments_w, exclusions_w) if g is not None
    ]
    if frames:
        b = np.array([f.total_bounds for f in frames])
        west, south = float(b[:, 0].min()), float(b[:, 1].min())
        east, north = float(b[:, 2].max()), float(b[:, 3].max())
    else:
        west, south, east, north = -180.0, -85.0, 180.0, 85.0
    centre = [round((south + north) / 2, COORD_DECIMALS), round((west + east) / 2, COORD_DECIMALS)]

    m = folium.Map(
        location=centre, zoom_start=13, tiles=None, control_scale=False, font_size="13px",
        zoom_snap=0.25,
    )
    m.default_js = []
    m.default_css = []
    m._facplan_assets = assets
    m._facplan_seed = int(seed)
    root = m.get_root()
    root.title = _esc(title)
    root.header.add_child(_Text('<link rel="icon" href="data:,">'), name="facplan_icon")
    root.header.add_child(_Text(f"<style>{_CSS}</style>"), name="facplan_css")

    if tiles == "osm":
        folium.TileLayer("OpenStreetMap", name=_esc(_t("base", lang)), max_zoom=19).add_to(m)
    elif tiles == "cartodb":
        # the keyless URL (xyzservices now lists CARTO with an API key): tiles may be
        # refused without one, and the vector layers show all the same
        folium.TileLayer(
            _CARTO_URL, attr=_CARTO_ATTR, name=_esc(_t("base_carto", lang)),
            subdomains="abcd", max_zoom=20,
        ).add_to(m)

    elif tiles == "tianditu":
        for layer, show in (("vec", True), ("cva", True)):
            folium.TileLayer(
                _TIANDITU_URL.replace("{layer}", layer).replace("{key}", quote(tianditu_key, safe="")),
                attr="&copy; 天地图 Tianditu", name=_esc(f"天地图 Tianditu {layer}"),
                subdomains="01234567", max_zoom=18, overlay=layer == "cva", show=show,
            ).add_to(m)

    if streets is not None and len(streets):
        _add_streets(m, _to_wgs84(streets, "streets"), lang, tiles)

    # ------------------------------------------------------------------ core
    views = []
    for col in dist_columns:
        thr = _threshold(col, thresholds)
        views.append({
            "col": col,
            "label": _view_label(col, pair_list, lang),
            "t": None if thr is None else _num(thr, 1),
            "b": _breaks(thr),
        })
    text = {k: _esc(_t(k, lang)) for k in _TEXT}
    text["viewPlain"] = _t("view", lang)
    core_data: dict[str, Any] = {
        "views": views,
        "pal": _CLASS_COLOURS,
        "unreachable": _UNREACHABLE_COLOUR,
        "t": text,
        "title": _esc(title),
        "bounds": [[_num(south, COORD_DECIMALS), _num(west, COORD_DECIMALS)],
                   [_num(north, COORD_DECIMALS), _num(east, COORD_DECIMALS)]] if frames else None,
        "staticLegend": _static_legend(
            kind_order, colours, facilities_w, sites_w, catchments_w, exclusions_w,
            communities_w, lang,
        ),
    }
    core = _Script(
        "facplan_core",
        lambda el: _CORE_JS.format(core=el.get_name(), data=_js(core_data), map=m.get_name(),
                                   eps=repr(COVER_EPS_M).replace("e-0", "e-")),
    )
    m.add_child(core)

    def add_group(name: str, script_name: str, template: str, data: dict[str, Any]) -> None:
        group = folium.FeatureGroup(name=_esc(name), show=True)
        group.add_child(_Script(
            script_name,
            lambda el: template.format(
                core=core.get_name(), group=el._parent.get_name(), data=_js(data)
            ),
        ))
        group.add_to(m)

    # ------------------------------------------------------------------ cells
    hex_of_cell = None
    if demand_w is not None:
        if len(demand_w) > max_cells:
            cells = _hexagons(demand_w, dist_columns, thresholds, int(max_cells))
            hex_of_cell = cells.pop("_inv")
            cells_name = _t("hexes", lang)
        else:
            cells = _cells(demand_w, dist_columns)
            cells_name = _t("cells", lang)
            cells["pt"] = bool((demand_w.geometry.geom_type == "Point").all())
        cells["canvas"] = len(cells["g"]) > SVG_MAX_FEATURES
        add_group(cells_name, "facplan_cells", _CELLS_JS, cells)

    # ------------------------------------------------------------------ polygons
    if communities_w is not None:
        names = (
            communities_w["name"] if "name" in communities_w.columns
            else communities_w["community_id"]
        )
        label_text = [
            str(cid) if _is_missing(n) or str(n) == "" else str(n)
            for n, cid in zip(names, communities_w["community_id"], strict=True)
        ]
        data: dict[str, Any] = {
            "g": _geojson_geoms(communities_w.geometry.to_numpy()),
            "interactive": False,
            "style": {"color": "#333333", "weight": 1.6, "fill": False, "dashArray": "6 3"},
        }
        ll = _latlon(communities_w.geometry.representative_point())
        data["labels"] = [[a[0], a[1], _esc(t)] for a, t in zip(ll, label_text, strict=True)]
        if len(communities_w) > MAX_COMMUNITY_LABELS:
            data["labelMinZoom"] = LABEL_MIN_ZOOM
        add_group(_t("communities", lang), "facplan_communities", _POLYGONS_JS, data)

    if exclusions_w is not None:
        data = {
            "g": _geojson_geoms(exclusions_w.geometry.to_numpy()),
            "interactive": True,
            "style": {"color": "#7b2d26", "weight": 1.5, "fillColor": "#7b2d26",
                      "fillOpacity": 0.28, "dashArray": "3 3"},
        }
        ex_label = _t("exclusions", lang)
        if "name" in exclusions_w.columns:
            data["tip"] = [
                _esc(ex_label if _is_missing(n) else f"{ex_label}: {n}") for n in exclusions_w["name"]
            ]
        else:
            data["tip"] = [_esc(ex_label)] * len(exclusions_w)
        add_group(ex_label, "facplan_exclusions", _POLYGONS_JS, data)

    if catchments_w is not None:
        kinds_c = catchments_w["kind"] if "kind" in catchments_w.columns else None
        data = {
            "g": _geojson_geoms(catchments_w.geometry.to_numpy()),
            "interactive": False,
            "style": {"weight": 1.8, "fillOpacity": 0.07, "dashArray": "5 4", "opacity": 0.9},
            "colour": [
                colours.get(str(k), "#444444") for k in kinds_c
            ] if kinds_c is not None else None,
        }
        add_group(_t("catchments", lang), "facplan_catchments", _POLYGONS_JS, data)

    if rings is not None and len(rings):
        _add_rings(m, core, _to_wgs84(rings, "rings"), colours, lang)

    # ------------------------------------------------------------------ markers
    if facilities_w is not None:
        _add_marker_layers(
            add_group, facilities_w, "facility_id", kind_order, colours, lang, planned=False
        )
    if sites_w is not None:
        _add_marker_layers(add_group, sites_w, "site_id", kind_order, colours, lang, planned=True)

    _Script("facplan_panel", lambda el: _PANEL_JS.format(core=core.get_name())).add_to(m)
    if whatif is not None:
        _add_whatif(m, core, whatif, demand, hex_of_cell, sites_w, lang)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    _seed_ids(root, m._facplan_seed)
    return m


def _add_whatif(
    m: folium.Map, core: _Script, whatif: Any, demand: gpd.GeoDataFrame,
    hex_of_cell: np.ndarray | None, sites: gpd.GeoDataFrame | None, lang: str,
) -> None:
    """The what-if panel's style and script (after the cells and the legend panel)."""
    from facplan.outputs.whatif import whatif_css, whatif_data, whatif_script

    geom = demand.geometry
    keep = geom.notna().to_numpy() & ~geom.is_empty.to_numpy()
    data = whatif_data(whatif, lang=lang, cell_rows=None if keep.all() else np.flatnonzero(keep),
                       hex_of_row=hex_of_cell, plan_sites=sites)
    m.get_root().header.add_child(_Text(f"<style>{whatif_css()}</style>"), name="facplan_whatif_css")
    _Script("facplan_whatif", lambda el: whatif_script(core.get_name(), data)).add_to(m)


def _add_marker_layers(
    add_group: Callable[[str, str, str, dict[str, Any]], None],
    gdf: gpd.GeoDataFrame,
    id_col: str,
    kind_order: Sequence[str],
    colours: Mapping[str, str],
    lang: str,
    *,
    planned: bool,
) -> None:
    """One layer per kind: existing facilities hollow, planned sites filled."""
    if planned and "rank" in gdf.columns:
        order = np.lexsort((gdf[id_col].astype(str).to_numpy(),
                            pd.to_numeric(gdf["rank"], errors="coerce").fillna(np.inf).to_numpy()))
        gdf = gdf.iloc[order]
    pts = _latlon(_marker_points(gdf))
    tiers = gdf["tier"] if "tier" in gdf.columns else pd.Series(["all"] * len(gdf), index=gdf.index)
    kinds = gdf["kind"].astype(str).to_numpy()
    head_key = "planned_layer" if planned else "existing_layer"
    for kind in kind_order:
        rows = np.flatnonzero(kinds == kind)
        if not len(rows):
            continue
        en_h, zh_h = _TEXT[head_key]
        k_en, k_zh = KIND_LABELS.get(kind, (kind, kind))
        name = bilingual(f"{en_h}: {k_en}", f"{zh_h}：{k_zh}", lang)
        icons: dict[str, list[Any]] = {}
        markers: list[list[Any]] = []
        for i in rows:
            rec = gdf.iloc[i]
            tier = "all" if _is_missing(tiers.iloc[i]) else str(tiers.iloc[i])
            shape, size = _tier_shape(tier)
            key = f"{shape}{size}"
            if key not in icons:
                icons[key] = [_shape_svg(shape, size, colours[kind], planned), size]
            fid = rec[id_col]
            prow: list[tuple[str, Any]] = [
                (_t("id", lang), fid),
                (_t("kind", lang), kind_label(kind, lang)),
                (_t("tier", lang), tier_label(tier, lang)),
            ]
            if planned:
                if "rank" in gdf.columns and not _is_missing(rec["rank"]):
                    prow.append((_t("rank", lang), _fmt_int(rec["rank"])))
                if "marginal_population" in gdf.columns:
                    prow.append((_t("gained", lang), _fmt_int(rec["marginal_population"])))
                if "cost" in gdf.columns:
                    prow.append((_t("cost", lang), _fmt_int(rec["cost"])))
                if "phase" in gdf.columns and not _is_missing(rec["phase"]):
                    prow.append((_t("phase", lang), rec["phase"]))
                if "community_id" in gdf.columns and not _is_missing(rec["community_id"]):
                    prow.append((_t("community", lang), rec["community_id"]))
                for col in ("name", "tag"):  # what an OSM candidate is
                    if col in gdf.columns and not _is_missing(rec[col]) and str(rec[col]):
                        prow.append((_t(col, lang), rec[col]))
            tip = f"{kind_label(kind, lang)} · {tier_label(tier, lang)} — {fid}"
            markers.append([pts[i][0], pts[i][1], key, _popup_table(name, prow), _esc(tip)])
        cls = "fp-site" if planned else "fp-facility"
        add_group(name, "facplan_sites" if planned else "facplan_facilities", _MARKERS_JS,
                  {"m": markers, "icons": icons, "cls": cls, "many": MANY_MARKERS,
                   "minScale": MARKER_MIN_SCALE, "full": MARKER_FULL_ZOOM})


def _static_legend(
    kind_order: Sequence[str],
    colours: Mapping[str, str],
    facilities: gpd.GeoDataFrame | None,
    sites: gpd.GeoDataFrame | None,
    catchments: gpd.GeoDataFrame | None,
    exclusions: gpd.GeoDataFrame | None,
    communities: gpd.GeoDataFrame | None,
    lang: str,
) -> str:
    """Legend HTML for the markers and polygon layers (all text escaped)."""

    def item(swatch: str, text: str) -> str:
        return f'<span class="fp-item">{swatch}<span>{_esc(text)}</span></span>'

    def row(items: Sequence[str]) -> str:
        return f'<div class="fp-row">{"".join(items)}</div>'

    rows: list[str] = []
    if kind_order and (facilities is not None or sites is not None):
        rows.append(row([
            item(f'<span class="fp-sw" style="background:{colours[k]}"></span>', kind_label(k, lang))
            for k in kind_order
        ]))
        tiers: list[str] = []
        for gdf in (facilities, sites):
            if gdf is not None and "tier" in gdf.columns:
                tiers.extend("all" if _is_missing(t) else str(t) for t in gdf["tier"])
        known = [t for t in _TIER_SHAPES if t in tiers]
        others = sorted(set(tiers) - set(_TIER_SHAPES))
        rows.append(row([
            item(_shape_svg(_tier_shape(t)[0], 13, "#555555", True), tier_label(t, lang))
            for t in known + others
        ]))
        fills = []
        if facilities is not None:
            fills.append(item(_shape_svg("circle", 13, "#555555", False), _t("hollow", lang)))
        if sites is not None:
            fills.append(item(_shape_svg("circle", 13, "#555555", True), _t("filled", lang)))
        rows.append(row(fills))
    areas = []
    if catchments is not None:
        areas.append(item('<span class="fp-sw" style="border:2px dashed #555;background:none">'
                          "</span>", _t("catchments", lang)))
    if exclusions is not None:
        areas.append(item('<span class="fp-sw" style="background:rgba(123,45,38,.35);'
                          'border-color:#7b2d26"></span>', _t("exclusions", lang)))
    if communities is not None:
        areas.append(item('<span class="fp-sw" style="border:2px dashed #333;background:none">'
                          "</span>", _t("communities", lang)))
    if areas:
        rows.append(row(areas))
    return "".join(rows)


# --------------------------------------------------------------------------- write


@functools.lru_cache(maxsize=1)
def _leaflet_files() -> tuple[str, str, str]:
    """(version, leaflet.js, leaflet.css) from the installed XStatic-Leaflet package.

    The CSS's images become ``data:`` URIs and the source-map comment is dropped, so the
    page needs no other file.
    """
    try:
        from xstatic.pkg import leaflet as xs_leaflet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Inlining Leaflet into map.html needs the 'XStatic-Leaflet' package: "
            "pip install xstatic-leaflet (or set map: {assets: cdn} to link it instead)."
        ) from exc
    base = Path(xs_leaflet.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"^//# sourceMappingURL=.*$", "", js, flags=re.MULTILINE).rstrip() + "\n"
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        path = base / match.group(1)
        if not path.is_file():
            return match.group(0)
        b64 = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{b64})"

    css = re.sub(r"url\((images/[^)]+\.png)\)", data_uri, css)
    js = js.replace("</script", "<\\/script")
    css = css.replace("</style", "<\\/style")
    return str(xs_leaflet.VERSION), js, css


def _leaflet_version() -> str:
    try:
        from xstatic.pkg import leaflet as xs_leaflet
    except ImportError:
        return LEAFLET_VERSION_FALLBACK
    return str(xs_leaflet.VERSION)


_EXTERNAL = re.compile(
    r"<(?:script[^>]*\ssrc|link[^>]*\shref)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE
)


def render_map(m: folium.Map, *, assets: str | None = None) -> str:
    """The map's HTML as a string (see :func:`write_map`)."""
    assets = getattr(m, "_facplan_assets", "inline") if assets is None else assets
    if assets not in ASSETS:
        raise ValueError(
            f"The 'assets' parameter of write_map must be one of {list(ASSETS)}. "
            f"Got {assets!r} instead."
        )
    root = m.get_root()
    header = root.header._children
    for name in ("leaflet", "leaflet_css"):
        header.pop(name, None)
    if assets == "inline":
        _, js, css = _leaflet_files()
        m.default_js = []
        m.default_css = []
        first = [
            ("leaflet_css", _Text(f"<style>\n{css}</style>")),
            ("leaflet", _Text(f"<script>\n{js}</script>")),
        ]
        # after the charset <meta> (it must come first), before everything else
        rest = list(header.items())
        header.clear()
        for name, el in rest[:1]:
            header[name] = el
        for name, el in first:
            root.header.add_child(el, name=name)
        for name, el in rest[1:]:
            header[name] = el
    else:
        version = _leaflet_version()
        m.default_js = [("leaflet", _CDN.format(version=version, ext="js"))]
        m.default_css = [("leaflet_css", _CDN.format(version=version, ext="css"))]
    _seed_ids(root, getattr(m, "_facplan_seed", 0))
    out = root.render()
    out = "\n".join(line.rstrip() for line in out.splitlines()) + "\n"
    if assets == "inline" and _EXTERNAL.search(out):
        bad = _EXTERNAL.search(out)
        raise RuntimeError(f"map.html would load an external resource: {bad.group(0)!r}")
    return out


def write_map(path: Path, m: folium.Map, *, assets: str = "inline") -> None:
    """Write ``m`` as ONE self-contained HTML file (UTF-8).

    Parameters
    ----------
    path
        The file to write.
    m
        A map from :func:`build_map`.
    assets
        ``"inline"``: Leaflet's JS and CSS are copied into the page from the installed
        XStatic-Leaflet package, so no ``<script src=http…>`` or ``<link href=http…>``
        remains and the page renders offline (only map tiles need the network).
        ``"cdn"``: Leaflet is linked from jsDelivr.

    Raises
    ------
    ImportError
        ``assets="inline"`` without XStatic-Leaflet installed.
    """
    text = render_map(m, assets=assets)
    Path(path).write_bytes(text.encode("utf-8"))


def _add_rings(
    m: folium.Map, core: Element, rings: gpd.GeoDataFrame, colours: Mapping[str, str],
    lang: str,
) -> None:
    """The 5/10/15-minute walking areas as one layer, off on opening: in the kind's
    colour, larger rings drawn first, a tooltip naming kind, tier, state and minutes."""
    tips, cols = [], []
    for kind, tier, state, minutes in zip(rings["kind"], rings["tier"], rings["state"],
                                          rings["minutes"], strict=True):
        name = kind_label(kind, lang) + (" · " + tier_label(tier, lang) if tier != "all" else "")
        tips.append(_esc(f"{name} · {_t(state, lang)} · {int(minutes)} {_t('minutes', lang)}"))
        cols.append(colours.get(str(kind), "#444444"))
    data = {
        "g": _geojson_geoms(rings.geometry.to_numpy()),
        "interactive": True,
        "style": {"weight": 1.2, "fillOpacity": 0.06, "opacity": 0.8},
        "colour": cols,
        "tip": tips,
    }
    group = folium.FeatureGroup(name=_esc(_t("rings", lang)), show=False)
    group.add_child(_Script(
        "facplan_rings",
        lambda el: _POLYGONS_JS.format(core=core.get_name(), group=el._parent.get_name(),
                                       data=_js(data)),
    ))
    group.add_to(m)


_STREETS_JS = asset_text("map_streets.js")


def _add_streets(m: folium.Map, streets: gpd.GeoDataFrame, lang: str, tiles: str) -> None:
    """The ``Streets (from the network)`` base layer: light grey lines of the walking
    network under every other layer; shown on opening with ``tiles="none"``, and in place
    of tiles that fail to load (after 3 failed tiles and none loaded)."""
    data = {
        "g": _geojson_geoms(streets.geometry.to_numpy())[0],
        "style": {"color": "#9e9e9e", "weight": 1.1, "opacity": 0.9},
        "failures": 3,
    }
    group = folium.FeatureGroup(name=_esc(_t("streets", lang)), overlay=False,
                                show=tiles == "none")
    group.add_child(_Script(
        "facplan_streets",
        lambda el: _STREETS_JS.format(map=m.get_name(), group=el._parent.get_name(),
                                      data=_js(data)),
    ))
    group.add_to(m)
