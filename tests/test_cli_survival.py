"""`retention survival` through the CLI: the published cohort of Fader & Hardie (2007) as
a customers file, the outputs, the segments, and the errors (66 without signup_date,
65 for a fit the data cannot support)."""

import json

import pytest

from tests.conftest import write

# Fader & Hardie (2007), the "regular" segment: 1,000 customers who signed up in 2000,
# still customers after years 1-7: 631, 468, 382, 326, 289, 262, 241.
SURVIVORS = [1000, 631, 468, 382, 326, 289, 262, 241]


def regular_cohort(plan: bool = False) -> str:
    """One yearly cohort: the customers lost in year k leave on 30 June of year 2000 + k."""
    lines = ["customer_id,signup_date,churn_date" + (",plan" if plan else "")]
    i = 0
    for k in range(1, len(SURVIVORS)):
        for _ in range(SURVIVORS[k - 1] - SURVIVORS[k]):
            lines.append(f"c{i},2000-03-01,{2000 + k}-06-30" + (f",{'ab'[i % 2]}" if plan else ""))
            i += 1
    for _ in range(SURVIVORS[-1]):
        lines.append(f"c{i},2000-03-01," + (f",{'ab'[i % 2]}" if plan else ""))
        i += 1
    return "\n".join(lines) + "\n"


def test_the_published_cohort_through_the_cli(cli):
    write(cli.cwd, "c.csv", regular_cohort())
    # the data end 2008-01-01: 2001 to 2007 are the seven complete years after 2000
    args = ("survival", "--customers", "c.csv", "--freq", "year", "--as-of", "2008-01-01")
    r = cli(*args, "--parameters", "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    (row,) = doc["rows"]
    assert row["alpha"] == pytest.approx(0.704, abs=0.0005) and row["beta"] == pytest.approx(1.182, abs=0.0005)
    assert row["log_likelihood"] == pytest.approx(-1680.27, abs=0.005)
    assert row["customers"] == 1000 and row["lost"] == 759 and row["longest_offset"] == 7
    assert row["expected_lifetime"] is None  # α < 1: the mean lifetime is infinite
    assert doc["meta"]["first_cohort"] == "2000" and doc["meta"]["last_complete_period"] == "2007"
    assert doc["meta"]["discount_rate_per_period"] == pytest.approx(0.10)  # a year: the annual rate

    curve = cli(*args, "--horizon", "5", "-f", "csv")
    assert curve.exit_code == 0 and curve.stderr == ""
    rows = cli.csv_rows(curve)
    assert rows[0].keys() == {"offset", "projected", "at_risk", "lost", "survival_observed", "survival_fitted",
                              "retention_observed", "retention_fitted", "derl"}
    assert [r["offset"] for r in rows] == [str(k) for k in range(13)]  # 7 observed + 5 projected
    assert [r["projected"] for r in rows].count("true") == 5
    # observed survival is the published share alive; the fitted one is S(t) = B(α, β+t)/B(α, β)
    assert [float(r["survival_observed"]) for r in rows[:8]] == pytest.approx([s / 1000 for s in SURVIVORS])
    assert float(rows[1]["survival_fitted"]) == pytest.approx(1.182 / (0.704 + 1.182), abs=5e-4)  # S(1) = β/(α+β)
    assert rows[12]["survival_observed"] == "" and float(rows[12]["survival_fitted"]) > 0

    cohorts = cli(*args, "--cohorts", "-f", "csv")
    table = cli.csv_rows(cohorts)
    assert [int(r["alive"]) for r in table] == SURVIVORS and {r["cohort"] for r in table} == {"2000"}


def test_segments_and_the_table_on_a_terminal(cli):
    write(cli.cwd, "c.csv", regular_cohort(plan=True))
    r = cli("survival", "--customers", "c.csv", "--freq", "year", "--as-of", "2008-01-01", "--by", "plan",
            "--parameters", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    assert [row["plan"] for row in cli.csv_rows(r)] == ["(all)", "a", "b"]
    t = cli("survival", "--customers", "c.csv", "--freq", "year", "--as-of", "2008-01-01", "-f", "table")
    assert t.exit_code == 0 and "Shifted-beta-geometric fit" in t.stdout and "63.1 %" in t.stdout


def test_without_signup_date_it_names_what_is_missing(cli):
    write(cli.cwd, "c.csv", "customer_id,churn_date\n1,2024-01-01\n")
    r = cli("survival", "--customers", "c.csv", "-f", "csv")
    assert r.exit_code == 66
    assert "survival needs customers.signup_date" in r.stderr and r.stdout == ""


def test_without_customers_it_exits_66(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date\n1,2024-01-01\n")
    r = cli("survival", "--purchases", "p.csv", "-f", "csv")
    assert r.exit_code == 66 and "customers" in r.stderr


def test_a_degenerate_fit_exits_65_with_the_reason(cli):
    # nobody ever left: there is no churn for the model to describe
    write(cli.cwd, "c.csv", "customer_id,signup_date,churn_date\n" +
          "".join(f"{i},2023-01-{1 + i % 28:02d},\n" for i in range(50)))
    r = cli("survival", "--customers", "c.csv", "--as-of", "2024-01-01", "-f", "csv")
    assert r.exit_code == 65 and r.stdout == ""
    assert r.stderr == ("retention: error: survival: sBG: no customer was lost in the periods observed: "
                        "there is no churn to model\n")


def test_survival_in_the_report(cli):
    write(cli.cwd, "c.csv", regular_cohort())
    write(cli.cwd, "retention.yaml", "inputs:\n  customers: {path: c.csv}\nchurn: {model: contract}\n"
          "periods: {freq: year}\nas_of: 2008-01-01\nsurvival: {horizon_periods: 3}\n"
          "report:\n  period: '2007'\n  sections: [churn, survival]\n  formats: [csv, html]\n  output_dir: out\n")
    r = cli("report")
    assert r.exit_code == 0, r.stderr
    out = cli.cwd / "out"
    names = sorted(p.name for p in out.iterdir())
    assert {"survival.csv", "survival_parameters.csv", "survival_cohorts.csv", "index.html"} <= set(names)
    page = (out / "index.html").read_text()
    assert "Subscriber survival" in page and "Shifted-beta-geometric fit" in page and "<svg" in page
    assert "0.7041" in page  # α to four decimals


def test_the_report_leaves_survival_out_under_the_inactivity_model(cli):
    write(cli.cwd, "c.csv", regular_cohort())
    write(cli.cwd, "p.csv", "customer_id,order_date\nc1,2007-05-01\nc2,2007-06-01\nc1,2007-12-05\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  customers: {path: c.csv}\n  purchases: {path: p.csv}\n"
          "as_of: 2008-01-01\nreport:\n  period: '2007-12'\n  sections: [churn, survival]\n  formats: [csv]\n"
          "  output_dir: out\n")
    r = cli("report")
    assert r.exit_code == 0, r.stderr
    assert "section survival left out: it follows subscribers, and needs churn.model: contract" in r.stderr


def test_period_options_choose_the_signup_cohorts(cli):
    # two yearly cohorts: the published one (2000) and 100 customers of 2001 who all stay
    text = regular_cohort() + "".join(f"n{i},2001-05-01,\n" for i in range(100))
    write(cli.cwd, "c.csv", text)
    base = ("survival", "--customers", "c.csv", "--freq", "year", "--as-of", "2008-01-01", "--parameters", "-f", "csv")
    both = cli.csv_rows(cli(*base))[0]
    only = cli.csv_rows(cli(*base, "--period", "2000"))[0]
    assert (both["customers"], both["cohorts"]) == ("1100", "2")
    assert (only["customers"], only["cohorts"]) == ("1000", "1")
    assert float(only["alpha"]) == pytest.approx(0.704, abs=0.0005)


def test_a_degenerate_survival_section_is_left_out_of_the_report_with_a_note(cli):
    write(cli.cwd, "c.csv", "customer_id,signup_date,churn_date\n" +
          "".join(f"{i},2023-01-{1 + i % 28:02d},\n" for i in range(50)))
    write(cli.cwd, "retention.yaml", "inputs:\n  customers: {path: c.csv}\nchurn: {model: contract}\n"
          "as_of: 2024-01-01\nreport:\n  period: 2023-12\n  sections: [churn, survival]\n  formats: [csv]\n"
          "  output_dir: out\n")
    r = cli("report")
    assert r.exit_code == 0, r.stderr
    assert "section survival left out: sBG: no customer was lost in the periods observed" in r.stderr
    assert not any(p.name.startswith("survival") for p in (cli.cwd / "out").iterdir())
