"""`summary`: the headline KPIs of one period beside the previous period and the
same period a year earlier (SPEC §5). Later families add their rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention_cli.periods import Period

YEAR_STEPS = {"week": 52, "month": 12, "quarter": 4, "year": 1}
HEADLINE = [
    ("customers_end", "customers at the end"), ("new_customers", "new customers"),
    ("lost_customers", "lost customers"), ("churn_rate", "churn rate"), ("retention_rate", "retention rate"),
    ("orders", "orders"), ("buyers", "buyers"), ("revenue", "revenue"),
    ("average_order_value", "average order value"), ("repurchase_rate", "repurchase rate"),
    ("net_revenue_retention", "net revenue retention"),
    # with purchases.cost (or unit_cost) and economics.market_size; left out without them
    ("gross_profit", "gross profit"), ("gross_margin_rate", "gross margin"), ("market_share", "market share"),
]
SATISFACTION = [("nps", "NPS"), ("nps_margin_of_error", "NPS margin of error (±)"), ("csat", "CSAT (top two boxes)")]
COMPLAINTS = [("complaints", "complaints"), ("resolved_share", "complaints resolved"),
              ("median_resolution_days", "median days to resolve"), ("sla_attainment", "resolved within SLA")]
RATIOS = {"churn_rate", "retention_rate", "repurchase_rate", "net_revenue_retention", "csat", "resolved_share",
          "sla_attainment", "gross_margin_rate", "market_share"}


def comparison_periods(p: Period) -> tuple[Period, Period | None, Period | None]:
    if p.freq == "all":
        return p, None, None
    return p, p.shift(-1), p.shift(-YEAR_STEPS[p.freq])


def summary_table(period: Period, *, churn: pd.DataFrame, purchases: pd.DataFrame,
                  satisfaction: pd.DataFrame | None = None, complaints: pd.DataFrame | None = None,
                  risk: pd.DataFrame | None = None) -> pd.DataFrame:
    """The headline rows of ``period`` beside the previous period and a year
    earlier, from the tables the other families made for those periods
    (``comparison_periods``): churn flows, purchase KPIs, and when configured the
    satisfaction table (dated answers), the complaint table and the word-of-mouth
    table (its revenue at risk: the very number `wom` and the report show)."""
    latest, previous, year_ago = comparison_periods(period)
    churn = churn.set_index("period")
    buy = purchases.set_index("period")
    both = churn.join(buy.drop(columns=["complete"]), how="left")
    headline = list(HEADLINE)
    if satisfaction is not None:
        both = both.join(satisfaction.set_index("period").drop(columns=["complete"]), how="left")
        headline += SATISFACTION
    if complaints is not None:
        both = both.join(complaints.set_index("period").drop(columns=["complete"]), how="left")
        headline += COMPLAINTS
    if risk is not None:
        risk = risk.set_index("period")
        both = both.join(risk[["revenue_at_risk", "revenue_at_risk_low", "revenue_at_risk_high"]], how="left")
        low, high = both.loc[latest.label, "revenue_at_risk_low"], both.loc[latest.label, "revenue_at_risk_high"]
        rng = f" ({low:,.0f}–{high:,.0f})" if not (np.isnan(low) or np.isnan(high)) else ""
        if f"{low:,.0f}" == f"{high:,.0f}":  # capped at both ends: no range to give
            rng = ""
        capped = ", capped by the customers lost" if risk.loc[latest.label, "capped_by_observed_losses"] else ""
        headline.append(("revenue_at_risk", f"revenue at risk from unseen dissatisfaction{rng}{capped}"))

    def value(q: Period | None, kpi: str) -> float:
        if q is None or kpi not in both:
            return np.nan
        return float(both.loc[q.label, kpi])

    rows = []
    for kpi, label in headline:
        if kpi not in both:
            continue
        now, prev, year = value(latest, kpi), value(previous, kpi), value(year_ago, kpi)
        rows.append({"kpi": kpi, "label": label, "period": latest.label, "value": now,
                     "previous_period": previous.label if previous else None, "previous": prev,
                     "change_vs_previous": now - prev,
                     "year_ago_period": year_ago.label if year_ago else None, "year_ago": year,
                     "change_vs_year_ago": now - year})
    return pd.DataFrame(rows)
