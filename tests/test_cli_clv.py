"""`retention clv` through the CLI, on the CDNOW sample read through configuration alone."""

import json

import pytest

from tests.conftest import ROOT, write

CDNOW = ROOT.parent / "shared" / "data" / "cdnow"
pytestmark = pytest.mark.skipif(not CDNOW.is_dir(), reason="the shared CDNOW data is not beside the project")


def config(cli):
    write(cli.cwd, "retention.yaml",
          "inputs:\n  purchases:\n"
          f"    path: {CDNOW / 'CDNOW_sample.txt'}\n"
          "    header: false\n    delimiter: whitespace\n    date_format: '%Y%m%d'\n"
          "    columns: {customer_id: 2, order_date: 3, quantity: 4, amount: 5}\n")


def test_clv_json_and_customers_out(cli):
    config(cli)
    r = cli("clv", "--calibration-end", "1997-09-30", "--format", "json", "--customers-out", "c.csv")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    values = {(x["kind"], x["name"]): x for x in doc["rows"]}
    assert values[("bgnbd", "r")]["value"] == pytest.approx(0.2426, rel=0.005)
    assert values[("bgnbd", "log_likelihood")]["value"] == pytest.approx(-9582.43, abs=0.01)
    assert values[("bgnbd", "alpha")]["standard_error"] > 0
    assert values[("summary", "customers")]["value"] == 2357
    assert doc["meta"]["calibration_end"] == "1997-09-30" and doc["meta"]["bgnbd"]["converged"] is True
    lines = (cli.cwd / "c.csv").read_text().splitlines()
    assert lines[0] == "customer_id,frequency,recency,T,p_alive,expected_purchases,expected_avg_order_value,clv"
    assert len(lines) == 2358
    row1516 = next(ln for ln in lines if ln.startswith("1516,")).split(",")
    assert float(row1516[4]) == pytest.approx(0.9689, abs=0.0005)


def test_clv_holdout_needs_an_earlier_calibration_end(cli):
    config(cli)
    r = cli("clv", "--holdout")
    assert r.exit_code == 2 and "--holdout needs a --calibration-end before the last day" in r.stderr
    ok = cli("clv", "--holdout", "--calibration-end", "1997-09-30", "--format", "json")
    assert ok.exit_code == 0 and ok.stderr == ""
    assert json.loads(ok.stdout)["meta"]["holdout"][0]["frequency"] == "0"
