#!/usr/bin/env python3
"""Project tasks without make, the same on Windows and Linux: python dev.py setup, demo, test, ...

The Makefile's targets call this file, so there is one implementation. Every task but
``clean`` first runs ``setup``: create ``.venv`` with the interpreter running this file
(if missing), install the project and its dev tools quietly, register the notebook
kernel and extract the CJK font; it is skipped while ``.venv`` is newer than
``pyproject.toml``. ``--dry-run`` prints the commands instead of running them.
Install output is shown only when a step fails, so ``demo`` prints the batch's progress.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SAMPLE_WEEK = "2023-W37"
TASKS = {
    "setup": "create .venv with this Python and install everything (idempotent)",
    "demo": "run the weekly batch on the bundled sample data and print where the digest is",
    "test": "run the test suite (pytest -n 2 --dist loadgroup; extra arguments go to pytest)",
    "lab": "start JupyterLab on notebooks/ with the project's kernel (extra arguments go to jupyter lab)",
    "check": "read and clean the sample inputs only, and print the rejects summary",
    "bench": "benchmark the batch against the naive papermill+nbconvert loop and the no-kernel floor",
    "bench-clean": "benchmark reading + cleaning 1,000,000 survey rows",
    "clean": "remove generated reports and caches (keeps .venv)",
}


def venv_python(venv: Path, windows: bool = os.name == "nt") -> Path:
    """Return the interpreter of ``venv``: Scripts\\python.exe on Windows, bin/python elsewhere."""
    return venv / "Scripts" / "python.exe" if windows else venv / "bin" / "python"


def shown(cmd: list) -> str:
    return " ".join(f'"{c}"' if " " in str(c) else str(c) for c in cmd)


class Runner:
    """Runs (or with ``dry_run`` prints) commands in the project folder."""

    def __init__(self, dry_run: bool = False):
        self.dry_run = dry_run

    def run(self, cmd: list, quiet: bool = False, env: dict | None = None) -> None:
        """Run ``cmd``; ``quiet`` hides its output unless it fails. Exit with its code on failure."""
        cmd = [str(c) for c in cmd]
        if self.dry_run:
            print(shown(cmd))
            return
        if quiet:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, errors="replace")
            if proc.returncode:
                sys.stdout.write(proc.stdout)
        else:
            proc = subprocess.run(cmd, cwd=ROOT, env=env)
        if proc.returncode:
            print(f"dev.py: command failed (exit {proc.returncode}): {shown(cmd)}", file=sys.stderr)
            raise SystemExit(proc.returncode)


def setup(runner: Runner, venv: Path) -> Path:
    """Return the venv's interpreter, creating and installing the venv first when needed."""
    py = venv_python(venv)
    stamp = venv / ".installed"
    if stamp.is_file() and stamp.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime:
        return py
    if not py.is_file():
        runner.run([sys.executable, "-m", "venv", venv])
    if not runner.dry_run:
        print("setup: installing canvass and its tools into .venv (a few minutes the first time)…", flush=True)
    runner.run([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], quiet=True)
    runner.run([py, "-m", "pip", "install", "--quiet", "-e", ".[dev]"], quiet=True)
    runner.run([py, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3",
                "--display-name", "Python 3 (canvass)"], quiet=True)
    runner.run([py, "-m", "canvass.fonts", "--install"], quiet=True)
    if not runner.dry_run:
        stamp.touch()
    return py


def clean(runner: Runner, out: Path) -> None:
    """Remove OUT's contents (but its dotfiles, like .gitkeep), .cache and .pytest_cache."""
    targets = [p for p in sorted(out.glob("*")) if not p.name.startswith(".")] if out.is_dir() else []
    targets += [ROOT / ".cache", ROOT / ".pytest_cache"]
    for p in targets:
        if runner.dry_run:
            print(f"remove {p}")
        elif p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def task_command(task: str, py: Path, out: Path, extra: list) -> tuple[list, dict | None]:
    """Return (command, environment or None) of a task after setup."""
    if task == "demo":
        return [py, "run_reports.py", "--data", "data/sample", "--out", out, "--week", SAMPLE_WEEK, *extra], None
    if task == "test":
        return [py, "-m", "pytest", "-n", "2", "--dist", "loadgroup", *extra], None
    if task == "lab":
        root = ["--allow-root"] if hasattr(os, "getuid") and os.getuid() == 0 else []
        return ([py, "-m", "jupyter", "lab", "notebooks", *root, *extra],
                {**os.environ, "JUPYTER_PREFER_ENV_PATH": "1"})
    if task == "check":
        return [py, "run_reports.py", "--data", "data/sample", "--check", *extra], None
    if task == "bench":
        return [py, "benchmarks/bench_batch.py", *extra], None
    if task == "bench-clean":
        return [py, "benchmarks/bench_clean.py", *extra], None
    raise ValueError(task)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python dev.py", description=__doc__.split("\n\n")[0],
                                epilog="tasks:\n" + "\n".join(f"  {k:<12} {v}" for k, v in TASKS.items())
                                + "\n\nArguments after -- go to pytest, jupyter lab, the batch or the benchmark:\n"
                                  "  python dev.py test -- -k faults -x",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=list(TASKS), metavar="TASK", help="one of: " + ", ".join(TASKS))
    p.add_argument("--out", type=Path, default=Path("reports"), help="output folder of demo and clean (default reports)")
    p.add_argument("--venv", type=Path, default=ROOT / ".venv", help="virtual environment (default .venv)")
    p.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    return p


def main(argv: list | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = build_parser().parse_args(own)
    runner = Runner(dry_run=args.dry_run)
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    venv = args.venv if args.venv.is_absolute() else Path.cwd() / args.venv
    if args.task == "clean":
        clean(runner, out)
        return 0
    py = setup(runner, venv)
    if args.task == "setup":
        return 0
    cmd, env = task_command(args.task, py, out, extra)
    runner.run(cmd, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
