"""table / csv / json / jsonl output and atomic writes (SPEC §6).

Deterministic bytes: fixed column order, rows as given (callers sort), ISO dates,
null (empty in CSV) instead of NaN, floats in their shortest round-trip form.
"""

from __future__ import annotations

import datetime as dt
import glob
import io
import json
import math
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from retention_cli.errors import OutputError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- atomic files ---------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_files(folder: Path, name: str) -> None:
    """Temporary files of writes to ``name`` whose process was killed (SIGKILL, a
    power cut): ``.NAME.PID.XXXX.tmp``."""
    for p in folder.glob(f".{glob.escape(name)}.*.tmp"):
        parts = p.name[len(name) + 2:].split(".")
        if len(parts) == 3 and parts[0].isdigit() and not _alive(int(parts[0])):
            try:
                p.unlink()
            except OSError:
                pass


def atomic_write(path: str | Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or its parts one after the other) to ``path`` through a
    temporary file in the same folder, fsync it and rename it into place: readers see
    the old file or the new, never half."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{shown(p)}: cannot write: folder {shown(folder)} does not exist")
    _remove_stale_files(folder, p.name)
    # The name is chosen and recorded before the file exists, so that whatever stops
    # the run after it is made (SIGTERM, ^C, a full disk) finds it and removes it.
    tmp = folder / f".{p.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    try:
        try:
            # the mode a new file gets (umask applied), so that a report in a shared
            # folder can be read by the people it is for
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # not ours: never removed
            tmp = None
            raise
        with os.fdopen(fd, "wb") as f:
            for part in (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        tmp = None
    except OSError as e:
        raise OutputError(f"{shown(p)}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def shown(path: str | Path) -> str:
    """A file name as messages and output show it: its bytes that are not UTF-8
    (``b'caf\\xe9.csv'`` comes from the system with surrogates, which no terminal or
    file can print) and control characters become U+FFFD, so that a message stays one
    line that always prints. The file is still opened by its own name."""
    return _NAME_CONTROL.sub("\ufffd", _utf8(os.fspath(path)))


_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def output_target(path: str | None) -> tuple[str, Path | None]:
    """What ``-o PATH`` names: ``("stdout", None)`` for nothing or ``-``;
    ``("stream", p)`` for a pipe, a terminal or another character device, written in
    place (renaming over it would replace the special file with a regular one);
    ``("file", p)`` for a regular file or a new one, replaced atomically. A symbolic
    link is followed: what it points at is written, the link is kept."""
    import stat

    if path is None or str(path) == "-":
        return "stdout", None
    real = Path(os.path.realpath(path))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return "file", real
    except OSError as e:
        raise OutputError(f"{shown(path)}: cannot write: {e.strerror or e}") from None
    if stat.S_ISREG(mode):
        return "file", real
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return "stream", real
    what = "a folder" if stat.S_ISDIR(mode) else "a block device" if stat.S_ISBLK(mode) else \
        "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
    raise OutputError(f"{shown(path)}: cannot write: it is {what}; name a file (or - for stdout)")


def side_folder(path: str | None) -> Path | None:
    """The folder for files that go beside an output file (rejects/, the assumptions
    of wom): the real folder of a regular output file; none for stdout, a pipe or a
    device."""
    kind, real = output_target(path)
    if kind != "file":
        return None
    # as the user named it (a relative path stays relative in messages), unless it
    # is a link: then beside what it points at
    return real.parent if os.path.islink(path) else Path(path).parent


def write_rejects(tables: dict, folder: Path) -> list[Path]:
    """The rows skipped under ``on_bad_rows: skip``, as they were in each file, to
    ``folder/rejects/<table>.csv`` (``.parquet`` for a Parquet input), and beside
    them ``<table>.problems.csv``: each bad value's place (file:line, the file of a
    glob or folder, an engine's record or a database row's key), column, value and
    reason (``Table.problems``)."""
    written = []
    for name, t in tables.items():
        if t.rejected_rows and t.reject_bytes is not None:
            target = Path(folder) / "rejects" / f"{name}.{t.reject_ext}"
            if not Path(folder).is_dir():  # the output's folder: said as for the output itself
                raise OutputError(f"{shown(target)}: cannot write: folder {shown(folder)} does not exist")
            try:
                target.parent.mkdir(exist_ok=True)
            except OSError as e:
                raise OutputError(f"{shown(target.parent)}: cannot write: {e.strerror or e}") from None
            atomic_write(target, t.reject_bytes)
            written.append(target)
            problems = t.problems()
            if problems is not None:
                why = target.parent / f"{name}.problems.csv"
                atomic_write(why, to_csv(problems))
                written.append(why)
    return written


def stale_rejects(tables: dict, folder: Path) -> list[Path]:
    """Rejects files in ``folder/rejects/`` of tables this run read and left no row
    out of: an earlier run's (or another command's), which this run did not write
    and does not delete (they may be kept on purpose), but must not pass for its own."""
    found = []
    for name, t in tables.items():
        if t.rejected_rows:
            continue
        for suffix in ("csv", "parquet", "problems.csv"):
            p = Path(folder) / "rejects" / f"{name}.{suffix}"
            if p.is_file():
                found.append(p)
    return found


# --- values -----------------------------------------------------------------------

def plain(v: Any) -> Any:
    """A JSON-ready Python value: null for NaN/NaT/NA, ISO text for dates."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, str):
        return v if v.isascii() else _utf8(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) or math.isinf(v) else float(v)
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat() if v == v.normalize() else v.isoformat()
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    return v


def _utf8(v: str) -> str:
    """Text that can be written as UTF-8: a file name's bytes that are not UTF-8
    (lone surrogates) become the replacement character."""
    if not any("\ud800" <= ch <= "\udfff" for ch in v):
        return v
    try:
        return v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(df.columns)
    return [{c: plain(v) for c, v in zip(cols, row)} for row in df.itertuples(index=False, name=None)]


def guard_formula(v: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula (OWASP CSV injection)."""
    if isinstance(v, str) and v.startswith(FORMULA_START):
        return "'" + v
    return v


def _csv_cell(v: Any) -> Any:
    v = plain(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)  # shortest text that reads back to the same float
    return guard_formula(v) if isinstance(v, str) else v


def to_csv(df: pd.DataFrame) -> bytes:
    """The frame as CSV, column by column (pandas' C writer, no loop per cell for
    typed columns): nulls empty, booleans true/false, floats in their shortest exact
    form (repr), text guarded against formulas. Object columns (mixed values,
    dates) go cell by cell; they are small tables."""
    cols = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s):
            cols[c] = s.map({True: "true", False: "false"}).astype(object)
        elif pd.api.types.is_integer_dtype(s):
            cols[c] = s
        elif pd.api.types.is_float_dtype(s):
            v = s.astype(float)
            cols[c] = v.where(np.isfinite(v))
        elif isinstance(s.dtype, pd.StringDtype):  # text only (pandas' str dtype), nulls apart
            guard = s.str.startswith(FORMULA_START).fillna(False).to_numpy(dtype=bool)
            cols[c] = s.where(~guard, "'" + s) if guard.any() else s
        else:
            cols[c] = pd.Series([_csv_cell(v) for v in s], index=s.index, dtype=object)
    out = pd.DataFrame(cols, index=df.index)
    out.columns = [guard_formula(str(c)) for c in df.columns]
    return out.to_csv(index=False, lineterminator="\n", na_rep="").encode("utf-8")


def _json_cells(df: pd.DataFrame) -> list[list[str]] | None:
    """Each column's cells as JSON text, column by column: what ``json.dumps`` writes
    for ``plain(v)`` (floats by ``repr``, nulls for NaN, text escaped by the json
    module's own C escaper), without a Python call per cell for typed columns. None
    when the frame cannot be written that way (duplicate or non-text column names):
    the caller then writes it cell by cell."""
    if not all(isinstance(c, str) for c in df.columns) or df.columns.duplicated().any():
        return None
    from json.encoder import encode_basestring as escape  # the C escaper when available

    cols = []
    for c in df.columns:
        s = df[c]
        numpy_dtype = isinstance(s.dtype, np.dtype)  # not pandas' nullable Int64, boolean, Float64
        if numpy_dtype and s.dtype == bool:
            cols.append(["true" if v else "false" for v in s.tolist()])
        elif numpy_dtype and s.dtype.kind in "iu":
            cols.append(list(map(str, s.tolist())))
        elif numpy_dtype and s.dtype.kind == "f":
            v = s.to_numpy(dtype=float)
            cells = list(map(float.__repr__, v.tolist()))
            for i in np.flatnonzero(~np.isfinite(v)).tolist():
                cells[i] = "null"
            cols.append(cells)
        elif isinstance(s.dtype, pd.StringDtype):
            cols.append(["null" if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                         else escape(v if v.isascii() else _utf8(v)) for v in s.tolist()])
        else:  # anything else (dates, mixed values, nullable numbers): cell by cell
            cols.append([json.dumps(plain(v), ensure_ascii=False, allow_nan=False) for v in s.tolist()])
    return cols


def to_json(df: pd.DataFrame, meta: dict[str, Any]) -> bytes:
    """``{"meta": …, "rows": [...]}`` indented by 2, byte for byte what ``json.dumps``
    of the records writes, with each row made from its columns' JSON text."""
    cells = _json_cells(df.iloc[:JSON_BLOCK]) if len(df) and len(df.columns) else None
    if cells is None:
        doc = {"meta": plain(meta), "rows": records(df)}
        return (json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")
    return b"".join(_json_parts(df, meta, cells))


def _json_parts(df: pd.DataFrame, meta: dict[str, Any], cells: list):
    """``to_json``'s bytes, a block of rows at a time."""
    head = json.dumps({"meta": plain(meta), "rows": []}, ensure_ascii=False, indent=2, allow_nan=False)
    assert head.endswith('"rows": []\n}')
    keys = [json.dumps(c, ensure_ascii=False).replace("%", "%%") for c in df.columns]
    row = "    {\n" + ",\n".join(f"      {k}: %s" for k in keys) + "\n    }"
    yield (head[:-len("[]\n}")] + "[\n").encode("utf-8")
    for i, part in enumerate(_row_blocks(df, cells)):
        yield ((",\n" if i else "") + ",\n".join(row % values for values in zip(*part))).encode("utf-8")
    yield b"\n  ]\n}\n"


# Rows are turned into text a block at a time: the text of one cell is a Python
# string (60 bytes and more), so a million-row table's cells at once would take
# gigabytes where its JSON takes a few hundred megabytes
JSON_BLOCK = 1 << 16


def _row_blocks(df: pd.DataFrame, first: list):
    """The JSON text of ``df``'s cells (``_json_cells``) a block of rows at a time,
    the first block's given."""
    yield first
    for start in range(JSON_BLOCK, len(df), JSON_BLOCK):
        yield _json_cells(df.iloc[start:start + JSON_BLOCK])


def to_jsonl(df: pd.DataFrame) -> bytes:
    cells = _json_cells(df.iloc[:JSON_BLOCK]) if len(df) and len(df.columns) else None
    if cells is None:
        return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records(df)).encode("utf-8")
    keys = [json.dumps(c, ensure_ascii=False).replace("%", "%%") for c in df.columns]
    row = "{" + ", ".join(f"{k}: %s" for k in keys) + "}\n"
    return b"".join("".join(row % values for values in zip(*part)).encode("utf-8") for part in _row_blocks(df, cells))


# --- terminal tables ----------------------------------------------------------------

_CONTROL = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])


def visible(text: Any) -> str:
    """Text from the data made safe for a terminal: control characters (an escape
    sequence, a bell, a carriage return that would overwrite the line) shown as
    ``\\xNN``, and bytes of a file name that are not UTF-8 as the replacement
    character."""
    t = str(text)
    if any(ord(ch) in _CONTROL for ch in t):
        t = "".join(f"\\x{ord(ch):02x}" if ord(ch) in _CONTROL else ch for ch in t)
    return _utf8(t)


def cell(text: Any, style: str = ""):
    """A Rich text that is never read as markup (``[/]`` in a segment stays as it is)."""
    from rich.text import Text

    return Text(visible(text), style=style)


MONEY = ("revenue", "order_value", "aov", "clv", "cost", "customer_value")  # always two decimals


def format_cell(v: Any, col: str, percent: set[str]) -> str:
    v = plain(v)
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if col in percent:
            return f"{100 * v:.1f} %"
        if any(m in col for m in MONEY):
            return f"{v:,.2f}"
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _cell_width(text: Any) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in str(text).split("\n")), default=0)


def fitted(headers: list[Any], columns: list[list[Any]], *, justify: list[str] | None = None, keys: int = 1,
           title: str | None = None, caption: str | None = None, width: int | None = None,
           header_style: str = "bold", compact: bool = False, column_width: list[int | None] | None = None):
    """Columns laid out so that no cell is ever wrapped: every column is as wide as
    its widest cell; when they do not all fit ``width`` (the terminal's), the value
    columns are split into blocks, one table under the other, each repeating the
    first ``keys`` (label) columns. ``width=None``: one block, as wide as it needs
    (a file, a pipe). ``compact``: no borders, one space between columns (the heat
    map). The title is printed above as a line of its own (wrapped by words like
    any text, never squeezed into the table's width)."""
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text

    justify = justify or ["left"] * len(headers)
    column_width = column_width or [None] * len(headers)
    widths = [column_width[i] or max([_cell_width(h)] + [_cell_width(v) for v in col])
              for i, (h, col) in enumerate(zip(headers, columns))]
    keys = min(keys, len(headers))
    pad, edge = (1, 0) if compact else (3, 1)  # per column: padding and rule; the outer edge
    widest = max((widths[i] + pad for i in range(keys, len(headers))), default=0)
    while width is not None and keys > 1 and edge + sum(widths[k] + pad for k in range(keys)) + widest > width:
        keys -= 1  # fewer repeated labels when they leave no room for a value column
    blocks: list[list[int]] = []
    used = edge + sum(widths[i] + pad for i in range(keys))
    current: list[int] = []
    for i in range(keys, len(headers)):
        w = widths[i] + pad
        if width is not None and current and used + w > width:
            blocks.append(current)
            current, used = [], edge + sum(widths[k] + pad for k in range(keys))
        current.append(i)
        used += w
    if current or not blocks:
        blocks.append(current)
    parts: list[Any] = []
    if title is not None:
        parts.append(Text(visible(title), style="bold"))
    for n, block in enumerate(blocks):
        if compact:
            t = RichTable(box=None, padding=(0, 1, 0, 0), header_style=header_style, show_edge=False)
        else:
            t = RichTable(header_style=header_style)
        for i in [*range(keys), *block]:
            # a header may hold lines of its own (period, then segment): each made visible
            h = headers[i] if isinstance(headers[i], Text) else Text("\n".join(
                visible(line) for line in str(headers[i]).split("\n")))
            t.add_column(h, justify=justify[i], no_wrap=True, overflow="ellipsis", min_width=widths[i],
                         width=column_width[i])
        for r in range(len(columns[0]) if columns else 0):
            t.add_row(*[columns[i][r] if isinstance(columns[i][r], Text) else cell(columns[i][r])
                        for i in [*range(keys), *block]])
        parts.append(t)
    if caption is not None:
        parts.append(Text(visible(caption), style="italic"))
    return Group(*parts)


def needed_width(renderable) -> int:
    """The width a renderable takes unconstrained: the width of a console that
    prints ``--format table`` to a file or a pipe (no wrapping, no width limit)."""
    from rich.console import Console

    con = Console(width=100_000, file=io.StringIO(), color_system=None, emoji=False)
    return max(1, con.measure(renderable).maximum)


def _is_numeric(s: pd.Series) -> bool:
    return bool((pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)) or (
        s.dtype == object and s.map(lambda v: v is None or isinstance(v, (int, float))).all() and s.notna().any()))


def rich_table(df: pd.DataFrame, title: str | None = None, percent: Iterable[str] = (),
               caption: str | None = None, *, width: int | None = None, keys: int | None = None,
               align: str | None = None):
    """A data frame as a terminal table whose cells never wrap (see ``fitted``).
    ``keys``: the leading label columns repeated in every block [default: the
    leading text columns, at most three]; ``align``: of every other column
    [default: numbers right, text left]."""
    percent = set(percent)
    df = tidy_numbers(df)  # the numbers of the data output (a change of money adds up to the cent)
    numeric = [_is_numeric(df[c]) for c in df.columns]
    if keys is None:
        keys = 0
        while keys < min(3, len(df.columns) - 1) and not numeric[keys]:
            keys += 1
        keys = max(keys, 1)
    headers = [str(c).replace("_", " ") for c in df.columns]
    columns = [[format_cell(v, c, percent) for v in df[c].tolist()] for c in df.columns]
    justify = ["right" if n else "left" for n in numeric]
    if align is not None:
        justify = justify[:keys] + [align] * (len(justify) - keys)
    return fitted(headers, columns, justify=justify, keys=keys, title=title,
                  caption=caption, width=width)


def transpose_for_terminal(df: pd.DataFrame, key: str, percent: Iterable[str] = (),
                           by: Iterable[str] = ()) -> pd.DataFrame:
    """Wide KPI tables read better with KPIs as rows and periods as columns, with or
    without segments (``by``: a column per period and segment, headed by both); the
    cells are formatted here, by their KPI, since a column now mixes KPIs."""
    percent = set(percent)
    by = [b for b in by if b in df.columns]
    labels = df[key].astype(str)
    for b in by:
        labels = labels + "\n" + df[b].astype(str)
    cells = {c: [format_cell(v, c, percent) for v in df[c]] for c in df.columns if c != key and c not in by}
    out = pd.DataFrame(cells, index=labels).T
    out.index.name = "kpi"
    return out.reset_index()


# --- emitting ---------------------------------------------------------------------

def tidy_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """Counts as whole numbers and money to the cent, as the data output writes them
    (rates and every other number as computed). A table of several KPIs in one column
    (``kpi`` or ``name``, ``value``, …) is tidied row by row, by its KPI."""
    from retention_cli.kpis.kinds import kind

    out = df
    for c in df.columns:
        s = df[c]
        if not pd.api.types.is_float_dtype(s):
            continue
        k = kind(c)
        if k == "count" and bool((s.dropna() % 1 == 0).all()):
            out = out if out is not df else df.copy()
            out[c] = s.astype("Int64")
        elif k == "money":
            out = out if out is not df else df.copy()
            out[c] = s.round(2) + 0.0  # + 0.0: no "-0.0"
    key = "kpi" if "kpi" in df.columns else "name" if "name" in df.columns else None
    if key is not None and len(df):
        from retention_cli.kpis.kinds import GROUP_KINDS

        groups = df["kind"] if "kind" in df.columns else pd.Series(None, index=df.index, dtype=object)
        kinds = [GROUP_KINDS.get(g) or kind(k) for k, g in zip(df[key], groups)]
        if "count" in kinds or "money" in kinds:
            out = out if out is not df else df.copy()
            for c in df.columns:
                if not pd.api.types.is_float_dtype(df[c]):
                    continue
                values = []
                for k, v in zip(kinds, df[c].tolist()):
                    if v is None or v != v:
                        values.append(None)
                    elif k == "count" and float(v).is_integer():
                        values.append(int(v))
                    elif k == "money":
                        values.append(round(v, 2) + 0.0)
                    else:
                        values.append(v)
                out[c] = pd.Series(values, index=df.index, dtype=object)
            # a change of money is the difference of the two amounts as written
            # (rounded, then subtracted: 14631.49 - 15531.43 = -899.94, not -899.95)
            for c in df.columns:
                base = c.removeprefix("change_vs_")
                if c == base or base not in df.columns or "value" not in df.columns:
                    continue
                fixed = [round(now - then, 2) + 0.0 if k == "money" and isinstance(now, float)
                         and isinstance(then, float) else ch
                         for k, now, then, ch in zip(kinds, out["value"], out[base], out[c])]
                out[c] = pd.Series(fixed, index=df.index, dtype=object)
    return out


def render_parts(df: pd.DataFrame, fmt: str, meta: dict[str, Any]) -> Iterator[bytes]:
    """``render``'s bytes in parts (JSON a block of rows at a time), for a file
    written part by part (``atomic_write``): a large table's text is never whole in
    memory twice."""
    if fmt == "json":
        tidy = tidy_numbers(df)
        cells = _json_cells(tidy.iloc[:JSON_BLOCK]) if len(tidy) and len(tidy.columns) else None
        if cells is not None:
            yield from _json_parts(tidy, meta, cells)
            return
    yield render(df, fmt, meta)


def render(df: pd.DataFrame, fmt: str, meta: dict[str, Any]) -> bytes:
    df = tidy_numbers(df)
    if fmt == "csv":
        return to_csv(df)
    if fmt == "json":
        return to_json(df, meta)
    if fmt == "jsonl":
        return to_jsonl(df)
    raise ValueError(f"render: {fmt}")


def emit(data: bytes, output: str | None) -> None:
    """To ``--output`` (atomically for a file, in place for a pipe or a device) or
    to stdout (``-`` or no output)."""
    kind, real = output_target(output)
    if kind == "file":
        atomic_write(real, data)
        return
    if kind == "stream":
        try:
            with open(real, "wb") as f:
                f.write(data)
        except OSError as e:
            raise OutputError(f"{shown(output)}: cannot write: {e.strerror or e}") from None
        return
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    if out is not None:
        out.write(data)
        out.flush()
    else:  # a test runner's text stream
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()


def format_from_path(path: str | None) -> str | None:
    if not path or path == "-":
        return None
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in ("csv", "json", "jsonl") else None


def cohort_heatmap(df: pd.DataFrame, value: str = "retention", width: int | None = 120, title: str | None = None):
    """The cohort triangle as a table coloured as a heat map: rows are cohorts,
    columns offsets, cells whole percentages (compact, so 36 cohorts fit a wide
    terminal). Offsets that do not fit ``width`` go to further blocks, each repeating
    the cohort and its size; ``width=None``: one block. Values that are not shares
    (``cumulative_revenue_per_member``) are written as amounts."""
    from rich.text import Text

    share = value.startswith("retention")
    offsets = sorted(df["offset"].unique())
    grid = df.pivot(index="cohort", columns="offset", values=value)
    later = df.loc[df["offset"] > 0, value] if share else df[value]
    top = float(later.max()) if len(later) and later.notna().any() and later.max() > 0 else 1.0
    sizes = df.groupby("cohort", sort=False)["cohort_size"].first()
    cohorts = list(grid.index)
    columns: list[list[Any]] = [[cell(c) for c in cohorts], [f"{int(sizes[c]):,}" for c in cohorts]]
    for k in offsets:
        col = []
        for cohort in cohorts:
            v = grid.loc[cohort].get(k, np.nan)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                col.append(Text(""))
                continue
            level = min(max(float(v) / top, 0.0), 1.0)
            shade = int(round(40 + 180 * level))
            text = f"{100 * v:.0f}" if share else f"{v:,.0f}"
            col.append(Text(f"{text:>3} ", style=f"black on rgb({255 - shade // 2},{shade},{120})"))
        columns.append(col)
    widths = [None, None] + [max(4, max((_cell_width(c) for c in col), default=0)) for col in columns[2:]]
    unit = "(%)" if share else "per member"
    heading = f"Cohort {value.replace('_', ' ')} {unit}" + (f": {title}" if title else "")
    return fitted(["cohort", "size", *[f"{k:>3}" for k in offsets]], columns,
                  justify=["left", "right", *["right"] * len(offsets)], keys=2, title=heading, width=width,
                  compact=True, column_width=widths)


def summary_view(df: pd.DataFrame, ratios: set[str], width: int | None = None):
    """Headline KPIs with arrows: ▲ up, ▼ down, = unchanged, – not comparable."""
    from rich.text import Text

    if df.empty:
        return Text("Summary: no KPI", style="bold")
    df = tidy_numbers(df)  # the numbers of the CSV: a change of money adds up to the cent
    first = df.iloc[0]

    def change(v: float, kpi: str) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        arrow = "▲" if v > 0 else "▼" if v < 0 else "="
        size = f"{100 * abs(v):.1f} pt" if kpi in ratios else format_cell(abs(v), kpi, set())
        return f"{arrow} {size}"

    rows = list(df.itertuples())
    labels = [r.label for r in rows]
    values = [[format_cell(r.value, r.kpi, ratios) for r in rows],
              [change(r.change_vs_previous, r.kpi) for r in rows], [change(r.change_vs_year_ago, r.kpi) for r in rows]]
    if width is not None and 13 + max(map(_cell_width, labels)) + sum(
            max(map(_cell_width, col)) + 1 for col in values) > width:
        labels = [r.kpi for r in rows]  # the short names when the sentences do not fit the terminal
    columns = [labels, [format_cell(r.value, r.kpi, ratios) for r in rows],
               [change(r.change_vs_previous, r.kpi) for r in rows], [change(r.change_vs_year_ago, r.kpi) for r in rows]]
    headers = ["kpi", str(first["period"]), f"vs {first['previous_period'] or '–'}",
               f"vs {first['year_ago_period'] or '–'}"]
    return fitted(headers, columns, justify=["left", "right", "right", "right"], title=f"Summary {first['period']}",
                  width=width)


def _estimate(v: Any) -> str:
    v = plain(v)
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}"


def assumptions_view(assumptions: pd.DataFrame, width: int | None = None):
    """The word-of-mouth assumptions once: value, range and status in a table, the
    sources as numbered notes under it (prose, wrapped by words like any text)."""
    from rich.console import Group
    from rich.text import Text

    sources: list[str] = []
    refs = []
    for s in assumptions["source"].astype(str):
        if s not in sources:
            sources.append(s)
        refs.append(f"[{sources.index(s) + 1}]")
    rows = list(assumptions.itertuples())
    columns = [[r.assumption for r in rows], [f"{r.value:.4g}" for r in rows],
               ["" if r.low == r.high else f"{min(r.low, r.high):g}–{max(r.low, r.high):g}" for r in rows],
               [r.status for r in rows], refs]
    table = fitted(["assumption", "value", "range", "status", "source"], columns,
                   justify=["left", "right", "right", "left", "left"], title="Assumptions", width=width)
    notes = [Text(visible(f"[{i}] {s}")) for i, s in enumerate(sources, 1)]
    return Group(table, *notes)


def wom_view(df: pd.DataFrame, assumptions: pd.DataFrame, width: int | None = None):
    """The word-of-mouth estimate of every period: the assumptions once, then one
    table with the estimates as rows and the periods as columns, each cell
    ``central (low–high)``, split into blocks of periods to fit ``width``."""
    from rich.console import Group
    from rich.text import Text

    from retention_cli.kpis.wom import OUTPUTS

    rows = df.to_dict("records")
    names = [n.replace("_", " ") for n in OUTPUTS]

    def grid(ranges: bool) -> tuple[list[str], list[list[Any]]]:
        columns: list[list[Any]] = [names]
        for r in rows:
            col = []
            for name in OUTPUTS:
                c, lo, hi = plain(r.get(name)), plain(r.get(f"{name}_low")), plain(r.get(f"{name}_high"))
                same = not ranges or _estimate(lo) == _estimate(c) == _estimate(hi)
                col.append("–" if c is None else _estimate(c) if same
                           else f"{_estimate(c)} ({_estimate(lo)}–{_estimate(hi)})")
            columns.append(col)
        return ["estimate", *[str(r["period"]) for r in rows]], columns

    headers, columns = grid(True)
    title, caption = "Word of mouth: central estimate (low–high)", None
    if width is not None and len(rows) > 1:
        label = max(map(_cell_width, names)) + 4
        per_block = max(1, (width - label) // (max(_cell_width(v) for col in columns[1:] for v in col) + 3))
        if -(-len(rows) // per_block) > 2:  # more than two blocks: the central estimates only
            headers, columns = grid(False)
            title = "Word of mouth: central estimate"
            caption = "low and high estimates: --period LABEL for one period, or --format csv"
    values = [(r.get("customer_value"), r.get("customer_value_source")) for r in rows]
    lines = []
    for v, src in dict.fromkeys(values):
        v = plain(v)
        lines.append(f"Customer value: {v:,.2f} ({src})" if v is not None
                     else f"Customer value: none ({src}): revenue at risk is not computed")
    if len(lines) > 1:
        lines = [f"Customer value per period: " + "; ".join(
            f"{r['period']} {_estimate(plain(r.get('customer_value')))}" for r in rows)]
    table = fitted(headers, columns, justify=["left", *["right"] * len(rows)], width=width, title=title,
                   caption=caption)
    note = "Estimates from general studies of customer service, not measurements of this business."
    return Group(assumptions_view(assumptions, width), Text(""), table, *[Text(visible(x)) for x in lines],
                 Text(note, style="italic"))


def tornado(df: pd.DataFrame, width: int | None = None, bar: int = 30):
    """The sensitivity rows as a tornado: a bar per assumption, longest first; one
    block per period, headed by its label."""
    from rich.console import Group
    from rich.text import Text

    if df.empty:
        return Text("Sensitivity: no estimate", style="bold")
    parts = []
    for period, part in df.groupby("period", sort=False):
        top = float(part["swing"].max()) if part["swing"].max() > 0 else 1.0
        rows = list(part.itertuples())
        columns = [[r.assumption for r in rows], [f"{r.low_value:g} → {r.high_value:g}" for r in rows],
                   [f"{r.at_low:,.0f}" for r in rows], [f"{r.at_high:,.0f}" for r in rows],
                   [f"{r.swing:,.0f}" for r in rows], ["█" * int(round(bar * r.swing / top)) for r in rows]]
        parts.append(fitted(["assumption", "low → high", "at low", "at high", "swing", ""], columns,
                            justify=["left", "left", "right", "right", "right", "left"], width=width,
                            title=f"Sensitivity of {part['measure'].iloc[0]}: {period}"))
    return Group(*parts)


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False when the
    system cannot (not Linux, an old kernel or libc, a file system without it)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    return False


def _stale(folder: Path, name: str) -> None:
    """Remove temporary folders left by runs of this report that were killed."""
    import shutil

    for p in sorted(folder.glob(f".{glob.escape(name)}.tmp-*")) + sorted(folder.glob(f".{glob.escape(name)}.old-*")):
        try:
            pid = int(p.name.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            continue
        if _alive(pid):  # still running (or not ours to judge): leave it
            continue
        if ".old-" in p.name and not (folder / name).exists():
            os.rename(p, folder / name)  # killed between its two renames: the previous report goes back
            continue
        shutil.rmtree(p, ignore_errors=True)


MARKER = ".retention-report"


def _tree(folder: Path) -> set[str]:
    """Every file and folder under ``folder``, as relative POSIX paths."""
    out = set()
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for n in dirs + files:
            out.add((rel / n).as_posix())
    return out


def _written_by_us(folder: Path) -> set[str] | None:
    """The files an earlier report wrote into ``folder``, from its marker (or, for a
    report of an earlier version without one, its meta.json); None when neither says
    the folder is a report of this tool."""
    import json as _json

    try:
        text = (folder / MARKER).read_text(encoding="utf-8")
        return {line for line in text.splitlines()[1:] if line}
    except (OSError, UnicodeDecodeError):
        pass
    try:
        meta = _json.loads((folder / "meta.json").read_text(encoding="utf-8"))["meta"]
        if meta.get("tool") == "retention" and isinstance(meta.get("files"), list):
            return {str(f) for f in meta["files"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def check_replaceable(target: str | Path) -> Path:
    """The real folder a report for ``target`` goes to (a link is followed and kept);
    an OutputError unless that is new, empty, or a report this tool wrote whose
    files are all its own: a report never deletes what it did not write."""
    import stat

    real = Path(os.path.realpath(target))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    except OSError as e:
        raise OutputError(f"{shown(target)}: cannot write the report: {e.strerror or e}") from None
    if not stat.S_ISDIR(mode):
        raise OutputError(f"{shown(target)}: is a file, not a report folder; nothing was written "
                          "(name a new folder, an empty one, or one of an earlier report)")
    try:
        present = _tree(real)
    except OSError as e:
        raise OutputError(f"{shown(target)}: cannot read the folder: {e.strerror or e}") from None
    if not present:
        return real
    ours = _written_by_us(real)
    if ours is None:
        foreign = sorted(present)
        why = "holds files this tool did not write"
    else:
        dirs = {str(Path(f).parent.as_posix()) for f in ours} - {"."}
        foreign = sorted(present - ours - dirs - {MARKER})
        why = "holds files that are not part of the earlier report there"
    if foreign:
        shown_names = ", ".join(shown(f) for f in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(f"{shown(target)}: {why} ({shown_names}); nothing was written or deleted "
                          "(name a new folder, an empty one, or one of an earlier report)")
    return real


class AtomicFolder:
    """Write a folder beside ``target`` and put it in place at once on success:
    readers see the previous folder or the new one, never half; a failed or killed
    run leaves the previous one byte-identical (its temporary folder is removed now
    or, after a kill, at the next run)."""

    def __init__(self, target: str | Path):
        self.shown = target
        self.target = check_replaceable(target)

    def __enter__(self) -> Path:
        import shutil

        parent = self.target.parent
        # named (and the name kept) before it exists: a signal that arrives just
        # after the folder is made finds it and removes it
        self.tmp = parent / f".{self.target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            _stale(parent, self.target.name)
            self.tmp.mkdir()
        except OSError as e:  # (a folder of that name that is not ours is left alone)
            raise OutputError(f"{shown(self.shown)}: cannot write the report: {e.strerror or e}") from None
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        import shutil

        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        try:
            self._swap()
        except OSError as e:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise OutputError(f"{shown(self.shown)}: cannot put the report in place: {e.strerror or e}") from None
        except BaseException:  # SIGTERM or ^C during the swap: no temporary folder stays behind
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return False

    def _swap(self) -> None:
        import shutil

        # the marker lists what this run wrote: the next run replaces the folder only
        # when it holds nothing else
        files = sorted(f.relative_to(self.tmp).as_posix() for f in self.tmp.rglob("*") if f.is_file())
        (self.tmp / MARKER).write_text("written by retention report; replaced by its next run\n"
                                       + "".join(f + "\n" for f in files), encoding="utf-8")
        check_replaceable(self.shown)  # again: a file may have been put there while the report ran
        for f in sorted(self.tmp.rglob("*")):  # contents on disk before the swap
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        if not self.target.exists():
            os.rename(self.tmp, self.target)
        elif _exchange(self.tmp, self.target):
            shutil.rmtree(self.tmp, ignore_errors=True)  # now holds the previous report
        else:  # no atomic exchange here: two renames, and the way back if stopped between them
            old = self.tmp.with_name(self.tmp.name.replace(".tmp-", ".old-"))
            os.rename(self.target, old)
            try:
                os.rename(self.tmp, self.target)
            except BaseException:
                os.rename(old, self.target)
                raise
            shutil.rmtree(old, ignore_errors=True)
