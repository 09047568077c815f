"""The revenue bridge, margin and market share (SPEC §4.1), worked by hand."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.kpis import bridge
from retention_cli.kpis.bridge import (BRIDGE_COLUMNS, first_purchase_days, gross_profit, line_costs, market_share,
                                       new_customer_rate, order_costs, revenue_bridge)
from retention_cli.kpis.purchasing import purchase_kpis
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label, to_day

END = date(2024, 3, 1)
JAN_FEB = [parse_label("2024-01", END), parse_label("2024-02", END)]


def d(text: str) -> int:
    return to_day(date.fromisoformat(text))


# customer code, day, amount
ORDERS = [
    (3, "2023-06-10", 100.0),  # c3: known since 2023, nothing in January
    (0, "2024-01-05", 100.0), (0, "2024-02-05", 150.0),   # c0: 100 -> 150, expansion 50
    (1, "2024-01-06", 200.0), (1, "2024-02-06", 120.0),   # c1: 200 -> 120, contraction 80
    (2, "2024-01-07", 80.0),                              # c2: 80 -> 0, churned 80
    (3, "2024-02-08", 60.0),                              # c3: 0 -> 60, reactivation 60
    (4, "2024-02-09", 90.0),                              # c4: first purchase in February, new 90
    (5, "2024-01-10", 20.0), (5, "2024-01-11", 30.0), (5, "2024-02-10", 50.0),  # c5: 50 -> 50, flat
    (6, "2024-01-12", 30.0), (6, "2024-02-12", -20.0),    # c6: 30 -> a return only: churned 30
]
CUST = np.array([o[0] for o in ORDERS], dtype=np.int64)
DAY = np.array([d(o[1]) for o in ORDERS], dtype=np.int64)
AMOUNT = np.array([o[2] for o in ORDERS])
RETURN = AMOUNT < 0
SEG = np.where(CUST <= 2, 0, 1)  # c0-c2 in segment 0, c3-c6 in 1


def test_bridge_by_hand():
    b = revenue_bridge(CUST, DAY, AMOUNT, JAN_FEB, is_return=RETURN)
    # layout without segments: [period 0 seg 0, period 0 total, period 1 seg 0, period 1 total]
    jan, feb = 1, 3
    # January: 100 + 200 + 80 + 50 + 30 = 460, all from customers whose first purchase it is
    assert b["order_revenue"][jan] == 460 and b["new_revenue"][jan] == 460
    assert b["previous_order_revenue"][jan] == 0  # December: nothing
    assert math.isnan(b["net_revenue_retention"][jan]) and math.isnan(b["growing_customers_share"][jan])
    # February: 150 + 120 + 60 + 90 + 50 = 470 (c6's return is no order)
    assert b["order_revenue"][feb] == 470 and b["previous_order_revenue"][feb] == 460
    assert b["new_revenue"][feb] == 90
    assert b["reactivation_revenue"][feb] == 60
    assert b["expansion_revenue"][feb] == 50
    assert b["contraction_revenue"][feb] == 80
    assert b["churned_revenue"][feb] == 110  # c2 80 + c6 30
    # 470 - 460 = 10 = 90 + 60 + 50 - 80 - 110
    # growing: c0 of c0, c1, c5 (both periods positive)
    assert b["growing_customers_share"][feb] == pytest.approx(1 / 3)
    # (460 - 110 - 80 + 50) / 460 = 320 / 460
    assert b["net_revenue_retention"][feb] == pytest.approx(320 / 460)
    # the slot of the single segment is the total
    for c in BRIDGE_COLUMNS:
        np.testing.assert_array_equal(b[c][[0, 2]], b[c][[1, 3]])


def test_bridge_by_segment():
    b = revenue_bridge(CUST, DAY, AMOUNT, JAN_FEB, is_return=RETURN, seg=SEG, n_seg=2)
    s0, s1, total = 3, 4, 5  # February: segments 0 and 1, then the total
    # segment 0 (c0, c1, c2): 380 -> 270 = 380 + 50 - 80 - 80
    assert (b["previous_order_revenue"][s0], b["order_revenue"][s0]) == (380, 270)
    assert (b["expansion_revenue"][s0], b["contraction_revenue"][s0], b["churned_revenue"][s0]) == (50, 80, 80)
    # segment 1 (c3-c6): 80 -> 200 = 80 + 90 + 60 - 30
    assert (b["new_revenue"][s1], b["reactivation_revenue"][s1], b["churned_revenue"][s1]) == (90, 60, 30)
    assert b["growing_customers_share"][s1] == 0  # c5: flat
    assert b["order_revenue"][total] == 470


def test_bridge_and_purchase_kpis_agree_on_net_revenue_retention():
    lines = pd.DataFrame({"customer_id": [f"c{c}" for c in CUST], "order_date": pd.to_datetime(
        [o[1] for o in ORDERS]).astype("datetime64[s]"), "amount": AMOUNT})
    base = build_base(None, lines, "inactivity")
    o = base.orders
    b = revenue_bridge(o.cust, o.day, o.amount, JAN_FEB, is_return=o.is_return, first_purchase=base.first_purchase)
    k = purchase_kpis(base, JAN_FEB, model="inactivity", window=60, data_end=END)
    assert b["net_revenue_retention"][3] == pytest.approx(k["net_revenue_retention"].iloc[1])
    np.testing.assert_allclose(b["order_revenue"][1::2], [460, 470])


def test_first_purchase_days_ignores_returns():
    first = first_purchase_days(CUST, DAY, RETURN)
    assert first[3] == d("2023-06-10") and first[6] == d("2024-01-12") and first[4] == d("2024-02-09")


def test_new_customer_rate():
    # 3 new of 12 active at the end; none active: null
    r = new_customer_rate(np.array([3, 0]), np.array([12, 0]))
    assert r[0] == 0.25 and math.isnan(r[1])


orders = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 150), st.floats(-50, 500, allow_nan=False),
                            st.integers(0, 2)), min_size=0, max_size=60)


@settings(max_examples=30, deadline=None)
@given(orders, st.sampled_from(["week", "month"]))
def test_bridge_identity(rows, freq):
    """order_revenue(k) - order_revenue(k - 1) = new + reactivation + expansion -
    contraction - churned, in every period and segment; NRR from the same numbers."""
    start = date(2024, 1, 1)
    cust = np.array([r[0] for r in rows], dtype=np.int64)
    day = np.array([to_day(start) + r[1] for r in rows], dtype=np.int64)
    amount = np.round(np.array([r[2] for r in rows], dtype=float), 2)
    seg = np.array([r[3] for r in rows], dtype=np.int64)
    is_return = amount < 0
    first = parse_label("2024-01" if freq == "month" else "2024-W01", start)
    periods = [first.shift(i) for i in range(4 if freq == "month" else 20)]
    b = revenue_bridge(cust, day, amount, periods, is_return=is_return, seg=seg, n_seg=3)
    lhs = b["order_revenue"] - b["previous_order_revenue"]
    rhs = (b["new_revenue"] + b["reactivation_revenue"] + b["expansion_revenue"]
           - b["contraction_revenue"] - b["churned_revenue"])
    np.testing.assert_allclose(lhs, rhs, atol=1e-6)
    prev = b["previous_order_revenue"]
    nrr = (prev - b["churned_revenue"] - b["contraction_revenue"] + b["expansion_revenue"]) / np.where(prev > 0, prev, np.nan)
    np.testing.assert_allclose(b["net_revenue_retention"], nrr, atol=1e-9)
    for c in ("new_revenue", "reactivation_revenue", "expansion_revenue", "contraction_revenue", "churned_revenue"):
        assert (b[c] >= 0).all(), c
    share = b["growing_customers_share"]
    assert ((share >= 0) & (share <= 1) | np.isnan(share)).all()
    # the total's order revenue is the sum of the segments'
    per = b["order_revenue"].reshape(len(periods), 4)
    np.testing.assert_allclose(per[:, :3].sum(axis=1), per[:, 3], atol=1e-6)
    # independent of row order
    order = np.random.default_rng(len(rows)).permutation(len(rows))
    again = revenue_bridge(cust[order], day[order], amount[order], periods, is_return=is_return[order],
                           seg=seg[order], n_seg=3)
    for c in BRIDGE_COLUMNS:
        np.testing.assert_allclose(again[c], b[c], atol=1e-6)
    # many customers: the same bridge from the keys that occur instead of one slot per key
    dense, bridge.DENSE_KEYS = bridge.DENSE_KEYS, 0
    try:
        sparse = revenue_bridge(cust, day, amount, periods, is_return=is_return, seg=seg, n_seg=3)
    finally:
        bridge.DENSE_KEYS = dense
    for c in BRIDGE_COLUMNS:
        np.testing.assert_allclose(sparse[c], b[c], atol=1e-6)


# --- margin --------------------------------------------------------------------------------

def test_gross_profit_by_hand():
    day = np.array([d("2024-01-05"), d("2024-01-06"), d("2024-01-07"), d("2024-02-01")])
    amount = np.array([100.0, 50.0, -20.0, 200.0])
    cost = np.array([60.0, np.nan, 5.0, 150.0])  # the second order's cost is unknown
    g = gross_profit(day, amount, cost, JAN_FEB, is_return=amount < 0)
    jan, feb = 1, 3
    # January: the order of 100 costs 60 (the one of 50 has no cost, the return is no order)
    assert g["gross_profit"][jan] == 40 and g["gross_margin_rate"][jan] == 0.4
    assert g["costed_revenue_share"][jan] == pytest.approx(100 / 150)
    # February: 200 - 150 = 50, 50 / 200
    assert g["gross_profit"][feb] == 50 and g["gross_margin_rate"][feb] == 0.25 and g["costed_revenue_share"][feb] == 1
    # no cost at all: null, not 0
    g = gross_profit(day, amount, np.full(4, np.nan), JAN_FEB, is_return=amount < 0)
    assert np.isnan(g["gross_profit"]).all() and np.isnan(g["gross_margin_rate"]).all()
    # by segment: the two January orders in segments 0 and 1
    g = gross_profit(day, amount, cost, JAN_FEB, is_return=amount < 0, seg=np.array([0, 1, 1, 1]), n_seg=2)
    assert g["gross_profit"][0] == 40 and math.isnan(g["gross_profit"][1]) and g["gross_profit"][2] == 40


def test_costs_of_lines_and_orders():
    lines = pd.DataFrame({"unit_cost": [2.0, 3.0, np.nan], "quantity": [5.0, 2.0, 1.0]})
    np.testing.assert_array_equal(line_costs(lines), [10.0, 6.0, np.nan])
    assert line_costs(lines.drop(columns="quantity")).tolist()[:2] == [2.0, 3.0]
    assert line_costs(lines.assign(cost=[1.0, 1.0, 1.0])).tolist() == [1.0, 1.0, 1.0]  # cost wins
    assert line_costs(pd.DataFrame({"amount": [1.0]})) is None
    # order 0: 10 + 20; order 1: a line without cost; order 2: 5
    costs = order_costs(np.array([10.0, 20.0, np.nan, 4.0, 5.0]), np.array([0, 0, 1, 1, 2]), 3)
    assert costs[0] == 30 and math.isnan(costs[1]) and costs[2] == 5


# --- market share ----------------------------------------------------------------------------

def test_market_share_by_hand():
    b = revenue_bridge(CUST, DAY, AMOUNT, JAN_FEB, is_return=RETURN, seg=SEG, n_seg=2)
    m = market_share(b["order_revenue"], b["previous_order_revenue"], JAN_FEB,
                     {"2024-01": 4600.0, "2024-02": 2350.0}, n_seg=2)
    # January: 460 / 4600 = 0.10; December has no market size: no change
    assert m["market_share"][2] == pytest.approx(0.10) and math.isnan(m["market_share_change"][2])
    # February: 470 / 2350 = 0.20, 10 points more than January's 0.10
    assert m["market_share"][5] == pytest.approx(0.20)
    assert m["market_share_change"][5] == pytest.approx(10.0)
    # segment 0: 270 / 2350 now, 380 / 4600 before
    assert m["market_share"][3] == pytest.approx(270 / 2350)
    assert m["market_share_change"][3] == pytest.approx(100 * (270 / 2350 - 380 / 4600))
    # a period without a market size: null
    m = market_share(b["order_revenue"], b["previous_order_revenue"], JAN_FEB, {"2024-01": 4600.0}, n_seg=2)
    assert np.isnan(m["market_share"][3:]).all()
