"""A YAML reader for files from users: plain data only, within limits, no duplicate keys.

``yaml.safe_load`` refuses Python tags but accepts three things that hurt: an alias bomb
(a few lines of anchors that expand into billions of values and hang whatever walks
them), a huge file (PyYAML's pure-Python reader takes minutes on tens of megabytes) and
a repeated key, whose last value silently wins (a second ``optimize:`` block replaces
the first). :func:`load_yaml` rejects all three with an :class:`InputError` that names
the file and the line, before anything is built from the document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from facplan._errors import InputError

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "load_yaml", "read_yaml"]

#: Largest YAML file read (a scenario is a few kilobytes).
MAX_BYTES = 5_000_000
#: Deepest nesting of lists and mappings.
MAX_DEPTH = 64
#: Most alias uses (``*name``) in one document.
MAX_ALIASES = 10_000
#: Most values in the document once every alias is expanded.
MAX_VALUES = 1_000_000

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, again: int) -> None:
        self.key, self.first, self.again = key, first, again


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader whose mappings refuse a key given twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *base' may be overridden by the keys beside it
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            line = key_node.start_mark.line + 1
            if first is not None:
                raise _DuplicateKey(key, first, line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Raise when the node graph nests too deep, uses too many aliases or expands into
    too many values (each node is visited once: shared nodes are aliases)."""
    size: dict[int, int] = {}
    aliases = 0
    # iterative post-order walk: (node, depth, children done)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    active: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(c)] for c in children)
            size[key] = total
            if total > MAX_VALUES:
                raise InputError(
                    f"not accepted YAML: its aliases expand into more than {MAX_VALUES:,} "
                    f"values (line {node.start_mark.line + 1}); write the values out or "
                    "use fewer aliases", file=source)
            continue
        if key in size or key in active:
            aliases += 1
            if key in active:
                raise InputError(f"not accepted YAML: a recursive alias at line "
                                 f"{node.start_mark.line + 1}", file=source)
            if aliases > MAX_ALIASES:
                raise InputError(
                    f"not accepted YAML: more than {MAX_ALIASES:,} alias uses "
                    f"(line {node.start_mark.line + 1})", file=source)
            continue
        if depth > MAX_DEPTH:
            raise InputError(
                f"not accepted YAML: nested more than {MAX_DEPTH} levels deep "
                f"(line {node.start_mark.line + 1})", file=source)
        active.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            stack.append((child, depth + 1, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def load_yaml(text: str, *, source: str) -> Any:
    """Parse YAML ``text`` (from ``source``, named in errors) into plain Python data.

    Raises
    ------
    InputError
        Not valid YAML (line and column), a Python or other unknown tag, a key given
        twice in one mapping (both lines), nesting deeper than :data:`MAX_DEPTH`, more
        than :data:`MAX_ALIASES` alias uses or more than :data:`MAX_VALUES` values once
        the aliases are expanded.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except _DuplicateKey as dup:
        raise InputError(
            f"key {dup.key!r} is given twice in one mapping (lines {dup.first} and "
            f"{dup.again}); YAML would silently keep only the last one", file=source,
        ) from None
    except yaml.constructor.ConstructorError as exc:
        raise InputError(
            f"not valid YAML{_mark(exc)}: YAML tags such as '!!python/...' are not allowed "
            f"({getattr(exc, 'problem', '')})", file=source,
        ) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"not valid YAML{_mark(exc)}: {problem}", file=source) from None
    except RecursionError:
        raise InputError(f"not accepted YAML: nested more than {MAX_DEPTH} levels deep",
                         file=source) from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> Any:
    """Read YAML file ``path`` with :func:`load_yaml`, refusing files over
    :data:`MAX_BYTES` before reading them.

    Raises
    ------
    InputError
        Missing, unreadable, not UTF-8, too large, or rejected by :func:`load_yaml`.
    """
    path = Path(path)
    try:
        nbytes = path.stat().st_size
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})", file=str(path)) from None
    if nbytes > MAX_BYTES:
        raise InputError(
            f"the YAML file is {nbytes / 1e6:,.1f} MB, more than the {MAX_BYTES / 1e6:,.0f} MB "
            "a scenario may have; put large data in a data file that the scenario names",
            file=str(path),
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file ({exc})", file=str(path)) from None
    return load_yaml(text, source=str(path))
