"""Subscriptions as the contract model's activity, and MRR with its movements: by
hand on four customers, and properties on generated subscriptions."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retention_cli.kpis.base import churn_flows
from retention_cli.kpis.cohorts import cohort_table
from retention_cli.kpis.mrr import MRR_COLUMNS, mrr_table
from retention_cli.model.customers import NEVER, build_base, day_numbers
from retention_cli.periods import from_day, parse_label, series, to_day

END = date(2024, 5, 1)
MONTHS = series(parse_label("2024-01", END), parse_label("2024-04", END))  # instants 01-01, 02-01 … 05-01


def frames(spans, attributes=None):
    """(customers, subscriptions) as the reader makes them of a subscriptions export:
    spans are (customer, paying start, end or None, monthly amount)."""
    subs = pd.DataFrame(spans, columns=["customer_id", "start", "end", "mrr"])
    for c in ("start", "end"):
        subs[c] = pd.to_datetime(subs[c]).astype("datetime64[s]")
    subs["mrr"] = subs["mrr"].astype("float64")
    first = subs.groupby("customer_id", sort=False)["start"].min()
    last = subs.groupby("customer_id", sort=False)["end"].max().where(
        ~subs["end"].isna().groupby(subs["customer_id"], sort=False).any())
    customers = pd.DataFrame({"customer_id": first.index.astype(str), "signup_date": first.to_numpy(),
                              "churn_date": last.reindex(first.index).to_numpy()})
    for name, values in (attributes or {}).items():
        customers[name] = customers["customer_id"].map(values)
    return customers, subs


# The story of tests/test_cli_mrr.py (B, a trial cancelled before it paid, made no
# subscription: the reader leaves it out). Paying at t: start < t <= end.
STORY = [
    ("A", "2024-01-10", "2024-02-20", 30.0),  # pays 01-10 .. 02-20, then nothing
    ("A", "2024-03-15", None, 40.0),          # back on 03-15: 480 a year = 40 a month
    ("C", "2023-12-10", "2024-03-01", 20.0),  # basic, ended the day the upgrade started
    ("C", "2024-03-01", None, 50.0),          # pro: pays from the instant after 03-01
    ("D", "2024-02-03", "2024-03-03", 52.0),  # trial to 02-03, cancelled at period end 03-03; 12 a week = 52 a month
    ("E", "2023-11-05", None, 30.0),          # 2 seats at 15
    ("E", "2024-02-10", "2024-03-25", 15.0),  # one more seat for a while: overlaps the first
]
PLANS = {"A": "annual", "C": "pro", "D": "weekly", "E": "seats"}
# Active (a subscription paying) at      01-01  02-01  03-01  04-01  05-01
#   A                                     -      yes    -      yes    yes
#   C (c1 until 03-01 inclusive, then c2) yes    yes    yes    yes    yes
#   D                                     -      -      yes    -      -
#   E (e1 throughout; e2 overlaps)        yes    yes    yes    yes    yes
# MRR at                                  01-01  02-01  03-01  04-01  05-01
#   A                                     0      30     0      40     40
#   C                                     20     20     20     50     50
#   D                                     0      0      52     0      0
#   E                                     30     30     45     30     30
#   total                                 50     80     117    120    120


def test_churn_flows_of_a_returning_subscriber_by_hand():
    customers, subs = frames(STORY)
    base = build_base(customers, None, "contract", subscriptions=subs)
    df = churn_flows(base, MONTHS, "contract", 180, END).set_index("period")
    cols = ["customers_start", "customers_end", "new_customers", "lost_customers", "retained_customers",
            "reactivated_customers"]
    # Jan: S {C, E}, E {A, C, E}; new A (first paying day 01-10)
    # Feb: S {A, C, E}, E {C, D, E}; new D (pays from its trial's end, 02-03); A lost
    # Mar: S {C, D, E}, E {A, C, E}; D lost; A is back: reactivated, not new (first paid in January)
    # Apr: everyone stays. With one signup and one churn date per customer (A from 01-10, still
    # open) A would have counted as a customer through February and March: Feb lost 0, Mar reactivated 0
    assert df[cols].values.tolist() == [[2, 3, 1, 0, 2, 0], [3, 3, 1, 1, 2, 0], [3, 3, 0, 1, 2, 1],
                                        [3, 3, 0, 0, 3, 0]]
    # E's two subscriptions overlap in February and March: E counts once (customers_end 3, not 4)


def test_mrr_movements_by_hand():
    customers, subs = frames(STORY)
    base = build_base(customers, None, "contract", subscriptions=subs)
    df = mrr_table(base, MONTHS, END).set_index("period")
    money = ["mrr_start", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "mrr_end"]
    # Jan 50 -> 80: A new 30 (first paid 01-10, in the period)
    # Feb 80 -> 117: D new 52; E 30 -> 45 expansion 15; A churned 30: 80 + 52 + 15 - 30 = 117
    # Mar 117 -> 120: A back at 40 (reactivation: paid before 03-01); C upgraded 20 -> 50 (expansion 30);
    #   E 45 -> 30 (contraction 15); D churned 52: 117 + 40 + 30 - 15 - 52 = 120
    # Apr: no movement
    assert df[money].values.tolist() == [[50, 30, 0, 0, 0, 0, 80], [80, 52, 0, 15, 0, 30, 117],
                                         [117, 0, 40, 30, 15, 52, 120], [120, 0, 0, 0, 0, 0, 120]]
    assert df["net_new_mrr"].tolist() == [30, 37, 3, 0]
    assert df["paying_customers_start"].tolist() == [2, 3, 3, 3] and df["paying_customers_end"].tolist() == [3, 3, 3, 3]
    assert df["arpa_end"].tolist() == pytest.approx([80 / 3, 39, 40, 40])
    # net: (start - churned - contraction + expansion) / start; gross without expansion
    # Feb (80 - 30 + 15) / 80 = 0.8125, gross 50 / 80; Mar (117 - 52 - 15 + 30) / 117, gross 50 / 117
    assert df["net_mrr_retention"].tolist() == pytest.approx([1.0, 0.8125, 80 / 117, 1.0])
    assert df["gross_mrr_retention"].tolist() == pytest.approx([1.0, 0.625, 50 / 117, 1.0])
    assert list(df.reset_index().columns) == ["period", "complete", *MRR_COLUMNS]


def test_mrr_by_segment_adds_up_to_the_total():
    customers, subs = frames(STORY, {"plan": PLANS})
    base = build_base(customers, None, "contract", subscriptions=subs)
    df = mrr_table(base, MONTHS, END, by=["plan"])
    march = df[df["period"] == "2024-03"].set_index("plan")
    # annual: A back at 40; pro: C 20 -> 50; weekly: D churned 52; seats: E 45 -> 30
    assert march.loc["annual", "reactivation_mrr"] == 40 and march.loc["pro", "expansion_mrr"] == 30
    assert march.loc["weekly", "churned_mrr"] == 52 and march.loc["seats", "contraction_mrr"] == 15
    parts = march.drop(index="(all)")
    for c in ("mrr_start", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr",
              "mrr_end", "paying_customers_end"):
        assert parts[c].sum() == march.loc["(all)", c], c


def test_cohort_of_a_returning_subscriber_is_their_first_paying_period():
    customers, subs = frames(STORY)
    base = build_base(customers, None, "contract", subscriptions=subs)
    df = cohort_table(base, MONTHS, "contract", 180)
    jan = df[df["cohort"] == "2024-01"]
    # cohort 2024-01 = {A}; active at the end of Jan yes, Feb no (lost), Mar yes (back), Apr yes
    assert jan["cohort_size"].tolist() == [1, 1, 1, 1] and jan["active"].tolist() == [1, 0, 1, 1]


def test_first_stretch_ends_where_every_subscription_ended():
    customers, subs = frames(STORY)
    base = build_base(customers, None, "contract", subscriptions=subs)
    code = {c: i for i, c in enumerate(base.ids)}
    day = lambda d: to_day(date.fromisoformat(d))  # noqa: E731
    # A's first stretch ends 02-20 (a new one starts 03-15); C's two touch on 03-01: one stretch, open;
    # E's second subscription lies within the first: open
    assert base.signup[code["A"]] == day("2024-01-10") and base.churn[code["A"]] == day("2024-02-20")
    assert base.churn[code["C"]] == NEVER and base.churn[code["E"]] == NEVER
    assert base.churn[code["D"]] == day("2024-03-03")


def test_purchases_beside_subscriptions_keep_their_first_purchase():
    customers, subs = frames(STORY)
    purchases = pd.DataFrame({"customer_id": ["A", "E"], "order_date": pd.to_datetime(["2024-02-05", "2024-01-07"])
                              .astype("datetime64[s]"), "amount": [30.0, 30.0]})
    base = build_base(customers, purchases, "contract", subscriptions=subs)
    code = {c: i for i, c in enumerate(base.ids)}
    # the first order days, not the first paying days (A pays from 01-10, E from 2023-11-05)
    assert base.first_purchase[code["A"]] == to_day(date(2024, 2, 5))
    assert base.first_purchase[code["E"]] == to_day(date(2024, 1, 7))
    assert base.first_purchase[code["C"]] == NEVER


def test_customers_without_subscriptions_keep_their_dates():
    customers = pd.DataFrame({"customer_id": ["X", "Y"],
                              "signup_date": pd.to_datetime(["2024-01-05", "2024-01-07"]).astype("datetime64[s]"),
                              "churn_date": pd.to_datetime(["2024-02-10", None]).astype("datetime64[s]")})
    base = build_base(customers, None, "contract")
    assert base.subscriptions is None
    df = churn_flows(base, MONTHS[:2], "contract", 180, END)
    # Jan: X, Y new and at the end; Feb: X lost on 02-10
    assert df["customers_end"].tolist() == [2, 1] and df["lost_customers"].tolist() == [0, 1]


# --- properties -------------------------------------------------------------------------

DAY0 = to_day(date(2023, 12, 1))
span = st.tuples(st.sampled_from("PQRSTU"), st.integers(0, 200), st.one_of(st.none(), st.integers(0, 200)),
                 st.sampled_from([0.0, 9.99, 100 / 12, 12 * 52 / 12, 25.0, 1234.56, 365 / 12 * 0.5]))


def _spans(draw):
    rows = []
    for cust, a, length, mrr in draw:
        start = from_day(DAY0 + a)
        end = None if length is None else from_day(DAY0 + a + 1 + length)  # the reader keeps end > start
        rows.append((cust, start.isoformat(), None if end is None else end.isoformat(), mrr))
    return rows


@given(st.lists(span, min_size=1, max_size=14), st.randoms(use_true_random=False))
def test_mrr_adds_up_and_matches_the_subscriptions(draw, rnd):
    rows = _spans(draw)
    customers, subs = frames(rows)
    periods = series(parse_label("2023-12", END), parse_label("2024-07", END))
    kept = (customers.copy(), subs.copy())
    base = build_base(customers, None, "contract", subscriptions=subs)
    df = mrr_table(base, periods, date(2024, 8, 1))
    pd.testing.assert_frame_equal(customers, kept[0])  # inputs unchanged
    pd.testing.assert_frame_equal(subs, kept[1])
    cents = lambda c: np.rint(df[c].to_numpy() * 100).astype(np.int64)  # noqa: E731
    # opening + movements = closing, exactly in cents
    assert (cents("mrr_start") + cents("new_mrr") + cents("reactivation_mrr") + cents("expansion_mrr")
            - cents("contraction_mrr") - cents("churned_mrr") == cents("mrr_end")).all()
    assert (cents("mrr_end")[:-1] == cents("mrr_start")[1:]).all()  # each period opens where the last closed
    for c in ("new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr"):
        assert (df[c] >= 0).all()
    # the closing MRR is the sum of the subscriptions paying at the period's end, one by one
    start, end = day_numbers(subs["start"]), day_numbers(subs["end"])
    sub_cents = np.rint(subs["mrr"].to_numpy() * 100).astype(np.int64)
    for k, p in enumerate(periods):
        t = to_day(p.end)
        assert cents("mrr_end")[k] == sum(int(m) for s, e, m in zip(start, end, sub_cents) if s < t <= e)
    # the order of the subscriptions does not matter
    order = list(range(len(subs)))
    rnd.shuffle(order)
    shuffled = build_base(customers, None, "contract", subscriptions=subs.iloc[order].reset_index(drop=True))
    pd.testing.assert_frame_equal(mrr_table(shuffled, periods, date(2024, 8, 1)), df)


@given(st.lists(span, min_size=1, max_size=14))
def test_a_customer_is_active_while_a_subscription_pays(draw):
    rows = _spans(draw)
    customers, subs = frames(rows)
    periods = series(parse_label("2023-12", END), parse_label("2024-07", END))
    base = build_base(customers, None, "contract", subscriptions=subs)
    df = churn_flows(base, periods, "contract", 180, date(2024, 8, 1))
    start, end = day_numbers(subs["start"]), day_numbers(subs["end"])
    who = subs["customer_id"].to_numpy()
    for k, p in enumerate(periods):
        t = to_day(p.end)
        paying = {c for c, s, e in zip(who, start, end) if s < t <= e}  # a set: overlaps count once
        assert df["customers_end"].iloc[k] == len(paying)
    # flows add up: customers_end = retained + new at the end + reactivated
    new_at_end = df["customers_end"] - df["retained_customers"] - df["reactivated_customers"]
    assert ((new_at_end >= 0) & (new_at_end <= df["new_customers"])).all()
