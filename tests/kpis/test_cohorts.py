"""Hand-worked cohort triangles (SPEC §4.2), both models."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from retention_cli.kpis.cohorts import cohort_table
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label

END = date(2024, 7, 1)
Q1 = [parse_label(m, END) for m in ("2024-01", "2024-02", "2024-03")]


def frame(rows, cols):
    df = pd.DataFrame(rows, columns=cols)
    for c in cols:
        if c.endswith("_date"):
            df[c] = pd.to_datetime(df[c]).astype("datetime64[s]")
    return df


PURCHASES = frame([
    ("A", "2024-01-15", 100.0), ("E", "2024-01-20", 40.0),   # January cohort {A, E}
    ("A", "2024-02-10", 50.0),
    ("A", "2024-03-05", 80.0), ("E", "2024-03-07", -10.0),   # E's return: revenue, not activity
    ("B", "2024-02-05", 40.0), ("B", "2024-03-10", 60.0),    # February cohort {B}
    ("D", "2023-06-01", 200.0),                              # first purchase before the series: no cohort
], ["customer_id", "order_date", "amount"])


def test_inactivity_triangle_revenue_and_relative():
    t = cohort_table(build_base(None, PURCHASES, "inactivity"), Q1, "inactivity", 180,
                     revenue=True, relative="previous")
    got = {(r.cohort, r.offset): r for r in t.itertuples()}
    # January: offset 0 {A, E}, 1 {A}, 2 {A}; February: 0 {B}, 1 {B}; March: empty
    assert [(k, got[k].cohort_size, got[k].active) for k in sorted(got)] == [
        (("2024-01", 0), 2, 2), (("2024-01", 1), 2, 1), (("2024-01", 2), 2, 1),
        (("2024-02", 0), 1, 1), (("2024-02", 1), 1, 1), (("2024-03", 0), 0, 0)]
    assert [got[("2024-01", k)].retention for k in range(3)] == [1.0, 0.5, 0.5]
    assert np.isnan(got[("2024-03", 0)].retention)  # an empty cohort: null, not 0
    # cumulative revenue per member, January: 140/2 = 70; +50 -> 95; +80 -10 -> 130
    assert [got[("2024-01", k)].cumulative_revenue_per_member for k in range(3)] == [70.0, 95.0, 130.0]
    assert [got[("2024-02", k)].cumulative_revenue_per_member for k in range(2)] == [40.0, 100.0]
    # relative to the previous offset: 1/2, then 1/1
    assert np.isnan(got[("2024-01", 0)].retention_relative)
    assert (got[("2024-01", 1)].retention_relative, got[("2024-01", 2)].retention_relative) == (0.5, 1.0)


def test_contract_triangle():
    customers = frame([
        ("K", "2024-01-10", "2024-02-15"),   # January; active at 02-01, gone by 03-01
        ("L", "2024-01-31", None),           # January; active at every end
        ("M", "2024-02-29", "2024-03-01"),   # February; churn_date == e (03-01): still active at 03-01
    ], ["customer_id", "signup_date", "churn_date"])
    t = cohort_table(build_base(customers, None, "contract"), Q1, "contract", 180)
    got = {(r.cohort, r.offset): (r.cohort_size, r.active) for r in t.itertuples()}
    assert got == {("2024-01", 0): (2, 2), ("2024-01", 1): (2, 1), ("2024-01", 2): (2, 1),
                   ("2024-02", 0): (1, 1), ("2024-02", 1): (1, 0), ("2024-03", 0): (0, 0)}


def test_heatmap_renders_and_splits_wide_triangles():
    from rich.console import Console

    from retention_cli.io.writers import cohort_heatmap

    t = cohort_table(build_base(None, PURCHASES, "inactivity"), Q1, "inactivity", 180)
    con = Console(width=200, record=True, color_system=None)
    con.print(cohort_heatmap(t, width=200))
    text = con.export_text()
    assert "2024-01" in text and " 50" in text and "100" in text
    # too narrow for every offset: the later offsets come in a second block, which
    # repeats the cohorts and their sizes; no cell is cut or wrapped
    narrow = Console(width=30, record=True, color_system=None)
    narrow.print(cohort_heatmap(t, width=24))
    lines = narrow.export_text().splitlines()
    assert max(len(line) for line in lines) <= 24
    heads = [line.split() for line in lines if line.startswith("cohort")]
    assert heads == [["cohort", "size", "0", "1"], ["cohort", "size", "2"]]
    assert sum(line.startswith("2024-01") for line in lines) == 2


def test_cohorts_by_segment_add_up():
    customers = pd.DataFrame({"customer_id": ["A", "E", "B", "D"], "segment": ["x", "y", "x", "y"]})
    t = cohort_table(build_base(customers, PURCHASES, "inactivity"), Q1, "inactivity", 180, by=["segment"])
    got = {(r.cohort, r.segment, r.offset): (r.cohort_size, r.active) for r in t.itertuples()}
    # January: x = {A} (active at 0, 1, 2), y = {E} (active at 0 only)
    assert [got[("2024-01", s, k)] for s in ("(all)", "x", "y") for k in range(3)] == [
        (2, 2), (2, 1), (2, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 0), (1, 0)]
    assert t["cohort"].tolist()[:4] == ["2024-01"] * 4 and t["segment"].tolist()[:4] == ["(all)"] * 3 + ["x"]
