"""Load every input layer of a scenario, in its projected CRS.

This is the boundary: after :func:`load_layers`, the data is trusted. Each source kind
(file, raster, dasymetric, OSM tags, k-means) has its reader in :mod:`facplan.io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from facplan._errors import InputError
from facplan.cells import clip_to_communities
from facplan.entry import EntryPoints
from facplan.io import (
    choose_crs,
    read_candidates,
    read_communities,
    read_facilities,
    read_population,
    read_vector,
    to_projected,
)
from facplan.io.postgis import read_source, source_name
from facplan.io.vector import require_unique_ids
from facplan.plausible import check_population_total
from facplan.scenario import Scenario

__all__ = ["Layers", "load_layers"]


@dataclass
class Layers:
    """The scenario's layers in its projected CRS (metres).

    Attributes
    ----------
    crs
        The projected CRS.
    cells
        ``cell_id``, ``population``, group columns, ``community_id``, geometry.
    communities
        ``community_id``, ``name``, geometry (or None).
    facilities
        ``facility_id``, ``kind``, ``tier``, ``area_m2``, geometry.
    candidates
        ``site_id``, ``kind``, ``tier``, ``cost``, ``area_m2``, ``capacity``, geometry (or
        None).
    exclusions
        ``name``, polygon geometry (or None).
    population_estimate
        For a dasymetric population: how it was estimated (which buildings count as
        homes, floor area, people, persons per km² of the populated grid squares), for
        ``summary.json`` and the report; None for given population.
    """

    crs: CRS
    cells: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame | None
    facilities: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame | None
    exclusions: gpd.GeoDataFrame | None
    warnings: list[str] = field(default_factory=list)
    population_estimate: dict | None = None
    #: Given entrances by layer (``cells``, ``facilities``, ``candidates``): rows of that
    #: layer and projected x/y (see :mod:`facplan.entry`).
    entries: dict[str, EntryPoints] = field(default_factory=dict)
    #: Per layer (``facilities``, ``candidates``): (scenario key, number of rows) of each
    #: source in row order.
    sources: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


class _Pbf:
    """Opens each PBF once (pyrosm parses lazily, per query)."""

    def __init__(self) -> None:
        self._open: dict[str, Any] = {}

    def __call__(self, path: Any) -> Any:
        from facplan.io.osm import open_pbf

        key = str(path)
        if key not in self._open:
            self._open[key] = open_pbf(path)
        return self._open[key]


def load_layers(scenario: Scenario, standards: dict) -> Layers:
    """Read, check and project every input layer of ``scenario``.

    Warnings the readers raise (:class:`~facplan.FacplanWarning`, e.g. text that looks
    like GBK read as Latin-1) join ``Layers.warnings``.

    Raises
    ------
    InputError
        Any input that cannot be right (DESIGN, *Semantics*).
    """
    import warnings

    from facplan._errors import FacplanWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FacplanWarning)
        layers = _load_layers(scenario, standards)
    said = [str(w.message) for w in caught if issubclass(w.category, FacplanWarning)]
    for w in caught:
        if not issubclass(w.category, FacplanWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    layers.warnings[:0] = list(dict.fromkeys(said))
    return layers


def _load_layers(scenario: Scenario, standards: dict) -> Layers:
    pbf = _Pbf()
    warn: list[str] = []
    entries: dict[str, EntryPoints] = {}
    sources: dict[str, list[tuple[str, int]]] = {"facilities": [], "candidates": []}
    default_pbf = scenario.osm_file

    # communities first: they bound rasters and carry dasymetric totals
    raw_comm = None
    c = scenario.communities
    if c is not None:
        if c.path is not None or c.postgis is not None:
            raw_comm = read_communities(c)
        elif c.osm_file is None and default_pbf is None and scenario.network.online:
            from facplan.io.online import read_online_admin

            raw_comm = read_online_admin(
                c.osm_admin_level, area=_online_area(scenario),
                settings=scenario.online,
            )
        else:
            from facplan.io.osm import read_osm_admin

            raw_comm = read_osm_admin(pbf(c.osm_file or default_pbf), c.osm_admin_level)

    spec = scenario.population
    raw_pop = None
    buildings = None
    res_areas = None
    estimate: dict | None = None
    if spec.dasymetric is not None:
        d = spec.dasymetric
        if (d.buildings == "osm" and d.osm_file is None and default_pbf is None
                and scenario.network.online):
            from facplan.io.online import read_online_buildings, read_online_features
            from facplan.io.osm import RESIDENTIAL_LAND

            buildings = read_online_buildings(area=_online_area(scenario),
                                              settings=scenario.online)
            if d.total is None and d.community_field is None:  # only then it matters
                res_areas = read_online_features(
                    RESIDENTIAL_LAND, area=_online_area(scenario), source="population",
                    settings=scenario.online, key="population.dasymetric",
                )
        elif d.buildings == "osm":
            from facplan.io.osm import read_osm_buildings

            buildings = read_osm_buildings(pbf(d.osm_file or default_pbf))
            if d.total is None and d.community_field is None:
                from facplan.io.osm import read_osm_residential_areas

                res_areas = read_osm_residential_areas(pbf(d.osm_file or default_pbf))
        else:
            buildings = read_vector(d.buildings, key="population.dasymetric.buildings")
        sample = raw_comm if raw_comm is not None else buildings
    elif spec.is_raster:
        from facplan.io.raster import read_population_raster

        area = None if raw_comm is None else raw_comm.union_all()
        raw_pop = read_population_raster(
            spec.path, band=spec.band, area=area,
            area_crs=None if raw_comm is None else raw_comm.crs,
        )
        sample = raw_pop
    else:
        raw_pop = read_population(spec)
        sample = raw_pop
    crs = choose_crs(scenario.crs, sample)

    communities = None if raw_comm is None else to_projected(raw_comm, crs)
    if spec.dasymetric is not None:
        from facplan.io.dasymetric import dasymetric_population

        d = spec.dasymetric
        totals = None
        if d.community_field is not None:
            if communities is None or c is None or (c.path is None and c.postgis is None):
                raise InputError(
                    "'community_field' needs communities from a file with that field",
                    field="population.dasymetric.community_field",
                )
            src, where_c = read_source(c, key="communities")
            from facplan.io.vector import numeric_field, require_fields

            require_fields(src, {"population.dasymetric.community_field": d.community_field},
                           where_c)
            totals = pd.Series(
                numeric_field(src, d.community_field, where_c),
                index=communities["community_id"].to_numpy(),
            )
        pop = dasymetric_population(
            buildings, crs=crs, total=d.total, community_totals=totals,
            communities=communities, grid_m=d.grid_m,
            floor_area_per_person_m2=d.floor_area_per_person_m2, default_levels=d.default_levels,
            residential_areas=res_areas,
        )
        people = float(pop["population"].sum())
        area_m2 = float(communities.geometry.union_all().area) if communities is not None \
            else float(pop.geometry.area.sum())
        estimate = {
            "method": "dasymetric", "rule": pop.attrs.get("rule", ""),
            "population": people, "area_km2": area_m2 / 1e6,
            "persons_per_km2": people / (area_m2 / 1e6) if area_m2 > 0 else 0.0,
        }
        empty = pop.attrs.get("empty_communities") or []
        if empty:
            warn.append(
                f"{len(empty)} communities have no residential building and get no people: "
                + ", ".join(map(str, empty[:10]))
            )
        pop = pop.drop(columns=["community_id"], errors="ignore")
        if len(pop) == 0:
            raise InputError(
                "no residential building found for the dasymetric population estimate",
                field="population.dasymetric",
            )
    else:
        pop = raw_pop
    pop_entrances = None
    if spec.entrances is not None:
        from facplan.io.entrances import match_owners, read_entrances

        pop_entrances = read_entrances(spec.entrances, key="population.entrances")
        owner_pos = match_owners(
            pop_entrances, pop["cell_id"].to_numpy(), what="population cells",
            field=spec.entrances.owner_field, key="population.entrances.owner_field",
        )
        pop = pop.assign(_owner=np.arange(len(pop)).astype(str).astype(object))
    cells = to_projected(pop, crs)
    cells, outside = clip_to_communities(cells, communities)
    overlap = cells.attrs.pop("overlap", None) or {}
    if overlap.get("pairs"):
        warn.append(
            f"{overlap['pairs']} pairs of communities overlap ({overlap['area_m2']:.0f} m² "
            "in all); each overlap counts once, for the community with the lowest "
            "community_id, so no one is counted twice"
        )
    if pop_entrances is not None:
        from facplan.io.entrances import cell_entries

        entries["cells"] = cell_entries(cells, pop_entrances, owner_pos, communities, crs=crs)
        cells = cells.drop(columns="_owner")
    if outside["cells"] or outside["population"] >= 0.5:
        warn.append(
            f"{outside['cells']} population cells ({outside['population']:.0f} people) lie "
            "outside every community and are left out of the study area"
        )
    if len(cells) == 0:
        where = source_name(spec) if spec.dasymetric is None else "population"
        raise InputError(
            "no population cell lies inside any community; check that both layers cover "
            "the same area and have the right CRS",
            file=where,
        )
    check_population_total(
        cells["population"], study_area=True,
        file=source_name(spec) if spec.dasymetric is None else "population")

    facilities = _facilities(scenario, standards, crs, pbf, warn, entries, sources)
    candidates = _candidates(scenario, standards, crs, pbf, cells, warn, entries, sources)
    exclusions = None
    if scenario.exclusions:
        parts = []
        for i, e in enumerate(scenario.exclusions):
            g, _ = read_source(e, key=f"exclusions.{i}")
            names = (
                g[e.name_field].astype(str).to_numpy() if e.name_field and e.name_field in g
                else np.array([f"exclusions{i}-{r}" for r in range(len(g))], dtype=object)
            )
            parts.append(gpd.GeoDataFrame({"name": names}, geometry=g.geometry.values,
                                          crs=g.crs).to_crs(crs))
        exclusions = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)
    return Layers(crs, cells, communities, facilities, candidates, exclusions, warn,
                  population_estimate=estimate, entries=entries, sources=sources)


def _online_area(scenario: Scenario) -> Any:
    """The area of an online network (``network.place`` or ``network.polygon``)."""
    from facplan.io.online import network_area

    net = scenario.network
    return network_area(place=net.place, polygon=net.polygon,
                        settings=scenario.online)


_LINES = "line (unclosed way)|lines (unclosed ways)"


def _warn_osm_leftovers(
    warn: list[str], key: str, tags: dict, *, kept: int, left: dict[str, int]
) -> None:
    """Say what an OSM tag query at scenario key ``key`` left out (``left``: counts by
    ``"singular|plural"`` description), or that it matched nothing (often a misspelt
    tag)."""
    if kept == 0 and not any(left.values()):
        shown = ", ".join(f"{k}={'*' if v is True else '|'.join(v)}" for k, v in tags.items())
        warn.append(f"{key}: no OSM object in the area carries {shown}; check the spelling "
                    "on https://wiki.openstreetmap.org/wiki/Map_features")
    elif any(left.values()):
        said = [f"{n} {what.split('|')[n != 1]}" for what, n in left.items() if n]
        warn.append(f"{key}: {kept} kept; left out " + ", ".join(said))


def _facilities(
    scenario: Scenario, standards: dict, crs: CRS, pbf: _Pbf, warn: list[str],
    entries: dict[str, EntryPoints] | None = None,
    sources: dict[str, list[tuple[str, int]]] | None = None,
) -> gpd.GeoDataFrame:
    parts = []
    given: list[EntryPoints] = []
    for i, src in enumerate(scenario.facilities):
        if src.path is not None or src.postgis is not None:
            f = read_facilities([src], standards, first_index=i)
            if src.coords != "wgs84":
                from facplan.io.coords import convert_points

                f = convert_points(f, src.coords, where=source_name(src))
        else:
            from facplan.io.osm import osm_facilities

            feats = _osm_features(scenario, src, f"facilities.{i}", pbf)
            _warn_osm_leftovers(warn, f"facilities.{i}.osm", src.osm, kept=len(feats),
                                left={_LINES: feats.attrs.get("dropped", 0)})
            f = osm_facilities(feats, kind=src.kind, tier=src.tier, standards=standards, crs=crs)
            f = f[["facility_id", "kind", "tier", "area_m2", "geometry"]].to_crs(4326)
        f = f[["facility_id", "kind", "tier", "area_m2", "geometry"]].copy()
        f["_src"] = source_name(src) if src.osm is None else f"facilities.{i}.osm"
        f["_row"] = np.arange(1, len(f) + 1)
        if src.entrances is not None:
            from facplan.io.entrances import site_entries

            given.append(site_entries(
                src.entrances, f["facility_id"].to_numpy(), key=f"facilities.{i}.entrances",
                crs=crs, offset=sum(len(p) for p in parts), what=f"facilities of facilities.{i}",
            ))
        parts.append(f)
        if sources is not None:
            sources["facilities"].append((f"facilities.{i}", len(f)))
    if given and entries is not None:
        entries["facilities"] = _concat_entries(given)
    if not parts:
        return gpd.GeoDataFrame(
            {"facility_id": [], "kind": [], "tier": [], "area_m2": []}, geometry=[], crs=crs
        )
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)
    require_unique_ids(
        out["facility_id"].to_numpy(), what="facilities", field="facility_id",
        places=[f"{Path(s).name} row {r}" for s, r in zip(out["_src"], out["_row"], strict=True)],
    )
    return to_projected(out.drop(columns=["_src", "_row"]), crs)


def _osm_features(scenario: Scenario, src: Any, key: str, pbf: _Pbf) -> gpd.GeoDataFrame:
    """The OSM objects of ``src.osm`` (a tag mapping) for the scenario entry ``key``
    (e.g. ``facilities.0``): from its PBF, or from Overpass on an online network."""
    source = key.replace(".", "")
    if src.osm_file is None and scenario.osm_file is None and scenario.network.online:
        from facplan.io.online import read_online_features

        return read_online_features(src.osm, area=_online_area(scenario), source=source,
                                    settings=scenario.online, key=f"{key}.osm")
    from facplan.io.osm import read_osm_features

    return read_osm_features(pbf(src.osm_file or scenario.osm_file), src.osm, source=source)


def _concat_entries(parts: list[EntryPoints]) -> EntryPoints:
    return EntryPoints(*(np.concatenate([getattr(p, k) for p in parts])
                         for k in ("row", "x", "y")))


def _candidates(
    scenario: Scenario, standards: dict, crs: CRS, pbf: _Pbf, cells: gpd.GeoDataFrame,
    warn: list[str], entries: dict[str, EntryPoints] | None = None,
    sources: dict[str, list[tuple[str, int]]] | None = None,
) -> gpd.GeoDataFrame | None:
    if not scenario.candidates:
        return None
    parts = []
    given: list[EntryPoints] = []
    for i, spec in enumerate(scenario.candidates):
        if spec.path is not None or spec.postgis is not None:
            cand = read_candidates(spec, standards)
            if spec.id_field is None:
                cand["site_id"] = [f"candidates{i}-{r}" for r in range(len(cand))]
            cap = np.full(len(cand), np.nan)
            if spec.capacity_field is not None:
                from facplan.io.vector import numeric_field, require_fields

                raw, where = read_source(spec, key=f"candidates.{i}")
                require_fields(raw, {f"candidates.{i}.capacity_field": spec.capacity_field},
                               where)
                cap = numeric_field(raw, spec.capacity_field, where, allow_missing=True)
            cand["capacity"] = cap
            if spec.coords != "wgs84":
                from facplan.io.coords import convert_points

                cand = convert_points(cand, spec.coords, where=source_name(spec))
        elif spec.generate is not None:
            from facplan.io.generate import assumed_area_m2, kmeans_candidates

            cand = kmeans_candidates(cells, spec.generate.n, seed=spec.generate.seed,
                                     kind=spec.generate.kind)
            cand["area_m2"] = assumed_area_m2(spec.generate.area_m2, standards,
                                              spec.generate.kind)
            cand["capacity"] = np.nan
        elif isinstance(spec.osm, dict):
            from facplan.io.osm import MIN_SITE_AREA_M2, tag_candidates

            feats = _osm_features(scenario, spec, f"candidates.{i}", pbf)
            cand = tag_candidates(feats, kind=spec.kind, tier=spec.tier, crs=crs)
            _warn_osm_leftovers(warn, f"candidates.{i}.osm", spec.osm, kept=len(cand), left={
                _LINES: feats.attrs.get("dropped", 0),
                "point (no site area)|points (no site area)": cand.attrs["points"],
                f"polygon under {MIN_SITE_AREA_M2:g} m²|polygons under {MIN_SITE_AREA_M2:g} m²":
                    cand.attrs["small"],
            })
            cand["capacity"] = np.nan
        elif spec.osm_file is None and scenario.osm_file is None and scenario.network.online:
            from facplan.io.online import read_online_candidates

            cand = read_online_candidates(
                area=_online_area(scenario), crs=crs, settings=scenario.online,
                key=f"candidates.{i}.osm",
            )
            cand["capacity"] = np.nan
        else:
            from facplan.io.osm import osm_candidates

            cand = osm_candidates(pbf(spec.osm_file or scenario.osm_file), crs=crs).to_crs(4326)
            cand["capacity"] = np.nan
        if spec.entrances is not None:
            from facplan.io.entrances import site_entries

            given.append(site_entries(
                spec.entrances, cand["site_id"].to_numpy(), key=f"candidates.{i}.entrances",
                crs=crs, offset=sum(len(p) for p in parts), what=f"candidates of candidates.{i}",
            ))
        cand = cand.assign(
            name=cand["name"].astype(object).fillna("") if "name" in cand else "",
            tag=cand["source"].astype(object).fillna("") if "source" in cand else "",
        )
        parts.append(cand[["site_id", "kind", "tier", "cost", "area_m2", "capacity", "name",
                           "tag", "geometry"]].assign(_entry=f"candidates.{i}"))
        if sources is not None:
            sources["candidates"].append((f"candidates.{i}", len(cand)))
    if given and entries is not None:
        entries["candidates"] = _concat_entries(given)
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)
    require_unique_ids(out["site_id"].to_numpy(), what="candidates", field="site_id",
                       places=out["_entry"].to_numpy())
    out = out.drop(columns="_entry")
    if len(out) == 0:
        raise InputError("no candidate site found in any candidate source", field="candidates")
    out = to_projected(out, crs)
    poly_area = out.geometry.area.to_numpy()
    area = out["area_m2"].to_numpy(dtype=float)
    out["area_m2"] = np.where(np.isnan(area) & (poly_area > 0), poly_area, area)
    return out
