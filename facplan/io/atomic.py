"""Atomic output folders: a run's files appear all at once or not at all.

Outputs are written into a hidden temporary folder beside ``DIR`` whose name is unique to
the run (``.DIR.facplan-tmp-<pid>-<random>``) and swapped in with two renames (``DIR`` →
``.DIR.facplan-old``, temporary → ``DIR``). A crash between the two renames leaves both
complete folders; the next start (:func:`recover`) finishes or undoes the swap, so after
any failure or kill ``DIR`` holds the earlier complete run or the new complete run —
never a mixture.

One writer per output folder (DESIGN, *One writer per output folder*): a run holds an
exclusive lock (``flock`` on ``.DIR.facplan-lock`` beside ``DIR``) from its start to its
swap; a second run into the same ``DIR`` stops at once with an :class:`InputError` and
touches nothing. The kernel drops the lock of a killed run, so a kill never leaves the
folder locked. ``DIR`` may be a symbolic link: the run is written beside the folder it
points to and swapped in there, so the link stays a link to the new complete run.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facplan._errors import InputError, check_interrupt

__all__ = [
    "MARKER",
    "atomic_output_dir",
    "check_output_dir",
    "disk_error",
    "is_run_dir",
    "output_lock",
    "recover",
    "resolve_out",
]

#: File that marks a folder as a complete facplan run.
MARKER = ".facplan-run"

#: errno values that mean "the output disk cannot take the files".
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                errno.EPERM}

#: Locks this process holds, by (resolved output folder, thread): ``[fd, lock path, depth]``.
#: Re-entry is per thread: another thread of the same process is a second writer (its own
#: ``flock`` on another open file conflicts) and is refused like another process.
_HELD: dict[tuple[Path, int], list] = {}


def _tmp_prefix(final: Path) -> str:
    return f".{final.name}.facplan-tmp"


def _new_tmp(final: Path) -> Path:
    return final.parent / f"{_tmp_prefix(final)}-{os.getpid()}-{secrets.token_hex(4)}"


def _tmps(final: Path) -> list[Path]:
    """Every temporary of ``final`` (this version's unique names and the older fixed one)."""
    prefix = _tmp_prefix(final)
    if not final.parent.is_dir():
        return []
    return sorted(p for p in final.parent.iterdir()
                  if p.name == prefix or p.name.startswith(prefix + "-"))


def _old(final: Path) -> Path:
    return final.parent / f".{final.name}.facplan-old"


def _lock_path(final: Path) -> Path:
    return final.parent / f".{final.name}.facplan-lock"


def _rename(src: Path, dst: Path) -> None:
    """One step of the swap (a function of its own so fault tests can stop between)."""
    os.replace(src, dst)


def resolve_out(final: str | Path) -> Path:
    """The real output folder behind ``final``: absolute, with a symbolic link at
    ``final`` itself followed (to a folder that may not exist yet).

    Raises
    ------
    InputError
        The link loops.
    """
    final = Path(final).absolute()
    if final.is_symlink():
        try:
            final = final.resolve(strict=False)
        except (RuntimeError, OSError) as exc:
            raise InputError(f"--out is a symbolic link that cannot be followed ({exc})",
                             file=str(final)) from None
    return final


def disk_error(exc: OSError, folder: Path) -> InputError:
    """The one message for an output disk that is full, read-only or refuses a file."""
    what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
            errno.EFBIG: "a file is larger than this system allows",
            errno.EROFS: "the disk is read-only"}.get(
        exc.errno, "the folder is not writable")
    return InputError(
        f"cannot write the outputs: {what} ({exc.strerror}); nothing was replaced",
        file=str(folder),
    )


def is_run_dir(path: Path) -> bool:
    """True when ``path`` is a complete facplan run folder."""
    return (path / MARKER).is_file()


def recover(final: Path) -> None:
    """Finish or undo a swap that a crash interrupted, and clear stale temporaries.

    Call it only while holding :func:`output_lock` on ``final`` (or when no run can be
    writing): every temporary it finds then belongs to a run that is gone.
    """
    final = resolve_out(final)
    old, tmps = _old(final), _tmps(final)
    if not final.exists():
        done = [t for t in tmps if is_run_dir(t)]
        if done:  # crash after the first rename: finish the swap (the newest run)
            newest = max(done, key=lambda t: (t / MARKER).stat().st_mtime_ns)
            os.replace(newest, final)
        elif old.exists():
            os.replace(old, final)  # new run incomplete: restore the earlier one
    for t in _tmps(final):
        shutil.rmtree(t, ignore_errors=True)
    if old.exists() and final.exists():
        shutil.rmtree(old)


def check_output_dir(final: Path, *, force: bool = False) -> None:
    """Raise when ``final`` cannot take a run's outputs (a file, or a non-empty folder
    that is not a facplan run, unless ``force``)."""
    final = resolve_out(final)
    if final.exists():
        if not final.is_dir():
            raise InputError("--out names a file, not a folder", file=str(final))
        if not force and not is_run_dir(final) and any(final.iterdir()):
            raise InputError(
                "--out is a non-empty folder that is not a facplan run; choose another "
                "folder or pass --force to replace it",
                file=str(final),
            )


def _acquire(final: Path) -> tuple[int, Path]:
    lock = _lock_path(final)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(
                "another facplan run is writing into this folder; wait for it to finish "
                "or choose another --out (nothing was changed)",
                file=str(final),
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, lock
        os.close(fd)  # the holder removed the file while we waited on it: take the new one


@contextmanager
def output_lock(final: str | Path) -> Iterator[Path]:
    """Hold the one-writer lock of output folder ``final``; yield the real folder.

    Re-entrant within one thread. On entry the parent folder is created, its disk is
    checked for writability, and a swap that a killed run left half done is finished
    or undone (:func:`recover`).

    Raises
    ------
    InputError
        Another run holds the lock, or the output disk is not writable.
    """
    real = resolve_out(final)
    me = (real, threading.get_ident())
    held = _HELD.get(me)
    if held is not None:
        held[2] += 1
        try:
            yield real
        finally:
            held[2] -= 1
        return
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, lock = _acquire(real)
    except OSError as exc:
        if exc.errno in _DISK_ERRNOS:
            raise disk_error(exc, real.parent) from None
        raise
    _HELD[me] = [fd, lock, 1]
    try:
        try:
            recover(real)
            _probe(real.parent)
        except OSError as exc:
            if exc.errno in _DISK_ERRNOS:
                raise disk_error(exc, real.parent) from None
            raise
        yield real
    finally:
        del _HELD[me]
        try:
            os.unlink(lock)  # while still holding it: a waiting run retries on the new file
        except OSError:
            pass
        os.close(fd)


def _probe(folder: Path) -> None:
    """Raise ``OSError`` unless ``folder``'s disk takes a small file."""
    probe = folder / f".facplan-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    finally:
        try:
            probe.unlink()
        except FileNotFoundError:
            pass


@contextmanager
def atomic_output_dir(final: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``final`` atomically.

    Takes (or re-enters) :func:`output_lock` on ``final`` for the whole write.

    Parameters
    ----------
    final
        The output folder the user named with ``--out`` (a symbolic link is followed
        and stays a link).
    force
        Allow replacing a non-empty folder that is not a facplan run.

    Raises
    ------
    InputError
        ``final`` is a file, or a non-empty folder that is not a facplan run (without
        ``force``); another run is writing into it; its disk is full or read-only.
    """
    with output_lock(final) as real:
        check_output_dir(real, force=force)
        tmp = _new_tmp(real)
        try:
            tmp.mkdir()
            yield tmp
            (tmp / MARKER).write_text("complete\n", encoding="utf-8")
            check_interrupt()  # a Ctrl-C that a C callback swallowed still stops the swap
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
                raise disk_error(exc, real) from exc
            raise
        old = _old(real)
        if real.exists():
            _rename(real, old)
        _rename(tmp, real)
        if old.exists():
            shutil.rmtree(old)
