"""Platform profiles are data: loaded, recognised from headers, forced, and added
by the user in the config."""

import pytest

from retention_cli.config import load_config
from retention_cli.errors import UsageError
from retention_cli.init import guess
from retention_cli.profiles import builtin_profiles, recognise
from tests.conftest import write


def test_every_builtin_profile_loads_and_names_its_table():
    profiles = builtin_profiles()
    assert {"shopify-orders", "woocommerce-orders", "stripe-subscriptions", "stripe-payments", "chargebee-subscriptions",
            "zendesk-tickets", "freshdesk-tickets", "delighted", "typeform", "surveymonkey", "google-forms",
            "qualtrics", "european-accounting"} <= set(profiles)
    assert profiles["shopify-orders"].table == "purchases" and profiles["stripe-subscriptions"].model == "contract"


def test_recognition_needs_every_header_and_ignores_case():
    profiles = builtin_profiles()
    headers = ["name", "EMAIL", "Financial Status", "Created at", "Lineitem quantity", "Lineitem sku", "Total"]
    assert recognise({1: headers}, profiles)[0] == "shopify-orders"
    assert "shopify-orders" not in recognise({1: headers[:-2]}, profiles)


def test_forced_profile_and_unknown_profile(tmp_path):
    p = write(tmp_path, "x.csv", "Name,Email,Created at,Total\n#1,a@example.com,2024-01-01,5\n")
    g = guess(p, profile="shopify-orders")
    assert g.profile == "shopify-orders" and g.columns["customer_id"] == "Email"
    # headers the export lacks: the options naming them are dropped, and said so
    assert "Cancelled at" not in g.options.get("exclude", {})
    assert any("Cancelled at" in n for n in g.notes)
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        guess(p, profile="nope")


def test_a_user_profile_in_the_config_is_recognised_and_kept(cli):
    write(cli.cwd, "retention.yaml", "profiles:\n  kasse:\n    title: Kassenbuch\n    table: purchases\n"
                                     "    match: [Kundennummer, Belegdatum, Betrag]\n    delimiter: ';'\n"
                                     "    decimal: ','\n    date_format: '%d.%m.%Y'\n"
                                     "    columns: {customer_id: Kundennummer, order_date: Belegdatum, amount: Betrag}\n")
    write(cli.cwd, "kasse.csv", "Kundennummer;Belegdatum;Betrag\nK1;03.01.2024;10,50\nK2;04.01.2024;4,50\n")
    r = cli("init", "kasse.csv", "--force")
    assert r.exit_code == 0, r.stderr
    assert "Kassenbuch (profile kasse)" in r.stderr
    cfg = load_config(cli.cwd / "retention.yaml")
    assert "kasse" in cfg.profiles and cfg.inputs.purchases.decimal == ","
    p = cli("purchases", "--period", "2024-01", "--format", "csv")
    assert p.exit_code == 0, p.stderr
    assert float(cli.csv_rows(p)[0]["revenue"]) == 15.0  # 10,50 + 4,50


def test_partial_matches_are_kept_and_the_line_to_edit_printed(cli):
    # WooCommerce-like headers without a customer column: order date, SKU and total still map
    write(cli.cwd, "orders.csv", "Order Date,SKU,Order Total Amount\n2024-01-02,W-1,10\n")
    r = cli("init", "orders.csv")
    assert r.exit_code == 0, r.stderr
    text = (cli.cwd / "retention.yaml").read_text()
    assert 'order_date: "Order Date"' in text and 'product_id: "SKU"' in text
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "CHECK: no column found for customer_id" in ln)
    assert f"retention.yaml:{line}: no column found for customer_id" in r.stderr


def test_an_event_file_with_repeated_ids_is_not_a_customers_list(tmp_path):
    p = write(tmp_path, "export.csv", "customer_id,date,value\nA,2024-01-01,5\nA,2024-02-01,6\n")
    assert guess(p).table == "purchases"


def test_an_older_stripe_subscriptions_export_is_recognised(cli):
    """Stripe's export changed over the years: older ones head the start `Start (UTC)`
    (the latest change, not the start) and some have no `Cancel At Period End`. Such an
    export is still a subscriptions export, started at its Created (UTC)."""
    write(cli.cwd, "subs.csv",
          "id,Customer ID,Customer Email,Plan,Quantity,Interval,Amount,Status,Created (UTC),Start (UTC),"
          "Current Period Start (UTC),Current Period End (UTC),Trial End (UTC),Canceled At (UTC),Ended At (UTC)\n"
          "sub_1,cus_1,a@example.com,basic,1,month,20.00,canceled,2024-01-10 09:00:00,2024-02-01 00:00:00,"
          "2024-02-10 09:00:00,2024-03-10 09:00:00,,2024-03-01 12:00:00,2024-03-10 09:00:00\n"
          "sub_2,cus_2,b@example.com,basic,1,month,20.00,active,2024-02-05 09:00:00,2024-02-05 09:00:00,"
          "2024-03-05 09:00:00,2024-04-05 09:00:00,,,\n")
    g = guess(cli.cwd / "subs.csv")
    assert g.profile == "stripe-subscriptions"
    assert g.columns["signup_date"] == "Created (UTC)" and g.columns["churn_date"] == "Ended At (UTC)"
    assert any("Cancel At Period End" in n for n in g.notes)  # said, and its option left out
