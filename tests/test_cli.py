"""run_reports.py options, --week forms, parameter validation and exit codes."""

from __future__ import annotations

import pytest

from canvass.cli import build_parser, main
from canvass.errors import ParameterError
from canvass.run.plan import parse_overrides
from canvass.weeks import parse_week

from .conftest import ROOT, SAMPLE, run_cli


def test_week_forms():
    assert parse_week("2023-W36") == "2023-W36"
    assert parse_week("2023-09-10") == "2023-W36"  # Sunday belongs to the week
    assert parse_week("2023/9/4") == "2023-W36"
    with pytest.raises(ParameterError, match="2023-W60"):
        parse_week("2023-W60")
    with pytest.raises(ParameterError, match="yesterday"):
        parse_week("yesterday")


def test_overrides_are_converted_to_declared_types():
    # (The product's notebooks have no free-text parameter staff may override: fault switches are gone.)
    got = parse_overrides([("target_awareness", "0.9"), ("overdue_days", "10"), ("target_coverage", "1")])
    assert got == {"target_awareness": 0.9, "overdue_days": 10, "target_coverage": 1.0}
    assert type(got["target_coverage"]) is float
    assert parse_overrides([("target_support", "None")]) == {"target_support": None}


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(ParameterError, match="target_awarness") as err:
        parse_overrides([("target_awarness", "0.9")])
    assert "target_awareness" in err.value.one_line()


def test_wrong_type_and_out_of_range_values():
    with pytest.raises(ParameterError, match="float"):
        parse_overrides([("target_awareness", "high")])
    with pytest.raises(ParameterError, match="超出范围"):
        parse_overrides([("target_awareness", "95")])
    with pytest.raises(ParameterError, match="--community"):
        parse_overrides([("community", "七一社区")])


def test_parser_defaults():
    args = build_parser().parse_args([])
    assert args.data == SAMPLE and str(args.out) == "reports" and args.week is None and args.jobs >= 1
    assert args.timeout == 600


def test_timeout_is_an_option_not_a_notebook_parameter(tmp_path):
    with pytest.raises(ParameterError, match="execution_timeout"):
        parse_overrides([("execution_timeout", "5")])
    assert build_parser().parse_args(["--timeout", "5"]).timeout == 5
    for bad in ("0", "-3"):
        assert main(["--timeout", bad, "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()  # refused before anything ran


def _main(capsys, *args: str) -> tuple[int, str]:
    """Run the command line in this process; return its exit code and everything it printed."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


BAD_ARGUMENTS = [
    (["-p", "nope", "1"], "nope"),
    (["--week", "2023-W99"], "2023-W99"),
    (["--data", "{tmp}/missing"], "missing"),
    (["--community", "春光社区", "--week", "2023-W37"], "春光社区"),
]


def _one_line_error(code: int, text: str, args, needle: str) -> None:
    assert code == 2, (args, text)
    assert needle in text and "Traceback" not in text
    assert len([line for line in text.strip().splitlines() if line.strip()]) == 1, text


@pytest.mark.slow
def test_cli_exit_2_without_traceback_for_bad_arguments(tmp_path, capsys):
    # In this process (an exception escaping main fails the test as surely as a printed traceback) ...
    for args, needle in BAD_ARGUMENTS:
        args = [a.format(tmp=tmp_path) for a in args]
        code, text = _main(capsys, *args, "--out", str(tmp_path / "out"))
        _one_line_error(code, text, args, needle)
    # ... and once as the OS sees it: the exit status and the output of run_reports.py itself.
    args, needle = BAD_ARGUMENTS[0]
    proc = run_cli(*args, "--out", str(tmp_path / "out"))
    _one_line_error(proc.returncode, proc.stdout + proc.stderr, args, needle)


@pytest.mark.slow
def test_list_params_and_check(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # as run_cli did: --check without --data reads the bundled sample
    code, text = _main(capsys, "--list-params")
    assert code == 0, text
    for name in ("community_report.ipynb", "subdistrict_digest.ipynb", "community", "week", "data_dir",
                 "target_awareness", "知晓率目标"):
        assert name in text
    code, text = _main(capsys, "--check", "--week", "2023-W37")
    assert code == 0, text
    assert "地址在住户台账中不存在" in text and "visits/" in text
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_default_week_is_latest_and_announced(tmp_path, capsys, inline_workers):
    code, text = _main(capsys, "--out", str(tmp_path / "out"), "--community", "港兴社区")
    assert code == 0, text
    assert "2023-W38" in text and "最近一个已结束的周" in text
    assert (tmp_path / "out" / "2023-W38" / "digest.html").is_file()


def test_python_m_canvass_is_the_same_command_line_as_run_reports():
    import os
    import subprocess
    import sys

    def options(*cmd):
        proc = subprocess.run([sys.executable, *cmd, "--help"], cwd=ROOT, capture_output=True, text=True,
                              encoding="utf-8", env={**os.environ, "COLUMNS": "200"})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split("\n\n", 1)[1]  # after the usage lines, which name the program

    assert options("-m", "canvass") == options(str(ROOT / "run_reports.py"))


def test_run_reports_without_the_projects_libraries_says_to_run_setup():
    """The system Python (not .venv's) lacks rich, pandas …: one line saying what to do, exit 2."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-S", str(ROOT / "run_reports.py"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "缺少运行所需的程序库" in proc.stderr and "make setup" in proc.stderr and ".venv" in proc.stderr


def test_community_option_marks_the_others_as_last_runs(tmp_path, capsys, inline_workers):
    import shutil

    from canvass.cli import main

    data = tmp_path / "data"
    shutil.copytree(ROOT / "tests" / "hostile" / "base", data)
    args = ["--data", str(data), "--out", str(tmp_path / "out"), "--week", "2023-W37", "--jobs", "1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args + ["--community", "海港社区"]) == 0
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines()
            if line.startswith("|") and "社区" in line.split("|")[1]}
    assert "本次未选（上次的报告）" in rows["修竹社区"] and "本次未选" not in rows["海港社区"]
