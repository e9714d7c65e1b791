"""``coverage_curve.png``: drawn with Pillow, readable, deterministic, and quick."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from facplan.outputs.report import _COLOURS, _nice_ticks, coverage_curves, write_coverage_plot


def fake_result(entries: list[dict], gains: dict[int, list[float]], name: str = "test city"):
    """What the plot reads of a Result: the summary and the chosen sites."""
    rows = [(f"e{i}s{rank}", rank + 1, g) for i, gs in gains.items() for rank, g in enumerate(gs)]
    sites = pd.DataFrame(rows, columns=["site_id", "rank", "marginal_population"])
    sites["cost"] = 1.0
    entries = [{**e, "selected": [f"e{i}s{r}" for r in range(len(gains.get(i, [])))]}
               for i, e in enumerate(entries)]
    summary = {"scenario": name, "population_total": 12_345.0, "optimize": entries}
    return types.SimpleNamespace(summary=summary, sites=sites)


ENTRIES = [
    {"kind": "sports_park", "tier": "community", "model": "mclp", "covered_before": 6000.0},
    {"kind": "neighbourhood_centre", "tier": "all", "model": "mclp", "covered_before": 500.0},
]
GAINS = {0: [3000.0, 400.0, 150.0], 1: [1300.0, 250.0]}


def _pixels(path) -> np.ndarray:
    img = Image.open(path)
    assert img.size == (700, 450)
    return np.asarray(img.convert("RGB")).astype(int)


def _share_of(pixels: np.ndarray, colour: str) -> float:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return float((np.abs(pixels - rgb).sum(axis=2) < 30).mean())


def test_one_coloured_line_per_entry_with_title_and_legend(tmp_path):
    path = tmp_path / "curve.png"
    write_coverage_plot(path, fake_result(ENTRIES, GAINS))
    px = _pixels(path)
    for colour in _COLOURS[:2]:
        assert _share_of(px, colour) > 0.001  # a line, its markers and the legend swatch
    for colour in _COLOURS[2:]:
        if colour != "#7f7f7f":  # grey: the anti-aliased edges of black text
            assert _share_of(px, colour) == 0.0
    dark = (px.sum(axis=2) < 200)
    assert dark[:40].mean() > 0.01  # the title
    assert dark[:, :30].mean() > 0.01  # the rotated y label
    assert dark[-30:].mean() > 0.01  # the x label


def test_reruns_give_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_coverage_plot(a, fake_result(ENTRIES, GAINS))
    write_coverage_plot(b, fake_result(ENTRIES, GAINS))
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("entries", "gains"),
    [
        ([], {}),  # nothing optimized: empty axes
        (ENTRIES[:1], {}),  # no site chosen: one point
        (ENTRIES[:1], {0: [np.nan, 5.0]}),  # an unknown gain
        ([{**ENTRIES[0], "covered_before": 0.0}], {0: list(np.linspace(5, 0.01, 150))}),
        ([{**ENTRIES[0], "covered_before": 0.0}] * 12, {i: [1.0] for i in range(12)}),
    ],
)
def test_awkward_curves_still_give_a_picture(tmp_path, entries, gains):
    path = tmp_path / "curve.png"
    write_coverage_plot(path, fake_result(entries, gains, name="上海 demo"))
    px = _pixels(path)
    assert (px.sum(axis=2) < 200).mean() > 0.005  # axes, ticks and text are drawn
    assert len(coverage_curves(fake_result(entries, gains))) == len(entries)


@pytest.mark.parametrize(
    ("lo", "hi", "integer", "expected"),
    [
        (-1.0, 21.0, True, [0, 5, 10, 15, 20]),
        (-0.05, 1.05, True, [0, 1]),
        (151_000.0, 237_000.0, False, [160_000, 180_000, 200_000, 220_000]),
        (0.0, 1.0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-0.07, 1.47, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4]),
        (-12.0, 262.0, False, [0, 50, 100, 150, 200, 250]),
    ],
)
def test_ticks_are_round_numbers(lo, hi, integer, expected):
    assert np.allclose(_nice_ticks(lo, hi, integer=integer), expected)


def test_plot_does_not_import_matplotlib(tmp_path):
    """Importing pyplot costs ~0.7 s, more than all the other writers together."""
    code = (
        "import sys, types, pandas as pd\n"
        "from facplan.outputs.report import write_coverage_plot\n"
        "r = types.SimpleNamespace(summary={'scenario': 's', 'population_total': 1.0,\n"
        "    'optimize': []}, sites=pd.DataFrame({'optimize': [], 'rank': []}))\n"
        f"write_coverage_plot({str(tmp_path / 'c.png')!r}, r)\n"
        "assert not [m for m in sys.modules if m.startswith('matplotlib')], 'matplotlib'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_chinese_scenario_name_is_drawn_with_chinese_glyphs(tmp_path):
    """A Chinese name gets a font with its glyphs: distinct characters give distinct
    shapes (a font without them draws the same empty box for each)."""
    from facplan.outputs.report import _cjk_font_file, _font

    if _cjk_font_file() is None:
        pytest.skip("no font with Chinese glyphs here (make test installs fonts-wqy-microhei)")
    cjk = _font(40, True)
    shapes = {bytes(cjk.getmask(ch)) for ch in "洛阳社区"}
    assert len(shapes) == 4
    boxes = {bytes(_font(40).getmask(ch)) for ch in "洛阳社区"}
    assert len(boxes) == 1  # DejaVu Sans: the same missing-glyph box, the test's premise
    a, b = tmp_path / "zh.png", tmp_path / "zh2.png"
    write_coverage_plot(a, fake_result(ENTRIES, GAINS, name="洛阳市西工区 2026"))
    write_coverage_plot(b, fake_result(ENTRIES, GAINS, name="洛阳市西工区 2026"))
    assert a.read_bytes() == b.read_bytes()
    dark = _pixels(a).sum(axis=2) < 200
    assert dark[:40].mean() > 0.01
