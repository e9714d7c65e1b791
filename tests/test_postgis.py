"""PostGIS sources and output against a throwaway PostgreSQL server.

The module starts its own server (``initdb`` + ``pg_ctl`` in a temporary folder, listening
on 127.0.0.1 at a free port, as the ``postgres`` user when run as root) and stops it
afterwards. It skips, saying why, when the server binaries, PostGIS or psycopg are missing
(``make postgres`` installs Debian's packages; ``pip install -e '.[postgis]'`` psycopg).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from facplan._errors import InputError
from facplan.io.postgis import (
    OutputPostgisSpec,
    PostgisSpec,
    parse_table_name,
    read_postgis_layer,
)
from facplan.io.vector import read_vector
from facplan.outputs.writer import write_result_postgis
from facplan.testing import GRID_CRS, grid_city

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install -e '.[postgis]'"
)
from psycopg import sql  # noqa: E402

LAYERS = ("communities", "population", "facilities", "candidates")


# --------------------------------------------------------------------------- the server


def _bindir() -> Path | None:
    """Folder of the newest installed PostgreSQL server's initdb and pg_ctl."""
    env = os.environ.get("FACPLAN_PG_BINDIR")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        d = Path(out.stdout.strip())
        if (d / "initdb").exists():
            return d
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running throwaway server: ``dsn`` of database ``facplan`` as superuser."""

    dsn: str
    password: str
    port: int

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, **kwargs)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    bindir = _bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: run `make postgres`")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run initdb as")
        if shutil.which("runuser") is None:
            pytest.skip("running as root and `runuser` is missing (util-linux)")
        as_user = ["runuser", "-u", "postgres", "--"]
    tmp = Path(tempfile.mkdtemp(prefix="facplan-pg-"))
    password = secrets.token_hex(12)
    (tmp / "pw").write_text(password + "\n")
    if owner is not None:
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
        os.chown(tmp / "pw", owner.pw_uid, owner.pw_gid)
    data = tmp / "data"

    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=tmp)

    started = False
    try:
        r = run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                f"--pwfile={tmp / 'pw'}", "--no-sync")
        if r.returncode != 0:
            pytest.skip(f"initdb failed: {r.stderr.strip()[-500:]}")
        for _ in range(3):  # another process may take the free port first
            port = _free_port()
            r = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w",
                    "-t", "60", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off "
                    "-c full_page_writes=off -c synchronous_commit=off", "start")
            if r.returncode == 0:
                started = True
                break
        if not started:
            log = (tmp / "log").read_text() if (tmp / "log").exists() else r.stderr
            pytest.skip(f"the PostgreSQL server did not start: {log.strip()[-500:]}")
        base = f"postgresql://postgres:{password}@127.0.0.1:{port}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE facplan")
        srv = Server(dsn=f"{base}/facplan", password=password, port=port)
        with srv.connect() as c:
            try:
                c.execute("CREATE EXTENSION postgis")
            except psycopg.Error as exc:
                pytest.skip(f"PostGIS is not installed for this server ({exc}): "
                            "run `make postgres`")
        yield srv
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- data


def load_table(conn: psycopg.Connection, schema: str, table: str, gdf: gpd.GeoDataFrame,
               *, srid: int | None = None, primary_key: str | None = None,
               geom: str = "geom") -> None:
    """The tests' own loader (plain INSERTs with WKB), independent of the module's COPY."""
    srid = gdf.crs.to_epsg() if srid is None else srid
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    types = {}
    for c in cols:
        dt = gdf[c].dtype
        types[c] = ("double precision" if pd.api.types.is_float_dtype(dt)
                    else "bigint" if pd.api.types.is_integer_dtype(dt) else "text")
    defs = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c])) for c in cols]
    if primary_key:
        defs.append(sql.SQL("PRIMARY KEY ({})").format(sql.Identifier(primary_key)))
    defs.append(sql.SQL("{} geometry(Geometry, {})").format(sql.Identifier(geom),
                                                            sql.Literal(srid)))
    ident = sql.Identifier(schema, table)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(defs)))
    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({}, ST_GeomFromWKB(%s, {}))").format(
        ident,
        sql.SQL(", ").join(sql.Identifier(c) for c in [*cols, geom]),
        sql.SQL(", ").join(sql.Placeholder() for _ in cols) if cols else sql.SQL(""),
        sql.Literal(srid),
    )
    if not cols:
        insert = sql.SQL("INSERT INTO {} ({}) VALUES (ST_GeomFromWKB(%s, {}))").format(
            ident, sql.Identifier(geom), sql.Literal(srid))
    rows = []
    for rec, g in zip(gdf[cols].itertuples(index=False), gdf.geometry, strict=True):
        vals = [None if (isinstance(v, float) and np.isnan(v)) else v for v in rec]
        rows.append([*vals, None if g is None else shapely.to_wkb(g)])
    with conn.cursor() as cur:
        cur.executemany(insert, rows)


@pytest.fixture(scope="module")
def city(server: Server, tmp_path_factory) -> tuple[Path, dict]:
    """The grid city as files, and its layers loaded into schema ``city``."""
    folder = tmp_path_factory.mktemp("pgcity")
    data = grid_city(folder)
    excl = gpd.GeoDataFrame({"zone": ["heritage"]},
                            geometry=[box(385_150, 6_672_050, 385_250, 6_672_150)], crs=GRID_CRS)
    excl.to_file(folder / "exclusions.gpkg")
    with server.connect() as c:
        for name in (*LAYERS, "exclusions"):
            load_table(c, "city", name, read_vector(folder / f"{name}.gpkg"))
    return folder, data


def spec(server: Server, **kw) -> PostgisSpec:
    return PostgisSpec(dsn=server.dsn, **kw)


def _count(server: Server, query: str) -> int:
    with server.connect() as c:
        return int(c.execute(query).fetchone()[0])


# --------------------------------------------------------------------------- specs


def test_spec_needs_one_dsn_and_one_source() -> None:
    PostgisSpec(dsn_env="FACPLAN_DB", table="a.b")
    for bad in (
        {"table": "a"},                                        # no dsn
        {"dsn": "x", "dsn_env": "Y", "table": "a"},            # both
        {"dsn": "x"},                                          # no table/query
        {"dsn": "x", "table": "a", "query": "select 1"},       # both
        {"dsn": "x", "table": '"unterminated'},
        {"dsn": "x", "query": " ; "},
        {"dsn": "x", "table": "a", "password": "p"},           # unknown key
    ):
        with pytest.raises(ValueError):
            PostgisSpec.model_validate(bad)
    assert OutputPostgisSpec(dsn="x").schema == "facplan"
    assert OutputPostgisSpec.model_validate({"dsn_env": "X", "schema": "plan_2026"}).schema \
        == "plan_2026"
    with pytest.raises(ValueError):
        OutputPostgisSpec.model_validate({"dsn": "x", "schema": "s", "table": "t"})


def test_parse_table_name() -> None:
    assert parse_table_name("communities") == (None, "communities")
    assert parse_table_name("city.communities") == ("city", "communities")
    assert parse_table_name('public.we"ird') == ("public", 'we"ird')
    assert parse_table_name('"My.Schema"."we""ird"') == ("My.Schema", 'we"ird')
    assert parse_table_name("a.b.c") == ("a", "b.c")
    for bad in ("", ".a", "a.", '"a', '"a"b'):
        with pytest.raises(ValueError):
            parse_table_name(bad)


# --------------------------------------------------------------------------- reading


def _same_frame(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert a.crs is not None and a.crs.equals(b.crs)
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")),
        check_dtype=False,
    )
    assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-9).all()
    assert list(a.index) == list(range(len(a)))


@pytest.mark.parametrize("name", [*LAYERS, "exclusions"])
def test_table_reads_like_the_file(server: Server, city, name: str) -> None:
    folder, _ = city
    got = read_postgis_layer(spec(server, table=f"city.{name}"), key=f"{name}.postgis")
    _same_frame(got, read_vector(folder / f"{name}.gpkg"))


def test_query_and_dsn_env(server: Server, city, monkeypatch) -> None:
    monkeypatch.setenv("FACPLAN_TEST_DB", server.dsn)
    q = ("select cid, name, geom as shape from city.communities "
         "where name like '%西区' -- a comment\n;")
    got = read_postgis_layer(PostgisSpec(dsn_env="FACPLAN_TEST_DB", query=q))
    assert got["cid"].tolist() == ["west"]
    assert got.crs.to_epsg() == 32635
    monkeypatch.delenv("FACPLAN_TEST_DB")
    with pytest.raises(InputError, match="FACPLAN_TEST_DB .*not set") as err:
        read_postgis_layer(PostgisSpec(dsn_env="FACPLAN_TEST_DB", query=q), key="population.postgis")
    assert err.value.field == "population.postgis.dsn_env"


def test_primary_key_order(server: Server) -> None:
    gdf = gpd.GeoDataFrame({"id": [3, 1, 2]}, geometry=[Point(3, 3), Point(1, 1), Point(2, 2)],
                           crs=4326)
    with server.connect() as c:
        load_table(c, "public", "ordered", gdf, primary_key="id")
    got = read_postgis_layer(spec(server, table="ordered"))
    assert got["id"].tolist() == [1, 2, 3]
    assert got.geometry.x.tolist() == [1.0, 2.0, 3.0]


def test_quoted_names(server: Server, city) -> None:
    folder, _ = city
    comm = read_vector(folder / "communities.gpkg")
    with server.connect() as c:
        load_table(c, "public", 'we"ird', comm)
        load_table(c, "My.Schema", 'Mixed "Case"', comm, geom="The Geom")
    for table in ('we"ird', 'public.we"ird', '"public"."we""ird"'):
        _same_frame(read_postgis_layer(spec(server, table=table)), comm)
    got = read_postgis_layer(spec(server, table='"My.Schema".Mixed "Case"'))
    _same_frame(got, comm)
    with pytest.raises(InputError, match="no table or view"):
        read_postgis_layer(spec(server, table="City.Communities"))
    with pytest.raises(InputError, match="case-sensitive: did you mean city.communities"):
        read_postgis_layer(spec(server, table="City.Communities"))


def test_table_name_cannot_inject(server: Server, city) -> None:
    before = _count(server, "select count(*) from city.communities")
    for table in ('communities"; drop table city.communities; --',
                  "city.communities; drop table city.communities",
                  "city.communities where 1=0; drop table city.communities"):
        with pytest.raises(InputError, match="no table or view") as err:
            read_postgis_layer(spec(server, table=table), key="communities.postgis")
        assert err.value.file == f"postgis:{table}"
    assert _count(server, "select count(*) from city.communities") == before


def test_malicious_query_changes_nothing(server: Server, city) -> None:
    with server.connect() as c:
        c.execute("create table public.victim as select generate_series(1, 5) as i")
        c.execute("create sequence public.victim_seq")
        c.execute("create function public.evil() returns int language sql as "
                  "$$ delete from public.victim; select 1 $$")
    bad = [
        "select * from city.communities; drop table public.victim",
        "select 1) q; drop table public.victim; select * from (select 1",
        "drop table public.victim",
        "delete from public.victim returning *",
        "with d as (delete from public.victim returning *) select * from d",
        "select public.evil()",
        "select nextval('public.victim_seq')",
        "select set_config('transaction_read_only', 'off', false)",
        "copy (select 1) to program 'touch /tmp/facplan-pwned'",
        "do $$ begin drop table public.victim; end $$",
        "commit; drop table public.victim",
    ]
    for q in bad:
        with pytest.raises(InputError) as err:
            read_postgis_layer(spec(server, query=q), key="communities.postgis")
        assert err.value.file == "postgis:query", q
    assert _count(server, "select count(*) from public.victim") == 5
    assert _count(server, "select count(*) from city.communities") == 2
    assert _count(server, "select last_value from public.victim_seq") == 1
    assert not Path("/tmp/facplan-pwned").exists()
    with pytest.raises(InputError, match="one SELECT statement"):
        read_postgis_layer(spec(server, query=bad[0]))


def test_same_checks_and_messages_as_files(server: Server) -> None:
    pts = [Point(0, 0), Point(1, 1)]
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    with server.connect() as c:
        load_table(c, "public", "empty", gpd.GeoDataFrame({"a": []}, geometry=[], crs=4326))
        load_table(c, "public", "nocrs", gpd.GeoDataFrame({"a": [1.0, 2.0]}, geometry=pts),
                   srid=0)
        load_table(c, "public", "nullgeom",
                   gpd.GeoDataFrame({"a": ["x", "y", "z"]}, geometry=[pts[0], None, pts[1]],
                                    crs=4326))
        load_table(c, "public", "invalid",
                   gpd.GeoDataFrame({"a": ["x", "y"]}, geometry=[box(0, 0, 1, 1), bowtie],
                                    crs=4326))
        c.execute("create table public.nogeom (a int)")
        c.execute("insert into public.nogeom values (1)")
        c.execute("create table public.twogeoms (a int, g1 geometry(Point, 4326), "
                  "g2 geometry(Point, 3857))")
        c.execute("insert into public.twogeoms values "
                  "(1, 'SRID=4326;POINT(1 2)', 'SRID=3857;POINT(3 4)')")

    def err(table: str, **kw) -> InputError:
        with pytest.raises(InputError) as e:
            read_postgis_layer(spec(server, table=table, **kw), key="population.postgis")
        assert e.value.file == f"postgis:{table}"
        return e.value

    assert err("empty").message == "the layer is empty (no features)"
    assert "no CRS" in err("nocrs").message
    e = err("nullgeom")
    assert (e.message, e.field, e.rows) == ("1 features have no geometry", "geometry", [2])
    e = err("invalid")
    assert "1 invalid geometries" in e.message and e.rows == [2]
    assert err("nogeom").message == "the layer has no geometry column"
    e = err("twogeoms")
    assert "2 geometry columns (g1, g2)" in e.message
    assert e.field == "population.postgis.geometry"
    assert "no geometry column 'g3'" in err("twogeoms", geometry="g3").message
    got = read_postgis_layer(spec(server, table="twogeoms", geometry="g2"))
    assert got.crs.to_epsg() == 3857 and list(got.columns) == ["a", "g1", "geometry"]
    assert got.geometry.iloc[0].equals(Point(3, 4))


def test_connection_errors_hide_the_password(server: Server) -> None:
    bad = server.dsn.replace(f":{server.port}/", f":{_free_port()}/")
    with pytest.raises(InputError, match="cannot connect to the database") as e:
        read_postgis_layer(PostgisSpec(dsn=bad, table="x"), key="communities.postgis")
    assert server.password not in str(e.value)
    wrong = server.dsn.replace(server.password, "wrong-" + server.password)
    with pytest.raises(InputError, match="password authentication failed") as e:
        read_postgis_layer(PostgisSpec(dsn=wrong, table="x"))
    assert server.password not in str(e.value)


# --------------------------------------------------------------------------- writing


@pytest.fixture(scope="module")
def result(city):
    import facplan
    from facplan.scenario import scenario_from_dict

    folder, data = city
    return facplan.run(scenario_from_dict(data, base_dir=folder))


def _read_back(server: Server, schema: str, table: str, scenario: str) -> gpd.GeoDataFrame:
    with server.connect() as c:
        q = sql.SQL("select *, ST_AsBinary(geom) as wkb from {} where scenario = %s "
                    "order by 3").format(sql.Identifier(schema, table))
        cur = c.execute(q, [scenario])
        rows = cur.fetchall()
        names = [d.name for d in cur.description]
    df = pd.DataFrame(rows, columns=names)
    geoms = shapely.from_wkb(df.pop("wkb").to_numpy()) if len(df) else []
    return gpd.GeoDataFrame(df.drop(columns="geom"), geometry=list(geoms), crs=4326)


def test_write_round_trip(server: Server, result) -> None:
    from facplan.keys import SITE_COLUMNS

    out = OutputPostgisSpec(dsn=server.dsn, schema="plan_2026")
    write_result_postgis(result, out)
    name = result.scenario.name
    sites = _read_back(server, "plan_2026", "sites", name).sort_values("rank")
    want = result.sites.to_crs(4326).sort_values("rank")
    assert sites["site_id"].tolist() == want["site_id"].tolist()
    assert len(sites) == 2
    for c in ("kind", "tier", "community_id"):
        assert sites[c].tolist() == want[c].tolist()
    np.testing.assert_allclose(sites["marginal_population"], want["marginal_population"])
    assert sites.geometry.geom_equals_exact(want.geometry.reset_index(drop=True),
                                            tolerance=1e-9).all()
    assert set(SITE_COLUMNS) <= set(sites.columns)

    demand = _read_back(server, "plan_2026", "demand", name).set_index("cell_id")
    want = result.demand.to_crs(4326).set_index("cell_id").loc[demand.index]
    assert len(demand) == len(result.demand)
    for c in [c for c in want.columns if c.startswith(("dist_", "sfca_"))] + ["population"]:
        a, b = demand[c].to_numpy(dtype=float), want[c].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), c
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], err_msg=c)
    assert demand.geometry.geom_equals_exact(want.geometry, tolerance=1e-9).all()

    comm = _read_back(server, "plan_2026", "communities", name)
    assert sorted(comm["community_id"]) == ["east", "west"]
    assert comm["has_centre"].dtype == bool
    catch = _read_back(server, "plan_2026", "catchments", name)
    assert len(catch) == len(result.catchments)

    with server.connect() as c:
        runs = c.execute("select run_id, scenario, created_at, summary from plan_2026.runs"
                         ).fetchall()
        geom_type = c.execute("select type, srid from geometry_columns where "
                              "f_table_schema = 'plan_2026' and f_table_name = 'demand'"
                              ).fetchone()
    assert [r[1] for r in runs] == [name]
    assert runs[0][2].utcoffset().total_seconds() == 0 or runs[0][2].tzinfo is not None
    assert runs[0][3]["population_total"] == pytest.approx(result.summary["population_total"])
    assert runs[0][3]["optimize"][0]["selected"] == result.summary["optimize"][0]["selected"]
    assert geom_type == ("GEOMETRY", 4326)

    # the same scenario again replaces its rows; another scenario's rows stay
    write_result_postgis(result, out)
    other = _renamed(result, "grid-city-b")
    write_result_postgis(other, out)
    assert _count(server, "select count(*) from plan_2026.runs") == 3
    n = len(result.demand)
    assert _count(server, "select count(*) from plan_2026.demand") == 2 * n
    assert _count(server, f"select count(distinct run_id) from plan_2026.demand "
                          f"where scenario = '{name}'") == 1
    # the output reads back as an input layer
    back = read_postgis_layer(spec(server, query="select * from plan_2026.sites "
                                   f"where scenario = '{name}' order by rank"))
    assert back["site_id"].tolist() == result.sites.sort_values("rank")["site_id"].tolist()


def _renamed(result, name: str):
    import copy

    r = copy.copy(result)
    r.scenario = result.scenario.model_copy(update={"name": name})
    r.summary = {**result.summary, "scenario": name}
    return r


def _terminate_writer(server: Server) -> None:
    with server.connect() as c:
        pids = [r[0] for r in c.execute(
            "select pid from pg_stat_activity where application_name = 'facplan' "
            "and state = 'idle in transaction' and pid <> pg_backend_pid()").fetchall()]
        assert len(pids) == 1
        c.execute("select pg_terminate_backend(%s)", [pids[0]])
        for _ in range(50):  # wait until the backend is gone
            if not c.execute("select 1 from pg_stat_activity where pid = %s",
                             [pids[0]]).fetchone():
                break
            time.sleep(0.05)


def _tables(server: Server, schema: str) -> dict[str, int]:
    with server.connect() as c:
        names = [r[0] for r in c.execute(
            "select table_name from information_schema.tables where table_schema = %s",
            [schema]).fetchall()]
        return {t: int(c.execute(sql.SQL("select count(*) from {}").format(
            sql.Identifier(schema, t))).fetchone()[0]) for t in names}


@pytest.mark.parametrize("stage", ["runs", "demand", "commit"])
def test_killed_connection_writes_nothing(server: Server, result, stage: str) -> None:
    schema = f"kill_{stage}"
    out = OutputPostgisSpec(dsn=server.dsn, schema=schema)

    def kill(s: str) -> None:
        if s == stage:
            _terminate_writer(server)

    # a first write into a new schema, killed: not even the schema is left
    with pytest.raises(InputError, match="nothing was written") as err:
        write_result_postgis(result, out, on_stage=kill)
    assert err.value.file == f"postgis:{schema}"
    assert _count(server, f"select count(*) from pg_namespace where nspname = '{schema}'") == 0

    # over an earlier good run: the tables hold exactly the earlier run
    write_result_postgis(result, out)
    before = _tables(server, schema)
    with pytest.raises(InputError, match="nothing was written"):
        write_result_postgis(_renamed(result, "grid-city-killed"), out, on_stage=kill)
    assert _tables(server, schema) == before
    assert _count(server, f"select count(*) from {schema}.demand "
                          "where scenario = 'grid-city-killed'") == 0


def test_failure_mid_write_rolls_back(server: Server, result) -> None:
    out = OutputPostgisSpec(dsn=server.dsn, schema="rollback")
    write_result_postgis(result, out)
    before = _tables(server, "rollback")

    def boom(s: str) -> None:
        if s == "communities":
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_result_postgis(_renamed(result, "other"), out, on_stage=boom)
    assert _tables(server, "rollback") == before
    # a column of another type is refused, and nothing is written
    with server.connect() as c:
        c.execute("alter table rollback.demand alter column population type text")
    with pytest.raises(InputError, match="column 'population' of type text"):
        write_result_postgis(_renamed(result, "other"), out)
    assert _tables(server, "rollback") == before


def test_schema_name_is_quoted(server: Server, result) -> None:
    schema = 'plan"; drop table city.communities; --'
    write_result_postgis(result, OutputPostgisSpec(dsn=server.dsn, schema=schema))
    assert _tables(server, schema)["sites"] == len(result.sites)
    assert _count(server, "select count(*) from city.communities") == 2


# --------------------------------------------------------------------------- end to end


def _postgis_scenario(server: Server, data: dict) -> dict:
    pg = {"dsn_env": "FACPLAN_TEST_DB"}
    d = {**data}
    d["communities"] = {**{k: v for k, v in data["communities"].items() if k != "path"},
                        "postgis": {**pg, "table": "city.communities"}}
    d["population"] = {**{k: v for k, v in data["population"].items() if k != "path"},
                       "postgis": {**pg, "table": "city.population"}}
    d["facilities"] = [{**{k: v for k, v in data["facilities"][0].items() if k != "path"},
                        "postgis": {**pg, "query": "select * from city.facilities"}}]
    d["candidates"] = {**{k: v for k, v in data["candidates"].items() if k != "path"},
                       "postgis": {**pg, "table": "city.candidates"}}
    d["exclusions"] = [{"postgis": {**pg, "table": "city.exclusions"}, "name_field": "zone"}]
    d["output"] = {"postgis": {**pg, "schema": "from_db"}}
    return d


def test_run_from_database_matches_files(server: Server, city, monkeypatch, tmp_path) -> None:
    import facplan
    from facplan.scenario import CommunitiesSpec, Scenario, scenario_from_dict

    if "postgis" not in CommunitiesSpec.model_fields or "output" not in Scenario.model_fields:
        pytest.skip("the scenario has no 'postgis' source / 'output' keys yet")
    monkeypatch.setenv("FACPLAN_TEST_DB", server.dsn)
    folder, data = city
    files = {**data, "exclusions": [{"path": "exclusions.gpkg", "name_field": "zone"}]}
    by_file = facplan.run(scenario_from_dict(files, base_dir=folder), cache=False)
    by_db = facplan.run(scenario_from_dict(_postgis_scenario(server, data), base_dir=folder),
                        cache=False)
    for key in ("population_total", "access", "cells", "crs"):
        assert by_db.summary[key] == by_file.summary[key], key
    sel = [{k: o[k] for k in ("selected", "objective", "covered_after")}
           for o in by_file.summary["optimize"]]
    assert [{k: o[k] for k in ("selected", "objective", "covered_after")}
            for o in by_db.summary["optimize"]] == sel
    assert (by_db.candidates["excluded"].tolist() == by_file.candidates["excluded"].tolist())
    assert (by_db.candidates["excluded"] != "").any()
    pd.testing.assert_frame_equal(pd.DataFrame(by_db.demand.drop(columns="geometry")),
                                  pd.DataFrame(by_file.demand.drop(columns="geometry")))

    by_db.write(tmp_path / "out")  # files, then the run into schema from_db
    assert (tmp_path / "out" / "sites.geojson").exists()
    sites = _read_back(server, "from_db", "sites", by_db.scenario.name)
    assert sorted(sites["site_id"]) == sorted(by_file.sites["site_id"])

    # an input error names the table like a file
    bad = _postgis_scenario(server, data)
    bad["population"]["field"] = "people"
    with pytest.raises(InputError, match="no field 'people'") as err:
        facplan.run(scenario_from_dict(bad, base_dir=folder), cache=False)
    assert err.value.file == "postgis:city.population"
