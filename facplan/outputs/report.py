"""``report.md`` and ``coverage_curve.png``: a readable summary of one run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from facplan.pipeline import Result

__all__ = ["coverage_curves", "write_coverage_plot", "write_report"]


def coverage_curves(result: Result) -> list[dict]:
    """Population covered against the number of new sites, per optimize entry.

    The k-th point is the coverage after the first k sites in rank order (the greedy pass
    over the chosen set), so the last point equals ``covered_after``.

    Returns
    -------
    list of dict
        ``label``, ``sites`` (0..n), ``covered`` (people), ``cost`` (cumulative).
    """
    curves = []
    sites = result.sites
    for i, o in enumerate(result.summary["optimize"]):
        rows = sites[sites["optimize"] == i].sort_values("rank") if len(sites) else sites
        gains = rows["marginal_population"].to_numpy(dtype=float) if len(rows) else np.zeros(0)
        costs = rows["cost"].to_numpy(dtype=float) if len(rows) else np.zeros(0)
        curves.append(
            {
                "label": f"{o['kind']}/{o['tier']} ({o['model']})",
                "sites": list(range(len(gains) + 1)),
                "covered": [o["covered_before"], *(o["covered_before"] + np.cumsum(gains))],
                "cost": [0.0, *np.cumsum(np.nan_to_num(costs))],
            }
        )
    return curves


def write_coverage_plot(path: Path, result: Result) -> None:
    """Plot covered population against the number of new sites (one line per entry)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    total = result.summary["population_total"]
    for c in coverage_curves(result):
        ax.plot(c["sites"], c["covered"], marker="o", label=c["label"])
    ax.set_xlabel("new sites (in rank order)")
    ax.set_ylabel("people within the walking standard")
    ax.set_title(f"{result.summary['scenario']}: coverage curve (population {total:,.0f})")
    ax.grid(alpha=0.3)
    if result.summary["optimize"]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _pct(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.1%}"


def write_report(path: Path, result: Result) -> None:
    """Write ``report.md``: inputs, coverage before/after, chosen sites, communities."""
    s = result.summary
    lines = [
        f"# {s['scenario']}",
        "",
        f"- CRS: {s['crs']}; population {s['population_total']:,.0f} in {s['cells']:,} cells",
        f"- walking network: {s['network']['nodes']:,} nodes, {s['network']['edges']:,} edges",
        "",
        "## Inputs",
        "",
        "| key | file | sha256 |",
        "|---|---|---|",
    ]
    for key, f in s["inputs"].items():
        lines.append(f"| {key} | `{Path(f['path']).name}` | `{f['sha256'][:12]}` |")
    lines += [
        "",
        "## Coverage",
        "",
        "| kind/tier | threshold | covered before | after | mean distance | unreachable |",
        "|---|---|---|---|---|---|",
    ]
    for key, a in s["access"].items():
        after = a.get("after", {})
        lines.append(
            f"| {key} | {a['threshold_m']:.0f} m | {_pct(a['coverage'])} | "
            f"{_pct(after.get('coverage'))} | {a['mean_m']:.0f} m | "
            f"{a['unreachable_population']:,.0f} |"
        )
    lines += ["", "## New sites", ""]
    for o in s["optimize"]:
        lines.append(
            f"- **{o['kind']}/{o['tier']}** ({o['model']}): {len(o['selected'])} sites, "
            f"+{o['objective']:,.0f} people, bound {o['bound']:,.0f}, gap {o['gap']:.2%}"
        )
    if len(result.sites):
        lines += ["", "| rank | site | kind/tier | people gained | cost | community |",
                  "|---|---|---|---|---|---|"]
        for _, r in result.sites.sort_values(["optimize", "rank"]).iterrows():
            lines.append(
                f"| {r['rank']} | {r['site_id']} | {r['kind']}/{r['tier']} | "
                f"{r['marginal_population']:,.0f} | {r['cost']:,.0f} | {r['community_id'] or ''} |"
            )
    if result.communities is not None:
        cols = [c for c in result.communities.columns if c.startswith("coverage_")]
        lines += ["", "## Communities", "",
                  "| community | population | " + " | ".join(cols) + " | gaps |",
                  "|---|---|" + "---|" * len(cols) + "---|"]
        for _, r in result.communities.iterrows():
            cells = " | ".join(_pct(r[c]) for c in cols)
            lines.append(
                f"| {r['name']} ({r['community_id']}) | {r['population']:,.0f} | {cells} | "
                f"{r['gaps']} |"
            )
    if s["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in s["warnings"]]
    lines += ["", "![coverage curve](coverage_curve.png)", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
