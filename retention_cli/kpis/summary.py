"""`summary`: the headline KPIs of one period beside the previous period and the
same period a year earlier (SPEC §5). Later families add their rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from retention_cli.kpis.base import churn_flows
from retention_cli.kpis.complaints import complaint_table
from retention_cli.kpis.purchasing import purchase_kpis
from retention_cli.kpis.satisfaction import satisfaction_table
from retention_cli.kpis.wom import wom_from_data
from retention_cli.model.customers import Base
from retention_cli.periods import Period

YEAR_STEPS = {"week": 52, "month": 12, "quarter": 4, "year": 1}
HEADLINE = [
    ("customers_end", "customers at the end"), ("new_customers", "new customers"),
    ("lost_customers", "lost customers"), ("churn_rate", "churn rate"), ("retention_rate", "retention rate"),
    ("orders", "orders"), ("buyers", "buyers"), ("revenue", "revenue"),
    ("average_order_value", "average order value"), ("repurchase_rate", "repurchase rate"),
    ("net_revenue_retention", "net revenue retention"),
]
SATISFACTION = [("nps", "NPS"), ("nps_margin_of_error", "NPS margin of error (±)"), ("csat", "CSAT (top two boxes)")]
COMPLAINTS = [("complaints", "complaints"), ("resolved_share", "complaints resolved"),
              ("median_resolution_days", "median days to resolve"), ("sla_attainment", "resolved within SLA")]
RATIOS = {"churn_rate", "retention_rate", "repurchase_rate", "net_revenue_retention", "csat", "resolved_share",
          "sla_attainment"}


def comparison_periods(p: Period) -> tuple[Period, Period | None, Period | None]:
    if p.freq == "all":
        return p, None, None
    return p, p.shift(-1), p.shift(-YEAR_STEPS[p.freq])


def summary_table(base: Base, period: Period, *, model: str, window: int, data_end: date,
                  denominator: str, top_share: float, gross_margin: float,
                  responses: pd.DataFrame | None = None, complaints: pd.DataFrame | None = None,
                  nps_count: str = "all", csat_scale: tuple[int, int] = (1, 5), sla_days: float = 2,
                  wom_config: dict | None = None, customer_value: float | None = None,
                  churn_reason_map: dict[str, str] | None = None,
                  resolved_statuses: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    latest, previous, year_ago = comparison_periods(period)
    ps = [q for q in (latest, previous, year_ago) if q is not None]
    churn = churn_flows(base, ps, model, window, data_end, denominator).set_index("period")
    buy = purchase_kpis(base, ps, model=model, window=window, data_end=data_end, denominator=denominator,
                        top_share=top_share, gross_margin=gross_margin).set_index("period")
    both = churn.join(buy.drop(columns=["complete"]), how="left")
    headline = list(HEADLINE)
    if responses is not None and "answered_date" in responses:
        sat = satisfaction_table(responses, ps, data_end=data_end, count=nps_count, csat_scale=csat_scale)
        both = both.join(sat.set_index("period").drop(columns=["complete"]), how="left")
        headline += SATISFACTION
    if complaints is not None:
        comp = complaint_table(complaints, ps, data_end=data_end, base=None, model=model, window=window,
                               sla_days=sla_days, resolved_statuses=resolved_statuses)
        both = both.join(comp.set_index("period").drop(columns=["complete"]), how="left")
        headline += COMPLAINTS
        # the very computation `wom` and the report make: a period's value is the same everywhere
        risk = wom_from_data(complaints, ps, base=base, data_end=data_end, model=model, window=window,
                             sla_days=sla_days, configured=wom_config or {}, customer_value=customer_value,
                             gross_margin=gross_margin, denominator=denominator,
                             reason_map=churn_reason_map, resolved_statuses=resolved_statuses).table.set_index("period")
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
