"""The bytes of an input: a file, standard input, a pipe or a device; gzip and zip
unpacked; the memory admission that refuses, before reading, a text the machine
cannot hold (``check_memory``, ``text_limit``). Tests lower the limit by replacing
``text_limit`` or ``memory_available`` in this module: both are looked up when
called."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from retention_cli.errors import DataError, InputMissingError, UsageError
from retention_cli.io.writers import shown


_UNSET = object()  # "ask text_limit()": the default of the functions that read


READ_CHUNK = 1 << 20  # bytes asked per read of a pipe or device


_TOO_MUCH = ("more than the memory available can read ({per} bytes of memory per byte of text); "
             "{fix}")


def read_bytes(path: str, display: str, table: str, limit: int | None = _UNSET) -> bytes:
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
        raise InputMissingError(f"{display}: is a folder, not {'an' if table[:1] in 'aeiou' else 'a'} {table} file")
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
            admit(max(st.st_size - stream.tell(), 0), display)
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
    free, rather than be stopped by the kernel's OOM killer halfway (``text_size``)."""
    if memory_available() is None:
        return
    text = text_size(p)
    if text is not None:
        admit(text, display)


def text_size(p: Path) -> int | None:
    """The bytes of text a file holds: its size, or for a gzip the size in its trailer
    (that of its last member only, modulo 4 GiB: a first guess, which the
    decompression itself then enforces, ``_gunzip``), for a zip its members'; None
    when the file cannot tell (the reader then says what is wrong with it)."""
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
        return None
    return text


def admit(text: int, display: str) -> None:
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


def unpack(raw: bytes, path: str, display: str, limit: int | None = _UNSET) -> tuple[bytes, str]:
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
    if lower.endswith(PARQUET_SUFFIXES) or raw[:4] == b"PAR1":
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
        raise DataError(f"{display}: not a readable zip file ({first_line(e)})") from None
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
            raise DataError(f"{where} cannot be read: {first_line(e)}") from None
        except RuntimeError:  # zipfile's "… is encrypted, password required for extraction"
            raise DataError(f"{where} is encrypted: export it without a password") from None
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 — BadZipFile (CRC), zlib.error, EOFError, LZMAError, OSError (bz2)…
            raise DataError(f"{where} is damaged ({type(e).__name__}: {first_line(e)}): "
                            "export or download it again") from None
    return data, m.filename.lower()


def first_line(e: BaseException, n: int = 200) -> str:
    """A library's message on one line (pyarrow's may go on with a schema)."""
    text = (str(e).strip().splitlines() or [""])[0]
    return text if len(text) <= n else text[: n - 1] + "…"


def sha256_beside(data: bytes) -> Callable[[], str]:
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


# --- several files as one input (a glob, a folder) ------------------------------------

GLOB_CHARS = frozenset("*?[")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DATA_SUFFIXES = (*CSV_SUFFIXES, ".zip", *PARQUET_SUFFIXES)  # what a folder or a glob reads


def is_pattern(path: str) -> bool:
    """A glob (``exports/2024-*.csv``): glob characters, and no file of that very name
    (``orders[1].csv`` that exists is a file)."""
    return path != "-" and any(c in GLOB_CHARS for c in path) and not os.path.exists(path)


def is_many(path: str) -> bool:
    """A path that names several files read as one input: a glob or a folder."""
    return is_pattern(path) or (path != "-" and os.path.isdir(path))


def _glob(pattern: str) -> list[str]:
    """The pattern's matches; the longest leading folder that exists is taken as
    written (a config's folder named ``proj [acme]`` is no character class)."""
    import glob

    head, tail = pattern, ""
    while head and not os.path.isdir(head):
        head, part = os.path.split(head)
        tail = os.path.join(part, tail) if tail else part
        if not part:
            break
    if head and tail and os.path.isdir(head):
        return glob.glob(os.path.join(glob.escape(head), tail), recursive=True)
    return glob.glob(pattern, recursive=True)


def files_of(path: str, display: str, table: str) -> list[str]:
    """The data files of a glob or a folder (every subfolder: hive partitions), or
    the file itself; sorted, so that records are numbered in one order. Names that
    start with '.' or '_' (``_SUCCESS``) and files that are no CSV or Parquet are left
    out of a folder and of a glob's matches."""
    def data(name: str) -> bool:
        base = os.path.basename(name)
        return not base.startswith((".", "_")) and base.lower().endswith(DATA_SUFFIXES)

    if is_pattern(path):
        files = sorted(f for f in _glob(path) if os.path.isfile(f) and data(f))
        if not files:
            raise InputMissingError(f"{display}: no {table} file (CSV or Parquet) matches")
        return files
    if os.path.isdir(path):
        files = []
        for root, dirs, names in os.walk(path):
            # the tool's own rejects/ folder (written beside an output) is never an input
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")) and d != "rejects")
            files += [os.path.join(root, n) for n in sorted(names) if data(n)]
        if not files:
            raise InputMissingError(f"{display}: is a folder with no CSV or Parquet file (a folder is read as one "
                                    f"{table} table of its files)")
        return sorted(files)
    return [path]


def without_empty(files: list[str], name_of: Callable[[str], str]) -> tuple[list[str], list[str]]:
    """A glob's or folder's files less the empty ones (0 bytes: an export that failed
    halfway, a month with nothing), and the note that says which; all of them empty
    are kept, for the reader to say the input is empty."""
    empty = [f for f in files if os.path.getsize(f) == 0]
    if not empty or len(empty) == len(files):
        return files, []
    names = ", ".join(name_of(f) for f in empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
    return [f for f in files if f not in set(empty)], [f"{names}: empty file{'s' if len(empty) > 1 else ''} "
                                                       "(0 bytes) left out"]


def partitions_of(files: list[str], root: str | None) -> list[dict[str, str]]:
    """Per file, its hive partitions (``year=2024/month=03/``: {year: 2024, month: 03})
    below ``root`` (the folder given; for a glob, the folder its pattern starts in)."""
    out = []
    for f in files:
        rel = os.path.relpath(os.path.dirname(f), root) if root else os.path.dirname(f)
        parts = {}
        for seg in rel.split(os.sep):
            key, eq, value = seg.partition("=")
            if eq and key:
                parts[key] = value
        out.append(parts)
    return out


def hash_files(files: list[str]) -> Callable[[], str]:
    """One SHA-256 of the files' bytes in order (meta.json), hashed in a thread."""
    import threading

    out: list[str] = []

    def run() -> None:
        h = hashlib.sha256()
        for f in files:
            with open(f, "rb") as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
        out.append(h.hexdigest())

    worker = threading.Thread(target=run, daemon=True)
    worker.start()

    def result() -> str:
        worker.join()
        return out[0]
    return result


def folder_of(pattern: str) -> str | None:
    """The longest leading folder of a glob that exists (where its partitions start)."""
    head = pattern
    while head and not os.path.isdir(head):
        head, part = os.path.split(head)
        if not part:
            break
    return head if head and os.path.isdir(head) else None
