"""Downloads: Excel-safe CSV with a BOM, XLSX, the formula-injection guard, the response.

Every spreadsheet and data download of the portal goes through here, so every cell passes
:func:`safe_cell` and every file name reaches the browser the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from urllib.parse import quote

from flask import Response

# Number formats of date and time cells in XLSX (real dates Excel sorts and filters).
XLSX_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
XLSX_DATE_FORMAT = "yyyy-mm-dd"


def text_cell(value):
    """A date or datetime as the text a CSV carries (2030-01-07 07:00); others unchanged.

    Pass naive local (site time zone) values: spreadsheets know no time zones.
    """
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


def safe_cell(value):
    """Return the value, with a leading ``'`` when Excel would run it as a formula."""
    # Cells starting with = + - @ would run as formulas in Excel (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def csv_bytes(rows: Iterable[Sequence]) -> bytes:
    """Return the rows as CSV with a UTF-8 BOM (so Excel shows Chinese), every cell guarded."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(text_cell(v)) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def to_csv(header: list[str], rows: list[list]) -> bytes:
    """Return a table with its header row as :func:`csv_bytes`."""
    return csv_bytes([header, *rows])


def to_xlsx(title: str, header: list[str], rows: list[list]) -> bytes:
    """Return an XLSX workbook with one sheet, a bold header and sensible widths.

    ``date``/``datetime`` values (naive, site time) become date cells with a number format.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = (title or "roster")[:31].translate(str.maketrans("[]:*?/\\", "（）：＊？／＼"))
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    # Dates and times are real date cells (naive, in site time) with a readable format.
    for cells in ws.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, datetime):
                cell.number_format = XLSX_DATETIME_FORMAT
            elif isinstance(cell.value, date):
                cell.number_format = XLSX_DATE_FORMAT
    ws.freeze_panes = "A2"
    widths = [28, 17, 17, 12, 6, 10, 14, 8, 10, 17, 17, 6, 10]
    for idx, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(row=1, column=idx).column_letter].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def attachment(filename: str) -> str:
    """The Content-Disposition value that saves a download as ``filename`` (any script)."""
    ascii_name = filename.encode("ascii", "ignore").decode().replace('"', "") or "export"
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    # RFC 6266: browsers take filename* (UTF-8); the ASCII filename is for the rest.
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def download(data: bytes, filename: str, mimetype: str) -> Response:
    """Send ``data`` as an attachment named ``filename``, never cached.

    ``mimetype`` is sent as the Content-Type exactly, e.g. ``text/csv; charset=utf-8``.
    """
    response = Response(data, content_type=mimetype)
    response.headers["Content-Disposition"] = attachment(filename)
    response.headers["Cache-Control"] = "no-store"
    return response
