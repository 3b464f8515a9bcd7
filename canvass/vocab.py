"""The campaign's vocabulary, defined once: metrics, targets, statuses, outcomes, reasons.

Every other module imports these names; a Chinese label or a default appears here and
nowhere else, so the digest, the community reports and metrics.csv cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A rate a community is judged on: its key, Chinese label and default target."""

    key: str
    label: str
    default_target: float


# The five questions, in the contract's order ("the five questions, here and everywhere").
QUESTION_RATES = (
    Rate("awareness", "知晓率", 0.95),
    Rate("support", "支持率", 0.95),
    Rate("participation", "参与率", 0.80),
    Rate("satisfaction", "满意率", 0.90),
    Rate("garbage_sorting", "垃圾分类知晓率", 0.90),
)
COVERAGE = Rate("coverage", "覆盖率", 1.00)  # 不漏一户: every household reached
RATES = (COVERAGE,) + QUESTION_RATES  # the order reports show them in

METRIC_FIELDS = tuple(r.key for r in QUESTION_RATES)  # awareness, support, …, garbage_sorting
QUESTION_FIELDS = METRIC_FIELDS
RATE_KEYS = tuple(r.key for r in RATES)  # coverage first
TARGET_KEYS = METRIC_FIELDS + ("coverage",)
DEFAULT_TARGETS = {r.key: r.default_target for r in RATES}
RATE_LABELS = {r.key: r.label for r in RATES}
QUESTION_TEXT = {"awareness": "知晓", "support": "支持", "participation": "参与",
                 "satisfaction": "满意", "garbage_sorting": "垃圾分类"}

# Status against a target, judged on the cumulative rate.
LOW_SAMPLE = 30  # 样本不足 below this denominator
AMBER_BAND = 0.05  # amber: at most this far below the target
TOLERANCE = 1e-9  # so that 0.90 against 0.95 is amber
Z95 = 1.959963984540054  # Wilson interval, 95%
STATUS_TEXT = {"green": "达标", "amber": "接近", "red": "落后", "": "无数据"}
DEFAULT_OVERDUE_DAYS = 7
DEFAULT_CATEGORIES = ("环境卫生", "占道经营", "车辆乱停", "设施维修", "文明养犬", "噪音扰民", "其他")

# Visit outcomes; a household is reached by a visit whose outcome is one of REACHING.
OUTCOME_LABELS = {"entered": "已入户", "online": "线上宣传", "not_home": "不在家", "refused": "拒访"}
REACHING = ("entered", "online")
HANDLING_LABELS = {"local": "社区解决", "escalated": "已上报"}

# Reject reasons: the code is stable English (rejects.csv); people read the Chinese.
REASON_TEXT = {
    "duplicate household": "住户台账中重复的户",
    "duplicate row": "与前面的记录完全重复（重复报送）",
    "duplicate return": "同一份问卷重复下载",
    "superseded": "同一户有更新的问卷，本份作废",
    "unknown community": "社区名称不在住户台账中",
    "bad date": "日期无法识别",
    "unparseable address": "地址格式无法识别",
    "unknown household": "地址在住户台账中不存在",
    "unknown outcome": "走访结果无法识别",
    "unknown status": "办理状态无法识别",
    "unknown occupancy": "居住状态无法识别",
    "unknown result": "巡查结果无法识别",
    "bad materials count": "发放材料数不是非负整数",
    "bad count": "数量格式不对",
}
# Field names as staff read them (messages, rejects' 说明).
FIELD_TEXT = {"community": "社区", "grid": "网格", "address": "地址", "building": "楼号", "unit": "单元",
              "room": "室", "date": "日期", "outcome": "走访结果", "submitted_at": "提交时间",
              "raised": "登记日期", "status": "办理状态", "occupancy": "居住状态", "materials": "发放材料",
              "resolved": "办结日期", "name": "户主", "phone": "电话", "visitor": "走访人",
              "category": "问题类别", "description": "问题描述", "handling": "处理方式",
              "comment": "意见建议", "awareness": "知晓（创城）", "support": "支持", "participation": "参与",
              "satisfaction": "满意", "garbage_sorting": "垃圾分类", "duration": "答题时长",
              "client": "IP", "sheet_id": "序号", "kind": "活动类型", "participants": "参与人数",
              "party_members": "党员人数", "hours": "服务时长", "spots": "清理点位", "shop": "商铺名称",
              "result": "巡查结果", "problems": "存在问题", "action": "处理措施", "deadline": "整改期限",
              "signed": "责任书", "street": "所在街路", "responsible": "包户人", "role": "走访人身份"}


def field_text(field: str) -> str:
    """Return a field's Chinese name, with the English one in parentheses."""
    zh = FIELD_TEXT.get(field)
    return f"{zh} ({field})" if zh else field


# A reason whose wording depends on the kind of file (superseded survey return vs inspection).
REASON_TEXT_BY_KIND = {("shops", "superseded"): "同一商铺同一天有更晚的巡查记录，本条不计"}


def reason_text(reason: str, kind: str | None = None) -> str:
    """Return the plain-Chinese wording of a reject reason code (of a file kind, when it matters)."""
    if (kind, reason) in REASON_TEXT_BY_KIND:
        return REASON_TEXT_BY_KIND[(kind, reason)]
    if reason.startswith("missing "):
        f = reason[len("missing "):]
        return f"缺少必填项：{FIELD_TEXT.get(f, f)}"
    return REASON_TEXT.get(reason, reason)
