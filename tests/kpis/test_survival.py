"""The shifted-beta-geometric model (Fader & Hardie 2007) against the paper's published
fits, its likelihood against a computation by hand on two cohorts, its invariants,
and degenerate fits refused with their reason."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from retention_cli.errors import DataError
from retention_cli.kpis import survival as sv
from retention_cli.kpis.base import ALL
from retention_cli.model.customers import build_base

# Fader & Hardie (2007), "How to project customer retention": a cohort of 1,000 customers,
# those still customers after years 1-7 of the "regular" and the "high end" segment.
REGULAR = [631, 468, 382, 326, 289, 262, 241]
HIGH_END = [869, 743, 653, 593, 551, 517, 491]


def test_regular_segment_reproduces_the_paper():
    m = sv.ShiftedBetaGeometric.fit(sv.RenewalCounts.from_survivors(1000, REGULAR))
    assert m.alpha == pytest.approx(0.704, abs=0.0005)
    assert m.beta == pytest.approx(1.182, abs=0.0005)
    assert m.log_likelihood == pytest.approx(-1680.27, abs=0.005)
    assert m.converged and m.warnings == []
    assert 0 < m.alpha_se < m.alpha and 0 < m.beta_se < m.beta  # from the analytic Hessian


def test_high_end_segment_reproduces_the_paper():
    m = sv.ShiftedBetaGeometric.fit(sv.RenewalCounts.from_survivors(1000, HIGH_END))
    assert m.alpha == pytest.approx(0.668, abs=0.0005)
    assert m.beta == pytest.approx(3.806, abs=0.0005)


def test_standard_errors_are_the_inverse_of_the_curvature():
    # the Hessian by finite differences of the log-likelihood, against the analytic one
    counts = sv.RenewalCounts.from_survivors(1000, REGULAR)
    m = sv.ShiftedBetaGeometric.fit(counts)
    ll = lambda a, b: sv.ShiftedBetaGeometric(a, b).log_likelihood_of(counts)  # noqa: E731
    h = 1e-4
    a, b = m.alpha, m.beta
    haa = (ll(a + h, b) - 2 * ll(a, b) + ll(a - h, b)) / h ** 2
    hbb = (ll(a, b + h) - 2 * ll(a, b) + ll(a, b - h)) / h ** 2
    hab = (ll(a + h, b + h) - ll(a + h, b - h) - ll(a - h, b + h) + ll(a - h, b - h)) / (4 * h * h)
    cov = np.linalg.inv(-np.array([[haa, hab], [hab, hbb]]))
    assert m.alpha_se == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-3)
    assert m.beta_se == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-3)


# --- two cohorts, worked by hand -----------------------------------------------------------------

def _customers(rows: list[tuple[str, str | None]], plan: list[str] | None = None) -> pd.DataFrame:
    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(rows))],
                       "signup_date": pd.to_datetime([r[0] for r in rows]),
                       "churn_date": pd.to_datetime([r[1] for r in rows])})
    if plan is not None:
        df["plan"] = plan
    return df


# Cohort 2024-01, 20 customers: 2 leave in January itself, 4 in February, 4 in March,
# 10 stay. Cohort 2024-02, 10 customers: 4 leave in March, 6 stay. The data end is
# 2024-04-01, so March is the last complete month: the January cohort is seen to
# offset 2, the February one to offset 1.
TWO_COHORTS = ([("2024-01-05", "2024-01-20")] * 2 + [("2024-01-10", "2024-02-15")] * 4
               + [("2024-01-31", "2024-03-31")] * 4 + [("2024-01-15", None)] * 10
               + [("2024-02-01", "2024-03-01")] * 4 + [("2024-02-29", None)] * 6)


def test_two_cohorts_by_hand():
    base = build_base(_customers(TWO_COHORTS), None, "contract")
    a = sv.analyse(base, freq="month", data_end=date(2024, 4, 1), horizon=2)
    counts = a.counts[ALL]
    # renewal 1: the January cohort's 2 + 4 (a loss in the signup month counts at the
    # first renewal) and the February cohort's 4; renewal 2: the January cohort's 4
    assert counts.lost.tolist() == [10, 4]
    # censored: the February cohort's 6 after renewal 1, the January cohort's 10 after 2
    assert counts.censored.tolist() == [0, 6, 10]
    # at α = 1, β = 2: P(1) = α/(α+β) = 1/3, P(2) = β/(α+β+1)·P(1) = 1/6,
    # S(1) = 2/3, S(2) = 1/2, so LL = 10 ln(1/3) + 4 ln(1/6) + 6 ln(2/3) + 10 ln(1/2)
    by_hand = 10 * math.log(1 / 3) + 4 * math.log(1 / 6) + 6 * math.log(2 / 3) + 10 * math.log(1 / 2)
    assert sv.ShiftedBetaGeometric(1.0, 2.0).log_likelihood_of(counts) == pytest.approx(by_hand, rel=1e-12)
    # the fit is the maximum of that sum: its log-likelihood, recomputed from the Beta
    # functions, is above every neighbour's
    m = a.models[ALL]

    def direct(al, be):
        lb = math.lgamma(al) + math.lgamma(be) - math.lgamma(al + be)
        B = lambda x, y: math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)  # noqa: E731
        return (10 * (B(al + 1, be) - lb) + 4 * (B(al + 1, be + 1) - lb)
                + 6 * (B(al, be + 1) - lb) + 10 * (B(al, be + 2) - lb))

    assert m.log_likelihood == pytest.approx(direct(m.alpha, m.beta), rel=1e-12)
    for da, db in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):
        assert direct(m.alpha * (1 + da), m.beta * (1 + db)) < m.log_likelihood
    # the observed curve is a life table: renewal 1: 30 at risk, 10 lost; renewal 2: the
    # January cohort only, its 20 − 6 = 14 at risk, 4 lost
    c = a.curve.set_index("offset")
    assert c.loc[1, "at_risk"] == 30 and c.loc[1, "lost"] == 10
    assert c.loc[2, "at_risk"] == 14 and c.loc[2, "lost"] == 4
    assert c.loc[2, "survival_observed"] == pytest.approx((20 / 30) * (10 / 14))
    assert c.loc[2, "retention_fitted"] == pytest.approx((m.beta + 1) / (m.alpha + m.beta + 1))
    assert c["projected"].tolist() == [False, False, False, True, True]  # 2 periods past the longest tenure
    assert c.loc[4, "survival_observed"] is None or np.isnan(c.loc[4, "survival_observed"])
    # the cohort table: the share of each cohort still a customer at each month end
    t = a.cohorts.set_index(["cohort", "offset"])
    assert t.loc[("2024-01", 0), "alive"] == 18 and t.loc[("2024-01", 2), "alive"] == 10
    assert t.loc[("2024-02", 1), "survival"] == pytest.approx(0.6)
    assert ("2024-02", 2) not in t.index  # March was the February cohort's last complete month


def test_segments_are_fitted_apart():
    plan = ["a", "b"] * 15
    base = build_base(_customers(TWO_COHORTS, plan), None, "contract")
    a = sv.analyse(base, freq="month", data_end=date(2024, 4, 1), by=["plan"])
    assert a.parameters["plan"].tolist() == [ALL, "a", "b"]
    # 15 customers per plan: below the 20 a fit needs, so the segments are left empty
    # with a warning while the whole base is fitted
    assert a.parameters["alpha"].iloc[0] is not None and a.parameters["alpha"].iloc[1:].isna().all()
    assert any("sBG for a: too few customers" in w for w in a.warnings)
    assert (a.counts["a"].lost + a.counts["b"].lost).tolist() == a.counts[ALL].lost.tolist()


def test_derl_against_the_hypergeometric_form():
    # Fader & Hardie (2010): DERL = (β+n−1)/(α+β+n−1) · ₂F₁(1, β+n; α+β+n; 1/(1+d))
    m = sv.ShiftedBetaGeometric(0.704, 1.182)
    for renewals in (0, 1, 6):
        n = renewals + 1
        closed = (m.beta + n - 1) / (m.alpha + m.beta + n - 1) * special.hyp2f1(1, m.beta + n, m.alpha + m.beta + n,
                                                                              1 / 1.1)
        assert m.discounted_expected_residual_lifetime(0.10, renewals)[0] == pytest.approx(closed, rel=1e-10)
    # without discounting: the mean residual lifetime (β+n−1)/(α−1), infinite when α ≤ 1
    assert sv.ShiftedBetaGeometric(3.0, 4.0).discounted_expected_residual_lifetime(0.0, 2)[0] == pytest.approx(6 / 2)
    assert np.isnan(m.discounted_expected_residual_lifetime(0.0, 0)[0])
    assert sv.periodic_discount_rate(0.10, "month") == pytest.approx(1.1 ** (1 / 12) - 1)
    assert sv.ShiftedBetaGeometric(3.0, 4.0).expected_lifetime() == pytest.approx(3.0)  # (α+β−1)/(α−1) = 6/2
    assert m.expected_lifetime() is None
    assert m.median_lifetime() == 2  # S(1) = 0.627 > ½ ≥ S(2) = 0.474


@given(alpha=st.floats(0.01, 100), beta=st.floats(0.01, 100), t=st.integers(1, 500))
def test_survival_falls_and_retention_rises(alpha, beta, t):
    m = sv.ShiftedBetaGeometric(alpha, beta)
    s = m.survival(np.array([t - 1, t, t + 1]))
    assert s[0] >= s[1] >= s[2] >= 0 and m.survival(0) == pytest.approx(1.0)
    r = m.retention_rate(np.array([t, t + 1]))
    assert 0 <= r[0] <= r[1] <= 1
    if s[0] > 1e-250:  # r_t = S(t)/S(t−1) where S(t−1) is a number
        assert r[0] == pytest.approx(s[1] / s[0], rel=1e-8)
    # the loss at t is what leaves the survivors: S(t−1) − S(t) = P(T = t)
    assert m.churn_probability(t) == pytest.approx(s[0] - s[1], rel=1e-6, abs=1e-300)


# --- degenerate fits are refused with the reason --------------------------------------------------

def test_a_fit_without_losses_is_refused():
    with pytest.raises(sv.DegenerateFit, match="no customer was lost") as e:
        sv.ShiftedBetaGeometric.fit(sv.RenewalCounts.from_survivors(100, [100, 100, 100]))
    assert e.value.exit_code == 65


def test_one_renewal_cannot_tell_how_retention_changes():
    with pytest.raises(sv.DegenerateFit, match="only the first renewal is observed"):
        sv.ShiftedBetaGeometric.fit(sv.RenewalCounts.from_survivors(100, [60]))


def test_everyone_lost_and_too_few_are_refused():
    with pytest.raises(sv.DegenerateFit, match="every customer was lost"):
        sv.ShiftedBetaGeometric.fit(sv.RenewalCounts.from_survivors(100, [50, 0]))
    with pytest.raises(sv.DegenerateFit, match="too few customers to fit: 19"):
        sv.ShiftedBetaGeometric.fit(sv.RenewalCounts.from_survivors(19, [10, 5]))


def test_a_constant_retention_rate_runs_beta_to_the_bound():
    # the same share, 1/2, lost at every renewal: one θ for everybody, no heterogeneity,
    # so α and β grow without end (their ratio fixed) until the search stops them
    with pytest.raises(sv.DegenerateFit, match="reached the upper bound"):
        sv.ShiftedBetaGeometric.fit(sv.RenewalCounts.from_survivors(2 ** 12, [2 ** (12 - k) for k in range(1, 9)]))


def test_the_inputs_are_not_modified():
    df = _customers(TWO_COHORTS)
    before = df.copy()
    base = build_base(df, None, "contract")
    signup = base.signup.copy()
    sv.analyse(base, freq="month", data_end=date(2024, 4, 1))
    pd.testing.assert_frame_equal(df, before)
    assert np.array_equal(base.signup, signup)


def test_a_single_complete_period_is_refused_not_a_crash():
    # every signup in January, data to the end of January: offset 0 only, no renewal seen
    rows = [("2024-01-05", None)] * 30 + [("2024-01-06", "2024-01-20")] * 10
    base = build_base(_customers(rows), None, "contract")
    with pytest.raises(sv.DegenerateFit, match="no renewal observed yet"):
        sv.analyse(base, freq="month", data_end=date(2024, 2, 1))
    # and nothing complete after the first signup at all
    with pytest.raises(DataError, match="no complete month after the first signup"):
        sv.analyse(base, freq="month", data_end=date(2024, 1, 25))
