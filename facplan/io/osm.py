"""Inputs from an OpenStreetMap PBF extract, read offline with pyrosm.

Every reader takes the extract as a path or as an open :class:`pyrosm.OSM` (pass one
object to several readers: pyrosm keeps the parsed nodes, so later reads are fast).
Geometries come back in EPSG:4326; areas are measured in the projected CRS the caller
names. OSM objects are identified as ``osm-<type>-<id>`` (``type`` = node, way or
relation) and listed in a fixed order — nodes, ways, relations, each by id — so two runs
on one extract give identical frames.

Polygons that OSM draws invalid (self-touching rings, …) are repaired with
:func:`shapely.make_valid`, keeping the polygonal parts; a feature with no polygonal part
left is dropped.

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facplan._errors import InputError
from facplan.io.crs import require_projected
from facplan.standards import Standard

__all__ = [
    "CANDIDATE_TAGS",
    "buildings_from_frame",
    "candidates_from_layers",
    "features_from_frame",
    "open_pbf",
    "read_osm_admin",
    "read_osm_features",
    "osm_facilities",
    "osm_candidates",
    "tag_candidates",
    "read_osm_buildings",
    "parse_levels",
    "assign_tier",
    "OPEN_LANDUSE",
    "SURFACE_PARKING",
    "RETROFIT_BUILDINGS",
    "LARGE_BUILDING_MIN_M2",
    "RETROFIT_DEFAULT_LEVELS",
    "NEW_BUILD_COST_PER_M2",
    "NEW_BUILD_FIXED_COST",
    "RETROFIT_COST_PER_M2",
    "MIN_SITE_AREA_M2",
    "RESIDENTIAL_LAND",
]

#: ``landuse`` values read as open land where a new sports park could be built.
OPEN_LANDUSE = ("brownfield", "greenfield", "grass", "vacant")
#: ``parking`` values of surface car parks ("" = untagged, which OSM reads as surface).
SURFACE_PARKING = ("", "surface")
#: ``building`` values read as retrofit candidates for neighbourhood centres (plus
#: ``building=yes`` outside ``landuse=residential``).
RETROFIT_BUILDINGS = ("commercial", "office", "industrial", "retail", "warehouse")
#: Smallest footprint of a retrofit building, m² (the centre needs ~800 m² of floor).
LARGE_BUILDING_MIN_M2 = 800.0
#: Storeys assumed for a retrofit building without a usable ``building:levels``
#: (large commercial and industrial halls are mostly single-storey).
RETROFIT_DEFAULT_LEVELS = 1.0
#: Smallest OSM candidate site kept by default, m² (the smallest outdoor fitness ground).
MIN_SITE_AREA_M2 = 150.0
#: Illustrative cost of a new sports park per m² of site (CNY-like, not a price).
NEW_BUILD_COST_PER_M2 = 1500.0
#: Illustrative fixed cost of any new build (CNY-like).
NEW_BUILD_FIXED_COST = 2.0e6
#: Illustrative cost of a retrofit per m² of floor area (CNY-like).
RETROFIT_COST_PER_M2 = 3000.0

_TYPE_ORDER = {"node": 0, "way": 1, "relation": 2}
_BUILDING_COLUMNS = ["building", "building:levels"]
_FEATURE_COLUMNS = ["osm_id", "name", "tag", "source", "geometry"]
_CANDIDATE_COLUMNS = ["site_id", "kind", "tier", "cost", "area_m2", "name", "source",
                      "geometry"]


# ------------------------------------------------------------------------ helpers


def open_pbf(pbf: str | PathLike[str] | Any) -> Any:
    """An open :class:`pyrosm.OSM` for ``pbf`` (returned as is when it already is one).

    Raises
    ------
    InputError
        When the file does not exist.
    """
    import pyrosm

    if isinstance(pbf, pyrosm.OSM):
        return pbf
    path = Path(pbf)
    if not path.is_file():
        raise InputError("OSM extract not found", file=str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pyrosm.OSM(str(path))
        except Exception as exc:  # pyrosm raises several types on a bad file
            raise InputError(f"cannot read this file as an OSM PBF ({exc})", file=str(path)) from None


def _where(osm: Any) -> str:
    return str(getattr(osm, "filepath", "osm"))


def _call(osm: Any, method: str, **kwargs: Any) -> gpd.GeoDataFrame | None:
    """Call a pyrosm getter quietly; turn a parse failure into an InputError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyrosm/pandas deprecation chatter
        try:
            return getattr(osm, method)(**kwargs)
        except Exception as exc:
            raise InputError(f"pyrosm could not read the extract ({exc})", file=_where(osm)) from None


def _tagged(osm: Any, tags: Mapping[str, list[str] | bool], columns: list[str]) -> gpd.GeoDataFrame | None:
    """OSM objects carrying any of ``tags``: nodes and ways in one pyrosm query, relations
    in another.

    Asked for ways and relations in one query, pyrosm returns 2,465 of Liechtenstein's
    3,026 ``landuse`` ways (plain ``landuse=grass`` ways among the missing ones) and
    15,808 of its 15,809 building ways (counts by osmium). Asked apart, both the ways and
    the relations equal osmium's counts.
    """
    kw: dict[str, Any] = {"custom_filter": dict(tags), "filter_type": "keep",
                          "tags_as_columns": columns}
    parts = [
        _call(osm, "get_data_by_custom_criteria", keep_relations=False, **kw),
        _call(osm, "get_data_by_custom_criteria", keep_nodes=False, keep_ways=False, **kw),
    ]
    parts = [g for g in parts if g is not None and len(g)]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry",
                            crs=parts[0].crs)


def osm_ids(gdf: pd.DataFrame) -> np.ndarray:
    return (
        "osm-" + gdf["osm_type"].astype(str) + "-" + gdf["id"].astype("int64").astype(str)
    ).to_numpy(dtype=object)


def _sorted(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Nodes, ways, relations; each by OSM id; one row per OSM object."""
    order = gdf["osm_type"].map(_TYPE_ORDER).fillna(9).to_numpy()
    ids = gdf["id"].astype("int64").to_numpy()
    gdf = gdf.iloc[np.lexsort((ids, order))]
    return gdf[~gdf.duplicated(["osm_type", "id"]).to_numpy()]


def _polygonal(g: shapely.Geometry | None) -> shapely.Geometry | None:
    """The polygonal part of ``g`` (made valid first), or None when there is none."""
    if g is None or g.is_empty:
        return None
    if not g.is_valid:
        g = shapely.make_valid(g)
    if shapely.get_type_id(g) in (3, 6):
        return g
    parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
    if not parts:
        return None
    polys = shapely.get_parts(parts)  # multipolygons → polygons
    return shapely.multipolygons(polys) if len(polys) > 1 else polys[0]


def repair_geometries(gdf: gpd.GeoDataFrame, *, keep_points: bool) -> tuple[gpd.GeoDataFrame, int]:
    """Points (when kept) and repaired polygons; returns the frame and how many were
    dropped (lines, empty or unrepairable geometries)."""
    geom = gdf.geometry.values
    tid = shapely.get_type_id(geom)
    out = np.empty(len(geom), dtype=object)
    for i, (g, t) in enumerate(zip(geom, tid, strict=True)):
        if t == 0 and keep_points and g is not None and not g.is_empty:
            out[i] = g
        elif t in (3, 6, 7):
            out[i] = _polygonal(g)
        else:
            out[i] = None
    keep = np.array([g is not None for g in out], dtype=bool)
    fixed = gdf.iloc[np.flatnonzero(keep)].copy()
    fixed = fixed.set_geometry(
        gpd.GeoSeries(list(out[keep]), index=fixed.index, crs=gdf.crs or 4326)
    )
    return fixed, int((~keep).sum())


def text_column(gdf: pd.DataFrame, col: str) -> pd.Series:
    if col not in gdf.columns:
        return pd.Series("", index=gdf.index, dtype=object)
    return gdf[col].astype(object).where(gdf[col].notna(), "").astype(str).str.strip()


def _tag_from_json(tags: pd.Series, key: str) -> pd.Series:
    def get(raw: Any) -> str:
        if not isinstance(raw, str) or not raw:
            return ""
        try:
            value = json.loads(raw).get(key, "")
        except (ValueError, AttributeError):
            return ""
        return "" if value is None else str(value).strip()

    return tags.map(get).astype(object)


def parse_levels(raw: pd.Series) -> np.ndarray:
    """``building:levels`` as floats.

    ``"3"``, ``" 3 "``, ``"3.5"`` and ``"3,5"`` parse; anything else (missing, ``"3-4"``,
    ``"two"``, negative, infinite) is NaN. Zero is kept (OSM uses it for roofs and
    carports); callers decide what a missing or zero value means.
    """
    text = raw.astype(object).where(raw.notna(), None)
    text = text.map(lambda v: str(v).strip().replace(",", ".") if v is not None else None)
    levels = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(levels) & (levels >= 0), levels, np.nan)


# ------------------------------------------------------------------- boundaries


def read_osm_admin(
    pbf: str | PathLike[str] | Any, admin_level: int, *, name_tag: str = "name"
) -> gpd.GeoDataFrame:
    """Community boundaries from ``boundary=administrative`` objects of one level.

    Parameters
    ----------
    pbf
        OSM PBF path or an open :class:`pyrosm.OSM`.
    admin_level
        OSM ``admin_level`` (e.g. 8 for municipalities in much of Europe; in China 8 is
        usually the township/street office 街道 and 10 the community 社区 where mapped).
    name_tag
        Tag for the name (e.g. ``"name:zh"``, ``"name:en"``); falls back to ``name``,
        then to the community id when both are missing.

    Returns
    -------
    geopandas.GeoDataFrame
        ``community_id`` (``osm-relation-<id>``, or ``osm-way-<id>`` for a closed way),
        ``name``, polygon geometry in EPSG:4326, ordered by type then OSM id. Every
        boundary of that level in the extract is returned, including neighbours that
        are only partly inside it. ``attrs["dropped"]`` counts boundaries without a
        usable polygon (e.g. relations cut by the extract's edge).

    Raises
    ------
    InputError
        When the extract has no boundary of that level (the message lists the levels
        it has).
    """
    osm = open_pbf(pbf)
    where = _where(osm)
    gdf = _call(osm, "get_boundaries", boundary_type="administrative")
    level = str(int(admin_level))
    if gdf is None or len(gdf) == 0 or "admin_level" not in gdf.columns:
        raise InputError(
            f"no boundary=administrative objects in the extract (asked for admin_level "
            f"{level})",
            file=where, field="admin_level",
        )
    levels = gdf["admin_level"].astype(str).str.strip()
    chosen = gdf[(levels == level).to_numpy()]
    chosen, dropped = repair_geometries(_sorted(chosen), keep_points=False)
    if len(chosen) == 0:
        have = levels.value_counts()
        listing = ", ".join(
            f"{lv} ({n})" for lv, n in sorted(have.items(), key=lambda kv: _level_key(kv[0]))
        )
        raise InputError(
            f"no administrative boundary with admin_level {level} in the extract"
            + (f" ({dropped} without a usable polygon)" if dropped else "")
            + f"; levels present (count): {listing}",
            file=where, field="admin_level",
        )
    ids = osm_ids(chosen)
    if name_tag in chosen.columns:
        names = text_column(chosen, name_tag)
    elif "tags" in chosen.columns:
        names = _tag_from_json(chosen["tags"], name_tag)
    else:
        names = pd.Series("", index=chosen.index, dtype=object)
    fallback = text_column(chosen, "name")
    names = names.where(names != "", fallback).to_numpy(dtype=object)
    names = np.where(names == "", ids, names).astype(object)
    out = gpd.GeoDataFrame(
        {"community_id": ids, "name": names}, geometry=chosen.geometry.values, crs=4326
    )
    out.attrs["dropped"] = dropped
    return out


def _level_key(level: str) -> tuple[int, str]:
    return (int(level), "") if level.isdigit() else (99, level)


# --------------------------------------------------------------------- features


def check_tags(tags: Any, where: str) -> dict[str, list[str] | bool]:
    if not isinstance(tags, Mapping) or not tags:
        raise InputError(
            "osm: give a mapping of OSM keys to a list of values or true, e.g. "
            "{leisure: [pitch, sports_centre]}",
            file=where, field="osm",
        )
    out: dict[str, list[str] | bool] = {}
    for key, values in tags.items():
        if not isinstance(key, str) or not key.strip():
            raise InputError(f"osm: keys must be OSM tag keys, got {key!r}", file=where, field="osm")
        if values is True:
            out[key.strip()] = True
        elif isinstance(values, str) and values.strip():
            out[key.strip()] = [values.strip()]
        elif (
            isinstance(values, Sequence)
            and not isinstance(values, str)
            and values
            and all(isinstance(v, str) and v.strip() for v in values)
        ):
            out[key.strip()] = [v.strip() for v in values]
        else:
            raise InputError(
                f"osm.{key}: give a list of values or true (any value), got {values!r}",
                file=where, field=f"osm.{key}",
            )
    return out


def read_osm_features(
    pbf: str | PathLike[str] | Any,
    tags: Mapping[str, list[str] | bool],
    *,
    source: str,
) -> gpd.GeoDataFrame:
    """Points and polygons carrying any of the given tags.

    Parameters
    ----------
    pbf
        OSM PBF path or an open :class:`pyrosm.OSM`.
    tags
        ``{key: [values]}`` or ``{key: True}`` (any value); an object matching any
        key/value is kept, e.g. ``{"leisure": ["pitch", "sports_centre"]}``.
    source
        The scenario entry these features are for (e.g. ``"facilities0"``); stored in
        the ``source`` column and used for the ids that :func:`osm_facilities` gives.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_id`` (``osm-<type>-<id>``), ``name`` ("" when untagged), ``tag`` (the first
        of ``tags``, in the order given, that the object matches, as ``key=value``),
        ``source``, geometry (points and polygons) in EPSG:4326, ordered nodes, ways,
        relations by id. Lines (an unclosed way tagged as a pitch, a running track) are
        left out and counted in ``attrs["dropped"]``. No match gives an empty frame with
        these columns (an area may have no facility of a kind).

    Raises
    ------
    InputError
        Malformed ``tags``; missing or unreadable extract.
    """
    osm = open_pbf(pbf)
    where = _where(osm)
    tags = check_tags(tags, where)
    gdf = _tagged(osm, tags, list(dict.fromkeys(["name", *tags])))
    return features_from_frame(gdf, tags, source=source)


def features_from_frame(
    gdf: gpd.GeoDataFrame | None, tags: dict[str, list[str] | bool], *, source: str
) -> gpd.GeoDataFrame:
    """The features of :func:`read_osm_features` from OSM objects already read.

    Parameters
    ----------
    gdf
        OSM objects in EPSG:4326 with ``osm_type``, ``id``, ``name`` and the tag columns
        of ``tags``, as pyrosm or Overpass (:mod:`facplan.io.online`) give them; None
        or empty when there are none.
    tags
        Checked tags (:func:`check_tags`).
    source
        As for :func:`read_osm_features`.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`read_osm_features`.
    """
    if gdf is None or len(gdf) == 0:
        return _empty_features()
    tag = pd.Series("", index=gdf.index, dtype=object)
    for key, values in tags.items():
        if key not in gdf.columns:
            continue
        val = text_column(gdf, key)
        hit = (val != "") if values is True else val.isin(values)
        tag = tag.where(~(hit & (tag == "")), key + "=" + val)
    gdf = gdf[(tag != "").to_numpy()].assign(_tag=tag[tag != ""])
    gdf, dropped = repair_geometries(_sorted(gdf), keep_points=True)
    out = gpd.GeoDataFrame(
        {
            "osm_id": osm_ids(gdf),
            "name": text_column(gdf, "name").to_numpy(dtype=object),
            "tag": gdf["_tag"].to_numpy(dtype=object),
            "source": np.full(len(gdf), source, dtype=object),
        },
        geometry=gdf.geometry.values,
        crs=4326,
    )
    out.attrs["dropped"] = dropped
    return out


def _empty_features() -> gpd.GeoDataFrame:
    out = gpd.GeoDataFrame({c: pd.Series([], dtype=object) for c in _FEATURE_COLUMNS[:-1]},
                           geometry=[], crs=4326)
    out.attrs["dropped"] = 0
    return out


def assign_tier(area_m2: np.ndarray, tiers: Mapping[str, Standard]) -> np.ndarray:
    """Tier of each site by its area against the tiers' ``min_area_m2``.

    The largest tier (by minimum area) whose minimum the area meets; a site smaller than
    every minimum, or of unknown area (NaN, e.g. a point), gets the tier with the
    smallest minimum. Equal minimums keep the order of ``tiers``.
    """
    names = list(tiers)
    mins = np.array([tiers[t].min_area_m2 for t in names], dtype=float)
    order = sorted(range(len(names)), key=lambda i: (-mins[i], i))  # largest first
    smallest = names[order[-1]]
    out = np.full(len(area_m2), smallest, dtype=object)
    decided = np.zeros(len(area_m2), dtype=bool)
    area = np.asarray(area_m2, dtype=float)
    for i in order:
        meets = ~decided & (area >= mins[i])  # NaN compares False
        out[meets] = names[i]
        decided |= meets
    return out


def osm_facilities(
    features: gpd.GeoDataFrame,
    *,
    kind: str,
    tier: str | None,
    standards: Mapping[str, Mapping[str, Standard]],
    crs: Any,
) -> gpd.GeoDataFrame:
    """Existing facilities from OSM features.

    Parameters
    ----------
    features
        From :func:`read_osm_features` (EPSG:4326).
    kind
        Facility kind of every feature (must be in ``standards``).
    tier
        Tier of every feature, or None to assign it by site area: the largest tier of
        ``kind`` whose ``min_area_m2`` the area meets; a site smaller than every minimum,
        and a point (area unknown), gets the tier with the smallest minimum (see
        :func:`assign_tier`).
    standards
        Resolved standards ``{kind: {tier: Standard}}``.
    crs
        Projected CRS (metres) in which areas are measured.

    Returns
    -------
    geopandas.GeoDataFrame
        ``facility_id`` (``<source>-<row>``, rows from 0 in the order of ``features``
        within each ``source``, DESIGN *Semantics*), ``kind``, ``tier``, ``area_m2`` (float m² of the polygon in
        ``crs``; NaN for points), ``name``, ``osm_id``, ``tag``, geometry in EPSG:4326.

    Raises
    ------
    InputError
        Unknown kind or tier; a geographic ``crs``.
    """
    crs = require_projected(crs, "measuring facility areas")
    if kind not in standards:
        raise InputError(
            f"unknown kind '{kind}' (known: {', '.join(sorted(standards))}); add it under "
            "'standards' with a walk_m",
            field="kind",
        )
    tiers = standards[kind]
    if tier is not None and tier not in tiers:
        raise InputError(
            f"kind '{kind}' has no tier '{tier}' (tiers: {', '.join(tiers)})", field="tier"
        )
    if features.crs is None:
        raise InputError("the OSM features have no CRS (expected EPSG:4326)", field="osm")
    n = len(features)
    geom = features.to_crs(crs).geometry.values
    is_poly = np.isin(shapely.get_type_id(geom), (3, 6))
    area = np.where(is_poly, shapely.area(geom), np.nan).astype(float)
    tier_col = np.full(n, tier, dtype=object) if tier is not None else assign_tier(area, tiers)
    source = (
        features["source"].astype(str).to_numpy(dtype=object)
        if "source" in features.columns
        else np.full(n, "osm", dtype=object)
    )
    row = pd.Series(source).groupby(source).cumcount().to_numpy()
    ids = np.array([f"{s}-{i}" for s, i in zip(source, row, strict=True)], dtype=object)

    def col(name: str) -> np.ndarray:
        if name in features.columns:
            return features[name].to_numpy(dtype=object)
        return np.full(n, "", dtype=object)

    return gpd.GeoDataFrame(
        {
            "facility_id": ids,
            "kind": np.full(n, kind, dtype=object),
            "tier": tier_col,
            "area_m2": area,
            "name": col("name"),
            "osm_id": col("osm_id"),
            "tag": col("tag"),
        },
        geometry=features.to_crs(4326).geometry.values,
        crs=4326,
    )


# -------------------------------------------------------------------- buildings


#: The OSM land use inside which an untyped building (building=yes) counts as a home
#: (:mod:`facplan.io.dasymetric`).
RESIDENTIAL_LAND = {"landuse": ["residential"]}


def read_osm_residential_areas(pbf: str | PathLike[str] | Any) -> gpd.GeoDataFrame:
    """``landuse=residential`` polygons of an extract (EPSG:4326; possibly empty)."""
    osm = open_pbf(pbf)
    gdf = _having(_tagged(osm, RESIDENTIAL_LAND, ["landuse"]), "landuse",
                  ("residential",))
    gdf, _ = repair_geometries(gdf, keep_points=False)
    return gpd.GeoDataFrame(geometry=gdf.geometry.values, crs=4326)


def read_osm_buildings(pbf: str | PathLike[str] | Any) -> gpd.GeoDataFrame:
    """Building footprints.

    Parameters
    ----------
    pbf
        OSM PBF path or an open :class:`pyrosm.OSM`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_id``, ``building`` (the tag value, e.g. ``yes``, ``house``), ``levels``
        (float from ``building:levels``; NaN when absent or unparseable, see
        :func:`parse_levels`), polygon geometry in EPSG:4326, ordered by type then id.

    Raises
    ------
    InputError
        When the extract has no buildings.
    """
    osm = open_pbf(pbf)
    return buildings_from_frame(_tagged(osm, {"building": True}, _BUILDING_COLUMNS),
                                where=_where(osm))


def buildings_from_frame(gdf: gpd.GeoDataFrame | None, *, where: str) -> gpd.GeoDataFrame:
    """The footprints of :func:`read_osm_buildings` from OSM objects already read.

    Parameters
    ----------
    gdf
        OSM objects tagged ``building`` in EPSG:4326 with ``osm_type``, ``id``,
        ``building`` and (optionally) ``building:levels``, as pyrosm's ``get_buildings``
        or Overpass (:mod:`facplan.io.online`) give them.
    where
        The source, for messages.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`read_osm_buildings`.

    Raises
    ------
    InputError
        When there are no buildings.
    """
    if gdf is None or len(gdf) == 0:
        raise InputError("the extract has no buildings", file=where)
    gdf, _ = repair_geometries(_sorted(gdf), keep_points=False)
    raw = gdf["building:levels"] if "building:levels" in gdf.columns else pd.Series(
        None, index=gdf.index, dtype=object
    )
    return gpd.GeoDataFrame(
        {
            "osm_id": osm_ids(gdf),
            "building": text_column(gdf, "building").to_numpy(dtype=object),
            "levels": parse_levels(raw),
        },
        geometry=gdf.geometry.values,
        crs=4326,
    )


# ------------------------------------------------------------------- candidates


def osm_candidates(
    pbf: str | PathLike[str] | Any,
    *,
    crs: Any,
    min_area_m2: float = MIN_SITE_AREA_M2,
    retrofit_default_levels: float = RETROFIT_DEFAULT_LEVELS,
) -> gpd.GeoDataFrame:
    """Candidate sites from open land, surface car parks and large non-homes.

    New sports parks (kind ``sports_park``)
        Polygons of ``landuse`` in :data:`OPEN_LANDUSE` and ``amenity=parking`` whose
        ``parking`` tag is missing or ``surface``. ``area_m2`` = site area; ``cost`` =
        ``area_m2`` × :data:`NEW_BUILD_COST_PER_M2` + :data:`NEW_BUILD_FIXED_COST`.
    Retrofitted neighbourhood centres (kind ``neighbourhood_centre``)
        Buildings with a footprint of at least :data:`LARGE_BUILDING_MIN_M2` whose
        ``building`` tag is in :data:`RETROFIT_BUILDINGS`, or ``yes`` with its
        representative point outside every ``landuse=residential`` area. ``area_m2`` =
        floor area = footprint × ``building:levels`` (``retrofit_default_levels`` when
        missing or not positive), since the centre standard is a floor area; ``cost`` =
        floor area × :data:`RETROFIT_COST_PER_M2`.

    Costs are illustrative, CNY-like figures for trying the models, not prices. Sites
    smaller than ``min_area_m2`` are left out; an OSM object that qualifies twice is
    listed once (land, then parking, then building).

    Parameters
    ----------
    pbf
        OSM PBF path or an open :class:`pyrosm.OSM`.
    crs
        Projected CRS (metres) in which areas are measured.
    min_area_m2
        Smallest ``area_m2`` kept, m² (default: the smallest outdoor fitness ground).
    retrofit_default_levels
        Storeys of a retrofit building without a usable ``building:levels``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id`` (``osm-<type>-<id>``, stable across runs so that ``force``/``forbid``
        lists keep working), ``kind``, ``tier`` ("" = any tier whose minimum area it
        meets), ``cost``, ``area_m2``, ``name`` (OSM ``name``, "" when untagged),
        ``source`` (the OSM tag that qualified it, e.g. ``landuse=grass``), polygon
        geometry in EPSG:4326, ordered by type then OSM id.
        Possibly empty.

    Raises
    ------
    InputError
        A geographic ``crs``; missing or unreadable extract.
    """
    require_projected(crs, "measuring candidate areas")  # before the slow read
    osm = open_pbf(pbf)
    landuse = _tagged(osm, CANDIDATE_TAGS["landuse"], ["landuse", "name"])
    parking = _tagged(osm, CANDIDATE_TAGS["parking"], ["amenity", "parking", "name"])
    buildings = _tagged(osm, CANDIDATE_TAGS["buildings"], [*_BUILDING_COLUMNS, "name"])
    return candidates_from_layers(
        landuse, parking, buildings, crs=crs, min_area_m2=min_area_m2,
        retrofit_default_levels=retrofit_default_levels,
    )


#: The OSM tags :func:`candidates_from_layers` reads, per layer (for downloads).
CANDIDATE_TAGS = {
    "landuse": {"landuse": [*OPEN_LANDUSE, "residential"]},
    "parking": {"amenity": ["parking"]},
    "buildings": {"building": True},
}


def candidates_from_layers(
    landuse: gpd.GeoDataFrame | None,
    parking: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None,
    *,
    crs: Any,
    min_area_m2: float = MIN_SITE_AREA_M2,
    retrofit_default_levels: float = RETROFIT_DEFAULT_LEVELS,
) -> gpd.GeoDataFrame:
    """The candidate sites of :func:`osm_candidates` from OSM layers already read.

    Parameters
    ----------
    landuse, parking, buildings
        OSM objects in EPSG:4326 with ``osm_type`` (node/way/relation), ``id`` and tag
        columns (``landuse``; ``amenity``, ``parking``; ``building``,
        ``building:levels``), as pyrosm's getters or Overpass (:mod:`facplan.io.online`)
        give them; None or empty when there are none. Objects with other tag values are
        ignored.
    crs, min_area_m2, retrofit_default_levels
        As for :func:`osm_candidates`.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`osm_candidates`.
    """
    crs = require_projected(crs, "measuring candidate areas")
    parts = []

    land = _having(landuse, "landuse", OPEN_LANDUSE)
    lots = _having(parking, "amenity", ("parking",))
    if len(lots):
        lots = lots[text_column(lots, "parking").isin(SURFACE_PARKING).to_numpy()]
    for frame, key in ((land, "landuse"), (lots, "amenity")):
        frame, _ = repair_geometries(_sorted(frame), keep_points=False)
        if not len(frame):
            continue
        area = shapely.area(frame.to_crs(crs).geometry.values)
        parts.append(
            pd.DataFrame(
                {
                    "site_id": osm_ids(frame),
                    "kind": "sports_park",
                    "tier": "",
                    "cost": area * NEW_BUILD_COST_PER_M2 + NEW_BUILD_FIXED_COST,
                    "area_m2": area,
                    "name": text_column(frame, "name").to_numpy(dtype=object),
                    "source": (key + "=" + text_column(frame, key)).to_numpy(dtype=object),
                    "geometry": frame.geometry.values,
                    "_type": frame["osm_type"].map(_TYPE_ORDER).to_numpy(),
                    "_id": frame["id"].astype("int64").to_numpy(),
                }
            )
        )

    if buildings is not None and len(buildings):
        bld, _ = repair_geometries(_sorted(buildings), keep_points=False)
        bld_m = bld.to_crs(crs)
        tag = text_column(bld, "building").to_numpy(dtype=object)
        footprint = shapely.area(bld_m.geometry.values)
        res = _having(landuse, "landuse", ("residential",))
        res, _ = repair_geometries(res, keep_points=False)
        in_res = _inside_any(bld_m.geometry.values, res.to_crs(crs).geometry.values)
        retrofit = np.isin(tag, RETROFIT_BUILDINGS) | ((tag == "yes") & ~in_res)
        big = retrofit & (footprint >= LARGE_BUILDING_MIN_M2)
        if big.any():
            sel = bld.iloc[np.flatnonzero(big)]
            raw = sel["building:levels"] if "building:levels" in sel.columns else pd.Series(
                None, index=sel.index, dtype=object
            )
            levels = parse_levels(raw)
            levels = np.where(levels > 0, levels, retrofit_default_levels)  # NaN → default
            floor = footprint[big] * levels
            parts.append(
                pd.DataFrame(
                    {
                        "site_id": osm_ids(sel),
                        "kind": "neighbourhood_centre",
                        "tier": "",
                        "cost": floor * RETROFIT_COST_PER_M2,
                        "area_m2": floor,
                        "name": text_column(sel, "name").to_numpy(dtype=object),
                        "source": ("building=" + text_column(sel, "building")).to_numpy(dtype=object),
                        "geometry": sel.geometry.values,
                        "_type": sel["osm_type"].map(_TYPE_ORDER).to_numpy(),
                        "_id": sel["id"].astype("int64").to_numpy(),
                    }
                )
            )

    if not parts:
        return gpd.GeoDataFrame(
            {c: pd.Series([], dtype=object) for c in _CANDIDATE_COLUMNS[:-1]},
            geometry=[], crs=4326,
        )
    out = pd.concat(parts, ignore_index=True)
    out = out[out["area_m2"].to_numpy() >= min_area_m2]
    out = out[~out["site_id"].duplicated().to_numpy()]
    out = out.iloc[np.lexsort((out["_id"].to_numpy(), out["_type"].to_numpy()))]
    out = out.drop(columns=["_type", "_id"]).reset_index(drop=True)
    out["cost"] = out["cost"].astype(float)
    out["area_m2"] = out["area_m2"].astype(float)
    return gpd.GeoDataFrame(out[_CANDIDATE_COLUMNS], geometry="geometry", crs=4326)


def tag_candidates(
    features: gpd.GeoDataFrame,
    *,
    kind: str,
    tier: str | None,
    crs: Any,
    min_area_m2: float = MIN_SITE_AREA_M2,
) -> gpd.GeoDataFrame:
    """Candidate sites from the OSM objects of a tag query (``candidates: {osm: {…}}``).

    Every polygon becomes a site of ``kind``. A building (its matching tag is
    ``building=…``) is a retrofit: ``area_m2`` = its footprint ×
    :data:`RETROFIT_DEFAULT_LEVELS` (the tag query reads no ``building:levels``), ``cost``
    = ``area_m2`` × :data:`RETROFIT_COST_PER_M2`. Any other object is land for a new
    build: ``area_m2`` = its area, ``cost`` = ``area_m2`` × :data:`NEW_BUILD_COST_PER_M2`
    + :data:`NEW_BUILD_FIXED_COST` — the rules of :func:`osm_candidates`, with the same
    illustrative CNY-like costs. Points have no site area and are left out; their count
    is in ``attrs["points"]``.

    Parameters
    ----------
    features
        From :func:`read_osm_features` or :func:`facplan.io.online.read_online_features`
        (EPSG:4326).
    kind
        Kind of every site.
    tier
        Tier of every site, or None for "" (any tier whose ``min_area_m2`` it meets).
    crs
        Projected CRS (metres) in which areas are measured.
    min_area_m2
        Smallest ``area_m2`` kept, m²; smaller sites are counted in ``attrs["small"]``.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`osm_candidates`; ``source`` is the matching tag (``key=value``).
    """
    crs = require_projected(crs, "measuring candidate areas")
    geom = features.geometry.values
    poly = np.isin(shapely.get_type_id(geom), (3, 6))
    feats = features[poly]
    area = shapely.area(feats.to_crs(crs).geometry.values).astype(float)
    tag = feats["tag"].to_numpy(dtype=object)
    building = np.char.startswith(tag.astype(str), "building=")
    area = np.where(building, area * RETROFIT_DEFAULT_LEVELS, area)
    cost = np.where(building, area * RETROFIT_COST_PER_M2,
                    area * NEW_BUILD_COST_PER_M2 + NEW_BUILD_FIXED_COST)
    keep = area >= min_area_m2
    n = int(keep.sum())
    out = gpd.GeoDataFrame(
        {
            "site_id": feats["osm_id"].to_numpy(dtype=object)[keep],
            "kind": np.full(n, kind, dtype=object),
            "tier": np.full(n, tier or "", dtype=object),
            "cost": cost[keep],
            "area_m2": area[keep],
            "name": text_column(feats, "name").to_numpy(dtype=object)[keep],
            "source": tag[keep],
        },
        geometry=feats.geometry.values[keep],
        crs=4326,
    )
    out.attrs["points"] = int((~poly).sum())
    out.attrs["small"] = int((~keep).sum())
    return out


def _having(gdf: gpd.GeoDataFrame | None, key: str, values: Sequence[str]) -> gpd.GeoDataFrame:
    if gdf is None or key not in gdf.columns:
        return gpd.GeoDataFrame({key: [], "osm_type": [], "id": []}, geometry=[], crs=4326)
    return gdf[text_column(gdf, key).isin(values).to_numpy()]


def _inside_any(geom: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """True where the representative point of ``geom`` lies in or on one of ``areas``."""
    out = np.zeros(len(geom), dtype=bool)
    if len(geom) == 0 or len(areas) == 0:
        return out
    tree = shapely.STRtree(areas)
    hit, _ = tree.query(shapely.point_on_surface(geom), predicate="intersects")
    out[np.unique(hit)] = True
    return out
