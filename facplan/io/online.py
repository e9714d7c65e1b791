"""Walking networks downloaded with osmnx (Overpass, Nominatim), cached for offline reruns.

``network: {place: "Xigong District, Luoyang"}`` geocodes the place with Nominatim and
downloads its walkable ways from Overpass; ``network: {polygon: area.gpkg}`` downloads
the ways inside a drawn area. Both go through osmnx's own code path
(:func:`osmnx.graph_from_polygon` with ``network_type="walk"``, unsimplified, every
component kept), so the graph is the raw graph DESIGN pins: every OSM node of a walkable
way inside the area is a node, every edge the straight segment between two consecutive
nodes of a way. Edge lengths are the great-circle lengths :func:`facplan.io.network.read_pbf`
gives (haversine, mean earth radius 6,371,008.8 m, rounded to the millimetre), so a
``place:`` run and a ``pbf:`` run of the same ways in the same area give identical
graphs; osmnx's own ``length`` (radius 6,371,009 m, not rounded) differs by under a
millimetre per edge.

Everything downloaded is cached twice:

- osmnx's response cache (:func:`osmnx_folder`, default
  ``<facplan cache dir>/osmnx``): one JSON file per request, named by the SHA-1 of the
  request's GET-style URL (the geocoder answer; each Overpass query);
- facplan's network cache (``<facplan cache dir>/networks``, as for PBF files): the
  compact graph, keyed by the place name or the polygon, the servers, the walking filter
  and the CRS.

A second run therefore needs no network. With ``offline=True`` (``facplan run
--offline``) nothing is requested at all: the caches are checked first, and a missing
item is reported by name (the geocoder answer for the place, or an Overpass response)
with the advice to use a PBF extract instead. Without network access, a download fails
within the connect timeout (``online.timeout_s``) with the same kind of
message: an :class:`~facplan.InputError` naming the source, never a traceback.

The Overpass and Nominatim endpoints are settings, for mirrors (for example inside
China) or an institute's own Overpass server. osmnx's global settings are changed only
inside :func:`configure_osmnx` and restored afterwards.

``osm:`` facility sources and ``communities: {osm_admin_level: N}`` work the same way
for an online area (:func:`read_online_features`, :func:`read_online_admin`): one
Overpass query per source through ``osmnx.features_from_polygon``, the same frames as the
PBF readers of :mod:`facplan.io.osm` give, cached and checked offline alike.

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from facplan._errors import InputError
from facplan.io.pbf import great_circle_m
from facplan.network import Graph, graph_from_edges, projected_crs
from facplan.scenario import DEFAULT_NOMINATIM_URL, DEFAULT_OVERPASS_URL, OnlineSpec

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx
    from shapely import MultiPolygon, Polygon

    Area = Polygon | MultiPolygon

__all__ = [
    "DEFAULT_OVERPASS_URL",
    "DEFAULT_NOMINATIM_URL",
    "ONLINE_FILTER",
    "online_settings",
    "osmnx_folder",
    "CachedRequest",
    "configure_osmnx",
    "geocoder_request",
    "overpass_requests",
    "geocode_place",
    "read_area_polygon",
    "require_cached",
    "graph_from_osmnx",
    "graph_from_place",
    "graph_from_polygon",
    "online_graph",
    "network_area",
    "features_requests",
    "read_online_features",
    "read_online_buildings",
    "read_online_candidates",
    "read_online_admin",
]

#: The osmnx network type that is downloaded.
NETWORK_TYPE = "walk"
#: The walking filter of online graphs (part of facplan's network-cache key).
ONLINE_FILTER = "osmnx:walk:raw"
#: osmnx downloads the area buffered by this many metres, then cuts it back
#: (``osmnx.graph_from_polygon``); the Overpass query, hence its cache key, uses the buffer.
QUERY_BUFFER_M = 500.0
#: ``limit`` of the Nominatim search ``osmnx.geocode_to_gdf`` sends (``which_result=None``).
_NOMINATIM_LIMIT = 50
#: A closed local port: in offline mode every request osmnx might still try goes here
#: (as its proxy) and fails at once instead of reaching the network.
_NO_NETWORK_PROXY = "http://127.0.0.1:9"
#: osmnx's settings are module globals: one configuration at a time.
_OSMNX_LOCK = threading.RLock()

_PBF_HINT = (
    "or use a local OpenStreetMap extract instead: network: {pbf: city.osm.pbf} (for "
    "example from download.geofabrik.de, BBBike or an Overpass/osmium export of the area)"
)


# --------------------------------------------------------------------------- settings


def online_settings(**values: Any) -> OnlineSpec:
    """The scenario's ``online`` block from keyword values, checked as the scenario is.

    Raises
    ------
    InputError
        A value the scenario would refuse, naming its key (``online.<key>``).
    """
    try:
        return OnlineSpec(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise InputError(
            f"{err['msg']}, got {err.get('input')!r}", field=f"online.{loc}"
        ) from None


def osmnx_folder(settings: OnlineSpec) -> Path:
    """osmnx's response cache folder in use: ``settings.cache_folder``, else
    ``<facplan cache dir>/osmnx``."""
    if settings.cache_folder is not None:
        return Path(settings.cache_folder)
    from facplan.cache import cache_dir

    return cache_dir() / "osmnx"


def _osmnx_values(settings: OnlineSpec) -> dict[str, Any]:
    """The osmnx settings facplan runs with (every one that shapes a cache key is set)."""
    query_timeout = int(math.ceil(settings.read_timeout_s))
    values: dict[str, Any] = {
        "use_cache": True,
        "cache_only_mode": False,
        "cache_folder": str(osmnx_folder(settings)),
        "overpass_url": settings.overpass_url,
        "nominatim_url": settings.nominatim_url,
        "nominatim_key": None,
        # (connect, read): fail fast without network, let a big query take its time
        "requests_timeout": (settings.timeout_s, settings.read_timeout_s),
        # the query's [timeout:N] is written here, not taken from the (tuple) timeout
        "overpass_settings": f"[out:json][timeout:{query_timeout}]{{maxsize}}",
        "overpass_memory": None,
        "default_access": '["access"!~"private"]',
        "bidirectional_network_types": ["walk"],
        "all_oneway": False,
        # no status-endpoint request before each query (it waits 60 s when unreachable)
        "overpass_rate_limit": False,
        # no DNS-over-HTTPS request to Google when a host name does not resolve
        "doh_url_template": None,
        "log_console": False,
        "log_file": False,
        "requests_kwargs": {},
    }
    if settings.offline:
        values["requests_kwargs"] = {
            "proxies": {"http": _NO_NETWORK_PROXY, "https": _NO_NETWORK_PROXY}
        }
    return values


@contextlib.contextmanager
def configure_osmnx(settings: OnlineSpec) -> Iterator[None]:
    """Run osmnx with facplan's settings inside a ``with`` block, then restore osmnx's.

    Sets ``osmnx.settings``: the response cache on (``use_cache``, ``cache_folder``), the
    two endpoints, ``requests_timeout`` = (``timeout_s``, ``read_timeout_s``), the Overpass
    query timeout, no rate-limit status request (``overpass_rate_limit=False``), no
    DNS-over-HTTPS fallback (``doh_url_template=None``), no console log; with
    ``offline=True`` every HTTP request is sent through a closed local port (as proxy),
    so none leaves the machine even if a cache check were wrong (osmnx would still look
    the Overpass host name up first). The previous values,
    and ``socket.getaddrinfo`` (which osmnx rebinds before an Overpass request), are
    restored on exit, also after an error. Calls are serialized by a lock, since osmnx's
    settings are process-wide.

    Parameters
    ----------
    settings
        The online settings.

    Yields
    ------
    None
    """
    import osmnx

    values = _osmnx_values(settings)
    with _OSMNX_LOCK:
        saved = {k: getattr(osmnx.settings, k) for k in values if hasattr(osmnx.settings, k)}
        getaddrinfo = socket.getaddrinfo
        try:
            for key, value in values.items():
                setattr(osmnx.settings, key, value)
            yield
        finally:
            for key in values:
                if key in saved:
                    setattr(osmnx.settings, key, saved[key])
                else:
                    delattr(osmnx.settings, key)
            socket.getaddrinfo = getaddrinfo


# --------------------------------------------------------------------------- cache keys


@dataclass(frozen=True)
class CachedRequest:
    """One request osmnx makes, and where its answer is cached.

    Attributes
    ----------
    what
        What the answer is, for messages (e.g. ``"geocoder answer for 'Centro' …"``).
    url
        The request as the GET-style URL osmnx hashes (an Overpass POST is represented by
        its URL with ``?data=<query>``).
    file
        The cache file: ``<cache folder>/<sha1 of url>.json``.
    area
        For an Overpass query, the queried polygon (EPSG:4326, lon/lat): the area
        buffered by :data:`QUERY_BUFFER_M`, as osmnx rounds it into the query. ``None``
        for the geocoder.
    """

    what: str
    url: str
    file: Path
    area: Polygon | None = None

    @property
    def cached(self) -> bool:
        """Whether the answer is in the cache."""
        return self.file.is_file()


def _prepared_url(url: str, params: OrderedDict[str, Any]) -> str:
    """The URL string osmnx hashes (``requests.Request("GET", …).prepare().url``)."""
    import requests

    return str(requests.Request("GET", url, params=params).prepare().url)


def _cache_file(url: str, settings: OnlineSpec) -> Path:
    """osmnx's cache file of a request (``osmnx._http._resolve_cache_filepath``)."""
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()  # noqa: S324 (osmnx's naming)
    return osmnx_folder(settings) / f"{digest}.json"


def geocoder_request(place: str, settings: OnlineSpec) -> CachedRequest:
    """The Nominatim search ``osmnx.geocode_to_gdf(place)`` sends, and its cache file.

    Parameters
    ----------
    place
        The place name, as given.
    settings
        The online settings (``nominatim_url`` and the cache folder).

    Returns
    -------
    CachedRequest
    """
    params: OrderedDict[str, Any] = OrderedDict()
    params["format"] = "json"
    params["polygon_geojson"] = 1
    params["dedupe"] = 0
    params["limit"] = _NOMINATIM_LIMIT
    params["q"] = place
    url = _prepared_url(settings.nominatim_url.rstrip("/") + "/search", params)
    return CachedRequest(
        what=f"geocoder answer for {place!r} (Nominatim search at {settings.nominatim_url})",
        url=url,
        file=_cache_file(url, settings),
    )


def _coords_polygon(coord_str: str) -> Polygon:
    """The polygon of an Overpass ``poly:"lat lon lat lon …"`` string (lon/lat)."""
    import shapely

    v = np.array(coord_str.split(), dtype=float).reshape(-1, 2)
    return shapely.Polygon(v[:, ::-1])


def overpass_requests(polygon: Area, settings: OnlineSpec) -> list[CachedRequest]:
    """The Overpass queries ``osmnx.graph_from_polygon(polygon, network_type="walk")``
    sends, and their cache files.

    osmnx buffers the polygon by :data:`QUERY_BUFFER_M` in a local UTM zone, splits a very
    large area into pieces, writes each piece's ring at 6 decimals into a query with the
    walking filter, and caches each answer under the SHA-1 of the query's GET-style URL.
    The pieces and the filter are computed by osmnx's own helpers, under
    :func:`configure_osmnx`, so the keys are the ones osmnx will look up.

    Parameters
    ----------
    polygon
        The area, a shapely (Multi)Polygon in EPSG:4326 (lon/lat).
    settings
        The online settings.

    Returns
    -------
    list of CachedRequest
        One per query, in the order osmnx sends them.
    """
    from osmnx import _overpass, projection

    with configure_osmnx(settings):
        poly_proj, crs_utm = projection.project_geometry(polygon)
        poly_buff, _ = projection.project_geometry(
            poly_proj.buffer(QUERY_BUFFER_M), crs=crs_utm, to_latlong=True
        )
        head = _overpass._make_overpass_settings()
        way_filter = _overpass._get_network_filter(NETWORK_TYPE)
        coord_strs = _overpass._make_overpass_polygon_coord_strs(poly_buff)
    queries = [f"{head};(way{way_filter}(poly:{c!r});>;);out;" for c in coord_strs]
    return _overpass_cached(coord_strs, queries, settings, "the walkable ways of the area")


def _overpass_cached(
    coord_strs: list[str], queries: list[str], settings: OnlineSpec, subject: str
) -> list[CachedRequest]:
    """One :class:`CachedRequest` per Overpass query (one per piece of the area, as
    osmnx splits it); ``subject`` says what the response holds, for messages."""
    url = settings.overpass_url.rstrip("/") + "/interpreter"
    out = []
    for i, (coords, query) in enumerate(zip(coord_strs, queries, strict=True)):
        full = _prepared_url(url, OrderedDict(data=query))
        out.append(
            CachedRequest(
                what=(
                    f"Overpass response with {subject} (query {i + 1} of {len(queries)}, "
                    f"{settings.overpass_url})"
                ),
                url=full,
                file=_cache_file(full, settings),
                area=_coords_polygon(coords),
            )
        )
    return out


# --------------------------------------------------------------------------- errors


def _offline_missing(
    source: str, missing: list[CachedRequest], settings: OnlineSpec
) -> InputError:
    first = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return InputError(
        f"offline, and the osmnx cache has no {first.what}{more}: missing file "
        f"{first.file.name} in {osmnx_folder(settings)}. Run once with network access to fill "
        f"the cache, {_PBF_HINT}",
        file=source,
    )


def _reason(exc: BaseException) -> str:
    """A short reason for a failed request (requests' messages run over several lines)."""
    import requests

    text = repr(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer within the timeout"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy cannot be reached"
    if "NameResolution" in text or "Failed to resolve" in text or "gaierror" in text:
        return "the host name does not resolve: no network or no DNS"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    if "Network is unreachable" in text:
        return "network unreachable"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(detail) > 160:
        detail = detail[:160] + "…"
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _download_error(
    source: str, exc: BaseException, settings: OnlineSpec, server: str, setting: str
) -> InputError:
    """An :class:`InputError` for a failed online step (no traceback for the user)."""
    import requests
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    if settings.offline:
        return InputError(
            f"offline, and a response osmnx needs is not in the osmnx cache "
            f"{osmnx_folder(settings)} ({type(exc).__name__}). Run once with network access to "
            f"fill the cache, {_PBF_HINT}",
            file=source,
        )
    if isinstance(exc, requests.exceptions.RequestException | OSError):
        why = f"cannot reach {server} ({_reason(exc)})"
    elif isinstance(exc, InsufficientResponseError | ResponseStatusCodeError):
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        why = f"{server} gave no usable answer ({detail or type(exc).__name__})"
    else:
        why = str(exc)
    return InputError(
        f"cannot download the walking network: {why}. Check the network connection or "
        f"set {setting} to a reachable mirror, {_PBF_HINT}",
        file=source,
    )


def _step(
    source: str, settings: OnlineSpec, server: str, setting: str, fn: Callable[[], Any]
) -> Any:
    """Run one osmnx step, turning its network and response errors into InputError."""
    import requests
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    try:
        return fn()
    except (
        requests.exceptions.RequestException,
        OSError,
        InsufficientResponseError,
        ResponseStatusCodeError,
    ) as exc:
        raise _download_error(source, exc, settings, server, setting) from None


# --------------------------------------------------------------------------- areas


def _check_area(geom: Any, source: str) -> Area:
    """A valid, non-empty (Multi)Polygon in lon/lat, or InputError."""
    import shapely

    if geom is None or geom.is_empty:
        raise InputError("the area is empty", file=source)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        geom = shapely.union_all(parts) if parts else shapely.Polygon()
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(
            f"the area must be a polygon (got {geom.geom_type})", file=source
        )
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InputError("the area is not in lon/lat (EPSG:4326) bounds", file=source)
    return geom


def read_area_polygon(path: str | Path, *, key: str = "network.polygon") -> Area:
    """The union of a vector file's polygons, in EPSG:4326, as the area to download.

    Parameters
    ----------
    path
        Any vector file geopandas reads (GeoPackage, GeoJSON, Shapefile, …) with a CRS
        and polygon features.
    key
        The scenario key naming the file, for messages.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        In lon/lat; invalid rings are repaired with :func:`shapely.make_valid`.

    Raises
    ------
    InputError
        Missing or unreadable file, no CRS, no features, or no polygon.
    """
    from facplan.io.vector import read_vector

    gdf = read_vector(Path(path), key=key).to_crs(4326)
    polys = gdf.geometry[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polys) == 0:
        raise InputError(
            "the area file has no polygon (give the study area as polygons)",
            file=str(path), field=key,
        )
    import shapely

    return _check_area(shapely.union_all(shapely.make_valid(polys.to_numpy())), str(path))


def geocode_place(
    place: str, *, settings: OnlineSpec | None = None, key: str = "network.place"
) -> Area:
    """The area polygon of a place name, from Nominatim through ``osmnx.geocode_to_gdf``.

    Parameters
    ----------
    place
        The place name, e.g. ``"Xigong District, Luoyang"``.
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).
    key
        The scenario key, for messages.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        In EPSG:4326.

    Raises
    ------
    InputError
        Offline without the cached answer; no network; the geocoder found nothing or no
        area polygon for the name.
    """
    settings = settings or OnlineSpec()
    source = _place_source(place, key)
    import osmnx

    if settings.offline:
        req = geocoder_request(place, settings)
        if not req.cached:
            raise _offline_missing(source, [req], settings)
    with configure_osmnx(settings):
        try:
            gdf = _step(source, settings, settings.nominatim_url, "online.nominatim_url",
                        lambda: osmnx.geocode_to_gdf(place))
        except TypeError:  # osmnx: the result is not a (Multi)Polygon
            raise InputError(
                "the geocoder found the place, but not as an area polygon (a point or "
                "line); use a more precise name, or draw the area and give "
                "network: {polygon: area.gpkg}",
                file=source,
            ) from None
    return _check_area(gdf.union_all(), source)


def _place_source(place: Any, key: str) -> str:
    if not isinstance(place, str) or not place.strip():
        raise InputError("give a place name, e.g. \"Xigong District, Luoyang\"", field=key)
    return f"{key}: {place!r}"


def require_cached(
    *,
    place: str | None = None,
    polygon: Area | None = None,
    settings: OnlineSpec,
    key: str | None = None,
) -> None:
    """Check, without any request, that osmnx's cache can answer every request of a
    download (for ``facplan validate --offline``).

    Parameters
    ----------
    place, polygon
        Exactly one: the place name, or the area (EPSG:4326).
    settings
        The online settings.
    key
        The scenario key, for messages (default ``network.place`` / ``network.polygon``).

    Raises
    ------
    InputError
        Naming the first missing item.
    """
    if (place is None) == (polygon is None):
        raise ValueError("give exactly one of place or polygon")
    if place is not None:
        key = key or "network.place"
        source = _place_source(place, key)
        req = geocoder_request(place, settings)
        if not req.cached:
            raise _offline_missing(source, [req], settings)
        offline = settings.model_copy(update={"offline": True})
        polygon = geocode_place(place, settings=offline, key=key)
    else:
        source = key or "network.polygon"
        polygon = _check_area(polygon, source)
    missing = [r for r in overpass_requests(polygon, settings) if not r.cached]
    if missing:
        raise _offline_missing(source, missing, settings)


# --------------------------------------------------------------------------- graphs


def graph_from_osmnx(g: nx.MultiDiGraph, *, crs: str, source: str = "network") -> Graph:
    """Turn an unprojected, unsimplified osmnx graph into a facplan :class:`Graph`.

    Nodes are ordered by OSM id; ``x``/``y`` (lon/lat) are projected to ``crs``. Every
    edge u–v becomes one undirected edge (the reverse and parallel copies collapse)
    whose length is the great-circle length of the segment, computed as
    :func:`facplan.io.network.read_pbf` computes it (see the module docstring).

    Parameters
    ----------
    g
        An ``networkx.MultiDiGraph`` from osmnx in EPSG:4326, not simplified.
    crs
        The projected CRS for node coordinates (metres).
    source
        The source, for messages.

    Returns
    -------
    Graph

    Raises
    ------
    InputError
        The graph has no edge.
    """
    from facplan.network import project_lonlat

    crs = projected_crs(crs)
    graph_crs = g.graph.get("crs", "epsg:4326")
    if g.number_of_edges() == 0:
        raise InputError("no walkable way in this area (the network is empty)", file=source)
    ids = np.fromiter(g.nodes, dtype=np.int64, count=g.number_of_nodes())
    lon = np.array([d["x"] for _, d in g.nodes(data=True)], dtype=np.float64)
    lat = np.array([d["y"] for _, d in g.nodes(data=True)], dtype=np.float64)
    order = np.argsort(ids, kind="stable")
    ids, lon, lat = ids[order], lon[order], lat[order]
    uv = np.array([(u, v) for u, v in g.edges()], dtype=np.int64).reshape(-1, 2)
    pos_u = np.searchsorted(ids, uv[:, 0])
    pos_v = np.searchsorted(ids, uv[:, 1])
    if str(graph_crs).lower() not in ("epsg:4326", "4326"):
        raise InputError(f"expected an unprojected osmnx graph, got crs {graph_crs}",
                         file=source)
    length = great_circle_m(lon[pos_u], lat[pos_u], lon[pos_v], lat[pos_v])
    x, y = project_lonlat(lon, lat, "EPSG:4326", crs)
    graph = graph_from_edges(uv[:, 0], uv[:, 1], length, node_id=ids, x=x, y=y, crs=crs)
    if graph.n_edges == 0:
        raise InputError("no walkable way in this area (the network is empty)", file=source)
    return graph


def _download(polygon: Area, *, crs: str, settings: OnlineSpec, source: str) -> Graph:
    """The walking graph inside ``polygon`` through osmnx (cache first)."""
    import osmnx

    if settings.offline:
        missing = [r for r in overpass_requests(polygon, settings) if not r.cached]
        if missing:
            raise _offline_missing(source, missing, settings)

    def fetch():
        return osmnx.graph_from_polygon(
            polygon, network_type=NETWORK_TYPE, simplify=False, retain_all=True,
            truncate_by_edge=False,
        )

    with configure_osmnx(settings):
        try:
            g = _step(source, settings, settings.overpass_url, "online.overpass_url", fetch)
        except InputError:
            raise
        except ValueError as exc:  # osmnx: "Found no graph nodes within the polygon"
            raise InputError(
                f"no walkable way in this area ({exc})", file=source
            ) from None
    return graph_from_osmnx(g, crs=crs, source=source)


def graph_from_place(
    place: str,
    *,
    crs: str,
    settings: OnlineSpec | None = None,
    key: str = "network.place",
) -> Graph:
    """The walking graph of a named place: Nominatim's area, Overpass's walkable ways.

    Runs ``osmnx.geocode_to_gdf(place)`` and ``osmnx.graph_from_polygon(area,
    network_type="walk", simplify=False, retain_all=True)`` under
    :func:`configure_osmnx`: answers come from osmnx's cache when it has them, else
    from the servers (then they are cached). Use :func:`online_graph` for facplan's
    network cache as well.

    Parameters
    ----------
    place
        The place name, e.g. ``"Xigong District, Luoyang"``; the geocoder must know it
        as an area (a boundary polygon).
    crs
        The projected CRS for node coordinates (metres).
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).
    key
        The scenario key naming the place, for messages.

    Returns
    -------
    Graph

    Raises
    ------
    InputError
        Offline with a missing cache item (named: the geocoder answer or an Overpass
        response); no network or an unreachable server; the place is unknown or has no
        area; no walkable way in the area. Each names ``<key>: '<place>'`` and suggests a
        PBF extract.
    """
    settings = settings or OnlineSpec()
    crs = projected_crs(crs)
    source = _place_source(place, key)
    polygon = geocode_place(place, settings=settings, key=key)
    return _download(polygon, crs=crs, settings=settings, source=source)


def graph_from_polygon(
    polygon: Area,
    *,
    crs: str,
    settings: OnlineSpec | None = None,
    source: str = "network.polygon",
) -> Graph:
    """The walking graph inside an area drawn by the user (EPSG:4326).

    As :func:`graph_from_place`, without the geocoder.

    Parameters
    ----------
    polygon
        A shapely (Multi)Polygon in lon/lat (:func:`read_area_polygon` reads one from a
        file).
    crs
        The projected CRS for node coordinates (metres).
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).
    source
        The source named in messages, e.g. ``"network.polygon: area.gpkg"``.

    Returns
    -------
    Graph

    Raises
    ------
    InputError
        As :func:`graph_from_place`.
    """
    settings = settings or OnlineSpec()
    crs = projected_crs(crs)
    polygon = _check_area(polygon, source)
    return _download(polygon, crs=crs, settings=settings, source=source)


# --------------------------------------------------------------------------- facplan cache


def _online_key(what: str, crs: str, settings: OnlineSpec) -> str:
    from facplan.cache import CACHE_VERSION

    text = (
        f"v{CACHE_VERSION}|online|{ONLINE_FILTER}|{crs}|{what}|"
        f"{settings.overpass_url.rstrip('/')}|{settings.nominatim_url.rstrip('/')}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cached(key: str, loader: Callable[[], Graph], use_cache: bool) -> tuple[Graph, str]:
    """facplan's network cache by key (:func:`facplan.cache.cached_by_key`)."""
    from facplan.cache import cached_by_key

    if not use_cache:
        return loader(), "off"
    return cached_by_key(key, loader)


def online_graph(
    *,
    place: str | None = None,
    polygon: Area | None = None,
    crs: str,
    settings: OnlineSpec | None = None,
    use_cache: bool = True,
    source: str | None = None,
) -> tuple[Graph, str]:
    """The walking graph of a place or an area, from facplan's network cache when the
    same download was made before (then no network and no osmnx cache is needed).

    Parameters
    ----------
    place, polygon
        Exactly one: the place name (``network.place``), or the area in EPSG:4326
        (``network.polygon``, read with :func:`read_area_polygon`).
    crs
        The projected CRS (metres).
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).
    use_cache
        Use facplan's network cache (``facplan run --no-cache`` turns it off; osmnx's
        response cache is still used).
    source
        The source named in messages (default ``network.place: '<place>'`` /
        ``network.polygon``).

    Returns
    -------
    graph, status
        ``status`` is ``"hit"``, ``"miss"`` (downloaded or read from osmnx's cache, then
        saved) or ``"off"``.

    Raises
    ------
    InputError
        As :func:`graph_from_place`.
    """
    if (place is None) == (polygon is None):
        raise ValueError("give exactly one of place or polygon")
    settings = settings or OnlineSpec()
    crs = projected_crs(crs)
    if place is not None:
        _place_source(place, "network.place")
        what = f"place={place}"
        key = _online_key(what, crs, settings)

        def loader() -> Graph:
            return graph_from_place(place, crs=crs, settings=settings)
    else:
        import shapely

        area = _check_area(polygon, source or "network.polygon")
        wkb = shapely.to_wkb(shapely.normalize(area), hex=True)
        what = "polygon=" + hashlib.sha256(wkb.encode()).hexdigest()
        key = _online_key(what, crs, settings)

        def loader() -> Graph:
            return graph_from_polygon(
                area, crs=crs, settings=settings, source=source or "network.polygon"
            )

    return _cached(key, loader, use_cache)


# --------------------------------------------------------------------------- features


def network_area(
    *,
    place: str | None = None,
    polygon: str | Path | None = None,
    settings: OnlineSpec | None = None,
) -> Area:
    """The area of an online network: the geocoded place, or the polygon file's union.

    Parameters
    ----------
    place
        ``network.place`` (geocoded through the cache, see :func:`geocode_place`).
    polygon
        ``network.polygon``, a vector file (see :func:`read_area_polygon`).
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        In EPSG:4326.
    """
    if (place is None) == (polygon is None):
        raise ValueError("give exactly one of place or polygon")
    if place is not None:
        return geocode_place(place, settings=settings or OnlineSpec())
    return read_area_polygon(polygon, key="network.polygon")


def features_requests(
    area: Area, tags: dict[str, list[str] | bool], settings: OnlineSpec
) -> list[CachedRequest]:
    """The Overpass queries ``osmnx.features_from_polygon(area, tags)`` sends, and their
    cache files (the area is not buffered; the tags in the order given).

    Parameters
    ----------
    area
        The area, EPSG:4326.
    tags
        ``{key: [values]}`` or ``{key: True}``.
    settings
        The online settings.

    Returns
    -------
    list of CachedRequest
    """
    from osmnx import _overpass

    with configure_osmnx(settings):
        coord_strs = _overpass._make_overpass_polygon_coord_strs(area)
        queries = [_overpass._create_overpass_features_query(c, tags) for c in coord_strs]
    tag_text = ", ".join(
        f"{k}=*" if v is True else f"{k}={'|'.join(v)}" for k, v in tags.items()
    )
    return _overpass_cached(coord_strs, queries, settings,
                            f"the OSM objects tagged {tag_text} in the area")


def _features_frame(
    area: Area, tags: dict[str, list[str] | bool], settings: OnlineSpec, where: str
) -> gpd.GeoDataFrame | None:
    """osmnx's features GeoDataFrame (index reset: ``element``, ``id``), or None when no
    object matches."""
    import osmnx
    from osmnx._errors import InsufficientResponseError

    if settings.offline:
        missing = [r for r in features_requests(area, tags, settings) if not r.cached]
        if missing:
            raise _offline_missing(where, missing, settings)

    def fetch():
        try:
            return osmnx.features_from_polygon(area, tags=tags)
        except InsufficientResponseError as exc:
            if "No matching features" in str(exc):
                return None
            raise

    with configure_osmnx(settings):
        gdf = _step(where, settings, settings.overpass_url, "online.overpass_url", fetch)
    if gdf is None or len(gdf) == 0:
        return None
    gdf = gdf.reset_index()
    order = gdf["element"].map({"node": 0, "way": 1, "relation": 2}).fillna(9).to_numpy()
    ids = gdf["id"].astype("int64").to_numpy()
    gdf = gdf.iloc[np.lexsort((ids, order))].reset_index(drop=True)
    return gdf.rename(columns={"element": "osm_type"})


def read_online_features(
    tags: dict[str, list[str] | bool],
    *,
    area: Area,
    source: str,
    settings: OnlineSpec | None = None,
    key: str = "osm",
) -> gpd.GeoDataFrame:
    """Points and polygons carrying any of the given tags inside an area, from Overpass.

    The online twin of :func:`facplan.io.osm.read_osm_features`, with the same columns,
    ids and order, so :func:`facplan.io.osm.osm_facilities` takes its result as is.

    Parameters
    ----------
    tags
        ``{key: [values]}`` or ``{key: True}`` (any value), e.g.
        ``{"leisure": ["pitch", "sports_centre"]}``.
    area
        The area (EPSG:4326), e.g. :func:`network_area`. Objects that intersect it are
        kept.
    source
        The scenario entry (e.g. ``"facilities0"``) for the ``source`` column.
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).
    key
        The scenario key, for messages (e.g. ``"facilities.0.osm"``).

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_id`` (``osm-<type>-<id>``), ``name``, ``tag`` (the first of ``tags`` the
        object matches, ``key=value``), ``source``, geometry (points and polygons) in
        EPSG:4326, ordered nodes, ways, relations by id; lines are left out and counted
        in ``attrs["dropped"]``. No match gives an empty frame.

    Raises
    ------
    InputError
        Malformed ``tags``; offline with the response missing; no network.
    """
    from facplan.io.osm import check_tags, features_from_frame

    settings = settings or OnlineSpec()
    tags = check_tags(tags, key)
    area = _check_area(area, key)
    return features_from_frame(_features_frame(area, tags, settings, key), tags,
                               source=source)


def read_online_buildings(
    *, area: Area, settings: OnlineSpec | None = None,
    key: str = "population.dasymetric",
) -> gpd.GeoDataFrame:
    """Building footprints inside an area, from Overpass: the online twin of
    :func:`facplan.io.osm.read_osm_buildings` (same columns, ids and order).

    Parameters
    ----------
    area
        The area (EPSG:4326), e.g. :func:`network_area`.
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).
    key
        The scenario key, for messages.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_id``, ``building``, ``levels``, polygon geometry in EPSG:4326.

    Raises
    ------
    InputError
        No building in the area; offline with the response missing; no network.
    """
    from facplan.io.osm import buildings_from_frame

    settings = settings or OnlineSpec()
    area = _check_area(area, key)
    gdf = _features_frame(area, {"building": True}, settings, key)
    return buildings_from_frame(gdf, where=f"{key} (OSM buildings from Overpass)")


def read_online_candidates(
    *,
    area: Area,
    crs: Any,
    settings: OnlineSpec | None = None,
    key: str = "candidates.osm",
) -> gpd.GeoDataFrame:
    """Candidate sites from OSM inside an area, from Overpass: the online twin of
    :func:`facplan.io.osm.osm_candidates` (open land, surface car parks, large
    non-residential buildings; same columns, ids, costs and order).

    Three queries (:data:`facplan.io.osm.CANDIDATE_TAGS`: land use, parking, buildings),
    each cached like every download.

    Parameters
    ----------
    area
        The area (EPSG:4326), e.g. :func:`network_area`.
    crs
        Projected CRS (metres) in which areas are measured.
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).
    key
        The scenario key, for messages (e.g. ``"candidates.0.osm"``).

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`facplan.io.osm.osm_candidates`.

    Raises
    ------
    InputError
        A geographic ``crs``; offline with a response missing; no network.
    """
    from facplan.io.osm import CANDIDATE_TAGS, candidates_from_layers, require_projected

    require_projected(crs, "measuring candidate areas")
    settings = settings or OnlineSpec()
    area = _check_area(area, key)
    layers = {name: _features_frame(area, tags, settings, key)
              for name, tags in CANDIDATE_TAGS.items()}
    return candidates_from_layers(layers["landuse"], layers["parking"], layers["buildings"],
                                  crs=crs)


def read_online_admin(
    admin_level: int,
    *,
    area: Area,
    settings: OnlineSpec | None = None,
    name_tag: str = "name",
    key: str = "communities.osm_admin_level",
) -> gpd.GeoDataFrame:
    """Community boundaries (``boundary=administrative`` of one ``admin_level``) that
    intersect an area, from Overpass.

    The online twin of :func:`facplan.io.osm.read_osm_admin`, with the same columns.

    Parameters
    ----------
    admin_level
        OSM ``admin_level`` (in China 8 is usually the street office 街道 and 10 the
        community 社区 where mapped).
    area
        The area (EPSG:4326), e.g. :func:`network_area`.
    settings
        Online settings (default: :class:`~facplan.scenario.OnlineSpec` defaults).
    name_tag
        Tag for the name (e.g. ``"name:zh"``); falls back to ``name``, then to the id.
    key
        The scenario key, for messages.

    Returns
    -------
    geopandas.GeoDataFrame
        ``community_id`` (``osm-relation-<id>`` or ``osm-way-<id>``), ``name``, polygon
        geometry in EPSG:4326, ordered by type then id; ``attrs["dropped"]`` counts
        boundaries without a usable polygon.

    Raises
    ------
    InputError
        No boundary of that level in the area; offline with the response missing; no
        network.
    """
    import geopandas as gpd

    from facplan.io.osm import osm_ids, repair_geometries, text_column

    settings = settings or OnlineSpec()
    area = _check_area(area, key)
    level = str(int(admin_level))
    gdf = _features_frame(area, {"admin_level": [level]}, settings, key)
    dropped = 0
    if gdf is not None:
        admin = (text_column(gdf, "boundary") == "administrative") & (
            text_column(gdf, "admin_level") == level
        )
        gdf = gdf[admin.to_numpy()]
        gdf, dropped = repair_geometries(gpd.GeoDataFrame(gdf, geometry="geometry", crs=4326),
                               keep_points=False)
    if gdf is None or len(gdf) == 0:
        raise InputError(
            f"no administrative boundary with admin_level {level} in the area"
            + (f" ({dropped} without a usable polygon)" if dropped else "")
            + "; try another level (in China 8 is usually the street office, 10 the "
            "community) or give the boundaries as a file: communities: {path: …}",
            file=key,
        )
    ids = osm_ids(gdf)
    names = text_column(gdf, name_tag)
    names = names.where(names != "", text_column(gdf, "name")).to_numpy(dtype=object)
    names = np.where(names == "", ids, names).astype(object)
    out = gpd.GeoDataFrame(
        {"community_id": ids, "name": names}, geometry=gdf.geometry.values, crs=4326
    )
    out.attrs["dropped"] = dropped
    return out
