"""One data end for every command of a config, and nothing invented after it
(SPEC §2): hand-worked on a few rows written here."""

import json

from tests.conftest import write

# Purchases end on 2024-03-05; a complaint is opened on 2024-04-10: the data of this
# config ends on 2024-04-10, so its data end (exclusive) is 2024-04-11, whatever the
# command reads.
PURCHASES = "customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\nA,2024-03-05,5\n"
COMPLAINTS = "customer_id,opened_date,resolved_date\nA,2024-02-10,2024-02-11\nB,2024-04-10,\n"
CONFIG = ("inputs:\n  purchases: {path: p.csv}\n  complaints: {path: k.csv}\n"
          "report: {sections: [churn], formats: [csv], output_dir: out}\n")


def setup(cli):
    write(cli.cwd, "p.csv", PURCHASES)
    write(cli.cwd, "k.csv", COMPLAINTS)
    write(cli.cwd, "retention.yaml", CONFIG)


def test_every_command_has_the_data_end_of_all_inputs(cli):
    setup(cli)
    ends = {}
    for command in ("churn", "purchases", "cohorts", "complaints"):
        r = cli(command, "--period", "2024-03", "-f", "json")
        assert r.exit_code == 0, r.stderr
        ends[command] = cli.json(r)["meta"]["data_end"]
    assert set(ends.values()) == {"2024-04-11"}
    # so March is complete for churn too, though its purchases end on 03-05
    r = cli("churn", "--period", "2024-03", "-f", "csv")
    (row,) = cli.csv_rows(r)
    assert row["complete"] == "true"
    assert "incomplete" not in r.stderr


def test_a_period_after_the_data_end_is_null_not_zero(cli):
    setup(cli)
    r = cli("churn", "--from", "2024-03", "--to", "2024-05", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    rows = {x["period"]: x for x in cli.csv_rows(r)}
    # March: A bought on 01-05 and 03-05, B on 02-05: both active at its start and end
    assert (rows["2024-03"]["customers_start"], rows["2024-03"]["customers_end"]) == ("2", "2")
    # April holds the data end (04-11): computed, flagged incomplete
    assert rows["2024-04"]["complete"] == "false" and rows["2024-04"]["customers_end"] == "2"
    # May starts after it: no number at all, neither 0 customers nor 100 % churn
    may = rows["2024-05"]
    assert may["complete"] == "false"
    assert all(may[k] == "" for k in may if k not in ("period", "complete"))
    assert "period 2024-05 starts on or after the data end: the data ends on 2024-04-10, so its KPIs are null" in r.stderr


def test_cohort_offsets_after_the_data_end_are_null(cli):
    setup(cli)
    r = cli("cohorts", "--from", "2024-01", "--to", "2024-05", "-f", "csv", "-q")
    rows = {(x["cohort"], x["offset"]): x for x in cli.csv_rows(r)}
    # the January cohort {A}: bought in January (0) and March (2), not in February (1)
    assert [rows[("2024-01", k)]["active"] for k in ("0", "1", "2", "3")] == ["1", "0", "1", "0"]
    # offset 4 is May, after the data end: null, but the cohort's size stays known
    assert rows[("2024-01", "4")]["active"] == "" and rows[("2024-01", "4")]["retention"] == ""
    assert rows[("2024-01", "4")]["cohort_size"] == "1"


def test_report_on_a_stale_export_exits_65_and_keeps_the_previous_report(cli):
    setup(cli)
    assert cli("report", "--period", "2024-03", "-o", "out", "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in (cli.cwd / "out").iterdir()}
    # a cron job asks for May on an export that ends in April: even with --quiet,
    # exit 65, one line naming the data end, nothing written
    r = cli("report", "--period", "2024-05", "-o", "out", "-q")
    assert r.exit_code == 65
    assert r.stderr.strip() == (
        "retention: error: report: 2024-05 starts on or after the data end: the data ends on 2024-04-10 "
        "(the latest event of the inputs); nothing was written. Is the export stale? Export again, or set --period")
    assert r.stdout == ""
    assert {p.name: p.read_bytes() for p in (cli.cwd / "out").iterdir()} == before
    # a series that runs past it is refused the same way
    r = cli("report", "--from", "2024-04", "--to", "2024-06", "-o", "out", "-q")
    assert r.exit_code == 65 and "2024-05 to 2024-06 start on or after the data end" in r.stderr


def test_as_of_sets_the_data_end_and_nothing_else_is_read_for_it(cli):
    setup(cli)
    write(cli.cwd, "k.csv", "this is not a complaints file\n\x00")  # never read for the data end
    r = cli("churn", "--period", "2024-02", "--as-of", "2024-03-01", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["meta"]["data_end"] == "2024-03-01"


def test_a_bad_row_of_a_table_the_command_does_not_use_does_not_stop_it(cli):
    setup(cli)
    write(cli.cwd, "k.csv", "customer_id,opened_date\nA,not a date\n")
    r = cli("churn", "--period", "2024-02", "-f", "json")
    assert r.exit_code == 0, r.stderr
    # the bad row is left out for the data end (complaints are not this command's
    # data): the data end is the purchases' 2024-03-06
    assert cli.json(r)["meta"]["data_end"] == "2024-03-06"


def test_every_command_agrees_with_all_four_tables_configured(cli):
    """Each command reads the dates of the tables it does not use, with the checks
    that need them (a churn date against its signup): the same data end everywhere.
    The latest event is Z's signup on 2024-05-02: data end 2024-05-03."""
    setup(cli)
    write(cli.cwd, "c.csv", "customer_id,signup_date,churn_date\nA,2024-01-01,\nB,2024-01-15,2024-06-30\n"
                            "Z,2024-05-02,\n")
    write(cli.cwd, "r.csv", "customer_id,answered_date,nps_score\nA,2024-03-01,9\nB,2024-03-02,3\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n  complaints: {path: k.csv}\n"
                                     "  customers: {path: c.csv}\n  responses: {path: r.csv}\n")
    ends = {}
    for command in ("churn", "purchases", "cohorts", "summary", "satisfaction", "complaints", "wom",
                    "suggest-window"):
        r = cli(command, "-f", "json", "-q")
        assert r.exit_code == 0, (command, r.stderr)
        ends[command] = cli.json(r)["meta"]["data_end"]
    assert set(ends.values()) == {"2024-05-03"}, ends


def test_a_stale_purchases_export_is_said_and_the_report_refuses_it(cli):
    """Complaints run to 2024-04-10, purchases stop on 2024-03-05: April would read as
    a month without orders in which every customer was lost."""
    setup(cli)
    r = cli("churn", "--period", "2024-03", "-f", "csv")
    assert r.exit_code == 0
    assert ("the purchases end on 2024-03-05, 36 days before the latest event of the other inputs (2024-04-10)"
            in r.stderr)
    r = cli("report", "--period", "2024-04", "-o", "out", "-q")
    assert r.exit_code == 65 and r.stdout == "" and not (cli.cwd / "out").exists()
    assert r.stderr.strip().startswith("retention: error: report: the purchases end on 2024-03-05, before 2024-04 starts")
    # March, which the purchases cover, is reported
    assert cli("report", "--period", "2024-03", "-o", "out", "-q").exit_code == 0


def test_an_empty_purchases_export_is_said_and_the_report_refuses_it(cli):
    setup(cli)
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\n")
    r = cli("churn", "--period", "2024-03", "-f", "csv")
    assert "p.csv: no purchases at all" in r.stderr
    r = cli("report", "--period", "2024-03", "-o", "out", "-q")
    assert r.exit_code == 65 and "p.csv has no purchases" in r.stderr


def test_events_after_today_are_said(cli):
    setup(cli)
    write(cli.cwd, "k.csv", COMPLAINTS + "A,2199-12-31,\n")  # a typing error for 2019?
    r = cli("churn", "--period", "2024-03", "-f", "csv")
    assert "the latest event is dated 2199-12-31, after today" in r.stderr
