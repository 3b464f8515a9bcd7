"""Reading staff exports: data contract section 1 (encodings, workbooks, title rows, row numbers)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from canvass.config import Config
from canvass.errors import InputError
from canvass.ingest.clean import clean_folder
from canvass.ingest.readers import decode_csv_bytes, list_input_files, read_sheet

REGISTRY_HEADER = ["社区", "网格", "楼号", "单元", "室", "户主"]
REGISTRY_ROWS = [
    ["七一社区", "1", "3", "2", "501", "王小明"],
    ["七一社区", "1", "3", "2", "502", "李华"],
    ["七一社区", "2", "5", "1", "101", "张伟"],
]


def cells_of(path: Path) -> pd.DataFrame:
    return read_sheet(path, path.name).cells


def write_csv(path: Path, rows, encoding="utf-8", newline="\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(",".join(r) for r in rows) + newline
    path.write_bytes(text.encode(encoding))
    return path


def make_folder(root: Path) -> Path:
    """Return a data folder with the four sub-folders (empty but for what a test writes)."""
    for kind in ("households", "visits", "surveys", "issues"):
        (root / kind).mkdir(parents=True, exist_ok=True)
    return root


def record(cleaned, file: str):
    (rec,) = [r for r in cleaned.files if r.file == file]
    return rec


# --- CSV encodings --------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030", "utf-16"])  # utf-16: with its BOM
def test_csv_encodings_give_the_same_cells(tmp_path, encoding):
    rows = [REGISTRY_HEADER, *REGISTRY_ROWS, ["七一社区", "第1网格", "３号楼", "2单元", "501室", "欧阳娜娜"]]
    path = write_csv(tmp_path / "h.csv", rows, encoding=encoding)
    cells = cells_of(path)
    assert cells.values.tolist() == rows


def test_utf8_bom_is_not_part_of_the_first_header(tmp_path):
    path = write_csv(tmp_path / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS], encoding="utf-8-sig")
    assert cells_of(path).iloc[0, 0] == "社区"


def test_gbk_with_crlf_line_endings(tmp_path):
    path = write_csv(tmp_path / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS], encoding="gbk", newline="\r\n")
    assert cells_of(path).values.tolist() == [REGISTRY_HEADER, *REGISTRY_ROWS]


def test_decode_order_bom_then_utf8_then_gb18030():
    assert decode_csv_bytes("社区".encode("utf-8-sig"), "f") == "社区"
    assert decode_csv_bytes("社区".encode("utf-8"), "f") == "社区"
    assert decode_csv_bytes("社区".encode("gb18030"), "f") == "社区"


def test_gbk_file_is_read_end_to_end(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS], encoding="gbk")
    cleaned = clean_folder(data, Config())
    assert cleaned.households["community"].tolist() == ["七一社区"] * 3
    assert cleaned.households["name"].tolist() == ["王小明", "李华", "张伟"]


def test_quoted_cells_with_commas_and_newlines(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('社区,问题描述\n七一社区,"路灯不亮,\n晚上很黑"\n七一社区,"说""好的"""\n', encoding="utf-8")
    cells = cells_of(path)
    assert cells.values.tolist() == [["社区", "问题描述"], ["七一社区", "路灯不亮,\n晚上很黑"], ["七一社区", '说"好的"']]


def test_rows_wider_than_the_first_lines_are_kept_whole(tmp_path):
    lines = [["a", "b", "c"]] + [[str(i), "x", "y"] for i in range(80)]
    lines[70] = ["69", "x", "y", "EXTRA"]  # beyond the first 50 lines
    cells = cells_of(write_csv(tmp_path / "w.csv", lines))
    assert cells.shape == (81, 4)
    assert cells.iloc[70].tolist() == ["69", "x", "y", "EXTRA"]
    assert cells.iloc[71].tolist() == ["70", "x", "y", ""]


def test_csv_cells_are_text_never_floats(tmp_path):
    path = write_csv(tmp_path / "n.csv", [["室", "电话", "材料"], ["0501", "13812345678", "2.0"], ["501", "", "NA"]])
    cells = cells_of(path)
    assert cells.values.tolist() == [["室", "电话", "材料"], ["0501", "13812345678", "2.0"], ["501", "", "NA"]]


# --- unreadable files --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["empty.csv", "empty.xlsx", "empty.xls"])
def test_zero_byte_file_is_an_input_error_naming_the_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputError) as info:
        read_sheet(tmp_path / name, f"visits/{name}")
    assert f"visits/{name}" in str(info.value)
    assert info.value.file == f"visits/{name}"


@pytest.mark.parametrize("name,data", [
    ("garbage.csv", random.Random(7).randbytes(4000)),
    ("garbage2.csv", bytes(range(1, 256)) * 20),  # no NUL bytes, mostly control characters
    ("utf16-no-bom.csv", "社区,网格\n七一社区,1\n".encode("utf-16-le")),  # with its BOM it is read (Excel's Unicode text)
    ("garbage.xlsx", b"PK\x03\x04" + random.Random(8).randbytes(4000)),
    ("garbage.xls", random.Random(9).randbytes(4000)),
])
def test_binary_garbage_is_an_input_error_naming_the_file(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError) as info:
        read_sheet(tmp_path / name, f"surveys/{name}")
    assert f"surveys/{name}" in str(info.value)


def test_garbage_file_in_a_folder_fails_clean_folder_naming_it(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    (data / "visits" / "坏文件.csv").write_bytes(random.Random(1).randbytes(2000))
    with pytest.raises(InputError) as info:
        clean_folder(data, Config())
    assert "visits/坏文件.csv" in str(info.value)


def test_zero_byte_file_in_a_folder_fails_clean_folder_naming_it(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    (data / "issues" / "空.xlsx").write_bytes(b"")
    with pytest.raises(InputError) as info:
        clean_folder(data, Config())
    assert "issues/空.xlsx" in str(info.value)


# --- header detection, title rows, Excel row numbers -----------------------------------------------

def test_title_rows_above_the_header_keep_excel_row_numbers_csv(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [
        ["七一社区住户台账", "", "", "", "", ""],  # row 1: title
        ["制表日期：2023年9月1日", "", "", "", "", ""],  # row 2: date line
        REGISTRY_HEADER,  # row 3: header
        REGISTRY_ROWS[0],  # row 4
        ["七一社区", "", "3", "2", "503", "赵六"],  # row 5: missing grid
        ["", "", "", "", "", ""],  # row 6: blank
        REGISTRY_ROWS[1],  # row 7
        ["七一社区", "1", "3", "2", "501", "王小明"],  # row 8: duplicate of row 4
    ])
    cleaned = clean_folder(data, Config())
    rec = record(cleaned, "households/h.csv")
    assert rec.header_row == 3
    assert (rec.data_rows, rec.blank_rows) == (4, 1)
    assert cleaned.households["row"].tolist() == [4, 7]
    got = sorted(zip(cleaned.rejects["row"], cleaned.rejects["reason"]))
    assert got == [(5, "missing grid"), (8, "duplicate household")]


def test_title_rows_and_blank_leading_rows_keep_excel_row_numbers_xlsx(tmp_path):
    data = make_folder(tmp_path / "data")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.cell(2, 1, "七一社区住户台账")  # row 1 is completely empty, row 2 a title
    for c, h in enumerate(REGISTRY_HEADER, start=1):
        ws.cell(4, c, h)  # row 3 empty, header on row 4
    for c, v in enumerate(REGISTRY_ROWS[0], start=1):
        ws.cell(5, c, v)
    for c, v in enumerate(["七一社区", "1", "3", "2", "", "无室号"], start=1):
        ws.cell(7, c, v)  # row 6 blank, row 7 missing room
    wb.save(data / "households" / "h.xlsx")
    cleaned = clean_folder(data, Config())
    rec = record(cleaned, "households/h.xlsx")
    assert rec.header_row == 4
    assert (rec.data_rows, rec.blank_rows) == (2, 1)
    assert cleaned.households["row"].tolist() == [5]
    assert cleaned.rejects[["row", "reason"]].values.tolist() == [[7, "missing address"]]


def test_header_must_be_within_the_first_ten_rows(tmp_path):
    data = make_folder(tmp_path / "data")
    rows = [["说明"] + [""] * 5 for _ in range(10)] + [REGISTRY_HEADER, *REGISTRY_ROWS]
    write_csv(data / "households" / "h.csv", rows)
    with pytest.raises(InputError) as info:
        clean_folder(data, Config())
    assert "households/h.csv" in str(info.value)


def test_header_on_row_ten_is_found(tmp_path):
    data = make_folder(tmp_path / "data")
    rows = [["说明"] + [""] * 5 for _ in range(9)] + [REGISTRY_HEADER, *REGISTRY_ROWS]
    write_csv(data / "households" / "h.csv", rows)
    cleaned = clean_folder(data, Config())
    assert record(cleaned, "households/h.csv").header_row == 10
    assert cleaned.households["row"].tolist() == [11, 12, 13]


def test_blank_rows_are_counted_as_blank_not_rejected(tmp_path):
    data = make_folder(tmp_path / "data")
    path = data / "households" / "h.csv"
    path.write_text("社区,网格,地址\n七一社区,1,3-2-501\n\n,,\n  , ,\u3000\n七一社区,1,3-2-502\n", encoding="utf-8")
    cleaned = clean_folder(data, Config())
    rec = record(cleaned, "households/h.csv")
    assert (rec.data_rows, rec.blank_rows) == (2, 3)
    assert len(cleaned.rejects) == 0
    assert cleaned.households["row"].tolist() == [2, 6]


def test_header_only_file_has_zero_rows(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    write_csv(data / "visits" / "v.csv", [["日期", "社区", "地址", "结果"]])
    wb = openpyxl.Workbook()
    wb.active.append(["提交时间", "社区", "您知道创城吗"])
    wb.save(data / "surveys" / "s.xlsx")
    write_csv(data / "issues" / "i.csv", [["登记日期", "社区", "办理状态", "办结日期"]], encoding="gbk")
    cleaned = clean_folder(data, Config())
    for f in ("visits/v.csv", "surveys/s.xlsx", "issues/i.csv"):
        rec = record(cleaned, f)
        assert (rec.header_row, rec.data_rows, rec.blank_rows) == (1, 0, 0)
    assert len(cleaned.visits) == 0 and len(cleaned.surveys) == 0 and len(cleaned.issues) == 0
    assert len(cleaned.rejects) == 0


# --- workbooks: cells read as text ---------------------------------------------------------------

def test_xlsx_numeric_cells_stay_integers_as_text(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["楼号", "单元", "室", "电话", "材料", "小数"])
    ws.append([3, 2, 501, 13812345678, 2.0, 2.5])
    ws.append([3.0, 2.0, 501.0, 13900001111.0, 0, 0.1])
    ws.append(["3", "2", "0501", "", "2份", ""])
    wb.save(tmp_path / "n.xlsx")
    cells = cells_of(tmp_path / "n.xlsx")
    assert cells.iloc[1].tolist() == ["3", "2", "501", "13812345678", "2", "2.5"]
    assert cells.iloc[2].tolist() == ["3", "2", "501", "13900001111", "0", "0.1"]
    assert cells.iloc[3].tolist() == ["3", "2", "0501", "", "2份", ""]


def test_xlsx_dates_and_serials_parse_as_dates(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["走访日期", "社区", "楼号", "单元", "室", "走访结果"])
    ws.append([dt.datetime(2023, 9, 5), "七一社区", 3, 2, 501, "已入户"])  # real date cell
    ws.append([dt.datetime(2023, 9, 5, 19, 30), "七一社区", 3, 2, 502, "已入户"])  # date-time cell
    ws.append([45174, "七一社区", 5, 1, 101, "已入户"])  # serial number cell
    ws.append([45175.8125, "七一社区", 3, 2, 501, "不在家"])  # serial with a time fraction
    ws.append([dt.date(2023, 9, 7), "七一社区", 3, 2, 502, "拒访"])
    ws.append(["2023/9/8", "七一社区", 5, 1, 101, "微信"])
    wb.save(data / "visits" / "v.xlsx")
    cleaned = clean_folder(data, Config())
    assert len(cleaned.rejects) == 0
    assert [d.date().isoformat() for d in cleaned.visits["date"]] == [
        "2023-09-05", "2023-09-05", "2023-09-05", "2023-09-06", "2023-09-07", "2023-09-08"]
    assert cleaned.visits["room"].tolist() == ["501", "502", "101", "501", "502", "101"]


def test_xlsx_survey_timestamps_keep_the_time(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["提交时间", "社区", "您知道创城吗"])
    ws.append([dt.datetime(2023, 9, 5, 19, 30, 12), "七一社区", "知道"])
    ws.append([45174.8125, "七一社区", "知道"])
    wb.save(data / "surveys" / "s.xlsx")
    cleaned = clean_folder(data, Config())
    assert cleaned.surveys["submitted_at"].tolist() == [pd.Timestamp("2023-09-05 19:30:12"),
                                                        pd.Timestamp("2023-09-05 19:30:00")]


def test_xls_written_by_xlwt(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    book = xlwt.Workbook()
    sheet = book.add_sheet("Sheet1")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
    header = ["序号", "提交答卷时间", "1、您所在的社区：", "2、您的住址", "3、您知道我市正在创建全国文明城市吗？"]
    for c, h in enumerate(header):
        sheet.write(0, c, h)
    rows = [
        [1, "2023/9/5 19:30:12", "七一社区", "3号楼2单元501室", "知道"],  # text timestamp as 问卷星 writes it
        [2, dt.datetime(2023, 9, 6, 8, 0), "七一社区", "3-2-502", "不知道"],  # real date cell
        [3, 45175.5, "七一社区", "", "(跳过)"],  # serial number, anonymous
    ]
    for r, row in enumerate(rows, start=1):
        for c, v in enumerate(row):
            if isinstance(v, dt.datetime):
                sheet.write(r, c, v, date_style)
            else:
                sheet.write(r, c, v)
    # row 5 (index 4) left blank, then one more return on Excel row 6
    for c, v in enumerate([4, "2023-09-07 10:00", "七一社区", 501, "知道"]):
        sheet.write(5, c, v)
    book.save(str(data / "surveys" / "wjx.xls"))
    cells = cells_of(data / "surveys" / "wjx.xls")
    assert cells.iloc[1, 0] == "1" and cells.iloc[5, 3] == "501"  # numbers as integer text
    cleaned = clean_folder(data, Config())
    rec = record(cleaned, "surveys/wjx.xls")
    assert (rec.header_row, rec.data_rows, rec.blank_rows) == (1, 4, 1)
    assert cleaned.surveys["submitted_at"].tolist() == [
        pd.Timestamp("2023-09-05 19:30:12"), pd.Timestamp("2023-09-06 08:00"), pd.Timestamp("2023-09-06 12:00")]
    assert cleaned.surveys["key"].tolist() == ["七一社区|3|2|501", "七一社区|3|2|502", ""]
    assert cleaned.surveys["awareness"].tolist() == [1, 0, -1]
    # the row 6 address "501" has no building: unparseable, at its Excel row number
    assert cleaned.rejects[["file", "row", "reason"]].values.tolist() == [["surveys/wjx.xls", 6, "unparseable address"]]
    assert rec.columns["sheet_id"] == "序号"  # 9.4: kept for the credibility checks


def test_first_non_empty_sheet_is_read(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "空白"
    ws = wb.create_sheet("数据")
    ws.append(["社区", "网格", "地址"])
    ws.append(["七一社区", 1, "3-2-501"])
    wb.create_sheet("另一张").append(["不要读", "这张"])
    wb.save(tmp_path / "b.xlsx")
    assert cells_of(tmp_path / "b.xlsx").values.tolist() == [["社区", "网格", "地址"], ["七一社区", "1", "3-2-501"]]


# --- which files are read ----------------------------------------------------------------------------

def test_lock_files_hidden_files_and_other_extensions_are_ignored(tmp_path):
    folder = tmp_path / "visits"
    folder.mkdir()
    for name in ("b.csv", "a.XLSX", "C.CSV", "d.xls", "~$a.xlsx", ".hidden.csv", "notes.txt", "e.xlsm.bak"):
        (folder / name).write_bytes(b"x")
    (folder / "sub.csv").mkdir()
    names = [p.name for p in list_input_files(folder)]
    assert names == sorted(["C.CSV", "a.XLSX", "b.csv", "d.xls"])  # sorted by file name


def test_upper_case_csv_extension_is_read_and_lock_file_ignored_end_to_end(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "H.CSV", [REGISTRY_HEADER, *REGISTRY_ROWS], encoding="gbk")
    (data / "households" / "~$H.xlsx").write_bytes(b"\x00lock")  # unreadable: would fail if read
    (data / "households" / ".~lock.H.CSV#").write_bytes(b"\x00lock")
    (data / "households" / ".DS_Store").write_bytes(b"\x00\x01")
    cleaned = clean_folder(data, Config())
    assert [r.file for r in cleaned.files] == ["households/H.CSV"]
    assert len(cleaned.households) == 3


def test_files_are_concatenated_in_sorted_name_order(tmp_path):
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "b.csv", [REGISTRY_HEADER, REGISTRY_ROWS[1]])
    write_csv(data / "households" / "a.csv", [REGISTRY_HEADER, REGISTRY_ROWS[0], REGISTRY_ROWS[2]])
    cleaned = clean_folder(data, Config())
    assert [r.file for r in cleaned.files] == ["households/a.csv", "households/b.csv"]
    assert cleaned.households["file"].tolist() == ["households/a.csv", "households/a.csv", "households/b.csv"]


def test_inflating_workbook_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    import zipfile

    from canvass.ingest.readers import read_sheet
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", "<row>" + "0" * (3 * 1024 * 1024) + "</row>")  # 3 MB, compresses to KB
    monkeypatch.setenv("CANVASS_MAX_SHEET_MB", "2")
    assert path.stat().st_size < 100_000
    with pytest.raises(InputError, match="超过上限 2 MB") as info:
        read_sheet(path, "surveys/bomb.xlsx")
    assert info.value.file == "surveys/bomb.xlsx" and "CANVASS_MAX_SHEET_MB" in str(info.value)


def _workbook(path: Path, rows) -> Path:
    book = openpyxl.Workbook()
    for r in rows:
        book.active.append(r)
    book.save(path)
    return path


@pytest.mark.parametrize("ext", [".xlsx", ".xls"])
def test_a_sheet_with_more_cells_than_the_limit_is_refused_naming_file_and_limit(tmp_path, monkeypatch, ext):
    rows = [REGISTRY_HEADER] + [REGISTRY_ROWS[0]] * 19  # 20 rows x 6 columns = 120 cells
    if ext == ".xlsx":
        path = _workbook(tmp_path / "big.xlsx", rows)
    else:
        import xlwt
        book = xlwt.Workbook(encoding="utf-8")
        sheet = book.add_sheet("s")
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                sheet.write(r, c, v)
        path = tmp_path / "big.xls"
        book.save(str(path))
    monkeypatch.setenv("CANVASS_MAX_SHEET_CELLS", "119")
    with pytest.raises(InputError) as info:
        read_sheet(path, f"households/big{ext}")
    line = info.value.one_line()
    assert "20 行 × 6 列 = 120 个单元格，超过上限 119" in line and "CANVASS_MAX_SHEET_CELLS" in line
    assert info.value.file == f"households/big{ext}"
    monkeypatch.setenv("CANVASS_MAX_SHEET_CELLS", "120")  # at the limit it is read
    assert read_sheet(path, f"households/big{ext}").cells.shape == (20, 6)


def _sheet_xlsx(path: Path, sheet_data: str) -> Path:
    """Write a workbook whose one sheet's <sheetData> is ``sheet_data`` (hand-made XML)."""
    import zipfile

    small = _workbook(path.with_name("small.xlsx"), [["x"]])
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in src.namelist():
            z.writestr(name, src.read(name) if name != "xl/worksheets/sheet1.xml" else
                       '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                       f"<sheetData>{sheet_data}</sheetData></worksheet>")
    return path


@pytest.mark.parametrize("sheet_data, words", [
    # one far cell: calamine would hold the whole 20 x 1,000,000 grid (0.65 GiB for this 1 KB file)
    ('<row r="1"><c r="A1"><v>1</v></c></row><row r="1000000"><c r="T1000000"><v>1</v></c></row>',
     "1,000,000 行 × 20 列 = 20,000,000 个单元格"),
    ('<row r="1"><c r="XFD1"><v>1</v></c></row><row r="9"><c r="A9"><v>1</v></c></row>',
     "9 行 × 16,384 列 = 147,456 个单元格"),
    ("<row>" + "<c><v>1</v></c>" * 1200 + "</row>", "1,200 个单元格"),  # cells without references
])
def test_a_sheet_is_measured_before_calamine_parses_it(tmp_path, monkeypatch, sheet_data, words):
    import python_calamine

    path = _sheet_xlsx(tmp_path / "bomb.xlsx", sheet_data)
    opened = []
    monkeypatch.setattr(python_calamine, "CalamineWorkbook", type("Spy", (), {"from_path": opened.append}))
    monkeypatch.setenv("CANVASS_MAX_SHEET_CELLS", "1000")
    with pytest.raises(InputError) as info:
        read_sheet(path, "surveys/bomb.xlsx")
    assert words in info.value.one_line() and "超过上限 1,000" in info.value.one_line()
    assert opened == []  # refused from the streamed XML, before calamine built its grid


def test_a_workbook_without_a_header_is_refused_after_its_first_rows(tmp_path, monkeypatch):
    from canvass.ingest import readers

    data = make_folder(tmp_path / "data")
    _workbook(data / "surveys" / "no_header.xlsx", [[i, i * 2, "x"] for i in range(300)])
    converted = []
    real = readers._rows_to_frame
    monkeypatch.setattr(readers, "_rows_to_frame", lambda rows: converted.append(len(rows)) or real(rows))
    with pytest.raises(InputError, match="找不到.*表头") as info:
        clean_folder(data, Config())
    assert info.value.file == "surveys/no_header.xlsx"
    assert converted == [10]  # the first ten rows, never the 300


@pytest.mark.parametrize("when", ["read_bytes", "open"])  # reading the cells, hashing the bytes
def test_an_input_file_held_open_by_another_program_is_one_clear_line(tmp_path, monkeypatch, when):
    data = make_folder(tmp_path / "data")
    held = write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    real, opened = Path.open, []

    def refuse(self, *args, **kwargs):  # what Windows does while Excel has the file open
        if self == held:
            opened.append(self)  # read_bytes opens it first, then the hash
            if len(opened) == (1 if when == "read_bytes" else 2):
                raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(InputError) as info:
        clean_folder(data, Config())
    line = info.value.one_line()
    assert info.value.file == "households/h.csv" and "文件正被其他程序占用" in line and "关闭 Excel" in line
    assert "\n" not in line


def test_file_changing_while_read_is_an_input_error(tmp_path, monkeypatch):
    from canvass.config import Config
    from canvass.ingest import clean, reading

    for kind in ("households", "visits", "surveys", "issues"):
        (tmp_path / kind).mkdir()
    target = tmp_path / "households" / "h.csv"
    target.write_text("社区,网格,地址\n甲社区,1,1-1-101\n", encoding="utf-8")
    real = reading.read_sheet

    def copying_still(path, rel, **kw):  # staff still copying: the file grows while it is read
        cells = real(path, rel, **kw)
        with path.open("a", encoding="utf-8") as fh:
            fh.write("甲社区,1,1-1-102\n")
        return cells
    monkeypatch.setattr(reading, "read_sheet", copying_still)
    with pytest.raises(InputError, match="读取过程中被修改"):
        clean.clean_folder(tmp_path, Config())


# --- found by an audit of broken inputs (2026-12-04) ---------------------------------------------

def test_an_xlsx_saved_under_an_xls_name_is_read(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["社区", "网格"])
    wb.active.append(["甲社区", 1])
    wb.save(tmp_path / "h.xlsx")
    (tmp_path / "h.xlsx").rename(tmp_path / "h.xls")
    cells = read_sheet(tmp_path / "h.xls", "households/h.xls").cells
    assert cells.values.tolist() == [["社区", "网格"], ["甲社区", "1"]]


def test_a_cell_longer_than_pythons_csv_limit_is_read(tmp_path):
    long = "长" * 200_000  # the csv module stops at 131,072 characters by default
    path = tmp_path / "i.csv"
    path.write_text(f'登记日期,问题描述\n2023-09-05,"{long}\n第二行"\n2023-09-06,短\n', encoding="utf-8")
    cells = read_sheet(path, "issues/i.csv").cells
    assert cells.shape == (3, 2) and cells.iloc[1, 1] == long + "\n第二行" and cells.iloc[2, 1] == "短"


def test_a_file_held_open_is_an_input_error_before_anything_is_read(tmp_path, monkeypatch):
    """The batch hashes every input first (store.input_fingerprint): a file Excel holds open on
    Windows was an 内部错误 PermissionError there."""
    from canvass.run import store

    data = make_folder(tmp_path / "data")
    held = write_csv(data / "visits" / "v.csv", [["走访日期", "社区", "地址", "走访结果"]])
    real = Path.read_bytes

    def refuse(self):
        if self == held:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InputError) as info:
        store.input_fingerprint(data)
    assert info.value.file == "visits/v.csv" and "关闭 Excel" in info.value.one_line()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "gbk"])
def test_tab_separated_text_saved_by_excel_is_read(tmp_path, encoding):
    """Excel's 另存为 “Unicode 文本” (UTF-16, tabs) or “文本文件(制表符分隔)” renamed .csv."""
    rows = "走访日期\t社区\t地址\t走访结果\r\n2023-09-05\t甲社区\t3-2-501\t已入户\r\n"
    path = tmp_path / "v.csv"
    path.write_bytes(rows.encode(encoding))
    cells = read_sheet(path, "visits/v.csv").cells
    assert cells.values.tolist() == [["走访日期", "社区", "地址", "走访结果"], ["2023-09-05", "甲社区", "3-2-501", "已入户"]]


def test_a_comma_csv_with_a_tab_in_a_comment_stays_comma_separated(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("提交时间,社区,意见建议\n2023-09-05 10:00,甲社区,多\t组织活动\n", encoding="utf-8")
    assert read_sheet(path, "surveys/s.csv").cells.values.tolist()[1] == ["2023-09-05 10:00", "甲社区", "多\t组织活动"]


@pytest.mark.parametrize("ext", [".xlsx", ".xls"])
def test_a_workbook_whose_first_sheet_is_instructions_names_the_sheet_it_read(tmp_path, ext):
    """Contract: the first non-empty sheet is read. A 填表说明 page in front of the data is the
    usual reason it has no header: the message says which sheet was read and which there are."""
    sheets = {"填表说明": [["请按要求填写"], ["每户一行"]],
              "问题清单": [["登记日期", "社区", "问题类别", "问题描述", "办理状态"], ["2023-09-05", "甲社区", "其他", "x", "办理中"]]}
    path = tmp_path / f"i{ext}"
    if ext == ".xlsx":
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for name, rows in sheets.items():
            ws = wb.create_sheet(name)
            for r in rows:
                ws.append(r)
        wb.save(path)
    else:
        import xlwt
        book = xlwt.Workbook()
        for name, rows in sheets.items():
            ws = book.add_sheet(name)
            for i, r in enumerate(rows):
                for j, v in enumerate(r):
                    ws.write(i, j, v)
        book.save(str(path))
    data = make_folder(tmp_path / "data")
    write_csv(data / "households" / "h.csv", [REGISTRY_HEADER, *REGISTRY_ROWS])
    (data / "issues" / path.name).write_bytes(path.read_bytes())
    with pytest.raises(InputError) as info:
        clean_folder(data, Config())
    line = info.value.one_line()
    assert info.value.file == f"issues/i{ext}" and "表头" in line
    assert "工作表“填表说明”" in line and "共有 2 个工作表：填表说明、问题清单" in line and "移到最前面" in line
