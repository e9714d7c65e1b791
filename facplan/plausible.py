"""Checks for input values that parse but cannot be right (DESIGN, *Semantics*, Errors).

Each check raises one :class:`~facplan._errors.InputError` naming the file, the field and
the rows, instead of letting a bad value turn into a traceback later (a NaN coordinate)
or into figures that look right and are not (edge lengths in kilometres, a population
whose total overflows, an empty study area reported as "coverage 0").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from facplan._errors import InputError

__all__ = [
    "CELL_GEOMETRY_TYPES",
    "check_cell_geometries",
    "check_edge_lengths_are_metres",
    "check_node_coordinates",
    "check_population_total",
]

#: Geometry types a population cell may have.
CELL_GEOMETRY_TYPES = ("Point", "Polygon", "MultiPolygon")
#: An edge counts as "shorter than its straight line" below this share of it.
_SHORT_SHARE = 0.5


def check_node_coordinates(x: np.ndarray, y: np.ndarray, node_ids: Sequence[Any], *,
                           file: str) -> None:
    """Raise when a graph node's ``x`` or ``y`` is NaN or infinite (rows: node ids)."""
    bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
    if len(bad):
        raise InputError(f"{len(bad)} nodes have a NaN or infinite coordinate",
                         file=file, field="x/y", rows=[node_ids[i] for i in bad])


def check_edge_lengths_are_metres(lon: np.ndarray, lat: np.ndarray, u: np.ndarray,
                                  v: np.ndarray, length: np.ndarray, *, file: str) -> None:
    """Raise when most edges are far shorter than the straight line between their nodes.

    A street is never shorter than the straight line between its ends, so a graph whose
    ``length`` values are mostly below half of it has lengths in another unit (in
    kilometres they are 1,000 times too short). The straight line is the great-circle
    distance between the nodes' ``lon``/``lat`` (degrees), whatever CRS the graph is
    read into; edges whose ends are less than 1 m apart are not judged.
    """
    u, v, length = np.asarray(u), np.asarray(v), np.asarray(length, dtype=float)
    if len(u) == 0:
        return
    straight = _great_circle_m(lon[u], lat[u], lon[v], lat[v])
    judged = straight >= 1.0
    if not judged.any():
        return
    ratio = length[judged] / straight[judged]
    short = ratio < _SHORT_SHARE
    if short.sum() > 0.5 * judged.sum():
        med = float(np.median(ratio))
        hint = " (they look like kilometres)" if 1e-4 < med < 3e-3 else ""
        raise InputError(
            f"{int(short.sum())} of {int(judged.sum())} edges are shorter than half the "
            f"straight line between their nodes (median length / straight line = "
            f"{med:.4g}){hint}; 'length' must be in metres",
            file=file, field="length",
            rows=(np.flatnonzero(judged)[short][:5] + 1).tolist(),
        )


def _great_circle_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Haversine distance in metres on the mean Earth radius (6,371,008.8 m)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def check_cell_geometries(geom_types: Sequence[Any], *, file: str) -> None:
    """Raise when a population cell is not a point or a polygon (e.g. a LineString)."""
    types = np.asarray([t if t is not None else "" for t in geom_types], dtype=object)
    bad = np.flatnonzero(~np.isin(types, [*CELL_GEOMETRY_TYPES, ""]))
    if len(bad):
        kinds = ", ".join(sorted(set(types[bad])))
        raise InputError(
            f"{len(bad)} population cells are {kinds} geometries; cells must be points or "
            "polygons", file=file, field="geometry", rows=(bad + 1).tolist(),
        )


def check_population_total(population: Any, *, file: str, study_area: bool = False) -> float:
    """The total population, or raise when it overflows or (``study_area``) is 0.

    Parameters
    ----------
    population
        People per cell (finite, non-negative: checked by the readers).
    file
        Named in the message.
    study_area
        The cells are the study area (after clipping to communities): a total of 0 is
        an error there, since every coverage would be 0 / 0.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(np.asarray(population, dtype=np.float64)))
    if not math.isfinite(total):
        raise InputError(
            "the population adds up to more than a number can hold (the values are "
            "far too large; check the population field)", file=file, field="population",
        )
    if study_area and total <= 0:
        raise InputError(
            "the total population of the study area is 0, so no coverage can be measured; "
            "check the population field (and that the cells lie inside the communities)",
            file=file, field="population",
        )
    return total
