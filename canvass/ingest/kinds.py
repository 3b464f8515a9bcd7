"""Input kinds declared as data: each kind's fields, aliases, value vocabularies and reasons.

Readers, header mapping, cleaning and ``--check`` all work from these declarations
(a schema is a value). A new input kind is a new ``Kind`` here plus its cleaner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from canvass.vocab import QUESTION_FIELDS


@dataclass(frozen=True)
class Field:
    """One field of an input kind: its header aliases (first listed wins) and its values.

    ``values`` maps a normalised cell to a code; ``alias_values`` adds values understood
    only under one header (``是`` in a 是否入户 column means entered).
    """

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    values: dict | None = None
    alias_values: dict = field(default_factory=dict)
    unknown_reason: str | None = None
    personal: bool = False


@dataclass(frozen=True)
class Kind:
    """One input folder (households/, visits/, …): what its files hold."""

    name: str
    label: str  # what staff call it
    fields: tuple[Field, ...]
    address: str  # "required", "optional" or "none"
    date_field: str | None = None
    keyword_rules: bool = False  # survey question columns recognised by keywords
    optional_folder: bool = False
    missing_order: tuple[str, ...] = ()  # the order in which `missing <field>` is checked

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        """Fields a file must have a column for (the community may come from elsewhere: 9.1)."""
        return tuple(f.name for f in self.fields if f.required)

    @property
    def address_required(self) -> bool:
        return self.address == "required"


# --- shared aliases ------------------------------------------------------------------------

COMMUNITY = ("社区", "所属社区", "社区名称")
GRID = ("网格", "所属网格", "网格名称", "网格编号")
ADDRESS = ("地址", "住址", "门牌地址", "家庭住址")
BUILDING = ("楼号", "楼栋", "楼", "楼栋号", "栋号", "幢号")
UNIT = ("单元", "单元号")
ROOM = ("室", "门牌号", "房号", "户号", "房间", "房间号", "户室号", "室号")
ADDRESS_ALIASES = {"address": ADDRESS, "building": BUILDING, "unit": UNIT, "room": ROOM}
ADDRESS_FIELDS = tuple(ADDRESS_ALIASES)

# --- value vocabularies --------------------------------------------------------------------

OCCUPANCY = {"常住": "occupied", "自住": "occupied", "出租": "occupied", "": "occupied",
             "空置": "vacant", "空房": "vacant"}
OUTCOMES = {"已入户": "entered", "入户成功": "entered", "成功": "entered",
            "线上宣传": "online", "线上": "online", "微信": "online",
            "不在家": "not_home", "无人": "not_home", "无人在家": "not_home",
            "拒访": "refused", "拒绝": "refused"}
STATUSES = {"已办结": "resolved", "已解决": "resolved", "完成": "resolved",
            "办理中": "open", "未解决": "open", "待处理": "open"}
HANDLING = {"社区解决": "local", "上报": "escalated", "已上报": "escalated"}

# Survey answers per question: (positive, negative); matched exactly, never by substring.
ANSWERS = {
    "satisfaction": (("非常满意", "满意", "比较满意", "基本满意"), ("一般", "不太满意", "不满意", "非常不满意")),
    "support": (("非常支持", "支持", "比较支持"), ("不支持", "不太支持", "无所谓", "说不清")),
    "participation": (("参与过", "参与", "经常参与", "偶尔参与", "是"), ("没参与过", "没有参与", "未参与", "从未参与", "否")),
    "garbage_sorting": (("了解", "知道", "清楚", "是"), ("不了解", "不知道", "不清楚", "否")),
    "awareness": (("知道", "知晓", "了解", "清楚", "是"), ("不知道", "不知晓", "不了解", "不清楚", "否")),
}
UNANSWERED = ("", "(跳过)", "(空)")
# Cells that mean "nothing here" in every field (platform placeholders), and in comments.
BLANK_MARKERS = ("NULL", "null", "None", "N/A", "#N/A", "(空)", "(跳过)", "-")
COMMENT_BLANKS = ("无", "没有", "无意见")
CODED_BLANKS = ("-2", "-3")  # 问卷星 按序号: empty and skipped

# Survey question columns by keyword: first rule that matches wins.
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

# Platform bookkeeping columns (9.4): never a question, address or community column.
BOOKKEEPING_CONTAINS = ("IP", "浏览器", "操作系统", "填写设备", "设备类型", "昵称", "所用时间", "答题时长",
                        "填写用时", "答题用时", "开始时间", "开始答题时间", "地理位置", "总分", "得分")
BOOKKEEPING_EQUALS = ("序号", "编号", "答卷编号", "答题序号", "来源", "来源详情", "渠道", "来源渠道",
                      "省份", "城市")
# The three kept for credibility checks: field → test on the normalised header.
BOOKKEEPING_FIELDS = (
    ("duration", lambda h: any(k in h for k in ("所用时间", "答题时长", "填写用时", "答题用时"))),
    ("client", lambda h: h in ("来自IP", "IP地址", "IP")),
    ("sheet_id", lambda h: h in ("序号", "编号", "答卷编号", "答题序号")),
)


def is_bookkeeping(header: str) -> bool:
    """Return True for a platform bookkeeping header (already normalised)."""
    return header in BOOKKEEPING_EQUALS or any(k in header for k in BOOKKEEPING_CONTAINS)


# --- the kinds -----------------------------------------------------------------------------

HOUSEHOLDS = Kind(
    "households", "住户台账",
    (Field("community", COMMUNITY),
     Field("grid", GRID),
     Field("occupancy", ("居住状态", "房屋状态"), values=OCCUPANCY, unknown_reason="unknown occupancy"),
     Field("name", ("户主", "户主姓名", "姓名"), personal=True),
     Field("phone", ("联系电话", "电话", "手机", "手机号"), personal=True),
     Field("responsible", ("包户人", "包户干部", "责任人", "网格员"), personal=True)),
    address="required", missing_order=("community", "grid", "address"))

VISITS = Kind(
    "visits", "入户走访记录",
    (Field("date", ("走访日期", "入户日期", "日期", "时间"), required=True),
     Field("community", COMMUNITY),
     Field("outcome", ("走访结果", "结果", "入户情况", "是否入户", "走访情况"), required=True, values=OUTCOMES,
           alias_values={"是否入户": {"是": "entered", "否": "not_home"}}, unknown_reason="unknown outcome"),
     Field("materials", ("发放材料", "发放材料数", "宣传材料", "宣传材料(份)")),
     Field("visitor", ("走访人", "工作人员"), personal=True),
     Field("role", ("走访人身份", "身份"))),
    address="required", date_field="date", missing_order=("date", "community", "address", "outcome"))

SURVEYS = Kind(
    "surveys", "调查问卷",
    (Field("submitted_at", ("提交时间", "提交答卷时间", "填写时间", "日期", "结束答题时间", "完成时间", "交卷时间"),
           required=True),
     Field("community", ("社区", "所在社区", "您所在的社区", "所属社区"))),
    address="optional", date_field="submitted_at", keyword_rules=True,
    missing_order=("submitted_at", "community"))

ISSUES = Kind(
    "issues", "问题清单",
    (Field("raised", ("登记日期", "反映日期", "日期", "登记时间", "反映时间", "受理时间"), required=True),
     Field("community", COMMUNITY),
     Field("category", ("问题类别", "类别", "问题类型")),
     Field("description", ("问题描述", "问题内容", "内容"), personal=True),
     Field("handling", ("处理方式",), values=HANDLING),
     Field("status", ("办理状态", "状态", "是否办结", "办理情况"), required=True, values=STATUSES,
           alias_values={"是否办结": {"是": "resolved", "否": "open"}}, unknown_reason="unknown status"),
     Field("resolved", ("办结日期", "办结时间", "完成时间"))),
    address="none", date_field="raised", missing_order=("raised", "community", "status"))

ACTIVITIES = Kind(
    "activities", "志愿服务与活动记录",
    (Field("date", ("活动日期", "日期", "时间"), required=True),
     Field("community", COMMUNITY),
     Field("kind", ("活动类型", "类型", "活动名称"), required=True),
     Field("participants", ("参与人数", "参加人数", "人数", "参与人次"), required=True),
     Field("party_members", ("党员人数", "其中党员")),
     Field("hours", ("服务时长", "志愿时长", "时长")),
     Field("spots", ("清理点位", "清理处数", "清理卫生死角")),
     Field("grid", GRID)),
    address="none", date_field="date", optional_folder=True,
    missing_order=("date", "community", "kind", "participants"))

SHOP_RESULTS = {"合格": "pass", "达标": "pass", "无问题": "pass", "是": "pass",
                "不合格": "fail", "未达标": "fail", "有问题": "fail", "发现问题": "fail", "否": "fail"}
SHOP_SIGNED = {"是": "yes", "已签": "yes", "已签订": "yes", "否": "no", "未签": "no", "": "unknown"}
SHOPS = Kind(
    "shops", "门前三包巡查记录",
    (Field("date", ("巡查日期", "检查日期", "日期"), required=True),
     Field("community", COMMUNITY),
     Field("shop", ("商铺名称", "店铺名称", "商户名称", "单位名称"), required=True),
     Field("result", ("巡查结果", "检查结果", "是否合格"), required=True, values=SHOP_RESULTS,
           unknown_reason="unknown result"),
     Field("problems", ("问题类型", "存在问题")),
     Field("action", ("处理措施", "处理方式")),
     Field("deadline", ("整改期限",)),
     Field("signed", ("责任书", "签订责任书", "是否签订"), values=SHOP_SIGNED),
     Field("street", ("所在街路", "街路", "街道地址", "商铺地址"))),
    address="none", date_field="date", optional_folder=True,
    missing_order=("date", "community", "shop", "result"))

# "contains" classifications of section 11: the first rule that matches wins, in this order.
ACTIVITY_KINDS = (("cleanup", ("清理", "卫生", "大扫除")), ("publicity", ("宣传",)), ("meeting", ("会",)))
PROBLEM_KINDS = (("street_occupation", ("占道", "店外")), ("parking", ("停",)), ("clutter", ("堆", "放")),
                 ("hygiene", ("卫生", "垃圾")), ("posting", ("张贴", "广告")))
ACTIONS = (("on_spot", ("当场",)), ("deadline", ("限期",)), ("enforcement", ("执法", "移交")))
ROLES = (("building_leader", ("楼长",)), ("party_member", ("党员",)), ("volunteer", ("志愿",)),
         ("staff", ("网格员", "社工", "工作人员", "书记", "主任")))


def classify(text: str, rules, default: str = "other") -> str:
    """Return the first class whose words the text contains (section 11's "contains" lists)."""
    return next((name for name, words in rules if any(w in text for w in words)), default)


KINDS = {k.name: k for k in (HOUSEHOLDS, VISITS, SURVEYS, ISSUES, ACTIVITIES, SHOPS)}
SPECS = KINDS  # the name the header tests use
REQUIRED_FOLDERS = ("households", "visits", "surveys", "issues")

SURVEY_FIELDS = QUESTION_FIELDS + ("comment", "duration", "client", "sheet_id")
ALL_FIELDS = frozenset(
    [f for k in KINDS.values() for f in k.field_names] + list(ADDRESS_FIELDS) + list(SURVEY_FIELDS))
