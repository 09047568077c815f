"""Word-of-mouth loss estimate (SPEC §4.5): what the complaints a company sees
imply about the dissatisfied customers it does not see, the customers it will lose
and the prospects they turn away. Every assumption has a default from the seeds, a
low–high range and its source; where the data measures an assumption, the observed
value replaces it, and the output says which is which.

Every lens of one output rests on the same complaint share: where an observed
(or configured) share replaces the seeds' 4 %, the "others with problems per
complaint" lens follows it (1 / share - 1). And estimates never contradict
observations: where the purchases give a period's lost customers, the defections
put down to dissatisfaction are capped at lost × dissatisfaction share.

These are estimates from general studies, not measurements of this business.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from retention_cli.model.customers import Base, Facts, activity_intervals, day_numbers
from retention_cli.periods import Period, from_day, to_day


@dataclass(frozen=True)
class Assumption:
    name: str
    value: float          # central
    low: float            # value in the most optimistic case
    high: float           # value in the most pessimistic case
    source: str
    status: str = "assumed"  # assumed | configured | observed


# low = optimistic, high = pessimistic, per the direction each one pushes the loss
DEFAULTS: dict[str, Assumption] = {a.name: a for a in [
    Assumption("complaint_share", 0.04, 0.05, 0.04, "IPeut, Capital Client (4 %); V-RATIO (5 %)"),
    Assumption("silent_per_complaint", 26, 25, 26, "IPeut"),
    Assumption("serious_share_of_silent", 6 / 26, 6 / 26, 6 / 26, "IPeut (6 of 26 serious)"),
    Assumption("silent_defection_rate", 0.91, 0.91, 1.0, "IPeut (91 %); Capital Client's arithmetic loses all"),
    Assumption("return_if_resolved", 0.62, 0.70, 0.54, "IPeut (54-70 %)"),
    Assumption("return_if_resolved_fast", 0.95, 0.95, 0.95, "IPeut"),
    Assumption("return_if_unresolved", 0.09, 0.09, 0.09, "assumed equal to the silent (1 - 0.91)"),
    Assumption("negative_reach", 11.3, 10, 15, "IPeut (10, of which 13 % tell 20), Capital Client (15)"),
    Assumption("positive_reach", 4, 5, 3, "IPeut (3-5)"),
    Assumption("prospect_loss_per_told", 1.0, 1.0, 1.0, "Capital Client's arithmetic (96 lost × 15 = 1,440): an upper bound"),
    Assumption("dissatisfaction_share", 0.82, 0.82, 0.82,
               "IPeut: of the customers who leave, 14 % for the product, 68 % for how they were treated"),
]}
# The churn-reason categories (churn_reasons.map) that are dissatisfaction: the product
# and the treatment (SPEC §4.4's benchmark, 14 % + 68 %).
DISSATISFACTION = ("product", "treatment")
OUTPUTS = [
    "estimated_dissatisfied", "complainers", "silent_dissatisfied", "customers_with_problems", "serious_problems",
    "expected_silent_defections", "expected_complainer_defections", "expected_defections", "people_reached_negative",
    "prospects_lost", "happy_customers_needed_to_offset", "revenue_at_risk", "revenue_at_risk_prospects",
]
MIN_OBSERVED = 10  # customers behind an observed rate before it replaces the assumption


def assumptions(configured: dict[str, float | None]) -> dict[str, Assumption]:
    """The seed defaults, with every configured value fixed (central = low = high).
    A configured complaint_share carries silent_per_complaint with it, unless that
    is configured too."""
    out = dict(DEFAULTS)
    for name, v in configured.items():
        if v is not None:
            out[name] = replace(out[name], value=v, low=v, high=v, status="configured", source="config or option")
    if configured.get("complaint_share") is not None and configured.get("silent_per_complaint") is None:
        _follow_complaint_share(out)
    return out


def _follow_complaint_share(a: dict[str, Assumption]) -> None:
    """silent_per_complaint from the complaint share in use: one complainer in 1 / share
    dissatisfied leaves 1 / share - 1 others unseen, so the "others with problems" lens
    and the estimated dissatisfied rest on the same share."""
    cs = a["complaint_share"]
    v = 1 / cs.value - 1
    a["silent_per_complaint"] = replace(a["silent_per_complaint"], value=v, low=v, high=v, status=cs.status,
                                        source=f"1 / complaint_share - 1 (follows the {cs.status} complaint share)")


def observe(a: dict[str, Assumption], name: str, value: float | None, n: int, where: str) -> None:
    """Replace an assumed value by an observed one measured on ``n`` customers
    (not a configured one: the user's word wins)."""
    if value is None or not np.isfinite(value) or n < MIN_OBSERVED or a[name].status == "configured":
        return
    if name == "complaint_share" and value <= 0:
        return  # nobody lost had complained: no share to divide by; the seeds' stays
    a[name] = replace(a[name], value=float(value), low=float(value), high=float(value), status="observed",
                      source=f"observed on {where} ({n} customers)")
    if name == "complaint_share" and a["silent_per_complaint"].status != "configured":
        _follow_complaint_share(a)


@dataclass
class Situation:
    """What one period (or a what-if) gives the model."""

    label: str
    complaints: float | None = None     # C: complaining customers observed (or --complaints)
    unhappy: float | None = None        # U: what-if, dissatisfied customers in all
    outcomes: dict[str, float] | None = None  # complainers by outcome: resolved_fast, resolved_slow, unresolved
    clv: float | None = None
    clv_source: str | None = "none"
    lost: float | None = None           # L: the period's observed lost customers (None: no cap)


def _evaluate(s: Situation, v: dict, cap: bool = True) -> dict[str, np.ndarray]:
    """Every output for the assumption values ``v`` (numbers, or arrays of one
    scenario each); with ``cap``, the defections capped at L × dissatisfaction_share
    where L is observed. "_capped": whether the cap lowered them."""
    cs = np.asarray(v["complaint_share"], dtype=float)
    if s.unhappy is not None:
        dissatisfied = np.full(cs.shape, float(s.unhappy))
        complainers = s.unhappy * cs
    else:
        complainers = np.full(cs.shape, float(s.complaints or 0.0))
        dissatisfied = complainers / cs
    silent = dissatisfied - complainers
    with_problems = complainers * v["silent_per_complaint"]
    serious = with_problems * v["serious_share_of_silent"]
    silent_def = silent * v["silent_defection_rate"]
    ret = {"resolved_fast": v["return_if_resolved_fast"], "resolved_slow": v["return_if_resolved"],
           "unresolved": v["return_if_unresolved"]}
    if s.outcomes and s.unhappy is None and sum(s.outcomes.values()) > 0:
        # scale the observed outcome mix to the complainers (the same number unless --complaints)
        total = sum(s.outcomes.values())
        complainer_def = sum(complainers * n / total * (1 - ret[o]) for o, n in s.outcomes.items())
    else:
        complainer_def = complainers * (1 - v["return_if_resolved"])  # what-if: counted as resolved
    complainer_def = np.broadcast_to(complainer_def, cs.shape).astype(float)
    defections = silent_def + complainer_def
    capped = np.zeros(cs.shape, dtype=bool)
    if cap and s.lost is not None:
        # SPEC §4.5: no more defections put down to dissatisfaction than customers lost
        # for it; the cut is shared in proportion between silent and complainers
        limit = s.lost * np.asarray(v["dissatisfaction_share"], dtype=float)
        capped = defections > limit
        cut = np.where(capped, limit / np.where(capped, defections, 1.0), 1.0)
        silent_def, complainer_def = silent_def * cut, complainer_def * cut
        defections = np.where(capped, limit, defections)
    return _word_of_mouth(s, v, {
        "estimated_dissatisfied": dissatisfied, "complainers": complainers, "silent_dissatisfied": silent,
        "customers_with_problems": with_problems, "serious_problems": serious,
        "expected_silent_defections": silent_def, "expected_complainer_defections": complainer_def,
        "expected_defections": defections, "_capped": capped,
    })


def _word_of_mouth(s: Situation, v: dict, out: dict) -> dict:
    """The outputs that follow from the defections: the word of mouth of the silent
    defectors and the revenue of all of them."""
    silent_def, defections = out["expected_silent_defections"], out["expected_defections"]
    reached = silent_def * v["negative_reach"]
    prospects = reached * v["prospect_loss_per_told"]
    clv = s.clv if s.clv is not None else np.nan
    return {**out, "people_reached_negative": reached, "prospects_lost": prospects,
            "happy_customers_needed_to_offset": reached / v["positive_reach"],
            "revenue_at_risk": defections * clv, "revenue_at_risk_prospects": prospects * clv}


def estimate(s: Situation, a: dict[str, Assumption], case: str = "central") -> dict[str, float]:
    """Every output for one set of values: ``case`` picks each assumption's central
    value, or its optimistic (low) or pessimistic (high) end."""
    v = {name: getattr(x, "value" if case == "central" else case) for name, x in a.items()}
    return {k: float(x) for k, x in _evaluate(s, v).items() if k != "_capped"}


def _corners(s: Situation, a: dict[str, Assumption]) -> dict[str, np.ndarray]:
    """The outputs, uncapped, at every corner of the box of assumption ranges (2^k
    scenarios for the k assumptions with a range), in one vectorised evaluation."""
    ranged = [name for name, x in a.items() if x.low != x.high]
    m = 1 << len(ranged)
    v: dict = {name: x.value for name, x in a.items()}
    for j, name in enumerate(ranged):
        v[name] = np.where((np.arange(m) >> j) & 1, a[name].high, a[name].low)
    v["complaint_share"] = np.broadcast_to(np.asarray(v["complaint_share"], dtype=float), (m,))
    return _evaluate(s, v, cap=False)


def bounds(s: Situation, a: dict[str, Assumption]) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict]:
    """Central value and the low and high bound of every output over the assumption
    ranges, and where the cap applied.

    Uncapped, each output moves one way with each assumption, so its extremes over
    the ranges are at corners of the box: low and high are the least and the
    greatest over the corners (for the losses the most optimistic and pessimistic
    cases of SPEC §4.5; for counts such as complainers their range).

    Then the cap (SPEC §4.5): each of central, low and high whose defections exceed
    L × dissatisfaction_share is brought down to it. The central estimate keeps its
    own mix of silent and complainer defections; a capped low or high end takes the
    central mix too (the ends are no single scenario: each output has its own), so
    that for every output low ≤ central ≤ high still holds, and the silent and
    complainer defections of each end add up to at most the cap. An optimistic end
    below the cap is kept, but never above the capped central value. The word of
    mouth and the revenue of each end follow from its capped defections."""
    values = {name: x.value for name, x in a.items()}
    central = _evaluate(s, values)
    free = _evaluate(s, values, cap=False)
    every = _corners(s, a)
    low, high = {}, {}
    for out in OUTPUTS:
        c = float(free[out])
        low[out], high[out] = min(float(np.min(every[out])), c), max(float(np.max(every[out])), c)
    central = {k: float(v) for k, v in central.items()}
    capped = {"central": bool(central.pop("_capped")), "any": False}
    if s.lost is None:
        return (*_no_nan_ends(central, low, high), capped)
    limit = s.lost * a["dissatisfaction_share"].value
    capped["any"] = high["expected_defections"] > limit
    if not capped["any"]:
        return (*_no_nan_ends(central, low, high), capped)
    sil, com = "expected_silent_defections", "expected_complainer_defections"
    total = float(free["expected_defections"])
    if total > 0:  # the central mix, scaled to the cap exactly as the central value is
        cut = limit / total
        at_cap = (float(free[sil]) * cut, float(free[com]) * cut)
    else:  # nothing expected at the central values: the pessimistic end's own mix
        cut = limit / high["expected_defections"]
        at_cap = (high[sil] * cut, high[com] * cut)
    ends = {}
    for case, bound in (("low", low), ("high", high)):
        if bound["expected_defections"] > limit:
            s_def, c_def, d = at_cap[0], at_cap[1], limit
        elif case == "low":  # below the cap: kept, but never above the capped central value
            s_def, c_def = min(bound[sil], central[sil]), min(bound[com], central[com])
            d = min(bound["expected_defections"], s_def + c_def, central["expected_defections"])
        else:
            s_def, c_def, d = bound[sil], bound[com], bound["expected_defections"]
        # the word of mouth at this end's reaches (positive_reach divides: its other end)
        lo_hi = {n: sorted((a[n].low, a[n].high)) for n in ("negative_reach", "prospect_loss_per_told", "positive_reach")}
        i = 0 if case == "low" else 1
        v = {"negative_reach": lo_hi["negative_reach"][i], "prospect_loss_per_told": lo_hi["prospect_loss_per_told"][i],
             "positive_reach": lo_hi["positive_reach"][1 - i]}
        follow = _word_of_mouth(s, v, {sil: s_def, com: c_def, "expected_defections": d})
        ends[case] = {**bound, **{k: float(x) for k, x in follow.items()}}
    return (*_no_nan_ends(central, ends["low"], ends["high"]), capped)


def _no_nan_ends(central: dict, low: dict, high: dict) -> tuple[dict, dict, dict]:
    """Without a customer value the revenues are null at every end."""
    for out in OUTPUTS:
        if np.isnan(central[out]) or np.isnan(low[out]) or np.isnan(high[out]):
            low[out] = high[out] = central[out] = np.nan
    return {k: central[k] for k in OUTPUTS}, low, high


def wom_table(situations: list[Situation], a: dict[str, Assumption]) -> pd.DataFrame:
    """One row per period: each output as central, _low and _high; then the
    period's lost customers, the cap on defections (lost × dissatisfaction_share)
    and whether it lowered any of central, low or high."""
    rows = []
    share = a["dissatisfaction_share"].value
    for s in situations:
        row: dict = {"period": s.label, "complaints_observed": s.complaints, "unhappy": s.unhappy,
                     "customer_value": s.clv, "customer_value_source": s.clv_source}
        central, low, high, capped = bounds(s, a)
        for name in OUTPUTS:
            row[name] = central[name]
            row[f"{name}_low"] = low[name]
            row[f"{name}_high"] = high[name]
        row["lost_customers"] = s.lost
        row["defection_cap"] = s.lost * share if s.lost is not None else None
        row["capped_by_observed_losses"] = capped["any"]
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    lost = pd.to_numeric(out["lost_customers"], errors="coerce").astype("Float64")
    whole = lost.dropna().apply(float.is_integer).all()  # a count (the data), or a what-if number
    out["lost_customers"] = lost.astype("Int64") if whole else lost
    out["defection_cap"] = out["defection_cap"].astype(float)
    return out


def capped_periods(situations: list[Situation], a: dict[str, Assumption]) -> tuple[list[str], list[str]]:
    """The periods whose central estimate was capped by the observed losses, and
    those where only the pessimistic end was."""
    central, high_only = [], []
    for s in situations:
        _, _, _, capped = bounds(s, a)
        if capped["central"]:
            central.append(s.label)
        elif capped["any"]:
            high_only.append(s.label)
    return central, high_only


def cap_warnings(situations: list[Situation], a: dict[str, Assumption]) -> list[str]:
    """The warnings that name the periods where the observed losses capped the estimate."""
    central, high_only = capped_periods(situations, a)
    share = a["dissatisfaction_share"]
    rule = f"the customers lost × dissatisfaction share ({share.value:.2f}, {share.status})"
    out = []
    if central:
        out.append(f"expected defections from dissatisfaction exceed {rule} in {_labels(central)}: capped there "
                   "(capped_by_observed_losses), a sign that complaint_share is too low for this business")
    if high_only:
        out.append(f"the pessimistic end (high) of the expected defections exceeds {rule} in {_labels(high_only)}: "
                   "capped there (capped_by_observed_losses)")
    return out


def _labels(labels: list[str]) -> str:
    """Every label (the capped periods need not be consecutive), up to a dozen."""
    return ", ".join(labels) if len(labels) <= 12 else ", ".join(labels[:12]) + f" and {len(labels) - 12:,} more"


def assumption_table(a: dict[str, Assumption]) -> pd.DataFrame:
    return pd.DataFrame([{"assumption": x.name, "value": x.value, "low": x.low, "high": x.high,
                          "status": x.status, "source": x.source} for x in a.values()])


def sensitivity(s: Situation, a: dict[str, Assumption]) -> pd.DataFrame:
    """How the loss moves when each assumption alone goes from its low to its high
    value, the others central; largest swing first (a tornado). The measure is
    revenue_at_risk when a customer value is known, else expected defections."""
    use_revenue = s.clv is not None and not np.isnan(s.clv)
    measure = "revenue_at_risk" if use_revenue else "expected_defections"

    def value(x: dict[str, Assumption]) -> float:
        e = estimate(s, x, "central")
        return e["revenue_at_risk" if use_revenue else "expected_defections"]

    base = value(a)
    rows = []
    for name, x in a.items():
        if x.low == x.high:
            continue
        lo = value({**a, name: replace(x, value=x.low)})
        hi = value({**a, name: replace(x, value=x.high)})
        rows.append({"period": s.label, "assumption": name, "measure": measure, "low_value": x.low,
                     "high_value": x.high, "at_low": lo, "at_central": base, "at_high": hi, "swing": abs(hi - lo)})
    out = pd.DataFrame(rows, columns=["period", "assumption", "measure", "low_value", "high_value",
                                      "at_low", "at_central", "at_high", "swing"])
    return out.sort_values(["swing", "assumption"], ascending=[False, True], kind="stable").reset_index(drop=True)


def observation_span(complaints: pd.DataFrame, data_end: date) -> Period | None:
    """Where the assumptions are observed: from the first complaint recorded to the
    data end, whatever periods are asked for, so that every command and report
    section gets the same assumptions, and the same estimate for a period."""
    opened = day_numbers(complaints["opened_date"])
    opened = opened[opened < to_day(data_end)]
    if not len(opened):
        return None
    return Period(from_day(int(opened.min())), data_end, "all")


def lost_by_end(base: Base, model: str, window: int, data_end: date, since: date,
                facts: Facts | None = None) -> np.ndarray:
    """Per customer code: a customer at some instant on or after ``since`` who is not
    one at the data end (SPEC §3's lost, over the whole span rather than one
    period: customers who joined and left inside it count too). With the run's
    ``facts``, made once per (data end, since) and kept there."""
    if facts is not None and facts.fits(base, model, window):
        key = (data_end, since)
        if key not in facts.lost:
            facts.lost[key] = lost_by_end(base, model, window, data_end, since)
        return facts.lost[key]
    cust, start, end = activity_intervals(base, model, window)
    de = to_day(data_end)
    began = start <= de
    last_end = np.full(base.n, -1, dtype=np.int64)  # the first instant after the last active one
    np.maximum.at(last_end, cust[began], end[began])
    return (last_end >= 0) & (last_end <= de) & (last_end > to_day(since))


def reason_categories(base: Base, mapping: dict[str, str]) -> pd.Series:
    """Per customer code: the churn reason mapped as `complaints --reasons` maps it
    (case and spaces ignored; unmapped text as written), None where there is none."""
    raw = base.attributes["churn_reason"].reindex(range(base.n)).astype(object)
    norm = {k.strip().lower(): v for k, v in mapping.items()}
    text = raw.where(raw.notna() & (raw.astype(str).str.strip() != ""), None)
    return text.map(lambda v: None if v is None else norm.get(str(v).strip().lower(), str(v).strip()))


def from_data(complaints: pd.DataFrame, periods: list[Period], *, base: Base | None, data_end: date, model: str,
              window: int, sla_days: float, configured: dict[str, float | None], customer_value: float | None = None,
              reason_map: dict[str, str] | None = None, pooled: pd.Series | None = None,
              flows: pd.DataFrame | None = None, purchases: pd.DataFrame | None = None,
              facts: Facts | None = None) -> tuple[list[Situation], dict[str, Assumption]]:
    """Situations per period from the complaints (and purchases), and the assumption
    set with the observed values in place of the assumed ones. Observations are
    pooled over observation_span (the first complaint to the data end), so one set
    serves every period, and a period's estimate does not depend on which other
    periods are asked for. Each period's clv is its clv_simple (or
    ``customer_value``), and its lost customers cap the defections.

    What other families compute comes in made: ``pooled``, the complaint KPIs
    (with return rates) over ``observation_span``; ``flows``, the churn flows of
    ``periods``; ``purchases``, the purchase KPIs of ``periods`` (clv_simple)."""
    from retention_cli.kpis.complaints import outcome_counts

    a = assumptions(configured)
    has_flows = base is not None and (base.has_purchases or model == "contract")
    span = observation_span(complaints, data_end)
    if pooled is not None:
        observe(a, "return_if_resolved_fast", pooled.get("return_rate_resolved_fast"),
                int(pooled.get("customers_resolved_fast", 0)), "complaints (resolved within the SLA)")
        if "customers_resolved_slow" in pooled:
            observe(a, "return_if_resolved", pooled.get("return_rate_resolved_slow"),
                    int(pooled.get("customers_resolved_slow", 0)), "complaints (resolved later)")
        else:  # resolved by status, undated: fast and slow cannot be told apart
            observe(a, "return_if_resolved", pooled.get("return_rate_resolved"),
                    int(pooled.get("customers_resolved", 0)), "complaints (resolved, by status)")
        observe(a, "return_if_unresolved", pooled.get("return_rate_unresolved"),
                int(pooled.get("customers_unresolved", 0)), "complaints (unresolved)")
    if span is not None and has_flows:
        # the complaint share: of the customers lost while complaints were recorded,
        # those who had complained (the complaints seen per customer who left)
        lost = lost_by_end(base, model, window, data_end, span.start, facts)
        opened = day_numbers(complaints["opened_date"])
        codes = base.ids.get_indexer(complaints.loc[opened < to_day(data_end), "customer_id"])
        complained = np.zeros(base.n, dtype=bool)
        complained[codes[codes >= 0]] = True
        n_lost = int(lost.sum())
        if n_lost:
            observe(a, "complaint_share", (lost & complained).sum() / n_lost, n_lost,
                    "customers lost who had complained")
    if has_flows and base.attributes is not None and "churn_reason" in base.attributes:
        ever = lost_by_end(base, model, window, data_end, date.min, facts)
        reason = reason_categories(base, reason_map or {})[ever]
        known = int(reason.notna().sum())
        if known:
            observe(a, "dissatisfaction_share", reason.isin(DISSATISFACTION).sum() / known, known,
                    "the churn reasons of lost customers (product + treatment)")

    lost_by_period: dict[str, float] = {}
    if flows is not None:
        for p, n in zip(periods, flows["lost_customers"]):
            if p.complete(data_end) and not pd.isna(n):  # a period not over yet has not lost its customers yet
                lost_by_period[p.label] = float(n)
    clv_by_period: dict[str, float] = {}
    if customer_value is None and purchases is not None and "clv_simple" in purchases:
        clv_by_period = {p: float(v) for p, v in zip(purchases["period"], purchases["clv_simple"]) if not pd.isna(v)}
    counts = outcome_counts(complaints, periods, data_end=data_end, sla_days=sla_days)
    after_end = {p.label for p in periods if p.start >= data_end}  # no data at all (SPEC §2): nothing to say
    situations = []
    for row in counts.itertuples(index=False):
        outcomes = {o: float(getattr(row, o)) for o in ("resolved_fast", "resolved_slow", "unresolved")}
        c = sum(outcomes.values())
        if customer_value is not None:
            clv, src = customer_value, "economics.customer_value"
        elif row.period in clv_by_period:
            clv, src = clv_by_period[row.period], "observed clv_simple"
        elif row.period in after_end:
            clv, src = None, None
        else:
            clv, src = None, "none (set economics.customer_value)"
        situations.append(Situation(row.period, complaints=c, outcomes=outcomes, clv=clv, clv_source=src,
                                    lost=lost_by_period.get(row.period)))
    return situations, a


@dataclass
class WomResult:
    table: pd.DataFrame                 # wom_table: one row per period
    assumptions: dict[str, Assumption]
    situations: list[Situation]
    warnings: list[str]


def wom_from_data(complaints: pd.DataFrame, periods: list[Period], *, base: Base | None, data_end: date, model: str,
                  window: int, sla_days: float, configured: dict[str, float | None], customer_value: float | None,
                  reason_map: dict[str, str] | None, pooled: pd.Series | None = None,
                  flows: pd.DataFrame | None = None, purchases: pd.DataFrame | None = None,
                  facts: Facts | None = None) -> WomResult:
    """The word-of-mouth estimate of every period: the one computation that `wom`,
    `summary` and every section of `report` show (the application layer makes it
    once per run), so that a period's revenue_at_risk is the same number wherever
    it appears. ``pooled``, ``flows``, ``purchases``: as ``from_data``."""
    situations, a = from_data(complaints, periods, base=base, data_end=data_end, model=model, window=window,
                              sla_days=sla_days, configured=configured, customer_value=customer_value,
                              reason_map=reason_map, pooled=pooled, flows=flows, purchases=purchases, facts=facts)
    return WomResult(wom_table(situations, a), a, situations, cap_warnings(situations, a))
