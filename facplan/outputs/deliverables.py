"""The planner deliverables of a run beside the core outputs: ``ledger.xlsx`` (and, in
the modules it calls, the report page and the rings), written into the run's folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from facplan.outputs.geojson import write_geojson

if TYPE_CHECKING:
    from facplan.result import Result

__all__ = ["write_deliverables"]


def write_deliverables(folder: Path, result: Result) -> None:
    """Write the deliverables of ``result`` into ``folder`` (the run's temporary folder)."""
    from facplan.outputs.ledger import write_ledger
    from facplan.outputs.report_html import write_report_html, write_report_pdf

    write_ledger(folder / "ledger.xlsx", result)
    if result.rings is not None:
        write_geojson(folder / "rings.geojson", result.rings)
    write_report_html(folder / "report.html", result)
    if result.scenario.report.pdf:
        write_report_pdf(folder / "report.html", folder / "report.pdf")
