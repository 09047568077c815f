"""`retention init` on invoices exports: an export with due or paid dates is the
invoices table, a list of invoices without them is a sales journal (purchases)."""

import shutil

from retention_cli.config import load_config
from tests.conftest import ROOT, write


def test_the_sample_invoices_are_recognised_and_validate(cli):
    for name in ("customers.csv", "commandes.csv", "invoices.csv"):
        shutil.copy(ROOT / "sample_data" / name, cli.cwd / name)
    r = cli("init", "customers.csv", "commandes.csv", "invoices.csv")
    assert r.exit_code == 0, r.stderr
    assert "invoices.csv: invoices (guessed from headers and values)" in r.stderr
    cfg = load_config(cli.cwd / "retention.yaml")
    i = cfg.inputs.invoices
    assert (i.path, i.delimiter, i.date_format) == ("invoices.csv", ",", None)  # ISO dates
    assert i.columns == {"customer_id": "Customer ID", "invoice_date": "Invoice Date", "amount": "Amount",
                         "due_date": "Due Date", "paid_date": "Paid Date", "invoice_id": "Invoice ID",
                         "disputed": "Disputed", "status": "Status"}
    # the purchases are still the purchases ("Invoice Date" is a purchases spelling too)
    assert cfg.inputs.purchases.path == "commandes.csv"
    v = cli("validate", "--format", "csv")
    assert v.exit_code == 0, v.stderr
    rows = {row["table"]: row for row in cli.csv_rows(v)}
    assert rows["invoices"]["status"] == "ok" and rows["invoices"]["rows"] == "1826"


def test_a_french_receivables_export_named_factures_is_invoices(cli):
    # "facture" in the name hints at purchases as much as at invoices: the due date
    # ("Échéance") and the payment date decide
    write(cli.cwd, "factures.csv",
          "N° facture;Client;Date facture;Échéance;Date de règlement;Montant TTC;Litige\r\n"
          "F001;C1;15/01/2025;14/02/2025;20/02/2025;120,50;non\r\n"
          "F002;C2;20/01/2025;19/02/2025;;80,00;oui\r\n", encoding="cp1252")
    r = cli("init", "factures.csv")
    assert r.exit_code == 0, r.stderr
    cfg = load_config(cli.cwd / "retention.yaml")
    assert cfg.inputs.purchases is None
    i = cfg.inputs.invoices
    assert (i.encoding, i.delimiter, i.decimal, i.date_format) == ("cp1252", ";", ",", "%d/%m/%Y")
    assert i.columns == {"customer_id": "Client", "invoice_date": "Date facture", "amount": "Montant TTC",
                         "due_date": "Échéance", "paid_date": "Date de règlement", "invoice_id": "N° facture",
                         "disputed": "Litige"}
    c = cli("collections", "--period", "2025-01", "--as-of", "2025-03-01", "-f", "csv")
    assert c.exit_code == 0, c.stderr
    row = cli.csv_rows(c)[0]
    # two invoices of January, 120.50 + 80.00; F001 paid (2025-02-20 < data end), F002 not: 1/2
    assert (row["invoices"], row["invoiced_amount"], row["paid_share"]) == ("2", "200.5", "0.5")


def test_a_sales_journal_of_invoices_stays_purchases(cli):
    # numbered invoices, but no due or paid date: what was sold, to whom, when
    write(cli.cwd, "factures.csv", "N° facture;N° client;Date;Montant TTC\r\nF001;C1;15/01/2025;120,50\r\n",
          encoding="cp1252")
    r = cli("init", "factures.csv")
    assert r.exit_code == 0, r.stderr
    cfg = load_config(cli.cwd / "retention.yaml")
    assert cfg.inputs.invoices is None
    assert cfg.inputs.purchases.columns == {"customer_id": "N° client", "order_date": "Date",
                                            "amount": "Montant TTC", "order_id": "N° facture"}
