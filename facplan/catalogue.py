"""The facility catalogue of the 5/10/15-minute life circles (filled in below)."""

from __future__ import annotations

__all__ = ["CATALOGUE_NAMES"]

#: kind -> (English, Chinese) name.
CATALOGUE_NAMES: dict[str, tuple[str, str]] = {}
