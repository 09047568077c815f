"""Hand-worked fixture for the purchasing KPIs (SPEC §4.1)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from retention_cli.kpis.purchasing import purchase_kpis
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label

END = date(2024, 7, 1)
FEB_MAR = [parse_label("2024-02", END), parse_label("2024-03", END)]

LINES = pd.DataFrame([
    # customer, order, date, product, amount
    ("A", "a1", "2024-01-15", "p1", 100.0),   # A's first order (January)
    ("A", "a2", "2024-02-10", "p1", 30.0),    # Feb: one order of two lines = 50, two products
    ("A", "a2", "2024-02-10", "p2", 20.0),
    ("A", "a3", "2024-03-05", "p1", 80.0),
    ("B", "b1", "2024-02-05", "p3", 40.0),    # B's first order (Feb)
    ("B", "b2", "2024-03-10", "p3", 60.0),
    ("B", "rb", "2024-03-12", "p3", -10.0),   # a return: lowers revenue, not an order
    ("C", "c1", "2024-03-20", "p1", 10.0),    # C's first order (March): 30, three products
    ("C", "c1", "2024-03-20", "p2", 10.0),
    ("C", "c1", "2024-03-20", "p3", 10.0),
    ("D", "d1", "2023-06-01", "p1", 200.0),   # known long before, never again
], columns=["customer_id", "order_id", "order_date", "product_id", "amount"])
LINES["order_date"] = pd.to_datetime(LINES["order_date"]).astype("datetime64[s]")
CUSTOMERS = pd.DataFrame({
    "customer_id": ["A", "B", "C", "D"],
    "loyalty_member": pd.array([True, False, True, False], dtype="boolean"),
    "first_contact_date": pd.to_datetime([None, "2024-01-26", "2024-03-01", None]).astype("datetime64[s]"),
})


@pytest.fixture(scope="module")
def kpis():
    base = build_base(CUSTOMERS, LINES, "inactivity")
    # W = 20 days. Feb: S at 02-01 = {A} (01-15), E at 03-01 = {A} (02-10): lost 0.
    # March: S at 03-01 = {A} (02-10), E at 04-01 = {C} (03-20; 03-05 and 03-10 are too early): lost {A}, churn 1
    df = purchase_kpis(base, FEB_MAR, model="inactivity", window=20, data_end=END, top_share=0.2,
                       gross_margin=0.5, acquisition_spend={"2024-03": 300})
    return df.set_index("period")


def test_february(kpis):
    f = kpis.loc["2024-02"]
    assert (f.orders, f.buyers, f.revenue) == (2, 2, 90.0)            # a2 50 + b1 40
    assert f.average_order_value == 45.0 and f.purchase_frequency == 1.0
    assert f.repurchase_rate == 0.5          # known before 02-01: A, D; of them A bought
    assert f.returning_buyer_share == 0.5    # A of {A, B}
    assert (f.first_order_aov, f.repeat_order_aov, f.repeat_to_first_aov_ratio) == (40.0, 50.0, 1.25)
    assert (f.multi_product_ratio, f.multi_product_share) == (1.0, 0.5)  # A 2 products, B 1
    assert f.top_customer_revenue_share == pytest.approx(50 / 90)        # ceil(0.2 × 2) = 1 buyer: A
    assert f.net_revenue_retention == 0.5    # January buyers {A}: 50 in Feb / 100 in Jan
    assert np.isnan(f.average_lifetime_periods) and np.isnan(f.clv_simple)  # churn 0
    assert f.orders_per_customer == 2.0      # 2 orders / ((|{A}| + |{A}|) / 2)
    assert np.isnan(f.acquisition_cost)      # no spend for Feb
    assert f.loyalty_participation_rate == 1.0  # E = {A}, a member
    assert f.sales_cycle_days == 10          # B: contact 01-26, first purchase 02-05


def test_march(kpis):
    m = kpis.loc["2024-03"]
    assert (m.orders, m.buyers) == (3, 3)                 # a3, b2, c1 (the return is not an order)
    assert m.revenue == 160.0                             # 80 + 60 - 10 + 30
    assert m.average_order_value == pytest.approx(170 / 3)
    assert m.repurchase_rate == pytest.approx(2 / 3)      # known before 03-01: A, B, D; A and B bought
    assert m.returning_buyer_share == pytest.approx(2 / 3)
    assert (m.first_order_aov, m.repeat_order_aov) == (30.0, 70.0)   # c1; (80 + 60) / 2
    assert m.repeat_to_first_aov_ratio == pytest.approx(70 / 30)
    assert (m.multi_product_ratio, m.multi_product_share) == (0.5, pytest.approx(1 / 3))  # C multi; A, B single
    assert m.top_customer_revenue_share == pytest.approx(80 / 170)  # ceil(0.6) = 1 buyer: A
    assert m.net_revenue_retention == pytest.approx(140 / 90)      # Feb buyers A, B: (80 + 60) / (50 + 40)
    assert m.average_lifetime_periods == 1.0                       # churn 1/1
    assert m.orders_per_customer == 3.0                            # 3 orders / ((1 at the start + 1 at the end) / 2)
    assert m.clv_simple == pytest.approx(170 / 3 * 3.0 * 1.0 * 0.5)  # AOV × orders per customer × lifetime × margin
    assert m.acquisition_cost == 300.0                             # 300 / 1 new customer (C)
    assert m.loyalty_participation_rate == 1.0                     # E = {C}, a member
    assert m.sales_cycle_days == 19                                # C: 03-01 -> 03-20


def test_clv_simple_values_an_active_customer_not_a_buyer():
    # SPEC §4.1, W = 30. A, B, C, D first buy on 01-10; in February only A buys, twice (50 and 30).
    # S at 02-01 (a purchase in 01-02..01-31) = {A, B, C, D}; E at 03-01 (01-30..02-29) = {A}:
    # lost 3, churn 3/4, lifetime 4/3 months. Orders 2, buyers 1: purchase_frequency 2, but per
    # active customer 2 / ((4 + 1) / 2) = 0.8. AOV (50 + 30) / 2 = 40.
    # clv_simple = 40 × 0.8 × 4/3 × 0.5 = 21.33… (per buyer it would be 40 × 2 × 4/3 × 0.5 = 53.33…)
    lines = pd.DataFrame([(c, f"{c}1", "2024-01-10", 20.0) for c in "ABCD"]
                         + [("A", "A2", "2024-02-05", 50.0), ("A", "A3", "2024-02-20", 30.0)],
                         columns=["customer_id", "order_id", "order_date", "amount"])
    lines["order_date"] = pd.to_datetime(lines["order_date"]).astype("datetime64[s]")
    df = purchase_kpis(build_base(None, lines, "inactivity"), [FEB_MAR[0]], model="inactivity", window=30,
                       data_end=END, gross_margin=0.5)
    f = df.iloc[0]
    assert (f.orders, f.buyers, f.purchase_frequency) == (2, 1, 2.0)
    assert f.average_lifetime_periods == pytest.approx(4 / 3)
    assert f.orders_per_customer == pytest.approx(0.8)
    assert f.clv_simple == pytest.approx(40 * 0.8 * 4 / 3 * 0.5)
    # the documented column order: lifetime, orders per customer, then the CLV built from them
    cols = list(df.columns)
    assert cols.index("average_lifetime_periods") + 1 == cols.index("orders_per_customer") == cols.index("clv_simple") - 1


def test_segments_add_up():
    base = build_base(CUSTOMERS.assign(segment=["x", "y", "x", "y"]), LINES, "inactivity")
    df = purchase_kpis(base, FEB_MAR, model="inactivity", window=20, data_end=END, by=["segment"])
    for period, grp in df.groupby("period"):
        total = grp[grp.segment == "(all)"].iloc[0]
        parts = grp[grp.segment != "(all)"]
        assert parts.orders.sum() == total.orders and parts.buyers.sum() == total.buyers
        assert parts.revenue.sum() == pytest.approx(total.revenue)
    assert df.segment.tolist() == ["(all)", "x", "y", "(all)", "x", "y"]


def test_splitting_an_order_into_lines_changes_nothing():
    merged = LINES.groupby(["customer_id", "order_id"], as_index=False).agg(
        order_date=("order_date", "min"), amount=("amount", "sum"))
    a = purchase_kpis(build_base(None, LINES.drop(columns="product_id"), "inactivity"), FEB_MAR,
                      model="inactivity", window=20, data_end=END)
    b = purchase_kpis(build_base(None, merged, "inactivity"), FEB_MAR, model="inactivity", window=20, data_end=END)
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


def test_by_a_purchases_column():
    lines = LINES.assign(channel=["web", "web", "web", "store", "store", "web", "web", "web", "web", "web", "store"])
    # per order, the first line's channel: a1 web, a2 web, a3 store, b1 store, b2 web, rb web, c1 web, d1 store
    base = build_base(CUSTOMERS, lines, "inactivity")
    df = purchase_kpis(base, FEB_MAR, model="inactivity", window=20, data_end=END, by=["channel"])
    got = df.set_index(["period", "channel"])
    # Feb: a2 (web, 50), b1 (store, 40); March: a3 (store, 80); b2 (web, 60), rb (web, -10), c1 (web, 30)
    assert got.loc[("2024-02", "web"), ["orders", "buyers", "revenue"]].tolist() == [1, 1, 50.0]
    assert got.loc[("2024-02", "store"), ["orders", "buyers", "revenue"]].tolist() == [1, 1, 40.0]
    assert got.loc[("2024-03", "web"), ["orders", "buyers", "revenue"]].tolist() == [2, 2, 80.0]
    assert got.loc[("2024-03", "store"), ["orders", "revenue"]].tolist() == [1, 80.0]
    assert got.loc[("2024-03", "(all)"), ["orders", "buyers", "revenue"]].tolist() == [3, 3, 160.0]
    # March multi-product: C (3 products, web) is multi; A (store) and B (web) single
    assert got.loc[("2024-03", "web"), "multi_product_ratio"] == 1.0
    # a customer can be in several channels: customer-level KPIs are left out
    assert "repurchase_rate" not in df and "net_revenue_retention" not in df


def test_churn_by_a_purchases_column_is_refused_with_the_reason():
    from retention_cli.errors import UsageError
    from retention_cli.kpis.base import churn_flows

    base = build_base(CUSTOMERS, LINES.assign(channel="web"), "inactivity")
    with pytest.raises(UsageError, match="a purchases column; customer counts need a customers attribute"):
        churn_flows(base, FEB_MAR, "inactivity", 20, END, by=["channel"])


def test_ids_arriving_in_several_chunks_encode_as_one():
    """Large files come from the reader in several arrow chunks; the codes must be
    one encoding across them (same customer, same code)."""
    import pyarrow as pa

    chunked = pa.chunked_array([pa.array(["A", "B"]), pa.array(["A", "C"]), pa.array(["B"])])
    lines = pd.DataFrame({
        "customer_id": pd.Series(pd.arrays.ArrowStringArray(chunked)),
        "order_id": pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(["o1", "o2"]), pa.array(["o1", "o3", "o4"])]))),
        "order_date": pd.to_datetime(["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04", "2024-02-05"]).astype("datetime64[s]"),
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
    })
    base = build_base(None, lines, "inactivity")
    assert list(base.ids) == ["A", "B", "C"]
    # A's two lines share order o1: one order of 4; B has o2 and o4; C has o3
    assert sorted(base.orders.amount.tolist()) == [2.0, 4.0, 4.0, 5.0]
    row = purchase_kpis(base, [FEB_MAR[0]], model="inactivity", window=20, data_end=END).iloc[0]
    assert (row.orders, row.buyers, row.revenue) == (4, 3, 15.0)


def test_distinct_products_count_across_orders_and_leave_returns_out():
    lines = pd.DataFrame([
        ("X", "x1", "2024-02-03", "p1", 10.0),   # X: p1 and p2 in two orders: several products
        ("X", "x2", "2024-02-20", "p2", 10.0),
        ("Y", "y1", "2024-02-04", "p1", 10.0),   # Y: p1 twice: one product
        ("Y", "y2", "2024-02-25", "p1", 10.0),
        ("Z", "z1", "2024-02-05", "p1", 10.0),   # Z: p9 only in a return: one product
        ("Z", "rz", "2024-02-06", "p9", -5.0),
        ("W", "w1", "2024-01-30", "p1", 10.0),   # W: p2 in February, p1 in January: one product in February
        ("W", "w2", "2024-02-02", "p2", 10.0),
    ], columns=["customer_id", "order_id", "order_date", "product_id", "amount"])
    lines["order_date"] = pd.to_datetime(lines["order_date"]).astype("datetime64[s]")
    customers = pd.DataFrame({"customer_id": ["X", "Y", "Z", "W"], "segment": ["a", "a", "b", "b"]})
    base = build_base(customers, lines, "inactivity")
    df = purchase_kpis(base, FEB_MAR[:1], model="inactivity", window=20, data_end=END, by=["segment"])
    got = df.set_index("segment")[["buyers", "multi_product_ratio", "multi_product_share"]]
    assert got.loc["(all)"].tolist() == [4, pytest.approx(1 / 3), 0.25]   # X of X, Y, Z, W
    assert got.loc["a"].tolist() == [2, 1.0, 0.5]                         # X against Y
    assert got.loc["b"].tolist() == [2, 0.0, 0.0]                         # Z, W: one product each


@pytest.mark.parametrize("repeat", [1, 20])  # 8 days: a binary search each; 160: the lookup table of the span
def test_period_index_by_search_and_by_table(repeat):
    from retention_cli.kpis.purchasing import period_index
    from retention_cli.model.customers import NEVER

    d = lambda text: int(np.datetime64(text, "D").astype(np.int64))  # noqa: E731
    days = np.array([d("2024-01-31"), d("2024-02-01"), d("2024-02-29"), d("2024-03-01"), d("2024-03-31"),
                     d("2024-04-01"), NEVER, -10**9] * repeat)
    assert period_index(days, FEB_MAR).tolist() == [-1, 0, 0, 1, 1, -1, -1, -1] * repeat
    assert period_index(days, []).tolist() == [-1] * len(days)


@pytest.mark.parametrize("values, expected", [
    # numbered by first appearance, as one dictionary_encode would: b1 0, a2 1, c3 2, é 3, d4 4
    (["b1", "a2", "b1", "c3", "a2", "é", "d4", "c3"], [0, 1, 0, 2, 1, 3, 4, 2]),
    (["a2", "b4", "a2"], [0, 1, 0]),   # every last byte even: one part is empty
    (["x1"], [0]),
])
def test_codes_hashed_in_two_parts_are_the_first_appearance_numbers(values, expected):
    import pyarrow as pa

    from retention_cli.model.customers import _codes_in_two

    assert _codes_in_two(pa.array(values, pa.large_string())).tolist() == expected


def test_codes_of_a_chunked_text_column_in_two_parts(monkeypatch):
    import pyarrow as pa

    import retention_cli.model.customers as model

    monkeypatch.setattr(model, "PARALLEL_CODES", 1)
    chunked = pa.chunked_array([pa.array(["o2", "o1", "o2"], pa.large_string()), pa.array(["o3", "o1"], pa.large_string())])
    s = pd.Series(pd.arrays.ArrowStringArray(chunked))
    assert model._codes(s).tolist() == [0, 1, 0, 2, 1]
    # an empty value: hashed whole (a value needs a last byte to be split by it)
    s = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(["", "o1", ""], pa.large_string())])))
    assert model._codes(s).tolist() == [0, 1, 0]


@pytest.mark.parametrize("repeat", [1, 10])  # 8 days: binary search; 80: the table of the instants' span
def test_first_instant_at_or_after_each_day(repeat):
    from retention_cli.model.customers import NEVER, first_at_or_after

    instants = np.array([10, 13, 20])
    days = np.array([5, 10, 11, 13, 19, 20, 21, NEVER] * repeat)
    assert first_at_or_after(instants, days).tolist() == [0, 0, 1, 1, 2, 2, 3, 3] * repeat
