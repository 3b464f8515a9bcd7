"""The bundled sample exercises contract sections 10 and 11, as data/sample/README.md documents.

Read with pandas, openpyxl and xlrd only (never canvass): the planted suspicious returns
are where the README says and no other return looks suspicious, one community skips
one Saturday clean-up, and the activity and shop files carry the documented mess.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlrd
import yaml

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
COMMUNITIES = ["七一社区", "海港社区", "港兴社区", "福寿社区", "修竹社区"]
WEEKS = [f"2023-W{w}" for w in range(32, 38)]
QIYI_SURVEYS = "surveys/七一社区_创城问卷_问卷星下载答卷.xls"
XIUZHU_SURVEYS = "surveys/问卷星_修竹社区_创城问卷.xls"
COPIED = "希望社区继续加强环境卫生整治工作"
BURST_IP = "223.104.63.18"

# As documented in data/sample/README.md ("Planted suspicious returns"): file -> flag -> Excel rows.
PLANTED = {
    QIYI_SURVEYS: {"too_fast": [83, 111, 454, 1214], "burst": [1312, 1313, 1314, 1315, 1316, 1317],
                   "copied_text": [864, 1054, 1089, 1434]},
    XIUZHU_SURVEYS: {"too_fast": [307, 1576]},
}


# ----------------------------------------------------------------------------- reading helpers
def _csv(rel: str, encoding: str) -> pd.DataFrame:
    return pd.read_csv(SAMPLE / rel, dtype=str, keep_default_na=False, encoding=encoding)


def _sheet(rel: str, header_row: int = 1) -> tuple[list, list[list]]:
    """(header, data rows) of an xlsx; data rows keep their Excel row numbers from header_row + 1."""
    ws = openpyxl.load_workbook(SAMPLE / rel, read_only=True).worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return rows[header_row - 1], rows[header_row:]


def _xls(rel: str) -> list[list]:
    sh = xlrd.open_workbook(str(SAMPLE / rel)).sheet_by_index(0)
    return [sh.row_values(i) for i in range(sh.nrows)]


def _seconds(text: str) -> int:
    m = re.fullmatch(r"(\d+)秒", text)
    assert m, text
    return int(m.group(1))


def _fingerprint(text: str) -> str:
    """Section 10's comparison form: NFKC, no whitespace, no punctuation or symbols."""
    t = unicodedata.normalize("NFKC", str(text))
    return "".join(ch for ch in t if not ch.isspace() and unicodedata.category(ch)[0] not in "PS")


def _key(address: str):
    """(building, unit or None, room) of the address spellings the 问卷星 files use."""
    a = re.sub(r"\s+", "", unicodedata.normalize("NFKC", address)).removeprefix("七一社区")
    m = re.fullmatch(r"(\d+)(?:号楼|栋|-)(\d+)(?:单元|-)(\d+)室?", a)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    m = re.fullmatch(r"(\d+)(?:号楼|-)(\d+)室?", a)
    assert m, address
    return int(m.group(1)), None, int(m.group(2))


def _week(d: dt.date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def _date(v) -> dt.date:
    """A date cell as staff write it: a date, an Excel serial, 2023/9/5, 2023-09-05, 2023年9月5日."""
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (int, float)) or re.fullmatch(r"\d{5}", str(v)):
        return dt.date(1899, 12, 30) + dt.timedelta(days=int(float(v)))
    y, m, d = map(int, re.findall(r"\d+", str(v))[:3])
    return dt.date(y, m, d)


# ----------------------------------------------------------------------------- section 10
@pytest.fixture(scope="module")
def qiyi():
    rows = _xls(QIYI_SURVEYS)
    header = rows[0]
    assert header[2] == "所用时间" and header[5] == "来自IP" and "意见或建议" in header[13]
    return {i: r for i, r in enumerate(rows[1:], start=2)}  # Excel row -> cells


def test_too_fast_returns_are_exactly_the_planted_rows():
    for rel, col in ((QIYI_SURVEYS, 2), (XIUZHU_SURVEYS, 2)):
        rows = _xls(rel)
        fast = [i for i, r in enumerate(rows[1:], start=2) if _seconds(r[col]) < 15]
        assert fast == PLANTED[rel]["too_fast"], rel
        assert all(re.fullmatch(r"\d+秒", r[col]) for r in rows[1:])


def test_burst_is_six_returns_from_one_ip_within_eight_minutes(qiyi):
    rows = PLANTED[QIYI_SURVEYS]["burst"]
    from_ip = [i for i, r in qiyi.items() if r[5].split("(")[0] == BURST_IP]
    assert from_ip == rows
    times = [dt.datetime.strptime(qiyi[i][1], "%Y/%m/%d %H:%M:%S") for i in rows]
    assert times == sorted(times) and times[-1] - times[0] <= dt.timedelta(minutes=8)
    assert {_week(t.date()) for t in times} == {"2023-W37"}
    # no other client sends 5 returns within 10 minutes (the contract's default burst)
    by_ip: dict = {}
    for i, r in qiyi.items():
        if i not in rows:
            by_ip.setdefault(r[5].split("(")[0], []).append(dt.datetime.strptime(r[1], "%Y/%m/%d %H:%M:%S"))
    assert max(len(v) for v in by_ip.values()) < 5


def test_copied_comment_is_on_the_planted_rows_only(qiyi):
    assert [i for i, r in qiyi.items() if r[13] == COPIED] == PLANTED[QIYI_SURVEYS]["copied_text"]
    assert len(_fingerprint(COPIED)) >= 10


# Planted rows that copy another return's cells (README: rejected rows, and the superseded half
# of an exact tie): section 10 judges valid standing returns only, so they are left out here.
COPIES = {"七一社区": {569, 1171}, "海港社区": {1417, 1500}, "港兴社区": {613, 722}, "福寿社区": {560, 1005},
          "修竹社区": {842}}


def _comments():
    """community -> comment texts of its survey files (Excel row -> text), without COPIES."""
    out = {"七一社区": {i: r[13] for i, r in enumerate(_xls(QIYI_SURVEYS)[1:], start=2)},
           "修竹社区": {i: r[13] for i, r in enumerate(_xls(XIUZHU_SURVEYS)[1:], start=2)}}
    for c, rel, enc, col in (("海港社区", "surveys/海港社区_调查问卷.csv", "utf-8", "意见建议"),
                             ("福寿社区", "surveys/福寿社区_调查问卷.csv", "utf-8-sig", "Q6.其他意见或建议")):
        out[c] = dict(enumerate(_csv(rel, enc)[col], start=2))
    header, rows = _sheet("surveys/港兴社区_调查问卷.xlsx")
    out["港兴社区"] = {i: r[header.index("您有什么诉求")] or "" for i, r in enumerate(rows, start=2)}
    return {c: [t for i, t in texts.items() if i not in COPIES[c]] for c, texts in out.items()}


def test_no_other_long_comment_repeats_three_times():
    """Ordinary residents' comments are not copied text: only the planted one is (section 10)."""
    for community, comments in _comments().items():
        counts: dict = {}
        for c in comments:
            f = _fingerprint(c)
            if len(f) >= 10:
                counts[f] = counts.get(f, 0) + 1
        repeated = {f: n for f, n in counts.items() if n >= 3}
        assert repeated == ({_fingerprint(COPIED): 4} if community == "七一社区" else {}), community


def test_planted_returns_are_valid_single_returns_of_registry_households(qiyi):
    header, rows = _sheet("households/七一社区住户台账.xlsx", header_row=3)
    registry = {(r[3], r[4], r[5]) for r in rows if r[3] is not None}
    all_keys = [_key(r[7]) for r in qiyi.values() if r[7] and r[7] != "(空)" and re.search(r"\d", r[7][-1])]
    for flag, numbers in PLANTED[QIYI_SURVEYS].items():
        for i in numbers:
            r = qiyi[i]
            assert r[6] == "七一社区" and r[1], (flag, i)
            key = _key(r[7])
            assert key in registry, (flag, i, r[7])
            assert all_keys.count(key) == 1, (flag, i, r[7])  # never superseded
            assert dt.datetime.strptime(r[1], "%Y/%m/%d %H:%M:%S").date() <= dt.date(2023, 9, 17)


def test_subdistrict_yml_has_assessment_date_and_credibility_defaults():
    doc = yaml.safe_load((SAMPLE / "subdistrict.yml").read_text(encoding="utf-8"))
    assert doc["assessment_date"] == dt.date(2023, 10, 15)
    assert doc["credibility"] == {"min_seconds": 15, "burst_count": 5, "burst_minutes": 10}


# ----------------------------------------------------------------------------- section 11: activities
ACTIVITY_FILES = {
    "七一社区": "activities/七一社区_志愿服务台账.xlsx", "海港社区": "activities/海港社区_志愿服务记录.csv",
    "港兴社区": "activities/港兴社区_活动记录.csv", "福寿社区": "activities/福寿社区_志愿服务活动.xlsx",
    "修竹社区": "activities/修竹社区_活动记录.csv",
}


def _activities(community: str) -> pd.DataFrame:
    rel = ACTIVITY_FILES[community]
    if rel.endswith(".xlsx"):
        header, rows = _sheet(rel, header_row=2 if community == "七一社区" else 1)
        df = pd.DataFrame(rows, columns=header)
    else:
        df = _csv(rel, {"海港社区": "gbk", "港兴社区": "utf-8-sig"}.get(community, "utf-8"))
    df.index = range(2 + (community == "七一社区"), 2 + (community == "七一社区") + len(df))  # Excel rows
    return df


def test_activity_folder_has_one_file_per_community():
    assert sorted(p.relative_to(SAMPLE).as_posix() for p in (SAMPLE / "activities").iterdir()) == \
        sorted(ACTIVITY_FILES.values())


def test_one_community_skips_one_saturday_cleanup():
    missing = {}
    for c in COMMUNITIES:
        df = _activities(c)
        kind = next(h for h in df.columns if h in ("活动名称", "活动类型"))
        date = next(h for h in df.columns if h in ("活动日期", "日期"))
        cleanup = df[df[kind].astype(str).str.contains("清理|卫生|大扫除")]
        weeks = {_week(_date(v)) for v in cleanup[date]}
        assert weeks <= set(WEEKS)
        missing[c] = sorted(set(WEEKS) - weeks)
        saturdays = {_date(v).weekday() for v in cleanup[date]}
        assert saturdays == {5}, c  # 星期六志愿服务
    assert missing == {"七一社区": [], "海港社区": [], "港兴社区": [], "福寿社区": [], "修竹社区": ["2023-W37"]}


def test_activity_files_have_the_documented_mess():
    raw = (SAMPLE / ACTIVITY_FILES["海港社区"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    hg = _activities("海港社区")
    assert hg["参与人数"].str.fullmatch(r"\d+人").all()
    assert hg["服务时长"].str.fullmatch(r"(\d+(\.\d+)?小时)?").all() and hg["服务时长"].str.contains(r"\.5小时").any()
    assert hg["清理点位"].str.fullmatch(r"(\d+处)?").all() and (hg["清理点位"] != "").any()

    ws = openpyxl.load_workbook(SAMPLE / ACTIVITY_FILES["七一社区"], read_only=True).worksheets[0]
    first = [list(r) for r in ws.iter_rows(min_row=1, max_row=3, values_only=True)]
    assert first[0][0] == "七一社区志愿服务台账" and first[1][1] == "活动日期"
    qy = _activities("七一社区")
    assert all(isinstance(v, int) and 20000 <= v <= 80000 for v in qy["活动日期"])  # Excel serials
    for c in ("七一社区", "修竹社区"):  # community from the file name (contract 9.1)
        assert not {"社区", "社区名称", "所属社区"} & set(_activities(c).columns), c

    gx = _activities("港兴社区")
    assert (SAMPLE / ACTIVITY_FILES["港兴社区"]).read_bytes().startswith(b"\xef\xbb\xbf")
    assert gx["参与人次"].str.fullmatch(r"\d+人次").all()
    dup = gx[gx.duplicated(keep=False)]
    assert dup.index.tolist() == [10, 16]  # row 16 resends row 10

    fs = _activities("福寿社区")
    bad = fs[~fs["参加人数"].astype(str).str.fullmatch(r"\d+")]
    assert bad.index.tolist() == [8] and bad.loc[8, "参加人数"] == "十几人"
    assert fs["时长"].dropna().astype(str).str.fullmatch(r"\d+(\.5)?小时").all()

    for c in COMMUNITIES:  # party members never exceed participants on valid rows
        df = _activities(c)
        p = next(h for h in df.columns if h in ("参与人数", "参与人次", "参加人数", "人数"))
        m = next(h for h in df.columns if h in ("党员人数", "其中党员"))
        n = df[p].astype(str).str.extract(r"^(\d+)")[0]
        ok = n.notna()
        assert (df.loc[ok, m].astype(str).str.extract(r"^(\d+)")[0].astype(int) <= n[ok].astype(int)).all(), c
        kinds = df[next(h for h in df.columns if h in ("活动名称", "活动类型"))].astype(str)
        assert kinds.str.contains("宣传").any() and kinds.str.contains("动员会").any(), c


# ----------------------------------------------------------------------------- section 11: shops
SHOP_FILES = {
    "七一社区": "shops/七一社区_门前三包巡查记录.xlsx", "海港社区": "shops/海港社区_门前三包巡查.csv",
    "港兴社区": "shops/港兴社区_门前三包巡查台账.xlsx", "福寿社区": "shops/福寿社区_门前三包.csv",
    "修竹社区": "shops/修竹社区_门前三包巡查记录.csv",
}
SHOP = ("商铺名称", "店铺名称", "商户名称")
RESULT = ("巡查结果", "检查结果")
DATE = ("巡查日期", "检查日期", "日期")


def _shops(community: str) -> pd.DataFrame:
    rel = SHOP_FILES[community]
    if rel.endswith(".xlsx"):
        header, rows = _sheet(rel)
        df = pd.DataFrame(rows, columns=header)
    else:
        assert (SAMPLE / rel).read_bytes().startswith(b"\xef\xbb\xbf"), rel  # UTF-8 with BOM
        df = _csv(rel, "utf-8-sig")
    df.index = range(2, 2 + len(df))
    return df


def _col(df, names):
    return next(h for h in df.columns if h in names)


def test_shop_files_have_the_documented_mess():
    assert sorted(p.relative_to(SAMPLE).as_posix() for p in (SAMPLE / "shops").iterdir()) == sorted(SHOP_FILES.values())
    overdue = 0
    for c in COMMUNITIES:
        df = _shops(c)
        shops = set(df[_col(df, SHOP)])
        assert 10 <= len(shops) <= 30, c
        results = df[_col(df, RESULT)]
        expected = {"合格", "不合格", "待复查"} if c == "港兴社区" else {"合格", "不合格"}
        assert set(results) == expected, c
        failed = df[results == "不合格"]
        problems = {p for v in failed["存在问题"] if v for p in str(v).split("、")} if "存在问题" in df \
            else {p for v in failed["问题类型"] if v for p in str(v).split("、")}
        assert problems <= {"占道经营", "店外经营", "乱停车", "门前堆放杂物", "卫生不达标", "乱张贴广告"}, c
        action = df[_col(df, ("处理措施", "处理方式"))].fillna("")
        assert set(action) <= {"", "当场整改", "限期整改", "联合执法", "移交执法"}, c
        signed = df[_col(df, ("责任书", "签订责任书", "是否签订"))].fillna("")
        assert set(signed) == {"已签", "未签", ""}, c
        for d, dl in zip(df[_col(df, DATE)], df["整改期限"]):
            if dl is not None and not pd.isna(dl) and dl != "":
                sunday = _date(d) + dt.timedelta(days=6 - _date(d).weekday())
                overdue += _date(dl) < sunday
        if c == "福寿社区":
            assert not {"社区", "社区名称", "所属社区"} & set(df.columns)  # community from the file name
    assert overdue > 0  # some 整改期限 fall before the week's Sunday

    qy = _shops("七一社区")  # the same shop twice on one day: 不合格, then 合格 (the later stands)
    a, b = qy.loc[32], qy.loc[33]
    assert (a["商铺名称"], a["巡查日期"]) == (b["商铺名称"], b["巡查日期"])
    assert (a["巡查结果"], a["处理措施"], b["巡查结果"]) == ("不合格", "当场整改", "合格")
    hg = _shops("海港社区")
    assert hg[hg.duplicated(keep=False)].index.tolist() == [41, 98]
    gx = _shops("港兴社区")
    assert gx.index[gx["巡查结果"] == "待复查"].tolist() == [26]
    assert isinstance(gx.loc[2, "巡查日期"], dt.datetime)


# ----------------------------------------------------------------------------- section 11: people
def test_visitors_show_roles_and_one_community_has_a_role_column():
    text = _csv("visits/海港社区_走访记录_第36周.csv", "utf-8")["工作人员"]
    for role in ("楼长", "党员", "志愿者", "网格员", "社工"):
        assert text.str.contains(role).any(), role
    assert (~text.str.contains("楼长|党员|志愿|网格员|社工")).any()  # some plain names (other)
    header, rows = _sheet("visits/福寿社区_走访记录.xlsx")
    assert header[-1] == "走访人身份" and header[7] == "走访人"
    roles = {r[-1] for r in rows if r[0] is not None}
    assert {"网格员", "楼长", "党员", "志愿者"} <= roles and None in roles  # blank: the 走访人 text decides
    assert not any(re.search("楼长|党员|志愿|网格员|社工", str(r[7])) for r in rows if r[0] is not None)


def test_two_registries_name_one_responsible_person_per_building():
    header, rows = _sheet("households/七一社区住户台账.xlsx", header_row=3)
    assert header[-1] == "包户人"
    qy = pd.DataFrame([r for r in rows if r[3] is not None], columns=header)
    fs = _csv("households/福寿社区住户台账.csv", "utf-8")
    assert fs.columns[-1] == "包户人"
    for df, building in ((qy, "楼号"), (fs, "楼栋")):
        assert (df["包户人"] != "").all()
        assert (df.groupby(building)["包户人"].nunique() == 1).all()
    for rel, enc in (("households/海港社区住户台账.csv", "gbk"), ("households/港兴社区住户台账.csv", "utf-8-sig")):
        assert "包户人" not in _csv(rel, enc).columns
