"""Reuse keys: a report is reused only when nothing that shapes it changed (canvass/run/store.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from canvass.run import store
from canvass.run.plan import (
    BatchOptions,
    choose_week,
    load_and_clean,
    plan_batch,
    prepared_location,
)

from .conftest import ROOT

TINY = ROOT / "tests" / "hostile" / "base"


def _task_keys(out: Path, **options) -> dict:
    opts = BatchOptions(data_dir=TINY, out_dir=out, **options)
    config, prepared = prepared_location(opts)
    _, cleaned = load_and_clean(opts)
    week, chosen = choose_week(opts, cleaned)
    plan = plan_batch(opts, config, cleaned, week, chosen, prepared)
    return {t["community"]: t["key"] for t in plan.tasks}


@pytest.fixture
def package_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the package that the fingerprints read instead of the real one."""
    copy = tmp_path / "pkg" / "canvass"
    shutil.copytree(ROOT / "canvass", copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(store, "_PACKAGE_DIR", copy)
    return copy


@pytest.mark.parametrize("shaping_file", ["report/static/report.css",
                                          "report/templates/canvass_report/index.html.j2"])
def test_a_template_or_stylesheet_change_changes_every_task_key(tmp_path, package_copy, shaping_file):
    before = _task_keys(tmp_path / "out")
    assert before and before == _task_keys(tmp_path / "out")  # stable while nothing changes
    cleaning = store.code_fingerprint()
    path = package_copy / shaping_file
    path.write_text(path.read_text(encoding="utf-8") + "\n/* changed */\n", encoding="utf-8")
    after = _task_keys(tmp_path / "out")
    assert set(after) == set(before)
    assert all(after[c] != before[c] for c in before), shaping_file
    assert store.code_fingerprint() == cleaning  # the cleaned-data cache is still valid


def test_version_and_rendering_libraries_are_in_the_output_fingerprint(package_copy, monkeypatch):
    import importlib.metadata

    base = store.output_fingerprint()
    monkeypatch.setattr(store, "__version__", "9.9.9")
    bumped = store.output_fingerprint()
    assert bumped != base
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "0.0.0-other" if name == "noto-cjk-sans-otc" else real(name))
    assert store.output_fingerprint() != bumped  # another font release redraws every chart


def test_a_notebook_change_changes_its_tasks_keys(tmp_path):
    before = _task_keys(tmp_path / "out")
    nb = tmp_path / "community_report.ipynb"
    shutil.copy(ROOT / "notebooks" / "community_report.ipynb", nb)
    assert _task_keys(tmp_path / "out", community_notebook=nb) == before  # same bytes, same keys
    nb.write_text(nb.read_text(encoding="utf-8").replace("社区名称", "社区名"), encoding="utf-8")
    after = _task_keys(tmp_path / "out", community_notebook=nb)
    assert all(after[c] != before[c] for c in before)
