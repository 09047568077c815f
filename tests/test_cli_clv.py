"""`retention clv` through the CLI, on the CDNOW sample read through configuration alone."""

import json

import pytest

from tests.conftest import ROOT, write

CDNOW = ROOT / "tests" / "data" / "cdnow"  # the CDNOW sample and its published summaries (MIT, lifetimes)
needs_cdnow = pytest.mark.skipif(not CDNOW.is_dir(), reason="tests/data/cdnow is missing")


def config(cli):
    write(cli.cwd, "retention.yaml",
          "inputs:\n  purchases:\n"
          f"    path: {CDNOW / 'CDNOW_sample.txt'}\n"
          "    header: false\n    delimiter: whitespace\n    date_format: '%Y%m%d'\n"
          "    columns: {customer_id: 2, order_date: 3, quantity: 4, amount: 5}\n")


@needs_cdnow
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


@needs_cdnow
def test_clv_holdout_needs_an_earlier_calibration_end(cli):
    config(cli)
    r = cli("clv", "--holdout")
    assert r.exit_code == 2 and "--holdout needs a --calibration-end before the last day" in r.stderr
    ok = cli("clv", "--holdout", "--calibration-end", "1997-09-30", "--format", "json")
    assert ok.exit_code == 0 and ok.stderr == ""
    assert json.loads(ok.stdout)["meta"]["holdout"][0]["frequency"] == "0"


# Three customers: one bought twice, one once, one three times (two repeat buyers)
THREE = ("customer_id,order_date,amount\n1,2024-01-01,10\n1,2024-02-01,20\n2,2024-01-05,15\n"
         "3,2024-03-01,30\n3,2024-03-20,5\n3,2024-05-01,7\n")
TOO_FEW = ("retention: error: clv: BG/NBD: too few customers to fit: 3 customers, 2 of them repeat buyers (a "
           "purchase on a second day); the model needs at least 40 customers and 20 repeat buyers to tell buying "
           "from leaving\n")


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_a_degenerate_fit_exits_65_with_one_line(cli, quiet):
    # formerly: exit 0, a = 4.9e22, a positive log-likelihood and 16 lines of numpy warnings
    write(cli.cwd, "p.csv", THREE)
    r = cli("clv", "--purchases", "p.csv", "--format", "csv", *quiet)
    assert r.exit_code == 65
    assert r.stdout == "" and r.stderr == TOO_FEW


def test_a_degenerate_clv_section_is_left_out_of_the_report_with_a_note(cli):
    write(cli.cwd, "p.csv", THREE)
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\nreport:\n  period: 2024-02\n"
          "  sections: [churn, clv]\n  formats: [csv, json]\n  output_dir: out\n")
    r = cli("report")
    assert r.exit_code == 0, r.stderr
    note = "section clv left out: BG/NBD: too few customers to fit: 3 customers, 2 of them repeat buyers"
    assert note in r.stderr and "RuntimeWarning" not in r.stderr
    names = sorted(p.name for p in (cli.cwd / "out").iterdir())
    assert "churn.csv" in names and not any(n.startswith("clv") for n in names)
    meta = json.loads((cli.cwd / "out" / "meta.json").read_text())["meta"]
    assert meta["sections"] == ["churn"] and any(n.startswith(note) for n in meta["notes"])


@needs_cdnow
def test_the_models_warnings_are_the_tools_own_and_quiet_silences_them(cli):
    # CDNOW with each customer's amounts multiplied by his number of purchase days: spend
    # now grows with frequency (r = 0.63), against the Gamma-Gamma assumption
    rows = [line.split() for line in (CDNOW / "CDNOW_sample.txt").read_text().splitlines()]
    days: dict[str, set[str]] = {}
    for _, cust, day, _, _ in rows:
        days.setdefault(cust, set()).add(day)
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\n" + "".join(
        f"{cust},{day[:4]}-{day[4:6]}-{day[6:]},{float(amount) * len(days[cust]):.2f}\n"
        for _, cust, day, _, amount in rows))
    args = ("clv", "--purchases", "p.csv", "--calibration-end", "1997-09-30", "--format", "csv")
    r = cli(*args)
    assert r.exit_code == 0
    assert r.stderr == ("retention: warning: frequency and spend are correlated (r = 0.63): the Gamma-Gamma model "
                        "assumes they are independent; its spend estimates may be biased\n")
    quiet = cli(*args, "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == r.stdout


# --- models, horizons, comparison ------------------------------------------------------------------

@needs_cdnow
def test_pareto_nbd_through_the_cli(cli):
    config(cli)
    r = cli("clv", "--calibration-end", "1997-09-30", "--model", "pareto-nbd", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    values = {(x["kind"], x["name"]): x for x in doc["rows"]}
    # Fader, Hardie & Lee (2005): r = 0.553, α = 10.578, s = 0.606, β = 11.669, LL = −9595.0
    for name, published in (("r", 0.553), ("alpha", 10.578), ("s", 0.606), ("beta", 11.669)):
        assert values[("pareto_nbd", name)]["value"] == pytest.approx(published, rel=0.002)
    assert values[("pareto_nbd", "log_likelihood")]["value"] == pytest.approx(-9595.0, abs=0.05)
    assert ("gamma_gamma", "p") in values and not any(k == "bgnbd" for k, _ in values)
    assert doc["meta"]["model"] == "pareto-nbd" and doc["meta"]["pareto_nbd"]["converged"] is True


@needs_cdnow
@pytest.mark.parametrize("unit, n", [("week", "52"), ("weeks", "52"), ("days", "364")])
def test_any_horizon_in_any_unit(cli, unit, n):
    # BTYD: customer 1516 of CDNOW expects 25.757 repeat purchases in the next 52 weeks
    config(cli)
    r = cli("clv", "--calibration-end", "1997-09-30", "--horizon", n, "--time-unit", unit, "--format", "csv",
            "--customers-out", "c.csv")
    assert r.exit_code == 0, r.stderr
    plural = unit if unit.endswith("s") else unit + "s"
    names = [row["name"] for row in cli.csv_rows(r)]
    assert f"expected_purchases_next_{n}_{plural}" in names and f"clv_total_next_{n}_{plural}" in names
    row1516 = next(ln for ln in (cli.cwd / "c.csv").read_text().splitlines() if ln.startswith("1516,")).split(",")
    assert float(row1516[5]) == pytest.approx(25.757, abs=0.001)


@needs_cdnow
def test_horizon_months_is_the_horizon_in_months(cli):
    config(cli)
    a = cli("clv", "--calibration-end", "1997-09-30", "--horizon-months", "6", "--format", "csv")
    b = cli("clv", "--calibration-end", "1997-09-30", "--horizon", "6", "--time-unit", "month", "--format", "csv")
    assert a.exit_code == b.exit_code == 0
    pick = lambda res: {row["name"]: row["value"] for row in cli.csv_rows(res)}  # noqa: E731
    assert float(pick(a)["expected_purchases_next_6_months"]) == pytest.approx(
        float(pick(b)["expected_purchases_next_6_months"]), rel=1e-4)
    both = cli("clv", "--horizon", "6", "--horizon-months", "6")
    assert both.exit_code == 2 and "give --horizon (in --time-unit) or --horizon-months, not both" in both.stderr


def test_a_horizon_beyond_twenty_years_is_a_usage_error(cli):
    write(cli.cwd, "p.csv", THREE)
    r = cli("clv", "--purchases", "p.csv", "--horizon", "1100", "--time-unit", "weeks")
    assert r.exit_code == 2 and "at most 20 years" in r.stderr


@needs_cdnow
def test_compare_ranks_the_models(cli):
    config(cli)
    r = cli("clv", "--calibration-end", "1997-09-30", "--compare", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = cli.csv_rows(r)
    assert [row["rank_holdout_mae"] for row in rows] == ["1", "2", "3"]
    assert sorted(row["model"] for row in rows) == ["bgnbd", "mbg-nbd", "pareto-nbd"]
    assert all(float(row["holdout_mean_actual"]) == float(rows[0]["holdout_mean_actual"]) for row in rows)
    # without a holdout, the log-likelihood alone ranks them, and a warning says so
    alone = cli("clv", "--compare", "--format", "csv")
    assert alone.exit_code == 0 and "ranked by log-likelihood only" in alone.stderr
    assert all(row["holdout_mae"] == "" for row in cli.csv_rows(alone))


def test_compare_refuses_when_no_model_can_be_fitted(cli):
    write(cli.cwd, "p.csv", THREE)
    r = cli("clv", "--purchases", "p.csv", "--compare", "--format", "csv")
    assert r.exit_code == 65 and r.stdout == ""
    assert r.stderr.startswith("retention: error: clv: no model can be fitted: ")
    for title in ("BG/NBD", "MBG/NBD", "Pareto/NBD"):
        assert f"{title}: too few customers to fit: 3 customers" in r.stderr


@needs_cdnow
def test_the_report_uses_clv_model_and_compares(cli):
    config(cli)
    with open(cli.cwd / "retention.yaml", "a") as f:
        f.write("clv: {model: mbg-nbd, calibration_end: 1997-09-30, holdout: true, compare: true, horizon: 26}\n"
                "report:\n  period: 1998-06\n  sections: [clv]\n  formats: [csv, html]\n  output_dir: out\n")
    r = cli("report")
    assert r.exit_code == 0, r.stderr
    out = cli.cwd / "out"
    summary = (out / "clv.csv").read_text()
    assert "mbg_nbd,r," in summary and "expected_purchases_next_26_weeks" in summary
    compared = (out / "clv_compare.csv").read_text().splitlines()
    assert compared[0].startswith("model,rank_holdout_mae,rank_log_likelihood") and len(compared) == 4
    page = (out / "index.html").read_text()
    assert "Models compared" in page and "actual vs MBG/NBD" in page
