"""Notebook tasks for workers that share no disk with the batch (a Dask cluster).

A community task names files under the batch's output folder (its prepared slice, the metrics
history, the notebook, the config) and writes its outputs there. A remote worker can see none
of that, so the batch turns the task into bytes:

- ``pack_shared``: what every task of the batch reads the same (the notebook, the prepared
  entry's ``meta.json`` and ``checksums.json``, the metrics history and its sha256, the config
  file), sent to the cluster once (``Client.scatter``) and cached on each worker;
- ``pack``: the community's own slice files and its parameters;
- ``run_remote`` (on the worker): writes both into a private temp folder, points the parameters
  at it, runs the notebook as ``tasks.run_notebook_task`` does (warm kernel per worker), and
  returns the outcome with the bytes of the HTML, executed notebook and follow-up workbook;
- ``write_back`` (in the batch): writes those bytes with the atomic writer and records their
  checksums, so a full disk on the batch's side fails that community exactly as a local run.

The executed copy records the batch's parameters and notebook path (``tasks.record_as_run``),
so it is the same file a local worker writes. Whether the report carries the 示例数据 banner is
decided here in the batch (the worker cannot look at the data folder).
"""

from __future__ import annotations

import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from canvass.run.tasks import NotebookTask, Outcome

# The roles of a community task's output files, in the order a local worker writes them.
OUTPUT_ROLES = ("html", "executed", "followup")


def _read(path: Path) -> bytes:
    return Path(path).read_bytes()


@lru_cache(maxsize=8)
def _entry_index(prepared_dir: str, mtime_ns: int) -> dict:
    """Return community → slice folder name of a prepared entry (entries never change once published)."""
    import json

    meta = json.loads((Path(prepared_dir) / "meta.json").read_text(encoding="utf-8"))
    return {c: f"c{i:04d}" for i, c in enumerate(meta["communities"])}


def shared_key(task: NotebookTask) -> tuple:
    """Return what identifies the inputs a task shares with the batch's other tasks."""
    params = task["parameters"]
    return (task["notebook"], task["prepared_dir"], params.get("metrics_file"), params.get("config_file"))


def pack_shared(task: NotebookTask) -> dict:
    """Return relative path → bytes of the inputs ``task`` shares with the batch's other tasks."""
    params = task["parameters"]
    prepared = Path(task["prepared_dir"])
    files = {"notebook.ipynb": _read(task["notebook"]),
             "prepared/meta.json": _read(prepared / "meta.json"),
             "prepared/checksums.json": _read(prepared / "checksums.json")}
    if params.get("metrics_file"):
        history = Path(params["metrics_file"])
        files["metrics_history.parquet"] = _read(history)
        files["metrics_history.parquet.sha256"] = _read(history.with_name(history.name + ".sha256"))
    if params.get("config_file"):
        files["subdistrict.yml"] = _read(params["config_file"])
    return files


def shared_inputs(files: dict) -> dict:
    """Return ``files``: run as a Dask task so the scheduler can compute it again on a live worker."""
    return files


def pack(task: NotebookTask) -> dict:
    """Return the task with the bytes of its community's slice and no path the worker must see."""
    from canvass.notebook import is_sample

    prepared = Path(task["prepared_dir"])
    folder = _entry_index(str(prepared), (prepared / "meta.json").stat().st_mtime_ns)[task["community"]]
    files = {f"prepared/{folder}/{p.name}": p.read_bytes() for p in sorted((prepared / folder).iterdir())
             if p.is_file()}
    return {"task": dict(task), "files": files, "sample": is_sample(task["parameters"]["data_dir"])}


def _materialise(root: Path, files: dict) -> None:
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def local_task(payload: dict, root: Path) -> NotebookTask:
    """Return the task as it runs in ``root``: every path inside it, the batch's paths recorded."""
    from canvass.config import SAMPLE_DATA

    task = payload["task"]
    params = dict(task["parameters"])  # same keys in the same order: the injected cell matches
    params["prepared_dir"] = str(root / "prepared")
    if "metrics_file" in params:
        params["metrics_file"] = str(root / "metrics_history.parquet")
    if params.get("config_file"):
        params["config_file"] = str(root / "subdistrict.yml")
    # With prepared_dir set the notebook reads data_dir only to tell the bundled sample (banner):
    # the batch decided that, and this path gives the notebook the same answer.
    params["data_dir"] = str(SAMPLE_DATA if payload["sample"] else root / "data")
    out = root / "out"
    slug = task.get("slug") or "task"
    local = {**task, "parameters": params, "notebook": str(root / "notebook.ipynb"),
             "prepared_dir": str(root / "prepared"),
             "executed": str(out / f"{slug}.ipynb"), "html": str(out / f"{slug}.html"),
             "recorded": {"parameters": task["parameters"], "notebook": task["notebook"],
                          "output": task["executed"]}}
    if task.get("followup"):
        local["followup"] = str(out / f"{slug}.xlsx")
    return local


def run_remote(payload: dict, shared: dict, attempts: str | None = None) -> dict:
    """Run one packed task on this worker; return its outcome with ``files``: role → bytes.

    ``attempts`` names the batch's record of this task's starts that did not finish (see
    ``executors.DaskExecutor``): a task whose worker died under it twice already is not run a
    third time. A start that finished is taken off the record before the result is returned:
    if the worker then dies holding the result (another task killed it before the batch fetched
    it), the scheduler computes the task again and that is not a retry of a death of its own.
    """
    from canvass.run.tasks import run_notebook_task

    if attempts is not None and begin_attempt(attempts) > MAX_ATTEMPTS:
        return died_outcome()
    root = Path(tempfile.mkdtemp(prefix="canvass-task-"))
    try:
        _materialise(root, shared)
        _materialise(root, payload["files"])
        (root / "out").mkdir()
        task = local_task(payload, root)
        result = dict(run_notebook_task(task))
        result.pop("outputs", None)  # checksums of the batch's files are taken where they are written
        result["files"] = {role: Path(task[role]).read_bytes() for role in OUTPUT_ROLES
                           if task.get(role) and Path(task[role]).is_file()}
        if attempts is not None:
            end_attempt(attempts)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def write_back(task: NotebookTask, result: dict) -> Outcome:
    """Write a remote task's output bytes where the task names them; return the outcome as a local
    worker gives it (a write that fails fails this community only, its previous files kept)."""
    from canvass.errors import OutputError
    from canvass.run.atomic import write_bytes
    from canvass.run.store import file_checksums
    from canvass.run.tasks import _write_failed, task_outputs

    result = dict(result)
    files = result.pop("files", {}) or {}
    for role in OUTPUT_ROLES:
        if role not in files or not task.get(role):
            continue
        if role == "executed" and result.get("output_error"):
            continue  # the HTML could not be written: keep the previous executed copy with it
        try:
            write_bytes(Path(task[role]), files[role])
        except OutputError as exc:
            if role != "followup" or result["status"] != "failed":
                result = {**_write_failed(exc), **({"seconds": result["seconds"]} if "seconds" in result else {})}
    if result["status"] == "ok":
        result["outputs"] = file_checksums(task_outputs(task))
    return result


# --- worker death: a task's worker may die under it twice, not three times -----------------------

MAX_ATTEMPTS = 2  # the first run and one retry: starts that did not finish
# A task only queued on a worker that died (another task killed it) has not started: it is moved,
# not retried. This bounds how often, so a cluster whose workers keep dying cannot loop forever.
MAX_SUBMISSIONS = 6
DIED = "运行该社区报告的 Dask 工作进程两次意外退出（已自动重试一次），未生成报告；请查看工作节点的日志和内存后重新运行"


def warm_worker() -> None:
    """Start this worker's warm kernel and the HTML exporter (submitted once per worker when the
    batch connects, so it overlaps the batch's cleaning)."""
    from canvass.report import pages
    from canvass.run import engine

    kernel = engine.warm_kernel()
    try:
        if kernel.km is None:
            kernel.start()
        pages.exporter()
    except Exception:  # the first task retries and reports the error
        engine.discard_kernel()


def worker_fingerprint() -> str:
    """Return what must be equal on the batch's machine and a worker for reports to be equal."""
    from canvass.run.store import output_fingerprint

    return output_fingerprint()


def died_outcome() -> dict:
    return {"status": "failed", "error": DIED, "detail": "worker died (KilledWorker)"}


def begin_attempt(name: str) -> int:
    """Record on the scheduler that this task starts once more; return how many of its starts,
    this one included, have not finished.

    One Dask ``Queue`` per task holds one item per start that has not finished (``end_attempt``
    takes it off): the starts whose worker died under them, and this one. A task runs on one
    worker at a time, so reading the size and adding one is not a race.
    """
    from distributed import Queue

    q = Queue(name)
    n = q.qsize() + 1
    q.put(n)
    q.close()  # the batch holds the queue open until the task is done
    return n


def end_attempt(name: str) -> None:
    """Record on the scheduler that this task's current start finished (see ``begin_attempt``)."""
    from distributed import Queue

    q = Queue(name)
    q.get(timeout=60)
    q.close()
