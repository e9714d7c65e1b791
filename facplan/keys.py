"""The names of facplan's output columns and keys, and the coverage tolerance.

One owner for every name that more than one module writes or reads (cityseer's
``config.prep_gdf_key`` is the model): a kind/tier's column suffix, the distance, 2SFCA
and coverage columns built from it, the ``"<kind>/<tier>"`` keys of ``summary.json``, the
column lists of ``sites.geojson`` and ``candidates.geojson``, and what "covered" means.
"""

from __future__ import annotations

__all__ = [
    "COVER_EPS_M",
    "SITE_COLUMNS",
    "CANDIDATE_COLUMNS",
    "layer_key",
    "access_key",
    "dist_col",
    "sfca_col",
    "coverage_col",
]

#: Floating-point tolerance of "distance ≤ threshold" (DESIGN: covered means
#: distance ≤ threshold + 1e-6 m). Every comparison with a threshold uses it.
COVER_EPS_M = 1e-6

#: Columns of ``sites.geojson`` (and ``Result.sites``), in order. ``name`` and ``tag``
#: say what the site is: for OSM candidates the OSM ``name`` and the tag that made it a
#: candidate (``landuse=grass``, ``building=retail``); "" for candidates from files.
#: ``snap_m``: metres from the site to the walking network (the shortest of its entrances'
#: attachments).
SITE_COLUMNS = ["site_id", "kind", "tier", "rank", "marginal_population", "cost",
                "community_id", "phase", "name", "tag", "snap_m"]

#: Columns of ``candidates.geojson``, in order (``name``, ``tag``: as for sites).
CANDIDATE_COLUMNS = ["site_id", "kind", "tier", "cost", "area_m2", "chosen", "gain",
                     "excluded", "name", "tag", "snap_m"]


def layer_key(kind: str, tier: str) -> str:
    """Column suffix of a kind/tier: ``sports_park_community``."""
    return f"{kind}_{tier}"


def access_key(kind: str, tier: str) -> str:
    """Key of a kind/tier in ``summary.json`` ``access``: ``sports_park/community``."""
    return f"{kind}/{tier}"


def _suffix(after: bool) -> str:
    return "_after" if after else ""


def dist_col(kind: str, tier: str, *, after: bool = False) -> str:
    """Walking distance column (m): ``dist_<kind>_<tier>[_after]``."""
    return f"dist_{layer_key(kind, tier)}{_suffix(after)}"


def sfca_col(kind: str, tier: str, *, after: bool = False) -> str:
    """Two-step floating catchment column (m² per resident): ``sfca_<kind>_<tier>[_after]``."""
    return f"sfca_{layer_key(kind, tier)}{_suffix(after)}"


def coverage_col(kind: str, tier: str, *, after: bool = False) -> str:
    """Per-community coverage fraction column: ``coverage_<kind>_<tier>[_after]``."""
    return f"coverage_{layer_key(kind, tier)}{_suffix(after)}"
