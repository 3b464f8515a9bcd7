"""Notebooks: committed clean, parameters documented, runnable on their own."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest

from .conftest import ROOT, SAMPLE_WEEK

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    assert len(NOTEBOOKS) == 2
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path


def test_first_code_cell_is_tagged_parameters_and_documented():
    import papermill as pm

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first.metadata.get("tags", [])
        params = pm.inspect_notebook(str(path))
        assert {"week", "data_dir", "target_awareness", "target_coverage"} <= set(params)
        for name, info in params.items():
            assert info["help"], f"{path.name}: {name} has no comment"
            assert info["inferred_type_name"] != "None", f"{path.name}: {name} has no type"


def test_notebooks_stay_thin():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not re.search(r"^\s*(def|class|for|while)\s", cell.source, re.M), cell.source


def test_help_notebook_lists_parameters():
    proc = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook",
                           str(ROOT / "notebooks" / "community_report.ipynb")],
                          capture_output=True, text=True, encoding="utf-8")
    assert proc.returncode == 0
    for name in ("community", "week", "data_dir", "target_awareness", "社区名称"):
        assert name in proc.stdout


def _html_outputs(nb) -> list[str]:
    return [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "text/html" in o.get("data", {})]


@pytest.mark.slow
def test_plain_papermill_matches_the_batch_report(sample_reports, tmp_path):
    """A staff member's papermill run produces the same report content as the batch."""
    out = tmp_path / "haigang.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "community_report.ipynb"),
                           str(out), "-p", "community", "海港社区", "-p", "data_dir", "data/sample",
                           "-p", "week", SAMPLE_WEEK], cwd=tmp_path, capture_output=True, text=True,
                          encoding="utf-8", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    mine = _html_outputs(nbformat.read(out, as_version=4))
    batch = _html_outputs(nbformat.read(sample_reports / "internal" / SAMPLE_WEEK / "notebooks" / "haigang-shequ.ipynb",
                                        as_version=4))
    assert mine == batch


@pytest.mark.slow
def test_notebooks_run_with_defaults_via_nbconvert(tmp_path):
    for path in NOTEBOOKS:
        proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                               "--output-dir", str(tmp_path), str(path)], capture_output=True, text=True,
                              encoding="utf-8", timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        nb = nbformat.read(tmp_path / path.name, as_version=4)
        assert _html_outputs(nb)


def test_parameters_hold_only_what_staff_may_change():
    """No test switches in the product's parameters, and every parameter is read by a later cell."""
    import papermill as pm

    for path in NOTEBOOKS:
        params = pm.inspect_notebook(str(path))
        assert not {"fail_community", "hang_community", "execution_timeout"} & set(params), path.name
        nb = nbformat.read(path, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        later = "\n".join(code[1:])
        unread = [name for name in params if not re.search(rf"\b{name}\b", later)]
        assert not unread, f"{path.name}: parameters no cell reads: {unread}"
        assert "sleep(" not in later and "raise " not in later, path.name


def test_fixture_notebooks_take_the_batch_parameters():
    """The fault fixtures accept every parameter the batch passes to the community notebook."""
    import papermill as pm

    product = set(pm.inspect_notebook(str(ROOT / "notebooks" / "community_report.ipynb")))
    for path in sorted((ROOT / "tests" / "notebooks").glob("*.ipynb")):
        assert product <= set(pm.inspect_notebook(str(path))), path.name
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert all(c.get("outputs", []) == [] for c in nb["cells"]), path.name


def test_a_wrong_parameter_shows_staff_one_line_not_a_traceback(tmp_path):
    """In JupyterLab a wrong community or week is the Chinese message, not 30 lines of the package."""
    import contextlib
    import io

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        shell.run_cell(f"from canvass import notebook as nb\n"
                       f"nb.community_context('春光社区', '2023-W37', {str(ROOT / 'data' / 'sample')!r})")
    shown = [line for line in buf.getvalue().splitlines() if line.strip()]
    assert shown[0].startswith("错误 error: ") and "春光社区" in shown[0] and "海港社区" in shown[0], shown
    assert len(shown) == 2 and "Traceback" not in buf.getvalue() and "File " not in buf.getvalue(), shown


def test_an_empty_section_leaves_no_output(monkeypatch):
    import IPython.display

    from canvass import notebook as nb

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    nb.show("")
    nb.show("  \n")
    nb.show("<p>x</p>")
    assert shown == ["<p>x</p>"]
