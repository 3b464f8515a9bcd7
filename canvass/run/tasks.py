"""Work done in a worker process: run one notebook, export its HTML, write follow-ups."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import TypedDict

from canvass.errors import CanvassError, OutputError
from canvass.run.atomic import output_error, publish, write_text, writing

# Errors only a write can cause: reading the notebook or the data never raises these.
WRITE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS}



class NotebookTask(TypedDict, total=False):
    """One notebook to run: a community report (``kind`` community) or the digest.

    A plain mapping on purpose: it travels to worker processes and Dask workers as is.
    """

    kind: str  # "community" or "digest"
    community: str | None
    slug: str
    week: str
    notebook: str  # path of the parameterised notebook
    parameters: dict  # what papermill injects
    timeout: int  # seconds per cell
    warm: bool  # run in the worker's warm kernel
    executed: str  # where the executed copy goes (internal/W/notebooks/)
    html: str  # where the HTML page goes
    followup: str  # the follow-up workbook (community tasks)
    prepared_dir: str
    title: str
    key: str  # reuse key: equal keys mean equal outputs
    # Run elsewhere (run/remote.py): what the executed copy records instead of the paths it ran with.
    recorded: dict  # {"parameters": the batch's parameters, "notebook": its path, "output": its path}


class Outcome(TypedDict, total=False):
    """What running (or reusing) one task gave, as recorded in manifest.json."""

    status: str  # ok, reused, failed, not run
    error: str  # one line for the analyst when failed
    detail: str
    seconds: float
    key: str
    outputs: dict  # file → sha256, so a damaged output is not reused
    followup_rows: int
    followup_error: str
    output_error: str  # a write failed: for the digest this ends the run

def _error_text(exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, CanvassError):
        return exc.one_line()
    if isinstance(exc, PapermillExecutionError):
        return f"第 {exc.exec_count} 个单元格出错：{exc.ename}: {exc.evalue}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


def run_notebook_task(task: NotebookTask) -> Outcome:
    """Execute a report notebook, write its executed copy and HTML; return the outcome."""
    from nbclient.exceptions import CellTimeoutError

    from canvass.report import pages
    from canvass.run import engine

    t0 = time.perf_counter()
    executed = Path(task["executed"])
    tmp = executed.with_name(f".{executed.stem}.{os.getpid()}.ipynb")
    result = {"status": "ok", "error": ""}
    try:
        with writing(executed):
            executed.parent.mkdir(parents=True, exist_ok=True)
        nb = engine.execute(task["notebook"], tmp, task["parameters"], task.get("timeout"),
                            warm=task.get("warm", True))
        if task.get("recorded"):
            nb = record_as_run(nb, task["recorded"], tmp)
        html = pages.notebook_html(nb, task["title"], task["week"])
        write_text(Path(task["html"]), html)
    except CellTimeoutError:
        result = {"status": "failed", "error": "timeout", "detail": f"单元格运行超过 {task.get('timeout')} 秒"}
    except OutputError as exc:
        result = _write_failed(exc)
    except OSError as exc:  # papermill writing the executed copy can meet a full disk too
        result = (_write_failed(output_error(exc, executed)) if exc.errno in WRITE_ERRNOS
                  else {"status": "failed", "error": _error_text(exc)})
    except Exception as exc:
        result = {"status": "failed", "error": _error_text(exc)}
    finally:
        if tmp.exists() and "output_error" in result:  # a copy cut short by a full disk: keep the old one
            tmp.unlink(missing_ok=True)
        elif tmp.exists():  # also a notebook that failed: its copy shows the error
            try:
                if task.get("recorded") and result["status"] == "failed":
                    record_as_run(None, task["recorded"], tmp)
                publish(tmp, executed)
            except OutputError as exc:
                result = _write_failed(exc)
    if task.get("followup"):
        try:
            from canvass.report.worklists import write_followup
            from canvass.run.store import load_prepared

            cleaned = load_prepared(Path(task["prepared_dir"]), task["community"], tables=("households", "visits"))
            result["followup_rows"] = write_followup(cleaned, task["community"], task["week"], Path(task["followup"]))
        except OutputError as exc:
            result = _write_failed(exc) if result["status"] != "failed" else result
        except Exception as exc:
            result.setdefault("followup_error", _error_text(exc))
    if result["status"] == "ok":
        from canvass.run.store import file_checksums

        result["outputs"] = file_checksums(task_outputs(task))
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def record_as_run(nb, recorded: dict, path: Path):
    """Make the executed copy at ``path`` (``nb``, or read from ``path``) record the batch's
    parameters and notebook instead of the private paths a remote worker ran it with; return it.

    The injected cell is rendered again by papermill's translator from the recorded parameters, so
    a notebook run on a Dask worker records exactly what the same run on a local worker records.
    """
    import nbformat
    from papermill.translators import translate_parameters
    from papermill.utils import find_first_tagged_cell_index

    from canvass.run import engine

    if nb is None:
        nb = nbformat.read(str(path), as_version=4)
    params = recorded["parameters"]
    i = find_first_tagged_cell_index(nb, "injected-parameters")
    if i >= 0:
        nb.cells[i].source = translate_parameters(engine.KERNEL_NAME, "python", params, "Parameters")
    meta = nb.metadata.setdefault("papermill", {})
    meta["parameters"] = params
    meta["input_path"] = recorded["notebook"]
    meta["output_path"] = recorded["output"]
    with writing(path):
        path.write_text(nbformat.writes(nb), encoding="utf-8")
    return nb


def _write_failed(exc: OutputError) -> dict:
    """The outcome of a task whose output could not be written (the batch ends on a shared one)."""
    return {"status": "failed", "error": exc.one_line(), "output_error": exc.one_line()}


def task_outputs(task: NotebookTask) -> dict:
    """Return the files a task writes, by role, for the reuse records' checksums."""
    return {k: task[k] for k in ("html", "executed", "followup") if task.get(k)}
