"""Report HTML from Jinja2 templates: one autoescaping environment, number formats as filters.

Templates live in ``report/templates``: ``sections/`` holds one fragment per report section
(rendered by ``sections.py``), ``pages/`` the page shell and the pages the batch writes
itself (rendered by ``pages.py``); ``canvass_report/`` is nbconvert's template, which
imports the same shell. Every value is escaped unless it is markup we made (``Markup``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import jinja2

from canvass.vocab import AMBER_BAND, LOW_SAMPLE, RATE_KEYS, RATE_LABELS, STATUS_TEXT
from canvass.weeks import format_week_cn, week_bounds

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _number(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def pct(value, digits: int = 1) -> str:
    """Return a fraction as a percentage with ``digits`` decimals (``—`` when empty)."""
    v = _number(value)
    return "—" if v is None else f"{v * 100:.{digits}f}%"


def target(value) -> str:
    """Return a target as a percentage without needless decimals (0.95 → 95%, 0.925 → 92.5%)."""
    v = _number(value)
    return "—" if v is None else f"{round(v * 100, 1):g}%"


def points(value) -> str:
    """Return a fraction as percentage points without needless decimals (0.05 → 5)."""
    return f"{round(float(value) * 100, 1):g}"


def interval(low, high) -> str:
    """Return a 95% interval as ``low–high`` percentages."""
    return f"{pct(low)}–{pct(high)}"


def delta(rate, previous) -> str:
    """Return the change since last week in points with an arrow (``''`` when either is empty)."""
    r, p = _number(rate), _number(previous)
    if r is None or p is None:
        return ""
    d = (r - p) * 100
    arrow = "↑" if d > 0.05 else ("↓" if d < -0.05 else "→")
    return f"{arrow}{abs(d):.1f}"


def status_class(status) -> str:
    """Return the CSS class of a status (green / amber / red, ``st-none`` when empty)."""
    return f"st-{status or 'none'}"


def status_text(status) -> str:
    """Return a status in Chinese (达标 / 接近 / 落后 / 无数据)."""
    return STATUS_TEXT[status or ""]


def text(value) -> str:
    """Return a cell value as text ('' for None and NaN); escaping is the template's job."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def week_short(label: str) -> str:
    """Return ``2023-W32`` as ``第32周（8/7–8/13）`` for tables."""
    mon, sun = week_bounds(label)
    return f"第{int(label.split('-W')[1])}周（{mon.month}/{mon.day}–{sun.month}/{sun.day}）"


def bar_width(value) -> str | None:
    """Return a coverage as a CSS width (``'42.0%'``), clipped to 0–100% (None when empty)."""
    v = _number(value)
    return None if v is None else f"{min(max(v, 0.0), 1.0) * 100:.1f}%"


FILTERS = {"pct": pct, "target": target, "points": points, "interval": interval, "delta": delta,
           "status_class": status_class, "status_text": status_text, "text": text,
           "week_short": week_short, "week_cn": format_week_cn, "bar_width": bar_width}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Return the report templates' environment (autoescape on, strict about undefined names)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    env.globals.update(RATE_KEYS=RATE_KEYS, RATE_LABELS=RATE_LABELS, LOW_SAMPLE=LOW_SAMPLE,
                       AMBER_BAND=AMBER_BAND)
    return env


def render(name: str, **context) -> str:
    """Return template ``name`` (relative to ``report/templates``) rendered with ``context``.

    The result is a plain ``str``; wrap a value in ``markupsafe.Markup`` to place markup
    (a chart's SVG, a fragment) in a template unescaped.
    """
    return environment().get_template(name).render(**context)


def warm_up() -> None:
    """Compile every template now, so the first report a warm kernel renders is not slower."""
    env = environment()
    for name in env.list_templates(extensions=["j2"]):
        if not name.startswith("canvass_report/"):  # nbconvert's own template, not for this environment
            env.get_template(name)
