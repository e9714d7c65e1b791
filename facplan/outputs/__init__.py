"""Outputs: GeoJSON/CSV tables, summary.json and the interactive map."""

from facplan.outputs.geojson import write_csv, write_geojson, write_json

__all__ = ["write_geojson", "write_csv", "write_json"]
