"""The digest as one long image for a WeChat work group (长图): ``digest.png``, 1080 px wide.

A leader reads it in place on a phone, so nothing is smaller than 24 px, every status
has a mark as well as a colour (✓ ! × survive grayscale and colour blindness), and it
carries no personal data: it is drawn only from a ``LongImage`` of aggregate texts, which
tests can scan before anything is drawn.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

WIDTH_PX = 1080
MIN_HEIGHT_PX = 1080
MARGIN = 48
MIN_TEXT_PX = 24
STATUS_COLOUR = {"green": "#1a7f37", "amber": "#b7791f", "red": "#c0392b", "": "#6b7280"}
STATUS_FILL = {"green": "#e6f4ea", "amber": "#fff4d6", "red": "#fde2e1", "": "#f1f3f5"}
STATUS_MARK = {"green": "✓", "amber": "!", "red": "×", "": "—"}  # the font has ✓ and ×, not ✕
NO_LINE_START = "、，。；：！？）》」』%"  # punctuation that may not begin a line (it hangs instead)


@dataclass
class Tile:
    label: str
    value: str
    status: str = ""
    note: str = ""  # e.g. 样本不足


@dataclass
class LongImage:
    """Everything the image shows, as plain text (no names, phones or addresses)."""

    title: str
    subtitle: str
    banner: str = ""
    tiles: list = field(default_factory=list)  # pooled rates
    grid_header: list = field(default_factory=list)  # rate labels
    grid_rows: list = field(default_factory=list)  # (community, [(text, status), …])
    pace: list = field(default_factory=list)  # one line per community
    parts: dict = field(default_factory=dict)  # 本周工作 / 存在问题 / 下步打算 → [lines]
    footer: str = ""
    grid_title: str = "各社区达标情况"  # a district's image lists its sub-districts

    def texts(self) -> list[str]:
        """Return every string the image will draw, as laid out (for privacy scans)."""
        return [op[3] for op in layout(self).ops if op[0] == "text"]


_CMAP: set | None = None


def drawable(text: str) -> str:
    """Return text the bundled font can draw: control characters dropped, missing glyphs as ``?``.

    Community names come from staff files; a stray escape or emoji must neither print a
    warning nor put a terminal escape on the console.
    """
    global _CMAP
    if _CMAP is None:
        from fontTools.ttLib import TTFont

        from canvass import fonts
        _CMAP = set(TTFont(str(fonts.font_path()), lazy=True).getBestCmap())
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        out.append(ch if ord(ch) in _CMAP or ch == " " else "?")
    return "".join(out)


def _width(text: str) -> float:
    """Return a text's width in ems (CJK characters are one em, others about half)."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.55 for ch in text)


def wrap(text: str, size_px: int, width_px: int) -> list[str]:
    """Return ``text`` broken into lines that fit ``width_px`` at ``size_px``."""
    limit = width_px / size_px
    lines, line = [], ""
    for ch in text:
        if _width(line + ch) > limit and not (ch in NO_LINE_START and _width(line + ch) <= limit + 1):
            lines.append(line)
            line = ch
        else:
            line += ch
    return lines + ([line] if line else [])


class _Canvas:
    """Lays text out top to bottom in pixels, then draws it on one Pillow image."""

    def __init__(self):
        self.ops: list = []
        self.y = MARGIN

    def text(self, x, text, size, colour="#111827", weight="normal", ha="left"):
        assert size >= MIN_TEXT_PX
        self.ops.append(("text", x, self.y, drawable(text), size, colour, weight, ha))

    def rect(self, x, y, w, h, fill, edge=None):
        self.ops.append(("rect", x, y, w, h, fill, edge))

    def paragraph(self, text, size=28, colour="#111827", indent=0, weight="normal"):
        for line in wrap(text, size, WIDTH_PX - 2 * MARGIN - indent):
            self.text(MARGIN + indent, line, size, colour, weight)
            self.y += int(size * 1.45)

    def draw(self) -> bytes:
        """Return the PNG of the laid-out canvas, drawn with Pillow.

        Perf: drawn with matplotlib (a figure, one ``Text`` artist per line) a 20-community
        digest image took 0.43 s, nearly all of it text layout; Pillow draws the same ops in
        0.11 s. A batch draws one image per community plus the digest's.
        """
        from PIL import Image, ImageDraw

        height = max(MIN_HEIGHT_PX, self.y + MARGIN)
        im = Image.new("RGB", (WIDTH_PX, height), "white")
        pen = ImageDraw.Draw(im)
        for op in self.ops:
            if op[0] == "rect":
                _, x, y, w, h, fill, edge = op
                pen.rectangle((x, y, x + w, y + h), fill=fill, outline=edge or fill, width=2)
            else:
                _, x, y, text, size, colour, weight, ha = op
                face, ascent = _face(size)
                # y is the top of the line, as matplotlib's va="top" placed it: the baseline is
                # one "lp" height below. Bold: the one weight in the bundled face, outlined 1 px.
                pen.text((x, y + ascent), text, font=face, fill=colour, anchor="ms" if ha == "center" else "ls",
                         stroke_width=1 if weight == "bold" else 0, stroke_fill=colour)
        buf = io.BytesIO()
        # A palette of 256 colours (a handful of text and fill colours and their anti-aliased
        # edges): a third of the bytes of an RGB PNG (157 KB instead of 508 KB for the sample
        # digest) for a leader's mobile data, and faster to encode; no visible difference.
        im.quantize(256, method=Image.Quantize.FASTOCTREE).save(buf, format="PNG")
        return buf.getvalue()


@lru_cache(maxsize=None)
def _face(size: int):
    """Return (the bundled font at ``size`` px, the height of "lp" above its baseline)."""
    from PIL import ImageFont

    from canvass import fonts

    # The basic layout: one glyph after another, the same on every platform (no raqm shaping,
    # which Chinese text does not need).
    face = ImageFont.truetype(str(fonts.font_path()), size, layout_engine=ImageFont.Layout.BASIC)
    return face, -face.getbbox("lp", anchor="ls")[1]


def layout(image: LongImage) -> _Canvas:
    """Return the laid-out canvas of a long image (drawing happens in ``render``)."""
    c = _Canvas()
    c.text(MARGIN, image.title, 44, weight="bold")
    c.y += 66
    c.text(MARGIN, image.subtitle, 28, colour="#4b5563")
    c.y += 46
    if image.banner:
        c.paragraph(image.banner, 24, colour="#92400e")
    c.y += 10
    # pooled rates as tiles, three per row
    tile_w, tile_h, gap = (WIDTH_PX - 2 * MARGIN - 2 * 16) / 3, 150, 16
    for i, t in enumerate(image.tiles):
        col, row = i % 3, i // 3
        x = MARGIN + col * (tile_w + gap)
        y = c.y + row * (tile_h + gap)
        c.rect(x, y, tile_w, tile_h, STATUS_FILL[t.status], STATUS_COLOUR[t.status])
        save = c.y
        c.y = y + 12
        c.text(x + 16, t.label, 26, colour="#374151")
        c.y = y + 48
        c.text(x + 16, f"{STATUS_MARK[t.status]} {t.value}", 40, colour=STATUS_COLOUR[t.status], weight="bold")
        if t.note:
            c.y = y + 106
            c.text(x + 16, t.note, 24, colour="#92400e")
        c.y = save
    rows = (len(image.tiles) + 2) // 3
    c.y += rows * (tile_h + gap) + 20
    # community × rate grid
    if image.grid_rows:
        c.text(MARGIN, image.grid_title, 32, weight="bold")
        c.y += 52
        name_w = 200
        cell_w = (WIDTH_PX - 2 * MARGIN - name_w) / max(1, len(image.grid_header))
        for j, h in enumerate(image.grid_header):
            c.text(MARGIN + name_w + j * cell_w + cell_w / 2, h, 24, colour="#374151", ha="center")
        c.y += 40
        for name, cells in image.grid_rows:
            c.text(MARGIN, name, 26)
            for j, (text, st) in enumerate(cells):
                x = MARGIN + name_w + j * cell_w
                c.rect(x + 3, c.y - 6, cell_w - 6, 46, STATUS_FILL[st])
                c.text(x + cell_w / 2, f"{STATUS_MARK[st]}{text}", 24, colour=STATUS_COLOUR[st], ha="center")
            c.y += 54
        c.paragraph("✓ 达标　! 差 5 个百分点以内　× 落后　数字为累计比率（%）", 24, colour="#4b5563")
        c.y += 10
    if image.pace:
        c.text(MARGIN, "不漏一户进度", 32, weight="bold")
        c.y += 52
        for line in image.pace:
            c.paragraph(line, 26)
        c.y += 10
    for head, lines in image.parts.items():
        c.text(MARGIN, head, 32, weight="bold")
        c.y += 52
        for line in lines or ["无"]:
            c.paragraph("· " + line, 26, indent=0)
        c.y += 10
    if image.footer:
        c.paragraph(image.footer, 24, colour="#6b7280")
    return c


def render(image: LongImage, path: Path | None = None) -> bytes:
    """Return (and write atomically, with ``path``) the PNG of a long image."""
    data = layout(image).draw()
    if path is not None:
        from canvass.run.atomic import write_bytes

        write_bytes(Path(path), data)
    return data


# --- from the metrics to the image ---------------------------------------------------------------

SHORT_LABELS = {"coverage": "覆盖", "awareness": "知晓", "support": "支持", "participation": "参与",
                "satisfaction": "满意", "garbage_sorting": "垃圾分类"}


def _rate(row, key: str):
    from canvass.vocab import LOW_SAMPLE

    if key == "coverage":
        return row["coverage_cum"], row["coverage_status"], False
    n = row[f"{key}_n_cum"]
    return row[f"{key}_rate_cum"], row[f"{key}_status"], int(n) < LOW_SAMPLE


def _pct(v, digits=1) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return "—" if f != f else f"{f * 100:.{digits}f}"


def pace_line(row, assessment) -> str:
    """Return one community's pace in words (no personal data)."""
    from canvass.pace import FULL, NO_PACE

    name = row["community"]
    if int(row["remaining"]) <= 0:
        return f"{name}：{FULL}"
    when = row["projected_full"]
    if not when:
        return f"{name}：尚有 {int(row['remaining'])} 户，{NO_PACE} ×"
    tail = ""
    if assessment is not None:
        tail = "，早于测评 ✓" if str(row["on_track"]) == "true" else "，晚于测评 ×"
    return f"{name}：尚有 {int(row['remaining'])} 户，预计 {when} 全覆盖{tail}"


def digest_image(metrics, subdistrict: str, week: str, parts: dict | None = None, banner: str = "",
                 assessment=None, footer: str = "") -> LongImage:
    """Return the digest's long image from the week's metrics table (one row per community + pooled)."""
    from canvass.vocab import RATE_KEYS, RATE_LABELS
    from canvass.weeks import format_week_cn

    pooled = metrics[metrics["scope"] == "subdistrict"].iloc[0]
    comm = metrics[metrics["scope"] == "community"]
    tiles = []
    for key in RATE_KEYS:
        rate, st, low = _rate(pooled, key)
        tiles.append(Tile(RATE_LABELS[key], _pct(rate) + ("%" if _pct(rate) != "—" else ""), st, "样本不足" if low else ""))
    grid = []
    for _, row in comm.iterrows():  # one row per community: tens, not thousands
        grid.append((row["community"], [(_pct(_rate(row, k)[0]), _rate(row, k)[1]) for k in RATE_KEYS]))
    pace = [pace_line(row, assessment) for _, row in comm.iterrows()] if "remaining" in metrics else []
    return LongImage(f"{subdistrict} 创城入户宣传周报", f"{format_week_cn(week)}（{week}）", banner=banner,
                     tiles=tiles, grid_header=[SHORT_LABELS[k] for k in RATE_KEYS], grid_rows=grid, pace=pace,
                     parts=parts or {}, footer=footer)


def community_image(metrics, community: str, subdistrict: str, week: str, parts: dict | None = None,
                    banner: str = "", assessment=None, footer: str = "") -> LongImage:
    """Return one community's long image: its rates as tiles and its pace."""
    from canvass.vocab import RATE_KEYS, RATE_LABELS
    from canvass.weeks import format_week_cn

    row = metrics[(metrics["scope"] == "community") & (metrics["community"] == community)].iloc[0]
    tiles = []
    for key in RATE_KEYS:
        rate, st, low = _rate(row, key)
        tiles.append(Tile(RATE_LABELS[key], _pct(rate) + ("%" if _pct(rate) != "—" else ""), st, "样本不足" if low else ""))
    pace = [pace_line(row, assessment)] if "remaining" in metrics else []
    return LongImage(f"{community} 创城入户宣传周报", f"{subdistrict} · {format_week_cn(week)}（{week}）", banner=banner,
                     tiles=tiles, pace=pace, parts=parts or {}, footer=footer)
