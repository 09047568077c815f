"""The readers of cells, one interface (``Source``): a CSV file by pyarrow's
multi-threaded reader, a whitespace-separated one by pandas, a Parquet file by
pyarrow. Each returns only the columns asked for, as text or as the conversion plan
asks (``convert.typed_plan``), and names the line of a record it cannot read."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retention_cli.config import InputConfig
from retention_cli.errors import DataError
from retention_cli.io.readers.convert import typed_values
from retention_cli.io.readers.source import first_line
from retention_cli.io.readers.text import (banner_out, check_header, decode, record_spans, reject_bytes,
                                           sniff_delimiter, to_utf8)


@dataclass
class Source:
    """A file ready to be read column by column: its header, and a reader that
    returns only the asked columns (positions) as text, one row per data record."""

    headers: list[str]
    span_bytes: bytes | None          # bytes for line numbers ('\n' and '"' are single bytes)
    read: object                      # Callable[[list[int]], pd.DataFrame]
    rejects: object                   # Callable[[np.ndarray], bytes]: header + those rows, as in the file
    reject_ext: str = "csv"
    # how a bad row is named: its physical line; an engine's record number ("record 12");
    # a database row's key
    numbering: str = "line"
    # several files read as one (``combined``): the name of each row's place, "file:line"
    where: object = None              # Callable[[np.ndarray], list[str]] | None
    notes: list = None                # what reading it left out, for the warnings (empty files)
    # an engine's CSV input: the orders made from the lines in the engine (``engines.sources``)
    # Callable[[customer, order, date, amount, product=None], (cells, lines per order, latest
    # line's date, each order's greatest product or None) | None]
    orders: object = None
    # the same inputs' orders kept in the engine, for the customer facts asked of them
    # (``engines.facts``): Callable[[customer, order, date, amount], (cells: one row per
    # customer, the EngineOrders) | None]
    facts: object = None


def open_source(raw: bytes, fmt: str, inp: InputConfig, display: str) -> Source:
    if fmt == "parquet":
        return _parquet_source(raw, display)
    buf, head, back = to_utf8(raw, inp.encoding, display)
    if not head.strip():
        raise DataError(f"{display}: empty file: no header" if inp.header else f"{display}: empty file")
    if b"\n" not in buf and b"\r" not in buf:  # one line and no line end (a header alone): a file without rows
        buf += b"\n"
    skip = None
    if inp.header_row != 1 or inp.skip_rows:
        buf, skip = banner_out(buf, inp, display)
        head = buf[:65536].decode("utf-8", errors="ignore")
    delimiter = inp.delimiter or sniff_delimiter(head)
    if delimiter == "whitespace":
        return _whitespace_source(buf, inp, display, back)
    rows = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
    first = next(rows, []) if skip is None else next((r for r in rows if r), [])
    if inp.header:
        headers = [h.strip() for h in first]
        check_header(headers, display)
    else:
        headers = [f"column {i + 1}" for i in range(len(first))]

    def read(positions: list[int], types: dict | None = None) -> pd.DataFrame:
        return _arrow_columns(buf, raw, delimiter, inp, headers, positions, display, types, skip=skip)

    return Source(headers, buf, read, lambda rows: back(reject_bytes(buf, rows, inp.header)))


def _parquet_source(raw: bytes, display: str) -> Source:
    """A Parquet file: its columns, each converted when it is read to what the
    parsers take from a CSV file (``_parquet_column``); the rejects file holds the
    rejected rows as they are in the file (same schema)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(pa.BufferReader(raw)).read()
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 — pyarrow raises many types for a broken file
        raise DataError(f"{display}: not a readable Parquet file ({type(e).__name__}: {first_line(e)})") from None
    # a pandas index written as a column is no data column
    try:
        meta = table.schema.pandas_metadata or {}
        index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
    except (ValueError, AttributeError, TypeError):  # pandas' note damaged (not JSON): the columns are all there is
        index = set()
    keep = [i for i, name in enumerate(table.column_names) if name not in index]
    headers = [str(table.column_names[i]) for i in keep]
    check_header(headers, display, line=False)

    def read(positions: list[int], kinds: dict | None = None) -> pd.DataFrame:
        kinds = kinds or {}
        return pd.DataFrame({p: _parquet_column(table.column(keep[p]), kinds.get(p), display, headers[p])
                             for p in positions}, index=pd.RangeIndex(table.num_rows), copy=False)

    def rejects(rows: np.ndarray) -> bytes:
        out = pa.BufferOutputStream()
        pq.write_table(table.take(pa.array(rows, pa.int64())), out)
        return out.getvalue().to_pybytes()

    # a Parquet file has rows, not lines: a bad one is named "record N" (as an engine names it)
    return Source(headers, None, read, rejects, "parquet", numbering="record")


# What each kind of column takes from Parquet besides text (read as a CSV value is),
# for the message about a column of another type.
_PARQUET_WANTS = {
    "id": "text or whole numbers", "date": "dates, timestamps or ISO text", "number": "numbers",
    "score": "whole numbers", "bool": "booleans or yes/no text",
}


def _parquet_column(col, kind: str | None, display: str, header: str) -> pd.Series:
    """One Parquet column as the parsers take it. A dictionary-encoded column
    (pandas' category) is read as its values. Text, and whole numbers or bytes in a
    column of ids, become text with '' for null, exactly a CSV file's cells, and go
    through the same parsers; typed dates and numbers keep their type (timestamps
    with a zone are converted by ``parse_date`` as a CSV timestamp with an offset
    is). A column of a type its kind cannot hold (a list of ids, a time of day for
    a date) is a data error naming it. ``kind`` None: a column kept as it is
    (an attribute), dictionaries and text decoded."""
    import pyarrow as pa

    try:
        return _parquet_values(col, kind, display, header)
    except (pa.ArrowException, ValueError, OverflowError) as e:  # a value pyarrow or pandas cannot convert
        raise DataError(f"{display}: column '{header}' of Parquet type {col.type} cannot be read "
                        f"({type(e).__name__}: {first_line(e)})") from None


def typed_column(col, kind: str | None, display: str, header: str) -> pd.Series:
    """A typed column (Parquet, a database's) as the parsers take it (``_parquet_column``)."""
    return _parquet_column(col, kind, display, header)


def decimal_floats(col) -> np.ndarray:
    """A decimal column's values as the nearest floats (NaN for null), as a CSV's
    text of the same value reads (and as a database's cast to a float: PostgreSQL's
    ``numeric::float8``). Arrow's own cast multiplies by a power of ten that is not
    exact (0.07 as decimal(12, 2) became 0.07000000000000001): a value whose unscaled
    integer is below 2^53 is that integer divided by the power of ten, each exact,
    so the quotient is the nearest float; any other goes through its exact text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = col.type
    out = np.full(len(col), np.nan)
    if len(col) == 0:
        return out
    valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_decimal128(t) and 0 <= t.scale <= 22:
        words = np.frombuffer(col.buffers()[1], dtype=np.int64)[2 * col.offset: 2 * (col.offset + len(col))]
        low, high = words[0::2], words[1::2]
        fits = (high == (low >> 63)) & (low > -(1 << 53)) & (low < (1 << 53)) & valid
        out[fits] = low[fits].astype(np.float64) / 10.0 ** t.scale
        rest = valid & ~fits
    else:
        rest = valid
    if rest.any():
        picked = pc.filter(col, pa.array(rest))
        out[rest] = picked.cast(pa.string()).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return out


def _parquet_values(col, kind: str | None, display: str, header: str) -> pd.Series:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = t.value_type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        try:
            col, t = col.cast(pa.large_string()), pa.large_string()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if kind is not None:
                raise DataError(f"{display}: column '{header}' holds bytes that are not UTF-8 text") from None
    textual = pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t)
    whole = pa.types.is_integer(t)
    numeric = whole or pa.types.is_floating(t) or pa.types.is_decimal(t)
    null = pa.types.is_null(t)
    if kind is None or kind == "text":
        return pd.Series(col.to_pandas())

    def as_text(c) -> pd.Series:
        if pa.types.is_floating(c.type):  # NaN is no value, as null is
            c = pc.if_else(pc.is_nan(c), pa.scalar(None, c.type), c)
        return pd.Series(pc.fill_null(c.cast(pa.large_string()), "").to_pandas())

    if kind == "id" and (textual or numeric or null):
        return as_text(col)
    if kind == "date":
        if pa.types.is_timestamp(t):
            return pd.Series(col.to_pandas())
        if pa.types.is_date(t):
            return pd.Series(col.cast(pa.timestamp("s")).to_pandas())
        if textual or whole or null:  # 20240131 as written; null: no date
            return as_text(col)
    if kind in ("number", "score"):
        if pa.types.is_decimal(t):
            return pd.Series(decimal_floats(col), dtype="float64")
        if numeric or null:
            return pd.Series(col.cast(pa.float64()).to_numpy(), dtype="float64")
        if textual:
            return as_text(col)
    if kind == "bool":
        if pa.types.is_boolean(t) or null:
            return pd.Series(pc.fill_null(col.cast(pa.bool_()), False).to_numpy(), dtype="boolean")
        if textual or whole:  # 1/0, yes/no
            return as_text(col)
    raise DataError(f"{display}: column '{header}' is of Parquet type {t}; this column needs {_PARQUET_WANTS[kind]}")


def _whitespace_source(buf: bytes, inp: InputConfig, display: str, back: Callable[[bytes], bytes]) -> Source:
    """Runs of spaces and tabs separate fields (the CDNOW layout): pandas' parser."""
    try:
        df = pd.read_csv(io.BytesIO(buf), sep=r"\s+", header=None, dtype=str, keep_default_na=False,
                         na_values=[], skip_blank_lines=True, quotechar='"', engine="c", encoding="utf-8")
    except pd.errors.ParserError as e:
        raise DataError(_parser_message(str(e), display, buf)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{display}: empty file: no header") from None
    except UnicodeDecodeError as e:  # UTF-8 is checked by the parser (``to_utf8``)
        decode(buf, inp.encoding, display)  # raises with the line and the encoding to set
        raise DataError(f"{display}: not valid {inp.encoding} ({e.reason})") from None
    if inp.header:
        headers = [str(h).strip() for h in df.iloc[0].tolist()]
        check_header(headers, display)
        df = df.iloc[1:]
        df.index = pd.RangeIndex(len(df))
    else:
        headers = [f"column {i + 1}" for i in range(df.shape[1])]
    return Source(headers, buf, lambda positions, types=None: df[positions],
                   lambda rows: back(reject_bytes(buf, rows, inp.header)))


CSV_BLOCK = 1 << 24  # bytes per block of pyarrow's CSV reader (a block per thread)


def _arrow_columns(buf: bytes, raw: bytes, delimiter: str, inp: InputConfig, headers: list[str],
                   positions: list[int], display: str, types: dict | None = None,
                   multiline: bool | None = None, skip: int | None = None) -> pd.DataFrame:
    """Only the asked columns, by pyarrow's multi-threaded CSV reader: as text, or
    converted by the reader itself where ``types`` asks (``typed_plan``). A typed
    column comes back only when every value converted cleanly (dates within
    1900–2100, finite numbers); otherwise everything is read again as text, for the
    careful parsers to say what is wrong. A record with another number of fields
    than the header stops the read (a value with an unquoted delimiter must not
    shift the columns).

    ``multiline``: whether a quoted value may hold a line break, which makes pyarrow
    cut the file into blocks with a slower, quote-aware scan (10M rows: 0.4 s). The
    fast cut first: a quoted line break inside a block is read right; one at a
    block's edge leaves a record cut in two, of which at least one part has too few
    fields (with two or more columns), so the read fails, and only then is the file
    read again quote-aware. A one-column file with quotes is read quote-aware at once."""
    import pyarrow as pa

    types = types or {}
    quoted = b'"' in buf
    if multiline is None:
        multiline = quoted and len(headers) < 2

    names = [f"f{i}" for i in range(len(headers))]
    try:
        table = _read_csv(buf, names, delimiter, inp, positions, types, multiline, skip)
    except pa.ArrowInvalid as e:
        if quoted and not multiline:  # perhaps a quoted line break at a block's edge: read quote-aware
            return _arrow_columns(buf, raw, delimiter, inp, headers, positions, display, types, multiline=True,
                                  skip=skip)
        if types and "conversion error" in str(e):  # not clean: as text
            return _arrow_columns(buf, raw, delimiter, inp, headers, positions, display, multiline=multiline,
                                  skip=skip)
        if _FIELD_COUNT.search(str(e)):  # a record with another number of fields: say which, and why
            _bad_record(buf, raw, names, delimiter, inp, positions, multiline, skip, display)
        if "UTF8" in str(e) or "utf8" in str(e).lower() or "\ufffd" in str(e):  # "\ufffd": bytes not UTF-8
            decode(raw, inp.encoding, display)  # raises with the line and the encoding to set
        raise DataError(f"{display}: cannot parse the file as CSV: {first_line(e)}") from None
    out = {}
    for p in positions:
        col = table.column(names[p])
        out[p] = col.to_pandas(types_mapper=pd.ArrowDtype).astype("str") if p not in types else typed_values(col)
        if out[p] is None:
            del table, out, col  # not clean: everything as text, without holding this read
            return _arrow_columns(buf, raw, delimiter, inp, headers, positions, display, multiline=multiline,
                                  skip=skip)
    # copy=False: the columns as they are (pandas would otherwise copy them into
    # one block per type: 0.35 s and a second copy at 10M rows)
    return pd.DataFrame(out, index=pd.RangeIndex(table.num_rows), copy=False)


def _parser_message(msg: str, display: str, span_bytes: bytes) -> str:
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        record = int(m.group(2))
        _, _, lines = record_spans(span_bytes)
        line = int(lines[record - 1]) if record - 1 < len(lines) else record
        return (f"{display}:{line}: {m.group(3)} fields where the header has {m.group(1)} "
                "(an unquoted delimiter in a value, or the wrong `delimiter:`?)")
    m = re.search(r"EOF inside string starting at row (\d+)", msg)
    if m:
        _, _, lines = record_spans(span_bytes)
        rec = int(m.group(1))
        line = int(lines[rec]) if rec < len(lines) else rec + 1
        return f"{display}:{line}: a quoted field that never closes (a stray '\"'?)"
    return f"{display}: cannot parse the file as CSV: {msg}"


_FIELD_COUNT = re.compile(r"Expected \d+ columns, got \d+")


def _read_csv(buf: bytes, names: list[str], delimiter: str, inp: InputConfig, positions: list[int],
              types: dict, multiline: bool, skip: int | None, invalid_row_handler=None):
    """One read of pyarrow's CSV reader (``_arrow_columns``)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return pcsv.read_csv(
        pa.BufferReader(pa.py_buffer(buf)),
        read_options=pcsv.ReadOptions(column_names=names,
                                      skip_rows=(1 if inp.header else 0) if skip is None else skip,
                                      block_size=CSV_BLOCK),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                        newlines_in_values=multiline, ignore_empty_lines=True,
                                        invalid_row_handler=invalid_row_handler),
        convert_options=pcsv.ConvertOptions(include_columns=[names[p] for p in positions],
                                            column_types={names[p]: types.get(p, pa.large_string())
                                                          for p in positions},
                                            null_values=[""], decimal_point=inp.decimal,
                                            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def _bad_record(buf: bytes, raw: bytes, names: list[str], delimiter: str, inp: InputConfig, positions: list[int],
                multiline: bool, skip: int | None, display: str) -> None:
    """Raise the message for a record with another number of fields than the
    header: its line, and whether a quote never closes. Only after a read failed:
    the file is read again with a handler that keeps the records pyarrow refuses.
    pyarrow hands a refused record to Python as text, and one that is not UTF-8
    cannot be (pyarrow would print an "exception ignored" on stderr): such bytes
    are read as '?' here (same length, same records), and a record that had them
    is named by its first byte that is not UTF-8 (``decode``)."""
    import pyarrow as pa

    try:
        buf.decode("utf-8")
        safe = buf
    except UnicodeDecodeError:  # one '?' per byte that is not UTF-8
        safe = buf.decode("utf-8", "surrogateescape").encode("utf-8", "replace")
    invalid: list = []

    def on_invalid(row):
        invalid.append(row)
        return "error"

    try:
        _read_csv(safe, names, delimiter, inp, positions, {}, multiline, skip, on_invalid)
    except pa.ArrowInvalid:
        pass
    if not invalid:
        return
    row = invalid[0]
    text = row.text.encode("utf-8")
    if safe is not buf:
        at = safe.find(text) if text else -1
        if at >= 0 and buf[at:at + len(text)] != text:  # the record is not UTF-8
            decode(raw, inp.encoding, display)  # raises with the line and the encoding to set
    offset = _whole_record_at(raw, text) if row.text else -1
    line = raw.count(b"\n", 0, offset) + 1 if offset >= 0 else None
    where = f"{display}:{line}" if line else display
    if row.text.count('"') % 2:
        raise DataError(f"{where}: a quoted field that never closes (a stray '\"'?)") from None
    raise DataError(f"{where}: {row.actual_columns} fields where the header has {row.expected_columns} "
                    "(an unquoted delimiter in a value, or the wrong `delimiter:`?)") from None


def _whole_record_at(raw: bytes, text: bytes) -> int:
    """Where ``text`` stands as a whole record (from a line's start to a line's end),
    not as the start of a longer one ("A,o" is also how "A,o1,…" begins); -1 when
    nowhere."""
    at = raw.find(text)
    while at >= 0:
        end = at + len(text)
        if (at == 0 or raw[at - 1:at] in (b"\n", b"\r")) and (end == len(raw) or raw[end:end + 1] in (b"\n", b"\r")):
            return at
        at = raw.find(text, at + 1)
    return -1


def aligned(first_file: str, first: list[str], file: str, headers: list[str], shown: Callable[[str], str]) -> list[int]:
    """Where each column of the first file is in another file of the same input, by
    name: the columns may come in another order, and a file may have more columns (a
    month's export with one added); a column of the first file that another lacks is a
    data error naming both files and the columns."""
    at = {h: i for i, h in enumerate(headers)}
    missing = [h for h in first if h not in at]
    if missing:
        raise DataError(f"{shown(file)}: has no column {', '.join(repr(m) for m in missing)}, which "
                        f"{shown(first_file)} has: the files of one input need the same columns (in any order; "
                        "more are fine)")
    return [at[h] for h in first]


def combined(parts: list[tuple[str, Source]], display: str, partitions: list[dict[str, str]],
             header: bool, shown: Callable[[str], str]) -> Source:
    """Several files of one format read as one table (a glob, a folder), each by the
    reader of its own: every file has the first one's columns, by name, in any order
    (``aligned``); hive partitions (``year=2024/``) are columns after the file's; a
    bad row is named by its file and line; the rejects hold each file's rejected
    records as they were, under the header once (before each file's records when the
    files' headers differ, byte for byte)."""
    first_file, first = parts[0]
    where_in = [aligned(first_file, first.headers, f, src.headers, shown) for f, src in parts]
    keys = list(partitions[0])
    for (f, _), parts_of in zip(parts, partitions):
        if list(parts_of) != keys:
            raise DataError(f"{shown(f)}: its folders name the partitions {', '.join(parts_of) or 'none'}, "
                            f"those of {shown(first_file)} {', '.join(keys) or 'none'}")
    keys = [k for k in keys if k not in first.headers]
    n_file = len(first.headers)
    headers = first.headers + keys
    counts: list[int] = []

    def read_part(i: int, own: list[int], types: dict | None) -> pd.DataFrame:
        src, at = parts[i][1], where_in[i]
        frame = src.read([at[p] for p in own], {at[p]: t for p, t in (types or {}).items() if p in own})
        return frame.set_axis(own, axis=1) if own else frame

    def read(positions: list[int], types: dict | None = None) -> pd.DataFrame:
        import pyarrow as pa

        # per-file dictionaries would not concatenate into one: ids come as text
        types = {p: t for p, t in (types or {}).items() if not (isinstance(t, pa.DataType) and pa.types.is_dictionary(t))}
        own = [p for p in positions if p < n_file]
        frames = [read_part(i, own, types) for i in range(len(parts))]
        # a column typed in one file and read as text in another (not clean there): text in all
        mixed = [p for p in own if len({str(f[p].dtype) for f in frames}) > 1]
        if mixed:
            frames = [_replace(f, read_part(i, mixed, None), mixed) for i, f in enumerate(frames)]
        counts[:] = [len(f) for f in frames]
        for p in positions:
            if p >= n_file:
                key = headers[p]
                for f, parts_of in zip(frames, partitions):
                    f[p] = pd.Series(parts_of[key], index=f.index, dtype="str")
        out = pd.concat([f[positions] for f in frames], ignore_index=True) if frames else pd.DataFrame()
        return out

    def locate(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bounds = np.cumsum([0, *counts])
        which = np.searchsorted(bounds, rows, side="right") - 1
        return which, rows - bounds[which]

    def where(rows: np.ndarray) -> list[str]:
        which, local = locate(np.asarray(rows))
        out = []
        lines_of: dict[int, np.ndarray | None] = {}
        for w, r in zip(which, local):
            f, src = parts[w]
            if w not in lines_of:
                lines_of[w] = record_spans(src.span_bytes)[2] if src.span_bytes is not None else None
            rec = lines_of[w]
            if rec is None:  # a Parquet file: its row, not a line
                out.append(f"{shown(f)}: record {int(r) + 1}")
                continue
            line = int(rec[min(r + (1 if header else 0), len(rec) - 1)])
            out.append(f"{shown(f)}:{line}")
        return out

    def rejects(rows: np.ndarray) -> bytes:
        which, local = locate(np.asarray(rows))
        chunks = [(parts[w][1], local[which == w]) for w in np.unique(which)]
        if first.reject_ext == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            # the first file's columns, in its order, each file's types widened where they differ
            # (an amount whole in one month, decimal in another); text where no type holds both
            tables = [pq.read_table(pa.BufferReader(src.rejects(r))).select(first.headers) for src, r in chunks]
            try:
                together = pa.concat_tables(tables, promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                together = pa.concat_tables([t.cast(pa.schema([(n, pa.large_string()) for n in t.column_names]))
                                             for t in tables])
            buf = pa.BufferOutputStream()
            pq.write_table(together, buf)
            return buf.getvalue().to_pybytes()
        # each file's rejected records as they were; its header left out when it is, byte for
        # byte, the one already written (same columns, delimiter and encoding)
        out = []
        written = None
        for src, r in chunks:
            b = src.rejects(r)
            if header:
                own = src.rejects(np.zeros(0, dtype=np.int64))  # the header record alone, as the file has it
                if written is None:
                    written = own
                elif own == written and b.startswith(own):
                    b = b[len(own):]
            out.append(b)
        return b"".join(out)

    return Source(headers, None, read, rejects, first.reject_ext, numbering="files", where=where)


def _replace(frame: pd.DataFrame, again: pd.DataFrame, positions: list[int]) -> pd.DataFrame:
    frame = frame.copy()
    for p in positions:
        frame[p] = again[p]
    return frame
