"""Survival of subscribers (SPEC §4.8): the cohort survival table of the contract model
and the shifted-beta-geometric model (sBG) of Fader & Hardie (2007), "How to project
customer retention", Journal of Interactive Marketing 21(1):76–90.

The sBG story: at each renewal opportunity a customer leaves with his own probability
θ, the same every time (a geometric lifetime); θ varies between customers as a
Beta(α, β). The survivors of a cohort are ever more those with a small θ, so the
cohort's retention rate rises with tenure even though no customer's own does.

Time: a cohort is the customers who signed up in one period (offset 0); the end of
each later period is a renewal opportunity (offset t = 1, 2, …). A customer lost
during the signup period counts as lost at the first renewal, so the model's S(0) is
1. Each cohort is observed up to its last complete period (its survivors there are
censored), and every cohort is fitted at once: the likelihood needs only the losses
per renewal and the survivors per censoring offset, summed over cohorts, so the fit
costs the same for a thousand customers as for ten million.

Pure functions and a small model object: no files, no clock, no printing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import optimize, special

from retention_cli.errors import DataError
from retention_cli.kpis.base import ALL, ratio, segment_codes
from retention_cli.model.customers import NEVER, Base
from retention_cli.periods import Period, bounds_days, period_containing, series, to_day

# Period length in years, for the per-period discount rate (1 + annual)^years − 1.
PERIOD_YEARS = {"week": 7 / 365.25, "month": 1 / 12, "quarter": 1 / 4, "year": 1.0}

# The search is bounded as the CLV models' is (BTYD's max.param.value, 10,000, and
# symmetrically below): an estimate on a bound is a degenerate fit, refused.
BOUND = 1e4
_AT_BOUND = math.log(1.01)
# Ten observations per estimated parameter (Peduzzi et al. 1996), as for the CLV
# models: 20 customers observed at one renewal at least.
MIN_CUSTOMERS = 20


class DegenerateFit(DataError):
    """An sBG fit the data cannot support: too few customers or renewals observed, no
    loss or no survivor, or an estimate on a bound of the search (exit 65)."""


@dataclass(frozen=True)
class RenewalCounts:
    """What the sBG likelihood needs from any number of cohorts: lost[t − 1] customers
    lost at renewal t (t = 1 … K), and censored[t] still customers when last observed,
    at offset t (t = 0 … K; those at 0 say nothing and are left out of the fit)."""

    lost: np.ndarray
    censored: np.ndarray

    @classmethod
    def from_survivors(cls, size: int, survivors) -> "RenewalCounts":
        """One cohort of ``size`` customers with ``survivors[t − 1]`` still customers
        after renewal t (the form the paper's tables take)."""
        alive = np.concatenate([[size], np.asarray(survivors, dtype=float)])
        if np.any(np.diff(alive) > 0) or alive[-1] < 0:
            raise DataError("survivors must not increase, and start at most at the cohort size")
        censored = np.zeros(len(alive))
        censored[-1] = alive[-1]
        return cls(-np.diff(alive), censored)

    @property
    def customers(self) -> float:
        return float(self.lost.sum() + self.censored[1:].sum())


@dataclass
class ShiftedBetaGeometric:
    """The sBG model fitted by maximum likelihood (Fader & Hardie 2007): α, β with
    standard errors from the inverse of the observed information (the analytic
    Hessian), the log-likelihood, and the quantities the paper derives."""

    alpha: float
    beta: float
    alpha_se: float = float("nan")
    beta_se: float = float("nan")
    log_likelihood: float = float("nan")
    converged: bool = True
    warnings: list[str] = field(default_factory=list)

    # --- the model -------------------------------------------------------------------
    def churn_probability(self, t) -> np.ndarray:
        """P(T = t | α, β) = B(α + 1, β + t − 1) / B(α, β), t = 1, 2, …: the share of a
        cohort lost at renewal t (Fader & Hardie 2007, the sBG probability mass)."""
        t = np.asarray(t, dtype=float)
        a, b = self.alpha, self.beta
        return np.exp(special.betaln(a + 1, b + t - 1) - special.betaln(a, b))

    def survival(self, t) -> np.ndarray:
        """S(t | α, β) = B(α, β + t) / B(α, β), t = 0, 1, …: the share of a cohort
        still customers after renewal t (Fader & Hardie 2007, the sBG survivor
        function). Non-increasing in t, 1 at t = 0."""
        t = np.asarray(t, dtype=float)
        a, b = self.alpha, self.beta
        return np.exp(special.betaln(a, b + t) - special.betaln(a, b))

    def retention_rate(self, t) -> np.ndarray:
        """r_t = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1), t = 1, 2, … (Fader &
        Hardie 2007, the retention rate of the sBG): rises with t towards 1."""
        t = np.asarray(t, dtype=float)
        return (self.beta + t - 1) / (self.alpha + self.beta + t - 1)

    def expected_lifetime(self) -> float | None:
        """E[T] = (α + β − 1) / (α − 1) periods of a new customer: the mean of the
        shifted beta-geometric (E[1/θ] under the beta). Infinite when α ≤ 1, when the
        customers who almost never leave are enough to make the mean diverge: None."""
        a, b = self.alpha, self.beta
        return (a + b - 1) / (a - 1) if a > 1 else None

    def median_lifetime(self, longest: int = 100_000) -> int | None:
        """The smallest t with S(t) ≤ ½: half of a new cohort has left by renewal t
        (None when that is more than ``longest`` periods away)."""
        lo, hi = 0, 1
        while self.survival(hi) > 0.5:  # doubling, then bisection: S is non-increasing
            if hi >= longest:
                return None
            lo, hi = hi, min(2 * hi, longest)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.survival(mid) > 0.5 else (lo, mid)
        return hi

    def discounted_expected_residual_lifetime(self, d: float, renewals=0) -> np.ndarray:
        """DERL(d | α, β, n − 1 = renewals): the expected number of renewals still to
        come of a customer who has made ``renewals`` of them, each discounted at d per
        period, the next one undiscounted (Fader & Hardie 2010, "Customer-base
        valuation in a contractual setting: the perils of ignoring heterogeneity",
        Marketing Science 29(1):85–93):
            DERL = B(α, β + n) / B(α, β + n − 1) · ₂F₁(1, β + n; α + β + n; 1/(1 + d)).
        Evaluated as its series Σⱼ S(n + j)/S(n − 1) / (1 + d)ʲ, whose terms are all
        positive (no cancellation, no hypergeometric near z = 1); None (NaN) where it
        diverges: d = 0 and α ≤ 1. One value per element of ``renewals``. Times the
        margin per period, a customer's residual value."""
        n = np.atleast_1d(np.asarray(renewals, dtype=float)) + 1
        a, b = self.alpha, self.beta
        if d <= 0:
            return (b + n - 1) / (a - 1) if a > 1 else np.full(len(n), np.nan)
        # terms until (1 + d)^−j < 1e-17: the rest cannot move the sum
        J = int(math.ceil(17 * math.log(10) / math.log1p(d))) + 1
        j = np.arange(J, dtype=float)
        out = np.empty(len(n))
        step = max(1, (1 << 22) // J)
        for i in range(0, len(n), step):  # blocks of offsets × terms, a few MB each
            nn = n[i:i + step, None]
            log_terms = special.betaln(a, b + nn + j) - special.betaln(a, b + nn - 1) - j * math.log1p(d)
            out[i:i + step] = np.exp(log_terms).sum(axis=1)
        return out

    # --- fitting ---------------------------------------------------------------------
    @classmethod
    def fit(cls, counts: RenewalCounts, what: str = "sBG") -> "ShiftedBetaGeometric":
        """Maximum likelihood on the losses per renewal and the survivors per censoring
        offset of any number of cohorts (Fader & Hardie 2007, the log-likelihood
        Σ_t n_t ln P(T = t) + Σ_t c_t ln S(t)). Raises DegenerateFit with the reason
        when the data cannot determine α and β."""
        lost = np.asarray(counts.lost, dtype=float)
        cens = np.asarray(counts.censored, dtype=float)
        K = len(lost)
        t_lost = np.arange(1, K + 1, dtype=float)
        t_cens = np.arange(len(cens), dtype=float)
        keep_l, keep_c = lost > 0, (cens > 0) & (t_cens > 0)
        n_l, t_l, n_c, t_c = lost[keep_l], t_lost[keep_l], cens[keep_c], t_cens[keep_c]
        customers = float(n_l.sum() + n_c.sum())
        longest = int(max(t_l.max(initial=0), t_c.max(initial=0)))
        if longest == 0:
            raise DegenerateFit(f"{what}: no renewal observed yet: every cohort signed up in the last complete "
                                "period, so nobody has had the chance to renew")
        if customers < MIN_CUSTOMERS:
            raise DegenerateFit(f"{what}: too few customers to fit: {customers:,.0f} observed at one renewal at "
                                f"least; the model needs {MIN_CUSTOMERS}")
        if longest < 2:
            raise DegenerateFit(f"{what}: only the first renewal is observed: one retention rate cannot tell "
                                "how it changes with tenure (α and β); wait for a second complete period")
        if not len(n_l):
            raise DegenerateFit(f"{what}: no customer was lost in the periods observed: there is no churn to model")
        if not len(n_c):
            raise DegenerateFit(f"{what}: every customer was lost: no survivor tells how long the others stay")

        def ll_grad(z):
            a, b = np.exp(z)
            lb = special.betaln(a, b)
            ll = np.dot(n_l, special.betaln(a + 1, b + t_l - 1) - lb) + np.dot(n_c, special.betaln(a, b + t_c) - lb)
            dab, da, db = special.digamma(a + b), special.digamma(a), special.digamma(b)
            ga = (np.dot(n_l, special.digamma(a + 1) - special.digamma(a + b + t_l)) +
                  np.dot(n_c, da - special.digamma(a + b + t_c)) - customers * (da - dab))
            gb = (np.dot(n_l, special.digamma(b + t_l - 1) - special.digamma(a + b + t_l)) +
                  np.dot(n_c, special.digamma(b + t_c) - special.digamma(a + b + t_c)) - customers * (db - dab))
            return ll, np.array([ga * a, gb * b])  # in log-parameters

        def neg(z):
            ll, g = ll_grad(z)
            if not (np.isfinite(ll) and np.all(np.isfinite(g))):
                return 1e300, np.zeros(2)
            return -ll, -g

        lo, hi = -math.log(BOUND), math.log(BOUND)
        best = None
        # starts: the method of moments of the first two retention rates, and the flat prior
        for start in ((1.0, 1.0), (0.5, 2.0), (2.0, 0.5)):
            res = optimize.minimize(neg, np.log(start), jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * 2,
                                    options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-15})
            if best is None or res.fun < best.fun:
                best = res
        a, b = np.exp(best.x)
        if not np.isfinite(best.fun) or best.fun >= 1e300:
            raise DegenerateFit(f"{what}: the fit is degenerate: its log-likelihood is not finite")
        on_bound = [(n, v, "upper" if z > 0 else "lower") for n, v, z in (("α", a, best.x[0]), ("β", b, best.x[1]))
                    if hi - abs(z) < _AT_BOUND]
        if on_bound:
            said = "; ".join(f"{n} = {v:.4g} reached the {side} bound of the search" for n, v, side in on_bound)
            raise DegenerateFit(f"{what}: the fit is degenerate: {said} (retention does not change with tenure "
                                "as the model needs: customers are too alike, or too few periods are observed)")
        model = cls(float(a), float(b), log_likelihood=-float(best.fun))
        H = model._hessian(n_l, t_l, n_c, t_c, customers)
        try:
            cov = np.linalg.inv(-H)
            se = np.sqrt(np.diag(cov)) if np.all(np.diag(cov) > 0) else np.full(2, np.nan)
        except np.linalg.LinAlgError:
            se = np.full(2, np.nan)
        model.alpha_se, model.beta_se = float(se[0]), float(se[1])
        if not np.all(np.isfinite(se)):
            model.warnings.append(f"{what}: the likelihood is not curved at the estimate: no standard errors")
        grad = np.max(np.abs(ll_grad(best.x)[1])) / customers
        model.converged = bool(best.success) or grad < 1e-7
        if not model.converged:
            model.warnings.append(f"{what}: the fit did not converge ({best.message}); its projections are not reliable")
        return model

    def _hessian(self, n_l, t_l, n_c, t_c, customers) -> np.ndarray:
        """Second derivatives of the log-likelihood in (α, β), from trigamma."""
        a, b = self.alpha, self.beta
        tg = lambda v: special.polygamma(1, v)  # noqa: E731
        tab = tg(a + b)
        haa = (np.dot(n_l, tg(a + 1) - tg(a + b + t_l)) + np.dot(n_c, tg(a) - tg(a + b + t_c))
               - customers * (tg(a) - tab))
        hbb = (np.dot(n_l, tg(b + t_l - 1) - tg(a + b + t_l)) + np.dot(n_c, tg(b + t_c) - tg(a + b + t_c))
               - customers * (tg(b) - tab))
        hab = -np.dot(n_l, tg(a + b + t_l)) - np.dot(n_c, tg(a + b + t_c)) + customers * tab
        return np.array([[haa, hab], [hab, hbb]])

    def log_likelihood_of(self, counts: RenewalCounts) -> float:
        """The log-likelihood of ``counts`` at this model's α, β (the sum the fit maximises)."""
        t = np.arange(1, len(counts.lost) + 1)
        tc = np.arange(len(counts.censored))
        keep = tc > 0
        with np.errstate(divide="ignore"):
            return float(np.dot(counts.lost, np.log(self.churn_probability(t)))
                         + np.dot(counts.censored[keep], np.log(self.survival(tc[keep]))))


# --- the cohort survival table and the fits per segment -------------------------------------

CURVE_COLUMNS = ["offset", "projected", "at_risk", "lost", "survival_observed", "survival_fitted",
                 "retention_observed", "retention_fitted", "derl"]
PARAMETER_COLUMNS = ["cohorts", "customers", "lost", "longest_offset", "alpha", "alpha_se", "beta", "beta_se",
                     "log_likelihood", "expected_lifetime", "median_lifetime", "derl_new_customer",
                     "retention_fitted_next", "converged"]
COHORT_COLUMNS = ["cohort", "offset", "cohort_size", "alive", "survival", "survival_fitted"]
SURVIVAL_RATIOS = ("survival_observed", "survival_fitted", "retention_observed", "retention_fitted", "survival",
                   "retention_fitted_next")


@dataclass
class Analysis:
    curve: pd.DataFrame        # per segment × offset: observed, fitted and projected survival
    parameters: pd.DataFrame   # per segment: α, β, standard errors, log-likelihood, lifetimes
    cohorts: pd.DataFrame      # per cohort (× segment) × offset: the observed survival table
    models: dict               # segment label ("(all)" or the values joined) -> ShiftedBetaGeometric | None
    counts: dict               # segment label -> RenewalCounts (what the fit saw)
    periods: list[Period]      # the signup periods, first to the last complete one
    discount_rate: float       # per period
    warnings: list[str]


def periodic_discount_rate(annual: float, freq: str) -> float:
    """(1 + annual)^(period in years) − 1: the rate per period that compounds to ``annual``."""
    return (1 + annual) ** PERIOD_YEARS[freq] - 1


def analyse(base: Base, *, freq: str, data_end: date, horizon: int = 12, annual_discount_rate: float = 0.10,
            by: list[str] | None = None, cohorts: list[Period] | None = None) -> Analysis:
    """Cohorts by signup period (``freq``), each followed to the last complete period
    before ``data_end``; the sBG fitted on all of them, overall and per ``by`` segment
    (customers attributes); the curve projected ``horizon`` periods past the longest
    observed offset. ``cohorts``: only customers who signed up in these periods (all
    by default; their signup periods of ``freq`` are the cohorts). Raises DegenerateFit (65) when the overall fit is degenerate; a
    segment's degenerate fit is left empty with a warning."""
    by = by or []
    if base.signup is None:
        raise DataError("survival needs customers with signup_date and churn_date")
    last = period_containing(data_end - timedelta(days=1), freq)
    if not last.complete(data_end):
        last = last.shift(-1)
    has = base.signup < NEVER
    if not has.any():
        raise DataError("survival: no customer has a signup_date")
    first = period_containing(date.fromordinal(date(1970, 1, 1).toordinal() + int(base.signup[has].min())), freq)
    warnings: list[str] = []
    if first.start > last.start:
        raise DataError(f"survival: no complete {freq} after the first signup ({first.label}); the data ends on "
                        f"{data_end - timedelta(days=1)}")
    periods = series(first, last)
    P = len(periods)
    starts, ends = bounds_days(periods)
    signup = np.where(has, base.signup, -1)
    c = np.searchsorted(ends, signup, side="right")          # the period holding the signup day
    inside = has & (signup >= starts[0]) & (c < P)
    if cohorts is not None:  # signups within the chosen span (a series of periods of any length)
        inside &= (signup >= min(to_day(p.start) for p in cohorts)) & (signup < max(to_day(p.end) for p in cohorts))
    later = int((has & (c >= P)).sum())
    if later:
        warnings.append(f"{later:,} customers signed up in the incomplete period after {last.label}: not in a cohort yet")
    churn = base.churn
    # the period of the loss (P: not lost by the end of the last complete period)
    j = np.where(churn < to_day(last.end), np.searchsorted(ends, churn, side="right"), P)
    k = np.where(inside, np.maximum(j - c, 0), 0)            # offset of the loss; churn before signup: at 0
    lost_by_end = j < P
    seg, seg_labels = segment_codes(base, by)
    n_seg = len(seg_labels) if by else 0
    d = periodic_discount_rate(annual_discount_rate, freq)

    # counts[s, c, k]: members of cohort c lost at offset k (k = P: not lost); one bincount
    blocks = [(None, inside)] + [(s, inside & (seg == s)) for s in range(n_seg)]
    cells = np.zeros((n_seg + 1, P, P + 1))
    kk = np.where(lost_by_end, k, P)
    for i, (_, member) in enumerate(blocks):
        cells[i] = np.bincount(c[member] * (P + 1) + kk[member], minlength=P * (P + 1)).reshape(P, P + 1)

    horizon_end = (P - 1) + horizon  # offsets shown: 0 … longest observed + horizon
    offsets = np.arange(horizon_end + 1)
    curves, params, tables, models, seen = [], [], [], {}, {}
    for i, (s, member) in enumerate(blocks):
        label = ALL if s is None else ", ".join(str(seg_labels.loc[s, b]) for b in by)
        counts, table, at_risk, lost_t, longest = _renewals(cells[i], periods)
        what = "sBG" if s is None else f"sBG for {label}"
        try:
            model = ShiftedBetaGeometric.fit(counts, what)
        except DegenerateFit as e:
            if s is None:
                raise
            warnings.append(f"{e.message}; left empty")
            model = None
        else:
            warnings.extend(model.warnings)
        models[label], seen[label] = model, counts
        curve = _curve(model, at_risk, lost_t, offsets, longest, d)
        par = _parameters(model, table, counts, longest, d)
        if by:
            for f in (curve, par, table):
                for jb, b in enumerate(by):
                    f.insert(jb + (1 if f is table else 0), b, ALL if s is None else seg_labels.loc[s, b])
        table["survival_fitted"] = model.survival(np.maximum(table["offset"].to_numpy(), 0)) if model else np.nan
        curves.append(curve)
        params.append(par)
        tables.append(table.assign(_s=-1 if s is None else s))
    cohort_table = pd.concat(tables, ignore_index=True)
    cohort_table["_c"] = cohort_table["cohort"].map({p.label: n for n, p in enumerate(periods)})
    cohort_table = cohort_table.sort_values(["_c", "_s", "offset"], kind="stable").drop(columns=["_c", "_s"])
    return Analysis(pd.concat(curves, ignore_index=True), pd.concat(params, ignore_index=True),
                    cohort_table.reset_index(drop=True), models, seen, periods, d, warnings)


def _renewals(cells: np.ndarray, periods: list[Period]):
    """From cells[c, k] (members of cohort c lost at offset k, k = P: not lost by the
    end), the sBG counts, the tidy cohort table, and the pooled at-risk and lost
    counts per renewal t (the observed curve: a life table, each cohort at risk up
    to its last complete period)."""
    P = len(periods)
    size = cells.sum(axis=1)
    longest = (P - 1) - np.arange(P)                        # cohort c is observed to offset P − 1 − c
    lost_k = cells[:, :P]
    # alive at the end of offset k: size − lost at 0 … k
    alive = size[:, None] - np.cumsum(lost_k, axis=1)
    observed = np.arange(P)[None, :] <= longest[:, None]
    # renewal t: a loss at offset 0 counts at t = 1
    lost_t = lost_k.copy()
    alive_before = np.concatenate([size[:, None], alive[:, :-1]], axis=1)  # at risk at offset k (k ≥ 1)
    if P > 1:
        lost_t[:, 1] += lost_t[:, 0]
        alive_before[:, 1] = size
    lost_t[:, 0] = 0
    lost_t = np.where(observed, lost_t, 0)
    at_risk = np.where(observed, alive_before, 0).sum(axis=0)
    lost_pool = lost_t.sum(axis=0)
    lost_fit = lost_pool[1:]
    censored = np.zeros(P)
    np.add.at(censored, longest, alive[np.arange(P), longest])
    members = size > 0
    rows_c, rows_k = np.nonzero(observed & members[:, None])
    table = pd.DataFrame({"cohort": [periods[i].label for i in rows_c], "offset": rows_k,
                          "cohort_size": size[rows_c].astype(np.int64),
                          "alive": alive[rows_c, rows_k].astype(np.int64)})
    table["survival"] = ratio(table["alive"].to_numpy(), table["cohort_size"].to_numpy())
    longest_seen = int(np.max(np.flatnonzero(at_risk[1:] > 0) + 1, initial=0))
    return RenewalCounts(lost_fit, censored), table, at_risk, lost_pool, longest_seen


def _curve(model, at_risk, lost_t, offsets, longest, d) -> pd.DataFrame:
    """Per offset: customers at risk and lost (all cohorts observed there pooled), the
    observed survival as a life table (the product of the pooled retention rates), the
    fitted one, the retention rates and the DERL of a customer of that tenure."""
    n = len(offsets)
    P = len(at_risk)
    risk = np.zeros(n)
    lost = np.zeros(n)
    risk[:P], lost[:P] = at_risk, lost_t
    observed = (offsets >= 1) & (offsets <= longest) & (risk > 0)
    retention = np.where(observed, 1 - ratio(lost, risk), np.nan)
    survival = np.cumprod(np.where(offsets == 0, 1.0, retention))
    f = pd.DataFrame({
        "offset": offsets,
        "projected": offsets > longest,
        "at_risk": pd.array(np.where(offsets <= longest, risk, np.nan), dtype="Int64"),
        "lost": pd.array(np.where(offsets <= longest, lost, np.nan), dtype="Int64"),
        "survival_observed": np.where(offsets <= longest, survival, np.nan),
        "survival_fitted": model.survival(offsets) if model else np.nan,
        "retention_observed": retention,
        "retention_fitted": np.where(offsets >= 1, model.retention_rate(np.maximum(offsets, 1)), np.nan)
        if model else np.nan,
        "derl": model.discounted_expected_residual_lifetime(d, offsets) if model else np.nan,
    })
    return f


def _parameters(model, table: pd.DataFrame, counts: RenewalCounts, longest: int, d: float) -> pd.DataFrame:
    sizes = table.drop_duplicates("cohort")["cohort_size"]
    row = {"cohorts": int((sizes > 0).sum()), "customers": int(sizes.sum()), "lost": int(counts.lost.sum()),
           "longest_offset": longest}
    if model is None:
        row.update({k: None for k in PARAMETER_COLUMNS if k not in row})
    else:
        row.update({"alpha": model.alpha, "alpha_se": model.alpha_se, "beta": model.beta, "beta_se": model.beta_se,
                    "log_likelihood": model.log_likelihood, "expected_lifetime": model.expected_lifetime(),
                    "median_lifetime": model.median_lifetime(),
                    "derl_new_customer": float(model.discounted_expected_residual_lifetime(d, 0)[0]),
                    "retention_fitted_next": float(model.retention_rate(longest + 1)),
                    "converged": model.converged})
    return pd.DataFrame([row], columns=PARAMETER_COLUMNS)
