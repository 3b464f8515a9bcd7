"""Questionnaire credibility flags (contract section 10), worked out by hand on tiny returns."""

from __future__ import annotations

import pandas as pd

from canvass.credibility import (
    backcheck_rows,
    backcheck_seed,
    comment_fingerprint,
    flag_returns,
    flags_text,
)

SETTINGS = {"min_seconds": 15, "burst_count": 5, "burst_minutes": 10}


def returns(rows):
    """rows: (community, client, 'HH:MM', duration, comment)."""
    return pd.DataFrame({
        "community": [r[0] for r in rows], "client": [r[1] for r in rows],
        "submitted_at": [pd.Timestamp(f"2023-09-05 {r[2]}") for r in rows],
        "duration": [r[3] for r in rows], "comment": [r[4] for r in rows]})


def test_too_fast_is_strictly_under_min_seconds():
    f = flag_returns(returns([("甲", "", "10:00", 14, ""), ("甲", "", "10:00", 15, ""), ("甲", "", "10:00", None, "")]), SETTINGS)
    assert f["too_fast"].tolist() == [True, False, False]


def test_five_in_ten_minutes_is_a_burst_four_is_not_five_in_eleven_is_not():
    five = [("甲", "1.1.1.1", f"10:{m:02d}", 100, "") for m in (0, 2, 4, 6, 10)]  # spans exactly 10 minutes
    four = [("乙", "2.2.2.2", f"10:{m:02d}", 100, "") for m in (0, 1, 2, 3)]
    eleven = [("丙", "3.3.3.3", f"10:{m:02d}", 100, "") for m in (0, 2, 4, 6, 11)]
    f = flag_returns(returns(five + four + eleven), SETTINGS)
    assert f["burst"].tolist() == [True] * 5 + [False] * 4 + [False] * 5


def test_burst_windows_flag_every_member_and_need_one_client_and_community():
    rows = [("甲", "1.1.1.1", f"10:{m:02d}", 100, "") for m in (0, 2, 4, 6, 8, 12)]  # windows 0–8 and 2–12 both fit
    rows += [("乙", "1.1.1.1", "10:01", 100, ""), ("甲", "", "10:02", 100, "")]  # other community; no client
    f = flag_returns(returns(rows), SETTINGS)
    assert f["burst"].tolist() == [True] * 6 + [False, False]


def test_copied_text_needs_ten_characters_and_two_other_copies_in_the_community():
    c10 = "希望多安装路灯和监控！"  # 10 letters after dropping the ！
    c9 = "希望多安装路灯和监"
    rows = [("甲", "", "10:00", 100, c10), ("甲", "", "10:01", 100, "希望 多安装路灯和监控"), ("甲", "", "10:02", 100, c10),
            ("甲", "", "10:03", 100, c9), ("甲", "", "10:04", 100, c9), ("甲", "", "10:05", 100, c9),
            ("乙", "", "10:06", 100, "小区环境需要继续改善啊"), ("乙", "", "10:07", 100, "小区环境需要继续改善啊"),
            ("丙", "", "10:08", 100, "小区环境需要继续改善啊")]
    f = flag_returns(returns(rows), SETTINGS)
    assert f["copied_text"].tolist() == [True, True, True, False, False, False, False, False, False]


def test_several_flags_in_contract_order():
    rows = [("甲", "1.1.1.1", f"10:0{m}", 5, "一模一样的意见建议内容啊") for m in range(5)]
    f = flag_returns(returns(rows), SETTINGS)
    assert flags_text(f).tolist() == ["too_fast;burst;copied_text"] * 5
    assert flags_text(f, chinese=True).tolist()[0] == "用时过短、集中提交、意见雷同"


def test_comment_fingerprint():
    assert comment_fingerprint(" 好，很好！！ ＡＢ ") == "好很好AB"


def test_backcheck_size_and_determinism():
    n = 130
    week = pd.DataFrame({"community": ["甲"] * n, "key": [f"甲|1||{i}" for i in range(n)], "file": "s.csv",
                         "row": range(2, n + 2), "submitted_at": pd.Timestamp("2023-09-05 10:00")})
    flags = pd.DataFrame({"too_fast": [i < 3 for i in range(n)], "burst": False, "copied_text": False}, index=week.index)
    a = backcheck_rows(week, flags, "甲", "2023-W36")
    b = backcheck_rows(week, flags, "甲", "2023-W36")
    assert a["row"].tolist() == b["row"].tolist()
    assert len(a) == 3 + 7  # ceil(5% of 127) = 7
    assert a["row"].tolist()[:3] == [2, 3, 4] and a["flag_text"].tolist()[:3] == ["用时过短"] * 3
    few = backcheck_rows(week.head(4), flags.head(4), "甲", "2023-W36")
    assert len(few) == 4  # 3 flagged + the one other return (fewer than 5: all)
    assert backcheck_seed("甲", "2023-W36") == int(__import__("hashlib").sha256("甲|2023-W36".encode()).hexdigest()[:16], 16)


def test_a_window_that_does_not_fit_flags_nothing_of_its_own():
    rows = [("甲", "1.1.1.1", f"10:{m:02d}", 100, "") for m in (0, 2, 4, 6, 8, 13)]  # 2–13 spans 11 minutes
    f = flag_returns(returns(rows), SETTINGS)
    assert f["burst"].tolist() == [True] * 5 + [False]
