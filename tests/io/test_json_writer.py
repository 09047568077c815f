"""The JSON and JSON Lines writers build rows from each column's JSON text; the
result is byte for byte what json.dumps of the records writes (the reference)."""

import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.io import writers
from retention_cli.io.writers import plain, records, to_json, to_jsonl

texts = st.one_of(st.none(), st.text(max_size=6))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(-0.0), st.just(2.0))


def reference_json(df, meta):
    doc = {"meta": plain(meta), "rows": records(df)}
    return (json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")


def reference_jsonl(df):
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records(df)).encode("utf-8")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 6).flatmap(lambda n: st.tuples(
    st.lists(texts, min_size=n, max_size=n), st.lists(floats, min_size=n, max_size=n),
    st.lists(st.integers(-2**62, 2**62), min_size=n, max_size=n), st.lists(st.booleans(), min_size=n, max_size=n))),
    st.sampled_from(["period", "100 % \"quoted\"", "é"]))
def test_the_same_bytes_as_json_dumps(cols, name):
    text, fl, ints, flags = cols
    df = pd.DataFrame({name: pd.array(text, dtype="str"), "value": np.array(fl, dtype=float),
                       "n": np.array(ints, dtype=np.int64), "ok": np.array(flags, dtype=bool),
                       "day": pd.to_datetime(["2024-01-02"] * len(text)), "mixed": [1.5, "x", None, 2, 0.1, "é"][:len(text)]})
    meta = {"tool": "retention", "as_of": None, "x": [1, 2.5]}
    assert to_json(df, meta) == reference_json(df, meta)
    assert to_jsonl(df) == reference_jsonl(df)
    block = writers.JSON_BLOCK
    writers.JSON_BLOCK = 2  # rows turned into text two at a time: the same bytes
    try:
        assert to_json(df, meta) == reference_json(df, meta)
        assert to_jsonl(df) == reference_jsonl(df)
    finally:
        writers.JSON_BLOCK = block


def test_a_lone_surrogate_and_an_empty_table():
    # a file name's bytes that are not UTF-8 (a lone surrogate; only in object columns)
    df = pd.DataFrame({"id": pd.Series(["a\udcff", None], dtype=object), "v": [np.nan, np.inf],
                       "n": pd.array([1, None], dtype="Int64")})
    assert to_json(df, {}) == reference_json(df, {})
    assert b'"id": "a\xef\xbf\xbd"' in to_json(df, {})  # written as the replacement character
    empty = df.iloc[:0]
    assert to_json(empty, {}) == reference_json(empty, {}) and to_jsonl(empty) == b""
