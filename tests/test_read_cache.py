"""The read cache (canvass/ingest/read_cache.py): a re-run reads and parses only the files that
changed, and what it gives is exactly what reading every file again gives."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from canvass.config import load_config
from canvass.errors import CacheRebuiltWarning, InputError
from canvass.ingest import reading
from canvass.ingest.clean import clean_folder
from canvass.ingest.read_cache import KEEP_DAYS, KINDS_FOLDER, PAYLOAD, ReadCache
from canvass.run import store
from canvass.run.plan import BatchOptions, read_cache_for

from .conftest import ROOT

BASE = ROOT / "tests" / "hostile" / "base"  # 4 files: one per required kind
TABLES = ("households", "visits", "surveys", "issues", "rejects", "activities", "shops")


@pytest.fixture
def base(tmp_path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(BASE, data)
    return data


@pytest.fixture
def varied(base) -> Path:
    """The base plus what reading keeps more of: an .xlsx file, rows that are rejected (their raw
    cells), and a survey with two satisfaction-like columns settled by their answers (candidates)."""
    shutil.copy(ROOT / "tests" / "hostile" / "visits_row_faults.csv", base / "visits")
    (base / "surveys" / "两列满意.csv").write_text(
        "提交时间,社区,住址,满意度,您对社区工作满意吗,意见建议\n"
        "2023-09-12 19:00,海港社区,1-1-102,满意,说不好,无\n"
        "2023-09-13 10:00,海港社区,1-1-101,不满意,看情况,NULL\n", encoding="utf-8")
    issues = pd.read_csv(base / "issues" / "问题清单.csv", dtype=str, keep_default_na=False)
    issues.to_excel(base / "issues" / "问题清单二.xlsx", index=False)
    return base


@pytest.fixture
def reads(monkeypatch) -> list:
    """The files the per-file reader actually opened and parsed, in order."""
    opened: list = []
    real = reading._read_cells

    def counting(path, rel, spec, config):
        opened.append(rel)
        return real(path, rel, spec, config)

    monkeypatch.setattr(reading, "_read_cells", counting)
    return opened


def clean(data: Path, config, cache: ReadCache):
    """clean_folder with the cache, then publish its new entries (a run does it with save_prepared)."""
    cleaned = clean_folder(data, config, cache)
    cache.publish()
    return cleaned


def assert_same(a, b) -> None:
    for t in TABLES:
        x, y = getattr(a, t), getattr(b, t)
        if x is None or y is None:
            assert x is None and y is None, t
            continue
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=t)
    assert a.files == b.files
    assert a.communities == b.communities


def test_a_cached_clean_equals_an_uncached_one(varied, tmp_path):
    config = load_config(varied)
    plain = clean_folder(varied, config)
    assert len(plain.rejects) == 11  # 7 row faults + 1 duplicate return + 3 duplicate issue rows (the .xlsx copy)
    assert [n["header"] for f in plain.files for n in f.notes] == ["您对社区工作满意吗"]
    first = ReadCache(tmp_path / "read")
    assert_same(plain, clean(varied, config, first))  # every file read, entries written
    assert (first.hits, first.misses) == (0, 7)
    assert (first.kinds.hits, first.kinds.misses) == (0, 4)  # no activities/ or shops/ folder
    second = ReadCache(tmp_path / "read")
    assert_same(plain, clean(varied, config, second))  # every kind from the cache, no file read
    assert (second.hits, second.misses) == (0, 0) and (second.kinds.hits, second.kinds.misses) == (4, 0)
    shutil.rmtree(tmp_path / KINDS_FOLDER)
    third = ReadCache(tmp_path / "read")
    assert_same(plain, clean(varied, config, third))  # every file from the cache, every kind cleaned
    assert (third.hits, third.misses) == (7, 0) and (third.kinds.hits, third.kinds.misses) == (0, 4)


def test_only_the_changed_file_is_read_again(base, tmp_path, reads):
    config = load_config(base)
    clean(base, config, ReadCache(tmp_path / "read"))
    assert len(reads) == 4
    reads.clear()
    with (base / "visits" / "走访记录.csv").open("a", encoding="utf-8") as fh:
        fh.write("2023-09-14,海港社区,1,1,102,已入户,1,姚凯\n")
    cache = ReadCache(tmp_path / "read")
    after = clean(base, config, cache)
    assert reads == ["visits/走访记录.csv"]
    # The other kinds are taken whole (their files not even looked up); the visits' one file is read.
    assert (cache.hits, cache.misses) == (0, 1) and (cache.kinds.hits, cache.kinds.misses) == (3, 1)
    assert_same(clean_folder(base, config), after)
    # The base's visits file has 4 data rows (5 lines with the header): the new one is read.
    assert {f.file: f.data_rows for f in after.files}["visits/走访记录.csv"] == 5
    new = after.visits[after.visits["date"] == pd.Timestamp("2023-09-14")]
    assert len(after.visits) == 5 and list(new["key"]) == ["海港社区|1|1|102"] and list(new["outcome"]) == ["entered"]


def test_a_damaged_entry_is_rebuilt_with_one_warning(base, tmp_path, reads):
    config = load_config(base)
    root = tmp_path / "read"
    first = clean(base, config, ReadCache(root))
    entries = sorted(p for p in root.iterdir() if p.is_dir())
    assert len(entries) == 4
    damaged = entries[0]
    data = bytearray((damaged / PAYLOAD).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (damaged / PAYLOAD).write_bytes(bytes(data))
    shutil.rmtree(tmp_path / KINDS_FOLDER)  # so that every kind is cleaned from its files' entries
    reads.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cleaned = clean(base, config, ReadCache(root))
    rebuilt = [w for w in caught if issubclass(w.category, CacheRebuiltWarning)]
    assert len(rebuilt) == 1 and "\n" not in str(rebuilt[0].message)
    assert "校验和不符" in str(rebuilt[0].message)
    assert len(reads) == 1  # only the damaged one read again
    assert store.entry_problem(damaged) is None  # written anew
    assert_same(first, cleaned)


def test_force_reads_every_file_again(base, tmp_path, reads):
    options = BatchOptions(data_dir=base, out_dir=tmp_path / "out")
    config = load_config(base)
    clean(base, config, read_cache_for(options))
    assert (tmp_path / "out" / "internal" / ".cache" / "read").is_dir()
    reads.clear()
    clean(base, config, read_cache_for(options))
    assert reads == []  # all from the cache
    forced = BatchOptions(data_dir=base, out_dir=tmp_path / "out", force=True)
    clean(base, config, read_cache_for(forced))
    assert len(reads) == 4


def test_the_reader_settings_are_part_of_the_key(base, tmp_path):
    from dataclasses import replace

    config = load_config(base)
    cache = ReadCache(tmp_path / "read")
    key = cache.key("visits", "visits/a.csv", "0" * 64, config)
    assert key == cache.key("visits", "visits/a.csv", "0" * 64, config)
    assert key != cache.key("visits", "visits/a.csv", "1" * 64, config)  # the bytes
    assert key != cache.key("surveys", "visits/a.csv", "0" * 64, config)  # the kind
    assert key != cache.key("visits", "visits/b.csv", "0" * 64, config)  # the path (rows carry it)
    assert key != cache.key("visits", "visits/a.csv", "0" * 64,
                            replace(config, aliases={"outcome": ("结果说明",)}))
    assert key != cache.key("visits", "visits/a.csv", "0" * 64, replace(config, ignore_columns=("备注",)))


def test_entries_unused_for_two_weeks_are_removed(base, tmp_path):
    config = load_config(base)
    root = tmp_path / "read"
    clean(base, config, ReadCache(root))
    old = root / ("f" * 32)  # an entry of a file version no longer in the folder
    shutil.copytree(next(p for p in root.iterdir() if p.is_dir()), old)
    stale = time.time() - (KEEP_DAYS + 1) * 86400
    for entry in root.iterdir():
        os.utime(entry / PAYLOAD, (stale, stale))
    clean(base, config, ReadCache(root))  # uses (touches) the four current entries
    left = sorted(p.name for p in root.iterdir())
    assert len(left) == 4 and old.name not in left


def test_a_file_changed_while_read_is_refused_on_a_cache_hit(base, tmp_path, monkeypatch):
    config = load_config(base)
    clean(base, config, ReadCache(tmp_path / "read"))
    stamps = iter(range(1000))
    monkeypatch.setattr(reading, "_stamp", lambda path, rel: next(stamps))  # every look differs
    with pytest.raises(InputError, match="读取过程中被修改"):
        clean(base, config, ReadCache(tmp_path / "read"))


def test_a_failed_run_leaves_no_entry(base, tmp_path):
    shutil.copy(ROOT / "tests" / "hostile" / "binary_garbage.csv", base / "visits" / "走访记录z.csv")
    config = load_config(base)
    root = tmp_path / "read"
    with pytest.raises(InputError):
        clean_folder(base, config, ReadCache(root))  # households/ and the first visits file were read before it
    assert [p for p in root.rglob("*") if p.is_file()] == []
    assert [p for p in (tmp_path / KINDS_FOLDER).rglob("*") if p.is_file()] == []  # nor a cleaned kind


def test_entries_appear_only_with_the_prepared_slices(base, tmp_path):
    config = load_config(base)
    root = tmp_path / "read"
    cleaned = clean_folder(base, config, ReadCache(root))
    kinds_root = tmp_path / KINDS_FOLDER
    assert [p for p in root.iterdir() if not p.name.startswith(".")] == []  # built, not yet published
    assert [p for p in kinds_root.iterdir() if not p.name.startswith(".")] == []
    store.save_prepared(cleaned, tmp_path / "prepared" / "k")
    assert len([p for p in root.iterdir() if p.is_dir() and store.entry_problem(p) is None]) == 4
    assert len([p for p in kinds_root.iterdir() if p.is_dir() and store.entry_problem(p) is None]) == 4
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temp folder left


# --- whole cleaned kinds (ReadCache.kinds, clean._KindMemo) ------------------------------------


def test_a_registry_change_cleans_every_kind_again(base, tmp_path, reads):
    """The registry gives every kind its communities and household keys: when it changes, no
    kind is reused (a visit of a household no longer registered becomes a reject)."""
    config = load_config(base)
    before = clean(base, config, ReadCache(tmp_path / "read"))
    registry = base / "households" / "住户台账.csv"
    registry.write_text("".join(l for l in registry.read_text(encoding="utf-8").splitlines(True)
                                if ",1,1,102," not in l), encoding="utf-8")
    reads.clear()
    cache = ReadCache(tmp_path / "read")
    after = clean(base, config, cache)
    assert reads == ["households/住户台账.csv"]  # the other files from their entries
    assert (cache.kinds.hits, cache.kinds.misses) == (0, 4)
    assert_same(clean_folder(base, config), after)
    # The 2023-09-12 visit of 1-1-102 was kept before and is rejected now.
    assert len(before.visits) == 4 and len(after.visits) == 3
    assert list(after.rejects.loc[after.rejects["file"] == "visits/走访记录.csv", "row"]) == [4]


def test_a_settings_change_cleans_every_kind_again(base, tmp_path, reads):
    config = load_config(base)
    clean(base, config, ReadCache(tmp_path / "read"))
    yml = base / "subdistrict.yml"
    yml.write_text(yml.read_text(encoding="utf-8").replace("[海港社区, 修竹社区]", "[修竹社区, 海港社区]"),
                   encoding="utf-8")
    config = load_config(base)
    reads.clear()
    cache = ReadCache(tmp_path / "read")
    after = clean(base, config, cache)
    assert reads == []  # every file from its entry
    assert (cache.kinds.hits, cache.kinds.misses) == (0, 4)
    assert after.communities == ["修竹社区", "海港社区"]
    assert_same(clean_folder(base, config), after)


def test_the_kind_key_holds_settings_registry_and_files(base, tmp_path):
    from dataclasses import replace

    config = load_config(base)
    cache = ReadCache(tmp_path / "read")
    key = cache.kind_key("visits", config, ["h1"], ["v1", "v2"])
    assert key == cache.kind_key("visits", config, ["h1"], ["v1", "v2"])
    assert key != cache.kind_key("surveys", config, ["h1"], ["v1", "v2"])  # the kind
    assert key != cache.kind_key("visits", config, ["h2"], ["v1", "v2"])  # the registry's files
    assert key != cache.kind_key("visits", config, ["h1"], ["v1"])  # a file gone
    assert key != cache.kind_key("visits", config, ["h1"], ["v2", "v1"])  # file order (tie-breaks)
    assert key != cache.kind_key("visits", replace(config, overdue_days=8), ["h1"], ["v1", "v2"])  # any setting


def test_an_optional_folder_removed_is_not_taken_from_the_cache(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "sample", data, ignore=shutil.ignore_patterns("*.py", "*.md"))
    config = load_config(data)
    first = clean(data, config, ReadCache(tmp_path / "read"))
    assert first.shops is not None and len(first.shops) > 0
    shutil.rmtree(data / "shops")
    cache = ReadCache(tmp_path / "read")
    after = clean(data, config, cache)
    assert after.shops is None and not any(f.kind == "shops" for f in after.files)
    assert (cache.kinds.hits, cache.kinds.misses) == (5, 0)  # households … activities
    assert_same(clean_folder(data, config), after)


def test_a_damaged_kind_entry_is_rebuilt_with_one_warning(base, tmp_path, reads):
    config = load_config(base)
    first = clean(base, config, ReadCache(tmp_path / "read"))
    entries = sorted(p for p in (tmp_path / KINDS_FOLDER).iterdir() if p.is_dir())
    assert len(entries) == 4
    for entry in entries[:1]:
        data = bytearray((entry / PAYLOAD).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (entry / PAYLOAD).write_bytes(bytes(data))
    reads.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = ReadCache(tmp_path / "read")
        cleaned = clean(base, config, cache)
    rebuilt = [w for w in caught if issubclass(w.category, CacheRebuiltWarning)]
    assert len(rebuilt) == 1 and "校验和不符" in str(rebuilt[0].message)
    assert reads == [] and (cache.kinds.hits, cache.kinds.misses) == (3, 1)  # its files from their entries
    assert store.entry_problem(entries[0]) is None  # written anew
    assert_same(first, cleaned)


def test_force_and_check_runs_do_not_reuse_or_write_kinds(base, tmp_path, reads):
    config = load_config(base)
    clean(base, config, ReadCache(tmp_path / "read"))
    kinds_root = tmp_path / KINDS_FOLDER
    stamps = {p.name: (p / PAYLOAD).stat().st_mtime_ns for p in kinds_root.iterdir() if p.is_dir()}
    forced = ReadCache(tmp_path / "read", reuse=False)
    clean(base, config, forced)
    assert (forced.kinds.hits, forced.kinds.misses) == (0, 4) and len(reads) == 8  # every file read again
    checking = ReadCache(tmp_path / "read", write=False)
    clean_folder(base, config, checking)
    assert checking.kinds.hits == 4
    assert sorted(p.name for p in kinds_root.iterdir() if p.is_dir()) == sorted(stamps)


def test_a_run_failing_after_a_kind_was_cleaned_leaves_no_entry(base, tmp_path):
    # The registry is cleaned (and its entry built) before the issues file turns out to name no community.
    (base / "issues" / "无名.csv").write_text("登记日期,问题类别,问题描述,办理状态\n2023-09-05,车辆乱停,消防通道被占,办理中\n",
                                           encoding="utf-8")
    config = load_config(base)
    with pytest.raises(InputError, match="属于哪个社区"):
        clean_folder(base, config, ReadCache(tmp_path / "read"))
    assert [p for p in tmp_path.rglob("*") if p.is_file() and "data" not in p.relative_to(tmp_path).parts] == []
