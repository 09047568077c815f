"""Typing, by kind (``io/schemas.py``), through one entry point, ``convert_column``:
a column the CSV reader already converted (``typed_plan``) is only checked, a clean
text column is converted in one vectorised pass (``fast_date``, ``fast_number``),
and any other goes to the careful parsers (``parse_date``, ``parse_number``, …),
the only ones that say why a value is bad. The three are layers of one path: the
first runs in parallel while the file is parsed, the last is the one that can
name every bad value."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd

from retention_cli.config import InputConfig
from retention_cli.io.schemas import FALSE_WORDS, NPS_RANGE, SCHEMAS, TRUE_WORDS
from retention_cli.io.readers.cells import as_arrow, nulls_for_empty, trimmed, without_bom
from retention_cli.io.readers.ids import clean_ids, empty_ids, is_dictionary


# Dates outside this range are typing errors or placeholders (0000-00-00, 1900-01-00).
MIN_DATE = pd.Timestamp("1900-01-01")


MAX_DATE = pd.Timestamp("2199-12-31")


# A number of this size or more is a typing error or a placeholder (1e308, 9.99e99):
# a quadrillion is beyond any business's books, and sums of such values overflow.
MAX_NUMBER = 1e15


_CURRENCY = re.compile(r"[€$£¥₹]|EUR|USD|GBP|CHF", re.IGNORECASE)


def _number_reasons(bad_values: pd.Series, decimal: str, thousands: str | None) -> pd.Series:
    """Why each of these texts is not a number, with the config hint that fixes it."""
    v = bad_values.astype(str)
    reason = pd.Series("not a number", index=v.index, dtype=object)
    if thousands is None:
        sep = "," if decimal == "." else r"[.\s\u00a0\u202f]"
        grouped = v.str.contains(rf"^-?\d{{1,3}}(?:{sep}\d{{3}})+(?:[.,]\d+)?$", regex=True)
        reason[grouped] = f"not a number (thousands separator? set `thousands: \"{',' if decimal == '.' else '.'}\"`)"
    if decimal == ".":
        comma = v.str.fullmatch(r"-?\d+,\d+")
        reason[comma & ~(reason != "not a number")] = "not a number (decimal comma? set `decimal: \",\"`)"
    reason[v.str.contains(_CURRENCY, regex=True)] = "not a number (currency sign: export plain numbers)"
    reason[v.str.lower().isin(["inf", "-inf", "+inf", "infinity", "-infinity"])] = "not a finite number"
    size = pd.to_numeric(v.str.replace(",", ".", regex=False), errors="coerce").abs()
    reason[(size >= MAX_NUMBER) & np.isfinite(size)] = "implausible number (1e15 or more in size)"
    return reason


def parse_number(s: pd.Series, decimal: str, thousands: str | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Float values, the mask of bad values, and their reasons. Empty is missing (NaN)."""
    if pd.api.types.is_numeric_dtype(s):
        v = s.astype("float64")
        bad = ~(np.abs(v) < MAX_NUMBER) & v.notna()
        why = np.where(np.isfinite(v[bad]), "implausible number (1e15 or more in size)", "not a finite number")
        return v.where(~bad), bad, pd.Series(why, index=s.index[bad], dtype=object)
    t = s.str.strip()
    empty = t == ""
    u = t
    if thousands is not None:
        u = u.str.replace(thousands, "", regex=False)
        if thousands == " ":
            u = u.str.replace("\u00a0", "", regex=False).str.replace("\u202f", "", regex=False)
    if decimal == ",":
        u = u.str.replace(",", ".", regex=False)
    v = pd.to_numeric(u.where(~empty, None), errors="coerce").astype("float64")
    bad = ~empty & (v.isna() | ~(np.abs(v) < MAX_NUMBER))
    reasons = _number_reasons(t[bad], decimal, thousands) if bad.any() else pd.Series(dtype=object)
    return v.where(~bad), bad, reasons


_OFFSET = re.compile(r"(?:[+-]\d\d:?\d\d|Z)$")


def _dates_of_text(s: pd.Series, fmt: str | None, dayfirst: bool, tz: str | None) -> tuple[pd.Series, pd.Series]:
    """Empty cells, and the dates of the others (midnights; NaT where unparsed)."""
    t = s.astype(str).str.strip()
    empty = t == ""
    has_offset = t.str.contains(_OFFSET, regex=True) & ~empty
    kw = {"format": fmt} if fmt else ({"dayfirst": True} if dayfirst else {"format": "ISO8601"})
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[s]")
    naive = ~empty & ~has_offset
    if naive.any():
        out[naive] = pd.to_datetime(t[naive], errors="coerce", **kw).astype("datetime64[s]")
    if has_offset.any():
        if tz:
            stamped = pd.to_datetime(t[has_offset], errors="coerce", utc=True, **kw)
            out[has_offset] = stamped.dt.tz_convert(tz).dt.tz_localize(None).astype("datetime64[s]")
        else:
            wall = t[has_offset].str.replace(_OFFSET, "", regex=True)
            out[has_offset] = pd.to_datetime(wall, errors="coerce", **({"format": "ISO8601"} if not fmt else {})).astype("datetime64[s]")
    return empty, out.dt.normalize()


def parse_date(s: pd.Series, fmt: str | None, dayfirst: bool, tz: str | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Calendar dates (datetime64, midnight), bad mask, reasons. Timestamps are
    reduced to their date; those with a UTC offset are first converted to ``tz``
    when one is configured (else the date as written is kept). Typed timestamps
    (Parquet) follow the same rule: one with a zone is converted to ``tz`` (else
    its date in its own zone is kept), one without is kept as written; dates
    outside 1900–2199 are bad values either way."""
    if pd.api.types.is_datetime64_any_dtype(s):
        v = s
        if getattr(v.dt, "tz", None) is not None:
            v = (v.dt.tz_convert(tz) if tz else v).dt.tz_localize(None)
        empty = s.isna()
        out = v.dt.normalize().astype("datetime64[s]")
    else:
        empty, out = _dates_of_text(s, fmt, dayfirst, tz)
    unparsed = ~empty & out.isna()
    implausible = out.notna() & ((out < MIN_DATE) | (out > MAX_DATE))
    bad = unparsed | implausible
    hint = f"not a date ({fmt})" if fmt else ("not a date (day first)" if dayfirst else "not an ISO date (YYYY-MM-DD); set `date_format:` for this input")
    reasons = pd.Series(hint, index=s.index[unparsed], dtype=object)
    if implausible.any():
        reasons = pd.concat([reasons, pd.Series("implausible date (before 1900 or after 2199)", index=s.index[implausible], dtype=object)])
    return out.where(~bad), bad, reasons


def fast_date(s: pd.Series, fmt: str | None, dayfirst: bool, na: set[str] = frozenset()) -> pd.Series | None:
    """Dates of a clean text column in one vectorised pass (pyarrow): ISO dates and
    plain ISO timestamps, or ``fmt``. None when any value needs the careful parser
    (an offset, a bad value, day-first guessing, an implausible year): that parser
    then also says why."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if dayfirst and not fmt:
        return None
    t = nulls_for_empty(as_arrow(s), na)
    try:
        if fmt:
            d = pc.strptime(t, format=fmt, unit="s", error_is_null=True)
            if d.null_count != t.null_count:
                return None
            # strptime rolls an impossible date over (31/02/2024 becomes 2 March):
            # only values that print back as they were are trusted here
            if pc.all(pc.equal(pc.strftime(d, format=fmt), t)).as_py() is False:
                return None
        else:
            try:
                d = pc.cast(t, pa.date32()).cast(pa.timestamp("s"))
            except pa.ArrowInvalid:
                d = pc.cast(t, pa.timestamp("s"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = d.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    days = values.astype("datetime64[D]")
    ok = np.isnat(days) | ((days >= np.datetime64(MIN_DATE.date())) & (days <= np.datetime64(MAX_DATE.date())))
    if not ok.all():
        return None
    return pd.Series(days.astype("datetime64[s]"), index=s.index)


def fast_number(s: pd.Series, decimal: str, thousands: str | None, na: set[str] = frozenset()) -> pd.Series | None:
    """Numbers of a clean text column in one vectorised pass; None when any value
    needs the careful parser (which then says why)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = as_arrow(s)
    if thousands is not None:
        if thousands == " ":
            return None  # no-break spaces too: the careful parser handles them
        t = pc.replace_substring(t, thousands, "")
    if decimal == ",":
        t = pc.replace_substring(t, ",", ".")
    t = nulls_for_empty(t, na)
    try:
        v = pc.cast(t, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    nan = np.isnan(v)
    if nan.sum() != t.null_count or not (np.abs(v[~nan]) < MAX_NUMBER).all():
        return None  # a literal "NaN" or "inf", or 1e308: the careful parser says why
    if decimal == "." and pc.any(pc.match_substring(as_arrow(s), ",")).as_py():
        return None  # "1,5" must not pass; only the careful parser says why
    return pd.Series(v, index=s.index)


def parse_bool(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean"), pd.Series(False, index=s.index), pd.Series(dtype=object)
    t = s.astype(str).str.strip().str.lower()
    is_true, is_false = t.isin(TRUE_WORDS), t.isin(FALSE_WORDS)
    bad = ~is_true & ~is_false
    return pd.Series(is_true, index=s.index, dtype="boolean"), bad, pd.Series("not yes/no", index=s.index[bad], dtype=object)


def parse_score(s: pd.Series, lo: int, hi: int, decimal: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    v, bad, reasons = parse_number(s, decimal, None)
    reasons = pd.Series(f"not a score ({lo} to {hi})", index=reasons.index, dtype=object)
    off = v.notna() & ((v != np.floor(v)) | (v < lo) | (v > hi))
    if off.any():
        reasons = pd.concat([reasons, pd.Series(f"score out of range (whole numbers {lo} to {hi})", index=s.index[off], dtype=object)])
    return v.where(~off).astype("Int64"), bad | off, reasons


def typed_plan(table: str, found: dict[str, int], inp: InputConfig, fmt: str) -> dict:
    """The columns pyarrow's CSV reader converts while it reads (in parallel): ISO
    dates and timestamps without offset, numbers without thousands separator, and
    the customer and product ids of purchases, dictionary-encoded (hashed once, by
    the reader). Only
    where the result is exactly the careful parser's: not with ``na_values``,
    ``date_format`` or ``dayfirst``."""
    import pyarrow as pa

    if fmt != "csv" or inp.na_values:
        return {}
    kinds = {c.name: c.kind for c in SCHEMAS[table]}
    wants: dict[int, list] = {}
    for name, pos in found.items():
        kind = kinds[name]
        typ = None
        if kind == "date" and not inp.date_format and not inp.dayfirst:
            typ = pa.timestamp("s")
        elif kind == "number" and inp.thousands is None:
            typ = pa.float64()
        elif kind == "id" and table == "purchases" and name != "order_id":
            # customer and product ids repeat: a dictionary is small. Order ids are
            # mostly distinct (per-block dictionaries would be as large as the column
            # and merging them costs more memory than one hash in the model)
            typ = pa.dictionary(pa.int32(), pa.string())
        wants.setdefault(pos, []).append(typ)
    # a column feeding several names is typed only when they all want the same type
    return {pos: ts[0] for pos, ts in wants.items() if ts[0] is not None and all(t == ts[0] for t in ts)}


def position_kinds(table: str, found: dict[str, int]) -> dict[int, str]:
    """The kind each column is read as (Parquet): a column feeding an id and a
    text name is read as an id (text, '' for none), which serves both."""
    kinds = {c.name: c.kind for c in SCHEMAS[table]}
    out: dict[int, str] = {}
    for name, pos in found.items():
        out[pos] = "id" if "id" in (kinds[name], out.get(pos)) else kinds[name]
    return out


def typed_values(col) -> pd.Series | None:
    """A typed column of the reader as pandas, or None when a value is not what the
    careful parser would accept (a literal NaN or inf; a date outside 1900–2100).
    Ids stay dictionary-encoded arrow (``dictionary_parts``)."""
    import pyarrow as pa

    if pa.types.is_dictionary(col.type):
        enc = col.unify_dictionaries().combine_chunks() if col.num_chunks else pa.array([], col.type)
        return pd.Series(pd.arrays.ArrowExtensionArray(enc))
    values = col.to_numpy()
    if pa.types.is_floating(col.type):
        if not col.null_count and len(values) and np.abs(values).max() < MAX_NUMBER:
            return pd.Series(values)  # no null, no NaN, no infinity, nothing implausible
        nan = np.isnan(values)
        if nan.sum() != col.null_count or not (np.abs(values[~nan]) < MAX_NUMBER).all():
            return None
        return pd.Series(values)
    # seconds since 1970: within 1900-01-01 .. 2199-12-31, and cut to the day (only
    # when a value has a time of day: plain dates are whole days already)
    seconds = values.view(np.int64)
    nat = np.isnat(values) if col.null_count else np.False_
    lo = np.datetime64(MIN_DATE.date(), "s").astype(np.int64)
    hi = np.datetime64(MAX_DATE.date() + timedelta(days=1), "s").astype(np.int64)
    if not (nat | ((seconds >= lo) & (seconds < hi))).all():
        return None
    if ((seconds % 86400 != 0) & ~nat).any():
        values = values.astype("datetime64[D]").astype("datetime64[s]")
    return pd.Series(values)


def convert_column(s: pd.Series, kind: str, fmt: str, inp: InputConfig, na: set[str], tz: str | None,
                   missing_is_bad: bool = False, scale: tuple[int, int] = NPS_RANGE) -> tuple[pd.Series, list]:
    """One column typed by its kind, and its problems: a list of (mask of bad rows,
    reasons, the values as messages show them). The one conversion path of every
    column, mapped or named by an option: a column the CSV reader converted
    (``typed_plan``) or a clean text column (``fast_date``, ``fast_number``) has no
    bad value; any other goes to the careful parser of its kind, which says why.
    ``missing_is_bad``: an empty cell is a bad value ("missing"), for a required
    column or an amount. ``scale``: the range of a score."""
    problems: list = []
    fast = None  # a clean column converts as it is, without trimming first
    if fmt == "csv" and (pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_float_dtype(s)):
        fast = s  # converted by the CSV reader (typed_plan), and checked there
    elif fmt == "csv" and kind == "date":
        fast = fast_date(s, inp.date_format, inp.dayfirst, na)
    elif fmt == "csv" and kind == "number":
        fast = fast_number(s, inp.decimal, inp.thousands, na)
    if fast is not None:  # clean column: no bad value to report
        if missing_is_bad:
            missing = fast.isna()
            where = fast.index[missing.to_numpy()]
            problems.append((missing, pd.Series("missing", index=where), pd.Series("", index=where)))
        return fast, problems
    if is_dictionary(s):  # ids encoded by the reader
        v = clean_ids(s, na)
        if missing_is_bad:
            missing = pd.Series(empty_ids(v), index=v.index)
            problems.append((missing, pd.Series("missing", index=v.index[missing.to_numpy()]), s))
        return v, problems
    if fmt == "csv" or s.dtype == object or pd.api.types.is_string_dtype(s):
        s = trimmed(s, na)
    # the values as messages show them; a typed column (Parquet) is not turned into
    # text whole: the bad values only are shown
    text_view = s if kind != "id" or pd.api.types.is_string_dtype(s) else s.astype(str)
    if kind == "id":
        v = without_bom(text_view)
        if fmt == "parquet":
            v = v.mask(s.isna(), "")
        if missing_is_bad:
            missing = v == ""
            problems.append((missing, pd.Series("missing", index=v.index[missing]), text_view))
        return v, problems
    if kind in ("date", "number"):
        if kind == "date":
            v, bad, reasons = parse_date(s, inp.date_format, inp.dayfirst, tz)
        else:
            v, bad, reasons = parse_number(s, inp.decimal, inp.thousands)
        problems.append((bad, reasons, text_view))
        if missing_is_bad:
            missing = v.isna() & ~bad
            problems.append((missing, pd.Series("missing", index=v.index[missing]), text_view))
        return v, problems
    if kind == "score":
        v, bad, reasons = parse_score(s, scale[0], scale[1], inp.decimal)
        return v, [(bad, reasons, text_view)]
    if kind == "bool":
        v, bad, reasons = parse_bool(s)
        return v, [(bad, reasons, text_view)]
    return (text_view.where(text_view != "", None) if fmt == "csv" else s), problems
