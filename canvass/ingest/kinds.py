"""What each input file kind holds: fields, aliases, required columns, value codes.

Header matching follows the contract's precedence: exact aliases (first listed wins)
beat survey keyword rules; split address columns beat an address string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from canvass.errors import InputError
from canvass.ingest.normalize import normalize_header
from canvass.vocab import QUESTION_FIELDS

COMMUNITY = ("社区", "所属社区", "社区名称")
ADDRESS = ("地址", "住址", "门牌地址", "家庭住址")
BUILDING = ("楼号", "楼栋", "楼")
UNIT = ("单元",)
ROOM = ("室", "门牌号", "房号", "户号")


@dataclass(frozen=True)
class KindSpec:
    """Fields of one input kind: field → aliases (in precedence order), and which are required."""

    kind: str
    fields: dict
    required: tuple
    address_required: bool
    keyword_rules: bool = False
    ignored: tuple = ()
    labels: dict = field(default_factory=dict)


SPECS = {
    "households": KindSpec(
        "households",
        {"community": COMMUNITY, "grid": ("网格", "所属网格", "网格名称", "网格编号"),
         "occupancy": ("居住状态", "房屋状态"), "name": ("户主", "户主姓名", "姓名"),
         "phone": ("联系电话", "电话", "手机", "手机号")},
        required=("community", "grid"), address_required=True),
    "visits": KindSpec(
        "visits",
        {"date": ("走访日期", "入户日期", "日期", "时间"), "community": COMMUNITY,
         "outcome": ("走访结果", "结果", "入户情况"),
         "materials": ("发放材料", "发放材料数", "宣传材料", "宣传材料(份)"),
         "visitor": ("走访人", "工作人员")},
        required=("date", "community", "outcome"), address_required=True),
    "surveys": KindSpec(
        "surveys",
        {"submitted_at": ("提交时间", "提交答卷时间", "填写时间", "日期"),
         "community": ("社区", "所在社区", "您所在的社区", "所属社区")},
        required=("submitted_at", "community"), address_required=False, keyword_rules=True,
        ignored=("序号", "所用时间", "来源", "来源详情", "来自IP", "总分")),
    "issues": KindSpec(
        "issues",
        {"raised": ("登记日期", "反映日期", "日期"), "community": COMMUNITY,
         "category": ("问题类别", "类别", "问题类型"), "description": ("问题描述", "问题内容", "内容"),
         "handling": ("处理方式",), "status": ("办理状态", "状态"), "resolved": ("办结日期",)},
        required=("raised", "community", "status"), address_required=False),
}

# Survey question columns are recognised by keywords; first matching rule wins.
KEYWORD_RULES = (
    ("satisfaction", lambda h: "满意" in h),
    ("support", lambda h: "支持" in h),
    ("participation", lambda h: "参与" in h),
    ("garbage_sorting", lambda h: "垃圾分类" in h),
    ("awareness", lambda h: any(k in h for k in ("知道", "知晓", "了解"))
     and any(k in h for k in ("创建", "文明城市", "创城"))),
    ("comment", lambda h: any(k in h for k in ("意见", "建议", "诉求"))),
    ("address", lambda h: any(k in h for k in ("住址", "地址", "门牌"))),
    ("community", lambda h: "社区" in h),
)

ANSWERS = {
    "satisfaction": (("非常满意", "满意", "比较满意", "基本满意"), ("一般", "不太满意", "不满意", "非常不满意")),
    "support": (("非常支持", "支持", "比较支持"), ("不支持", "不太支持", "无所谓", "说不清")),
    "participation": (("参与过", "参与", "经常参与", "偶尔参与", "是"), ("没参与过", "没有参与", "未参与", "从未参与", "否")),
    "garbage_sorting": (("了解", "知道", "清楚", "是"), ("不了解", "不知道", "不清楚", "否")),
    "awareness": (("知道", "知晓", "了解", "清楚", "是"), ("不知道", "不知晓", "不了解", "不清楚", "否")),
}
UNANSWERED = ("", "(跳过)", "(空)")

OUTCOMES = {"已入户": "entered", "入户成功": "entered", "成功": "entered",
            "线上宣传": "online", "线上": "online", "微信": "online",
            "不在家": "not_home", "无人": "not_home", "无人在家": "not_home",
            "拒访": "refused", "拒绝": "refused"}
STATUSES = {"已办结": "resolved", "已解决": "resolved", "完成": "resolved",
            "办理中": "open", "未解决": "open", "待处理": "open"}
HANDLING = {"社区解决": "local", "上报": "escalated", "已上报": "escalated"}
OCCUPANCY = {"常住": "occupied", "自住": "occupied", "出租": "occupied", "": "occupied",
             "空置": "vacant", "空房": "vacant"}

ADDRESS_FIELDS = ("address", "building", "unit", "room")
ALL_FIELDS = frozenset(
    [f for spec in SPECS.values() for f in spec.fields] + list(ADDRESS_FIELDS)
    + list(QUESTION_FIELDS) + ["comment"])





@dataclass
class ColumnMap:
    """How one file's header maps to fields: field → column position, plus the ignored columns."""

    fields: dict
    split_address: bool
    ignored: list

    def has(self, name: str) -> bool:
        return name in self.fields


def aliases_for(spec: KindSpec, extra: dict) -> dict:
    """Return field → aliases for a kind, built-in first then subdistrict.yml's extras."""
    out = {f: tuple(a) for f, a in spec.fields.items()}
    address = {"address": ADDRESS, "building": BUILDING, "unit": UNIT, "room": ROOM}
    out.update(address)
    for f, more in extra.items():
        if f in out or f in QUESTION_FIELDS or f == "comment":
            out[f] = tuple(out.get(f, ())) + tuple(more)
    return out


def required_aliases(spec: KindSpec, extra: dict) -> set:
    """Return the header texts that count toward detecting the header row."""
    aliases = aliases_for(spec, extra)
    names = set(spec.required) | ({"address", "building", "room", "unit"} if spec.address_required else set())
    return {a for f in names for a in aliases.get(f, ())}


def map_columns(headers: list, spec: KindSpec, extra_aliases: dict, file: str) -> ColumnMap:
    """Return the ColumnMap of a header row, or raise InputError naming what is missing."""
    norm = [normalize_header(h) for h in headers]
    aliases = aliases_for(spec, extra_aliases)
    chosen: dict = {}
    taken: set = set()
    for fname, names in aliases.items():
        for alias in names:  # the alias listed first wins
            hits = [i for i, h in enumerate(norm) if h == alias and i not in taken]
            if hits:
                chosen[fname] = hits[0]
                taken.add(hits[0])
                break
    if spec.keyword_rules:
        by_rule: dict = {}
        for i, h in enumerate(norm):
            if i in taken or not h or h in spec.ignored:
                continue
            for fname, rule in KEYWORD_RULES:
                if rule(h):
                    by_rule.setdefault(fname, []).append(i)
                    break
        for fname, cols in by_rule.items():
            if fname in chosen or (fname == "address" and "building" in chosen):
                continue
            if len(cols) > 1:
                names = "”、“".join(str(headers[i]).strip() for i in cols)
                raise InputError(f"多列都像是 {fname}：“{names}”，无法确定用哪一列 (ambiguous column mapping)",
                                 file=file, column=str(headers[cols[0]]).strip(),
                                 expected=f"只有一列对应 {fname}，或在 subdistrict.yml 的 aliases 中指定")
            chosen[fname] = cols[0]
            taken.add(cols[0])
    split = "building" in chosen and "room" in chosen
    if split:
        chosen.pop("address", None)
    else:
        for part in ("building", "unit", "room"):
            chosen.pop(part, None)
    missing = [f for f in spec.required if f not in chosen]
    if spec.address_required and "address" not in chosen and not split:
        missing.append("address")
    if missing:
        f = missing[0]
        if f == "address":
            accepted = "、".join(ADDRESS) + "，或分列 " + "/".join(BUILDING) + " + " + "/".join(UNIT) + " + " + "/".join(ROOM)
        else:
            accepted = "、".join(aliases.get(f, ()))
        raise InputError(f"缺少必需的列 missing required column: {f}", file=file, column=f,
                         expected=f"表头中有以下之一：{accepted}")
    ignored = [str(headers[i]) for i in range(len(headers))
               if i not in chosen.values() and str(headers[i]).strip()]
    return ColumnMap(fields=chosen, split_address=split, ignored=ignored)
