"""The warm path (SPEC §9): a second command on unchanged inputs reuses what the
first one read and built, instead of parsing the files again.

An entry is keyed by everything the reading depends on: the identity of every
configured input file (device, inode, size, modification and change times in
nanoseconds), the whole config, the tables and columns asked for, the ``--by``
columns, the versions of the tool (and of what it builds, ``BUILT``), pandas,
pyarrow and numpy. A file that
changes in any way gets a new key, so an entry is never stale; an input read from
standard input, a pipe or a device is never cached. The folder is
``$RETENTION_CACHE_DIR``, else ``$XDG_CACHE_HOME/retention``, else
``~/.cache/retention``; it is safe to delete at any time. ``RETENTION_CACHE=off``
turns the cache off. At most ``KEEP`` entries are kept, the least recently used
go first.

Entries are pickles written by this tool into the user's own cache folder, read
back only from there (the folder is created private, 0700). An entry that cannot be
read (a version change, a truncated file) counts as absent and is replaced.

An entry's arrays are stored beside its pickle, out of band (pickle protocol 5),
each at an aligned offset, and read back by mapping the file (copy-on-write): a
command touches only the columns it uses (``churn`` never reads the purchases'
customer ids again), and nothing is copied. A file in the cache is never changed in
place (written under another name, then renamed), so a mapped entry stays valid
while another process replaces or removes it.
"""

from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
import pickle
import stat
import struct
from pathlib import Path
from typing import Any

KEEP = 6  # entries (one per distinct set of inputs and options)
# what an entry's built objects mean, in the key beside the tool's version: raised
# when how they are built changes, so that a development install (whose version
# stays) never reads an entry built otherwise. 2: orders' lines added exactly.
BUILT = 2
MAGIC = b"retention-cache 2\n"  # the layout below; a file without it is no entry
ALIGN = 64  # each array's offset in the file: a multiple of this
_writing: list = []  # threads storing entries (put_soon)


def wait() -> None:
    """Until every entry being stored is stored (the interpreter does it at exit)."""
    while _writing:
        _writing.pop().join()


def folder() -> Path | None:
    if os.environ.get("RETENTION_CACHE", "").strip().lower() in ("off", "0", "no", "false"):
        return None
    explicit = os.environ.get("RETENTION_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "retention"


def file_identity(path: str) -> list | None:
    """What identifies a file's content without reading it; None when the path is
    not a regular file (standard input, a pipe, a device: never cached)."""
    if path == "-":
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # absent, unreadable, or a name no file can have (NUL)
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return [os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def make_key(parts: dict[str, Any]) -> str:
    import numpy
    import pandas
    import pyarrow

    from retention_cli import __version__

    parts = {**parts, "versions": [__version__, BUILT, pandas.__version__, pyarrow.__version__, numpy.__version__]}
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Entry:
    """One cache entry: named objects stored beside each other under one key."""

    def __init__(self, key: str):
        self.key = key
        self.dir = folder()

    def _path(self, name: str) -> Path | None:
        return self.dir / f"{self.key}.{name}.pickle" if self.dir is not None else None

    def get(self, name: str) -> Any | None:
        p = self._path(name)
        if p is None or not p.is_file():
            return None
        try:
            obj = _load(p)
        except Exception:  # a damaged or foreign entry: absent (it is replaced below)
            return None
        try:
            os.utime(p)  # recently used
        except OSError:
            pass
        return obj

    def put_soon(self, name: str, obj: Any) -> None:
        """``put`` in a thread, while the run goes on computing (the objects are not
        modified after this: the KPI functions never change their inputs); the
        interpreter waits for it before the process exits."""
        import threading

        thread = threading.Thread(target=self.put, args=(name, obj), name="retention-cache", daemon=False)
        _writing.append(thread)
        thread.start()

    def put(self, name: str, obj: Any) -> None:
        """Store, atomically (a temporary renamed into place); a cache that cannot be
        written (read-only home, a full disk) is no error: the run goes on."""
        p = self._path(name)
        if p is None:
            return
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        try:
            p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                _dump(obj, f)
            os.replace(tmp, p)
            _prune(p.parent)
        except Exception:
            try:
                tmp.unlink()
            except OSError:
                pass


# --- the layout of an entry's file ------------------------------------------------------
# MAGIC, then (little-endian uint64) the pickle's length, the number of arrays and
# each array's length; the pickle; then each array's bytes at the next multiple of
# ALIGN.

def _dump(obj: Any, f) -> None:
    buffers: list[pickle.PickleBuffer] = []
    meta = io.BytesIO()
    _Pickler(meta, protocol=5, buffer_callback=buffers.append).dump(obj)
    raws = [b.raw() for b in buffers]
    head = MAGIC + struct.pack(f"<{2 + len(raws)}Q", meta.tell(), len(raws), *(r.nbytes for r in raws))
    f.write(head)
    f.write(meta.getbuffer())
    at = len(head) + meta.tell()
    for r in raws:
        pad = -at % ALIGN
        f.write(b"\0" * pad)
        f.write(r)
        at += pad + r.nbytes


def _load(p: Path) -> Any:
    with open(p, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)  # writable, never written back
    view = memoryview(mapped)
    if view[:len(MAGIC)] != MAGIC:
        raise ValueError("not an entry of this layout")
    at = len(MAGIC)
    meta_len, n = struct.unpack_from("<2Q", view, at)
    lengths = struct.unpack_from(f"<{n}Q", view, at + 16)
    at += 16 + 8 * n
    meta = view[at:at + meta_len]
    at += meta_len
    buffers = []
    for length in lengths:
        at += -at % ALIGN
        if at + length > len(view):
            raise ValueError("a truncated entry")
        buffers.append(view[at:at + length])
        at += length
    return pickle.loads(meta, buffers=buffers)


class _Pickler(pickle.Pickler):
    """Arrays of dates and durations out of band too: numpy pickles them in band
    (their dtype carries a unit), so they travel as their int64 view."""

    def reducer_override(self, obj):
        import numpy as np

        if type(obj) is np.ndarray and obj.dtype.kind in "mM" and obj.flags.c_contiguous and obj.ndim:
            return _as_dtype, (obj.view(np.int64), obj.dtype.str)
        return NotImplemented


def _as_dtype(values, dtype: str):
    return values.view(dtype)


def _prune(d: Path) -> None:
    """Keep the KEEP most recently used keys (all their files); remove the
    temporaries of runs that were killed while storing (an hour old)."""
    import time

    for f in d.glob(".*.tmp"):
        try:
            if f.stat().st_mtime < time.time() - 3600:
                f.unlink()
        except OSError:
            pass
    by_key: dict[str, float] = {}
    for f in d.glob("*.pickle"):
        try:
            t = f.stat().st_mtime
        except OSError:
            continue
        k = f.name.split(".", 1)[0]
        by_key[k] = max(by_key.get(k, 0.0), t)
    for k in sorted(by_key, key=by_key.get, reverse=True)[KEEP:]:
        for f in d.glob(f"{k}.*.pickle"):
            try:
                f.unlink()
            except OSError:
                pass
