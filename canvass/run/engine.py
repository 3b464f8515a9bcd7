"""A papermill engine that reuses one warm kernel per worker process.

Start-up (kernel launch, imports of pandas and matplotlib) dominates a community report,
so each worker keeps one kernel and runs notebook after notebook in it. Before every
notebook the kernel's namespace is reset (``InteractiveShell.reset(new_session=True)``),
figures are closed and matplotlib settings restored, so no state leaks from one run to
the next; the kernel is restarted every ``RESTART_EVERY`` notebooks, after a timeout or
when it died.
"""

from __future__ import annotations

import subprocess

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


class WarmKernel:
    """One kernel kept alive across notebooks in this process."""

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


_current: WarmKernel | None = None


def warm_kernel() -> WarmKernel:
    """Return this process's warm kernel, creating it on first use."""
    global _current
    if _current is None:
        _current = WarmKernel()
    return _current


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
        client = PapermillNotebookClient(nb_man, km=kernel.km, kernel_name=kernel.kernel_name,
                                         timeout=execution_timeout, startup_timeout=start_timeout,
                                         log_output=log_output, stdout_file=stdout_file,
                                         stderr_file=stderr_file)
        client.kc = kernel.kc  # nbclient would otherwise open a second client per notebook
        return client.execute(cleanup_kc=False)


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
