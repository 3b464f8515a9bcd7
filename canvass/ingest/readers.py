"""Read staff exports (CSV in any Chinese encoding, .xlsx, .xls) as grids of text cells.

Readers are registered by file extension. Every cell comes back as text (``501`` never
becomes ``501.0``), blank rows keep their place, and each row carries the row number
Excel shows for it (the first row of the sheet is row 1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from canvass.errors import InputError

READERS: dict = {}


def reader(*extensions):
    """Register a function reading ``(Path, file, head_check) -> DataFrame of text cells`` for extensions.

    ``head_check`` (or None) is called with a sheet's first rows before the rest is turned into
    Python cells: a workbook without the header it needs is refused at the cost of its first rows.
    """
    def wrap(func):
        for ext in extensions:
            READERS[ext] = func
        return func
    return wrap


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control characters but \t \n \r


def decode_csv_bytes(data: bytes, file: str) -> str:
    """Return CSV text: a UTF-16 BOM means UTF-16 (Excel's “Unicode 文本”), a UTF-8 BOM UTF-8,
    else strict UTF-8, else GB18030."""
    if not data:
        raise InputError("文件是空的（0 字节） empty file", file=file, expected="带表头的 CSV 表格")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's 另存为 “Unicode 文本”: UTF-16 with its BOM
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError("无法识别文件编码 cannot decode (UTF-16)", file=file,
                             expected="UTF-8、GBK 或 Unicode（UTF-16）文本的表格") from None
    if b"\x00" in data[:65536]:
        raise InputError("不是文本表格（含二进制内容） binary data, not a CSV", file=file,
                         expected="UTF-8 或 GBK 编码的 CSV")
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ("utf-8-sig",)
    else:
        candidates = ("utf-8", "gb18030")
    for enc in candidates:
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError("无法识别文件编码 cannot decode", file=file, expected="UTF-8 或 GBK/GB18030 编码的 CSV")
    sample = text[:65536]
    controls = len(_CONTROL_CHARS.findall(sample))
    if controls > max(3, len(sample) // 200):
        raise InputError("不是文本表格（含大量控制字符） binary data, not a CSV", file=file,
                         expected="UTF-8 或 GBK 编码的 CSV")
    return text


@reader(".csv")
def read_csv(path: Path, file: str, head_check=None) -> pd.DataFrame:
    """Return a CSV file's cells as text, rows in file order (records, as Excel counts them).

    CSV text is parsed into Arrow strings: memory in proportion to the file, no ``head_check`` needed."""
    text = decode_csv_bytes(path.read_bytes(), file)
    _raise_field_limit()
    lines = "\n".join(text.splitlines()[:50])
    sep = _separator(lines)
    try:
        head = list(csv.reader(io.StringIO(lines), delimiter=sep))
        width = max((len(r) for r in head), default=1) or 1
        try:
            frame = pd.read_csv(io.StringIO(text), header=None, names=range(width), dtype=str, sep=sep,
                                keep_default_na=False, na_filter=False, skip_blank_lines=False,
                                engine="c")
        except (pd.errors.ParserError, ValueError):
            rows = list(csv.reader(io.StringIO(text), delimiter=sep))
            width = max((len(r) for r in rows), default=1) or 1
            frame = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)
    except csv.Error as exc:
        raise InputError(f"CSV 格式错误 (CSV error: {exc})", file=file,
                         expected="逗号分隔的表格；可在 Excel 中打开后另存为“CSV UTF-8”") from None
    # Perf: keep pandas' arrow-backed text columns (``dtype=str``); converting 1M rows x 9
    # columns to Python objects cost seconds and ~0.6 GiB, and cleaning converts them back.
    return frame.fillna("")


def _separator(lines: str) -> str:
    """Return the separator of a text table: a tab when its first lines hold more tabs than commas
    (Excel's 另存为 “文本文件(制表符分隔)” or “Unicode 文本”, renamed .csv), else a comma."""
    return "\t" if lines.count("\t") > lines.count(",") else ","


def _raise_field_limit() -> None:
    """Let Python's csv module read a cell of any length (its default stops at 131,072
    characters, where pandas reads on): a long comment must not fail a file pandas can read.
    The sheet limits bound the file anyway. (A C long: 2**31 - 1 on Windows.)"""
    if csv.field_size_limit() < 2**31 - 1:
        csv.field_size_limit(2**31 - 1)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    return str(value)


ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BAD_WORKBOOK = "无法读取的 Excel 文件（损坏或有密码保护） cannot read workbook"
_WORKBOOK_EXPECTED = "未加密的 .xlsx 或 .xls 工作簿（可在 Excel 中另存为后再报送）"


def _rows_to_frame(rows: list) -> pd.DataFrame:
    width = max((len(r) for r in rows), default=1) or 1
    cells = [[_cell_text(c) for c in r] + [""] * (width - len(r)) for r in rows]
    return pd.DataFrame(cells, dtype=object) if cells else pd.DataFrame(columns=range(1), dtype=object)


def _first_nonempty(sheets) -> list:
    for rows in sheets:
        if any(any(c not in (None, "") for c in r) for r in rows):
            return rows
    return []


MAX_SHEET_MB_ENV = "CANVASS_MAX_SHEET_MB"
DEFAULT_MAX_SHEET_MB = 400  # uncompressed sheet data; a 4,000-row survey is a few MB


def max_sheet_bytes() -> int:
    """Return the largest uncompressed sheet data a workbook may hold (CANVASS_MAX_SHEET_MB raises it)."""
    import os
    try:
        return int(float(os.environ.get(MAX_SHEET_MB_ENV, DEFAULT_MAX_SHEET_MB)) * 1024 * 1024)
    except ValueError:
        return DEFAULT_MAX_SHEET_MB * 1024 * 1024


MAX_SHEET_CELLS_ENV = "CANVASS_MAX_SHEET_CELLS"
DEFAULT_MAX_SHEET_CELLS = 10_000_000  # 500,000 rows x 20 columns; a sheet's used range, blank cells included
HEAD_ROWS = 10  # = headers.HEADER_SCAN_ROWS: the header is in the first ten rows


def max_sheet_cells() -> int:
    """Return the most cells (rows x columns of the used range) a sheet may have (CANVASS_MAX_SHEET_CELLS)."""
    import os
    try:
        return int(float(os.environ.get(MAX_SHEET_CELLS_ENV, DEFAULT_MAX_SHEET_CELLS)))
    except ValueError:
        return DEFAULT_MAX_SHEET_CELLS


def _check_cells(file: str, rows: int, cols: int, cells: int | None = None) -> None:
    """Refuse a sheet whose used range (or ``cells`` counted) is beyond the cell limit."""
    limit = max_sheet_cells()
    if max(rows * cols, cells or 0) > limit:
        size = (f"{rows:,} 行 × {cols:,} 列 = {rows * cols:,} 个单元格" if rows * cols >= (cells or 0)
                else f"{cells:,} 个单元格")
        raise InputError(f"工作表有 {size}，超过上限 {limit:,}，未读取 "
                         f"(sheet has too many cells)", file=file,
                         expected=f"删除多余的空行空列（或只保留需要的工作表和行）后另存；确需读取时设环境变量 "
                                  f"{MAX_SHEET_CELLS_ENV}（如 {MAX_SHEET_CELLS_ENV}={limit * 4}）")


def _too_big(file: str, size: int) -> InputError:
    limit = max_sheet_bytes() // (1024 * 1024)
    return InputError(f"工作簿解压后的表格数据有 {size // (1024 * 1024)} MB，超过上限 {limit} MB，未读取 "
                      f"(sheet too large)", file=file,
                      expected=f"只保留需要的工作表和行后另存；确需读取时设环境变量 {MAX_SHEET_MB_ENV}（如 "
                               f"{MAX_SHEET_MB_ENV}={limit * 4}）")


def _check_xlsx_size(path: Path, file: str) -> None:
    """Refuse a workbook whose sheets inflate beyond the limits, before calamine parses any of it.

    calamine holds a sheet as a dense grid (about 70 bytes a cell while loading): a 1 KB sheet
    with one cell at T1000000 took 0.65 GiB. So each sheet's XML is streamed once (constant
    memory) for its extent and cell count (``_sheet_extent``) and checked against the cell limit.
    """
    import zipfile
    import zlib
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if i.filename.startswith(("xl/worksheets/", "xl/sharedStrings"))]
            size = sum(i.file_size for i in infos)
            if size > max_sheet_bytes():
                raise _too_big(file, size)
            for info in infos:
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                    _check_cells(file, *_sheet_extent(z, info))
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError):
        return  # calamine reports damage (or a password) in its own words


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _sheet_extent(z, info) -> tuple[int, int, int]:
    """Return (last row, last column, cells written, at most) of a sheet's XML, read in 1 MB pieces.

    Rows come in order, so the last ``<row r=`` of a piece is its last row. References beyond
    column Z (``AA1``, ``XFD1``) are found by two regexes, the widest by comparing their letters;
    single letters by looking for ``r="Z``, ``r="Y`` … in the piece. About 50 MB/s."""
    import re

    two, three = re.compile(rb'r="([A-Z]{2})[0-9]'), re.compile(rb'r="([A-Z]{3})[0-9]')
    row_ref = re.compile(rb'<row\s[^>]*?r="(\d+)"')
    last_row, last_col, cells, carry = 0, 0, 0, b""
    with z.open(info) as fh:
        while True:
            piece = fh.read(1 << 20)
            data = carry + piece
            cut = data.rfind(b">") + 1 if piece else len(data)  # no tag is split at a '>'
            block, carry = data[:cut], data[cut:]
            cells += block.count(b"</c>") + block.count(b"/>")  # cells with a value, empty ones (an upper bound)
            if b'r="' in block:
                widest = max(three.findall(block), default=b"") or max(two.findall(block), default=b"")
                if not widest:  # single letters: the last one present, Z first
                    widest = next((bytes([c]) for c in range(90, 64, -1) if b'r="%c' % c in block), b"")
                last_col = max(last_col, _column_number(widest) if widest else 0)
                at = block.rfind(b"<row")
                found = row_ref.findall(block[at:]) if at >= 0 else []
                last_row = max([last_row, *(int(r) for r in found)])
            if not piece:
                break
    # With references the grid is last row x last column; the count is for a sheet without them.
    return last_row, last_col, 0 if last_row and last_col else cells


def _head_then_rows(sheet_rows, head_check, names: list | None = None, index: int = 0):
    """Yield a sheet's rows once its first rows passed ``head_check``; ``sheet_rows(n)`` reads n rows (None: all).

    In a workbook of several sheets (``names``) a refusal names the sheet read: the first
    non-empty one is the data (contract section 1), and a 填表说明 sheet in front of it is a
    common reason for "no header".
    """
    if head_check is not None:
        head = sheet_rows(HEAD_ROWS)
        if any(any(c not in (None, "") for c in r) for r in head):
            try:
                head_check(_rows_to_frame(head))
            except InputError as exc:
                if not names or len(names) < 2:
                    raise
                raise InputError(f"{exc.message}（读取的是第一个非空的工作表“{names[index]}”，本工作簿共有 "
                                 f"{len(names)} 个工作表：{'、'.join(map(str, names))}；数据在其他工作表时，"
                                 f"请把它移到最前面或删去前面的说明页后保存）", file=exc.file,
                                 column=exc.column, row=exc.row, expected=exc.expected) from None
    return sheet_rows(None)


def _read_xlsx(path: Path, file: str, head_check=None) -> pd.DataFrame:
    """An Office Open XML workbook (a ZIP), read with calamine.

    Limits before the cells become Python values (about 100 bytes each): the sheets' XML size
    (``_check_xlsx_size``), each sheet's used range (``_check_cells``) and its header rows."""
    from python_calamine import CalamineWorkbook

    _check_xlsx_size(path, file)

    def sheets(book):
        for i in range(len(book.sheet_names)):
            sheet = book.get_sheet_by_index(i)
            _check_cells(file, sheet.height, sheet.width)
            yield _head_then_rows(lambda n, s=sheet: s.to_python(skip_empty_area=False, nrows=n), head_check,
                                  list(book.sheet_names), i)

    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            book = CalamineWorkbook.from_path(str(path))
        else:  # an .xlsx saved under an .xls name: calamine picks its reader by the name
            with path.open("rb") as fh:
                book = CalamineWorkbook.from_filelike(fh)
        rows = _first_nonempty(sheets(book))
    except (KeyboardInterrupt, SystemExit, InputError):
        raise
    except BaseException as exc:  # calamine raises, and on some damage panics (a BaseException)
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InputError(f"{_BAD_WORKBOOK}: {detail}", file=file, expected=_WORKBOOK_EXPECTED) from None
    return _rows_to_frame(rows)


def _read_xls(path: Path, file: str, head_check=None) -> pd.DataFrame:
    """An Excel 97-2003 workbook (问卷星's download), read with xlrd.

    xlrd is pure Python: a damaged compound file raises an error instead of aborting
    the process, which calamine's native reader may do on hostile .xls headers.
    """
    import xlrd

    if path.stat().st_size > max_sheet_bytes():
        raise _too_big(file, path.stat().st_size)
    try:
        book = xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO())  # no console chatter

        def sheet_rows(sheet, n=None):
            out = []
            for r in range(sheet.nrows if n is None else min(n, sheet.nrows)):
                row = []
                for cell in sheet.row(r):
                    if cell.ctype == xlrd.XL_CELL_DATE:
                        row.append(xlrd.xldate_as_datetime(cell.value, book.datemode))
                    elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                        row.append(bool(cell.value))
                    elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
                        row.append(None)
                    else:
                        row.append(cell.value)
                out.append(row)
            return out

        def sheets():
            for i in range(book.nsheets):
                sheet = book.sheet_by_index(i)
                _check_cells(file, sheet.nrows, sheet.ncols)
                yield _head_then_rows(lambda n, s=sheet: sheet_rows(s, n), head_check, book.sheet_names(), i)

        rows = _first_nonempty(sheets())
    except (KeyboardInterrupt, SystemExit, MemoryError, InputError):
        raise
    except Exception as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InputError(f"{_BAD_WORKBOOK}: {detail}", file=file, expected=_WORKBOOK_EXPECTED) from None
    return _rows_to_frame(rows)


@reader(".xlsx", ".xlsm", ".xls")
def read_workbook(path: Path, file: str, head_check=None) -> pd.DataFrame:
    """Return the first non-empty sheet of a workbook as text cells, by what the file really is."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise InputError("文件是空的（0 字节） empty file", file=file, expected="Excel 工作簿")
    if head.startswith(ZIP_MAGIC):
        return _read_xlsx(path, file, head_check)
    if head == OLE2_MAGIC:
        if path.suffix.lower() != ".xls":
            # An .xlsx in a compound file is an encrypted (password-protected) workbook,
            # unless it is an old .xls under a new name.
            try:
                return _read_xls(path, file, head_check)
            except InputError as exc:
                if not exc.message.startswith(_BAD_WORKBOOK):  # read, but too large or without a header
                    raise
                raise InputError("工作簿有密码保护或已加密 (password-protected workbook)", file=file,
                                 expected="去掉密码后另存为 .xlsx 再报送") from None
        return _read_xls(path, file, head_check)
    raise InputError(f"{_BAD_WORKBOOK}: 文件内容不是 Excel 格式", file=file, expected=_WORKBOOK_EXPECTED)


def unreadable(exc: OSError, file: str) -> InputError:
    """Return the staff's line for an input that cannot be opened: held open by Excel (Windows
    refuses with a PermissionError), or any other OS error. Reading, hashing and the batch's
    first fingerprint of the inputs all say it so."""
    if isinstance(exc, PermissionError):
        return InputError("文件正被其他程序占用或没有读取权限 (permission denied)", file=file,
                          expected="请关闭 Excel 等打开这个文件的程序后重试")
    return InputError(f"无法读取文件：{exc.strerror or exc}", file=file)


@dataclass
class RawSheet:
    """A file's cells as text; ``rows[i]`` is the Excel row number of line ``i``."""

    file: str
    cells: pd.DataFrame


def read_sheet(path: Path, file: str, head_check=None) -> RawSheet:
    """Return the cells of one input file, choosing the reader by extension.

    ``head_check(first rows)`` raises InputError for a sheet without the header it needs,
    before a large workbook is read whole (see ``reader``)."""
    func = READERS.get(path.suffix.lower())
    if func is None:
        raise InputError("不支持的文件类型", file=file, expected=", ".join(sorted(READERS)))
    try:
        cells = func(path, file, head_check)
    except InputError:
        raise
    except MemoryError:
        raise InputError("文件太大，内存不足，无法读取 (out of memory)", file=file,
                         expected="只保留需要的工作表和行后另存再报送") from None
    except OSError as exc:
        raise unreadable(exc, file) from None
    cells.columns = range(cells.shape[1])
    return RawSheet(file=file, cells=cells)


def list_input_files(folder: Path) -> list[Path]:
    """Return the readable files of a kind's folder and its sub-folders, by ``/``-separated relative path.

    Hidden files and folders and Excel's ``~$`` lock files are skipped.
    """
    return [p for p in _visible_files(folder) if p.suffix.lower() in READERS]


def unread_files(folder: Path) -> list[Path]:
    """Return the files of a kind's folder that ``list_input_files`` leaves out for their format
    (``.et``, ``.numbers``, ``.txt`` …): not hidden, not lock files, not read (``check`` warns)."""
    return [p for p in _visible_files(folder) if p.suffix.lower() not in READERS]


def _visible_files(folder: Path) -> list[Path]:
    """Files of a folder and its sub-folders, by ``/``-separated relative path, without hidden
    files and folders and Excel's ``~$`` lock files."""
    files = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith((".", "~$")) for part in rel.parts) or not p.is_file():
            continue
        files.append((rel.as_posix(), p))
    return [p for _, p in sorted(files)]
