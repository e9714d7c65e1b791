"""Errors and warnings that users see.

`InputError` is raised for inputs that cannot be right (DESIGN, *Semantics*): the
message names the file, the key or field and the offending rows. The CLI prints it as
one line and exits with code 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "InputError",
    "FacplanWarning",
    "caused_by_interrupt",
    "catch_sigint",
    "check_interrupt",
    "format_rows",
]

#: Set by the SIGINT handler of :func:`catch_sigint`: a Ctrl-C arrived.
_interrupted = False


def format_rows(rows: Sequence[object], *, limit: int = 5, word: str = "row") -> str:
    """Return ``"rows 3, 7, 9"`` or ``"rows 3, 7, 9, 11, 12 and 40 more"`` (``word``
    names what is listed: rows, or ids)."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = len(rows) - limit
    word = word if len(rows) == 1 else f"{word}s"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


def caused_by_interrupt(exc: BaseException | None) -> bool:
    """True when ``exc`` is Ctrl-C (``KeyboardInterrupt``) or was caused by it.

    A Ctrl-C that lands while numba loads a compiled function surfaces as a
    ``SystemError`` whose cause is the ``KeyboardInterrupt``; code that catches errors
    must let it through as an interruption, not report it as a failure.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class InputError(ValueError):
    """An input that cannot be right.

    Parameters
    ----------
    message
        What is wrong and, where useful, what to do about it.
    file
        The file (or scenario key for inline values) at fault.
    field
        The scenario key or data field at fault.
    rows
        Offending rows as 1-based row numbers of the file (the first feature is row 1),
        as a spreadsheet or QGIS's attribute table counts them.
    ids
        Offending features by id, where ids say more than rows (duplicates across
        files, community totals keyed by id).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        field: str | None = None,
        rows: Sequence[int] | None = None,
        ids: Sequence[object] | None = None,
    ) -> None:
        self.file = file
        self.field = field
        self.rows = list(rows) if rows is not None else None
        self.ids = list(ids) if ids is not None else None
        parts = []
        if file:
            parts.append(str(file))
        if field:
            parts.append(f"field '{field}'")
        if self.rows:
            parts.append(format_rows(self.rows))
        if self.ids:
            parts.append(format_rows([repr(str(i)) for i in self.ids], word="id"))
        prefix = ": ".join([", ".join(parts)]) if parts else ""
        self.message = message
        super().__init__(f"{prefix}: {message}" if prefix else message)

    @classmethod
    def many(
        cls, problems: Sequence[str], *, file: str | None = None, what: str = ""
    ) -> InputError:
        """One error for several problems: the problem itself when there is one, else
        ``"N problems:"`` and one ``"  - problem"`` line each.

        Parameters
        ----------
        problems
            The messages, each whole (naming its key, field and rows).
        file
            The file they all belong to, if one.
        what
            Words before the count, e.g. ``"no scenario could be loaded"`` gives
            ``"no scenario could be loaded (3 problems):"``.
        """
        problems = list(problems)
        if not problems:
            raise ValueError("InputError.many needs at least one problem")
        if len(problems) == 1 and not what:
            return cls(problems[0], file=file)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        head = f"{what} ({count}):" if what else f"{count}:"
        return cls(head + "\n  - " + "\n  - ".join(problems), file=file)


class FacplanWarning(UserWarning):
    """A partial problem that real data always has; the run completes and counts it."""


def _on_sigint(signum: int, frame: object) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def catch_sigint() -> None:
    """Remember every Ctrl-C, besides raising ``KeyboardInterrupt`` as Python does.

    A ``KeyboardInterrupt`` raised while a C library calls back into Python (numba's
    compiler notifying its cache through ctypes, for one) is printed and dropped by the
    interpreter, so the run would go on as if nothing happened. The command installs this
    handler; :func:`check_interrupt` before an irreversible step (swapping an output
    folder in) then stops the run all the same. The interpreter's report of the dropped
    interrupt (a traceback on stderr) is silenced; other unraisable errors still print.
    """
    import signal
    import sys

    signal.signal(signal.SIGINT, _on_sigint)
    default_hook = sys.unraisablehook

    def quiet_interrupts(unraisable: Any) -> None:
        # the interpreter reports the dropped KeyboardInterrupt with a traceback; it is
        # remembered above and stops the run at check_interrupt(), so say nothing here
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        default_hook(unraisable)

    sys.unraisablehook = quiet_interrupts


def check_interrupt() -> None:
    """Raise ``KeyboardInterrupt`` when a Ctrl-C arrived since :func:`catch_sigint`,
    even one that a C callback swallowed."""
    if _interrupted:
        raise KeyboardInterrupt
