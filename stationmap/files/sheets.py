"""Spreadsheet cells that stay text: station data written to CSV or XLSX never runs as a formula.

Excel, WPS and LibreOffice take a cell whose text starts with =, +, -, @, a tab or a carriage return
as a formula ("CSV injection", OWASP), so a station named =HYPERLINK("http://x","y") would become a
live link in the union's spreadsheet. Every CSV and XLSX the project writes passes its cells through
`safe_cell`, which puts a single quote in front of such text (the OWASP rule); numbers stay numbers,
and the stored name is not touched. CSV lines end in CRLF (RFC 4180), so that the csv module quotes
every cell holding a carriage return: a bare CR would start a new row in the spreadsheet, whose first
cell could be a formula. XLSX cells holding text are stored as strings, never as formulas. The
importer undoes the quote with `plain_cell`, so an exported list imports back unchanged. GeoJSON
and GeoPackage are not spreadsheets: they keep the exact text.

To keep the round trip exact, text that already starts with quotes before a trigger (such as "'=1")
gets one more quote, and `plain_cell` takes exactly one off.
"""
from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

TRIGGERS = frozenset("=+-@\t\r")
CSV_LINE_END = "\r\n"
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _quoted_trigger(text: str) -> bool:
    """True if `text` is a trigger character after any number of leading quotes (none included)."""
    return text.lstrip("'")[:1] in TRIGGERS


def safe_cell(value: Any) -> Any:
    """`value` as a spreadsheet cell: text a spreadsheet would run as a formula gets a leading "'"."""
    if isinstance(value, str) and _quoted_trigger(value):
        return "'" + value
    return value


def plain_cell(value: Any) -> Any:
    """The inverse of `safe_cell` for an imported cell: one leading "'" before a trigger comes off.

    Text such as "'s Hertogenbosch" (a quote before an ordinary letter) is left as it is."""
    if isinstance(value, str) and value.startswith("'") and _quoted_trigger(value):
        return value[1:]
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """A row of cells, each through `safe_cell`."""
    return [safe_cell(v) for v in values]


def safe_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A row keyed by column (for csv.DictWriter), each value through `safe_cell`."""
    return {k: safe_cell(v) for k, v in record.items()}


def safe_records(records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows keyed by column, each through `safe_record`."""
    return (safe_record(r) for r in records)


def records_csv(columns: Sequence[str], records: Iterable[Mapping[str, Any]], extrasaction: str = "raise") -> str:
    """Records as CSV text: a header of `columns`, then each record through `safe_record`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction=extrasaction, lineterminator=CSV_LINE_END)
    writer.writeheader()
    writer.writerows(safe_records(records))
    return buf.getvalue()


def rows_csv(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> str:
    """Rows as CSV text: `header`, then each row through `safe_row`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=CSV_LINE_END)
    writer.writerow(header)
    writer.writerows(safe_row(r) for r in rows)
    return buf.getvalue()


def _live_text(cell: str) -> bool:
    """True for CSV cell text a spreadsheet would run: a trigger first, and not a plain number like -3.5."""
    return cell[:1] in TRIGGERS and not _NUMBER.fullmatch(cell)


def safe_csv_text(text: str) -> str:
    """CSV text from elsewhere with every cell that would run as a formula quoted.

    A safety net for finished CSV text, where numbers are text too: a cell that is a plain number
    (-3.5) is left alone. Text whose cells are all inert (as every writer built on this module
    produces) comes back as it is, byte for byte; otherwise it is rewritten, live cells quoted,
    keeping a leading byte-order mark."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    rows = list(csv.reader(io.StringIO(text[len(bom):], newline="")))
    if not any(_live_text(cell) for row in rows for cell in row):
        return text
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=CSV_LINE_END)
    writer.writerows([["'" + c if _live_text(c) else c for c in row] for row in rows])
    return bom + buf.getvalue()


def _xlsx_value(value: Any) -> Any:
    """A value openpyxl can store: numpy scalars as Python ones, missing values (None, NaN, NA) as empty."""
    import pandas as pd

    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return safe_cell(value)


def write_xlsx(path: Path | str, columns: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str) -> None:
    """Write one sheet (a header row, then `rows`) to `path`; every text cell is a string cell.

    openpyxl stores a str starting with "=" as a formula unless the cell's type is set, so each text
    cell is typed as a string explicitly, on top of the quote `safe_cell` adds."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet)

    def cell(value: Any) -> WriteOnlyCell:
        c = WriteOnlyCell(ws, value)
        if isinstance(value, str):
            c.data_type = "s"
        return c

    ws.append([cell(safe_cell(str(c))) for c in columns])
    for row in rows:
        ws.append([cell(_xlsx_value(v)) for v in row])
    wb.save(path)
