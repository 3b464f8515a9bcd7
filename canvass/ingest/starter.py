"""A starter ``subdistrict.yml`` written from what a data folder holds (``--init-config``).

It reads every file's header and columns the way cleaning does, then writes the keys a
user would otherwise work out from ``--check``: the communities found, a ``files:`` line
for each file whose community it cannot tell, ``grids:`` for registries without a 网格
column (with the buildings found), ``codes:``/``scales:`` for numeric answer columns, and
the columns it recognised or left out, as comments. Values it cannot know are marked
``待填写`` so that a run stops until someone fills them in.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from canvass.config import Config, load_config
from canvass.ingest import kinds
from canvass.ingest.answers import choose_columns, read_column
from canvass.ingest.check import suggest_scale
from canvass.ingest.clean import check_data_folder
from canvass.ingest.reading import file_community, read_kind
from canvass.vocab import QUESTION_FIELDS, RATE_LABELS

TO_FILL = "待填写"


def _yaml_str(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def starter_config(data_dir: Path) -> str:
    """Return the text of a commented starter subdistrict.yml for ``data_dir``."""
    data_dir = check_data_folder(Path(data_dir))
    config = Config()
    read = {k: read_kind(data_dir, k, config) for k in kinds.KINDS}
    communities: list = []
    for frame, _cmap, _rec in read["households"][0]:
        if "community" in frame:
            communities += [c for c in pd.unique(frame["community"]) if c]
    files_lines, grid_lines, column_notes = [], [], []
    codes_by_file: dict = {}
    scales_by_file: dict = {}
    copies = duplicate_downloads(read["surveys"][0])
    for kind, (frames, _records, _raws) in read.items():
        for frame, cmap, rec in frames:
            has_column = "community" in frame
            community = ""
            if not has_column:
                community, _how = file_community(rec.file, kind, config, communities)
                if community and kind == "households":
                    communities.append(community)
                if not community:
                    files_lines.append(f"  {_yaml_str(rec.file)}: {TO_FILL}   # 这个文件属于哪个社区？")
            if kind == "households" and "grid" not in frame:
                buildings = sorted({str(b) for b in frame.get("building", frame.get("address", pd.Series(dtype=str)))
                                    if str(b).isdigit()}, key=int)
                listed = ", ".join(buildings) if buildings else "1-5"
                grid_lines.append(f"  {community or TO_FILL}: {{第1网格: [{listed}]}}   # {rec.file}：按实际网格分配楼号")
            if kind != "surveys":
                continue
            if rec.file in copies:
                column_notes.append(f"# {rec.file}：与 {copies[rec.file]} 是同一批答卷的重复下载（只计一次），无需 codes")
                continue
            cands = frame.attrs.get("candidates", {})
            try:
                choices, notes = choose_columns(cands, cmap, rec.file, config, set(communities))
            except Exception as exc:  # a tie: say so, let the user pin the column
                column_notes.append(f"# {rec.file}：{exc}")
                continue
            for q in QUESTION_FIELDS:
                col = cmap.fields.get(q) if q in cmap.alias else choices.get(q)
                if col is None:
                    continue
                values = frame[q] if q in cmap.alias else cands[col]
                _codes, reading = read_column(values, q, str(cmap.headers[col]).strip(), rec.file, config)
                column_notes.append(f"#   {rec.file}：{RATE_LABELS[q]} ← “{reading.header}”")
                if reading.decoded:
                    continue
                seen = reading.values_seen
                if any(str(v)[-1:] in "分星" for v in seen) or reading.coding == "scored":
                    positive_from, top = suggest_scale(seen)
                    scales_by_file.setdefault(rec.file, []).append(f"{q}: {{positive_from: {positive_from}, max: {top}}}")
                else:
                    mapping = ", ".join(f"{v}: {TO_FILL}" for v in seen)
                    codes_by_file.setdefault(rec.file, []).append(f"{q}: {{{mapping}}}")
            for n in notes:
                if n[2] == "looks_like":
                    column_notes.append(f"#   {rec.file}：“{str(n[1]).strip()}”像是{RATE_LABELS.get(n[0], n[0])}的问题，"
                                        f"但回答无法识别，已忽略")
    out = ["# subdistrict.yml：由 run_reports.py --init-config 根据数据文件夹生成，请核对后保存。",
           "# 标有“待填写”的地方必须改成真实的值，否则批处理会报错。", "",
           "name: 街道   # 街道名称", ""]
    names = list(dict.fromkeys(communities))
    out.append("communities: [" + ", ".join(names) + "]   # 报告中的显示顺序" if names else "# communities: []")
    out += ["", "# campaign_start: 2023-08-07   # 创城入户工作开始的日期（趋势从这一周开始）",
            "# assessment_date: 2023-10-15  # 测评日期", ""]
    code_lines = [f"  {_yaml_str(f)}:   # 把每个编号写成 positive（肯定）或 negative（否定）\n"
                  + "\n".join(f"    {line}" for line in lines) for f, lines in codes_by_file.items()]
    scale_lines = [f"  {_yaml_str(f)}:   # 达到 positive_from 分算肯定\n" + "\n".join(f"    {line}" for line in lines)
                   for f, lines in scales_by_file.items()]
    for key, lines in (("files", files_lines), ("grids", grid_lines), ("codes", code_lines), ("scales", scale_lines)):
        if lines:
            out.append(f"{key}:")
            out += lines
            out.append("")
    if column_notes:
        out.append("# 问卷各题所用的列（如需改用别的列，写 columns: {字段: \"表头\"}）：")
        out += column_notes
    return "\n".join(out) + "\n"


def duplicate_downloads(frames) -> dict:
    """Return file → the file it duplicates, for survey downloads whose every (提交时间, 序号) is in an earlier file.

    The starter's cheap version of 9.8 (the cleaner's rule decides for real): enough not to
    ask for codes of a 按序号 download that sits beside its 按文本 twin.
    """
    keys = {}
    for frame, _cmap, rec in frames:
        if "submitted_at" in frame and "sheet_id" in frame and len(frame):
            keys[rec.file] = set(zip(frame["submitted_at"], frame["sheet_id"]))
    out = {}
    names = list(keys)
    for i, a in enumerate(names):
        for b in names:
            if a != b and b not in out and keys[a] and keys[a] <= keys[b] and (keys[a] != keys[b] or names.index(b) < i):
                out[a] = b
                break
    return out


def write_starter_config(data_dir: Path) -> Path:
    """Write ``data_dir/subdistrict.yml`` unless it exists; return its path."""
    path = Path(data_dir) / "subdistrict.yml"
    if path.exists():
        from canvass.errors import ParameterError
        raise ParameterError("subdistrict.yml 已存在，不会覆盖", expected="删除或改名后再运行 --init-config，"
                                                              "或直接编辑现有文件")
    text = starter_config(data_dir)
    path.write_text(text, encoding="utf-8")
    if TO_FILL not in text:
        load_config(Path(data_dir))  # a complete starter must parse; one with 待填写 stops the run until filled
    return path
