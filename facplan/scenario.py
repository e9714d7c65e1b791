"""The scenario file: schema, loading and validation.

A scenario is a YAML file (DESIGN.md, *Scenario file*). Paths inside it resolve relative
to the YAML file. Unknown keys are errors naming the key; every problem found while
loading is reported at once in one :class:`~facplan.InputError`.
"""

from __future__ import annotations

import unicodedata
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from facplan._errors import InputError
from facplan.safe_yaml import read_yaml
from facplan.standards import DEFAULT_WALK_SPEED_M_S, Standard, resolve_standards

__all__ = [
    "Scenario",
    "load_scenario",
    "read_scenario_yaml",
    "scenario_from_dict",
    "PopulationSpec",
    "CommunitiesSpec",
    "NetworkSpec",
    "OnlineSpec",
    "FacilitySource",
    "CandidatesSpec",
    "OptimizeSpec",
    "MapSpec",
    "ExclusionSpec",
    "DasymetricSpec",
    "GenerateSpec",
    "GroupSpec",
    "PhaseSpec",
    "OutputSpec",
    "EntrancesSpec",
]


#: The one environment variable that ``map.tianditu_key: $FACPLAN_TIANDITU_KEY`` reads.
TIANDITU_KEY_ENV = "FACPLAN_TIANDITU_KEY"


class _Strict(BaseModel):
    # no float key can be infinite or NaN (a threshold, snap distance or speed of .inf)
    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=True,
                              allow_inf_nan=False)


def _resolve(value: Any, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return p


class _FileSource(_Strict):
    path: Path | None = Field(
        None, description="File to read (any format geopandas reads; CSV for points)."
    )
    layer: str | None = Field(
        None, description="Layer name inside a GeoPackage (required when it has several)."
    )
    encoding: str | None = Field(
        None, description="Text encoding of the attributes, e.g. 'gbk' for a Shapefile "
        "without a .cpg (default: the file's own)."
    )
    id_field: str | None = Field(
        None, description="Field holding unique ids; without it ids are '<source>-<row>'."
    )
    postgis: PostgisSpec | None = Field(
        None,
        description="Read this layer from a PostGIS table or read-only query instead of a "
        "file: {dsn_env: FACPLAN_DB, table: schema.name} or {dsn: …, query: …}.",
    )

    @field_validator("path", "osm_file", mode="before", check_fields=False)
    @classmethod
    def _path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _resolve(v, info)

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str | None) -> str | None:
        if v is None:
            return None
        import codecs

        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError("unknown text encoding; use e.g. gbk, gb18030, utf-8") from None
        return v

    @model_validator(mode="after")
    def _postgis_layer(self) -> _FileSource:
        if self.postgis is not None and self.layer is not None:
            raise ValueError("'layer' names a layer of a file; a 'postgis' source has none")
        return self


Coords = Literal["wgs84", "gcj02", "bd09"]


class EntrancesSpec(_FileSource):
    """Entrances of the features of one source (gates of a compound or a park, or its
    buildings): points, or polygons entered at their ``representative_point()``; each
    belongs to the feature whose id is in ``owner_field``. A feature with entrances
    enters the network only there (its distance is the minimum over them)."""

    owner_field: str = Field(description="Field with the id of the feature it belongs to.")
    lon: str | None = Field(None, description="CSV only: longitude column (x).")
    lat: str | None = Field(None, description="CSV only: latitude column (y).")
    crs: int | str | None = Field(
        None, description="CSV only: CRS of lon/lat columns (default EPSG:4326)."
    )
    coords: Coords = Field("wgs84", description="Points given in GCJ-02 or BD-09.")

    @model_validator(mode="after")
    def _source(self) -> EntrancesSpec:
        if (self.path is None) == (self.postgis is None):
            raise ValueError("give exactly one of 'path' or 'postgis'")
        return self


class GroupSpec(_Strict):
    """A population group (age column) with its own walking speed."""

    walk_speed_m_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Walking speed of this group in m/s (used for minute standards)."
    )


class DasymetricSpec(_Strict):
    """Population estimated from residential buildings (footprint × levels)."""

    buildings: str = Field(
        "osm", description="'osm' (buildings of the network's PBF or osm_file, or from "
        "Overpass for a place/polygon network) or a file path."
    )
    osm_file: Path | None = Field(None, description="PBF to take OSM buildings from.")
    total: Annotated[float, Field(gt=0)] | None = Field(
        None, description="People to spread over all residential floor area."
    )
    community_field: str | None = Field(
        None, description="Field of the communities layer with each community's population."
    )
    grid_m: Annotated[float, Field(gt=0)] = Field(100.0, description="Grid cell size, m.")
    floor_area_per_person_m2: Annotated[float, Field(gt=0)] = 35.0
    default_levels: Annotated[float, Field(gt=0)] = 3.0

    @field_validator("osm_file", mode="before")
    @classmethod
    def _path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _resolve(v, info)

    @field_validator("buildings", mode="before")
    @classmethod
    def _buildings(cls, v: Any, info: ValidationInfo) -> str:
        v = str(v)
        return v if v == "osm" else str(_resolve(v, info))

    @model_validator(mode="after")
    def _totals(self) -> DasymetricSpec:
        if self.total is not None and self.community_field is not None:
            raise ValueError("give 'total' or 'community_field', not both")
        return self


class PopulationSpec(_FileSource):
    """Population cells: a raster (GeoTIFF), polygons, points, a CSV of points, or a
    dasymetric estimate from buildings."""

    field: str = Field("population", description="Field with the number of people per cell.")
    lon: str | None = Field(None, description="CSV only: longitude column (x).")
    lat: str | None = Field(None, description="CSV only: latitude column (y).")
    crs: int | str | None = Field(
        None, description="CSV only: CRS of lon/lat columns (default EPSG:4326)."
    )
    band: Annotated[int, Field(ge=1)] = Field(1, description="Raster only: band to read.")
    coords: Coords = Field(
        "wgs84", description="Points given in GCJ-02 or BD-09 (Chinese map services)."
    )
    groups: dict[str, GroupSpec] = Field(
        default_factory=dict,
        description="Population group fields (e.g. age_65_plus) carried through and reported.",
    )
    dasymetric: DasymetricSpec | None = None
    entrances: EntrancesSpec | None = Field(
        None, description="Gates (or buildings) of population polygons: {path, owner_field}."
    )

    @field_validator("groups", mode="before")
    @classmethod
    def _groups(cls, v: Any) -> Any:
        if isinstance(v, list):
            return {str(g): {} for g in v}
        return {} if v is None else {k: (g or {}) for k, g in v.items()}

    @model_validator(mode="after")
    def _source(self) -> PopulationSpec:
        given = [k for k in ("path", "postgis", "dasymetric") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'path', 'postgis' or 'dasymetric'")
        return self

    @property
    def is_raster(self) -> bool:
        return self.path is not None and self.path.suffix.lower() in RASTER_SUFFIXES


RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc")


class CommunitiesSpec(_FileSource):
    """Community boundaries (社区): polygons from a file or OSM admin boundaries."""

    name_field: str | None = Field(None, description="Field with the community name.")
    osm_admin_level: Annotated[int, Field(ge=1, le=12)] | None = Field(
        None, description="Take boundary=administrative relations of this admin_level."
    )
    osm_file: Path | None = Field(None, description="PBF for osm_admin_level (default: network).")
    parent_field: str | None = Field(
        None, description="Field with the id of the unit each community belongs to (e.g. its "
        "街道); outputs then add parents.csv with population-weighted roll-ups."
    )
    parent_name_field: str | None = Field(
        None, description="Field with the parent unit's name (needs 'parent_field')."
    )

    @model_validator(mode="after")
    def _source(self) -> CommunitiesSpec:
        given = [k for k in ("path", "postgis", "osm_admin_level")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'path', 'postgis' or 'osm_admin_level'")
        if self.parent_name_field is not None and self.parent_field is None:
            raise ValueError("'parent_name_field' needs 'parent_field'")
        if self.parent_field is not None and self.osm_admin_level is not None:
            raise ValueError("'parent_field' needs communities from a file ('path' or 'postgis')")
        return self


class ExclusionSpec(_FileSource):
    """Zones where no new site may go (heritage protection 遗址保护区, …)."""

    name_field: str | None = Field(None, description="Field with the zone's name.")

    @model_validator(mode="after")
    def _source(self) -> ExclusionSpec:
        if (self.path is None) == (self.postgis is None):
            raise ValueError("give exactly one of 'path' or 'postgis'")
        return self


class NetworkSpec(_Strict):
    """The walking network: exactly one of ``pbf``, ``graphml``, ``matrix``, ``place`` or
    ``polygon``."""

    pbf: Path | None = Field(None, description="OpenStreetMap PBF extract (walking filter).")
    place: str | None = Field(
        None, description="Place name to download with osmnx (Nominatim + Overpass), e.g. "
        "'Xigong District, Luoyang'; cached, see the 'online' key."
    )
    polygon: Path | None = Field(
        None, description="Vector file of the study area whose walking network is "
        "downloaded with osmnx (Overpass); cached, see the 'online' key."
    )
    graphml: Path | None = Field(None, description="osmnx GraphML file, lengths in metres.")
    matrix: Path | None = Field(
        None,
        description="Precomputed long-format origin-destination table (CSV: origin id, "
        "destination id, walking cost in metres), e.g. from r5py, ORS or ArcGIS.",
    )
    origin_field: str = Field("origin", description="matrix: column of cell ids.")
    destination_field: str = Field(
        "destination", description="matrix: column of facility/candidate ids."
    )
    cost_field: str = Field("cost", description="matrix: column of walking metres.")

    @field_validator("pbf", "graphml", "matrix", "polygon", mode="before")
    @classmethod
    def _path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _resolve(v, info)

    @model_validator(mode="after")
    def _one(self) -> NetworkSpec:
        given = [k for k in _NETWORK_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'pbf', 'graphml', 'matrix', 'place' or 'polygon'"
            )
        return self

    @property
    def key(self) -> str:
        return next(k for k in _NETWORK_KEYS if getattr(self, k) is not None)

    @property
    def path(self) -> Path | None:
        """The network's input file (None for ``place``)."""
        return None if self.key == "place" else getattr(self, self.key)

    @property
    def label(self) -> str:
        """The source for messages: the file, or ``network.place: '<name>'``."""
        return f"network.place: {self.place!r}" if self.key == "place" else str(self.path)

    @property
    def online(self) -> bool:
        """Downloaded with osmnx (``place`` or ``polygon``)."""
        return self.key in ("place", "polygon")


_NETWORK_KEYS = ("pbf", "graphml", "matrix", "place", "polygon")


#: The public Overpass API (osmnx's default).
DEFAULT_OVERPASS_URL = "https://overpass-api.de/api"
#: The public Nominatim geocoder (osmnx's default).
DEFAULT_NOMINATIM_URL = "https://nominatim.openstreetmap.org/"


class OnlineSpec(_Strict):
    """Downloads (``network.place`` / ``network.polygon``): servers, cache, timeouts."""

    overpass_url: str = Field(
        DEFAULT_OVERPASS_URL,
        description="Overpass API base URL (a mirror or your own server).",
    )
    nominatim_url: str = Field(
        DEFAULT_NOMINATIM_URL, description="Nominatim geocoder base URL."
    )
    cache_folder: Path | None = Field(
        None, description="osmnx response cache (default: <facplan cache dir>/osmnx)."
    )
    timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = Field(
        30.0, description="Seconds to wait for a server to accept a connection."
    )
    read_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = Field(
        180.0, description="Seconds a server may take to answer (also Overpass's [timeout])."
    )
    offline: bool = Field(
        False, description="Never download: use the caches only (as `facplan run --offline`)."
    )

    @field_validator("cache_folder", mode="before")
    @classmethod
    def _folder(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _resolve(v, info)

    @field_validator("overpass_url", "nominatim_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v


class FacilitySource(_FileSource):
    """Existing facilities of one file or OSM tag query: fixed ``kind``/``tier`` or taken
    from fields; OSM facilities without a tier get one by site area."""

    osm: dict[str, list[str] | bool] | None = Field(
        None, description="OSM tags, e.g. {leisure: [pitch, sports_centre]}."
    )
    osm_file: Path | None = Field(None, description="PBF for 'osm' (default: the network's).")
    coords: Coords = Field("wgs84", description="Points given in GCJ-02 or BD-09.")
    lon: str | None = Field(None, description="CSV only: longitude column (default 'lon').")
    lat: str | None = Field(None, description="CSV only: latitude column (default 'lat').")
    crs: int | str | None = Field(
        None, description="CSV only: CRS of lon/lat columns (default EPSG:4326)."
    )

    kind: str | None = Field(None, description="Facility kind for every row.")
    kind_field: str | None = Field(None, description="Field holding the kind per row.")
    tier: str | None = Field(None, description="Tier for every row (district|community|compound|all).")
    tier_field: str | None = Field(None, description="Field holding the tier per row.")
    area_field: str | None = Field(None, description="Field with the site area in m².")
    entrances: EntrancesSpec | None = Field(
        None, description="Gates of these features: {path, owner_field}; without them a "
        "polygon is entered at its boundary."
    )

    @field_validator("osm", check_fields=False)
    @classmethod
    def _tags(cls, v: Any) -> Any:
        if isinstance(v, dict):
            if not v:
                raise ValueError("give at least one OSM tag, e.g. {leisure: [pitch]}")
            for key, values in v.items():
                if values is False or (isinstance(values, list) and not values):
                    raise ValueError(f"tag '{key}': give a list of values, or true for any value")
        return v

    @model_validator(mode="after")
    def _kind(self) -> FacilitySource:
        if isinstance(self, CandidatesSpec):
            if self.path is None and self.postgis is None:
                return self
        else:
            given = [k for k in ("path", "postgis", "osm") if getattr(self, k) is not None]
            if len(given) != 1:
                raise ValueError("give exactly one of 'path', 'postgis' or 'osm'")
            if self.osm is not None:
                if self.kind is None:
                    raise ValueError("an 'osm' source needs 'kind'")
                return self
        if (self.kind is None) == (self.kind_field is None):
            raise ValueError("give exactly one of 'kind' or 'kind_field'")
        if self.tier is not None and self.tier_field is not None:
            raise ValueError("give 'tier' or 'tier_field', not both")
        return self


class GenerateSpec(_Strict):
    """Candidates generated by population-weighted k-means."""

    n: Annotated[int, Field(gt=0)] = Field(description="Number of candidate sites.")
    kind: str = Field("sports_park", description="Kind of the generated candidates.")
    seed: int = 0
    area_m2: Annotated[float, Field(ge=0)] | None = Field(
        None, description="Site area assumed for every generated candidate, in m² "
        "(default: the largest minimum site area among the standards of its kind, so a "
        "generated site may serve any tier of that kind)."
    )


class CandidatesSpec(FacilitySource):
    """Candidate sites from a file, from OSM (open land, parking, large non-residential
    buildings), or generated by k-means; a blank tier may serve any tier whose minimum
    area it meets."""

    osm: bool | dict[str, list[str] | bool] | None = Field(  # type: ignore[assignment]
        None, description="true: open land, surface parking, large non-homes from OSM; or "
        "OSM tags, e.g. {landuse: [brownfield]}, with 'kind'."
    )
    generate: GenerateSpec | None = None
    cost_field: str | None = Field(None, description="Field with the cost of building the site.")
    capacity_field: str | None = Field(
        None, description="Field with the people one site can serve (capacitated models)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> CandidatesSpec:
        given = [k for k in ("path", "postgis", "osm", "generate")
                 if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError("give exactly one of 'path', 'postgis', 'osm' or 'generate'")
        if given[0] in ("path", "postgis"):
            return self
        fields = [k for k in ("kind_field", "tier_field", "cost_field", "area_field",
                              "capacity_field", "id_field") if getattr(self, k) is not None]
        if fields:
            raise ValueError(f"'{given[0]}' candidates have no fields to read: remove "
                             + ", ".join(f"'{k}'" for k in fields))
        if isinstance(self.osm, dict):
            if self.kind is None:
                raise ValueError("candidates from OSM tags need 'kind' (e.g. kind: sports_park)")
        elif self.kind is not None or self.tier is not None:
            what = ("'osm: true' gives land the kind sports_park and buildings the kind "
                    "neighbourhood_centre" if given[0] == "osm"
                    else "generated candidates take 'generate.kind'")
            raise ValueError(f"{what}; remove 'kind'/'tier' (or give 'osm' a mapping of "
                             "tags with a 'kind')")
        return self


class PhaseSpec(_Strict):
    """One phase (year) of a phased plan."""

    year: int
    budget: Annotated[float, Field(ge=0)] | None = None
    sites: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _one(self) -> PhaseSpec:
        if (self.budget is None) == (self.sites is None):
            raise ValueError("each phase needs exactly one of 'budget' or 'sites'")
        return self


class OptimizeSpec(_Strict):
    """One optimization entry."""

    kind: str
    tier: str = "all"
    model: Literal["mclp", "lscp", "pmedian"] = "mclp"
    sites: Annotated[int, Field(ge=0)] | None = Field(None, description="Number of new sites.")
    budget: Annotated[float, Field(ge=0)] | None = Field(None, description="Budget for new sites.")
    budget_group: str | None = Field(
        None, description="Entries with the same group share one budget in one model."
    )
    minimize: Literal["sites", "cost"] = Field("sites", description="lscp: what to minimise.")
    one_per_community: bool | None = Field(
        None, description="Every community without one gets exactly one new site inside it."
    )
    capacitated: bool = Field(
        False, description="Each site serves at most its capacity (tier default or field)."
    )
    phases: list[PhaseSpec] = Field(default_factory=list, description="Yearly budgets/sites.")
    force: list[str] = Field(default_factory=list, description="Candidate ids always opened.")
    forbid: list[str] = Field(default_factory=list, description="Candidate ids never opened.")
    method: Literal["auto", "exact", "heuristic"] = "auto"
    time_limit_s: Annotated[float, Field(gt=0)] = 120.0

    @field_validator("force", "forbid", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> list[str]:
        if v is None:
            return []
        return [str(x) for x in v]

    @model_validator(mode="after")
    def _count(self) -> OptimizeSpec:
        if self.sites is not None and self.budget is not None:
            raise ValueError("give 'sites' or 'budget', not both")
        if self.phases and (self.sites is not None or self.budget is not None):
            raise ValueError("give 'phases' or 'sites'/'budget', not both")
        if self.one_per_community and self.model != "mclp":
            raise ValueError("one_per_community works with model 'mclp' only")
        implied = self.model == "lscp" or self.one_per_community or self.phases
        if self.sites is None and self.budget is None and not implied:
            raise ValueError("give 'sites' (number of new sites) or 'budget'")
        if self.model == "pmedian" and self.sites is None:
            raise ValueError("pmedian needs 'sites'")
        if self.model == "lscp" and (self.sites is not None or self.budget is not None):
            raise ValueError("lscp finds the number of sites itself: remove 'sites'/'budget'")
        return self


class MapSpec(_Strict):
    """Map options."""

    @model_validator(mode="after")
    def _key(self) -> MapSpec:
        if self.tiles == "tianditu" and not self.tianditu_key:
            raise ValueError("tiles 'tianditu' needs 'tianditu_key'")
        key = self.tianditu_key
        if key and key.startswith("$") and key != "$" + TIANDITU_KEY_ENV:
            raise ValueError(
                f"'tianditu_key' reads the environment only as '${TIANDITU_KEY_ENV}' (not "
                f"{key!r}): a scenario must not copy other environment variables into map.html"
            )
        return self

    lang: Literal["en", "zh"] = Field("en", description="Primary language of map labels.")
    tiles: Literal["osm", "cartodb", "tianditu", "none"] = Field(
        "osm", description="Base map tiles; 'tianditu' (天地图) needs 'tianditu_key'."
    )
    tianditu_key: str | None = Field(
        None, description="Tianditu API key, or '$FACPLAN_TIANDITU_KEY' to read it from "
        "that environment variable (no other variable is read)."
    )
    assets: Literal["inline", "cdn"] = "inline"
    max_cells: Annotated[int, Field(gt=0)] = 50_000
    max_whatif_pairs: Annotated[int, Field(ge=0)] = Field(
        2_000_000, description="Above this many site–cell pairs (candidates × the cells "
        "within each tier's threshold) the map's what-if panel is off; raise it to turn it "
        "on for large runs (the map grows by about 2 bytes per pair, plus the outline of "
        "every candidate).",
    )


class ReportSpec(_Strict):
    """Options of report.html (and report.pdf)."""

    pdf: bool = Field(
        False, description="Also print report.html to report.pdf with a headless Chromium "
        "(chromium or google-chrome on the PATH, or FACPLAN_CHROMIUM)."
    )
    assumptions: list[str] = Field(
        default_factory=list, description="Planner's notes listed under the report's "
        "assumptions, e.g. 'candidate costs are illustrative'."
    )


class OutputSpec(_Strict):
    """Where a run is written besides the --out folder."""

    postgis: OutputPostgisSpec | None = Field(
        None,
        description="Also write the run into PostGIS in one transaction: {dsn_env: "
        "FACPLAN_DB, schema: plan_2026} (tables sites, demand, communities, catchments, runs).",
    )


class StandardOverride(_Strict):
    """Overrides of one kind/tier standard (see facplan.standards)."""

    walk_m: Annotated[float, Field(gt=0)] | None = None
    walk_min: Annotated[float, Field(gt=0)] | None = None
    min_area_m2: Annotated[float, Field(ge=0)] | None = None
    capacity: Annotated[float, Field(gt=0)] | None = None
    nested: bool | None = None
    target_coverage: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="Share of a community's people to be covered for it to meet the "
        "standard (default 0.85)."
    )


class Scenario(_Strict):
    """A facplan scenario (see DESIGN.md, *Scenario file*)."""

    @field_validator("name")
    @classmethod
    def _one_line(cls, v: str) -> str:
        bad = sorted({f"U+{ord(ch):04X}" for ch in v if unicodedata.category(ch) == "Cc"})
        if bad:
            raise ValueError("the name must be one line of text, without line breaks or "
                             f"control characters (found {', '.join(bad)})")
        if not v:
            raise ValueError("the name must not be empty")
        return v

    name: str = Field(description="Scenario name, used in outputs.")
    crs: int | str = Field("auto", description="EPSG code of a projected CRS, or 'auto' (local UTM).")
    walk_speed_m_s: Annotated[float, Field(gt=0)] = DEFAULT_WALK_SPEED_M_S
    snap: Literal["node", "edge"] = "edge"
    max_snap_m: Annotated[float, Field(gt=0)] = 500.0
    min_component_nodes: Annotated[int, Field(ge=1)] = 50
    communities: CommunitiesSpec | None = None
    population: PopulationSpec
    network: NetworkSpec
    online: OnlineSpec = Field(default_factory=OnlineSpec)
    facilities: list[FacilitySource] = Field(default_factory=list)
    candidates: list[CandidatesSpec] = Field(default_factory=list)
    exclusions: list[ExclusionSpec] = Field(default_factory=list)
    standards: dict[str, dict[str, StandardOverride]] = Field(default_factory=dict)
    optimize: list[OptimizeSpec] = Field(default_factory=list)
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Demand weights by population group, e.g. {age_65_plus: 2.0}: demand = "
        "population + Σ (weight − 1) × group.",
    )
    sfca_target_m2: Annotated[float, Field(gt=0)] = Field(
        2.6, description="Target supply per resident for 2SFCA (m² of sports ground)."
    )
    map: MapSpec = Field(default_factory=MapSpec)
    output: OutputSpec | None = Field(None, description="Extra output targets (PostGIS).")
    report: ReportSpec = Field(default_factory=ReportSpec,
                               description="Options of report.html and report.pdf.")
    sweep: dict[str, list[Any]] | None = Field(
        None, description="Parameter sweep, expanded by `facplan batch` (not `run`)."
    )
    _source_file: Path | None = PrivateAttr(None)

    @field_validator("crs", mode="before")
    @classmethod
    def _crs(cls, v: Any) -> int | str:
        if isinstance(v, str) and v.strip().lower() == "auto":
            return "auto"
        if isinstance(v, bool):
            raise ValueError("must be 'auto' or an EPSG code such as 32650")
        if isinstance(v, int):
            return v
        if isinstance(v, str):
            s = v.strip().upper().removeprefix("EPSG:")
            if s.isdigit():
                return int(s)
        raise ValueError("must be 'auto' or an EPSG code such as 32650 or 'EPSG:4547'")

    @field_validator("facilities", "candidates", "exclusions", mode="before")
    @classmethod
    def _fac_list(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return [v]
        return [] if v is None else v

    def resolved_standards(self) -> dict[str, dict[str, Standard]]:
        """The default standards with this scenario's overrides applied."""
        overrides = {
            kind: {
                tier: o.model_dump(exclude_none=True) for tier, o in tiers.items()
            }
            for kind, tiers in self.standards.items()
        }
        return resolve_standards(overrides, walk_speed_m_s=self.walk_speed_m_s)

    @property
    def source_file(self) -> Path | None:
        """The YAML file this scenario was loaded from (None for a dict)."""
        return self._source_file

    @property
    def osm_file(self) -> Path | None:
        """The PBF that ``osm:`` sources read by default (the network's)."""
        return self.network.pbf

    def input_files(self) -> dict[str, Path]:
        """Every input file named by the scenario, keyed by its scenario key."""
        files: dict[str, Path] = {}
        pop = self.population
        if pop.path is not None:
            files["population.path"] = pop.path
        if pop.entrances is not None and pop.entrances.path is not None:
            files["population.entrances.path"] = pop.entrances.path
        elif pop.dasymetric is not None:
            if pop.dasymetric.buildings != "osm":
                files["population.dasymetric.buildings"] = Path(pop.dasymetric.buildings)
            elif pop.dasymetric.osm_file is not None:
                files["population.dasymetric.osm_file"] = pop.dasymetric.osm_file
        if self.communities is not None:
            for k in ("path", "osm_file"):
                if getattr(self.communities, k) is not None:
                    files[f"communities.{k}"] = getattr(self.communities, k)
        if self.network.path is not None:
            files[f"network.{self.network.key}"] = self.network.path
        for name, items in (("facilities", self.facilities), ("candidates", self.candidates),
                            ("exclusions", self.exclusions)):
            for i, f in enumerate(items):
                for k in ("path", "osm_file"):
                    if getattr(f, k, None) is not None:
                        files[f"{name}.{i}.{k}"] = getattr(f, k)
                ent = getattr(f, "entrances", None)
                if ent is not None and ent.path is not None:
                    files[f"{name}.{i}.entrances.path"] = ent.path
        return files

    def needs_osm_file(self) -> list[str]:
        """Scenario keys of ``osm`` sources that have no PBF to read."""
        keys = []
        default = self.osm_file
        pop = self.population
        online = self.network.online  # OSM sources without a PBF: from Overpass
        if pop.dasymetric is not None and pop.dasymetric.buildings == "osm":
            if pop.dasymetric.osm_file is None and default is None and not online:
                keys.append("population.dasymetric")
        c = self.communities
        if (c is not None and c.osm_admin_level is not None and c.osm_file is None
                and default is None and not online):
            keys.append("communities.osm_admin_level")
        for name, items in (("facilities", self.facilities), ("candidates", self.candidates)):
            for i, f in enumerate(items):
                if f.osm not in (None, False) and f.osm_file is None and default is None:
                    if online:
                        continue
                    keys.append(f"{name}.{i}.osm")
        return keys


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith("function-"))


_PATH_KEYS = ("path", "pbf", "graphml", "matrix", "osm_file")


def _raw_missing_files(data: Any, base_dir: Path | None, prefix: str = "") -> list[str]:
    """Missing files named anywhere in a raw scenario dict (used when the schema check
    fails, so that file problems are reported in the same message)."""
    out: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            key = f"{prefix}{k}"
            if k in _PATH_KEYS and isinstance(v, str | Path):
                p = Path(v).expanduser()
                if not p.is_absolute() and base_dir is not None:
                    p = Path(base_dir) / p
                if not p.exists():
                    out.append(f"key '{key}': file not found: {p}")
            else:
                out.extend(_raw_missing_files(v, base_dir, key + "."))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(_raw_missing_files(v, base_dir, f"{prefix}{i}."))
    return out


def _format_validation(
    err: ValidationError, source: str, extra: list[str] | None = None
) -> InputError:
    lines = []
    for e in err.errors():
        key = _loc(e["loc"])
        if e["type"] == "extra_forbidden":
            msg = f"unknown key '{key}'"
        elif e["type"] == "missing":
            msg = f"missing key '{key}'"
        else:
            text = e["msg"].removeprefix("Value error, ")
            got = e.get("input")
            shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
            msg = f"key '{key}': {text}{shown}" if key else text
        lines.append(msg)
    lines.extend(extra or [])
    return InputError.many(lines, file=source)


def scenario_from_dict(
    data: dict[str, Any], *, base_dir: Path | None = None, source: str = "scenario"
) -> Scenario:
    """Validate a scenario given as a dict; relative paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise InputError("the scenario must be a mapping of keys to values", file=source)
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as err:
        raise _format_validation(err, source, _raw_missing_files(data, base_dir)) from None
    problems = []
    for key, path in scenario.input_files().items():
        if not Path(path).exists():
            problems.append(f"key '{key}': file not found: {path}")
    for key in scenario.needs_osm_file():
        problems.append(
            f"key '{key}': OSM sources read a PBF: set 'osm_file' or use a 'network.pbf'"
        )
    if scenario.network.matrix is not None:
        for i, f in enumerate(scenario.candidates):
            if f.path is None and f.postgis is None:
                problems.append(
                    f"key 'candidates.{i}': with a 'network.matrix', candidates must come from "
                    "a file whose ids appear in the matrix"
                )
    standards = scenario.resolved_standards()
    _check_osm_sources(scenario, standards, problems)
    _check_optimize(scenario, standards, problems)
    if problems:
        raise InputError.many(problems, file=source)
    return scenario


def _kind_tier_problem(key: str, kind: str, tier: str | None, standards: dict) -> str | None:
    """The problem with a fixed ``kind``/``tier`` at scenario key ``key``, or None."""
    if kind not in standards:
        known = ", ".join(sorted(standards))
        return (f"key '{key}.kind': unknown kind '{kind}' (known: {known}; add it under "
                "'standards' with a walk_m)")
    if tier is not None and tier not in standards[kind]:
        known = ", ".join(standards[kind])
        return f"key '{key}.tier': kind '{kind}' has no tier '{tier}' (tiers: {known})"
    return None


def _check_osm_sources(scenario: Scenario, standards: dict, problems: list[str]) -> None:
    """OSM tag sources give every object the entry's kind and tier: check them now, not
    after the extract is read."""
    for name, items in (("facilities", scenario.facilities),
                        ("candidates", scenario.candidates)):
        for i, src in enumerate(items):
            if src.kind is not None:  # OSM tags and files alike: a typo must not drop them
                problem = _kind_tier_problem(f"{name}.{i}", src.kind, src.tier, standards)
                if problem:
                    problems.append(problem)


def _check_optimize(scenario: Scenario, standards: dict, problems: list[str]) -> None:
    for i, o in enumerate(scenario.optimize):
        problem = _kind_tier_problem(f"optimize.{i}", o.kind, o.tier, standards)
        if problem:
            problems.append(problem)
        if not scenario.candidates:
            problems.append(f"key 'optimize.{i}': optimizing needs 'candidates'")
    groups: dict[str, list[OptimizeSpec]] = {}
    for o in scenario.optimize:
        if o.budget_group is not None:
            groups.setdefault(o.budget_group, []).append(o)
    for name, entries in groups.items():
        budgets = {o.budget for o in entries}
        if len(budgets) != 1 or None in budgets:
            problems.append(
                f"key 'optimize': the entries of budget_group '{name}' must all give the same "
                f"'budget' (got {sorted(map(str, budgets))})"
            )
        if any(o.model != "mclp" for o in entries):
            problems.append(f"key 'optimize': budget_group '{name}' needs model 'mclp' entries")
    for i, o in enumerate(scenario.optimize):
        if o.capacitated and o.model != "mclp":
            problems.append(f"key 'optimize.{i}.capacitated': only 'mclp' is capacitated")
    for g in scenario.weights:
        if g not in scenario.population.groups:
            problems.append(
                f"key 'weights.{g}': '{g}' is not a population group (add it to "
                "'population.groups')"
            )
    for kind, tiers in scenario.standards.items():
        for tier, o in tiers.items():
            known = kind in standards and tier in standards[kind]
            if known and o.walk_m is not None and o.walk_min is not None:
                problems.append(
                    f"key 'standards.{kind}.{tier}': give 'walk_m' or 'walk_min', not both"
                )


def read_scenario_yaml(path: Path) -> Any:
    """The raw content of a scenario YAML file (:func:`facplan.safe_yaml.read_yaml`: no
    Python tags, no duplicate keys, limits on size, nesting and aliases).

    Raises
    ------
    InputError
        Missing, unreadable, empty, too large or not valid YAML (with line and column),
        or a key given twice (with both lines).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("scenario file not found", file=str(path))
    data = read_yaml(path)
    if data is None:
        raise InputError("the scenario file is empty", file=str(path))
    return data


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Parameters
    ----------
    path
        The YAML file. Relative paths inside it resolve against its folder.

    Returns
    -------
    Scenario

    Raises
    ------
    InputError
        When the file is missing, is not valid YAML, or any key is wrong; the message
        lists every problem found.
    """
    path = Path(path)
    data = read_scenario_yaml(path)
    scenario = scenario_from_dict(data, base_dir=path.resolve().parent, source=str(path))
    scenario._source_file = path.resolve()
    return scenario


# --------------------------------------------------------------------------- PostGIS

#: PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes).
MAX_IDENT_BYTES = 63


def parse_table_name(text: str) -> tuple[str | None, str]:
    """Split ``schema.name`` on the first dot outside double quotes.

    Parameters
    ----------
    text
        ``name``, ``schema.name``, ``"My Schema"."we""ird"`` or ``public.we"ird``. A part
        that starts with a double quote is read as an SQL quoted identifier (``""`` is one
        quote); any other part is taken exactly as written. The table part after the first
        dot may itself contain dots.

    Returns
    -------
    tuple
        ``(schema or None, name)``.

    Raises
    ------
    ValueError
        Empty parts, an unterminated quote or text after a closing quote.
    """
    s = text.strip()
    if not s:
        raise ValueError("must not be empty")
    first, i = _identifier(s, 0, whole=False)
    if i == len(s):
        return None, first
    rest = s[i + 1:]
    if not rest:
        raise ValueError(f"no table name after the dot in {text!r}")
    name, j = _identifier(rest, 0, whole=True)
    if j != len(rest):
        raise ValueError(f"unexpected text after the quoted table name in {text!r}")
    return first, name


def _identifier(s: str, i: int, *, whole: bool) -> tuple[str, int]:
    if s[i] == '"':
        out, k = [], i + 1
        while True:
            q = s.find('"', k)
            if q < 0:
                raise ValueError(f"unterminated double quote in {s!r}")
            out.append(s[k:q])
            if q + 1 < len(s) and s[q + 1] == '"':
                out.append('"')
                k = q + 2
                continue
            name, end = "".join(out), q + 1
            break
        if not whole and end < len(s) and s[end] != ".":
            raise ValueError(f"expected a dot after the quoted name in {s!r}")
    else:
        end = len(s) if whole else (s.find(".", i) if "." in s[i:] else len(s))
        name = s[i:end]
    if not name:
        raise ValueError(f"empty name in {s!r}")
    if len(name.encode()) > MAX_IDENT_BYTES:
        raise ValueError(f"the name {name!r} is longer than {MAX_IDENT_BYTES} bytes")
    return name, end


def strip_query(q: str) -> str:
    """``q`` without surrounding blanks and trailing semicolons."""
    q = q.strip()
    while q.endswith(";"):
        q = q[:-1].rstrip()
    return q


class DsnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dsn: str | None = Field(
        None,
        description="Connection string, e.g. postgresql://user@host:5432/db (prefer "
        "dsn_env to keep passwords out of the scenario).",
    )
    dsn_env: str | None = Field(
        None, description="Name of an environment variable holding the connection string."
    )

    @field_validator("dsn", "dsn_env")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v:
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _one_dsn(self) -> DsnSpec:
        if (self.dsn is None) == (self.dsn_env is None):
            raise ValueError("give exactly one of 'dsn' or 'dsn_env'")
        return self


class PostgisSpec(DsnSpec):
    """A PostGIS table or read-only query as an input layer."""

    table: str | None = Field(
        None,
        description="Table or view, 'schema.name' or 'name' (search_path); split on the "
        "first dot outside double quotes; names are used as written (case kept).",
    )
    query: str | None = Field(
        None,
        description="One SELECT statement, run in a read-only transaction.",
    )
    geometry: str | None = Field(
        None,
        description="Geometry column; found from geometry_columns when the table has one.",
    )

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None:
            parse_table_name(v)
        return v

    @field_validator("query")
    @classmethod
    def _query(cls, v: str | None) -> str | None:
        if v is not None and not strip_query(v):
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> PostgisSpec:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self

    @property
    def where(self) -> str:
        """The name messages use as the "file": ``postgis:<table>`` or ``postgis:query``."""
        return f"postgis:{self.table}" if self.table is not None else "postgis:query"


with warnings.catch_warnings():
    # the key is 'schema', which shadows pydantic's deprecated BaseModel.schema() method
    warnings.filterwarnings("ignore", message=".*shadows an attribute.*", category=UserWarning)

    class OutputPostgisSpec(DsnSpec):
        """Where the run is also written: a PostGIS database (``dsn`` or ``dsn_env``) and a
        schema in it (tables ``runs``, ``sites``, ``demand``, ``communities``,
        ``catchments``)."""

        schema: str = Field(  # type: ignore[assignment]
            "facplan", description="Schema to write into (created when missing)."
        )

        @field_validator("schema")
        @classmethod
        def _schema(cls, v: str) -> str:
            if not v:
                raise ValueError("must not be empty")
            if len(v.encode()) > MAX_IDENT_BYTES:
                raise ValueError(f"is longer than {MAX_IDENT_BYTES} bytes")
            return v



for _model in (_FileSource, EntrancesSpec, PopulationSpec, CommunitiesSpec, ExclusionSpec,
               FacilitySource,
               CandidatesSpec, OutputSpec, Scenario):
    _model.model_rebuild()
del _model
