"""Output paths: community names never decide where files go (data contract section 8).

A registry whose communities are called ``../../x``, ``a/b``, ``CON``, ``a\\b``, ``..``,
a name with a terminal escape and a very long name is run through the CLI; nothing may
be written outside ``--out``, every report file name is a plain ASCII slug, slugs are
unique and the manifest maps each community to its slug.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvass.slugs import assign_slugs, slugify

from .conftest import ROOT, run_cli

WEEK = "2023-W37"
HOSTILE_NAMES = ["../../x", "a/b", "CON", "a\\b", "..", "\x1b[31m红社区", "修竹社区", "长" * 120 + "社区"]
SLUG_FILE = re.compile(r"^[a-z0-9-]+\.(html|xlsx|ipynb|png)$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def _csv(path: Path, header: list, rows: list) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _make_data(data: Path) -> None:
    hh, visits, surveys, issues = [], [], [], []
    for i, name in enumerate(HOSTILE_NAMES):
        hh.append([name, "1", "1", "1", "101", "自住", "某甲", f"1380000{i:04d}"])
        hh.append([name, "1", "1", "1", "102", "自住", "某乙", f"1390000{i:04d}"])
        visits.append(["2023-09-12", name, "1", "1", "101", "已入户", "1", "姚凯"])
        surveys.append(["2023-09-12 19:00", name, "1-1-101", "知道", "支持", "参与过", "满意", "了解", "很好"])
        issues.append(["2023-09-12", name, "环境卫生", "垃圾桶满溢", "社区解决", "办理中", "", ""])
    _csv(data / "households" / "住户台账.csv", ["社区", "网格", "楼号", "单元", "室", "居住状态", "户主", "联系电话"], hh)
    _csv(data / "visits" / "走访记录.csv", ["走访日期", "社区", "楼号", "单元", "室", "走访结果", "发放材料", "走访人"], visits)
    _csv(data / "surveys" / "调查问卷.csv", ["提交时间", "社区", "住址", "知晓创建文明城市", "支持创城", "参与志愿活动",
                                          "满意度", "了解垃圾分类", "意见建议"], surveys)
    _csv(data / "issues" / "问题清单.csv", ["登记日期", "社区", "问题类别", "问题描述", "处理方式", "办理状态",
                                         "办结日期", "地址"], issues)


def _tree(root: Path, skip: Path | None = None) -> set:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if skip is not None and (d == skip or skip in d.parents):
            dirnames[:] = []
            continue
        for n in dirnames + filenames:
            p = d / n
            if skip is not None and p == skip:
                continue
            out.add(str(p.relative_to(root)))
    return out


def _listing(folder: Path) -> set:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


@pytest.fixture(scope="session")
def hostile_names_run(tmp_path_factory):
    """Run the batch on the hostile community names; out is three levels below the work folder.

    A real subprocess: what it writes outside --out is under test. Once per session, on one
    worker: the tests using it share an xdist group, handed out apart from this module's
    other tests, and a module fixture would be made again when the worker comes back."""
    work = tmp_path_factory.mktemp("paths")
    data = work / "data"
    _make_data(data)
    out = work / "l1" / "l2" / "out"
    out.parent.mkdir(parents=True)
    above = [work.parent, work.parent.parent]
    before = {"work": _tree(work), "above": {str(a): _listing(a) for a in above}}
    proc = run_cli("--data", str(data), "--out", str(out), "--week", WEEK, "--jobs", "2")
    after = {"work": _tree(work, skip=out), "above": {str(a): _listing(a) for a in above}}
    return {"proc": proc, "out": out, "work": work, "before": before, "after": after, "above": above}


def _show(proc) -> str:
    return f"\nexit code {proc.returncode}\n--- stdout ---\n{proc.stdout[-2500:]}\n--- stderr ---\n{proc.stderr[-2500:]}"


# --- the batch on hostile names ------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.xdist_group("hostile-names")
def test_hostile_names_run_succeeds(hostile_names_run):
    proc = hostile_names_run["proc"]
    assert "Traceback" not in proc.stdout + proc.stderr, _show(proc)
    assert proc.returncode == 0, _show(proc)


@pytest.mark.slow
@pytest.mark.xdist_group("hostile-names")
def test_nothing_is_written_outside_out(hostile_names_run):
    r = hostile_names_run  # whatever the exit code: a failed run must not write elsewhere either
    out_rel = str(r["out"].relative_to(r["work"]))
    expected = r["before"]["work"] | {out_rel}
    new = r["after"]["work"] - expected
    assert not new, f"written outside --out: {sorted(new)}"
    for folder in r["above"]:
        added = r["after"]["above"][str(folder)] - r["before"]["above"][str(folder)]
        stray = [n for n in added if n == "x" or n.startswith("x.") or n in ("a", "b", "CON", "..")]
        assert not stray, f"written above the work folder in {folder}: {stray}"
    for folder in [r["work"], r["work"] / "l1", r["work"] / "l1" / "l2"]:
        names = _listing(folder)
        assert not [n for n in names if n == "x" or n.startswith("x.")], f"a file named x in {folder}: {names}"


@pytest.mark.slow
@pytest.mark.xdist_group("hostile-names")
def test_out_holds_only_the_contract_layout(hostile_names_run):
    out = hostile_names_run["out"]
    allowed_dirs = {"", WEEK, f"{WEEK}/communities", "internal", f"internal/{WEEK}",
                    f"internal/{WEEK}/followup", f"internal/{WEEK}/notebooks", f"internal/{WEEK}/fix",
                    f"internal/{WEEK}/backcheck", f"internal/{WEEK}/issues", f"internal/{WEEK}/shops",
                    f"internal/{WEEK}/responsible"}
    unexpected = []
    for p in out.rglob("*"):
        rel = p.relative_to(out).as_posix()
        if rel == "internal/.cache" or rel.startswith("internal/.cache/"):
            continue
        folder = rel if p.is_dir() else (p.parent.relative_to(out).as_posix() if p.parent != out else "")
        if folder not in allowed_dirs:
            unexpected.append(rel)
    assert not unexpected, f"paths outside the contract's layout (a name became a path?): {unexpected}"
    for sub in (out / WEEK / "communities", out / "internal" / WEEK / "followup", out / "internal" / WEEK / "notebooks",
                out / "internal" / WEEK / "fix", out / "internal" / WEEK / "backcheck", out / "internal" / WEEK / "issues"):
        names = sorted(os.listdir(sub)) if sub.is_dir() else []
        assert names, f"{sub} is empty: the run failed" + _show(hostile_names_run["proc"])
        bad = [n for n in names if not SLUG_FILE.match(n)]
        assert not bad, f"{sub.relative_to(out)}: unsafe file names {bad}"


@pytest.mark.slow
@pytest.mark.xdist_group("hostile-names")
def test_manifest_maps_each_community_to_a_unique_safe_slug(hostile_names_run):
    out = hostile_names_run["out"]
    assert (out / WEEK / "manifest.json").is_file(), "no manifest: the run failed" + _show(hostile_names_run["proc"])
    manifest = json.loads((out / WEEK / "manifest.json").read_text(encoding="utf-8"))
    slugs = manifest["slugs"]
    plain = [unicodedata.normalize("NFKC", n).strip() for n in HOSTILE_NAMES if n.isprintable()]
    assert len(slugs) == len(HOSTILE_NAMES) and set(plain) <= set(slugs), sorted(slugs)
    assert len(set(slugs.values())) == len(slugs), f"slugs not unique: {slugs}"
    for community, slug in slugs.items():
        assert SLUG.match(slug), (community, slug)
        assert slug not in WINDOWS_RESERVED, (community, slug)
        assert len(slug) <= 64, (community, slug)
    assert slugs["修竹社区"] == "xiuzhu-shequ"
    for community, outcome in manifest["communities"].items():
        if outcome.get("status") in ("ok", "reused"):
            slug = slugs[community]
            assert (out / WEEK / "communities" / f"{slug}.html").is_file(), community
            assert (out / "internal" / WEEK / "followup" / f"{slug}.xlsx").is_file(), community
            assert (out / "internal" / WEEK / "notebooks" / f"{slug}.ipynb").is_file(), community
    # every report file belongs to a community of the manifest
    files = {p.stem for p in (out / WEEK / "communities").glob("*.html")}
    assert files <= set(slugs.values()), files - set(slugs.values())


@pytest.mark.slow
@pytest.mark.xdist_group("hostile-names")
def test_control_characters_are_not_echoed_to_the_console(hostile_names_run):
    proc = hostile_names_run["proc"]
    assert "\x1b" not in proc.stdout + proc.stderr, "a terminal escape from the data reached the console"


# --- slugify / assign_slugs -------------------------------------------------------------------------

@pytest.mark.parametrize("name, slug", [
    ("修竹社区", "xiuzhu-shequ"),
    ("七一社区", "qiyi-shequ"),
    ("海港社区", "haigang-shequ"),
    (" 修竹社区 ", "xiuzhu-shequ"),
    ("人民路街道", "renminlu-jiedao"),
])
def test_slugify_pinyin(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize("name", ["CON", "con", "Con", "PRN", "AUX", "NUL", "COM1", "com9", "LPT1", "lpt9", "CON社区"])
def test_slugify_avoids_windows_reserved_names(name):
    slug = slugify(name)
    assert SLUG.match(slug) and slug not in WINDOWS_RESERVED, slug


@pytest.mark.parametrize("name", ["", "   ", "..", ".", "/", "\\", "!!!", "\x00", "\x1b[31m", "社区", "../../x",
                                  "a/b", "a\\b", "C:\\Windows", "x" * 500, "🏠🏠", "\u200b"])
def test_slugify_is_never_empty_or_unsafe(name):
    slug = slugify(name)
    assert slug and SLUG.match(slug), (name, slug)
    assert ".." not in slug and "/" not in slug and "\\" not in slug
    assert len(slug) <= 48


def test_collisions_are_numbered_in_display_order():
    got = assign_slugs(["修竹社区", "秀竹社区", "修筑社区"])
    assert got == {"修竹社区": "xiuzhu-shequ", "秀竹社区": "xiuzhu-shequ-2", "修筑社区": "xiuzhu-shequ-3"}
    got = assign_slugs(["秀竹社区", "修竹社区"])
    assert got == {"秀竹社区": "xiuzhu-shequ", "修竹社区": "xiuzhu-shequ-2"}


def test_collision_with_an_existing_numbered_slug():
    got = assign_slugs(["a-b-2", "a/b", "a\\b"])
    assert len(set(got.values())) == 3, got
    assert got["a-b-2"] == "a-b-2" and got["a/b"] == "a-b"


def test_empty_names_get_distinct_slugs():
    got = assign_slugs(["", "..", "!!!"])
    assert len(set(got.values())) == 3 and all(SLUG.match(s) for s in got.values()), got


@settings(max_examples=100, deadline=None)
@given(names=st.lists(st.text(max_size=30), max_size=12, unique=True))
def test_assign_slugs_property(names):
    got = assign_slugs(names)
    assert list(got) == names
    assert len(set(got.values())) == len(names)
    for slug in got.values():
        assert SLUG.match(slug) and slug not in WINDOWS_RESERVED, slug


# --- the pinyin memo (a re-run does not import pypinyin) ---------------------------------------

@pytest.fixture
def fresh_memo(monkeypatch):
    from canvass import slugs

    monkeypatch.setattr(slugs, "_memo", {})
    return slugs


def test_the_names_pinyin_is_kept_in_a_memo(tmp_path, fresh_memo):
    memo = tmp_path / ".cache" / "slugs.json"
    got = fresh_memo.assign_slugs(["修竹社区", "七一社区", "人民路街道"], memo=memo)
    assert got == {"修竹社区": "xiuzhu-shequ", "七一社区": "qiyi-shequ", "人民路街道": "renminlu-jiedao"}
    kept = json.loads(memo.read_text(encoding="utf-8"))
    assert kept["names"] == {"修竹": "xiuzhu", "七一": "qiyi", "人民路": "renminlu"}
    assert "pypinyin" in kept["key"]
    assert not list(memo.parent.glob(".*.tmp"))


def _memo_file(path: Path, names: dict, key: str | None = None) -> Path:
    from canvass import slugs

    path.write_text(json.dumps({"key": key or slugs._memo_key(), "names": names}, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_rerun_takes_the_pinyin_from_the_memo_without_importing_pypinyin(tmp_path):
    # A value pypinyin would never give shows that the memo was read; a fresh process shows
    # that pypinyin was not even imported (its phrase dictionary costs 1.8 s).
    memo = tmp_path / "slugs.json"
    _memo_file(memo, {"测试": "from-memo"})
    code = ("import sys; from pathlib import Path; from canvass.slugs import assign_slugs; "
            f"print(assign_slugs(['测试社区'], memo=Path({str(memo)!r}))['测试社区'], 'pypinyin' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, encoding="utf-8",
                          timeout=120)
    assert proc.stdout.split() == ["from-memo-shequ", "False"], proc.stdout + proc.stderr


def test_force_stale_or_unsafe_memos_are_not_believed(tmp_path, fresh_memo):
    memo = _memo_file(tmp_path / "slugs.json", {"测试": "from-memo"})
    # --force computes the pinyin again and repairs the memo
    assert fresh_memo.assign_slugs(["测试社区"], memo=memo, reuse=False) == {"测试社区": "ceshi-shequ"}
    assert json.loads(memo.read_text(encoding="utf-8"))["names"] == {"测试": "ceshi"}
    # another pypinyin version's memo, a damaged one, or values no pinyin step makes: ignored
    for names, key in (({"测试": "from-memo"}, "1/pypinyin 0.0"), ({"测试": "../../etc"}, None),
                       ({"测试": "A B"}, None), ({"测试": 7}, None)):
        fresh_memo._memo.clear()
        _memo_file(memo, names, key)
        assert fresh_memo.assign_slugs(["测试社区"], memo=memo) == {"测试社区": "ceshi-shequ"}, names
    fresh_memo._memo.clear()
    memo.write_text("{not json", encoding="utf-8")
    assert fresh_memo.assign_slugs(["测试社区"], memo=memo) == {"测试社区": "ceshi-shequ"}
    assert json.loads(memo.read_text(encoding="utf-8"))["names"] == {"测试": "ceshi"}


def test_a_memo_that_cannot_be_written_does_not_stop_the_run(tmp_path, fresh_memo):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    assert fresh_memo.assign_slugs(["修竹社区"], memo=blocker / "slugs.json") == {"修竹社区": "xiuzhu-shequ"}


def test_the_memo_keeps_the_newest_names(tmp_path, fresh_memo, monkeypatch):
    monkeypatch.setattr(fresh_memo, "_MEMO_MAX", 2)
    memo = tmp_path / "slugs.json"
    fresh_memo.assign_slugs(["修竹社区", "七一社区"], memo=memo)
    fresh_memo.assign_slugs(["海港社区"], memo=memo)
    assert json.loads(memo.read_text(encoding="utf-8"))["names"] == {"七一": "qiyi", "海港": "haigang"}
