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


def encode_ids(*columns: pd.Series | None, unique_first: bool = False) -> tuple[pd.Index, list[np.ndarray | None]]:
    """Encode customer ids once: the distinct ids (in order of first appearance)
    and, per column, each row's integer code. A column the reader dictionary-encoded
    brings its codes and only its distinct values are hashed here; another column's
    values are hashed with them, row by row: one hash of all (pyarrow).
    ``unique_first``: the first column's ids all differ (the customers, checked):
    the second column's distinct ids are looked up among them (``_encode_against_unique``).
    Either way the same ids in the same order and the same codes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    given = [c for c in columns if c is not None]
    if unique_first and len(given) == 2 and columns[0] is not None and is_dictionary(columns[1]):
        return _encode_against_unique(columns[0], columns[1])
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
        parts.append((_as_large_strings(c), None))
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


def _encode_against_unique(first: pd.Series, second: pd.Series) -> tuple[pd.Index, list[np.ndarray | None]]:
    """``encode_ids`` of a column whose ids all differ (each row its own code, in
    order) and a dictionary-encoded one: its distinct ids looked up among the first's
    (a hash of the first's ids as a set: half the memory of hashing both and building
    their dictionary; 10 M customers 0.7 against 1.4 GiB), the ones not there coded
    after them in the order of the dictionary, as one hash of both would code them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    known = _as_large_strings(first)
    dictionary, local = dictionary_parts(second)
    dictionary = dictionary.cast(pa.large_string())
    at = pc.index_in(dictionary, value_set=known)
    new = at.is_null()
    to_global = np.asarray(pc.fill_null(at, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    ids = None
    if pc.any(new).as_py():
        # the ids only the second column has, in the order of its dictionary (a
        # dictionary's values can repeat: those are hashed, a few)
        others = pc.dictionary_encode(dictionary.filter(new))
        to_global[new.to_numpy(zero_copy_only=False)] = len(known) + others.indices.to_numpy(
            zero_copy_only=False).astype(np.int64)
        ids = pd.Index(pa.concat_arrays([known, others.dictionary]).to_pandas().array)
    elif isinstance(first.dtype, pd.StringDtype) and first.dtype.storage == "pyarrow":
        # every id is the first column's: the Index is that column's own array (no
        # copy of 10 M ids: 150 MB)
        ids = pd.Index(first.array, copy=False)
    else:
        ids = pd.Index(known.to_pandas().array)
    return ids, [np.arange(len(known), dtype=np.int64), to_global[local]]


def _as_large_strings(s: pd.Series):
    """A column's values as one Arrow array of large strings (a large column comes
    in several chunks)."""
    import pyarrow as pa

    values = pa.array(s)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.large_string())
