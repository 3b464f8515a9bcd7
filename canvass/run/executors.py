"""Where notebook tasks run: local worker processes (default) or a Dask cluster.

Executors are registered by name. Each yields ``(index, result)`` as tasks finish, so
the batch can report progress. Local workers are spawned (works the same on Windows),
start their warm kernel while the parent is still cleaning, and shut it down on exit.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import traceback
from collections.abc import Callable, Iterator

EXECUTORS: dict = {}


def executor(name: str):
    """Register an executor class by name."""
    def wrap(cls):
        EXECUTORS[name] = cls
        return cls
    return wrap


def _worker_main(tasks, results, prewarm: bool, parent: int) -> None:
    from canvass.run import engine

    try:
        if prewarm and os.getppid() == parent:
            try:
                engine.warm_kernel().start()
                from canvass.report import pages
                pages.exporter()  # nbconvert's set-up is paid once per worker, here
            except Exception:  # the first task will retry and report the error
                engine.discard_kernel()
        # ``parent`` comes from the batch itself: a batch killed while this worker was still
        # warming its kernel must not be mistaken for a live one.
        while True:
            try:
                item = tasks.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:  # the batch was killed: do not linger
                    break
                continue
            if item is None:
                break
            index, func, arg = item
            results.put(("start", index, os.getpid()))
            try:
                res = func(arg)
            except BaseException as exc:  # report, never kill the worker silently
                res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc()}
            results.put(("done", index, res))
    finally:
        engine.discard_kernel()


@executor("local")
class LocalExecutor:
    """N spawned worker processes, each keeping one warm kernel."""

    def __init__(self, jobs: int, prewarm: bool = True, **_):
        self.jobs = max(1, int(jobs))
        self.ctx = mp.get_context("spawn")
        self.tasks = self.ctx.Queue()
        self.results = self.ctx.Queue()
        self.procs = [self._spawn(prewarm) for _ in range(self.jobs)]

    def _spawn(self, prewarm: bool = False):
        p = self.ctx.Process(target=_worker_main, args=(self.tasks, self.results, prewarm, os.getpid()),
                             daemon=True)
        p.start()
        return p

    def run(self, func: Callable, args: list) -> Iterator[tuple[int, dict]]:
        """Run ``func(arg)`` for every arg; yield (index, result) as each finishes."""
        for i, a in enumerate(args):
            self.tasks.put((i, func, a))
        pending = set(range(len(args)))
        running: dict = {}
        while pending:
            try:
                kind, index, payload = self.results.get(timeout=1.0)
            except queue.Empty:
                for p in list(self.procs):
                    if not p.is_alive():
                        self.procs.remove(p)
                        lost = [i for i, pid in running.items() if pid == p.pid]
                        for i in lost:
                            running.pop(i)
                            pending.discard(i)
                            yield i, {"status": "failed", "error": f"工作进程意外退出 (worker exit code {p.exitcode})"}
                        self.procs.append(self._spawn())
                continue
            if kind == "start":
                running[index] = payload
            else:
                running.pop(index, None)
                pending.discard(index)
                yield index, payload

    def close(self, abort: bool = False) -> None:
        """Stop the workers; with ``abort`` (the batch failed) do not wait for kernels to start."""
        for _ in self.procs:
            self.tasks.put(None)
        for p in self.procs:
            p.join(timeout=1 if abort else 20)
            if p.is_alive():
                p.terminate()


@executor("dask")
class DaskExecutor:
    """Tasks on a Dask cluster (``--scheduler tcp://host:8786``); each worker keeps a warm kernel."""

    def __init__(self, jobs: int, scheduler: str | None = None, **_):
        try:
            from dask.distributed import Client
        except ImportError:
            from canvass.errors import ParameterError
            raise ParameterError("使用 --scheduler 需要安装 dask[distributed]",
                                 expected="pip install 'dask[distributed]'") from None
        self.client = Client(scheduler) if scheduler else Client(n_workers=jobs, threads_per_worker=1)

    def run(self, func: Callable, args: list) -> Iterator[tuple[int, dict]]:
        from dask.distributed import as_completed

        futures = {self.client.submit(func, a, pure=False): i for i, a in enumerate(args)}
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result()
            except Exception as exc:
                yield futures[fut], {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}

    def close(self, abort: bool = False) -> None:
        self.client.close()


def make_executor(name: str, jobs: int, **kw):
    """Return a started executor registered under ``name``."""
    return EXECUTORS[name](jobs, **kw)
