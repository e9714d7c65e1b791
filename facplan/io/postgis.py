"""PostGIS as an input source and an output target.

Any vector input layer (communities, population, facilities, candidates, exclusions) can
come from a PostGIS table or from a read-only query instead of a file::

    communities: {postgis: {dsn_env: FACPLAN_DB, table: planning.communities}, id_field: id}
    population:  {postgis: {dsn: "postgresql://reader@db/city", query: "select * from pop"}}

:func:`read_postgis_layer` returns the same raw frame :func:`facplan.io.vector.read_vector`
returns for a file (every column, the geometry as ``geometry``, the CRS from the SRID) with
the same checks and messages; the "file" in messages is ``postgis:<table>`` or
``postgis:query``.

Safety
------
* Table names are quoted as identifiers (``psycopg.sql.Identifier``), never pasted into
  SQL: ``schema.name`` splits on the first dot outside double quotes; a part in double
  quotes is read as SQL writes it (``""`` for a quote), any other part is taken exactly as
  written (case kept), so a table named ``we"ird`` is simply ``table: we"ird``.
* A ``query`` runs as ONE statement (sent as a prepared statement, which PostgreSQL
  refuses to hold more than one command) wrapped as ``SELECT * FROM (<query>) AS q``
  inside a ``READ ONLY`` transaction that is rolled back: ``select 1; drop table x``, a
  data-modifying ``WITH``, ``COPY … TO PROGRAM`` or ``DO`` blocks fail and change nothing.
  Still give facplan a role that may only read (``ALTER ROLE r SET
  default_transaction_read_only = on``): superuser-only functions that touch server files
  are a matter of the role's rights, not of the transaction.
* ``dsn_env`` names an environment variable holding the connection string, so the
  password need not be written in the scenario. Messages never repeat the password.

Output
------
:func:`write_postgis` writes a run into one schema in ONE transaction: ``runs`` (one row
appended per run: ``run_id``, ``scenario``, ``created_at`` UTC, ``summary`` jsonb) and the
layers ``sites``, ``demand``, ``communities`` (when the scenario has communities) and
``catchments``, each with ``run_id``, ``scenario``, the columns of the matching output file
and ``geom`` (EPSG:4326). Rows are keyed by scenario name: the scenario's earlier rows are
deleted and the new ones inserted in the same transaction, so each layer table holds the
latest run of every scenario written to the schema, and ``runs`` keeps the history. Any
failure — including a connection killed mid-write — rolls everything back: the database
is left as it was (schema and tables included).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facplan._errors import InputError
from facplan.io.vector import check_geometries, read_vector
from facplan.scenario import (
    MAX_IDENT_BYTES,
    DsnSpec,
    OutputPostgisSpec,
    PostgisSpec,
    parse_table_name,
    strip_query,
)

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "PostgisSpec",
    "OutputPostgisSpec",
    "POSTGIS_LAYERS",
    "parse_table_name",
    "resolve_dsn",
    "read_postgis_layer",
    "read_source",
    "source_name",
    "write_postgis",
]

#: Layer tables :func:`write_postgis` fills (besides ``runs``).
POSTGIS_LAYERS = ("sites", "demand", "communities", "catchments")

#: Columns every layer table starts with, and its geometry column.
_KEY_COLUMNS = ("run_id", "scenario")
_GEOM = "geom"

#: Column types of the known output columns; others are inferred from the values.
_KNOWN_TYPES = {
    "site_id": "text", "kind": "text", "tier": "text", "rank": "bigint",
    "marginal_population": "double precision", "cost": "double precision",
    "community_id": "text", "phase": "bigint", "cell_id": "text",
    "population": "double precision", "name": "text", "has_centre": "boolean",
    "gaps": "text", "area_m2": "double precision",
}
_FLOAT_PREFIXES = ("dist_", "sfca_", "coverage_")

_INSTALL_HINT = "PostGIS support needs psycopg: pip install 'facplan[postgis]'"


# --------------------------------------------------------------------------- helpers


def resolve_dsn(spec: DsnSpec, *, where: str, key: str = "") -> str:
    """The connection string of ``spec``: ``dsn``, or the value of ``dsn_env``.

    Raises
    ------
    InputError
        The environment variable is not set or empty.
    """
    if spec.dsn is not None:
        return spec.dsn
    value = os.environ.get(spec.dsn_env or "", "").strip()
    if not value:
        raise InputError(
            f"the environment variable {spec.dsn_env} (named by 'dsn_env') is not set; set "
            "it to a connection string such as postgresql://user:password@host:5432/db",
            file=where, field=f"{key}.dsn_env" if key else "dsn_env",
        )
    return value


def _mask(message: str, dsn: str) -> str:
    """``message`` with the password of ``dsn`` (if any) replaced by ``***``."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
    except Exception:
        password = None
    if password:
        message = message.replace(str(password), "***")
    return message.replace(dsn, "<dsn>") if dsn else message


def _connect(dsn: str, *, where: str, field: str | None) -> psycopg.Connection:
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise InputError(_INSTALL_HINT, file=where, field=field) from None
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise InputError(
            f"not a valid PostgreSQL connection string ({_mask(str(exc), dsn)})",
            file=where, field=field,
        ) from None
    kwargs: dict[str, Any] = {"autocommit": True}
    if "connect_timeout" not in params:
        kwargs["connect_timeout"] = 15
    if "application_name" not in params:
        kwargs["application_name"] = "facplan"
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.Error as exc:
        msg = _mask(str(exc).strip(), dsn)
        raise InputError(f"cannot connect to the database ({msg})", file=where,
                         field=field) from None


def _pg_message(exc: BaseException, dsn: str) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return _mask((primary or str(exc)).strip(), dsn)


# --------------------------------------------------------------------------- reading


def read_postgis_layer(spec: PostgisSpec, *, key: str = "") -> gpd.GeoDataFrame:
    """Read a PostGIS table or query and check it like a vector file.

    Parameters
    ----------
    spec
        The source's ``postgis`` entry.
    key
        The scenario key naming this input (e.g. ``communities.postgis``), used in messages.

    Returns
    -------
    geopandas.GeoDataFrame
        Every non-geometry column as read, the geometry as ``geometry``, in the CRS of the
        column's SRID (looked up in ``spatial_ref_sys``), index 0…n-1 — what
        :func:`~facplan.io.vector.read_vector` returns for a file. Table rows come in
        primary-key order, else in storage order; a query's rows in its own order (add
        ``ORDER BY`` to fix it).

    Raises
    ------
    InputError
        Unreachable database, missing table, failed or writing query, no or several
        geometry columns, no features, no CRS (SRID 0), null or invalid geometries — the
        "file" named is ``postgis:<table>`` or ``postgis:query``.
    """
    where = spec.where
    field = key or None
    dsn = resolve_dsn(spec, where=where, key=key)
    conn = _connect(dsn, where=where, field=field)
    try:
        import psycopg

        conn.read_only = True
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("SET TRANSACTION READ ONLY")
                if spec.table is not None:
                    names, types, rows, geom_col, declared = _read_table(conn, spec, where, key)
                else:
                    names, types, rows, geom_col = _read_query(conn, spec, where, key)
                    declared = 0
                crs_of = lambda srid: _crs_of_srid(conn, srid, where)  # noqa: E731
                gdf = _frame(names, types, rows, geom_col, declared, crs_of, where)
        except psycopg.Error as exc:
            what = "the query failed" if spec.query is not None else "cannot read the table"
            msg = _pg_message(exc, dsn)
            if spec.query is not None and (
                isinstance(exc, psycopg.errors.SyntaxError | psycopg.errors.ReadOnlySqlTransaction)
                or "multiple commands" in msg
            ):
                msg += " (a query must be one SELECT statement; it runs read-only)"
            raise InputError(f"{what}: {msg}", file=where, field=field) from None
    finally:
        conn.close()
    if len(gdf) == 0:
        raise InputError("the layer is empty (no features)", file=where)
    if gdf.crs is None:
        raise InputError(
            "the layer has no CRS (SRID 0); set the column's SRID, e.g. with "
            "UpdateGeometrySRID or ST_SetSRID (EPSG:4326 or EPSG:4490)",
            file=where,
        )
    check_geometries(gdf, where)
    return gdf.reset_index(drop=True)


def _read_table(
    conn: psycopg.Connection, spec: PostgisSpec, where: str, key: str
) -> tuple[list[str], list[int], list[tuple], str, int]:
    from psycopg import sql

    schema, name = parse_table_name(spec.table or "")
    ident = sql.Identifier(schema, name) if schema is not None else sql.Identifier(name)
    qualified = ident.as_string(conn)
    row = conn.execute(
        "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
        [qualified],
    ).fetchone()
    if row is None:
        hint = ""
        if name != name.lower() or (schema or "") != (schema or "").lower():
            low = sql.Identifier(*(p.lower() for p in ([schema] if schema else []) + [name]))
            if conn.execute("SELECT to_regclass(%s)", [low.as_string(conn)]).fetchone()[0]:
                hint = f" (names are case-sensitive: did you mean {spec.table.lower()}?)"
        raise InputError(
            f"no table or view {qualified} in the database{hint}", file=where,
            field=f"{key}.table" if key else "table",
        )
    oid, nsp, rel, relkind = row
    geo = conn.execute(
        "SELECT f_geometry_column::text, srid FROM geometry_columns "
        "WHERE f_table_schema = %(s)s AND f_table_name = %(t)s "
        "UNION ALL SELECT f_geography_column::text, srid FROM geography_columns "
        "WHERE f_table_schema = %(s)s AND f_table_name = %(t)s",
        {"s": nsp, "t": rel},
    ).fetchall()
    geo_cols = {c: int(s or 0) for c, s in geo}
    geom_col = _choose_geometry(list(geo_cols), spec.geometry, where, key)
    pk = [r[0] for r in conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        [oid],
    ).fetchall()]
    if pk:
        order = sql.SQL(" ORDER BY ") + sql.SQL(", ").join(sql.Identifier(c) for c in pk)
    elif relkind in ("r", "m", "p"):
        order = sql.SQL(" ORDER BY tableoid, ctid")
    else:
        order = sql.SQL("")
    query = sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(nsp), sql.Identifier(rel))
    cur = conn.execute(query + order, prepare=True)
    rows = cur.fetchall()
    names = [d.name for d in cur.description or []]
    types = [d.type_code for d in cur.description or []]
    return names, types, rows, geom_col, geo_cols[geom_col]


def _read_query(
    conn: psycopg.Connection, spec: PostgisSpec, where: str, key: str
) -> tuple[list[str], list[int], list[tuple], str]:
    from psycopg import sql

    # sql.SQL only marks the user's text as the SQL it is; the guards are the prepared
    # (single-statement) execution, the SELECT wrapper and the read-only transaction.
    inner = sql.SQL(strip_query(spec.query or ""))  # type: ignore[arg-type]
    query = sql.SQL("SELECT * FROM (\n{}\n) AS facplan_query").format(inner)
    cur = conn.execute(query, prepare=True)
    rows = cur.fetchall()
    names = [d.name for d in cur.description or []]
    types = [d.type_code for d in cur.description or []]
    geo_oids = {r[0] for r in conn.execute(
        "SELECT oid FROM pg_type WHERE typname IN ('geometry', 'geography')"
    ).fetchall()}
    cols = [n for n, t in zip(names, types, strict=True) if t in geo_oids]
    if spec.geometry is not None and spec.geometry in names and spec.geometry not in cols:
        raise InputError(
            f"column '{spec.geometry}' (named by 'geometry') is not a PostGIS geometry",
            file=where, field=f"{key}.geometry" if key else "geometry",
        )
    return names, types, rows, _choose_geometry(cols, spec.geometry, where, key)


def _choose_geometry(cols: list[str], wanted: str | None, where: str, key: str) -> str:
    field = f"{key}.geometry" if key else "geometry"
    if wanted is not None:
        if wanted not in cols:
            have = ", ".join(cols) or "none"
            raise InputError(
                f"no geometry column '{wanted}' (named by 'geometry'); geometry columns: "
                f"{have}",
                file=where, field=field,
            )
        return wanted
    if not cols:
        raise InputError("the layer has no geometry column", file=where)
    if len(cols) > 1:
        raise InputError(
            f"the layer has {len(cols)} geometry columns ({', '.join(cols)}); name one with "
            "'geometry'",
            file=where, field=field,
        )
    return cols[0]


def _crs_of_srid(conn: psycopg.Connection, srid: int, where: str) -> Any:
    from pyproj import CRS

    row = conn.execute(
        "SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s", [srid]
    ).fetchone()
    if row is None:
        raise InputError(f"SRID {srid} is not in the database's spatial_ref_sys", file=where)
    auth, code, wkt = row
    if auth and str(auth).upper() == "EPSG" and code:
        return CRS.from_epsg(int(code))
    if wkt:
        return CRS.from_wkt(wkt)
    raise InputError(f"SRID {srid} has no definition in spatial_ref_sys", file=where)


_INT_OIDS = {20, 21, 23}          # int8, int2, int4
_FLOAT_OIDS = {700, 701, 1700}    # float4, float8, numeric
_BOOL_OID = 16


def _frame(
    names: list[str], types: list[int], rows: list[tuple], geom_col: str, declared: int,
    crs_of: Callable[[int], Any], where: str,
) -> gpd.GeoDataFrame:
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InputError(
            f"several columns are named {sorted(dup)[0]!r}; rename them (AS) so each name is "
            "used once",
            file=where,
        )
    gi = names.index(geom_col)
    raw = np.array([r[gi] for r in rows], dtype=object)
    geoms = shapely.from_wkb(raw) if len(raw) else np.array([], dtype=object)
    data: dict[str, Any] = {}
    for j, (name, oid) in enumerate(zip(names, types, strict=True)):
        if j == gi or name == "geometry":
            continue
        values = [r[j] for r in rows]
        data[name] = _column(values, oid)
    srid = declared
    if srid == 0 and len(geoms):
        found = {int(s) for s in shapely.get_srid(geoms[~shapely.is_missing(geoms)])}
        found.discard(0)
        if len(found) > 1:
            raise InputError(
                f"the geometries have several SRIDs ({', '.join(map(str, sorted(found)))}); "
                "transform them to one (ST_Transform)",
                file=where, field="geometry",
            )
        srid = found.pop() if found else 0
    crs = crs_of(srid) if srid > 0 else None
    if len(geoms):
        geoms = shapely.set_srid(geoms, 0)
    return gpd.GeoDataFrame(
        pd.DataFrame(data, index=pd.RangeIndex(len(rows))), geometry=geoms, crs=crs
    )


def _column(values: list[Any], oid: int) -> Any:
    if oid in _INT_OIDS:
        if any(v is None for v in values):
            return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        return np.array(values, dtype=np.int64)
    if oid in _FLOAT_OIDS:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    if oid == _BOOL_OID and not any(v is None for v in values):
        return np.array(values, dtype=bool)
    return values


def read_source(src: Any, *, key: str) -> tuple[gpd.GeoDataFrame, str]:
    """The raw layer of a file-or-PostGIS source and the name messages use for it.

    Parameters
    ----------
    src
        A scenario source with ``path``/``layer`` and, optionally, ``postgis``.
    key
        The source's scenario key, e.g. ``communities`` or ``facilities.0``.

    Returns
    -------
    tuple
        ``(frame, where)``: the frame :func:`read_vector` or :func:`read_postgis_layer`
        returns, and ``str(path)`` or ``postgis:<table|query>``.
    """
    pg = getattr(src, "postgis", None)
    if pg is not None:
        return read_postgis_layer(pg, key=f"{key}.postgis"), pg.where
    from facplan.io.points import is_csv, read_csv_points

    if is_csv(src) and not key.startswith("population"):
        return read_csv_points(src, key=key), str(src.path)
    return read_vector(src.path, layer=src.layer, key=f"{key}.path",
                       encoding=getattr(src, "encoding", None)), str(src.path)


def source_name(src: Any) -> str:
    """``postgis:<table|query>`` for a PostGIS source, else ``str(src.path)``."""
    pg = getattr(src, "postgis", None)
    return pg.where if pg is not None else str(src.path)


# --------------------------------------------------------------------------- writing


def write_postgis(
    spec: OutputPostgisSpec,
    *,
    scenario: str,
    summary_json: str,
    layers: dict[str, gpd.GeoDataFrame],
    on_stage: Callable[[str], None] | None = None,
) -> None:
    """Write a run into PostGIS in one transaction.

    Tables in ``spec.schema`` (created when missing): ``runs`` gets one row per call
    (``run_id``, ``scenario``, ``created_at`` UTC, ``summary`` jsonb); ``sites``,
    ``demand``, ``communities`` (when the run has communities) and ``catchments`` get the
    run's rows with ``run_id``, ``scenario``, the output columns and ``geom``
    (``geometry(Geometry, 4326)``), after the scenario's earlier rows are deleted. Columns
    a later run adds are added to the tables; a column whose type differs is an error.

    Parameters
    ----------
    spec
        The scenario's ``output.postgis`` entry.
    scenario
        The scenario's name: the key of its rows.
    summary_json
        The run's ``summary.json`` text, stored in ``runs.summary``.
    layers
        Layer table name → frame in EPSG:4326 (which layers a run writes is decided by
        :func:`facplan.outputs.writer.postgis_layers`).
    on_stage
        Called inside the open transaction with each stage's name (``schema``, ``runs``,
        each layer name, then ``commit`` just before committing). For progress, and for
        tests that kill the connection mid-write.

    Raises
    ------
    InputError
        Unreachable database, no PostGIS, no rights, a column of another type, or any
        failure while writing — the transaction is rolled back, so nothing is written.
    """
    schema = spec.schema
    where = f"postgis:{schema}"
    dsn = resolve_dsn(spec, where=where, key="output.postgis")
    summary = summary_json
    name = str(scenario)
    conn = _connect(dsn, where=where, field="output.postgis")
    import psycopg

    try:
        try:
            with conn.transaction():
                _write_all(conn, schema, name, summary, layers, on_stage)
                if on_stage is not None:
                    on_stage("commit")
        except psycopg.Error as exc:
            raise InputError(
                "writing to PostGIS failed and nothing was written (the transaction was "
                f"rolled back): {_pg_message(exc, dsn)}",
                file=where,
            ) from None
    finally:
        conn.close()


def _write_all(
    conn: psycopg.Connection, schema: str, name: str, summary: str,
    layers: dict[str, gpd.GeoDataFrame], on_stage: Callable[[str], None] | None,
) -> None:
    from psycopg import sql

    def stage(s: str) -> None:
        if on_stage is not None:
            on_stage(s)

    if conn.execute("SELECT to_regtype('geometry')").fetchone()[0] is None:
        raise InputError(
            "PostGIS is not installed in this database; run CREATE EXTENSION postgis",
            file=f"postgis:{schema}",
        )
    # one writer per schema at a time, so concurrent runs do not race on CREATE TABLE
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"facplan:{schema}"])
    s = sql.Identifier(schema)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
    stage("schema")
    conn.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.runs (run_id bigserial PRIMARY KEY, "
        "scenario text NOT NULL, created_at timestamptz NOT NULL, summary jsonb NOT NULL)"
    ).format(s))
    run_id = conn.execute(
        sql.SQL("INSERT INTO {}.runs (scenario, created_at, summary) VALUES (%s, %s, %s::jsonb) "
                "RETURNING run_id").format(s),
        [name, datetime.now(UTC), summary],
    ).fetchone()[0]
    stage("runs")
    for table, gdf in layers.items():
        _write_layer(conn, schema, table, gdf, run_id, name)
        stage(table)


def _write_layer(
    conn: psycopg.Connection, schema: str, table: str, gdf: gpd.GeoDataFrame, run_id: int,
    name: str,
) -> None:
    from psycopg import sql

    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    for c in cols:
        if c in (*_KEY_COLUMNS, _GEOM):
            raise InputError(
                f"the {table} layer has a column named '{c}', which the PostGIS tables "
                "use themselves; rename it",
                file=f"postgis:{schema}",
            )
        if len(str(c).encode()) > MAX_IDENT_BYTES:
            raise InputError(
                f"the {table} column name {c!r} is longer than PostgreSQL's "
                f"{MAX_IDENT_BYTES} bytes",
                file=f"postgis:{schema}",
            )
    ident = sql.Identifier(schema, table)
    existing = dict(conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
        [ident.as_string(conn)],
    ).fetchall())
    types = {}
    for c in cols:
        t = _column_type(str(c), gdf[c])
        have = existing.get(str(c))
        if t is None:
            t = have or "text"
        elif have is not None and have != t:
            raise InputError(
                f"table {schema}.{table} has column '{c}' of type {have}, but this run "
                f"writes {t}; write to another schema or drop the table",
                file=f"postgis:{schema}",
            )
        types[str(c)] = t
    if not existing:
        defs = [sql.SQL("run_id bigint NOT NULL"), sql.SQL("scenario text NOT NULL")]
        defs += [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in types.items()]
        defs.append(sql.SQL("{} geometry(Geometry, 4326)").format(sql.Identifier(_GEOM)))
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(defs)))
        conn.execute(sql.SQL("CREATE INDEX {} ON {} (scenario)").format(
            sql.Identifier(f"{table}_scenario_idx"), ident))
        conn.execute(sql.SQL("CREATE INDEX {} ON {} USING gist ({})").format(
            sql.Identifier(f"{table}_geom_idx"), ident, sql.Identifier(_GEOM)))
    else:
        for c, t in types.items():
            if c not in existing:
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    ident, sql.Identifier(c), sql.SQL(t)))
        conn.execute(sql.SQL("DELETE FROM {} WHERE scenario = %s").format(ident), [name])
    geoms = gdf.geometry.to_numpy()
    wkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    columns = [*_KEY_COLUMNS, *types, _GEOM]
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        ident, sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    converted = [_convert(gdf[c].tolist(), types[str(c)]) for c in cols]
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        for i in range(len(gdf)):
            copy.write_row((run_id, name, *(v[i] for v in converted), wkb[i]))


def _column_type(name: str, series: pd.Series) -> str | None:
    """The PostgreSQL type of an output column; None when it cannot be told (all null)."""
    if name in _KNOWN_TYPES:
        return _KNOWN_TYPES[name]
    if name.startswith(_FLOAT_PREFIXES):
        return "double precision"
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(series.dtype):
        return "double precision"
    values = [v for v in series.tolist() if not _is_null(v)]
    if not values:
        return None
    if all(isinstance(v, bool | np.bool_) for v in values):
        return "boolean"
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return "bigint"
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
           for v in values):
        return "double precision"
    return "text"


def _is_null(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float | np.floating) and math.isnan(v)


def _convert(values: Iterable[Any], pg_type: str) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if _is_null(v):
            out.append(None)
        elif pg_type == "double precision":
            f = float(v)
            out.append(f if math.isfinite(f) else None)
        elif pg_type == "bigint":
            f = float(v)
            out.append(int(f) if f.is_integer() else v)
        elif pg_type == "boolean":
            out.append(bool(v))
        elif isinstance(v, np.generic):
            out.append(str(v.item()))
        else:
            out.append(str(v))
    return out
