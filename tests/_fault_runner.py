"""Run the ``facplan`` command, stopping itself (SIGSTOP) at a named point.

Usage: ``python tests/_fault_runner.py POINT FD facplan-args...``

``POINT`` is ``none``, ``compute`` (as the pipeline starts, after the output lock is
taken), ``write`` (writing: summary.json written, the GeoJSON files not yet), ``swap`` (outputs complete, before the first rename of the swap) or ``mid-swap``
(between the two renames). At that point the process writes ``paused POINT\\n`` to file
descriptor ``FD`` (a pipe the test reads) and stops itself; the test resumes it with
SIGCONT or kills it. Sequencing by pipe and SIGSTOP, never by sleeping.
"""

from __future__ import annotations

import os
import signal
import sys


def _pause(point: str, fd: int) -> None:
    os.write(fd, f"paused {point}\n".encode())
    os.kill(os.getpid(), signal.SIGSTOP)


def main() -> None:
    point, fd = sys.argv[1], int(sys.argv[2])
    import facplan.io.atomic as atomic
    import facplan.pipeline as pipeline

    if point == "compute":
        real_run = pipeline.run

        def run(*args, **kwargs):
            _pause(point, fd)
            return real_run(*args, **kwargs)

        pipeline.run = run
    elif point == "write":
        import facplan.outputs.writer as writer

        real_write = writer.write_geojson

        def write_geojson(*args, **kwargs):
            _pause(point, fd)  # summary.json is in the temporary, demand.geojson not yet
            writer.write_geojson = real_write
            return real_write(*args, **kwargs)

        writer.write_geojson = write_geojson
    elif point in ("swap", "mid-swap"):
        real_rename = atomic._rename
        calls = []

        def rename(src, dst):
            calls.append(src)
            if point == "swap" and len(calls) == 1:
                _pause(point, fd)  # before the earlier run is moved aside
            if point == "mid-swap" and len(calls) == 2:
                _pause(point, fd)  # earlier run moved aside, the new one not yet in
            return real_rename(src, dst)

        atomic._rename = rename
    elif point != "none":
        raise SystemExit(f"unknown pause point {point!r}")
    from facplan.cli import main as cli_main

    sys.argv = ["facplan", *sys.argv[3:]]
    cli_main()


if __name__ == "__main__":
    main()
