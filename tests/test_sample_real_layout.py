"""data/sample/generate.py's --real-layout: 修竹社区 in real export layouts, same rows.

Read back with openpyxl/xlrd only (not canvass): the two variants must differ in layout
and agree on every household key and every answer. That section 5 of metrics.csv is the
same for both is asserted in test_real_exports.py (it needs contract section 9).
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import re
from pathlib import Path

import openpyxl
import pytest
import xlrd

ROOT = Path(__file__).resolve().parent.parent
COMMUNITY = "修竹社区"
HOUSEHOLDS = 300  # per community: small enough for a quick test, big enough for several grids


def load_generator():
    spec = importlib.util.spec_from_file_location("sample_generate", ROOT / "data" / "sample" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    gen = load_generator()
    base = tmp_path_factory.mktemp("sample-variants")
    default = gen.generate(base / "default", households=HOUSEHOLDS)
    real = gen.generate(base / "real", households=HOUSEHOLDS, real_layout=True)
    return base / "default", base / "real", default, real


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _registry_default(folder: Path):
    ws = openpyxl.load_workbook(folder / "households" / f"{COMMUNITY}住户台账.xlsx", read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == ["社区", "网格名称", "家庭住址", "户主", "联系电话", "居住状态"]
    out = []
    for community, grid, address, name, phone, occ in rows[1:]:
        assert community == COMMUNITY
        m = re.fullmatch(rf"(?:{COMMUNITY})?(\d+)号楼(?:(\d+)单元)?(\d+)室?", address)
        assert m, address
        b, u, r = m.groups()
        out.append(((int(b), int(u) if u else None, int(r)), name or "", occ or "", grid or ""))
    return out


def _registry_real(folder: Path):
    ws = openpyxl.load_workbook(folder / "households" / f"{COMMUNITY}住户台账.xlsx", read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == f"{COMMUNITY}住户台账" and str(rows[1][0]).startswith("制表日期")
    assert list(rows[2]) == ["楼栋号", "单元号", "房间号", "户主", "联系电话", "居住状态"]
    return [((b, u if u not in (None, "") else None, r), name or "", occ or "") for b, u, r, name, phone, occ in rows[3:]]


def _surveys_default(folder: Path):
    out = []
    for path in sorted((folder / "surveys").glob(f"{COMMUNITY}_调查问卷_*.xlsx")):
        ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        rows = list(ws.iter_rows(values_only=True))
        assert rows[0][1] == "所属社区"
        for ts, community, b, u, r, *answers, comment in rows[1:]:
            assert community == COMMUNITY and isinstance(ts, dt.datetime)
            b = int(str(b).removesuffix("号楼"))
            out.append((ts, (b, u, r), [a or "" for a in answers], comment or ""))
    return out


def _surveys_real(folder: Path):
    sh = xlrd.open_workbook(str(folder / "surveys" / f"问卷星_{COMMUNITY}_创城问卷.xls")).sheet_by_index(0)
    header = sh.row_values(0)
    assert header[:7] == ["序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "总分"]
    assert not [h for h in header if h in ("社区", "所属社区", "所在社区", "您所在的社区")]
    out = []
    for i in range(1, sh.nrows):
        row = sh.row_values(i)
        assert int(row[0]) == i and re.fullmatch(r"\d+秒", row[2]) and re.fullmatch(r"[\d.]+\(.+\)", row[5])
        ts = dt.datetime.strptime(row[1], "%Y/%m/%d %H:%M:%S")
        parts = [int(p) for p in row[12].split("-")]
        key = (parts[0], None, parts[1]) if len(parts) == 2 else tuple(parts)
        answers = ["" if a == "(跳过)" else re.fullmatch(r"[A-C]\.(.+)", a).group(1) for a in row[7:12]]
        out.append((ts, key, answers, "" if row[13] == "(空)" else row[13]))
    return out


def test_default_layout_is_unchanged_by_the_option(variants):
    """Only 修竹社区's registry and surveys (and grids: in subdistrict.yml) differ."""
    default_dir, real_dir, default, real = variants
    a, b = _files(default_dir), _files(real_dir)
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    week_files = sorted(k for k in a if k.startswith(f"surveys/{COMMUNITY}_调查问卷_"))
    assert week_files
    assert changed == sorted([f"households/{COMMUNITY}住户台账.xlsx", "subdistrict.yml",
                              f"surveys/问卷星_{COMMUNITY}_创城问卷.xls", *week_files])
    assert default["real_layout"] is False and real["real_layout"] is True


def test_real_layout_registry_has_the_same_households(variants):
    default_dir, real_dir, *_ = variants
    d, r = _registry_default(default_dir), _registry_real(real_dir)
    assert [k for k, *_ in d] == [k for k, *_ in r]
    assert [n for _, n, *_ in d] == [n for _, n, *_ in r]
    # the household with a blank grid (rejected) is rejected in the real layout too: 待核实
    for (key, _, occ_d, grid), (_, _, occ_r) in zip(d, r):
        assert occ_r == ("待核实" if grid == "" else occ_d), key
    assert sum(1 for *_, grid in d if grid == "") == 1


def test_real_layout_grids_cover_every_building(variants):
    import yaml

    default_dir, real_dir, *_ = variants
    grids = yaml.safe_load((real_dir / "subdistrict.yml").read_text(encoding="utf-8"))["grids"][COMMUNITY]
    assert "grids" not in yaml.safe_load((default_dir / "subdistrict.yml").read_text(encoding="utf-8"))
    listed = {}
    for grid, spans in grids.items():
        for s in spans:
            lo, _, hi = str(s).partition("-")
            for b in range(int(lo), int(hi or lo) + 1):
                assert b not in listed, b
                listed[b] = grid
    d = _registry_default(default_dir)
    for key, _, _, grid in d:
        if grid:  # the default ledger's own grid of this household's building
            assert listed[key[0]] == grid, key


def test_real_layout_surveys_have_the_same_returns_and_answers(variants):
    default_dir, real_dir, *_ = variants
    d, r = _surveys_default(default_dir), _surveys_real(real_dir)
    assert len(d) == len(r) > 50
    assert d == r


def test_default_generation_reproduces_the_bundled_sample(tmp_path):
    """The bundled sample ships 修竹社区 in real layouts: the generator writes data/sample byte for byte."""
    load_generator().generate(tmp_path, real_layout=True)
    sample = ROOT / "data" / "sample"
    written = _files(tmp_path)
    kinds = ("households", "visits", "surveys", "issues", "activities", "shops")
    bundled = {k: v for k, v in _files(sample).items() if k.split("/")[0] in kinds}
    assert {k.split("/")[0] for k in bundled} == set(kinds)
    bundled["subdistrict.yml"] = (sample / "subdistrict.yml").read_bytes()
    assert set(written) == set(bundled)
    assert [k for k in bundled if written[k] != bundled[k]] == []
