"""Whole HTML pages: executed notebooks exported by nbconvert, and the pages the batch writes itself.

Both use one shell, ``templates/pages/shell.html.j2`` (fragments inside a page come from
``sections.py``; metrics.csv and metrics.xlsx from ``tables.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup

from canvass import __version__
from canvass.report.templating import TEMPLATES, render
from canvass.run.atomic import write_text
from canvass.weeks import week_bounds

CSS_PATH = Path(__file__).resolve().parent / "static" / "report.css"


@lru_cache(maxsize=1)
def css() -> str:
    """Return the reports' inline stylesheet."""
    return CSS_PATH.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def exporter():
    """Return this process's report exporter (created once: its first call is the slow one)."""
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter

    class ReportExporter(HTMLExporter):
        """HTMLExporter without its BeautifulSoup pass.

        That pass only adds alt text to <img> and tabindex to JupyterLab cell wrappers,
        neither of which our template emits, yet re-parsing every chart's SVG costs
        more than the rest of the export.
        """

        def from_notebook_node(self, nb, resources=None, **kw):
            self.register_filter("highlight_code", lambda source, *a, **k: "")
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    # extra_template_paths: so that nbconvert's template can import pages/shell.html.j2.
    return ReportExporter(template_name="canvass_report", extra_template_basedirs=[str(TEMPLATES)],
                          extra_template_paths=[str(TEMPLATES)],
                          exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                          exclude_markdown=True, exclude_raw=True, exclude_unknown=True)


def footer(week: str | None = None) -> str:
    """Return a page's footer text: the data's cut-off date (when there is a week) and the generator."""
    made = f"由 canvass {__version__} 生成"
    if week is None:
        return made
    sunday = week_bounds(week)[1]
    return f"数据截至 {sunday.year}年{sunday.month}月{sunday.day}日（周日） · {made}"


def notebook_html(nb, title: str, week: str) -> str:
    """Return an executed notebook as one offline HTML page (no code, prompts or scripts)."""
    body, _ = exporter().from_notebook_node(
        nb, resources={"canvass_css": css(), "canvass_title": title, "canvass_footer": footer(week)})
    # papermill gives its injected cell a random id: drop cell ids so equal content gives equal files.
    return re.sub(r' id="cell-id=[^"]*"', "", body)


def page(title: str, fragments: list[str], week: str | None = None) -> str:
    """Return an offline HTML page built directly from fragments (markup made by ``sections``)."""
    return render("pages/page.html.j2", title=title, css=Markup(css()), footer=footer(week),
                  body=Markup("\n".join(fragments))) + "\n"


def write_index(out_dir: Path, subdistrict: str) -> None:
    """Write OUT/index.html listing every week's digest, newest first."""
    weeks = sorted((p.parent.name for p in out_dir.glob("*-W*/digest.html")), reverse=True)
    html = render("pages/weeks_index.html.j2", title=f"{subdistrict} 周报目录", css=Markup(css()), footer=footer(),
                  subdistrict=subdistrict, weeks=weeks)
    write_text(out_dir / "index.html", html + "\n")
