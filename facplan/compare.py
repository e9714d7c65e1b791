"""``facplan compare RUN_A RUN_B``: what changed between two runs.

Reads two output folders of ``facplan run`` and reports coverage per kind/tier and per
community (after each run's new sites) and the sites added and removed; optionally
writes ``compare.md``, ``compare.csv`` and a map of the differences.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from branca.element import Element, MacroElement

from facplan._errors import InputError
from facplan.escape import csv_safe, md_text
from facplan.io.atomic import is_run_dir

__all__ = ["Comparison", "compare_runs", "comparison_markdown", "pct", "pp",
           "write_comparison"]


@dataclass
class Comparison:
    """Differences between run A and run B.

    Attributes
    ----------
    access
        One row per kind/tier: ``kind_tier``, ``coverage_a``, ``coverage_b``, ``change``
        (fractions, coverage after each run's new sites).
    communities
        One row per community and kind/tier: ``community_id``, ``name``, ``kind_tier``,
        ``coverage_a``, ``coverage_b``, ``change``.
    added, removed
        Sites chosen in B but not A, and in A but not B (``site_id``, ``kind``, ``tier``).
        A site chosen in both runs for the same kind but another tier is in neither.
    moved
        Sites chosen in both runs for the same kind but for another tier: ``site_id``,
        ``kind``, ``tier_a``, ``tier_b`` (and B's geometry).
    """

    name_a: str
    name_b: str
    access: pd.DataFrame
    communities: pd.DataFrame
    added: gpd.GeoDataFrame
    removed: gpd.GeoDataFrame
    communities_geo: gpd.GeoDataFrame | None
    moved: gpd.GeoDataFrame = dataclasses.field(default_factory=gpd.GeoDataFrame)


def _load(run: Path) -> tuple[dict, gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    run = Path(run)
    if not is_run_dir(run) or not (run / "summary.json").exists():
        raise InputError("not a complete facplan run folder (no summary.json)", file=str(run))
    path = run / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"summary.json cannot be read ({exc}); run the scenario again",
                         file=str(path)) from None
    problems = _summary_problems(summary)
    if problems:
        raise InputError(f"summary.json is damaged: {'; '.join(problems)}; run the "
                         "scenario again", file=str(path))
    layers = []
    for name in ("sites.geojson", "communities.geojson"):
        f = run / name
        if name == "communities.geojson" and not f.exists():
            layers.append(None)
            continue
        try:
            layers.append(gpd.read_file(f))
        except Exception as exc:  # pyogrio/fiona raise their own types for a broken file
            raise InputError(f"cannot read {name} ({exc}); run the scenario again",
                             file=str(f)) from None
    sites, comm = layers
    if len(sites) and not {"site_id", "kind", "tier"} <= set(sites.columns):
        raise InputError("sites.geojson lacks site_id, kind or tier", file=str(run / "sites.geojson"))
    return summary, sites, comm


def _summary_problems(summary: Any) -> list[str]:
    if not isinstance(summary, dict):
        return ["not a JSON object"]
    problems = []
    if not isinstance(summary.get("scenario"), str):
        problems.append("no 'scenario' name")
    access = summary.get("access")
    if not isinstance(access, dict):
        return [*problems, "no 'access' table"]
    for key, a in access.items():
        ok = isinstance(a, dict) and isinstance(a.get("coverage"), int | float) and (
            "after" not in a or isinstance(a["after"], dict))
        if not ok:
            problems.append(f"access '{key}' has no coverage")
    return problems


def _after(a: dict) -> float:
    return a.get("after", {}).get("coverage", a["coverage"])


def compare_runs(run_a: str | Path, run_b: str | Path) -> Comparison:
    """Compare two run folders (see module docstring)."""
    sa, sites_a, comm_a = _load(Path(run_a))
    sb, sites_b, comm_b = _load(Path(run_b))
    keys = sorted(set(sa["access"]) | set(sb["access"]))
    rows = []
    for k in keys:
        ca = _after(sa["access"][k]) if k in sa["access"] else float("nan")
        cb = _after(sb["access"][k]) if k in sb["access"] else float("nan")
        rows.append({"kind_tier": k, "coverage_a": ca, "coverage_b": cb, "change": cb - ca})
    access = pd.DataFrame(rows, columns=["kind_tier", "coverage_a", "coverage_b", "change"])

    crow = []
    if comm_a is not None and comm_b is not None:
        a = comm_a.set_index("community_id")
        b = comm_b.set_index("community_id")
        for k in keys:
            col = "coverage_" + k.replace("/", "_") + "_after"
            for cid in sorted(set(a.index) | set(b.index)):
                va = a[col].get(cid, float("nan")) if col in a else float("nan")
                vb = b[col].get(cid, float("nan")) if col in b else float("nan")
                name = b["name"].get(cid) if cid in b.index else a["name"].get(cid)
                crow.append({"community_id": cid, "name": name, "kind_tier": k,
                             "coverage_a": va, "coverage_b": vb, "change": vb - va})
    communities = pd.DataFrame(
        crow, columns=["community_id", "name", "kind_tier", "coverage_a", "coverage_b", "change"]
    )
    key_a = _keys(sites_a)
    key_b = _keys(sites_b)
    # the same site for the same kind in both runs, another tier: moved, not added+removed
    tiers_a: dict[tuple, set] = {}
    tiers_b: dict[tuple, set] = {}
    for s_, k, t in key_a - key_b:
        tiers_a.setdefault((s_, k), set()).add(t)
    for s_, k, t in key_b - key_a:
        tiers_b.setdefault((s_, k), set()).add(t)
    moves = []
    for sk in sorted(set(tiers_a) & set(tiers_b), key=str):
        for ta, tb in zip(sorted(tiers_a[sk], key=str), sorted(tiers_b[sk], key=str),
                          strict=False):
            moves.append((*sk, ta, tb))
    moved_a = {(s_, k, ta) for s_, k, ta, _ in moves}
    moved_b = {(s_, k, tb) for s_, k, _, tb in moves}

    def pick(sites: gpd.GeoDataFrame, keys: set) -> gpd.GeoDataFrame:
        if len(sites) == 0:
            return sites
        m = [(s, k, t) in keys for s, k, t in zip(sites["site_id"], sites["kind"], sites["tier"], strict=True)]
        return sites[m].sort_values(["kind", "tier", "site_id"]).reset_index(drop=True)

    geom_b = pick(sites_b, moved_b)
    where = {(r.site_id, r.kind, r.tier): r.geometry for r in geom_b.itertuples()}
    moved = gpd.GeoDataFrame(
        [{"site_id": s_, "kind": k, "tier_a": ta, "tier_b": tb} for s_, k, ta, tb in moves],
        columns=["site_id", "kind", "tier_a", "tier_b"],
        geometry=[where[(s_, k, tb)] for s_, k, _, tb in moves],
        crs=sites_b.crs if len(sites_b) else "EPSG:4326",
    )
    return Comparison(
        name_a=sa["scenario"], name_b=sb["scenario"], access=access, communities=communities,
        added=pick(sites_b, key_b - key_a - moved_b), removed=pick(sites_a, key_a - key_b - moved_a),
        communities_geo=comm_b, moved=moved,
    )


def _keys(sites: gpd.GeoDataFrame) -> set[tuple]:
    if len(sites) == 0:
        return set()
    return set(zip(sites["site_id"], sites["kind"], sites["tier"], strict=True))


def pct(x: float) -> str:
    """A fraction as a percentage, or ``–`` when it is missing (a kind/tier or a
    community that only one run has)."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def pp(x: float) -> str:
    """A change of fractions in percentage points, or ``–`` when a side is missing."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:+.1f} pp"


def comparison_markdown(c: Comparison) -> str:
    """The comparison as a Markdown report."""
    lines = [f"# {md_text(c.name_a)} → {md_text(c.name_b)}", "",
             "| kind/tier | A | B | change |", "|---|---|---|---|"]
    for _, r in c.access.iterrows():
        lines.append(f"| {md_text(r.kind_tier)} | {pct(r.coverage_a)} | {pct(r.coverage_b)} | "
                     f"{pp(r.change)} |")
    lines += ["", f"Sites added ({len(c.added)}): "
              + ", ".join(map(md_text, c.added.get("site_id", []))),
              "", f"Sites removed ({len(c.removed)}): "
              + ", ".join(map(md_text, c.removed.get("site_id", []))),
              "", f"Sites that moved tier ({len(c.moved)}): "
              + ", ".join(f"{md_text(r.site_id)} ({md_text(r.kind)} {md_text(r.tier_a)} → "
                          f"{md_text(r.tier_b)})" for r in c.moved.itertuples())]
    if len(c.communities):
        lines += ["", "| community | kind/tier | A | B | change |", "|---|---|---|---|---|"]
        for _, r in c.communities.iterrows():
            lines.append(f"| {md_text(r['name'])} | {md_text(r.kind_tier)} | "
                         f"{pct(r.coverage_a)} | {pct(r.coverage_b)} | {pp(r.change)} |")
    return "\n".join(lines) + "\n"


def write_comparison(c: Comparison, out: Path) -> None:
    """Write ``compare.md``, ``compare.csv`` and ``compare.html`` into ``out``.

    Raises
    ------
    InputError
        ``out`` is a file, or its disk cannot take the files.
    """
    from facplan.io.atomic import disk_error

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("--out names a file, not a folder", file=str(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(comparison_markdown(c), encoding="utf-8")
        table = pd.concat([c.access.assign(community_id="", name="(all)"), c.communities])
        csv_safe(table).to_csv(out / "compare.csv", index=False, float_format="%.4f")
        (out / "compare.html").write_text(comparison_map_html(c), encoding="utf-8")
    except OSError as exc:
        raise disk_error(exc, out) from None


_LAYER_JS = """
(function () {
  var map = __MAP__, D = __DATA__;
  function box(lines) {  // text nodes only: user text never becomes markup
    var d = document.createElement("div");
    lines.forEach(function (t, i) {
      if (i) d.appendChild(document.createElement("br"));
      var e = document.createElement(i ? "span" : "b");
      e.textContent = t;
      d.appendChild(e);
    });
    return d;
  }
  var overlays = {};
  D.views.forEach(function (v, k) {
    var lyr = L.geoJSON(D.communities, {style: function (f) {
      var ch = v.change[f.properties.i];
      return {fillColor: ch > 0 ? "#1a9850" : (ch < 0 ? "#d73027" : "#cccccc"),
              color: "#333", weight: 1, fillOpacity: 0.5};
    }});
    lyr.bindTooltip(function (l) {
      var i = l.feature.properties.i;
      return box([D.names[i], v.label + ": " + v.text[i]]);
    }, {sticky: true});
    overlays[v.name] = lyr;
    if (k === 0) lyr.addTo(map);
  });
  D.groups.forEach(function (g) {
    var fg = L.featureGroup();
    g.sites.forEach(function (s) {
      L.circleMarker([s[0], s[1]], {radius: 7, color: g.colour, fill: true,
        fillOpacity: 0.9, className: "fp-cmp-site"}).bindPopup(box(s[2])).addTo(fg);
    });
    fg.addTo(map);
    overlays[g.name] = fg;
  });
  L.control.layers(null, overlays, {collapsed: false}).addTo(map);
})();
"""


def _script_json(obj: Any) -> str:
    """JSON that is safe inside ``<script>`` (no ``</script>``, no comment openers)."""
    return (json.dumps(obj, ensure_ascii=False, allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _compare_data(c: Comparison) -> dict[str, Any]:
    import html

    data: dict[str, Any] = {"communities": {"type": "FeatureCollection", "features": []},
                            "names": [], "views": [], "groups": []}
    geo = c.communities_geo
    if geo is not None and len(c.communities):
        g = geo.to_crs(4326) if geo.crs is not None else geo
        feats = json.loads(g[["geometry"]].to_json())["features"]
        for i, f in enumerate(feats):
            f["properties"] = {"i": i}
        data["communities"]["features"] = feats
        data["names"] = [str(n) for n in g["name"]]
        for kt in c.access["kind_tier"]:
            ch = c.communities[c.communities["kind_tier"] == kt].set_index("community_id")["change"]
            values = [ch.get(cid, float("nan")) for cid in g["community_id"]]
            data["views"].append({
                "name": html.escape(f"Coverage change {kt} 覆盖率变化"),  # innerHTML in Leaflet
                "label": str(kt),
                "change": [0.0 if math.isnan(v) else round(float(v), 6) for v in values],
                "text": [pp(v) for v in values],
            })

    def points(sites: gpd.GeoDataFrame) -> list[tuple[float, float]]:
        if len(sites) == 0:
            return []
        pts = (sites.to_crs(4326) if sites.crs is not None else sites).geometry
        return [(p.y, p.x) for p in pts.representative_point()]

    for sites, colour, label in ((c.added, "#1a9850", "Added 新增"),
                                 (c.removed, "#d73027", "Removed 移除")):
        data["groups"].append({"name": f"Sites {label}", "colour": colour, "sites": [
            [lat, lon, [str(r.site_id), f"{r.kind}/{r.tier}", label]]
            for (lat, lon), r in zip(points(sites), sites.itertuples(), strict=True)]})
    data["groups"].append({"name": "Sites moved tier 改变层级", "colour": "#7b3294", "sites": [
        [lat, lon, [str(r.site_id), f"{r.kind}: {r.tier_a} → {r.tier_b}", "Moved tier 改变层级"]]
        for (lat, lon), r in zip(points(c.moved), c.moved.itertuples(), strict=True)]})
    return data


def comparison_map_html(c: Comparison) -> str:
    """``compare.html``: one self-contained page (Leaflet inlined, no jQuery or other
    library, nothing fetched) with the coverage change per community for each
    kind/tier and the sites added, removed and moved between tiers."""
    import folium

    from facplan.outputs.map import render_map

    data = _compare_data(c)

    class Layers(MacroElement):
        def render(self, **kwargs: Any) -> None:
            js = _LAYER_JS.replace("__MAP__", self._parent.get_name())
            script = self.get_root().script
            script.add_child(_Raw(js.replace("__DATA__", _script_json(data))),
                             name=self.get_name())

    lats = [s[0] for g in data["groups"] for s in g["sites"]]
    lons = [s[1] for g in data["groups"] for s in g["sites"]]
    geo = c.communities_geo
    if geo is not None and len(geo):
        x0, y0, x1, y1 = (geo.to_crs(4326) if geo.crs is not None else geo).total_bounds
        lats, lons = [*lats, y0, y1], [*lons, x0, x1]
    m = folium.Map(tiles=None, control_scale=True)
    if lats:
        m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])
    m.add_child(Layers())
    return render_map(m, assets="inline")


class _Raw(Element):
    """Page text that branca renders as it is (no Jinja parsing of user text)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        """The text."""
        return self._text
