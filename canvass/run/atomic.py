"""Crash-safe output: atomic file writes and a lock per output folder.

Every output is written to a temporary file in the same folder and renamed into place
(``os.replace`` is atomic on POSIX and Windows), so a batch killed at any moment never
leaves a half-written file over a good one. The lock uses ``filelock`` (no fcntl, works
on Windows) and records the holder's pid. The OS frees the lock of a process that died, so
a stale pid file never blocks; while the lock is really held, ``wait`` seconds are the limit.

Every write goes through ``_replace`` and turns an ``OSError`` (disk full, no permission, a
read-only folder) into ``OutputError`` naming the file: the temp file is removed and the
previous version of the output is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from filelock import FileLock, Timeout

from canvass.errors import LockError, OutputError

LOCK_NAME = ".canvass.lock"


def _readable(tmp: str) -> None:
    # mkstemp creates 0600 files; reports are ordinary documents (umask still applies on open dirs).
    mask = os.umask(0)
    os.umask(mask)
    with contextlib.suppress(OSError):
        os.chmod(tmp, 0o666 & ~mask)


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}


def output_error(exc: OSError, path: Path) -> OutputError:
    """Return the staff's wording of a failed write of ``path`` (its previous version is unchanged)."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _NO_SPACE:
        what, todo = "磁盘空间不足，无法写入", "请腾出磁盘空间，或用 --out 换一个输出文件夹，再重新运行"
    elif exc.errno == errno.EROFS:
        what, todo = "没有写入权限：磁盘或文件夹是只读的", "请用 --out 换一个可写的输出文件夹，再重新运行"
    elif exc.errno in _NO_PERMISSION:
        what = "没有写入权限" + ("（文件可能正被 Excel 等程序打开）" if sys.platform == "win32" else "")
        todo = "请关闭打开它的程序、取得这个文件夹的写入权限，或用 --out 换一个输出文件夹，再重新运行"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST) and _file_in_the_way(path) is not None:
        blocker = _file_in_the_way(path)
        return OutputError(f"“{blocker}” 是一个文件，不是文件夹，无法在其中写入报告 ({reason})",
                           file=str(path), expected="用 --out 指定一个文件夹（不存在时会自动创建）")
    else:
        what, todo = "无法写入", "请检查输出文件夹所在的磁盘，再重新运行"
    return OutputError(f"{what} ({reason})；之前生成的报告保持不变。{todo}", file=str(path))


def _file_in_the_way(path: Path) -> Path | None:
    """Return the nearest folder of ``path`` that exists as a file (``--out`` given a file), else None."""
    for parent in Path(path).parents:
        if parent.exists():
            return parent if not parent.is_dir() else None
    return None


@contextlib.contextmanager
def writing(path: Path):
    """Turn an OSError raised while writing ``path`` into OutputError."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(exc, path) from exc


def _replace(tmp, path: Path) -> None:
    """Rename a finished temp file over ``path``: the one step every output write ends with."""
    os.replace(tmp, path)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            _readable(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            _replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write text atomically."""
    write_bytes(path, text.encode(encoding))


def write_json(path: Path, obj) -> None:
    """Write JSON (UTF-8, readable Chinese, sorted for stable diffs) atomically."""
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False, default=str) + "\n")


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary path to write with any library, then rename it into ``path``."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
    try:
        with writing(path):  # a library writing the temp file can hit a full disk too
            _readable(tmp)
            yield Path(tmp)
            _replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def publish(tmp: Path, path: Path) -> None:
    """Rename ``tmp``, written by another library, over ``path``; on failure remove it (OutputError)."""
    try:
        with writing(path):
            _replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _pid_alive(pid: int) -> bool:
    """Return True when ``pid`` is a running process (an exited zombie is not)."""
    if pid <= 0:
        return False
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:  # someone else's live process
        return True


class OutputLock:
    """Exclusive lock on an output folder; the holder's pid is written beside it."""

    def __init__(self, out_dir: Path, wait: float = 0.0):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self.info = self.out_dir / (LOCK_NAME + ".pid")
        self.wait = wait
        self._lock = FileLock(str(self.path))

    def holder(self) -> int | None:
        try:
            return int(self.info.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self):
        with writing(self.path):  # a read-only or full output folder fails here first
            self.out_dir.mkdir(parents=True, exist_ok=True)
            deadline = time.monotonic() + self.wait
            while True:
                try:
                    self._lock.acquire(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
                    break
                except Timeout:
                    if time.monotonic() >= deadline:
                        raise self._locked_error() from None
        try:
            with writing(self.info):
                self.info.write_text(f"{os.getpid()}\n", encoding="utf-8")
        except BaseException:
            with contextlib.suppress(OSError):
                self.info.unlink()
            self._lock.release()
            raise
        return self

    def _locked_error(self) -> LockError:
        pid = self.holder()
        if pid is not None and not _pid_alive(pid):
            # The OS frees a dead process's lock: another process holds it without having recorded
            # itself yet (a batch just starting), so waiting until the deadline is all we can do.
            return LockError(
                f"输出文件夹正被另一个进程锁定（记录的进程 {pid} 已结束，新的占用者尚未登记），请稍后再运行 "
                f"(output folder is locked; the recorded holder pid {pid} is dead)", file=str(self.out_dir))
        return LockError(
            f"另一个批处理（进程 {pid or '未知'}）正在写入这个输出文件夹，请等它结束后再运行 "
            f"(output folder is locked by pid {pid})", file=str(self.out_dir))

    def __exit__(self, *exc):
        with contextlib.suppress(OSError):
            self.info.unlink()
        self._lock.release()
        return False
