"""Community boundaries, existing facilities and candidate sites."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from facplan._errors import InputError
from facplan.io.postgis import read_source
from facplan.io.vector import (
    collect_problems,
    ids_from,
    numeric_field,
    require_fields,
    require_unique_ids,
)
from facplan.levels import parent_columns
from facplan.scenario import CandidatesSpec, CommunitiesSpec, FacilitySource

__all__ = ["read_communities", "read_facilities", "read_candidates"]

FACILITY_COLUMNS = ["facility_id", "kind", "tier", "area_m2", "geometry"]
CANDIDATE_COLUMNS = ["site_id", "kind", "tier", "cost", "area_m2", "geometry"]


def read_communities(spec: CommunitiesSpec) -> gpd.GeoDataFrame:
    """Read community boundaries.

    Returns
    -------
    geopandas.GeoDataFrame
        ``community_id`` (str), ``name`` (str), polygon geometry, in the file's CRS.
    """
    gdf, where = read_source(spec, key="communities")
    require_fields(
        gdf,
        {"communities.id_field": spec.id_field, "communities.name_field": spec.name_field,
         "communities.parent_field": spec.parent_field,
         "communities.parent_name_field": spec.parent_name_field},
        where,
    )
    kinds = gdf.geometry.geom_type
    not_poly = ~kinds.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not_poly.any():
        raise InputError(
            f"communities must be polygons; {int(not_poly.sum())} features are "
            f"{kinds[not_poly].iloc[0]}",
            file=where, field="geometry", rows=(np.flatnonzero(not_poly) + 1).tolist(),
        )
    ids = ids_from(gdf, spec.id_field, "communities", where)
    if spec.name_field is not None:
        names = gdf[spec.name_field].fillna("").astype(str).to_numpy()
    else:
        names = ids
    columns = {"community_id": ids, "name": names}
    if spec.parent_field is not None:
        columns.update(parent_columns(gdf, spec, where))
    return gpd.GeoDataFrame(columns, geometry=gdf.geometry.values, crs=gdf.crs)


#: Chinese tier names accepted in tier fields.
TIER_ALIASES = {"片区": "district", "社区": "community", "小区": "compound", "全部": "all"}


def _kind_tier(
    gdf: gpd.GeoDataFrame, src: FacilitySource, where: str, *, blank_tier: str
) -> tuple[np.ndarray, np.ndarray]:
    if src.kind is not None:
        kind = np.full(len(gdf), src.kind, dtype=object)
    else:
        kind = gdf[src.kind_field].fillna("").astype(str).str.strip().to_numpy(dtype=object)
        empty = kind == ""
        if empty.any():
            raise InputError(
                f"{int(empty.sum())} features have no kind",
                file=where, field=src.kind_field, rows=(np.flatnonzero(empty) + 1).tolist(),
            )
    if src.tier is not None:
        tier = np.full(len(gdf), src.tier, dtype=object)
    elif src.tier_field is not None:
        tier = gdf[src.tier_field].fillna("").astype(str).str.strip().to_numpy(dtype=object)
        tier = np.array([TIER_ALIASES.get(t, t) for t in tier], dtype=object)
        tier = np.where(tier == "", blank_tier, tier).astype(object)
    else:
        tier = np.full(len(gdf), blank_tier, dtype=object)
    return kind, tier


def _check_tiers(
    kind: np.ndarray, tier: np.ndarray, standards: dict, where: str, field: str | None,
    *, allow_blank: bool, kind_field: str | None = None,
) -> None:
    unknown = [i for i, k in enumerate(kind) if k not in standards]
    if unknown:
        names = sorted({str(kind[i]) for i in unknown})
        shown = ", ".join(f"'{n}'" for n in names[:5])
        raise InputError(
            f"{len(unknown)} features have a kind with no standard ({shown}); known kinds: "
            f"{', '.join(sorted(standards))} (check the spelling, or add the kind under "
            "'standards' with a walk_m)",
            file=where, field=kind_field or "kind", rows=[u + 1 for u in unknown],
        )
    bad = []
    for i, (k, t) in enumerate(zip(kind, tier, strict=True)):
        if allow_blank and t == "":
            continue
        if k in standards and t not in standards[k]:
            bad.append(i)
    if bad:
        k, t = kind[bad[0]], tier[bad[0]]
        allowed = ", ".join(standards[k])
        raise InputError(
            f"{len(bad)} features have a tier their kind does not have (first: kind '{k}', "
            f"tier '{t}'; tiers of '{k}': {allowed})",
            file=where, field=field or "tier", rows=[b + 1 for b in bad],
        )


def read_facilities(
    sources: list[FacilitySource], standards: dict, *, first_index: int = 0
) -> gpd.GeoDataFrame:
    """Read all existing-facility sources into one layer.

    Parameters
    ----------
    sources
        The scenario's ``facilities`` entries.
    standards
        Resolved standards, to check tiers.
    first_index
        Position of ``sources[0]`` in the scenario's list (for default ids and messages).

    Returns
    -------
    geopandas.GeoDataFrame
        ``facility_id`` (str), ``kind``, ``tier``, ``area_m2`` (float m², NaN when not
        given), geometry (points or polygons) — in EPSG:4326 (callers project).
    """
    parts, places = [], []
    for i, src in enumerate(sources, start=first_index):
        gdf, where = read_source(src, key=f"facilities.{i}")
        require_fields(
            gdf,
            {
                f"facilities.{i}.id_field": src.id_field,
                f"facilities.{i}.kind_field": src.kind_field,
                f"facilities.{i}.tier_field": src.tier_field,
                f"facilities.{i}.area_field": src.area_field,
            },
            where,
        )
        def kind_tier(gdf=gdf, src=src, where=where):
            kt = _kind_tier(gdf, src, where, blank_tier="all")
            _check_tiers(*kt, standards, where, src.tier_field, allow_blank=False,
                         kind_field=src.kind_field)
            return kt

        ids, (kind, tier), area = collect_problems(
            lambda gdf=gdf, src=src, i=i, where=where: ids_from(
                gdf, src.id_field, f"facilities{i}", where
            ),
            kind_tier,
            lambda gdf=gdf, src=src, where=where: numeric_field(
                gdf, src.area_field, where, allow_missing=True
            ) if src.area_field else np.full(len(gdf), np.nan),
        )
        parts.append(
            gpd.GeoDataFrame(
                {"facility_id": ids, "kind": kind, "tier": tier, "area_m2": area},
                geometry=gdf.geometry.values,
                crs=gdf.crs,
            ).to_crs(4326)
        )
        places.extend(f"{where} row {r}" for r in range(1, len(gdf) + 1))
    if not parts:
        return gpd.GeoDataFrame(
            {c: [] for c in FACILITY_COLUMNS[:-1]}, geometry=[], crs=4326
        )
    out = pd.concat(parts, ignore_index=True)
    require_unique_ids(out["facility_id"].to_numpy(), what="facilities", field="facility_id",
                       places=places)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=4326)


def read_candidates(spec: CandidatesSpec, standards: dict) -> gpd.GeoDataFrame:
    """Read candidate sites.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id`` (str), ``kind``, ``tier`` ("" = any tier whose minimum area it
        meets), ``cost`` (float, 0 when not given), ``area_m2`` (float m²; from the field,
        else the polygon's area in the scenario CRS is filled in later; NaN for points),
        geometry — in EPSG:4326.
    """
    gdf, where = read_source(spec, key="candidates")
    require_fields(
        gdf,
        {
            "candidates.id_field": spec.id_field,
            "candidates.kind_field": spec.kind_field,
            "candidates.tier_field": spec.tier_field,
            "candidates.cost_field": spec.cost_field,
            "candidates.area_field": spec.area_field,
        },
        where,
    )
    def kind_tier():
        kt = _kind_tier(gdf, spec, where, blank_tier="")
        _check_tiers(*kt, standards, where, spec.tier_field, allow_blank=True,
                     kind_field=spec.kind_field)
        return kt

    ids, (kind, tier), cost, area = collect_problems(
        lambda: ids_from(gdf, spec.id_field, "candidates", where),
        kind_tier,
        lambda: numeric_field(gdf, spec.cost_field, where) if spec.cost_field
        else np.zeros(len(gdf)),
        lambda: numeric_field(gdf, spec.area_field, where, allow_missing=True)
        if spec.area_field else np.full(len(gdf), np.nan),
    )
    return gpd.GeoDataFrame(
        {"site_id": ids, "kind": kind, "tier": tier, "cost": cost, "area_m2": area},
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    ).to_crs(4326)



