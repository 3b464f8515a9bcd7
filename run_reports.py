#!/usr/bin/env python3
"""Weekly campaign reports: ``python run_reports.py --help``. All logic is in ``canvass``."""

import sys


def _missing(exc):
    """Run by a Python without the project's libraries (not the .venv one): say what to do."""
    venv_python = ".venv\\Scripts\\python" if sys.platform == "win32" else ".venv/bin/python"
    setup = "py dev.py setup" if sys.platform == "win32" else "make setup"
    print("错误 error: 缺少运行所需的程序库（%s）。请先在项目文件夹中运行 %s，再用 %s run_reports.py 运行。"
          % (getattr(exc, "name", None) or exc, setup, venv_python), file=sys.stderr)
    sys.exit(2)


try:
    from canvass.cli import main
except ModuleNotFoundError as exc:
    _missing(exc)

if __name__ == "__main__":
    try:
        code = main()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] == "canvass":
            raise
        _missing(exc)
    sys.exit(code)
