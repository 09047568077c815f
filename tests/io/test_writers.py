import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.errors import OutputError
from retention_cli.io import writers


def frame():
    return pd.DataFrame({
        "period": ["2024-01", "2024-02"],
        "segment": ["=HYPERLINK(\"x\")", "@retail"],
        "churn_rate": [0.0213, np.nan],
        "customers_start": [47, 0],
    })


def test_csv_guards_formulas_and_writes_null_as_empty():
    text = writers.to_csv(frame()).decode()
    assert text.splitlines() == [
        "period,segment,churn_rate,customers_start",
        "2024-01,\"'=HYPERLINK(\"\"x\"\")\",0.0213,47",
        "2024-02,'@retail,,0",
    ]


def test_negative_numbers_are_not_text_and_are_not_guarded():
    assert writers.to_csv(pd.DataFrame({"revenue": [-3.5]})).decode() == "revenue\n-3.5\n"


def test_json_has_meta_and_null_not_nan():
    doc = json.loads(writers.to_json(frame(), {"as_of": pd.Timestamp("2024-03-01"), "x": math.nan}))
    assert doc["meta"] == {"as_of": "2024-03-01", "x": None}
    assert doc["rows"][1]["churn_rate"] is None and doc["rows"][0]["customers_start"] == 47
    # JSON keeps the data value as is: the formula guard is for spreadsheets (CSV)
    assert doc["rows"][0]["segment"] == "=HYPERLINK(\"x\")"


def test_jsonl_one_object_per_row():
    lines = writers.to_jsonl(frame()).decode().splitlines()
    assert [json.loads(x)["period"] for x in lines] == ["2024-01", "2024-02"]


def test_bytes_are_deterministic():
    assert writers.to_csv(frame()) == writers.to_csv(frame().copy())
    assert writers.to_json(frame(), {"a": 1}) == writers.to_json(frame(), {"a": 1})


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    p = tmp_path / "out.csv"
    p.write_text("old")
    writers.atomic_write(p, b"new")
    assert p.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "out.csv"
    p.write_text("old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers.os, "replace", boom)
    with pytest.raises(OutputError, match="No space left on device"):
        writers.atomic_write(p, b"new")
    assert p.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


def _folder(path, text):
    """A report folder as a previous run leaves it: its file and the marker listing it."""
    path.mkdir()
    (path / "a.csv").write_text(text)
    (path / writers.MARKER).write_text("written by retention report\na.csv\n")


@pytest.mark.parametrize("exchange", [True, False])
def test_atomic_folder_replaces_a_report_with_or_without_renameat2(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(writers, "_exchange", lambda a, b: False)
    _folder(tmp_path / "r", "old")
    with writers.AtomicFolder(tmp_path / "r") as tmp:
        (tmp / "a.csv").write_text("new")
    assert (tmp_path / "r" / "a.csv").read_text() == "new"
    assert os.listdir(tmp_path) == ["r"]


def test_atomic_folder_stopped_between_its_two_renames_puts_the_previous_back(tmp_path, monkeypatch):
    monkeypatch.setattr(writers, "_exchange", lambda a, b: False)
    _folder(tmp_path / "r", "old")
    real = os.rename
    calls = []

    def rename(a, b):  # SIGTERM arrives just after the first rename (target moved aside)
        calls.append(b)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(a, b)

    monkeypatch.setattr(writers.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        with writers.AtomicFolder(tmp_path / "r") as tmp:
            (tmp / "a.csv").write_text("new")
    assert (tmp_path / "r" / "a.csv").read_text() == "old"
    assert os.listdir(tmp_path) == ["r"]


def test_a_run_killed_between_the_renames_is_mended_by_the_next(tmp_path):
    # what SIGKILL between the two renames leaves: the new report in .tmp-, the old in .old-
    _folder(tmp_path / ".r.tmp-999999999-ab", "new, never put in place")
    _folder(tmp_path / ".r.old-999999999-ab", "old")
    with writers.AtomicFolder(tmp_path / "r") as tmp:
        assert (tmp_path / "r" / "a.csv").read_text() == "old"  # put back before anything else
        (tmp / "a.csv").write_text("newer")
    assert (tmp_path / "r" / "a.csv").read_text() == "newer"
    assert os.listdir(tmp_path) == ["r"]


def test_percent_cells_in_tables():
    assert writers.format_cell(0.0213, "churn_rate", {"churn_rate"}) == "2.1 %"
    assert writers.format_cell(np.nan, "churn_rate", {"churn_rate"}) == "–"
    assert writers.format_cell(1234.0, "orders", set()) == "1,234"
    assert writers.format_cell(1234.0, "revenue", set()) == "1,234.00"  # money: always two decimals


def test_counts_whole_money_to_the_cent_rates_as_computed():
    df = pd.DataFrame({
        "period": ["2025-11", "2025-12"],
        "customers_end": [1116.0, np.nan],          # a count that reached the writer as a float
        "revenue": [50398.729999999974, -0.001],    # a sum of amounts; -0.001 rounds to 0, not -0
        "net_revenue_retention": [0.3622603392114544, 1.0],  # a rate: as computed, 1 stays 1.0
        "nps": [22.5, 40.0],                         # a score: as computed
    })
    assert writers.render(df, "csv", {}).decode().splitlines() == [
        "period,customers_end,revenue,net_revenue_retention,nps",
        "2025-11,1116,50398.73,0.3622603392114544,22.5",
        "2025-12,,0.0,1.0,40.0",
    ]
    rows = json.loads(writers.render(df, "json", {}))["rows"]
    assert rows[0]["customers_end"] == 1116 and isinstance(rows[0]["customers_end"], int)
    assert rows[1]["customers_end"] is None and rows[0]["revenue"] == 50398.73


def test_a_table_of_several_kpis_is_tidied_row_by_row():
    df = pd.DataFrame({"kpi": ["customers_end", "revenue", "churn_rate"],
                       "value": [1116.0, 47039.709999999, 0.05417814508723599],
                       "change_vs_previous": [27.0, -3359.019999999975, -0.01006766496862993]})
    assert writers.render(df, "csv", {}).decode().splitlines()[1:] == [
        "customers_end,1116,27",
        "revenue,47039.71,-3359.02",
        "churn_rate,0.05417814508723599,-0.01006766496862993",
    ]


def test_wilson_bounds_are_exactly_0_and_1_at_the_ends():
    from retention_cli.kpis.base import wilson

    low, high = wilson(np.array([0.0, 1.0, 0.5]), np.array([40, 40, 40]))
    assert low[0] == 0.0 and high[1] == 1.0  # not 4.3e-19 or 0.9999999999999999
    assert 0 < low[2] < 0.5 < high[2] < 1


def _csv_cell_by_cell(df: pd.DataFrame) -> bytes:
    """The writer's rules applied one cell at a time (the reference for the
    column-wise writer)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([writers.guard_formula(str(c)) for c in df.columns])
    for row in df.itertuples(index=False, name=None):
        w.writerow([writers._csv_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


@settings(max_examples=60)
@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
                          st.integers(-10**12, 10**12), st.booleans(),
                          st.one_of(st.none(), st.text(max_size=8))), min_size=1, max_size=30))
def test_column_wise_csv_equals_the_cell_by_cell_rules(rows):
    df = pd.DataFrame(rows, columns=["x", "n", "flag", "name"])
    df["x"] = df["x"].astype(float)
    df["name"] = df["name"].astype("str")
    df.loc[df["name"] == "None", "name"] = None
    assert writers.to_csv(df) == _csv_cell_by_cell(df)


def test_tables_of_named_quantities_are_tidied_by_name_and_kind():
    df = pd.DataFrame({"kind": ["summary", "summary", "clv_deciles", "bgnbd"],
                       "name": ["customers", "expected_revenue_next_12_months", "p10", "r"],
                       "value": [1661.0, 455642.4955532418, 11.406168647770503, 1.0080612293721363]})
    assert writers.render(df, "csv", {}).decode().splitlines()[1:] == [
        "summary,customers,1661",                           # a count
        "summary,expected_revenue_next_12_months,455642.5",  # money: 455642.50 to the cent
        "clv_deciles,p10,11.41",                            # a decile of customer value: money
        "bgnbd,r,1.0080612293721363",                       # a parameter: as computed
    ]


def test_a_change_of_money_is_the_difference_of_the_amounts_as_written():
    # 14631.494 and 15531.436 are written 14631.49 and 15531.44: their change as a
    # reader subtracts them is -899.95; the unrounded change -899.942 would be -899.94
    df = pd.DataFrame({"kpi": ["revenue_at_risk", "churn_rate"], "value": [14631.494, 0.054],
                       "previous": [15531.436, 0.064], "change_vs_previous": [14631.494 - 15531.436, 0.054 - 0.064]})
    rows = writers.render(df, "csv", {}).decode().splitlines()[1:]
    assert rows[0] == "revenue_at_risk,14631.49,15531.44,-899.95"
    assert rows[1] == f"churn_rate,0.054,0.064,{0.054 - 0.064!r}"  # a rate: as computed
