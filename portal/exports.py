"""Spreadsheet exports: Excel-safe CSV with a BOM, XLSX, the formula-injection guard."""

from __future__ import annotations

import csv
import io


def safe_cell(value):
    # Cells starting with = + - @ would run as formulas in Excel (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_csv(header: list[str], rows: list[list]) -> bytes:
    """Return CSV bytes with a UTF-8 BOM so that Excel shows Chinese correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(title: str, header: list[str], rows: list[list]) -> bytes:
    """Return an XLSX workbook with one sheet, a bold header and sensible widths."""
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
    ws.freeze_panes = "A2"
    widths = [28, 17, 17, 12, 6, 10, 14, 8, 10, 17, 17, 6, 10]
    for idx, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(row=1, column=idx).column_letter].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


