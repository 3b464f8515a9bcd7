"""The calls report notebooks make: load data for one community or the digest, show fragments.

A notebook gets its data either from the batch (``prepared_dir``: slices cleaned once per
batch; ``metrics_file``: the metrics history computed once per batch) or, run on its own,
from ``data_dir`` through the on-demand cache, computing the history with the same function.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from canvass.config import SAMPLE_DATA, resolve_project_path
from canvass.errors import CacheError, CacheRebuiltWarning, ParameterError
from canvass.metrics import latest_week, metrics_over_weeks
from canvass.report import views
from canvass.run.store import (
    DIGEST_COLUMNS,
    METRICS_COLUMNS,
    load_history,
    load_prepared,
    prepare,
)


def show(fragment: str) -> None:
    """Display an HTML fragment as the cell's output (nothing for an empty one: a section that
    does not apply, such as the links without a batch run, leaves no empty output behind)."""
    from IPython.display import HTML, display

    if fragment and fragment.strip():
        display(HTML(fragment))


def is_sample(data_dir: str | Path) -> bool:
    """Return True when ``data_dir`` is the bundled sample (reports then carry a banner)."""
    try:
        return resolve_project_path(data_dir).resolve() == SAMPLE_DATA.resolve()
    except OSError:
        return False


def _prepared(data_dir, prepared_dir, config_file=None, metrics_file=None) -> tuple[Path, str | None]:
    """Return (the prepared slices, the metrics history file to read or None to compute it)."""
    if prepared_dir:
        if (Path(prepared_dir) / "meta.json").is_file():
            return Path(prepared_dir), metrics_file
        # An executed notebook run again after the batch's cache entry was pruned (unused for
        # 14 days) or the output folder moved: clean the data folder as a notebook on its own
        # does, and compute the history from that too (the batch's may be of other inputs).
        warnings.warn(CacheRebuiltWarning(f"批处理的已清洗数据已不在，改为按数据文件夹重新清洗：{prepared_dir}"),
                      stacklevel=3)
        metrics_file = None
    cfg = resolve_project_path(config_file) if config_file else None
    return prepare(resolve_project_path(data_dir), cfg), metrics_file


def _targets(cleaned, overrides: dict) -> dict:
    targets = dict(cleaned.config.targets)
    for k, v in overrides.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ParameterError(f"目标 target_{k} 的值 {v!r} 无效", expected="0 到 1 之间的小数")
        targets[k] = float(v)
    return targets


def _week(week, prepared: Path) -> str:
    from canvass.weeks import parse_week
    if week:
        return parse_week(week)
    found = latest_week(load_prepared(prepared, columns={"households": ["community", "key"], "visits": ["date", "community"],
                                                         "surveys": ["date", "community"], "issues": ["raised", "community"],
                                                         "rejects": ["community"]}))
    if found is None:
        raise ParameterError("数据中没有任何走访或问卷记录，无法确定报告周", expected="用 week 参数指定，如 2023-W36")
    return found


def _history(prepared: Path, week: str, targets: dict, overdue_days: int | None, metrics_file: str | None):
    """Return the metrics history: the batch's file, or computed here exactly as the batch does.

    Computing it needs more columns than the digest shows (flags read durations, clients and
    comments; visits by role read the role), so it loads its own copy of every community.
    """
    if metrics_file:
        try:
            return load_history(metrics_file)
        except CacheError as exc:  # computed below from the same data, as the batch computes it
            warnings.warn(CacheRebuiltWarning(f"指标历史已损坏，已按数据重新计算：{exc.file}"), stacklevel=2)
    return metrics_over_weeks(load_prepared(prepared, columns=METRICS_COLUMNS), week, targets, overdue_days)


def community_context(community: str, week: str | None, data_dir: str, prepared_dir: str | None = None,
                      targets: dict | None = None, overdue_days: int | None = None,
                      config_file: str | None = None, metrics_file: str | None = None) -> views.CommunityView:
    """Return the view one community report shows."""
    community = str(community).strip()  # " 海港社区" typed or pasted with a space
    prepared, metrics_file = _prepared(data_dir, prepared_dir, config_file, metrics_file)
    w = _week(week, prepared)
    cleaned = load_prepared(prepared, community)
    resolved = _targets(cleaned, targets or {})
    history = _history(prepared, w, resolved, overdue_days, metrics_file)
    return views.community_view(cleaned, community, w, resolved, history, overdue_days,
                                 sample_data=is_sample(data_dir))


def digest_context(week: str | None, data_dir: str, prepared_dir: str | None = None,
                   targets: dict | None = None, overdue_days: int | None = None,
                   run_file: str | None = None, config_file: str | None = None,
                   metrics_file: str | None = None) -> views.DigestView:
    """Return the view the sub-district digest shows (with the batch's outcomes when given)."""
    prepared, metrics_file = _prepared(data_dir, prepared_dir, config_file, metrics_file)
    w = _week(week, prepared)
    cleaned = load_prepared(prepared, columns=DIGEST_COLUMNS)
    resolved = _targets(cleaned, targets or {})
    history = _history(prepared, w, resolved, overdue_days, metrics_file)
    outcomes, links, up = {}, {}, None
    if run_file:
        run = json.loads(Path(run_file).read_text(encoding="utf-8"))
        outcomes, links, up = run.get("outcomes", {}), run.get("links", {}), run.get("district_href")
    return views.digest_view(cleaned, w, resolved, history, overdue_days,
                              outcomes=outcomes, links=links, sample_data=is_sample(data_dir), district_href=up)


def reset_state() -> None:
    """Forget per-run state in a reused kernel: pyplot figures and matplotlib settings."""
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    import matplotlib

    matplotlib.rcdefaults()
    from canvass.memory import release_memory
    from canvass.report import charts

    charts._ready = False
    release_memory()  # a kernel that rendered the digest gives its memory back
