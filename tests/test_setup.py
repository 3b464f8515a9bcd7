"""Set-up: environment.yml in step with pyproject.toml, the CJK font, CI and Makefile."""

from __future__ import annotations

import re
import tomllib
import warnings

import yaml

from .conftest import ROOT


def _name(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep["pip"])
        else:
            n, spec = _name(dep)
            conda[n] = spec
    for p in pip:
        if not p.startswith("-e"):
            n, spec = _name(p)
            conda[n] = spec
    assert any(p.startswith("-e .") for p in pip), "environment.yml must install the package itself"
    assert conda.pop("python") == ">=" + project["requires-python"].lstrip(">=")
    conda.pop("pip", None)
    expected = dict(_name(r) for r in project["dependencies"])
    assert conda == expected


def test_matplotlib_uses_the_bundled_sc_font_without_missing_glyphs():
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    from canvass import fonts

    family = fonts.register()
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert path == str(fonts.font_path())
    assert "Noto Sans CJK SC" in font_manager.FontProperties(fname=path).get_name()
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_title("知晓率 覆盖率 垃圾分类 网格 修竹社区")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph is a warning: make it fail
        fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
        import io
        fig.savefig(io.BytesIO(), format="png")


def test_font_license_is_open():
    from importlib.metadata import metadata

    assert "OFL" in (metadata("noto-cjk-sans-otc").get("License-Expression") or "")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in ci and "make test" in readme and "make demo" in readme
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("help:", "setup:", "demo:", "test:", "lab:", "bench:"):
        assert target in make
    assert ".DEFAULT_GOAL := help" in make


def test_no_fcntl_in_the_package():
    for path in (ROOT / "canvass").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+fcntl", path.read_text(encoding="utf-8"), re.M), path


def test_notebook_kernel_is_this_environment():
    """make setup installs the python3 kernelspec into the venv, so JupyterLab uses the project's Python."""
    import sys
    from pathlib import Path

    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    exe = Path(spec.argv[0])
    assert exe.name.startswith("python")
    if exe.is_absolute():
        assert Path(sys.prefix) in exe.parents or exe.resolve() == Path(sys.executable).resolve()
