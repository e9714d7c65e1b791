"""Readers and writers: every input enters facplan through here, validated.

Readers return GeoDataFrames with documented columns, or raise
:class:`~facplan.InputError` naming the file, field and rows at fault. Row numbers in
messages count from 1 (the first feature or the first line after a CSV header).
"""

from facplan.io.crs import choose_crs, to_projected
from facplan.io.places import read_candidates, read_communities, read_facilities
from facplan.io.population import read_population
from facplan.io.vector import read_vector

__all__ = [
    "choose_crs",
    "to_projected",
    "read_vector",
    "read_population",
    "read_communities",
    "read_facilities",
    "read_candidates",
]
