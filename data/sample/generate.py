#!/usr/bin/env python3
"""Generate the fake sample data folder for 人民路街道's 创建全国文明城市 door-to-door campaign.

    python data/sample/generate.py [--out DIR] [--communities N] [--households H]
                                   [--seed S] [--weeks 2023-W32:2023-W37] [--messy true|false]
                                   [--real-layout true|false]

Writes ``subdistrict.yml``, the four input kinds (households/, visits/, surveys/,
issues/) and the two optional ones of contract section 11 (activities/: 志愿服务与活动记录,
shops/: 门前三包巡查记录) described by the project's data contract.  With ``messy`` (the default) the
files imitate what community staff really send: GBK CSV, title rows above headers,
问卷星 ``.xls`` exports, mixed address and date spellings, and a set of planted faults
(every planted row is listed in the returned summary under ``planted`` with its file
and Excel row number).  With ``messy=False`` it writes one plain UTF-8 CSV per kind per
community with canonical headers and no faults (for benchmarks).

The output is deterministic: it depends only on the arguments (fixed seeds, no hash
order, no current date; workbook timestamps are fixed).  All names, phone numbers
and addresses are random and fake.

Only the standard library, openpyxl, xlwt and pyyaml are used.
"""
from __future__ import annotations

import argparse
import csv
import unicodedata
import datetime as dt
import io
import random
import shutil
import sys
import time
import zipfile
from itertools import accumulate
from pathlib import Path

import yaml

SUBDISTRICT = "人民路街道"
BASE_COMMUNITIES = ["七一社区", "海港社区", "港兴社区", "福寿社区", "修竹社区"]
UNKNOWN_COMMUNITY = "春光社区"  # never a real community of the sample
EXTRA_WORDS = [
    "东风", "春晖", "朝阳", "光明", "和平", "建设", "胜利", "新华", "幸福", "向阳",
    "文化", "红旗", "团结", "友谊", "育才", "长江", "黄河", "泰山", "青山", "金沙",
    "银河", "明珠", "振华", "兴华", "安居", "康乐", "永安", "长青", "松柏", "翠竹",
    "梅园", "兰亭", "荷塘", "枫林", "桂花", "滨江", "望海", "云台", "锦绣", "丰收",
]
GENERATED_PARTS = ("households", "visits", "surveys", "issues", "activities", "shops")
FIELDS = ("awareness", "support", "participation", "satisfaction", "garbage_sorting")
TARGETS = {"awareness": 0.95, "support": 0.95, "participation": 0.80,
           "satisfaction": 0.90, "garbage_sorting": 0.90, "coverage": 1.0}
CATEGORIES = ["环境卫生", "占道经营", "车辆乱停", "设施维修", "文明养犬", "噪音扰民", "其他"]
UNKNOWN_CATEGORIES = ["绿化", "物业管理", "违章搭建"]  # not configured: read as 其他
EXCEL_EPOCH = dt.date(1899, 12, 30)
FIXED_TS = dt.datetime(2023, 9, 17, 12, 0, 0)  # workbook metadata and zip entry times
BLANK = "<blank row>"        # a row whose cells are all empty
EMPTY_LINE = "<empty line>"  # CSV only: a completely empty line

# name, households, coverage at the end, survey response share, rates (FIELDS order),
# share of 出租, share of online contact
BASE_PROFILES = {
    "七一社区": (2000, 0.950, 0.72, (0.970, 0.965, 0.84, 0.93, 0.945), 0.10, 0.12),
    "海港社区": (3200, 0.930, 0.66, (0.950, 0.960, 0.74, 0.91, 0.910), 0.12, 0.15),
    "港兴社区": (1600, 0.965, 0.78, (0.975, 0.975, 0.86, 0.935, 0.955), 0.08, 0.10),
    "福寿社区": (2600, 0.915, 0.70, (0.945, 0.950, 0.70, 0.895, 0.895), 0.10, 0.14),
    "修竹社区": (3800, 0.860, 0.62, (0.925, 0.950, 0.64, 0.875, 0.875), 0.40, 0.30),
}

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
                "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
                "顾侯邵孟龙万段钱汤尹黎易常武乔贺赖龚文")
SURNAME_CUM = list(accumulate(1.0 / (i + 4) for i in range(len(SURNAMES))))
GIVEN = list(dict.fromkeys("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉文辉力鹏飞"
                           "宇浩然子涵欣怡梓轩诺雨桐佳琪淑珍凤德福海燕晓东春梅永立新斌宁俊凯琳雪慧"))

REAL_COMMENTS = [
    "楼道堆物太多，希望尽快清理", "小区内车辆乱停，消防通道经常被占", "希望增加垃圾桶",
    "希望增加垃圾分类投放点", "路灯坏了很久了，晚上出行不方便", "电动车飞线充电有安全隐患",
    "希望多组织志愿活动", "创城工作做得很好，辛苦了！", "小区门口流动摊贩太多",
    "晚上广场舞声音太大", "有人遛狗不拴绳，孩子害怕", "希望老楼加装电梯",
    "绿化带里种菜的情况希望管一管", "宣传材料收到了，谢谢", "无", "没有",
    "希望常态化，不要检查完就反弹", "楼下垃圾清运不及时，夏天有异味",
]
HOSTILE_COMMENTS = [
    "<script>alert(1)</script>",
    '<a href="javascript:alert(1)">点我</a>',
    '" onmouseover="x',
    "我的电话13812345678请回电",
]
ISSUE_TEMPLATES = {
    "环境卫生": ["{b}号楼楼道堆物，影响通行", "{b}号楼附近垃圾桶满溢无人清理",
               "{b}号楼下建筑垃圾未清运", "{b}号楼{u}单元楼道小广告多"],
    "占道经营": ["小区{g}门口流动摊贩占道经营", "{b}号楼底商占道摆放货物"],
    "车辆乱停": ["{b}号楼前机动车占用消防通道", "{b}号楼{u}单元门口电动车乱停乱放",
               "{b}号楼电动车飞线充电"],
    "设施维修": ["{b}号楼{u}单元门禁损坏", "{b}号楼路灯不亮", "{b}号楼{u}单元楼道灯损坏",
               "{b}号楼旁雨水井盖破损"],
    "文明养犬": ["{b}号楼附近有人遛狗不牵绳", "{b}号楼周边狗粪无人清理"],
    "噪音扰民": ["{b}号楼附近夜间广场舞噪音扰民", "{b}号楼装修噪音扰民"],
    "其他": ["希望在{b}号楼附近增加休闲座椅", "{b}号楼宣传栏内容过期"],
    "绿化": ["{b}号楼旁绿化带被毁种菜"],
    "物业管理": ["{b}号楼物业服务不到位"],
    "违章搭建": ["{b}号楼楼顶私搭乱建"],
}

# answer vocabulary per file style: field -> (positive values, negative values)
VOCAB = {
    0: {"awareness": (["知道"], ["不知道"]), "support": (["非常支持", "支持"], ["不支持", "无所谓"]),
        "participation": (["参与过"], ["没参与过"]),
        "satisfaction": (["非常满意", "满意", "比较满意"], ["一般", "不满意"]),
        "garbage_sorting": (["了解"], ["不了解"])},
    1: {"awareness": (["知晓"], ["不知晓"]), "support": (["支持", "比较支持"], ["不太支持", "说不清"]),
        "participation": (["经常参与", "偶尔参与"], ["从未参与"]),
        "satisfaction": (["满意", "基本满意"], ["不太满意", "非常不满意"]),
        "garbage_sorting": (["知道"], ["不知道"])},
    2: {"awareness": (["是"], ["否"]), "support": (["非常支持", "支持"], ["不支持"]),
        "participation": (["是"], ["否"]), "satisfaction": (["非常满意", "满意"], ["一般", "不满意"]),
        "garbage_sorting": (["是"], ["否"])},
    3: {"awareness": (["了解", "清楚"], ["不了解", "不清楚"]), "support": (["支持"], ["不支持", "无所谓"]),
        "participation": (["参与", "参与过"], ["未参与", "没有参与"]),
        "satisfaction": (["比较满意", "满意"], ["一般"]),
        "garbage_sorting": (["清楚", "了解"], ["不清楚", "不了解"])},
    4: {"awareness": (["知道"], ["不知道"]), "support": (["支持"], ["不支持"]),
        "participation": (["参与过"], ["没参与过"]), "satisfaction": (["满意"], ["不满意", "一般"]),
        "garbage_sorting": (["知道"], ["不知道"])},
}
CLEAN_VOCAB = {"awareness": (["知道"], ["不知道"]), "support": (["支持"], ["不支持"]),
               "participation": (["参与过"], ["没参与过"]), "satisfaction": (["满意"], ["不满意"]),
               "garbage_sorting": (["了解"], ["不了解"])}
# outcome spellings per style (all aliases of the contract appear somewhere)
OUTCOMES = {
    0: {"entered": ["已入户"] * 9 + ["入户成功"], "online": ["线上宣传"],
        "not_home": ["不在家"] * 4 + ["无人在家"], "refused": ["拒访"]},
    1: {"entered": ["成功"], "online": ["微信"], "not_home": ["无人"], "refused": ["拒绝"]},
    2: {"entered": ["入户成功"], "online": ["线上"], "not_home": ["无人在家"], "refused": ["拒访", "拒绝"]},
    3: {"entered": ["已入户", "入户成功", "成功"], "online": ["线上宣传", "线上", "微信"],
        "not_home": ["不在家", "无人", "无人在家"], "refused": ["拒访", "拒绝"]},
    4: {"entered": ["已入户"], "online": ["微信", "微信", "线上宣传"], "not_home": ["不在家"],
        "refused": ["拒绝"]},
}
CLEAN_OUTCOMES = {"entered": "已入户", "online": "线上宣传", "not_home": "不在家", "refused": "拒访"}
CREDIBILITY = {"min_seconds": 15, "burst_count": 5, "burst_minutes": 10}  # contract section 10 defaults
ASSESSMENT_DATE = dt.date(2023, 10, 15)  # 测评日期 (section 12)
RESOLVED_TEXT = ["已办结", "已办结", "已解决", "完成"]
OPEN_TEXT = ["办理中", "办理中", "未解决", "待处理"]


# ----------------------------------------------------------------------------- helpers
CN_DIGITS = "零一二三四五六七八九"


def cn_num(n: int) -> str:
    """1..99 in Chinese numerals (十一, 二十三); other numbers as digits."""
    if not 0 < n < 100:
        return str(n)
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[ones] if ones else "")


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c)
                   for c in s)


def iso_monday(week: str) -> dt.date:
    year, _, num = week.strip().upper().partition("-W")
    return dt.date.fromisocalendar(int(year), int(num), 1)


def serial(d: dt.date) -> int:
    return (d - EXCEL_EPOCH).days


def d_slash(d):
    return f"{d.year}/{d.month}/{d.day}"


def d_dot(d):
    return f"{d.year}.{d.month}.{d.day}"


def d_cn(d):
    return f"{d.year}年{d.month}月{d.day}日"


def grid_text(g: int, form: str) -> str:
    if form == "num":
        return str(g)
    if form == "cn" and g < 100:
        return f"{cn_num(g)}网格"
    return f"第{g}网格"


def addr_text(b, u, r, v="dash", comm=""):
    """One household address in one of the contract's spellings (section 3)."""
    rs = f"0{r}" if v == "zero" and r < 1000 else str(r)
    if u is None:  # two-part address: building and room only
        if v in ("dash", "hash", "zero"):
            return f"{b}-{rs}"
        if v == "fw":
            return fullwidth(f"{b}-{r}")
        if v == "cn" and b < 100:
            return f"{cn_num(b)}号楼{r}室"
        if v == "spaces":
            return f" {b} 号楼 {r} 室 "
        if v == "prefix":
            return f"{comm}{b}号楼{r}室"
        return f"{b}号楼{r}室"
    if v == "std":
        return f"{b}号楼{u}单元{r}室"
    if v == "std_noshi":
        return f"{b}号楼{u}单元{r}"
    if v == "dong":
        return f"{b}栋{u}单元{r}"
    if v == "zhuang":
        return f"{b}幢{u}单元{r}室"
    if v == "zuo":
        return f"{b}座{u}单元{r}"
    if v == "cn" and b < 100:
        return f"{cn_num(b)}号楼{cn_num(u)}单元{r}室"
    if v == "fw":
        return fullwidth(f"{b}-{u}-{r}")
    if v == "hash":
        return f"{b}#{u}-{r}"
    if v == "hao":
        return f"{b}号{u}单元{r}"
    if v == "spaces":
        return f" {b} 号楼 {u} 单元 {r} 室 "
    if v == "prefix":
        return f"{comm}{b}号楼{u}单元{r}"
    return f"{b}-{u}-{rs}"  # dash, zero


def comment_fingerprint(text: str) -> str:
    """A comment as section 10 compares it: NFKC, no whitespace, no punctuation (P*) or symbols (S*)."""
    t = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in t if not ch.isspace() and unicodedata.category(ch)[0] not in "PS")


def pick(rng, options, weights):
    return rng.choices(options, weights)[0]


def place(rows, rng, row, tag, lo=0.15, hi=0.85):
    """Insert a planted row at a random position in the middle part of rows."""
    n = len(rows)
    i = rng.randint(int(n * lo), max(int(n * lo), int(n * hi)))
    rows.insert(i, (row, tag))
    return i


def mark(rows, rng, tag, ok=lambda cells: True, lo=0.1, hi=0.9):
    """Pick an existing untagged data row (index) in the middle part of rows and tag it."""
    n = len(rows)
    for _ in range(1000):
        i = rng.randint(int(n * lo), max(int(n * lo), int(n * hi) - 1))
        cells, old = rows[i]
        if old is None and isinstance(cells, list) and ok(cells):
            rows[i] = (cells, tag)
            return i
    raise RuntimeError("no row to mark")


# ----------------------------------------------------------------------------- model
class HH:
    __slots__ = ("grid", "b", "u", "r", "occ", "name", "phone", "vacant", "excluded", "reach")

    def __init__(self, grid, b, u, r):
        self.grid, self.b, self.u, self.r = grid, b, u, r
        self.occ = self.name = self.phone = ""
        self.vacant = False
        self.excluded = None  # registry fault planted on this household's only row
        self.reach = None     # (date, minute, outcome) of the first entered/online visit


class Profile:
    def __init__(self, index, name, households, cov, resp, rates, rent, online):
        self.index, self.name, self.style = index, name, index % 5
        self.H, self.cov, self.resp = households, cov, resp
        self.rates = dict(zip(FIELDS, rates))
        self.rent, self.online = rent, online


class Calendar:
    NORMAL_DAYS = list(accumulate([1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.3]))
    PUSH_DAYS = list(accumulate([0.6, 3.0, 3.0, 3.0, 3.0, 0.5, 0.3]))  # Tue-Fri push

    def __init__(self, first_week, last_week, extra_days=3):
        self.start = iso_monday(first_week)
        last = iso_monday(last_week)
        if last < self.start:
            raise ValueError(f"week range {first_week}:{last_week} is empty")
        self.n = (last - self.start).days // 7 + 1
        self.mondays = [self.start + dt.timedelta(weeks=i) for i in range(self.n)]
        self.last_sunday = last + dt.timedelta(days=6)
        self.extra_days = extra_days
        self.end = self.last_sunday + dt.timedelta(days=extra_days)  # last date in the data
        self.push = self.n - 2 if self.n >= 3 else self.n - 1
        w = [1 + 0.15 * i for i in range(self.n)]
        if self.n >= 2:
            w[self.push] = (sum(w) - w[self.push]) * 0.4 / 0.6  # ~40% of reaches in the push
        self.week_cum = list(accumulate(w))
        self.weeks = range(self.n)
        self.days = range(7)

    def pick_week(self, rng):
        return rng.choices(self.weeks, cum_weights=self.week_cum)[0]

    def pick_day(self, rng, wi):
        cum = self.PUSH_DAYS if wi == self.push else self.NORMAL_DAYS
        return self.mondays[wi] + dt.timedelta(days=rng.choices(self.days, cum_weights=cum)[0])

    def extra_day(self, rng):
        return self.last_sunday + dt.timedelta(days=rng.randint(1, self.extra_days))

    def random_date(self, rng, extra_p=0.03):
        if rng.random() < extra_p:
            return self.extra_day(rng)
        return self.pick_day(rng, self.pick_week(rng))

    def week_index(self, d):
        return min(max((d - self.start).days // 7, 0), self.n - 1)

    def week_label(self, d):
        y, w, _ = d.isocalendar()
        return f"第{w:02d}周" if self.start.year == self.end.year else f"{y}年第{w:02d}周"


def person_name(rng):
    s = rng.choices(SURNAMES, cum_weights=SURNAME_CUM)[0]
    if rng.random() < 0.3:
        return s + rng.choice(GIVEN)
    return s + rng.choice(GIVEN) + rng.choice(GIVEN)


def phone_number(rng):
    return f"1{rng.choice('3456789')}{rng.randrange(10 ** 9):09d}"


def community_names(n, base=None):
    base = BASE_COMMUNITIES if base is None else list(base)
    names = base[:n]
    for i in range(max(0, n - len(BASE_COMMUNITIES))):
        rnd = i // len(EXTRA_WORDS)
        names.append(EXTRA_WORDS[i % len(EXTRA_WORDS)] + (cn_num(rnd) if rnd else "") + "社区")
    assert len(set(names)) == len(names) and UNKNOWN_COMMUNITY not in names
    return names


def make_profiles(n, households, seed, base_names=None):
    out = []
    for i, name in enumerate(community_names(n, base_names)):
        if name in BASE_PROFILES:
            H, cov, resp, rates, rent, online = BASE_PROFILES[name]
        else:
            rng = random.Random(f"{seed}/{name}/profile")
            H = rng.randint(1500, 4000)
            cov = round(rng.uniform(0.87, 0.965), 3)
            resp = round(rng.uniform(0.6, 0.8), 2)
            rates = (rng.uniform(0.915, 0.975), rng.uniform(0.945, 0.975), rng.uniform(0.62, 0.86),
                     rng.uniform(0.865, 0.935), rng.uniform(0.865, 0.955))
            rent, online = rng.uniform(0.05, 0.25), rng.uniform(0.08, 0.2)
        if households is not None:
            H = households
        out.append(Profile(i, name, H, cov, resp, rates, rent, online))
    return out


# ----------------------------------------------------------------------------- simulation
def build_registry(rng, prof):
    H = prof.H
    hhs, b, grid, in_grid = [], 0, 1, 0
    target = rng.randint(150, 250)
    tall = H > 2600
    while len(hhs) < H:
        b += 1
        if rng.random() < 0.1:
            units, doors = [None], rng.choice((2, 3, 4))
        else:
            units = list(range(1, rng.choice((1, 2, 2, 3, 3, 3)) + 1))
            doors = rng.choice((2, 3, 3, 4)) if tall else rng.choice((2, 2, 3))
        floors = rng.randint(10, 18) if tall else rng.randint(6, 18)
        size = len(units) * floors * doors
        if in_grid and in_grid + size > target:
            grid, in_grid, target = grid + 1, 0, rng.randint(150, 250)
        in_grid += size
        for u in units:
            for f in range(1, floors + 1):
                for d in range(1, doors + 1):
                    hhs.append(HH(grid, b, u, f * 100 + d))
    del hhs[H:]
    r = prof.rent
    occ = ["常住", "自住", "出租", "空置", "空房", ""]
    cum = list(accumulate([(0.84 - r) * 0.7, (0.84 - r) * 0.3, r, 0.04, 0.02, 0.10]))
    choices, random_ = rng.choices, rng.random
    for hh in hhs:
        hh.occ = choices(occ, cum_weights=cum)[0]
        hh.vacant = hh.occ in ("空置", "空房")
        hh.name = person_name(rng) if random_() > 0.01 else ""
        hh.phone = phone_number(rng) if random_() > 0.04 else ""
    staff = {g: [person_name(rng), person_name(rng)] for g in range(1, hhs[-1].grid + 1)}
    return hhs, staff


def draw_materials(rng, outcome):
    x = rng.random()
    if outcome == "entered":
        return (1, 2, 2, 2, 3, 3, 4)[int(x * 7)]
    if outcome == "not_home":
        return 1 if x < 0.2 else (0 if x < 0.6 else None)
    return 0 if x < 0.5 else None


def simulate_visits(rng, hhs, staff, cal, prof):
    visits = []  # [date, minute, hh, outcome, materials, visitor]
    late_p = 0.12
    for hh in hhs:
        if hh.excluded:
            continue
        used = set()

        def add(d, outcome):
            used.add(d)
            visits.append([d, rng.randint(8 * 60 + 30, 19 * 60 + 30), hh, outcome,
                           draw_materials(rng, outcome), rng.choice(staff[hh.grid])])

        if hh.vacant:
            if rng.random() < 0.35:
                add(cal.random_date(rng), "not_home")
            continue
        x = rng.random()
        if x < prof.cov:
            d = cal.pick_day(rng, cal.pick_week(rng))
        elif x < prof.cov + (1 - prof.cov) * late_p:
            d = cal.extra_day(rng)  # reached after the last report week
        else:
            d = None
        if d is not None:
            outcome = "online" if rng.random() < prof.online else "entered"
            add(d, outcome)
            hh.reach = (d, visits[-1][1], outcome)
            k = rng.choices((0, 1, 2, 3), (0.6, 0.28, 0.09, 0.03))[0]
            for _ in range(k):
                dd = d - dt.timedelta(days=rng.randint(1, 9))
                if dd >= cal.start and dd not in used:
                    add(dd, "refused" if rng.random() < 0.2 else "not_home")
            if rng.random() < 0.04:
                dd = d + dt.timedelta(days=rng.randint(3, 14))
                if dd <= cal.end and dd not in used:
                    add(dd, "entered")
        else:
            k = rng.choices((0, 1, 2, 3), (0.3, 0.4, 0.22, 0.08))[0]
            for _ in range(k):
                dd = cal.random_date(rng)
                if dd not in used:
                    add(dd, "refused" if rng.random() < 0.25 else "not_home")
    visits.sort(key=lambda v: (v[0], v[1], v[2].b, v[2].u or 0, v[2].r))
    return visits


def draw_answers(rng, prof, cal, d):
    wi = cal.week_index(d)
    drift = 0.04 * (1 - wi / (cal.n - 1)) if cal.n > 1 else 0.0
    ans = []
    for f in FIELDS:
        x = rng.random()
        if x < (0.04 if f == "participation" else 0.02):
            ans.append("")
        else:
            ans.append("P" if rng.random() < prof.rates[f] - drift else "N")
    return ans


def simulate_surveys(rng, hhs, cal, prof, messy):
    rets = []  # [datetime, hh or None, answers, comment, tag]
    end = cal.end
    for hh in hhs:
        if hh.reach is None or rng.random() >= prof.resp:
            continue
        d, minute, outcome = hh.reach
        x = rng.random()
        if outcome == "entered" and x < 0.65:
            days, sec = 0, minute * 60 + rng.randint(300, 2400)
        elif outcome == "entered":
            days, sec = rng.randint(1, 4), rng.randint(18 * 3600, 22 * 3600 + 3599)
        else:
            days, sec = rng.randint(0, 3), rng.randint(7 * 3600, 22 * 3600 + 3599)
        day = d + dt.timedelta(days=days)
        if day > end:
            continue
        ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=sec)
        comment = rng.choice(REAL_COMMENTS) if rng.random() < 0.15 else ""
        rets.append([ts, hh, draw_answers(rng, prof, cal, day), comment, None])
        if messy and rng.random() < 0.03:  # re-survey: the later return supersedes
            day2 = day + dt.timedelta(days=rng.randint(2, 12))
            if day2 <= end:
                ts2 = dt.datetime.combine(day2, dt.time()) + dt.timedelta(
                    seconds=rng.randint(8 * 3600, 22 * 3600))
                rets.append([ts2, hh, draw_answers(rng, prof, cal, day2), "", None])
    anon_share = {0: 0.10, 2: 0.06, 3: 0.06}.get(prof.style, 0.0) if messy else 0.05
    n_anon = round(len(rets) * anon_share)
    for _ in range(n_anon):
        day = rng.choice(rets)[0].date() if rets else cal.start
        ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=rng.randint(7 * 3600, 23 * 3600))
        comment = rng.choice(REAL_COMMENTS) if rng.random() < 0.15 else ""
        rets.append([ts, None, draw_answers(rng, prof, cal, day), comment, None])
    rets.sort(key=lambda t: (t[0], t[1].b if t[1] else 0, (t[1].u or 0) if t[1] else 0,
                             t[1].r if t[1] else 0))
    return rets


def simulate_issues(rng, hhs, cal, prof, messy):
    n = min(150, max(30, round(prof.H / 25 * rng.uniform(0.8, 1.2))))
    cats = CATEGORIES + (UNKNOWN_CATEGORIES if messy else [])
    weights = [22, 8, 18, 20, 8, 8, 10] + ([2, 1.5, 1] if messy else [])
    issues, seen = [], set()
    while len(issues) < n:
        raised = cal.random_date(rng, extra_p=0.05)
        cat = pick(rng, cats, weights)
        hh = rng.choice(hhs)
        desc = rng.choice(ISSUE_TEMPLATES[cat]).format(b=hh.b, u=hh.u or 1, g=rng.choice("东南西北"))
        handling = pick(rng, ["社区解决", "上报", "已上报", "", "物业处理"], [55, 20, 10, 10, 5])
        ttr = rng.randint(0, 6) if handling == "社区解决" else rng.randint(2, 20)
        rd = raised + dt.timedelta(days=ttr)
        resolved = rd <= cal.end and rng.random() < 0.94
        a = rng.random()
        addr = f"{hh.b}号楼" if a < 0.45 else (addr_text(hh.b, hh.u, hh.r) if a < 0.6 else "")
        key = (raised, cat, desc, handling, resolved, addr)
        if key in seen:
            continue
        seen.add(key)
        issues.append({"raised": raised, "cat": cat, "desc": desc, "handling": handling,
                       "resolved": rd if resolved else None, "addr": addr, "hh": hh})
    issues.sort(key=lambda t: t["raised"])
    return issues


# ----------------------------------------------------------------------------- sections 10 and 11
COMMENT_LEADS = ("", "", "最近", "这段时间", "一直以来")
COMMENT_PLACES = ("", "{b}号楼", "我们{b}号楼", "小区里", "我家附近")
COMMENT_ENDS = ("", "谢谢", "希望尽快解决", "麻烦社区管一管", "已经反映过好几次", "辛苦了")


def vary_comments(rng, rets):
    """Residents write their remarks in their own words: no long comment repeats 3 times.

    The comment pool above is small, so without this pass section 10's copied_text rule
    (10+ characters, identical in 3 or more returns of a community) would flag hundreds of
    ordinary returns. Short remarks (``无``, ``希望增加垃圾桶``) may repeat; they are never
    flagged. Only the comment changes: answers, times and households stay as drawn.
    """
    seen: dict = {}
    for ret in rets:
        text = ret[3]
        if len(comment_fingerprint(text)) < 10:
            continue
        b = ret[1].b if ret[1] is not None else None
        places = COMMENT_PLACES if b is not None else ("", "小区里", "我家附近")
        for _ in range(50):
            v = rng.choice(COMMENT_LEADS) + rng.choice(places).format(b=b) + text
            end = rng.choice(COMMENT_ENDS)
            v = f"{v}，{end}" if end else v
            if seen.get(comment_fingerprint(v), 0) < 2:
                break
        seen[comment_fingerprint(v)] = seen.get(comment_fingerprint(v), 0) + 1
        ret[3] = v


# role in the 走访人身份 column, and the ways staff write it in front of a name (section 11)
ROLE_FORMS = {"网格员": ("网格员{n}",), "社工": ("社工{n}",), "楼长": ("楼长{n}", "{n}（楼长）"),
              "党员": ("党员{n}",), "志愿者": ("志愿者{n}",), "楼长（党员）": ("楼长（党员）{n}",),
              "": ("{n}",)}


def visitor_roles(rng, staff):
    """Visitor name → (role as in 走访人身份, 走访人 text). Each grid's first name is its 网格员."""
    roles = {}
    for g in sorted(staff):
        first, second = staff[g]
        r1 = pick(rng, ["网格员", "社工", ""], [70, 20, 10])
        r2 = pick(rng, ["楼长", "党员", "志愿者", "楼长（党员）", "社工", ""], [30, 25, 20, 8, 7, 10])
        for n, r in ((first, r1), (second, r2)):
            roles.setdefault(n, (r.replace("（党员）", ""), rng.choice(ROLE_FORMS[r]).format(n=n)))
    return roles


def responsible_per_building(rng, hhs, staff):
    """包户到人: building → the staff member (包户人) responsible for its households."""
    extra = {g: person_name(rng) for g in sorted(staff)}  # one 包户干部 per grid besides its staff
    out = {}
    for h in hhs:
        if h.b not in out:
            out[h.b] = rng.choice(staff[h.grid] + [extra[h.grid]])
    return out


CLEANUP_KINDS = ["星期六爱国卫生大清理", "星期六爱国卫生大清理", "楼道卫生大扫除", "背街小巷卫生死角清理",
                 "星期六志愿服务：环境卫生整治"]
PUBLICITY_KINDS = ["创城宣传进小区", "文明城市创建宣传", "垃圾分类宣传", "文明养犬宣传"]
MEETING_KINDS = ["创城工作动员会", "不漏一户攻坚动员会"]
SKIP_CLEANUP_STYLE = 4  # this community (修竹社区) has no cleanup in the last report week


def simulate_activities(rng, cm, cal):
    """志愿服务与活动记录: a 星期六 clean-up every week, some publicity, a 动员会 at the start and the push.

    The community of style SKIP_CLEANUP_STYLE has no clean-up in the last report week (it
    rained: that Saturday holds 楼道内创城宣传 instead), so a report for that week marks it red.
    """
    skip = cal.n - 1 if cm.prof.style == SKIP_CLEANUP_STYLE and cal.n >= 2 else None
    grids = sorted({h.grid for h in cm.hhs})
    acts = []
    for wi, mon in enumerate(cal.mondays):
        if wi in (0, cal.push):
            n = rng.randint(20, 40)
            acts.append({"date": mon, "kind": MEETING_KINDS[0 if wi == 0 else 1], "participants": n,
                         "party": rng.randint(n // 3, n // 2), "hours": None, "spots": None, "grid": None,
                         "note": "社区两委、网格员、楼长参加"})
        if wi != skip:
            n = rng.randint(12, 40)
            acts.append({"date": mon + dt.timedelta(days=5), "kind": rng.choice(CLEANUP_KINDS), "participants": n,
                         "party": rng.randint(n // 5, n // 2), "hours": n * rng.choice((1.5, 2, 2.5, 3)),
                         "spots": rng.randint(5, 15), "grid": None, "note": ""})
        for k in range(rng.choice((0, 1, 1, 2)) + (1 if wi == skip else 0)):
            n = rng.randint(4, 15)
            rained = wi == skip and k == 0  # the skipped Saturday: publicity indoors instead
            acts.append({"date": mon + dt.timedelta(days=5 if rained else rng.randint(0, 4)),
                         "kind": "楼道内创城宣传" if rained else rng.choice(PUBLICITY_KINDS),
                         "participants": n, "party": rng.randint(0, n // 2), "hours": n * 0.5, "spots": None,
                         "grid": rng.choice(grids), "note": "周六下雨，大清理改期" if rained else ""})
    acts.sort(key=lambda a: (a["date"], a["kind"]))
    return acts


SHOP_NAMES = ["老王面馆", "惠民超市", "兴旺五金店", "阳光便利店", "好又多水果店", "李记包子铺", "鑫鑫理发店",
              "春风药房", "金鼎酒楼", "小刘烧烤", "平安五金", "诚信副食店", "家家乐超市", "美佳美发", "福满楼饭店",
              "宏达汽修", "利民粮油店", "明亮眼镜店", "好运来彩票店", "四季鲜花店", "老张修车铺", "红星烟酒店",
              "旺角奶茶", "万家福超市", "康健大药房", "晨光文具店", "味美快餐", "港湾渔具店", "一品香饺子馆",
              "东北菜馆", "兰州拉面", "沙县小吃", "百姓药店", "如家干洗店", "佳佳母婴店", "小陈早餐店", "永辉生鲜"]
STREETS = {"七一社区": ["人民路", "七一路"], "海港社区": ["港湾街", "海港路", "人民路"], "港兴社区": ["兴港大道", "港湾街"],
           "福寿社区": ["福寿街", "人民路"], "修竹社区": ["修竹路", "竹园街", "人民路"]}
SHOP_PROBLEMS = ["占道经营", "店外经营", "乱停车", "门前堆放杂物", "卫生不达标", "乱张贴广告"]
SHOP_ACTIONS = ["当场整改", "限期整改", "联合执法", "移交执法"]


def simulate_shops(rng, cm, cal):
    """门前三包: 10-30 street shops, inspected most weeks; failures get a 处理措施 and often a 整改期限."""
    streets = STREETS.get(cm.name, ["人民路", "建设路"])
    shops = [(n, rng.choice(streets)) for n in rng.sample(SHOP_NAMES, rng.randint(10, min(30, len(SHOP_NAMES))))]
    signed = {n: pick(rng, ["已签", "未签"], [75, 25]) for n, _ in shops}
    rows = []
    for wi, mon in enumerate(cal.mondays):
        fail_p = 0.32 - 0.2 * wi / max(cal.n - 1, 1)
        for n, street in shops:
            if rng.random() > 0.8:
                continue
            d = mon + dt.timedelta(days=rng.randint(0, 4))
            if rng.random() < fail_p:
                problems = rng.sample(SHOP_PROBLEMS, rng.choice((1, 1, 2)))
                action = pick(rng, SHOP_ACTIONS, [45, 35, 13, 7])
                deadline = d + dt.timedelta(days=rng.randint(2, 10)) if action != "当场整改" else None
                res = "不合格"
            else:
                problems, action, deadline, res = [], "", None, "合格"
            rows.append({"date": d, "shop": n, "street": street, "result": res, "problems": problems,
                         "action": action, "deadline": deadline,
                         "signed": signed[n] if rng.random() < 0.8 else ""})
            if signed[n] == "未签" and rng.random() < 0.25:
                signed[n] = "已签"
    rows.sort(key=lambda r: (r["date"], r["shop"]))
    return shops, rows


class Community:
    def __init__(self, prof, cal, seed, messy):
        self.prof, self.name = prof, prof.name
        base = self.base = f"{seed}/{prof.name}"
        self.real_layout = False  # generate(real_layout=True) sets it for REAL_LAYOUT_COMMUNITY
        self.hhs, self.staff = build_registry(random.Random(base + "/registry"), prof)
        self.maxb = self.hhs[-1].b
        self.mrng = random.Random(base + "/mess")
        if messy:  # registry rows that will carry a fault: keep them out of visits/surveys
            fault = {3: "unknown occupancy 待核实", 4: "missing grid"}.get(prof.style)
            if fault:
                cand = [h for h in self.hhs if not h.vacant]
                self.mrng.choice(cand).excluded = fault
        self.visits = simulate_visits(random.Random(base + "/visits"), self.hhs, self.staff, cal, prof)
        self.rets = simulate_surveys(random.Random(base + "/surveys"), self.hhs, cal, prof, messy)
        self.issues = simulate_issues(random.Random(base + "/issues"), self.hhs, cal, prof, messy)
        # Added for contract sections 10 and 11, each from its own seed so that the draws
        # above (households, visits, answers) stay exactly what they were.
        vary_comments(random.Random(base + "/comments"), self.rets)
        self.roles = visitor_roles(random.Random(base + "/roles"), self.staff)
        self.responsible = responsible_per_building(random.Random(base + "/responsible"), self.hhs, self.staff)
        self.activities = simulate_activities(random.Random(base + "/activities"), self, cal)
        self.shops = simulate_shops(random.Random(base + "/shops"), self, cal)

    def visitor_text(self, visitor):
        """走访人 as staff write it, with the visitor's role in front (``楼长王伟``, ``网格员李娜``)."""
        return self.roles[visitor][1]

    def ghost(self, how="building"):
        """A household address that is not in the registry."""
        rng = self.mrng
        t = rng.choice(self.hhs)
        if how == "building":
            return HH(t.grid, self.maxb + rng.randint(3, 9), rng.randint(1, 2), rng.choice((501, 302, 1102)))
        return HH(t.grid, t.b, t.u, 9900 + rng.randint(1, 4))

    def resident_name(self):
        cand = [h.name for h in self.hhs if len(h.name) == 3 and not h.excluded]
        return self.mrng.choice(cand) if cand else "张建国"


# ----------------------------------------------------------------------------- writing
class Output:
    def __init__(self, root: Path):
        self.root = root
        self.files = {}    # relative path -> data rows (blank rows included)
        self.planted = []  # (relative path, Excel row number, what)

    def _record(self, rel, n_pre, rows):
        self.files[rel] = len(rows)
        for i, (_, tag) in enumerate(rows):
            if tag:
                self.planted.append((rel, n_pre + 2 + i, tag))

    def note(self, rel, row, what):
        self.planted.append((rel, row, what))

    def _path(self, rel):
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def csv(self, rel, header, rows, encoding="utf-8", pre=()):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        for p in pre:
            w.writerow(p)
        w.writerow(header)
        blank = [""] * len(header)
        for cells, _ in rows:
            if cells is EMPTY_LINE:
                buf.write("\r\n")
            else:
                w.writerow(blank if cells is BLANK else cells)
        self._path(rel).write_bytes(buf.getvalue().encode(encoding))
        self._record(rel, len(pre), rows)

    def xlsx(self, rel, header, rows, pre=(), sheet="Sheet1", date_fmt="yyyy-mm-dd",
             datetime_fmt="yyyy-mm-dd hh:mm:ss", widths=None):
        import openpyxl
        from openpyxl.writer.excel import ExcelWriter

        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = sheet
        for p in pre:
            ws.append(list(p))
        ws.append(list(header))
        for cells, _ in rows:
            if cells is BLANK or cells is EMPTY_LINE:
                ws.append([])
                continue
            ws.append(cells)
            r = ws.max_row
            for c, v in enumerate(cells, start=1):
                if isinstance(v, dt.datetime):
                    ws.cell(r, c).number_format = datetime_fmt
                elif isinstance(v, dt.date):
                    ws.cell(r, c).number_format = date_fmt
        for col, width in (widths or {}).items():
            ws.column_dimensions[col].width = width
        wb.properties.creator = "generate.py"
        wb.properties.lastModifiedBy = "generate.py"
        wb.properties.created = wb.properties.modified = FIXED_TS
        raw = io.BytesIO()
        ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()
        # re-pack with fixed entry timestamps so the bytes are reproducible
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, \
                zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                zi = zipfile.ZipInfo(info.filename, date_time=FIXED_TS.timetuple()[:6])
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = 0o644 << 16
                dst.writestr(zi, src.read(info.filename))
        self._path(rel).write_bytes(out.getvalue())
        self._record(rel, len(pre), rows)

    def xls(self, rel, header, rows, sheet="Sheet1"):
        import xlwt

        wb = xlwt.Workbook(encoding="utf-8")
        ws = wb.add_sheet(sheet)
        for c, h in enumerate(header):
            ws.write(0, c, h)
        for i, (cells, _) in enumerate(rows, start=1):
            if cells is BLANK or cells is EMPTY_LINE:
                continue
            for c, v in enumerate(cells):
                if v is not None and v != "":
                    ws.write(i, c, v)
        buf = io.BytesIO()
        wb.save(buf)
        self._path(rel).write_bytes(buf.getvalue())
        self._record(rel, 0, rows)

    def raw(self, rel, data: bytes):
        self._path(rel).write_bytes(data)


# ----------------------------------------------------------------------------- messy files
def emit_registry(out, cm, cal):
    rng, name, st = cm.mrng, cm.name, cm.prof.style
    hhs = cm.hhs
    rows = []
    if st == 0:  # xlsx, title row + date line, numeric cells (phone as a number)
        header = ["序号", "社区", "网格", "楼号", "单元", "室", "户主", "联系电话", "居住状态", "备注", "包户人"]
        note = {"出租": "租户", "空置": "长期空置", "空房": "", "常住": "", "自住": "", "": ""}
        for i, h in enumerate(hhs, 1):
            rows.append(([i, name, grid_text(h.grid, "di"), h.b, h.u, h.r, h.name,
                          int(h.phone) if h.phone else None, h.occ, note[h.occ], cm.responsible[h.b]], None))
        place(rows, rng, BLANK, "blank row (skipped, counted as blank)")
        place(rows, rng, BLANK, "blank row (skipped, counted as blank)")
        start = cal.start - dt.timedelta(days=1)
        pre = [[f"{name}住户台账"],
               [f"制表日期：{d_cn(start)}", None, None, None, None, None, None, f"制表人：{person_name(rng)}"]]
        out.raw(f"households/~${name}住户台账.xlsx",
                b"\x0bgenerate.py" + b" " * 43 + b"\x00" * 111)  # an Excel lock file: ignored
        out.note(f"households/~${name}住户台账.xlsx", 0, "Excel lock file (must be ignored)")
        out.xlsx(f"households/{name}住户台账.xlsx", header, rows, pre=pre, sheet="住户台账",
                 widths={"H": 14})
        out.note(f"households/{name}住户台账.xlsx", 1,
                 f"title row {name}住户台账 and a date line above the header (header on row 3); "
                 "楼号/单元/室 and 联系电话 stored as numbers")
    elif st == 1:  # GBK CSV, split columns, values sometimes with suffixes
        header = ["所属社区", "所属网格", "楼号", "单元", "室", "户主", "电话", "房屋状态"]
        for h in hhs:
            suf = rng.random() < 0.3
            b = f"{h.b}号楼" if suf else str(h.b)
            u = "" if h.u is None else (f"{h.u}单元" if suf else str(h.u))
            r = f"{h.r}室" if suf else str(h.r)
            rows.append(([name, grid_text(h.grid, "num"), b, u, r, h.name, h.phone, h.occ], None))
        mark(rows, rng, "suffixed address values 3号楼/2单元/501室", ok=lambda c: c[2].endswith("号楼") and c[3])
        place(rows, rng, BLANK, "blank row ,,,,,,, (skipped, counted as blank)")
        j = rng.randint(min(10, len(rows) // 2), len(rows) // 2)
        while not isinstance(rows[j][0], list) or rows[j][1]:
            j += 1
        place(rows, rng, list(rows[j][0]), f"duplicate household (exact copy of data row {j + 2})",
              lo=0.6, hi=0.95)
        out.csv(f"households/{name}住户台账.csv", header, rows, encoding="gbk")
    elif st == 2:  # UTF-8-BOM CSV, one address column in all spellings
        header = ["社区", "网格", "地址", "姓名", "手机", "居住状态"]
        variants = ["std", "std_noshi", "dong", "zhuang", "zuo", "cn", "dash", "fw", "hash", "hao",
                    "spaces", "prefix", "zero"]
        vw = [20, 8, 8, 4, 4, 6, 20, 4, 5, 4, 4, 8, 5]
        for h in hhs:
            v = pick(rng, variants, vw)
            rows.append(([name, grid_text(h.grid, "cn" if rng.random() < 0.85 else "di"),
                          addr_text(h.b, h.u, h.r, v, name), h.name, h.phone, h.occ], None))
        k = rng.randint(min(10, len(hhs) // 3), len(hhs) // 3)
        h, orig = hhs[k], rows[k][0]
        place(rows, rng, EMPTY_LINE, "completely empty line (blank row, keeps its row number)")
        j = next(i for i, (c, _) in enumerate(rows) if c is orig)
        dup = list(orig)
        dup[2] = addr_text(h.b, h.u, h.r, "std" if "-" in orig[2] or "－" in orig[2] else "dash", name)
        place(rows, rng, dup, f"duplicate household (same household as data row {j + 2}, "
                              f"other spelling {dup[2]})", lo=0.6, hi=0.95)
        out.csv(f"households/{name}住户台账.csv", header, rows, encoding="utf-8-sig")
    elif st == 3:  # UTF-8 CSV, split columns, grid in three spellings
        header = ["社区名称", "网格编号", "楼栋", "单元", "户号", "户主姓名", "手机号", "居住状态", "包户人"]
        for h in hhs:
            form = pick(rng, ["num", "di", "cn"], [5, 3, 2])
            occ = "待核实" if h.excluded else h.occ
            tag = "unknown occupancy 待核实 (household has no valid row)" if h.excluded else None
            rows.append(([name, grid_text(h.grid, form), str(h.b), "" if h.u is None else str(h.u),
                          str(h.r), h.name, h.phone, occ, cm.responsible[h.b]], tag))
        j = rng.randint(len(rows) // 3, len(rows) // 2)
        first = list(rows[j][0])
        first[7] = "待核实"
        rows.insert(j, (first, "unknown occupancy 待核实; the valid copy of this household "
                               "on the next row is kept"))
        out.csv(f"households/{name}住户台账.csv", header, rows, encoding="utf-8")
    else:  # xlsx, plain header, address string with the community name in front
        header = ["社区", "网格名称", "家庭住址", "户主", "联系电话", "居住状态"]
        for h in hhs:
            a = addr_text(h.b, h.u, h.r, "prefix" if rng.random() < 0.6 else "std", name)
            rows.append(([name, "" if h.excluded else grid_text(h.grid, "di"), a, h.name, h.phone, h.occ],
                         "missing grid (household has no valid row)" if h.excluded else None))
        if cm.real_layout:  # the rows above are still drawn, so the community's other files stay the same
            emit_real_registry(out, cm, cal)
            return
        out.xlsx(f"households/{name}住户台账.xlsx", header, rows, sheet="台账", widths={"C": 24})


def visit_cells(st, cm, v, rng, date_mode=None):
    d, minute, h, outcome, mat, visitor = v
    name = cm.name
    out_txt = rng.choice(OUTCOMES[st][outcome])
    role, labelled = cm.roles[visitor]
    if st != ROLE_COLUMN_STYLE:  # the visitor's role written in front of the name (section 11)
        visitor = labelled
    if st == 0:
        if date_mode == "serial":
            dv = serial(d)
        else:
            dv = d if rng.random() < 0.97 else d_slash(d)
        m = mat
        if mat is not None and rng.random() < 0.04:
            m = float(mat) if rng.random() < 0.5 else f"{mat}份"
        return [dv, name, grid_text(h.grid, "di"), h.b, h.u, h.r, out_txt, m, visitor]
    if st == 1:
        x = rng.random()
        dv = (d_slash(d) if x < 0.7 else f"{d_slash(d)} {minute // 60}:{minute % 60:02d}" if x < 0.9
              else str(serial(d)) if x < 0.95 else d.isoformat())
        a = addr_text(h.b, h.u, h.r, "dash" if rng.random() < 0.75 else "std", name)
        return [dv, name, a, out_txt, "" if mat is None else str(mat), visitor]
    if st == 2:
        dv = d_cn(d) if rng.random() < 0.8 else d_dot(d)
        v_ = pick(rng, ["std", "cn", "dash", "fw", "hash", "zhuang", "spaces"], [40, 15, 25, 5, 5, 5, 5])
        return [None, dv, name, addr_text(h.b, h.u, h.r, v_, name), out_txt,
                "" if mat is None else str(mat), visitor]
    if st == 3:
        x = rng.random()
        dv = (d if x < 0.4 else dt.datetime.combine(d, dt.time(minute // 60, minute % 60)) if x < 0.55
              else serial(d) if x < 0.7 else d_dot(d) if x < 0.85
              else f"{d.isoformat()} {minute // 60:02d}:{minute % 60:02d}")
        room = f"0{h.r}" if rng.random() < 0.03 and h.r < 1000 else str(h.r)
        if rng.random() < 0.02:
            out_txt = f" {out_txt} "
        return [dv, name, str(h.b), "" if h.u is None else str(h.u), room, out_txt,
                mat, visitor, "", role]
    dv = f"{d.isoformat()} {minute // 60:02d}:{minute % 60:02d}"
    a = addr_text(h.b, h.u, h.r, "prefix" if rng.random() < 0.5 else "std_noshi", name)
    return [dv, name, a, out_txt, "" if mat is None else str(mat), visitor]


ROLE_COLUMN_STYLE = 3  # 福寿社区: plain 走访人 names and a 走访人身份 column (blank for some)
VISIT_HEADERS = {
    0: ["走访日期", "社区", "网格", "楼号", "单元", "室", "走访结果", "发放材料", "走访人"],
    1: ["日期", "社区", "地址", "结果", "宣传材料（份）", "工作人员"],
    2: ["序号", "入户日期", "社区", "住址", "入户情况", "发放材料数", "走访人"],
    3: ["走访日期", "所属社区", "楼栋", "单元", "房号", "走访结果", "宣传材料", "走访人", "备注", "走访人身份"],
    4: ["时间", "社区名称", "门牌地址", "走访结果", "发放材料", "工作人员"],
}


def emit_visits(out, cm, cal, other_name):
    rng, name, st = cm.mrng, cm.name, cm.prof.style
    header = VISIT_HEADERS[st]
    by_week = {}
    for v in cm.visits:
        by_week.setdefault(cal.week_label(v[0]), []).append(v)
    labels = sorted(by_week)
    push_label = cal.week_label(cal.mondays[cal.push])

    def wl(i):  # i-th report week label (clamped)
        return cal.week_label(cal.mondays[min(max(i, 0), cal.n - 1)])

    def tmpl(vs):
        return rng.choice(vs[len(vs) // 5: max(len(vs) // 5 + 1, 4 * len(vs) // 5)])

    if st in (0, 1, 4):  # one file per week
        ext = "xlsx" if st == 0 else "csv"
        for lab in labels:
            vs = by_week[lab]
            mode = "serial" if st == 0 and lab == wl(3) else None
            rows = [(visit_cells(st, cm, v, rng, mode), None) for v in vs]
            pre = ()
            if st == 0:
                if lab == wl(1):
                    c = visit_cells(st, cm, tmpl(vs), rng)
                    c[0] = "2023-13-45"
                    place(rows, rng, c, "bad date 2023-13-45")
                if lab == wl(2):
                    pre = [[f"{name}入户走访记录（{lab}）"]]
                    out.note(f"visits/{name}_走访记录_{lab}.xlsx", 1,
                             "title row above the header (header on row 2)")
                if lab == push_label:
                    c = visit_cells(st, cm, tmpl(vs), rng)
                    c[6] = "改天再来"
                    place(rows, rng, c, "unknown outcome 改天再来")
                    place(rows, rng, BLANK, "blank row (skipped)")
                    has_int = lambda c: isinstance(c[7], int) and c[7] > 0  # noqa: E731
                    mark(rows, rng, "materials 2.0 (float cell, valid)", ok=has_int)
                    mark(rows, rng, "materials as text 2份 (valid)", ok=has_int)
                for i, (c, t) in enumerate(rows):
                    if t == "materials 2.0 (float cell, valid)":
                        c[7] = float(c[7])
                    elif t == "materials as text 2份 (valid)":
                        c[7] = f"{c[7]}份"
                if mode == "serial":
                    out.note(f"visits/{name}_走访记录_{lab}.xlsx", 2,
                             "dates as Excel serial numbers (numeric cells) in the whole file")
            elif st == 1:
                if lab == wl(1):
                    g = cm.ghost("building")
                    c = visit_cells(st, cm, [tmpl(vs)[0], 600, g, "entered", 2, cm.staff[g.grid][0]], rng)
                    place(rows, rng, c, f"unknown household {c[2]} (building not in registry)")
                if lab == wl(2):
                    place(rows, rng, BLANK, "blank row ,,,,, (skipped)")
                if lab == wl(3):
                    c = visit_cells(st, cm, tmpl(vs), rng)
                    c[1] = UNKNOWN_COMMUNITY
                    place(rows, rng, c, "unknown community 春光社区")
                if lab == push_label:
                    c = visit_cells(st, cm, tmpl(vs), rng)
                    c[2] = "人民路12号3-2-501"
                    place(rows, rng, c, "unparseable address 人民路12号3-2-501")
                    c = visit_cells(st, cm, tmpl(vs), rng)
                    c[4] = "两份"
                    place(rows, rng, c, "bad materials count 两份")
                    mark(rows, rng, "date as Excel serial text (valid)",
                         ok=lambda c: c[0].count("/") == 2 and " " not in c[0])
                    for c, t in rows:
                        if t == "date as Excel serial text (valid)":
                            y, m, d = map(int, c[0].split("/"))
                            c[0] = str(serial(dt.date(y, m, d)))
            else:  # st == 4
                if lab == wl(2):
                    g = cm.ghost("room")
                    c = visit_cells(st, cm, [tmpl(vs)[0], 600, g, "entered", 2, cm.staff[g.grid][0]], rng)
                    place(rows, rng, c, f"unknown household {c[2].strip()} (room not in registry)")
                if lab == wl(3):
                    c = visit_cells(st, cm, tmpl(vs), rng)
                    c[2] = addr_text(3, 2, 501, "prefix", other_name)
                    place(rows, rng, c, f"unparseable address {c[2]} (another community's name in front)")
                    c = visit_cells(st, cm, tmpl(vs), rng)
                    c[0] = ""
                    place(rows, rng, c, "missing date (blank 时间)")
                if lab == push_label:
                    c = visit_cells(st, cm, tmpl(vs), rng)
                    c[1] = UNKNOWN_COMMUNITY
                    place(rows, rng, c, "unknown community 春光社区")
            fname = f"visits/{name}_走访记录_{lab}.{ext}"
            if st == 0:
                out.xlsx(fname, header, rows, pre=pre, sheet="走访记录", date_fmt="yyyy/m/d")
            else:
                out.csv(fname, header, rows, encoding="utf-8" if st == 1 else "utf-8-sig")
        return

    if st == 2:  # cumulative ledger sent twice: the second copy repeats the first part
        cut = cal.mondays[(cal.n - 1) // 2] + dt.timedelta(days=6)
        rows = [(visit_cells(st, cm, v, rng), None) for v in cm.visits]
        for i, (c, _) in enumerate(rows, 1):
            c[0] = i
        first = [(c, None) for c, _ in rows if c is not BLANK and cm.visits[c[0] - 1][0] <= cut]
        n_first = len(first)
        f1 = f"visits/{name}_走访台账_截至{cut:%Y%m%d}.csv"
        f2 = f"visits/{name}_走访台账_截至{cal.end:%Y%m%d}.csv"
        out.csv(f1, header, first, encoding="gbk")
        second = [(list(c), None) for c, _ in rows]
        out.note(f2, 2, f"resent cumulative ledger: data rows 2..{n_first + 1} repeat {f1} exactly "
                        "-> duplicate row")
        tail = second[n_first:]
        c = list(rng.choice(tail[len(tail) // 3:])[0])
        c[1] = "九月五日"
        c[0] = ""
        head = second[:n_first]
        place(tail, rng, c, "bad date 九月五日")
        c = list(rng.choice(tail[len(tail) // 3:])[0])
        c[4] = ""
        c[0] = ""
        place(tail, rng, c, "missing outcome (blank 入户情况)")
        out.csv(f2, header, head + tail, encoding="gbk")
        return

    # st == 3: one workbook with every kind of date cell
    rows = [(visit_cells(st, cm, v, rng), None) for v in cm.visits]
    g = cm.ghost("room")
    v0 = rng.choice(cm.visits)
    c = visit_cells(st, cm, [v0[0], 600, g, "not_home", 0, cm.staff[g.grid][0]], rng)
    place(rows, rng, c, f"unknown household {g.b}-{g.u}-{g.r} (room not in registry)")
    c = visit_cells(st, cm, rng.choice(cm.visits), rng)
    c[6] = "两份"
    place(rows, rng, c, "bad materials count 两份")
    mark(rows, rng, "room written 0501-style with a leading zero (valid)", ok=lambda c: c[4].startswith("0"))
    out.xlsx(f"visits/{name}_走访记录.xlsx", header, rows, sheet="走访记录", date_fmt="yyyy/m/d",
             datetime_fmt="yyyy/m/d h:mm")
    out.note(f"visits/{name}_走访记录.xlsx", 2,
             "dates mixed: real date cells, datetime cells, serial numbers, text 2023.9.5 and "
             "2023-09-05 10:30; a few outcomes with spaces")


SURVEY_HEADERS = {
    0: ["序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "1、您所在的社区：",
        "2、您的住址（楼号-单元-室）：", "3、您是否知道我市正在创建全国文明城市？",
        "4、您是否支持创建全国文明城市？", "5、您是否参与过创城志愿活动？", "6、您对社区创城工作是否满意？",
        "7、您是否了解垃圾分类知识？", "8、您对创城工作有什么意见或建议？", "总分"],
    1: ["填写时间", "社区", "楼号", "单元", "室", "是否知晓创建全国文明城市", "是否支持创城工作",
        "是否参与过创城志愿活动", "对创城工作的满意度", "是否了解垃圾分类", "意见建议"],
    2: ["提交时间", "社区", "住址", "您知道我市正在创建全国文明城市吗", "您支持创城吗", "您参与过志愿服务吗",
        "您对社区环境满意吗", "您了解垃圾分类吗", "您有什么诉求"],
    3: ["日期", "所在社区", "地址", "Q1.您是否知晓我市创建全国文明城市", "Q2.您是否支持创城",
        "Q3.您是否参与过志愿活动", "Q4.您对创城工作是否满意", "Q5.您是否了解垃圾分类", "Q6.其他意见或建议"],
    4: ["填写时间", "所属社区", "楼号", "单元", "室", "（1）您知道创建文明城市吗？", "（2）您支持创城吗？",
        "（3）您参与过志愿活动吗？", "（4）您对创城工作满意吗？", "（5）您了解垃圾分类吗？", "（6）意见建议"],
}
# column index of the first answer and of the comment, per style
ANS_COL = {0: 8, 1: 5, 2: 3, 3: 3, 4: 5}


def answer_texts(st, ans, rng, vocab=None):
    vocab = vocab or VOCAB[st]
    res = []
    for f, code in zip(FIELDS, ans):
        if code == "":
            res.append(("(跳过)" if rng.random() < 0.7 else "(空)") if st == 0 else "")
        else:
            pos, neg = vocab[f]
            res.append(rng.choice(pos if code == "P" else neg))
    return res


def survey_cells(st, cm, ret, rng, seq=0):
    ts, h, ans, comment, _ = ret
    name = cm.name
    a = answer_texts(st, ans, rng)
    if st == 0:
        addr = "" if h is None else addr_text(
            h.b, h.u, h.r, pick(rng, ["dash", "std_noshi", "dong", "fw", "spaces"], [60, 20, 10, 5, 5]), name)
        src = pick(rng, ["微信", "手机提交", "链接"], [70, 20, 10])
        ip = ".".join([str(rng.choice((39, 113, 120, 223)))] + [str(rng.randint(1, 254)) for _ in range(3)])
        ip += "(山东-青岛)"
        return [seq, f"{d_slash(ts)} {ts:%H:%M:%S}", f"{rng.randint(35, 420)}秒", src,
                "直接访问" if src != "链接" else "N/A", ip, name, addr, *a,
                comment or "(空)", 0]
    if st == 1:
        return [f"{ts:%Y-%m-%d %H:%M}", name, str(h.b), "" if h.u is None else str(h.u), str(h.r),
                *a, comment]
    if st == 2:
        addr = "" if h is None else addr_text(h.b, h.u, h.r, "std" if rng.random() < 0.8 else "dash", name)
        if rng.random() < 0.6:
            tv = serial(ts.date()) + (ts.hour * 60 + ts.minute) / 1440
        else:
            tv = ts.replace(second=0)
        return [tv, name, addr, *a, comment]
    if st == 3:
        addr = "" if h is None else addr_text(
            h.b, h.u, h.r, pick(rng, ["hash", "zhuang", "zuo", "hao", "zero", "std", "dash"],
                                [10, 10, 10, 10, 10, 25, 25]), name)
        return [f"{d_slash(ts)} {ts:%H:%M:%S}", name, addr, *a, comment]
    b = h.b if rng.random() < 0.7 else f"{h.b}号楼"
    return [ts, name, b, h.u, h.r, *a, comment]


COPIED_COMMENT = "希望社区继续加强环境卫生整治工作"
BURST_IP = "223.104.63.18"
BURST_OFFSETS = (0, 64, 151, 233, 318, 427)  # seconds after the first: 6 returns within 8 minutes


def plant_suspicious(rows, origin, cm, cal):
    """Section 10 (问卷星 style 0 only): the three patterns of fabricated questionnaires.

    - too_fast: 4 returns whose 所用时间 is under 15 s (bookkeeping cells of existing rows);
    - copied_text: 4 returns of the last two weeks with one identical comment (``(空)`` before);
    - burst: 6 new returns, one collector's phone (one IP) within 8 minutes on the last week's
      Wednesday evening, for reached households that had not answered (all answers positive).
    Every planted return is valid (a registry household with no other return), so it stands
    as of every week and is flagged, not rejected. A separate seed leaves the other rows alone.
    """
    rng = random.Random(cm.base + "/credibility")
    once = {}
    for r in cm.rets:
        if r[1] is not None:
            once[id(r[1])] = once.get(id(r[1]), 0) + 1

    def eligible(since=None, blank_comment=False):
        out = []
        for i, (c, tag) in enumerate(rows):
            r = origin.get(id(c))
            if tag is None and r is not None and r[1] is not None and once[id(r[1])] == 1 \
                    and r[0].date() <= cal.last_sunday and (since is None or r[0].date() >= since) \
                    and (not blank_comment or c[13] == "(空)"):
                out.append(i)
        return out

    last_week = eligible(cal.mondays[-1])
    fast = sorted(set(rng.sample(eligible(), min(3, len(eligible()))) + last_week[:1]))
    for i, secs in zip(fast, ("8秒", "6秒", "11秒", "13秒")):
        rows[i] = (rows[i][0], f"too_fast: 所用时间 {secs} (under {CREDIBILITY['min_seconds']} s)")
        rows[i][0][2] = secs
    cand = eligible(cal.mondays[cal.push], blank_comment=True)
    for i in sorted(rng.sample(cand, min(4, len(cand)))):
        rows[i] = (rows[i][0], f"copied_text: comment {COPIED_COMMENT} (1 of 4 identical)")
        rows[i][0][13] = COPIED_COMMENT

    answered = {id(r[1]) for r in cm.rets if r[1] is not None}
    t0 = dt.datetime.combine(cal.mondays[-1] + dt.timedelta(days=2), dt.time(20, 12, 5))
    idle = [h for h in cm.hhs if h.reach and h.reach[0] <= t0.date() and id(h) not in answered
            and not h.vacant and not h.excluded]
    by_building = {}
    for h in idle:
        by_building.setdefault(h.b, []).append(h)
    full = [hs for hs in by_building.values() if len(hs) >= len(BURST_OFFSETS)]
    picked = rng.choice(full)[:len(BURST_OFFSETS)] if full else idle[:len(BURST_OFFSETS)]
    if len(picked) < len(BURST_OFFSETS):
        return
    assert not any(str(c[5]).startswith(BURST_IP + "(") for c, _ in rows if isinstance(c, list))
    at = next((i for i, (c, tag) in enumerate(rows) if id(c) in origin and origin[id(c)][0] > t0), len(rows))
    for k, (h, off) in enumerate(zip(picked, BURST_OFFSETS)):
        c = survey_cells(0, cm, [t0 + dt.timedelta(seconds=off), h, ["P"] * 5, "", None], rng, 0)
        c[2], c[3], c[4], c[5] = f"{rng.randint(60, 110)}秒", "微信", "直接访问", f"{BURST_IP}(山东-青岛)"
        rows.insert(at + k, (c, f"burst: {k + 1} of 6 returns from IP {BURST_IP} within 8 minutes"))


def emit_surveys(out, cm, cal):
    rng, name, st = cm.mrng, cm.name, cm.prof.style
    header = SURVEY_HEADERS[st]
    ac = ANS_COL[st]
    cc = ac + 5  # comment column
    rets = cm.rets
    rows = [(survey_cells(st, cm, r, rng, i + 1), r[4]) for i, r in enumerate(rets)]
    origin = {id(c): r for (c, _), r in zip(rows, rets)}  # row cells -> the return they were made from
    has_addr = lambda c: c[2] != "" if st in (2, 3) else (c[7] != "" if st == 0 else True)
    no_comment = lambda c: c[cc] in ("", "(空)") and has_addr(c)

    def set_comment(text, tag, need_addr=True):
        i = mark(rows, rng, tag, ok=no_comment if need_addr else (lambda c: c[cc] in ("", "(空)")))
        rows[i][0][cc] = text

    def tie():  # exact tie: same household, same timestamp, other answers, later in the file
        i = mark(rows, rng, "exact tie: first of two returns with one timestamp (this one is superseded)",
                 ok=has_addr)
        c = list(rows[i][0])
        c[ac + 3] = rng.choice(VOCAB[st]["satisfaction"][1])
        c[ac + 1] = rng.choice(VOCAB[st]["support"][0])
        rows.insert(i + 1 + rng.randint(0, 3),
                    (c, "exact tie: same household and timestamp as an earlier row; this later row stands"))

    def extra(h, tag, **change):
        base = list(rng.choice(rets[len(rets) // 5: 4 * len(rets) // 5]))
        base[1], base[4] = h, None
        c = survey_cells(st, cm, base, rng, 0)
        for k, v in change.items():
            c[int(k[1:])] = v
        place(rows, rng, c, tag)
        return c

    resident = cm.resident_name()
    if st == 0:
        extra(cm.ghost("building"), "unknown household (building not in registry)")
        c = extra(cm.hhs[0], "unparseable address 3号楼 (building only)", c7=f"{cm.hhs[5].b}号楼")
        set_comment(HOSTILE_COMMENTS[0], "comment <script>alert(1)</script>")
        set_comment(HOSTILE_COMMENTS[1], 'comment <a href="javascript:alert(1)">点我</a>', need_addr=False)
        for _ in range(2):
            i = mark(rows, rng, "invalid answer 不确定 (awareness)", ok=has_addr)
            rows[i][0][ac] = "不确定"
        plant_suspicious(rows, origin, cm, cal)
        for i, (c, t) in enumerate(rows, 1):  # 序号 follows file order, as in 问卷星
            c[0] = i
        out.xls(f"surveys/{name}_创城问卷_问卷星下载答卷.xls", header, rows, sheet="Sheet1")
        out.note(f"surveys/{name}_创城问卷_问卷星下载答卷.xls", 2,
                 "问卷星 export: numbered headers, (跳过)/(空) answers, anonymous returns with blank 住址 (~10%)")
        return
    if st == 1:
        c = extra(cm.hhs[0], "unknown community 春光社区", c1=UNKNOWN_COMMUNITY)
        for _ in range(2):
            i = mark(rows, rng, "invalid answer 还行 (satisfaction)")
            rows[i][0][ac + 3] = "还行"
        set_comment(HOSTILE_COMMENTS[3], "comment with a phone number 13812345678")
        set_comment(f"{resident}家门口常年堆放杂物，多次反映没人管", f"comment with a registry resident's name {resident}")
        tie()
        out.csv(f"surveys/{name}_调查问卷.csv", header, rows, encoding="utf-8")
        return
    if st == 2:
        tie()
        set_comment(HOSTILE_COMMENTS[2], 'comment " onmouseover="x')
        set_comment("3-2-501楼上天天往下扔垃圾", "comment with an address 3-2-501")
        c = extra(cm.hhs[0], "missing submitted_at (blank 提交时间)", c0=None)
        place(rows, rng, BLANK, "blank row (skipped)")
        out.xlsx(f"surveys/{name}_调查问卷.xlsx", header, rows, sheet="问卷", datetime_fmt="yyyy/m/d h:mm")
        out.note(f"surveys/{name}_调查问卷.xlsx", 2,
                 "提交时间 as Excel serial numbers with fractions (e.g. 45174.8125) and as datetime cells; "
                 "anonymous returns with blank 住址")
        return
    if st == 3:
        extra(cm.hhs[0], "bad date 2023-13-45", c0="2023-13-45 10:00:00")
        extra(cm.hhs[0], "unparseable address 人民路12号3-2-501", c2="人民路12号3-2-501")
        set_comment("5号楼1单元302室噪音太大", "comment with an address 5号楼1单元302室")
        i = mark(rows, rng, "invalid answer 不确定 (support)")
        rows[i][0][ac + 1] = "不确定"
        out.csv(f"surveys/{name}_调查问卷.csv", header, rows, encoding="utf-8-sig")
        return
    # st == 4: one workbook per week, datetime cells
    extra(cm.ghost("room"), "unknown household (room not in registry)")
    set_comment(HOSTILE_COMMENTS[0], "comment <script>alert(1)</script>")
    set_comment(f"希望{resident}把楼道里的电动车挪走", f"comment with a registry resident's name {resident}")
    groups = {}
    for c, t in rows:
        groups.setdefault(cal.week_label(c[0].date()), []).append((c, t))
    if cm.real_layout:  # one 问卷星 download, rows in the order the weekly files are read
        emit_real_surveys(out, cm, cal, [row for lab in sorted(groups) for row in groups[lab]])
        return
    for lab in sorted(groups):
        out.xlsx(f"surveys/{name}_调查问卷_{lab}.xlsx", header, groups[lab], sheet="问卷",
                 datetime_fmt="yyyy-mm-dd hh:mm:ss")


# ----------------------------------------------------------------------------- real layouts
# --real-layout: one community (style 4: 修竹社区) written as platforms and staff really
# produce it (contract section 9), with the same households, returns and answers, so that
# section 5 of metrics.csv must come out the same as from the default layout.
REAL_LAYOUT_COMMUNITY = "修竹社区"
REAL_REGISTRY_HEADER = ["楼栋号", "单元号", "房间号", "户主", "联系电话", "居住状态"]
REAL_SURVEY_HEADER = ["序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP", "总分",
                      "1、您是否知道我市正在创建全国文明城市？", "2、您是否支持我市创建全国文明城市？",
                      "3、您是否参与过社区组织的创城志愿活动？", "4、您对社区创城工作是否满意？",
                      "5、您是否了解垃圾分类投放要求？", "6、您的住址（楼号-单元-室）",
                      "7、您对社区创城工作还有什么意见或建议？"]
# 问卷星 writes each answer with its option letter; options in the order the survey lists them
REAL_OPTIONS = {"awareness": ["知道", "不知道"], "support": ["支持", "不支持"],
                "participation": ["参与过", "没参与过"], "satisfaction": ["满意", "一般", "不满意"],
                "garbage_sorting": ["知道", "不知道"]}


def real_registry_path(name):
    return f"households/{name}住户台账.xlsx"


def real_survey_path(name):
    return f"surveys/问卷星_{name}_创城问卷.xls"


def emit_real_registry(out, cm, cal):
    """The community's own ledger: title and date rows, split address, no 社区 and no 网格 column.

    Grids come from ``grids:`` in subdistrict.yml (``real_layout_grids``). The household
    kept out of the other files by a fault gets 居住状态 待核实 instead of a blank grid,
    so it is still rejected (as unknown occupancy) and rejected_rows stays the same.
    """
    name = cm.name
    rows = [([h.b, "" if h.u is None else h.u, h.r, h.name, h.phone, "待核实" if h.excluded else h.occ],
             "unknown occupancy 待核实 (household has no valid row)" if h.excluded else None)
            for h in cm.hhs]
    start = cal.start - dt.timedelta(days=1)
    pre = [[f"{name}住户台账"], [f"制表日期：{d_cn(start)}"]]
    out.xlsx(real_registry_path(name), REAL_REGISTRY_HEADER, rows, pre=pre, sheet="住户台账")
    out.note(real_registry_path(name), 1, "one-community ledger: title and date rows, no 社区 or 网格 column "
                                          "(grids from subdistrict.yml)")


def emit_real_surveys(out, cm, cal, rows):
    """The returns as a 问卷星 按选项文本 download (.xls): no 社区 column, the file name carries it."""
    rng = random.Random(cm.base + "/real-layout")  # bookkeeping only: answers are the given rows'
    real = []
    for i, (c, tag) in enumerate(rows, 1):
        ts, b, u, r, answers, comment = c[0], c[2], c[3], c[4], c[5:10], c[10]
        b = str(b).removesuffix("号楼")
        addr = f"{b}-{r}" if u is None or u == "" else f"{b}-{u}-{r}"
        labelled = [f"{'ABC'[REAL_OPTIONS[f].index(a)]}.{a}" if a else "(跳过)" for f, a in zip(FIELDS, answers)]
        ip = ".".join([str(rng.choice((39, 113, 120, 223)))] + [str(rng.randint(1, 254)) for _ in range(3)])
        real.append(([i, f"{d_slash(ts)} {ts:%H:%M:%S}", f"{rng.randint(35, 420)}秒", "微信", "直接访问",
                      f"{ip}(浙江-宁波)", 0, *labelled, addr, comment or "(空)"], tag))
    # section 10: two returns answered in a few seconds (bookkeeping only: answers unchanged)
    crng = random.Random(cm.base + "/credibility")
    homes = [tuple(map(str, c[2:5])) for c, _ in rows]
    times = {k: homes.count(k) for k in set(homes)} if len(homes) < 50 else _counts(homes)
    ok = [i for i, (c, tag) in enumerate(rows) if tag is None and isinstance(c[0], dt.datetime)
          and c[0].date() <= cal.last_sunday and times[homes[i]] == 1]
    for i, secs in zip(sorted(crng.sample(ok, min(2, len(ok)))), ("9秒", "12秒")):
        real[i] = (real[i][0], f"too_fast: 所用时间 {secs} (under {CREDIBILITY['min_seconds']} s)")
        real[i][0][2] = secs
    out.xls(real_survey_path(cm.name), REAL_SURVEY_HEADER, real, sheet="Sheet1")
    out.note(real_survey_path(cm.name), 1, "问卷星 按选项文本 download: no 社区 column, option letters, (跳过)/(空)")


def _counts(items) -> dict:
    out: dict = {}
    for k in items:
        out[k] = out.get(k, 0) + 1
    return out


def real_layout_grids(cm) -> dict:
    """``grids:`` for subdistrict.yml: grid name → building numbers (ranges as "a-b")."""
    by_grid: dict = {}
    for h in cm.hhs:
        by_grid.setdefault(f"第{h.grid}网格", [])
        if h.b not in by_grid[f"第{h.grid}网格"]:
            by_grid[f"第{h.grid}网格"].append(h.b)
    out = {}
    for g, bs in by_grid.items():
        runs = [[bs[0], bs[0]]]
        for b in bs[1:]:
            if b == runs[-1][1] + 1:
                runs[-1][1] = b
            else:
                runs.append([b, b])
        out[g] = [lo if lo == hi else f"{lo}-{hi}" for lo, hi in runs]
    return out


ISSUE_HEADERS = {
    0: ["序号", "登记日期", "社区", "问题类别", "问题描述", "处理方式", "办理状态", "办结日期", "地址"],
    1: ["反映日期", "社区", "类别", "问题内容", "处理方式", "状态", "办结日期"],
    2: ["登记日期", "所属社区", "问题类型", "问题描述", "处理方式", "办理状态", "办结日期", "地址"],
    3: ["登记日期", "社区名称", "问题类别", "内容", "反映人", "联系电话", "处理方式", "办理状态", "办结日期", "地址"],
    4: ["日期", "社区", "问题类别", "问题描述", "处理方式", "办理状态", "办结日期", "地址"],
}
# columns of: raised, category, description, status, resolved
ISSUE_COLS = {0: (1, 3, 4, 6, 7), 1: (0, 2, 3, 5, 6), 2: (0, 2, 3, 5, 6), 3: (0, 2, 3, 7, 8),
              4: (0, 2, 3, 5, 6)}


def emit_issues(out, cm, cal):
    rng, name, st = cm.mrng, cm.name, cm.prof.style
    header = ISSUE_HEADERS[st]
    _, _, ci_desc, ci_status, ci_res = ISSUE_COLS[st]
    blank_res = 0.4 if st == 2 else 0.08

    def fmt(d):
        if d is None:
            return None if st in (0, 3) else ""
        if st == 0:
            return d
        if st == 1:
            return d_slash(d)
        if st == 2:
            return d_cn(d)
        if st == 3:
            x = rng.random()
            return d if x < 0.5 else serial(d) if x < 0.7 else d_dot(d)
        return d.isoformat()

    rows = []
    for i, t in enumerate(cm.issues, 1):
        res = t["resolved"]
        status = rng.choice(RESOLVED_TEXT if res else OPEN_TEXT)
        resd = fmt(res if res and rng.random() >= blank_res else None)
        raised = fmt(t["raised"])
        if st == 0:
            c = [i, raised, name, t["cat"], t["desc"], t["handling"], status, resd, t["addr"]]
        elif st == 1:
            c = [raised, name, t["cat"], t["desc"], t["handling"], status, resd]
        elif st == 3:
            c = [raised, name, t["cat"], t["desc"], person_name(rng), phone_number(rng), t["handling"],
                 status, resd, t["addr"]]
        else:
            c = [raised, name, t["cat"], t["desc"], t["handling"], status, resd, t["addr"]]
        tag = f"unknown category {t['cat']} (read as 其他)" if t["cat"] in UNKNOWN_CATEGORIES else None
        rows.append((c, tag))

    def set_desc(text, tag):
        i = mark(rows, rng, tag)
        rows[i][0][ci_desc] = text

    is_resolved = lambda c: c[ci_status] in RESOLVED_TEXT and c[ci_res] not in (None, "")
    if st == 0:
        set_desc(HOSTILE_COMMENTS[0], "description <script>alert(1)</script>")
        place(rows, rng, BLANK, "blank row (skipped)")
        out.xlsx(f"issues/{name}_问题清单.xlsx", header, rows, sheet="问题清单", date_fmt="yyyy/m/d",
                 widths={"E": 36})
        return
    if st == 1:
        i = mark(rows, rng, "bad date: 办结日期 3 days before 反映日期", ok=is_resolved, hi=0.6)
        d = cm.issues[i]["raised"] - dt.timedelta(days=3)
        rows[i][0][ci_res] = d_slash(d)
        set_desc(HOSTILE_COMMENTS[3] + "，楼下车辆乱停没人管", "description with a phone number 13812345678")
        out.csv(f"issues/{name}_问题清单.CSV", header, rows, encoding="gbk")
        out.note(f"issues/{name}_问题清单.CSV", 1, "upper-case .CSV extension; GBK encoding")
        return
    if st == 2:
        i = mark(rows, rng, "missing status (blank 办理状态)")
        rows[i][0][ci_status] = ""
        set_desc(HOSTILE_COMMENTS[1], 'description <a href="javascript:alert(1)">点我</a>')
        out.csv(f"issues/{name}_问题清单.csv", header, rows, encoding="utf-8-sig")
        out.note(f"issues/{name}_问题清单.csv", 2,
                 "~40% of resolved issues have a blank 办结日期 (resolved on the raised date)")
        return
    if st == 3:
        i = mark(rows, rng, "unknown status 暂缓")
        rows[i][0][ci_status] = "暂缓"
        set_desc(HOSTILE_COMMENTS[2], 'description " onmouseover="x')
        r = cm.resident_name()
        set_desc(f"{r}反映楼上漏水，请尽快处理", f"description with a registry resident's name {r}")
        out.xlsx(f"issues/{name}_问题清单.xlsx", header, rows, sheet="问题清单", date_fmt="yyyy/m/d",
                 widths={"D": 36})
        return
    set_desc("5号楼1单元302室门口长期堆放杂物", "description with an address 5号楼1单元302室")
    set_desc("3-2-501空调外机滴水", "description with an address 3-2-501")
    j = rng.randint(len(rows) // 4, len(rows) // 2)
    while rows[j][1]:
        j += 1
    place(rows, rng, list(rows[j][0]), f"duplicate row (resent copy of data row {j + 2})", lo=0.7, hi=0.95)
    out.csv(f"issues/{name}_问题清单.csv", header, rows, encoding="utf-8")


# ----------------------------------------------------------------------------- activities, shops
def _num(x):
    """2.0 -> 2, 2.5 -> 2.5 (as staff type them)."""
    return int(x) if float(x).is_integer() else x


def activity_path(name, st):
    return {0: f"activities/{name}_志愿服务台账.xlsx", 1: f"activities/{name}_志愿服务记录.csv",
            2: f"activities/{name}_活动记录.csv", 3: f"activities/{name}_志愿服务活动.xlsx",
            4: f"activities/{name}_活动记录.csv"}[st]


ACTIVITY_HEADERS = {
    0: ["序号", "活动日期", "活动名称", "参与人数", "其中党员", "服务时长", "清理点位", "备注"],  # no 社区
    1: ["日期", "社区", "活动类型", "参与人数", "党员人数", "服务时长", "清理点位"],
    2: ["活动日期", "社区", "活动名称", "参与人次", "其中党员", "志愿时长", "清理处数", "备注"],
    3: ["活动日期", "社区名称", "活动类型", "参加人数", "党员人数", "时长", "清理卫生死角", "网格"],
    4: ["日期", "活动名称", "人数", "党员人数", "服务时长", "清理点位", "备注"],  # no 社区
}


def emit_activities(out, cm, cal):
    """志愿服务与活动记录, one file per community in its own style (contract sections 9 and 11)."""
    rng, name, st = random.Random(cm.base + "/activities-mess"), cm.name, cm.prof.style
    path, header = activity_path(name, st), ACTIVITY_HEADERS[st]
    blank = lambda x, fmt="{}": "" if x is None else fmt.format(_num(x))  # noqa: E731
    rows = []
    for i, a in enumerate(cm.activities, 1):
        d, kind, n, party = a["date"], a["kind"], a["participants"], a["party"]
        if st == 0:  # Excel serial dates (number cells), numbers as numbers
            c = [i, serial(d), kind, n, party, None if a["hours"] is None else _num(a["hours"]), a["spots"], a["note"]]
        elif st == 1:  # counts with their units: 12人, 36小时, 8处
            c = [d_slash(d), name, kind, f"{n}人", f"{party}人", blank(a["hours"], "{}小时"), blank(a["spots"], "{}处")]
        elif st == 2:
            c = [d_cn(d), name, kind, f"{n}人次", str(party), blank(a["hours"]), blank(a["spots"]), a["note"]]
        elif st == 3:
            c = [d, name, kind, n, party, None if a["hours"] is None else f"{_num(a['hours'])}小时", a["spots"],
                 "" if a["grid"] is None else grid_text(a["grid"], "di")]
        else:
            c = [d.isoformat(), kind, str(n), str(party), blank(a["hours"]), blank(a["spots"]), a["note"]]
        rows.append((c, None))
    skipped = [lab for lab in (cal.week_label(m) for m in cal.mondays)
               if not any(cal.week_label(a["date"]) == lab and a["kind"] in CLEANUP_KINDS for a in cm.activities)]
    if skipped:
        out.note(path, 1, f"no cleanup in {', '.join(skipped)} (the Saturday was skipped; publicity instead)")
    if st == 0:
        out.xlsx(path, header, rows, pre=[[f"{name}志愿服务台账"]], sheet="志愿服务", widths={"C": 26})
        out.note(path, 1, f"title row {name}志愿服务台账 (header on row 2); 活动日期 as Excel serial numbers; "
                          "no 社区 column (community from the file name)")
    elif st == 1:
        out.csv(path, header, rows, encoding="gbk")
        out.note(path, 1, "GBK; counts written with units 12人, 36小时, 8处")
    elif st == 2:
        j = rng.randint(len(rows) // 3, 2 * len(rows) // 3)
        rows.append((list(rows[j][0]), f"duplicate row (resent copy of data row {j + 2})"))
        out.csv(path, header, rows, encoding="utf-8-sig")
        out.note(path, 1, "UTF-8 with BOM; 参与人次 written 12人次; dates 2023年9月5日")
    elif st == 3:
        ref = rng.choice([c for c, _ in rows if c[2] in PUBLICITY_KINDS] or [c for c, _ in rows])
        c = list(ref)
        c[2], c[3], c[4], c[5], c[6] = "文明城市创建宣传", "十几人", 3, "5小时", None
        place(rows, rng, c, "bad count 十几人 (participants)")
        out.xlsx(path, header, rows, sheet="活动记录", date_fmt="yyyy/m/d", widths={"C": 26})
    else:
        out.csv(path, header, rows, encoding="utf-8")
        out.note(path, 1, "no 社区 column (community from the file name)")


def shop_path(name, st):
    return {0: f"shops/{name}_门前三包巡查记录.xlsx", 1: f"shops/{name}_门前三包巡查.csv",
            2: f"shops/{name}_门前三包巡查台账.xlsx", 3: f"shops/{name}_门前三包.csv",
            4: f"shops/{name}_门前三包巡查记录.csv"}[st]


SHOP_HEADERS = {
    0: ["巡查日期", "社区", "商铺名称", "所在街路", "巡查结果", "存在问题", "处理措施", "整改期限", "责任书"],
    1: ["检查日期", "社区", "店铺名称", "街路", "检查结果", "问题类型", "处理方式", "整改期限", "签订责任书"],
    2: ["序号", "巡查日期", "所属社区", "商户名称", "商铺地址", "巡查结果", "存在问题", "处理措施", "整改期限", "是否签订"],
    3: ["巡查日期", "店铺名称", "所在街路", "巡查结果", "存在问题", "处理措施", "整改期限", "责任书"],  # no 社区
    4: ["日期", "社区名称", "商铺名称", "街道地址", "检查结果", "存在问题", "处理措施", "整改期限", "责任书"],
}


def emit_shops(out, cm, cal):
    """门前三包巡查记录, one file per community: CSV (UTF-8 with BOM) or xlsx."""
    rng, name, st = random.Random(cm.base + "/shops-mess"), cm.name, cm.prof.style
    path, header = shop_path(name, st), SHOP_HEADERS[st]
    _, inspections = cm.shops
    xlsx = st in (0, 2)

    def cells(r):
        d, dl = r["date"], r["deadline"]
        probs = "、".join(r["problems"])
        fmt = (lambda x: x) if xlsx else d_slash if st == 1 else dt.date.isoformat
        date, deadline = fmt(d), (None if xlsx else "") if dl is None else fmt(dl)
        tail = [r["result"], probs, r["action"], deadline, r["signed"]]
        if st == 2:
            return [0, date, name, r["shop"], r["street"], *tail]
        if st == 3:
            return [date, r["shop"], r["street"], *tail]
        return [date, name, r["shop"], r["street"], *tail]

    rows = [(cells(r), None) for r in inspections]
    res_col = header.index(next(h for h in header if h in ("巡查结果", "检查结果")))
    if st == 0:  # the same shop twice on one day: 不合格 on the morning round, 合格 after 当场整改
        i = next((k for k in range(len(rows) // 3, len(rows)) if rows[k][0][res_col] == "不合格"
                  and inspections[k]["action"] == "当场整改"), None)
        if i is not None:
            c = list(rows[i][0])
            c[res_col:res_col + 4] = ["合格", "", "", None]
            rows[i] = (rows[i][0], "superseded: first of two inspections of this shop on this day")
            rows.insert(i + 1, (c, "second inspection of the same shop on the same day (合格 after 当场整改; stands)"))
    if st == 1:
        j = rng.randint(len(rows) // 4, len(rows) // 2)
        place(rows, rng, list(rows[j][0]), f"duplicate row (resent copy of data row {j + 2})", lo=0.6, hi=0.95)
    if st == 2:
        k = mark(rows, rng, "unknown result 待复查")
        rows[k][0][res_col] = "待复查"
        for i, (c, _) in enumerate(rows, 1):
            c[0] = i
    if xlsx:
        out.xlsx(path, header, rows, sheet="巡查记录", date_fmt="yyyy/m/d", widths={"C": 16, "D": 16})
    else:
        out.csv(path, header, rows, encoding="utf-8-sig")
    if st == 3:
        out.note(path, 1, "no 社区 column (community from the file name)")


# ----------------------------------------------------------------------------- clean files
def emit_clean(out, cm, cal):
    """messy=False: one plain UTF-8 CSV per kind per community, canonical headers."""
    name = cm.name
    w_rows = []
    for h in cm.hhs:
        w_rows.append((name, f"第{h.grid}网格", h.b, "" if h.u is None else h.u, h.r, h.occ, h.name, h.phone))
    _plain_csv(out, f"households/{name}_住户台账.csv",
               ["社区", "网格", "楼号", "单元", "室", "居住状态", "户主", "联系电话"], w_rows)
    v_rows = []
    for d, _, h, outcome, mat, visitor in cm.visits:
        v_rows.append((d.isoformat(), name, h.b, "" if h.u is None else h.u, h.r, CLEAN_OUTCOMES[outcome],
                       "" if mat is None else mat, visitor))
    _plain_csv(out, f"visits/{name}_走访记录.csv",
               ["走访日期", "社区", "楼号", "单元", "室", "走访结果", "发放材料", "走访人"], v_rows)
    s_rows = []
    for ts, h, ans, comment, _ in cm.rets:
        addr = "" if h is None else (f"{h.b}-{h.r}" if h.u is None else f"{h.b}-{h.u}-{h.r}")
        a = [""] * 5
        for k, (f, code) in enumerate(zip(FIELDS, ans)):
            if code:
                a[k] = CLEAN_VOCAB[f][0 if code == "P" else 1][0]
        s_rows.append((f"{ts:%Y-%m-%d %H:%M:%S}", name, addr, *a, comment))
    _plain_csv(out, f"surveys/{name}_调查问卷.csv",
               ["提交时间", "社区", "住址", "知晓创建文明城市", "支持创城", "参与志愿活动", "满意度",
                "了解垃圾分类", "意见建议"], s_rows)
    i_rows = []
    for t in cm.issues:
        res = t["resolved"]
        i_rows.append((t["raised"].isoformat(), name, t["cat"], t["desc"], t["handling"],
                       "已办结" if res else "办理中", res.isoformat() if res else "", t["addr"]))
    _plain_csv(out, f"issues/{name}_问题清单.csv",
               ["登记日期", "社区", "问题类别", "问题描述", "处理方式", "办理状态", "办结日期", "地址"], i_rows)
    a_rows = [(a["date"].isoformat(), name, a["kind"], a["participants"], a["party"],
               "" if a["hours"] is None else _num(a["hours"]), "" if a["spots"] is None else a["spots"])
              for a in cm.activities]
    _plain_csv(out, f"activities/{name}_活动记录.csv",
               ["活动日期", "社区", "活动类型", "参与人数", "党员人数", "服务时长", "清理点位"], a_rows)
    sh_rows = [(r["date"].isoformat(), name, r["shop"], r["street"], r["result"], "、".join(r["problems"]),
                r["action"], "" if r["deadline"] is None else r["deadline"].isoformat(), r["signed"])
               for r in cm.shops[1]]
    _plain_csv(out, f"shops/{name}_门前三包巡查记录.csv",
               ["巡查日期", "社区", "商铺名称", "所在街路", "巡查结果", "存在问题", "处理措施", "整改期限", "责任书"],
               sh_rows)


def _plain_csv(out, rel, header, rows):
    p = out._path(rel)
    with open(p, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    out.files[rel] = len(rows)


# ----------------------------------------------------------------------------- main entry
def _clear(out_dir: Path):
    for part in GENERATED_PARTS:
        p = out_dir / part
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    y = out_dir / "subdistrict.yml"
    if y.exists() or y.is_symlink():
        y.unlink()


def _write_yml(out_dir: Path, names, cal, grids=None, name=SUBDISTRICT, targets=True):
    doc = {"name": name, "communities": list(names), "campaign_start": cal.start,
           "targets": dict(TARGETS), "overdue_days": 7, "assessment_date": ASSESSMENT_DATE,
           "credibility": dict(CREDIBILITY)}
    if not targets:  # a district's sub-district that takes district.yml's targets
        del doc["targets"]
    if grids:
        doc["grids"] = grids
    text = (f"# {name} sample configuration (fake data, written by generate.py)\n"
            + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=None, width=200))
    (out_dir / "subdistrict.yml").write_text(text, encoding="utf-8")


def generate(out_dir: Path, n_communities: int = 5, households: int | None = None,
             seed: int = 20230904, first_week="2023-W32", last_week="2023-W37",
             messy: bool = True, real_layout: bool = False, name: str = SUBDISTRICT,
             communities: list | None = None, targets: bool = True) -> dict:
    """Write the sample data folder into out_dir and return a small summary.

    ``name`` and ``communities`` give the sub-district and its first community names other
    spellings (a district's sub-districts; further communities get the generated names);
    ``targets=False`` leaves ``targets`` out of subdistrict.yml.

    With ``real_layout``, 修竹社区's registry and surveys are written in the layouts of
    contract section 9 (a one-community ledger without 社区/网格 columns, grids in
    subdistrict.yml; a 问卷星 .xls without a 社区 column), with the same rows.
    """
    t0 = time.perf_counter()
    if real_layout and not messy:
        raise ValueError("real_layout rewrites the messy files of 修竹社区: it needs messy=True")
    if n_communities < 1:
        raise ValueError("n_communities must be at least 1")
    if households is not None and households < 1:
        raise ValueError("households must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear(out_dir)
    cal = Calendar(first_week, last_week)
    profiles = make_profiles(n_communities, households, seed, communities)
    names = [p.name for p in profiles]
    if real_layout and REAL_LAYOUT_COMMUNITY not in names:
        raise ValueError(f"real_layout needs {REAL_LAYOUT_COMMUNITY} among the communities (at least 5)")
    _write_yml(out_dir, names, cal, name=name, targets=targets)
    out = Output(out_dir)
    per_community = {}
    for prof in profiles:
        cm = Community(prof, cal, seed, messy)
        cm.real_layout = real_layout and prof.name == REAL_LAYOUT_COMMUNITY
        if cm.real_layout:
            _write_yml(out_dir, names, cal, grids={prof.name: real_layout_grids(cm)}, name=name, targets=targets)
        if messy:
            other = names[1] if prof.name == names[0] and len(names) > 1 else names[0]
            if other == prof.name:
                other = "海港社区"
            emit_registry(out, cm, cal)
            emit_visits(out, cm, cal, other)
            emit_surveys(out, cm, cal)
            emit_issues(out, cm, cal)
            emit_activities(out, cm, cal)
            emit_shops(out, cm, cal)
        else:
            emit_clean(out, cm, cal)
        occupied = [h for h in cm.hhs if not h.vacant and not h.excluded]
        reached = sum(1 for h in occupied if h.reach and h.reach[0] <= cal.last_sunday)
        per_community[prof.name] = {
            "households": len(cm.hhs), "occupied": len(occupied),
            "reached_by_last_week": reached,
            "coverage_by_last_week": round(reached / len(occupied), 4) if occupied else None,
            "visits": len(cm.visits), "survey_returns": len(cm.rets),
            "anonymous_returns": sum(1 for r in cm.rets if r[1] is None),
            "resurveyed_households": len(cm.rets) - len({id(r[1]) for r in cm.rets if r[1]})
            - sum(1 for r in cm.rets if r[1] is None), "issues": len(cm.issues),
        }
    rows_by_kind = {k: sum(n for f, n in out.files.items() if f.startswith(k + "/")) for k in GENERATED_PARTS}
    return {
        "out_dir": str(out_dir), "communities": names, "messy": messy, "real_layout": real_layout, "seed": seed,
        "weeks": f"{first_week}:{last_week}", "data_until": cal.end.isoformat(),
        "files": dict(sorted(out.files.items())), "rows": rows_by_kind,
        "per_community": per_community,
        "planted": sorted(out.planted),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("1", "true", "yes", "y", "on"):
        return True
    if v in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Generate the fake 人民路街道 sample data folder.")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="output folder (default: the folder of this script)")
    ap.add_argument("--communities", type=int, default=5)
    ap.add_argument("--households", type=int, default=None,
                    help="households per community (default: 1,500-4,000, varied)")
    ap.add_argument("--seed", type=int, default=20230904)
    ap.add_argument("--weeks", default="2023-W32:2023-W37", help="first:last ISO week")
    ap.add_argument("--messy", type=_bool, default=True, help="true (default) or false")
    ap.add_argument("--real-layout", type=_bool, default=True,
                    help="true: write 修竹社区 as a one-community ledger and a 问卷星 .xls (contract "
                         "section 9), same rows (default, as bundled); false: every community in tidy layouts")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    first, _, last = a.weeks.partition(":")
    s = generate(a.out, a.communities, a.households, a.seed, first, last or first, a.messy, a.real_layout)
    if not a.quiet:
        print(f"wrote {len(s['files'])} files to {s['out_dir']} in {s['seconds']} s")
        for k, n in s["rows"].items():
            print(f"  {k:<11} {n:>8} rows")
        for name, c in s["per_community"].items():
            print(f"  {name}: {c}")
        if s["planted"]:
            print("planted:")
            for f, r, what in s["planted"]:
                print(f"  {f} row {r}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
