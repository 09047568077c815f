"""Predicted churn and customer value (SPEC §4.6): the BG/NBD model (Fader, Hardie &
Lee 2005, "Counting your customers the easy way", Marketing Science 24(2)) and the
Gamma-Gamma spend model (Fader & Hardie 2013), fitted by maximum likelihood.

Memory is proportional to the number of customers: the likelihood is summed over the
distinct (x, t_x, T) triples, each with its count, and nothing is customers × draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from scipy import optimize, special

from retention_cli.model.customers import day_numbers

UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12}


# --- summaries ------------------------------------------------------------------------------

def summaries(purchases: pd.DataFrame, calibration_end: date, unit: str = "weeks",
              holdout_end: date | None = None) -> pd.DataFrame:
    """Per customer, from purchases up to and including ``calibration_end``:
    frequency (repeat purchase days: several purchases on one day are one, the first
    day is not a repeat), recency (first to last purchase day), T (first purchase
    day to the calibration end), in ``unit``; monetary_value, the mean amount of the
    repeat purchase days; with ``holdout_end``, the repeat purchase days in
    (calibration_end, holdout_end] and the holdout length."""
    cust = purchases["customer_id"].to_numpy()
    day = day_numbers(purchases["order_date"])
    amount = purchases["amount"].to_numpy(dtype=float) if "amount" in purchases else np.zeros(len(cust))
    end = (pd.Timestamp(calibration_end) - pd.Timestamp("1970-01-01")).days
    frame = pd.DataFrame({"cust": cust, "day": day, "amount": amount})
    frame = frame[frame["amount"] >= 0]  # returns are not purchases
    per_day = frame.groupby(["cust", "day"], sort=True)["amount"].sum().reset_index()
    cal = per_day[per_day["day"] <= end]
    g = cal.groupby("cust", sort=True)
    first, last, n_days, total = g["day"].min(), g["day"].max(), g["day"].size(), g["amount"].sum()
    first_amount = cal.drop_duplicates("cust", keep="first").set_index("cust")["amount"]
    u = UNIT_DAYS[unit]
    x = (n_days - 1).astype(np.int64)
    out = pd.DataFrame({
        "customer_id": first.index.to_numpy(),
        "frequency": x.to_numpy(),
        "recency": ((last - first) / u).to_numpy(),
        "T": ((end - first) / u).to_numpy(),
        "monetary_value": np.where(x > 0, (total - first_amount.reindex(first.index)) / x.where(x > 0, 1), 0.0),
        "first_purchase": pd.to_datetime(first.to_numpy(), unit="D"),
    })
    if holdout_end is not None:
        h_end = (pd.Timestamp(holdout_end) - pd.Timestamp("1970-01-01")).days
        hold = per_day[(per_day["day"] > end) & (per_day["day"] <= h_end)]
        counts = hold.groupby("cust").size()
        out["holdout_frequency"] = counts.reindex(out["customer_id"], fill_value=0).to_numpy()
        out["holdout_length"] = (h_end - end) / u
    return out


# --- BG/NBD ---------------------------------------------------------------------------------

BG_NAMES = ("r", "alpha", "a", "b")


@dataclass
class Fit:
    params: dict[str, float]
    se: dict[str, float]
    log_likelihood: float
    converged: bool
    message: str
    starts_tried: int
    warnings: list[str] = field(default_factory=list)


def _compress(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns and how many customers share each."""
    stacked = np.column_stack(cols)
    uniq, counts = np.unique(stacked, axis=0, return_counts=True)
    return [uniq[:, i] for i in range(uniq.shape[1])], counts.astype(float)


def bgnbd_ll(theta: np.ndarray, x, tx, T, w) -> tuple[float, np.ndarray]:
    """Total log-likelihood (weighted) and its gradient in (r, alpha, a, b)."""
    r, alpha, a, b = theta
    has = x > 0
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    A2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    A3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        A4 = np.where(has, np.log(a) - np.log(np.where(has, b + x - 1, 1)) - (r + x) * np.log(alpha + tx), -np.inf)
    L = np.logaddexp(A3, A4)
    ll = A1 + A2 + L
    w3 = np.exp(A3 - L)
    w4 = np.where(has, np.exp(A4 - L), 0.0)
    dr = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + tx)
    dalpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + tx)
    da = special.digamma(a + b) - special.digamma(a + b + x) + w4 / a
    with np.errstate(divide="ignore", invalid="ignore"):
        db = (special.digamma(a + b) + special.digamma(b + x) - special.digamma(b) - special.digamma(a + b + x)
              - np.where(has, w4 / np.where(has, b + x - 1, 1), 0.0))
    grad = np.array([np.dot(w, dr), np.dot(w, dalpha), np.dot(w, da), np.dot(w, db)])
    return float(np.dot(w, ll)), grad


def _fit(ll_grad, starts: list[np.ndarray], names: tuple[str, ...], n_weight: float = 1.0) -> Fit:
    """Maximise in log-parameter space from several starts; keep the best; standard
    errors from the inverse of the Hessian (finite differences of the gradient)."""
    def neg(z):
        theta = np.exp(z)
        ll, g = ll_grad(theta)
        if not np.isfinite(ll):
            return 1e300, np.zeros_like(z)
        return -ll, -g * theta

    best = None
    tried = 0
    for s in starts:
        tried += 1
        res = optimize.minimize(neg, np.log(s), jac=True, method="L-BFGS-B",
                                options={"maxiter": 2000, "gtol": 1e-9, "ftol": 1e-15})
        if best is None or res.fun < best.fun:
            best = res
    theta = np.exp(best.x)
    hess = _hessian(lambda t: ll_grad(t)[1], theta)
    warnings = []
    try:
        cov = np.linalg.inv(-hess)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        if not np.all(np.linalg.eigvalsh(-(hess + hess.T) / 2) > 0):
            warnings.append("the likelihood is not curved at the estimate: standard errors are unreliable")
    except np.linalg.LinAlgError:
        se = np.full(len(theta), np.nan)
        warnings.append("the Hessian is singular: no standard errors")
    loose = [n for n, v, e in zip(names, theta, se) if np.isfinite(e) and e > v]
    if loose:
        warnings.append(f"{', '.join(loose)} poorly determined (standard error larger than the estimate): "
                        "the data shows little variation between customers there")
    # The gradient of a sum over n customers grows with n: judge it per customer, or
    # a fit to a million customers could never pass (its float resolution is ~1e-9 × |LL|).
    grad_norm = float(np.max(np.abs(ll_grad(theta)[1] * theta))) / max(n_weight, 1.0)
    converged = bool(best.success) or grad_norm < 1e-7
    message = "converged" if converged else \
        f"did not converge: {best.message} (largest gradient per customer {grad_norm:.3g})"
    return Fit(dict(zip(names, theta.tolist())), dict(zip(names, se.tolist())), -float(best.fun), converged,
               message, tried, warnings)


def _hessian(grad, theta: np.ndarray) -> np.ndarray:
    k = len(theta)
    H = np.zeros((k, k))
    for i in range(k):
        h = 1e-5 * max(abs(theta[i]), 1e-3)
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        H[:, i] = (grad(up) - grad(down)) / (2 * h)
    return (H + H.T) / 2


BG_STARTS = [np.array(v) for v in ([1.0, 1.0, 1.0, 1.0], [0.25, 4.0, 0.8, 2.5], [0.5, 10.0, 0.5, 5.0], [2.0, 20.0, 2.0, 2.0])]


def fit_bgnbd(frequency, recency, T) -> Fit:
    (x, tx, TT), w = _compress(np.asarray(frequency, float), np.asarray(recency, float), np.asarray(T, float))
    if len(x) == 0:
        raise ValueError("no customers to fit")
    scale = float(np.mean(TT)) or 1.0
    starts = [s * np.array([1, scale / 40 if scale > 0 else 1, 1, 1]) for s in BG_STARTS]
    fit = _fit(lambda th: bgnbd_ll(th, x, tx, TT, w), starts, BG_NAMES, float(w.sum()))
    if np.all(x == 0):
        fit.warnings.append("no customer bought twice: the model cannot tell buying from dying")
    return fit


def p_alive(p: dict[str, float], x, tx, T) -> np.ndarray:
    """P(still alive | x, t_x, T) (Fader, Hardie & Lee 2005, eq. 13)."""
    r, alpha, a, b = (p[k] for k in BG_NAMES)
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(x > 0, a / (b + x - 1) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + tx))), 0.0)
    return 1.0 / (1.0 + odds)


def expected_purchases(p: dict[str, float], t, x, tx, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t (eq. 10)."""
    r, alpha, a, b = (p[k] for k in BG_NAMES)
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    t = np.asarray(t, dtype=float)
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    first = (a + b + x - 1) / (a - 1)
    inner = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(x > 0, a / (b + x - 1) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + tx))), 0.0)
    return first * inner / (1 + odds)


def expected_purchases_new(p: dict[str, float], t) -> np.ndarray:
    """E[X(t)] for a customer who made the first purchase t ago (eq. 9)."""
    r, alpha, a, b = (p[k] for k in BG_NAMES)
    t = np.asarray(t, dtype=float)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def probability_of_purchases(p: dict[str, float], t: float, k_max: int = 10) -> pd.DataFrame:
    """P(X(t) = k), k = 0 … k_max, for a new customer over a span t (eq. 8)."""
    r, alpha, a, b = (p[k] for k in BG_NAMES)
    k = np.arange(k_max + 1, dtype=float)
    lbeta = special.betaln
    log_nb = special.gammaln(r + k) - special.gammaln(r) - special.gammaln(k + 1) + r * np.log(alpha / (alpha + t)) \
        + k * np.log(t / (alpha + t))
    term1 = np.exp(lbeta(a, b + k) - lbeta(a, b) + log_nb)
    cum = np.concatenate([[0.0], np.cumsum(np.exp(log_nb))[:-1]])  # Σ_{j<k} NB(j)
    term2 = np.where(k > 0, np.exp(lbeta(a + 1, b + k - 1) - lbeta(a, b)) * (1 - cum), 0.0)
    return pd.DataFrame({"purchases": k.astype(int), "probability": term1 + term2})


# --- Gamma-Gamma ----------------------------------------------------------------------------

GG_NAMES = ("p", "q", "gamma")


def gg_ll(theta: np.ndarray, x, m, w) -> tuple[float, np.ndarray]:
    p, q, g = theta
    px = p * x
    ll = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(g)
          + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + m * x))
    dp = x * (special.digamma(px + q) - special.digamma(px) + np.log(m) + np.log(x) - np.log(g + m * x))
    dq = special.digamma(px + q) - special.digamma(q) + np.log(g) - np.log(g + m * x)
    dg = q / g - (px + q) / (g + m * x)
    return float(np.dot(w, ll)), np.array([np.dot(w, dp), np.dot(w, dq), np.dot(w, dg)])


def fit_gamma_gamma(frequency, monetary) -> Fit:
    x, m = np.asarray(frequency, float), np.asarray(monetary, float)
    keep = (x > 0) & (m > 0)
    (xx, mm), w = _compress(x[keep], m[keep])
    if len(xx) < 2:
        raise ValueError("fewer than two repeat buyers with a positive spend: no spend model")
    mean = float(np.average(mm, weights=w))
    starts = [np.array([1.0, 1.0, mean]), np.array([5.0, 3.0, mean / 2]), np.array([2.0, 5.0, mean * 2])]
    fit = _fit(lambda th: gg_ll(th, xx, mm, w), starts, GG_NAMES, float(w.sum()))
    corr = float(np.corrcoef(x[keep], m[keep])[0, 1]) if keep.sum() > 2 else np.nan
    fit.params["frequency_monetary_correlation"] = corr
    if abs(corr) > 0.3:
        fit.warnings.append(f"frequency and spend are correlated (r = {corr:.2f}): the Gamma-Gamma model assumes "
                            "they are independent; its spend estimates may be biased")
    return fit


def expected_average_value(p: dict[str, float], x, m) -> np.ndarray:
    """E[M | p, q, γ, x, m̄] (Fader & Hardie 2013, eq. 5); customers without a
    repeat purchase get the population mean pγ/(q − 1)."""
    pp, q, g = p["p"], p["q"], p["gamma"]
    x, m = np.asarray(x, float), np.asarray(m, float)
    return np.where(x > 0, pp * (g + x * m) / (pp * x + q - 1), pp * g / (q - 1))


# --- customer value -------------------------------------------------------------------------

def clv(bg: dict[str, float], gg: dict[str, float] | None, s: pd.DataFrame, *, unit: str, months: int,
        annual_discount_rate: float, gross_margin: float) -> np.ndarray:
    """Σ over the next ``months`` months of (expected purchases in the month) ×
    expected value per purchase × margin, discounted monthly."""
    u = UNIT_DAYS[unit]
    month = (365.25 / 12) / u
    monthly = (1 + annual_discount_rate) ** (1 / 12) - 1
    x, tx, T = s["frequency"].to_numpy(float), s["recency"].to_numpy(float), s["T"].to_numpy(float)
    value = expected_average_value(gg, x, s["monetary_value"].to_numpy(float)) if gg else np.full(len(x), np.nan)
    total = np.zeros(len(x))
    prev = np.zeros(len(x))
    for k in range(1, months + 1):  # one vector step per month of the horizon
        cum = expected_purchases(bg, k * month, x, tx, T)
        total += (cum - prev) * value * gross_margin / (1 + monthly) ** k
        prev = cum
    return total


def holdout_check(bg: dict[str, float], s: pd.DataFrame, max_bucket: int = 7) -> pd.DataFrame:
    """Predicted vs actual repeat purchases in the holdout, per calibration frequency."""
    pred = expected_purchases(bg, s["holdout_length"].to_numpy(float), s["frequency"], s["recency"], s["T"])
    bucket = np.minimum(s["frequency"].to_numpy(), max_bucket)
    f = pd.DataFrame({"bucket": bucket, "actual": s["holdout_frequency"].to_numpy(float), "predicted": pred})
    g = f.groupby("bucket").agg(customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean"))
    g = g.reset_index()
    g["frequency"] = [f"{int(b)}+" if b == max_bucket else str(int(b)) for b in g["bucket"]]
    return g[["frequency", "customers", "actual", "predicted"]]


def tracking(bg: dict[str, float], purchases: pd.DataFrame, s: pd.DataFrame, unit: str, step_days: int = 7) -> pd.DataFrame:
    """Cumulative repeat purchases of the cohort, actual and expected, every
    ``step_days`` from the first purchase of the data (the tracking chart)."""
    first = day_numbers(s["first_purchase"])
    day = day_numbers(purchases["order_date"])
    frame = pd.DataFrame({"cust": purchases["customer_id"].to_numpy(), "day": day}).drop_duplicates()
    frame = frame[frame["cust"].isin(s["customer_id"])]
    firsts = frame.groupby("cust")["day"].transform("min")
    repeats = np.sort(frame.loc[frame["day"] > firsts, "day"].to_numpy())
    start, stop = int(first.min()), int(day.max()) + 1
    points = np.arange(start + step_days, stop + step_days, step_days)
    actual = np.searchsorted(repeats, points, side="left")
    u = UNIT_DAYS[unit]
    births, counts = np.unique(first, return_counts=True)
    expected = np.array([np.dot(counts, expected_purchases_new(bg, np.clip(pt - births, 0, None) / u)) for pt in points])
    return pd.DataFrame({"day": pd.to_datetime(points - 1, unit="D").date, "actual_cumulative": actual,
                         "expected_cumulative": expected})


@dataclass
class Analysis:
    summary: pd.DataFrame            # kind, name, value, standard_error
    customers: pd.DataFrame          # the per-customer table of SPEC §4.6
    holdout: pd.DataFrame | None
    tracking: pd.DataFrame | None
    bg: Fit
    gg: Fit | None
    warnings: list[str]


CUSTOMER_COLUMNS = ["customer_id", "frequency", "recency", "T", "p_alive", "expected_purchases",
                    "expected_avg_order_value", "clv"]


def analyse(purchases: pd.DataFrame, *, calibration_end: date, unit: str = "weeks", horizon_months: int = 12,
            annual_discount_rate: float = 0.10, gross_margin: float = 1.0,
            holdout_end: date | None = None) -> Analysis:
    s = summaries(purchases, calibration_end, unit, holdout_end)
    if s.empty:
        raise ValueError(f"no purchases on or before the calibration end {calibration_end}")
    warnings: list[str] = []
    bg = fit_bgnbd(s["frequency"], s["recency"], s["T"])
    warnings += bg.warnings
    if not bg.converged:
        warnings.append(f"BG/NBD {bg.message}; the predictions below are not reliable")
    gg = None
    has_amount = "amount" in purchases
    if has_amount:
        try:
            gg = fit_gamma_gamma(s["frequency"], s["monetary_value"])
            warnings += gg.warnings
            if not gg.converged:
                warnings.append(f"Gamma-Gamma {gg.message}")
            if gg.params["q"] <= 1:
                warnings.append("Gamma-Gamma q <= 1: the mean spend is infinite; no customer value")
                gg = None
        except ValueError as e:
            warnings.append(f"no spend model: {e}")
    horizon = horizon_months * (365.25 / 12) / UNIT_DAYS[unit]
    x, tx, T = s["frequency"], s["recency"], s["T"]
    alive = p_alive(bg.params, x, tx, T)
    purchases_h = expected_purchases(bg.params, horizon, x, tx, T)
    value = expected_average_value(gg.params, x, s["monetary_value"]) if gg else np.full(len(s), np.nan)
    worth = clv(bg.params, gg.params if gg else None, s, unit=unit, months=horizon_months,
                annual_discount_rate=annual_discount_rate, gross_margin=gross_margin)
    customers = pd.DataFrame({"customer_id": s["customer_id"], "frequency": x, "recency": tx, "T": T,
                              "p_alive": alive, "expected_purchases": purchases_h,
                              "expected_avg_order_value": value, "clv": worth})
    customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    rows = [("bgnbd", k, v, bg.se[k]) for k, v in bg.params.items()]
    rows.append(("bgnbd", "log_likelihood", bg.log_likelihood, None))
    if gg:
        rows += [("gamma_gamma", k, gg.params[k], gg.se[k]) for k in GG_NAMES]
        rows.append(("gamma_gamma", "log_likelihood", gg.log_likelihood, None))
        rows.append(("gamma_gamma", "frequency_monetary_correlation", gg.params["frequency_monetary_correlation"], None))
        rows.append(("gamma_gamma", "mean_spend_per_purchase", gg.params["p"] * gg.params["gamma"] / (gg.params["q"] - 1), None))
    rows += [
        ("summary", "customers", float(len(s)), None),
        ("summary", "repeat_buyers", float((x > 0).sum()), None),
        ("summary", "expected_customers_alive", float(alive.sum()), None),
        ("summary", f"expected_purchases_next_{horizon_months}_months", float(purchases_h.sum()), None),
        ("summary", f"expected_revenue_next_{horizon_months}_months",
         float(np.nansum(purchases_h * value)) if gg else None, None),
        ("summary", f"clv_total_next_{horizon_months}_months", float(np.nansum(worth)) if gg else None, None),
    ]
    if gg:
        for q in range(1, 10):
            rows.append(("clv_deciles", f"p{q * 10}", float(np.quantile(worth, q / 10)), None))
    dist = probability_of_purchases(bg.params, horizon, 5)
    rows += [("new_customer", f"p_{int(k)}_purchases_next_{horizon_months}_months", float(v), None)
             for k, v in zip(dist["purchases"], dist["probability"])]
    summary = pd.DataFrame(rows, columns=["kind", "name", "value", "standard_error"])
    hold = track = None
    if holdout_end is not None:
        hold = holdout_check(bg.params, s)
        track = tracking(bg.params, purchases[day_numbers(purchases["order_date"]) <=
                                              (pd.Timestamp(holdout_end) - pd.Timestamp("1970-01-01")).days],
                         s, unit)
    return Analysis(summary, customers, hold, track, bg, gg, warnings)
