"""Command line: parse options, call the batch, print progress and a summary. Nothing else."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from canvass.config import DEFAULT_TIMEOUT, SAMPLE_DATA
from canvass.errors import CanvassError

EPILOG = """示例 examples:
  python run_reports.py                                   # 示例数据，最近一周
  python run_reports.py --data 数据/本周 --week 2023-W36
  python run_reports.py --community 修竹社区 -p target_awareness 0.9
  python run_reports.py --check --data 数据/本周             # 只检查输入文件
退出码 exit codes: 0 全部成功；1 部分社区失败；2 未运行（参数、配置或输入有误）"""


def build_parser(prog: str = "run_reports.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="创城入户宣传周报：清洗数据、计算指标、生成各社区报告和街道汇总。",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=SAMPLE_DATA if SAMPLE_DATA.is_dir() else None,
                   help="数据文件夹（默认：自带示例数据 data/sample，仅在项目文件夹中运行时有）")
    p.add_argument("--out", type=Path, default=Path("reports"), help="输出文件夹（默认 reports）")
    p.add_argument("--week", help="报告周：2023-W36 或该周内任一日期；默认数据中最近的一周")
    p.add_argument("--community", action="append", default=[], metavar="NAME", help="只重新生成这个社区的报告（可重复）")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="并行工作进程数（默认 CPU 核数）")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="覆盖笔记本参数，如 -p target_awareness 0.9（见 --list-params）")
    p.add_argument("--config", type=Path, help="另用的 subdistrict.yml")
    p.add_argument("--list-params", action="store_true", help="列出笔记本的全部参数后退出")
    p.add_argument("--check", action="store_true", help="只读取和清洗，按文件和社区列出剔除的记录后退出")
    p.add_argument("--init-config", action="store_true",
                   help="根据数据文件夹写一个带注释的 subdistrict.yml（已存在时不覆盖）后退出")
    p.add_argument("--force", action="store_true", help="忽略上次的结果，全部重新生成")
    p.add_argument("--scheduler", help="Dask 调度器地址（如 tcp://host:8786），在集群上运行")
    p.add_argument("--fresh-kernels", action="store_true", help="每个笔记本用新内核（较慢，用于核对）")
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"笔记本每个单元格最长运行秒数，超时的报告记为失败（默认 {DEFAULT_TIMEOUT}）")
    p.add_argument("--lock-wait", type=float, default=0.0, help="输出文件夹被占用时最多等待的秒数（默认不等）")
    p.add_argument("--debug", action="store_true", help="出错时显示完整的 Python 错误信息")
    return p


def _console():
    from rich.console import Console

    # Piped output (logs, CI) gets wide lines instead of truncated table cells.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=True, width=width)


def shown_text(value) -> str:
    """Return text safe for a console: control characters (escape codes) become '?'."""
    import unicodedata

    return "".join("?" if unicodedata.category(ch) == "Cc" else ch for ch in str(value))


def _safe_streams() -> None:
    # A Chinese Windows console is often GBK: never crash on a character it cannot show.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass


def run_check(options, console) -> int:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from canvass.run.batch import rejects_table
    from canvass.run.plan import choose_week, load_and_clean

    config, cleaned = load_and_clean(options)
    week, chosen = choose_week(options, cleaned)
    table = rejects_table(cleaned, week)
    console.print(f"检查 {options.data_dir}：{len(cleaned.files)} 个文件，报告周 {week}" + ("（自动选择）" if chosen else ""))
    files = Table(title="各文件行数", box=box.ASCII)
    for col in ("文件", "数据行", "空行", "剔除"):
        files.add_column(col)
    counts = table.groupby("file").size()
    for f in cleaned.files:
        files.add_row(*(Text(shown_text(v)) for v in (f.file, f.data_rows, f.blank_rows, int(counts.get(f.file, 0)))))
    console.print(files)
    if len(table):
        summary = table.groupby(["file", "community", "说明"]).size().rename("行数").reset_index()
        t = Table(title=f"被剔除的记录（截至 {week}）", box=box.ASCII)
        for col in ("文件", "社区", "原因", "行数", "行号（前 10 个）"):
            t.add_column(col)
        for _, r in summary.iterrows():
            rows = table[(table["file"] == r["file"]) & (table["community"] == r["community"]) & (table["说明"] == r["说明"])]["row"]
            t.add_row(*(Text(shown_text(v)) for v in (r["file"], r["community"] or "（未知）", r["说明"], r["行数"],
                                                       ", ".join(map(str, rows.head(10))))))
        console.print(t)
    else:
        console.print("没有被剔除的记录。")
    print_credibility(cleaned, week, console)
    from canvass.ingest.check import folder_warnings

    return print_check_findings(cleaned.files, console, folder_warnings(options.data_dir, cleaned.config))


def run_check_district(options, console) -> int:
    """--check on a district folder: each sub-district in turn under its own heading; the worst exit code."""
    from canvass.district import load_district
    from canvass.run.district import subdistrict_options

    district = load_district(Path(options.data_dir))
    console.print(f"检查区文件夹 {shown_text(options.data_dir)}（{shown_text(district.name)}，"
                  f"{len(district.subdistricts)} 个街道）", markup=False)
    code = 0
    for i, sub in enumerate(district.subdistricts, 1):
        console.print()
        console.print(shown_text(f"==== {i}/{len(district.subdistricts)} {sub.name}（{sub.folder.name}）===="),
                      markup=False, style="bold")
        try:
            code = max(code, run_check(subdistrict_options(options, district, sub), console))
        except CanvassError as exc:
            console.print(shown_text(f"错误 error: {exc.one_line()}"), markup=False, style="bold red")
            code = max(code, exc.exit_code)
    return code


def print_credibility(cleaned, week: str, console) -> None:
    """Print one line per community: returns flagged as of W, by flag, and which flags could be checked."""
    from canvass import credibility
    from canvass.report.staff_lists import week_flags

    returns, flags = week_flags(cleaned, week)
    checkable = credibility.checkable_flags(cleaned.files)
    console.print(f"问卷可信度（截至 {week}）：", markup=False)
    for community in cleaned.communities:
        mine = (returns["community"] == community).to_numpy()
        f = flags[mine]
        can = checkable.get(community, set())
        parts = [f"{credibility.FLAG_TEXT[k]} {int(f[k].sum())}" if k in can else f"{credibility.FLAG_TEXT[k]} 无法检查"
                 for k in credibility.FLAGS]
        console.print(shown_text(f"  {community}：{int(mine.sum())} 份有效问卷，标记 {int(f.any(axis=1).sum())} 份"
                                 f"（{'，'.join(parts)}）"), markup=False)


def print_check_findings(files, console, more: list | None = None) -> int:
    """Print how files were read and what needs a decision (``more``: the folder's own warnings,
    ``check.folder_warnings``); return 1 when there is a warning."""
    from canvass.ingest.check import community_lines, file_warnings
    from canvass.vocab import RATE_LABELS

    lines = community_lines(files)
    if lines:
        console.print("社区来自文件名或配置（表中没有“社区”列）：", markup=False)
        for line in lines:
            console.print("  " + shown_text(line), markup=False)
    for f in files:
        for r in f.readings:
            if r["invalid"]:
                ex = "、".join(f"“{e}”" for e in r["invalid_examples"])
                console.print(shown_text(f"{f.file}：列“{r['header']}”（{RATE_LABELS.get(r['field'], r['field'])}）"
                                         f"{r['invalid']} 个回答无法识别，如 {ex}"), markup=False)
    warnings = (more or []) + file_warnings(files)
    if not warnings:
        console.print("所有文件都已读懂，无需补充配置。", markup=False)
        return 0
    console.print(f"需要处理的问题 {len(warnings)} 个（退出码 1）：", markup=False)
    for i, w in enumerate(warnings, 1):
        console.print(shown_text(f"{i}. {w.file}：{w.message}"), markup=False)
        if w.yml:
            console.print("   在 subdistrict.yml 中加上：", markup=False)
            for line in w.yml.splitlines():
                console.print("     " + shown_text(line), markup=False)
    return 1


def _print_warnings(console):
    """Return a ``warnings.showwarning`` printing canvass's warnings as one line each."""
    import warnings

    from canvass.errors import CanvassWarning

    fallback = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, CanvassWarning):
            return fallback(message, category, filename, lineno, file, line)
        console.print(shown_text(" ".join(f"警告 warning: {message}".split())), markup=False, style="yellow")
    return show


def main(argv: list[str] | None = None, prog: str = "run_reports.py") -> int:
    import warnings

    from canvass.errors import CanvassWarning

    _safe_streams()
    args = build_parser(prog).parse_args(argv)
    console = _console()
    with warnings.catch_warnings():
        warnings.simplefilter("always", CanvassWarning)
        warnings.showwarning = _print_warnings(console)
        return _main(args, console)


def _main(args, console) -> int:
    try:
        from canvass.run.plan import BatchOptions, list_params_text, parse_overrides

        if args.list_params:
            console.print(list_params_text(), markup=False)
            return 0
        if args.data is None:
            from canvass.errors import ParameterError
            raise ParameterError("请用 --data 指定数据文件夹：安装的 canvass 不带示例数据 (--data is required)",
                                 expected="--data 数据文件夹，内含 households/ visits/ surveys/ issues/")
        if args.jobs < 1:
            from canvass.errors import ParameterError
            raise ParameterError(f"--jobs 的值 {args.jobs} 无效", expected="正整数")
        if args.timeout < 1:
            from canvass.errors import ParameterError
            raise ParameterError(f"--timeout 的值 {args.timeout} 无效", expected="正整数（秒）")
        params = parse_overrides([tuple(p) for p in args.param]) if args.param else {}
        options = BatchOptions(data_dir=args.data, out_dir=args.out, week=args.week, communities=args.community,
                               jobs=args.jobs, params=params, config_file=args.config, force=args.force,
                               executor="dask" if args.scheduler else "local", scheduler=args.scheduler,
                               warm=not args.fresh_kernels, lock_wait=args.lock_wait,
                               timeout=args.timeout)
        if args.init_config:
            from canvass.ingest.starter import write_starter_config

            path = write_starter_config(args.data)
            console.print(f"已写入 {shown_text(path)}：请核对其中的内容（标有“待填写”的必须填写），"
                          f"再运行 --check 检查。", markup=False)
            return 0
        if args.check:
            from canvass.district import is_district

            if is_district(args.data):
                return run_check_district(options, console)
            return run_check(options, console)
        return run_and_report(options, console)
    except CanvassError as exc:
        if args.debug:
            raise
        console.print(shown_text(f"错误 error: {exc.one_line()}"), markup=False, style="bold red")
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("已中断 interrupted")
        return 130
    except Exception as exc:  # a bug, not the user's fault: still one line unless --debug
        if args.debug:
            raise
        console.print(f"内部错误 internal error: {type(exc).__name__}: {exc}（加 --debug 查看详情）",
                      markup=False, style="bold red")
        return 2


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


DISTRICT_STATUS = {"ok": "完成", "partial": "部分社区失败", "failed": "失败", "reused": "沿用上次结果",
                   "not run": "本周未生成"}


def print_district(result, console) -> int:
    """Print a district run: one line per sub-district, then where the district digest is."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if result.week_chosen:
        console.print(f"报告周：{result.week}（各街道数据中最近一个已结束的周；要看其他周请用 --week 指定）", markup=False)
    table = Table(title=f"{result.week} {shown_text(result.name)} 各街道结果", box=box.ASCII)
    for col in ("街道", "状态", "社区", "秒", "汇总"):
        table.add_column(col)
    for r in result.subdistricts:
        status = DISTRICT_STATUS.get(r.status, r.status)
        if r.error:
            status += f"：{r.error}"
        n = len(r.result.outcomes) if r.result is not None else ""
        seconds = result.timings.get(r.slug)
        table.add_row(*(Text(shown_text(v)) for v in (
            r.name, status, str(n), f"{seconds:.1f}" if seconds is not None else "",
            _shown(r.digest) if r.digest is not None and r.digest.is_file() else "—")))
    return _print_table_and_where(console, table, result, f"全区汇总 district digest: {_shown(result.district)}",
                                  "部分街道或社区失败，见上表（其余报告和全区汇总已生成）。")


def _print_table_and_where(console, table, result, digest_line: str, failed_line: str) -> int:
    """Print the results table, where the index and the digest are, and a line when some failed."""
    console.print(table)
    console.print(f"周报目录 index: {_shown(result.out_dir / 'index.html')}", markup=False)
    console.print(digest_line, markup=False)
    if result.exit_code:
        console.print(failed_line, style="yellow")
    return result.exit_code


def run_and_report(options, console) -> int:
    from rich import box
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table
    from rich.text import Text

    from canvass.run.batch import run_batch

    finished = []
    # The bar appears with the first finished community, so an early error stays one line.
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, transient=False)
    task = bar.add_task("生成社区报告", total=None)

    def progress(community, outcome):
        if not finished:
            bar.start()
        finished.append(community)
        status = {"ok": "完成", "reused": "沿用", "failed": "失败"}.get(outcome.get("status"), outcome.get("status"))
        extra = f" {outcome.get('error')}" if outcome.get("status") == "failed" else ""
        bar.console.print(shown_text(f"  [{status}] {community}  {outcome.get('seconds', 0):.1f}s{extra}"),
                          markup=False)
        bar.update(task, advance=1)

    try:
        result = run_batch(options, progress)
        bar.update(task, total=len(finished), completed=len(finished))
    finally:
        if finished:
            bar.stop()
    from canvass.run.district import DistrictResult

    if isinstance(result, DistrictResult):
        return print_district(result, console)
    if result.week_chosen:
        console.print(f"报告周：{result.week}（数据中最近一个已结束的周；要看其他周，包括还没结束的本周，"
                      f"请用 --week 指定）", markup=False)
    table = Table(title=f"{result.week} 各社区结果", box=box.ASCII)
    for col in ("社区", "状态", "秒", "剔除行数", "报告"):
        table.add_column(col)
    rejected = result.rejected_rows
    chosen = set(options.communities or ())
    for community, o in result.outcomes.items():
        path = result.report(community)
        status = {"ok": "完成", "reused": "沿用", "failed": "失败", "not run": "未运行"}.get(o.get("status"), o.get("status"))
        if o.get("status") == "failed":
            status += f"：{o.get('error', '')}"
        seconds = f"{o.get('seconds', 0):.1f}"
        if chosen and community not in chosen:  # --community: the others are last run's, not this one's
            status, seconds = "本次未选（上次的报告）" if o.get("status") != "not run" else status, ""
        table.add_row(*(Text(shown_text(v)) for v in (
            community, status, seconds, str(rejected.get(community, "")),
            _shown(path) if path.is_file() else "—")))
    code = _print_table_and_where(console, table, result, f"街道汇总 digest: {_shown(result.digest)}",
                                  "部分社区失败，见上表（其余报告和汇总已生成）。")
    if result.warnings:
        console.print(f"输入文件有 {result.warnings} 个需要处理的问题（如没有读入的文件、未能解码的题目），"
                      f"已列在 manifest.json 中；运行 --check 查看详情和在 subdistrict.yml 中的写法。",
                      markup=False, style="yellow")
    return code
