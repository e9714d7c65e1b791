"""Population rasters: the Helsinki grid burnt into a GeoTIFF and read back."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from facplan import InputError
from facplan.io.raster import read_population_raster

from .conftest import shared_file

PIXEL_M = 250.0
NODATA = -1.0


def _origin(x0, y0, pixel):
    from affine import Affine

    return Affine(pixel, 0.0, x0, 0.0, -pixel, y0)


def _write(path, data, *, x0, y0, crs="EPSG:3067", nodata=NODATA, pixel=PIXEL_M):
    import rasterio

    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": "float32",
        "transform": _origin(x0, y0, pixel),
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype("float32"), 1)
    return path


@pytest.fixture(scope="module")
def helsinki():
    """The Helsinki 250 m grid (EPSG:3067 centroids) burnt into an array: (data, x0, y0)."""
    grid = gpd.read_file(shared_file("helsinki", "helsinki_population_grid_2020.gpkg"))
    pts = grid.to_crs(3067).geometry.centroid
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    x0 = np.floor(x.min() / PIXEL_M) * PIXEL_M - PIXEL_M  # one empty column of margin
    y0 = np.ceil(y.max() / PIXEL_M) * PIXEL_M + PIXEL_M
    col = np.floor((x - x0) / PIXEL_M).astype(int)
    row = np.floor((y0 - y) / PIXEL_M).astype(int)
    data = np.zeros((row.max() + 2, col.max() + 2))
    np.add.at(data, (row, col), grid["population"].to_numpy(dtype=float))
    data[data == 0] = NODATA
    return data, float(x0), float(y0), float(grid["population"].sum())


def test_total_preserved(tmp_path, helsinki):
    data, x0, y0, total = helsinki
    assert total == 71_724
    path = _write(tmp_path / "pop.tif", data, x0=x0, y0=y0)
    cells = read_population_raster(path)
    assert list(cells.columns) == ["cell_id", "population", "geometry"]
    assert cells.crs.to_epsg() == 3067
    assert cells["population"].sum() == pytest.approx(total, rel=1e-3)
    assert len(cells) == int((data > 0).sum())
    assert cells["cell_id"].is_unique
    # each cell is its pixel: 250 m square whose top-left corner matches its id
    assert np.allclose(cells.geometry.area, PIXEL_M**2)
    first = cells.iloc[0]
    r, c = (int(v) for v in first["cell_id"][1:].split("c"))
    minx, miny, maxx, maxy = first.geometry.bounds
    assert (minx, maxy) == (x0 + c * PIXEL_M, y0 - r * PIXEL_M)
    assert first["population"] == pytest.approx(data[r, c])


def test_zero_pixels_are_not_cells(tmp_path):
    data = np.array([[0.0, 2.0], [NODATA, 3.5]])
    cells = read_population_raster(_write(tmp_path / "z.tif", data, x0=0, y0=500))
    assert cells["cell_id"].tolist() == ["r0c1", "r1c1"]
    assert cells["population"].tolist() == [2.0, 3.5]


def test_all_nodata(tmp_path, helsinki):
    data, x0, y0, _ = helsinki
    path = _write(tmp_path / "empty.tif", np.full_like(data, NODATA), x0=x0, y0=y0)
    with pytest.raises(InputError, match="no population in the raster") as err:
        read_population_raster(path)
    assert err.value.file == str(path)


def test_negative_pixel_names_cell(tmp_path, helsinki):
    data, x0, y0, _ = helsinki
    bad = data.copy()
    bad[3, 4] = -7.0
    path = _write(tmp_path / "neg.tif", bad, x0=x0, y0=y0)
    with pytest.raises(InputError, match="negative") as err:
        read_population_raster(path)
    assert err.value.ids == ["r3c4"]
    assert "r3c4" in str(err.value) and "-7" in str(err.value)


def test_nan_and_inf_when_not_nodata(tmp_path):
    data = np.array([[1.0, np.nan], [np.inf, 2.0]])
    with pytest.raises(InputError, match="NaN") as err:
        read_population_raster(_write(tmp_path / "nan.tif", data, x0=0, y0=500))
    assert err.value.ids == ["r0c1"]
    data = np.array([[1.0, 2.0], [np.inf, 2.0]])
    with pytest.raises(InputError, match="infinite") as err:
        read_population_raster(_write(tmp_path / "inf.tif", data, x0=0, y0=500))
    assert err.value.ids == ["r1c0"]


def test_nan_nodata_is_masked(tmp_path):
    data = np.array([[1.0, np.nan], [np.nan, 2.0]])
    path = _write(tmp_path / "nannd.tif", data, x0=0, y0=500, nodata=np.nan)
    cells = read_population_raster(path)
    assert cells["population"].sum() == 3.0


def test_no_crs(tmp_path):
    path = _write(tmp_path / "nocrs.tif", np.ones((2, 2)), x0=0, y0=500, crs=None)
    with pytest.raises(InputError, match="no CRS"):
        read_population_raster(path)


def test_missing_file_and_band(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_population_raster(tmp_path / "nope.tif")
    path = _write(tmp_path / "one.tif", np.ones((2, 2)), x0=0, y0=500)
    with pytest.raises(InputError, match="band 2 does not exist"):
        read_population_raster(path, band=2)


def test_window_reads_only_pixels_in_bounds(tmp_path, helsinki):
    data, x0, y0, _ = helsinki
    path = _write(tmp_path / "pop.tif", data, x0=x0, y0=y0)
    # a box from the middle of pixel (2, 3) to the middle of pixel (6, 8)
    area = box(x0 + 3.5 * PIXEL_M, y0 - 6.5 * PIXEL_M, x0 + 8.5 * PIXEL_M, y0 - 2.5 * PIXEL_M)
    cells = read_population_raster(path, area=area)
    assert cells.attrs["window"] == (2, 3, 5, 6)
    sub = data[2:7, 3:9]
    assert len(cells) == int((sub > 0).sum())
    assert cells["population"].sum() == pytest.approx(sub[sub > 0].sum())
    # ids count in the full raster, and every cell touches the box
    expect = {f"r{r + 2}c{c + 3}" for r, c in zip(*np.nonzero(sub > 0), strict=True)}
    assert set(cells["cell_id"]) == expect
    assert shapely.intersects(cells.geometry.values, area).all()


def test_window_in_another_crs(tmp_path, helsinki):
    data, x0, y0, _ = helsinki
    path = _write(tmp_path / "pop.tif", data, x0=x0, y0=y0)
    area_3067 = box(x0 + 3.5 * PIXEL_M, y0 - 6.5 * PIXEL_M, x0 + 8.5 * PIXEL_M, y0 - 2.5 * PIXEL_M)
    area_4326 = gpd.GeoSeries([area_3067], crs=3067).to_crs(4326).iloc[0]
    cells = read_population_raster(path, area=area_4326, area_crs="EPSG:4326")
    same = read_population_raster(path, area=area_3067)
    # the reprojected box's bounds hold the original box, so at least the same pixels
    assert set(same["cell_id"]) <= set(cells["cell_id"])
    with pytest.raises(InputError, match="does not overlap"):
        read_population_raster(path, area=box(0, 0, 10, 10))


def test_geographic_raster(tmp_path):
    import rasterio

    path = tmp_path / "wp.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=2, width=3, count=1, dtype="int32",
        crs="EPSG:4326", transform=_origin(112.4, 34.7, 0.001), nodata=-99999,
    ) as dst:
        dst.write(np.array([[5, -99999, 0], [1, 2, 3]], dtype="int32"), 1)
    cells = read_population_raster(path)
    assert cells.crs.to_epsg() == 4326
    assert cells["population"].dtype == float
    assert cells["population"].sum() == 11.0
    assert cells["cell_id"].tolist() == ["r0c0", "r1c0", "r1c1", "r1c2"]


def test_max_cells(tmp_path):
    path = _write(tmp_path / "big.tif", np.ones((4, 5)), x0=0, y0=1000)
    with pytest.raises(InputError, match="more than 10 populated pixels"):
        read_population_raster(path, max_cells=10)
    assert len(read_population_raster(path, max_cells=20)) == 20
