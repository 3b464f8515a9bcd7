"""Report files: offline HTML pages, metrics.csv and metrics.xlsx, the week index."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from . import __version__
from .atomic import atomic_path, write_bytes, write_text
from .config import METRIC_FIELDS
from .dates import format_week_cn, week_bounds
from .metrics import METRIC_COLUMNS

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


def write_metrics_csv(metrics: pd.DataFrame, path: Path) -> None:
    """Write metrics.csv: UTF-8 with BOM, the contract's columns first, full precision."""
    data = metrics.to_csv(index=False, lineterminator="\n", float_format=None)
    write_bytes(path, ("\ufeff" + data).encode("utf-8"))


CN_HEADERS = {
    "scope": "范围", "community": "社区", "week": "周", "households": "常住户数", "reached_cum": "已覆盖户数",
    "coverage_cum": "覆盖率", "visits_week": "本周走访次数", "entered_week": "本周入户次数",
    "returns_week": "本周问卷数", "returns_cum": "累计问卷数",
    "issues_raised_week": "本周登记诉求", "issues_resolved_week": "本周办结诉求", "issues_open": "未办结诉求",
    "issues_overdue": "超期诉求", "resolution_rate_cum": "累计办结率", "materials_week": "本周发放材料",
    "rejected_rows": "剔除行数",
}
_METRIC_CN = {"awareness": "知晓率", "support": "支持率", "participation": "参与率", "satisfaction": "满意率",
              "garbage_sorting": "垃圾分类知晓率"}
for _x, _cn in _METRIC_CN.items():
    CN_HEADERS[f"{_x}_rate_week"] = f"{_cn}（本周）"
    CN_HEADERS[f"{_x}_rate_cum"] = f"{_cn}（累计）"
    CN_HEADERS[f"{_x}_n_week"] = f"{_cn}样本数（本周）"
    CN_HEADERS[f"{_x}_n_cum"] = f"{_cn}样本数（累计）"
PERCENT_COLUMNS = {"coverage_cum", "resolution_rate_cum"} | {
    f"{x}_rate_{s}" for x in METRIC_FIELDS for s in ("week", "cum")}


def excel_value(v):
    """Return a cell value Excel accepts: control characters removed from text, NaN as empty."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(v, float) and v != v:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, str):
        return ILLEGAL_CHARACTERS_RE.sub("", v)
    return v


def write_metrics_xlsx(week_metrics: pd.DataFrame, all_weeks: pd.DataFrame, path: Path) -> None:
    """Write metrics.xlsx for upward reporting: Chinese headers, percentages, this week + every week."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    wb.remove(wb.active)
    for title, frame in (("本周", week_metrics), ("历周", all_weeks)):
        ws = wb.create_sheet(title)
        frame = frame[METRIC_COLUMNS].copy()
        frame["scope"] = frame["scope"].map({"community": "社区", "subdistrict": "街道合计"})
        ws.append([CN_HEADERS[c] for c in METRIC_COLUMNS])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
        for row in frame.itertuples(index=False):  # a few rows per week
            ws.append([excel_value(v) for v in row])
        for j, col in enumerate(METRIC_COLUMNS, start=1):
            letter = ws.cell(1, j).column_letter
            ws.column_dimensions[letter].width = max(8, min(18, len(CN_HEADERS[col]) * 2 + 2))
            if col in PERCENT_COLUMNS:
                for r in range(2, ws.max_row + 1):
                    ws.cell(r, j).number_format = "0.0%"
        ws.freeze_panes = "D2"
    with atomic_path(path) as tmp:
        wb.save(tmp)


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
