"""The ``facplan`` console script: Ctrl-C while the command is still loading aborts quietly.

Kept free of imports so that nothing can be interrupted before the ``try``.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Load :mod:`facplan.cli` and run it (see :func:`facplan.cli.main`)."""
    try:
        from facplan.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("Aborted (Ctrl-C).\n")
        sys.exit(130)
    cli_main()
