"""Identifiers: ids the reader dictionary-encoded (trimmed, compared and
lower-cased on the distinct values), and customer ids encoded once across tables
for the model (``encode_ids``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention_cli.io.readers.cells import trim_arrow


def is_dictionary(s: pd.Series) -> bool:
    import pyarrow as pa

    return isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_dictionary(s.dtype.pyarrow_dtype)


def dictionary_parts(s: pd.Series):
    """(distinct values as an arrow array, each row's index into them as int64) of
    an id column the reader dictionary-encoded; None for any other column."""
    import pyarrow as pa

    if not is_dictionary(s):
        return None
    arr = pa.array(s)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.dictionary, arr.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def clean_ids(s: pd.Series, na: set[str]) -> pd.Series:
    """Ids read dictionary-encoded: trimmed, without BOM, ``na_values`` empty, all
    done on the distinct values; values that become equal (' C1' and 'C1') merge."""
    import pyarrow.compute as pc

    dictionary, indices = dictionary_parts(s)
    clean = trim_arrow(dictionary, na)
    if pc.any(pc.match_substring(clean, "\ufeff")).as_py():
        clean = pc.replace_substring(clean, "\ufeff", "")
    if pc.all(pc.equal(clean, dictionary)).as_py() is not False:
        return s
    return _recoded(s, indices, clean)


def empty_ids(s: pd.Series) -> np.ndarray:
    """Rows of a dictionary-encoded id column whose value is empty."""
    import pyarrow.compute as pc

    dictionary, indices = dictionary_parts(s)
    empty = pc.equal(pc.utf8_trim_whitespace(dictionary), "").to_numpy(zero_copy_only=False)
    return empty[indices] if len(indices) else np.zeros(0, dtype=bool)


def lower_ids(s: pd.Series) -> pd.Series:
    """Ids compared case-insensitively (e-mail addresses): lower-cased, on the
    distinct values of a dictionary-encoded column."""
    import pyarrow.compute as pc

    if not is_dictionary(s):
        return s.str.lower()
    dictionary, indices = dictionary_parts(s)
    lower = pc.utf8_lower(dictionary)
    if pc.all(pc.equal(lower, dictionary)).as_py() is not False:
        return s
    return _recoded(s, indices, lower)


def _recoded(s: pd.Series, indices: np.ndarray, values) -> pd.Series:
    """A dictionary-encoded column whose distinct values became ``values`` (cleaned,
    lower-cased): values that became equal merged into one code."""
    import pyarrow as pa
    import pyarrow.compute as pc

    merged = pc.dictionary_encode(values)
    remap = merged.indices.to_numpy(zero_copy_only=False)
    arr = pa.DictionaryArray.from_arrays(pa.array(remap[indices].astype(np.int32)), merged.dictionary)
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=s.index)


def encode_ids(*columns: pd.Series | None) -> tuple[pd.Index, list[np.ndarray | None]]:
    """Encode customer ids once: the distinct ids (in order of first appearance)
    and, per column, each row's integer code. A column the reader dictionary-encoded
    brings its codes and only its distinct values are hashed here; another column's
    values are hashed with them, row by row: one hash of all (pyarrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # per column: its distinct values and each row's index into them; a column not
    # encoded goes into the one hash below row by row (index None: its rows' codes are
    # those of its stretch), not hashed a first time on its own
    parts = []
    for c in columns:
        if c is None:
            continue
        encoded = dictionary_parts(c)
        if encoded is not None:
            parts.append((encoded[0].cast(pa.large_string()), encoded[1]))
            continue
        values = pa.array(c)
        if isinstance(values, pa.ChunkedArray):  # a large column comes in several chunks
            values = values.combine_chunks()
        parts.append((values.cast(pa.large_string()), None))
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
        out.append(to_global[at + local] if local is not None else to_global[at:at + len(dictionary)])
        at += len(dictionary)
    return ids, out
