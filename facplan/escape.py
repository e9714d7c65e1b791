"""User text made safe for the medium it goes to, with nothing lost.

Names, ids, file names and scenario names come from the user's files. Each output medium
has its own active syntax, and text that happens to use it must show as itself:

- the console (rich): markup such as ``[/]`` or ``[bold]`` and ``:emoji:`` codes —
  :func:`console_text` returns a :class:`rich.text.Text`, which rich never parses;
- Markdown (``report.md``, ``compare.md``): emphasis, links, table pipes and raw HTML —
  :func:`md_text` backslash-escapes the punctuation and writes ``<`` (and an ``&`` that
  would start an entity) as an entity, so any CommonMark renderer shows the text and runs no HTML;
- CSV opened in a spreadsheet: a cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab
  or carriage return) is a formula — :func:`csv_cell` prefixes such text with ``'``
  (OWASP's advice: spreadsheets show the text, and the apostrophe is the only change).

HTML and JavaScript in the maps are escaped where the maps are built
(:mod:`facplan.outputs.map`).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "FORMULA_PREFIXES",
    "console_text",
    "csv_cell",
    "csv_safe",
    "js_json",
    "md_code",
    "md_text",
]

#: First characters that make a spreadsheet read a CSV cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: Markdown punctuation that can act mid-line (``_`` only where it could open or close
#: emphasis: unless a letter or digit is on both sides; ``sports_park`` stays as it is).
_MD_PUNCT = re.compile(r"([\\`*\[\]|~]|(?<![^\W_])_|_(?![^\W_]))")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_MD_LEAD_SPACE = re.compile(r"^[ \t]+")
_MD_BLOCK = re.compile(r"^(\d+(?=[.)])|)([.)]|[#>+\-=])")


def console_text(*parts: str | tuple[str, str]) -> Any:
    """A rich ``Text`` of ``parts`` (plain strings, or ``(text, style)`` pairs) that rich
    prints verbatim: no markup, no emoji codes."""
    from rich.text import Text

    return Text.assemble(*[(str(p[0]), p[1]) if isinstance(p, tuple) else str(p)
                           for p in parts])


def md_text(value: Any) -> str:
    """``value``'s text for a Markdown paragraph, heading or table cell.

    Markdown punctuation that could act is backslash-escaped, ``<`` (and an ``&`` that
    would start an entity) becomes an entity and line breaks become ``<br>``, so the
    rendered text equals the input (line breaks included) and no HTML of the input
    reaches the page.
    """
    s = "" if value is None else str(value)
    s = _MD_ENTITY.sub("&amp;", s).replace("<", "&lt;")
    s = _MD_PUNCT.sub(lambda m: "\\" + m.group(0), s)
    # what would start a block at the start of a line: heading, quote, list, rule, code
    s = _MD_LEAD_SPACE.sub(lambda m: "&#32;" * len(m.group(0)), s)
    s = _MD_BLOCK.sub(lambda m: m.group(1) + "\\" + m.group(2), s)
    return _NEWLINE.sub("<br>", s)


def md_code(value: Any) -> str:
    """``value`` as a Markdown code span (a fence longer than any backtick run inside)."""
    s = _NEWLINE.sub(" ", "" if value is None else str(value))
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or run else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def csv_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a
    formula; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe(df: Any) -> Any:
    """A copy of DataFrame ``df`` whose text cells pass :func:`csv_cell` (numbers are
    left alone: ``-3.5`` stays a number)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("string", "str"):
            out[col] = out[col].map(csv_cell)
    return out


def js_json(obj: Any) -> str:
    """``obj`` as JSON that is safe inside an HTML ``<script>``: ``<``, ``>``, ``&`` and
    the line separators U+2028/U+2029 are escaped, so no user text can close the script
    or start markup."""
    import json

    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(ch, rep)
    return s
