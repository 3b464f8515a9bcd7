"""Charts as inline SVG: the bundled CJK font, a colour-blind-safe palette, percent axes.

Figures are built with matplotlib's object API (no pyplot), so no global figure state
survives between reports.
"""

from __future__ import annotations

import io
import re

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from canvass import fonts
from canvass.vocab import RATE_LABELS

# Okabe–Ito palette; markers and dashes keep series apart in grayscale print.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
DASHES = ["-", "--", "-.", ":", "-", "--", "-.", ":"]

_ready = False


def _setup() -> None:
    global _ready
    if not _ready:
        fonts.register()
        matplotlib.rcParams["svg.hashsalt"] = "canvass"
        matplotlib.rcParams["axes.spines.top"] = False
        matplotlib.rcParams["axes.spines.right"] = False
        # Figures are drawn ~4.8 in wide so that on a 375 px phone labels stay >= 7 px high.
        matplotlib.rcParams["font.size"] = 10
        matplotlib.rcParams["xtick.labelsize"] = 9
        matplotlib.rcParams["ytick.labelsize"] = 9
        matplotlib.rcParams["legend.fontsize"] = 9
        _ready = True


def _percent(ax, axis="y", lo=None, hi=None):
    fmt = FuncFormatter(lambda v, _: f"{v * 100:.0f}%")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)
    if lo is not None:
        (ax.set_ylim if axis == "y" else ax.set_xlim)(lo, hi)


def to_svg(fig: Figure) -> str:
    """Return a figure as an inline, scalable SVG element (no XML prologue)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 class="chart" role="img"', svg, count=1)
    return svg


def _short_week(w: str) -> str:
    return "第" + w.split("-W")[1].lstrip("0") + "周"


def trend_chart(trend: pd.DataFrame, title: str, keys=("coverage", "awareness", "support",
                                                      "participation", "satisfaction", "garbage_sorting"),
                targets: dict | None = None) -> str:
    """Return an SVG line chart of cumulative rates by week for one scope."""
    _setup()
    fig = Figure(figsize=(4.8, 3.4))
    ax = fig.add_subplot()
    x = np.arange(len(trend))
    for i, k in enumerate(keys):
        col = "coverage_cum" if k == "coverage" else f"{k}_rate_cum"
        y = pd.to_numeric(trend[col], errors="coerce").to_numpy(dtype=float)
        ax.plot(x, y, color=PALETTE[i], marker=MARKERS[i], linestyle=DASHES[i], linewidth=1.8,
                markersize=4, label=RATE_LABELS[k])
    ax.set_xticks(x, [_short_week(w) for w in trend["week"]])
    _percent(ax)
    ax.set_ylabel("累计比率")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.legend(ncol=3, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return to_svg(fig)


def coverage_lines(trends: pd.DataFrame, title: str) -> str:
    """Return an SVG chart of coverage by week, one line per community."""
    _setup()
    fig = Figure(figsize=(4.8, 3.4))
    ax = fig.add_subplot()
    weeks = list(dict.fromkeys(trends["week"]))
    x = np.arange(len(weeks))
    for i, (name, grp) in enumerate(trends.groupby("community", sort=False)):
        y = pd.to_numeric(grp.set_index("week").reindex(weeks)["coverage_cum"], errors="coerce").to_numpy(dtype=float)
        ax.plot(x, y, color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)],
                linestyle=DASHES[i % len(DASHES)], linewidth=1.6, markersize=4, label=str(name))
    ax.set_xticks(x, [_short_week(w) for w in weeks])
    _percent(ax)
    ax.set_ylabel("覆盖率（累计）")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.legend(ncol=3, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return to_svg(fig)


def weekly_bars(trend: pd.DataFrame, title: str) -> str:
    """Return an SVG bar chart of visits and entered households per week."""
    _setup()
    fig = Figure(figsize=(4.8, 3.0))
    ax = fig.add_subplot()
    x = np.arange(len(trend))
    ax.bar(x - 0.2, trend["visits_week"].astype(float), width=0.4, color=PALETTE[0], label="走访次数")
    ax.bar(x + 0.2, trend["entered_week"].astype(float), width=0.4, color=PALETTE[1], hatch="//",
           edgecolor="white", label="入户次数")
    ax.set_xticks(x, [_short_week(w) for w in trend["week"]])
    ax.set_ylabel("次数")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.legend(frameon=False)
    return to_svg(fig)


def warm_up() -> None:
    """Register the font and draw one throwaway chart, so the first real report is not slower."""
    trend = pd.DataFrame({"week": ["2023-W36", "2023-W37"], "coverage_cum": [0.5, 0.6],
                          "visits_week": [1, 2], "entered_week": [1, 1],
                          **{f"{k}_rate_cum": [0.9, 0.95] for k in RATE_LABELS if k != "coverage"}})
    trend_chart(trend, "知晓率 覆盖率 支持率 参与率 满意率 垃圾分类 网格 周 一二三四五六七八九十")
    weekly_bars(trend, "走访 入户 次数")
