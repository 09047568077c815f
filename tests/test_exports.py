"""Real platform exports (tests/data/exports: the platforms' header sets, fictional
people): `retention init` on the raw files, then the commands, with no edit. Every
expected figure is worked out by hand from the rows of the fixture, in a comment."""

import shutil

import pytest

from tests.conftest import ROOT

EXPORTS = ROOT / "tests" / "data" / "exports"


def _init(cli, *names, output="retention.yaml"):
    for n in names:
        shutil.copy(EXPORTS / n, cli.cwd / n)
    r = cli("init", *names, "-o", output)
    assert r.exit_code == 0, r.stderr
    return r


def _rows(cli, *args):
    r = cli(*args, "--format", "csv")
    assert r.exit_code == 0, r.stderr
    return {row["period"]: row for row in cli.csv_rows(r)}, r.stderr


def test_shopify_orders_cancelled_refund_continuation_lines(cli):
    r = _init(cli, "shopify_orders_export.csv")
    assert "Shopify orders (profile shopify-orders)" in r.stderr
    rows, err = _rows(cli, "purchases", "--from", "2024-01", "--to", "2024-03")
    # Jan: #1001 (2 lines, Total 50 on the first only) + #1002 (30, refunded 10) = 70
    assert (rows["2024-01"]["orders"], rows["2024-01"]["buyers"], float(rows["2024-01"]["revenue"])) == ("2", "2", 70.0)
    # Feb: #1003 (3 lines, 40) by Bob, spelt Bob.Durand@Example.com in January: a returning buyer.
    # #1004 is cancelled (its 2 lines) and #1005 pending: 3 rows left out
    assert (rows["2024-02"]["orders"], float(rows["2024-02"]["revenue"])) == ("1", 40.0)
    assert rows["2024-02"]["returning_buyer_share"] == "1.0"
    assert (rows["2024-03"]["orders"], float(rows["2024-03"]["revenue"])) == ("1", 20.0)
    assert "left out 3 rows by exclude (Cancelled at: any value 2; Financial Status: pending 1)" in err
    assert "1 refund (10.00) lower revenue" in err


def test_woocommerce_statuses_email_case_and_repeated_totals(cli):
    _init(cli, "woocommerce_orders.csv")
    rows, err = _rows(cli, "purchases", "--from", "2024-03", "--to", "2024-04")
    # 101 (60, on two lines: once) + 103 (35.50 - 5.50 refunded) = 90; both Dana's (case differs);
    # 102 Failed and 104 Pending payment left out
    assert (rows["2024-03"]["orders"], rows["2024-03"]["buyers"], float(rows["2024-03"]["revenue"])) == ("2", "1", 90.0)
    assert (rows["2024-04"]["orders"], float(rows["2024-04"]["revenue"])) == ("1", 18.0)
    assert "Order Status: failed 1, pending payment 1" in err


def test_stripe_subscriptions_and_payments(cli):
    r = _init(cli, "stripe_subscriptions.csv", "stripe_payments.csv")
    assert "the files share customers by customer id" in r.stderr
    assert "model: contract" in (cli.cwd / "retention.yaml").read_text()
    rows, err = _rows(cli, "churn", "--from", "2024-01", "--to", "2024-03")
    # paying customers: A from 01-05 (two subscriptions), C 01-08..03-08, D from 02-15 (trial end)
    # to 04-15 (cancel at period end); B's trial ended before paying, E is trialing
    # Jan: start 0, end {A, C}; Feb: end {A, C, D}, new D; Mar: C lost -> end {A, D}
    assert [(rows[p]["customers_start"], rows[p]["customers_end"], rows[p]["new_customers"], rows[p]["lost_customers"])
            for p in ("2024-01", "2024-02", "2024-03")] == [("0", "2", "2", "0"), ("2", "3", "1", "0"), ("3", "2", "0", "1")]
    assert "1 trial that ended before paying left out" in err
    rows, err = _rows(cli, "purchases", "--from", "2024-01", "--to", "2024-03")
    # Jan 29 + 19; Feb 29 + 9 + (49 refunded in full: an order of 0); the failed 19 left out; Mar 29
    assert [(rows[p]["orders"], float(rows[p]["revenue"])) for p in ("2024-01", "2024-02", "2024-03")] == \
        [("2", 48.0), ("3", 38.0), ("1", 29.0)]
    rows, err = _rows(cli, "mrr", "--from", "2024-01", "--to", "2024-03")
    # Amount × Quantity, monthly: MRR at 02-01 A 29 + C 19 = 48 (both new in January); at 03-01 A 29 + 9
    # (the add-on from 02-10: expansion 9), C 19, D 49 (new, paying from its trial's end) = 106; at 04-01
    # C has ended (03-08: churned 19) = 87
    assert [[float(rows[p][c]) for c in ("mrr_start", "new_mrr", "expansion_mrr", "churned_mrr", "mrr_end")]
            for p in ("2024-01", "2024-02", "2024-03")] == [[0, 48, 0, 0, 48], [48, 49, 9, 0, 106], [106, 0, 0, 19, 87]]


def test_chargebee_subscriptions(cli):
    _init(cli, "chargebee_subscriptions.csv")
    rows, err = _rows(cli, "churn", "--from", "2024-01", "--to", "2024-02")
    # cb_001 from 01-03, cb_002 from 01-10 (ends 02-20, new subscription 03-05), cb_003 from 02-01
    # (non_renewing: ends 05-01); cb_004 in trial, cb_005's trial cancelled before paying
    assert (rows["2024-01"]["customers_end"], rows["2024-01"]["new_customers"]) == ("2", "2")
    # cb_002 ended its only subscription on 02-20: lost in February (cb_003 new), reactivated when its new
    # subscription starts (03-05). This was ("3", "0") while a customer's subscriptions were folded into one
    # signup and one churn date, which counted cb_002 as a customer through its gap
    assert (rows["2024-02"]["customers_end"], rows["2024-02"]["lost_customers"]) == ("2", "1")
    assert "1 customer ended every subscription and later started a new one: lost, then reactivated" in err


@pytest.mark.parametrize("name, title, args, expected", [
    # Zendesk: 1201 (Jan), 1202 (Jan), 1203 (Feb); Alice's address has capitals
    ("zendesk_tickets.csv", "Zendesk tickets", ("--from", "2024-01", "--to", "2024-01"), {"complaints": "2"}),
    # Freshdesk: 21 and 22 in March
    ("freshdesk_tickets.csv", "Freshdesk tickets", ("--from", "2024-03", "--to", "2024-03"), {"complaints": "2"}),
])
def test_ticket_exports(cli, name, title, args, expected):
    r = _init(cli, name)
    assert f"{title} (profile" in r.stderr
    rows, _ = _rows(cli, "complaints", *args)
    period = args[1]
    for k, v in expected.items():
        assert rows[period][k] == v


@pytest.mark.parametrize("name, title, expected", [
    # 10, 6, 9, 8: promoters 2/4, detractors 1/4 -> 25
    ("delighted_responses.csv", "Delighted responses", {"nps_responses": "4", "nps": 25.0}),
    # 9, 3, 10 submitted; the partial response (2, no Submit Date) left out -> 2/3 - 1/3
    ("typeform_responses.csv", "Typeform responses", {"nps_responses": "3", "nps": 100 / 3}),
    # second header row skipped: 10, 7, 4 -> 1/3 - 1/3 = 0
    ("surveymonkey_responses.csv", "SurveyMonkey responses", {"nps_responses": "3", "nps": 0.0}),
    # question texts and import ids skipped, the unfinished response left out: 9, 5 -> 1/2 - 1/2
    ("qualtrics_responses.csv", "Qualtrics responses", {"nps_responses": "2", "nps": 0.0}),
    # CSAT 5, 3, 4 on 1-5: mean 4, satisfied (4-5) 2/3
    ("google_forms_responses.csv", "Google Forms responses", {"csat_responses": "3", "csat_mean": 4.0, "csat": 2 / 3}),
])
def test_survey_exports(cli, name, title, expected):
    r = _init(cli, name)
    assert f"{title} (profile" in r.stderr
    rows, _ = _rows(cli, "satisfaction", "--period", "all")
    for k, v in expected.items():
        got = rows["all"][k]
        assert (float(got) == pytest.approx(v)) if isinstance(v, float) else got == v, (k, got)


def test_european_sales_journal(cli):
    r = _init(cli, "compta_ventes.csv")
    assert "European sales journal (profile european-accounting)" in r.stderr
    rows, _ = _rows(cli, "purchases", "--from", "2024-01", "--to", "2024-02")
    # 120,00 + "1 200,00" in January; 60,00 and a credit note of -120,00 (a return) in February
    assert (rows["2024-01"]["orders"], float(rows["2024-01"]["revenue"])) == ("2", 1320.0)
    assert (rows["2024-02"]["orders"], float(rows["2024-02"]["revenue"])) == ("1", -60.0)


def test_orders_and_tickets_join_by_email(cli):
    r = _init(cli, "shopify_orders_export.csv", "zendesk_tickets.csv")
    assert "e-mail address" in r.stderr
    rows, err = _rows(cli, "complaints", "--from", "2024-01", "--to", "2024-01")
    # Alice.Martin@… and bob.durand@… are buyers: no ticket is an orphan
    assert rows["2024-01"]["complaints"] == "2"
    assert "not in the customers file" not in err


def test_validate_runs_on_every_export_config(cli):
    _init(cli, "shopify_orders_export.csv", "zendesk_tickets.csv", "delighted_responses.csv")
    v = cli("validate", "--format", "csv")
    assert v.exit_code == 0, v.stderr
    # every input reads without a bad row (notes about exclusions are warnings)
    assert [row["status"] for row in cli.csv_rows(v)] and all(row["status"] in ("ok", "warnings") for row in cli.csv_rows(v))


@pytest.mark.parametrize("name, profile", [
    ("shopify_customers_export.csv", "Shopify customers"),
    ("stripe_customers.csv", "Stripe customers"),
    ("chargebee_customers.csv", "Chargebee customers"),
])
def test_customers_exports_are_recognised(cli, name, profile):
    r = _init(cli, name)
    assert f"{profile} (profile" in r.stderr
    v = cli("validate", "--format", "csv")
    assert v.exit_code == 0, v.stderr
    (row,) = cli.csv_rows(v)
    assert row["table"] == "customers"
    # Shopify: five customers, Denis has no e-mail (phone orders): left out, four left.
    # Stripe: four customers, created 01-05 .. 02-01. Chargebee: four, created 01-03 .. 02-20
    expected = {"shopify_customers_export.csv": ("4", "", ""),
                "stripe_customers.csv": ("4", "2024-01-05", "2024-02-01"),
                "chargebee_customers.csv": ("4", "2024-01-03", "2024-02-20")}[name]
    assert (row["customers"], row["date_from"], row["date_to"]) == expected


def test_shopify_customers_and_orders_join_by_email(cli):
    _init(cli, "shopify_customers_export.csv", "shopify_orders_export.csv")
    v = cli("validate", "--format", "csv")
    assert v.exit_code == 0, v.stderr
    rows = {row["table"]: row for row in cli.csv_rows(v)}
    # Alice.Martin@… in the customers export and alice.martin@… on her orders are one customer:
    # every buyer (Alice, Bob, Carol) is in the customers export, none is an orphan
    assert rows["purchases"]["orphan_rows"] == "0"
    churn, err = _rows(cli, "churn", "--from", "2024-01", "--to", "2024-03")
    # Shopify customers have no signup date: a customer is new at their first order. Orders kept:
    # Alice 01-10, Bob 01-20 and 02-05, Carol 03-02 (her voided 02-06 and Alice's pending 02-15 left out)
    assert [churn[p]["new_customers"] for p in ("2024-01", "2024-02", "2024-03")] == ["2", "0", "1"]


@pytest.mark.parametrize("name, sections", [
    ("shopify_orders_export.csv", ["summary", "churn", "purchases", "cohorts"]),
    ("woocommerce_orders.csv", ["summary", "churn", "purchases", "cohorts"]),
    ("stripe_payments.csv", ["summary", "churn", "purchases", "cohorts"]),
    ("stripe_subscriptions.csv", ["churn", "cohorts", "mrr"]),
    ("chargebee_subscriptions.csv", ["churn", "cohorts"]),
    ("zendesk_tickets.csv", ["complaints"]),
    ("freshdesk_tickets.csv", ["complaints"]),
    ("delighted_responses.csv", ["satisfaction"]),
    ("typeform_responses.csv", ["satisfaction"]),
    ("surveymonkey_responses.csv", ["satisfaction"]),
    ("google_forms_responses.csv", ["satisfaction"]),
    ("qualtrics_responses.csv", ["satisfaction"]),
    ("compta_ventes.csv", ["summary", "churn", "purchases", "cohorts"]),
])
def test_init_then_report_with_no_edit(cli, name, sections):
    """`retention init EXPORT` then `retention report`: the report holds every section
    the export allows (a config without `report.sections`), with no edit."""
    import json

    _init(cli, name)
    r = cli("report", "-o", "out", "-q")
    assert r.exit_code == 0, r.stderr
    meta = json.loads((cli.cwd / "out" / "meta.json").read_text())["meta"]
    assert [s for s in meta["sections"] if s != "survival"] == sections
    assert (cli.cwd / "out" / "index.html").exists()


def test_a_customers_list_alone_says_what_to_add(cli):
    _init(cli, "shopify_customers_export.csv")
    r = cli("report", "-o", "out", "-q")
    assert r.exit_code == 66
    assert "a customers list alone has no events to measure: add the orders (purchases) export" in r.stderr
