"""What a KPI is, for writing it: a count (a whole number), money (written to the
cent) or a rate (a fraction, never rounded). One list for every output.

Counts are computed as whole numbers but can reach a writer as floats (a column
with nulls, a table of several KPIs in one column); money is a sum of amounts with
binary fractions (50398.729999999974). Writers use ``kind`` to write ``1116`` and
``50398.73``."""

from __future__ import annotations

from retention_cli.kpis.base import CHURN_RATIOS
from retention_cli.kpis.bridge import BRIDGE_RATIOS
from retention_cli.kpis.collections import (COLLECTION_COUNTS, COLLECTION_MONEY, COLLECTION_RATIOS,
                                            OVERDUE_CHURN_COUNTS, OVERDUE_CHURN_RATIOS)
from retention_cli.kpis.complaints import COMPLAINT_RATIOS
from retention_cli.kpis.mrr import MRR_COUNTS, MRR_MONEY, MRR_RATIOS
from retention_cli.kpis.purchasing import PURCHASE_RATIOS
from retention_cli.kpis.satisfaction import SATISFACTION_RATIOS

COUNTS = frozenset({
    # customers and their flows
    "customers_start", "customers_end", "new_customers", "lost_customers", "retained_customers",
    "reactivated_customers", "cohort_size", "active", "respondents", "retained",
    # orders and buyers
    "orders", "buyers",
    # complaints
    "complaints", "complaining_customers", "open_backlog_end", "customers_resolved_fast",
    "customers_resolved_slow", "customers_unresolved", "customers_no_complaint",
    # answers
    "nps_responses", "csat_responses",
    # the clv summary and word of mouth (complainers: a count when observed; an
    # estimate in what-if mode, then not whole and written as it is)
    "customers", "repeat_buyers", "complaints_observed", "complainers",
    # invoices
    *COLLECTION_COUNTS, *OVERDUE_CHURN_COUNTS,
    # subscriptions
    *MRR_COUNTS,
})
# tables of several quantities in one column name each row by a key column; some
# group rows by a kind, all of one sort (the CLV deciles are money)
GROUP_KINDS = {"clv_deciles": "money"}

RATES = frozenset(CHURN_RATIOS) | frozenset(COMPLAINT_RATIOS) | frozenset(PURCHASE_RATIOS) \
    | frozenset(SATISFACTION_RATIOS) | frozenset(COLLECTION_RATIOS) | frozenset(OVERDUE_CHURN_RATIOS) \
    | frozenset(BRIDGE_RATIOS) | frozenset(MRR_RATIOS) | {"net_revenue_retention", "top_customer_revenue_share",
                                 "repeat_to_first_aov_ratio", "retention", "retention_relative"}
# a name with one of these words is an amount of money, unless it is a rate: the
# bridge's *_revenue and gross_profit are money. market_share_change is in points
# (no kind: written as computed)
MONEY_WORDS = ("revenue", "order_value", "aov", "clv", "cost", "customer_value", "gross_profit", "spend")


def kind(name: str) -> str | None:
    """``"count"``, ``"money"``, ``"rate"``, or None (any other number: days, a score,
    an estimate of people)."""
    name = str(name)
    base = name.removesuffix("_low").removesuffix("_high")  # the bounds of an estimate are of its kind
    if name in COUNTS or base in COUNTS:
        return "count"
    if base in RATES or base.endswith(("_rate", "_share", "_ratio")):
        return "rate"
    if base in COLLECTION_MONEY or base in MRR_MONEY or any(w in base for w in MONEY_WORDS):
        return "money"
    return None
