"""Personal data (data contract section 7): nothing forwarded names a resident.

``OUT/W/`` is safe to forward whole: no registry name, no phone number, no address below
building level, no live markup from residents' free text. ``OUT/internal/W/followup/``
is for staff, and masks names (``王**``) and phones (``138****5678``).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from canvass.privacy import FreeTextMasker, mask_name, mask_phone

from .conftest import SAMPLE_WEEK

# Below building level: 3-2-501 (not a date: no 4-digit year, no further dash), 2单元501, 501室.
ADDRESS_BELOW_BUILDING = re.compile(
    r"(?<![\d\-./:])\d{1,3}\s*[-#]\s*\d{1,2}\s*-\s*\d{2,4}(?![\d\-./:])"
    r"|\d+\s*单元\s*\d+"
    r"|(?<![\d.])\d{3,4}\s*室")


# --- helpers --------------------------------------------------------------------------------

class _Registry:
    """Registry names (≥ 2 characters) and phones, with fast substring search."""

    def __init__(self, households):
        names = {str(n).strip() for n in households["name"] if isinstance(n, str)}
        self.names = {n for n in names if len(n) >= 2}
        phones = {re.sub(r"\D", "", str(p)) for p in households["phone"] if isinstance(p, str)}
        self.phones = {p for p in phones if len(p) >= 7}
        self.name_lengths = sorted({len(n) for n in self.names})
        self.phone_lengths = sorted({len(p) for p in self.phones})

    def names_in(self, text: str, boilerplate: str = "") -> set:
        """Registry names found in ``text``; an occurrence whose context (the name and one character
        on each side) is literally in ``boilerplate`` (the product's own wording, e.g. 本周新登记
        holds the name 周新) does not count."""
        found = set()
        first = {n[0] for n in self.names}
        for i, ch in enumerate(text):
            if ch not in first:
                continue
            for k in self.name_lengths:
                name = text[i:i + k]
                if name in self.names:
                    context = text[max(0, i - 1):i + k + 1]
                    if not (boilerplate and context in boilerplate):
                        found.add(name)
        return found

    def phones_in(self, text: str) -> set:
        found = set()
        for run in re.findall(r"\d{7,}", text):
            for k in self.phone_lengths:
                for i in range(len(run) - k + 1):
                    if run[i:i + k] in self.phones:
                        found.add(run[i:i + k])
        return found


@pytest.fixture(scope="module")
def registry(sample_cleaned) -> _Registry:
    reg = _Registry(sample_cleaned.households)
    assert len(reg.names) > 1000 and len(reg.phones) > 1000, "the sample registry should have names and phones"
    return reg


@pytest.fixture(scope="module")
def boilerplate() -> str:
    """The product's own wording: package sources, templates and notebooks (NFKC)."""
    root = Path(__file__).resolve().parent.parent
    parts = []
    for folder in (root / "canvass", root / "notebooks"):
        for p in folder.rglob("*"):
            if p.is_file() and p.suffix in (".py", ".html", ".j2", ".jinja", ".css", ".ipynb", ".txt", ".md"):
                parts.append(p.read_text(encoding="utf-8", errors="replace"))
    text = unicodedata.normalize("NFKC", "\n".join(parts))
    return text


def _xlsx_text(path: Path) -> str:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    parts = []
    for ws in wb.worksheets:
        parts.append(ws.title)
        for row in ws.iter_rows(values_only=True):
            parts.extend(str(v) for v in row if v is not None)
    wb.close()
    return "\n".join(parts)


def _file_text(path: Path) -> str:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _xlsx_text(path)
    return path.read_bytes().decode("utf-8", errors="replace")


class _Html(HTMLParser):
    """Collects visible text, tags and attributes of an HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.tags, self.attrs, self._skip = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse_html(path: Path) -> _Html:
    p = _Html()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def _forwarded_files(out: Path) -> list:
    files = sorted(p for p in (out / SAMPLE_WEEK).rglob("*") if p.is_file())
    if (out / "index.html").is_file():
        files.append(out / "index.html")
    return files


# --- OUT/W/ holds no personal data ------------------------------------------------------------

@pytest.mark.slow
def test_forwarded_files_hold_no_registry_name_or_phone(sample_reports, registry, boilerplate):
    files = _forwarded_files(sample_reports)
    kinds = {p.suffix.lower() for p in files}
    assert {".html", ".csv", ".json", ".xlsx"} <= kinds, kinds
    leaks = {}
    for path in files:
        text = unicodedata.normalize("NFKC", _file_text(path))
        if path.suffix.lower() in (".html", ".htm"):
            text += "\n" + html.unescape(text)
        names, phones = registry.names_in(text, boilerplate), registry.phones_in(text)
        if names or phones:
            leaks[str(path.relative_to(sample_reports))] = {"names": sorted(names)[:10], "phones": sorted(phones)[:10]}
    assert not leaks, f"personal data in OUT/{SAMPLE_WEEK}/ (safe to forward): {leaks}"


@pytest.mark.slow
def test_forwarded_html_has_no_address_below_building_level(sample_reports):
    leaks = {}
    for path in _forwarded_files(sample_reports):
        if path.suffix.lower() != ".html":
            continue
        text = unicodedata.normalize("NFKC", " ".join(_parse_html(path).text))
        hits = {m.group(0) for m in ADDRESS_BELOW_BUILDING.finditer(text)}
        if hits:
            leaks[str(path.relative_to(sample_reports))] = sorted(hits)[:10]
    assert not leaks, f"addresses below building level in forwarded HTML: {leaks}"


@pytest.mark.slow
def test_forwarded_tables_have_no_address_below_building_level(sample_reports):
    leaks = {}
    for path in _forwarded_files(sample_reports):
        if path.suffix.lower() not in (".csv", ".xlsx"):
            continue
        text = unicodedata.normalize("NFKC", _file_text(path))
        hits = {m.group(0) for m in ADDRESS_BELOW_BUILDING.finditer(text)}
        if hits:
            leaks[str(path.relative_to(sample_reports))] = sorted(hits)[:10]
    assert not leaks, leaks


@pytest.mark.slow
def test_forwarded_html_has_no_live_markup_from_free_text(sample_reports):
    pages = [p for p in _forwarded_files(sample_reports) if p.suffix.lower() == ".html"]
    assert len(pages) >= 7, pages  # index, digest, five communities
    for path in pages:
        raw = path.read_text(encoding="utf-8")
        assert not re.search(r"<\s*script", raw, re.IGNORECASE), f"{path.name}: a <script> element"
        parsed = _parse_html(path)
        assert "script" not in parsed.tags, path.name
        handlers = [(t, k) for t, k, _ in parsed.attrs if k.lower().startswith("on")]
        assert not handlers, f"{path.name}: event-handler attributes {handlers[:5]}"
        js = [(t, k, v) for t, k, v in parsed.attrs if "javascript:" in v.replace(" ", "").lower()]
        assert not js, f"{path.name}: javascript: URLs {js[:5]}"
        # the planted free text (e.g. issues 七一 row 62, 港兴 row 45), when shown, is shown as text
        if "alert(1)" in raw:
            for m in re.finditer(r"alert\(1\)", raw):
                before = raw[max(0, m.start() - 60):m.start()]
                assert "&lt;" in before, f"{path.name}: unescaped markup around {raw[m.start() - 60:m.end() + 20]!r}"


@pytest.mark.slow
def test_the_scanner_finds_personal_data_where_it_is_allowed(sample_reports, registry, boilerplate):
    """Control for the scans above: the internal rejects keep raw registry rows (names, phones)."""
    text = unicodedata.normalize("NFKC", _file_text(sample_reports / "internal" / SAMPLE_WEEK / "rejects.csv"))
    assert registry.names_in(text, boilerplate) and registry.phones_in(text)


# --- internal follow-up lists mask names and phones ----------------------------------------------

@pytest.mark.slow
def test_followup_lists_mask_names_and_phones(sample_reports, registry):
    import openpyxl

    folder = sample_reports / "internal" / SAMPLE_WEEK / "followup"
    books = sorted(folder.glob("*.xlsx"))
    assert len(books) == 5, books
    checked = 0
    for book in books:
        text = _xlsx_text(book)
        assert not registry.names_in(text), f"{book.name}: full names {sorted(registry.names_in(text))[:5]}"
        assert not registry.phones_in(text), f"{book.name}: full phones {sorted(registry.phones_in(text))[:5]}"
        wb = openpyxl.load_workbook(book, read_only=True)
        for ws in wb.worksheets:
            rows = list(ws.iter_rows(values_only=True))
            header = list(rows[0])
            assert "户主" in header and "电话" in header, header
            i_name, i_phone = header.index("户主"), header.index("电话")
            for r in rows[1:]:
                name, phone = r[i_name], r[i_phone]
                if name not in (None, ""):
                    assert re.fullmatch(r"[^*\s]\*+", str(name)), f"{book.name}/{ws.title}: name {name!r} not masked"
                if phone not in (None, ""):
                    assert re.fullmatch(r"\d{3}\*{4}\d{4}|\*{4}", str(phone)), \
                        f"{book.name}/{ws.title}: phone {phone!r} not masked"
                checked += 1
        wb.close()
    assert checked > 100, "the sample has hundreds of unreached households"


# --- FreeTextMasker and the staff masks (unit tests) ------------------------------------------------

NAMES = ["王小明", "李大伟", "欧阳娜娜", "周"]


@pytest.fixture
def masker():
    return FreeTextMasker(NAMES)


@pytest.mark.parametrize("hostile", [
    "<script>alert(1)</script>",
    '<a href="javascript:alert(1)">x</a>',
    '" onmouseover="x',
    "' onclick='x",
    "<img src=x onerror=alert(1)>",
    "</td></tr></table><script>alert(1)</script>",
])
def test_mask_html_escapes_markup(masker, hostile):
    out = masker.mask_html(hostile)
    assert "<" not in out and ">" not in out, out
    assert '"' not in out and "'" not in out, out
    parser = _Html()
    parser.feed(f"<p title=\"{out}\">{out}</p>")
    assert parser.tags == ["p"], "escaped text must not open a tag"
    assert [k for _, k, _ in parser.attrs] == ["title"], "escaped text must not add an attribute"
    assert html.unescape(out) == masker.mask(hostile), "escaping must be reversible (the text is shown as typed)"


def test_mask_html_keeps_the_script_text_visible(masker):
    assert masker.mask_html("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.mark.parametrize("text, phone", [
    ("电话13812345678请回电", "13812345678"),
    ("13812345678", "13812345678"),
    ("王小明13912345678", "13912345678"),
    ("+8613812345678", "13812345678"),
    ("手机：15000001111。", "15000001111"),
])
def test_mask_phone_runs(masker, text, phone):
    out = masker.mask(text)
    assert phone not in out, out
    assert re.search(r"\d{3}\*{4}\d{4}", out), out


@pytest.mark.parametrize("text", ["138 1234 5678", "138-1234-5678", "电话 138 1234 5678 找王"])
def test_mask_phone_with_separators(masker, text):
    """A phone written in groups is still a phone number."""
    out = masker.mask(text)
    assert not re.search(r"1\d{2}\D?\d{4}\D?\d{4}", out), out


@pytest.mark.parametrize("text", ["138.1234.5678", "138_1234_5678", "138/1234/5678", "138—1234—5678",
                                  "+86-138-1234-5678", "１３８．１２３４．５６７８"])
def test_mask_phone_with_other_separators(masker, text):
    out = unicodedata.normalize("NFKC", masker.mask(text))
    assert "1234" not in out and out.endswith("138****5678"), out
    assert "号楼" not in out, out  # +86- is not a building


def test_mask_ip_addresses(masker):
    assert masker.mask("IP 192.168.1.100 提交") == "IP *.*.*.* 提交"
    assert masker.mask("来自 10.0.0.7(浙江-杭州)") == "来自 *.*.*.*(浙江-杭州)"
    assert masker.mask("评分4.5，第1.2条") == "评分4.5，第1.2条", "decimals stay"


def test_mask_landline_and_short_runs(masker):
    assert "88123456" not in masker.mask("座机0571-88123456")
    assert masker.mask("共 3 件，2023-09-05 办结") == "共 3 件，2023-09-05 办结", "dates and counts stay"


def test_mask_names(masker):
    assert masker.mask("王小明说李大伟家漏水") == "某某说某某家漏水"
    assert masker.mask("欧阳娜娜反映") == "某某反映"
    assert "周" in masker.mask("周末广场舞"), "one-character names are not masked"
    out = masker.mask("王小明13812345678")
    assert "王小明" not in out and "13812345678" not in out
    assert FreeTextMasker([]).mask("王小明") == "王小明"


@pytest.mark.parametrize("text", [
    "3-2-501空调外机滴水", "2单元501漏水", "3号楼2单元501室", "３－２－５０１", "三号楼二单元501室",
    "3#2-501", "5号楼1单元302室门口堆物", "3号楼501室", "3 - 2 - 501", "3-501",
    # forms found by an audit of hostile inputs (2026-12-04)
    "3号楼501", "3栋501", "3幢501房", "3号楼-2-501", "3—2—501", "3/2/501", "3号楼2门501", "B座501",
    "501房", "5楼501", "人民路88号3栋501", "三栋二单元五零一室", "9栋 501 8幢1单元302",
])
def test_mask_addresses_below_building_level(masker, text):
    out = masker.mask(text)
    norm = unicodedata.normalize("NFKC", out)
    assert not ADDRESS_BELOW_BUILDING.search(norm), out
    assert not re.search(r"(?<!\d)(501|302)(?!\d)", norm), f"the room number survived: {out}"


def test_mask_addresses_keep_the_building(masker):
    assert masker.mask("3-2-501空调外机滴水") == "3号楼空调外机滴水"
    assert masker.mask("5号楼1单元302室门口") == "5号楼门口"
    assert masker.mask("3栋2单元楼道灯坏了") == "3号楼楼道灯坏了"  # a unit is below the building
    assert masker.mask("B座1202漏水") == "B座漏水"


@pytest.mark.parametrize("text", ["3号楼20人参加", "3栋有12户", "5号楼100米外", "第3栋楼2023年修过", "3号楼一层大厅",
                                  "2023/9/12 开会", "9/12/2023 开会", "9-5开会", "共 3 件，2023-09-05 办结",
                                  "1号楼前的花坛", "2楼会议室"])
def test_mask_addresses_leave_counts_dates_and_buildings(masker, text):
    assert masker.mask(text) == text


def test_staff_masks():
    assert mask_name("王小明") == "王**"
    assert mask_name("王芳") == "王*"
    assert mask_phone("13812345678") == "138****5678"
    assert "12345678" not in mask_phone("12345678")


def test_masker_handles_odd_values(masker):
    for value in (None, float("nan"), "", "   ", 12345, "🏠" * 50):
        out = masker.mask_html(value)
        assert isinstance(out, str)



def test_masker_takes_a_registry_column_with_missing_names():
    # The batch hands a community's name column (Arrow text, with blanks): missing and
    # one-character names are left out, the others are masked longest first.
    import pandas as pd

    names = pd.Series(["王小明", None, "李", " 王小 ", pd.NA], dtype="string")
    masker = FreeTextMasker(names)
    assert masker.mask("王小明说王小也在，李也在") == "某某说某某也在，李也在"


@pytest.mark.slow
def test_forwarded_files_name_no_local_folder(sample_reports):
    """An absolute path names the user's home folder (C:\\Users\\张三\\…): manifest.json is forwarded."""
    from .conftest import ROOT

    local = [str(ROOT.resolve()), str(sample_reports.resolve()), str(Path.home())]
    leaks = {}
    for path in _forwarded_files(sample_reports):
        if path.suffix.lower() in (".html", ".csv", ".json"):
            text = _file_text(path)
            found = [p for p in local if p in text or p.replace("/", "\\\\") in text]
            if found:
                leaks[path.name] = found
    assert not leaks, leaks
    manifest = json.loads((sample_reports / SAMPLE_WEEK / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data_dir"] == "data/sample" and manifest["config_file"] == "subdistrict.yml"


def test_shareable_path(tmp_path, monkeypatch):
    from canvass.privacy import shareable_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    assert shareable_path(tmp_path / "d") == "d" and shareable_path(tmp_path) == "."
    assert shareable_path("/srv/张三/数据/街道") == "街道"  # outside the working folder: its name only
    assert shareable_path(tmp_path / "d" / "subdistrict.yml", tmp_path / "d") == "subdistrict.yml"
    assert shareable_path(None) == ""
