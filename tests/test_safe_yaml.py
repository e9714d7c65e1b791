"""The YAML reader for scenarios and batches: limits on aliases, size and depth, and no
duplicate keys (each refused with the file and the line)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

import facplan
from facplan import InputError
from facplan.batch import load_runs
from facplan.safe_yaml import MAX_BYTES, MAX_DEPTH, load_yaml
from facplan.testing import grid_city, write_scenario

ROOT = Path(__file__).resolve().parents[1]


def _bomb(levels: int = 9) -> str:
    """The "billion laughs": ``levels`` anchors, each a list of nine of the previous."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def city(tmp_path) -> tuple[Path, str]:
    """A valid scenario's YAML text in ``tmp_path``."""
    data = grid_city(tmp_path)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    facplan.load_scenario(write_scenario(tmp_path, data))  # valid as it is
    return tmp_path, text


def _write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_alias_bomb_is_refused_at_once(city):
    """9⁹ ≈ 387 million values from 10 lines: refused by name, in a subprocess that
    would otherwise hang (today's reader takes minutes in ``validate``)."""
    folder, text = city
    path = _write(folder, text.replace("map:", _indent_bomb() + "map:", 1))
    r = subprocess.run(
        [sys.executable, "-m", "facplan.cli", "validate", str(path)], capture_output=True,
        text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert r.returncode == 2, r.stderr
    assert "aliases expand into more than" in r.stderr and str(path) in r.stderr
    assert "Traceback" not in r.stderr


def _indent_bomb() -> str:
    """The bomb as the value of the (real) ``weights`` key."""
    return "weights:\n  lol: " + _flow_bomb() + "\n"


def _flow_bomb() -> str:
    inner = '&a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'
    for i in range(1, 9):
        inner = f"&a{i} [{inner}, " + ", ".join([f"*a{i - 1}"] * 8) + "]"
    return inner


def test_bomb_unit():
    with pytest.raises(InputError, match=r"bomb.yaml: .*aliases expand into more than"):
        load_yaml(_bomb(), source="bomb.yaml")
    # a few honest aliases are fine
    assert load_yaml("a: &x {k: 1}\nb: *x\nc: {<<: *x, k: 2}\n", source="ok") == {
        "a": {"k": 1}, "b": {"k": 1}, "c": {"k": 2}}


def test_duplicate_key_names_both_lines(city):
    folder, text = city
    second = textwrap.dedent("""\
        optimize:
        - {kind: sports_park, tier: compound, model: lscp}
        """)
    path = _write(folder, text + second)
    first_line = 1 + text.splitlines().index("optimize:")
    again = 1 + len(text.splitlines())
    with pytest.raises(InputError) as info:
        facplan.load_scenario(path)
    msg = str(info.value)
    assert msg.startswith(str(path))
    assert f"key 'optimize' is given twice in one mapping (lines {first_line} and {again})" in msg


def test_duplicate_key_inside_a_nested_mapping():
    with pytest.raises(InputError, match=r"key 'walk_m' is given twice .*lines 3 and 4"):
        load_yaml("standards:\n  park:\n    all: {walk_m: 300,\n      walk_m: 500}\n",
                  source="s.yaml")
    # equal values written differently are the same key
    with pytest.raises(InputError, match="given twice"):
        load_yaml("1: a\n0x1: b\n", source="s.yaml")


def test_duplicate_key_in_a_batch_file_is_reported(city):
    folder, text = city
    path = _write(folder, text + "name: again\n", "batch1.yaml")
    runs = load_runs([path])
    assert len(runs) == 1 and runs[0].scenario is None
    assert "key 'name' is given twice" in runs[0].error


def test_file_over_the_size_limit_is_refused_before_reading(city):
    folder, text = city
    filler = "# " + "x" * 98 + "\n"
    path = _write(folder, text + filler * (MAX_BYTES // len(filler) + 1))
    with pytest.raises(InputError, match=r"MB, more than the 5 MB"):
        facplan.load_scenario(path)


def test_nesting_over_the_depth_limit_is_refused(city):
    folder, text = city
    deep = "weights: " + "[" * (MAX_DEPTH + 5) + "1" + "]" * (MAX_DEPTH + 5) + "\n"
    path = _write(folder, text.replace("map:", deep + "map:", 1))
    with pytest.raises(InputError, match=f"nested more than {MAX_DEPTH} levels deep"):
        facplan.load_scenario(path)


def test_recursive_alias_is_refused():
    with pytest.raises(InputError, match="recursive alias"):
        load_yaml("a: &a [1, *a]\n", source="r.yaml")


def test_python_tags_still_refused():
    with pytest.raises(InputError, match="!!python"):
        load_yaml("a: !!python/object/apply:os.system ['true']\n", source="t.yaml")
