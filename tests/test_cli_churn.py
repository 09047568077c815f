"""`retention churn` through the CLI: csv and json parsed and checked."""

import json

from tests.conftest import ROOT, write

# W = 30. February 2024: s = 02-01 (window 01-02 .. 01-31), e = 03-01 (window 01-31 .. 02-29)
PURCHASES = ("customer_id,order_date,amount\n"
             "A,2024-01-10,10\n"   # in S (Feb), not in E: lost in Feb
             "B,2024-01-31,10\n"   # in S and in E (01-31 is e - 30): retained in Feb
             "C,2024-02-15,10\n"   # new in Feb, in E
             "C,2024-03-20,10\n")  # the latest event: data end 2024-03-21 (March incomplete)
CUSTOMERS = "customer_id,segment\nA,x\nB,y\nC,x\n"


def setup(cli):
    write(cli.cwd, "p.csv", PURCHASES)
    write(cli.cwd, "c.csv", CUSTOMERS)
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
          "churn: {inactivity_days: 30}\n")


def test_churn_csv(cli):
    setup(cli)
    r = cli("churn", "--period", "2024-02", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    (row,) = cli.csv_rows(r)
    assert row["period"] == "2024-02" and row["complete"] == "true"
    assert [row[k] for k in ("customers_start", "customers_end", "new_customers", "lost_customers",
                             "retained_customers", "reactivated_customers")] == ["2", "2", "1", "1", "1", "0"]
    assert float(row["churn_rate"]) == 0.5 and float(row["retention_rate"]) == 0.5


def test_churn_json_by_segment_and_incomplete_warning(cli):
    setup(cli)
    r = cli("churn", "--from", "2024-02", "--to", "2024-03", "--by", "segment", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {(x["period"], x["segment"]): x for x in doc["rows"]}
    assert list(rows) == [("2024-02", "(all)"), ("2024-02", "x"), ("2024-02", "y"),
                          ("2024-03", "(all)"), ("2024-03", "x"), ("2024-03", "y")]
    assert rows[("2024-02", "x")]["lost_customers"] == 1 and rows[("2024-02", "y")]["retained_customers"] == 1
    assert rows[("2024-03", "(all)")]["complete"] is False
    assert doc["meta"]["data_end"] == "2024-03-21" and doc["meta"]["churn"]["inactivity_days"] == 30
    assert doc["meta"]["inputs"]["purchases"]["rows"] == 4 and len(doc["meta"]["inputs"]["purchases"]["sha256"]) == 64
    assert "2024-03 ends after the data end (2024-03-21)" in r.stderr
    assert "reaches before the first purchase (2024-01-10)" in r.stderr


def test_churn_without_purchases_is_66(cli):
    write(cli.cwd, "c.csv", CUSTOMERS)
    write(cli.cwd, "retention.yaml", "inputs:\n  customers: {path: c.csv}\n")
    r = cli("churn", "-o", "out.csv")
    assert r.exit_code == 66 and "no purchases input" in r.stderr
    assert not (cli.cwd / "out.csv").exists()


def test_churn_unknown_by_is_usage_error(cli):
    setup(cli)
    r = cli("churn", "--by", "colour", "--format", "csv")
    assert r.exit_code == 2 and "--by colour: not a customers attribute nor a purchases column (known: segment)" in r.stderr


def test_by_a_mapped_purchases_column_says_what_it_is(cli):
    """product_id is a purchases column, mapped: the message says why it is no
    segment, not that the file lacks it."""
    setup(cli)
    write(cli.cwd, "p2.csv", "customer_id,order_id,order_date,amount,product_id\nA,a1,2024-01-10,10,P1\n")
    r = cli("purchases", "--purchases", "p2.csv", "--by", "product_id", "--format", "csv")
    assert r.exit_code == 2
    assert ("--by product_id: product_id is one of the purchases' own columns (an order's lines can differ in it), "
            "not a segment; split by a customers attribute or another purchases column (customers attributes: "
            "segment)") in r.stderr


def test_churn_on_sample_data_twelve_months(cli):
    r = cli("churn", "-c", str(ROOT / "config.example.yaml"), "--from", "2025-01", "--to", "2025-12", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = cli.csv_rows(r)
    assert [x["period"] for x in rows] == [f"2025-{m:02d}" for m in range(1, 13)]
    for x in rows:  # flows add up in every month
        assert int(x["customers_start"]) == int(x["lost_customers"]) + int(x["retained_customers"])


def test_purchases_csv_and_note_for_left_out_kpis(cli):
    setup(cli)
    r = cli("purchases", "--period", "2024-02", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    (row,) = cli.csv_rows(r)
    # February holds one order: C on 02-15, amount 10 (A and B bought in January)
    assert (row["orders"], row["buyers"], row["revenue"]) == ("1", "1", "10.0")
    assert "multi_product_ratio" not in row and "sales_cycle_days" not in row
    assert "left out: multi_product_ratio, multi_product_share" in r.stderr
    assert "no customers.first_contact_date" in r.stderr


def test_cohorts_csv(cli):
    setup(cli)
    r = cli("cohorts", "--from", "2024-01", "--to", "2024-02", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = [(x["cohort"], x["offset"], x["cohort_size"], x["active"]) for x in cli.csv_rows(r)]
    # January cohort {A, B}: neither buys in February; February cohort {C}
    assert rows == [("2024-01", "0", "2", "2"), ("2024-01", "1", "2", "0"), ("2024-02", "0", "1", "1")]


def test_summary_csv(cli):
    setup(cli)
    r = cli("summary", "--period", "2024-02", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = {x["kpi"]: x for x in cli.csv_rows(r)}
    assert rows["orders"]["value"] == "1" and rows["orders"]["previous"] == "2"  # Feb: C; Jan: A, B
    assert cli("summary", "--from", "2024-01", "--to", "2024-02").exit_code == 2


def test_churn_reads_only_the_order_columns(cli):
    # a bad quantity does not concern churn or purchases, which do not read it (the
    # amount is given); validate reads and checks every mapped column
    write(cli.cwd, "p.csv", "customer_id,order_date,amount,quantity,product_id\n"
                            "A,2024-01-05,10,two,P1\nB,2024-02-05,5,1,P2\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n")
    r = cli("churn", "--period", "2024-02", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    assert cli.csv_rows(r)[0]["customers_end"] == "2"
    r = cli("purchases", "--period", "2024-02", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    row = cli.csv_rows(r)[0]
    assert (row["orders"], row["revenue"], row["multi_product_share"]) == ("1", "5.0", "0.0")  # B: P2 only
    r = cli("validate")
    assert r.exit_code == 65 and "p.csv:2: column 'quantity': value 'two': not a number" in r.stderr
    # without an amount column, the amount is quantity × unit_price: then churn reads both
    write(cli.cwd, "p.csv", "customer_id,order_date,quantity,unit_price\nA,2024-01-05,2,5\nB,2024-02-05,x,5\n")
    r = cli("churn", "--period", "2024-02", "-f", "csv")
    assert r.exit_code == 65 and "column 'quantity': value 'x'" in r.stderr


def test_churn_reads_of_the_customers_only_what_it_uses(cli):
    """churn without --by reads of the customers their ids and dates (the data end,
    the orphans): a bad value in another column neither fails it nor drops the
    customer; with --by that column and validate still say it."""
    write(cli.cwd, "p.csv", PURCHASES + "D,2024-02-20,10\n")  # D: not in the customers file
    write(cli.cwd, "c.csv", "customer_id,segment,loyalty_member,signup_date\nA,x,yes,2024-01-01\n"
          "B,y,maybe,2024-01-02\nC,x,no,2024-03-25\n")  # C's signup after every purchase: the data end
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
          "churn: {inactivity_days: 30}\n")
    r = cli("churn", "--period", "2024-02", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    (row,) = doc["rows"]
    assert [row[k] for k in ("customers_start", "customers_end", "new_customers", "lost_customers",
                             "retained_customers")] == [2, 3, 2, 1, 1]
    assert doc["meta"]["data_end"] == "2024-03-26"
    assert "p.csv: 1 rows (1 customer_id, e.g. 'D') are not in the customers file" in r.stderr
    on_duckdb = cli("churn", "--period", "2024-02", "--format", "json", "--engine", "duckdb")
    assert on_duckdb.exit_code == 0, on_duckdb.stderr
    assert json.loads(on_duckdb.stdout)["rows"] == doc["rows"]
    r = cli("churn", "--period", "2024-02", "--by", "segment", "--format", "csv")
    assert r.exit_code == 65 and "value 'maybe': not yes/no" in r.stderr
    assert cli("validate").exit_code == 65
