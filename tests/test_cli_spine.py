"""The spine's bad-input list, through the CLI: exit code, message, nothing written."""

import json
import os
import pty
import subprocess
import sys

import pytest

from retention_cli.cli import app
from tests.conftest import ROOT, write

GOOD = "customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\n"


def config(cli, body="{path: p.csv}", table="purchases", extra=""):
    write(cli.cwd, "retention.yaml", f"inputs:\n  {table}: {body}\n{extra}")


def check(result, code, fragment, cli, out="out.json"):
    assert result.exit_code == code, result.stderr
    assert fragment in result.stderr
    assert result.stderr.startswith("retention: error: ")
    assert "Traceback" not in result.stderr
    assert not (cli.cwd / out).exists()


def test_clean_input_validates(cli):
    write(cli.cwd, "p.csv", GOOD)
    config(cli)
    r = cli("validate", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    (row,) = doc["rows"]
    assert (row["table"], row["rows"], row["customers"], row["status"]) == ("purchases", 2, 2, "ok")
    assert (row["date_from"], row["date_to"]) == ("2024-01-05", "2024-02-05")
    assert doc["meta"]["version"]


def test_missing_file(cli):
    config(cli, "{path: nope.csv}")
    check(cli("validate", "-o", "out.json"), 66, "nope.csv: purchases file not found", cli)


def test_folder_as_file(cli):
    (cli.cwd / "d.csv").mkdir()
    config(cli, "{path: d.csv}")
    check(cli("validate", "-o", "out.json"), 66, "d.csv: is a folder", cli)


def test_empty_file(cli):
    write(cli.cwd, "p.csv", "")
    config(cli)
    check(cli("validate", "-o", "out.json"), 65, "p.csv: empty file: no header", cli)


def test_header_only_is_valid(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\n")
    config(cli)
    r = cli("validate", "--format", "csv")
    assert r.exit_code == 0
    assert cli.csv_rows(r)[0]["rows"] == "0"


def test_missing_required_column(cli):
    write(cli.cwd, "p.csv", "client,Order Dat,amount\nA,2024-01-05,10\n")
    config(cli, "{path: p.csv, columns: {customer_id: client}}")
    check(cli("validate", "-o", "out.json"), 65,
          "no column for order_date (required); headers found: 'client', 'Order Dat', 'amount'; closest: 'Order Dat'", cli)


def test_wrong_encoding(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nAndré,2024-01-05,10\n", "cp1252")
    config(cli)
    check(cli("validate", "-o", "out.json"), 65, "p.csv:2: byte 0xe9 (offset 34) is not valid utf-8; set `encoding: cp1252`", cli)


@pytest.mark.parametrize("row, fragment", [
    ("A,05/01/2024,10", "p.csv:3: column 'order_date': value '05/01/2024': not an ISO date"),
    ("A,2024-01-05,ten", "p.csv:3: column 'amount': value 'ten': not a number"),
    ("A,2024-01-05,12€", "p.csv:3: column 'amount': value '12€': not a number (currency sign"),
    ('A,2024-01-05,"1,200.00"', "p.csv:3: column 'amount': value '1,200.00': not a number (thousands separator? set `thousands: \",\"`)"),
])
def test_unparseable_values(cli, row, fragment):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,10\n" + row + "\n")
    config(cli)
    check(cli("validate", "-o", "out.json"), 65, fragment, cli)


def test_unparseable_score(cli):
    write(cli.cwd, "r.csv", "customer_id,nps_score\nA,9\nB,#ERROR!\n")
    config(cli, "{path: r.csv}", table="responses")
    check(cli("validate", "-o", "out.json"), 65, "r.csv:3: column 'nps_score': value '#ERROR!': not a score (0 to 10)", cli)


def test_duplicate_header_names(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount,order_date\nA,2024-01-05,10,x\n")
    config(cli)
    check(cli("validate", "-o", "out.json"), 65, "p.csv:1: duplicate column name 'order_date' (columns 2 and 4)", cli)


def test_duplicate_customer_ids(cli):
    write(cli.cwd, "c.csv", "customer_id,segment\nA,x\nB,y\nA,z\n")
    config(cli, "{path: c.csv}", table="customers")
    check(cli("validate", "-o", "out.json"), 65, "c.csv: 1 customer_id appear more than once", cli)


def test_yaml_syntax_error(cli):
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv\n")
    check(cli("validate", "-o", "out.json"), 78, "retention.yaml:3: YAML syntax error", cli)


def test_mistyped_key(cli):
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases:\n    path: p.csv\n    encodng: cp1252\n")
    check(cli("validate", "-o", "out.json"), 78,
          "retention.yaml:4: inputs.purchases.encodng: unknown key (did you mean 'encoding'?)", cli)


def test_unwritable_output(cli):
    write(cli.cwd, "p.csv", GOOD)
    config(cli)
    r = cli("validate", "-o", "no/such/folder/out.json")
    assert r.exit_code == 73 and "cannot write" in r.stderr


def test_output_file_is_written_atomically_and_format_from_extension(cli):
    write(cli.cwd, "p.csv", GOOD)
    config(cli)
    r = cli("validate", "-o", "out.json")
    assert r.exit_code == 0 and r.stdout == ""
    assert json.loads((cli.cwd / "out.json").read_text())["rows"][0]["rows"] == 2
    assert [p.name for p in cli.cwd.iterdir() if p.name.startswith(".out")] == []


def test_input_override_and_stdin(cli):
    r = cli("validate", "--purchases", "-", "--format", "csv", input=GOOD)
    assert r.exit_code == 0, r.stderr
    assert cli.csv_rows(r)[0]["rows"] == "2"


def test_stdin_terminal_is_a_usage_error_without_hanging(tmp_path):
    """`-` with a terminal on stdin fails at once (exit 2) instead of waiting."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "retention_cli", "validate", "--purchases", "-"],
            stdin=slave, capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 2
    assert "standard input, but it is a terminal" in proc.stderr


def test_no_inputs_at_all(cli):
    r = cli("validate")
    assert r.exit_code == 66 and "nothing to validate" in r.stderr


def test_orphans_warn_and_strict_fails(cli):
    write(cli.cwd, "c.csv", "customer_id\nA\n")
    write(cli.cwd, "p.csv", GOOD)
    write(cli.cwd, "retention.yaml", "inputs:\n  customers: {path: c.csv}\n  purchases: {path: p.csv}\n")
    r = cli("validate", "--format", "csv")
    assert r.exit_code == 0
    assert "retention: warning: purchases: 1 rows (1 customer_id, e.g. 'B') are not in the customers file" in r.stderr
    r = cli("validate", "--strict", "--format", "csv")
    assert r.exit_code == 65
    assert "retention: error: purchases: 1 rows (1 customer_id, e.g. 'B') are not in the customers file" in r.stderr
    # with a bad row too: the bad row is an error, the rows of an unknown customer stay a warning
    write(cli.cwd, "p.csv", GOOD + "A,2024-13-01,5\n")
    r = cli("validate", "--format", "csv")
    assert r.exit_code == 65
    assert "retention: warning: purchases: 1 rows (1 customer_id, e.g. 'B') are not in the customers file" in r.stderr
    assert "retention: error: purchases: 1 × " in r.stderr


def test_env_config_and_format(cli):
    write(cli.cwd, "p.csv", GOOD)
    write(cli.cwd, "elsewhere.yaml", "inputs:\n  purchases: {path: p.csv}\n")
    r = cli("validate", env={"RETENTION_CONFIG": str(cli.cwd / "elsewhere.yaml"), "RETENTION_FORMAT": "jsonl"})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["table"] == "purchases"


def test_global_options_before_the_command(cli):
    write(cli.cwd, "x.yaml", "inputs:\n  purchases: {path: p.csv}\n")
    write(cli.cwd, "p.csv", GOOD)
    r = cli("-c", "x.yaml", "validate", "--format", "csv")
    assert r.exit_code == 0 and cli.csv_rows(r)[0]["table"] == "purchases"


def test_version(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.startswith("retention ")


def test_sample_data_validates(cli):
    r = cli("validate", "-c", str(ROOT / "config.example.yaml"), "--format", "json")
    assert r.exit_code == 0, r.stderr
    rows = {row["table"]: row for row in json.loads(r.stdout)["rows"]}
    assert set(rows) == {"customers", "purchases", "complaints", "responses", "invoices"}
    assert all(row["status"] == "ok" for row in rows.values())
    assert "Montant TTC -> amount" in rows["purchases"]["mapping"]
    assert rows["invoices"]["rows"] == 1826  # sample_data/invoices.csv: one invoice or credit note a row


def test_internal_error_is_one_line_and_traceback_only_with_verbose(cli, monkeypatch):
    write(cli.cwd, "p.csv", GOOD)
    config(cli)

    def boom(*a, **k):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("retention_cli.validate.validate", boom)
    r = cli("validate")
    assert r.exit_code == 1
    assert r.stderr == "retention: internal error: ZeroDivisionError: oops (please report this; --verbose shows the traceback)\n"
    v = cli("validate", "--verbose")
    assert v.exit_code == 1 and "Traceback" in v.stderr


def test_meta_records_settings(cli):
    write(cli.cwd, "p.csv", GOOD)
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\nchurn: {inactivity_days: 90}\nwom: {negative_reach: 15}\n")
    meta = cli.json(cli("validate", "--format", "json"))["meta"]
    assert meta["settings"]["churn"]["inactivity_days"] == 90 and meta["settings"]["wom"]["negative_reach"] == 15


def test_a_bad_cost_stops_only_the_commands_that_read_costs(cli):
    """churn, cohorts and the other order-only commands read customer, order, date and
    amount: a bad cost neither stops them nor drops a row; purchases and wom read the
    costs (the margin, clv_simple) and say it."""
    write(cli.cwd, "p.csv", "customer_id,order_id,order_date,amount,cost\nA,o1,2024-01-05,10,4\n"
          "B,o2,2024-02-05,20,n/a\nA,o3,2024-03-01,5,2\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n")
    r = cli("churn", "--from", "2024-03", "--to", "2024-03", "-f", "csv", "-q")
    assert r.exit_code == 0, r.stderr
    # at 03-01: A (01-05) and B (02-05) active within 180 days; at 04-01 both still: 2 and 2
    assert r.stdout.splitlines()[1].startswith("2024-03,false,2,2,0,0,2,0,")
    assert cli("cohorts", "--from", "2024-01", "--to", "2024-03", "-f", "csv", "-q").exit_code == 0
    r = cli("purchases", "--from", "2024-03", "--to", "2024-03", "-f", "csv", "-q")
    assert r.exit_code == 65 and "p.csv:3: column 'cost': value 'n/a'" in r.stderr
