"""BG/NBD and Gamma-Gamma against the published CDNOW results
(shared data: ../shared/data/cdnow/README.md)."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retention_cli.config import parse_config
from retention_cli.io.readers import read_table
from retention_cli.kpis import clv
from tests.conftest import ROOT

CDNOW = ROOT.parent / "shared" / "data" / "cdnow"
pytestmark = pytest.mark.skipif(not CDNOW.is_dir(), reason="the shared CDNOW data is not beside the project")


@pytest.fixture(scope="module")
def transactions():
    cfg = parse_config(f"inputs:\n  purchases: {{path: {CDNOW / 'CDNOW_sample.txt'}, header: false, "
                       "delimiter: whitespace, date_format: '%Y%m%d', columns: {customer_id: 2, order_date: 3, amount: 5}}\n")
    return read_table("purchases", cfg.inputs.purchases, cfg).df


@pytest.fixture(scope="module")
def summary(transactions):
    return clv.summaries(transactions, date(1997, 9, 30), "weeks")


def test_summaries_equal_the_published_file_for_every_customer(summary):
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary.csv").set_index("ID")
    ours = summary.assign(ID=summary["customer_id"].astype(int)).set_index("ID").loc[ref.index]
    assert len(ours) == 2357
    assert (ours["frequency"].to_numpy() == ref["frequency"].to_numpy()).all()
    assert np.array_equal(ours["recency"].round(2).to_numpy(), ref["recency"].to_numpy())
    assert np.array_equal(ours["T"].round(2).to_numpy(), ref["T"].to_numpy())


def test_monetary_values_equal_zbar(summary):
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv").set_index("ID")
    ours = summary.assign(ID=summary["customer_id"].astype(int)).set_index("ID").loc[ref.index]
    assert np.allclose(ours["monetary_value"].round(2).to_numpy(), ref["zbar"].to_numpy(), atol=0.011)


def test_bgnbd_reproduces_fader_hardie_lee(summary):
    fit = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    p = fit.params
    for name, published in (("r", 0.2426), ("alpha", 4.4137), ("a", 0.7930), ("b", 2.4262)):
        assert p[name] == pytest.approx(published, rel=0.005), name
    assert fit.log_likelihood == pytest.approx(-9582.43, abs=0.01)
    assert fit.converged and fit.starts_tried >= 3
    assert all(0 < fit.se[k] < p[k] for k in p)  # standard errors from the Hessian


def test_predictions_reproduce_the_published_figures(summary):
    p = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"]).params
    assert clv.expected_purchases(p, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.001)
    assert clv.p_alive(p, 26, 30.857, 31) == pytest.approx(0.9689, abs=0.0005)  # customer 1516
    assert clv.expected_purchases(p, 52, 26, 30.857, 31) == pytest.approx(25.76, abs=0.02)
    assert clv.p_alive(p, 0, 0, 38.86) == 1.0  # never bought again: cannot have died after a purchase


def test_probabilities_of_k_purchases_sum_to_one(summary):
    p = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"]).params
    dist = clv.probability_of_purchases(p, 39, 400)
    assert dist["probability"].sum() == pytest.approx(1, abs=1e-6)
    # the mean of that distribution is E[X(39)] of a new customer
    assert np.dot(dist["purchases"], dist["probability"]) == pytest.approx(clv.expected_purchases_new(p, 39), rel=1e-4)


def test_gamma_gamma_reproduces_fader_hardie():
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")
    fit = clv.fit_gamma_gamma(ref["x"], ref["zbar"])
    for name, published in (("p", 6.25), ("q", 3.74), ("gamma", 15.44)):
        assert fit.params[name] == pytest.approx(published, rel=0.01), name
    assert fit.params["p"] * fit.params["gamma"] / (fit.params["q"] - 1) == pytest.approx(35.17, abs=0.01)
    assert fit.warnings == []  # frequency and spend are nearly uncorrelated here


def test_fitting_is_deterministic(transactions):
    a = clv.analyse(transactions, calibration_end=date(1997, 9, 30))
    b = clv.analyse(transactions.sample(frac=1, random_state=3), calibration_end=date(1997, 9, 30))
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.customers, b.customers)


def test_holdout_buckets(transactions):
    a = clv.analyse(transactions, calibration_end=date(1997, 9, 30), holdout_end=date(1998, 6, 30))
    h = a.holdout.set_index("frequency")
    assert h["customers"].sum() == 2357 and h.loc["0", "customers"] == 1411
    # predictions close to what happened for the bulk of customers (Fader et al., fig. 4)
    assert abs(h.loc["0", "predicted"] - h.loc["0", "actual"]) < 0.05
    t = a.tracking
    assert t["actual_cumulative"].is_monotonic_increasing and t["expected_cumulative"].is_monotonic_increasing
    assert t["expected_cumulative"].iloc[-1] == pytest.approx(t["actual_cumulative"].iloc[-1], rel=0.1)


def test_clv_by_hand_for_one_month():
    # a customer expected to buy E purchases in the next month, each worth v: CLV = E × v × margin / (1 + d)
    s = pd.DataFrame({"frequency": [3], "recency": [20.0], "T": [30.0], "monetary_value": [50.0]})
    bg = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}
    gg = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    e = clv.expected_purchases(bg, (365.25 / 12) / 7, 3, 20.0, 30.0)
    v = 6.0 * (15.0 + 3 * 50.0) / (6.0 * 3 + 4.0 - 1)  # p(γ + x m̄) / (px + q − 1) = 990 / 21
    d = 1.10 ** (1 / 12) - 1
    got = clv.clv(bg, gg, s, unit="weeks", months=1, annual_discount_rate=0.10, gross_margin=0.5)
    assert got[0] == pytest.approx(e * v * 0.5 / (1 + d))


def test_no_repeat_buyer_is_said_in_words():
    fit = clv.fit_bgnbd([0, 0, 0], [0.0, 0.0, 0.0], [10.0, 20.0, 30.0])
    assert any("cannot tell buying from dying" in w for w in fit.warnings)
