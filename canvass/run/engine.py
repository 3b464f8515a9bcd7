"""A papermill engine that reuses one warm kernel per worker process.

Start-up (kernel launch, imports of pandas and matplotlib) dominates a community report,
so each worker keeps one kernel and runs notebook after notebook in it. Before every
notebook the kernel's namespace is reset (``InteractiveShell.reset(new_session=True)``),
figures are closed and matplotlib settings restored, so no state leaks from one run to
the next.

Two kinds of warm kernel:

- ``InProcessKernel`` (the batch's own worker processes): ipykernel's in-process kernel, the
  same IPython kernel and the same Jupyter messages, delivered within the worker instead of
  over ZeroMQ to a second process. papermill and nbclient run the notebook exactly as with a
  kernel process (the executed notebooks and pages are the same), but no kernel process
  starts and imports pandas and matplotlib again, and no message is signed, sent and polled
  for: a community notebook went from ~0.8 to ~0.45 s. A cell that outlasts the timeout is
  interrupted with SIGINT, as a kernel process is; the worker then reports the timeout and is
  replaced by a new process (its state is unknown), as a timed-out kernel process is.
- ``WarmKernel`` (Dask workers, whose threads are not the batch's to interrupt, and everywhere
  with ``CANVASS_KERNEL=process``): a kernel process, restarted every ``RESTART_EVERY``
  notebooks, after a timeout or when it died.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading

import papermill as pm
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import Engine, papermill_engines

ENGINE_NAME = "canvass-warm"
KERNEL_NAME = "python3"
RESTART_EVERY = 50
# IPython's input history is an SQLite file in the user's profile, written after every cell:
# a batch kernel has no use for it (nobody scrolls back through it), a read-only or shared home
# folder makes it fail or lock, and it cost ~6 % of a community notebook's kernel time
# (0.63 → 0.59 s of CPU, median of 6, two kernels side by side on the same notebook).
KERNEL_ARGS = ["--HistoryManager.enabled=False"]
# reset() already runs a garbage collection (through displayhook.flush): no second one here.
RESET_CODE = """\
get_ipython().reset(new_session=True, aggressive=False)
import sys as _sys
if "canvass.notebook" in _sys.modules:
    _sys.modules["canvass.notebook"].reset_state()
del _sys
"""
# Everything a report imports or sets up once: libraries, the CJK font, matplotlib's glyph cache.
# Then the warm-up's objects (some 300,000: the modules of pandas, matplotlib, nbconvert's
# templates) are moved out of the garbage collector's sight (``memory.freeze_imports``, as the
# batch process and its workers do): they live as long as the kernel, and every full
# collection (one per ``reset``, others while a report runs) walked them all. Measured on the
# 20-community benchmark: a reset went from 0.16 s to 0.01 s and a community's notebook from
# 1.04 s to 0.81 s. Objects made later, by the reports, are collected as before.
WARMUP_CODE = """\
import pandas, matplotlib, canvass.notebook, canvass.report.sections, canvass.report.charts
canvass.report.charts.warm_up()
canvass.report.templating.warm_up()
import canvass.memory
canvass.memory.freeze_imports()
"""


KERNEL_ENV = "CANVASS_KERNEL"  # "process": the batch's workers use kernel processes too
# After the interrupt, how long a timed-out cell may take to stop before the worker gives up on it.
INTERRUPT_GRACE = 5.0


class WarmKernel:
    """One kernel process kept alive across notebooks in this process."""

    in_process = False

    def __init__(self, kernel_name: str = KERNEL_NAME, startup_timeout: int = 60):
        self.kernel_name = kernel_name
        self.startup_timeout = startup_timeout
        self.km: AsyncKernelManager | None = None
        self.kc = None
        self.runs = 0

    def start(self) -> None:
        """Start the kernel and its client, and pre-import the report's libraries."""
        self.km = AsyncKernelManager(kernel_name=self.kernel_name)
        # The kernel's own console chatter must not break the batch's progress display.
        run_sync(self.km.start_kernel)(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       extra_arguments=list(KERNEL_ARGS))
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
        self.kc.allow_stdin = False
        self._run(WARMUP_CODE)
        self.runs = 0

    def _run(self, code: str, timeout: int = 60) -> None:
        reply = run_sync(self.kc.execute_interactive)(code, store_history=False, silent=False,
                                                      timeout=timeout, output_hook=lambda msg: None)
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"kernel reset failed: {reply['content'].get('evalue')}")

    def alive(self) -> bool:
        return self.km is not None and run_sync(self.km.is_alive)()

    def shutdown(self) -> None:
        """Stop the kernel (safe to call twice)."""
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:  # pragma: no cover - best effort on shutdown
                pass
        if self.km is not None:
            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # pragma: no cover
                pass
        self.km = self.kc = None

    def ready(self) -> "WarmKernel":
        """Return self with a live kernel whose namespace is fresh."""
        if self.km is None or self.runs >= RESTART_EVERY or not self.alive():
            self.shutdown()
            self.start()
        else:
            self._run(RESET_CODE)
        self.runs += 1
        return self


def _in_process_classes():
    """Return the in-process kernel manager and client (ipykernel's, with two changes)."""
    from ipykernel.inprocess.blocking import BlockingInProcessKernelClient
    from ipykernel.inprocess.ipkernel import InProcessKernel as _Base
    from ipykernel.inprocess.manager import InProcessKernelManager

    class Kernel(_Base):
        """ipykernel's in-process kernel, with what a cell prints tied to that cell.

        The stock one tells ``sys.stdout`` which request is running (``shell.set_parent``)
        before it puts its own output streams in place, so their messages name no request and
        nbclient, which keeps only the running cell's messages, dropped every print.
        """

        async def execute_request(self, stream, ident, parent):
            with self._redirected_io():
                self.shell.set_parent(parent)
                await super(_Base, self).execute_request(stream, ident, parent)

    class Client(BlockingInProcessKernelClient):
        """ipykernel's in-process client, running a cell in the caller's event loop.

        The stock client runs the kernel's handler with ``run_sync``, which, called from a
        running loop (nbclient's), runs it in a helper thread: cells would run off the main
        thread, where ``signal`` cannot be used and SIGINT cannot interrupt them. Called from a
        running loop, ``execute`` here returns an awaitable (nbclient awaits what it gets), so
        the cell runs in the main thread, as in a kernel process.
        """

        def execute(self, code, silent=False, store_history=True, user_expressions=None,
                    allow_stdin=None, stop_on_error=True):
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop running here: the stock client runs it now, here
                return super().execute(code, silent, store_history, user_expressions, allow_stdin, stop_on_error)
            content = dict(code=code, silent=silent, store_history=store_history,
                           user_expressions=user_expressions or {},
                           allow_stdin=self.allow_stdin if allow_stdin is None else allow_stdin)
            return self._dispatch_here(self.session.msg("execute_request", content))

        async def _dispatch_here(self, msg) -> str:
            stream = self.kernel.shell_stream
            self.session.send(stream, msg)
            await self.kernel.dispatch_shell(stream.recv_multipart())
            _idents, reply = self.session.recv(stream, copy=False)
            self.shell_channel.call_handlers_later(reply)
            return msg["header"]["msg_id"]

    class Manager(InProcessKernelManager):
        def start_kernel(self, **kwds):
            self.kernel = Kernel(parent=self, session=self.session)

    return Manager, Client


class InProcessKernel:
    """A warm kernel in this very process (see the module's docstring); main thread only."""

    in_process = True
    kernel_name = KERNEL_NAME

    def __init__(self):
        self.km = None
        self.kc = None
        self.runs = 0
        self.watchdog = Watchdog()

    def start(self) -> None:
        # debugpy, imported by ipykernel, warns about frozen modules on every start otherwise.
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        from traitlets.config import Config

        manager, client = _in_process_classes()
        self.km = manager(config=Config({"HistoryManager": {"enabled": False}}))  # as KERNEL_ARGS
        self.km.start_kernel()
        self.kc = client(parent=self.km, kernel=self.km.kernel, session=self.km.session)
        self.kc.start_channels()
        self.kc.allow_stdin = False
        self._run(WARMUP_CODE)
        self.runs = 0

    def _run(self, code: str, timeout: int = 60) -> None:
        msg_id = self.kc.execute(code, store_history=False)  # runs the code now, in this thread
        while True:  # its messages, up to "idle" (so none is left for the next notebook's client)
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                break
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"kernel reset failed: {reply['content'].get('evalue')}")

    def alive(self) -> bool:
        return self.km is not None and self.km.has_kernel

    def shutdown(self) -> None:
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:  # pragma: no cover - best effort on shutdown
                pass
        if self.km is not None:
            try:
                self.km.shutdown_kernel()
            except Exception:  # pragma: no cover
                pass
        self.km = self.kc = None

    def ready(self) -> "InProcessKernel":
        """Return self with a fresh namespace (no restart: a new kernel in the same process
        would hold nothing the reset does not clear)."""
        if self.km is None:
            self.start()
        else:
            self._run(RESET_CODE)
        self.runs += 1
        return self


class Watchdog:
    """Interrupts the cell running in the main thread when it outlasts its timeout.

    nbclient's own timeout cannot stop an in-process cell: the cell runs inside the client's
    ``execute`` call. So each cell is armed with a timer; when it fires, SIGINT is sent to the
    main thread (KeyboardInterrupt in the cell, as a kernel process's interrupt gives), and if
    the cell still runs ``INTERRUPT_GRACE`` seconds later (it ignores SIGINT, or waits in C code
    that does not check for signals), ``on_stuck`` is called: the local worker reports the
    timeout and exits there, and the batch starts a new worker.
    """

    def __init__(self):
        self.fired = False
        self._lock = threading.Lock()
        self._armed = 0
        self._timers: list[threading.Timer] = []

    def arm(self, timeout: float | None) -> None:
        with self._lock:
            self._armed += 1
            token = self._armed
        if timeout:
            self._timers = [threading.Timer(timeout, self._interrupt, (token,)),
                            threading.Timer(timeout + INTERRUPT_GRACE, self._stuck, (token,))]
            for t in self._timers:
                t.daemon = True
                t.start()

    def disarm(self) -> None:
        with self._lock:
            self._armed += 1  # a timer firing now sees a token that is no longer current
        for t in self._timers:
            t.cancel()
        self._timers = []

    def _interrupt(self, token: int) -> None:
        with self._lock:
            if token != self._armed:
                return
            self.fired = True
        if hasattr(signal, "pthread_kill"):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        else:  # Windows
            import _thread

            _thread.interrupt_main()

    def _stuck(self, token: int) -> None:
        with self._lock:
            if token != self._armed:
                return
        if on_stuck is not None:
            on_stuck()


# Set by a local worker (executors._worker_main): what to do when a timed-out cell cannot be stopped.
on_stuck = None
_in_process = False
_current: WarmKernel | InProcessKernel | None = None


def use_in_process() -> None:
    """Make this process's warm kernel an in-process one (the batch's local workers call this
    first), unless ``CANVASS_KERNEL=process`` asks for kernel processes."""
    global _in_process
    _in_process = os.environ.get(KERNEL_ENV, "").strip().lower() != "process"


def warm_kernel() -> WarmKernel | InProcessKernel:
    """Return this process's warm kernel, creating it on first use."""
    global _current
    if _current is None:
        in_process = _in_process and threading.current_thread() is threading.main_thread()
        _current = InProcessKernel() if in_process else WarmKernel()
    return _current


def replace_process() -> bool:
    """True when an in-process kernel timed out: this process's state is unknown and a local
    worker exits after reporting the task (the batch starts a new one)."""
    return isinstance(_current, InProcessKernel) and _current.watchdog.fired


def discard_kernel() -> None:
    """Shut this process's kernel down (after a timeout its state is unknown)."""
    global _current
    if _current is not None:
        _current.shutdown()
        _current = None


class WarmEngine(Engine):
    """papermill engine executing in the process's warm kernel instead of a new one."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
        kernel = warm_kernel().ready()
        client_class = _WatchedClient if kernel.in_process else PapermillNotebookClient
        client = client_class(nb_man, km=kernel.km, kernel_name=kernel.kernel_name,
                              timeout=execution_timeout, startup_timeout=start_timeout,
                              log_output=log_output, stdout_file=stdout_file,
                              stderr_file=stderr_file)
        client.kc = kernel.kc  # nbclient would otherwise open a second client per notebook
        if kernel.in_process:
            client.watchdog = kernel.watchdog
        return client.execute(cleanup_kc=False)


class _WatchedClient(PapermillNotebookClient):
    """papermill's client, each cell under the in-process kernel's watchdog."""

    watchdog: Watchdog

    def execute_cell(self, *args, **kwargs):
        self.watchdog.arm(self.timeout)
        try:
            return super().execute_cell(*args, **kwargs)
        finally:
            self.watchdog.disarm()


papermill_engines.register(ENGINE_NAME, WarmEngine)


def execute(input_path, output_path, parameters: dict, timeout: int | None, warm: bool = True):
    """Run a notebook with papermill (warm kernel by default) and return the executed notebook.

    Raises ``CellTimeoutError`` on a timeout (the kernel is discarded) and papermill's
    ``PapermillExecutionError`` when a cell fails (the notebook is saved with the error).
    """
    try:
        return pm.execute_notebook(
            str(input_path), str(output_path), parameters=parameters, kernel_name=KERNEL_NAME,
            engine_name=ENGINE_NAME if warm else None, execution_timeout=timeout,
            progress_bar=False, log_output=False, request_save_on_cell_execute=False)
    except (CellTimeoutError, DeadKernelError):
        discard_kernel()
        raise
    except BaseException:  # the interrupt of a timed-out in-process cell (KeyboardInterrupt in it)
        if replace_process():
            raise CellTimeoutError(f"A cell timed out after {timeout} seconds") from None
        raise
