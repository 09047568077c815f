"""Text cells as the parsers take them: an arrow view, surrounding white space and
``na_values`` out, a byte-order mark inside a value removed."""

from __future__ import annotations

import pandas as pd


def as_arrow(s: pd.Series):
    import pyarrow as pa

    return pa.array(s)


def nulls_for_empty(t, na: set[str]):
    """Empty cells and ``na_values`` as nulls (a value with spaces is not cast: it
    goes to the careful parser, which trims it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pc.equal(t, "")
    if na:
        empty = pc.or_(empty, pc.is_in(t, value_set=pa.array(sorted(na), type=t.type)))
    return pc.if_else(empty, pa.scalar(None, t.type), t)


def trim_arrow(t, na: set[str]):
    """Arrow text without surrounding white space; ``na_values`` become empty."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = pc.utf8_trim_whitespace(t)
    if na:
        t = pc.if_else(pc.is_in(t, value_set=pa.array(sorted(na), t.type)), "", t)
    return t


def trimmed(s: pd.Series, na: set[str]) -> pd.Series:
    """Text without surrounding white space; ``na_values`` become empty."""
    t = trim_arrow(as_arrow(s.astype("str") if not pd.api.types.is_string_dtype(s) else s), na)
    # by position: the index of ``s`` has gaps where blank rows were left out
    return pd.Series(t.to_pandas().array, index=s.index)


def without_bom(s: pd.Series) -> pd.Series:
    """A byte-order mark inside a value (a file pasted together) is not part of an id."""
    import pyarrow.compute as pc

    t = as_arrow(s)
    if pc.any(pc.match_substring(t, "\ufeff")).as_py():
        return s.str.replace("\ufeff", "", regex=False)
    return s
