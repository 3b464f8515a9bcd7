"""Work done in a worker process: run one notebook, export its HTML, write follow-ups."""

from __future__ import annotations

import os
import time
from pathlib import Path

from canvass.run.atomic import write_text


def _error_text(exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"第 {exc.exec_count} 个单元格出错：{exc.ename}: {exc.evalue}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


def run_notebook_task(task: dict) -> dict:
    """Execute a report notebook, write its executed copy and HTML; return the outcome."""
    from nbclient.exceptions import CellTimeoutError

    from canvass.report import pages
    from canvass.run import engine

    t0 = time.perf_counter()
    executed = Path(task["executed"])
    executed.parent.mkdir(parents=True, exist_ok=True)
    tmp = executed.with_name(f".{executed.stem}.{os.getpid()}.ipynb")
    result = {"status": "ok", "error": ""}
    try:
        nb = engine.execute(task["notebook"], tmp, task["parameters"], task.get("timeout"),
                            warm=task.get("warm", True))
        html = pages.notebook_html(nb, task["title"], task["week"])
        write_text(Path(task["html"]), html)
    except CellTimeoutError:
        result = {"status": "failed", "error": "timeout", "detail": f"单元格运行超过 {task.get('timeout')} 秒"}
    except Exception as exc:
        result = {"status": "failed", "error": _error_text(exc)}
    finally:
        if tmp.exists():
            os.replace(tmp, executed)
    if task.get("followup"):
        try:
            from canvass.report.worklists import write_followup
            from canvass.run.store import load_prepared

            cleaned = load_prepared(Path(task["prepared_dir"]), task["community"])
            result["followup_rows"] = write_followup(cleaned, task["community"], task["week"], Path(task["followup"]))
        except Exception as exc:
            result.setdefault("followup_error", _error_text(exc))
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result
