"""A subscriptions export read as the customers input (``subscriptions:``): one
customer per customer's rows, every paying subscription kept beside them with its
monthly amount."""

import pandas as pd
import pytest

from retention_cli.config import parse_config
from retention_cli.errors import DataError
from retention_cli.io.readers import read_table
from tests.conftest import write

HEADER = "sub,customer_id,start_date,trial_end,end_date,cancel,period_end,amount,interval,seats,every\n"
OPTIONS = ("subscriptions: {trial_end: trial_end, period_end: period_end, cancel_at_period_end: cancel, "
           "amount: amount, interval: interval, quantity: seats, interval_count: every}")


def read(tmp_path, rows: str, options: str = OPTIONS, extra: str = ""):
    write(tmp_path, "subs.csv", HEADER + rows)
    cfg = parse_config("inputs:\n  customers: {path: subs.csv, columns: {signup_date: start_date, "
                       f"churn_date: end_date}}, {options}{extra}}}\n", tmp_path / "retention.yaml")
    return read_table("customers", cfg.input("customers"), cfg)


def test_spans_per_subscription_and_one_customer_each(tmp_path):
    t = read(tmp_path, (
        "a1,A,2024-01-10,,2024-02-20,false,2024-02-10,30,month,,\n"
        "a2,A,2024-03-15,,,false,2024-04-15,480,year,,\n"          # back: a second span
        "b1,B,2024-01-05,2024-01-19,2024-01-12,false,,30,month,,\n"  # cancelled in its trial: never paid
        "d1,D,2024-01-20,2024-02-03,,true,2024-03-03,12,week,,\n"    # trial, then cancelled at period end
        "e1,E,2023-11-05,,,false,,15,Monthly,2,\n"                   # 2 seats
        "f1,F,2024-01-01,,,false,,90,quarter,,\n"
        "g1,G,2024-01-01,,,false,,700,day,1,7\n"                     # 700 every 7 days
        "h1,H,2024-01-01,,,false,,2900,month,,\n"))
    df = t.df.set_index("customer_id")
    assert sorted(df.index) == ["A", "D", "E", "F", "G", "H"]  # B is no customer
    # A: first paying day, and churn_date empty while a subscription is open
    assert str(df.loc["A", "signup_date"].date()) == "2024-01-10" and pd.isna(df.loc["A", "churn_date"])
    s = t.subscriptions.set_index(t.subscriptions["customer_id"].astype(str) + t.subscriptions["start"].astype(str))
    assert len(t.subscriptions) == 7
    d = s.loc["D2024-02-03"]  # pays from its trial's end, until its period's end
    assert str(d["end"].date()) == "2024-03-03"
    # month 30; year 480 / 12 = 40; week 12 × 52 / 12 = 52; 2 seats × 15 = 30; quarter 90 / 3 = 30;
    # day 700 every 7 days: 100 a day × 365 / 12 = 3041.67; H 2900 (no cents option)
    assert s.loc["A2024-01-10", "mrr"] == 30 and s.loc["A2024-03-15", "mrr"] == 40
    assert d["mrr"] == pytest.approx(52) and s.loc["E2023-11-05", "mrr"] == 30
    assert s.loc["F2024-01-01", "mrr"] == 30 and s.loc["G2024-01-01", "mrr"] == pytest.approx(100 * 365 / 12)
    assert s.loc["H2024-01-01", "mrr"] == 2900
    assert "subs.csv: 1 trial that ended before paying left out" in t.warnings
    assert any("1 customer ended every subscription and later started a new one: lost, then reactivated" in w
               for w in t.warnings)


def test_amounts_in_cents_and_no_interval_column_is_monthly(tmp_path):
    t = read(tmp_path, "h1,H,2024-01-01,,,false,,2900,,,\n",
             "subscriptions: {amount: amount, amount_in_cents: true}")
    assert t.subscriptions["mrr"].tolist() == [29.0]


def test_without_an_amount_no_mrr(tmp_path):
    t = read(tmp_path, "h1,H,2024-01-01,,,false,,2900,month,,\n", "subscriptions: {trial_end: trial_end}")
    assert t.subscriptions["mrr"].isna().all() and len(t.df) == 1


def test_values_that_are_no_recurring_amount_are_bad_rows(tmp_path):
    rows = ("a1,A,2024-01-10,,,false,,30,fortnight,,\n"
            "b1,B,2024-01-10,,,false,,,month,,\n"
            "c1,C,2024-01-10,,,false,,-5,month,,\n"
            "d1,D,2024-01-10,,,false,,5,month,,0\n"
            "e1,E,2024-01-10,,,false,,5,month,,\n")
    with pytest.raises(DataError) as e:
        read(tmp_path, rows)
    text = "\n".join(e.value.details)
    assert "subs.csv:2: column 'interval': value 'fortnight': not an interval (day, week, month, quarter, year)" in text
    assert "subs.csv:3: column 'amount'" in text and "missing" in text
    assert "subs.csv:4: column 'amount': value '-5': a recurring amount below 0" in text
    assert "subs.csv:5: column 'every'" in text
    t = read(tmp_path, rows, extra=", on_bad_rows: skip")
    assert t.df["customer_id"].tolist() == ["E"] and t.rejected_rows == 4
