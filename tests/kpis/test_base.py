"""Hand-worked fixtures for the customer-base flows (SPEC §3)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.kpis.base import churn_flows, states, wilson
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label

MARCH = [parse_label("2024-03", date(2024, 7, 1))]   # s = 2024-03-01, e = 2024-04-01
W = 30  # active(t): a purchase in [t - 30, t - 1]; at s that is 2024-01-31 .. 2024-02-29
END = date(2024, 7, 1)


def purchases(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    df["order_date"] = pd.to_datetime(df["order_date"]).astype("datetime64[s]")
    return df


INACTIVITY = purchases([
    ("A", "a1", "2024-01-31", 10),   # exactly W days before s: in S; nothing later: lost
    ("B", "b0", "2023-12-01", 10),   # B's first purchase, long ago
    ("B", "b1", "2024-01-30", 10),   # W + 1 days before s: not in S
    ("B", "b2", "2024-03-15", 10),   # active at e again, not new: reactivated
    ("C", "c1", "2024-02-29", 10),   # s - 1: in S
    ("C", "c2", "2024-03-31", 10),   # e - 1: in E: retained
    ("D", "d1", "2024-03-01", 10),   # first purchase on s: new; 31 days before e: not in E (joins and leaves)
    ("E", "e1", "2024-03-10", 10),   # new, in E
    ("F", "f1", "2024-02-15", -25),  # a return only: no activity at all
    ("G", "g0", "2024-02-10", 10),   # in S
    ("G", "g1", "2024-02-29", 6),    # one order, two lines across the boundary: dated 02-29
    ("G", "g1", "2024-03-02", 4),    #   (the earliest line), so it is not March activity: lost
    ("H", "h0", "2024-02-01", 10),   # in S
    ("H", "h1", "2024-03-01", 10),   # 31 days before e: not in E: lost
    ("I", "i1", "2024-03-02", 10),   # new, 30 days before e: in E
    ("J", "j1", "2024-03-20", 0),    # an order of amount 0 is an order: new, in E
])
# S = {A, C, G, H}; E = {B, C, E, I, J}; new = {D, E, I, J}
# lost = S - E = {A, G, H}; retained = {C}; reactivated = E - S - new = {B}
# check: customers_end 5 = retained 1 + new at end {E, I, J} 3 + reactivated 1


def test_inactivity_flows_by_hand():
    base = build_base(None, INACTIVITY, "inactivity")
    row = churn_flows(base, MARCH, "inactivity", W, END).iloc[0]
    assert (row.customers_start, row.customers_end, row.new_customers) == (4, 5, 4)
    assert (row.lost_customers, row.retained_customers, row.reactivated_customers) == (3, 1, 1)
    assert row.churn_rate == pytest.approx(3 / 4) and row.retention_rate == pytest.approx(1 / 4)
    # Wilson, p = 0.75, n = 4, z = 1.96: denominator 1 + 3.8416/4 = 1.9604;
    # centre (0.75 + 3.8416/8) / 1.9604 = 0.62752; half 1.96 * sqrt(0.046875 + 0.060025) / 1.9604 = 0.32689
    assert row.churn_rate_low == pytest.approx(0.30063, abs=2e-4)
    assert row.churn_rate_high == pytest.approx(0.95441, abs=2e-4)
    assert bool(row.complete) is True


def test_denominators():
    base = build_base(None, INACTIVITY, "inactivity")
    plus_new = churn_flows(base, MARCH, "inactivity", W, END, "start_plus_new").iloc[0]
    average = churn_flows(base, MARCH, "inactivity", W, END, "average").iloc[0]
    assert plus_new.churn_rate == pytest.approx(3 / (4 + 4))       # 0.375
    assert average.churn_rate == pytest.approx(3 / ((4 + 5) / 2))  # 0.6667


def test_incomplete_period_is_flagged():
    base = build_base(None, INACTIVITY, "inactivity")
    assert bool(churn_flows(base, MARCH, "inactivity", W, date(2024, 3, 31)).iloc[0].complete) is False


def test_empty_start_gives_null_rates_not_zero():
    base = build_base(None, INACTIVITY, "inactivity")
    jan = [parse_label("2023-01", END)]
    row = churn_flows(base, jan, "inactivity", W, END).iloc[0]
    assert row.customers_start == 0 and np.isnan(row.churn_rate) and np.isnan(row.churn_rate_low)


CONTRACT = pd.DataFrame({
    "customer_id": ["K", "L", "M", "N", "O"],
    "signup_date": pd.to_datetime(["2024-01-10", "2024-02-29", "2024-03-01", "2024-03-05", "2024-01-01"]).astype("datetime64[s]"),
    "churn_date": pd.to_datetime(["2024-03-01", None, None, "2024-03-20", "2024-04-01"]).astype("datetime64[s]"),
    "segment": ["x", "x", "y", None, "y"],
})
# K: churn_date == s: still a customer at s (churn_date >= t), gone at e: lost
# L: signup before s, no churn: retained;  M: signup on s: new, in E
# N: signs up and leaves in March: new, not in E;  O: churn_date == e: still in E: retained
# S = {K, L, O}; E = {L, M, O}; new = {M, N}; lost {K}; retained {L, O}; reactivated none


def test_contract_flows_by_hand():
    base = build_base(CONTRACT, None, "contract")
    row = churn_flows(base, MARCH, "contract", W, END).iloc[0]
    assert (row.customers_start, row.customers_end, row.new_customers) == (3, 3, 2)
    assert (row.lost_customers, row.retained_customers, row.reactivated_customers) == (1, 2, 0)
    assert row.churn_rate == pytest.approx(1 / 3)


def test_segments_and_total():
    base = build_base(CONTRACT, None, "contract")
    df = churn_flows(base, MARCH, "contract", W, END, by=["segment"])
    assert df["segment"].tolist() == ["(all)", "(missing)", "x", "y"]
    by_seg = df.set_index("segment")
    # x = {K, L}: S {K, L}, E {L}, lost {K};  y = {M, O}: S {O}, E {M, O}, new {M}
    assert by_seg.loc["x", ["customers_start", "customers_end", "lost_customers"]].tolist() == [2, 1, 1]
    assert by_seg.loc["y", ["customers_start", "customers_end", "new_customers"]].tolist() == [1, 2, 1]
    assert by_seg.loc["(missing)", "new_customers"] == 1  # N
    counts = ["customers_start", "customers_end", "new_customers", "lost_customers", "retained_customers"]
    assert (df[df.segment != "(all)"][counts].sum() == df[df.segment == "(all)"][counts].iloc[0]).all()


def test_average_denominator_can_exceed_one_and_then_has_no_interval():
    # one customer active at s (bought 2024-02-20), none at e: lost 1 / ((1 + 0) / 2) = 2
    base = build_base(None, purchases([("Z", "z1", "2024-02-20", 10)]), "inactivity")
    row = churn_flows(base, MARCH, "inactivity", W, END, "average").iloc[0]
    assert row.churn_rate == 2 and row.retention_rate == -1
    assert np.isnan(row.churn_rate_low) and np.isnan(row.churn_rate_high)


def test_wilson_known_value():
    # 10 of 100: Wilson 95 % = [0.0552, 0.1744] (the textbook example)
    low, high = wilson(np.array([0.1]), np.array([100]))
    assert low[0] == pytest.approx(0.0552, abs=1e-4) and high[0] == pytest.approx(0.1744, abs=1e-4)


# --- properties ---------------------------------------------------------------------

days = st.integers(min_value=0, max_value=200)


@st.composite
def purchase_sets(draw):
    n = draw(st.integers(1, 40))
    rows = []
    for i in range(n):
        cust = f"c{draw(st.integers(0, 9))}"
        d = date(2024, 1, 1) + pd.Timedelta(days=draw(days))
        amount = draw(st.sampled_from([10.0, 0.0, -5.0]))
        rows.append((cust, f"o{i}", d.isoformat(), amount))
    return purchases(rows)


PERIODS = [parse_label(f"2024-0{m}", END) for m in range(2, 7)]


@settings(max_examples=60, deadline=None)
@given(purchase_sets(), st.integers(1, 90), st.sampled_from(["start", "start_plus_new", "average"]))
def test_flow_invariants(df, window, denominator):
    before = df.copy()
    base = build_base(None, df, "inactivity")
    out = churn_flows(base, PERIODS, "inactivity", window, END, denominator)
    pd.testing.assert_frame_equal(df, before)  # inputs unchanged
    for k, p, S, E, N in states(base, PERIODS, "inactivity", window):
        row = out.iloc[k]
        # customers_end = retained + (new and active at the end) + reactivated
        assert row.customers_end == row.retained_customers + int((N & E).sum()) + row.reactivated_customers
        assert row.customers_start == row.lost_customers + row.retained_customers
        if denominator != "average":  # lost / average can exceed 1 in a shrinking base (README)
            rates = out[["churn_rate", "retention_rate", "churn_rate_low", "churn_rate_high"]].to_numpy()
            finite = rates[~np.isnan(rates)]
            assert ((finite >= 0) & (finite <= 1 + 1e-12)).all()
        if not np.isnan(row.churn_rate) and row.churn_rate <= 1:
            assert row.churn_rate + row.retention_rate == pytest.approx(1)
            assert row.churn_rate_low <= row.churn_rate + 1e-12 <= row.churn_rate_high + 2e-12
    shuffled = df.sample(frac=1, random_state=1).reset_index(drop=True)
    again = churn_flows(build_base(None, shuffled, "inactivity"), PERIODS, "inactivity", window, END, denominator)
    pd.testing.assert_frame_equal(out, again)  # independent of row order


def test_suggest_window_by_hand():
    from retention_cli.kpis.base import suggest_window

    df = purchases([
        ("P", "1", "2024-01-01", 10), ("P", "2", "2024-01-11", 10),   # gap 10
        ("P", "3", "2024-01-11", 10),                                 # same day: one purchase
        ("P", "4", "2024-03-11", 10),                                 # gap 60
        ("Q", "5", "2024-01-01", 10), ("Q", "6", "2024-01-21", 10),   # gap 20
        ("Q", "7", "2024-01-25", -10),                                # a return: not a purchase
        ("R", "8", "2024-02-01", 10),                                 # one purchase: no gap
    ])
    table, w, sentence = suggest_window(build_base(None, df, "inactivity"))
    stats = dict(zip(table.statistic, table.days))
    # gaps sorted: 10, 20, 60; 'higher' percentiles: p50 = 20, p75 .. p99 = 60
    assert (stats["purchase_days"], stats["gaps"], stats["repeat_customers"]) == (6, 3, 2)
    assert (stats["p50"], stats["p75"], stats["p90"], stats["p99"]) == (20, 60, 60, 60)
    assert w == 60 == stats["proposed_window"]        # 60 is already a multiple of 30
    assert "within 60 days" in sentence


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=300),
       st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=6))
def test_percentiles_from_counts_are_numpy_s_higher_percentiles(gaps, q):
    """suggest-window reads its percentiles off the gaps counted per length (what an
    engine hands over): the same as numpy's method "higher" on the gaps themselves."""
    from retention_cli.kpis.base import percentiles_higher

    values, counts = np.unique(gaps, return_counts=True)
    got = percentiles_higher(values, counts, q)
    assert got.tolist() == np.percentile(gaps, q, method="higher").tolist()
