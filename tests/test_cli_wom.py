"""`retention wom` through the CLI."""

import pytest

from tests.conftest import ROOT, write


def test_what_if_prints_96_and_1440(cli):
    r = cli("wom", "--unhappy", "100", "--negative-reach", "15", "--silent-defection-rate", "1", "--format", "table")
    assert r.exit_code == 0, r.stderr
    assert "96.0" in r.stdout and "1,440" in r.stdout
    assert "negative_reach" in r.stdout and "configured" in r.stdout and "IPeut" in r.stdout


def test_what_if_has_no_observed_losses_so_no_cap(cli):
    # SPEC §4.5's worked example: 100 unhappy, 4 % complain: 96 silent, all leave (rate 1),
    # each tells 15: 1,440 prospects. No purchases: no lost customers to cap the 96 with.
    r = cli("wom", "--unhappy", "100", "--negative-reach", "15", "--silent-defection-rate", "1", "--format", "json")
    assert r.exit_code == 0, r.stderr
    row = cli.json(r)["rows"][0]
    assert row["expected_silent_defections"] == 96 and row["prospects_lost"] == 1440
    assert row["lost_customers"] is None and row["defection_cap"] is None
    assert row["capped_by_observed_losses"] is False and "capped" not in r.stderr


def test_what_if_json_has_assumptions_and_revenue(cli):
    r = cli("wom", "--complaint-count", "40", "--customer-value", "1200", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = cli.json(r)
    assert doc["rows"][0]["revenue_at_risk"] == pytest.approx(1_066_560)
    names = {a["assumption"]: a for a in doc["meta"]["assumptions"]}
    assert names["complaint_share"]["status"] == "assumed" and names["complaint_share"]["low"] == 0.05


@pytest.mark.parametrize("args, message", [
    (["--complaint-share", "0"], "--complaint-share 0: input should be greater than 0"),
    (["--complaint-share", "1.5"], "--complaint-share 1.5: input should be less than or equal to 1"),
    (["--negative-reach", "-3"], "--negative-reach -3: input should be greater than or equal to 0"),
])
def test_assumptions_out_of_range_by_option(cli, args, message):
    # a value typed on the command line is a usage error (2), with the config's limits
    r = cli("wom", "--unhappy", "10", *args)
    assert r.exit_code == 2 and message in r.stderr, r.stderr


def test_assumption_out_of_range_in_config(cli):
    write(cli.cwd, "retention.yaml", "wom:\n  complaint_share: 0\n")
    r = cli("wom", "--unhappy", "10")
    assert r.exit_code == 78 and "retention.yaml:2: wom.complaint_share: input should be greater than 0" in r.stderr


def test_csv_output_writes_the_assumptions_side_file(cli):
    r = cli("wom", "--unhappy", "100", "-o", "wom.csv")
    assert r.exit_code == 0, r.stderr
    side = (cli.cwd / "wom.assumptions.csv").read_text()
    assert side.startswith("assumption,value,low,high,status,source\n") and "complaint_share,0.04" in side


def test_sensitivity_rows(cli):
    r = cli("wom", "--complaint-count", "40", "--customer-value", "1200", "--sensitivity", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = cli.csv_rows(r)
    assert rows[0]["assumption"] == "complaint_share" and rows[0]["measure"] == "revenue_at_risk"


def test_on_sample_data_last_year(cli):
    r = cli("wom", "-c", str(ROOT / "config.example.yaml"), "--period", "2025", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = cli.json(r)
    row = doc["rows"][0]
    assert row["complaints_observed"] > 50 and row["revenue_at_risk"] > 0
    assert row["revenue_at_risk_low"] <= row["revenue_at_risk"] <= row["revenue_at_risk_high"]
    statuses = {a["assumption"]: a["status"] for a in doc["meta"]["assumptions"]}
    assert statuses["complaint_share"] == "observed" and statuses["negative_reach"] == "assumed"
