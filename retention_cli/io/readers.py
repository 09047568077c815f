"""Files -> validated DataFrames (SPEC §1): dialect, column mapping, bad rows.

Every value is read as text first, so identifiers stay as written (``00042``,
``17850.0``), and each canonical column is then parsed vectorised by its kind
(``io/schemas.py``). Bad values are collected for the whole file (not only the
first) and reported as ``file:line: column 'x': value 'y': reason``, where line is
the physical line of the file (right with quoted multi-line fields).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import os
import re
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from retention_cli.config import Config, InputConfig
from retention_cli.errors import ConfigError, DataError, InputMissingError, UsageError
from retention_cli.io.writers import shown
from retention_cli.io.schemas import (FALSE_WORDS, KIND_WORDS, NPS_RANGE, SCHEMAS, TRUE_WORDS, compatible_kinds,
                                      normalise_header)

MAX_LISTED = 20  # bad rows printed with on_bad_rows: error
SNIFF_CANDIDATES = (",", ";", "\t", "|")
# Dates outside this range are typing errors or placeholders (0000-00-00, 1900-01-00).
MIN_DATE = pd.Timestamp("1900-01-01")
MAX_DATE = pd.Timestamp("2199-12-31")


@dataclass
class Table:
    """One input table, read and validated."""

    name: str
    path: str                 # as resolved from the config, or "-"
    display: str              # the name used in messages
    df: pd.DataFrame          # canonical columns parsed + extra columns as text; index = data row
    rows_read: int            # data rows in the file (blank lines not counted)
    sha256: str
    mapping: dict[str, str]   # canonical name -> the file's header (or "column N")
    extras: list[str] = field(default_factory=list)
    bad: pd.DataFrame | None = None   # line, column, value, reason (every bad value found)
    rejected_rows: int = 0
    excluded_rows: int = 0             # left out by the input's `exclude` (and never-paying trials)
    reject_bytes: bytes | None = None  # header + rejected records, byte for byte (Parquet: those rows)
    reject_ext: str = "csv"            # the rejects file's extension: csv, or parquet for a Parquet input
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.df)


# --- raw bytes ------------------------------------------------------------------

_UNSET = object()  # "ask text_limit()": the default of the functions that read
READ_CHUNK = 1 << 20  # bytes asked per read of a pipe or device
_TOO_MUCH = ("more than the memory available can read ({per} bytes of memory per byte of text); "
             "{fix}")


def _read_bytes(path: str, display: str, table: str, limit: int | None = _UNSET) -> bytes:
    """The file's bytes. A regular file is admitted by its size (``check_memory``);
    standard input, a pipe (``<(…)``, a FIFO) or a device has no size, and is read
    in chunks up to ``limit`` bytes (``text_limit()``), then refused: /dev/zero or a
    never-ending pipe stops with exit 66 instead of filling the memory."""
    if limit is _UNSET:
        limit = text_limit()
    if path == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError(f"{table}: '-' reads standard input, but it is a terminal; pipe a file in or give a path")
        return _read_stdin(sys.stdin.buffer, display, table, limit)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise InputMissingError(f"{display}: {table} file not found") from None
    except OSError as e:  # a symlink loop, a name too long, no permission on a folder
        raise InputMissingError(f"{display}: cannot read the {table} file: {e.strerror}") from None
    except ValueError:  # a NUL character in the name
        raise InputMissingError(f"{display}: cannot read the {table} file: its name holds a NUL character") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputMissingError(f"{display}: is a folder, not a {table} file")
    try:
        if stat.S_ISREG(st.st_mode) and st.st_size > 0:  # (/proc files say 0 and have text: read as a pipe)
            p = Path(path)
            check_memory(p, display)
            return p.read_bytes()
        with open(path, "rb", buffering=0) as f:
            return _read_stream(f, limit, lambda: _stream_too_large(display, limit, stdin=False))
    except OSError as e:
        raise InputMissingError(f"{display}: cannot read the {table} file: {e.strerror}") from None


def _read_stdin(stream, display: str, table: str, limit: int | None) -> bytes:
    """Standard input: a file redirected to it (``< p.csv``) is admitted by its size
    like any file; a pipe is read up to ``limit``."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # no descriptor (a test runner's stream)
        st = None
    try:
        if st is not None and stat.S_ISREG(st.st_mode):
            _admit(max(st.st_size - stream.tell(), 0), display)
            return stream.read()
        return _read_stream(stream, limit, lambda: _stream_too_large(display, limit, stdin=True))
    except OSError as e:
        raise InputMissingError(f"{display}: cannot read the {table} input: {e.strerror}") from None


def _read_stream(f, limit: int | None, too_large: Callable[[], Exception]) -> bytes:
    """All of ``f`` in chunks; ``too_large()`` is raised once it gives more than ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = f.read(READ_CHUNK if limit is None else min(READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            raise too_large()


def _stream_too_large(display: str, limit: int, stdin: bool) -> InputMissingError:
    what = "standard input gave" if stdin else "is not a regular file and gave"
    fix = ("save the export to a file, or run on a machine with more memory" if stdin else
           "is it the right file? Save the export to a regular file first")
    return InputMissingError(f"{display}: {what} more than {limit:,} bytes: "
                             + _TOO_MUCH.format(per=MEMORY_PER_BYTE, fix=fix))


# Memory a command needs per byte of the text it reads, as measured by
# benchmarks/run.py at 10M rows (491 MB): churn 1.6 GiB above the interpreter's
# own, 3.2 bytes per byte; purchases 5.6. Rounded down, so that a file is refused
# only when no command can read it.
MEMORY_PER_BYTE = 3
DEFLATE_MAX_RATIO = 1032  # zlib's technical details: deflate's largest expansion, 1032:1


def check_memory(p: Path, display: str) -> None:
    """Refuse at once a file whose reading needs more memory than the machine has
    free, rather than be stopped by the kernel's OOM killer halfway. The size of a
    gzip's text is taken from its trailer (that of its last member only, modulo
    4 GiB): a first guess, which the decompression itself then enforces
    (``_gunzip``)."""
    if memory_available() is None:
        return
    size = p.stat().st_size
    text = size
    try:
        if p.suffix.lower() == ".gz" and size >= 18:
            with open(p, "rb") as f:  # the gzip trailer holds the text's size (modulo 4 GiB)
                f.seek(-4, 2)
                isize = int.from_bytes(f.read(4), "little")
            # deflate makes at most 1032 bytes of one: a larger size is no trailer (a
            # file cut short), and the decompression says so
            if isize <= DEFLATE_MAX_RATIO * size:
                text = max(size, isize)
        elif p.suffix.lower() == ".zip":
            with zipfile.ZipFile(p) as zf:
                text = size + sum(m.file_size for m in zf.infolist())
    except (OSError, EOFError, ValueError, NotImplementedError, struct.error, zipfile.BadZipFile):
        return  # the reader says what is wrong with the file
    _admit(text, display)


def _admit(text: int, display: str) -> None:
    available = memory_available()
    if available is None:
        return
    need = MEMORY_PER_BYTE * text
    if need > available:
        raise InputMissingError(
            f"{display}: reading this file ({_size(text)} of text) needs about {_size(need)} of memory and "
            f"{_size(available)} is available: export fewer years or columns, or run on a machine with more memory"
        )


def memory_available() -> int | None:
    """Bytes of memory this process can still use: the kernel's MemAvailable, or
    less under a cgroup limit; None where unknown (not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return free


def text_limit() -> int | None:
    """The most bytes one input may bring: what the memory available can read at
    MEMORY_PER_BYTE; None where the memory is unknown (not Linux). It bounds what
    standard input, a pipe or a device may give and what a gzip or zip may
    decompress to. Tests lower it by replacing this function."""
    available = memory_available()
    return None if available is None else max(available, 0) // MEMORY_PER_BYTE


def _size(n: float) -> str:
    if n < 1000:
        return f"{n:,.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            return f"{n:,.1f} {unit}"


def _unpack(raw: bytes, path: str, display: str, limit: int | None = _UNSET) -> tuple[bytes, str]:
    """Decompressed bytes and the format: 'csv' or 'parquet'. ``limit``: the most
    bytes of text the decompression may give (``text_limit()``)."""
    if limit is _UNSET:
        limit = text_limit()
    lower = path.lower()
    if lower.endswith(".gz") or raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, display, limit)
        lower = lower[:-3] if lower.endswith(".gz") else lower
    elif lower.endswith(".zip") or raw[:4] == b"PK\x03\x04":
        raw, lower = _unzip(raw, display, limit)
    if lower.endswith((".parquet", ".pq")) or raw[:4] == b"PAR1":
        return raw, "parquet"
    return raw, "csv"


_ZLIB_REASONS = {
    "incorrect data check": "CRC check failed: the data is damaged",
    "incorrect length check": "length check failed: the data is damaged",
    "incorrect header check": "no gzip header",
    "unknown compression method": "unknown compression method",
}


def _gunzip(raw: bytes, display: str, limit: int | None) -> bytes:
    """The text of a gzip file: every member of it (``cat a.gz b.gz`` is one gzip
    file of two members), each checked by zlib (header, CRC-32, size), and at most
    ``limit`` bytes of it: a file whose text is larger (a gzip bomb, or several
    members, of which the trailer counts only the last) is refused as soon as the
    text passes the limit, before the memory is spent. Each member in one call
    (zlib stops at ``max_length``), so the usual file costs no more than before."""
    parts: list[bytes] = []
    total, data = 0, raw
    while data:
        at = len(raw) - len(data)
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # a gzip member: header and trailer
        try:
            part = d.decompress(data, 0 if limit is None else limit + 1 - total)
        except zlib.error as e:
            reason = str(e).split(": ", 1)[-1]
            if parts and reason == "incorrect header check":
                reason = f"bytes that are not gzip after the end of the compressed data, at offset {at:,}"
            else:
                reason = _ZLIB_REASONS.get(reason, f"damaged compressed data: {reason}")
            raise DataError(f"{display}: not a readable gzip file ({reason})") from None
        total += len(part)
        if limit is not None and total > limit:
            raise InputMissingError(f"{display}: its decompressed text passes {limit:,} bytes: " + _TOO_MUCH.format(
                per=MEMORY_PER_BYTE, fix="export fewer years or columns, or run on a machine with more memory"))
        if not d.eof:
            raise DataError(f"{display}: not a readable gzip file (cut short: the file ends before its "
                            "compressed data does; download or export it again)")
        parts.append(part)
        data = d.unused_data.lstrip(b"\x00")  # zeros may pad a gzip file (as gzip reads them)
    return b"".join(parts)  # one member: that member itself, not a copy


# Zip compression methods by number (PKWARE APPNOTE 4.4.5), for the message about a
# member that cannot be read; 99 is WinZip's AES encryption.
_ZIP_METHODS = {1: "Shrink", 6: "Implode", 9: "Deflate64", 10: "PKWARE Implode", 12: "bzip2", 14: "LZMA",
                93: "Zstandard", 95: "XZ", 96: "JPEG", 97: "WavPack", 98: "PPMd", 99: "AES encryption"}


def _zip_methods() -> set[int]:
    """The compression methods Python's zipfile reads here (bzip2 and LZMA only
    when Python was built with them)."""
    methods = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
    for number, module in ((zipfile.ZIP_BZIP2, "bz2"), (zipfile.ZIP_LZMA, "lzma")):
        try:
            __import__(module)
            methods.add(number)
        except ImportError:
            pass
    return methods


def _unzip(raw: bytes, display: str, limit: int | None) -> tuple[bytes, str]:
    """The one file of a zip, and its name in lower case. An encrypted member, a
    compression method Python cannot read and a damaged member are data errors
    (65) that say which; a member larger than ``limit`` is refused unread (66)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, struct.error) as e:
        raise DataError(f"{display}: not a readable zip file ({_first_line(e)})") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
        if len(members) != 1:
            names = ", ".join(shown(m.filename) for m in members) or "none"
            raise DataError(f"{display}: a zip input must hold exactly one file (found: {names})")
        m = members[0]
        where = f"{display}: member {shown(m.filename)}"
        if m.compress_type == 99 or m.flag_bits & 0x1:
            how = " (AES)" if m.compress_type == 99 else ""
            raise DataError(f"{where} is encrypted{how}: export it without a password")
        if m.compress_type not in _zip_methods():
            method = _ZIP_METHODS.get(m.compress_type, "an unknown method")
            raise DataError(f"{where} is compressed with {method} (method {m.compress_type}), which this program "
                            "cannot read: zip it again with the usual method (deflate)")
        if limit is not None and m.file_size > limit:
            raise InputMissingError(f"{where} holds {m.file_size:,} bytes of text, more than {limit:,}: " + _TOO_MUCH.format(
                per=MEMORY_PER_BYTE, fix="export fewer years or columns, or run on a machine with more memory"))
        try:
            data = zf.read(m)
        except NotImplementedError as e:  # zipfile's "That compression method is not supported"
            raise DataError(f"{where} cannot be read: {_first_line(e)}") from None
        except RuntimeError:  # zipfile's "… is encrypted, password required for extraction"
            raise DataError(f"{where} is encrypted: export it without a password") from None
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 — BadZipFile (CRC), zlib.error, EOFError, LZMAError, OSError (bz2)…
            raise DataError(f"{where} is damaged ({type(e).__name__}: {_first_line(e)}): "
                            "export or download it again") from None
    return data, m.filename.lower()


_UTF8 = {"utf-8", "utf8", "utf_8", "utf-8-sig", "u8"}


def _decode(raw: bytes, encoding: str, display: str) -> tuple[str, bytes]:
    """The text, and bytes in which '\\n' and '"' are single bytes (for line numbers)."""
    enc = encoding.lower()
    if enc in _UTF8 and raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        enc = "utf-16"  # an Excel "Unicode text" export: the BOM says what it is
    if enc in _UTF8:
        enc = "utf-8-sig"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        other = "cp1252" if enc == "utf-8-sig" else "utf-8"
        raise DataError(
            f"{display}:{line}: byte 0x{raw[e.start]:02x} (offset {e.start}) is not valid {encoding}; "
            f"set `encoding: {other}` (or latin-1) for this input in the config"
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DataError(f"{display}:{line}: NUL byte in the file: not a text CSV (a UTF-16 file without BOM needs `encoding: utf-16`)")
    ascii_safe = codecs.lookup(enc).name not in ("utf-16", "utf-32", "utf-16-le", "utf-16-be")
    return text, (raw if ascii_safe else text.encode("utf-8"))


def record_spans(buf: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start offset, end offset (after the terminator) and 1-based physical line of
    every CSV record in ``buf``, empty lines left out. A newline ends a record unless
    it is inside quotes: the number of '"' before it is odd (an escaped "" counts
    twice, so parity holds)."""
    a = np.frombuffer(buf, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    if len(nl) == 0:
        nl = np.flatnonzero(a == 13)  # classic Mac line ends
    quotes = np.flatnonzero(a == 34)
    term = nl[np.searchsorted(quotes, nl) % 2 == 0]
    starts = np.concatenate([[0], term + 1])
    ends = np.concatenate([term + 1, [len(a)]])
    keep = starts < len(a)
    starts, ends = starts[keep], ends[keep]
    # empty lines are not records: both parsers skip them
    first = a[np.minimum(starts, len(a) - 1)]
    empty = ((ends - starts == 1) & ((first == 10) | (first == 13))) | \
        ((ends - starts == 2) & (first == 13) & (a[np.minimum(starts + 1, len(a) - 1)] == 10))
    starts, ends = starts[~empty], ends[~empty]
    lines = np.searchsorted(nl, starts) + 1
    return starts, ends, lines


def sniff_delimiter(text: str) -> str:
    """The candidate (, ; tab |) that splits the first lines into the same
    number of fields, most fields first; ',' for a one-column file."""
    lines = [ln for ln in text[:65536].splitlines()[:50] if ln.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last sampled line may be cut short
    best, best_score = ",", (0.0, 0)
    for d in SNIFF_CANDIDATES:
        counts = [_count_outside_quotes(ln, d) for ln in lines]
        if not counts or counts[0] == 0:
            continue
        score = (sum(c == counts[0] for c in counts) / len(counts), counts[0])
        if score > best_score:
            best, best_score = d, score
    return best


def _count_outside_quotes(line: str, d: str) -> int:
    n, inside = 0, False
    for ch in line:
        if ch == '"':
            inside = not inside
        elif ch == d and not inside:
            n += 1
    return n


# --- column mapping ---------------------------------------------------------------

def _closest(name: str, headers: list[str]) -> str:
    norm = {normalise_header(h): h for h in headers if h}
    close = difflib.get_close_matches(normalise_header(name), list(norm), n=1, cutoff=0.5)
    return f"; closest: '{norm[close[0]]}'" if close else ""


def resolve_mapping(
    table: str, inp: InputConfig, headers: list[str], display: str, extra: tuple[str, ...] = ()
) -> tuple[dict[str, int], dict[str, int]]:
    """Canonical name -> 0-based column position, and extra column -> position.

    One column may feed several canonical names when the config maps it to each
    (an export without customer ids: customer_id and complaint_id both from
    "Complaint ID"); it is read once. Matching by name never takes a column the
    config mapped. Names of kinds one column cannot hold at once (an id and a date)
    are refused."""
    shown = ", ".join(f"'{h}'" for h in headers if h) or "(none)"
    taken: dict[int, str] = {}
    found: dict[str, int] = {}
    kinds = {c.name: c.kind for c in SCHEMAS[table]}

    def take(canon: str, pos: int) -> None:
        if pos in taken and not compatible_kinds(kinds[taken[pos]], kinds[canon]):
            raise DataError(f"{display}: column '{headers[pos]}' is mapped to both {taken[pos]} and {canon}: "
                            f"one column cannot be {KIND_WORDS[kinds[taken[pos]]]} and {KIND_WORDS[kinds[canon]]}")
        taken.setdefault(pos, canon)
        found[canon] = pos

    for canon, target in inp.columns.items():
        if canon not in kinds:  # a config read without its checks (a profile, a library caller)
            raise ConfigError(f"inputs.{table}.columns.{canon}: not a column of {table} "
                              f"(its columns: {', '.join(kinds)})")
        if isinstance(target, int):
            if target > len(headers):
                raise DataError(f"{display}: {canon} is mapped to column {target}, but the file has {len(headers)} columns")
            take(canon, target - 1)
            continue
        exact = [i for i, h in enumerate(headers) if h == target.strip()]
        loose = [i for i, h in enumerate(headers) if normalise_header(h) == normalise_header(target)]
        hits = exact or loose
        if not hits:
            raise DataError(
                f"{display}: column '{target}' (mapped to {canon} in the config) is not in the file; "
                f"headers found: {shown}{_closest(target, headers)}"
            )
        take(canon, hits[0])
    if inp.header:
        by_norm: dict[str, int] = {}
        for i, h in enumerate(headers):
            by_norm.setdefault(normalise_header(h), i)
        for col in SCHEMAS[table]:
            if col.name in found:
                continue
            pos = by_norm.get(normalise_header(col.name))
            if pos is not None and pos not in taken:
                take(col.name, pos)
    for col in SCHEMAS[table]:
        if col.required and col.name not in found:
            if not inp.header:
                raise DataError(f"{display}: the file has no header; map {col.name} to its position: `columns: {{{col.name}: 1}}`")
            raise DataError(
                f"{display}: no column for {col.name} (required); headers found: {shown}"
                f"{_closest(col.name, headers)}; map it in the config: `columns: {{{col.name}: \"…\"}}`"
            )
    if table == "responses" and not ({"nps_score", "csat_score"} & found.keys()):
        raise DataError(
            f"{display}: a responses file needs nps_score or csat_score; headers found: {shown}"
            f"{_closest('nps_score', headers)}"
        )
    extras: dict[str, int] = {}
    for name in extra:
        exact = [i for i, h in enumerate(headers) if h == name]
        loose = [i for i, h in enumerate(headers) if normalise_header(h) == normalise_header(name)]
        if exact or loose:
            extras[name] = (exact or loose)[0]
    return found, extras


# --- parsing by kind ----------------------------------------------------------------

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


def _arrow(s: pd.Series):
    import pyarrow as pa

    return pa.array(s)


def _nulls_for_empty(t, na: set[str]):
    """Empty cells and ``na_values`` as nulls (a value with spaces is not cast: it
    goes to the careful parser, which trims it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pc.equal(t, "")
    if na:
        empty = pc.or_(empty, pc.is_in(t, value_set=pa.array(sorted(na), type=t.type)))
    return pc.if_else(empty, pa.scalar(None, t.type), t)


def fast_date(s: pd.Series, fmt: str | None, dayfirst: bool, na: set[str] = frozenset()) -> pd.Series | None:
    """Dates of a clean text column in one vectorised pass (pyarrow): ISO dates and
    plain ISO timestamps, or ``fmt``. None when any value needs the careful parser
    (an offset, a bad value, day-first guessing, an implausible year): that parser
    then also says why."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if dayfirst and not fmt:
        return None
    t = _nulls_for_empty(_arrow(s), na)
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

    t = _arrow(s)
    if thousands is not None:
        if thousands == " ":
            return None  # no-break spaces too: the careful parser handles them
        t = pc.replace_substring(t, thousands, "")
    if decimal == ",":
        t = pc.replace_substring(t, ",", ".")
    t = _nulls_for_empty(t, na)
    try:
        v = pc.cast(t, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    nan = np.isnan(v)
    if nan.sum() != t.null_count or not (np.abs(v[~nan]) < MAX_NUMBER).all():
        return None  # a literal "NaN" or "inf", or 1e308: the careful parser says why
    if decimal == "." and pc.any(pc.match_substring(_arrow(s), ",")).as_py():
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


# --- the reader -------------------------------------------------------------------

@dataclass
class _Source:
    """A file ready to be read column by column: its header, and a reader that
    returns only the asked columns (positions) as text, one row per data record."""

    headers: list[str]
    span_bytes: bytes | None          # bytes for line numbers ('\n' and '"' are single bytes)
    read: object                      # Callable[[list[int]], pd.DataFrame]
    rejects: object                   # Callable[[np.ndarray], bytes]: header + those rows, as in the file
    reject_ext: str = "csv"


def _check_header(headers: list[str], display: str, line: bool = True) -> None:
    seen: dict[str, int] = {}
    for i, h in enumerate(headers):
        if h and h in seen:
            where = f"{display}:1" if line else display
            raise DataError(f"{where}: duplicate column name '{h}' (columns {seen[h] + 1} and {i + 1})")
        seen.setdefault(h, i)


def _source(raw: bytes, fmt: str, inp: InputConfig, display: str) -> _Source:
    if fmt == "parquet":
        return _parquet_source(raw, display)
    buf, head, back = _utf8(raw, inp.encoding, display)
    if not head.strip():
        raise DataError(f"{display}: empty file: no header" if inp.header else f"{display}: empty file")
    skip = None
    if inp.header_row != 1 or inp.skip_rows:
        buf, skip = _banner_out(buf, inp, display)
        head = buf[:65536].decode("utf-8", errors="ignore")
    delimiter = inp.delimiter or sniff_delimiter(head)
    if delimiter == "whitespace":
        return _whitespace_source(buf, inp, display, back)
    rows = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
    first = next(rows, []) if skip is None else next((r for r in rows if r), [])
    if inp.header:
        headers = [h.strip() for h in first]
        _check_header(headers, display)
    else:
        headers = [f"column {i + 1}" for i in range(len(first))]

    def read(positions: list[int], types: dict | None = None) -> pd.DataFrame:
        return _arrow_columns(buf, raw, delimiter, inp, headers, positions, display, types, skip=skip)

    return _Source(headers, buf, read, lambda rows: back(_reject_bytes(buf, rows, inp.header)))


def _banner_out(buf: bytes, inp: InputConfig, display: str) -> tuple[bytes, int]:
    """``header_row`` / ``skip_rows``: the lines above the header (a banner) and the
    records right after it that are no data (SurveyMonkey's second header row,
    Qualtrics' question texts) become empty lines, which both parsers skip, so that
    every line keeps its number in messages. Returns those bytes and the number of
    physical lines before the data (for pyarrow's ``skip_rows``)."""
    starts, ends, lines = record_spans(buf)
    nl = b"\n" if b"\n" in buf else b"\r"
    h = int(np.searchsorted(lines, inp.header_row)) if inp.header else -1
    if inp.header and h >= len(starts):
        raise DataError(f"{display}: no header at line {inp.header_row} (header_row): the file has "
                        f"{int(lines[-1]) if len(lines) else 0} lines with text")
    cut = []  # byte ranges to empty
    if h > 0:
        cut.append((0, int(starts[h])))
    if inp.skip_rows and h + 1 < len(starts):
        last = min(h + inp.skip_rows, len(starts) - 1)
        cut.append((int(starts[h + 1]), int(ends[last])))
    parts, at = [], 0
    for a, b in cut:
        parts += [buf[at:a], nl * buf.count(nl, a, b)]
        at = b
    parts.append(buf[at:])
    out = b"".join(parts)
    if not inp.header:
        return out, 0
    end = int(ends[h])  # an offset in ``buf``: the lines up to it are as many in ``out``
    return out, buf.count(nl, 0, end) + (0 if buf[end - 1:end] in (b"\n", b"\r") else 1)


def _parquet_source(raw: bytes, display: str) -> _Source:
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
        raise DataError(f"{display}: not a readable Parquet file ({type(e).__name__}: {_first_line(e)})") from None
    # a pandas index written as a column is no data column
    try:
        meta = table.schema.pandas_metadata or {}
        index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
    except (ValueError, AttributeError, TypeError):  # pandas' note damaged (not JSON): the columns are all there is
        index = set()
    keep = [i for i, name in enumerate(table.column_names) if name not in index]
    headers = [str(table.column_names[i]) for i in keep]
    _check_header(headers, display, line=False)

    def read(positions: list[int], kinds: dict | None = None) -> pd.DataFrame:
        kinds = kinds or {}
        return pd.DataFrame({p: _parquet_column(table.column(keep[p]), kinds.get(p), display, headers[p])
                             for p in positions}, index=pd.RangeIndex(table.num_rows), copy=False)

    def rejects(rows: np.ndarray) -> bytes:
        out = pa.BufferOutputStream()
        pq.write_table(table.take(pa.array(rows, pa.int64())), out)
        return out.getvalue().to_pybytes()

    return _Source(headers, None, read, rejects, "parquet")


def _first_line(e: BaseException, n: int = 200) -> str:
    """A library's message on one line (pyarrow's may go on with a schema)."""
    text = (str(e).strip().splitlines() or [""])[0]
    return text if len(text) <= n else text[: n - 1] + "…"


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
                        f"({type(e).__name__}: {_first_line(e)})") from None


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


def _utf8(raw: bytes, encoding: str, display: str) -> tuple[bytes, str, Callable[[bytes], bytes]]:
    """UTF-8 bytes for the parser (BOM removed), the first part as text (for the
    header and the delimiter sniffer), and the way back: UTF-8 lines of the file to
    the file's own bytes (its encoding and BOM), for the rejects file. UTF-8 input is
    not decoded whole here: the parser checks it, and on failure ``_decode`` names
    the line."""
    enc = encoding.lower()
    nul = raw.find(b"\x00")
    if enc in _UTF8 and raw[:2] not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if nul >= 0:
            _decode(raw, encoding, display)  # raises with the line of the NUL byte
        bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
        buf = raw[len(bom):]
        head = buf[:65536].decode("utf-8", errors="ignore")
        return buf, head, lambda b: bom + b
    text, _ = _decode(raw, encoding, display)
    buf = text.encode("utf-8")
    bom, codec = b"", codecs.lookup("utf-16" if enc in _UTF8 else enc).name
    if codec in ("utf-16", "utf-32"):  # the BOM said the byte order: keep it
        bom = raw[:4] if raw[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE) else raw[:2]
        codec += "-le" if bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF32_LE) else "-be"
    return buf, text[:65536], lambda b: bom + b.decode("utf-8").encode(codec)


def _whitespace_source(buf: bytes, inp: InputConfig, display: str, back: Callable[[bytes], bytes]) -> _Source:
    """Runs of spaces and tabs separate fields (the CDNOW layout): pandas' parser."""
    try:
        df = pd.read_csv(io.BytesIO(buf), sep=r"\s+", header=None, dtype=str, keep_default_na=False,
                         na_values=[], skip_blank_lines=True, quotechar='"', engine="c", encoding="utf-8")
    except pd.errors.ParserError as e:
        raise DataError(_parser_message(str(e), display, buf)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{display}: empty file: no header") from None
    except UnicodeDecodeError as e:  # UTF-8 is checked by the parser (``_utf8``)
        _decode(buf, inp.encoding, display)  # raises with the line and the encoding to set
        raise DataError(f"{display}: not valid {inp.encoding} ({e.reason})") from None
    if inp.header:
        headers = [str(h).strip() for h in df.iloc[0].tolist()]
        _check_header(headers, display)
        df = df.iloc[1:]
        df.index = pd.RangeIndex(len(df))
    else:
        headers = [f"column {i + 1}" for i in range(df.shape[1])]
    return _Source(headers, buf, lambda positions, types=None: df[positions],
                   lambda rows: back(_reject_bytes(buf, rows, inp.header)))


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
    import pyarrow.csv as pcsv

    types = types or {}
    quoted = b'"' in buf
    if multiline is None:
        multiline = quoted and len(headers) < 2

    names = [f"f{i}" for i in range(len(headers))]
    invalid: list = []

    def on_invalid(row):
        invalid.append(row)
        return "error"

    # pyarrow cannot hand a row that is not UTF-8 to ``on_invalid``: it reports that
    # as an "exception ignored" on stderr. The read's own error says what is wrong.
    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: None
    try:
        table = pcsv.read_csv(
            pa.BufferReader(pa.py_buffer(buf)),
            read_options=pcsv.ReadOptions(column_names=names,
                                          skip_rows=(1 if inp.header else 0) if skip is None else skip,
                                          block_size=CSV_BLOCK),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                            newlines_in_values=multiline, ignore_empty_lines=True,
                                            invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(include_columns=[names[p] for p in positions],
                                                column_types={names[p]: types.get(p, pa.large_string())
                                                              for p in positions},
                                                null_values=[""], decimal_point=inp.decimal,
                                                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as e:
        if quoted and not multiline:  # perhaps a quoted line break at a block's edge: read quote-aware
            return _arrow_columns(buf, raw, delimiter, inp, headers, positions, display, types, multiline=True,
                                  skip=skip)
        if types and not invalid and "conversion error" in str(e):  # not clean: as text
            return _arrow_columns(buf, raw, delimiter, inp, headers, positions, display, multiline=multiline,
                                  skip=skip)
        if invalid:
            row = invalid[0]
            offset = raw.find(row.text.encode("utf-8")) if row.text else -1
            line = raw.count(b"\n", 0, offset) + 1 if offset >= 0 else None
            where = f"{display}:{line}" if line else display
            if row.text.count('"') % 2:
                raise DataError(f"{where}: a quoted field that never closes (a stray '\"'?)") from None
            raise DataError(f"{where}: {row.actual_columns} fields where the header has {row.expected_columns} "
                            "(an unquoted delimiter in a value, or the wrong `delimiter:`?)") from None
        if "UTF8" in str(e) or "utf8" in str(e).lower() or "\ufffd" in str(e):  # "\ufffd": bytes not UTF-8
            _decode(raw, inp.encoding, display)  # raises with the line and the encoding to set
        raise DataError(f"{display}: cannot parse the file as CSV: {_first_line(e)}") from None
    finally:
        sys.unraisablehook = hook
    out = {}
    for p in positions:
        col = table.column(names[p])
        out[p] = col.to_pandas(types_mapper=pd.ArrowDtype).astype("str") if p not in types else _typed_values(col)
        if out[p] is None:
            del table, out, col  # not clean: everything as text, without holding this read
            return _arrow_columns(buf, raw, delimiter, inp, headers, positions, display, multiline=multiline,
                                  skip=skip)
    # copy=False: the columns as they are (pandas would otherwise copy them into
    # one block per type: 0.35 s and a second copy at 10M rows)
    return pd.DataFrame(out, index=pd.RangeIndex(table.num_rows), copy=False)


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


def _typed_values(col) -> pd.Series | None:
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


def _is_dictionary(s: pd.Series) -> bool:
    import pyarrow as pa

    return isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_dictionary(s.dtype.pyarrow_dtype)


def dictionary_parts(s: pd.Series):
    """(distinct values as an arrow array, each row's index into them as int64) of
    an id column the reader dictionary-encoded; None for any other column."""
    import pyarrow as pa

    if not _is_dictionary(s):
        return None
    arr = pa.array(s)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.dictionary, arr.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _clean_ids(s: pd.Series, na: set[str]) -> pd.Series:
    """Ids read dictionary-encoded: trimmed, without BOM, ``na_values`` empty, all
    done on the distinct values; values that become equal (' C1' and 'C1') merge."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dictionary, indices = dictionary_parts(s)
    clean = _trim_arrow(dictionary, na)
    if pc.any(pc.match_substring(clean, "\ufeff")).as_py():
        clean = pc.replace_substring(clean, "\ufeff", "")
    if pc.all(pc.equal(clean, dictionary)).as_py() is not False:
        return s
    merged = pc.dictionary_encode(clean)
    remap = merged.indices.to_numpy(zero_copy_only=False)
    arr = pa.DictionaryArray.from_arrays(pa.array(remap[indices].astype(np.int32)), merged.dictionary)
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=s.index)


def _empty_ids(s: pd.Series) -> np.ndarray:
    """Rows of a dictionary-encoded id column whose value is empty."""
    import pyarrow.compute as pc

    dictionary, indices = dictionary_parts(s)
    empty = pc.equal(pc.utf8_trim_whitespace(dictionary), "").to_numpy(zero_copy_only=False)
    return empty[indices] if len(indices) else np.zeros(0, dtype=bool)


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


# --- what real exports need (docs/exports.md) ------------------------------------
# Each option of an input is applied only when it is set: a clean export without
# them is read exactly as before, at the same cost.

def uses_options(inp: InputConfig) -> bool:
    return bool(inp.exclude or inp.inherit or inp.refund_amount or inp.refund_date or inp.subscriptions
                or inp.amount_scope != "line")


def _needed_by_options(inp: InputConfig, use: set[str]) -> set[str]:
    """Canonical columns the options need besides those a command reads."""
    need: set[str] = set()
    if inp.inherit or ((inp.amount_scope == "order" or inp.refund_amount) and "amount" in use):
        need.add("order_id")
    if inp.subscriptions:
        need |= {"signup_date", "churn_date"}
    return need


def option_columns(table: str, inp: InputConfig, headers: list[str], found: dict[str, int],
                   display: str) -> dict[str, int]:
    """The position of every column an option names (``exclude``, ``inherit``, the
    refund and subscription columns): a canonical name the file maps, or a header,
    matched as mapped columns are (exactly, else ignoring case, spaces, - and _)."""
    def wrong(key: str, what: str) -> None:
        raise ConfigError(f"inputs.{table}.{key}: {what}")

    if table != "purchases":
        for key in ("refund_amount", "refund_date"):
            if getattr(inp, key):
                wrong(key, "refunds are read with the purchases")
        if inp.amount_scope != "line":
            wrong("amount_scope", "only purchases have order amounts")
    if inp.subscriptions and table != "customers":
        wrong("subscriptions", "a subscriptions export is read as the customers input")
    if inp.refund_date and not inp.refund_amount:
        wrong("refund_date", "set refund_amount too: the date of which refund?")
    names = [(f"exclude.{k}", k) for k in inp.exclude] + [("inherit", n) for n in inp.inherit]
    names += [(k, getattr(inp, k)) for k in ("refund_amount", "refund_date") if getattr(inp, k)]
    if inp.subscriptions:
        names += [(f"subscriptions.{k}", v) for k, v in inp.subscriptions.model_dump().items() if v]
    listed = ", ".join(f"'{h}'" for h in headers if h) or "(none)"
    out: dict[str, int] = {}
    for key, name in names:
        if name in found:
            out[name] = found[name]
            continue
        exact = [i for i, h in enumerate(headers) if h == name.strip()]
        loose = [i for i, h in enumerate(headers) if normalise_header(h) == normalise_header(name)]
        if not (exact or loose):
            raise DataError(f"{display}: column '{name}' ({key} in the config) is not in the file; "
                            f"headers found: {listed}{_closest(name, headers)}")
        out[name] = (exact or loose)[0]
    if inp.inherit and "order_id" not in found:
        raise DataError(f"{display}: inherit fills an order's continuation lines, found by their order_id: "
                        "map order_id in the config")
    return out


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(s) and not _is_dictionary(s):
        return s
    return s.astype("str").where(s.notna(), "")


def _inherit(cells: pd.DataFrame, positions: list[int], order_pos: int) -> pd.DataFrame:
    """Continuation lines (Shopify: only an order's first line carries Email,
    Created at, Total): an empty cell takes the value of its order's first line
    that has one. Lines without an order id keep their cells."""
    key = _as_text(cells[order_pos]).str.strip()
    keyed = (key != "").to_numpy()
    for p in dict.fromkeys(positions):
        s = _as_text(cells[p])
        empty = (s.str.strip() == "").to_numpy()
        if not empty.any():
            continue
        first = s.where(~empty).groupby(key, sort=False).transform("first")
        fill = empty & keyed & first.notna().to_numpy()
        cells[p] = s.where(~fill, first)
    return cells


def _exclude(cells: pd.DataFrame, exclude: dict[str, list[str]], aux: dict[str, int],
             display: str) -> tuple[pd.DataFrame, int, str | None]:
    """Rows whose column holds one of the listed values (trimmed, case-insensitive;
    "" an empty cell, "*" any value) are left out, and counted in a note by value."""
    drop = np.zeros(len(cells), dtype=bool)
    parts = []
    for name, values in exclude.items():
        s = _as_text(cells[aux[name]]).str.strip().str.lower()
        wanted = {v.strip().lower() for v in values}
        hit = s.isin(wanted - {"*"}).to_numpy()
        if "*" in wanted:
            hit = hit | (s != "").to_numpy()
        new = hit & ~drop
        drop |= hit
        if new.any():
            v = s[new]
            labels = v.where(v.isin(wanted - {"*"}), "any value").where(v != "", "empty")
            counts = labels.value_counts()
            counts = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            parts.append(f"{name}: " + ", ".join(f"{label} {n}" for label, n in counts))
    n = int(drop.sum())
    if not n:
        return cells, 0, None
    note = f"{display}: left out {n} row{'s' if n != 1 else ''} by exclude ({'; '.join(parts)})"
    return cells[~drop], n, note


def _parse_option_columns(table: str, inp: InputConfig, cells: pd.DataFrame, aux: dict[str, int], na: set[str],
                          tz: str | None, flag) -> dict[str, pd.Series]:
    """The refund and subscription columns, parsed as their kind; a bad value is a
    bad row under the column's header, as for any mapped column."""
    out: dict[str, pd.Series] = {}

    def text(name: str) -> pd.Series:
        return _trimmed(_as_text(cells[aux[name]]), na)

    def date(key: str, name: str | None) -> None:
        if name:
            s = text(name)
            v, bad, reasons = parse_date(s, inp.date_format, inp.dayfirst, tz)
            flag(name, bad, reasons, s)
            out[key] = v

    if inp.refund_amount:
        s = text(inp.refund_amount)
        v, bad, reasons = parse_number(s, inp.decimal, inp.thousands)
        flag(inp.refund_amount, bad, reasons, s)
        out["refund"] = v
    date("refund_date", inp.refund_date)
    sub = inp.subscriptions
    if sub:
        date("trial_end", sub.trial_end)
        date("period_end", sub.period_end)
        if sub.cancel_at_period_end:
            s = text(sub.cancel_at_period_end)
            v, bad, reasons = parse_bool(s)
            flag(sub.cancel_at_period_end, bad, reasons, s)
            out["cancel"] = v
    return out


def _lower_ids(s: pd.Series) -> pd.Series:
    """Ids compared case-insensitively (e-mail addresses): lower-cased, on the
    distinct values of a dictionary-encoded column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _is_dictionary(s):
        return s.str.lower()
    dictionary, indices = dictionary_parts(s)
    lower = pc.utf8_lower(dictionary)
    if pc.all(pc.equal(lower, dictionary)).as_py() is not False:
        return s
    merged = pc.dictionary_encode(lower)
    remap = merged.indices.to_numpy(zero_copy_only=False)
    arr = pa.DictionaryArray.from_arrays(pa.array(remap[indices].astype(np.int32)), merged.dictionary)
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=s.index)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _first_lines(order_id: pd.Series) -> np.ndarray:
    """The first line of each order (a line without order id is an order of its own)."""
    return (~order_id.duplicated() | (order_id == "")).to_numpy()


def _apply_meaning(result: Table, inp: InputConfig, parsed: dict[str, pd.Series]) -> pd.DataFrame:
    """What the export means, on the rows that are kept: an order total counted
    once, refunds, subscriptions folded into customers."""
    if inp.subscriptions:
        return _fold_subscriptions(result, parsed)
    df, display = result.df, result.display
    first = None
    if inp.amount_scope == "order" and "amount" in df:
        if "order_id" not in df:
            raise DataError(f"{display}: amount_scope: order takes the amount once per order_id: map order_id")
        first = _first_lines(df["order_id"])
        df = df.assign(amount=df["amount"].where(first, 0.0))
    if "refund" in parsed and "amount" in df:
        # refund columns are order-level in the exports we know (Shopify, WooCommerce):
        # with order ids, an order's refund is taken once
        r = parsed["refund"].reindex(df.index).abs().fillna(0.0)
        if "order_id" in df:
            r = r.where(first if first is not None else _first_lines(df["order_id"]), 0.0)
        has = (r > 0).to_numpy()
        if has.any():
            dated = np.zeros(len(df), dtype=bool)
            if "refund_date" in parsed:
                day = parsed["refund_date"].reindex(df.index)
                dated = has & (day.notna() & (day != df["order_date"])).to_numpy()
            df = df.assign(amount=df["amount"] - r.where(has & ~dated, 0.0))
            if dated.any():  # a return of its own, dated when the money went back
                back = df[dated].assign(order_date=day[dated], amount=-r[dated])
                if "order_id" in back:
                    oid = back["order_id"]
                    back = back.assign(order_id=oid.where(oid == "", oid + " (refund)"))
                start = int(df.index.max()) + 1
                back.index = pd.RangeIndex(start, start + len(back))
                if _is_dictionary(df["customer_id"]):
                    df = df.assign(customer_id=df["customer_id"].astype("str"))
                    back = back.assign(customer_id=back["customer_id"].astype("str"))
                df = pd.concat([df, back])
            when = (f"{int(dated.sum())} dated by {inp.refund_date}, the others in the order's period"
                    if dated.any() else "each in the order's period")
            result.warnings.append(f"{display}: {_plural(int(has.sum()), 'refund')} ({r[has].sum():,.2f}) "
                                   f"lower revenue ({when})")
    return df


def _fold_subscriptions(result: Table, parsed: dict[str, pd.Series]) -> pd.DataFrame:
    """One row per subscription -> one customer each. A subscription pays from its
    trial's end (else its start) to its end (cancel at period end: the period's
    end); a customer is one from their first paying day until the end of their last
    subscription, open while one is. Trials that ended before paying, and those
    still running at the end of the export, make no customer."""
    df, display = result.df, result.display
    start = df["signup_date"]
    end = df["churn_date"] if "churn_date" in df else pd.Series(pd.NaT, index=df.index, dtype="datetime64[s]")
    # the last day the export knows of: its latest start or end (ends scheduled at a
    # period's end are not known yet)
    known = max(start.max(), end.max()) if end.notna().any() else start.max()
    if "cancel" in parsed and "period_end" in parsed:
        cancel = parsed["cancel"].reindex(df.index).fillna(False).astype(bool)
        end = end.where(end.notna() | ~cancel, parsed["period_end"].reindex(df.index))
    paying = start
    if "trial_end" in parsed:
        trial = parsed["trial_end"].reindex(df.index)
        paying = trial.where(trial.notna() & (trial > start), start)
    never = (end.notna() & (end <= paying)).to_numpy()
    in_trial = ~never & (paying > known).to_numpy()
    keep = ~never & ~in_trial
    k = df[keep].assign(signup_date=paying[keep], churn_date=end[keep])
    k = k.sort_values(["customer_id", "signup_date"], kind="stable")
    who = k["customer_id"].to_numpy()
    ends = k["churn_date"].to_numpy("datetime64[D]").astype(np.int64)
    ends[np.isnat(k["churn_date"].to_numpy("datetime64[D]"))] = np.iinfo(np.int64).max
    covered = pd.Series(ends, index=k.index).groupby(who, sort=False).cummax().groupby(who, sort=False).shift(1)
    starts = k["signup_date"].to_numpy("datetime64[D]").astype(np.int64)
    gap = (covered.notna() & (starts > covered.fillna(0))).to_numpy()
    open_ = k["churn_date"].isna().groupby(who, sort=False).transform("any").to_numpy()
    k = k.assign(signup_date=k["signup_date"].groupby(who, sort=False).transform("min"),
                 churn_date=k["churn_date"].groupby(who, sort=False).transform("max").where(~open_))
    folded = k[~k["customer_id"].duplicated(keep="last")].sort_index()
    result.warnings.append(f"{display}: {_plural(len(df), 'subscription')} read as "
                           f"{_plural(len(folded), 'customer')} (from the first paying day, after any trial, "
                           "to the end of the last subscription)")
    if never.any():
        result.warnings.append(f"{display}: {_plural(int(never.sum()), 'trial')} that ended before paying left out")
    if in_trial.any():
        result.warnings.append(f"{display}: {_plural(int(in_trial.sum()), 'subscription')} still in trial at the "
                               "end of the export left out")
    if gap.any():
        n = len(set(who[gap]))
        result.warnings.append(f"{display}: {_plural(n, 'customer')} ended every subscription and later started "
                               "a new one; one signup and one churn date per customer count them as customers "
                               "in between")
    result.excluded_rows += int(never.sum() + in_trial.sum())
    return folded


def read_table(
    table: str,
    inp: InputConfig,
    cfg: Config,
    path: str | None = None,
    extra: tuple[str, ...] = (),
    policy: str | None = None,
    columns: frozenset[str] | None = None,
) -> Table:
    """Read, map and validate one input table.

    ``extra`` are further columns of an event table wanted as text (``--by``); of
    the customers file every column that is not canonical is kept (attributes).
    ``columns``: the canonical columns the command uses (None: all); the others are
    neither read nor checked (the mapping still is). ``amount`` brings
    ``quantity`` and ``unit_price`` when the file has no amount.
    """
    # Messages name the file as the user wrote it (config or command line).
    display = "<stdin>" if (path or inp.path) == "-" else shown(path or inp.path)
    path = path or cfg.resolve_path(inp.path)
    policy = policy or cfg.bad_rows_policy(table)
    limit = text_limit()
    try:
        original = _read_bytes(path, display, table, limit)
        sha = _sha256_beside(original)  # hashed on the other core while the file is parsed
        raw, fmt = _unpack(original, path, display, limit)
        del original
        source = _source(raw, fmt, inp, display)
    except MemoryError:  # the admission check guessed short (other processes took the memory meanwhile)
        raise InputMissingError(f"{display}: not enough memory to read this file: "
                                "export fewer years or columns, or run on a machine with more memory") from None
    headers, span_bytes = source.headers, source.span_bytes
    del raw
    wanted_extra = tuple(h for h in headers if h) if table == "customers" else extra
    found, extras = resolve_mapping(table, inp, headers, display, wanted_extra)
    # the columns the input's options name (exclude, inherit, refunds, subscriptions): {} when none is set
    aux = option_columns(table, inp, headers, found, display) if uses_options(inp) else {}
    if columns is not None:
        use = set(columns) | ({"quantity", "unit_price"} if "amount" in columns and "amount" not in found else set())
        if aux or inp.amount_scope == "order" or inp.subscriptions:
            use |= _needed_by_options(inp, use)
        found = {c: p for c, p in found.items() if c in use}
    extras = {k: v for k, v in extras.items() if v not in found.values()}
    plan = typed_plan(table, found, inp, fmt) if fmt == "csv" else position_kinds(table, found)
    if aux:  # the cells options compare or fill are read as text
        plan = {p: t for p, t in plan.items() if p not in aux.values()}
    cells = source.read(sorted(set(found.values()) | set(extras.values()) | set(aux.values())), plan)

    # Rows with no value in any column read (Excel's trailing ",,,") are not
    # data: left out, and counted in a warning. Empty lines are skipped by the parser.
    empty_rows = 0
    if fmt == "csv" and len(cells) and cells.shape[1]:
        blank = np.ones(len(cells), dtype=bool)
        for c in sorted(cells.columns, key=lambda c: not _is_dictionary(cells[c])):  # ids first: cheapest
            blank &= _blank(cells[c])
            if not blank.any():
                break
        empty_rows = int(blank.sum())
        if empty_rows:
            cells = cells[~blank]
    na = set(inp.na_values)
    excluded, exclude_note = 0, None
    if inp.inherit:
        cells = _inherit(cells, [aux[n] for n in inp.inherit], found["order_id"])
    if inp.exclude:
        cells, excluded, exclude_note = _exclude(cells, inp.exclude, aux, display)
    out: dict[str, pd.Series] = {}
    bad_parts: list[pd.DataFrame] = []

    def flag(col: str, mask: pd.Series, reasons: pd.Series, values: pd.Series) -> None:
        if mask.any():
            idx = mask.index[mask.to_numpy()]
            bad_parts.append(pd.DataFrame({
                "row": idx, "column": col, "value": values.loc[idx].astype(str).to_numpy(),
                "reason": reasons.reindex(idx).fillna("bad value").to_numpy(),
            }))

    lo, hi = cfg.satisfaction.csat_scale
    for col in SCHEMAS[table]:
        if col.name not in found:
            continue
        s = cells[found[col.name]]
        fast = None  # a clean column converts as it is, without trimming first
        if fmt == "csv" and (pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_float_dtype(s)):
            fast = s  # converted by the CSV reader (typed_plan), and checked there
        elif fmt == "csv" and col.kind == "date":
            fast = fast_date(s, inp.date_format, inp.dayfirst, na)
        elif fmt == "csv" and col.kind == "number":
            fast = fast_number(s, inp.decimal, inp.thousands, na)
        if fast is not None:  # clean column: no bad value to report
            if col.required or col.name == "amount":
                missing = fast.isna()
                where = fast.index[missing.to_numpy()]
                flag(col.name, missing, pd.Series("missing", index=where), pd.Series("", index=where))
            out[col.name] = fast
            continue
        if _is_dictionary(s):  # ids encoded by the reader
            v = _clean_ids(s, na)
            if col.required:
                missing = pd.Series(_empty_ids(v), index=v.index)
                flag(col.name, missing, pd.Series("missing", index=v.index[missing.to_numpy()]), s)
            out[col.name] = v
            continue
        if fmt == "csv" or s.dtype == object or pd.api.types.is_string_dtype(s):
            s = _trimmed(s, na)
        # the values as messages show them; a typed column (Parquet) is not turned into
        # text whole: ``flag`` shows its flagged values only
        text_view = s if col.kind != "id" or pd.api.types.is_string_dtype(s) else s.astype(str)
        if col.kind == "id":
            v = _without_bom(text_view)
            if fmt == "parquet":
                v = v.mask(s.isna(), "")
            if col.required:
                missing = v == ""
                flag(col.name, missing, pd.Series("missing", index=v.index[missing]), text_view)
            out[col.name] = v
        elif col.kind == "date":
            v, bad, reasons = parse_date(s, inp.date_format, inp.dayfirst, cfg.timezone)
            flag(col.name, bad, reasons, text_view)
            if col.required:
                missing = v.isna() & ~bad
                flag(col.name, missing, pd.Series("missing", index=v.index[missing]), text_view)
            out[col.name] = v
        elif col.kind == "number":
            v, bad, reasons = parse_number(s, inp.decimal, inp.thousands)
            flag(col.name, bad, reasons, text_view)
            if col.name == "amount":
                missing = v.isna() & ~bad
                flag(col.name, missing, pd.Series("missing", index=v.index[missing]), text_view)
            out[col.name] = v
        elif col.kind == "score":
            lo_, hi_ = NPS_RANGE if col.name == "nps_score" else (lo, hi)
            v, bad, reasons = parse_score(s, lo_, hi_, inp.decimal)
            flag(col.name, bad, reasons, text_view)
            out[col.name] = v
        elif col.kind == "bool":
            v, bad, reasons = parse_bool(s)
            flag(col.name, bad, reasons, text_view)
            out[col.name] = v
        else:
            out[col.name] = text_view.where(text_view != "", None) if fmt == "csv" else s
    for name, pos in extras.items():
        s = cells[pos]
        out[name] = s.astype(str).str.strip() if fmt == "csv" else s

    if aux:  # the further columns options read: refunds, trial and period ends
        parsed = _parse_option_columns(table, inp, cells, aux, na, cfg.timezone, flag)
    if inp.lower_ids and "customer_id" in out:
        out["customer_id"] = _lower_ids(out["customer_id"])

    if table == "responses":
        scores = [c for c in ("nps_score", "csat_score") if c in out]
        none = pd.concat([out[c].isna() for c in scores], axis=1).all(axis=1)
        already = set(pd.concat(bad_parts)["row"]) if bad_parts else set()
        none &= ~none.index.isin(list(already))
        flag(scores[0], none, pd.Series("no score in the row", index=none.index[none]), out[scores[0]].astype(str))

    # dates that contradict each other: the later one is the wrong one to trust
    for early, late, reason in (("opened_date", "resolved_date", "resolved_date before opened_date"),
                                ("signup_date", "churn_date", "churn_date before signup_date"),
                                ("invoice_date", "due_date", "due_date before invoice_date")):
        if early in out and late in out:
            wrong = (out[late] < out[early]).fillna(False).astype(bool)
            flag(late, wrong, pd.Series(reason, index=wrong.index[wrong.to_numpy()]), cells[found[late]])
    df = pd.DataFrame(out, index=cells.index, copy=False)
    if "amount" not in df and {"quantity", "unit_price"} <= set(df.columns):
        df["amount"] = df["quantity"] * df["unit_price"]
    rows_read = len(df) + excluded

    bad = pd.concat(bad_parts, ignore_index=True) if bad_parts else None
    result = Table(table, path, display, df, rows_read, sha(),
                   {c: headers[p] for c, p in found.items()}, list(extras))
    if empty_rows:
        result.warnings.append(f"{display}: {empty_rows} empty row{'s' if empty_rows != 1 else ''} (no value in any column) ignored")
    if bad is not None:
        bad = _with_lines(bad, span_bytes, inp.header, fmt)
        result.bad = bad
        bad_rows = np.unique(bad["row"].to_numpy())
        if policy == "error":
            raise DataError(
                f"{display}: {len(bad_rows)} bad row{'s' if len(bad_rows) != 1 else ''} "
                f"(set `on_bad_rows: skip` to leave them out)",
                format_bad(bad, display),
            )
        result.df = df.drop(index=bad_rows)
        result.rejected_rows = len(bad_rows)
        result.reject_bytes = source.rejects(bad_rows)
        result.reject_ext = source.reject_ext
        result.warnings.append(f"{display}: skipped {len(bad_rows)} bad row{'s' if len(bad_rows) != 1 else ''} (on_bad_rows: skip)")
    result.excluded_rows = excluded
    if exclude_note:
        result.warnings.insert(0, exclude_note)
    if inp.amount_scope == "order" or inp.refund_amount or inp.subscriptions:
        result.df = _apply_meaning(result, inp, parsed if aux else {})
    if table == "customers":
        _check_unique_customers(result, span_bytes, inp.header, fmt)
    return result


def _sha256_beside(data: bytes) -> Callable[[], str]:
    """The file's SHA-256 (for meta.json), computed in a thread (hashlib lets go
    of the GIL on large data); the returned function waits for it. Small files are
    hashed at once."""
    if len(data) < 1 << 20:
        digest = hashlib.sha256(data).hexdigest()
        return lambda: digest
    import threading

    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(hashlib.sha256(data).hexdigest()), daemon=True)
    worker.start()

    def result() -> str:
        worker.join()
        return out[0]
    return result


def _blank(s: pd.Series) -> np.ndarray:
    """Cells with no value: empty or spaces (a typed column: null)."""
    if _is_dictionary(s):
        return _empty_ids(s)
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_float_dtype(s):
        return s.isna().to_numpy()
    return (s.str.strip() == "").to_numpy(dtype=bool)


def _trim_arrow(t, na: set[str]):
    """Arrow text without surrounding white space; ``na_values`` become empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = pc.utf8_trim_whitespace(t)
    if na:
        t = pc.if_else(pc.is_in(t, value_set=pa.array(sorted(na), t.type)), "", t)
    return t


def _trimmed(s: pd.Series, na: set[str]) -> pd.Series:
    """Text without surrounding white space; ``na_values`` become empty."""
    t = _trim_arrow(_arrow(s.astype("str") if not pd.api.types.is_string_dtype(s) else s), na)
    # by position: the index of ``s`` has gaps where blank rows were left out
    return pd.Series(t.to_pandas().array, index=s.index)


def _without_bom(s: pd.Series) -> pd.Series:
    """A byte-order mark inside a value (a file pasted together) is not part of an id."""
    import pyarrow.compute as pc

    t = _arrow(s)
    if pc.any(pc.match_substring(t, "\ufeff")).as_py():
        return s.str.replace("\ufeff", "", regex=False)
    return s


def _with_lines(bad: pd.DataFrame, span_bytes: bytes | None, header: bool, fmt: str) -> pd.DataFrame:
    """Add the physical line of each bad row (Parquet: the 1-based row number)."""
    rows = bad["row"].to_numpy()
    if fmt == "parquet" or span_bytes is None:
        lines = rows + 1
    else:
        _, _, rec_lines = record_spans(span_bytes)
        rec = rows + (1 if header else 0)
        lines = rec_lines[np.minimum(rec, len(rec_lines) - 1)]
    bad = bad.assign(line=lines)
    return bad.sort_values(["line", "column"], kind="stable").reset_index(drop=True)


def format_bad(bad: pd.DataFrame, display: str, limit: int = MAX_LISTED) -> list[str]:
    lines = [
        f"{display}:{r.line}: column '{r.column}': value '{_clip(r.value)}': {r.reason}"
        for r in bad.head(limit).itertuples()
    ]
    if len(bad) > limit:
        lines.append(f"… and {len(bad) - limit} more bad values")
    return lines


def _clip(v: str, n: int = 60) -> str:
    v = str(v).replace("\n", "\\n").replace("\r", "\\r")
    return v if len(v) <= n else v[: n - 1] + "…"


def _reject_bytes(span_bytes: bytes, rows: np.ndarray, header: bool) -> bytes:
    """The header record and the rejected records, exactly as they were in the file."""
    starts, ends, _ = record_spans(span_bytes)
    parts = []
    if header:
        parts.append(span_bytes[starts[0]:ends[0]])
    for r in rows + (1 if header else 0):
        chunk = span_bytes[starts[r]:ends[r]]
        if not chunk.endswith((b"\n", b"\r")):  # the last line, without its line end
            chunk += b"\n" if b"\n" in span_bytes else b"\r"
        parts.append(chunk)
    return b"".join(parts)


def _check_unique_customers(t: Table, span_bytes: bytes | None, header: bool, fmt: str) -> None:
    ids = t.df["customer_id"]
    dup = ids.duplicated(keep=False) & (ids != "")
    if not dup.any():
        return
    rows = pd.DataFrame({"row": ids.index[dup], "column": "customer_id",
                         "value": ids[dup].to_numpy(), "reason": "duplicate customer_id"})
    rows = _with_lines(rows, span_bytes, header, fmt)
    n = ids[dup].nunique()
    raise DataError(
        f"{t.display}: {n} customer_id{'s' if n != 1 else ''} appear more than once in the customers file",
        format_bad(rows, t.display),
    )


# --- all inputs ---------------------------------------------------------------------

def encode_ids(*columns: pd.Series | None) -> tuple[pd.Index, list[np.ndarray | None]]:
    """Encode customer ids once: the distinct ids (in order of first appearance)
    and, per column, each row's integer code. A column the reader dictionary-encoded
    brings its codes; only the distinct values of all columns are
    hashed together here. Other columns are dictionary-encoded first (pyarrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []  # per column: its distinct values, and each row's index into them
    for c in columns:
        if c is None:
            continue
        encoded = dictionary_parts(c)
        if encoded is not None:
            parts.append((encoded[0].cast(pa.large_string()), encoded[1]))
            continue
        enc = pc.dictionary_encode(pa.array(c))
        if isinstance(enc, pa.ChunkedArray):  # a large column comes in several chunks
            enc = enc.combine_chunks()
        parts.append((enc.dictionary.cast(pa.large_string()), enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)))
    if not parts:
        return pd.Index([], dtype="str"), [None for _ in columns]
    unified = pc.dictionary_encode(pa.chunked_array([d for d, _ in parts], type=pa.large_string())).combine_chunks()
    to_global = unified.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    ids = pd.Index(unified.dictionary.to_pandas().array)
    out: list[np.ndarray | None] = []
    at = 0
    it = iter(parts)
    for c in columns:
        if c is None:
            out.append(None)
            continue
        dictionary, local = next(it)
        out.append(to_global[at + local])
        at += len(dictionary)
    return ids, out



@dataclass
class Inputs:
    tables: dict[str, Table]
    warnings: list[str]
    # the distinct customer ids of customers and purchases, and each one's codes
    # (``encode_ids``): hashed once, for the orphan check and the model
    encoded: tuple[pd.Index, list[np.ndarray | None]] | None = None

    def get(self, name: str) -> Table | None:
        return self.tables.get(name)

    @property
    def data_start(self):
        return _event_bound(self.tables, min)

    @property
    def data_last(self):
        return _event_bound(self.tables, max)


EVENT_DATES = {
    "purchases": ("order_date",),
    "complaints": ("opened_date", "resolved_date"),
    "responses": ("answered_date",),
    # a due date is a promise, not an event: only issue and payment move the data end
    "invoices": ("invoice_date", "paid_date"),
    # churn_date is left out: contract businesses record cancellations that take
    # effect in the future, which must not move the data end (README: data end).
    "customers": ("signup_date",),
}


def _event_bound(tables: dict[str, Table], pick):
    values = []
    for name, t in tables.items():
        for col in EVENT_DATES[name]:
            if col in t.df and t.df[col].notna().any():
                values.append((t.df[col].min() if pick is min else t.df[col].max()))
    return pick(values).date() if values else None


ARROW_DECAY_MS = 100  # freed arrow memory goes back to the system after 0.1 s


def _memory_pool() -> None:
    """pyarrow's jemalloc pool, returning freed memory to the system after a short
    decay: the parse buffers of one block are reused by the next (fewer page faults)
    while large hash tables (ids) do not stay resident under the numpy arrays that
    follow. 10M rows: decay 0 -> 100 ms, churn 7.8 -> 7.5 s and purchases 11.3 ->
    10.7 s for peaks 1.69 -> 1.88 and 1.88 -> 1.93 GB (mimalloc: 2.6 GB). An
    ARROW_DEFAULT_MEMORY_POOL set by the user is left as it is."""
    import os

    import pyarrow as pa

    _malloc_thresholds()
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(ARROW_DECAY_MS)
    except (NotImplementedError, AttributeError):  # a pyarrow built without jemalloc
        pass


MMAP_THRESHOLD = 96 << 20   # numpy arrays up to 96 MiB (10M int64) come from the heap
TRIM_THRESHOLD = 32 << 20   # and up to 32 MiB freed at its top stays for the next one


def _malloc_thresholds() -> None:
    """glibc's malloc gives each array over 32 MiB its own mmap, and every new one
    is paid again in page faults (zeroed pages): 10M rows spent a third of their time
    in the kernel. Larger thresholds let freed arrays be reused: 10M purchases
    13.0 -> 12.0 s for 1.77 -> 1.89 GB peak (benchmarks/README.md). Only with glibc,
    and not when the user set MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_."""
    import ctypes
    import os

    if not sys.platform.startswith("linux") or any(
            k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, TRIM_THRESHOLD)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl, …): its own defaults
        pass


def load_inputs(
    cfg: Config,
    needed: tuple[str, ...],
    overrides: dict[str, str | None] | None = None,
    by: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    on_table=None,
    columns: dict[str, frozenset[str]] | None = None,
) -> Inputs:
    """Read the ``needed`` tables (a missing one is an error, 66) and the
    ``optional`` ones that are configured; check references between them.
    ``columns``: per table, the canonical columns to read (see ``read_table``)."""
    _memory_pool()
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    if sum(1 for v in overrides.values() if v == "-") + sum(
        1 for t in TABLE_ORDER if t not in overrides and cfg.input(t) and cfg.input(t).path == "-"
    ) > 1:
        raise UsageError("standard input ('-') can feed only one input table")
    tables: dict[str, Table] = {}
    for name in TABLE_ORDER:
        if name not in needed and name not in optional:
            continue
        inp = cfg.input(name)
        if name in overrides:
            inp = inp.model_copy(update={"path": overrides[name]}) if inp else InputConfig(path=overrides[name])
        if inp is None:
            if name in needed:
                raise InputMissingError(
                    f"no {name} input: add `inputs: {name}: {{path: …}}` to the config or pass --{name} FILE"
                )
            continue
        if on_table is not None:
            on_table(name, shown(overrides.get(name) or inp.path))
        tables[name] = read_table(
            name, inp, cfg, path=overrides.get(name),
            extra=tuple(by) if name != "customers" else (), columns=(columns or {}).get(name),
        )
    customers, purchases = tables.get("customers"), tables.get("purchases")
    encoded = encode_ids(customers and customers.df["customer_id"], purchases and purchases.df["customer_id"]) \
        if customers or purchases else None
    return Inputs(tables, _reference_warnings(tables, encoded), encoded)


TABLE_ORDER = ("customers", "purchases", "complaints", "responses", "invoices")


def orphan_counts(tables: dict[str, Table], encoded=None) -> dict[str, tuple[int, int, str]]:
    """Per event table: rows and distinct ids whose customer_id is not in the
    customers file, and one example id (SPEC §1: kept, and counted in a warning).
    Purchases use the codes of ``encoded`` (no second hash of their ids)."""
    customers = tables.get("customers")
    out: dict[str, tuple[int, int, str]] = {}
    if customers is None:
        return out
    import pyarrow.compute as pc

    known = _arrow(customers.df["customer_id"])
    for name in ("purchases", "complaints", "responses", "invoices"):
        t = tables.get(name)
        if t is None or "customer_id" not in t.df:
            continue
        if name == "purchases" and encoded is not None:
            ids, (cust_codes, codes) = encoded
            inside = np.zeros(len(ids), dtype=bool)
            inside[cust_codes] = True
            missing = ids.get_indexer([""])[0]
            if missing >= 0:
                inside[missing] = True  # a missing id is a bad row, not an orphan
            lost = codes[~inside[codes]]
            if len(lost):
                out[name] = (len(lost), len(np.unique(lost)), str(ids[lost[0]]))
            continue
        ids = t.df["customer_id"]
        ids = ids[ids.notna() & (ids != "")]
        inside = pc.is_in(_arrow(ids), value_set=known).to_numpy(zero_copy_only=False)
        orphans = ids[~inside]
        if len(orphans):
            out[name] = (len(orphans), orphans.nunique(), str(orphans.iloc[0]))
    return out


def _reference_warnings(tables: dict[str, Table], encoded=None) -> list[str]:
    warnings = [w for t in tables.values() for w in t.warnings]
    for name, (rows, ids, example) in orphan_counts(tables, encoded).items():
        warnings.append(
            f"{tables[name].display}: {rows} rows ({ids} customer_id{'s' if ids != 1 else ''}, "
            f"e.g. '{example}') are not in the customers file; they are kept"
        )
    return warnings
