"""What ``--check`` warns about (contract 9.9), each with the ``subdistrict.yml`` lines that settle it.

Nothing a staff member downloaded is dropped without a line saying so: an undecoded
coded column, a column that looks like a question but whose answers were not
recognised, registry rows without a grid, a file with every row rejected, a duplicate
download, and a question whose invalid answers exceed a fifth of its answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from canvass.vocab import FIELD_TEXT, RATE_LABELS

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
    return out
