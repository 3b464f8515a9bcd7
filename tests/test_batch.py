"""The weekly batch on the sample data: outputs, executed notebooks, metrics, failures, reuse."""

from __future__ import annotations

import io
import json
import re
import shutil

import nbformat
import pandas as pd
import pytest
from rich.console import Console

from canvass import cli
from canvass.cli import run_and_report
from canvass.metrics import METRIC_COLUMNS, compute_metrics
from canvass.run.plan import BatchOptions

from .conftest import FIXTURES, SAMPLE, SAMPLE_WEEK, run_cli

COMMUNITIES = ["七一社区", "海港社区", "港兴社区", "福寿社区", "修竹社区"]
pytestmark = pytest.mark.slow


def _cli(capsys, *args: str) -> tuple[int, str]:
    """Run the command line in this process (tests here are about the batch, not the process:
    the batch's local executor is the in-process one, see ``inline_workers``)."""
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_output_of_the_contract_exists(sample_reports):
    w, i = sample_reports / SAMPLE_WEEK, sample_reports / "internal" / SAMPLE_WEEK
    manifest = json.loads((w / "manifest.json").read_text(encoding="utf-8"))
    assert (sample_reports / "index.html").is_file()
    for path in (w / "digest.html", w / "metrics.csv", w / "metrics.xlsx", i / "rejects.csv"):
        assert path.is_file() and path.stat().st_size > 0, path
    assert list(manifest["slugs"]) == COMMUNITIES
    for community, slug in manifest["slugs"].items():
        assert re.fullmatch(r"[a-z0-9-]+", slug)
        assert (w / "communities" / f"{slug}.html").is_file()
        assert (i / "followup" / f"{slug}.xlsx").is_file()
        assert (i / "notebooks" / f"{slug}.ipynb").is_file()
        assert manifest["communities"][community]["status"] == "ok"
    assert manifest["digest"]["status"] == "ok"
    # Inputs are listed with their sha256 and row counts.
    assert len(manifest["inputs"]) == len([p for k in ("households", "visits", "surveys", "issues", "activities", "shops")
                                           for p in (SAMPLE / k).iterdir() if not p.name.startswith(("~$", "."))])
    assert all(len(x["sha256"]) == 64 and x["rows"] >= 0 for x in manifest["inputs"])
    assert manifest["versions"]["papermill"]
    # The communities' pinyin is kept for the next run (worked out by hand from the names).
    memo = json.loads((sample_reports / "internal" / ".cache" / "slugs.json").read_text(encoding="utf-8"))
    assert memo["names"]["七一"] == "qiyi" and memo["names"]["海港"] == "haigang"


def test_staff_lists_and_wechat_images_are_written(sample_reports):
    from PIL import Image

    w, i = sample_reports / SAMPLE_WEEK, sample_reports / "internal" / SAMPLE_WEEK
    manifest = json.loads((w / "manifest.json").read_text(encoding="utf-8"))
    flags = (i / "flags.csv").read_bytes()
    assert flags.startswith("\ufefffile,row,community,flags,submitted_at\n".encode("utf-8"))
    assert manifest["staff_lists"]["flags"] == flags.decode("utf-8-sig").count("\n") - 1
    for slug in manifest["slugs"].values():
        for folder in ("backcheck", "issues", "fix"):
            assert (i / folder / f"{slug}.xlsx").is_file(), (folder, slug)
        with Image.open(w / "communities" / f"{slug}.png") as im:
            assert im.size[0] == 1080 and im.size[1] >= 1080
    assert (i / "collectors.xlsx").is_file()
    with Image.open(w / "digest.png") as im:
        assert im.size[0] == 1080 and im.size[1] >= 1080
    assert (w / "digest.png").stat().st_size <= 2 * 1024 * 1024
    # personal data stays under internal/: nothing under W/ names the staff lists
    assert not any(p.suffix == ".xlsx" and p.name != "metrics.xlsx" for p in w.rglob("*"))


def test_executed_notebooks_have_no_errors_and_record_parameters(sample_reports):
    nb_dir = sample_reports / "internal" / SAMPLE_WEEK / "notebooks"
    for path in nb_dir.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert outputs, path
        assert not [o for o in outputs if o.get("output_type") == "error"], path
        params = nb.metadata["papermill"]["parameters"]
        assert params["week"] == SAMPLE_WEEK
        if path.stem != "digest":
            assert params["community"] in COMMUNITIES
            assert params["prepared_dir"]


def test_metrics_csv_equals_the_package_metrics(sample_reports, sample_cleaned):
    written = pd.read_csv(sample_reports / SAMPLE_WEEK / "metrics.csv", encoding="utf-8-sig")
    assert list(written.columns[: len(METRIC_COLUMNS)]) == METRIC_COLUMNS
    expected = compute_metrics(sample_cleaned, SAMPLE_WEEK)
    assert list(written["community"]) == COMMUNITIES + ["人民路街道"]
    assert list(written["scope"]) == ["community"] * 5 + ["subdistrict"]
    for col in METRIC_COLUMNS[3:]:
        pd.testing.assert_series_equal(written[col].astype(float), expected[col].astype(float),
                                       check_names=False, rtol=0, atol=0)
    raw = (sample_reports / SAMPLE_WEEK / "metrics.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")


def test_digest_names_every_community_and_links_reports(sample_reports):
    html = (sample_reports / SAMPLE_WEEK / "digest.html").read_text(encoding="utf-8")
    for name in COMMUNITIES:
        assert name in html
    for href in re.findall(r'href="(communities/[^"]+\.html)"', html):
        assert (sample_reports / SAMPLE_WEEK / href).is_file()
    assert "2023年9月11日–9月17日" in html and "人民路街道" in html
    assert "示例数据" in html  # the sample banner


def test_rejects_csv_layout(sample_reports):
    rej = pd.read_csv(sample_reports / "internal" / SAMPLE_WEEK / "rejects.csv", encoding="utf-8-sig",
                      keep_default_na=False)
    assert list(rej.columns) == ["file", "row", "community", "field", "reason", "说明", "raw"]
    assert rej.equals(rej.sort_values(["file", "row"], kind="stable").reset_index(drop=True))
    assert {"duplicate row", "superseded", "unknown household", "bad date"} <= set(rej["reason"])
    assert all(json.loads(r) for r in rej["raw"])
    metrics = pd.read_csv(sample_reports / SAMPLE_WEEK / "metrics.csv", encoding="utf-8-sig")
    assert metrics["rejected_rows"].iloc[-1] == len(rej)


def test_followup_rows_match_unreached_households(sample_reports):
    from openpyxl import load_workbook

    metrics = pd.read_csv(sample_reports / SAMPLE_WEEK / "metrics.csv", encoding="utf-8-sig")
    manifest = json.loads((sample_reports / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    for community, slug in manifest["slugs"].items():
        wb = load_workbook(sample_reports / "internal" / SAMPLE_WEEK / "followup" / f"{slug}.xlsx")
        rows = 0
        for ws in wb.worksheets:
            values = list(ws.iter_rows(values_only=True))
            # section 11: the lists of communities whose 台账 names a 包户人 (七一, 福寿 in the sample) gain that column
            extra = ["包户人"] if community in ("七一社区", "福寿社区") else []
            assert list(values[0]) == ["网格", "楼号", "单元", "室", "户主", "电话", "最近走访日期", "最近走访结果"] + extra
            assert ws.freeze_panes == "A2"
            for r in values[1:]:
                assert r[0] == ws.title  # one sheet per grid
                assert r[4] is None or "*" in r[4]
            rows += len(values) - 1
        m = metrics[metrics["community"] == community].iloc[0]
        assert rows == m["households"] - m["reached_cum"]


def test_metrics_xlsx_for_upward_reporting(sample_reports):
    from openpyxl import load_workbook

    wb = load_workbook(sample_reports / SAMPLE_WEEK / "metrics.xlsx")
    assert wb.sheetnames == ["本周", "历周"]
    ws = wb["本周"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["范围", "社区", "周", "常住户数"] and "覆盖率" in header
    cov = header.index("覆盖率") + 1
    assert ws.cell(2, cov).number_format == "0.0%"
    assert 0 < ws.cell(2, cov).value <= 1
    weeks = {r[2] for r in wb["历周"].iter_rows(min_row=2, values_only=True)}
    assert {"2023-W32", SAMPLE_WEEK} <= weeks


def test_one_failing_community_gives_exit_1_and_the_rest_succeed(tmp_path, inline_workers, capsys):
    out = tmp_path / "out"
    # The CLI's own report of the batch, with a fixture notebook that raises for 港兴社区.
    console = Console(file=io.StringIO(), width=160, highlight=False, soft_wrap=True)
    options = BatchOptions(data_dir=SAMPLE, out_dir=out, week=SAMPLE_WEEK, community_notebook=FIXTURES / "community_fails.ipynb")
    assert run_and_report(options, console) == 1, console.file.getvalue()
    manifest = json.loads((out / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["communities"]["港兴社区"]["status"] == "failed"
    assert "fail_community" in manifest["communities"]["港兴社区"]["error"]
    assert all(manifest["communities"][c]["status"] == "ok" for c in COMMUNITIES if c != "港兴社区")
    digest = (out / SAMPLE_WEEK / "digest.html").read_text(encoding="utf-8")
    assert "报告生成失败" in digest and "港兴社区" in digest
    assert "失败" in console.file.getvalue()

    # Re-running only the failed community with the fault removed fixes it; others are kept.
    code, shown = _cli(capsys, "--data", str(SAMPLE), "--out", str(out), "--week", SAMPLE_WEEK, "--community", "港兴社区")
    assert code == 0, shown
    manifest = json.loads((out / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["communities"]["港兴社区"]["status"] == "ok"
    assert manifest["communities"]["七一社区"]["status"] in ("ok", "reused")
    metrics = pd.read_csv(out / SAMPLE_WEEK / "metrics.csv", encoding="utf-8-sig")
    assert len(metrics) == 6  # metrics still cover every community


def test_rerun_reuses_unchanged_communities_and_is_deterministic(tmp_path, inline_workers, capsys):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    out = tmp_path / "out"
    # The first run is a real process, the next ones run here: reuse keys must not depend on
    # anything a process has of its own (string hashes, object ids).
    first = run_cli("--data", str(data), "--out", str(out), "--week", SAMPLE_WEEK)
    assert first.returncode == 0, first.stdout + first.stderr
    m1 = (out / SAMPLE_WEEK / "metrics.csv").read_bytes()
    r1 = (out / "internal" / SAMPLE_WEEK / "rejects.csv").read_bytes()
    before = {x["path"]: x["sha256"] for x in json.loads((out / SAMPLE_WEEK / "manifest.json").read_text("utf-8"))["inputs"]}

    code, shown = _cli(capsys, "--data", str(data), "--out", str(out), "--week", SAMPLE_WEEK)
    assert code == 0, shown
    manifest = json.loads((out / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert {o["status"] for o in manifest["communities"].values()} == {"reused"}
    assert manifest["digest"]["status"] == "reused"
    assert manifest["timings"]["clean_cached"] is True  # cleaned slices reused, keyed by input hashes
    assert manifest["timings"]["tables_reused"] is True  # metrics, staff lists, images: same key, intact
    assert (out / SAMPLE_WEEK / "metrics.csv").read_bytes() == m1
    assert (out / "internal" / SAMPLE_WEEK / "rejects.csv").read_bytes() == r1
    after = {x["path"]: x["sha256"] for x in manifest["inputs"]}
    assert before == after  # raw inputs untouched

    # Change two communities' inputs: only they re-run. A new visit of 海港社区 comes before
    # 港兴社区's and 福寿社区's rows in file order: their slices must not change for it.
    issues = data / "issues" / "港兴社区_问题清单.csv"
    issues.write_bytes(issues.read_bytes() + "2023-09-12,港兴社区,环境卫生,新问题,社区解决,办理中,,\r\n".encode("utf-8"))
    visits = data / "visits" / "海港社区_走访记录_第37周.csv"
    visits.write_bytes(visits.read_bytes() + "2023/9/13,海港社区,30号楼2单元602室,已入户,2,楼长（党员）孟琪勇\r\n".encode("utf-8"))
    code, shown = _cli(capsys, "--data", str(data), "--out", str(out), "--week", SAMPLE_WEEK)
    assert code == 0, shown
    manifest = json.loads((out / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    statuses = {c: o["status"] for c, o in manifest["communities"].items()}
    assert statuses.pop("港兴社区") == "ok" and statuses.pop("海港社区") == "ok"
    assert set(statuses.values()) == {"reused"}
    assert "tables_reused" not in manifest["timings"]  # new inputs: the tables are written again
    assert manifest["digest"]["status"] == "ok"  # the digest always follows a changed community

    code, shown = _cli(capsys, "--data", str(data), "--out", str(out), "--week", SAMPLE_WEEK, "--force",
                       "--community", "七一社区")
    manifest = json.loads((out / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert code == 0 and manifest["communities"]["七一社区"]["status"] == "ok", shown


def test_a_stylesheet_change_re_renders_reports_the_rerun_would_reuse(tmp_path, monkeypatch, inline_workers):
    from canvass.run import store
    from canvass.run.batch import run_batch

    from .conftest import ROOT

    options = BatchOptions(data_dir=ROOT / "tests" / "hostile" / "base", out_dir=tmp_path / "out", jobs=1)

    def statuses(result):
        manifest = json.loads((result.out_dir / result.week / "manifest.json").read_text(encoding="utf-8"))
        return {o["status"] for o in manifest["communities"].values()}, manifest["digest"]["status"]

    assert run_batch(options).exit_code == 0
    assert statuses(run_batch(options)) == ({"reused"}, "reused")
    # The same package with another report.css: nothing may be reused with the old page.
    copy = tmp_path / "pkg" / "canvass"
    shutil.copytree(ROOT / "canvass", copy, ignore=shutil.ignore_patterns("__pycache__"))
    css = copy / "report" / "static" / "report.css"
    css.write_text(css.read_text(encoding="utf-8") + "\n.report { color: #111; }\n", encoding="utf-8")
    monkeypatch.setattr(store, "_PACKAGE_DIR", copy)
    assert statuses(run_batch(options)) == ({"ok"}, "ok")


def test_rejects_keep_their_kinds_wording(sample_reports):
    """A shop inspection replaced by a later one that day is not worded as a questionnaire (the
    returns superseded as of W used to reset every row's 说明 to the survey wording)."""
    import pandas as pd

    r = pd.read_csv(sample_reports / "internal" / SAMPLE_WEEK / "rejects.csv", encoding="utf-8-sig", dtype=str,
                    keep_default_na=False)
    shops = r[r["file"].str.startswith("shops/") & (r["reason"] == "superseded")]
    surveys = r[r["file"].str.startswith("surveys/") & (r["reason"] == "superseded")]
    assert len(shops) and set(shops["说明"]) == {"同一商铺同一天有更晚的巡查记录，本条不计"}
    assert len(surveys) and set(surveys["说明"]) == {"同一户有更新的问卷，本份作废"}


def test_kernels_start_while_planning_only_when_reports_will_run(tmp_path, inline_workers, capsys):
    """Cleaned tables from the cache: the executor starts before planning when the inputs or
    parameters differ from the week's last run, and is not started when all will be reused."""
    from canvass.run.batch import prepare_subdistrict

    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(SAMPLE, data)
    code, shown = _cli(capsys, "--data", str(data), "--out", str(out), "--week", SAMPLE_WEEK)
    assert code == 0, shown

    def started(**changes) -> int:
        calls = []
        options = BatchOptions(data_dir=data, out_dir=out, week=SAMPLE_WEEK, **changes)
        work = prepare_subdistrict(options, lambda: calls.append(1))
        assert work.timings["clean_cached"] is True  # the case this is about: no cleaning to hide behind
        return len(calls)

    assert started() == 0  # same inputs, parameters and code: every report is reused
    assert started(params={"target_awareness": 0.9}) == 1
    assert started(force=True) == 1
    (out / SAMPLE_WEEK / "manifest.json").unlink()
    assert started() == 1  # no record of last time: reports will run
