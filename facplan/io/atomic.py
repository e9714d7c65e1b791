"""Atomic output folders: a run's files appear all at once or not at all.

Outputs are written into a hidden temporary folder beside ``DIR`` and swapped in with two
renames (``DIR`` → ``.DIR.facplan-old``, temporary → ``DIR``). A crash between the two
renames leaves both complete folders; the next start (:func:`recover`) finishes or undoes
the swap, so after any failure or kill ``DIR`` holds the earlier complete run or the new
complete run — never a mixture.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facplan._errors import InputError, check_interrupt

__all__ = ["MARKER", "atomic_output_dir", "check_output_dir", "recover", "is_run_dir"]

#: File that marks a folder as a complete facplan run.
MARKER = ".facplan-run"


def _tmp(final: Path) -> Path:
    return final.parent / f".{final.name}.facplan-tmp"


def _old(final: Path) -> Path:
    return final.parent / f".{final.name}.facplan-old"


def is_run_dir(path: Path) -> bool:
    """True when ``path`` is a complete facplan run folder."""
    return (path / MARKER).is_file()


def recover(final: Path) -> None:
    """Finish or undo a swap that a crash interrupted, and clear stale temporaries."""
    final, tmp, old = Path(final), _tmp(Path(final)), _old(Path(final))
    if not final.exists():
        if tmp.exists() and is_run_dir(tmp):
            os.replace(tmp, final)  # crash after the first rename: finish the swap
        elif old.exists():
            os.replace(old, final)  # new run incomplete: restore the earlier one
    if tmp.exists():
        shutil.rmtree(tmp)
    if old.exists() and final.exists():
        shutil.rmtree(old)


def check_output_dir(final: Path, *, force: bool = False) -> None:
    """Raise when ``final`` cannot take a run's outputs (a file, or a non-empty folder
    that is not a facplan run, unless ``force``)."""
    final = Path(final)
    if final.exists():
        if not final.is_dir():
            raise InputError("--out names a file, not a folder", file=str(final))
        if not force and not is_run_dir(final) and any(final.iterdir()):
            raise InputError(
                "--out is a non-empty folder that is not a facplan run; choose another "
                "folder or pass --force to replace it",
                file=str(final),
            )


@contextmanager
def atomic_output_dir(final: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``final`` atomically.

    Parameters
    ----------
    final
        The output folder the user named with ``--out``.
    force
        Allow replacing a non-empty folder that is not a facplan run.

    Raises
    ------
    InputError
        ``final`` is a file, or a non-empty folder that is not a facplan run (without
        ``force``).
    """
    final = Path(final).absolute()
    recover(final)
    check_output_dir(final, force=force)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(final)
    tmp.mkdir()
    try:
        yield tmp
        (tmp / MARKER).write_text("complete\n", encoding="utf-8")
        check_interrupt()  # a Ctrl-C that a C callback swallowed still stops the swap
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = _old(final)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)
