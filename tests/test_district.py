"""The district level: several sub-district folders in one run, and the district digest.

One in-process district run (InlineExecutor, real notebooks) is shared by the module: three
generated sub-districts whose names the sample never uses (东湖街道, 西岭街道, 南浦街道; 白鹭社区
in two of them), plus a fourth whose subdistrict.yml is broken. Every expected number is summed
here from the three sub-districts' metrics.csv files with the csv module.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from canvass import cli
from canvass.district import is_district, load_district
from canvass.errors import ConfigError, ParameterError

from .conftest import ROOT, SAMPLE

WEEK = "2023-W38"  # the generated data's latest complete week: what a run without --week reports
SUBS = {"东湖街道": (["青松社区", "白鹭社区"], 11, True), "西岭街道": (["红枫社区", "白鹭社区"], 12, True),
        "南浦街道": (["晨光社区", "月湾社区"], 13, False)}  # (communities, seed, subdistrict.yml sets targets)
SLUGS = {"东湖街道": "donghu-jiedao", "西岭街道": "xiling-jiedao", "南浦街道": "nanpu-jiedao"}
BROKEN = "北岸街道"
DISTRICT_YML = "name: 海滨区\nsubdistricts: [西岭街道, 东湖街道, 南浦街道, 北岸街道]\ntargets: {awareness: 0.8}\n"
pytestmark = pytest.mark.xdist_group("district")


def _generator():
    spec = importlib.util.spec_from_file_location("sample_generate", ROOT / "data" / "sample" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_district(folder: Path, broken: bool = True) -> Path:
    gen = _generator()
    for name, (communities, seed, targets) in SUBS.items():
        gen.generate(folder / name, n_communities=2, households=30, seed=seed, messy=False, name=name,
                     communities=communities, targets=targets)
    if broken:  # readable data, but a key subdistrict.yml does not know
        shutil.copytree(folder / "南浦街道", folder / BROKEN)
        (folder / BROKEN / "subdistrict.yml").write_text("name: 北岸街道\ncolour: blue\n", encoding="utf-8")
    (folder / "district.yml").write_text(DISTRICT_YML if broken else DISTRICT_YML.replace(", 北岸街道", ""),
                                         encoding="utf-8")
    return folder


def run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(argv)
    return code, buf.getvalue()


@pytest.fixture(scope="session")
def district_run(tmp_path_factory, _inline_kernel):
    """Return (data folder, OUT, exit code, printed text) of one district run without --week.

    Session scope: a module fixture is made again each time a worker comes back to this
    module after other tests (with --dist loadgroup a group's tests are handed out apart
    from the module's other tests).
    """
    from canvass.run import executors

    from .conftest import InlineExecutor

    root = tmp_path_factory.mktemp("district")
    data = make_district(root / "海滨区")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(executors.EXECUTORS, "local", InlineExecutor)
        code, printed = run(["--data", str(data), "--out", str(root / "out"), "--jobs", "1"])
    return data, root / "out", code, printed


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# --- detection and district.yml -----------------------------------------------------------

def test_detection(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "two" / name).mkdir(parents=True)
        (tmp_path / "two" / name / "subdistrict.yml").write_text("name: 甲\n", encoding="utf-8")
    assert is_district(tmp_path / "two")  # no subdistrict.yml and two sub-district folders
    (tmp_path / "one" / "a").mkdir(parents=True)
    (tmp_path / "one" / "a" / "subdistrict.yml").write_text("", encoding="utf-8")
    assert not is_district(tmp_path / "one")  # a lone sub-district folder below is not a district
    shutil.copytree(tmp_path / "two", tmp_path / "own")
    (tmp_path / "own" / "subdistrict.yml").write_text("", encoding="utf-8")
    assert not is_district(tmp_path / "own")  # its own subdistrict.yml: a sub-district as today
    (tmp_path / "own" / "district.yml").write_text("", encoding="utf-8")
    assert is_district(tmp_path / "own")  # district.yml always makes a district
    assert not is_district(SAMPLE)


def test_district_yml_errors(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "subdistrict.yml").write_text(f"name: {name}街道\n", encoding="utf-8")
    yml = tmp_path / "district.yml"
    yml.write_text("name: 海滨区\ncommunities: [x]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key\(s\): communities.*name、subdistricts、targets"):
        load_district(tmp_path)
    yml.write_text("subdistricts: [a街道, 丙街道]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="“丙街道” 没有对应的街道文件夹"):
        load_district(tmp_path)
    yml.write_text("targets: {awareness: 1.5}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="targets.awareness"):
        load_district(tmp_path)
    yml.write_text("targets: {knowing: 0.5}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="knowing"):
        load_district(tmp_path)
    # via the command line: one line, exit 2
    yml.write_text("name: 海滨区\nfoo: 1\n", encoding="utf-8")
    code, printed = run(["--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 2 and "foo" in printed and "Traceback" not in printed
    # order: listed by folder or subdistrict.yml name; unlisted folders come last
    yml.write_text("subdistricts: [b]\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="a街道"):
        d = load_district(tmp_path)
    assert [s.name for s in d.subdistricts] == ["b街道", "a街道"]
    assert [s.slug for s in d.subdistricts] == ["b-jiedao", "a-jiedao"]


def test_target_precedence(tmp_path):
    """built-in < district.yml < subdistrict.yml < -p, key by key."""
    from canvass.config import load_config
    from canvass.ingest.clean import clean_folder
    from canvass.run.plan import BatchOptions, plan_batch, prepared_location

    gen = _generator()
    gen.generate(tmp_path / "plain", n_communities=1, households=10, messy=False, name="东湖街道",
                 communities=["青松社区"], targets=False)
    district = {"awareness": 0.8, "support": 0.95, "participation": 0.8, "satisfaction": 0.9,
                "garbage_sorting": 0.9, "coverage": 1.0}
    assert load_config(tmp_path / "plain", base_targets=district).targets["awareness"] == 0.8
    yml = tmp_path / "plain" / "subdistrict.yml"
    yml.write_text(yml.read_text(encoding="utf-8") + "targets: {awareness: 0.7}\n", encoding="utf-8")
    got = load_config(tmp_path / "plain", base_targets={**district, "support": 0.6}).targets
    assert got["awareness"] == 0.7 and got["support"] == 0.6  # its own key wins; the others are the district's
    assert load_config(tmp_path / "plain").targets["support"] == 0.95  # without a district: built-in
    opts = BatchOptions(data_dir=tmp_path / "plain", out_dir=tmp_path / "out", base_targets=district,
                        params={"target_awareness": 0.65})
    config, prepared = prepared_location(opts)
    plan = plan_batch(opts, config, clean_folder(tmp_path / "plain", config), WEEK, False, prepared)
    assert plan.targets["awareness"] == 0.65 and plan.targets["participation"] == 0.8
    # the district's targets are part of the cache key: changing them cannot reuse stale slices
    other = prepared_location(BatchOptions(data_dir=tmp_path / "plain", out_dir=tmp_path / "out",
                                           base_targets={**district, "awareness": 0.9}))[1]
    assert other != prepared


# --- one district run -------------------------------------------------------------------------

def test_the_run_exits_1_and_names_the_broken_subdistrict(district_run):
    data, out, code, printed = district_run
    assert code == 1
    assert "北岸街道" in printed and "失败" in printed and "colour" in printed
    assert f"{WEEK}/district.html" in printed.replace("\\", "/")
    printed.encode("gbk")  # a Chinese Windows console can show every line
    html = (out / WEEK / "district.html").read_text(encoding="utf-8")
    failures = html[html.index("以下街道本周未能生成"):]
    assert "北岸街道" in failures[:500] and "colour" in failures[:500]
    for slug in SLUGS.values():
        assert (out / slug / WEEK / "digest.html").is_file()
    statuses = {s["name"]: s["status"]
                for s in json.loads((out / WEEK / "district_manifest.json").read_text(encoding="utf-8"))["subdistricts"]}
    assert statuses == {"西岭街道": "ok", "东湖街道": "ok", "南浦街道": "ok", "北岸街道": "failed"}


def test_outputs_layout_and_no_personal_data_outside_internal(district_run):
    data, out, _, _ = district_run
    for slug in SLUGS.values():
        assert (out / slug / WEEK / "metrics.csv").is_file()
        assert len(list((out / slug / WEEK / "communities").glob("*.html"))) == 2
        assert (out / "internal" / slug / WEEK / "rejects.csv").is_file()
        assert (out / "internal" / slug / WEEK / "notebooks" / "digest.ipynb").is_file()
        assert not (out / slug / "internal").exists()
    for name in ("district.html", "district.png", "district_metrics.csv", "district_manifest.json"):
        assert (out / WEEK / name).is_file()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="{WEEK}/district.html"' in index
    for slug in SLUGS.values():
        assert f'href="{slug}/{WEEK}/digest.html"' in index
    html = (out / WEEK / "district.html").read_text(encoding="utf-8")
    for slug in SLUGS.values():
        assert f'href="../{slug}/{WEEK}/digest.html"' in html
        assert (out / WEEK / f"../{slug}/{WEEK}/digest.html").resolve().is_file()
        digest = (out / slug / WEEK / "digest.html").read_text(encoding="utf-8")
        assert f'href="../../{WEEK}/district.html">← 返回全区' in digest  # and back up
        assert (out / slug / WEEK / f"../../{WEEK}/district.html").resolve().is_file()
    # residents' names and phones from the fixture's registers, nowhere outside OUT/internal/
    secrets = set()
    for sub in SUBS:
        for f in (data / sub / "households").glob("*.csv"):
            for row in read_csv(f):
                secrets.update({row["户主"], row["联系电话"]})
    secrets.discard("")
    assert len(secrets) > 100
    pattern = re.compile("|".join(map(re.escape, sorted(secrets, key=len, reverse=True))))
    checked = 0
    for f in out.rglob("*"):
        if not f.is_file() or "internal" in f.relative_to(out).parts:
            continue
        if f.suffix == ".xlsx":
            with zipfile.ZipFile(f) as z:
                text = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
        elif f.suffix in (".html", ".csv", ".json"):
            text = f.read_text(encoding="utf-8-sig")
        else:
            continue
        checked += 1
        found = pattern.search(text)
        assert found is None, f"{f}: {found.group(0)}"
    assert checked > 20


def test_district_numbers_equal_the_sums_of_the_subdistrict_metrics(district_run):
    """The done-when: every number is the sum of the three sub-districts' numerators and denominators."""
    _, out, _, _ = district_run
    pooled = {name: next(r for r in read_csv(out / slug / WEEK / "metrics.csv") if r["scope"] == "subdistrict")
              for name, slug in SLUGS.items()}
    rows = {r["subdistrict"]: r for r in read_csv(out / WEEK / "district_metrics.csv")}
    assert list(rows) == ["西岭街道", "东湖街道", "南浦街道", "海滨区"]  # district.yml's order, the pool last
    assert rows["海滨区"]["scope"] == "district" and rows["东湖街道"]["scope"] == "subdistrict"
    total = rows["海滨区"]

    def num(row, col):
        return float(row[col]) if row[col] != "" else 0.0

    for col in ("households", "reached_cum", "visits_week", "entered_week", "returns_week", "returns_cum",
                "issues_raised_week", "issues_resolved_week", "issues_open", "issues_overdue", "materials_week",
                "rejected_rows", "issues_raised_cum", "issues_resolved_cum"):
        assert int(float(total[col])) == sum(int(float(p[col])) for p in pooled.values()), col
        for name, p in pooled.items():
            assert int(float(rows[name][col])) == int(float(p[col])), (name, col)
    hh = sum(int(p["households"]) for p in pooled.values())
    reached = sum(int(p["reached_cum"]) for p in pooled.values())
    assert float(total["coverage_cum"]) == pytest.approx(reached / hh, abs=1e-12)
    shown = {"coverage": reached / hh}
    for x in ("awareness", "support", "participation", "satisfaction", "garbage_sorting"):
        for scope in ("week", "cum"):
            n = sum(int(p[f"{x}_n_{scope}"]) for p in pooled.values())
            pos = sum(round(num(p, f"{x}_rate_{scope}") * int(p[f"{x}_n_{scope}"])) for p in pooled.values())
            assert int(total[f"{x}_n_{scope}"]) == n
            assert float(total[f"{x}_rate_{scope}"]) == pytest.approx(pos / n, abs=1e-12), (x, scope)
            for name, p in pooled.items():
                assert rows[name][f"{x}_rate_{scope}"] == p[f"{x}_rate_{scope}"] or \
                    float(rows[name][f"{x}_rate_{scope}"]) == pytest.approx(float(p[f"{x}_rate_{scope}"]), abs=1e-12)
        shown[x] = float(total[f"{x}_rate_cum"])
    raised = sum(int(p["issues_raised_cum"]) for p in pooled.values())
    resolved = sum(int(p["issues_resolved_cum"]) for p in pooled.values())
    assert float(total["resolution_rate_cum"]) == pytest.approx(resolved / raised, abs=1e-12)
    # statuses use the district's targets (awareness 0.8 from district.yml, the rest built-in)
    assert total["awareness_status"] == ("green" if shown["awareness"] >= 0.8 else "amber" if shown["awareness"] >= 0.75
                                         else "red")
    # the rates district.html shows in the pooled row, in the table's order (coverage first)
    html = (out / WEEK / "district.html").read_text(encoding="utf-8")
    total_row = re.search(r'<tr class="total">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'<span class="rate">([^<]*)</span>', total_row)
    order = ("coverage", "awareness", "support", "participation", "satisfaction", "garbage_sorting")
    assert cells == [f"{shown[k] * 100:.1f}%" for k in order]
    for name, p in pooled.items():
        row = re.search(rf'<tr><th><a href="../{SLUGS[name]}/{WEEK}/digest.html">{name}</a>.*?</tr>', html, re.S).group(0)
        got = re.findall(r'<span class="rate">([^<]*)</span>', row)
        assert got[0] == f"{int(p['reached_cum']) / int(p['households']) * 100:.1f}%"
        assert got[1:] == [f"{float(p[f'{k}_rate_cum']) * 100:.1f}%" for k in order[1:]]
    # the facts line: households and reached summed
    assert f"全区 {hh} 户常住户，已覆盖 <b>{reached}</b> 户" in html
    overdue = sum(int(p["issues_overdue"]) for p in pooled.values())
    assert f"其中超期 <b class=\"warn\">{overdue}</b> 件" in html


def test_subdistrict_targets_precedence_in_the_run(district_run):
    _, out, _, _ = district_run
    targets = {name: json.loads((out / slug / WEEK / "manifest.json").read_text(encoding="utf-8"))["parameters"]["targets"]
               for name, slug in SLUGS.items()}
    assert targets["南浦街道"]["awareness"] == 0.8  # no targets in its subdistrict.yml: the district's
    assert targets["东湖街道"]["awareness"] == 0.95  # its own subdistrict.yml wins
    assert targets["南浦街道"]["support"] == 0.95  # built-in where neither sets one


def test_minus_p_targets_reach_the_district_digest(tmp_path):
    from canvass.district import District
    from canvass.run.district import district_targets
    from canvass.run.plan import BatchOptions

    d = District(tmp_path, "海滨区", (), targets={"awareness": 0.8, "support": 0.95, "participation": 0.8,
                                                 "satisfaction": 0.9, "garbage_sorting": 0.9, "coverage": 1.0})
    got = district_targets(d, BatchOptions(params={"target_awareness": 0.6, "target_support": None}))
    assert got["awareness"] == 0.6 and got["support"] == 0.95 and d.targets["awareness"] == 0.8


def test_community_names_across_subdistricts(district_run):
    from canvass.run.district import select_communities

    data, _, _, _ = district_run
    district = load_district(data)
    communities = {SLUGS[n]: c for n, (c, _, _) in SUBS.items()}
    with pytest.raises(ParameterError) as err:
        select_communities(["白鹭社区"], district, communities)
    assert "东湖街道/白鹭社区" in err.value.one_line() and "西岭街道/白鹭社区" in err.value.one_line()
    assert select_communities(["东湖街道/白鹭社区", "晨光社区"], district, communities) == {
        "donghu-jiedao": ["白鹭社区"], "nanpu-jiedao": ["晨光社区"]}
    with pytest.raises(ParameterError, match="没有社区"):
        select_communities(["东湖街道/红枫社区"], district, communities)


@pytest.mark.slow
def test_community_option_reruns_only_that_subdistrict(district_run, tmp_path, inline_workers):
    data, out, _, _ = district_run
    shutil.copytree(out, tmp_path / "out")
    out = tmp_path / "out"
    untouched = [p for slug in ("xiling-jiedao", "nanpu-jiedao") for p in (out / slug).rglob("*") if p.is_file()]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in untouched}
    district_before = (out / WEEK / "district_manifest.json").read_text(encoding="utf-8")
    code, printed = run(["--data", str(data), "--out", str(out), "--jobs", "1", "--week", WEEK,
                         "--community", "东湖街道/白鹭社区"])
    assert code == 1  # 北岸街道 still fails
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in untouched} == before
    manifest = json.loads((out / "donghu-jiedao" / WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["communities_selected"] == ["白鹭社区"]
    assert (out / WEEK / "district_manifest.json").read_text(encoding="utf-8") != district_before
    code, printed = run(["--data", str(data), "--out", str(out), "--week", WEEK, "--community", "白鹭社区"])
    assert code == 2 and "东湖街道/白鹭社区" in printed


def test_check_on_a_district_checks_each_subdistrict(district_run):
    data, out, _, _ = district_run
    code, printed = run(["--check", "--data", str(data), "--out", str(out)])
    assert code == 2  # the worst of the sub-districts': 北岸街道's subdistrict.yml is an error
    headings = re.findall(r"==== (\d)/4 (\S+)（", printed)
    assert headings == [("1", "西岭街道"), ("2", "东湖街道"), ("3", "南浦街道"), ("4", "北岸街道")]
    assert "colour" in printed.split("==== 4/4")[1]
    assert "所有文件都已读懂" in printed.split("==== 2/4")[1].split("==== 3/4")[0]
