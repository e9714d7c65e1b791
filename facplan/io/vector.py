"""Reading vector layers with the checks every input needs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facplan._errors import InputError

__all__ = [
    "read_vector",
    "check_geometries",
    "require_fields",
    "numeric_field",
    "ids_from",
    "collect_problems",
]


def collect_problems(*checks):
    """Run every check (a callable) and raise ONE InputError listing all their problems.

    Returns the checks' results in order when none fails.
    """
    results, errors = [], []
    for check in checks:
        try:
            results.append(check())
        except InputError as exc:
            errors.append(exc)
            results.append(None)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        files = {e.file for e in errors if e.file}
        lines = [
            (e.message if e.file in files and len(files) == 1 else str(e))
            + (f" (field '{e.field}', {_rows(e.rows)})" if e.rows and len(files) == 1 else "")
            for e in errors
        ]
        raise InputError.many(lines, file=next(iter(files)) if len(files) == 1 else None)
    return results


def _rows(rows):
    from facplan._errors import format_rows

    return format_rows(rows)


def read_vector(path: Path, *, layer: str | None = None, key: str = "") -> gpd.GeoDataFrame:
    """Read a vector file and check that it is usable.

    Parameters
    ----------
    path
        Any format geopandas (pyogrio) reads: GeoPackage, GeoJSON, Shapefile, …
    layer
        Layer inside a multi-layer file.
    key
        The scenario key naming this input, used in messages.

    Raises
    ------
    InputError
        Unreadable file, no features, no CRS, null or invalid geometries.
    """
    where = str(path)
    if not Path(path).exists():
        raise InputError("file not found", file=where, field=key or None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types
        raise InputError(f"cannot read this file as a vector layer ({exc})", file=where) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputError("the layer has no geometry column", file=where)
    if len(gdf) == 0:
        raise InputError("the layer is empty (no features)", file=where)
    if gdf.crs is None:
        raise InputError(
            "the layer has no CRS; save it with its coordinate system (e.g. EPSG:4326 or "
            "EPSG:4490)",
            file=where,
        )
    check_geometries(gdf, where)
    return gdf.reset_index(drop=True)


def check_geometries(gdf: gpd.GeoDataFrame, where: str) -> None:
    """Raise when any geometry is null, empty or invalid, listing the rows."""
    geom = gdf.geometry.values
    null = np.asarray(shapely.is_missing(geom) | shapely.is_empty(geom))
    if null.any():
        raise InputError(
            f"{int(null.sum())} features have no geometry",
            file=where,
            field="geometry",
            rows=(np.flatnonzero(null) + 1).tolist(),
        )
    invalid = ~np.asarray(shapely.is_valid(geom))
    if invalid.any():
        reason = shapely.is_valid_reason(geom[np.flatnonzero(invalid)[0]])
        raise InputError(
            f"{int(invalid.sum())} invalid geometries (first: {reason}); repair them, e.g. "
            "with QGIS 'Fix geometries'",
            file=where,
            field="geometry",
            rows=(np.flatnonzero(invalid) + 1).tolist(),
        )


def require_fields(df: pd.DataFrame, fields: dict[str, str | None], where: str) -> None:
    """Raise when a named field is missing; ``fields`` maps scenario key → field name."""
    missing = [(k, f) for k, f in fields.items() if f is not None and f not in df.columns]
    if missing:
        have = ", ".join(str(c) for c in df.columns if c != "geometry")
        key, name = missing[0]
        more = "" if len(missing) == 1 else f" (and {len(missing) - 1} more missing fields)"
        raise InputError(
            f"no field '{name}' (named by '{key}'){more}; fields in the file: {have}",
            file=where,
            field=name,
        )


def numeric_field(
    df: pd.DataFrame, name: str, where: str, *, allow_negative: bool = False,
    allow_missing: bool = False,
) -> np.ndarray:
    """Return a float array of ``df[name]``; raise on text, NaN, infinite or negative."""
    raw = df[name]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    text = np.asarray(raw.notna()) & np.isnan(values)
    if text.any():
        raise InputError(
            f"{int(text.sum())} values are not numbers (first: {raw[text].iloc[0]!r})",
            file=where, field=name, rows=(np.flatnonzero(text) + 1).tolist(),
        )
    if not allow_missing:
        nan = np.isnan(values)
        if nan.any():
            raise InputError(
                f"{int(nan.sum())} values are missing (NaN/empty)",
                file=where, field=name, rows=(np.flatnonzero(nan) + 1).tolist(),
            )
    inf = np.isinf(values)
    if inf.any():
        raise InputError(
            f"{int(inf.sum())} values are infinite",
            file=where, field=name, rows=(np.flatnonzero(inf) + 1).tolist(),
        )
    if not allow_negative:
        neg = values < 0
        if neg.any():
            raise InputError(
                f"{int(neg.sum())} values are negative (first: {values[neg][0]:g})",
                file=where, field=name, rows=(np.flatnonzero(neg) + 1).tolist(),
            )
    return values


def ids_from(df: pd.DataFrame, id_field: str | None, prefix: str, where: str) -> np.ndarray:
    """Ids as strings: the ``id_field`` values, or ``<prefix>-<row>`` (row from 0).

    Raises on missing or duplicate ids, naming the rows.
    """
    if id_field is None:
        return np.array([f"{prefix}-{i}" for i in range(len(df))], dtype=object)
    col = df[id_field]
    missing = np.asarray(col.isna())
    if missing.any():
        raise InputError(
            f"{int(missing.sum())} features have no id",
            file=where, field=id_field, rows=(np.flatnonzero(missing) + 1).tolist(),
        )
    ids = np.array([_id_str(v) for v in col], dtype=object)
    require_unique_ids(ids, what="features", field=id_field, file=where)
    return ids


def require_unique_ids(
    ids: Sequence[object], *, what: str, field: str, file: str | None = None,
    places: Sequence[str] | None = None,
) -> None:
    """The one duplicate-id check: every id must be unique (DESIGN, *Semantics*).

    Parameters
    ----------
    ids
        The ids, one per feature.
    what
        What the features are, for the message ("facilities", "candidates").
    field
        The id field or key named in the message.
    file
        The file they come from (one source: the error names 1-based rows).
    places
        Where each feature comes from (``"parks.geojson row 3"``) when they come from
        several sources; the message then names the places of the first repeated id.

    Raises
    ------
    InputError
        Some id appears more than once.
    """
    ids = np.asarray(ids, dtype=object)
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    first = ids[dup][0]
    where = ""
    if places is not None:
        where = " in " + " and ".join(np.asarray(places, dtype=object)[ids == first])
    raise InputError(
        f"duplicate ids: {int(dup.sum())} {what} share {len(set(ids[dup]))} ids "
        f"(first: {first!r}{where}); give each one a unique id",
        file=file, field=field,
        rows=(np.flatnonzero(dup) + 1).tolist() if places is None else None,
    )


def _id_str(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
