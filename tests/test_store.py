"""The store (canvass/run/store.py): reuse keys (a report is reused only when nothing that shapes
it changed), checksummed cache entries published atomically, and the metrics history."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from canvass import cli
from canvass.errors import CacheRebuiltWarning
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


# --- damaged cache entries, history and reuse records ----------------------------------------------

WEEK = "2023-W37"


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:7])
    elif how == "byte flipped":  # same size: only the checksum can tell
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    elif how == "garbage":
        path.write_bytes(b"\x00\xff not what was written \x00")
    elif how == "removed":
        path.unlink()


def _batch(data: Path, out: Path, capsys, *extra: str) -> tuple[int, str]:
    code = cli.main(["--data", str(data), "--out", str(out), "--week", WEEK, "--jobs", "1", *extra])
    return code, capsys.readouterr().out


def _entry(out: Path) -> Path:
    (entry,) = [p for p in (out / "internal" / ".cache" / "prepared").iterdir()]
    return entry


def _statuses(out: Path) -> dict:
    manifest = json.loads((out / WEEK / "manifest.json").read_text(encoding="utf-8"))
    return {c: o["status"] for c, o in manifest["communities"].items()}


@pytest.fixture(scope="session")
def tiny_batch(tmp_path_factory, _inline_kernel):
    """Return (data folder, --out folder) of one in-process batch on the tiny fixture.

    Session scope: a module fixture is made again each time a worker comes back to this
    module after other tests (with --dist loadgroup a group's tests are handed out apart
    from the module's other tests).
    """
    from canvass.run import executors

    from .conftest import InlineExecutor

    root = tmp_path_factory.mktemp("tiny-batch")
    shutil.copytree(TINY, root / "data")
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setitem(executors.EXECUTORS, "local", InlineExecutor)
        code = cli.main(["--data", str(root / "data"), "--out", str(root / "out"), "--week", WEEK, "--jobs", "1"])
    assert code == 0
    return root / "data", root / "out"


@pytest.fixture
def batch_copy(tiny_batch, tmp_path, inline_workers) -> tuple[Path, Path]:
    """A private copy of ``tiny_batch``'s outputs, over the same data folder."""
    data, out = tiny_batch
    shutil.copytree(out, tmp_path / "out")
    return data, tmp_path / "out"


@pytest.mark.slow
@pytest.mark.xdist_group("inline-batch")
@pytest.mark.parametrize("file, how", [("c0001/rejects.parquet", "truncated"), ("c0001/rejects.parquet", "byte flipped"),
                                       ("c0000/visits.parquet", "removed"), ("meta.json", "garbage"),
                                       ("checksums.json", "truncated"), ("checksums.json", "removed")])
def test_a_damaged_cache_entry_is_rebuilt_and_the_run_goes_on(batch_copy, capsys, file, how):
    data, out = batch_copy
    entry = _entry(out)
    _damage(entry / file, how)
    code, shown = _batch(data, out, capsys)
    assert code == 0, shown
    warned = [ln for ln in shown.splitlines() if "缓存已损坏，已重建" in ln]
    assert len(warned) == 1 and str(entry) in warned[0], shown
    assert "内部错误" not in shown and "Traceback" not in shown
    assert _entry(out) == entry and store.entry_problem(entry) is None  # rebuilt whole, in place
    assert set(_statuses(out).values()) == {"reused"}  # the same slices: the reports stand
    assert not [p for p in entry.parent.iterdir() if p != entry], "a temp or damaged folder was left"


@pytest.mark.slow
@pytest.mark.xdist_group("inline-batch")
@pytest.mark.parametrize("manifest", [b"[]", b'{"communities": {"\xe6\xb5\xb7\xe6\xb8\xaf\xe7\xa4\xbe\xe5\x8c\xba": "ok"}}',
                                      b"\xff\xfe\x00garbage"],
                         ids=["a list", "an outcome not an object", "not utf-8"])
def test_a_damaged_previous_manifest_means_nothing_is_reused(batch_copy, capsys, manifest):
    data, out = batch_copy
    (out / WEEK / "manifest.json").write_bytes(manifest)
    code, shown = _batch(data, out, capsys)
    assert code == 0, shown
    assert "内部错误" not in shown
    assert [ln for ln in shown.splitlines() if "上次的记录已损坏" in ln], shown
    assert set(_statuses(out).values()) == {"ok"}


@pytest.mark.slow
@pytest.mark.xdist_group("inline-batch")
@pytest.mark.parametrize("output", ["{W}/communities/haigang-shequ.html", "internal/{W}/followup/haigang-shequ.xlsx",
                                    "internal/{W}/notebooks/haigang-shequ.ipynb"])
def test_a_damaged_report_is_rendered_again_not_reused(batch_copy, capsys, output):
    data, out = batch_copy
    path = out / output.format(W=WEEK)
    _damage(path, "truncated")
    code, shown = _batch(data, out, capsys)
    assert code == 0, shown
    assert _statuses(out) == {"海港社区": "ok", "修竹社区": "reused"}
    assert len(path.read_bytes()) > 7


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    """A data folder and an empty stand-alone notebook cache (canvass.config.CACHE_DIR)."""
    from canvass import config

    shutil.copytree(TINY, tmp_path / "data")
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    return tmp_path / "data"


@pytest.mark.parametrize("how", ["truncated", "byte flipped", "removed"])
def test_a_notebook_run_on_its_own_rebuilds_a_damaged_cache(own_cache, how):
    from canvass import notebook

    first = notebook.community_context("海港社区", WEEK, str(own_cache))
    entry = store.prepare(own_cache)
    _damage(entry / "c0000" / "visits.parquet", how)
    with pytest.warns(CacheRebuiltWarning, match="缓存已损坏，已重建"):
        again = notebook.community_context("海港社区", WEEK, str(own_cache))
    pd.testing.assert_series_equal(again.row, first.row)
    pd.testing.assert_frame_equal(again.trend, first.trend)
    assert store.entry_problem(entry) is None


@pytest.mark.parametrize("how", ["truncated", "byte flipped", "garbage", "removed"])
def test_a_damaged_metrics_history_is_computed_again(own_cache, tmp_path, how):
    from canvass import notebook

    first = notebook.community_context("海港社区", WEEK, str(own_cache))
    history = tmp_path / "metrics_history.parquet"
    store.save_history(store.load_history(_saved_history(own_cache, history)), history)
    _damage(history, how)
    with pytest.raises(Exception) as err:
        store.load_history(history)
    assert err.type.__name__ == "CacheError" and str(history) in str(err.value)
    with pytest.warns(CacheRebuiltWarning, match="指标历史已损坏"):
        again = notebook.community_context("海港社区", WEEK, str(own_cache), metrics_file=str(history))
    pd.testing.assert_series_equal(again.row, first.row)


def _saved_history(data: Path, path: Path) -> Path:
    from canvass.metrics import metrics_over_weeks

    cleaned = store.load_prepared(store.prepare(data))
    store.save_history(metrics_over_weeks(cleaned, WEEK, cleaned.config.targets, cleaned.config.overdue_days), path)
    return path


# --- publishing an entry while other processes prepare the same one --------------------------------

def _prepare_and_load(role: str, data: str, cache_root: str, sync: dict, results) -> None:
    """Child process: prepare the cache for ``data`` with a forced interleaving, then load all of it.

    Every process finds the cache cold; the winner publishes first and loads while the losers are
    stopped at the moment they put their own copy into place (after whatever they do before it).
    """
    import os as _os

    from canvass.run import store as st

    entry = Path(cache_root) / st.input_fingerprint(Path(data))
    real_clean = st.clean_folder

    def clean(*args, **kwargs):
        sync["cold"].wait(timeout=120)  # all four found no entry
        cleaned = real_clean(*args, **kwargs)
        if role != "winner":
            assert sync["published"].wait(timeout=120)
        return cleaned

    st.clean_folder = clean
    if role != "winner":
        paused = []

        def pausing(real):
            def rename(src, dst, *args, **kwargs):
                if Path(dst) == entry and not paused:
                    paused.append(True)
                    sync["losers_ready"].wait(timeout=120)  # with the winner: it loads now
                    assert sync["loaded"].wait(timeout=120)
                return real(src, dst, *args, **kwargs)
            return rename

        _os.rename, _os.replace = pausing(_os.rename), pausing(_os.replace)
    try:
        sync["start"].wait(timeout=120)
        folder = st.prepare(Path(data), cache_root=Path(cache_root))
        if role == "winner":
            sync["published"].set()
            sync["losers_ready"].wait(timeout=120)
        try:
            cleaned = st.load_prepared(folder)
            results.put((role, "ok", len(cleaned.households)))
        finally:
            if role == "winner":
                sync["loaded"].set()
    except BaseException as exc:
        results.put((role, f"{type(exc).__name__}: {exc}", None))
        for name in ("published", "loaded"):
            sync[name].set()


@pytest.mark.slow
def test_processes_preparing_one_cold_cache_all_load_it(tmp_path):
    ctx = mp.get_context("spawn")
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    cache_root = tmp_path / "cache"
    n = 4
    sync = {"start": ctx.Barrier(n), "cold": ctx.Barrier(n), "losers_ready": ctx.Barrier(n),
            "published": ctx.Event(), "loaded": ctx.Event()}
    results = ctx.Queue()
    roles = ["winner"] + [f"loser{i}" for i in range(1, n)]
    procs = [ctx.Process(target=_prepare_and_load, args=(r, str(data), str(cache_root), sync, results))
             for r in roles]
    for p in procs:
        p.start()
    got = {}
    try:
        for _ in roles:
            role, status, rows = results.get(timeout=300)
            got[role] = (status, rows)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    expected_rows = len(store.load_prepared(store.save_prepared(
        load_and_clean(BatchOptions(data_dir=data, out_dir=tmp_path / "x"), use_cache=False)[1],
        tmp_path / "reference")).households)
    assert got == {r: ("ok", expected_rows) for r in roles}
    (entry,) = cache_root.iterdir()  # one entry; every loser dropped its own copy
    assert store.entry_problem(entry) is None


def test_an_entry_published_over_a_damaged_one_replaces_it(tmp_path):
    cleaned = load_and_clean(BatchOptions(data_dir=TINY, out_dir=tmp_path / "x"), use_cache=False)[1]
    entry = store.save_prepared(cleaned, tmp_path / "cache" / "key")
    _damage(entry / "c0000" / "households.parquet", "truncated")
    with pytest.warns(CacheRebuiltWarning, match="households.parquet"):
        store.save_prepared(cleaned, entry)
    assert store.entry_problem(entry) is None
    assert [p.name for p in entry.parent.iterdir()] == ["key"]


def test_an_entry_that_cannot_be_put_in_place_is_an_output_error(tmp_path, monkeypatch):
    import errno

    from canvass.errors import OutputError

    cleaned = load_and_clean(BatchOptions(data_dir=TINY, out_dir=tmp_path / "x"), use_cache=False)[1]

    def rename(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OutputError, match="没有写入权限"):
        store.save_prepared(cleaned, tmp_path / "cache" / "key")
    monkeypatch.undo()
    assert list((tmp_path / "cache").iterdir()) == []  # its temp folder is gone too


def test_a_community_slice_can_be_read_table_by_table(tmp_path):
    # The follow-up workbook needs households and visits: a worker reads and checks those two
    # files only; the others are empty, and damage to one of them does not concern it.
    folder = store.prepare(TINY, cache_root=tmp_path / "prepared")
    whole = store.load_prepared(folder, "海港社区")
    two = store.load_prepared(folder, "海港社区", tables=("households", "visits"))
    pd.testing.assert_frame_equal(two.households, whole.households)
    pd.testing.assert_frame_equal(two.visits, whole.visits)
    assert len(whole.surveys) > 0 and len(two.surveys) == 0 and len(two.issues) == 0
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    i = meta["communities"].index("海港社区")
    (folder / f"c{i:04d}" / "surveys.parquet").write_bytes(b"broken")
    assert len(store.load_prepared(folder, "海港社区", tables=("households", "visits")).visits) == len(whole.visits)
    (folder / f"c{i:04d}" / "visits.parquet").write_bytes(b"broken")
    with pytest.raises(Exception, match="visits.parquet"):
        store.load_prepared(folder, "海港社区", tables=("households", "visits"))


def test_the_output_fingerprint_is_read_once_while_the_package_is_unchanged(package_copy, monkeypatch):
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    first = store.output_fingerprint()
    n = len(reads)
    assert n > 10  # the package's files were read
    assert store.output_fingerprint() == first and len(reads) == n  # asked again: nothing read
    css = package_copy / "report" / "static" / "report.css"
    css.write_text(css.read_text(encoding="utf-8") + "\n/* changed */\n", encoding="utf-8")
    assert store.output_fingerprint() != first and len(reads) > n


def test_one_tables_files_are_joined_as_pandas_would_join_them(tmp_path):
    # Communities' slices of one table may differ in type (a count with a gap is float in one,
    # int in another; a text column with no value at all): joined, they read as pandas'
    # concatenation of each file read alone.
    pd.DataFrame({"n": [1, 2], "who": ["张三", None], "day": pd.to_datetime(["2023-09-11", "2023-09-12"])}) \
        .to_parquet(tmp_path / "a.parquet", index=False)
    pd.DataFrame({"n": [3.5], "who": pd.Series([None], dtype=object), "day": pd.to_datetime(["2023-09-13"])}) \
        .to_parquet(tmp_path / "b.parquet", index=False)
    got = store._read_concat(tmp_path, ["a.parquet", "b.parquet"])
    assert got["n"].tolist() == [1.0, 2.0, 3.5]
    assert got["who"].tolist() == ["张三", "", ""]  # text: blanks are "" as _read gives them
    assert got["day"].tolist() == list(pd.to_datetime(["2023-09-11", "2023-09-12", "2023-09-13"]))
    assert store._read_concat(tmp_path, ["a.parquet"], ["who"]).columns.tolist() == ["who"]
    assert store._read_concat(tmp_path, []).empty


# --- prepared entries: one per state of the inputs, removed when unused for two weeks ------------

DAY = 86400


def _age(entry: Path, days: float) -> None:
    """Make ``entry`` look last used ``days`` ago (its checksums file is what a use touches)."""
    when = entry.stat().st_mtime - days * DAY
    os.utime(entry / store.CHECKSUMS, (when, when))


def _variant(tmp_path: Path, name: str, visit: str) -> Path:
    """A copy of the tiny data folder with one more visit row (another state of the inputs)."""
    data = tmp_path / name
    shutil.copytree(TINY, data)
    visits = data / "visits" / "走访记录.csv"
    visits.write_bytes(visits.read_bytes() + visit.encode("utf-8") + b"\n")
    return data


def test_prepared_entries_unused_for_two_weeks_are_removed_and_used_ones_kept(tmp_path):
    cache = tmp_path / "cache" / "prepared"
    old = store.prepare(_variant(tmp_path, "a", "2023-09-13,海港社区,1,1,102,已入户,1,姚凯"), cache_root=cache)
    recent = store.prepare(_variant(tmp_path, "b", "2023-09-14,海港社区,1,1,102,已入户,1,姚凯"), cache_root=cache)
    reused = store.prepare(_variant(tmp_path, "c", "2023-09-15,海港社区,1,1,102,已入户,1,姚凯"), cache_root=cache)
    _age(old, 15)
    _age(recent, 13)
    _age(reused, 20)
    assert store.load_cached(reused) is not None  # a use: touched, so kept however old it was
    store.prepare(_variant(tmp_path, "d", "2023-09-16,海港社区,1,1,102,已入户,1,姚凯"), cache_root=cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted([recent.name, reused.name, store.input_fingerprint(tmp_path / "d")])
    assert not old.exists()


def test_the_batch_removes_prepared_entries_of_inputs_unused_for_two_weeks(tmp_path, inline_workers, capsys):
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(TINY, data)
    assert cli.main(["--data", str(data), "--out", str(out), "--week", WEEK]) == 0, capsys.readouterr()
    cache = out / "internal" / ".cache" / "prepared"
    (first,) = cache.iterdir()
    _age(first, 15)
    visits = data / "visits" / "走访记录.csv"
    visits.write_bytes(visits.read_bytes() + "2023-09-13,海港社区,1,1,102,已入户,1,姚凯\n".encode("utf-8"))
    assert cli.main(["--data", str(data), "--out", str(out), "--week", WEEK]) == 0, capsys.readouterr()
    (second,) = cache.iterdir()
    assert second.name != first.name
    _age(second, 30)  # the entry of this run's inputs is kept, however long ago it was made
    assert cli.main(["--data", str(data), "--out", str(out), "--week", WEEK, "--force"]) == 0, capsys.readouterr()
    assert [p.name for p in cache.iterdir()] == [second.name]


def test_a_notebook_whose_batch_cache_entry_is_gone_cleans_the_data_folder(own_cache, tmp_path):
    from canvass import notebook

    first = notebook.community_context("海港社区", WEEK, str(own_cache))
    history = _saved_history(own_cache, tmp_path / "metrics_history.parquet")
    with pytest.warns(CacheRebuiltWarning, match="批处理的已清洗数据已不在"):
        again = notebook.community_context("海港社区", WEEK, str(own_cache), prepared_dir=str(tmp_path / "gone"),
                                           metrics_file=str(history))
    pd.testing.assert_series_equal(again.row, first.row)
    pd.testing.assert_frame_equal(again.trend, first.trend)
