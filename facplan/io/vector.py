"""Reading vector layers with the checks every input needs."""

from __future__ import annotations

import re
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


def read_vector(
    path: Path, *, layer: str | None = None, key: str = "", encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read a vector file and check that it is usable.

    Parameters
    ----------
    path
        Any format geopandas (pyogrio) reads: GeoPackage, GeoJSON, Shapefile, …
    layer
        Layer inside a multi-layer file (required when the file has several).
    key
        The scenario key naming this input, used in messages.
    encoding
        Text encoding of the attributes (e.g. ``gbk`` for a Shapefile without a
        ``.cpg``); by default the file's own (a Shapefile without ``.cpg`` is read as
        Latin-1 by GDAL, and re-read as GBK when its text looks like GBK read as
        Latin-1 — with a :class:`~facplan.FacplanWarning` either way).

    Raises
    ------
    InputError
        Unreadable file, several layers and no ``layer``, no features, no CRS, a
        projected CRS whose unit is not the metre, null or invalid geometries.
    """
    where = str(path)
    if not Path(path).exists():
        raise InputError("file not found", file=where, field=key or None)
    if layer is None:
        _single_layer(path, where, key)
    try:
        gdf = _read_file(path, layer, encoding)
    except Exception as exc:  # pyogrio raises several types
        raise InputError(f"cannot read this file as a vector layer ({exc})", file=where) from None
    if encoding is None:
        gdf = _check_text_encoding(gdf, path, layer, key)
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
    check_metre_crs(gdf.crs, where, key)
    check_geometries(gdf, where)
    return gdf.reset_index(drop=True)


def _read_file(path: Path, layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    kwargs = {}
    if layer:
        kwargs["layer"] = layer
    if encoding:
        kwargs["encoding"] = encoding
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gpd.read_file(path, **kwargs)


def _single_layer(path: Path, where: str, key: str) -> None:
    """Raise when the file holds several layers (reading "the first" silently is wrong)."""
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # unreadable: read_file reports it
        return
    if len(layers) > 1:
        names = ", ".join(str(n) for n in layers[:, 0])
        raise InputError(
            f"the file holds {len(layers)} layers ({names}); name the one to read with "
            f"'{key.rsplit('.', 1)[0] + '.layer' if key else 'layer'}'",
            file=where, field="layer",
        )


def check_metre_crs(crs: object, where: str, key: str = "") -> None:
    """Raise when ``crs`` is projected but its unit is not the metre (e.g. US feet)."""
    from pyproj import CRS

    if crs is None:
        return
    c = CRS.from_user_input(crs)
    if not c.is_projected:
        return
    units = {a.unit_name for a in c.axis_info if a.direction in ("east", "north", "west",
                                                                  "south")} or {
        a.unit_name for a in c.axis_info}
    if not units or all(u in ("metre", "meter") for u in units):
        return
    raise InputError(
        f"the layer's CRS {c.name} is projected in {', '.join(sorted(units))}, not metres; "
        "facplan measures in metres: reproject the layer (e.g. to EPSG:4326, or a CGCS2000 "
        "Gauss-Kruger zone such as EPSG:4547)",
        file=where, field=f"{key}.crs" if key else "crs",
    )


_LATIN1_HIGH = re.compile("[\u0080-\u00ff]+")
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def gbk_as_latin1(text: str) -> str | None:
    """The GBK reading of ``text`` when it looks like GBK decoded as Latin-1 (accented
    Latin letters, in runs of even length, that decode as GBK to Chinese), else None."""
    runs = _LATIN1_HIGH.findall(text)
    if not runs or any(len(r) % 2 for r in runs) or _CJK.search(text):
        return None
    if any(ord(c) > 0xFF for c in text):
        return None
    try:
        fixed = text.encode("latin-1").decode("gbk")
    except UnicodeError:
        return None
    return fixed if _CJK.search(fixed) else None


def _mojibake_columns(gdf: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(column, a value, its GBK reading) of text columns whose every non-ASCII value
    looks like GBK read as Latin-1 and none holds Chinese."""
    out = []
    for col in gdf.columns:
        if col == gdf.geometry.name or not (gdf[col].dtype == object
                                            or pd.api.types.is_string_dtype(gdf[col])):
            continue
        texts = [v for v in gdf[col].dropna().unique()[:2000] if isinstance(v, str)]
        odd = [v for v in texts if not v.isascii()]
        if not odd or any(_CJK.search(v) for v in texts):
            continue
        fixed = [gbk_as_latin1(v) for v in odd]
        if all(f is not None for f in fixed):
            out.append((str(col), odd[0], fixed[0]))
    return out


def _check_text_encoding(
    gdf: gpd.GeoDataFrame, path: Path, layer: str | None, key: str
) -> gpd.GeoDataFrame:
    """Warn (and, for a Shapefile without .cpg, re-read as GBK) when the text looks like
    GBK read as Latin-1."""
    from facplan._errors import FacplanWarning

    bad = _mojibake_columns(gdf)
    if not bad:
        return gdf
    col, seen, fixed = bad[0]
    source = f"{key}: " if key else ""
    enc_key = f"{key.rsplit('.', 1)[0]}.encoding" if key else "encoding"
    path = Path(path)
    is_shp = path.suffix.lower() == ".shp" or path.is_dir()
    if is_shp and not path.with_suffix(".cpg").exists():
        try:
            again = _read_file(path, layer, "gbk")
        except Exception:
            again = None
        if again is not None and not _mojibake_columns(again):
            warnings.warn(
                f"{source}{path.name} has no .cpg and its text looked like GBK read as "
                f"Latin-1 (field '{col}': {seen!r} is {fixed!r} in GBK); facplan read it as "
                f"GBK. Set `encoding: gbk` ({enc_key}) to say so, or the right encoding",
                FacplanWarning, stacklevel=3,
            )
            return again
    warnings.warn(
        f"{source}{path.name}: the text looks like GBK read as Latin-1 (field '{col}': "
        f"{seen!r} would be {fixed!r}); set `encoding: gbk` ({enc_key}) if it is Chinese",
        FacplanWarning, stacklevel=3,
    )
    return gdf


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
