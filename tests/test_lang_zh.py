"""``map: {lang: zh}`` makes every text Chinese — the CLI summary, report.md, the
communities' ``gaps`` and the coverage-curve labels — and English stays the default."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from facplan.testing import write_scenario


def _facplan(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "facplan.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from facplan.testing import grid_city

    out = {}
    for lang in ("en", "zh"):
        folder = tmp_path_factory.mktemp(lang)
        data = grid_city(folder)
        data["map"] = {**data.get("map", {}), "lang": lang, "tiles": "none"}
        r = _facplan("run", write_scenario(folder, data), "--out", folder / "out")
        assert r.returncode == 0, r.stderr
        out[lang] = (folder / "out", r.stdout)
    return out


def test_cli_summary(runs):
    _, en = runs["en"]
    _, zh = runs["zh"]
    assert "kind/tier" in en and "covered before" in en and "sports_park/compound" in en
    assert "类型/层级" in zh and "现状覆盖率" in zh and "体育公园/小区" in zh
    assert "kind/tier" not in zh and "用浏览器打开" in zh


def test_report_md(runs):
    en = (runs["en"][0] / "report.md").read_text(encoding="utf-8")
    zh = (runs["zh"][0] / "report.md").read_text(encoding="utf-8")
    assert "## Coverage" in en and "## New sites" in en and "| kind/tier |" in en
    for word in ("## 覆盖情况", "## 新增选址", "## 输入数据", "| 类型/层级 |", "体育公园/小区",
                 "步行网络"):
        assert word in zh, word
    assert "## Coverage" not in zh


def test_gaps_text(runs):
    import json

    def gaps(lang):
        c = json.loads((runs[lang][0] / "communities.geojson").read_text(encoding="utf-8"))
        return [f["properties"]["gaps"] for f in c["features"]]

    en, zh = gaps("en"), gaps("zh")
    assert any("covered" in g for g in en)
    with_gap = [g for g in zh if g]
    assert with_gap and all("覆盖" in g and "covered" not in g for g in with_gap)
    assert any("体育公园/小区" in g for g in with_gap)


def test_coverage_curve_labels_use_a_cjk_font(runs):
    from PIL import Image

    from facplan.outputs.report import _cjk_font_file

    if _cjk_font_file() is None:
        pytest.skip("no font with Chinese glyphs on this machine (fonts-wqy-microhei)")
    en = np.asarray(Image.open(runs["en"][0] / "coverage_curve.png").convert("L"))
    zh = np.asarray(Image.open(runs["zh"][0] / "coverage_curve.png").convert("L"))
    assert en.shape == zh.shape
    # the x-axis label row differs (Chinese glyphs, not the English label or tofu boxes)
    bottom_en, bottom_zh = en[-30:], zh[-30:]
    assert (bottom_en != bottom_zh).any()
    from PIL import ImageFont

    font = ImageFont.truetype(_cjk_font_file(), 14)
    assert font.getmask("新增选址数").getbbox() is not None
