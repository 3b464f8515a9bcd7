"""Benchmark reading + cleaning + metrics on one million survey rows, and workbook reading speed.

    python benchmarks/bench_clean.py                 # 1,000,000 survey rows (target: < 30 s, < 2 GiB)
    python benchmarks/bench_clean.py --rows 100000   # a quick run
    python benchmarks/bench_clean.py --keep /tmp/big # keep the generated data folder
    python benchmarks/bench_clean.py --bomb 1200      # a small .xlsx whose sheet inflates to 1,200 MB

It writes a synthetic data folder in a temporary directory (UTF-8 CSV; the survey rows
split over --files files; a registry of --communities x --households households; about
0.4 visits per survey row; a few thousand issues), then runs, in a fresh child process,
``canvass.ingest.clean.clean_folder`` + ``canvass.metrics.compute_metrics`` and reports the wall
time of each step and the child's peak RSS (``ru_maxrss``). It also times
``canvass.ingest.readers.read_sheet`` on an openpyxl-written .xlsx and an xlwt-written .xls (at most
65,535 rows per .xls sheet, so that one is scaled) and reports seconds per 100,000 rows.
Generation time is not part of any figure. The data is fake and deterministic (--seed).

``--bomb MB`` instead writes a ~MB/1000 MB .xlsx whose one sheet inflates to MB megabytes of
XML (header-less rows of 20 numbers, as a workbook bomb), reads it as ``--check`` does
(``read_kind`` of surveys/) in a fresh child, and reports the message, the time and the peak
RSS: with the default limits, once more with the size limit raised above it (then the cell
limit answers), and with both raised (then the missing header answers after ten rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
WEEK = "2023-W37"
COMMUNITIES = ["七一社区", "海港社区", "港兴社区", "福寿社区", "修竹社区", "春晖社区", "东风社区", "红星社区"]
SURVEY_HEADER = ["提交时间", "社区", "住址", "1、您知道我市正在创建全国文明城市吗？", "2、您支持创城吗？",
                 "3、您对社区环境满意吗？", "4、您参与过创城志愿活动吗？", "5、您了解垃圾分类吗？",
                 "6、您对创城工作有什么意见或建议？", "所用时间", "来自IP"]
ANSWERS = [
    ["知道", "知道", "知道", "了解", "是", "不知道", "不清楚", "(跳过)"],
    ["支持", "非常支持", "支持", "比较支持", "不支持", "无所谓", "(空)"],
    ["满意", "非常满意", "比较满意", "基本满意", "一般", "不满意", "还行"],
    ["参与过", "是", "偶尔参与", "否", "没参与过", "(跳过)"],
    ["了解", "知道", "清楚", "不了解", "否", "是"],
]
COMMENTS = ["(空)", "(空)", "(空)", "", "希望多组织志愿活动", "楼道堆物请清理", "路灯坏了", "无"]
OUTCOMES = ["已入户", "已入户", "入户成功", "线上宣传", "微信", "不在家", "无人在家", "拒访"]


# --- data generation (not timed) --------------------------------------------------------------------

def _registry(communities: list[str], per: int, rng: np.random.Generator) -> pd.DataFrame:
    """Return (community, building, unit, room) of ``per`` distinct households per community."""
    frames = []
    units, floors, doors = 4, 25, 2
    per_building = units * floors * doors
    for c in communities:
        i = np.arange(per)
        b = i // per_building + 1
        rem = i % per_building
        u = rem // (floors * doors) + 1
        rem = rem % (floors * doors)
        room = (rem // doors + 1) * 100 + rem % doors + 1
        frames.append(pd.DataFrame({"community": c, "building": b, "unit": u, "room": room}))
    return pd.concat(frames, ignore_index=True)


def _render(reg: pd.DataFrame, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return address strings for registry rows ``idx`` in mixed section-3 spellings."""
    b = reg["building"].to_numpy()[idx].astype(str)
    u = reg["unit"].to_numpy()[idx].astype(str)
    r = reg["room"].to_numpy()[idx].astype(str)
    style = rng.integers(0, 4, len(idx))
    dash = np.char.add(np.char.add(np.char.add(np.char.add(b, "-"), u), "-"), r)
    full = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(b, "号楼"), u), "单元"), r), "室")
    dong = np.char.add(np.char.add(np.char.add(np.char.add(b, "栋"), u), "单元"), r)
    out = np.where(style == 0, dash, np.where(style == 1, full, np.where(style == 2, dong, dash)))
    return out.astype(object)


def _timestamps(n: int, rng: np.random.Generator, with_seconds: bool = True) -> np.ndarray:
    start = pd.Timestamp("2023-08-07 07:00").value // 10**9
    end = pd.Timestamp("2023-09-20 22:00").value // 10**9
    secs = rng.integers(start, end, n)
    stamps = pd.to_datetime(secs, unit="s")
    fmt = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d"
    return np.asarray(stamps.strftime(fmt), dtype=object)


def _write(frame: pd.DataFrame, path: Path, header: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, header=header, encoding="utf-8")


def generate(root: Path, rows: int, communities: int, households: int, files: int, seed: int) -> dict:
    """Write the synthetic data folder; return row counts."""
    rng = np.random.default_rng(seed)
    names = COMMUNITIES[:communities]
    reg = _registry(names, households, rng)
    occ = rng.choice(np.array(["常住", "自住", "出租", "空置"], dtype=object), len(reg), p=[0.6, 0.2, 0.15, 0.05])
    for c in names:
        m = (reg["community"] == c).to_numpy()
        part = reg[m]
        grid = (part["building"] - 1) // 4 + 1
        frame = pd.DataFrame({"社区": c, "网格": grid.map(lambda g: f"第{g}网格"), "楼号": part["building"],
                              "单元": part["unit"], "室": part["room"], "居住状态": occ[m],
                              "户主": "某某", "联系电话": ""})
        _write(frame, root / "households" / f"{c}住户台账.csv", list(frame.columns))

    n_visits = max(1000, int(rows * 0.4))
    vidx = rng.integers(0, len(reg), n_visits)
    visits = pd.DataFrame({
        "走访日期": _timestamps(n_visits, rng, with_seconds=False),
        "社区": reg["community"].to_numpy()[vidx],
        "地址": _render(reg, vidx, rng),
        "走访结果": rng.choice(np.array(OUTCOMES, dtype=object), n_visits),
        "发放材料": rng.choice(np.array(["1", "2", "", "2份", "0"], dtype=object), n_visits),
        "走访人": rng.choice(np.array(["张三", "李四", "王五", ""], dtype=object), n_visits),
    })
    for c, part in visits.groupby("社区", sort=False):
        _write(part, root / "visits" / f"{c}_走访记录.csv", list(part.columns))

    sidx = rng.integers(0, len(reg), rows)
    address = _render(reg, sidx, rng)
    address[rng.random(rows) < 0.10] = ""  # anonymous returns
    address[rng.random(rows) < 0.001] = "人民路12号3-2-501"  # unparseable
    survey = {
        SURVEY_HEADER[0]: _timestamps(rows, rng),
        SURVEY_HEADER[1]: reg["community"].to_numpy()[sidx],
        SURVEY_HEADER[2]: address,
    }
    for h, values in zip(SURVEY_HEADER[3:8], ANSWERS):
        survey[h] = rng.choice(np.array(values, dtype=object), rows)
    survey[SURVEY_HEADER[8]] = rng.choice(np.array(COMMENTS, dtype=object), rows)
    # 问卷星 bookkeeping for the credibility flags: answer time and client address
    survey[SURVEY_HEADER[9]] = [f"{s}秒" for s in rng.integers(5, 600, rows)]
    survey[SURVEY_HEADER[10]] = [f"10.{a}.{b}.{c}(浙江-杭州)" for a, b, c in rng.integers(0, 64, (rows, 3))]
    frame = pd.DataFrame(survey)
    for k, part in enumerate(np.array_split(np.arange(rows), files)):
        _write(frame.iloc[part], root / "surveys" / f"调查问卷_{k + 1:02d}.csv", SURVEY_HEADER)

    n_issues = max(100, rows // 200)
    iidx = rng.integers(0, len(reg), n_issues)
    raised = pd.to_datetime(_timestamps(n_issues, rng, with_seconds=False))
    resolved = raised + pd.to_timedelta(rng.integers(0, 20, n_issues), unit="D")
    status = rng.choice(np.array(["已办结", "办理中", "待处理"], dtype=object), n_issues)
    issues = pd.DataFrame({
        "登记日期": raised.strftime("%Y-%m-%d"), "社区": reg["community"].to_numpy()[iidx],
        "问题类别": rng.choice(np.array(["环境卫生", "占道经营", "绿化", "设施维修"], dtype=object), n_issues),
        "问题描述": [f"问题{i}" for i in range(n_issues)],
        "处理方式": rng.choice(np.array(["社区解决", "上报", ""], dtype=object), n_issues),
        "办理状态": status,
        "办结日期": np.where(status == "已办结", resolved.strftime("%Y-%m-%d"), ""),
    })
    _write(issues, root / "issues" / "问题清单.csv", list(issues.columns))
    return {"households": len(reg), "visits": n_visits, "surveys": rows, "issues": n_issues}


def write_xlsx(path: Path, rows: int, seed: int) -> None:
    import openpyxl

    rng = np.random.default_rng(seed)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("问卷")
    sheet.append(SURVEY_HEADER)
    stamps = pd.to_datetime(_timestamps(rows, rng)).to_pydatetime()
    rooms = rng.integers(1, 26, rows) * 100 + rng.integers(1, 3, rows)
    answers = [rng.choice(np.array(v, dtype=object), rows) for v in ANSWERS]
    for i in range(rows):
        # a datetime cell, text, a number-looking address, answers, a comment
        sheet.append([stamps[i], "七一社区", f"{i % 40 + 1}-{i % 4 + 1}-{rooms[i]}",
                      *(a[i] for a in answers), "(空)"])
    book.save(path)


def write_xls(path: Path, rows: int, seed: int) -> None:
    import xlwt

    rng = np.random.default_rng(seed)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("问卷")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
    for c, h in enumerate(SURVEY_HEADER):
        sheet.write(0, c, h)
    stamps = pd.to_datetime(_timestamps(rows, rng)).to_pydatetime()
    answers = [rng.choice(np.array(v, dtype=object), rows) for v in ANSWERS]
    for i in range(rows):
        r = i + 1
        sheet.write(r, 0, stamps[i], date_style)
        sheet.write(r, 1, "七一社区")
        sheet.write(r, 2, f"{i % 40 + 1}号楼{i % 4 + 1}单元{(i % 25 + 1) * 100 + 1}室")
        for c, a in enumerate(answers, start=3):
            sheet.write(r, c, a[i])
        sheet.write(r, 8, "(空)")
    book.save(str(path))


# --- timed work (child process) ----------------------------------------------------------------------

def _peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux (bytes on macOS)
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def child_clean(data: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from canvass.config import load_config
    from canvass.ingest.clean import clean_folder
    from canvass.metrics import compute_metrics

    base = _peak_rss_mib()
    t0 = time.perf_counter()
    cleaned = clean_folder(data, load_config(data))
    t1 = time.perf_counter()
    table = compute_metrics(cleaned, WEEK)
    t2 = time.perf_counter()
    from canvass.credibility import flag_returns
    from canvass.metrics import week_view
    returns = week_view(cleaned, WEEK).surveys
    t3 = time.perf_counter()
    flags = flag_returns(returns, cleaned.config.credibility)  # also inside compute_metrics: timed alone here
    t4 = time.perf_counter()
    return {"clean_s": t1 - t0, "metrics_s": t2 - t1, "flags_s": t4 - t3, "flagged": int(flags.any(axis=1).sum()),
            "flag_rows": int(len(returns)), "peak_mib": _peak_rss_mib(), "import_mib": base,
            "rows": sum(r.data_rows for r in cleaned.files), "rejects": int(len(cleaned.rejects)),
            "survey_returns": int(len(cleaned.surveys)), "pooled_returns_cum": int(table["returns_cum"].iloc[-1])}


def write_bomb(path: Path, mb: int) -> None:
    """Write a valid .xlsx whose sheet XML is ``mb`` MiB of header-less numeric rows (deflated ~1000:1)."""
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["x"])
    small = path.with_name("small.xlsx")
    book.save(small)
    row = "<row>" + "<c><v>1</v></c>" * 20 + "</row>"
    block = (row * 1000).encode()
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in src.namelist():
            if name != "xl/worksheets/sheet1.xml":
                z.writestr(name, src.read(name))
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            for _ in range(mb * 2**20 // len(block)):
                fh.write(block)
            fh.write(b"</sheetData></worksheet>")
    small.unlink()


def child_bomb(data: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from canvass.config import Config
    from canvass.errors import InputError
    from canvass.ingest.reading import read_kind

    base = _peak_rss_mib()
    t0 = time.perf_counter()
    try:
        read_kind(data, "surveys", Config())
        message = "(read without an error)"
    except InputError as exc:
        message = exc.one_line()
    return {"read_s": time.perf_counter() - t0, "peak_mib": _peak_rss_mib(), "import_mib": base, "message": message}


def bomb(mb: int, keep: Path | None) -> None:
    """Write the bomb, read it in a child under three settings of the limits, print the figures."""
    workdir = keep or Path(tempfile.mkdtemp(prefix="bench_bomb_"))
    try:
        path = workdir / "surveys" / "bomb.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_bomb(path, mb)
        print(f"bomb.xlsx: {path.stat().st_size / 2**20:.1f} MiB on disk, sheet XML {mb:,} MiB, 20 cells a row "
              f"(written in {time.perf_counter() - t0:.0f} s)", flush=True)
        for label, env in (("default limits", {}),
                           ("CANVASS_MAX_SHEET_MB raised", {"CANVASS_MAX_SHEET_MB": str(mb * 2)}),
                           ("both limits raised", {"CANVASS_MAX_SHEET_MB": str(mb * 2),
                                                   "CANVASS_MAX_SHEET_CELLS": str(10**12)})):
            old = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                r = run_child("--child", "bomb", str(workdir))
            finally:
                for k, v in old.items():
                    os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
            print(f"{label:<28} {r['read_s']:6.1f} s  peak RSS {r['peak_mib']:6.0f} MiB "
                  f"(after imports {r['import_mib']:.0f})  {r['message']}", flush=True)
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def child_read(path: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from canvass.ingest.readers import read_sheet

    t0 = time.perf_counter()
    sheet = read_sheet(path, path.name)
    return {"read_s": time.perf_counter() - t0, "rows": int(len(sheet.cells)) - 1, "peak_mib": _peak_rss_mib()}


def run_child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="survey rows (default 1,000,000)")
    ap.add_argument("--communities", type=int, default=5)
    ap.add_argument("--households", type=int, default=40_000, help="households per community")
    ap.add_argument("--files", type=int, default=4, help="survey files the rows are split into")
    ap.add_argument("--excel-rows", type=int, default=100_000, help="rows of the .xlsx timed (.xls: at most 65,535)")
    ap.add_argument("--no-excel", action="store_true", help="skip the .xlsx/.xls reading test")
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--keep", type=Path, help="write the data here and keep it")
    ap.add_argument("--bomb", type=int, metavar="MB", help="instead: read an .xlsx whose sheet inflates to MB MiB")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        mode, path = args.child
        if mode == "gen":  # generation runs in its own process too: ru_maxrss survives exec on
            # Linux, so children forked from a parent that held the data would inherit its peak
            counts = generate(Path(path) / "data", args.rows, args.communities, args.households, args.files,
                              args.seed)
            if not args.no_excel:
                write_xlsx(Path(path) / "surveys.xlsx", args.excel_rows, args.seed)
                write_xls(Path(path) / "surveys.xls", min(args.excel_rows, 65_535 - 1), args.seed)
            result = counts
        else:
            result = {"clean": child_clean, "bomb": child_bomb}.get(mode, child_read)(Path(path))
        print(json.dumps(result, ensure_ascii=False))
        return
    if args.bomb:
        bomb(args.bomb, args.keep)
        return

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_clean_"))
    data = workdir / "data"
    try:
        if data.exists():
            shutil.rmtree(data)
        t0 = time.perf_counter()
        counts = run_child("--child", "gen", str(workdir), "--rows", str(args.rows), "--communities",
                           str(args.communities), "--households", str(args.households), "--files", str(args.files),
                           "--excel-rows", str(args.excel_rows), "--seed", str(args.seed),
                           *(["--no-excel"] if args.no_excel else []))
        size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        print(f"generated in {time.perf_counter() - t0:.1f} s: {counts} ({size / 2**20:.0f} MiB of CSV) in {data}"
              + ("" if args.no_excel else ", plus surveys.xlsx / surveys.xls"), flush=True)

        t0 = time.perf_counter()
        res = run_child("--child", "clean", str(data))
        wall = time.perf_counter() - t0

        excel = {}
        if not args.no_excel:
            excel["xlsx"] = run_child("--child", "read", str(workdir / "surveys.xlsx"))
            excel["xls"] = run_child("--child", "read", str(workdir / "surveys.xls"))
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)

    total = res["clean_s"] + res["metrics_s"]
    print()
    print("== bench_clean ==")
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, {sys.platform}")
    print(f"input rows           {res['rows']:>12,}  (surveys {counts['surveys']:,}, households {counts['households']:,}, "
          f"visits {counts['visits']:,}, issues {counts['issues']:,})")
    print(f"clean_folder         {res['clean_s']:>10.2f} s  (read + clean, every kind)")
    print(f"compute_metrics      {res['metrics_s']:>10.2f} s  (week {WEEK})")
    print(f"clean + metrics      {total:>10.2f} s  (child wall time incl. imports: {wall:.2f} s)")
    print(f"credibility flags    {res['flags_s']:>10.2f} s  ({res['flag_rows']:,} standing returns, {res['flagged']:,} flagged;"
          f" part of compute_metrics)")
    print(f"peak RSS (child)     {res['peak_mib']:>10.0f} MiB  (after imports: {res['import_mib']:.0f} MiB)")
    print(f"rejects {res['rejects']:,}; survey returns kept {res['survey_returns']:,}; "
          f"pooled returns_cum {res['pooled_returns_cum']:,}")
    for kind, r in excel.items():
        per = r["read_s"] / r["rows"] * 100_000 if r["rows"] else float("nan")
        print(f"read_sheet .{kind:<5}  {per:>10.2f} s per 100,000 rows  ({r['rows']:,} rows in {r['read_s']:.2f} s, "
              f"9 columns; peak {r['peak_mib']:.0f} MiB)")
    if args.rows >= 1_000_000:
        ok_t, ok_m = total < 30, res["peak_mib"] < 2048
        print(f"target (1M survey rows: < 30 s, < 2 GiB): time {'OK' if ok_t else 'MISSED'}, "
              f"memory {'OK' if ok_m else 'MISSED'}")


if __name__ == "__main__":
    main()
