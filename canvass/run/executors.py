"""Where notebook tasks run: local worker processes (default) or a Dask cluster.

Executors are registered by name. Each yields ``(index, result)`` as tasks finish, so
the batch can report progress. Local workers are spawned (works the same on Windows),
start their warm kernel (in-process: ``engine.InProcessKernel``) while the parent is still
cleaning, and shut it down on exit; one whose cell timed out exits and is replaced.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

EXECUTORS: dict = {}


def executor(name: str):
    """Register an executor class by name."""
    def wrap(cls):
        EXECUTORS[name] = cls
        return cls
    return wrap


def _worker_main(tasks, results, prewarm: bool, parent: int) -> None:
    from canvass.run import engine

    current = [None]  # the task index running now

    def stuck() -> None:  # a timed-out cell ignored the interrupt: report it, let a new worker come
        results.put(("done", current[0], {"status": "failed", "error": "timeout",
                                          "detail": "单元格运行超时，且无法中断：已换用新的工作进程"}))
        results.close()
        results.join_thread()
        os._exit(3)

    engine.use_in_process()
    engine.on_stuck = stuck
    try:
        if prewarm and os.getppid() == parent:
            try:
                engine.warm_kernel().start()
                from canvass.report import pages
                pages.exporter()  # nbconvert's set-up is paid once per worker, here
            except Exception:  # the first task will retry and report the error
                engine.discard_kernel()
        from canvass.memory import freeze_imports

        freeze_imports()  # papermill, nbconvert and the exporter are loaded: see memory.freeze_imports
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
            current[0] = index
            results.put(("start", index, os.getpid()))
            try:
                res = func(arg)
            except BaseException as exc:  # report, never kill the worker silently
                res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc()}
            results.put(("done", index, res))
            if engine.replace_process():  # a cell was interrupted: the batch starts a new worker
                break
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
        self._feed_error: BaseException | None = None

    def _spawn(self, prewarm: bool = False):
        p = self.ctx.Process(target=_worker_main, args=(self.tasks, self.results, prewarm, os.getpid()),
                             daemon=True)
        p.start()
        return p

    def run(self, func: Callable, args: Iterable) -> Iterator[tuple[int, dict]]:
        """Run ``func(arg)`` for every arg; yield (index, result) as each finishes.

        ``args`` may be a generator that does work between items (the batch writes each
        community's own files before handing out its task): a thread of this process draws
        from it while the workers run the items already handed out.
        """
        if isinstance(args, (list, tuple)):
            for i, a in enumerate(args):
                self.tasks.put((i, func, a))
            total: int | None = len(args)
        else:
            total = None
            threading.Thread(target=self._feed, args=(func, args), name="canvass-feed", daemon=True).start()
        done: set = set()
        running: dict = {}
        while total is None or len(done) < total:
            try:
                kind, index, payload = self.results.get(timeout=1.0)
            except queue.Empty:
                for p in list(self.procs):
                    if not p.is_alive():
                        self.procs.remove(p)
                        lost = [i for i, pid in running.items() if pid == p.pid]
                        for i in lost:
                            running.pop(i)
                            done.add(i)
                            yield i, {"status": "failed", "error": f"工作进程意外退出 (worker exit code {p.exitcode})"}
                        self.procs.append(self._spawn())
                continue
            if kind == "fed":  # the generator is done: it made ``index`` items, or raised
                if self._feed_error is not None:
                    error, self._feed_error = self._feed_error, None
                    raise error
                total = index
            elif kind == "start":
                running[index] = payload
            elif index not in done:
                running.pop(index, None)
                done.add(index)
                yield index, payload

    def _feed(self, func: Callable, args: Iterable) -> None:
        """Hand out ``args`` as the generator makes them; then say how many there were."""
        n = 0
        try:
            for a in args:
                self.tasks.put((n, func, a))
                n += 1
        except BaseException as exc:  # raised again in the batch's thread, where the run ends
            self._feed_error = exc
        self.results.put(("fed", n, None))

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
    """Notebook tasks on a Dask cluster (``--scheduler tcp://host:8786``) that shares no disk with the batch.

    Community tasks travel as bytes (``run/remote.py``): each carries its community's slice,
    the inputs every task shares are scattered to the cluster once, and the outputs come back
    to be written here. Workers keep one warm kernel each, as local workers do. The digest runs
    in one local worker process instead (started now, so its kernel warms while the cluster
    works): it reads every community's slice, which would all travel for one notebook.

    A worker that dies while running a task: the task is run once more, and if its worker dies
    again the community is marked failed. That holds whatever the scheduler's
    ``distributed.scheduler.allowed-failures``: a task counts its own starts that did not finish
    (``remote.begin_attempt``) and refuses a third, and a task the scheduler gave up on
    (``KilledWorker``) is submitted again by the batch while fewer than two of its starts died.
    A task that finished but whose worker died holding the result (another task killed it) is
    computed again by the scheduler; that run is not counted against it.
    """

    def __init__(self, jobs: int, scheduler: str | None = None, prewarm: bool = True, **_):
        from canvass.errors import ParameterError

        try:
            from dask.distributed import Client
        except ImportError:
            raise ParameterError("使用 --scheduler 需要安装 dask[distributed]",
                                 expected="pip install 'dask[distributed]'") from None
        try:
            self.client = Client(scheduler, timeout=30) if scheduler else Client(
                n_workers=jobs, threads_per_worker=1, dashboard_address=None)
        except (OSError, TimeoutError) as exc:
            raise ParameterError(f"无法连接 Dask 调度器 {scheduler}（{type(exc).__name__}）",
                                 expected="确认调度器已启动、地址和端口正确，如 --scheduler tcp://192.168.1.10:8786") from None
        self.local = None
        self.warming: list = []
        try:
            self._check_workers(scheduler)
            if prewarm:
                from canvass.run.remote import warm_worker

                self.warming = [self.client.submit(warm_worker, workers=[addr], allow_other_workers=False, pure=False)
                                for addr in self.client.nthreads()]
            self.local = EXECUTORS["local"](1, prewarm=prewarm)  # the registry's: tests may replace it
        except BaseException:
            self.client.close()
            raise

    def _check_workers(self, scheduler) -> None:
        """Refuse a cluster without workers, or whose workers would render different reports."""
        from canvass.errors import ParameterError
        from canvass.run.remote import worker_fingerprint

        try:
            self.client.wait_for_workers(1, timeout=60)
        except TimeoutError:
            raise ParameterError(f"Dask 调度器 {scheduler} 没有可用的工作节点",
                                 expected="在各工作节点上运行 dask worker 调度器地址") from None
        threads = {addr: n for addr, n in self.client.nthreads().items() if n != 1}
        if threads:
            raise ParameterError(f"Dask 工作节点 {'、'.join(sorted(threads))} 有多个线程，而每个工作进程只有一个内核",
                                 expected="用 dask worker --nthreads 1 启动工作节点（要更多并行就用 --nworkers N）")
        mine = worker_fingerprint()
        try:
            found = self.client.run(worker_fingerprint, on_error="return")
        except Exception:  # a worker could not even load the function: no canvass there
            found = dict.fromkeys(self.client.nthreads())
        other = sorted(addr for addr, fp in found.items() if fp != mine)
        if other:
            raise ParameterError(f"Dask 工作节点 {'、'.join(other)} 未安装 canvass，或其 canvass / 绘图库版本与本机不同",
                                 expected="在每个工作节点安装与本机相同版本的 canvass 及其依赖（含 ipykernel）")

    def run(self, func: Callable, args: list) -> Iterator[tuple[int, dict]]:
        """Run ``func(arg)`` on the cluster for every arg (no file may be involved); yield as each finishes."""
        from dask.distributed import as_completed

        futures = {self.client.submit(func, a, pure=False): i for i, a in enumerate(args)}
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result()
            except Exception as exc:
                yield futures[fut], {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}

    def run_notebooks(self, tasks: Iterable) -> Iterator[tuple[int, dict]]:
        """Run notebook tasks: community reports on the cluster, the digest locally.

        ``tasks`` may be a generator of community tasks (the batch writes each community's own
        files before handing out its task): it is drawn from as the cluster has room."""
        from canvass.run.tasks import run_notebook_task

        if not isinstance(tasks, (list, tuple)):
            yield from self._run_remote(tasks)
            return
        here = [i for i, t in enumerate(tasks) if t.get("kind") == "digest"]
        there = [i for i, t in enumerate(tasks) if t.get("kind") != "digest"]
        if there:
            for j, res in self._run_remote([tasks[i] for i in there]):
                yield there[j], res
        if here:
            for j, res in self.local.run(run_notebook_task, [tasks[i] for i in here]):
                yield here[j], res

    def _run_remote(self, source: Iterable) -> Iterator[tuple[int, dict]]:
        import uuid

        from dask.distributed import KilledWorker, Queue, as_completed

        from canvass.run import remote

        run_id = uuid.uuid4().hex[:12]
        shared: dict = {}
        submissions: list = []
        queues: dict = {}
        # A window of tasks in flight: a payload is read from disk when it is submitted, and the
        # scheduler does not hold every community's slice at once.
        window = max(4, 2 * sum(self.client.nthreads().values()))
        source = iter(source)
        tasks: list = []
        futures: dict = {}

        def pull() -> int | None:
            """Take the next task from ``source``; return its index, or None when there is none."""
            task = next(source, None)
            if task is None:
                return None
            tasks.append(task)
            submissions.append(0)
            return len(tasks) - 1

        def submit(i: int):
            task = tasks[i]
            key = remote.shared_key(task)
            if key not in shared:
                # A task, not ``scatter``: the scheduler keeps the bytes and computes them again
                # when the worker holding them dies (scattered data would be lost with it).
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*large graph.*")
                    shared[key] = self.client.submit(remote.shared_inputs, remote.pack_shared(task), pure=False,
                                                     key=f"canvass-inputs-{run_id}-{len(shared)}")
            if i not in queues:
                queues[i] = Queue(f"canvass-attempts-{run_id}-{i}", client=self.client)
            fut = self.client.submit(remote.run_remote, remote.pack(task), shared[key], queues[i].name,
                                     key=f"canvass-report-{run_id}-{i}-{submissions[i]}", pure=False)
            submissions[i] += 1
            futures[fut] = i
            return fut

        ready = as_completed()
        for _ in range(window):  # each submitted as soon as it is made
            i = pull()
            if i is None:
                break
            ready.add(submit(i))
        try:
            for fut in ready:
                i = futures.pop(fut)
                try:
                    res = remote.write_back(tasks[i], fut.result())
                except KilledWorker:
                    if queues[i].qsize() < remote.MAX_ATTEMPTS and submissions[i] < remote.MAX_SUBMISSIONS:
                        ready.add(submit(i))
                        continue
                    res = remote.died_outcome()
                except Exception as exc:  # the task raised on the worker, or the cluster went away
                    res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}".strip()}
                fut.release()
                queues.pop(i).close()
                nxt = pull()
                if nxt is not None:
                    ready.add(submit(nxt))
                yield i, res
        finally:
            for q in queues.values():
                q.close()
            for fut in futures:
                fut.cancel()
            for fut in shared.values():
                fut.release()

    def close(self, abort: bool = False) -> None:
        if self.local is not None:
            self.local.close(abort=abort)
        for fut in self.warming:
            fut.release()
        self.client.close()


@contextmanager
def started_on_use(options):
    """Yield ``workers()``: the batch's executor, started on its first call; closed on exit.

    A batch that only reuses earlier outputs never starts one; a batch that fails closes it
    without waiting for kernels still starting (``abort``).
    """
    executor = None

    def workers():
        nonlocal executor
        if executor is None:
            executor = make_executor(options.executor, max(1, options.jobs), scheduler=options.scheduler)
        return executor

    ok = False
    try:
        yield workers
        ok = True
    finally:
        if executor is not None:
            executor.close(abort=not ok)


def make_executor(name: str, jobs: int, **kw):
    """Return a started executor registered under ``name``."""
    return EXECUTORS[name](jobs, **kw)


def run_notebooks(executor, tasks: list) -> Iterator[tuple[int, dict]]:
    """Run notebook tasks on ``executor``; yield (index, outcome) as each finishes.

    An executor whose workers see the batch's disk runs ``tasks.run_notebook_task`` as is; one
    that does not (Dask) says how it moves inputs and outputs with a ``run_notebooks`` method.
    """
    own = getattr(executor, "run_notebooks", None)
    if own is not None:
        return own(tasks)
    from canvass.run.tasks import run_notebook_task

    return executor.run(run_notebook_task, tasks)
