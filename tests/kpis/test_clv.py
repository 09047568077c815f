"""BG/NBD and Gamma-Gamma against the published CDNOW results (tests/data/cdnow,
its README.md), degenerate fits refused with their reason, and eq. 10
where its hypergeometric series fails, against mpmath."""

import math
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retention_cli.config import parse_config
from retention_cli.errors import UsageError
from retention_cli.io.readers import read_table
from retention_cli.kpis import clv
from tests.conftest import ROOT

CDNOW = ROOT / "tests" / "data" / "cdnow"  # the CDNOW sample and its published summaries (MIT, lifetimes)
needs_cdnow = pytest.mark.skipif(not CDNOW.is_dir(), reason="tests/data/cdnow is missing")


@pytest.fixture(scope="module")
def transactions():
    cfg = parse_config(f"inputs:\n  purchases: {{path: {CDNOW / 'CDNOW_sample.txt'}, header: false, "
                       "delimiter: whitespace, date_format: '%Y%m%d', columns: {customer_id: 2, order_date: 3, amount: 5}}\n")
    return read_table("purchases", cfg.inputs.purchases, cfg).df


@pytest.fixture(scope="module")
def summary(transactions):
    return clv.summaries(transactions, date(1997, 9, 30), "weeks")


@needs_cdnow
def test_summaries_equal_the_published_file_for_every_customer(summary):
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary.csv").set_index("ID")
    ours = summary.assign(ID=summary["customer_id"].astype(int)).set_index("ID").loc[ref.index]
    assert len(ours) == 2357
    assert (ours["frequency"].to_numpy() == ref["frequency"].to_numpy()).all()
    assert np.array_equal(ours["recency"].round(2).to_numpy(), ref["recency"].to_numpy())
    assert np.array_equal(ours["T"].round(2).to_numpy(), ref["T"].to_numpy())


@needs_cdnow
def test_monetary_values_equal_zbar(summary):
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv").set_index("ID")
    ours = summary.assign(ID=summary["customer_id"].astype(int)).set_index("ID").loc[ref.index]
    assert np.allclose(ours["monetary_value"].round(2).to_numpy(), ref["zbar"].to_numpy(), atol=0.011)


@needs_cdnow
def test_bgnbd_reproduces_fader_hardie_lee(summary):
    fit = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    p = fit.params
    for name, published in (("r", 0.2426), ("alpha", 4.4137), ("a", 0.7930), ("b", 2.4262)):
        assert p[name] == pytest.approx(published, rel=0.005), name
    assert fit.log_likelihood == pytest.approx(-9582.43, abs=0.01)
    assert fit.converged and fit.starts_tried >= 3
    assert all(0 < fit.se[k] < p[k] for k in p)  # standard errors from the Hessian


@needs_cdnow
def test_predictions_reproduce_the_published_figures(summary):
    p = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"]).params
    assert clv.expected_purchases(p, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.001)
    assert clv.p_alive(p, 26, 30.857, 31) == pytest.approx(0.9689, abs=0.0005)  # customer 1516
    assert clv.expected_purchases(p, 52, 26, 30.857, 31) == pytest.approx(25.76, abs=0.02)
    assert clv.p_alive(p, 0, 0, 38.86) == 1.0  # never bought again: cannot have died after a purchase


@needs_cdnow
def test_probabilities_of_k_purchases_sum_to_one(summary):
    p = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"]).params
    dist = clv.probability_of_purchases(p, 39, 400)
    assert dist["probability"].sum() == pytest.approx(1, abs=1e-6)
    # the mean of that distribution is E[X(39)] of a new customer
    assert np.dot(dist["purchases"], dist["probability"]) == pytest.approx(clv.expected_purchases_new(p, 39), rel=1e-4)


@needs_cdnow
def test_gamma_gamma_reproduces_fader_hardie():
    ref = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")
    fit = clv.fit_gamma_gamma(ref["x"], ref["zbar"])
    for name, published in (("p", 6.25), ("q", 3.74), ("gamma", 15.44)):
        assert fit.params[name] == pytest.approx(published, rel=0.01), name
    assert fit.params["p"] * fit.params["gamma"] / (fit.params["q"] - 1) == pytest.approx(35.17, abs=0.01)
    assert fit.warnings == []  # frequency and spend are nearly uncorrelated here


@needs_cdnow
def test_fitting_is_deterministic(transactions):
    a = clv.analyse(transactions, calibration_end=date(1997, 9, 30))
    b = clv.analyse(transactions.sample(frac=1, random_state=3), calibration_end=date(1997, 9, 30))
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.customers, b.customers)


@needs_cdnow
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



# --- degenerate fits are refused with the reason (SPEC §4.6) ------------------------------------

def test_three_customers_are_refused_with_the_counts():
    # 3 customers, none bought on a second day: below the floor of 40 customers and 20
    # repeat buyers (ten per parameter to estimate); a DataError, so exit 65 in the CLI
    with pytest.raises(clv.DegenerateFit, match=r"3 customers, 0 of them repeat buyers .* at least 40 customers "
                                                r"and 20 repeat buyers") as e:
        clv.fit_bgnbd([0, 0, 0], [0.0, 0.0, 0.0], [10.0, 20.0, 30.0])
    assert e.value.exit_code == 65


def test_the_floor_counts_customers_and_repeat_buyers_apart():
    # 39 repeat buyers are too few customers; 100 customers of whom 19 bought twice are
    # too few repeat buyers (a and b are informed by repeat buyers alone)
    with pytest.raises(clv.DegenerateFit, match="39 customers, 39 of them"):
        clv.fit_bgnbd([2] * 39, [10.0] * 39, [20.0] * 39)
    with pytest.raises(clv.DegenerateFit, match="100 customers, 19 of them"):
        clv.fit_bgnbd([1] * 19 + [0] * 81, [5.0] * 19 + [0.0] * 81, [20.0] * 100)


def test_identical_customers_run_a_parameter_to_the_bound():
    # 200 customers with one and the same history (x = 2, t_x = 10, T = 20): purchase rates
    # do not vary between customers, so the shape r of their gamma mixing grows without
    # end; the search stops it at its bound, 10,000 (BTYD's max.param.value)
    with pytest.raises(clv.DegenerateFit, match=r"degenerate: r = 1e\+04 reached the upper bound of the search"):
        clv.fit_bgnbd([2] * 200, [10.0] * 200, [20.0] * 200)


@needs_cdnow
def test_an_impossible_log_likelihood_is_refused(summary, monkeypatch):
    # No customer's likelihood exceeds that of buying at his own best rate x/t_x and never
    # leaving, so the log-likelihood is at most Σ x (ln(x/t_x) − 1) over repeat buyers
    # (≤ 0 in days). A computation that ends above it (+3.2e9 was printed once) is refused.
    x, tx = summary["frequency"].to_numpy(float), summary["recency"].to_numpy(float)
    ceiling = float(np.sum(x[x > 0] * (np.log(x[x > 0] / tx[x > 0]) - 1)))
    real = clv.bgnbd_ll
    assert -9582.43 < ceiling  # the true maximum lies below it

    def shifted(theta, *args):
        ll, grad = real(theta, *args)
        return ll - ceiling + 1.0, grad  # the same optimum, one unit above the ceiling

    monkeypatch.setattr(clv, "bgnbd_ll", shifted)
    with pytest.raises(clv.DegenerateFit, match="log-likelihood .* is impossible for these data"):
        clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    monkeypatch.setattr(clv, "bgnbd_ll", lambda theta, *args: (float("nan"), np.zeros(4)))
    with pytest.raises(clv.DegenerateFit, match="log-likelihood is not finite"):
        clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])


def test_gamma_gamma_needs_thirty_repeat_buyers_with_a_spend():
    # 29 repeat buyers with a spend (and 100 one-time buyers, who say nothing about spend
    # per repeat purchase): below ten per parameter for p, q, γ
    x, m = [1] * 29 + [0] * 100, [10.0 + i for i in range(29)] + [0.0] * 100
    with pytest.raises(clv.DegenerateFit, match="positive spend to fit the spend model: 29; it needs at least 30"):
        clv.fit_gamma_gamma(x, m)


def test_gamma_gamma_refuses_spends_that_do_not_vary():
    with pytest.raises(clv.DegenerateFit, match="every repeat buyer has the same mean spend"):
        clv.fit_gamma_gamma([1, 2, 3] * 20, [25.0] * 60)


def test_gamma_gamma_on_exponential_spends_runs_q_to_the_bound():
    # One repeat purchase each, spends at the exact quantiles of an exponential of mean 20:
    # every customer has the same ν, so the gamma mixing over ν has nothing to describe and
    # its shape q grows without end (γ/q → 1/20) until the search stops it
    m = -20 * np.log(1 - (np.arange(200) + 0.5) / 200)
    with pytest.raises(clv.DegenerateFit, match=r"q = 1e\+04 reached the upper bound"):
        clv.fit_gamma_gamma(np.ones(200), m)


def _orders(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [r[0] for r in rows], "order_date": pd.to_datetime([r[1] for r in rows]),
                         "amount": [r[2] for r in rows]})


@pytest.mark.filterwarnings("error")  # a numpy RuntimeWarning fails the test
def test_a_degenerate_analysis_raises_without_numpy_warnings():
    three = _orders([("1", "2024-01-01", 10), ("1", "2024-02-01", 20), ("2", "2024-01-05", 15),
                     ("3", "2024-03-01", 30), ("3", "2024-03-20", 5), ("3", "2024-05-01", 7)])
    with pytest.raises(clv.DegenerateFit, match="3 customers, 2 of them repeat buyers"):
        clv.analyse(three, calibration_end=date(2024, 5, 1))
    # the search that runs to a bound used to warn of overflow and invalid logs
    with pytest.raises(clv.DegenerateFit, match="reached the upper bound"):
        clv.fit_bgnbd([2] * 100 + [0] * 100, [10.0] * 100 + [0.0] * 100, [20.0] * 200)


@needs_cdnow
@pytest.mark.filterwarnings("error")
def test_the_cdnow_analysis_gives_no_numpy_warning(transactions):
    a = clv.analyse(transactions, calibration_end=date(1997, 9, 30), holdout_end=date(1998, 6, 30))
    assert a.warnings == []


# --- eq. 10 where the hypergeometric series fails ------------------------------------------------

# The published CDNOW estimates, rounded as Fader, Hardie & Lee (2005) print them (and as
# lifetimes' and BTYD's tests use them).
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.mark.parametrize("params, t, x, tx, T, reference", [
    # 400 repeat purchases: ₂F₁(400.2, 402.4; 402.2; 0.86) overflows (the former code
    # returned NaN; lifetimes, through Euler's transformation, 782.6)
    ({}, 520, 400, 77, 78, 782.60700734408805840),
    # r − a = 1, so c − a − b = x + r − a + 1 is an integer: scipy's hyp2f1 gives 32.92
    ({"r": 1.793}, 1000, 3, 10, 12, 24.676134540261029106),
    # a = 1: the closed form divides 0 by 0; the value is its limit
    ({"a": 1.0}, 52, 2, 30.43, 38.86, 1.3877466907910451697),
    # twenty years ahead of a new customer: z = 0.9958, where the series barely converges
    ({}, 1043, 0, 0, 0, 6.6944905693007684388),
    ({}, 1e6, 0, 0, 0, 53.540478253014568577),
])
def test_expected_purchases_where_the_series_fails(params, t, x, tx, T, reference):
    # references: eq. 10 evaluated with mpmath 1.4.1 at 50 significant digits (a = 1 and
    # the integer case as the mean of the values 1e-20 either side)
    got = clv.expected_purchases({**PUBLISHED, **params}, t, x, tx, T)
    assert got == pytest.approx(reference, rel=1e-9)


shape = st.floats(0.01, 50)


@given(r=shape, alpha=st.floats(0.1, 500), a=shape, b=shape, x=st.integers(0, 500), T=st.floats(0, 500),
       share=st.floats(0, 1), t1=st.floats(0, 1e4), t2=st.floats(0, 1e4))
def test_probabilities_stay_in_range_and_purchases_grow_with_the_horizon(r, alpha, a, b, x, T, share, t1, t2):
    p = {"r": r, "alpha": alpha, "a": a, "b": b}
    tx = share * T
    alive = clv.p_alive(p, x, tx, T)
    assert 0.0 <= alive <= 1.0
    short, long = sorted((t1, t2))
    e = clv.expected_purchases(p, np.array([short, long]), x, tx, T)
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert e[1] >= e[0] * (1 - 1e-9)  # equal up to rounding where both ends use the same rule
    dist = clv.probability_of_purchases(p, long, 20)["probability"]
    assert dist.between(0.0, 1.0).all() and dist.sum() <= 1 + 1e-9


# --- any horizon ------------------------------------------------------------------------------------

@needs_cdnow
def test_any_horizon_reproduces_lifetimes_and_btyd(summary):
    # lifetimes' test, with the published parameters: x = 2, t_x = 30.43, T = 38.86 weeks, 39 weeks ahead
    published = clv.BetaGeometricNBD(clv.Fit(PUBLISHED, {}, float("nan"), True, "published", 0))
    assert published.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86) == \
        pytest.approx(1.226, abs=0.0005)
    # BTYD's vignette: customer 1516 of CDNOW (x = 26, t_x = 30.86, T = 31) expects 25.757 in 52 weeks
    fitted = clv.BetaGeometricNBD.fit(summary["frequency"], summary["recency"], summary["T"])
    row = summary[summary["customer_id"].astype(int) == 1516].iloc[0]
    assert fitted.conditional_expected_number_of_purchases_up_to_time(52, row["frequency"], row["recency"], row["T"]) \
        == pytest.approx(25.757, abs=0.0005)


@needs_cdnow
def test_a_horizon_in_days_equals_the_same_horizon_in_weeks(transactions):
    # the models are equivariant in the time unit: α scales with it, predictions do not move
    weeks = clv.analyse(transactions, calibration_end=date(1997, 9, 30), unit="weeks", horizon=52)
    days = clv.analyse(transactions, calibration_end=date(1997, 9, 30), unit="days", horizon=364)
    assert weeks.horizon_label == "52_weeks" and days.horizon_label == "364_days"
    assert "expected_purchases_next_52_weeks" in set(weeks.summary["name"])
    np.testing.assert_allclose(days.customers["expected_purchases"], weeks.customers["expected_purchases"], rtol=1e-4)
    assert days.bg.params["alpha"] == pytest.approx(7 * weeks.bg.params["alpha"], rel=1e-4)


def test_clv_over_a_horizon_of_a_month_and_a_half():
    # the first month as before, then the half month after it, discounted to its end (1.5 months)
    s = pd.DataFrame({"frequency": [3], "recency": [20.0], "T": [30.0], "monetary_value": [50.0]})
    bg = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}
    gg = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    month = (365.25 / 12) / 7
    e1 = clv.expected_purchases(bg, month, 3, 20.0, 30.0)
    e15 = clv.expected_purchases(bg, 1.5 * month, 3, 20.0, 30.0)
    v = 990 / 21
    want = (e1 / 1.1 ** (1 / 12) + (e15 - e1) / 1.1 ** (1.5 / 12)) * v * 0.5
    got = clv.clv(bg, gg, s, unit="weeks", horizon=1.5 * month, annual_discount_rate=0.10, gross_margin=0.5)
    assert got[0] == pytest.approx(want)


def test_a_horizon_beyond_twenty_years_is_refused():
    with pytest.raises(UsageError, match="at most 20 years"):
        clv.horizon_in_units("weeks", 1100, 12)
    assert clv.horizon_in_units("months", 12, 6) == (12.0, "12_months")
    assert clv.horizon_in_units("days", None, 1)[1] == "1_months"


# --- Pareto/NBD and MBG/NBD ---------------------------------------------------------------------------

@needs_cdnow
def test_pareto_nbd_reproduces_the_published_cdnow_fit(summary):
    # Fader, Hardie & Lee (2005), CDNOW 39 weeks: r = 0.553, α = 10.578, s = 0.606, β = 11.669, LL = −9595.0
    m = clv.ParetoNBD.fit(summary["frequency"], summary["recency"], summary["T"])
    for name, published in (("r", 0.553), ("alpha", 10.578), ("s", 0.606), ("beta", 11.669)):
        assert m.params[name] == pytest.approx(published, rel=0.002), name
    assert m.log_likelihood == pytest.approx(-9595.0, abs=0.05)
    assert m.result.converged and all(0 < m.result.se[k] for k in m.params)


def _pnbd_direct(p, x, tx, T):
    """The Pareto/NBD likelihood of one customer with the integral over the death time
    done numerically (scipy.integrate.quad), beside the closed-form first term."""
    from scipy import integrate
    r, alpha, s, beta = (p[k] for k in clv.PNBD_NAMES)
    front = math.exp(math.lgamma(r + x) - math.lgamma(r)) * alpha ** r * beta ** s
    alive = (alpha + T) ** -(r + x) * (beta + T) ** -s
    died = s * integrate.quad(lambda tau: (alpha + tau) ** -(r + x) * (beta + tau) ** -(s + 1), tx, T,
                              epsabs=0, epsrel=1e-13, limit=200)[0]
    return front * (alive + died), alive / (alive + died)


@pytest.mark.parametrize("p", [
    {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},   # CDNOW: α < β
    {"r": 2.0, "alpha": 30.0, "s": 1.5, "beta": 4.0},           # α > β: the other form of the integral
    {"r": 0.7, "alpha": 5.0, "s": 1.0, "beta": 5.0},            # α = β: no hypergeometric at all
])
def test_pareto_nbd_likelihood_against_numerical_integration(p):
    x, tx, T = np.array([0.0, 1.0, 4.0, 25.0]), np.array([0.0, 2.5, 30.0, 20.0]), np.array([12.0, 40.0, 31.0, 39.0])
    ll, grad = clv.pareto_nbd_ll(np.array([p[k] for k in clv.PNBD_NAMES]), x, tx, T, np.ones(4))
    direct = [_pnbd_direct(p, *v) for v in zip(x, tx, T)]
    assert ll == pytest.approx(sum(math.log(L) for L, _ in direct), rel=1e-10)
    m = clv.ParetoNBD(clv.Fit(p, {}, float("nan"), True, "", 0))
    np.testing.assert_allclose(m.conditional_probability_alive(x, tx, T), [a for _, a in direct], rtol=1e-9)
    # the gradient (its log-averages by quadrature) against differences of the likelihood
    theta = np.array([p[k] for k in clv.PNBD_NAMES])
    for i in range(4):
        h = 1e-6 * theta[i]
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        numeric = (clv.pareto_nbd_ll(up, x, tx, T, np.ones(4))[0] - clv.pareto_nbd_ll(down, x, tx, T, np.ones(4))[0]) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_pareto_nbd_expectations_by_hand():
    # E[Y(t) | alive at T] = (r+x)(β+T)/((α+T)(s−1)) [1 − ((β+T)/(β+T+t))^(s−1)]; at s = 2, r = 1,
    # α = β = 1, x = 1, T = 1, t = 2: 2·2/(2·1)·(1 − 2/4) = 1; at s = 1 its limit
    # (r+x)(β+T)/(α+T) ln((β+T+t)/(β+T)) = 2 ln 2
    m = clv.ParetoNBD(clv.Fit({"r": 1.0, "alpha": 1.0, "s": 2.0, "beta": 1.0}, {}, 0.0, True, "", 0))
    assert m._if_alive(np.array([2.0]), np.array([1.0]), np.array([1.0]))[0] == pytest.approx(1.0)
    m1 = clv.ParetoNBD(clv.Fit({"r": 1.0, "alpha": 1.0, "s": 1.0, "beta": 1.0}, {}, 0.0, True, "", 0))
    assert m1._if_alive(np.array([2.0]), np.array([1.0]), np.array([1.0]))[0] == pytest.approx(2 * math.log(2))
    # a new customer: rβ/(α(s−1)) [1 − (β/(β+t))^(s−1)] = 1·1/(1·1)·(1 − 1/3) at t = 2
    assert m.expected_number_of_purchases_up_to_time(2.0) == pytest.approx(2 / 3)


@needs_cdnow
def test_mbg_nbd_reproduces_btydplus(summary):
    # BTYDplus's MBG/NBD on CDNOW (as lifetimes' tests quote it): r = 0.525, α = 6.183, a = 0.891, b = 1.614
    m = clv.ModifiedBetaGeometricNBD.fit(summary["frequency"], summary["recency"], summary["T"])
    for name, published in (("r", 0.525), ("alpha", 6.183), ("a", 0.891), ("b", 1.614)):
        assert m.params[name] == pytest.approx(published, abs=0.0015), name
    # a one-time buyer may have left too, unlike in BG/NBD
    assert m.conditional_probability_alive(0, 0, 38.86) < 1


def test_mbg_nbd_likelihood_by_hand():
    # r = α = a = b = 1. x = 0, t_x = 0, T = 1: B(1, 2)/B(1, 1) · 1 · [2^−1 + 1/1 · 1^−1] = ½ · 1.5 = 0.75;
    # x = 1, t_x = 1, T = 2: B(1, 3)/B(1, 1) · Γ(2)/Γ(1) · [3^−2 + ½ · 2^−2] = ⅓ · 17/72 = 17/216
    ll, _ = clv.mbgnbd_ll(np.ones(4), np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([1.0, 2.0]), np.ones(2))
    assert ll == pytest.approx(math.log(0.75) + math.log(17 / 216), rel=1e-12)
    # P(alive) = 1/(1 + a/(b+x) ((α+T)/(α+t_x))^(r+x)): x = 0, T = 1 → 1/(1 + 2) = ⅓
    m = clv.ModifiedBetaGeometricNBD(clv.Fit({"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}, {}, 0.0, True, "", 0))
    assert m.conditional_probability_alive(0, 0, 1) == pytest.approx(1 / 3)


@pytest.mark.parametrize("kind", [clv.ParetoNBD, clv.ModifiedBetaGeometricNBD])
def test_the_new_models_refuse_degenerate_fits(kind):
    with pytest.raises(clv.DegenerateFit, match=f"{re.escape(kind.title)}: too few customers to fit: 3 customers"):
        kind.fit([0, 1, 2], [0.0, 5.0, 10.0], [10.0, 20.0, 30.0])
    with pytest.raises(clv.DegenerateFit, match="reached the (upper|lower) bound"):
        kind.fit([2] * 200, [10.0] * 200, [20.0] * 200)


@pytest.mark.parametrize("kind, names", [(clv.ParetoNBD, clv.PNBD_NAMES), (clv.ModifiedBetaGeometricNBD, clv.MBG_NAMES),
                                         (clv.BetaGeometricNBD, clv.BG_NAMES)])
@given(data=st.data())
def test_every_model_keeps_probabilities_in_range_and_purchases_growing(kind, names, data):
    p = {n: data.draw(st.floats(0.05, 30) if n in ("r", "a", "b", "s") else st.floats(0.1, 200), label=n)
         for n in names}
    x = data.draw(st.integers(0, 200), label="x")
    T = data.draw(st.floats(0, 200), label="T")
    tx = data.draw(st.floats(0, 1), label="share") * T
    t1, t2 = sorted(data.draw(st.tuples(st.floats(0, 1e4), st.floats(0, 1e4)), label="t"))
    m = kind(clv.Fit(p, {}, 0.0, True, "", 0))
    alive = m.conditional_probability_alive(x, tx, T)
    assert 0.0 <= alive <= 1.0
    e = m.conditional_expected_number_of_purchases_up_to_time(np.array([t1, t2]), x, tx, T)
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert e[1] >= e[0] * (1 - 1e-9)
    new = m.expected_number_of_purchases_up_to_time(np.array([t1, t2]))
    assert np.all(np.isfinite(new)) and new[1] >= new[0] * (1 - 1e-9) and new[0] >= 0


@needs_cdnow
def test_compare_ranks_every_model_on_the_holdout(transactions):
    table, warnings = clv.compare(transactions, calibration_end=date(1997, 9, 30), holdout_end=date(1998, 6, 30))
    assert sorted(table["model"]) == ["bgnbd", "mbg-nbd", "pareto-nbd"]
    assert sorted(table["rank_holdout_mae"]) == [1, 2, 3] and sorted(table["rank_log_likelihood"]) == [1, 2, 3]
    assert table["holdout_mae"].is_monotonic_increasing  # sorted by the first ranking
    # the MAE of BG/NBD, recomputed customer by customer
    s = clv.summaries(transactions, date(1997, 9, 30), "weeks", date(1998, 6, 30))
    bg = clv.BetaGeometricNBD.fit(s["frequency"], s["recency"], s["T"])
    pred = bg.conditional_expected_number_of_purchases_up_to_time(s["holdout_length"], s["frequency"], s["recency"], s["T"])
    row = table.set_index("model").loc["bgnbd"]
    assert row["holdout_mae"] == pytest.approx(np.mean(np.abs(pred - s["holdout_frequency"])))
    assert row["log_likelihood"] == pytest.approx(-9582.43, abs=0.01)
    ll = table.set_index("model")["log_likelihood"]
    assert ll["pareto-nbd"] == pytest.approx(-9595.0, abs=0.05)
    assert warnings == []


@needs_cdnow
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("model", ["pareto-nbd", "mbg-nbd"])
def test_the_other_models_analyse_cdnow_without_warnings(transactions, model):
    a = clv.analyse(transactions, calibration_end=date(1997, 9, 30), holdout_end=date(1998, 6, 30), model=model,
                    horizon=39)
    assert a.warnings == [] and a.model.option == model
    assert a.customers["p_alive"].between(0, 1).all() and (a.customers["expected_purchases"] >= 0).all()
    t = a.tracking
    assert t["expected_cumulative"].is_monotonic_increasing
    assert t["expected_cumulative"].iloc[-1] == pytest.approx(t["actual_cumulative"].iloc[-1], rel=0.1)


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 30), st.integers(0, 30),
                          st.sampled_from([3.5, 10.0, 27.25, 80.0])), min_size=1, max_size=60),
       st.tuples(*[st.floats(0.05, 20.0)] * 4))
def test_the_likelihoods_gathered_from_distinct_values_are_the_same_floats(rows, theta):
    """A fit evaluates its likelihood on each column's distinct values and gathers
    them (``Distinct``): bit for bit what the same formulas give row by row."""
    x = np.array([r[0] for r in rows], dtype=float)
    T = np.array([max(r[1], r[2]) / 7 for r in rows])
    tx = np.where(x > 0, np.array([min(r[1], r[2]) / 7 for r in rows]), 0.0)
    m = np.array([r[3] for r in rows])
    w = np.ones(len(rows))
    theta4 = np.array(theta)

    def per_row(v):
        d = clv.Distinct(v)
        d.few = False  # every function worked out row by row
        return d

    def gathered(v):
        d = clv.Distinct(v)
        d.few = True  # worked out once per distinct value, then gathered
        return d

    a = clv.bgnbd_ll(theta4, per_row(x), per_row(tx), per_row(T), w)
    b = clv.bgnbd_ll(theta4, gathered(x), gathered(tx), gathered(T), w)
    assert a[0] == b[0] or (math.isnan(a[0]) and math.isnan(b[0]))
    np.testing.assert_array_equal(a[1], b[1])
    if (x > 0).any():
        keep = x > 0
        a = clv.gg_ll(theta4[:3], per_row(x[keep]), per_row(m[keep]), w[keep])
        b = clv.gg_ll(theta4[:3], gathered(x[keep]), gathered(m[keep]), w[keep])
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])


def test_summaries_of_customers_whose_ids_sort_other_than_they_appear():
    """Customers in the order of their ids (as text), each one's purchase days summed
    (two lines of one day are one purchase day; a return line left out), returns and
    lines without a date are no purchase."""
    purchases = pd.DataFrame({
        "customer_id": ["b", "a", "b", "a", "c", "b", "a"],
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-15", "2024-01-03", "2024-01-02",
                                      "2024-01-15", "2024-01-10"]),
        "amount": [10.0, 4.0, 6.0, 1.0, -3.0, 2.0, 5.0],
    })
    s = clv.summaries(purchases, calibration_end=date(2024, 1, 31), unit="days")
    assert s["customer_id"].tolist() == ["a", "b"]  # c only returned
    assert s["frequency"].tolist() == [1, 1]
    assert s["recency"].tolist() == [7.0, 14.0] and s["T"].tolist() == [28.0, 30.0]
    assert s["monetary_value"].tolist() == [5.0, 8.0]  # a's repeat day: 5; b's: 6 + 2


# Order lines (SPEC §1): an order is its lines summed, dated by its earliest line; an
# order whose lines sum below 0 is a return, no purchase. Calibration to 2024-03-31,
# holdout to 2024-06-30, in days.
# A: a1 (10 and -3 in one order: a purchase of 7) on 01-01; a2 (20) and a3 (5) on
#    01-15, one purchase day of 25; a4 (3 and -10: a return) on 02-01; a5 (12) on
#    03-01; a6 (6) on 04-10 in the holdout; a7 a return in the holdout.
# B: b1's lines on 02-10 (8) and 02-12 (4): one order of 12 dated 02-10; b2 (6) 03-20.
# C: a return on 01-05, a first purchase after the calibration: not scored.
# D: one order on the calibration's last day, one on the holdout's.
# E: a large first purchase, then two small ones (their own sum, not a difference).
ORDER_LINES = ("customer_id,order_id,order_date,amount\n"
               "A,a1,2024-01-01,10\nA,a1,2024-01-01,-3\nA,a2,2024-01-15,20\nA,a3,2024-01-15,5\n"
               "B,b1,2024-02-12,4\nB,b1,2024-02-10,8\nA,a4,2024-02-01,3\nA,a4,2024-02-01,-10\n"
               "C,c1,2024-01-05,-9\nA,a5,2024-03-01,12\nB,b2,2024-03-20,6\nD,d1,2024-03-31,4\n"
               "A,a6,2024-04-10,6\nA,a7,2024-05-01,-4\nC,c2,2024-04-02,5\nD,d2,2024-06-30,1\n"
               "E,e1,2024-01-01,100000000000\nE,e2,2024-01-02,0.02\nE,e3,2024-01-03,0.03\n")
ORDER_LINES_BY_HAND = {  # customer: frequency, recency, T, monetary value, holdout purchase days
    "A": (2, 60.0, 90.0, 18.5, 1),  # days 01-01, 01-15, 03-01: (25 + 12) / 2; 04-10 after
    "B": (1, 39.0, 50.0, 6.0, 0),   # days 02-10 (its order's earliest line), 03-20
    "D": (0, 0.0, 0.0, 0.0, 1),
    "E": (2, 2.0, 90.0, 0.025, 0),
}
# the repeat purchase days of A, B, D and E up to the holdout's end, one customer each
ORDER_LINES_REPEATS = ["2024-01-02", "2024-01-03", "2024-01-15", "2024-03-01", "2024-03-20", "2024-04-10",
                       "2024-06-30"]


def order_lines_frame() -> pd.DataFrame:
    import io

    df = pd.read_csv(io.StringIO(ORDER_LINES), dtype={"customer_id": str, "order_id": str})
    return df.assign(order_date=pd.to_datetime(df["order_date"]))


def assert_order_lines_by_hand(s: pd.DataFrame) -> None:
    got = {r.customer_id: (r.frequency, r.recency, r.T, r.monetary_value, r.holdout_frequency)
           for r in s.itertuples()}
    assert got == ORDER_LINES_BY_HAND
    assert s["customer_id"].tolist() == ["A", "B", "D", "E"]
    assert s["holdout_length"].tolist() == [91.0] * 4
    assert [str(d.date()) for d in s["first_purchase"]] == ["2024-01-01", "2024-02-10", "2024-03-31", "2024-01-01"]


def test_summaries_read_orders_not_lines():
    """Formerly each line was a purchase: A's 3 of a return order and B's second line
    (dated apart from its order) made a repeat day each, a return's -3 was left out of
    its order, and a return in the holdout counted in the tracking."""
    df = order_lines_frame()
    s = clv.summaries(df, calibration_end=date(2024, 3, 31), unit="days", holdout_end=date(2024, 6, 30))
    assert_order_lines_by_hand(s)
    # the same from a customer base's orders (the ids coded in another order)
    from retention_cli.model.customers import build_base

    base = build_base(None, df.iloc[::-1].reset_index(drop=True), "inactivity")
    assert base.ids.tolist() != sorted(base.ids.tolist())
    pd.testing.assert_frame_equal(clv.summaries(base, date(2024, 3, 31), "days", date(2024, 6, 30)), s)
    for source in (df, base):
        days, counts, last = clv._orders_source(source).repeats(
            (pd.Timestamp("2024-03-31") - pd.Timestamp("1970-01-01")).days,
            (pd.Timestamp("2024-06-30") - pd.Timestamp("1970-01-01")).days)
        assert [str(d) for d in pd.to_datetime(days, unit="D").date] == ORDER_LINES_REPEATS
        assert counts.tolist() == [1] * 7 and str(pd.to_datetime(last, unit="D").date()) == "2024-06-30"


def test_a_spend_sum_s_last_bits_do_not_move_the_fit():
    """The repeat days' amount is taken to a millionth: sums that differ in their last
    bits (added in another order) give the same monetary values, bit for bit."""
    days = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
    one = pd.DataFrame({"customer_id": "a", "order_date": days, "amount": [5.0, 54.96, 2.76, 75.35, 53.81]})
    other = one.assign(amount=[5.0, 53.81, 75.35, 2.76, 54.96])  # the repeats added the other way round
    end = (pd.Timestamp("2024-01-31") - pd.Timestamp("1970-01-01")).days
    sums = [clv._orders_source(x).history(end, None).repeat_value[0] for x in (one, other)]
    assert sums[0] != sums[1]  # 186.88000000000002 and 186.88
    a, b = (clv.summaries(x, date(2024, 1, 31), "days")["monetary_value"].iloc[0] for x in (one, other))
    assert a == b == 186.88 / 4


def test_small_repeats_after_a_large_first_purchase_keep_their_value():
    """The repeat spend is the later days' amounts added up, not the total less the
    first day's (1e11 + 0.02 + 0.03 - 1e11 is 0.0000152587890625 off)."""
    days = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])
    df = pd.DataFrame({"customer_id": "a", "order_date": days, "amount": [1e11, 0.02, 0.03]})
    s = clv.summaries(df, date(2024, 1, 31), "days")
    assert s["monetary_value"].tolist() == [0.025] and s["frequency"].tolist() == [2]
