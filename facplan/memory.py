"""A memory estimate before the heavy work, so a too-large scenario stops with a clear
message instead of being killed by the system half-way."""

from __future__ import annotations

import os
from pathlib import Path

from facplan._errors import InputError

__all__ = ["available_bytes", "estimate_bytes", "check_memory", "peak_rss_mb", "reset_peak_rss"]

#: Peak bytes of reading per byte of OSM PBF, graph included (measured: the 13 MB metro
#: extract → 0.54 GB with facplan.io.pbf, 42 bytes per byte), with headroom.
PBF_EXPANSION = 60
#: Bytes per population cell and per candidate through the pipeline (frames, leaves,
#: matrices, outputs), with headroom.
BYTES_PER_POINT = 5_000


def available_bytes() -> int | None:
    """Memory the system can still give (MemAvailable), or None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def estimate_bytes(network_file: Path | None, n_points: int) -> int:
    """A rough upper estimate of the run's peak memory in bytes."""
    size = os.path.getsize(network_file) if network_file is not None else 0
    return int(size * PBF_EXPANSION + n_points * BYTES_PER_POINT + 300e6)


def check_memory(network_file: Path | None, n_points: int, *, key: str = "network") -> None:
    """Raise when the estimate exceeds the memory available on this machine."""
    need = estimate_bytes(network_file, n_points)
    have = available_bytes()
    if have is not None and need > have:
        raise InputError(
            f"this scenario would need about {need / 1e9:.1f} GB of memory but only "
            f"{have / 1e9:.1f} GB is available; cut the network extract to the study area "
            "(osmium extract), or split the city across a cluster with `facplan batch`",
            file=str(network_file) if network_file else None, field=key,
        )


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory mark to its current resident memory
    (Linux: ``5`` into ``/proc/self/clear_refs``); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MB (2^20 bytes) since the start or the
    last :func:`reset_peak_rss` (``VmHWM``; ``ru_maxrss`` where /proc is absent)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        try:
            import resource

            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
        except (ImportError, OSError):
            return None
    return kb / 1024.0
