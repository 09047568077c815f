"""`retention purchases` and `summary` show the revenue bridge, the margin and the
market share: the cost columns are read (cost, or unit_cost × quantity beside an
amount), and the numbers are the hand-worked ones."""

import pytest

from tests.conftest import write

# January: A 100 (new), B 40 (new). February: A 150 in one order of two lines
# (expansion 50), B gone (churned 40), C 30 (new).
PURCHASES = """customer_id,order_id,order_date,amount,quantity,unit_cost
A,a1,2024-01-10,100,2,30
B,b1,2024-01-20,40,1,10
A,a2,2024-02-03,100,4,15
A,a2,2024-02-03,50,1,20
C,c1,2024-02-10,30,3,
"""
CONFIG = """inputs:
  purchases: {path: purchases.csv}
economics:
  gross_margin: 0.3
  market_size: {"2024-01": 1000, "2024-02": 2000}
"""


def rows(cli, *args):
    r = cli(*args, "--from", "2024-01", "--to", "2024-02", "--as-of", "2024-03-01", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    return {row["period"]: row for row in cli.csv_rows(r)}


def test_purchases_shows_the_bridge_and_the_margin(cli):
    write(cli.cwd, "purchases.csv", PURCHASES)
    write(cli.cwd, "retention.yaml", CONFIG)
    out = rows(cli, "purchases")
    jan, feb = out["2024-01"], out["2024-02"]
    # February from January's 140: A 100 -> 150 (+50), B 40 -> 0 (-40), C 30 new: 140 + 30 + 50 - 40 = 180
    assert (feb["previous_order_revenue"], feb["order_revenue"], feb["new_revenue"], feb["reactivation_revenue"],
            feb["expansion_revenue"], feb["contraction_revenue"], feb["churned_revenue"]) == \
        ("140.0", "180.0", "30.0", "0.0", "50.0", "0.0", "40.0")
    assert feb["growing_customers_share"] == "1.0"  # A, the only one who bought in both, grew
    assert feb["net_revenue_retention"] == str(150 / 140)
    # January: new 140 after an empty December
    assert (jan["previous_order_revenue"], jan["new_revenue"], jan["order_revenue"]) == ("0.0", "140.0", "140.0")
    # costs from unit_cost × quantity (the file has an amount: quantity is read for the cost):
    # January A 2 × 30 = 60, B 1 × 10 = 10: (100 - 60) + (40 - 10) = 70 on 140 = 0.5
    assert (jan["gross_profit"], jan["gross_margin_rate"], jan["costed_revenue_share"]) == ("70.0", "0.5", "1.0")
    # February A 4 × 15 + 1 × 20 = 80: 150 - 80 = 70 on 150; C has no unit cost: 150 of 180 covered
    assert feb["gross_profit"] == "70.0" and float(feb["gross_margin_rate"]) == pytest.approx(70 / 150, abs=1e-12)
    assert float(feb["costed_revenue_share"]) == pytest.approx(150 / 180, abs=1e-12)
    # new_customer_rate: February's end (03-01) has A, B, C active (180 days), C new: 1/3
    assert float(feb["new_customer_rate"]) == pytest.approx(1 / 3, abs=1e-12)


def test_summary_headline_has_the_margin(cli):
    write(cli.cwd, "purchases.csv", PURCHASES)
    write(cli.cwd, "retention.yaml", CONFIG)
    r = cli("summary", "--period", "2024-02", "--as-of", "2024-03-01", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    got = {row["kpi"]: row for row in cli.csv_rows(r)}
    assert got["gross_profit"]["value"] == "70.0" and got["gross_profit"]["previous"] == "70.0"
    # 70/150 against January's 0.5
    assert float(got["gross_margin_rate"]["change_vs_previous"]) == pytest.approx(70 / 150 - 0.5, abs=1e-12)


def test_without_costs_or_sizes_no_margin_and_no_share(cli):
    write(cli.cwd, "purchases.csv", "\n".join(line.rsplit(",", 2)[0] for line in PURCHASES.splitlines()) + "\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: purchases.csv}\n")
    feb = rows(cli, "purchases")["2024-02"]
    assert "gross_profit" not in feb and "market_share" not in feb
    assert feb["order_revenue"] == "180.0" and feb["churned_revenue"] == "40.0"


def test_purchases_shows_the_market_share(cli):
    write(cli.cwd, "purchases.csv", PURCHASES)
    write(cli.cwd, "retention.yaml", CONFIG)
    out = rows(cli, "purchases")
    # 140 / 1000 = 0.14 and 180 / 2000 = 0.09: 100 × (0.09 - 0.14) = -5 points
    assert out["2024-01"]["market_share"] == "0.14" and out["2024-02"]["market_share"] == "0.09"
    assert float(out["2024-02"]["market_share_change"]) == pytest.approx(-5.0, abs=1e-9)


def test_market_share_of_periods_the_market_size_does_not_name_is_said(cli):
    write(cli.cwd, "purchases.csv", PURCHASES)
    write(cli.cwd, "retention.yaml", CONFIG)
    r = cli("purchases", "--period", "2024-Q1", "--as-of", "2024-03-01", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    assert cli.csv_rows(r)[0]["market_share"] == ""
    assert ("market_share: economics.market_size has no figure for 2024-Q1 (it has 2024-01, 2024-02): the share is "
            "null there") in r.stderr
    r = cli("purchases", "--from", "2024-01", "--to", "2024-02", "--as-of", "2024-03-01", "-f", "csv")
    assert "market_size has no figure" not in r.stderr and cli.csv_rows(r)[0]["market_share"] == str(140 / 1000)
