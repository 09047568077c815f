"""Collections (SPEC §4.7), worked by hand on a few invoices written here."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from retention_cli.config import parse_config
from retention_cli.errors import DataError, UsageError
from retention_cli.io.readers import load_inputs, read_table
from retention_cli.kpis.collections import (COLLECTION_COLUMNS, churn_facts, collection_kpis, collection_notes,
                                            invoice_facts, overdue_churn, overdue_customers)
from retention_cli.model.customers import build_base
from retention_cli.periods import Period, parse_label
from tests.conftest import write

D = date(2024, 4, 1)  # the data end: the day after the last event


def months(*labels: str) -> list[Period]:
    return [parse_label(x, D) for x in labels]


def frame(rows: list[tuple], columns=("customer_id", "invoice_id", "invoice_date", "due_date", "paid_date",
                                      "amount", "disputed")) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns))
    for c in df.columns:
        if c.endswith("_date"):
            df[c] = pd.to_datetime(df[c])
    if "disputed" in df:
        df["disputed"] = df["disputed"].astype("boolean")
    return df


# A (c1) is paid on its due date; B (c2) a day late; C (c3) is never paid (unpaid past
# the data end); D (c1) is dated in December and paid in January; E (c4) is disputed
# and paid 10 days late; F (c2) is a credit note; G (c5) was paid two days before it
# was issued (a prepayment); H (c5) has no due date (due 30 days later, net 30).
INVOICES = frame([
    ("c1", "A", "2024-01-05", "2024-02-04", "2024-02-04", 100.0, False),
    ("c2", "B", "2024-01-10", "2024-02-09", "2024-02-10", 200.0, False),
    ("c3", "C", "2024-01-20", "2024-02-19", None, 300.0, False),
    ("c1", "D", "2023-12-15", "2024-01-14", "2024-01-20", 50.0, False),
    ("c4", "E", "2024-01-25", "2024-02-24", "2024-03-05", 400.0, True),
    ("c2", "F", "2024-02-15", None, None, -30.0, False),
    ("c5", "G", "2024-03-10", "2024-04-09", "2024-03-08", 80.0, False),
    ("c5", "H", "2024-03-20", None, None, 60.0, False),
])


def kpis(**kw) -> pd.DataFrame:
    kw.setdefault("data_end", D)
    return collection_kpis(INVOICES, months("2023-11", "2024-01", "2024-02", "2024-03"), write_off_days=30, **kw)


def row(df: pd.DataFrame, period: str, **seg) -> pd.Series:
    sel = df["period"] == period
    for k, v in seg.items():
        sel &= df[k] == v
    assert sel.sum() == 1
    return df[sel].iloc[0]


def test_january_by_hand():
    r = row(kpis(), "2024-01")
    # dated in January: A, B, C, E; 100 + 200 + 300 + 400
    assert r["invoices"] == 4 and r["invoiced_amount"] == 1000
    # paid before the data end: A, B, E (C never) -> 3 / 4
    assert r["paid_share"] == 0.75
    # all four fell due before the data end; only A was paid on (not after) its due date
    assert r["on_time_share"] == 0.25
    # late: B by 1 day (02-09 -> 02-10), E by 10 (02-24 -> 03-05, 2024 is a leap year): (1 + 10) / 2
    assert r["mean_days_late"] == 5.5
    # at 01-01 only D (December, paid 01-20) is owed; at 02-01 A, B, C and E are (D paid)
    assert r["receivables_start"] == 50 and r["receivables_end"] == 1000
    # none of A, B, C, E is due before 02-01
    assert r["overdue_end"] == 0 and r["overdue_share_end"] == 0 and r["customers_with_overdue_end"] == 0
    # 1000 / 1000 x 31 days
    assert r["dso"] == 31
    # 100 x (50 + 1000 - 1000) / (50 + 1000 - (1000 - 0)): all that fell due was collected
    assert r["cei"] == 100
    assert r["disputed_share"] == 0.25  # E of the four
    assert r["write_off_amount"] == 0
    assert r["credit_notes"] == 0 and r["credit_note_amount"] == 0
    assert bool(r["complete"])


def test_february_by_hand():
    r = row(kpis(), "2024-02")
    # no invoice dated in February (F is a credit note): the ratios over them are null
    assert r["invoices"] == 0 and r["invoiced_amount"] == 0
    for c in ("paid_share", "on_time_share", "mean_days_late", "disputed_share", "dso"):
        assert math.isnan(r[c]), c
    # at 03-01: A paid 02-04, B 02-10, D 01-20; C (unpaid) and E (paid 03-05) still owed
    assert r["receivables_start"] == 1000 and r["receivables_end"] == 700
    # C due 02-19, E due 02-24: both overdue at 03-01, customers c3 and c4
    assert r["overdue_end"] == 700 and r["overdue_share_end"] == 1 and r["customers_with_overdue_end"] == 2
    # 100 x (1000 + 0 - 700) / (1000 + 0 - (700 - 700)) = 30
    assert r["cei"] == pytest.approx(30, abs=1e-12)
    # the credit note: counted apart, as a positive amount
    assert r["credit_notes"] == 1 and r["credit_note_amount"] == 30


def test_march_by_hand():
    r = row(kpis(), "2024-03")
    # G (80, prepaid) and H (60): 140
    assert r["invoices"] == 2 and r["invoiced_amount"] == 140
    assert r["paid_share"] == 0.5  # G
    # neither G (due 04-09) nor H (due 03-20 + 30 = 04-19) fell due before the data end
    assert math.isnan(r["on_time_share"])
    assert math.isnan(r["mean_days_late"])  # nobody paid late
    # at 04-01: C (300, unpaid) and H (60) are owed; E was paid 03-05, G before it was issued
    assert r["receivables_start"] == 700 and r["receivables_end"] == 360
    assert r["overdue_end"] == 300 and r["overdue_share_end"] == pytest.approx(300 / 360)
    assert r["customers_with_overdue_end"] == 1  # c3
    assert r["dso"] == pytest.approx(360 / 140 * 31)  # 79.71 days
    # 100 x (700 + 140 - 360) / (700 + 140 - (360 - 300)) = 100 x 480 / 780
    assert r["cei"] == pytest.approx(100 * 480 / 780)  # 61.54
    assert r["disputed_share"] == 0
    # C: due 02-19, 30 days later is 03-20, in March and still unpaid; B and E were paid
    # before their day (03-10, 03-25)
    assert r["write_off_amount"] == 300


def test_a_period_where_nothing_is_due_has_a_null_cei():
    r = row(kpis(), "2023-11")  # before every invoice: nothing owed, nothing invoiced
    assert r["invoices"] == 0 and r["receivables_start"] == 0 and r["receivables_end"] == 0
    assert math.isnan(r["cei"]) and math.isnan(r["dso"]) and math.isnan(r["overdue_share_end"])
    # one invoice issued in May, due at the end of June, unpaid: nothing could be collected
    one = frame([("c1", "X", "2024-05-10", "2024-06-30", None, 500.0, False)])
    r = collection_kpis(one, months("2024-05"), data_end=date(2024, 6, 1)).iloc[0]
    # 100 x (0 + 500 - 500) / (0 + 500 - (500 - 0)): 0 / 0
    assert math.isnan(r["cei"])
    assert r["receivables_end"] == 500 and r["overdue_end"] == 0 and r["dso"] == 31


def test_the_data_end_cuts_invoices_and_payments():
    # as of 2024-02-10: E's payment (03-05) and B's (02-10, on the data end) are not
    # known yet, nor G and H; March starts after the data end: all null
    df = kpis(data_end=date(2024, 2, 10))
    r = row(df, "2024-01")
    assert r["paid_share"] == 0.25  # A only
    # fell due before 02-10: A (02-04) and B (02-09); A on time
    assert r["on_time_share"] == 0.5
    assert math.isnan(r["mean_days_late"])
    assert not bool(row(df, "2024-02")["complete"])
    march = row(df, "2024-03")
    assert march[COLLECTION_COLUMNS].isna().all()
    # February is incomplete: its receivables at 03-01 are those unpaid as of 02-10
    # (B, C, E), and its days are the 9 observed
    feb = row(df, "2024-02")
    assert feb["receivables_end"] == 900
    assert math.isnan(feb["dso"])  # nothing invoiced in February


def test_segments_by_customers_attribute_and_by_invoice_column():
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"], "segment": ["a", "a", "b", ""]})
    df = kpis(by=["segment"], customers=customers)
    assert df[df["period"] == "2024-02"]["segment"].tolist() == ["(all)", "(missing)", "a", "b"]
    # at 03-01: C (c3, segment b, 300) and E (c4, no segment, 400)
    assert row(df, "2024-02", segment="b")["receivables_end"] == 300
    assert row(df, "2024-02", segment="(missing)")["receivables_end"] == 400
    assert row(df, "2024-02", segment="a")["receivables_end"] == 0
    assert row(df, "2024-02", segment="(all)")["receivables_end"] == 700
    # each segment's invoices add up to the total's
    jan = df[df["period"] == "2024-01"].set_index("segment")
    assert jan.loc[["a", "b", "(missing)"], "invoiced_amount"].sum() == jan.loc["(all)", "invoiced_amount"]
    # a column of the invoices themselves
    inv = INVOICES.assign(status=["paid", "paid", "open", "paid", "paid", "credit", "paid", ""])
    df = collection_kpis(inv, months("2024-01"), data_end=D, by=["status"])
    assert df["status"].tolist() == ["(all)", "(missing)", "credit", "open", "paid"]
    assert row(df, "2024-01", status="open")["invoiced_amount"] == 300
    assert row(df, "2024-01", status="paid")["invoiced_amount"] == 700
    with pytest.raises(UsageError, match="'region'"):
        collection_kpis(INVOICES, months("2024-01"), data_end=D, by=["region"])


def test_lines_of_one_invoice():
    # two lines of invoice L (60 paid 02-01, 40 paid 02-04) and M (one line unpaid)
    inv = frame([
        ("c1", "L", "2024-01-05", "2024-02-04", "2024-02-01", 60.0, False),
        ("c1", "L", "2024-01-06", "2024-02-05", "2024-02-04", 40.0, True),
        ("c2", "M", "2024-01-10", "2024-02-09", "2024-02-01", 10.0, False),
        ("c2", "M", "2024-01-10", "2024-02-09", None, 15.0, False),
        ("c2", "", "2024-01-12", "2024-02-11", "2024-01-20", 5.0, False),  # no id: an invoice
    ])
    facts = invoice_facts(inv)
    assert len(facts) == 3
    r = collection_kpis(inv, months("2024-01", "2024-02"), data_end=D)
    jan, feb = r.iloc[0], r.iloc[1]
    assert jan["invoices"] == 3 and jan["invoiced_amount"] == 130
    # L paid when its last line is (02-04, on its earliest due date 02-04); M never
    assert jan["paid_share"] == pytest.approx(2 / 3)
    assert jan["on_time_share"] == pytest.approx(2 / 3)
    assert jan["disputed_share"] == pytest.approx(1 / 3)  # L: one of its lines
    # at 03-01 only M (25) is owed, overdue since 02-09
    assert feb["receivables_end"] == 25 and feb["overdue_end"] == 25


def test_without_paid_date_the_payment_kpis_are_null_not_zero():
    inv = INVOICES.drop(columns=["paid_date", "disputed"])
    r = row(collection_kpis(inv, months("2024-01"), data_end=D), "2024-01")
    assert r["invoices"] == 4 and r["invoiced_amount"] == 1000
    for c in ("paid_share", "on_time_share", "receivables_end", "overdue_end", "cei", "dso", "write_off_amount",
              "customers_with_overdue_end", "disputed_share"):
        assert math.isnan(r[c]), c
    notes = collection_notes(inv, data_end=D)
    assert any("no paid_date" in n for n in notes) and any("no disputed" in n for n in notes)
    assert any("1 invoice with a negative amount" in n for n in notes)


def test_bad_invoices():
    # due before issued cannot be meant: refused (the reader makes it a bad row)
    bad = frame([("c1", "A", "2024-01-05", "2024-01-04", None, 10.0, False)])
    with pytest.raises(DataError, match="due_date before the invoice_date"):
        collection_kpis(bad, months("2024-01"), data_end=D)
    # paid before issued is a prepayment: paid, on time, never owed
    pre = frame([("c1", "A", "2024-01-05", "2024-02-04", "2024-01-02", 10.0, False)])
    r = collection_kpis(pre, months("2024-01"), data_end=D).iloc[0]
    assert r["paid_share"] == 1 and r["on_time_share"] == 1 and r["receivables_end"] == 0
    assert any("paid before being issued" in n for n in collection_notes(pre, data_end=D))


def test_inputs_unchanged_and_row_order_irrelevant():
    before = INVOICES.copy()
    a = kpis()
    pd.testing.assert_frame_equal(INVOICES, before)
    b = collection_kpis(INVOICES.iloc[::-1].reset_index(drop=True), months("2023-11", "2024-01", "2024-02", "2024-03"),
                        data_end=D, write_off_days=30)
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


def test_churn_with_and_without_an_overdue_invoice():
    periods = months("2024-02", "2024-03")
    # at 02-01 nobody is overdue (D was paid 01-20; A, B, C, E are not due yet); at
    # 03-01 c3 (C, due 02-19) and c4 (E, due 02-24, paid only 03-05) are
    assert overdue_customers(INVOICES, date(2024, 3, 1), data_end=D).tolist() == ["c3", "c4"]
    assert overdue_customers(INVOICES, date(2024, 2, 1), data_end=D).tolist() == []
    facts = [(["c1", "c2"], ["c2"]),                        # February: active c1, c2; c2 lost
             (np.array(["c1", "c2", "c3", "c4", "c6"]), {"c3", "c6"})]  # March: c6 has no invoice
    df = overdue_churn(INVOICES, periods, facts, data_end=D)
    feb, mar = df.iloc[0], df.iloc[1]
    assert feb["customers_start_overdue"] == 0 and math.isnan(feb["churn_rate_overdue"])
    assert feb["churn_rate_not_overdue"] == 0.5  # c2 of c1, c2
    # overdue at 03-01: c3, c4, of whom c3 left: 1 / 2; the others c1, c2, c6: c6 left: 1 / 3
    assert mar["customers_start_overdue"] == 2 and mar["lost_overdue"] == 1 and mar["churn_rate_overdue"] == 0.5
    assert mar["customers_start_not_overdue"] == 3 and mar["churn_rate_not_overdue"] == pytest.approx(1 / 3)
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4", "c6"], "segment": ["a", "a", "b", "a", "b"]})
    seg = overdue_churn(INVOICES, periods, facts, data_end=D, by=["segment"], customers=customers)
    b = seg[(seg["period"] == "2024-03") & (seg["segment"] == "b")].iloc[0]
    # segment b: c3 (overdue, lost) and c6 (not overdue, lost)
    assert b["churn_rate_overdue"] == 1 and b["churn_rate_not_overdue"] == 1
    with pytest.raises(UsageError):
        overdue_churn(INVOICES.assign(status="x"), periods, facts, data_end=D, by=["status"], customers=customers)


def test_churn_facts_from_the_customer_base():
    # inactivity model, W = 30: c1 buys 01-20 (active at 02-01, not at 03-01: lost in
    # February); c3 buys 01-25 and 02-20 (active at both); c5 first buys in February
    purchases = pd.DataFrame({"customer_id": ["c1", "c3", "c3", "c5"],
                              "order_date": pd.to_datetime(["2024-01-20", "2024-01-25", "2024-02-20", "2024-02-10"]),
                              "amount": [10.0, 10.0, 10.0, 10.0]})
    base = build_base(None, purchases, "inactivity")
    (active, lost), = churn_facts(base, months("2024-02"), "inactivity", 30)
    assert sorted(active) == ["c1", "c3"] and list(lost) == ["c1"]


# --- through the reader: the same dialects, bad-row policy and messages -------------------

def test_reader_reads_invoices_with_a_dialect_and_names_a_bad_date(tmp_path):
    write(tmp_path, "factures.csv",
          "Client;N° facture;Date facture;Échéance;Payée le;Montant TTC;Litige\r\n"
          "c1;F1;05/01/2024;04/02/2024;04/02/2024;1 234,50;non\r\n"
          "c2;F2;32/01/2024;;;200,00;oui\r\n", "cp1252")
    body = ("{path: factures.csv, encoding: cp1252, decimal: ',', thousands: ' ', date_format: '%d/%m/%Y', "
            "columns: {customer_id: Client, invoice_id: 'N° facture', invoice_date: 'Date facture', "
            "due_date: 'Échéance', paid_date: 'Payée le', amount: 'Montant TTC', disputed: Litige}}")
    cfg = parse_config(f"inputs:\n  invoices: {body}\n", tmp_path / "retention.yaml")
    with pytest.raises(DataError) as e:
        load_inputs(cfg, ("invoices",))
    assert e.value.exit_code == 65
    assert e.value.message == "factures.csv: 1 bad row (set `on_bad_rows: skip` to leave them out)"
    # file, physical line, column, value, reason: one line
    assert e.value.details[0].startswith("factures.csv:3: column 'invoice_date': value '32/01/2024': ")
    assert "\n" not in e.value.details[0]
    cfg = parse_config(f"on_bad_rows: skip\ninputs:\n  invoices: {body}\n", tmp_path / "retention.yaml")
    inputs = load_inputs(cfg, ("invoices",))
    t = inputs.get("invoices")
    assert t.rejected_rows == 1 and t.df["amount"].tolist() == [1234.5]
    assert t.df["disputed"].tolist() == [False]
    # the invoices' dates count in the data end: the payment of 04/02/2024 is the last event
    assert inputs.data_last == date(2024, 2, 4)


def test_reader_refuses_a_due_date_before_the_invoice_date(tmp_path):
    write(tmp_path, "i.csv", "customer_id,invoice_date,due_date,amount\nc1,2024-01-05,2024-01-04,10\n")
    cfg = parse_config("inputs:\n  invoices: {path: i.csv}\n", tmp_path / "retention.yaml")
    with pytest.raises(DataError) as e:
        read_table("invoices", cfg.input("invoices"), cfg)
    assert e.value.details == ["i.csv:2: column 'due_date': value '2024-01-04': due_date before invoice_date"]


def test_reader_needs_the_required_invoice_columns(tmp_path):
    write(tmp_path, "i.csv", "customer_id,invoice_date\nc1,2024-01-05\n")
    cfg = parse_config("inputs:\n  invoices: {path: i.csv}\n", tmp_path / "retention.yaml")
    with pytest.raises(DataError, match=r"i.csv: no column for amount \(required\)"):
        read_table("invoices", cfg.input("invoices"), cfg)


def test_config_collections_and_market_size(tmp_path):
    cfg = parse_config("collections: {terms_days: 45, write_off_days: 90}\n"
                       "economics: {market_size: {2024-01: 50000, 2024: 600000}}\n", tmp_path / "retention.yaml")
    assert cfg.collections.terms_days == 45 and cfg.collections.write_off_days == 90
    assert cfg.economics.market_size == {"2024-01": 50000, "2024": 600000}
    assert parse_config("", tmp_path / "retention.yaml").collections.terms_days == 30
    from retention_cli.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_config("economics:\n  market_size:\n    last-month: 10\n", tmp_path / "retention.yaml")
    assert e.value.message == ("retention.yaml:3: economics.market_size.last-month: period 'last-month' is "
                               "relative: the market size is given per fixed period label (2024-01, 2024-Q1, …)")
    with pytest.raises(ConfigError, match="market_size.2024-01: input should be greater than 0"):
        parse_config("economics: {market_size: {2024-01: 0}}\n", tmp_path / "retention.yaml")
    with pytest.raises(ConfigError, match="collections.terms_days: input should be greater than or equal to 0"):
        parse_config("collections: {terms_days: -1}\n", tmp_path / "retention.yaml")
    with pytest.raises(ConfigError, match=r"inputs.invoices.columns.paid: not a column of invoices \(did you mean"):
        parse_config("inputs:\n  invoices: {path: i.csv, columns: {paid: Payée}}\n", tmp_path / "retention.yaml")
