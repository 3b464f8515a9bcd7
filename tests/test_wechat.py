"""The WeChat long image: size, width, text sizes, no missing glyphs, nothing personal drawn."""

from __future__ import annotations

import io
import logging
import warnings

from canvass.report.wechat import MIN_TEXT_PX, LongImage, Tile, layout, render, wrap


def sample_image(rows=5) -> LongImage:
    return LongImage(
        "人民路街道 创城入户宣传周报", "2023年9月11日–9月17日（2023-W37）",
        tiles=[Tile("覆盖率", "87.3%", "red"), Tile("知晓率", "96.1%", "green"), Tile("垃圾分类知晓率", "88.0%", "amber", "样本不足")],
        grid_header=["覆盖", "知晓"], grid_rows=[(f"第{i}社区", [("87.3", "red"), ("96.1", "green")]) for i in range(rows)],
        pace=["七一社区：预计 2023-11-05 全覆盖，早于测评 ✓"], parts={"本周工作": ["走访 1,234 次。"], "存在问题": [], "下步打算": []})


def test_png_is_1080_wide_at_least_1080_high_and_under_2_mib(caplog):
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: that fails the test
        with caplog.at_level(logging.WARNING):
            data = render(sample_image(rows=40))
    assert not [r for r in caplog.records if "glyph" in r.getMessage() or "findfont" in r.getMessage()]
    im = Image.open(io.BytesIO(data))
    assert im.size[0] == 1080 and im.size[1] >= 1080 and len(data) <= 2 * 1024 * 1024
    assert Image.open(io.BytesIO(render(sample_image(rows=1)))).size == (1080, 1080)  # short content: still 1080 high


def test_no_text_smaller_than_24_px():
    sizes = [op[4] for op in layout(sample_image()).ops if op[0] == "text"]
    assert sizes and min(sizes) >= MIN_TEXT_PX == 24


def test_long_lines_wrap_and_punctuation_never_starts_a_line():
    lines = wrap("海港社区尚有 512 户未覆盖，距测评 28 天，每天需入户 19 户，重点：第3网格、第1网格、第5网格。", 26, 984)
    assert len(lines) == 2 and not lines[1].startswith(("、", "，", "。"))


def test_texts_are_what_is_drawn_and_hold_no_personal_data():
    import re
    img = sample_image()
    texts = img.texts()
    assert "人民路街道 创城入户宣传周报" in texts and "✓96.1" in texts
    assert not [s for s in texts if re.search(r"1[3-9]\d{9}|(?<!\d)\d{1,3}-\d{1,2}-\d{3,4}(?!\d)", s)]


def test_control_characters_and_missing_glyphs_are_not_drawn(caplog):
    from canvass.report.wechat import drawable
    assert drawable("七一\x1b[31m社区") == "七一[31m社区"
    assert drawable("社区😀") == "社区?"
    img = sample_image()
    img.grid_rows = [("\x1b[2J社区😀", [("87.3", "red"), ("96.1", "green")])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render(img)
