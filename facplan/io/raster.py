"""Population rasters (WorldPop, GHS-POP, census grids saved as GeoTIFF, …).

Each pixel with people becomes one cell: a polygon covering the pixel, with the pixel's
value as its population. Pixels that are nodata (or masked by the dataset's mask) are
left out; so are pixels of value 0. Cell ids are ``r<row>c<col>`` with the row and column
counted from 0 in the *full* raster (DESIGN, *Semantics*), so a windowed read gives the
same ids as a full one.
"""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from facplan._errors import InputError

__all__ = ["read_population_raster", "MAX_CELLS", "STRIP_PIXELS"]

#: Default ceiling on the number of populated cells one read may return.
MAX_CELLS = 5_000_000
#: Pixels read per strip (rows × width), bounding the memory of one read step.
STRIP_PIXELS = 4_000_000
_SHOW_BAD = 5


def read_population_raster(
    path: str | PathLike[str],
    *,
    band: int = 1,
    area: shapely.Geometry | None = None,
    area_crs: Any = None,
    max_cells: int = MAX_CELLS,
) -> gpd.GeoDataFrame:
    """Read a population raster into polygon cells.

    Parameters
    ----------
    path
        Any raster GDAL reads (GeoTIFF, COG, …) whose pixel values are people per pixel
        (counts, not densities). The raster may be in any CRS.
    band
        Band number, from 1.
    area
        Optional study area. Only the pixels that intersect the bounding box of ``area``
        (after reprojecting the box to the raster's CRS) are read; pixels are not clipped
        to the shape itself (clipping to communities happens later,
        :func:`facplan.cells.clip_to_communities`).
    area_crs
        CRS of ``area`` (anything :class:`pyproj.CRS` accepts). ``None`` means ``area`` is
        in the raster's CRS.
    max_cells
        Largest number of populated cells returned; more is an error (read a smaller
        ``area`` or aggregate the raster to coarser pixels).

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` (str, ``r<row>c<col>``), ``population`` (float, people per pixel),
        pixel polygons in the raster's CRS, row-major order. Only pixels with
        population > 0; the column sums to the sum of valid pixels in the window.
        ``attrs["window"]`` is ``(row_off, col_off, height, width)`` of the pixels read.

    Raises
    ------
    InputError
        Missing or unreadable file, no such band, no CRS, ``area`` outside the raster,
        negative, NaN (when NaN is not the nodata value) or infinite values (rows name
        the first cell ids), no population at all, more than ``max_cells`` cells.
    """
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    where = str(path)
    if not Path(path).exists():
        raise InputError("file not found", file=where)
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"cannot read this file as a raster ({exc})", file=where) from None
    with src:
        if not 1 <= band <= src.count:
            raise InputError(
                f"the raster has {src.count} band(s); band {band} does not exist",
                file=where, field="band",
            )
        if src.crs is None:
            raise InputError(
                "the raster has no CRS; save it with its coordinate system (e.g. EPSG:4326 "
                "for WorldPop, ESRI:54009 for GHS-POP)",
                file=where,
            )
        row0, col0, height, width = _window(src, area, area_crs, where)
        nodata = src.nodatavals[band - 1]
        nan_is_nodata = nodata is not None and math.isnan(nodata)
        transform = src.transform
        crs = _pyproj_crs(src.crs)

        rows_out: list[np.ndarray] = []
        cols_out: list[np.ndarray] = []
        vals_out: list[np.ndarray] = []
        bad: dict[str, list[str]] = {"negative": [], "NaN": [], "infinite": []}
        n_bad = {"negative": 0, "NaN": 0, "infinite": 0}
        first_neg: float | None = None
        n_cells = 0
        step = max(1, STRIP_PIXELS // max(width, 1))
        for r in range(0, height, step):
            h = min(step, height - r)
            win = Window(col0, row0 + r, width, h)
            data = src.read(band, window=win, masked=True)
            values = np.ma.getdata(data).astype(float, copy=False)
            valid = ~np.ma.getmaskarray(data)
            if nan_is_nodata:
                valid &= ~np.isnan(values)
            checks = {
                "NaN": valid & np.isnan(values),
                "infinite": valid & np.isinf(values),
                "negative": valid & (values < 0),
            }
            for name, mask in checks.items():
                if mask.any():
                    rr, cc = np.nonzero(mask)
                    n_bad[name] += int(mask.sum())
                    if name == "negative" and first_neg is None:
                        first_neg = float(values[rr[0], cc[0]])
                    need = _SHOW_BAD - len(bad[name])
                    bad[name] += [
                        f"r{row0 + r + a}c{col0 + b}"
                        for a, b in zip(rr[:need], cc[:need], strict=True)
                    ]
            if any(n_bad.values()):
                continue  # keep scanning only to count the bad pixels
            pos = valid & (values > 0)
            rr, cc = np.nonzero(pos)
            n_cells += len(rr)
            if n_cells > max_cells:
                raise InputError(
                    f"more than {max_cells:,} populated pixels in the window read "
                    f"({height} × {width} pixels); give a smaller study area or aggregate "
                    "the raster to coarser pixels",
                    file=where, field="max_cells",
                )
            rows_out.append(rr + row0 + r)
            cols_out.append(cc + col0)
            vals_out.append(values[rr, cc])

    for name in ("negative", "NaN", "infinite"):
        if n_bad[name]:
            hint = ""
            if name == "negative":
                hint = (
                    f" (first: {first_neg:g}); if this is a no-data value, set it as the "
                    "raster's nodata (e.g. gdal_edit.py -a_nodata)"
                )
            elif name == "NaN":
                hint = "; set NaN as the raster's nodata if these pixels have no data"
            raise InputError(
                f"{n_bad[name]} pixels have {name} population{hint}",
                file=where, field=f"band {band}", ids=bad[name],
            )

    rows = np.concatenate(rows_out) if rows_out else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(cols_out) if cols_out else np.zeros(0, dtype=np.int64)
    pop = np.concatenate(vals_out) if vals_out else np.zeros(0)
    if len(pop) == 0:
        what = "in the window read" if area is not None else "in the raster"
        raise InputError(
            f"no population {what}: every pixel is nodata or 0", file=where,
        )
    ids = np.char.add(np.char.add("r", rows.astype(str)), np.char.add("c", cols.astype(str)))
    out = gpd.GeoDataFrame(
        {"cell_id": ids.astype(object), "population": pop.astype(float)},
        geometry=_pixel_polygons(transform, rows, cols),
        crs=crs,
    )
    out.attrs["window"] = (row0, col0, height, width)
    return out


def _window(
    src: Any, area: shapely.Geometry | None, area_crs: Any, where: str
) -> tuple[int, int, int, int]:
    """``(row_off, col_off, height, width)`` of the pixels touching ``area``'s bounds."""
    if area is None:
        return 0, 0, src.height, src.width
    if area.is_empty:
        raise InputError("the study area is empty", file=where, field="area")
    bounds = area.bounds
    if area_crs is not None:
        from rasterio.warp import transform_bounds

        bounds = transform_bounds(area_crs, src.crs, *bounds, densify_pts=21)
    x0, y0, x1, y1 = bounds
    inv = ~src.transform
    corners = [inv @ (x, y) for x in (x0, x1) for y in (y0, y1)]
    cs = [c for c, _ in corners]
    rs = [r for _, r in corners]
    c_lo = max(0, math.floor(min(cs)))
    c_hi = min(src.width, math.ceil(max(cs)))
    r_lo = max(0, math.floor(min(rs)))
    r_hi = min(src.height, math.ceil(max(rs)))
    if c_hi <= c_lo or r_hi <= r_lo:
        raise InputError(
            f"the study area (bounds {tuple(round(b, 6) for b in bounds)} in the raster's "
            f"CRS) does not overlap the raster (bounds "
            f"{tuple(round(b, 6) for b in src.bounds)})",
            file=where, field="area",
        )
    return r_lo, c_lo, r_hi - r_lo, c_hi - c_lo


def _pyproj_crs(crs: Any) -> CRS:
    """The raster's CRS as pyproj sees it, keeping its EPSG code when GDAL finds one."""
    epsg = crs.to_epsg()
    if epsg is not None:
        return CRS.from_epsg(epsg)
    return CRS.from_wkt(crs.to_wkt())


def _pixel_polygons(transform: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Pixel outlines (any affine transform, so rotated rasters give parallelograms)."""
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    dc = np.array([0.0, 1.0, 1.0, 0.0, 0.0])
    dr = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    cc = cols[:, None] + dc[None, :]
    rr = rows[:, None] + dr[None, :]
    x = a * cc + b * rr + c
    y = d * cc + e * rr + f
    coords = np.stack([x, y], axis=-1)
    return shapely.polygons(coords)
