"""This module reads and writes flat tables (CSV, Excel, Parquet) in chunks.

Rosters, payment ledgers and populations arrive as exports; every later stage wants the
same thing from them: rows as {column: text or None}, each with the row number a person
would see when opening the file, in bounded chunks so memory stays flat in the file size.
Cells are handed over as text so that exact parsing (numeric.parse_money, dates) stays in
one place; an empty cell is None, never 0 or "否". Excel and Parquet cells that carry a
type are rendered the way a person would type them (2024-03-01, 1200, 1234.56).
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .cell_bytes import plain_ends

Row = dict[str, "str | None"]
Numbered = tuple[int, Row]  #: (row number as shown in the file, row)

FORMATS = {".csv": "csv", ".xlsx": "excel", ".xlsm": "excel", ".parquet": "parquet", ".pq": "parquet"}
DEFAULT_CHUNK = 10_000


class TableError(ValueError):
    """A file that cannot be read as a table at all (unknown format, no header, missing columns)."""


def table_format(path: str | Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise TableError(f"{path}：不支持的表格格式（可用：{'、'.join(sorted(FORMATS))}）")
    return fmt


def is_table(path: str | Path) -> bool:
    return Path(path).suffix.lower() in FORMATS


def cell_text(value: Any) -> str | None:
    """A typed cell as the text a person would have typed; None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value != value:  # NaN: pandas' empty cell
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    text = str(value).strip()
    return text or None


def row_dicts(table: pa.Table) -> list[dict[str, str | None]]:
    """An Arrow table's rows as header → cell text dicts (cell_text of every cell; columns
    with an empty header are dropped). Text columns are trimmed in Arrow (utf8_trim_whitespace,
    empty → None) instead of cell by cell in Python."""
    header = [cell_text(name) or "" for name in table.column_names]
    keep = [k for k, name in enumerate(header) if name]
    names = [header[k] for k in keep]
    columns = [_cells(table.column(k)) for k in keep]
    return [dict(zip(names, v)) for v in zip(*columns)]


def trimmed(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A text column as cell_text reads it: whitespace trimmed, an empty cell None."""
    if isinstance(column, pa.Array) and plain_ends(column):  # the common case: nothing to trim or empty
        return column
    cut = pc.utf8_trim_whitespace(column)
    empty = pc.equal(cut, "")
    if not pc.any(empty).as_py():  # the common case: no copy of every cell to null none of them
        return cut
    return pc.if_else(empty, pa.scalar(None, column.type), cut)


def _cells(column: pa.ChunkedArray) -> list[str | None]:
    return trimmed(column_text(column)).to_pylist()


_PLAIN_FLOAT = (1e-4, 1e10)  #: |x| where Arrow writes a float as repr does (plain notation, shortest digits)


def column_text(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """cell_text of every cell of a column, text untrimmed: in Arrow where the column's type lets
    Arrow write the same text (booleans, integers, dates, decimals, floats of everyday size — a
    typed Parquet export from a database), cell by cell otherwise. Per cell, a 10⁶-row typed
    roster spent ≈ 4 s here; tests/test_batch_table.py checks the two agree on every type."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
        return column.cast(pa.string())
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "是", "否")
    if pa.types.is_integer(kind) or pa.types.is_date(kind) or (pa.types.is_decimal(kind) and kind.scale >= 0):
        return column.cast(pa.string())
    if pa.types.is_floating(kind):
        return _float_text(column.cast(pa.float64()))
    return pa.array([cell_text(v) for v in column.to_pylist()], pa.string())


def _float_text(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Floats as cell_text writes them: a whole number as an integer, NaN as an empty cell, the
    rest as repr — Arrow's own text where it is repr's, Python's for the few it is not."""
    magnitude = pc.abs(column)
    whole = pc.and_(pc.equal(column, pc.floor(column)), pc.less(magnitude, 2.0 ** 53))
    plain = pc.and_(pc.greater_equal(magnitude, _PLAIN_FLOAT[0]), pc.less(magnitude, _PLAIN_FLOAT[1]))
    text = pc.if_else(whole, pc.cast(pc.if_else(whole, column, 0.0), pa.int64()).cast(pa.string()), column.cast(pa.string()))
    text = pc.if_else(pc.is_nan(column), pa.scalar(None, pa.string()), text)
    odd = pc.fill_null(pc.invert(pc.or_(pc.or_(whole, plain), pc.is_nan(column))), False)
    if not pc.any(odd).as_py():
        return text
    cells = text.to_pylist()
    for i, (value, bad) in enumerate(zip(column.to_pylist(), odd.to_pylist())):
        if bad:
            cells[i] = cell_text(value)
    return pa.array(cells, pa.string())


def read_rows(path: str | Path, chunk_size: int = DEFAULT_CHUNK, rename: Mapping[str, str] | None = None,
              required: Sequence[str] = ()) -> Iterator[list[Numbered]]:
    """The data rows of a table, chunk by chunk, each with its row number in the file.

    `rename` maps the file's column names to ours (for exports that name columns otherwise);
    `required` columns missing from the header raise TableError before any row is read.
    Row numbers: CSV and Excel count the header as row 1 (what a spreadsheet shows); Parquet
    numbers its rows from 1.
    """
    reader = {"csv": _csv_rows, "excel": _excel_rows, "parquet": _parquet_rows}[table_format(path)]
    rows = reader(Path(path), list(required), dict(rename or {}))
    chunk: list[Numbered] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _header(names: Iterable[Any], path: Path, required: list[str], rename: dict[str, str]) -> list[str]:
    header = [rename.get(n, n) for n in (cell_text(x) or "" for x in names)]
    if not any(header):
        raise TableError(f"{path}：没有表头行")
    missing = [c for c in required if c not in header]
    if missing:
        raise TableError(f"{path}：缺少必需的列 {'、'.join(missing)}（表头：{'、'.join(h for h in header if h)}）")
    return header


def _csv_rows(path: Path, required: list[str], rename: dict[str, str]) -> Iterator[Numbered]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = _header(next(reader), path, required, rename)
        except StopIteration:
            raise TableError(f"{path}：空文件，没有表头行") from None
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            yield reader.line_num, _row(header, values)


def _excel_rows(path: Path, required: list[str], rename: dict[str, str]) -> Iterator[Numbered]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        try:
            header = _header(next(rows), path, required, rename)
        except StopIteration:
            raise TableError(f"{path}：工作表为空，没有表头行") from None
        for number, values in enumerate(rows, start=2):
            if all(cell_text(v) is None for v in values):
                continue
            yield number, _row(header, values)
    finally:
        book.close()


def _parquet_rows(path: Path, required: list[str], rename: dict[str, str]) -> Iterator[Numbered]:
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    header = _header(source.schema_arrow.names, path, required, rename)
    number = 0
    for batch in source.iter_batches(batch_size=DEFAULT_CHUNK):
        for values in zip(*(col.to_pylist() for col in batch.columns)):
            number += 1
            yield number, _row(header, values)


def _row(header: list[str], values: Sequence[Any]) -> Row:
    row: Row = {name: cell_text(value) for name, value in zip(header, values) if name}
    for name in header[len(values):]:
        if name:
            row[name] = None
    if len(values) > len(header) and any(cell_text(v) is not None for v in values[len(header):]):
        row["__extra__"] = "；".join(t for t in map(cell_text, values[len(header):]) if t)
    return row


class TableWriter:
    """Writes rows of text to CSV, Excel or Parquet, chunk by chunk (used as a context manager).

    CSV is written with a BOM so that Excel opens Chinese text correctly; Parquet columns are
    strings (nullable), so a value written is the value read back.
    """

    def __init__(self, path: str | Path, columns: Sequence[str]):
        self.path, self.columns, self.format = Path(path), list(columns), table_format(path)
        self._handle: Any = None
        self._sink: Any = None

    def __enter__(self) -> TableWriter:
        if self.format == "csv":
            self._handle = open(self.path, "w", encoding="utf-8-sig", newline="")
            self._sink = csv.writer(self._handle)
            self._sink.writerow(self.columns)
        elif self.format == "excel":
            import openpyxl

            self._handle = openpyxl.Workbook(write_only=True)
            self._sink = self._handle.create_sheet()
            self._sink.append(self.columns)
        else:
            import pyarrow.parquet as pq

            self._schema = pa.schema([(c, pa.string()) for c in self.columns])
            self._sink = pq.ParquetWriter(self.path, self._schema)
        return self

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        texts = [[None if r.get(c) is None else str(r.get(c)) for c in self.columns] for r in rows]
        if self.format == "parquet":
            if texts:
                self._sink.write_table(pa.Table.from_arrays([pa.array(col, pa.string()) for col in zip(*texts)], schema=self._schema))
        else:
            for values in texts:
                self._sink.append(values) if self.format == "excel" else self._sink.writerow(["" if v is None else v for v in values])

    def __exit__(self, *exc: Any) -> None:
        if self.format == "csv":
            self._handle.close()
        elif self.format == "excel":
            self._handle.save(self.path)
        else:
            self._sink.close()


def write_rows(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    with TableWriter(path, columns) as out:
        out.write(rows)
