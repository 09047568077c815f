import shutil

from retention_cli.config import load_config
from tests.conftest import ROOT, write


def test_init_maps_the_sample_exports_and_the_result_validates(cli):
    for name in ("customers.csv", "commandes.csv", "complaints.csv"):
        shutil.copy(ROOT / "sample_data" / name, cli.cwd / name)
    r = cli("init", "customers.csv", "commandes.csv", "complaints.csv")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "retention.yaml"
    cfg = load_config(cli.cwd / "retention.yaml")
    p = cfg.inputs.purchases
    # the French export: cp1252, ';', decimal comma, day-first dates, French headers
    assert (p.path, p.encoding, p.delimiter, p.decimal, p.date_format) == ("commandes.csv", "cp1252", ";", ",", "%d/%m/%Y")
    assert p.columns == {"customer_id": "N° client", "order_date": "Date commande", "amount": "Montant TTC",
                         "quantity": "Quantité", "order_id": "N° commande", "product_id": "Réf. produit"}
    assert cfg.inputs.customers.path == "customers.csv" and cfg.inputs.complaints.path == "complaints.csv"
    v = cli("validate", "--format", "csv")
    assert v.exit_code == 0, v.stderr
    assert [row["status"] for row in cli.csv_rows(v)] == ["ok", "ok", "ok"]


def test_init_never_overwrites_without_force(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-01,5\n")
    write(cli.cwd, "retention.yaml", "# mine\n")
    r = cli("init", "p.csv")
    assert r.exit_code == 73 and "exists; use --force" in r.stderr
    assert (cli.cwd / "retention.yaml").read_text() == "# mine\n"
    assert cli("init", "p.csv", "--force").exit_code == 0
    assert load_config(cli.cwd / "retention.yaml").inputs.purchases.path == "p.csv"


def test_init_headerless_whitespace_file(cli):
    write(cli.cwd, "cdnow.txt", " 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n")
    r = cli("init", "cdnow.txt", "-o", "c.yaml")
    assert r.exit_code == 0, r.stderr
    text = (cli.cwd / "c.yaml").read_text()
    assert "delimiter: \"whitespace\"" in text and "header: false" in text and "# CHECK: no header row" in text


def test_init_on_a_database_a_folder_or_a_glob_says_what_to_write(cli):
    """init reads exports; a SQLite file, a folder or a quoted glob gets the config lines instead."""
    import sqlite3

    con = sqlite3.connect(cli.cwd / "support.db")
    con.execute("create table tickets (id, email)")
    con.commit()
    con.close()
    (cli.cwd / "exports").mkdir()
    write(cli.cwd, "exports/2024-01.csv", "customer_id,order_date\nC1,2024-01-05\n")
    r = cli("init", "support.db", "-o", "-")
    assert r.exit_code == 2
    assert 'support.db: a SQLite database, not an export: map its table in the config, ' \
        '`connection: "sqlite:///support.db"` with `table: NAME`' in r.stderr
    for arg in ("exports", "exports/*.csv"):
        r = cli("init", arg, "-o", "-")
        assert r.exit_code == 2
        assert f"{arg}: init reads one file per table: pass one of the files, then set `path: {arg}`" in r.stderr
