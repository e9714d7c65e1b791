"""Shared fixtures: the real data folder and the synthetic grid city."""

from __future__ import annotations

from pathlib import Path

import pytest

from facplan.testing import grid_city

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/data is absent)")
    return path


@pytest.fixture
def city(tmp_path: Path) -> tuple[Path, dict]:
    """A synthetic grid city in ``tmp_path``: (folder, scenario dict)."""
    return tmp_path, grid_city(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _private_network_cache(tmp_path_factory):
    """Keep the tests' network cache out of the user's ~/.cache (CLI subprocesses
    inherit the variable)."""
    import os

    old = os.environ.get("FACPLAN_CACHE_DIR")
    os.environ["FACPLAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("facplan-cache"))
    yield
    if old is None:
        os.environ.pop("FACPLAN_CACHE_DIR", None)
    else:
        os.environ["FACPLAN_CACHE_DIR"] = old
