"""The batch process keeps its libraries out of the garbage collector's full collections."""

from __future__ import annotations

import gc

import pytest

from canvass import memory
from canvass.errors import InputError
from canvass.run.batch import run_batch
from canvass.run.plan import BatchOptions


@pytest.fixture
def unfrozen(monkeypatch):
    """Start from a process in which nothing is frozen (another test may have run a batch)."""
    gc.unfreeze()
    monkeypatch.setattr(memory, "_frozen", False)
    yield
    gc.unfreeze()  # what the test froze is collected as usual again


def test_freeze_imports_freezes_what_exists_once(unfrozen, monkeypatch):
    calls = []
    real = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1) or real())
    assert gc.get_freeze_count() == 0
    memory.freeze_imports()
    frozen = gc.get_freeze_count()
    assert frozen > 10_000 and len(calls) == 1  # pandas, pyarrow and the package are imported here
    later = [[i] for i in range(1000)]  # made after the freeze: still the collector's
    memory.freeze_imports()
    # The second call freezes nothing. (The count itself may drop: a frozen object freed by
    # another thread of the test process leaves the permanent generation.)
    assert len(calls) == 1 and gc.get_freeze_count() <= frozen
    assert gc.is_tracked(later[0])


def test_a_batch_freezes_before_it_reads_anything(unfrozen, tmp_path):
    with pytest.raises(InputError):  # no data folder: the run ends at its first check
        run_batch(BatchOptions(data_dir=tmp_path / "missing", out_dir=tmp_path / "out", week="2023-W37"))
    assert memory._frozen and gc.get_freeze_count() > 10_000
