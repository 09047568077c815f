"""`retention mrr` and the churn of subscribers on a subscriptions export written
here: four customers, one re-subscriber, a trial that never converted, an upgrade,
a cancellation at period end, seats added for a while. Worked by hand below (the
same story as tests/kpis/test_mrr.py, from the file's own rows)."""

import json

from tests.conftest import write

SUBSCRIPTIONS = """\
id,customer_id,plan,start_date,trial_end,end_date,cancel_at_period_end,period_end,amount,interval,quantity
a1,A,basic,2024-01-10,,2024-02-20,false,2024-03-10,30,month,1
a2,A,annual,2024-03-15,,,false,2025-03-15,480,year,1
b1,B,basic,2024-01-05,2024-01-19,2024-01-12,false,2024-01-19,30,month,1
c1,C,basic,2023-12-10,,2024-03-01,false,2024-03-10,20,month,1
c2,C,pro,2024-03-01,,,false,2024-04-01,50,month,1
d1,D,weekly,2024-01-20,2024-02-03,,true,2024-03-03,12,week,1
e1,E,seats,2023-11-05,,,false,2024-04-05,15,month,2
e2,E,seats,2024-02-10,,2024-03-25,false,2024-03-10,15,month,1
"""
# Paying (start, after a trial its end; cancelled at period end: that end), at t = start of a day,
# start < t <= end:  A 01-10..02-20 and from 03-15 (480 a year = 40 a month); B cancelled in its
# trial: no customer; C 20 until 03-01, 50 after; D 02-03..03-03 (12 a week = 52 a month);
# E 2 seats × 15 throughout, one more seat (15) 02-10..03-25.
CONFIG = """\
inputs:
  customers:
    path: subscriptions.csv
    columns: {signup_date: start_date, churn_date: end_date}
    subscriptions: {trial_end: trial_end, period_end: period_end, cancel_at_period_end: cancel_at_period_end,
                    amount: amount, interval: interval, quantity: quantity}
churn: {model: contract}
as_of: 2024-05-01
"""


def _setup(cli, config=CONFIG):
    write(cli.cwd, "subscriptions.csv", SUBSCRIPTIONS)
    write(cli.cwd, "retention.yaml", config)


def _rows(cli, *args):
    r = cli(*args, "--from", "2024-01", "--to", "2024-04", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    return cli.csv_rows(r), r.stderr


def test_a_subscriber_who_ends_every_subscription_is_lost_then_reactivated(cli):
    _setup(cli)
    rows, err = _rows(cli, "churn")
    got = [(r["customers_start"], r["customers_end"], r["new_customers"], r["lost_customers"],
            r["reactivated_customers"]) for r in rows]
    # Jan: {C, E} -> {A, C, E}, A new. Feb: D new (paying from 02-03), A lost (ended 02-20).
    # Mar: D lost (03-03); A back on 03-15: reactivated, not new. Apr: no change.
    assert got == [("2", "3", "1", "0", "0"), ("3", "3", "1", "1", "0"), ("3", "3", "0", "1", "1"),
                   ("3", "3", "0", "0", "0")]
    assert "1 trial that ended before paying left out" in err
    assert "1 customer ended every subscription and later started a new one: lost, then reactivated" in err


def test_mrr_and_its_movements(cli):
    _setup(cli)
    rows, _ = _rows(cli, "mrr")
    money = ("mrr_start", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "mrr_end")
    got = [[float(r[c]) for c in money] for r in rows]
    # MRR at 01-01: C 20 + E 30 = 50; 02-01: + A 30 = 80; 03-01: A 0, C 20 (its last day), D 52, E 45 = 117;
    # 04-01: A 40, C 50, E 30 = 120; 05-01: 120.
    # Jan: A new 30. Feb: D new 52, E expansion 15, A churned 30 (80 + 52 + 15 - 30 = 117).
    # Mar: A reactivation 40, C upgrade expansion 30, E contraction 15, D churned 52 (117 + 40 + 30 - 15 - 52 = 120).
    assert got == [[50, 30, 0, 0, 0, 0, 80], [80, 52, 0, 15, 0, 30, 117], [117, 0, 40, 30, 15, 52, 120],
                   [120, 0, 0, 0, 0, 0, 120]]
    assert [r["paying_customers_end"] for r in rows] == ["3", "3", "3", "3"]
    assert rows[0]["arpa_end"] == "26.67"  # 80 / 3, written to the cent
    assert float(rows[1]["net_mrr_retention"]) == 0.8125  # (80 - 30 + 15) / 80


def test_mrr_by_a_customers_attribute_and_as_json(cli):
    _setup(cli)
    r = cli("mrr", "--period", "2024-03", "--by", "plan", "-f", "json")
    assert r.exit_code == 0, r.stderr
    rows = {row["plan"]: row for row in json.loads(r.stdout)["rows"]}
    # a customer's attributes are those of their latest subscription: A annual, C pro, D weekly, E seats
    assert rows["annual"]["reactivation_mrr"] == 40 and rows["pro"]["expansion_mrr"] == 30
    assert rows["weekly"]["churned_mrr"] == 52 and rows["(all)"]["mrr_end"] == 120


def test_mrr_without_an_amount_says_what_to_map(cli):
    _setup(cli, CONFIG.replace("\n                    amount: amount, interval: interval, quantity: quantity}", "}"))
    r = cli("mrr", "-f", "csv")
    assert r.exit_code == 66
    assert "mrr needs a subscriptions export with a recurring amount" in r.stderr
    assert r.stdout == ""


def test_report_section_only_with_amounts(cli):
    report = "report:\n  sections: [churn, mrr]\n  formats: [csv, html]\n  output_dir: out/{period}\n"
    _setup(cli, CONFIG + report)
    r = cli("report", "--period", "2024-03")
    assert r.exit_code == 0, r.stderr
    text = (cli.cwd / "out" / "2024-03" / "mrr.csv").read_text()
    assert text.splitlines()[1].startswith("2024-03,true,117.0,0.0,40.0,30.0,15.0,52.0,120.0")
    page = (cli.cwd / "out" / "2024-03" / "index.html").read_text()
    assert "Monthly recurring revenue" in page and "MRR movements in <span class=\"nw\">2024-03</span>" in page
    _setup(cli, CONFIG.replace("\n                    amount: amount, interval: interval, quantity: quantity}", "}")
           + report.replace("out/", "plain/"))
    r = cli("report", "--period", "2024-03")
    assert r.exit_code == 0, r.stderr
    assert not (cli.cwd / "plain" / "2024-03" / "mrr.csv").exists()
    meta = json.loads((cli.cwd / "plain" / "2024-03" / "meta.json").read_text())
    assert any(n.startswith("section mrr left out") for n in meta["meta"]["notes"])


def test_a_report_on_a_subscriptions_export_without_the_contract_model_says_what_to_set(cli):
    # without report.sections: what the inputs allow under the inactivity model, MRR
    _setup(cli, CONFIG.replace("churn: {model: contract}\n", ""))
    r = cli("report", "-o", "out", "-q")
    assert r.exit_code == 0, r.stderr
    assert json.loads((cli.cwd / "out" / "meta.json").read_text())["meta"]["sections"] == ["mrr"]
    # the sections of a purchases business asked for: none can be computed, and what to set is said
    _setup(cli, CONFIG.replace("churn: {model: contract}\n", "report: {sections: [summary, churn, cohorts]}\n"))
    r = cli("report", "-o", "out2")
    assert r.exit_code == 66
    assert "section churn left out: no purchases input" in r.stderr
    assert "the customers are a subscriptions export: set `churn: {model: contract}`" in r.stderr
    assert "add the section mrr" in r.stderr


def test_a_subscription_ended_the_day_it_started_is_no_trial(cli):
    _setup(cli)
    write(cli.cwd, "subscriptions.csv", SUBSCRIPTIONS + "f1,F,basic,2024-02-01,,2024-02-01,false,2024-03-01,30,month,1\n")
    r = cli("churn", "--from", "2024-01", "--to", "2024-04", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    assert "1 trial that ended before paying left out" in r.stderr  # B's, as before
    assert "1 subscription that ended the day it started (or before) left out: never paying" in r.stderr
