"""`retention complaints` (and the report's complaints section) through the CLI: what
a complaints file cannot say is null, never 0; one header feeding two names."""

import json

import pytest

from tests.conftest import write

DATED = ("customer_id,opened_date,resolved_date,status,category\n"
         "a,2024-01-02,2024-01-03,closed,billing\n"     # resolved in 1 day: within the SLA (2)
         "b,2024-01-05,2024-01-15,closed,billing\n"     # 10 days
         "c,2024-01-20,,open,delivery\n"                # never resolved
         "a,2024-02-01,2024-02-02,closed,\n")           # February, no category
UNDATED = "\n".join(",".join(x for i, x in enumerate(line.split(",")) if i != 2)
                    for line in DATED.splitlines()) + "\n"   # the same without resolved_date

RESOLUTION = ("resolved_share", "median_resolution_days", "mean_resolution_days", "sla_attainment",
              "open_backlog_end")


def complaints_json(cli, text: str, config: str = "") -> tuple[dict, object]:
    write(cli.cwd, "k.csv", text)
    write(cli.cwd, "retention.yaml", "inputs:\n  complaints: {path: k.csv}\n" + config)
    r = cli("complaints", "--from", "2024-01", "--to", "2024-02", "--as-of", "2024-03-01", "-f", "json")
    assert r.exit_code == 0, r.stderr
    return {row["period"]: row for row in json.loads(r.stdout)["rows"]}, r


def test_with_resolved_date_the_numbers_by_hand(cli):
    rows, _ = complaints_json(cli, DATED)
    jan, feb = rows["2024-01"], rows["2024-02"]
    assert (jan["complaints"], jan["complaining_customers"]) == (3, 3)
    assert jan["resolved_share"] == pytest.approx(2 / 3)                     # a, b of a, b, c
    assert jan["median_resolution_days"] == jan["mean_resolution_days"] == 5.5  # (1 + 10) / 2
    assert jan["sla_attainment"] == pytest.approx(1 / 3)                     # only a within 2 days
    assert jan["open_backlog_end"] == 1                                      # at 02-01: c
    assert jan["traceability_share"] == 1.0
    assert (feb["resolved_share"], feb["sla_attainment"], feb["open_backlog_end"]) == (1.0, 1.0, 1)
    assert feb["traceability_share"] == 0.0  # the category column is there, and empty: a real 0


def test_without_resolved_date_the_resolution_kpis_are_null_not_zero(cli):
    rows, r = complaints_json(cli, UNDATED)
    for row in rows.values():
        for kpi in RESOLUTION:
            assert row[kpi] is None, (row["period"], kpi)
    assert (rows["2024-01"]["complaints"], rows["2024-01"]["traceability_share"]) == (3, 1.0)
    # in CSV, an empty cell
    r = cli("complaints", "--period", "2024-01", "--as-of", "2024-03-01", "-f", "csv")
    (row,) = cli.csv_rows(r)
    assert [row[k] for k in RESOLUTION] == [""] * len(RESOLUTION) and row["complaints"] == "3"


def test_complaints_command_reads_resolved_statuses(cli):
    rows, r = complaints_json(cli, UNDATED, "complaints: {resolved_statuses: [Closed]}\n")
    assert rows["2024-01"]["resolved_share"] == pytest.approx(2 / 3)        # a, b closed; c open
    assert rows["2024-01"]["sla_attainment"] is None
    assert "a complaint counts as resolved when its status is one of complaints.resolved_statuses" in r.stderr


# The public CFPB consumer complaint export: no customer id, the complaint id stands
# for the consumer (its 16 current columns, ISO dates).
CFPB = ("Date received,Product,Sub-product,Issue,Sub-issue,Consumer complaint narrative,Company public response,"
        "Company,State,ZIP code,Tags,Submitted via,Date sent to company,Company response to consumer,"
        "Timely response?,Complaint ID\n"
        "2024-01-03,Credit card,Store credit card,Billing dispute,,,,Bank A,CO,80202,,Web,2024-01-04,"
        "Closed with explanation,Yes,8000001\n"
        "2024-01-10,Mortgage,Conventional home mortgage,Trouble during payment process,,,,Bank A,TX,75001,,Phone,"
        "2024-01-10,In progress,Yes,8000002\n"
        "2024-01-20,Credit card,Store credit card,Billing dispute,,\"I was charged twice, and nobody answered.\",,"
        "Bank A,NY,10001,,Web,2024-01-21,Closed with monetary relief,No,8000003\n"
        "2024-02-05,Debt collection,I do not know,Attempts to collect debt not owed,,,,Bank A,CA,90001,,Referral,"
        "2024-02-06,Closed with non-monetary relief,Yes,8000004\n")
CFPB_CONFIG = """inputs:
  complaints:
    path: complaints.csv
    columns:
      customer_id: "Complaint ID"
      complaint_id: "Complaint ID"
      opened_date: "Date received"
      category: "Product"
      status: "Company response to consumer"
      channel: "Submitted via"
"""


def test_a_public_export_without_customer_ids_validates(cli):
    write(cli.cwd, "complaints.csv", CFPB)
    write(cli.cwd, "retention.yaml", CFPB_CONFIG)
    r = cli("validate", "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    (table,) = doc["meta"]["tables"]
    assert table["mapping"]["Complaint ID"] == "customer_id, complaint_id"
    assert table["mapping"]["Date received"] == "opened_date" and table["customers"] == 4
    assert "Complaint ID -> customer_id, complaint_id" in doc["rows"][0]["mapping"]
    r = cli("validate", "-f", "table")
    assert r.exit_code == 0 and "Complaint ID → customer_id, complaint_id" in r.stdout


def test_a_public_export_without_customer_ids_gives_its_complaints(cli):
    write(cli.cwd, "complaints.csv", CFPB)
    write(cli.cwd, "retention.yaml", CFPB_CONFIG)
    r = cli("complaints", "--from", "2024-01", "--to", "2024-02", "--as-of", "2024-03-01", "-f", "json")
    assert r.exit_code == 0, r.stderr
    jan, feb = json.loads(r.stdout)["rows"]
    assert (jan["complaints"], jan["complaining_customers"], feb["complaints"]) == (3, 3, 1)  # one consumer each
    assert jan["resolved_share"] is None and jan["open_backlog_end"] is None      # no resolved_date, no statuses
    assert jan["traceability_share"] == 1.0                                       # a response and a product each


def test_two_kinds_in_one_column_is_a_config_error(cli):
    write(cli.cwd, "complaints.csv", CFPB)
    write(cli.cwd, "retention.yaml", CFPB_CONFIG.replace('opened_date: "Date received"', 'opened_date: "Complaint ID"'))
    r = cli("validate")
    assert r.exit_code == 78
    assert ("retention.yaml:7: inputs.complaints.columns.opened_date: 'Complaint ID' also feeds customer_id: "
            "one column cannot be an id and a date") in r.stderr


# The report's complaints section reads complaints.resolved_statuses: a Zendesk-like
# export (status, no resolved_date) and purchases, W = 30 days.
PURCHASES = ("customer_id,order_date,amount\n"
             "A,2024-02-10,10\nA,2024-03-20,10\n"    # A complains 03-05 (Solved), buys 15 days later
             "B,2024-02-25,10\n"                     # B complains 03-10 (closed), never buys again
             "C,2024-02-15,10\nC,2024-03-30,10\n"    # C complains 03-12 (Open), buys 18 days later
             "E,2024-02-20,10\nE,2024-03-15,10\n")   # E never complains, buys in March
STATUS_COMPLAINTS = ("customer_id,opened_date,status,category\n"
                     "A,2024-03-05, Solved,billing\n"
                     "B,2024-03-10,CLOSED,delivery\n"
                     "C,2024-03-12,Open,delivery\n")
REPORT_CONFIG = """inputs:
  purchases: {path: p.csv}
  complaints: {path: k.csv}
churn: {inactivity_days: 30}
complaints:
  resolved_statuses: [solved, closed]
report:
  sections: [complaints]
  formats: [json, html]
"""


def test_report_complaints_from_statuses(cli):
    write(cli.cwd, "p.csv", PURCHASES)
    write(cli.cwd, "k.csv", STATUS_COMPLAINTS)
    write(cli.cwd, "retention.yaml", REPORT_CONFIG)
    r = cli("report", "--period", "2024-03", "--as-of", "2024-07-01", "-o", "out")
    assert r.exit_code == 0, r.stderr
    doc = json.loads((cli.cwd / "out" / "complaints.json").read_text())
    (m,) = doc["rows"]
    assert m["complaints"] == 3 and m["complaint_rate"] == 0.75    # S at 03-01 = {A, B, C, E}, nobody new
    assert m["resolved_share"] == pytest.approx(2 / 3)             # A ' Solved', B 'CLOSED'; C Open
    for kpi in ("median_resolution_days", "mean_resolution_days", "sla_attainment",
                "return_rate_resolved_fast", "return_rate_resolved_slow"):
        assert m[kpi] is None, kpi
    assert m["open_backlog_end"] is None          # March ends before the data end: the status is of the export
    assert (m["customers_resolved"], m["return_rate_resolved"]) == (2, 0.5)       # A yes, B no
    assert (m["customers_unresolved"], m["return_rate_unresolved"]) == (1, 1.0)   # C
    assert (m["customers_no_complaint"], m["return_rate_no_complaint"]) == (1, 1.0)  # E
    assert "customers_resolved_fast" not in m
    note = ("complaints: the complaints file has no resolved_date: a complaint counts as resolved when its status is "
            "one of complaints.resolved_statuses (solved, closed), as it stood at the export")
    assert note in r.stderr
    assert any(n.startswith(note) for n in json.loads((cli.cwd / "out" / "meta.json").read_text())["meta"]["notes"])
    html = (cli.cwd / "out" / "index.html").read_text()
    assert "Customers who buy again within the window, by complaint outcome" in html
    assert "Complaint resolution, last 12 periods" in html   # the resolved share, from the statuses
    # no bar or line for what the file cannot tell (it would be drawn at 0)
    assert "resolved late" not in html and "within SLA" not in html and "median days" not in html


def test_summary_and_complaints_read_the_statuses_alike(cli):
    """One value per KPI: with resolved_statuses, the summary's resolved share of
    February is the complaints command's: a's February complaint is closed, 1 / 1."""
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\na,2024-01-01,5\nb,2024-01-02,5\nc,2024-02-01,5\n")
    rows, _ = complaints_json(cli, UNDATED, "complaints: {resolved_statuses: [Closed]}\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  complaints: {path: k.csv}\n  purchases: {path: p.csv}\n"
                                     "complaints: {resolved_statuses: [Closed]}\n")
    r = cli("summary", "--period", "2024-02", "--as-of", "2024-03-01", "-f", "json")
    assert r.exit_code == 0, r.stderr
    summary = {x["kpi"]: x for x in json.loads(r.stdout)["rows"]}
    assert summary["resolved_share"]["value"] == rows["2024-02"]["resolved_share"] == 1.0
    assert summary["resolved_share"]["previous"] == pytest.approx(2 / 3)  # January: a, b of a, b, c
