"""The documents: generated parts match the code, examples load, links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from facplan import docs
from facplan._errors import InputError
from facplan.scenario import Scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]

#: Keys every scenario needs; examples that show only some keys are laid over these.
BASE = {
    "name": "docs-example",
    "population": {"path": "data/population.tif"},
    "network": {"pbf": "data/city.osm.pbf"},
    "candidates": [{"path": "data/candidates.gpkg", "kind": "sports_park"}],
}


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for f in DOC_FILES:
        for line, text in docs.yaml_blocks(f.read_text(encoding="utf-8")):
            out.append((f.relative_to(ROOT).as_posix(), line, text))
    return out


BLOCKS = _blocks()


def test_scenario_reference_is_current() -> None:
    path = ROOT / "docs" / "scenario.md"
    assert path.exists(), "docs/scenario.md is missing: run `make docs`"
    assert path.read_text(encoding="utf-8") == docs.render_scenario_reference(), (
        "docs/scenario.md differs from what facplan/scenario.py generates: run `make docs` "
        "(python -m facplan.docs) and commit the result"
    )


def test_standards_table_is_current() -> None:
    text = (ROOT / "docs" / "standards.md").read_text(encoding="utf-8")
    assert text == docs.update_standards_doc(text), (
        "the defaults table in docs/standards.md differs from facplan/standards.py: "
        "run `make docs`"
    )


def test_every_key_is_documented_with_a_description() -> None:
    missing = [
        k.path for s in docs.walk_schema() for k in s.keys if not k.description
    ]
    assert not missing, (
        "keys without a description (add Field(description=...) in facplan/scenario.py, "
        f"then `make docs`): {missing}"
    )


def test_every_key_path_appears_in_the_reference() -> None:
    text = docs.render_scenario_reference()
    for path in docs.all_key_paths():
        assert f"`{path}`" in text, path


def test_every_block_has_an_example() -> None:
    missing = [s.path or "(top level)" for s in docs.walk_schema() if s.path not in docs.EXAMPLES]
    assert not missing, f"add an example to facplan.docs.EXAMPLES for: {missing}"


@pytest.mark.parametrize(
    "table",
    ["DESCRIPTIONS", "NOTES", "NOT_YET_APPLIED", "UNITS_BY_PATH", "RULES", "EXAMPLES",
     "INTROS"],
)
def test_knowledge_tables_name_existing_keys(table: str) -> None:
    """Hand-written text is keyed by key path; a renamed or removed key must not keep it."""
    known = set(docs.all_key_paths()) | {s.path for s in docs.walk_schema()}
    stale = sorted(set(getattr(docs, table)) - known)
    assert not stale, f"facplan.docs.{table} names keys the schema does not have: {stale}"


def test_placeholders_name_existing_mappings() -> None:
    known = set(docs.all_key_paths()) | {"standards.<kind>"}
    assert set(docs.PLACEHOLDERS) <= known


def test_source_file_is_not_documented() -> None:
    assert "source_file" not in docs.render_scenario_reference()


def test_type_and_default_rendering() -> None:
    keys = {k.path: k for s in docs.walk_schema() for k in s.keys}
    snap = keys["snap"]
    assert snap.allowed == ["`node`", "`edge`"] and snap.default == "`edge`"
    assert keys["min_component_nodes"].constraints == ["≥ 1"]
    assert keys["communities.osm_admin_level"].constraints == ["≥ 1", "≤ 12"]
    assert keys["population.dasymetric.total"].constraints == ["> 0"]
    assert keys["population.dasymetric.total"].unit == "people"
    assert keys["name"].required and keys["name"].default == "required"
    assert keys["optimize[].phases[].year"].required
    assert keys["standards.<kind>.<tier>.walk_m"].unit.startswith("m")
    assert "`<kind>`" in keys["standards"].type
    assert keys["optimize"].default == "`[]`"


def test_docs_have_yaml_examples() -> None:
    files = {f for f, _, _ in BLOCKS}
    for name in ("docs/scenario.md", "docs/own-city.md", "docs/own-city.zh.md",
                 "docs/standards.md", "README.md"):
        assert name in files, f"{name} has no ```yaml example"


@pytest.mark.parametrize(
    "where,text", [(f"{f}:{line}", text) for f, line, text in BLOCKS],
    ids=[f"{f}:{line}" for f, line, _ in BLOCKS],
)
def test_yaml_example_loads(where: str, text: str, tmp_path: Path) -> None:
    """Every ```yaml block of the docs is a scenario, or part of one laid over BASE.

    The examples name the user's files, which do not exist here: missing files are the
    only problems allowed.
    """
    data = yaml.safe_load(text)
    assert isinstance(data, dict), f"{where}: a YAML example must be a mapping of keys"
    merged = {**BASE, **data}
    Scenario.model_validate(merged, context={"base_dir": tmp_path})  # the schema itself
    try:
        scenario_from_dict(merged, base_dir=tmp_path, source=where)
    except InputError as exc:
        lines = [ln.strip().removeprefix("- ") for ln in str(exc).splitlines()]
        lines = [ln for ln in lines if ln and not re.search(r"\d+ problems:$", ln)]
        other = [ln for ln in lines if "file not found" not in ln]
        assert not other, f"{where}: " + "; ".join(other)


def _complete_example(name: str) -> dict:
    for f, _, text in BLOCKS:
        data = yaml.safe_load(text)
        if f == name and isinstance(data, dict) and "optimize" in data and "name" in data:
            return data
    raise AssertionError(f"{name} has no complete scenario")


def test_own_city_example_is_complete_and_same_in_both_languages() -> None:
    en = _complete_example("docs/own-city.md")
    zh = _complete_example("docs/own-city.zh.md")
    assert en == zh, "the English and Chinese own-city scenarios differ"
    for key in ("communities", "population", "network", "facilities", "candidates",
                "exclusions", "optimize"):
        assert key in en, key
    assert any(f.get("coords") == "gcj02" for f in en["facilities"])
    assert all(c.get("cost_field") for c in en["candidates"])


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(md: str) -> set[str]:
    out = set()
    for line in md.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            out.add(docs._anchor(m.group(1)))
    return out


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = doc if not path else (doc.parent / path).resolve()
        assert dest.exists(), f"{doc.name}: broken link {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest.read_text(encoding="utf-8")), (
                f"{doc.name}: no heading for #{anchor} in {dest.name}"
            )


def test_readme_keeps_setup_first_and_shows_the_map() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = text.split("```")[1]
    assert first.startswith("bash\nmake demo") and "\nmake test" in first
    assert "docs/demo-map.png" in text
    png = ROOT / "docs" / "demo-map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ("## A quick tour", "## Benchmarks", "## Licence and credits"):
        assert heading in text
    assert "ODbL" in text


def test_check_mode_reports_stale_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "scenario.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(docs, "SCENARIO_MD", stale)
    monkeypatch.setattr(docs, "STANDARDS_MD", tmp_path / "absent.md")
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    assert docs.main(["--check"]) == 1
    assert stale.read_text(encoding="utf-8") == "old\n"
    assert docs.main([]) == 0
    assert stale.read_text(encoding="utf-8") == docs.render_scenario_reference()
