"""Bytes as text: decoding (the encoding to set when it fails), UTF-8 bytes for the
parser and the way back to the file's own bytes, quote-aware record spans (the
physical line of every record), delimiter sniffing, the header row and the lines
above it, the rejected records byte for byte."""

from __future__ import annotations

import codecs
from collections.abc import Callable

import numpy as np
import pandas as pd

from retention_cli.config import InputConfig
from retention_cli.errors import DataError


SNIFF_CANDIDATES = (",", ";", "\t", "|")


_UTF8 = {"utf-8", "utf8", "utf_8", "utf-8-sig", "u8"}


def decode(raw: bytes, encoding: str, display: str) -> tuple[str, bytes]:
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


def check_header(headers: list[str], display: str, line: bool = True) -> None:
    seen: dict[str, int] = {}
    for i, h in enumerate(headers):
        if h and h in seen:
            where = f"{display}:1" if line else display
            raise DataError(f"{where}: duplicate column name '{h}' (columns {seen[h] + 1} and {i + 1})")
        seen.setdefault(h, i)


def banner_out(buf: bytes, inp: InputConfig, display: str) -> tuple[bytes, int]:
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


def to_utf8(raw: bytes, encoding: str, display: str) -> tuple[bytes, str, Callable[[bytes], bytes]]:
    """UTF-8 bytes for the parser (BOM removed), the first part as text (for the
    header and the delimiter sniffer), and the way back: UTF-8 lines of the file to
    the file's own bytes (its encoding and BOM), for the rejects file. UTF-8 input is
    not decoded whole here: the parser checks it, and on failure ``decode`` names
    the line."""
    enc = encoding.lower()
    nul = raw.find(b"\x00")
    if enc in _UTF8 and raw[:2] not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if nul >= 0:
            decode(raw, encoding, display)  # raises with the line of the NUL byte
        bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
        buf = raw[len(bom):]
        head = buf[:65536].decode("utf-8", errors="ignore")
        return buf, head, lambda b: bom + b
    text, _ = decode(raw, encoding, display)
    buf = text.encode("utf-8")
    bom, codec = b"", codecs.lookup("utf-16" if enc in _UTF8 else enc).name
    if codec in ("utf-16", "utf-32"):  # the BOM said the byte order: keep it
        bom = raw[:4] if raw[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE) else raw[:2]
        codec += "-le" if bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF32_LE) else "-be"
    return buf, text[:65536], lambda b: bom + b.decode("utf-8").encode(codec)


def with_lines(bad: pd.DataFrame, span_bytes: bytes | None, header: bool, fmt: str) -> pd.DataFrame:
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


def reject_bytes(span_bytes: bytes, rows: np.ndarray, header: bool) -> bytes:
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
