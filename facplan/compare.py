"""``facplan compare RUN_A RUN_B``: what changed between two runs.

Reads two output folders of ``facplan run`` and reports coverage per kind/tier and per
community (after each run's new sites) and the sites added and removed; optionally
writes ``compare.md``, ``compare.csv`` and a map of the differences.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from facplan._errors import InputError
from facplan.escape import csv_safe, md_text
from facplan.io.atomic import is_run_dir

__all__ = ["Comparison", "compare_runs"]


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
    """

    name_a: str
    name_b: str
    access: pd.DataFrame
    communities: pd.DataFrame
    added: gpd.GeoDataFrame
    removed: gpd.GeoDataFrame
    communities_geo: gpd.GeoDataFrame | None


def _load(run: Path) -> tuple[dict, gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    run = Path(run)
    if not is_run_dir(run) or not (run / "summary.json").exists():
        raise InputError("not a complete facplan run folder (no summary.json)", file=str(run))
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    sites = gpd.read_file(run / "sites.geojson")
    comm = gpd.read_file(run / "communities.geojson") if (run / "communities.geojson").exists() else None
    return summary, sites, comm


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
    key_a = set(zip(sites_a.get("site_id", []), sites_a.get("kind", []), sites_a.get("tier", []), strict=False))
    key_b = set(zip(sites_b.get("site_id", []), sites_b.get("kind", []), sites_b.get("tier", []), strict=False))

    def pick(sites: gpd.GeoDataFrame, keys: set) -> gpd.GeoDataFrame:
        if len(sites) == 0:
            return sites
        m = [(s, k, t) in keys for s, k, t in zip(sites["site_id"], sites["kind"], sites["tier"], strict=True)]
        return sites[m].sort_values(["kind", "tier", "site_id"]).reset_index(drop=True)

    return Comparison(
        name_a=sa["scenario"], name_b=sb["scenario"], access=access, communities=communities,
        added=pick(sites_b, key_b - key_a), removed=pick(sites_a, key_a - key_b),
        communities_geo=comm_b,
    )


def _pp(x: float) -> str:
    return "—" if x != x else f"{x * 100:+.1f} pp"


def comparison_markdown(c: Comparison) -> str:
    """The comparison as a Markdown report."""
    lines = [f"# {md_text(c.name_a)} → {md_text(c.name_b)}", "",
             "| kind/tier | A | B | change |", "|---|---|---|---|"]
    for _, r in c.access.iterrows():
        lines.append(f"| {md_text(r.kind_tier)} | {r.coverage_a:.1%} | {r.coverage_b:.1%} | "
                     f"{_pp(r.change)} |")
    lines += ["", f"Sites added ({len(c.added)}): "
              + ", ".join(map(md_text, c.added.get("site_id", []))),
              "", f"Sites removed ({len(c.removed)}): "
              + ", ".join(map(md_text, c.removed.get("site_id", [])))]
    if len(c.communities):
        lines += ["", "| community | kind/tier | A | B | change |", "|---|---|---|---|---|"]
        for _, r in c.communities.iterrows():
            lines.append(f"| {md_text(r['name'])} | {md_text(r.kind_tier)} | {r.coverage_a:.1%} | "
                         f"{r.coverage_b:.1%} | {_pp(r.change)} |")
    return "\n".join(lines) + "\n"


def write_comparison(c: Comparison, out: Path) -> None:
    """Write ``compare.md``, ``compare.csv`` and ``compare.html`` into ``out``."""
    import folium

    from facplan.outputs.map import write_map

    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(comparison_markdown(c), encoding="utf-8")
    table = pd.concat([c.access.assign(community_id="", name="(all)"), c.communities])
    csv_safe(table).to_csv(out / "compare.csv", index=False, float_format="%.4f")
    pts = pd.concat([c.added.geometry, c.removed.geometry]) if len(c.added) + len(c.removed) else None
    geo = c.communities_geo
    bounds = (geo.total_bounds if geo is not None else
              (pts.total_bounds if pts is not None else [0, 0, 0, 0]))
    m = folium.Map(tiles=None, control_scale=True)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    if geo is not None and len(c.communities):
        first = c.access["kind_tier"].iloc[0]
        ch = c.communities[c.communities["kind_tier"] == first].set_index("community_id")["change"]
        g = geo[["community_id", "name", "geometry"]].copy()
        g["name"] = g["name"].map(lambda s: html.escape(str(s)))
        g["change"] = g["community_id"].map(ch).fillna(0.0).round(4)
        folium.GeoJson(
            g.to_json(), name=f"Coverage change {first} 覆盖率变化",
            style_function=lambda f: {
                "fillColor": "#1a9850" if f["properties"]["change"] > 0 else
                ("#d73027" if f["properties"]["change"] < 0 else "#cccccc"),
                "color": "#333", "weight": 1, "fillOpacity": 0.5},
            tooltip=folium.GeoJsonTooltip(["name", "change"]),
        ).add_to(m)
    for sites, colour, label in ((c.added, "#1a9850", "Added 新增"), (c.removed, "#d73027", "Removed 移除")):
        fg = folium.FeatureGroup(name=f"Sites {label}")
        for _, r in sites.iterrows():
            p = r.geometry.representative_point()
            folium.CircleMarker(
                [p.y, p.x], radius=7, color=colour, fill=True, fill_opacity=0.9,
                popup=html.escape(f"{r['site_id']} ({r['kind']}/{r['tier']})"),
            ).add_to(fg)
        fg.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    write_map(out / "compare.html", m, assets="inline")
