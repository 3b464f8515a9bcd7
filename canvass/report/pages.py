"""Report files: offline HTML pages, metrics.csv and metrics.xlsx, the week index."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

from canvass import __version__
from canvass.run.atomic import write_text
from canvass.weeks import format_week_cn, week_bounds

TEMPLATES = Path(__file__).resolve().parent / "templates"
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

    return ReportExporter(template_name="canvass_report", extra_template_basedirs=[str(TEMPLATES)],
                          exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                          exclude_markdown=True, exclude_raw=True, exclude_unknown=True)


def footer(week: str) -> str:
    sunday = week_bounds(week)[1]
    return html.escape(f"数据截至 {sunday.year}年{sunday.month}月{sunday.day}日（周日） · 由 canvass {__version__} 生成")


def notebook_html(nb, title: str, week: str) -> str:
    """Return an executed notebook as one offline HTML page (no code, prompts or scripts)."""
    body, _ = exporter().from_notebook_node(
        nb, resources={"canvass_css": css(), "canvass_title": title, "canvass_footer": footer(week)})
    # papermill gives its injected cell a random id: drop cell ids so equal content gives equal files.
    return re.sub(r' id="cell-id=[^"]*"', "", body)


def page(title: str, fragments: list[str], week: str | None = None) -> str:
    """Return an offline HTML page built directly from fragments (no notebook involved)."""
    foot = footer(week) if week else html.escape(f"由 canvass {__version__} 生成")
    return ("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<meta name=\"generator\" content=\"canvass\">\n<title>{html.escape(title)}</title>\n"
            f"<style>{css()}</style>\n</head>\n<body><main class=\"report\">"
            + "\n".join(fragments) + f"<footer class=\"foot\">{foot}</footer></main></body>\n</html>\n")


def write_index(out_dir: Path, subdistrict: str) -> None:
    """Write OUT/index.html listing every week's digest, newest first."""
    weeks = sorted((p.parent.name for p in out_dir.glob("*-W*/digest.html")), reverse=True)
    items = "".join(
        f'<li><a href="{html.escape(w)}/digest.html">{html.escape(format_week_cn(w))}（{html.escape(w)}）</a></li>'
        for w in weeks)
    body = [f"<h1>{html.escape(subdistrict)} 创城入户宣传周报</h1>",
            "<p class=\"sub\">各周街道汇总，最新的在最上面。</p>",
            f"<ul class=\"weeks\">{items or '<li>还没有周报。</li>'}</ul>"]
    write_text(out_dir / "index.html", page(f"{subdistrict} 周报目录", body))
