"""A cache of the per-file part of reading, so a re-run reads and parses only the files that changed.

``reading.read_kind`` turns each file into (rows of normalised cells, column map, file record,
headers, raw body); that depends only on the file's bytes, its kind and path, the few settings
the reader takes from ``subdistrict.yml`` (``aliases``, ``columns``, ``ignore_columns``), the
sheet limits and the code. An entry keyed by all of them holds that result pickled, so a hit
gives exactly what reading the file again would. What runs across files (the community of each
row, stacking, the cleaners) is not cached: it runs on the combined result as without the cache.

Entries are written and checked like the prepared slices (``run/store.build_entry`` and
``publish_entry``: temp folder, ``checksums.json``, rename; the loser of a race keeps the
winner's). A run's new entries are built as it reads and published with its prepared slices
(``store.save_prepared``): a run that fails before (a bad file, a bad week) leaves none, and
what it built is removed (``discard``, or when the cache object goes). The checksum is verified
before unpickling, so a damaged entry is never loaded: it is discarded with a
``CacheRebuiltWarning`` and the file read again. The pickles are only ever written by this
module, under ``OUT/internal`` (personal data: raw cells), and read back by the same code
(the key holds the code and the library versions).

Bound: every hit touches its entry; entries not used for ``KEEP_DAYS`` are removed once per
clean. A weekly campaign keeps this and last week's files, and a superseded version of a file
goes two weeks after it was last read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import platform
import shutil
import weakref
from pathlib import Path

from canvass.config import Config

KEEP_DAYS = 14  # an entry not used for this long is removed (see the module's docstring)
PAYLOAD = "read.pkl"
KINDS_FOLDER = "clean"  # the cleaned kinds' entries, beside ``read``
_FORMAT = "read-cache-1"


def _library_versions() -> str:
    """The versions that decide what a pickle of frames means when it is read back."""
    import numpy
    import pandas
    import pyarrow

    return f"py{platform.python_version()} np{numpy.__version__} pd{pandas.__version__} pa{pyarrow.__version__}"


class ReadCache:
    """Per-file read results under ``root`` (``OUT/internal/.cache/read``).

    ``reuse=False`` (``--force``) reads every file again but still writes its entry, so the
    next ordinary run finds them; ``write=False`` (``--check``) only looks entries up.
    ``hits``/``misses`` count this run's look-ups.
    """

    def __init__(self, root: Path, reuse: bool = True, write: bool = True, _base: str | None = None):
        from canvass.ingest.readers import max_sheet_bytes, max_sheet_cells
        from canvass.run.store import code_fingerprint

        self.root = Path(root)
        self.reuse, self.write = reuse, write
        self.hits = self.misses = 0
        self._swept = False
        self._staged: list = []  # (built temp folder, entry folder), published by publish()
        # A run that ends without publishing (it failed after reading) leaves nothing behind.
        weakref.finalize(self, _remove_all, self._staged)
        # Same for every file of a run: the code, the pickle's libraries and the sheet limits
        # (a cached file skips the reader, so it must not skip a lower limit's refusal).
        self._base = _base or "\n".join((_FORMAT, code_fingerprint(), _library_versions(),
                                         str(max_sheet_bytes()), str(max_sheet_cells())))
        # The cleaned kinds (``clean.py``): beside the files' entries, same rules and life.
        self.kinds = None if _base else ReadCache(self.root.with_name(KINDS_FOLDER), reuse, write, self._base)

    def key(self, kind: str, rel: str, sha256: str, config: Config) -> str:
        """Return the entry name of one file: its bytes' sha256, kind, path and the reader's settings."""
        h = hashlib.sha256(self._base.encode())
        settings = {"aliases": config.aliases, "columns": config.columns, "ignore_columns": config.ignore_columns}
        h.update(json.dumps([kind, rel, sha256, settings], sort_keys=True, ensure_ascii=False, default=str).encode())
        return h.hexdigest()[:32]

    def kind_key(self, kind: str, config: Config, upstream: list, own: list) -> str:
        """Return the entry name of one cleaned kind (in ``self.kinds``): the whole configuration,
        the file keys of the kinds it depends on (``upstream``) and its own files' keys, in order.

        What a kind's cleaning reads is exactly that: its files' read results (each named by its
        key: bytes, path, reader settings), the settings, and what the registry gives the
        others (the communities in display order, the household keys).
        """
        import dataclasses

        h = hashlib.sha256(self._base.encode())
        h.update(b"kind-clean-1")
        h.update(json.dumps([kind, dataclasses.asdict(config), list(upstream), list(own)],
                            sort_keys=True, ensure_ascii=False, default=str).encode())
        return h.hexdigest()[:32]

    def touch(self, keys) -> None:
        """Mark the entries of ``keys`` as in use (a cleaned kind reused its files without reading them)."""
        if not self.write:
            return
        for key in keys:
            with contextlib.suppress(OSError):
                os.utime(self.root / key / PAYLOAD)

    def get(self, key: str):
        """Return the cached read result of ``key``, or None (missing, ``--force``, or damaged: discarded)."""
        from canvass.run.store import discard_damaged, entry_problem

        folder = self.root / key
        if not self.reuse or not folder.is_dir():
            self.misses += 1
            return None
        problem = entry_problem(folder, [PAYLOAD])
        if problem is None:
            try:
                with open(folder / PAYLOAD, "rb") as fh:
                    result = pickle.load(fh)
                # Touch: the entry is in use (see prune).
                with contextlib.suppress(OSError):
                    os.utime(folder / PAYLOAD)
                self.hits += 1
                return result
            except FileNotFoundError:  # removed by another process since it was checked: a miss
                pass
            except Exception as exc:  # intact bytes that do not unpickle (should not happen)
                problem = f"{PAYLOAD} 无法读取：{type(exc).__name__}"
        if problem is not None and folder.is_dir():
            discard_damaged(folder, problem)
        self.misses += 1
        return None

    def put(self, key: str, result) -> None:
        """Build the entry of ``key`` (before anything downstream changes ``result`` in place);
        it is published by ``publish``."""
        from canvass.run.store import _remove_abandoned, build_entry

        if not self.write:
            return
        if not self._swept:  # temp folders of killed processes: once per run, not per file
            self.root.mkdir(parents=True, exist_ok=True)
            _remove_abandoned(self.root)
            self._swept = True
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = build_entry(self.root / key, lambda tmp: (tmp / PAYLOAD).write_bytes(data), sweep=False)
        self._staged.append((tmp, self.root / key))

    def publish(self) -> int:
        """Rename the entries built by this run into place; return how many."""
        from canvass.run.store import publish_entry

        n = self.kinds.publish() if self.kinds is not None else 0
        while self._staged:
            tmp, folder = self._staged.pop(0)
            publish_entry(tmp, folder)
            n += 1
        return n

    def discard(self) -> None:
        """Remove the entries built by this run and not published."""
        _remove_all(self._staged)
        if self.kinds is not None:
            self.kinds.discard()

    def prune(self, now: float | None = None) -> int:
        """Remove entries not used for ``KEEP_DAYS``; return how many. Never fails the run."""
        from canvass.run.store import prune_unused

        removed = self.kinds.prune(now) if self.kinds is not None else 0
        if not self.write:
            return removed
        return removed + prune_unused(self.root, PAYLOAD, KEEP_DAYS, now)


def _remove_all(staged: list) -> None:
    while staged:
        shutil.rmtree(staged.pop()[0], ignore_errors=True)
