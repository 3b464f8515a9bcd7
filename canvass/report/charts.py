"""Charts as inline SVG: the bundled CJK font, a colour-blind-safe palette, percent axes.

Figures are built with matplotlib's object API (no pyplot), so no global figure state
survives between reports.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from canvass import fonts
from canvass.vocab import RATE_LABELS
from canvass.weeks import week_bounds, week_label

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


# The layout, in inches, instead of ``bbox_inches="tight"``: that draws every figure twice
# (once to measure, once to save) and charts are most of a report's cost. The margins fit
# the labels these charts have (percent or count ticks, a 11 pt title, "第37周" ticks),
# and a legend below the axes gets one row of height per row of entries.
WIDTH = 4.6  # the old tight-cropped width: labels stay ≥ 7 px on a 375 px phone
LEFT, RIGHT, TOP, TICKS = 0.72, 0.3, 0.34, 0.34
LEGEND_ROW, LEGEND_PAD = 0.2, 0.12


def _figure(axes_height: float, legend_rows: int = 0) -> tuple[Figure, object]:
    """Return a figure and its axes laid out once: fixed margins, room below for the legend's rows."""
    bottom = TICKS + (legend_rows * LEGEND_ROW + LEGEND_PAD if legend_rows else 0.06)
    height = TOP + axes_height + bottom
    fig = Figure(figsize=(WIDTH, height))
    ax = fig.add_axes((LEFT / WIDTH, bottom / height, (WIDTH - LEFT - RIGHT) / WIDTH, axes_height / height))
    return fig, ax


def _legend_below(fig: Figure, ax, ncol: int = 3) -> None:
    """Put the legend in the room _figure left below the axes' tick labels."""
    ax.legend(ncol=ncol, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 0.02 / fig.get_figheight()),
              bbox_transform=fig.transFigure)


def _rows(entries: int, ncol: int = 3) -> int:
    return max(1, -(-entries // ncol))


def to_svg(fig: Figure) -> str:
    """Return a figure as an inline, scalable SVG element (no XML prologue)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 class="chart" role="img"', svg, count=1)
    return svg


def _short_week(w: str) -> str:
    return "第" + w.split("-W")[1].lstrip("0") + "周"


def coverage_projection(trend: pd.DataFrame, assessment_date: dt.date | None = None) -> tuple[list, list]:
    """Return (weeks after W, expected coverage) of section 12's model, up to the projected date.

    The households still to reach shrink by the recent weekly share h each week (h from the
    history's new_reached_week and remaining, as ``pace.weekly_rate`` defines it); the line
    ends at projected_full, or at the assessment date when there is no projection.
    """
    if "remaining" not in trend or len(trend) < 1:
        return [], []
    last = trend.iloc[-1]
    households, remaining = float(last["households"]), float(last["remaining"])
    if households <= 0 or remaining <= 0:
        return [], []
    rates = []
    for i in (len(trend) - 2, len(trend) - 1):
        if i >= 1 and float(trend["remaining"].iloc[i - 1]) > 0:
            rates.append(float(trend["new_reached_week"].iloc[i]) / float(trend["remaining"].iloc[i - 1]))
    h = float(np.mean(rates)) if rates else 0.0
    sunday = week_bounds(str(last["week"]))[1]
    end = str(last.get("projected_full") or "")
    if end:
        weeks = (dt.date.fromisoformat(end) - sunday).days // 7
    elif assessment_date is not None and assessment_date > sunday:
        weeks = -(-(assessment_date - sunday).days // 7)
    else:
        return [], []
    ks = list(range(0, min(weeks, MAX_PROJECTION_WEEKS) + 1))
    cov = [1 - remaining * (1 - h) ** k / households for k in ks]
    if end and ks[-1] == weeks:
        cov[-1] = 1.0  # below half a household left: full
    return ks, cov


MAX_PROJECTION_WEEKS = 26  # a longer dashed tail would squeeze the weeks already done


def trend_chart(trend: pd.DataFrame, title: str, keys=("coverage", "awareness", "support",
                                                      "participation", "satisfaction", "garbage_sorting"),
                targets: dict | None = None, projection: bool = False,
                assessment_date: dt.date | None = None) -> str:
    """Return an SVG line chart of cumulative rates by week for one scope.

    With ``projection``, the coverage line continues dashed at the current pace up to the
    projected date of full coverage (or the assessment date), and the assessment week is marked.
    """
    _setup()
    ks, cov = coverage_projection(trend, assessment_date) if projection and len(trend) else ([], [])
    fig, ax = _figure(2.6, _rows(len(keys) + bool(ks)))
    x = np.arange(len(trend))
    for i, k in enumerate(keys):
        col = "coverage_cum" if k == "coverage" else f"{k}_rate_cum"
        y = pd.to_numeric(trend[col], errors="coerce").to_numpy(dtype=float)
        ax.plot(x, y, color=PALETTE[i], marker=MARKERS[i], linestyle=DASHES[i], linewidth=1.8,
                markersize=4, label=RATE_LABELS[k])
    labels = [_short_week(w) for w in trend["week"]]
    if ks:
        px = [len(trend) - 1 + k for k in ks]
        cov[0] = float(trend["coverage_cum"].iloc[-1])
        ax.plot(px, cov, color=PALETTE[0], linestyle=(0, (3, 2)), linewidth=1.4, label="按当前进度")
        last = week_bounds(str(trend["week"].iloc[-1]))[0]
        labels += [_short_week(week_label(last + dt.timedelta(days=7 * k))) for k in ks[1:]]
        x = np.arange(len(labels))
    if projection and assessment_date is not None:
        first = week_bounds(str(trend["week"].iloc[0]))[1]  # each point is its week's Sunday
        at = (assessment_date - first).days / 7
        if 0 <= at <= len(x) - 1:
            ax.axvline(at, color="#A12A1B", linestyle=":", linewidth=1.2)
            ax.text(at, 0.02, "测评", color="#A12A1B", fontsize=9, ha="right", va="bottom",
                    transform=ax.get_xaxis_transform())
    step = max(1, -(-len(labels) // 8))  # at most ~8 labels, so they stay readable at 375 px
    ax.set_xticks(x[::step], labels[::step])
    _percent(ax)
    ax.set_ylabel("累计比率")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    _legend_below(fig, ax)
    return to_svg(fig)


def coverage_lines(trends: pd.DataFrame, title: str) -> str:
    """Return an SVG chart of coverage by week, one line per community."""
    _setup()
    fig, ax = _figure(2.6, _rows(trends["community"].nunique()))
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
    _legend_below(fig, ax)
    return to_svg(fig)


def weekly_bars(trend: pd.DataFrame, title: str) -> str:
    """Return an SVG bar chart of visits and entered households per week."""
    _setup()
    fig, ax = _figure(2.3)
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
