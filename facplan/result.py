"""The result of a run: what :func:`facplan.run` returns.

``Result.write(out)`` and ``Result.to_map()`` reach :mod:`facplan.outputs` lazily (as
geopandas' ``to_file`` reaches its writers): the one upward import the architecture allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

if TYPE_CHECKING:
    from facplan.scenario import Scenario

__all__ = ["Result"]


@dataclass
class Result:
    """Everything a run produced.

    Attributes
    ----------
    summary
        The content of ``summary.json``.
    demand
        One row per cell (scenario CRS): ``cell_id``, ``population``, ``community_id``,
        ``dist_<kind>_<tier>``, ``dist_<kind>_<tier>_after`` (m, NaN = unreachable) and
        ``sfca_<kind>_<tier>`` (m² per resident) where facilities have an area.
    sites
        Chosen sites (scenario CRS): ``site_id``, ``kind``, ``tier``, ``rank``,
        ``marginal_population``, ``cost``, ``community_id``.
    communities
        Per community: ``community_id``, ``name``, ``population``, coverage fractions,
        ``has_centre``, ``gaps`` (None without communities).
    candidates
        Every candidate with ``chosen``, ``gain`` and ``excluded`` (None without).
    facilities
        Existing facilities (scenario CRS).
    catchments
        Walking catchment polygons of chosen sites (scenario CRS).
    parents
        The communities rolled up to their parent units (``parents.csv``; None without
        ``communities.parent_field``), see :func:`facplan.levels.parent_table`.
    rings
        Nested 5/10/15-minute walking areas of existing facilities and chosen sites
        (scenario CRS), see :func:`facplan.rings.ring_layer`.
    streets
        The walking network's streets as lines for the map's base layer (scenario CRS),
        see :func:`facplan.streets.street_lines`.
    """

    scenario: Scenario
    summary: dict
    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame | None
    candidates: gpd.GeoDataFrame | None
    facilities: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    thresholds: dict[str, float] = field(default_factory=dict)
    exclusions: gpd.GeoDataFrame | None = None
    whatif: Any = None  # facplan.whatif.WhatIf: the map's what-if panel (None: no panel)
    parents: pd.DataFrame | None = None
    rings: gpd.GeoDataFrame | None = None
    streets: gpd.GeoDataFrame | None = None
    #: capacitated entries: ``cell_id``, ``site_id``, ``people`` served (None without)
    assignment: pd.DataFrame | None = None

    def to_map(self) -> Any:
        """The interactive folium map of this run."""
        from facplan.outputs.writer import build_result_map

        return build_result_map(self)

    def write(self, out: str | Path, *, force: bool = False) -> Path:
        """Write every output file into ``out`` atomically; returns the folder."""
        from facplan.outputs.writer import write_result

        return write_result(self, Path(out), force=force)
