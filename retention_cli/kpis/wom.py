"""Word-of-mouth loss estimate (SPEC §4.5): what the complaints a company sees
imply about the dissatisfied customers it does not see, the customers it will lose
and the prospects they turn away. Every assumption has a default from the seeds, a
low–high range and its source; where the data measures an assumption, the observed
value replaces it, and the output says which is which.

These are estimates from general studies, not measurements of this business.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd


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
    Assumption("complaint_share", 0.04, 0.05, 0.04, "seeds 000, 001 (4 %), 004 (5 %)"),
    Assumption("silent_per_complaint", 26, 25, 26, "seed 000"),
    Assumption("serious_share_of_silent", 6 / 26, 6 / 26, 6 / 26, "seed 000 (6 of 26 serious)"),
    Assumption("silent_defection_rate", 0.91, 0.91, 1.0, "seed 000 (91 %); seed 001's arithmetic loses all"),
    Assumption("return_if_resolved", 0.62, 0.70, 0.54, "seed 000 (54-70 %)"),
    Assumption("return_if_resolved_fast", 0.95, 0.95, 0.95, "seed 000"),
    Assumption("return_if_unresolved", 0.09, 0.09, 0.09, "assumed equal to the silent (1 - 0.91)"),
    Assumption("negative_reach", 11.3, 10, 15, "seed 000 (10, of which 13 % tell 20), seed 001 (15)"),
    Assumption("positive_reach", 4, 5, 3, "seed 000 (3-5)"),
    Assumption("prospect_loss_per_told", 1.0, 1.0, 1.0, "seed 001's arithmetic (96 lost × 15 = 1,440): an upper bound"),
]}
OUTPUTS = [
    "estimated_dissatisfied", "complainers", "silent_dissatisfied", "customers_with_problems", "serious_problems",
    "expected_silent_defections", "expected_complainer_defections", "people_reached_negative", "prospects_lost",
    "happy_customers_needed_to_offset", "revenue_at_risk", "revenue_at_risk_prospects",
]
MIN_OBSERVED = 10  # customers behind an observed rate before it replaces the assumption


def assumptions(configured: dict[str, float | None]) -> dict[str, Assumption]:
    """The seed defaults, with every configured value fixed (central = low = high)."""
    out = dict(DEFAULTS)
    for name, v in configured.items():
        if v is not None:
            out[name] = replace(out[name], value=v, low=v, high=v, status="configured", source="config or option")
    return out


def observe(a: dict[str, Assumption], name: str, value: float | None, n: int, where: str) -> None:
    """Replace an assumed value by an observed one measured on ``n`` customers
    (not a configured one: the user's word wins)."""
    if value is None or np.isnan(value) or n < MIN_OBSERVED or a[name].status == "configured":
        return
    a[name] = replace(a[name], value=float(value), low=float(value), high=float(value), status="observed",
                      source=f"observed on {where} ({n} customers)")


@dataclass
class Situation:
    """What one period (or a what-if) gives the model."""

    label: str
    complaints: float | None = None     # C: complaining customers observed (or --complaints)
    unhappy: float | None = None        # U: what-if, dissatisfied customers in all
    outcomes: dict[str, float] | None = None  # complainers by outcome: resolved_fast, resolved_slow, unresolved
    clv: float | None = None
    clv_source: str = "none"


def estimate(s: Situation, a: dict[str, Assumption], case: str = "central") -> dict[str, float]:
    """Every output for one set of values: ``case`` picks each assumption's central
    value, or its optimistic (low) or pessimistic (high) end."""
    v = {name: getattr(x, "value" if case == "central" else case) for name, x in a.items()}
    if s.unhappy is not None:
        dissatisfied = s.unhappy
        complainers = s.unhappy * v["complaint_share"]
    else:
        complainers = s.complaints or 0.0
        dissatisfied = complainers / v["complaint_share"]
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
    reached = silent_def * v["negative_reach"]
    prospects = reached * v["prospect_loss_per_told"]
    clv = s.clv if s.clv is not None else np.nan
    return {
        "estimated_dissatisfied": dissatisfied, "complainers": complainers, "silent_dissatisfied": silent,
        "customers_with_problems": with_problems, "serious_problems": serious,
        "expected_silent_defections": silent_def, "expected_complainer_defections": complainer_def,
        "people_reached_negative": reached, "prospects_lost": prospects,
        "happy_customers_needed_to_offset": reached / v["positive_reach"],
        "revenue_at_risk": (silent_def + complainer_def) * clv, "revenue_at_risk_prospects": prospects * clv,
    }


def bounds(s: Situation, a: dict[str, Assumption]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Central value and the low and high bound of every output over the assumption
    ranges. Each output is monotone in each assumption, so its bound takes every
    assumption at the end of its range that lowers (raises) that output. For the
    losses this is the most optimistic (pessimistic) case of SPEC §4.5; for counts
    such as complainers it is their range, so low ≤ central ≤ high always holds."""
    central = estimate(s, a, "central")
    ends = {}
    for name, x in a.items():
        if x.low == x.high:
            continue
        ends[name] = (estimate(s, {**a, name: replace(x, value=min(x.low, x.high))}, "central"),
                      estimate(s, {**a, name: replace(x, value=max(x.low, x.high))}, "central"))
    low, high = {}, {}
    for out in OUTPUTS:
        lo_a, hi_a = dict(a), dict(a)
        for name, (at_min, at_max) in ends.items():
            x = a[name]
            small, big = min(x.low, x.high), max(x.low, x.high)
            lowers = at_min[out] <= at_max[out]
            lo_a[name] = replace(x, value=small if lowers else big)
            hi_a[name] = replace(x, value=big if lowers else small)
        low[out] = estimate(s, lo_a, "central")[out]
        high[out] = estimate(s, hi_a, "central")[out]
    return central, low, high


def wom_table(situations: list[Situation], a: dict[str, Assumption]) -> pd.DataFrame:
    """One row per period: each output as central, _low and _high."""
    rows = []
    for s in situations:
        row: dict = {"period": s.label, "complaints_observed": s.complaints, "unhappy": s.unhappy,
                     "customer_value": s.clv, "customer_value_source": s.clv_source}
        central, low, high = bounds(s, a)
        for name in OUTPUTS:
            row[name] = central[name]
            row[f"{name}_low"] = low[name]
            row[f"{name}_high"] = high[name]
        rows.append(row)
    return pd.DataFrame(rows)


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
        return e["revenue_at_risk"] if use_revenue else e["expected_silent_defections"] + e["expected_complainer_defections"]

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


def from_data(complaints: pd.DataFrame, periods, *, base, data_end, model: str, window: int, sla_days: float,
              configured: dict[str, float | None], clv_by_period: dict[str, float] | None,
              customer_value: float | None) -> tuple[list[Situation], dict[str, Assumption]]:
    """Situations per period from the complaints (and purchases), and the assumption
    set with the observed values in place of the assumed ones. Observations are
    pooled over the whole span of the periods, so one set serves every period."""
    from retention_cli.kpis.base import states
    from retention_cli.kpis.complaints import complaint_table, outcome_counts
    from retention_cli.model.customers import day_numbers
    from retention_cli.periods import EPOCH, Period

    a = assumptions(configured)
    span = Period(min(p.start for p in periods), max(p.end for p in periods), "all")
    if base is not None and base.orders is not None:
        pooled = complaint_table(complaints, [span], data_end=data_end, base=base, model=model, window=window,
                                 sla_days=sla_days).iloc[0]
        observe(a, "return_if_resolved_fast", pooled.get("return_rate_resolved_fast"),
                int(pooled.get("customers_resolved_fast", 0)), "complaints (resolved within the SLA)")
        observe(a, "return_if_resolved", pooled.get("return_rate_resolved_slow"),
                int(pooled.get("customers_resolved_slow", 0)), "complaints (resolved later)")
        observe(a, "return_if_unresolved", pooled.get("return_rate_unresolved"),
                int(pooled.get("customers_unresolved", 0)), "complaints (unresolved)")
        # share of the customers lost over the span who had ever complained
        (_, _, S, E, _), = list(states(base, [span], model, window))
        lost = S & ~E
        opened_before_end = day_numbers(complaints["opened_date"]) < (span.end - EPOCH).days
        codes = base.ids.get_indexer(complaints.loc[opened_before_end, "customer_id"])
        complained = np.zeros(base.n, dtype=bool)
        complained[codes[codes >= 0]] = True
        n_lost = int(lost.sum())
        if n_lost:
            observe(a, "complaint_share", (lost & complained).sum() / n_lost, n_lost,
                    "customers lost who had complained")
    counts = outcome_counts(complaints, periods, data_end=data_end, sla_days=sla_days)
    situations = []
    for row in counts.itertuples(index=False):
        outcomes = {o: float(getattr(row, o)) for o in ("resolved_fast", "resolved_slow", "unresolved")}
        c = sum(outcomes.values())
        if customer_value is not None:
            clv, src = customer_value, "economics.customer_value"
        elif clv_by_period and clv_by_period.get(row.period) is not None and not np.isnan(clv_by_period[row.period]):
            clv, src = clv_by_period[row.period], "observed clv_simple"
        else:
            clv, src = None, "none (set economics.customer_value)"
        situations.append(Situation(row.period, complaints=c, outcomes=outcomes, clv=clv, clv_source=src))
    return situations, a
