"""Packaging: a wheel (not only an editable install) carries every file the batch needs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from .conftest import ROOT

TINY = ROOT / "tests" / "hostile" / "base"


def test_pyproject_lists_every_package_folder():
    """Listing packages keeps setuptools quiet; a folder missing from the list would not be installed."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    folders = {"canvass." + ".".join(p.relative_to(ROOT / "canvass").parts) if p != ROOT / "canvass" else "canvass"
               for p in [ROOT / "canvass", *(ROOT / "canvass").rglob("*")]
               if p.is_dir() and "__pycache__" not in p.parts}
    assert set(listed) == folders | {"canvass.notebooks"}


def _wheel_env(target: Path, tmp: Path) -> dict:
    """An environment whose sys.path has the installed wheel first, then the dependencies.

    The venv's editable-install finder stays (``-S`` would drop it but also the venv's
    sys.prefix, where Jupyter finds nbconvert's templates); it is consulted only after
    sys.path, and ``test_every_module_comes_from_the_wheel`` proves nothing falls through
    to the checkout. PYTHONSAFEPATH keeps the working folder off sys.path.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANVASS_", "PYTHON"))}
    env.update(PYTHONPATH=str(target), PYTHONSAFEPATH="1", PYTHONIOENCODING="utf-8",
               XDG_CACHE_HOME=str(tmp / "user-cache"))
    return env


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> dict:
    """Build the wheel from a copy of the sources and install it with --target (no network)."""
    from importlib.metadata import version

    if int(version("setuptools").split(".")[0]) < 77:
        pytest.fail(f"setuptools {version('setuptools')} cannot build this project: run `make setup` "
                    "(the dev extra installs setuptools>=77)")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("canvass", "notebooks"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(tmp / "dist"), str(src)],
                           capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    wheel = next((tmp / "dist").glob("canvass-*.whl"))
    target = tmp / "target"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
                              str(target), str(wheel)], capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return {"tmp": tmp, "target": target, "cwd": elsewhere, "env": _wheel_env(target, tmp),
            "build_log": build.stdout + build.stderr}


def _python(w: dict, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=w["cwd"], env=w["env"], capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout)


@pytest.mark.slow
def test_building_the_wheel_gives_no_setuptools_warnings(installed_wheel):
    log = installed_wheel["build_log"]
    for needle in ("would be ignored", "absent from the `packages`", "SetuptoolsDeprecationWarning",
                   "no previously-included", "warning: no files found"):
        assert needle not in log, needle


@pytest.mark.slow
def test_the_wheel_carries_notebooks_templates_and_stylesheet(installed_wheel):
    pkg = installed_wheel["target"] / "canvass"
    for rel in ("notebooks/community_report.ipynb", "notebooks/subdistrict_digest.ipynb", "report/static/report.css",
                "report/templates/canvass_report/index.html.j2", "report/templates/canvass_report/conf.json",
                "__main__.py"):
        assert (pkg / rel).is_file(), rel
    probe = _python(installed_wheel, "-c", "import canvass, canvass.config as c; print(canvass.__file__); "
                                           "print(c.NOTEBOOKS); print(c.IN_CHECKOUT); print(c.CACHE_DIR)")
    assert probe.returncode == 0, probe.stderr
    where, notebooks, in_checkout, cache = probe.stdout.splitlines()
    assert Path(where).is_relative_to(installed_wheel["target"]), where
    assert Path(notebooks) == pkg / "notebooks" and in_checkout == "False"
    assert not Path(cache).is_relative_to(installed_wheel["target"]), cache


@pytest.mark.slow
def test_every_module_comes_from_the_wheel(installed_wheel):
    """Each module of the checkout imports from the wheel: none is missing and served from the checkout."""
    modules = sorted("canvass." + ".".join(p.relative_to(ROOT / "canvass").with_suffix("").parts)
                     for p in (ROOT / "canvass").rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    code = ("import importlib, json, sys\n"
            f"names = {modules!r}\n"
            "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))")
    proc = _python(installed_wheel, "-c", code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = json.loads(proc.stdout)
    outside = {n: f for n, f in files.items() if not Path(f).is_relative_to(installed_wheel["target"])}
    assert not outside


@pytest.mark.slow
def test_installed_package_needs_data_and_says_so(installed_wheel):
    proc = _python(installed_wheel, "-m", "canvass", "--out", str(installed_wheel["tmp"] / "no-data"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--data" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_installed_wheel_writes_every_output_from_another_folder(installed_wheel):
    w = installed_wheel
    before = {p for p in w["target"].rglob("*") if "__pycache__" not in p.parts}
    out = w["tmp"] / "out"
    proc = _python(w, "-m", "canvass", "--data", str(TINY), "--out", str(out), "--jobs", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest_path = next(out.glob("*-W*/manifest.json"))
    week = manifest_path.parent.name
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["digest"]["status"] == "ok"
    assert {o["status"] for o in manifest["communities"].values()} == {"ok"}
    for rel in ("index.html", f"{week}/digest.html", f"{week}/metrics.csv", f"{week}/metrics.xlsx",
                f"internal/{week}/rejects.csv", f"internal/{week}/notebooks/digest.ipynb"):
        assert (out / rel).is_file(), rel
    for slug in manifest["slugs"].values():
        for rel in (f"{week}/communities/{slug}.html", f"internal/{week}/followup/{slug}.xlsx",
                    f"internal/{week}/notebooks/{slug}.ipynb"):
            assert (out / rel).is_file(), rel
        nb = nbformat.read(out / "internal" / week / "notebooks" / f"{slug}.ipynb", as_version=4)
        assert Path(nb.metadata["papermill"]["input_path"]).is_relative_to(w["target"])  # the shipped notebook
    # Caches go under --out, never into the installed package or the folder it ran from.
    after = {p for p in w["target"].rglob("*") if "__pycache__" not in p.parts}
    assert after == before
    assert list(w["cwd"].iterdir()) == []
    assert (out / "internal" / ".cache").is_dir()
