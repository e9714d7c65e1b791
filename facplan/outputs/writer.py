"""Write a run's outputs (DESIGN.md, *Outputs*) into a folder, atomically."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facplan._errors import InputError
from facplan.io.atomic import atomic_output_dir
from facplan.keys import CANDIDATE_COLUMNS, SITE_COLUMNS
from facplan.outputs.geojson import clean_value, write_csv, write_geojson, write_json

if TYPE_CHECKING:
    import geopandas as gpd

    from facplan.result import Result

__all__ = ["write_result", "build_result_map", "postgis_layers", "write_result_postgis"]

# the geometry layers of a Result
_LAYERS = ("demand", "sites", "candidates", "communities", "facilities", "catchments",
          "exclusions", "rings", "streets")


def _env_or_value(value: str | None) -> str | None:
    """``$FACPLAN_TIANDITU_KEY`` reads that environment variable (keys stay out of
    scenario files); no other variable is ever read."""
    from facplan.scenario import TIANDITU_KEY_ENV

    if value and value.startswith("$"):
        import os

        if value != "$" + TIANDITU_KEY_ENV:
            raise InputError(f"'map.tianditu_key' may read only ${TIANDITU_KEY_ENV}",
                             field="map.tianditu_key")
        key = os.environ.get(TIANDITU_KEY_ENV)
        if not key:
            raise InputError(f"'map.tianditu_key' is ${TIANDITU_KEY_ENV}, but that "
                             "environment variable is not set", field="map.tianditu_key")
        return key
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
        sites=result.sites[[*SITE_COLUMNS, "geometry"]].to_crs(4326),
        catchments=result.catchments.to_crs(4326),
        exclusions=None if result.exclusions is None else result.exclusions.to_crs(4326),
        thresholds=result.thresholds,
        title=result.scenario.name,
        lang=spec.lang,
        tiles=spec.tiles,
        tianditu_key=_env_or_value(spec.tianditu_key),
        assets=spec.assets,
        max_cells=spec.max_cells,
        whatif=result.whatif,
        rings=result.rings,
        streets=result.streets,
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
    import time

    from facplan.memory import peak_rss_mb, reset_peak_rss
    from facplan.outputs.deliverables import write_deliverables
    from facplan.outputs.gpkg import write_gpkg
    from facplan.outputs.map import write_map
    from facplan.outputs.report import write_coverage_plot, write_report

    reset_peak_rss()
    t0 = time.perf_counter()
    with _gc_paused():
        wgs = _in_wgs84(result)
        m = build_result_map(wgs)
        with atomic_output_dir(out, force=force) as tmp:
            write_geojson(tmp / "demand.geojson", wgs.demand)
            write_geojson(tmp / "sites.geojson", wgs.sites[[*SITE_COLUMNS, "geometry"]])
            if wgs.candidates is not None:
                write_geojson(
                    tmp / "candidates.geojson", wgs.candidates[[*CANDIDATE_COLUMNS, "geometry"]]
                )
            if wgs.communities is not None:
                write_geojson(tmp / "communities.geojson", wgs.communities)
                write_csv(tmp / "communities.csv", result.communities)
            if result.parents is not None:
                write_csv(tmp / "parents.csv", result.parents)
            if getattr(result, "assignment", None) is not None:
                write_csv(tmp / "assignment.csv", result.assignment)
            write_map(tmp / "map.html", m, assets=result.scenario.map.assets)
            write_report(tmp / "report.md", result)
            write_deliverables(tmp, result)
            write_coverage_plot(tmp / "coverage_curve.png", result)
            write_gpkg(tmp / "plan.gpkg", wgs)
            # after the other files, so that its timings include the stage `write`
            timings = result.summary.setdefault("timings", {})
            timings["write"] = round(time.perf_counter() - t0, 3)
            peak = peak_rss_mb()
            if peak is not None and isinstance(timings.get("peak_memory_mb"), dict):
                timings["peak_memory_mb"]["write"] = round(peak, 1)
            write_json(tmp / "summary.json", result.summary)
            # the database last: when its transaction fails, the folder is not replaced
            output = result.scenario.output
            if output is not None and output.postgis is not None:
                write_result_postgis(result, output.postgis)
    return Path(out)


def postgis_layers(result: Result) -> dict[str, gpd.GeoDataFrame]:
    """The layer tables a run writes into PostGIS (EPSG:4326): ``sites``, ``demand``,
    ``communities`` (when the run has communities) and ``catchments``."""
    out: dict[str, gpd.GeoDataFrame] = {
        "sites": result.sites[[c for c in [*SITE_COLUMNS, "geometry"] if c in result.sites]],
        "demand": result.demand,
    }
    if result.communities is not None:
        out["communities"] = result.communities
    out["catchments"] = result.catchments
    return {k: (g.to_crs(4326) if g.crs is not None else g) for k, g in out.items()}


def write_result_postgis(
    result: Result, spec: Any, *, on_stage: Callable[[str], None] | None = None
) -> None:
    """Write ``result`` into the PostGIS schema of ``spec`` (``output.postgis``) in one
    transaction (:func:`facplan.io.postgis.write_postgis`)."""
    from facplan.io.postgis import write_postgis

    summary = json.dumps(clean_value(result.summary, 6), ensure_ascii=False, allow_nan=False)
    write_postgis(spec, scenario=str(result.scenario.name), summary_json=summary,
                  layers=postgis_layers(result), on_stage=on_stage)
