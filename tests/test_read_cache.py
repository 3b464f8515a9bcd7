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
from canvass.ingest.read_cache import KEEP_DAYS, PAYLOAD, ReadCache
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
    second = ReadCache(tmp_path / "read")
    assert_same(plain, clean(varied, config, second))  # every file from the cache
    assert (second.hits, second.misses) == (7, 0)


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
    assert (cache.hits, cache.misses) == (3, 1)
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


def test_entries_appear_only_with_the_prepared_slices(base, tmp_path):
    config = load_config(base)
    root = tmp_path / "read"
    cleaned = clean_folder(base, config, ReadCache(root))
    assert [p for p in root.iterdir() if not p.name.startswith(".")] == []  # built, not yet published
    store.save_prepared(cleaned, tmp_path / "prepared" / "k")
    assert len([p for p in root.iterdir() if p.is_dir() and store.entry_problem(p) is None]) == 4
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temp folder left
