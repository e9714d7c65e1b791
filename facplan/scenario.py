"""The scenario file: schema, loading and validation.

A scenario is a YAML file (DESIGN.md, *Scenario file*). Paths inside it resolve relative
to the YAML file. Unknown keys are errors naming the key; every problem found while
loading is reported at once in one :class:`~facplan.InputError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from facplan._errors import InputError
from facplan.standards import DEFAULT_WALK_SPEED_M_S, Standard, resolve_standards

__all__ = [
    "Scenario",
    "load_scenario",
    "scenario_from_dict",
    "PopulationSpec",
    "CommunitiesSpec",
    "NetworkSpec",
    "FacilitySource",
    "CandidatesSpec",
    "OptimizeSpec",
    "MapSpec",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=True)


def _resolve(value: Any, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return p


class _FileSource(_Strict):
    path: Path = Field(description="File to read (any format geopandas reads; CSV for points).")
    layer: str | None = Field(None, description="Layer name inside a GeoPackage.")
    id_field: str | None = Field(
        None, description="Field holding unique ids; without it ids are '<source>-<row>'."
    )

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, v: Any, info: ValidationInfo) -> Path:
        return _resolve(v, info)


class PopulationSpec(_FileSource):
    """Population cells: polygons, points, or a CSV of points."""

    field: str = Field("population", description="Field with the number of people per cell.")
    lon: str | None = Field(None, description="CSV only: longitude column (x).")
    lat: str | None = Field(None, description="CSV only: latitude column (y).")
    crs: int | str | None = Field(
        None, description="CSV only: CRS of lon/lat columns (default EPSG:4326)."
    )


class CommunitiesSpec(_FileSource):
    """Community boundaries (社区): polygons with an id and a name."""

    name_field: str | None = Field(None, description="Field with the community name.")


class NetworkSpec(_Strict):
    """The walking network: exactly one of ``pbf`` or ``graphml``."""

    pbf: Path | None = Field(None, description="OpenStreetMap PBF extract (walking filter).")
    graphml: Path | None = Field(None, description="osmnx GraphML file, lengths in metres.")

    @field_validator("pbf", "graphml", mode="before")
    @classmethod
    def _path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return None if v is None else _resolve(v, info)

    @model_validator(mode="after")
    def _one(self) -> NetworkSpec:
        given = [k for k in ("pbf", "graphml") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'pbf' or 'graphml'")
        return self

    @property
    def path(self) -> Path:
        return self.pbf if self.pbf is not None else self.graphml  # type: ignore[return-value]


class FacilitySource(_FileSource):
    """Existing facilities of one file: fixed ``kind``/``tier`` or taken from fields."""

    kind: str | None = Field(None, description="Facility kind for every row.")
    kind_field: str | None = Field(None, description="Field holding the kind per row.")
    tier: str | None = Field(None, description="Tier for every row (district|community|compound|all).")
    tier_field: str | None = Field(None, description="Field holding the tier per row.")
    area_field: str | None = Field(None, description="Field with the site area in m².")

    @model_validator(mode="after")
    def _kind(self) -> FacilitySource:
        if (self.kind is None) == (self.kind_field is None):
            raise ValueError("give exactly one of 'kind' or 'kind_field'")
        if self.tier is not None and self.tier_field is not None:
            raise ValueError("give 'tier' or 'tier_field', not both")
        return self


class CandidatesSpec(FacilitySource):
    """Candidate sites; a blank tier may serve any tier whose minimum area it meets."""

    cost_field: str | None = Field(None, description="Field with the cost of building the site.")


class OptimizeSpec(_Strict):
    """One optimization entry."""

    kind: str
    tier: str = "all"
    model: Literal["mclp"] = "mclp"
    sites: Annotated[int, Field(ge=0)] | None = Field(None, description="Number of new sites.")
    budget: Annotated[float, Field(ge=0)] | None = Field(None, description="Budget for new sites.")
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
        if self.sites is None and self.budget is None:
            raise ValueError("give 'sites' (number of new sites) or 'budget'")
        return self


class MapSpec(_Strict):
    """Map options."""

    lang: Literal["en", "zh"] = "en"
    tiles: Literal["osm", "cartodb", "none"] = "osm"
    assets: Literal["inline", "cdn"] = "inline"
    max_cells: Annotated[int, Field(gt=0)] = 50_000


class StandardOverride(_Strict):
    walk_m: Annotated[float, Field(gt=0)] | None = None
    walk_min: Annotated[float, Field(gt=0)] | None = None
    min_area_m2: Annotated[float, Field(ge=0)] | None = None
    capacity: Annotated[float, Field(gt=0)] | None = None
    nested: bool | None = None


class Scenario(_Strict):
    """A facplan scenario (see DESIGN.md, *Scenario file*)."""

    name: str = Field(description="Scenario name, used in outputs.")
    crs: int | str = Field("auto", description="EPSG code of a projected CRS, or 'auto' (local UTM).")
    walk_speed_m_s: Annotated[float, Field(gt=0)] = DEFAULT_WALK_SPEED_M_S
    snap: Literal["node", "edge"] = "edge"
    max_snap_m: Annotated[float, Field(gt=0)] = 500.0
    min_component_nodes: Annotated[int, Field(ge=1)] = 50
    communities: CommunitiesSpec | None = None
    population: PopulationSpec
    network: NetworkSpec
    facilities: list[FacilitySource] = Field(default_factory=list)
    candidates: CandidatesSpec | None = None
    standards: dict[str, dict[str, StandardOverride]] = Field(default_factory=dict)
    optimize: list[OptimizeSpec] = Field(default_factory=list)
    map: MapSpec = Field(default_factory=MapSpec)
    source_file: Path | None = Field(None, exclude=True)

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

    @field_validator("facilities", mode="before")
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

    def input_files(self) -> dict[str, Path]:
        """Every input file named by the scenario, keyed by its scenario key."""
        files: dict[str, Path] = {"population.path": self.population.path}
        if self.communities is not None:
            files["communities.path"] = self.communities.path
        key = "network.pbf" if self.network.pbf is not None else "network.graphml"
        files[key] = self.network.path
        for i, f in enumerate(self.facilities):
            files[f"facilities.{i}.path"] = f.path
        if self.candidates is not None:
            files["candidates.path"] = self.candidates.path
        return files


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith("function-"))


def _format_validation(err: ValidationError, source: str) -> InputError:
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
    if len(lines) == 1:
        return InputError(lines[0], file=source)
    return InputError(
        f"{len(lines)} problems:\n  - " + "\n  - ".join(lines), file=source
    )


def scenario_from_dict(
    data: dict[str, Any], *, base_dir: Path | None = None, source: str = "scenario"
) -> Scenario:
    """Validate a scenario given as a dict; relative paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise InputError("the scenario must be a mapping of keys to values", file=source)
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as err:
        raise _format_validation(err, source) from None
    problems = []
    for key, path in scenario.input_files().items():
        if not Path(path).exists():
            problems.append(f"key '{key}': file not found: {path}")
    _check_optimize(scenario, problems)
    if problems:
        if len(problems) == 1:
            raise InputError(problems[0], file=source)
        raise InputError(
            f"{len(problems)} problems:\n  - " + "\n  - ".join(problems), file=source
        )
    return scenario


def _check_optimize(scenario: Scenario, problems: list[str]) -> None:
    standards = scenario.resolved_standards()
    for i, o in enumerate(scenario.optimize):
        if o.kind not in standards:
            known = ", ".join(sorted(standards))
            problems.append(
                f"key 'optimize.{i}.kind': unknown kind '{o.kind}' (known: {known}; "
                "add it under 'standards' with a walk_m)"
            )
        elif o.tier not in standards[o.kind]:
            known = ", ".join(standards[o.kind])
            problems.append(
                f"key 'optimize.{i}.tier': kind '{o.kind}' has no tier '{o.tier}' (tiers: {known})"
            )
        if scenario.candidates is None:
            problems.append(f"key 'optimize.{i}': optimizing needs 'candidates'")
    for kind, tiers in scenario.standards.items():
        for tier, o in tiers.items():
            known = kind in standards and tier in standards[kind]
            if known and o.walk_m is not None and o.walk_min is not None:
                problems.append(
                    f"key 'standards.{kind}.{tier}': give 'walk_m' or 'walk_min', not both"
                )


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
    if not path.exists():
        raise InputError("scenario file not found", file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the scenario file ({exc})", file=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"not valid YAML{where}: {problem}", file=str(path)) from None
    if data is None:
        raise InputError("the scenario file is empty", file=str(path))
    scenario = scenario_from_dict(data, base_dir=path.resolve().parent, source=str(path))
    scenario.source_file = path.resolve()
    return scenario
