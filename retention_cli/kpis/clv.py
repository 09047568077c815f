"""Predicted churn and customer value (SPEC §4.6): three buy-till-you-die models of
repeat purchasing — BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the
easy way", Marketing Science 24(2)), Pareto/NBD (Schmittlein, Morrison & Colombo
1987) and MBG/NBD (Batislam, Denizel & Filiztekin 2007) — and the Gamma-Gamma spend
model (Fader & Hardie 2013), fitted by maximum likelihood. Each purchase model is a
small object (``BetaGeometricNBD``, ``ParetoNBD``, ``ModifiedBetaGeometricNBD``):
``fit()`` returns it, its methods are the quantities of its paper; the module
functions of BG/NBD (fit_bgnbd, p_alive, expected_purchases …) stay as its building
blocks.

Memory is proportional to the number of customers: the likelihood is summed over the
distinct (x, t_x, T) triples, each with its count, and nothing is customers × draws.
A fit the data cannot support raises DegenerateFit (a DataError) with the reason;
what only weakens a fit goes into its ``warnings``, in words. No numpy warning is
left to the caller: the arithmetic avoids the invalid operations instead.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special

from retention_cli.errors import DataError, UsageError
from retention_cli.model.customers import NEVER, day_numbers
from retention_cli.periods import to_day

UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12}


# --- summaries ------------------------------------------------------------------------------

def summaries(purchases, calibration_end: date, unit: str = "weeks",
              holdout_end: date | None = None) -> pd.DataFrame:
    """Per customer, from their purchases up to and including ``calibration_end``:
    frequency (repeat purchase days: several purchases on one day are one, the first
    day is not a repeat), recency (first to last purchase day), T (first purchase
    day to the calibration end), in ``unit``; monetary_value, the mean amount of the
    repeat purchase days; with ``holdout_end``, the repeat purchase days in
    (calibration_end, holdout_end] and the holdout length. In the order of the
    customers' ids.

    ``purchases``: a purchases table (customer_id, order_date, amount; with order_id,
    rows of one order are its lines), or a customer base (``model.customers.Base``)
    whose orders are in the process or kept in an engine. A purchase is an order that
    is not a return (SPEC §1): an order's amount is its lines' sum, its day the
    earliest line's, and an order whose lines sum below 0 is no purchase."""
    return _summaries_of(_orders_source(purchases), calibration_end, unit, holdout_end)


@dataclass
class History:
    """Per customer with a purchase on or before the calibration end, in the order
    of their ids: the first and last purchase days then (epoch days), how many days
    they bought on, the amount of the days after the first, and the days they bought
    on after the calibration end up to the holdout's (0 without a holdout)."""

    ids: np.ndarray
    first: np.ndarray
    last: np.ndarray
    days: np.ndarray
    repeat_value: np.ndarray
    holdout: np.ndarray


class _LocalOrders:
    """Orders in the process: per order its customer (code into ``ids``), day, amount
    (0 without amounts) and whether it is a purchase."""

    def __init__(self, ids: pd.Index, cust: np.ndarray, day: np.ndarray, amount: np.ndarray, buy: np.ndarray,
                 has_amount: bool, ids_sorted: bool = False):
        self.has_amount = has_amount
        # customers numbered in the order of their ids (as a factorisation with
        # sort=True numbers them: the same groups, summed and listed in the same order)
        rank = None
        if ids_sorted:
            self.ids = np.asarray(ids)
        else:
            sorter = _id_order(ids)
            self.ids = np.asarray(ids.take(sorter))
            rank = np.empty(len(sorter), dtype=np.int64)
            rank[sorter] = np.arange(len(sorter))
        keep = buy & (cust >= 0) & (day != NEVER)  # no id or no date: no purchase
        cust = cust[keep]
        self.cust = rank[cust] if rank is not None else cust.astype(np.int64)
        self.day, self.amount = day[keep], amount[keep]
        self.all_days = day[day != NEVER]  # every order's, returns too: how far the data goes

    @classmethod
    def of_frame(cls, purchases: pd.DataFrame) -> "_LocalOrders":
        from retention_cli.model.customers import build_orders

        cols = [c for c in ("customer_id", "order_id", "order_date", "amount") if c in purchases]
        cust, ids = pd.factorize(purchases["customer_id"], sort=True)
        o = build_orders(purchases[cols], cust.astype(np.int64))
        has_amount = "amount" in purchases
        return cls(ids, o.cust, o.day, o.amount if has_amount else np.zeros(len(o.cust)), ~o.is_return, has_amount,
                   ids_sorted=True)

    @classmethod
    def of_base(cls, base) -> "_LocalOrders":
        o = base.orders
        has_amount = not np.isnan(o.amount).all()
        return cls(base.ids, o.cust, o.day, o.amount if has_amount else np.zeros(len(o.cust)), ~o.is_return,
                   has_amount)

    @cached_property
    def _per_day(self) -> pd.DataFrame:
        """Per (customer, purchase day), sorted so, the day's amount."""
        # a (customer, day) pair as one integer: grouping integers, not ids, with the
        # same sums (pandas', in the orders' order)
        keys, span, d0 = _pair_keys(self.cust, self.day)
        per_key = pd.Series(self.amount).groupby(keys, sort=True).sum()
        key = per_key.index.to_numpy()
        return pd.DataFrame({"cust": key // span, "day": key % span + d0, "amount": per_key.to_numpy()})

    def history(self, end: int, h_end: int | None) -> History:
        per_day = self._per_day
        cal = per_day[per_day["day"] <= end]
        g = cal.groupby("cust", sort=True)
        first, last, n_days = g["day"].min(), g["day"].max(), g["day"].size()
        # the days after each one's first (the rows sorted by customer, then day),
        # added up themselves: a total less the first day's would lose the small
        # repeats of a large first purchase
        later = cal[cal["cust"].duplicated(keep="first")]
        repeat = later.groupby("cust", sort=True)["amount"].sum().reindex(first.index, fill_value=0.0)
        hold = np.zeros(len(first), dtype=np.int64)
        if h_end is not None:
            later = per_day[(per_day["day"] > end) & (per_day["day"] <= h_end)]
            hold = later.groupby("cust").size().reindex(first.index, fill_value=0).to_numpy()
        return History(self.ids.take(first.index.to_numpy()), first.to_numpy(), last.to_numpy(),
                       n_days.to_numpy().astype(np.int64), repeat.to_numpy(dtype=float), hold)

    def repeats(self, end: int, h_end: int) -> tuple[np.ndarray, np.ndarray, int]:
        d = self._per_day  # sorted by customer, then day: a customer's first row is their first day
        d = d[d["day"] <= h_end]
        first = d["day"].where(~d["cust"].duplicated(keep="first")).ffill().to_numpy()
        day = d["day"].to_numpy()
        days, counts = np.unique(day[(day > first) & (first <= end)], return_counts=True)
        seen = self.all_days[self.all_days <= h_end]
        return days, counts, int(seen.max()) if len(seen) else end


class _KeptOrders:
    """Orders kept in an engine (``engines.facts.EngineOrders``): it sums them per
    customer; the ids come from the base's."""

    has_amount = True  # an engine keeps the orders of inputs with amounts only

    def __init__(self, base):
        self.base, self.engine = base, base.engine

    def history(self, end: int, h_end: int | None) -> History:
        code, first, last, days, value, hold = self.engine.clv_history(end, h_end)
        ids = self.base.ids.take(code)
        order = _id_order(ids)
        ids = np.asarray(ids.take(order))
        return History(ids, first[order], last[order], days[order], value[order], hold[order])

    def repeats(self, end: int, h_end: int) -> tuple[np.ndarray, np.ndarray, int]:
        return self.engine.clv_repeats(end, h_end)


def _id_order(ids: pd.Index) -> np.ndarray:
    """The positions of ``ids`` (text) in the order of their values (Arrow's sort of
    UTF-8 bytes: the order of the code points, Python's)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    a = pa.array(ids.array if isinstance(ids, pd.Index) else ids, from_pandas=True)
    if pa.types.is_dictionary(a.type):
        a = a.dictionary_decode()
    return pc.array_sort_indices(a).to_numpy().astype(np.int64)


def _orders_source(purchases):
    if isinstance(purchases, (_LocalOrders, _KeptOrders)):
        return purchases
    if isinstance(purchases, pd.DataFrame):
        return _LocalOrders.of_frame(purchases)
    if purchases.orders is not None:
        return _LocalOrders.of_base(purchases)
    if purchases.engine is not None and purchases.engine.keeps_sums:
        return _KeptOrders(purchases)
    raise ValueError("clv: the customer base holds no orders to sum (an engine keeps them without amounts)")


def _summaries_of(src, calibration_end: date, unit: str, holdout_end: date | None) -> pd.DataFrame:
    end = to_day(calibration_end)
    h = src.history(end, None if holdout_end is None else to_day(holdout_end))
    u = UNIT_DAYS[unit]
    x = h.days - 1
    # the repeat days' amount to a millionth of a currency unit: a float sum's last bits
    # depend on the order it adds in (the rows', or a parallel engine's), and a fit
    # follows them (Gamma-Gamma's q moved 1e-7 on sums 1e-16 apart); rounded, the same
    # purchases give the same fit whatever the order of the rows or the engine
    repeat = np.round(h.repeat_value, 6)
    out = pd.DataFrame({
        "customer_id": h.ids,
        "frequency": x.astype(np.int64),
        "recency": (h.last - h.first) / u,
        "T": (end - h.first) / u,
        "monetary_value": np.where(x > 0, repeat / np.where(x > 0, x, 1), 0.0),
        "first_purchase": pd.to_datetime(h.first, unit="D"),
    })
    if holdout_end is not None:
        out["holdout_frequency"] = h.holdout
        out["holdout_length"] = (to_day(holdout_end) - end) / u
    return out


# --- fitting --------------------------------------------------------------------------------

BG_NAMES = ("r", "alpha", "a", "b")

# The smallest data a fit is attempted on: ten observations per estimated parameter,
# the usual floor for maximum likelihood (Peduzzi et al. 1996, J Clin Epidemiol 49:1373;
# Harrell, Regression Modeling Strategies). BG/NBD: four parameters, so 40
# customers; a and b (who leaves) are informed by repeat buyers alone, since a customer
# without a repeat purchase has the likelihood (α/(α+T))^r whatever a and b are: 20
# repeat buyers. Gamma-Gamma: three parameters, all informed by repeat buyers: 30.
# Neither lifetimes nor BTYD sets a floor.
MIN_CUSTOMERS = 40
MIN_REPEAT_BUYERS = 20
MIN_SPEND_BUYERS = 30

# The search is bounded, as in BTYD (bgnbd.EstimateParameters, max.param.value = 10,000),
# and symmetrically below; α and γ are bounded relative to their unit (the mean T, the
# mean spend). An estimate that ends on a bound is a degenerate fit, refused.
BOUND = 1e4
_AT_BOUND = np.log(1.01)   # within 1 % of a bound counts as on it


@dataclass
class Fit:
    params: dict[str, float]
    se: dict[str, float]
    log_likelihood: float
    converged: bool
    message: str
    starts_tried: int
    warnings: list[str] = field(default_factory=list)


class DegenerateFit(DataError):
    """A fit the data cannot support (SPEC §4.6): too few customers, an estimate on a
    bound of the search, a log-likelihood that is not finite or is impossible."""


def _pair_keys(cust: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Each (customer code, day) as one integer, the customer first (the keys sort as
    the pairs do), and what reads them back: customer = key // span, day = key % span
    + first day."""
    d0 = int(day.min()) if len(day) else 0
    span = (int(day.max()) - d0 + 1) if len(day) else 1
    return cust.astype(np.int64) * span + (day - d0), span, d0


def _compress(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns, in the order of their values (the first column
    first), and how many customers share each (``_distinct``: one integer key per
    row rather than a sort of the rows as records)."""
    uniq, inverse = _distinct(*cols)
    return uniq, np.bincount(inverse, minlength=len(uniq[0]) if uniq else 0).astype(float)


class Distinct:
    """A column of a fit's data, its distinct values and, per row, which one: a
    function of the column alone is worked out once per distinct value and gathered,
    the same floats bit for bit as worked out per row. A likelihood is evaluated a
    hundred times and more in a fit, each time taking gammaln, digamma and logs of
    x, t_x and T, which hold a few hundred or thousand distinct values (whole
    purchase counts, whole days) among up to a million histories. Functions that do
    not depend on the parameters are kept (``once``)."""

    def __init__(self, v):
        self.v = np.asarray(v, dtype=float)
        self.values, self.at = np.unique(self.v, return_inverse=True)
        self.few = len(self.values) * 4 <= len(self.v)  # else: per row (gathering would cost more)
        self._kept: dict[str, np.ndarray] = {}

    def __call__(self, f) -> np.ndarray:
        return f(self.values)[self.at] if self.few else f(self.v)

    def once(self, name: str, f) -> np.ndarray:
        if name not in self._kept:
            self._kept[name] = self(f)
        return self._kept[name]


def _as_distinct(v) -> Distinct:
    return v if isinstance(v, Distinct) else Distinct(v)


def bgnbd_ll(theta: np.ndarray, x, tx, T, w) -> tuple[float, np.ndarray]:
    """Total log-likelihood (weighted) and its gradient in (r, alpha, a, b)
    (Fader, Hardie & Lee 2005, eq. 6). ``x``, ``tx``, ``T``: arrays, or their
    ``Distinct`` (a fit makes them once)."""
    r, alpha, a, b = theta
    X, TX, TT = _as_distinct(x), _as_distinct(tx), _as_distinct(T)
    x = X.v
    has = x > 0
    bx1 = X(lambda v: b + np.where(v > 0, v, 1.0) - 1)  # b + x − 1 only where x > 0
    log_T, log_tx = TT(lambda v: np.log(alpha + v)), TX(lambda v: np.log(alpha + v))
    dg_abx = X(lambda v: special.digamma(a + b + v))
    A1 = X(lambda v: special.gammaln(r + v)) - special.gammaln(r) + r * np.log(alpha)
    A2 = (special.gammaln(a + b) + X(lambda v: special.gammaln(b + v)) - special.gammaln(b)
          - X(lambda v: special.gammaln(a + b + v)))
    A3 = -(r + x) * log_T
    A4 = np.log(a) - np.log(bx1) - (r + x) * log_tx
    L = np.where(has, np.logaddexp(A3, A4), A3)
    ll = A1 + A2 + L
    w4 = np.where(has, np.exp(np.minimum(A4 - L, 0.0)), 0.0)
    w3 = np.exp(A3 - L)                        # A3 ≤ L: no overflow
    dr = X(lambda v: special.digamma(r + v)) - special.digamma(r) + np.log(alpha) - w3 * log_T - w4 * log_tx
    dalpha = r / alpha - w3 * (r + x) / TT(lambda v: alpha + v) - w4 * (r + x) / TX(lambda v: alpha + v)
    da = special.digamma(a + b) - dg_abx + w4 / a
    db = (special.digamma(a + b) + X(lambda v: special.digamma(b + v)) - special.digamma(b) - dg_abx
          - w4 / bx1)
    grad = np.array([np.dot(w, dr), np.dot(w, dalpha), np.dot(w, da), np.dot(w, db)])
    return float(np.dot(w, ll)), grad


# Who wants to hear of a fit's progress: a function of (model, start, starts,
# iteration), set by the command line around a fit (``fit_progress``) to show it on
# stderr; the fit itself prints nothing. A context variable, so nothing outside the
# ``with`` hears it.
_FIT_PROGRESS: ContextVar = ContextVar("retention_fit_progress", default=None)


@contextmanager
def fit_progress(listener):
    """Within the block, every optimiser iteration of a fit calls ``listener(model,
    start, starts, iteration)``."""
    token = _FIT_PROGRESS.set(listener)
    try:
        yield
    finally:
        _FIT_PROGRESS.reset(token)


def _fit(ll_grad, starts: list[np.ndarray], names: tuple[str, ...], unit: np.ndarray, model: str,
         n_weight: float = 1.0, ftol: float = 1e-15) -> Fit:
    """Maximise in log-parameter space, each parameter within [unit/BOUND, unit·BOUND],
    from several starts; keep the best; standard errors from the inverse of the
    Hessian (finite differences of the gradient). Raises DegenerateFit when the best
    estimate lies on a bound or its log-likelihood is not finite."""
    def neg(z):
        theta = np.exp(z) * unit
        ll, g = ll_grad(theta)
        if not (np.isfinite(ll) and np.all(np.isfinite(g))):
            return 1e300, np.zeros_like(z)
        return -ll, -g * theta

    lo, hi = -np.log(BOUND), np.log(BOUND)
    best = None
    tried = 0
    listener = _FIT_PROGRESS.get()
    for s in starts:
        tried += 1
        step = None
        if listener is not None:
            count = iter(range(1, 1 << 62))

            def step(_, start=tried):  # noqa: ANN001 - scipy passes the current point
                listener(model, start, len(starts), next(count))
        res = optimize.minimize(neg, np.log(s / unit), jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * len(s),
                                options={"maxiter": 2000, "gtol": 1e-9, "ftol": ftol}, callback=step)
        if best is None or res.fun < best.fun:
            best = res
    theta = np.exp(best.x) * unit
    if not np.isfinite(best.fun) or best.fun >= 1e300:
        raise DegenerateFit(f"{model}: the fit is degenerate: its log-likelihood is not finite at any "
                            "parameter values tried")
    on_bound = [(n, v, "upper" if z > 0 else "lower")
                for n, v, z in zip(names, theta, best.x) if hi - abs(z) < _AT_BOUND]
    if on_bound:
        what = "; ".join(f"{n} = {v:.4g} reached the {side} bound of the search" for n, v, side in on_bound)
        raise DegenerateFit(f"{model}: the fit is degenerate: {what} (the data cannot determine "
                            f"{'it' if len(on_bound) == 1 else 'them'}: too few customers, or purchases too "
                            "alike between customers, for this model)")
    hess = _hessian(lambda t: ll_grad(t)[1], theta)
    warnings = []
    cov = None
    if np.all(np.isfinite(hess)):
        try:
            cov = np.linalg.inv(-hess)
        except np.linalg.LinAlgError:
            cov = None
    if cov is None or not np.all(np.isfinite(cov)):
        se = np.full(len(theta), np.nan)
        warnings.append(f"{model}: the Hessian is singular: no standard errors")
    else:
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        if not np.all(np.linalg.eigvalsh(-(hess + hess.T) / 2) > 0):
            warnings.append(f"{model}: the likelihood is not curved at the estimate: standard errors are unreliable")
    loose = [n for n, v, e in zip(names, theta, se) if np.isfinite(e) and e > v]
    if loose:
        warnings.append(f"{model}: {', '.join(loose)} poorly determined (standard error larger than the estimate): "
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


def _summaries(frequency, recency, T, title: str):
    """What every fit starts from: the distinct (x, t_x, T) histories and their counts,
    the number of customers (checked against the model's minimums), and the mean T,
    the scale of the rate parameters."""
    (x, tx, TT), w = _compress(np.asarray(frequency, float), np.asarray(recency, float), np.asarray(T, float))
    n = _check_data(x, w, title)
    return x, tx, TT, w, n, float(np.average(TT, weights=w)) or 1.0


def fit_bgnbd(frequency, recency, T) -> Fit:
    """BG/NBD by maximum likelihood. Raises DegenerateFit (a DataError) when the data
    cannot support the model: fewer than MIN_CUSTOMERS customers or MIN_REPEAT_BUYERS
    repeat buyers, an estimate on a bound, or a log-likelihood that is not finite or
    is above the largest the data allows."""
    x, tx, TT, w, n, scale = _summaries(frequency, recency, T, "BG/NBD")
    unit = np.array([1.0, scale, 1.0, 1.0])
    starts = [s * np.array([1, scale / 40, 1, 1]) for s in BG_STARTS]
    X, TX, TTd = Distinct(x), Distinct(tx), Distinct(TT)  # once for the whole fit
    fit = _fit(lambda th: bgnbd_ll(th, X, TX, TTd, w), starts, BG_NAMES, unit, "BG/NBD", n)
    _check_ceiling(fit, x, tx, w, "BG/NBD")
    return fit


def p_alive(p: dict[str, float], x, tx, T) -> np.ndarray:
    """P(still alive | x, t_x, T) (Fader, Hardie & Lee 2005, eq. 13), as a logistic
    function of the log-odds of having left, so that it stays in [0, 1]."""
    r, alpha, a, b = (p[k] for k in BG_NAMES)
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    x = np.maximum(x, 0.0)
    T = np.maximum(T, 0.0)
    tx = np.clip(tx, 0.0, T)
    has = x > 0
    log_odds = np.log(a) - np.log(b + np.where(has, x, 1.0) - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    return np.where(has, special.expit(-log_odds), 1.0)


# --- E[purchases | alive] ------------------------------------------------------------------
#
# Eq. 10 is P(alive) × g, with
#     g = (a+b+x−1)/(a−1) · [1 − (1−z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)],  z = t/(α+T+t),
# the expected purchases in the next t of a customer known to be alive. Its power
# series overflows for large x and converges ever more slowly as z → 1 (scipy's
# hyp2f1 returns NaN or loses every digit there, and near integer c − a − b), and
# a − 1 divides a difference that vanishes as a → 1. lifetimes switches to Euler's
# transformation ₂F₁(A,B;C;z) = (1−z)^(C−A−B) ₂F₁(C−A, C−B; C; z) when the first form
# overflows; here the same quantity is computed from its integral instead:
#     g = E[(1 − (1 + p u)^−(r+x)) / p],  p ~ Beta(a, b+x),  u = t/(α+T)
# (alive at T, λ ~ Gamma(r+x, α+T) and p ~ Beta(a, b+x) independently; a customer
# with rates λ, p expects (1 − e^(−λpt))/p purchases in t, Fader et al. 2005 §3).
# The integrand is positive, bounded by (r+x)·u and increasing in t, so a Gauss rule
# for the Beta density keeps g ≥ 0, finite and non-decreasing in t by construction.
# When u is so large that the integrand varies faster than the rule resolves, the
# series in 1 − z is used: Euler's transformation, then the linear transformation
# z → 1 − z (Abramowitz & Stegun 15.3.6), where it converges fastest; the points where
# its terms are singular (a = 1, c − a − b an integer) are bridged by interpolation.

_BRIDGE = 1e-4     # how near a singular point of 15.3.6 it is bridged by interpolation


@lru_cache(maxsize=2048)
def _beta_rule(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss rule of n points for the Beta(a, b) density on [0, 1], weights summing to
    1: the eigenvalues and first eigenvector components of the Jacobi matrix of the
    monic Jacobi polynomials P^(b−1, a−1) on [−1, 1] (Golub & Welsch 1969, Math. Comp.
    23:221; their recurrence, DLMF §18.9), mapped to [0, 1]."""
    al, be = b - 1.0, a - 1.0
    k = np.arange(n, dtype=float)
    s = 2 * k + al + be
    diag = np.empty(n)
    diag[0] = (be - al) / (al + be + 2)
    diag[1:] = (be * be - al * al) / (s[1:] * (s[1:] + 2))
    kk, s1 = k[1:], s[1:]
    off2 = np.empty(n - 1)
    off2[0] = 4 * (1 + al) * (1 + be) / ((2 + al + be) ** 2 * (3 + al + be))
    off2[1:] = (4 * kk[1:] * (kk[1:] + al) * (kk[1:] + be) * (kk[1:] + al + be)
                / (s1[1:] ** 2 * (s1[1:] + 1) * (s1[1:] - 1)))
    nodes, vectors = linalg.eigh_tridiagonal(diag, np.sqrt(off2))
    weights = vectors[0] ** 2
    return np.clip((nodes + 1) / 2, 1e-300, 1.0), weights / weights.sum()


def _g_rule(r: float, a: float, b: float, x: float, u: np.ndarray, n: int) -> np.ndarray:
    p, w = _beta_rule(float(a), float(b + x), int(n))
    out = np.empty(len(u))
    step = max(1, (1 << 22) // n)  # n × step floats at a time
    for i in range(0, len(u), step):
        uu = u[i:i + step]
        h = -np.expm1(-(r + x) * np.log1p(p[:, None] * uu[None, :])) / p[:, None]
        out[i:i + step] = w @ h
    return out


def _series(p1, p2, q1, y: np.ndarray) -> np.ndarray:
    """Σₙ (p1)ₙ (p2)ₙ / ((q1)ₙ n!) yⁿ for y ≤ 1/9 (each argument an array or a scalar)."""
    term = np.ones_like(y)
    total = np.ones_like(y)
    for n in range(1000):
        term = term * ((p1 + n) * (p2 + n) / ((q1 + n) * (n + 1))) * y
        total = total + term
        if np.all(np.abs(term) <= 1e-17 * np.abs(total)):
            break
    return total


def _g_series(r: np.ndarray, a: float, b: float, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """g by A&S 15.3.6 applied to (1−z)^(a−1) ₂F₁(A, a−1; c; z), A = a+b−1−r, c = a+b+x−1
    (the Euler-transformed form), with y = 1 − z = 1/(1+u); d = c − A − (a−1) = r+x−a+1
    must not be an integer, nor a equal to 1 (see _g_bridged)."""
    rr, bb, A, d = r + x, b + x, a + b - 1 - r, r + x - a + 1
    ly = -np.log1p(u)
    lz = np.log(u) + ly
    y = np.exp(ly)
    lgc = special.gammaln(a + b + x)  # log Γ(c + 1): c·Γ(c) keeps c = 0 regular
    first = (special.gammasgn(d) * _series(A, a - 1, 1 - d, y)
             * np.exp((a - 1) * ly + lgc + special.gammaln(d) - special.gammaln(rr) - special.gammaln(bb)))
    second = np.zeros_like(u)
    live = (special.rgamma(A) != 0) & (special.rgamma(a - 1) != 0)  # 1/Γ at a pole is 0
    if np.any(live):
        k = np.flatnonzero(live)
        Ak, dk = np.broadcast_to(A, u.shape)[k], np.broadcast_to(d, u.shape)[k]
        # the second series after Euler's transformation: ₂F₁(r+x, b+x; 1+d; y) =
        # z^(2−a−b−x) ₂F₁(2−a, 1−A; 1+d; y), whose terms stay small for any x
        second[k] = (special.gammasgn(-dk) * special.gammasgn(Ak) * special.gammasgn(a - 1)
                     * _series(2 - a, 1 - Ak, 1 + dk, y[k])
                     * np.exp(np.broadcast_to(rr, u.shape)[k] * ly[k] + np.broadcast_to(lgc, u.shape)[k]
                              + special.gammaln(-dk) - special.gammaln(Ak) - special.gammaln(a - 1)
                              + (2 - a - np.broadcast_to(bb, u.shape)[k]) * lz[k]))
    c = a + b + x - 1
    return (c - first - second) / (a - 1)


_OFFSETS = np.array([-2.0, -1.0, 1.0, 2.0]) * _BRIDGE


def _lagrange(e: np.ndarray) -> list[np.ndarray]:
    """Weights of the cubic through the values at _OFFSETS, at offset e."""
    return [np.prod([(e - o) / (oi - o) for o in _OFFSETS if o != oi], axis=0) for oi in _OFFSETS]


def _g_bridged(r: float, a: float, b: float, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """_g_series, interpolated (a cubic through four points 1 and 2 × _BRIDGE away) across
    a = 1 and across an integer d = r + x − a + 1 (by moving r), where 15.3.6 is
    singular though g is smooth."""
    if abs(a - 1) < _BRIDGE:
        weights = _lagrange(np.array(a - 1))
        return sum(w * _g_across_d(r, 1 + o, b, x, u) for w, o in zip(weights, _OFFSETS))
    return _g_across_d(r, a, b, x, u)


def _g_across_d(r: float, a: float, b: float, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    d = r + x - a + 1
    e = d - np.round(d)
    near = np.abs(e) < _BRIDGE
    out = np.zeros(u.shape)
    far = ~near
    if np.any(far):
        out[far] = _g_series(np.full(int(far.sum()), r), a, b, x[far], u[far])
    k = np.flatnonzero(near)
    weights = _lagrange(e[k])
    out[k] = sum(w * _g_series(r - e[k] + o, a, b, x[k], u[k]) for w, o in zip(weights, _OFFSETS))
    return out


def _g(p: dict[str, float], x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """g (above) for distinct (x, u) pairs, u = t/(α+T) ≥ 0."""
    r, a, b = p["r"], p["a"], p["b"]
    out = np.zeros(len(u))
    # How finely the rule must resolve the integrand: the rate at which (1+pu)^−(r+x)
    # falls over the width of the Beta(a, b+x) density (calibrated against mpmath: 64
    # points are exact to 1e-13 below 40, 2n points below n).
    width = np.minimum(1.0, (a + 3 * np.sqrt(a) + 3) / (a + b + x))
    need = u * width * (1 + np.sqrt(r + x)) ** 2
    # The series in 1 − z is well conditioned once y·(|A| + a + 1) is small.
    series = (need > 40) & (u >= 8) & ((abs(a + b - 1 - r) + a + 1) / (1 + u) <= 2)
    rule = (u > 0) & ~series
    if np.any(series):
        out[series] = _g_bridged(r, a, b, x[series], u[series])
    for xv in np.unique(x[rule]):
        k = np.flatnonzero(rule & (x == xv))
        sizes = np.where(need[k] <= 40, 64, np.minimum(2048, 2 ** np.ceil(np.log2(np.maximum(2 * need[k], 64)))))
        for n in np.unique(sizes):
            kk = k[sizes == n]
            out[kk] = _g_rule(r, a, b, xv, u[kk], int(n))
    return np.maximum(out, 0.0)


def _distinct(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of equal-length 1-D columns and, per row, the index of its own."""
    codes = []
    for c in cols:
        values, inv = np.unique(c, return_inverse=True)
        codes.append((values, inv.astype(np.int64), len(values)))
    if np.prod([float(n) for _, _, n in codes]) >= 2.0 ** 62:  # one int64 key cannot hold them
        _, first, inverse = np.unique(np.column_stack(cols), axis=0, return_index=True, return_inverse=True)
        return [c[first] for c in cols], inverse.ravel()
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for _, inv, n in codes:
        key = key * n + inv
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return [c[first] for c in cols], inverse


def _purchases_if_alive(p: dict[str, float], t, x, T) -> np.ndarray:
    """g at every (t, x, T), computed once per distinct triple."""
    t, x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, T)))
    shape = t.shape
    t, x, T = (np.ravel(v) for v in (np.maximum(t, 0.0), np.maximum(x, 0.0), np.maximum(T, 0.0)))
    if t.size == 0:
        return np.zeros(shape)
    (tu, xu, Tu), inverse = _distinct(t, x, T)
    return _g(p, xu, tu / (p["alpha"] + Tu))[inverse].reshape(shape)


def expected_purchases(p: dict[str, float], t, x, tx, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t (Fader, Hardie & Lee 2005,
    eq. 10), finite, ≥ 0 and non-decreasing in t for any finite input."""
    return p_alive(p, x, tx, T) * _purchases_if_alive(p, t, x, T)


def expected_purchases_new(p: dict[str, float], t) -> np.ndarray:
    """E[X(t)] for a customer who made the first purchase t ago (eq. 9): eq. 10 with
    x = 0 and T = 0, when the customer is alive for sure."""
    return _purchases_if_alive(p, t, 0.0, 0.0)


def probability_of_purchases(p: dict[str, float], t: float, k_max: int = 10) -> pd.DataFrame:
    """P(X(t) = k), k = 0 … k_max, for a new customer over a span t (eq. 8). The
    negative-binomial tail P(N ≥ k) is the regularised incomplete beta I_q(k, r),
    q = t/(α+t), rather than 1 − Σ_{j<k} P(N = j), which cancels to noise."""
    r, alpha, a, b = (p[k] for k in BG_NAMES)
    k = np.arange(k_max + 1, dtype=float)
    if not t > 0:  # no time, no purchase
        return pd.DataFrame({"purchases": k.astype(int), "probability": (k == 0).astype(float)})
    lbeta = special.betaln
    log_q, log_s = np.log(t) - np.log(alpha + t), np.log(alpha) - np.log(alpha + t)
    log_nb = special.gammaln(r + k) - special.gammaln(r) - special.gammaln(k + 1) + r * log_s + k * log_q
    term1 = np.exp(lbeta(a, b + k) - lbeta(a, b) + log_nb)
    tail = special.betainc(np.maximum(k, 1.0), r, t / (alpha + t))
    term2 = np.where(k > 0, np.exp(lbeta(a + 1, b + np.maximum(k, 1.0) - 1) - lbeta(a, b)) * tail, 0.0)
    return pd.DataFrame({"purchases": k.astype(int), "probability": np.clip(term1 + term2, 0.0, 1.0)})


# --- Pareto/NBD ---------------------------------------------------------------------------
#
# Schmittlein, Morrison & Colombo (1987), "Counting your customers: who are they and
# what will they do next?", Management Science 33(1); the likelihood as derived by
# Fader, Hardie & Lee (2005), "A note on deriving the Pareto/NBD model and related
# expressions" (brucehardie.com note 009):
#     L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^−(r+x) (β+T)^−s + s · I ],
#     I = ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ,
# the second term the customer who died at τ between his last purchase and T. With
# M = max(α, β), k = r+s+x and e the exponent of the smaller parameter's factor,
#     I = [ (M+t_x)^−k ₂F₁(k, e; k+1; |α−β|/(M+t_x)) − (M+T)^−k ₂F₁(k, e; k+1; |α−β|/(M+T)) ] / k,
# whose argument lies in [0, 1) (lifetimes and BTYD write the same A₀). scipy's hyp2f1
# is accurate there (checked against mpmath); where it is not finite, or the
# difference cancels to nothing, I is integrated directly (below). The gradient needs
# the averages of ln(α+τ), ln(β+τ), 1/(α+τ), 1/(β+τ) under the integrand, which no
# hypergeometric gives: they come from a Gauss-Legendre rule in y = ((M+t_x)/(M+τ))^k,
# where the integrand is (M+t_x)^−k/k times a bounded, slowly varying factor.

PNBD_NAMES = ("r", "alpha", "s", "beta")
PNBD_SEARCH_SAMPLE = 30_000   # customers the starts are searched on, when there are more distinct histories
_LEGENDRE = np.polynomial.legendre.leggauss(24)


def _pnbd_nodes(r, alpha, s, beta, x, tx, T):
    """Per triple (t_x < T), the nodes τ of the rule, the log of their weights under
    the integrand of I less their largest, and log I by the rule. The rule is
    Gauss-Legendre in z = √y: where T ≫ t_x the averages of ln(α+τ) have a logarithmic
    singularity at y = 0 that z·ln z smooths (24 points: within 3e-7 of mpmath over
    the parameters of the tests, where 16 points in y were off by 7e-5)."""
    M = max(alpha, beta)
    k = r + s + x
    xi, wi = _LEGENDRE
    with np.errstate(divide="ignore"):  # t_x within rounding of T: a weight of 0, log −inf
        log_zT = k * (np.log(M + tx) - np.log(M + T)) / 2             # < 0
        half = -np.expm1(log_zT) / 2                                   # (1 − z_T)/2
        z = np.exp(log_zT)[:, None] + half[:, None] * (xi + 1)[None, :]
        tau = (M + tx)[:, None] * np.exp(np.log(z) * (-2 / k)[:, None]) - M
        log_M = np.log(M + tau)
        # one of the two ratios is 1: only the smaller parameter's factor is computed
        if alpha >= beta:
            log_phi = (-(s + 1)) * (np.log(beta + tau) - log_M)
        else:
            log_phi = -(r + x)[:, None] * (np.log(alpha + tau) - log_M)
        log_w = log_phi + np.log(wi)[None, :] + np.log(2 * z)          # dy = 2z dz
        top = log_w.max(axis=1)
        log_w -= top[:, None]
        log_I = -k * np.log(M + tx) - np.log(k) + np.log(half) + top + np.log(np.exp(log_w).sum(axis=1))
    return tau, log_w, log_I


def _pnbd_log_integral(r, alpha, s, beta, x, tx, T) -> np.ndarray:
    """log I (above) for every customer; −inf where t_x = T (no time to die unseen)."""
    x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, tx, T)))
    out = np.full(x.shape, -np.inf)
    live = T > tx
    if not live.any():
        return out
    x, tx, T = x[live], tx[live], T[live]
    k = r + s + x
    if alpha >= beta:
        M, e = alpha, np.full(len(x), s + 1.0)
    else:
        M, e = beta, r + x
    d = abs(alpha - beta)
    with np.errstate(all="ignore"):
        f1 = special.hyp2f1(k, e, k + 1, d / (M + tx))
        f2 = special.hyp2f1(k, e, k + 1, d / (M + T))
        l1 = np.log(f1) - k * np.log(M + tx)
        l2 = np.log(f2) - k * np.log(M + T)
        val = l1 + np.log(-np.expm1(l2 - l1)) - np.log(k)
    bad = ~(np.isfinite(val) & (f1 > 0) & (f2 > 0) & (l2 < l1))
    if bad.any():
        val[bad] = _pnbd_nodes(r, alpha, s, beta, x[bad], tx[bad], T[bad])[2]
    out[live] = val
    return out


def pareto_nbd_ll(theta: np.ndarray, x, tx, T, w) -> tuple[float, np.ndarray]:
    """Total log-likelihood (weighted) of the Pareto/NBD and its gradient in
    (r, α, s, β) (Fader, Hardie & Lee 2005 note, the likelihood above)."""
    r, alpha, s, beta = theta
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    L1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_I = _pnbd_log_integral(r, alpha, s, beta, x, tx, T)
    L2 = np.log(s) + log_I
    L = np.logaddexp(L1, L2)
    w1, w2 = np.exp(L1 - L), np.exp(L2 - L)
    # averages under the integrand of I, for the gradient (in blocks: triples × nodes)
    e_la, e_lb, e_ia, e_ib = (np.zeros(len(x)) for _ in range(4))
    live = np.flatnonzero(T > tx)
    step = 1 << 16
    for i in range(0, len(live), step):
        j = live[i:i + step]
        tau, log_w, _ = _pnbd_nodes(r, alpha, s, beta, x[j], tx[j], T[j])
        p = np.exp(log_w)
        p /= p.sum(axis=1)[:, None]
        e_la[j] = (p * np.log(alpha + tau)).sum(axis=1)
        e_lb[j] = (p * np.log(beta + tau)).sum(axis=1)
        e_ia[j] = (p / (alpha + tau)).sum(axis=1)
        e_ib[j] = (p / (beta + tau)).sum(axis=1)
    dr = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * e_la
    dalpha = r / alpha - w1 * (r + x) / (alpha + T) - w2 * (r + x) * e_ia
    ds = np.log(beta) - w1 * np.log(beta + T) + w2 * (1 / s - e_lb)
    dbeta = s / beta - w1 * s / (beta + T) - w2 * (s + 1) * e_ib
    ll = A1 + L
    grad = np.array([np.dot(w, dr), np.dot(w, dalpha), np.dot(w, ds), np.dot(w, dbeta)])
    return float(np.dot(w, ll)), grad


# --- MBG/NBD --------------------------------------------------------------------------------
#
# Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models
# for customer base analysis", International Journal of Research in Marketing 24(3):
# BG/NBD, except that a customer may also leave right after the first purchase (a
# dropout chance at every purchase, the first included). The likelihood is BG/NBD's
# eq. 6 with b + x + 1 in place of b + x and the second term for every x:
#     L = B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / Γ(r) · [ (α+T)^−(r+x) + a/(b+x) · (α+t_x)^−(r+x) ].
# Given alive at T the posterior of p is Beta(a, b+x+1), so the expected purchases of a
# customer alive are BG/NBD's g with b + 1 for b (the same integral, _g).

MBG_NAMES = ("r", "alpha", "a", "b")


def mbgnbd_ll(theta: np.ndarray, x, tx, T, w) -> tuple[float, np.ndarray]:
    """Total log-likelihood (weighted) of the MBG/NBD and its gradient in (r, α, a, b)."""
    r, alpha, a, b = theta
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    A2 = special.gammaln(a + b) + special.gammaln(b + x + 1) - special.gammaln(b) - special.gammaln(a + b + x + 1)
    A3 = -(r + x) * np.log(alpha + T)
    A4 = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + tx)
    L = np.logaddexp(A3, A4)
    w3, w4 = np.exp(A3 - L), np.exp(A4 - L)
    dr = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + tx)
    dalpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + tx)
    da = special.digamma(a + b) - special.digamma(a + b + x + 1) + w4 / a
    db = (special.digamma(a + b) + special.digamma(b + x + 1) - special.digamma(b) - special.digamma(a + b + x + 1)
          - w4 / (b + x))
    grad = np.array([np.dot(w, dr), np.dot(w, dalpha), np.dot(w, da), np.dot(w, db)])
    return float(np.dot(w, A1 + A2 + L)), grad


# --- the models as objects ----------------------------------------------------------------

def _check_data(x: np.ndarray, w: np.ndarray, title: str) -> float:
    n, repeat = float(w.sum()), float(w[x > 0].sum())
    if n < MIN_CUSTOMERS or repeat < MIN_REPEAT_BUYERS:
        raise DegenerateFit(
            f"{title}: too few customers to fit: {n:,.0f} customers, {repeat:,.0f} of them repeat buyers (a "
            f"purchase on a second day); the model needs at least {MIN_CUSTOMERS} customers and "
            f"{MIN_REPEAT_BUYERS} repeat buyers to tell buying from leaving")
    return n


def _check_ceiling(fit: Fit, x: np.ndarray, tx: np.ndarray, w: np.ndarray, title: str) -> None:
    """No customer's likelihood can exceed that of buying at his own best rate, x/t_x,
    and never leaving: Π (x/t_x)^x e^(−x), whichever of the three models (each is a
    mixture of Poisson buying cut short by leaving). In days that ceiling is at most 1
    (x ≤ t_x), so a log-likelihood above it (in days: a positive one) means the
    arithmetic broke."""
    has = x > 0
    with np.errstate(divide="ignore"):  # t_x = 0 with x > 0 cannot come from summaries(): no ceiling
        ceiling = float(np.dot(w[has], x[has] * (np.log(x[has]) - np.log(tx[has]) - 1)))
    if not np.isfinite(fit.log_likelihood) or fit.log_likelihood > ceiling + 1e-6 * abs(ceiling):
        raise DegenerateFit(f"{title}: the fit is degenerate: its log-likelihood {fit.log_likelihood:.6g} is "
                            f"impossible for these data (the most it can be is {ceiling:.6g})")


class BuyTillYouDie:
    """A fitted buy-till-you-die model of repeat purchasing, as lifetimes has them:
    ``fit()`` returns the model; its methods give the quantities of the paper, each
    per customer from (x = frequency, t_x = recency, T)."""

    name = ""            # the id in outputs (snake_case)
    option = ""          # the id on the command line and in the config
    title = ""           # as the literature writes it
    names: tuple[str, ...] = ()

    def __init__(self, fit: Fit):
        self.result = fit
        self.params = fit.params

    @property
    def log_likelihood(self) -> float:
        return self.result.log_likelihood

    def conditional_probability_alive(self, x, tx, T) -> np.ndarray:
        raise NotImplementedError

    def _if_alive(self, t: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Expected purchases in the next t of a customer alive at T, per distinct row."""
        raise NotImplementedError

    def conditional_expected_number_of_purchases_up_to_time(self, t, x, tx, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: P(alive) × the purchases of a customer alive; finite,
        ≥ 0 and non-decreasing in t."""
        t, x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, tx, T)))
        alive = self.conditional_probability_alive(x, tx, T)
        return alive * self._purchases_if_alive(t, x, T)

    def _purchases_if_alive(self, t, x, T) -> np.ndarray:
        t, x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, T)))
        shape = t.shape
        t, x, T = (np.ravel(v) for v in (np.maximum(t, 0.0), np.maximum(x, 0.0), np.maximum(T, 0.0)))
        if t.size == 0:
            return np.zeros(shape)
        (tu, xu, Tu), inverse = _distinct(t, x, T)
        return self._if_alive(tu, xu, Tu)[inverse].reshape(shape)

    def expected_number_of_purchases_up_to_time(self, t) -> np.ndarray:
        """E[X(t)]: the repeat purchases expected in the first t after a first purchase."""
        raise NotImplementedError


class BetaGeometricNBD(BuyTillYouDie):
    """BG/NBD (Fader, Hardie & Lee 2005): a customer buys at a Poisson rate λ ~ Gamma(r, α)
    and, after each repeat purchase, leaves with probability p ~ Beta(a, b)."""

    name, option, title, names = "bgnbd", "bgnbd", "BG/NBD", BG_NAMES

    @classmethod
    def fit(cls, frequency, recency, T) -> "BetaGeometricNBD":
        return cls(fit_bgnbd(frequency, recency, T))

    def conditional_probability_alive(self, x, tx, T) -> np.ndarray:
        """Eq. 13."""
        return p_alive(self.params, x, tx, T)

    def _if_alive(self, t, x, T) -> np.ndarray:
        return _g(self.params, x, t / (self.params["alpha"] + T))

    def expected_number_of_purchases_up_to_time(self, t) -> np.ndarray:
        """Eq. 9."""
        return expected_purchases_new(self.params, t)


class ParetoNBD(BuyTillYouDie):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): a customer buys at a Poisson
    rate λ ~ Gamma(r, α) and leaves at an exponential time of rate μ ~ Gamma(s, β),
    at any moment rather than only after a purchase."""

    name, option, title, names = "pareto_nbd", "pareto-nbd", "Pareto/NBD", PNBD_NAMES

    @classmethod
    def fit(cls, frequency, recency, T) -> "ParetoNBD":
        """Maximum likelihood; raises DegenerateFit as BG/NBD does."""
        x, tx, TT, w, n, scale = _summaries(frequency, recency, T, cls.title)
        unit = np.array([1.0, scale, 1.0, scale])
        starts = [np.array(v) * np.array([1, scale / 40, 1, scale / 40])
                  for v in ([0.5, 10.0, 0.5, 10.0], [1.0, 20.0, 1.0, 40.0], [0.25, 5.0, 2.0, 20.0])]
        tried, ftol = len(starts), 1e-15
        if len(x) > PNBD_SEARCH_SAMPLE:
            # Each evaluation costs a hypergeometric and a quadrature per distinct history:
            # the starts are searched on a fixed random share of the customers (the same
            # every run), and only the best is taken to the full data, where it converges
            # in a few steps, to a relative change of the log-likelihood of 1e-12 (a sum
            # over so many customers cannot resolve 1e-15). The estimate is the full
            # data's maximum either way.
            rng = np.random.default_rng(20070101)
            ws = rng.binomial(w.astype(np.int64), min(1.0, PNBD_SEARCH_SAMPLE / n)).astype(float)
            k = ws > 0
            try:
                pre = _fit(lambda th: pareto_nbd_ll(th, x[k], tx[k], TT[k], ws[k]), starts, cls.names, unit,
                           cls.title, float(ws.sum()))
                starts, ftol = [np.array([pre.params[name] for name in cls.names])], 1e-12
            except DegenerateFit:
                pass  # the share could not tell: every start on the full data
        fit = _fit(lambda th: pareto_nbd_ll(th, x, tx, TT, w), starts, cls.names, unit, cls.title, n, ftol)
        fit.starts_tried = tried
        _check_ceiling(fit, x, tx, w, cls.title)
        return cls(fit)

    def conditional_probability_alive(self, x, tx, T) -> np.ndarray:
        """P(alive | x, t_x, T) = (α+T)^−(r+x)(β+T)^−s / [that + s·I] (Fader, Hardie & Lee
        2005 note), as a logistic function of the log-odds, so it stays in [0, 1]."""
        r, alpha, s, beta = (self.params[k] for k in PNBD_NAMES)
        x, tx, T = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(x, tx, T))
        x, T = np.maximum(x, 0.0), np.maximum(T, 0.0)
        tx = np.clip(tx, 0.0, T)
        L1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        L2 = np.log(s) + _pnbd_log_integral(r, alpha, s, beta, x, tx, T)
        return special.expit(L1 - L2)

    def _if_alive(self, t, x, T) -> np.ndarray:
        """(r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] (Schmittlein et al. 1987;
        Fader, Hardie & Lee 2005 note): the expected purchases of a customer alive at T
        whose remaining life is exponential with μ ~ Gamma(s, β+T). Written with expm1,
        so that s = 1 (where it becomes a logarithm) needs no special case."""
        r, alpha, s, beta = (self.params[k] for k in PNBD_NAMES)
        log_ratio = np.log1p(t / (beta + T))                      # ln((β+T+t)/(β+T)) ≥ 0
        c = s - 1
        factor = -np.expm1(-c * log_ratio) / c if abs(c) > 1e-12 else log_ratio  # (1 − e^(−cL))/c → L as c → 0
        return (r + x) * (beta + T) / (alpha + T) * factor

    def expected_number_of_purchases_up_to_time(self, t) -> np.ndarray:
        """E[X(t)] = rβ / (α(s−1)) · [1 − (β/(β+t))^(s−1)]: a new customer alive at 0."""
        return self._purchases_if_alive(np.asarray(t, dtype=float), 0.0, 0.0)


class ModifiedBetaGeometricNBD(BuyTillYouDie):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD in which a customer may also
    leave right after the first purchase, so that a one-time buyer can be gone too."""

    name, option, title, names = "mbg_nbd", "mbg-nbd", "MBG/NBD", MBG_NAMES

    @classmethod
    def fit(cls, frequency, recency, T) -> "ModifiedBetaGeometricNBD":
        x, tx, TT, w, n, scale = _summaries(frequency, recency, T, cls.title)
        unit = np.array([1.0, scale, 1.0, 1.0])
        starts = [s * np.array([1, scale / 40, 1, 1]) for s in BG_STARTS]
        fit = _fit(lambda th: mbgnbd_ll(th, x, tx, TT, w), starts, cls.names, unit, cls.title, n)
        _check_ceiling(fit, x, tx, w, cls.title)
        return cls(fit)

    def conditional_probability_alive(self, x, tx, T) -> np.ndarray:
        """1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)) (Batislam et al. 2007), for every x:
        a one-time buyer may have left too."""
        r, alpha, a, b = (self.params[k] for k in MBG_NAMES)
        x, tx, T = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(x, tx, T))
        x, T = np.maximum(x, 0.0), np.maximum(T, 0.0)
        tx = np.clip(tx, 0.0, T)
        log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        return special.expit(-log_odds)

    def _if_alive(self, t, x, T) -> np.ndarray:
        """(a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))]
        (Batislam et al. 2007): BG/NBD's g with b + 1, by the same integral."""
        return _g({**self.params, "b": self.params["b"] + 1}, x, t / (self.params["alpha"] + T))

    def expected_number_of_purchases_up_to_time(self, t) -> np.ndarray:
        """E[X(t)] = b/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))] (Batislam et al.
        2007): alive after the first purchase with probability b/(a+b), then g."""
        a, b = self.params["a"], self.params["b"]
        return b / (a + b) * self._purchases_if_alive(np.asarray(t, dtype=float), 0.0, 0.0)


MODELS: dict[str, type[BuyTillYouDie]] = {m.option: m for m in (BetaGeometricNBD, ParetoNBD, ModifiedBetaGeometricNBD)}


# --- Gamma-Gamma ----------------------------------------------------------------------------

GG_NAMES = ("p", "q", "gamma")


def gg_ll(theta: np.ndarray, x, m, w) -> tuple[float, np.ndarray]:
    """Gamma-Gamma log-likelihood of the repeat buyers' mean spends and its gradient
    (Fader & Hardie 2013, eq. 3). ``x``, ``m``: arrays, or their ``Distinct``."""
    p, q, g = theta
    X, M = _as_distinct(x), _as_distinct(m)
    x, m = X.v, M.v
    px = p * x
    log_m, log_x = M.once("log", np.log), X.once("log", np.log)
    dg_pxq = X(lambda v: special.digamma(p * v + q))
    log_gmx = np.log(g + m * x)
    ll = (X(lambda v: special.gammaln(p * v + q)) - X(lambda v: special.gammaln(p * v)) - special.gammaln(q)
          + q * np.log(g) + (px - 1) * log_m + px * log_x - (px + q) * log_gmx)
    dp = x * (dg_pxq - X(lambda v: special.digamma(p * v)) + log_m + log_x - log_gmx)
    dq = dg_pxq - special.digamma(q) + np.log(g) - log_gmx
    dg = q / g - (px + q) / (g + m * x)
    return float(np.dot(w, ll)), np.array([np.dot(w, dp), np.dot(w, dq), np.dot(w, dg)])


def fit_gamma_gamma(frequency, monetary) -> Fit:
    """Gamma-Gamma on the repeat buyers with a positive mean spend. Raises DegenerateFit
    with fewer than MIN_SPEND_BUYERS of them, when they all spend the same, or when an
    estimate lands on a bound. (Its log-likelihood is a density of amounts of money, so
    its sign depends on the currency unit and says nothing: only finiteness is checked.)"""
    x, m = np.asarray(frequency, float), np.asarray(monetary, float)
    keep = (x > 0) & (m > 0) & np.isfinite(m)
    buyers = int(keep.sum())
    if buyers < MIN_SPEND_BUYERS:
        raise DegenerateFit(f"Gamma-Gamma: too few repeat buyers with a positive spend to fit the spend model: "
                            f"{buyers:,}; it needs at least {MIN_SPEND_BUYERS}")
    if np.ptp(m[keep]) <= 1e-12 * np.max(m[keep]):
        raise DegenerateFit("Gamma-Gamma: every repeat buyer has the same mean spend: there is no variation "
                            "for the spend model to describe")
    (xx, mm), w = _compress(x[keep], m[keep])
    mean = float(np.average(mm, weights=w))
    starts = [np.array([1.0, 1.0, mean]), np.array([5.0, 3.0, mean / 2]), np.array([2.0, 5.0, mean * 2])]
    X, M = Distinct(xx), Distinct(mm)  # once for the whole fit
    fit = _fit(lambda th: gg_ll(th, X, M, w), starts, GG_NAMES, np.array([1.0, 1.0, mean]), "Gamma-Gamma",
               float(w.sum()))
    fit.params["frequency_monetary_correlation"] = corr = _correlation(x[keep], m[keep])
    if np.isfinite(corr) and abs(corr) > 0.3:
        fit.warnings.append(f"frequency and spend are correlated (r = {corr:.2f}): the Gamma-Gamma model assumes "
                            "they are independent; its spend estimates may be biased")
    return fit


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r, NaN when either side does not vary (where np.corrcoef divides by 0)."""
    da, db = a - a.mean(), b - b.mean()
    den = float(np.sqrt(np.dot(da, da) * np.dot(db, db)))
    return float(np.dot(da, db) / den) if den > 0 else float("nan")


def expected_average_value(p: dict[str, float], x, m) -> np.ndarray:
    """E[M | p, q, γ, x, m̄] (Fader & Hardie 2013, eq. 5); customers without a
    repeat purchase get the population mean pγ/(q − 1)."""
    pp, q, g = p["p"], p["q"], p["gamma"]
    x, m = np.asarray(x, float), np.asarray(m, float)
    return np.where(x > 0, pp * (g + x * m) / (pp * x + q - 1), pp * g / (q - 1))


# --- customer value -------------------------------------------------------------------------

def _as_model(m) -> BuyTillYouDie:
    """A fitted model, or BG/NBD's parameters as a dict (the form the published tests use)."""
    if isinstance(m, BuyTillYouDie):
        return m
    return BetaGeometricNBD(Fit(dict(m), {k: float("nan") for k in m}, float("nan"), True, "given", 0))


def clv(bg, gg: dict[str, float] | None, s: pd.DataFrame, *, unit: str, months: int | None = None,
        horizon: float | None = None, annual_discount_rate: float, gross_margin: float) -> np.ndarray:
    """Σ over the horizon (``horizon`` in ``unit``, else ``months`` months) of the expected
    purchases in each month × expected value per purchase × margin, each month discounted
    at the annual rate compounded to its end (a last, shorter step for a horizon that is
    not whole months). ``bg``: a fitted model, or BG/NBD's parameters."""
    model = _as_model(bg)
    u = UNIT_DAYS[unit]
    month = (365.25 / 12) / u
    H = horizon if horizon is not None else months * month
    x, tx, T = s["frequency"].to_numpy(float), s["recency"].to_numpy(float), s["T"].to_numpy(float)
    value = expected_average_value(gg, x, s["monetary_value"].to_numpy(float)) if gg else np.full(len(x), np.nan)
    alive = model.conditional_probability_alive(x, tx, T)
    total = np.zeros(len(x))
    prev = np.zeros(len(x))
    if len(x) == 0:
        return total
    (xu, Tu), inverse = _distinct(np.maximum(x, 0.0), np.maximum(T, 0.0))  # the rest depends on (x, T) only
    steps = int(np.ceil(H / month - 1e-9))
    for k in range(1, steps + 1):  # one vector step per month of the horizon
        t = min(k * month, H)
        cum = alive * model._if_alive(np.full(len(xu), t), xu, Tu)[inverse]
        years = t * u / 365.25
        total += np.maximum(cum - prev, 0.0) * value * gross_margin / (1 + annual_discount_rate) ** years
        prev = np.maximum(cum, prev)
    return total


def holdout_check(bg, s: pd.DataFrame, max_bucket: int = 7) -> pd.DataFrame:
    """Predicted vs actual repeat purchases in the holdout, per calibration frequency."""
    pred = _as_model(bg).conditional_expected_number_of_purchases_up_to_time(
        s["holdout_length"].to_numpy(float), s["frequency"], s["recency"], s["T"])
    bucket = np.minimum(s["frequency"].to_numpy(), max_bucket)
    f = pd.DataFrame({"bucket": bucket, "actual": s["holdout_frequency"].to_numpy(float), "predicted": pred})
    g = f.groupby("bucket").agg(customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean"))
    g = g.reset_index()
    g["frequency"] = [f"{int(b)}+" if b == max_bucket else str(int(b)) for b in g["bucket"]]
    return g[["frequency", "customers", "actual", "predicted"]]


def tracking(bg, purchases, s: pd.DataFrame, unit: str, calibration_end: date, holdout_end: date,
             step_days: int = 7) -> pd.DataFrame:
    """Cumulative repeat purchases of the customers of ``s`` (those with a purchase on
    or before the calibration end), actual and expected, every ``step_days`` from
    the first purchase of the data up to ``holdout_end`` (the tracking chart). A
    repeat purchase is a purchase day after the customer's first, as in
    ``summaries``; returns are none. ``purchases``: as ``summaries``'."""
    model = _as_model(bg)
    first = day_numbers(s["first_purchase"])
    days, counts, last = _orders_source(purchases).repeats(to_day(calibration_end), to_day(holdout_end))
    start, stop = int(first.min()), last + 1
    points = np.arange(start + step_days, stop + step_days, step_days)
    done = np.concatenate([[0], np.cumsum(counts)])
    actual = done[np.searchsorted(days, points, side="left")]  # the repeats on days before each point
    u = UNIT_DAYS[unit]
    births, n_born = np.unique(first, return_counts=True)
    expected = np.array([np.dot(n_born, model.expected_number_of_purchases_up_to_time(np.clip(pt - births, 0, None) / u))
                         for pt in points])
    return pd.DataFrame({"day": pd.to_datetime(points - 1, unit="D").date, "actual_cumulative": actual,
                         "expected_cumulative": expected})


@dataclass
class Analysis:
    summary: pd.DataFrame            # kind, name, value, standard_error
    customers: pd.DataFrame          # the per-customer table of SPEC §4.6
    holdout: pd.DataFrame | None
    tracking: pd.DataFrame | None
    bg: Fit                          # the purchase model's fit (BG/NBD unless another was chosen)
    gg: Fit | None
    warnings: list[str]
    model: BuyTillYouDie | None = None
    horizon_label: str = "12_months"  # the horizon in names: expected_purchases_next_{label}


CUSTOMER_COLUMNS = ["customer_id", "frequency", "recency", "T", "p_alive", "expected_purchases",
                    "expected_avg_order_value", "clv"]

# At most twenty years ahead, in any unit: the models' predictions mean nothing further.
MAX_HORIZON_DAYS = 20 * 365.25


def horizon_in_units(unit: str, horizon: float | None, horizon_months: int) -> tuple[float, str]:
    """The horizon in ``unit`` and its label for output names (``12_months``,
    ``39_weeks``): ``horizon`` (in ``unit``) when given, else ``horizon_months``."""
    if horizon is None:
        return horizon_months * (365.25 / 12) / UNIT_DAYS[unit], f"{horizon_months}_months"
    if not 0 < horizon * UNIT_DAYS[unit] <= MAX_HORIZON_DAYS:
        raise UsageError(f"--horizon {horizon:g} {unit}: the horizon must be more than 0 and at most 20 years")
    return float(horizon), f"{horizon:g}_{unit}".replace(".", "_")


def analyse(purchases, *, calibration_end: date, unit: str = "weeks", horizon_months: int = 12,
            horizon: float | None = None, model: str = "bgnbd", annual_discount_rate: float = 0.10,
            gross_margin: float = 1.0, holdout_end: date | None = None) -> Analysis:
    """Fit the purchase model (``model``: bgnbd, pareto-nbd or mbg-nbd) and Gamma-Gamma on
    the calibration period and score every customer over the horizon (``horizon`` in
    ``unit``, else ``horizon_months``). ``purchases``: as ``summaries``'. Raises
    DataError (DegenerateFit) when a fit is degenerate: the message says why."""
    src = _orders_source(purchases)
    s = _summaries_of(src, calibration_end, unit, holdout_end)
    if s.empty:
        raise DataError(f"no purchases on or before the calibration end {calibration_end}")
    H, label = horizon_in_units(unit, horizon, horizon_months)
    warnings: list[str] = []
    kind = MODELS[model]
    fitted = kind.fit(s["frequency"], s["recency"], s["T"])
    bg = fitted.result
    warnings += bg.warnings
    if not bg.converged:
        warnings.append(f"{kind.title} {bg.message}; the predictions below are not reliable")
    gg = None
    if src.has_amount:  # without amounts: purchases predicted, no customer value
        gg = fit_gamma_gamma(s["frequency"], s["monetary_value"])
        warnings += gg.warnings
        if not gg.converged:
            warnings.append(f"Gamma-Gamma {gg.message}")
        if gg.params["q"] <= 1:
            warnings.append("Gamma-Gamma q <= 1: the mean spend is infinite; no customer value")
            gg = None
    x, tx, T = s["frequency"], s["recency"], s["T"]
    alive = fitted.conditional_probability_alive(x, tx, T)
    purchases_h = fitted.conditional_expected_number_of_purchases_up_to_time(H, x, tx, T)
    value = expected_average_value(gg.params, x, s["monetary_value"]) if gg else np.full(len(s), np.nan)
    worth = clv(fitted, gg.params if gg else None, s, unit=unit, horizon=H,
                annual_discount_rate=annual_discount_rate, gross_margin=gross_margin)
    customers = pd.DataFrame({"customer_id": s["customer_id"], "frequency": x, "recency": tx, "T": T,
                              "p_alive": alive, "expected_purchases": purchases_h,
                              "expected_avg_order_value": value, "clv": worth})
    customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    rows = [(kind.name, k, v, bg.se[k]) for k, v in bg.params.items()]
    rows.append((kind.name, "log_likelihood", bg.log_likelihood, None))
    if gg:
        rows += [("gamma_gamma", k, gg.params[k], gg.se[k]) for k in GG_NAMES]
        rows.append(("gamma_gamma", "log_likelihood", gg.log_likelihood, None))
        rows.append(("gamma_gamma", "frequency_monetary_correlation", gg.params["frequency_monetary_correlation"], None))
        rows.append(("gamma_gamma", "mean_spend_per_purchase", gg.params["p"] * gg.params["gamma"] / (gg.params["q"] - 1), None))
    rows += [
        ("summary", "customers", float(len(s)), None),
        ("summary", "repeat_buyers", float((x > 0).sum()), None),
        ("summary", "expected_customers_alive", float(alive.sum()), None),
        ("summary", f"expected_purchases_next_{label}", float(purchases_h.sum()), None),
        ("summary", f"expected_revenue_next_{label}", float(np.nansum(purchases_h * value)) if gg else None, None),
        ("summary", f"clv_total_next_{label}", float(np.nansum(worth)) if gg else None, None),
    ]
    if gg:
        for q in range(1, 10):
            rows.append(("clv_deciles", f"p{q * 10}", float(np.quantile(worth, q / 10)), None))
    if kind is BetaGeometricNBD:  # eq. 8, BG/NBD's own
        dist = probability_of_purchases(bg.params, H, 5)
        rows += [("new_customer", f"p_{int(k)}_purchases_next_{label}", float(v), None)
                 for k, v in zip(dist["purchases"], dist["probability"])]
    summary = pd.DataFrame(rows, columns=["kind", "name", "value", "standard_error"])
    hold = track = None
    if holdout_end is not None:
        hold = holdout_check(fitted, s)
        track = tracking(fitted, src, s, unit, calibration_end, holdout_end)
    return Analysis(summary, customers, hold, track, bg, gg, warnings, fitted, label)


COMPARE_COLUMNS = ["model", "rank_holdout_mae", "rank_log_likelihood", "holdout_mae", "log_likelihood",
                   "holdout_mean_predicted", "holdout_mean_actual", "p_alive_mean", "parameters", "converged", "note"]


def compare(purchases, *, calibration_end: date, holdout_end: date | None,
            unit: str = "weeks") -> tuple[pd.DataFrame, list[str]]:
    """Every purchase model fitted on the calibration span and ranked by the mean
    absolute error per customer of its holdout predictions (repeat purchases after
    ``calibration_end`` up to ``holdout_end``) and by log-likelihood (the same data and
    four parameters each, so the likelihoods compare as they are, as AIC or BIC
    would). A model whose fit is degenerate is listed with the reason, unranked;
    when every one is, DegenerateFit. Without a holdout, only the log-likelihood ranks.
    ``purchases``: as ``summaries``'."""
    s = summaries(purchases, calibration_end, unit, holdout_end)
    if s.empty:
        raise DataError(f"no purchases on or before the calibration end {calibration_end}")
    x, tx, T = s["frequency"], s["recency"], s["T"]
    rows, warnings = [], []
    for option, kind in MODELS.items():
        row = dict.fromkeys(COMPARE_COLUMNS)
        row["model"] = option
        try:
            m = kind.fit(x, tx, T)
        except DegenerateFit as e:
            row["note"] = e.message
            rows.append(row)
            continue
        warnings += m.result.warnings
        row.update(log_likelihood=m.log_likelihood, converged=m.result.converged,
                   p_alive_mean=float(np.mean(m.conditional_probability_alive(x, tx, T))),
                   parameters=", ".join(f"{k} = {v:.4g}" for k, v in m.params.items()))
        if holdout_end is not None:
            pred = m.conditional_expected_number_of_purchases_up_to_time(s["holdout_length"].to_numpy(float), x, tx, T)
            actual = s["holdout_frequency"].to_numpy(float)
            row.update(holdout_mae=float(np.mean(np.abs(pred - actual))), holdout_mean_predicted=float(np.mean(pred)),
                       holdout_mean_actual=float(np.mean(actual)))
        if not m.result.converged:
            row["note"] = m.result.message
        rows.append(row)
    out = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    if out["log_likelihood"].isna().all():
        reasons = sorted(set(out["note"]))
        raise DegenerateFit("no model can be fitted: " + ("; ".join(reasons) if len(reasons) > 1 else reasons[0]))
    ll = pd.to_numeric(out["log_likelihood"])
    out["rank_log_likelihood"] = ll.rank(ascending=False, method="min").astype("Int64")
    if holdout_end is not None:
        out["rank_holdout_mae"] = pd.to_numeric(out["holdout_mae"]).rank(method="min").astype("Int64")
    order = ["rank_holdout_mae", "rank_log_likelihood"] if holdout_end is not None else ["rank_log_likelihood"]
    out = out.sort_values(order, kind="stable", na_position="last").reset_index(drop=True)
    return out, warnings
