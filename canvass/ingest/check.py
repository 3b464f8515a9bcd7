"""What ``--check`` warns about (contract 9.9), each with the ``subdistrict.yml`` lines that settle it.

Nothing a staff member downloaded is dropped without a line saying so: an undecoded
coded column, a column that looks like a question but whose answers were not
recognised, registry rows without a grid, a file with every row rejected, a duplicate
download, and a question whose invalid answers exceed a fifth of its answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from canvass.ingest.headers import misplaced_kind, misplaced_text
from canvass.vocab import FIELD_TEXT, QUESTION_FIELDS, RATE_LABELS

INVALID_WARN_SHARE = 0.20


@dataclass(frozen=True)
class Warning:
    """One thing the tool could not decide alone, in staff's words, with the fix."""

    file: str
    message: str
    yml: str = ""  # lines to paste into subdistrict.yml, when that settles it

    def to_json(self) -> dict:
        return {"file": self.file, "message": self.message, "yml": self.yml}


def _q(field: str) -> str:
    return RATE_LABELS.get(field, FIELD_TEXT.get(field, field))


def _codes_yml(file: str, field: str, values: list) -> str:
    codes = ", ".join(f"{v}: positive" if i == 0 else f"{v}: negative" for i, v in enumerate(values))
    return (f'codes:\n  "{file}": {{{field}: {{{codes}}}}}'
            "   # 按问卷中选项的顺序把每个编号改成 positive（肯定）或 negative（否定）")


def suggest_scale(values: list) -> tuple[int, int]:
    """Return (positive_from, max) for scores seen: the usual 5, 10 or 100 point scale, 80% and up positive."""
    seen = [float(str(v).rstrip("分星").strip()) for v in values if str(v).rstrip("分星").strip().replace(".", "", 1).isdigit()]
    top = max(seen, default=10)
    scale = 5 if top <= 5 else (10 if top <= 11 else 100)  # an 11 on a 0–10 question is a typo, not the scale
    return max(1, round(scale * 0.8)), scale


def _scales_yml(field: str, values: list, file: str = "") -> str:
    positive_from, top = suggest_scale(values)
    key = f'"{file}": {{{field}: ' if file else f"{field}: "
    close = "}" if file else ""
    return (f"scales:\n  {key}{{positive_from: {positive_from}, max: {top}}}{close}"
            "   # 达到 positive_from 分算肯定")


def file_warnings(files) -> list[Warning]:
    """Return every warning about the files as read (FileRecord objects), in file order."""
    out: list[Warning] = []
    registry = [f for f in files if f.kind == "households"]
    if not any(f.data_rows for f in registry):  # first: it explains every "全部剔除" line below
        out.append(Warning("households/", "住户台账中没有任何住户" + ("（文件只有表头）" if registry else "（没有台账文件）")
                           + "：走访和问卷的每一行都会因“地址在住户台账中不存在”被剔除，覆盖率无法计算；"
                             "请放入各社区的住户台账"))
    for f in files:
        if f.duplicate_of:
            out.append(Warning(f.file, f"与 {f.duplicate_of} 是同一批答卷的重复下载（如问卷星的“按选项文本”和"
                                       f"“按序号”两种下载），已只计一次"))
            continue
        for r in f.readings:
            field, header = r["field"], r["header"]
            if not r["decoded"]:
                kind = "分数" if r["coding"] == "scored" or any(str(v)[-1:] in "分星" for v in r["values_seen"]) \
                    else "编号"
                seen = "、".join(map(str, r["values_seen"]))
                yml = (_scales_yml(field, r["values_seen"], f.file) if kind == "分数"
                       else _codes_yml(f.file, field, r["values_seen"]))
                out.append(Warning(f.file, f"列“{header}”（{_q(field)}）的回答是{kind}（{seen}），不知道哪些算肯定："
                                           f"{_q(field)}暂未计入这份文件的回答", yml))
            if r["non_blank"] and r["invalid"] > INVALID_WARN_SHARE * r["non_blank"]:
                ex = "、".join(f"“{e}”" for e in r["invalid_examples"])
                out.append(Warning(f.file, f"列“{header}”（{_q(field)}）有 {r['invalid']} / {r['non_blank']} 个回答无法识别"
                                           f"（如 {ex}），未计入{_q(field)}",
                                   f"answers:\n  {field}: {{positive: [{r['invalid_examples'][0]}], negative: []}}"
                                   "   # 若这些回答其实是肯定或否定，写在这里"))
        for n in f.notes:
            if n["why"] == "looks_like":
                out.append(Warning(f.file, f"列“{n['header']}”像是{_q(n['field'])}的问题，但回答大多无法识别，已忽略",
                                   f'ignore_columns: ["{n["header"]}"]   # 不是这一题时写上，不再提示；'
                                   f'确实是这一题时改写 columns: {{{n["field"]}: "{n["header"]}"}}'))
        if f.unassigned_grid:
            comm = f.community or "某某社区"
            out.append(Warning(f.file, f"住户台账没有“网格”列，{f.unassigned_grid} 户归入“未分网格”",
                               f"grids:\n  {comm}: {{第1网格: [1-5], 第2网格: [6-10]}}   # 按实际网格填写楼号"))
        if f.data_rows and f.rejected_rows >= f.data_rows:
            out.append(Warning(f.file, f"全部 {f.data_rows} 行都被剔除，请查看 rejects.csv 中的原因"))
        if _no_question_column(f):
            other = _misplaced(f)
            out.append(Warning(f.file, f"没有一列被认作问卷题目（{'、'.join(_q(x) for x in QUESTION_FIELDS)}），"
                                       f"这 {f.data_rows} 份问卷只计入问卷数，不计入任何比率"
                                       + (f"；{misplaced_text(other)}" if other else ""),
                               "" if other else _columns_yml(f)))
    return out


def _no_question_column(f) -> bool:
    """A survey file with returns of which no column was taken for any of the five questions."""
    return (f.kind == "surveys" and not f.duplicate_of and f.data_rows > 0
            and not any(x in f.columns for x in QUESTION_FIELDS))


def _misplaced(f):
    """The kind whose table a survey file without questions really is (a visits ledger in surveys/), if any."""
    from canvass.ingest.kinds import KINDS

    return misplaced_kind(list(f.columns.values()) + list(f.ignored_columns), KINDS[f.kind], {})


def _columns_yml(f) -> str:
    headers = [h for h in f.ignored_columns if str(h).strip()][:5]
    example = headers[0] if headers else "题目列的表头"
    seen = "、".join(f"“{h}”" for h in headers)
    return (f'columns: {{satisfaction: "{example}"}}   # 把每道题的表头写给对应的指标'
            f"（awareness 知晓、support 支持、participation 参与、satisfaction 满意、garbage_sorting 垃圾分类）"
            + (f"；未使用的列有 {seen}" if seen else ""))


# Extensions people save tables in that the tool does not read, with what to do (else: move it out).
_OTHER_TABLES = {".et": "WPS 表格文件", ".ett": "WPS 表格模板", ".numbers": "Numbers 表格", ".ods": "OpenDocument 表格",
                 ".wps": "WPS 文字文件", ".doc": "Word 文件", ".docx": "Word 文件", ".pdf": "PDF 文件",
                 ".txt": "文本文件", ".tsv": "文本表格", ".json": "JSON 文件"}


def folder_warnings(data_dir, config) -> list[Warning]:
    """Return what the data folder holds that the tool does not use, in the staff's words.

    A file of a kind's folder that is not CSV or Excel is skipped (its rows are not read), and
    a ``files:`` pattern of subdistrict.yml that matches no file does nothing: neither may pass
    in silence (contract 9.9), though neither stops the batch.
    """
    from pathlib import Path

    from canvass.ingest import kinds
    from canvass.ingest.answers import glob_match
    from canvass.ingest.readers import list_input_files, unread_files

    data_dir = Path(data_dir)
    out: list[Warning] = []
    listed: list[str] = []
    for kind in kinds.KINDS:
        folder = data_dir / kind
        if not folder.is_dir():
            continue
        listed += [p.relative_to(data_dir).as_posix() for p in list_input_files(folder)]
        for p in unread_files(folder):
            what = _OTHER_TABLES.get(p.suffix.lower(), "不是 CSV 或 Excel 文件")
            todo = ("如果这是 Excel 另存的文本表格，把扩展名改为 .csv 即可读入"
                    if p.suffix.lower() in (".txt", ".tsv") else
                    "如果其中是数据，请用 WPS 或 Excel 打开后另存为 .xlsx" if p.suffix.lower() in (".et", ".ett", ".numbers", ".ods")
                    else "如果不是数据，把它移出这个文件夹即可")
            out.append(Warning(p.relative_to(data_dir).as_posix(), f"{what}，已跳过，其中的记录没有读入；{todo}"))
    for pattern in config.files:
        if not any(glob_match(pattern, rel) for rel in listed):
            slash = "（文件夹之间请用 / 分隔，不要用 \\）" if "\\" in pattern else ""
            out.append(Warning("subdistrict.yml", f"files: 中的“{pattern}”没有匹配任何文件，这一行没有起作用{slash}"))
    return out


def community_lines(files) -> list[str]:
    """Return how each file's community was found, for files without a 社区 column."""
    lines = []
    for f in files:
        if f.community_source and f.community_source != "column":
            how = {"files:": "subdistrict.yml 的 files:", "file name": "文件名"}.get(f.community_source, f.community_source)
            lines.append(f"{f.file} → {f.community}（按{how}）")
    return lines


def rate_gaps(files) -> list[dict]:
    """Return, per survey file, each rate that left the file's answers out and why (plain Chinese).

    The digest's data-quality section lists these, so that a rate shown as 无数据 or computed
    from fewer files never reads as a full count.
    """
    out = []
    for f in files:
        if f.kind != "surveys":
            continue
        if f.duplicate_of:
            out.append({"community": f.community, "file": f.file, "rate": "全部",
                        "why": f"与 {f.duplicate_of} 重复下载，只计一次"})
            continue
        for r in f.readings:
            if not r["decoded"]:
                kind = "分数" if r["coding"] == "scored" or any(str(v)[-1:] in "分星" for v in r["values_seen"]) \
                    else "数字编号"
                key = "scales" if kind == "分数" else "codes"
                out.append({"community": f.community, "file": f.file, "rate": _q(r["field"]),
                            "why": f"回答是{kind}，subdistrict.yml 未写明 {key}:，这份文件的回答未计入"})
        for n in f.notes:
            if n["why"] == "looks_like":
                out.append({"community": f.community, "file": f.file, "rate": _q(n["field"]),
                            "why": f"列“{n['header']}”的回答大多无法识别，未使用"})
        if _no_question_column(f):
            out.append({"community": f.community, "file": f.file, "rate": "全部",
                        "why": "没有认出任何题目列，这份文件的问卷只计入问卷数，不计入比率"})
    return out
