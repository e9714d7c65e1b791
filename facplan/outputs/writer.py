"""Write a run's outputs (DESIGN.md, *Outputs*) into a folder, atomically."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facplan.io.atomic import atomic_output_dir
from facplan.outputs.geojson import write_csv, write_geojson, write_json

if TYPE_CHECKING:
    from facplan.pipeline import Result

__all__ = ["write_result", "build_result_map"]

SITE_COLUMNS = ["site_id", "kind", "tier", "rank", "marginal_population", "cost", "community_id",
                "phase"]
CANDIDATE_COLUMNS = ["site_id", "kind", "tier", "cost", "area_m2", "chosen", "gain", "excluded"]
# the geometry layers of a Result
_LAYERS = ("demand", "sites", "candidates", "communities", "facilities", "catchments",
          "exclusions")


def _env_or_value(value: str | None) -> str | None:
    """``$NAME`` reads the environment variable NAME (keys stay out of scenario files)."""
    if value and value.startswith("$"):
        import os

        return os.environ.get(value[1:])
    return value


def build_result_map(result: Result) -> Any:
    """The folium map of a result (see :mod:`facplan.outputs.map`)."""
    from facplan.outputs.map import build_map

    spec = result.scenario.map
    dist_cols = [c for c in result.demand.columns if c.startswith("dist_")]
    fac = result.facilities[["facility_id", "kind", "tier", "geometry"]]
    return build_map(
        demand=result.demand.to_crs(4326),
        dist_columns=dist_cols,
        communities=None if result.communities is None
        else result.communities[["community_id", "name", "geometry"]].to_crs(4326),
        facilities=fac.to_crs(4326),
        sites=result.sites[[*SITE_COLUMNS, *[c for c in ("name", "source")
                                             if c in result.sites.columns],
                            "geometry"]].to_crs(4326),
        catchments=result.catchments.to_crs(4326),
        exclusions=None if result.exclusions is None else result.exclusions.to_crs(4326),
        thresholds=result.thresholds,
        title=result.scenario.name,
        lang=spec.lang,
        tiles=spec.tiles,
        tianditu_key=_env_or_value(spec.tianditu_key),
        assets=spec.assets,
        max_cells=spec.max_cells,
    )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector (and restore its state after).

    The writers allocate some 10^5 short-lived containers (and no garbage cycles of note);
    with the collector on, they set off full collections, each walking the whole heap of
    the run: about 0.1 s apiece on the Porto benchmark.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _in_wgs84(result: Result) -> Result:
    """``result`` with every layer projected to EPSG:4326 once, so that the writers'
    own ``to_crs(4326)`` calls find nothing left to do."""
    layers = {name: getattr(result, name) for name in _LAYERS}
    return dataclasses.replace(
        result, **{k: v.to_crs(4326) for k, v in layers.items() if v is not None}
    )


def write_result(result: Result, out: Path, *, force: bool = False) -> Path:
    """Write every output of ``result`` into ``out``; nothing appears unless all succeed.

    Files: ``summary.json``, ``demand.geojson``, ``sites.geojson``,
    ``candidates.geojson`` (when candidates are given), ``communities.geojson`` and
    ``communities.csv`` (when communities are given), ``map.html``, ``report.md``,
    ``coverage_curve.png`` and ``plan.gpkg``. GeoJSON and GeoPackage are EPSG:4326.

    With ``output.postgis`` in the scenario, the run is also written into PostGIS (one
    transaction, :func:`facplan.io.postgis.write_postgis`) as the last step before the
    folder is swapped in: when the database write fails, the folder is not replaced.
    """
    from facplan.outputs.gpkg import write_gpkg
    from facplan.outputs.map import write_map
    from facplan.outputs.report import write_coverage_plot, write_report

    with _gc_paused():
        wgs = _in_wgs84(result)
        m = build_result_map(wgs)
        with atomic_output_dir(out, force=force) as tmp:
            write_json(tmp / "summary.json", result.summary)
            write_geojson(tmp / "demand.geojson", wgs.demand)
            write_geojson(tmp / "sites.geojson", wgs.sites[[*SITE_COLUMNS, "geometry"]])
            if wgs.candidates is not None:
                # OSM candidates also say what they are: their name and the OSM tag
                extra = [c for c in ("name", "source") if c in wgs.candidates.columns]
                write_geojson(
                    tmp / "candidates.geojson",
                    wgs.candidates[[*CANDIDATE_COLUMNS, *extra, "geometry"]],
                )
            if wgs.communities is not None:
                write_geojson(tmp / "communities.geojson", wgs.communities)
                write_csv(tmp / "communities.csv", result.communities)
            if getattr(result, "assignment", None) is not None:
                write_csv(tmp / "assignment.csv", result.assignment)
            write_map(tmp / "map.html", m, assets=result.scenario.map.assets)
            write_report(tmp / "report.md", result)
            write_coverage_plot(tmp / "coverage_curve.png", result)
            write_gpkg(tmp / "plan.gpkg", wgs)
            output = result.scenario.output
            if output is not None and output.postgis is not None:
                from facplan.io.postgis import write_postgis

                write_postgis(result, output.postgis)
    return Path(out)
