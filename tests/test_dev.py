"""dev.py: the make targets as one Python script, for Windows analysts too."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path, PureWindowsPath

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def dev():
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dev(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "dev.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)


def test_venv_interpreter_on_windows_and_linux(dev):
    assert PureWindowsPath(dev.venv_python(Path(".venv"), windows=True)) == PureWindowsPath(".venv/Scripts/python.exe")
    assert dev.venv_python(Path(".venv"), windows=False).as_posix() == ".venv/bin/python"


def test_help_lists_every_make_target():
    proc = _dev("--help")
    assert proc.returncode == 0, proc.stderr
    make_targets = re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    for target in set(make_targets) - {"help"}:
        assert re.search(rf"^\s+{target}\s", proc.stdout, re.M), target
        # and the Makefile target is a call of dev.py, not a second implementation
        recipe = re.search(rf"^{target}:\n\t(.*)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M).group(1)
        assert f"dev.py {target}" in recipe, recipe


def test_dry_run_creates_the_venv_installs_then_runs_the_demo(tmp_path):
    venv = tmp_path / "venv"
    proc = _dev("--dry-run", "--venv", str(venv), "demo")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    py = str(venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python"))
    assert lines[0] == f"{sys.executable} -m venv {venv}"
    assert lines[1:] == [
        f"{py} -m pip install --quiet --upgrade pip",
        f"{py} -m pip install --quiet -e .[dev]",
        f'{py} -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (canvass)"',
        f"{py} -m canvass.fonts --install",
        f"{py} run_reports.py --data data/sample --out {ROOT / 'reports'} --week 2023-W37",
    ]
    assert not venv.exists()  # a dry run changes nothing


def test_dry_run_test_is_make_test(tmp_path):
    venv = tmp_path / "venv"
    proc = _dev("--dry-run", "--venv", str(venv), "test", "--", "-k", "faults")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].endswith("-m pytest -n 2 --dist loadgroup -k faults")


def test_an_installed_venv_is_not_set_up_again(tmp_path, dev):
    venv = tmp_path / "venv"
    (dev.venv_python(venv)).parent.mkdir(parents=True)
    (dev.venv_python(venv)).touch()
    (venv / ".installed").touch()
    proc = _dev("--dry-run", "--venv", str(venv), "check")
    assert proc.stdout.splitlines() == [f"{dev.venv_python(venv)} run_reports.py --data data/sample --check"]


def test_install_output_is_shown_only_when_a_step_fails(dev, capsys):
    chatty = [sys.executable, "-c", "print('setuptools warning ' * 3)"]
    dev.Runner().run(chatty, quiet=True)
    assert capsys.readouterr().out == ""
    failing = [sys.executable, "-c", "import sys; print('the reason'); sys.exit(3)"]
    with pytest.raises(SystemExit) as stop:
        dev.Runner().run(failing, quiet=True)
    assert stop.value.code == 3
    assert "the reason" in capsys.readouterr().out
